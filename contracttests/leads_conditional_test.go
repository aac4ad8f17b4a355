package contracttests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl/app"
)

// Conditional requests on a lead: every answer that shows a lead carries its
// ETag; If-None-Match on GET answers 304 while the lead is unchanged;
// If-Match on PUT, PATCH and DELETE lets the change through only if the
// lead still has a tag the caller read, and otherwise answers 412
// precondition_failed with the current tag, storing and emitting nothing.
// Of concurrent changes made with the same tag, exactly one wins.

// etagOf returns the ETag header of an answer, failing the test without one.
func etagOf(t *testing.T, res *http.Response) string {
	t.Helper()
	tag := res.Header.Get("ETag")
	if tag == "" {
		t.Fatalf("%s %s: %d without an ETag", res.Request.Method, res.Request.URL.Path, res.StatusCode)
	}
	return tag
}

// getLeadIfNoneMatch is GET /leads/{id} with If-None-Match (none when nil).
func getLeadIfNoneMatch(t *testing.T, c *client.ClientWithResponses, id int64, inm *string) *client.GetLeadResponse {
	t.Helper()
	res, err := c.GetLeadWithResponse(context.Background(), id, &client.GetLeadParams{IfNoneMatch: inm})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// leadEvents counts the deliveries of the webhook by event type.
func leadEvents(t *testing.T, tg *target, key string, hookID int64) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, d := range evDeliveries(t, tg, key, hookID) {
		n[d.Event]++
	}
	return n
}

// conditionalOrg is an organization with a webhook of lead.updated and a
// lead named Ana, created through the API, with the tag its creation gave.
type conditionalOrg struct {
	key  string
	c    *client.ClientWithResponses
	hook evHook
	lead client.Lead
	tag  string
}

