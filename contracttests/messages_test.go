package contracttests

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

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

// messagingOrg is a fresh organization with what seedMessaging gives it.
type messagingOrg struct {
	id       int64
	key      string
	c        *client.ClientWithResponses
	whatsApp *impl.Integration
	rcs      *impl.Integration
}

func newMessagingOrg(t *testing.T, tg *target, name string) *messagingOrg {
	t.Helper()
	needsDB(t, tg)
	k, key := tg.issueKey(t, name)
	wa, rcs := tg.seedMessaging(t, k.OrganizationID)
	return &messagingOrg{id: k.OrganizationID, key: key, c: tg.client(t, key, bearer), whatsApp: wa, rcs: rcs}
}

func (o *messagingOrg) createIntegration(t *testing.T, tg *target, in *impl.Integration) *impl.Integration {
	t.Helper()
	in.OrganizationID = o.id
	if err := tg.app.Stores.Integrations.CreateIntegration(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return in
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
		e := decodeError(t, out)
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
		broken := o.createIntegration(t, tg, &impl.Integration{Name: "Sem token", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: "106540352242922"})
		inbound := o.createIntegration(t, tg, &impl.Integration{Name: "Cloud", Channel: impl.ChannelWhatsApp,
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
				wantCode(t, res, out, http.StatusBadRequest, "bad_request")
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
			res, err := o.c.DeleteLeadWithResponse(context.Background(), other.Id)
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
			res, err := a.GetMessageWithResponse(ctx, 987654321)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res.StatusCode(), res.Body, http.StatusNotFound, "not_found")
		})
		t.Run("bad id", func(t *testing.T) {
			for _, id := range []string{"0", "-1", "abc"} {
				res, out := tg.raw(t, tg.key, http.MethodGet, "/messages/"+id, "", nil)
				wantCode(t, res, out, http.StatusBadRequest, "bad_request")
			}
		})
		t.Run("another organization's message", func(t *testing.T) {
			b := tg.client(t, tg.newOrg(t, "Org B"), bearer)
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{
				"integration_id": seededWhatsAppID, "phone": uniquePhone(t), "type": "template", "template_name": "boas_vindas",
				"variables": []any{"A"}})
			m := mustCreated(t, tg, tg.key, res, out)
			g, err := b.GetMessageWithResponse(ctx, m.Id)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, g.StatusCode(), g.Body, http.StatusNotFound, "not_found")
			for _, p := range []client.ListMessagesParams{{PerPage: ptr(int32(100))}, {Channel: ptr(client.Channel("whatsapp")), PerPage: ptr(int32(100))}} {
				if slices.Contains(messageIDs(listMessages(t, b, p).Data), m.Id) {
					t.Errorf("organization B's history shows A's message %d", m.Id)
				}
			}
		})
	})
}

// integrationFields are the only fields an integration has in the API:
// its credentials never leave the server.
var integrationFields = []string{"active", "channel", "created_at", "id", "name", "phone_number", "provider"}

func TestListIntegrations(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		o := newMessagingOrg(t, tg, "integrations")
		const (
			token     = "EAAGsecretAccessToken123"
			appSecret = "app-secret-4f9a"
			agentID   = "iagente-agent-7"
		)
		cloud := o.createIntegration(t, tg, &impl.Integration{Name: "Atendimento", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: "106540352242922", AccessToken: token,
			AppSecret: appSecret, VerifyTokenHash: []byte("0123456789abcdef0123456789abcdef")})
		rbm := o.createIntegration(t, tg, &impl.Integration{Name: "RBM", Channel: impl.ChannelRCS,
			Provider: impl.ProviderGoogleRBM, Active: true, AgentID: agentID, PhoneNumber: "551140040001"})
		off := o.createIntegration(t, tg, &impl.Integration{Name: "Antiga", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderSandbox, Active: true})
		if err := tg.app.Stores.Integrations.SetIntegrationActive(context.Background(), o.id, off.ID, false); err != nil {
			t.Fatal(err)
		}
		// Another organization's integrations must not show.
		other := newMessagingOrg(t, tg, "other")
		other.createIntegration(t, tg, &impl.Integration{Name: "Da outra", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderSandbox, Active: true})

		check := func(t *testing.T, path string, want []*impl.Integration) {
			t.Helper()
			res, body := tg.raw(t, o.key, http.MethodGet, path, "", nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			for _, secret := range []string{token, appSecret, agentID, "106540352242922", "0123456789abcdef"} {
				if strings.Contains(string(body), secret) {
					t.Errorf("the list leaks %q: %s", secret, body)
				}
			}
			var raw struct {
				Data []map[string]any `json:"data"`
			}
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			if len(raw.Data) != len(want) {
				t.Fatalf("%d integrations, want %d: %s", len(raw.Data), len(want), body)
			}
			for i, got := range raw.Data {
				var keys []string
				for k := range got {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if !slices.Equal(keys, integrationFields) {
					t.Errorf("integration %d has fields %v, want exactly %v", i, keys, integrationFields)
				}
				w := want[i]
				var phone any
				if w.PhoneNumber != "" {
					phone = w.PhoneNumber
				}
				if got["id"] != float64(w.ID) || got["name"] != w.Name || got["channel"] != w.Channel ||
					got["provider"] != w.Provider || got["active"] != w.Active || got["phone_number"] != phone {
					t.Errorf("integration %d is %v, want %+v", i, got, w)
				}
			}
		}
		off.Active = false
		t.Run("whatsapp", func(t *testing.T) { check(t, "/whatsapp/integrations", []*impl.Integration{o.whatsApp, cloud, off}) })
		t.Run("rcs", func(t *testing.T) { check(t, "/rcs/integrations", []*impl.Integration{o.rcs, rbm}) })
	})
}

