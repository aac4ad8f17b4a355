package contracttests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

// These tests follow WhatsApp messages after the send, end to end over real
// HTTP: the server's Cloud API adapter talks to the fake Graph API, which
// calls the server's inbound webhook back with signed statuses, as Meta
// does; a webhook subscribed to every event receives what the server
// emits, and every delivery is validated strictly against the catalog.

// lifecycleEnv is an in-process target whose Cloud API integration talks to
// a fake Graph API that calls it back, with a webhook on every event.
type lifecycleEnv struct {
	tg    *target
	fake  *graphapi.Server
	integ *impl.Integration
	rec   *receiver
	hook  evHook
	// clock is the 24-hour window's clock, as Unix nanoseconds; 0 is now.
	clock *atomic.Int64
}

const (
	lcPhoneNumberID = "106540352242922"
	lcWABA          = "102290129340398"
	lcAppSecret     = "segredo-do-app-ciclo"
)

func forEachLifecycleTarget(t *testing.T, more func(c *app.Config), fn func(t *testing.T, env *lifecycleEnv)) {
	t.Helper()
	forEachDatabase(t, "points the server at a fake Graph API that calls it back", func(t *testing.T, db sqlstoretest.Database) {
		fake := graphapi.New()
		ts := httptest.NewServer(fake)
		t.Cleanup(ts.Close)
		t.Cleanup(fake.Close)
		clock := &atomic.Int64{}
		tg := startInProcessWith(t, db.URL, evConfig(func(c *app.Config) {
			c.WhatsAppBaseURL = ts.URL
			c.WhatsAppAPIVersion = "v21.0"
			c.SendTimeout = cloudSendTimeout
			c.Clock = func() time.Time {
				if n := clock.Load(); n != 0 {
					return time.Unix(0, n)
				}
				return time.Now()
			}
			if more != nil {
				more(c)
			}
		}))
		integ := &impl.Integration{OrganizationID: tg.orgID, Name: "WhatsApp Cloud", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumber: "551130030000",
			PhoneNumberID: lcPhoneNumberID, AccessToken: "EAAGlifecycleToken", AppSecret: lcAppSecret, WABAID: lcWABA}
		tg.seed(t).Integration(t, integ)
		fake.SetToken(lcPhoneNumberID, integ.AccessToken)
		fake.SetToken(lcWABA, integ.AccessToken)
		fake.SetCallback(inboundURL(tg, integ.ID), lcAppSecret)
		rec := evNewReceiver(t)
		hook := evCreateHook(t, tg, tg.key, "lifecycle", rec, impl.EventTypes, 0)
		fn(t, &lifecycleEnv{tg: tg, fake: fake, integ: integ, rec: rec, hook: hook, clock: clock})
	})
}

// contactWrites has phone write to the business number through the fake,
// when: the fake posts Meta's signed inbound webhook to the server.
func (env *lifecycleEnv) contactWrites(t *testing.T, phone string, when time.Time) {
	t.Helper()
	status, err := env.fake.PushInboundText(context.Background(), lcPhoneNumberID, phone, "Maria", wamid(t), "Oi!", when)
	if err != nil || status != http.StatusOK {
		t.Fatalf("the contact's message: %d, %v", status, err)
	}
}

// sendText sends a text to phone through the Cloud API integration.
func (env *lifecycleEnv) sendText(t *testing.T, phone string) (*http.Response, []byte) {
	t.Helper()
	return postJSON(t, env.tg, env.tg.key, "/whatsapp/messages", map[string]any{
		"integration_id": env.integ.ID, "phone": phone, "type": "text", "text": "Ola! Como posso ajudar?"})
}

// waitMessage polls GET /messages/{id} until done holds.
func waitMessage(t *testing.T, tg *target, id int64, what string, done func(client.Message) bool) client.Message {
	t.Helper()
	var m client.Message
	evWaitFor(t, func() bool {
		m = fetchMessage(t, tg, tg.key, id)
		return done(m)
	}, func() string { b, _ := json.Marshal(m); return fmt.Sprintf("message %d is not %s: %s", id, what, b) })
	return m
}

