package contracttests

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
)

// WhatsApp sends through the sandbox integration: every message type, whom
// a send goes to (a lead, a phone, an integration of the organization) and
// the validation of media fields. The Cloud API adapter is in
// whatsapp_cloud_test.go, templates in whatsapp_templates_test.go.

// The sandbox WhatsApp integration seeder.Messaging gives the main
// organization: the first integration of a fresh database, and the one the
// API reference's examples name.
const seededWhatsAppID = 1

// whatsAppKinds is one message of every WhatsApp type: the fields to send and
// the content the history must show.
var whatsAppKinds = []struct {
	typ     string
	fields  map[string]any
	content map[string]any
}{
	{"text", map[string]any{"text": "Ola! Como posso ajudar?"},
		map[string]any{"text": "Ola! Como posso ajudar?"}},
	{"template", map[string]any{"template_name": "boas_vindas", "variables": []any{"Joao"}},
		map[string]any{"template_name": "boas_vindas", "template_language": "pt_BR", "variables": []any{"Joao"}}},
	{"image", map[string]any{"media_url": "https://exemplo.com/catalogo.jpg", "caption": "Nosso catalogo"},
		map[string]any{"media_url": "https://exemplo.com/catalogo.jpg", "caption": "Nosso catalogo"}},
	{"video", map[string]any{"media_url": "https://exemplo.com/demo.mp4"},
		map[string]any{"media_url": "https://exemplo.com/demo.mp4"}},
	{"document", map[string]any{"media_url": "https://exemplo.com/proposta.pdf", "filename": "proposta.pdf", "caption": "Segue a proposta"},
		map[string]any{"media_url": "https://exemplo.com/proposta.pdf", "filename": "proposta.pdf", "caption": "Segue a proposta"}},
	{"audio", map[string]any{"media_url": "https://exemplo.com/audio.ogg"},
		map[string]any{"media_url": "https://exemplo.com/audio.ogg"}},
}

func TestWhatsAppSendEveryTypeThroughSandbox(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, k := range whatsAppKinds {
			t.Run(k.typ, func(t *testing.T) {
				phone := uniquePhone(t)
				if k.typ != "template" {
					// Only a template may write first (the 24-hour window).
					tg.seed(t).ContactWrote(t, seededWhatsAppID, phone)
				}
				body := merged(k.fields, map[string]any{"integration_id": seededWhatsAppID, "phone": phone, "type": k.typ})
				res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", body)
				m := mustCreated(t, tg, tg.key, res, out)
				if m.Channel != "whatsapp" || string(m.Type) != k.typ || m.Phone != phone || m.IntegrationId != seededWhatsAppID {
					t.Errorf("channel %q type %q phone %q integration %d, want whatsapp %s %s %d",
						m.Channel, m.Type, m.Phone, m.IntegrationId, k.typ, phone, seededWhatsAppID)
				}
				// The contact's message made them a lead; a template may go
				// to a phone no lead has.
				if k.typ == "template" && !m.LeadId.IsNull() {
					t.Errorf("lead_id %v for a phone no lead has, want null", m.LeadId)
				}
				if k.typ != "template" && m.LeadId.IsNull() {
					t.Errorf("lead_id null, want the lead the contact's message made")
				}
				if !reflect.DeepEqual(m.Content, k.content) {
					t.Errorf("content %v, want %v", m.Content, k.content)
				}
				if !tg.remote() && !strings.HasPrefix(m.ProviderMessageId.MustGet(), "sandbox.wa.") {
					t.Errorf("provider_message_id %q is not the sandbox's", m.ProviderMessageId.MustGet())
				}
				sameMessage(t, fetchMessage(t, tg, tg.key, m.Id), m)
			})
		}

		t.Run("message.sent event", func(t *testing.T) {
			seed := tg.seed(t)
			phone := uniquePhone(t)
			seed.ContactWrote(t, seededWhatsAppID, phone)
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{
				"integration_id": seededWhatsAppID, "phone": phone, "type": "text", "text": "evento"})
			m := mustCreated(t, tg, tg.key, res, out)
			sent := seed.EventPayloads(t, tg.orgID, impl.EventMessageSent)
			var found map[string]any
			for _, p := range sent {
				if n, _ := p["id"].(float64); int64(n) == m.Id {
					found = p
				}
			}
			if found == nil {
				t.Fatalf("no message.sent event for message %d among %d", m.Id, len(sent))
			}
			if found["status"] != "sent" || found["provider_message_id"] != m.ProviderMessageId.MustGet() || found["phone"] != m.Phone {
				t.Errorf("message.sent payload %v does not describe the sent message %+v", found, m)
			}
			if _, leak := found["organization_id"]; leak {
				t.Errorf("message.sent payload carries organization_id: %v", found)
			}
		})
	})
}

