package contracttests

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

// The WhatsApp Cloud API adapter against a fake Graph API (mocks/graphapi):
// the literal JSON Meta receives for each message type, and how each kind
// of refusal from Meta ends up in the answer and the history.

// cloudEnv is an in-process target whose WhatsApp Cloud API adapter talks to
// a fake Graph API, with a whatsapp_cloud integration in the main
// organization.
type cloudEnv struct {
	tg    *target
	fake  *graphapi.Server
	integ *impl.Integration
}

// cloudSendTimeout is the SendTimeout of cloud targets: far above what the
// fake needs to answer, far below the delay the timeout test programs.
const cloudSendTimeout = time.Second

func forEachCloudTarget(t *testing.T, fn func(t *testing.T, env *cloudEnv)) {
	t.Helper()
	forEachCloudTargetWith(t, nil, fn)
}

// forEachCloudTargetWith is forEachCloudTarget with the target's Config
// then changed by set.
func forEachCloudTargetWith(t *testing.T, set func(*app.Config), fn func(t *testing.T, env *cloudEnv)) {
	t.Helper()
	forEachDatabase(t, needsFakes, func(t *testing.T, db sqlstoretest.Database) {
		fake := graphapi.New()
		ts := httptest.NewServer(fake)
		t.Cleanup(ts.Close)
		tg := startInProcessWith(t, db.URL, func(c *app.Config) {
			c.WhatsAppBaseURL = ts.URL
			c.WhatsAppAPIVersion = "v21.0"
			c.SendTimeout = cloudSendTimeout
			if set != nil {
				set(c)
			}
		})
		integ := tg.seed(t).Integration(t, &impl.Integration{OrganizationID: tg.orgID, Name: "WhatsApp Cloud", Channel: impl.ChannelWhatsApp,
			Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumber: "551130030000",
			PhoneNumberID: "106540352242922", AccessToken: "EAAGm0PX4ZCpsBAtestToken", AppSecret: "cloud-app-secret"})
		fake.SetToken(integ.PhoneNumberID, integ.AccessToken)
		fn(t, &cloudEnv{tg: tg, fake: fake, integ: integ})
	})
}

// send posts a WhatsApp message through the cloud integration and returns
// the answer and the requests the fake received meanwhile.
func (env *cloudEnv) send(t *testing.T, fields map[string]any) (*http.Response, []byte, []graphapi.Request) {
	t.Helper()
	before := len(env.fake.Requests())
	res, out := postJSON(t, env.tg, env.tg.key, "/whatsapp/messages", merged(fields, map[string]any{"integration_id": env.integ.ID}))
	return res, out, env.fake.Requests()[before:]
}

