package contracttests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
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

// The sandbox WhatsApp integration seedMessaging gives the main
// organization: the first integration of a fresh database, and the one the
// API reference's examples name.
const seededWhatsAppID = 1

// postJSON sends body as JSON to path with key.
func postJSON(t *testing.T, tg *target, key, path string, body map[string]any) (*http.Response, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return tg.raw(t, key, http.MethodPost, path, "application/json", b)
}

// merged is a copy of base with fields added.
func merged(base map[string]any, fields map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(fields))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range fields {
		out[k] = v
	}
	return out
}

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
	res, err := tg.client(t, key, bearer).GetMessageWithResponse(context.Background(), id)
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

// want422 checks a validation error whose details name exactly fields, and
// returns it.
func want422(t *testing.T, res *http.Response, body []byte, fields ...string) errorBody {
	t.Helper()
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("want 422, got %d: %s", res.StatusCode, body)
	}
	e := decodeError(t, body)
	if e.Error.Code != "validation_error" {
		t.Errorf("code %q, want validation_error", e.Error.Code)
	}
	var keys []string
	for k := range e.Error.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := slices.Clone(fields)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("details name %v, want %v: %s", keys, want, body)
	}
	return e
}

// wantCode checks an error's status and code.
func wantCode(t *testing.T, res *http.Response, body []byte, status int, code string) errorBody {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("want %d, got %d: %s", status, res.StatusCode, body)
	}
	e := decodeError(t, body)
	if e.Error.Code != code {
		t.Errorf("code %q, want %q: %s", e.Error.Code, code, body)
	}
	return e
}

// detail is the joined messages of one details key.
func detail(e errorBody, key string) string { return strings.Join(e.Error.Details[key], "; ") }

// eventPayloads returns the payloads of the organization's events of type
// typ, decoded.
func eventPayloads(t *testing.T, tg *target, orgID int64, typ string) []map[string]any {
	t.Helper()
	events, err := tg.app.Stores.Events.FindEvents(context.Background(), orgID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range events {
		if e.Type != typ {
			continue
		}
		var p map[string]any
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatalf("event %d (%s): payload is not a JSON object: %v: %s", e.ID, e.Type, err, e.Payload)
		}
		out = append(out, p)
	}
	return out
}

// hasEventFor reports whether one of payloads has "id" id.
func hasEventFor(payloads []map[string]any, id int64) bool {
	for _, p := range payloads {
		if n, ok := p["id"].(float64); ok && int64(n) == id {
			return true
		}
	}
	return false
}