// messageEvents waits until the receiver has want (a multiset of event
// types) about message id, then gives the fake's late callbacks a moment
// to show any extra, and returns every delivery about it, each validated
// strictly against the catalog and decoded into its generated type.
func (env *lifecycleEnv) messageEvents(t *testing.T, id int64, want []string) map[string][]map[string]any {
	t.Helper()
	return env.messageEventsWith(t, id, want, func() bool {
		for _, cb := range env.fake.Callbacks() {
			if cb.Status == 0 && cb.Err == "" {
				return false
			}
		}
		return true
	})
}

// messageEventsWith is messageEvents, with settled telling when the fake
// has had every answer to its callbacks.
func (env *lifecycleEnv) messageEventsWith(t *testing.T, id int64, want []string, settled func() bool) map[string][]map[string]any {
	t.Helper()
	collect := func() map[string][]map[string]any {
		out := map[string][]map[string]any{}
		for _, ev := range env.rec.Events() {
			var body struct {
				Data map[string]any `json:"data"`
			}
			// Leads' ids are another sequence: only message events count.
			if !strings.HasPrefix(ev.Event, "message.") || json.Unmarshal(ev.Body, &body) != nil || body.Data["id"] != float64(id) {
				continue
			}
			out[ev.Event] = append(out[ev.Event], body.Data)
		}
		return out
	}
	types := func(m map[string][]map[string]any) []string {
		var out []string
		for ev, ds := range m {
			for range ds {
				out = append(out, ev)
			}
		}
		slices.Sort(out)
		return out
	}
	want = slices.Sorted(slices.Values(want))
	var got map[string][]map[string]any
	evWaitFor(t, func() bool { got = collect(); return slices.Equal(types(got), want) },
		func() string { return fmt.Sprintf("message %d: the webhook got %v, want %v", id, types(got), want) })
	// The fake has posted every status by now or soon: wait for its
	// callbacks to be answered, then for the deliveries they caused.
	evWaitFor(t, settled, func() string { return "the fake's callbacks are still under way" })
	evWaitFor(t, func() bool {
		return !slices.ContainsFunc(evDeliveries(t, env.tg, env.tg.key, env.hook.ID), func(d whDelivery) bool { return !evFinished(d) })
	}, func() string { return "deliveries still pending" })
	if got = collect(); !slices.Equal(types(got), want) {
		t.Errorf("message %d: the webhook got %v, want %v (each once)", id, types(got), want)
	}
	for _, ev := range env.rec.Events() {
		if ev.Duplicate {
			continue
		}
		if err := evValidateBody(t, ev.Event, ev.Body); err != nil {
			t.Errorf("%s violates the strict catalog: %v\n%s", ev.Event, err, ev.Body)
		}
		if decode := evTypedDecoders[ev.Event]; decode == nil {
			t.Errorf("no generated type for %s", ev.Event)
		} else if _, err := decode(ev.Body, ev.Typed); err != nil {
			t.Errorf("%s: %v", ev.Event, err)
		}
	}
	return got
}

// lcReceived is the receiver's record of one delivery.
type lcReceived = webhookreceiver.Received