func newConditionalOrg(t *testing.T, tg *target, name string) conditionalOrg {
	t.Helper()
	o := conditionalOrg{key: tg.newOrg(t, name)}
	o.c = tg.client(t, o.key, bearer)
	o.hook = evCreateHook(t, tg, o.key, "lead changes", startReceiver(t, "/hook"), []string{"lead.updated"}, 0)
	created, err := o.c.CreateLeadWithResponse(context.Background(), nil,
		client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Ana")})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	o.lead, o.tag = *created.JSON201, etagOf(t, created.HTTPResponse)
	return o
}

func TestLeadConditionalRequests(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		o := newConditionalOrg(t, tg, "conditional requests")
		key, c, hook, lead, tag := o.key, o.c, o.hook, o.lead, o.tag

		t.Run("every answer that shows the lead has its tag, which moves with a change only", func(t *testing.T) {
			got := getLeadIfNoneMatch(t, c, lead.Id, nil)
			if got.StatusCode() != http.StatusOK || etagOf(t, got.HTTPResponse) != tag {
				t.Fatalf("GET: %d, ETag %q, want 200 and the create's %s", got.StatusCode(), got.HTTPResponse.Header.Get("ETag"), tag)
			}
			noop, err := c.PatchLeadWithResponse(ctx, lead.Id, nil, client.LeadPatch{})
			if err != nil || noop.StatusCode() != http.StatusOK || etagOf(t, noop.HTTPResponse) != tag {
				t.Errorf("a PATCH that changes nothing: %v %d, ETag %q, want %s", err, noop.StatusCode(), noop.HTTPResponse.Header.Get("ETag"), tag)
			}
			changed, err := c.PatchLeadWithResponse(ctx, lead.Id, nil, client.LeadPatch{LeadScore: ptr(int32(10))})
			if err != nil || changed.JSON200 == nil {
				t.Fatalf("PATCH: %v %s", err, changed.Body)
			}
			newTag := etagOf(t, changed.HTTPResponse)
			if newTag == tag {
				t.Errorf("a change kept the tag %s", tag)
			}
			if again := getLeadIfNoneMatch(t, c, lead.Id, nil); etagOf(t, again.HTTPResponse) != newTag {
				t.Errorf("GET after the change: ETag %s, the change answered %s", again.HTTPResponse.Header.Get("ETag"), newTag)
			}
			lead, tag = *changed.JSON200, newTag
		})

		t.Run("If-None-Match answers 304 while the lead is unchanged", func(t *testing.T) {
			for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
				res := getLeadIfNoneMatch(t, c, lead.Id, &inm)
				if res.StatusCode() != http.StatusNotModified || len(res.Body) != 0 || etagOf(t, res.HTTPResponse) != tag {
					t.Errorf("If-None-Match: %s: %d with %d bytes, ETag %q; want 304, no body, %s",
						inm, res.StatusCode(), len(res.Body), res.HTTPResponse.Header.Get("ETag"), tag)
				}
			}
			other := `"other"`
			if res := getLeadIfNoneMatch(t, c, lead.Id, &other); res.StatusCode() != http.StatusOK || res.JSON200 == nil {
				t.Errorf("If-None-Match with another tag: %d %s, want 200 and the lead", res.StatusCode(), res.Body)
			}
		})

		t.Run("a stale If-Match is 412 with the current tag; nothing stored or emitted", func(t *testing.T) {
			before := leadEvents(t, tg, key, hook.ID)
			for _, stale := range []string{`"stale"`, "W/" + tag, `"a", "b"`} {
				put, err := c.UpdateLeadWithResponse(ctx, lead.Id, &client.UpdateLeadParams{IfMatch: &stale}, client.LeadReplace{Phone: uniquePhone(t)})
				if err != nil {
					t.Fatal(err)
				}
				wantError(t, put.HTTPResponse, put.Body, http.StatusPreconditionFailed, "precondition_failed")
				if got := etagOf(t, put.HTTPResponse); got != tag {
					t.Errorf("412 of PUT: ETag %s, want the current %s", got, tag)
				}
				patch, err := c.PatchLeadWithResponse(ctx, lead.Id, &client.PatchLeadParams{IfMatch: &stale}, client.LeadPatch{Name: nullable.NewNullNullable[string]()})
				if err != nil {
					t.Fatal(err)
				}
				wantError(t, patch.HTTPResponse, patch.Body, http.StatusPreconditionFailed, "precondition_failed")
				del, err := c.DeleteLeadWithResponse(ctx, lead.Id, &client.DeleteLeadParams{IfMatch: &stale})
				if err != nil {
					t.Fatal(err)
				}
				wantError(t, del.HTTPResponse, del.Body, http.StatusPreconditionFailed, "precondition_failed")
				assertUnchanged(t, c, lead)
			}
			if after := leadEvents(t, tg, key, hook.ID); after["lead.updated"] != before["lead.updated"] {
				t.Errorf("refused changes emitted lead.updated: %d deliveries, %d before", after["lead.updated"], before["lead.updated"])
			}
		})

		t.Run("a malformed If-Match is 400 on the header; nothing stored", func(t *testing.T) {
			for _, bad := range []string{"stale", `"open`, `"a" "b"`, `W/stale`} {
				res, err := c.PatchLeadWithResponse(ctx, lead.Id, &client.PatchLeadParams{IfMatch: &bad}, client.LeadPatch{LeadScore: ptr(int32(99))})
				if err != nil {
					t.Fatal(err)
				}
				wantError(t, res.HTTPResponse, res.Body, http.StatusBadRequest, "bad_request", "If-Match")
			}
			assertUnchanged(t, c, lead)
		})

		t.Run("a missing lead is 404 whatever If-Match says", func(t *testing.T) {
			star := "*"
			res, err := c.DeleteLeadWithResponse(ctx, 9_000_000_000_002, &client.DeleteLeadParams{IfMatch: &star})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res.HTTPResponse, res.Body, http.StatusNotFound, "not_found")
		})

		t.Run("a retry whose first answer was lost gets the lead, not 412", func(t *testing.T) {
			before := leadEvents(t, tg, key, hook.ID)["lead.updated"]
			read := tag
			patch := client.LeadPatch{CompanyName: nullable.NewNullableWithValue("Retry Ltda")}
			first, err := c.PatchLeadWithResponse(ctx, lead.Id, &client.PatchLeadParams{IfMatch: &read}, patch)
			if err != nil || first.JSON200 == nil {
				t.Fatalf("PATCH: %v %s", err, first.Body)
			}
			tag, lead = etagOf(t, first.HTTPResponse), *first.JSON200
			// The answer was lost; the retry carries the tag its first try
			// moved, and the lead already shows its change.
			retry, err := c.PatchLeadWithResponse(ctx, lead.Id, &client.PatchLeadParams{IfMatch: &read}, patch)
			if err != nil || retry.JSON200 == nil || etagOf(t, retry.HTTPResponse) != tag || !reflect.DeepEqual(*retry.JSON200, lead) {
				t.Fatalf("the PATCH's retry: %v %d %s, ETag %q; want 200 with the lead as the first try left it (%s)",
					err, retry.StatusCode(), retry.Body, retry.HTTPResponse.Header.Get("ETag"), tag)
			}
			put := client.LeadReplace{Phone: lead.Phone, Name: lead.Name, CompanyName: lead.CompanyName, LeadScore: &lead.LeadScore, Temperature: &lead.Temperature}
			if res, err := c.UpdateLeadWithResponse(ctx, lead.Id, &client.UpdateLeadParams{IfMatch: &read}, put); err != nil || res.JSON200 == nil || etagOf(t, res.HTTPResponse) != tag {
				t.Fatalf("a PUT of the lead as it is, with the old tag: %v %d %s", err, res.StatusCode(), res.Body)
			}
			if n := leadEvents(t, tg, key, hook.ID)["lead.updated"]; n != before+1 {
				t.Errorf("%d lead.updated for one change and its retries, want 1", n-before)
			}
			// Another change with the old tag is still refused.
			res, err := c.PatchLeadWithResponse(ctx, lead.Id, &client.PatchLeadParams{IfMatch: &read}, client.LeadPatch{LeadScore: ptr(int32(77))})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res.HTTPResponse, res.Body, http.StatusPreconditionFailed, "precondition_failed")
			assertUnchanged(t, c, lead)
		})

		t.Run("a matching If-Match lets PUT, PATCH and DELETE through", func(t *testing.T) {
			before := leadEvents(t, tg, key, hook.ID)["lead.updated"]
			list := `"x", ` + tag
			put, err := c.UpdateLeadWithResponse(ctx, lead.Id, &client.UpdateLeadParams{IfMatch: &list},
				client.LeadReplace{Phone: lead.Phone, Name: nullable.NewNullableWithValue("Bia")})
			if err != nil || put.JSON200 == nil {
				t.Fatalf("PUT with a matching If-Match: %v %s", err, put.Body)
			}
			tag = etagOf(t, put.HTTPResponse)
			patch, err := c.PatchLeadWithResponse(ctx, lead.Id, &client.PatchLeadParams{IfMatch: &tag}, client.LeadPatch{LeadScore: ptr(int32(20))})
			if err != nil || patch.JSON200 == nil || patch.JSON200.LeadScore != 20 || patch.JSON200.Name.MustGet() != "Bia" {
				t.Fatalf("PATCH with the PUT's tag: %v %s", err, patch.Body)
			}
			if n := leadEvents(t, tg, key, hook.ID)["lead.updated"]; n != before+2 {
				t.Errorf("two changes emitted %d lead.updated, want 2", n-before)
			}
			star := "*"
			del, err := c.DeleteLeadWithResponse(ctx, lead.Id, &client.DeleteLeadParams{IfMatch: &star})
			if err != nil || del.StatusCode() != http.StatusNoContent {
				t.Fatalf("DELETE with If-Match: *: %v %d %s", err, del.StatusCode(), del.Body)
			}
			if res := getLeadIfNoneMatch(t, c, lead.Id, nil); res.StatusCode() != http.StatusNotFound {
				t.Errorf("GET after the delete: %d", res.StatusCode())
			}
		})
	})
}

