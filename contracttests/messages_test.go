package contracttests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

// Messages, whatever their channel: the answer to a send, the history
// (GET /messages, paged and filtered), one message by id, and the
// organizations' messaging kept apart.

// mustCreated checks a send's 201 answer: the Location header names the
// message, and the message is stored as sent with a provider id.
func mustCreated(t *testing.T, tg *target, key string, res *http.Response, body []byte) client.Message {
	t.Helper()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("want 201, got %d: %s", res.StatusCode, body)
	}
	var m client.Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode message: %v: %s", err, body)
	}
	loc := res.Header.Get("Location")
	if !strings.HasSuffix(loc, fmt.Sprintf("/messages/%d", m.Id)) {
		t.Errorf("Location %q does not name message %d", loc, m.Id)
	} else {
		// The Location is usable as it stands, relative to the server.
		base, err := url.Parse(tg.baseURL)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("Location %q: %v", loc, err)
		}
		abs := base.ResolveReference(ref).String()
		if !strings.HasPrefix(abs, tg.baseURL+"/") {
			t.Errorf("Location %q resolves to %s, outside %s", loc, abs, tg.baseURL)
		} else if got, _ := tg.raw(t, key, http.MethodGet, strings.TrimPrefix(abs, tg.baseURL), "", nil); got.StatusCode != http.StatusOK {
			t.Errorf("GET Location %s: %d", loc, got.StatusCode)
		}
	}
	if m.Status != client.MessageStatus(impl.StatusSent) || m.Direction != client.Direction(impl.DirectionOutbound) {
		t.Errorf("status %q direction %q, want sent outbound", m.Status, m.Direction)
	}
	if pid, err := m.ProviderMessageId.Get(); err != nil || pid == "" {
		t.Errorf("provider_message_id %v, want one", m.ProviderMessageId)
	}
	if !m.Error.IsNull() {
		t.Errorf("error %v on a sent message, want null", m.Error)
	}
	return m
}

// fetchMessage is GET /messages/{id}, which must succeed.
func fetchMessage(t *testing.T, tg *target, key string, id int64) client.Message {
	t.Helper()
	res, err := tg.client(t, key, bearer).GetMessageWithResponse(context.Background(), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
		t.Fatalf("GET /messages/%d: %d %s", id, res.StatusCode(), res.Body)
	}
	return *res.JSON200
}

// sameMessage reports how got, as GET /messages/{id} returns it, differs
// from want, as the send returned it.
func sameMessage(t *testing.T, got, want client.Message) {
	t.Helper()
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	var x, y map[string]any
	_ = json.Unmarshal(a, &x)
	_ = json.Unmarshal(b, &y)
	if !reflect.DeepEqual(x, y) {
		t.Errorf("GET /messages/%d differs from the send's answer:\n got %s\nwant %s", want.Id, a, b)
	}
}

// listMessages is GET /messages, which must succeed.
func listMessages(t *testing.T, c *client.ClientWithResponses, p client.ListMessagesParams) client.MessageList {
	t.Helper()
	res, err := c.ListMessagesWithResponse(context.Background(), &p)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
		t.Fatalf("list messages: %d %s", res.StatusCode(), res.Body)
	}
	return *res.JSON200
}

func messageIDs(ms []client.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Id
	}
	return out
}