func TestMessageLifecycle(t *testing.T) {
	forEachLifecycleTarget(t, nil, func(t *testing.T, env *lifecycleEnv) {
		tg := env.tg
		// send writes from a new contact and sends them a text under
		// script, returning the message as the send answered it.
		send := func(t *testing.T, script graphapi.StatusScript) client.Message {
			t.Helper()
			env.fake.SetStatusScript(script)
			phone := uniquePhone(t)
			env.contactWrites(t, phone, time.Now())
			// The fake's first status may beat its answer to the send: the
			// 201 then shows the message as far as it has come.
			res, out := env.sendText(t, phone)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("send: %d %s", res.StatusCode, out)
			}
			var m client.Message
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains([]client.MessageStatus{"sent", "delivered", "read", "failed"}, m.Status) || m.ProviderMessageId.IsNull() {
				t.Errorf("the send answered %s", out)
			}
			return m
		}
		isRead := func(m client.Message) bool { return m.Status == "read" }

		t.Run("sent, delivered and read", func(t *testing.T) {
			m := send(t, graphapi.DefaultStatusScript())
			got := waitMessage(t, tg, m.Id, "read", isRead)
			sent, delivered, read := got.SentAt.MustGet(), got.DeliveredAt.MustGet(), got.ReadAt.MustGet()
			if read.Before(delivered) || delivered.Before(sent.Truncate(time.Second)) || !got.FailedAt.IsNull() || !got.ErrorCode.IsNull() {
				t.Errorf("times sent %v delivered %v read %v failed %v", sent, delivered, read, got.FailedAt)
			}
			evs := env.messageEvents(t, m.Id, []string{impl.EventMessageSent, impl.EventMessageDelivered, impl.EventMessageRead})
			for ev, field := range map[string]string{impl.EventMessageSent: "sent_at",
				impl.EventMessageDelivered: "delivered_at", impl.EventMessageRead: "read_at"} {
				if d := evs[ev]; len(d) == 1 && d[0][field] == nil {
					t.Errorf("%s data has no %s: %v", ev, field, d[0])
				}
			}
			if d := evs[impl.EventMessageRead]; len(d) == 1 && d[0]["status"] != "read" {
				t.Errorf("message.read data has status %v", d[0]["status"])
			}
		})

		t.Run("out of order: read, delivered, sent", func(t *testing.T) {
			m := send(t, graphapi.StatusScript{Steps: []string{"read", "delivered", "sent"}})
			got := waitMessage(t, tg, m.Id, "read", isRead)
			env.messageEvents(t, m.Id, []string{impl.EventMessageSent, impl.EventMessageDelivered, impl.EventMessageRead})
			if after := fetchMessage(t, tg, tg.key, m.Id); after.Status != "read" || !after.DeliveredAt.MustGet().Equal(got.DeliveredAt.MustGet()) {
				t.Errorf("the late delivered and sent changed the message: %+v", after)
			}
		})

		t.Run("every status twice", func(t *testing.T) {
			m := send(t, graphapi.StatusScript{Steps: []string{"sent", "sent", "delivered", "delivered", "read", "read"}})
			waitMessage(t, tg, m.Id, "read", isRead)
			env.messageEvents(t, m.Id, []string{impl.EventMessageSent, impl.EventMessageDelivered, impl.EventMessageRead})
		})

		t.Run("delivered skipped", func(t *testing.T) {
			m := send(t, graphapi.StatusScript{Steps: []string{"sent", "read"}})
			got := waitMessage(t, tg, m.Id, "read", isRead)
			if !got.DeliveredAt.MustGet().Equal(got.ReadAt.MustGet()) {
				t.Errorf("read without a delivery report: delivered_at %v, want the read time %v", got.DeliveredAt, got.ReadAt)
			}
			env.messageEvents(t, m.Id, []string{impl.EventMessageSent, impl.EventMessageDelivered, impl.EventMessageRead})
		})

		t.Run("failed after sent, with Meta's error", func(t *testing.T) {
			m := send(t, graphapi.StatusScript{Steps: []string{"sent", "failed"}})
			got := waitMessage(t, tg, m.Id, "failed", func(m client.Message) bool { return m.Status == "failed" })
			if got.ErrorCode.MustGet() != "131026" || got.ErrorTitle.MustGet() != "Message undeliverable" ||
				!strings.Contains(got.Error.MustGet(), "Unable to deliver message") || got.FailedAt.IsNull() || !got.ReadAt.IsNull() {
				t.Errorf("failed message %+v", got)
			}
			evs := env.messageEvents(t, m.Id, []string{impl.EventMessageSent, impl.EventMessageFailed})
			if d := evs[impl.EventMessageFailed]; len(d) == 1 && (d[0]["error_code"] != "131026" || d[0]["status"] != "failed") {
				t.Errorf("message.failed data %v", d[0])
			}
		})

		t.Run("a refused send emits message.failed", func(t *testing.T) {
			phone := uniquePhone(t)
			env.contactWrites(t, phone, time.Now())
			env.fake.FailNext(1, http.StatusBadRequest, graphapi.MetaError(131030, "OAuthException",
				"(#131030) Recipient phone number not in allowed list", ""))
			res, out := env.sendText(t, phone)
			e := wantError(t, res, out, http.StatusInternalServerError, "send_failed")
			var id int64
			fmt.Sscan(e.Error.Details["message_id"][0], &id)
			got := fetchMessage(t, tg, tg.key, id)
			if got.Status != "failed" || got.ErrorCode.MustGet() != "131030" || got.FailedAt.IsNull() {
				t.Errorf("refused message %+v", got)
			}
			env.messageEvents(t, id, []string{impl.EventMessageFailed})
		})
	})
}