// Writers that read the same tag and change the lead at once: one change
// wins, every other is 412, and only the winner's change is stored and
// emitted. Without the check inside the changing transaction, several
// would win and the last would silently undo the others.
func TestLeadIfMatchRace(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		o := newConditionalOrg(t, tg, "if-match race")
		key, c, hook, id, tag := o.key, o.c, o.hook, o.lead.Id, o.tag

		const writers = 8
		statuses := make([]int, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := c.PatchLeadWithResponse(ctx, id, &client.PatchLeadParams{IfMatch: &tag},
					client.LeadPatch{Name: nullable.NewNullableWithValue(fmt.Sprintf("writer %d", i))})
				if err != nil {
					t.Error(err)
					return
				}
				statuses[i] = res.StatusCode()
			}()
		}
		wg.Wait()
		winner := -1
		for i, s := range statuses {
			switch {
			case s == http.StatusOK && winner < 0:
				winner = i
			case s == http.StatusOK:
				t.Errorf("writers %d and %d both changed the lead with the same If-Match", winner, i)
			case s != http.StatusPreconditionFailed:
				t.Errorf("writer %d: %d, want 200 or 412", i, s)
			}
		}
		if winner < 0 {
			t.Fatalf("no writer changed the lead: %v", statuses)
		}
		got := getLeadIfNoneMatch(t, c, id, nil)
		if got.JSON200 == nil || got.JSON200.Name.MustGet() != fmt.Sprintf("writer %d", winner) {
			t.Errorf("the lead is %s, want the name of writer %d", got.Body, winner)
		}
		if n := leadEvents(t, tg, key, hook.ID)["lead.updated"]; n != 1 {
			t.Errorf("%d lead.updated deliveries, want the winner's 1", n)
		}
	})
}