// newestFirst is ids, newest (highest) first.
func newestFirst(ids ...int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// messagingOrg is a fresh organization with what seeder.Messaging gives
// it: the grey-box tests of messaging work in one, through its seed.
type messagingOrg struct {
	id       int64
	key      string
	c        *client.ClientWithResponses
	seed     *seeder
	whatsApp *impl.Integration
	rcs      *impl.Integration
}

func newMessagingOrg(t *testing.T, tg *target, name string) *messagingOrg {
	t.Helper()
	seed := tg.seed(t)
	org := seed.Organization(t, name)
	wa, rcs := seed.Messaging(t, org.ID)
	return &messagingOrg{id: org.ID, key: org.Key, c: tg.client(t, org.Key, bearer), seed: seed, whatsApp: wa, rcs: rcs}
}

// createIntegration seeds an integration of the organization.
func (o *messagingOrg) createIntegration(t *testing.T, in *impl.Integration) *impl.Integration {
	t.Helper()
	in.OrganizationID = o.id
	return o.seed.Integration(t, in)
}

// send posts a message and returns its id, requiring status want (201 or
// 500 send_failed).
func (o *messagingOrg) send(t *testing.T, tg *target, path string, body map[string]any, want int) int64 {
	t.Helper()
	res, out := postJSON(t, tg, o.key, path, body)
	if res.StatusCode != want {
		t.Fatalf("%s: %d %s, want %d", path, res.StatusCode, out, want)
	}
	if want != http.StatusCreated {
		e := wantError(t, res, out, want, "send_failed")
		if len(e.Error.Details["message_id"]) != 1 {
			t.Fatalf("no message_id in %s", out)
		}
		id, err := strconv.ParseInt(e.Error.Details["message_id"][0], 10, 64)
		if err != nil {
			t.Fatalf("message_id: %v", err)
		}
		return id
	}
	var m client.Message
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m.Id
}

func TestMessageHistory(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		o := newMessagingOrg(t, tg, "history")
		lead := createLead(t, o.c, client.LeadCreate{Phone: uniquePhone(t)})
		// An integration that can only fail: no access token, so the adapter
		// refuses before calling anyone.
		broken := o.createIntegration(t, &impl.Integration{Name: "Sem token", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: "106540352242922"})
		inbound := o.createIntegration(t, &impl.Integration{Name: "Cloud", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: "106540352242923", AccessToken: "EAAGx", AppSecret: "hist-secret"})

		// Templates, which may write to anyone: the history is what this
		// tests, not the 24-hour window.
		wa := func(fields map[string]any) map[string]any {
			return merged(map[string]any{"integration_id": o.whatsApp.ID, "type": "template", "template_name": "boas_vindas",
				"variables": []any{"Ana"}}, fields)
		}
		waToLead := o.send(t, tg, "/whatsapp/messages", wa(map[string]any{"lead_id": lead.Id}), http.StatusCreated)
		waToPhone := o.send(t, tg, "/whatsapp/messages", wa(map[string]any{"phone": uniquePhone(t)}), http.StatusCreated)
		rcsToLead := o.send(t, tg, "/rcs/messages", map[string]any{"lead_id": lead.Id, "type": "text", "text": "Oi"}, http.StatusCreated)
		rcsToPhone := o.send(t, tg, "/rcs/messages", map[string]any{"phone": uniquePhone(t), "type": "text", "text": "Oi"}, http.StatusCreated)
		waTemplateToLeadPhone := o.send(t, tg, "/whatsapp/messages", wa(map[string]any{"phone": lead.Phone}), http.StatusCreated)
		failed := o.send(t, tg, "/whatsapp/messages", wa(map[string]any{"integration_id": broken.ID, "phone": uniquePhone(t)}),
			http.StatusInternalServerError)
		wamid := "wamid.history" + uniquePhone(t)
		if status, body := pushTo(t, inboundURL(tg, inbound.ID), "hist-secret",
			graphapi.InboundText(inbound.PhoneNumberID, "551130030000", lead.Phone, "Lead", wamid, "Resposta", time.Now())); status != http.StatusOK {
			t.Fatalf("inbound: %d %s", status, body)
		}
		in := listMessages(t, o.c, client.ListMessagesParams{Direction: ptr(client.Direction("inbound"))})
		if len(in.Data) != 1 {
			t.Fatalf("inbound messages %+v", in.Data)
		}
		received := in.Data[0].Id
		all := newestFirst(waToLead, waToPhone, rcsToLead, rcsToPhone, waTemplateToLeadPhone, failed, received)

		t.Run("newest first, paged", func(t *testing.T) {
			l := listMessages(t, o.c, client.ListMessagesParams{})
			if got := messageIDs(l.Data); !slices.Equal(got, all) {
				t.Errorf("ids %v, want %v", got, all)
			}
			if m := l.Meta; m.Total != 7 || m.TotalPages != 1 || m.PerPage != 25 || m.CurrentPage != 1 {
				t.Errorf("meta %+v", m)
			}
			var seen []int64
			for page, n := range []int{3, 3, 1, 0} {
				l := listMessages(t, o.c, client.ListMessagesParams{Page: ptr(int32(page + 1)), PerPage: ptr(int32(3))})
				if len(l.Data) != n || l.Meta.Total != 7 || l.Meta.TotalPages != 3 || l.Meta.PerPage != 3 || l.Meta.CurrentPage != int32(page+1) {
					t.Errorf("page %d: %d messages, meta %+v", page+1, len(l.Data), l.Meta)
				}
				seen = append(seen, messageIDs(l.Data)...)
			}
			if !slices.Equal(seen, all) {
				t.Errorf("pages gave %v, want %v", seen, all)
			}
		})

		cases := []struct {
			name   string
			params client.ListMessagesParams
			want   []int64
		}{
			{"lead_id", client.ListMessagesParams{LeadId: &lead.Id}, newestFirst(waToLead, rcsToLead, waTemplateToLeadPhone, received)},
			{"unknown lead_id", client.ListMessagesParams{LeadId: ptr(int64(987654321))}, nil},
			{"channel rcs", client.ListMessagesParams{Channel: ptr(client.Channel("rcs"))}, newestFirst(rcsToLead, rcsToPhone)},
			{"channel whatsapp", client.ListMessagesParams{Channel: ptr(client.Channel("whatsapp"))},
				newestFirst(waToLead, waToPhone, waTemplateToLeadPhone, failed, received)},
			{"direction inbound", client.ListMessagesParams{Direction: ptr(client.Direction("inbound"))}, []int64{received}},
			{"direction outbound", client.ListMessagesParams{Direction: ptr(client.Direction("outbound"))},
				newestFirst(waToLead, waToPhone, rcsToLead, rcsToPhone, waTemplateToLeadPhone, failed)},
			{"status sent", client.ListMessagesParams{Status: ptr(client.MessageStatus("sent"))},
				newestFirst(waToLead, waToPhone, rcsToLead, rcsToPhone, waTemplateToLeadPhone)},
			{"status failed", client.ListMessagesParams{Status: ptr(client.MessageStatus("failed"))}, []int64{failed}},
			{"status received", client.ListMessagesParams{Status: ptr(client.MessageStatus("received"))}, []int64{received}},
			{"status queued", client.ListMessagesParams{Status: ptr(client.MessageStatus("queued"))}, nil},
			{"filters combine", client.ListMessagesParams{LeadId: &lead.Id, Channel: ptr(client.Channel("whatsapp")), Direction: ptr(client.Direction("outbound"))},
				newestFirst(waToLead, waTemplateToLeadPhone)},
			{"filters combine to nothing", client.ListMessagesParams{Channel: ptr(client.Channel("rcs")), Status: ptr(client.MessageStatus("failed"))}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				l := listMessages(t, o.c, tc.params)
				if got := messageIDs(l.Data); !slices.Equal(got, tc.want) {
					t.Errorf("ids %v, want %v", got, tc.want)
				}
				pages := int64(0)
				if len(tc.want) > 0 {
					pages = 1
				}
				if l.Meta.Total != int64(len(tc.want)) || l.Meta.TotalPages != pages {
					t.Errorf("meta %+v, want total %d", l.Meta, len(tc.want))
				}
				for _, m := range l.Data {
					if tc.params.Channel != nil && m.Channel != *tc.params.Channel ||
						tc.params.Status != nil && m.Status != *tc.params.Status ||
						tc.params.Direction != nil && m.Direction != *tc.params.Direction {
						t.Errorf("message %+v does not match the filter", m)
					}
				}
			})
		}

		t.Run("bad filters", func(t *testing.T) {
			for _, q := range []string{"channel=sms", "direction=sideways", "status=bounced", "lead_id=0", "lead_id=abc", "per_page=0", "per_page=101", "page=0"} {
				res, out := tg.raw(t, o.key, http.MethodGet, "/messages?"+q, "", nil)
				wantError(t, res, out, http.StatusBadRequest, "bad_request")
			}
		})

		t.Run("get", func(t *testing.T) {
			m := fetchMessage(t, tg, o.key, waTemplateToLeadPhone)
			if m.Type != "template" || m.LeadId.MustGet() != lead.Id || m.Phone != lead.Phone || m.Status != "sent" || m.IntegrationId != o.whatsApp.ID {
				t.Errorf("message %+v", m)
			}
			f := fetchMessage(t, tg, o.key, failed)
			if f.Status != "failed" || f.Error.MustGet() == "" || !f.ProviderMessageId.IsNull() || f.IntegrationId != broken.ID {
				t.Errorf("failed message %+v", f)
			}
		})

		t.Run("deleting a lead keeps its messages, unlinked", func(t *testing.T) {
			other := createLead(t, o.c, client.LeadCreate{Phone: uniquePhone(t)})
			id := o.send(t, tg, "/whatsapp/messages", wa(map[string]any{"lead_id": other.Id}), http.StatusCreated)
			res, err := o.c.DeleteLeadWithResponse(context.Background(), other.Id, nil)
			if err != nil || res.StatusCode() != http.StatusNoContent {
				t.Fatalf("delete lead: %v %d %s", err, res.StatusCode(), res.Body)
			}
			m := fetchMessage(t, tg, o.key, id)
			if !m.LeadId.IsNull() || m.Phone != other.Phone {
				t.Errorf("message of a deleted lead: lead_id %v phone %q, want null and %q", m.LeadId, m.Phone, other.Phone)
			}
			if l := listMessages(t, o.c, client.ListMessagesParams{LeadId: &other.Id}); l.Meta.Total != 0 {
				t.Errorf("the deleted lead still has %d messages", l.Meta.Total)
			}
		})
	})
}