// pushStatus posts a signed status webhook for wamid to the integration.
func pushStatus(t *testing.T, tg *target, integID int64, secret, phoneNumberID string, st graphapi.Status) (int, []byte) {
	t.Helper()
	return pushTo(t, inboundURL(tg, integID), secret, graphapi.StatusesPayload(phoneNumberID, "551130030000", st))
}

func TestStatusCallbacksBadInput(t *testing.T) {
	forEachLifecycleTarget(t, nil, func(t *testing.T, env *lifecycleEnv) {
		tg := env.tg
		env.fake.SetStatusScript(graphapi.StatusScript{Steps: []string{"sent"}})
		phone := uniquePhone(t)
		env.contactWrites(t, phone, time.Now())
		res, out := env.sendText(t, phone)
		m := mustCreated(t, tg, tg.key, res, out)
		wamid := m.ProviderMessageId.MustGet()
		env.messageEvents(t, m.Id, []string{impl.EventMessageSent})
		unchanged := func(t *testing.T) {
			t.Helper()
			if got := fetchMessage(t, tg, tg.key, m.Id); got.Status != "sent" || !got.DeliveredAt.IsNull() {
				t.Errorf("the message changed: %s, delivered_at %v", got.Status, got.DeliveredAt)
			}
		}
		delivered := graphapi.StatusesPayload(lcPhoneNumberID, "551130030000",
			graphapi.Status{WAMID: wamid, State: "delivered", Recipient: phone, Time: time.Now()})
		before := tg.seed(t).EventCount(t, tg.orgID)

		t.Run("unsigned: 401", func(t *testing.T) {
			res, body := inboundRequest(t, tg, http.MethodPost, inboundURL(tg, env.integ.ID),
				http.Header{"Content-Type": {"application/json"}}, delivered)
			wantError(t, res, body, http.StatusUnauthorized, "unauthorized")
			unchanged(t)
		})
		t.Run("signed with another secret: 401", func(t *testing.T) {
			status, body := pushTo(t, inboundURL(tg, env.integ.ID), "not-the-app-secret", delivered)
			if status != http.StatusUnauthorized {
				t.Errorf("%d %s", status, body)
			}
			unchanged(t)
		})
		t.Run("signed, not JSON: 400", func(t *testing.T) {
			status, body := pushTo(t, inboundURL(tg, env.integ.ID), lcAppSecret, []byte(`{"object":"whatsapp_business_account","entry":[`))
			if status != http.StatusBadRequest || !strings.Contains(string(body), "bad_request") {
				t.Errorf("%d %s", status, body)
			}
			unchanged(t)
		})
		t.Run("an unknown status value: 200, ignored", func(t *testing.T) {
			status, body := pushStatus(t, tg, env.integ.ID, lcAppSecret, lcPhoneNumberID,
				graphapi.Status{WAMID: wamid, State: "deleted", Recipient: phone, Time: time.Now()})
			if status != http.StatusOK || !strings.Contains(string(body), `"ignored":1`) {
				t.Errorf("%d %s", status, body)
			}
			unchanged(t)
		})
		t.Run("a message this server never sent: 200, ignored", func(t *testing.T) {
			status, body := pushStatus(t, tg, env.integ.ID, lcAppSecret, lcPhoneNumberID,
				graphapi.Status{WAMID: "wamid.from-another-tool", State: "read", Recipient: phone, Time: time.Now(), Reference: "other-tool-ref"})
			if status != http.StatusOK || !strings.Contains(string(body), `"statuses":0`) {
				t.Errorf("%d %s", status, body)
			}
		})
		t.Run("another integration's message: ignored", func(t *testing.T) {
			other := &impl.Integration{OrganizationID: tg.orgID, Name: "Outro numero", Channel: impl.ChannelWhatsApp,
				Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: "106540352249999", AccessToken: "EAAGother",
				AppSecret: "outro-segredo"}
			tg.seed(t).Integration(t, other)
			for _, st := range []graphapi.Status{
				{WAMID: wamid, State: "read", Recipient: phone, Time: time.Now()},
				{WAMID: "wamid.x", State: "read", Recipient: phone, Time: time.Now(), Reference: impl.MessageReference(m.Id)},
			} {
				status, body := pushStatus(t, tg, other.ID, "outro-segredo", other.PhoneNumberID, st)
				if status != http.StatusOK || !strings.Contains(string(body), `"statuses":0`) {
					t.Errorf("%d %s", status, body)
				}
			}
			// And a status for this integration's number sent to the other
			// integration's URL is not its own either.
			status, body := pushStatus(t, tg, other.ID, "outro-segredo", lcPhoneNumberID,
				graphapi.Status{WAMID: wamid, State: "read", Recipient: phone, Time: time.Now()})
			if status != http.StatusOK || !strings.Contains(string(body), `"statuses":0`) {
				t.Errorf("%d %s", status, body)
			}
			unchanged(t)
		})
		if after := tg.seed(t).EventCount(t, tg.orgID); after != before {
			t.Errorf("bad input wrote %d events", after-before)
		}
	})
}