func TestWhatsAppTargets(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		// A template: it may write to anyone, so the recipient rules are
		// tested apart from the 24-hour window.
		send := func(t *testing.T, fields map[string]any) (*http.Response, []byte) {
			t.Helper()
			return postJSON(t, tg, tg.key, "/whatsapp/messages", merged(map[string]any{
				"integration_id": seededWhatsAppID, "type": "template", "template_name": "boas_vindas",
				"variables": []any{"Joao"}}, fields))
		}
		integrationNotFound := func(t *testing.T, id int64) {
			t.Helper()
			res, out := send(t, map[string]any{"integration_id": id, "phone": uniquePhone(t)})
			wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		}

		t.Run("missing integration", func(t *testing.T) { integrationNotFound(t, 987654321) })
		t.Run("RCS integration", func(t *testing.T) {
			res, err := tg.client(t, tg.key, bearer).ListRCSIntegrationsWithResponse(ctx)
			if err != nil || res.JSON200 == nil {
				t.Fatalf("list RCS integrations: %v %d", err, res.StatusCode())
			}
			if len(res.JSON200.Data) == 0 {
				t.Skip("the organization has no RCS integration")
			}
			integrationNotFound(t, res.JSON200.Data[0].Id)
		})
		t.Run("another organization's integration", func(t *testing.T) {
			if !tg.remote() {
				seed := tg.seed(t)
				theirs, _ := seed.Messaging(t, seed.Organization(t, "Org B").ID)
				integrationNotFound(t, theirs.ID)
				return
			}
			res, err := tg.client(t, tg.newOrg(t, "Org B"), bearer).ListWhatsAppIntegrationsWithResponse(ctx)
			if err != nil || res.JSON200 == nil {
				t.Fatalf("list B's integrations: %v", err)
			}
			if len(res.JSON200.Data) == 0 {
				t.Skip("organization B has no WhatsApp integration")
			}
			for _, in := range res.JSON200.Data {
				integrationNotFound(t, in.Id)
			}
		})
		t.Run("inactive integration", func(t *testing.T) {
			seed := tg.seed(t)
			in := seed.Integration(t, &impl.Integration{OrganizationID: tg.orgID, Name: "Desligada", Channel: impl.ChannelWhatsApp,
				Provider: impl.ProviderSandbox, Active: true})
			res, out := send(t, map[string]any{"integration_id": in.ID, "phone": uniquePhone(t)})
			mustCreated(t, tg, tg.key, res, out) // active, it sends
			seed.DisableIntegration(t, tg.orgID, in.ID)
			integrationNotFound(t, in.ID)
		})

		t.Run("missing lead", func(t *testing.T) {
			res, out := send(t, map[string]any{"lead_id": 987654321})
			wantError(t, res, out, http.StatusNotFound, "not_found")
		})
		t.Run("another organization's lead", func(t *testing.T) {
			theirs := createLead(t, tg.client(t, tg.newOrg(t, "Org B"), bearer), client.LeadCreate{Phone: uniquePhone(t)})
			res, out := send(t, map[string]any{"lead_id": theirs.Id})
			wantError(t, res, out, http.StatusNotFound, "not_found")
		})

		t.Run("both lead_id and phone", func(t *testing.T) {
			lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: uniquePhone(t)})
			res, out := send(t, map[string]any{"lead_id": lead.Id, "phone": lead.Phone})
			wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", "lead_id", "phone")
		})
		t.Run("neither lead_id nor phone", func(t *testing.T) {
			res, out := send(t, map[string]any{})
			e := wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", "lead_id", "phone")
			if !strings.Contains(e.detail("phone"), "lead_id or phone is required") {
				t.Errorf("details %v", e.Error.Details)
			}
		})
		t.Run("to a lead", func(t *testing.T) {
			p := uniquePhone(t)
			lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: fmt.Sprintf("+%s (%s) %s-%s", p[:2], p[2:4], p[4:9], p[9:])})
			if lead.Phone != p {
				t.Fatalf("lead stored with phone %q, want %q", lead.Phone, p)
			}
			res, out := send(t, map[string]any{"lead_id": lead.Id})
			m := mustCreated(t, tg, tg.key, res, out)
			if m.Phone != lead.Phone || m.LeadId.MustGet() != lead.Id {
				t.Errorf("phone %q lead_id %v, want the lead's %q and %d", m.Phone, m.LeadId, lead.Phone, lead.Id)
			}
		})
		t.Run("ids written as whole numbers with a fraction or an exponent", func(t *testing.T) {
			// JSON Schema counts 2.0 and 2e0 as the integer 2, so the
			// spec's integer ids take them, as the leads' integers do.
			lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: uniquePhone(t)})
			res, out := tg.raw(t, tg.key, http.MethodPost, "/whatsapp/messages", "application/json", []byte(fmt.Sprintf(
				`{"integration_id":%d.0,"type":"template","template_name":"boas_vindas","variables":["Joao"],"lead_id":%de0}`,
				seededWhatsAppID, lead.Id)))
			m := mustCreated(t, tg, tg.key, res, out)
			if m.IntegrationId != seededWhatsAppID || m.LeadId.MustGet() != lead.Id {
				t.Errorf("integration %d lead_id %v, want %d and %d", m.IntegrationId, m.LeadId, seededWhatsAppID, lead.Id)
			}
		})
		t.Run("to a lead's phone", func(t *testing.T) {
			lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: uniquePhone(t)})
			p := lead.Phone
			res, out := send(t, map[string]any{"phone": fmt.Sprintf("+%s %s %s-%s", p[:2], p[2:4], p[4:9], p[9:])})
			m := mustCreated(t, tg, tg.key, res, out)
			if m.Phone != lead.Phone || m.LeadId.MustGet() != lead.Id {
				t.Errorf("phone %q lead_id %v, want %q linked to lead %d", m.Phone, m.LeadId, lead.Phone, lead.Id)
			}
		})
		t.Run("to an unknown phone", func(t *testing.T) {
			phone := uniquePhone(t)
			res, out := send(t, map[string]any{"phone": phone})
			m := mustCreated(t, tg, tg.key, res, out)
			if !m.LeadId.IsNull() || m.Phone != phone {
				t.Errorf("phone %q lead_id %v, want %q and null", m.Phone, m.LeadId, phone)
			}
			if l := list(t, tg.client(t, tg.key, bearer), client.ListLeadsParams{Phone: &phone}); len(l.Data) != 0 {
				t.Errorf("sending to %s created a lead: %+v", phone, l.Data)
			}
		})
	})
}