func TestMessageNotFound(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		a := tg.client(t, tg.key, bearer)
		t.Run("unknown id", func(t *testing.T) {
			res, err := a.GetMessageWithResponse(ctx, 987654321, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res.HTTPResponse, res.Body, http.StatusNotFound, "not_found")
		})
		t.Run("bad id", func(t *testing.T) {
			for _, id := range []string{"0", "-1", "abc"} {
				res, out := tg.raw(t, tg.key, http.MethodGet, "/messages/"+id, "", nil)
				wantError(t, res, out, http.StatusBadRequest, "bad_request")
			}
		})
		t.Run("another organization's message", func(t *testing.T) {
			b := tg.client(t, tg.newOrg(t, "Org B"), bearer)
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{
				"integration_id": seededWhatsAppID, "phone": uniquePhone(t), "type": "template", "template_name": "boas_vindas",
				"variables": []any{"A"}})
			m := mustCreated(t, tg, tg.key, res, out)
			g, err := b.GetMessageWithResponse(ctx, m.Id, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, g.HTTPResponse, g.Body, http.StatusNotFound, "not_found")
			for _, p := range []client.ListMessagesParams{{PerPage: ptr(int32(100))}, {Channel: ptr(client.Channel("whatsapp")), PerPage: ptr(int32(100))}} {
				if slices.Contains(messageIDs(listMessages(t, b, p).Data), m.Id) {
					t.Errorf("organization B's history shows A's message %d", m.Id)
				}
			}
		})
	})
}