func TestOrganizationsSeeNothingOfEachOther(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		a := newMessagingOrg(t, tg, "A")
		b := newMessagingOrg(t, tg, "B")
		ctx := context.Background()
		if err := tg.app.Stores.Templates.CreateTemplate(ctx, &impl.Template{OrganizationID: a.id, Name: "so_da_a", Language: "pt_BR",
			Category: "MARKETING", MetaApproved: true, Body: "A", Context: ptr("onboarding")}); err != nil {
			t.Fatal(err)
		}
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
		g, _ := b.c.GetMessageWithResponse(ctx, msg)
		wantError(t, g.StatusCode(), g.Body, http.StatusNotFound, "not_found")
		// Nor can B send through A's integrations.
		res, out := postJSON(t, tg, b.key, "/whatsapp/messages", map[string]any{"integration_id": a.whatsApp.ID,
			"phone": uniquePhone(t), "type": "text", "text": "B"})
		wantCode(t, res, out, http.StatusNotFound, "integration_not_found")
		res, out = postJSON(t, tg, b.key, "/rcs/messages", map[string]any{"integration_id": a.rcs.ID,
			"phone": uniquePhone(t), "type": "text", "text": "B"})
		wantCode(t, res, out, http.StatusNotFound, "integration_not_found")
	})
}

func TestRCSIntegrationChoice(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		o := newMessagingOrg(t, tg, "rcs")
		ctx := context.Background()
		second := o.createIntegration(t, tg, &impl.Integration{Name: "RCS 2", Channel: impl.ChannelRCS,
			Provider: impl.ProviderSandbox, Active: true})
		send := func(t *testing.T, fields map[string]any) (*http.Response, []byte) {
			t.Helper()
			return postJSON(t, tg, o.key, "/rcs/messages", merged(map[string]any{"phone": uniquePhone(t), "type": "text", "text": "Oi"}, fields))
		}
		sentThrough := func(t *testing.T, fields map[string]any, want int64) {
			t.Helper()
			res, out := send(t, fields)
			m := mustCreated(t, tg, o.key, res, out)
			if m.IntegrationId != want || m.Channel != "rcs" {
				t.Errorf("sent through %s integration %d, want rcs %d", m.Channel, m.IntegrationId, want)
			}
		}

		t.Run("the oldest active one by default", func(t *testing.T) { sentThrough(t, nil, o.rcs.ID) })
		t.Run("an explicit one", func(t *testing.T) { sentThrough(t, map[string]any{"integration_id": second.ID}, second.ID) })
		t.Run("the WhatsApp integration", func(t *testing.T) {
			res, out := send(t, map[string]any{"integration_id": o.whatsApp.ID})
			wantCode(t, res, out, http.StatusNotFound, "integration_not_found")
		})
		t.Run("a missing one", func(t *testing.T) {
			res, out := send(t, map[string]any{"integration_id": 987654321})
			wantCode(t, res, out, http.StatusNotFound, "integration_not_found")
		})
		t.Run("the oldest disabled", func(t *testing.T) {
			if err := tg.app.Stores.Integrations.SetIntegrationActive(ctx, o.id, o.rcs.ID, false); err != nil {
				t.Fatal(err)
			}
			sentThrough(t, nil, second.ID)
			res, out := send(t, map[string]any{"integration_id": o.rcs.ID})
			wantCode(t, res, out, http.StatusNotFound, "integration_not_found")
		})
		t.Run("all disabled", func(t *testing.T) {
			if err := tg.app.Stores.Integrations.SetIntegrationActive(ctx, o.id, second.ID, false); err != nil {
				t.Fatal(err)
			}
			before := listMessages(t, o.c, client.ListMessagesParams{}).Meta.Total
			res, out := send(t, nil)
			wantCode(t, res, out, http.StatusNotFound, "integration_not_found")
			if after := listMessages(t, o.c, client.ListMessagesParams{}).Meta.Total; after != before {
				t.Errorf("a send without an integration stored %d messages", after-before)
			}
		})
		t.Run("enabled again", func(t *testing.T) {
			if err := tg.app.Stores.Integrations.SetIntegrationActive(ctx, o.id, o.rcs.ID, true); err != nil {
				t.Fatal(err)
			}
			sentThrough(t, nil, o.rcs.ID)
		})
	})
}