func TestWhatsAppCloudAPI(t *testing.T) {
	forEachCloudTarget(t, func(t *testing.T, env *cloudEnv) {
		tg, fake, integ := env.tg, env.fake, env.integ
		seed := tg.seed(t)
		seed.Template(t, &impl.Template{OrganizationID: tg.orgID, Name: "lembrete_reuniao",
			Language: "pt_BR", Category: "UTILITY", MetaApproved: true, Body: "Sua reuniao esta confirmada.", VariablesCount: 0})
		seed.Template(t, &impl.Template{OrganizationID: tg.orgID, Name: "pedido_enviado",
			Language: "en_US", Category: "UTILITY", MetaApproved: true, Body: "Hi {{1}}, order {{2}} shipped.", VariablesCount: 2})

		// What Meta must receive for each type: the literal JSON.
		cases := []struct {
			name    string
			fields  map[string]any
			typ     string
			content map[string]any // what the history shows
			meta    func(to string) map[string]any
		}{
			{name: "text", typ: "text",
				fields:  map[string]any{"type": "text", "text": "Ola! Como posso ajudar? https://exemplo.com <b>&</b>"},
				content: map[string]any{"text": "Ola! Como posso ajudar? https://exemplo.com <b>&</b>"},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
						"text": map[string]any{"preview_url": false, "body": "Ola! Como posso ajudar? https://exemplo.com <b>&</b>"}}
				}},
			{name: "template with one variable", typ: "template",
				fields:  map[string]any{"type": "template", "template_name": "boas_vindas", "variables": []any{"Joao"}},
				content: map[string]any{"template_name": "boas_vindas", "template_language": "pt_BR", "variables": []any{"Joao"}},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
						"template": map[string]any{"name": "boas_vindas", "language": map[string]any{"code": "pt_BR"},
							"components": []any{map[string]any{"type": "body", "parameters": []any{
								map[string]any{"type": "text", "text": "Joao"}}}}}}
				}},
			{name: "template with two variables", typ: "template",
				fields:  map[string]any{"type": "template", "template_name": "pedido_enviado", "variables": []any{"Ana", "#4521"}},
				content: map[string]any{"template_name": "pedido_enviado", "template_language": "en_US", "variables": []any{"Ana", "#4521"}},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
						"template": map[string]any{"name": "pedido_enviado", "language": map[string]any{"code": "en_US"},
							"components": []any{map[string]any{"type": "body", "parameters": []any{
								map[string]any{"type": "text", "text": "Ana"}, map[string]any{"type": "text", "text": "#4521"}}}}}}
				}},
			{name: "template without variables", typ: "template",
				fields:  map[string]any{"type": "template", "template_name": "lembrete_reuniao", "variables": []any{}},
				content: map[string]any{"template_name": "lembrete_reuniao", "template_language": "pt_BR"},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
						"template": map[string]any{"name": "lembrete_reuniao", "language": map[string]any{"code": "pt_BR"}}}
				}},
			{name: "image with caption", typ: "image",
				fields:  map[string]any{"type": "image", "media_url": "https://exemplo.com/catalogo.jpg", "caption": "Nosso catalogo"},
				content: map[string]any{"media_url": "https://exemplo.com/catalogo.jpg", "caption": "Nosso catalogo"},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "image",
						"image": map[string]any{"link": "https://exemplo.com/catalogo.jpg", "caption": "Nosso catalogo"}}
				}},
			{name: "image without caption", typ: "image",
				fields:  map[string]any{"type": "image", "media_url": "http://exemplo.com/a.png"},
				content: map[string]any{"media_url": "http://exemplo.com/a.png"},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "image",
						"image": map[string]any{"link": "http://exemplo.com/a.png"}}
				}},
			{name: "video", typ: "video",
				fields:  map[string]any{"type": "video", "media_url": "https://exemplo.com/demo.mp4", "caption": "Demo"},
				content: map[string]any{"media_url": "https://exemplo.com/demo.mp4", "caption": "Demo"},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "video",
						"video": map[string]any{"link": "https://exemplo.com/demo.mp4", "caption": "Demo"}}
				}},
			{name: "document", typ: "document",
				fields:  map[string]any{"type": "document", "media_url": "https://exemplo.com/proposta.pdf", "filename": "proposta.pdf", "caption": "Segue a proposta"},
				content: map[string]any{"media_url": "https://exemplo.com/proposta.pdf", "filename": "proposta.pdf", "caption": "Segue a proposta"},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "document",
						"document": map[string]any{"link": "https://exemplo.com/proposta.pdf", "filename": "proposta.pdf", "caption": "Segue a proposta"}}
				}},
			{name: "audio", typ: "audio",
				fields:  map[string]any{"type": "audio", "media_url": "https://exemplo.com/audio.ogg"},
				content: map[string]any{"media_url": "https://exemplo.com/audio.ogg"},
				meta: func(to string) map[string]any {
					return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "audio",
						"audio": map[string]any{"link": "https://exemplo.com/audio.ogg"}}
				}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				phone := uniquePhone(t)
				if tc.typ != "template" {
					// Only a template may write first (the 24-hour window).
					seed.ContactWrote(t, integ.ID, phone)
				}
				// A formatted phone reaches Meta as digits only.
				formatted := fmt.Sprintf("+%s (%s) %s-%s", phone[:2], phone[2:4], phone[4:9], phone[9:])
				res, out, reqs := env.send(t, merged(tc.fields, map[string]any{"phone": formatted}))
				m := mustCreated(t, tg, tg.key, res, out)
				if len(reqs) != 1 {
					t.Fatalf("the fake received %d requests, want 1", len(reqs))
				}
				r := reqs[0]
				if r.Method != http.MethodPost || r.Path != "/v21.0/"+integ.PhoneNumberID+"/messages" {
					t.Errorf("%s %s, want POST /v21.0/%s/messages", r.Method, r.Path, integ.PhoneNumberID)
				}
				if got := r.Header.Get("Authorization"); got != "Bearer "+integ.AccessToken {
					t.Errorf("Authorization %q, want the integration's bearer token", got)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
				// Our reference rides along, for Meta to echo in its status
				// webhooks.
				want := tc.meta(phone)
				want["biz_opaque_callback_data"] = fmt.Sprintf("iagente-%d", m.Id)
				if !reflect.DeepEqual(r.JSON, want) {
					t.Errorf("Meta received\n %s\nwant\n %v", r.Body, want)
				}
				if r.Status != http.StatusOK || r.MessageID == "" {
					t.Fatalf("the fake answered %d (message id %q): %s", r.Status, r.MessageID, r.Body)
				}
				if got := m.ProviderMessageId.MustGet(); got != r.MessageID {
					t.Errorf("provider_message_id %q, want the wamid Meta issued, %q", got, r.MessageID)
				}
				if m.Phone != phone || string(m.Type) != tc.typ || m.IntegrationId != integ.ID || m.Channel != "whatsapp" {
					t.Errorf("stored %+v", m)
				}
				if !reflect.DeepEqual(m.Content, tc.content) {
					t.Errorf("content %v, want %v", m.Content, tc.content)
				}
				sameMessage(t, fetchMessage(t, tg, tg.key, m.Id), m)
				if !hasEventFor(seed.EventPayloads(t, tg.orgID, impl.EventMessageSent), m.Id) {
					t.Errorf("no message.sent event for message %d", m.Id)
				}
			})
		}

		t.Run("template by id to a lead", func(t *testing.T) {
			lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: uniquePhone(t)})
			all := seed.TemplatesNamed(t, tg.orgID, "boas_vindas")
			if len(all) != 1 {
				t.Fatalf("boas_vindas: %v", all)
			}
			res, out, reqs := env.send(t, map[string]any{"lead_id": lead.Id, "type": "template", "template_id": all[0].ID, "variables": []any{"Maria"}})
			m := mustCreated(t, tg, tg.key, res, out)
			if len(reqs) != 1 || reqs[0].JSON["to"] != lead.Phone {
				t.Fatalf("the fake received %d requests; to %v, want the lead's phone %s", len(reqs), reqs[0].JSON["to"], lead.Phone)
			}
			tpl, _ := reqs[0].JSON["template"].(map[string]any)
			if tpl["name"] != "boas_vindas" || !reflect.DeepEqual(tpl["language"], map[string]any{"code": "pt_BR"}) {
				t.Errorf("template sent as %v", tpl)
			}
			if m.LeadId.MustGet() != lead.Id || m.Content["template_name"] != "boas_vindas" {
				t.Errorf("stored %+v", m)
			}
		})

		// sendFails checks a refused send: 500 send_failed naming the stored
		// message, which is failed with reason and no provider id, and has a
		// message.failed event and no message.sent.
		sendFails := func(t *testing.T, reason string) client.Message {
			t.Helper()
			phone := uniquePhone(t)
			seed.ContactWrote(t, integ.ID, phone)
			res, out, reqs := env.send(t, map[string]any{"phone": phone, "type": "text", "text": "Oi"})
			e := wantError(t, res, out, http.StatusInternalServerError, "send_failed")
			if len(reqs) != 1 {
				t.Errorf("the fake received %d requests, want 1", len(reqs))
			}
			ids := e.Error.Details["message_id"]
			if len(ids) != 1 {
				t.Fatalf("details.message_id %v, want one id: %s", ids, out)
			}
			id, err := strconv.ParseInt(ids[0], 10, 64)
			if err != nil {
				t.Fatalf("details.message_id %q: %v", ids[0], err)
			}
			if !strings.Contains(e.Error.Message, reason) {
				t.Errorf("message %q does not give the provider's reason %q", e.Error.Message, reason)
			}
			if strings.Contains(string(out), integ.AccessToken) {
				t.Errorf("the answer leaks the access token: %s", out)
			}
			m := fetchMessage(t, tg, tg.key, id)
			if m.Status != "failed" || m.Direction != "outbound" || m.Phone != phone || m.Type != "text" || m.IntegrationId != integ.ID {
				t.Errorf("stored %+v, want a failed outbound text to %s", m, phone)
			}
			if msg, err := m.Error.Get(); err != nil || !strings.Contains(msg, reason) {
				t.Errorf("error %v, want the provider's reason %q", m.Error, reason)
			}
			if !m.ProviderMessageId.IsNull() {
				t.Errorf("provider_message_id %v on a failed message, want null", m.ProviderMessageId)
			}
			if !reflect.DeepEqual(m.Content, map[string]any{"text": "Oi"}) {
				t.Errorf("content %v", m.Content)
			}
			if hasEventFor(seed.EventPayloads(t, tg.orgID, impl.EventMessageSent), id) {
				t.Errorf("a message.sent event exists for failed message %d", id)
			}
			if !hasEventFor(seed.EventPayloads(t, tg.orgID, impl.EventMessageFailed), id) || m.FailedAt.IsNull() {
				t.Errorf("no message.failed event or failed_at for failed message %d", id)
			}
			return m
		}

		t.Run("Meta refuses (4xx)", func(t *testing.T) {
			fake.FailNext(1, http.StatusBadRequest, graphapi.MetaError(131030, "OAuthException",
				"(#131030) Recipient phone number not in allowed list", "Add recipient phone number to recipient list and try again."))
			m := sendFails(t, "(#131030) Recipient phone number not in allowed list")
			if !strings.Contains(m.Error.MustGet(), "Add recipient phone number to recipient list") {
				t.Errorf("error %q drops Meta's details", m.Error.MustGet())
			}
		})
		t.Run("Meta fails (500 with Meta's error)", func(t *testing.T) {
			fake.FailNext(1, http.StatusInternalServerError, graphapi.MetaError(131000, "OAuthException", "(#131000) Something went wrong", ""))
			sendFails(t, "(#131000) Something went wrong")
		})
		t.Run("a proxy fails (502 HTML)", func(t *testing.T) {
			fake.FailNext(1, http.StatusBadGateway, []byte("<html><body>Bad Gateway</body></html>"))
			m := sendFails(t, "502")
			if strings.Contains(m.Error.MustGet(), "<html") {
				t.Errorf("error stores the proxy's page: %q", m.Error.MustGet())
			}
		})
		t.Run("Meta answers 200 without a message id", func(t *testing.T) {
			fake.FailNext(1, http.StatusOK, []byte(`{"messaging_product":"whatsapp","contacts":[],"messages":[]}`))
			sendFails(t, "without a message id")
		})
		// An id that is no wamid counts as none: a NUL in it failed the
		// record on PostgreSQL after the message went out, and a retry
		// of the 500 would have sent it twice.
		t.Run("Meta answers 200 with an id that is no id", func(t *testing.T) {
			for _, id := range []string{`wamid.A\u0000B`, `wamid.A\nB`, strings.Repeat("w", 513)} {
				fake.FailNext(1, http.StatusOK, []byte(`{"messaging_product":"whatsapp","messages":[{"id":"`+id+`"}]}`))
				if m := sendFails(t, "without a message id"); !m.ProviderMessageId.IsNull() {
					t.Errorf("provider_message_id %v kept", m.ProviderMessageId)
				}
			}
		})
		t.Run("Meta's message quotes the token", func(t *testing.T) {
			fake.FailNext(1, http.StatusUnauthorized, graphapi.MetaError(190, "OAuthException",
				"Error validating access token: token "+integ.AccessToken+" has expired", ""))
			m := sendFails(t, "Error validating access token")
			if strings.Contains(m.Error.MustGet(), integ.AccessToken) {
				t.Errorf("the stored error leaks the access token: %q", m.Error.MustGet())
			}
		})
		t.Run("wrong access token", func(t *testing.T) {
			bad := seed.Integration(t, &impl.Integration{OrganizationID: tg.orgID, Name: "WhatsApp Cloud (old token)", Channel: impl.ChannelWhatsApp,
				Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: integ.PhoneNumberID, AccessToken: "EAAGrevokedToken"})
			before := len(fake.Requests())
			phone := uniquePhone(t)
			seed.ContactWrote(t, bad.ID, phone)
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": bad.ID, "phone": phone, "type": "text", "text": "Oi"})
			e := wantError(t, res, out, http.StatusInternalServerError, "send_failed")
			if !strings.Contains(e.Error.Message, "Invalid OAuth access token") {
				t.Errorf("message %q does not give Meta's reason", e.Error.Message)
			}
			if reqs := fake.Requests()[before:]; len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "Bearer EAAGrevokedToken" {
				t.Errorf("the fake received %d requests, want one with the integration's own token", len(reqs))
			}
		})
		t.Run("Meta does not answer in time", func(t *testing.T) {
			fake.SetDelay(30 * cloudSendTimeout)
			t.Cleanup(func() { fake.SetDelay(0) })
			sendFails(t, "no answer from the WhatsApp Cloud API within the timeout")
		})

		t.Run("invalid requests never reach Meta", func(t *testing.T) {
			for _, body := range []map[string]any{
				{"phone": uniquePhone(t), "type": "template", "template_name": "boas_vindas", "variables": []any{}},
				{"phone": uniquePhone(t), "type": "template", "template_name": "nao_existe", "variables": []any{"x"}},
				{"phone": uniquePhone(t), "type": "audio", "media_url": "https://exemplo.com/a.ogg", "caption": "x"},
				{"phone": uniquePhone(t), "lead_id": 1, "type": "text", "text": "x"},
			} {
				res, out, reqs := env.send(t, body)
				if res.StatusCode != http.StatusUnprocessableEntity && res.StatusCode != http.StatusNotFound {
					t.Errorf("%v: %d %s, want 422 or 404", body, res.StatusCode, out)
				}
				if len(reqs) != 0 {
					t.Errorf("%v: the fake received %d requests", body, len(reqs))
				}
			}
		})
	})
}