func TestServiceWindow(t *testing.T) {
	forEachLifecycleTarget(t, nil, func(t *testing.T, env *lifecycleEnv) {
		tg := env.tg
		// No statuses after the sends: each answer shows the message sent.
		env.fake.SetStatusScript(graphapi.StatusScript{})
		messages := func() int64 {
			return listMessages(t, tg.client(t, tg.key, bearer), client.ListMessagesParams{}).Meta.Total
		}
		refused := func(t *testing.T, phone string, closedAt string) {
			t.Helper()
			before, fakeBefore := messages(), len(env.fake.Requests())
			res, out := env.sendText(t, phone)
			e := wantError(t, res, out, http.StatusUnprocessableEntity, "outside_service_window")
			if !strings.Contains(e.Error.Message, "template is required") || !strings.Contains(e.Error.Message, phone) {
				t.Errorf("message %q", e.Error.Message)
			}
			if got := e.detail("window_closed_at"); got != closedAt || (closedAt != "" && !strings.Contains(e.Error.Message, closedAt)) {
				t.Errorf("window_closed_at %q, want %q: %s", got, closedAt, out)
			}
			if messages() != before || len(env.fake.Requests()) != fakeBefore {
				t.Errorf("a refused message was stored or reached Meta")
			}
		}

		t.Run("inside: the contact wrote a minute ago", func(t *testing.T) {
			phone := uniquePhone(t)
			env.contactWrites(t, phone, time.Now().Add(-time.Minute))
			res, out := env.sendText(t, phone)
			mustCreated(t, tg, tg.key, res, out)
		})
		t.Run("outside: the contact never wrote", func(t *testing.T) {
			refused(t, uniquePhone(t), "")
		})
		t.Run("outside: the contact wrote 25 hours ago", func(t *testing.T) {
			phone := uniquePhone(t)
			wrote := time.Now().Add(-25 * time.Hour).Truncate(time.Second)
			env.contactWrites(t, phone, wrote)
			refused(t, phone, wrote.Add(24*time.Hour).UTC().Format(time.RFC3339))
		})
		t.Run("at the boundary", func(t *testing.T) {
			phone := uniquePhone(t)
			wrote := time.Now().Add(-time.Hour).Truncate(time.Second)
			env.contactWrites(t, phone, wrote)
			closes := wrote.Add(24 * time.Hour)
			env.clock.Store(closes.Add(-time.Millisecond).UnixNano())
			res, out := env.sendText(t, phone)
			mustCreated(t, tg, tg.key, res, out)
			env.clock.Store(closes.UnixNano())
			refused(t, phone, closes.UTC().Format(time.RFC3339))
			env.clock.Store(0)
		})
		t.Run("a template is always allowed", func(t *testing.T) {
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": env.integ.ID,
				"phone": uniquePhone(t), "type": "template", "template_name": "boas_vindas", "variables": []any{"Joao"}})
			mustCreated(t, tg, tg.key, res, out)
		})
		t.Run("every type but template keeps the rule", func(t *testing.T) {
			phone := uniquePhone(t)
			for _, k := range whatsAppKinds {
				if k.typ == "template" {
					continue
				}
				res, out := postJSON(t, tg, tg.key, "/whatsapp/messages",
					merged(k.fields, map[string]any{"integration_id": env.integ.ID, "phone": phone, "type": k.typ}))
				wantError(t, res, out, http.StatusUnprocessableEntity, "outside_service_window")
			}
		})
		t.Run("the sandbox keeps the same rule", func(t *testing.T) {
			phone := uniquePhone(t)
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": seededWhatsAppID,
				"phone": phone, "type": "text", "text": "Oi"})
			wantError(t, res, out, http.StatusUnprocessableEntity, "outside_service_window")
			res, out = postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": seededWhatsAppID,
				"phone": phone, "type": "template", "template_name": "boas_vindas", "variables": []any{"Joao"}})
			mustCreated(t, tg, tg.key, res, out)
		})
		t.Run("the window is the integration's number's", func(t *testing.T) {
			// The contact wrote to the Cloud API number, not the sandbox's.
			phone := uniquePhone(t)
			env.contactWrites(t, phone, time.Now())
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": seededWhatsAppID,
				"phone": phone, "type": "text", "text": "Oi"})
			wantError(t, res, out, http.StatusUnprocessableEntity, "outside_service_window")
		})
	})
}