func needsDB(t *testing.T, tg *target) {
	t.Helper()
	if tg.remote() {
		t.Skip("needs the target's database, which a remote target does not expose")
	}
}

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
					tg.contactWrote(t, seededWhatsAppID, phone)
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
			needsDB(t, tg)
			phone := uniquePhone(t)
			tg.contactWrote(t, seededWhatsAppID, phone)
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{
				"integration_id": seededWhatsAppID, "phone": phone, "type": "text", "text": "evento"})
			m := mustCreated(t, tg, tg.key, res, out)
			sent := eventPayloads(t, tg, tg.orgID, impl.EventMessageSent)
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
	if os.Getenv("CONTRACT_BASE_URL") != "" {
		t.Skip("points the server at a fake Graph API, which only an in-process target can do")
	}
	for _, db := range sqlstoretest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			fake := graphapi.New()
			ts := httptest.NewServer(fake)
			t.Cleanup(ts.Close)
			tg := startInProcessWith(t, db.URL, func(c *app.Config) {
				c.WhatsAppBaseURL = ts.URL
				c.WhatsAppAPIVersion = "v21.0"
				c.SendTimeout = cloudSendTimeout
			})
			integ := &impl.Integration{OrganizationID: tg.orgID, Name: "WhatsApp Cloud", Channel: impl.ChannelWhatsApp,
				Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumber: "551130030000",
				PhoneNumberID: "106540352242922", AccessToken: "EAAGm0PX4ZCpsBAtestToken", AppSecret: "cloud-app-secret"}
			if err := tg.app.Stores.Integrations.CreateIntegration(context.Background(), integ); err != nil {
				t.Fatal(err)
			}
			fake.SetToken(integ.PhoneNumberID, integ.AccessToken)
			fn(t, &cloudEnv{tg: tg, fake: fake, integ: integ})
		})
	}
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
		ctx := context.Background()
		if err := tg.app.Stores.Templates.CreateTemplate(ctx, &impl.Template{OrganizationID: tg.orgID, Name: "lembrete_reuniao",
			Language: "pt_BR", Category: "UTILITY", MetaApproved: true, Body: "Sua reuniao esta confirmada.", VariablesCount: 0}); err != nil {
			t.Fatal(err)
		}
		if err := tg.app.Stores.Templates.CreateTemplate(ctx, &impl.Template{OrganizationID: tg.orgID, Name: "pedido_enviado",
			Language: "en_US", Category: "UTILITY", MetaApproved: true, Body: "Hi {{1}}, order {{2}} shipped.", VariablesCount: 2}); err != nil {
			t.Fatal(err)
		}

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
					tg.contactWrote(t, integ.ID, phone)
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
				if !hasEventFor(eventPayloads(t, tg, tg.orgID, impl.EventMessageSent), m.Id) {
					t.Errorf("no message.sent event for message %d", m.Id)
				}
			})
		}

		t.Run("template by id to a lead", func(t *testing.T) {
			lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: uniquePhone(t)})
			all, err := tg.app.Stores.Templates.FindTemplatesByName(ctx, tg.orgID, "boas_vindas")
			if err != nil || len(all) != 1 {
				t.Fatalf("boas_vindas: %v %v", all, err)
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
			tg.contactWrote(t, integ.ID, phone)
			res, out, reqs := env.send(t, map[string]any{"phone": phone, "type": "text", "text": "Oi"})
			e := wantCode(t, res, out, http.StatusInternalServerError, "send_failed")
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
			if hasEventFor(eventPayloads(t, tg, tg.orgID, impl.EventMessageSent), id) {
				t.Errorf("a message.sent event exists for failed message %d", id)
			}
			if !hasEventFor(eventPayloads(t, tg, tg.orgID, impl.EventMessageFailed), id) || m.FailedAt.IsNull() {
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
		t.Run("Meta's message quotes the token", func(t *testing.T) {
			fake.FailNext(1, http.StatusUnauthorized, graphapi.MetaError(190, "OAuthException",
				"Error validating access token: token "+integ.AccessToken+" has expired", ""))
			m := sendFails(t, "Error validating access token")
			if strings.Contains(m.Error.MustGet(), integ.AccessToken) {
				t.Errorf("the stored error leaks the access token: %q", m.Error.MustGet())
			}
		})
		t.Run("wrong access token", func(t *testing.T) {
			bad := &impl.Integration{OrganizationID: tg.orgID, Name: "WhatsApp Cloud (old token)", Channel: impl.ChannelWhatsApp,
				Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumberID: integ.PhoneNumberID, AccessToken: "EAAGrevokedToken"}
			if err := tg.app.Stores.Integrations.CreateIntegration(ctx, bad); err != nil {
				t.Fatal(err)
			}
			before := len(fake.Requests())
			phone := uniquePhone(t)
			tg.contactWrote(t, bad.ID, phone)
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": bad.ID, "phone": phone, "type": "text", "text": "Oi"})
			e := wantCode(t, res, out, http.StatusInternalServerError, "send_failed")
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
			wantCode(t, res, out, http.StatusNotFound, "integration_not_found")
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
				k, _ := tg.issueKey(t, "Org B")
				theirs, _ := tg.seedMessaging(t, k.OrganizationID)
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
			needsDB(t, tg)
			in := &impl.Integration{OrganizationID: tg.orgID, Name: "Desligada", Channel: impl.ChannelWhatsApp,
				Provider: impl.ProviderSandbox, Active: true}
			if err := tg.app.Stores.Integrations.CreateIntegration(ctx, in); err != nil {
				t.Fatal(err)
			}
			res, out := send(t, map[string]any{"integration_id": in.ID, "phone": uniquePhone(t)})
			mustCreated(t, tg, tg.key, res, out) // active, it sends
			if err := tg.app.Stores.Integrations.SetIntegrationActive(ctx, tg.orgID, in.ID, false); err != nil {
				t.Fatal(err)
			}
			integrationNotFound(t, in.ID)
		})

		t.Run("missing lead", func(t *testing.T) {
			res, out := send(t, map[string]any{"lead_id": 987654321})
			wantCode(t, res, out, http.StatusNotFound, "not_found")
		})
		t.Run("another organization's lead", func(t *testing.T) {
			theirs := createLead(t, tg.client(t, tg.newOrg(t, "Org B"), bearer), client.LeadCreate{Phone: uniquePhone(t)})
			res, out := send(t, map[string]any{"lead_id": theirs.Id})
			wantCode(t, res, out, http.StatusNotFound, "not_found")
		})

		t.Run("both lead_id and phone", func(t *testing.T) {
			lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: uniquePhone(t)})
			res, out := send(t, map[string]any{"lead_id": lead.Id, "phone": lead.Phone})
			want422(t, res, out, "lead_id", "phone")
		})
		t.Run("neither lead_id nor phone", func(t *testing.T) {
			res, out := send(t, map[string]any{})
			e := want422(t, res, out, "lead_id", "phone")
			if !strings.Contains(detail(e, "phone"), "lead_id or phone is required") {
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

func TestWhatsAppTemplates(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		sendTemplate := func(t *testing.T, fields map[string]any) (*http.Response, []byte) {
			t.Helper()
			return postJSON(t, tg, tg.key, "/whatsapp/messages", merged(map[string]any{
				"integration_id": seededWhatsAppID, "phone": uniquePhone(t), "type": "template"}, fields))
		}
		c := tg.client(t, tg.key, bearer)

		t.Run("by id", func(t *testing.T) {
			res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Context: ptr("onboarding"), PerPage: ptr(int32(100))})
			if err != nil || res.JSON200 == nil {
				t.Fatalf("list templates: %v %d", err, res.StatusCode())
			}
			var id int64
			for _, tpl := range res.JSON200.Data {
				if tpl.Name == "boas_vindas" && tpl.Language == "pt_BR" {
					id = tpl.Id
				}
			}
			if id == 0 {
				t.Fatalf("boas_vindas is not among the onboarding templates: %s", res.Body)
			}
			r, out := sendTemplate(t, map[string]any{"template_id": id, "variables": []any{"Joao"}})
			m := mustCreated(t, tg, tg.key, r, out)
			want := map[string]any{"template_name": "boas_vindas", "template_language": "pt_BR", "variables": []any{"Joao"}}
			if m.Type != "template" || !reflect.DeepEqual(m.Content, want) {
				t.Errorf("type %q content %v, want template %v", m.Type, m.Content, want)
			}
		})
		t.Run("too few variables", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_name": "boas_vindas", "variables": []any{}})
			e := want422(t, r, out, "variables")
			if !strings.Contains(detail(e, "variables"), "must contain 1 value") || !strings.Contains(detail(e, "variables"), "got 0") {
				t.Errorf("details.variables %q", detail(e, "variables"))
			}
		})
		t.Run("too many variables", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_name": "boas_vindas", "variables": []any{"Joao", "Silva"}})
			e := want422(t, r, out, "variables")
			if !strings.Contains(detail(e, "variables"), "got 2") {
				t.Errorf("details.variables %q", detail(e, "variables"))
			}
		})
		t.Run("unknown template_name", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_name": "nao_existe_esse_modelo", "variables": []any{}})
			e := wantCode(t, r, out, http.StatusNotFound, "not_found")
			if !strings.Contains(detail(e, "template_name"), "no template has this name") {
				t.Errorf("details %v", e.Error.Details)
			}
		})
		t.Run("unknown template_id", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_id": 987654321, "variables": []any{}})
			e := wantCode(t, r, out, http.StatusNotFound, "not_found")
			if !strings.Contains(detail(e, "template_id"), "no template has this id") {
				t.Errorf("details %v", e.Error.Details)
			}
		})
		t.Run("both template_id and template_name", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_id": 1, "template_name": "boas_vindas", "variables": []any{"Joao"}})
			want422(t, r, out, "template_id", "template_name")
		})
		t.Run("neither template_id nor template_name", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"variables": []any{"Joao"}})
			want422(t, r, out, "template_id", "template_name")
		})
		t.Run("not approved by Meta", func(t *testing.T) {
			needsDB(t, tg)
			tpl := &impl.Template{OrganizationID: tg.orgID, Name: "promo_pendente", Language: "pt_BR", Category: "MARKETING",
				MetaApproved: false, Body: "Oferta {{1}}", VariablesCount: 1}
			if err := tg.app.Stores.Templates.CreateTemplate(ctx, tpl); err != nil {
				t.Fatal(err)
			}
			for _, f := range []map[string]any{{"template_name": "promo_pendente"}, {"template_id": tpl.ID}} {
				r, out := sendTemplate(t, merged(f, map[string]any{"variables": []any{"10%"}}))
				var key string
				for k := range f {
					key = k
				}
				e := want422(t, r, out, key)
				if !strings.Contains(detail(e, key), "not approved") {
					t.Errorf("details %v", e.Error.Details)
				}
			}
		})
		t.Run("a name in two languages", func(t *testing.T) {
			needsDB(t, tg)
			var ids []int64
			for _, lang := range []string{"pt_BR", "en_US"} {
				tpl := &impl.Template{OrganizationID: tg.orgID, Name: "confirmacao", Language: lang, Category: "UTILITY",
					MetaApproved: true, Body: "Confirmado, {{1}}", VariablesCount: 1}
				if err := tg.app.Stores.Templates.CreateTemplate(ctx, tpl); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, tpl.ID)
			}
			r, out := sendTemplate(t, map[string]any{"template_name": "confirmacao", "variables": []any{"Ana"}})
			e := want422(t, r, out, "template_name")
			if d := detail(e, "template_name"); !strings.Contains(d, "template_id") || !strings.Contains(d, "en_US, pt_BR") {
				t.Errorf("details.template_name %q should name the languages and ask for template_id", d)
			}
			r, out = sendTemplate(t, map[string]any{"template_id": ids[1], "variables": []any{"Ana"}})
			if m := mustCreated(t, tg, tg.key, r, out); m.Content["template_language"] != "en_US" {
				t.Errorf("content %v, want the en_US template", m.Content)
			}
		})
		t.Run("another organization's template", func(t *testing.T) {
			needsDB(t, tg)
			k, _ := tg.issueKey(t, "Org B")
			tpl := &impl.Template{OrganizationID: k.OrganizationID, Name: "so_da_b", Language: "pt_BR", Category: "UTILITY",
				MetaApproved: true, Body: "Oi", VariablesCount: 0}
			if err := tg.app.Stores.Templates.CreateTemplate(ctx, tpl); err != nil {
				t.Fatal(err)
			}
			r, out := sendTemplate(t, map[string]any{"template_id": tpl.ID, "variables": []any{}})
			e := wantCode(t, r, out, http.StatusNotFound, "not_found")
			if detail(e, "template_id") == "" {
				t.Errorf("details %v, want template_id", e.Error.Details)
			}
			r, out = sendTemplate(t, map[string]any{"template_name": "so_da_b", "variables": []any{}})
			e = wantCode(t, r, out, http.StatusNotFound, "not_found")
			if detail(e, "template_name") == "" {
				t.Errorf("details %v, want template_name", e.Error.Details)
			}
		})
	})
}