func TestWhatsAppMediaValidation(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		key    string
		msg    string
	}{
		{"ftp media_url", map[string]any{"type": "image", "media_url": "ftp://exemplo.com/a.jpg"}, "media_url", "must be an http:// or https:// URL"},
		{"relative media_url", map[string]any{"type": "video", "media_url": "/a.mp4"}, "media_url", "must be an http:// or https:// URL"},
		{"media_url with a space", map[string]any{"type": "document", "media_url": "https://exemplo.com/a b.pdf"}, "media_url", "must be an http:// or https:// URL"},
		{"missing media_url", map[string]any{"type": "audio"}, "media_url", "media_url is required"},
		{"caption on audio", map[string]any{"type": "audio", "media_url": "https://exemplo.com/a.ogg", "caption": "Ouca"}, "caption", "is not a known field"},
		{"filename on image", map[string]any{"type": "image", "media_url": "https://exemplo.com/a.jpg", "filename": "a.jpg"}, "filename", "is not a known field"},
		{"filename with a slash", map[string]any{"type": "document", "media_url": "https://exemplo.com/a.pdf", "filename": "../a.pdf"}, "filename", "must be a file name"},
		{"text on image", map[string]any{"type": "image", "media_url": "https://exemplo.com/a.jpg", "text": "oi"}, "text", "is not a known field"},
		{"unknown type", map[string]any{"type": "sticker", "media_url": "https://exemplo.com/a.webp"}, "type",
			"must be one of: text, template, image, video, document, audio"},
		{"empty text", map[string]any{"type": "text", "text": ""}, "text", "must not be empty"},
	}
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", merged(tc.fields, map[string]any{
					"integration_id": seededWhatsAppID, "phone": uniquePhone(t)}))
				e := wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", tc.key)
				if !strings.Contains(e.detail(tc.key), tc.msg) {
					t.Errorf("details[%q] = %q, want it to say %q", tc.key, e.detail(tc.key), tc.msg)
				}
			})
		}
	})
}