// The fake enforces the window too: a server that skipped its own check
// would see Meta's 131047 come back as a failure.
func TestServiceWindowAtMeta(t *testing.T) {
	forEachLifecycleTarget(t, nil, func(t *testing.T, env *lifecycleEnv) {
		tg := env.tg
		phone := uniquePhone(t)
		// The contact wrote to our server 23 hours ago, but the fake heard of
		// it 25 hours ago: Meta's clock is what counts there.
		env.contactWrites(t, phone, time.Now().Add(-23*time.Hour))
		env.fake.ContactWrote(lcPhoneNumberID, phone, time.Now().Add(-25*time.Hour))
		env.fake.Reset()
		env.fake.SetToken(lcPhoneNumberID, env.integ.AccessToken)
		env.fake.SetCallback(inboundURL(tg, env.integ.ID), lcAppSecret)
		res, out := env.sendText(t, phone)
		var m client.Message
		if res.StatusCode != http.StatusCreated || json.Unmarshal(out, &m) != nil {
			t.Fatalf("Meta accepts the message before it fails it: %d %s", res.StatusCode, out)
		}
		got := waitMessage(t, tg, m.Id, "failed", func(m client.Message) bool { return m.Status == "failed" })
		if got.ErrorCode.MustGet() != "131047" || got.ErrorTitle.MustGet() != "Re-engagement message" {
			t.Errorf("failed with %v %v, want Meta's 131047", got.ErrorCode, got.ErrorTitle)
		}
	})
}