// The polled lists, GET /leads and GET /messages: each page carries the
// digest of its body as its ETag, so If-None-Match answers 304 while the
// page is the same and 200 with a new tag once anything on it (or its
// meta) moved; a change off the page leaves it 304.
func TestListConditionalRequests(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()

		t.Run("GET /leads", func(t *testing.T) {
			o := newConditionalOrg(t, tg, "conditional lists")
			hot := client.Hot
			for range 3 {
				createLead(t, o.c, client.LeadCreate{Phone: uniquePhone(t), Temperature: &hot})
			}
			hotPage := func(inm *string) *client.ListLeadsResponse {
				t.Helper()
				res, err := o.c.ListLeadsWithResponse(ctx, &client.ListLeadsParams{Temperature: &hot, PerPage: ptr(int32(2)), IfNoneMatch: inm})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			first := hotPage(nil)
			if first.JSON200 == nil {
				t.Fatalf("the hot leads: %d %s", first.StatusCode(), first.Body)
			}
			tag := etagOf(t, first.HTTPResponse)
			r := hotPage(&tag)
			wantNotModified(t, "the same page", r.HTTPResponse, r.Body, tag)
			r = hotPage(ptr(`"x", W/` + tag))
			wantNotModified(t, "the page's tag among others", r.HTTPResponse, r.Body, tag)

			// A change to the cold lead, which is not on the hot page.
			if res, err := o.c.PatchLeadWithResponse(ctx, o.lead.Id, nil, client.LeadPatch{LeadScore: ptr(int32(3))}); err != nil || res.StatusCode() != http.StatusOK {
				t.Fatalf("patch the cold lead: %v %d", err, res.StatusCode())
			}
			r = hotPage(&tag)
			wantNotModified(t, "after a change off the page", r.HTTPResponse, r.Body, tag)

			// A change to a lead on the page moves its tag.
			onPage := first.JSON200.Data[0]
			if res, err := o.c.PatchLeadWithResponse(ctx, onPage.Id, nil, client.LeadPatch{Name: nullable.NewNullableWithValue("Bia")}); err != nil || res.StatusCode() != http.StatusOK {
				t.Fatalf("patch a lead on the page: %v %d", err, res.StatusCode())
			}
			tag = wantChanged(t, "after a change on the page", hotPage(&tag).HTTPResponse, tag)

			// A new hot lead moves meta.total, and so the tag of page 1.
			createLead(t, o.c, client.LeadCreate{Phone: uniquePhone(t), Temperature: &hot})
			wantChanged(t, "after a lead joined the list", hotPage(&tag).HTTPResponse, tag)
		})

		t.Run("GET /handoffs", func(t *testing.T) {
			o := newConditionalOrg(t, tg, "conditional handoffs")
			var h struct {
				ID int64 `json:"id"`
			}
			expectJSON(t, tg, o.key, http.MethodPost, "/handoffs", map[string]any{"lead_id": o.lead.Id, "reason": "Pediu uma proposta"}, http.StatusCreated, &h)
			tag := wantRawChanged(t, tg, o.key, "/handoffs", "", "the handoffs")
			wantRawNotModified(t, tg, o.key, "/handoffs", tag, "the same handoffs")
			expectJSON(t, tg, o.key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", h.ID), nil, http.StatusOK, nil)
			wantRawChanged(t, tg, o.key, "/handoffs", tag, "after the handoff was closed")
		})

		t.Run("GET /messages", func(t *testing.T) {
			skipRemote(t, "seeds an organization's messaging integrations")
			o := newMessagingOrg(t, tg, "conditional history")
			send := func() {
				o.send(t, tg, "/rcs/messages", map[string]any{"phone": uniquePhone(t), "type": "text", "text": "Oi"}, http.StatusCreated)
			}
			send()
			history := func(inm *string) *client.ListMessagesResponse {
				t.Helper()
				res, err := o.c.ListMessagesWithResponse(ctx, &client.ListMessagesParams{IfNoneMatch: inm})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			first := history(nil)
			if first.JSON200 == nil {
				t.Fatalf("the history: %d %s", first.StatusCode(), first.Body)
			}
			tag := etagOf(t, first.HTTPResponse)
			r := history(&tag)
			wantNotModified(t, "the same history", r.HTTPResponse, r.Body, tag)
			send()
			wantChanged(t, "after a message was sent", history(&tag).HTTPResponse, tag)
		})
	})
}

// A webhook's delivery log, polled to watch the deliveries' outcomes: 304
// while nothing on the page moved, 200 with a new tag after a new
// delivery. On a server that delivers to this machine's receivers, so
// that every delivery reaches its outcome and the log stops moving.
func TestDeliveryLogConditionalRequests(t *testing.T) {
	evEachDatabase(t, nil, func(t *testing.T, tg *target) {
		ctx := context.Background()
		o := newConditionalOrg(t, tg, "conditional delivery log")
		log := fmt.Sprintf("/webhooks/%d/deliveries", o.hook.ID)
		change := func(score int32) {
			if res, err := o.c.PatchLeadWithResponse(ctx, o.lead.Id, nil, client.LeadPatch{LeadScore: ptr(score)}); err != nil || res.StatusCode() != http.StatusOK {
				t.Fatalf("patch the lead: %v %d", err, res.StatusCode())
			}
			// The log moves while a delivery is attempted: wait until
			// every one has its outcome.
			evWaitFor(t, func() bool {
				for _, d := range evDeliveries(t, tg, o.key, o.hook.ID) {
					if d.Status == "pending" {
						return false
					}
				}
				return true
			}, func() string { return "a delivery is still pending" })
		}
		change(1)
		tag := wantRawChanged(t, tg, o.key, log, "", "the delivery log")
		wantRawNotModified(t, tg, o.key, log, tag, "the same log")
		change(2)
		wantRawChanged(t, tg, o.key, log, tag, "after another delivery")
	})
}

// wantNotModified fails unless the answer is 304 with no body and the
// tag.
func wantNotModified(t *testing.T, what string, hr *http.Response, body []byte, tag string) {
	t.Helper()
	if hr.StatusCode != http.StatusNotModified || len(body) != 0 || hr.Header.Get("ETag") != tag {
		t.Errorf("%s: %d with %d bytes, ETag %q; want 304, no body, %s", what, hr.StatusCode, len(body), hr.Header.Get("ETag"), tag)
	}
}

// wantChanged fails unless res is 200 with a tag other than old, and
// returns the new tag.
func wantChanged(t *testing.T, what string, res *http.Response, old string) string {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d, want 200", what, res.StatusCode)
	}
	tag := etagOf(t, res)
	if tag == old {
		t.Errorf("%s: the tag stayed %s", what, tag)
	}
	return tag
}