func TestOrganizationsSeeNothingOfEachOther(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newMessagingOrg(t, tg, "A")
		b := newMessagingOrg(t, tg, "B")
		ctx := context.Background()
		a.seed.Template(t, &impl.Template{OrganizationID: a.id, Name: "so_da_a", Language: "pt_BR",
			Category: "MARKETING", MetaApproved: true, Body: "A", Context: ptr("onboarding")})
		msg := a.send(t, tg, "/whatsapp/messages", map[string]any{"integration_id": a.whatsApp.ID, "phone": uniquePhone(t),
			"type": "template", "template_name": "boas_vindas", "variables": []any{"A"}}, http.StatusCreated)
		a.send(t, tg, "/rcs/messages", map[string]any{"phone": uniquePhone(t), "type": "text", "text": "A"}, http.StatusCreated)

		tpl, err := b.c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{})
		if err != nil || tpl.JSON200 == nil {
			t.Fatalf("%v %s", err, tpl.Body)
		}
		if l := tpl.JSON200; len(l.Data) != 1 || l.Data[0].Name != "boas_vindas" || l.Meta.Total != 1 {
			t.Errorf("B's templates: %s", tpl.Body)
		}
		for _, p := range []client.ListWhatsAppTemplatesParams{{Context: ptr("onboarding")}, {Category: ptr(client.TemplateCategory("MARKETING"))}} {
			res, _ := b.c.ListWhatsAppTemplatesWithResponse(ctx, &p)
			for _, x := range res.JSON200.Data {
				if x.Name == "so_da_a" {
					t.Errorf("B sees A's template: %s", res.Body)
				}
			}
		}
		wa, err := b.c.ListWhatsAppIntegrationsWithResponse(ctx)
		if err != nil || wa.JSON200 == nil || len(wa.JSON200.Data) != 1 || wa.JSON200.Data[0].Id != b.whatsApp.ID {
			t.Errorf("B's WhatsApp integrations: %v %s", err, wa.Body)
		}
		rcs, err := b.c.ListRCSIntegrationsWithResponse(ctx)
		if err != nil || rcs.JSON200 == nil || len(rcs.JSON200.Data) != 1 || rcs.JSON200.Data[0].Id != b.rcs.ID {
			t.Errorf("B's RCS integrations: %v %s", err, rcs.Body)
		}
		if l := listMessages(t, b.c, client.ListMessagesParams{}); l.Meta.Total != 0 || len(l.Data) != 0 {
			t.Errorf("B's history: %+v", l)
		}
		g, _ := b.c.GetMessageWithResponse(ctx, msg, nil)
		wantError(t, g.HTTPResponse, g.Body, http.StatusNotFound, "not_found")
		// Nor can B send through A's integrations.
		res, out := postJSON(t, tg, b.key, "/whatsapp/messages", map[string]any{"integration_id": a.whatsApp.ID,
			"phone": uniquePhone(t), "type": "text", "text": "B"})
		wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		res, out = postJSON(t, tg, b.key, "/rcs/messages", map[string]any{"integration_id": a.rcs.ID,
			"phone": uniquePhone(t), "type": "text", "text": "B"})
		wantError(t, res, out, http.StatusNotFound, "integration_not_found")
	})
}