func TestListWhatsAppTemplates(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		needsDB(t, tg)
		ctx := context.Background()
		k, key := tg.issueKey(t, "templates")
		for _, tpl := range []*impl.Template{
			{Name: "promo_verao", Language: "pt_BR", Category: "MARKETING", Context: ptr("promocoes"), MetaApproved: false, Body: "Oferta {{1}}", VariablesCount: 1},
			{Name: "aviso_pagamento", Language: "pt_BR", Category: "UTILITY", Context: ptr("cobranca"), MetaApproved: true, Body: "Boleto {{1}} vence {{2}}", VariablesCount: 2},
			{Name: "codigo_acesso", Language: "pt_BR", Category: "AUTHENTICATION", MetaApproved: true, Body: "Codigo {{1}}", VariablesCount: 1},
			{Name: "promo_verao", Language: "en_US", Category: "MARKETING", Context: ptr("promocoes"), MetaApproved: true, Body: "Deal {{1}}", VariablesCount: 1},
			{Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY", Context: ptr("onboarding"), MetaApproved: true, Body: "Ola {{1}}", VariablesCount: 1},
		} {
			tpl.OrganizationID = k.OrganizationID
			if err := tg.app.Stores.Templates.CreateTemplate(ctx, tpl); err != nil {
				t.Fatal(err)
			}
		}
		c := tg.client(t, key, bearer)
		names := func(ts []client.Template) []string {
			out := make([]string, len(ts))
			for i, x := range ts {
				out[i] = x.Name + "/" + x.Language
			}
			return out
		}
		cases := []struct {
			name   string
			params client.ListWhatsAppTemplatesParams
			want   []string
		}{
			{"all, by name then language", client.ListWhatsAppTemplatesParams{},
				[]string{"aviso_pagamento/pt_BR", "boas_vindas/pt_BR", "codigo_acesso/pt_BR", "promo_verao/en_US", "promo_verao/pt_BR"}},
			{"category", client.ListWhatsAppTemplatesParams{Category: ptr(client.TemplateCategory("MARKETING"))},
				[]string{"promo_verao/en_US", "promo_verao/pt_BR"}},
			{"context", client.ListWhatsAppTemplatesParams{Context: ptr("cobranca")}, []string{"aviso_pagamento/pt_BR"}},
			{"unknown context", client.ListWhatsAppTemplatesParams{Context: ptr("nada")}, []string{}},
			{"meta_approved=false", client.ListWhatsAppTemplatesParams{MetaApproved: ptr(false)}, []string{"promo_verao/pt_BR"}},
			{"meta_approved=true", client.ListWhatsAppTemplatesParams{MetaApproved: ptr(true)},
				[]string{"aviso_pagamento/pt_BR", "boas_vindas/pt_BR", "codigo_acesso/pt_BR", "promo_verao/en_US"}},
			{"category and meta_approved", client.ListWhatsAppTemplatesParams{Category: ptr(client.TemplateCategory("MARKETING")), MetaApproved: ptr(true)},
				[]string{"promo_verao/en_US"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &tc.params)
				if err != nil || res.JSON200 == nil {
					t.Fatalf("%v %d %s", err, res.StatusCode(), res.Body)
				}
				l := res.JSON200
				if got := names(l.Data); !slices.Equal(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				wantPages := int64(0)
				if len(tc.want) > 0 {
					wantPages = 1
				}
				if l.Meta.Total != int64(len(tc.want)) || l.Meta.TotalPages != wantPages || l.Meta.CurrentPage != 1 || l.Meta.PerPage != 25 {
					t.Errorf("meta %+v", l.Meta)
				}
			})
		}
		t.Run("fields", func(t *testing.T) {
			res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Context: ptr("cobranca")})
			if err != nil || res.JSON200 == nil || len(res.JSON200.Data) != 1 {
				t.Fatalf("%v %s", err, res.Body)
			}
			got := res.JSON200.Data[0]
			if got.Category != "UTILITY" || got.Context.MustGet() != "cobranca" || !got.MetaApproved ||
				got.Body != "Boleto {{1}} vence {{2}}" || got.VariablesCount != 2 || got.Id < 1 || got.CreatedAt.IsZero() {
				t.Errorf("template %+v", got)
			}
			res, _ = c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Category: ptr(client.TemplateCategory("AUTHENTICATION"))})
			if len(res.JSON200.Data) != 1 || !res.JSON200.Data[0].Context.IsNull() {
				t.Errorf("a template without context: %s", res.Body)
			}
		})
		t.Run("paging", func(t *testing.T) {
			var seen []string
			for page, n := range []int{2, 2, 1, 0} {
				res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Page: ptr(int32(page + 1)), PerPage: ptr(int32(2))})
				if err != nil || res.JSON200 == nil {
					t.Fatalf("%v %s", err, res.Body)
				}
				l := res.JSON200
				if len(l.Data) != n || l.Meta.Total != 5 || l.Meta.TotalPages != 3 || l.Meta.PerPage != 2 || l.Meta.CurrentPage != int32(page+1) {
					t.Errorf("page %d: %d templates, meta %+v", page+1, len(l.Data), l.Meta)
				}
				seen = append(seen, names(l.Data)...)
			}
			if want := cases[0].want; !slices.Equal(seen, want) {
				t.Errorf("pages gave %v, want %v", seen, want)
			}
		})
		t.Run("bad category", func(t *testing.T) {
			res, out := tg.raw(t, key, http.MethodGet, "/whatsapp/templates?category=PROMO", "", nil)
			wantCode(t, res, out, http.StatusBadRequest, "bad_request")
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
				e := want422(t, res, out, tc.key)
				if !strings.Contains(detail(e, tc.key), tc.msg) {
					t.Errorf("details[%q] = %q, want it to say %q", tc.key, detail(e, tc.key), tc.msg)
				}
			})
		}
	})
}