// GET /messages/{id}, which an integration polls to follow a message's
// status: 304 while the status has not moved, 200 with a new tag once a
// receipt moved it. The fake RBM API posts no receipt of its own here; the
// test posts DELIVERED itself.
func TestMessageConditionalRead(t *testing.T) {
	forEachRCSTarget(t, func(t *testing.T, env *rcsEnv) {
		tg := env.tg
		env.fake.SetReceipts(nil)
		phone := uniquePhone(t)
		var sent client.Message
		expectJSON(t, tg, tg.key, http.MethodPost, "/rcs/messages", map[string]any{"integration_id": env.integ.ID,
			"phone": phone, "type": "text", "text": "Oi"}, http.StatusCreated, &sent)
		c := tg.client(t, tg.key, bearer)
		get := func(inm *string) *client.GetMessageResponse {
			t.Helper()
			res, err := c.GetMessageWithResponse(context.Background(), sent.Id, &client.GetMessageParams{IfNoneMatch: inm})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		first := get(nil)
		if first.JSON200 == nil || first.JSON200.Status != client.MessageStatusSent {
			t.Fatalf("the message: %d %s, want 200 and sent", first.StatusCode(), first.Body)
		}
		tag := etagOf(t, first.HTTPResponse)
		r := get(&tag)
		wantNotModified(t, "a message whose status did not move", r.HTTPResponse, r.Body, tag)

		receipt := mustJSON(map[string]any{"senderPhoneNumber": "+" + phone, "eventType": "DELIVERED", "eventId": "EvD" + phone,
			"messageId": path.Base(sent.ProviderMessageId.MustGet()), "agentId": rcsAgent}) // ".../agentMessages/ID"
		if res, out := rbmPush(t, tg, env.integ.ID, rcsClientToken, receipt); res.StatusCode != http.StatusOK {
			t.Fatalf("the DELIVERED receipt: %d %s", res.StatusCode, out)
		}
		// A receipt is applied after its answer, as RBM's retries expect.
		waitMessage(t, tg, sent.Id, "delivered", func(m client.Message) bool { return m.Status == client.MessageStatusDelivered })
		r = get(&tag)
		wantChanged(t, "after DELIVERED", r.HTTPResponse, tag)
	})
}

// conditionalGet is GET path with If-None-Match (none when inm is empty).
func conditionalGet(t *testing.T, tg *target, key, path, inm string) (*http.Response, []byte) {
	t.Helper()
	headers := [][2]string{bearerH(key)}
	if inm != "" {
		headers = append(headers, [2]string{"If-None-Match", inm})
	}
	return safetyRequest(t, tg, http.MethodGet, path, nil, headers...)
}

// wantRawNotModified is wantNotModified of GET path with If-None-Match: tag.
func wantRawNotModified(t *testing.T, tg *target, key, path, tag, what string) {
	t.Helper()
	res, body := conditionalGet(t, tg, key, path, tag)
	wantNotModified(t, what, res, body, tag)
}

// wantRawChanged is wantChanged of GET path with If-None-Match: old (none
// when empty), returning the page's tag.
func wantRawChanged(t *testing.T, tg *target, key, path, old, what string) string {
	t.Helper()
	res, _ := conditionalGet(t, tg, key, path, old)
	return wantChanged(t, what, res, old)
}

// TestSingleReadsConditional: a webhook (and the list of them) and a
// handoff, polled by a monitor or a CRM, answer 304 while nothing in them
// moved. A webhook's tag covers its backlog: a delivery that starts to wait
// moves it, as a change of its settings does; a handoff's moves when it is
// closed.
func TestSingleReadsConditional(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(refuse.Close)
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookRetrySchedule = []time.Duration{time.Hour}
	}, func(t *testing.T, tg *target) {
		key := tg.freshOrg(t)

		t.Run("GET /webhooks/{id}", func(t *testing.T) {
			var hook struct {
				ID int64 `json:"id"`
			}
			expectJSON(t, tg, key, http.MethodPost, "/webhooks", map[string]any{"name": "monitored", "url": refuse.URL + "/hook",
				"events": []string{"lead.created"}}, http.StatusCreated, &hook)
			path := fmt.Sprintf("/webhooks/%d", hook.ID)
			tag := wantRawChanged(t, tg, key, path, "", "the webhook")
			listTag := wantRawChanged(t, tg, key, "/webhooks", "", "the list of webhooks")
			wantRawNotModified(t, tg, key, "/webhooks", listTag, "the same list")
			wantRawNotModified(t, tg, key, path, tag, "the same webhook")
			res, body := conditionalGet(t, tg, key, path, `"other", `+tag)
			wantNotModified(t, "a list of tags naming it", res, body, tag)

			evCreateLead(t, tg, key, nil)
			var w struct {
				Backlog struct {
					Pending int64 `json:"pending"`
				} `json:"backlog"`
			}
			evWaitFor(t, func() bool {
				expectJSON(t, tg, key, http.MethodGet, path, nil, http.StatusOK, &w)
				return w.Backlog.Pending == 1
			}, func() string { return fmt.Sprintf("backlog %d, want 1", w.Backlog.Pending) })
			tag = wantRawChanged(t, tg, key, path, tag, "a delivery waiting")
			listTag = wantRawChanged(t, tg, key, "/webhooks", listTag, "the list, a delivery waiting")
			wantRawNotModified(t, tg, key, path, tag, "the same backlog")
			expectJSON(t, tg, key, http.MethodPatch, path, map[string]any{"name": "renamed"}, http.StatusOK, nil)
			wantRawChanged(t, tg, key, path, tag, "a new name")
			wantRawChanged(t, tg, key, "/webhooks", listTag, "the list, a new name")
		})

		t.Run("GET /handoffs/{id}", func(t *testing.T) {
			lead, _ := evCreateLead(t, tg, key, nil)
			var h struct {
				ID int64 `json:"id"`
			}
			expectJSON(t, tg, key, http.MethodPost, "/handoffs", map[string]any{"lead_id": lead, "reason": "Quer falar com alguém"},
				http.StatusCreated, &h)
			path := fmt.Sprintf("/handoffs/%d", h.ID)
			tag := wantRawChanged(t, tg, key, path, "", "the handoff")
			wantRawNotModified(t, tg, key, path, tag, "the same handoff")
			expectJSON(t, tg, key, http.MethodPost, path+"/close", nil, http.StatusOK, nil)
			tag = wantRawChanged(t, tg, key, path, tag, "closed")
			wantRawNotModified(t, tg, key, path, tag, "still closed")
		})
	})
}
