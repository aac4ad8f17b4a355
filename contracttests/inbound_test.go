package contracttests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

// The inbound endpoint Meta's webhooks reach: the subscription handshake,
// signed messages of every kind stored once and linked to a lead (a new
// one for a new contact), and refusals that store nothing.

// inboundEnv is an organization with a WhatsApp Cloud API integration that
// Meta's webhooks can reach.
type inboundEnv struct {
	tg          *target
	orgID       int64
	key         string
	integ       *impl.Integration
	verifyToken string
}

// newInboundEnv gives the organization orgID (key key) a whatsapp_cloud
// integration with an app secret and a verify token; the integration keeps
// only the token's SHA-256. The API cannot create integrations: it is the
// seeder's.
func newInboundEnv(t *testing.T, tg *target, orgID int64, key, secret, verifyToken string) *inboundEnv {
	t.Helper()
	sum := sha256.Sum256([]byte(verifyToken))
	integ := tg.seed(t).Integration(t, &impl.Integration{OrganizationID: orgID, Name: "WhatsApp Cloud", Channel: impl.ChannelWhatsApp,
		Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumber: "551130030000",
		PhoneNumberID: fmt.Sprintf("10654035224%04d", orgID), AccessToken: "EAAGinboundToken", AppSecret: secret,
		VerifyTokenHash: sum[:]})
	return &inboundEnv{tg: tg, orgID: orgID, key: key, integ: integ, verifyToken: verifyToken}
}

// rootURL is the server's origin: the inbound webhooks live outside /api/v1.
func rootURL(tg *target) string { return strings.TrimSuffix(tg.baseURL, "/api/v1") }

func inboundURL(tg *target, integrationID int64) string {
	return fmt.Sprintf("%s/inbound/whatsapp/%d", rootURL(tg), integrationID)
}

func (env *inboundEnv) url() string { return inboundURL(env.tg, env.integ.ID) }

// push delivers payload as Meta does, signed with secret, and returns the
// status and body.
func (env *inboundEnv) push(t *testing.T, secret string, payload []byte) (int, []byte) {
	t.Helper()
	return pushTo(t, env.url(), secret, payload)
}

func pushTo(t *testing.T, u, secret string, payload []byte) (int, []byte) {
	t.Helper()
	res, err := graphapi.PushInbound(context.Background(), u, secret, payload)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

// inboundRequest sends a request to the inbound endpoint through the
// validating transport, which checks that every error is the JSON envelope.
func inboundRequest(t *testing.T, tg *target, method, u string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := (&http.Client{Transport: newValidatingTransport(t, tg.baseURL)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, out
}

// inboundMessages returns the organization's inbound messages (all of
// them: the tests stay far below a page).
func inboundMessages(t *testing.T, tg *target, key string) client.MessageList {
	t.Helper()
	res, err := tg.client(t, key, bearer).ListMessagesWithResponse(context.Background(), &client.ListMessagesParams{
		Direction: ptr(client.Direction("inbound")), PerPage: ptr(int32(100))})
	if err != nil || res.JSON200 == nil {
		t.Fatalf("list inbound messages: %v %s", err, res.Body)
	}
	return *res.JSON200
}

// byProviderID returns the messages with that provider id.
func byProviderID(l client.MessageList, wamid string) []client.Message {
	var out []client.Message
	for _, m := range l.Data {
		if pid, err := m.ProviderMessageId.Get(); err == nil && pid == wamid {
			out = append(out, m)
		}
	}
	return out
}

func wamid(t *testing.T) string {
	return "wamid.HBgN" + strings.TrimPrefix(uniquePhone(t), "55") + "FQIAEhg"
}

func TestInboundWhatsAppHandshake(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		seed := tg.seed(t)
		ctx := context.Background()
		env := newInboundEnv(t, tg, tg.orgID, tg.key, "handshake-secret", "meu-token-de-verificacao")
		verify := func(t *testing.T, u, token string) (*http.Response, []byte) {
			t.Helper()
			res, err := graphapi.VerifySubscription(ctx, u, token, "1158201444")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			return res, body
		}

		t.Run("right token", func(t *testing.T) {
			res, body := verify(t, env.url(), env.verifyToken)
			if res.StatusCode != http.StatusOK || string(body) != "1158201444" {
				t.Errorf("%d %q, want 200 with the challenge", res.StatusCode, body)
			}
		})
		t.Run("wrong token", func(t *testing.T) {
			for _, token := range []string{"outro-token", env.verifyToken + "x", strings.ToUpper(env.verifyToken)} {
				res, body := verify(t, env.url(), token)
				wantError(t, res, body, http.StatusForbidden, "forbidden")
				if strings.Contains(string(body), "1158201444") {
					t.Errorf("the refusal echoes the challenge: %s", body)
				}
			}
		})
		t.Run("the stored hash is not a token", func(t *testing.T) {
			res, body := verify(t, env.url(), fmt.Sprintf("%x", env.integ.VerifyTokenHash))
			wantError(t, res, body, http.StatusForbidden, "forbidden")
		})
		t.Run("no token", func(t *testing.T) {
			res, body := inboundRequest(t, tg, http.MethodGet, env.url()+"?hub.mode=subscribe&hub.challenge=1158201444", nil, nil)
			wantError(t, res, body, http.StatusForbidden, "forbidden")
		})
		t.Run("wrong hub.mode", func(t *testing.T) {
			q := url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {env.verifyToken}, "hub.challenge": {"1158201444"}}
			res, body := inboundRequest(t, tg, http.MethodGet, env.url()+"?"+q.Encode(), nil, nil)
			wantError(t, res, body, http.StatusForbidden, "forbidden")
		})
		t.Run("an integration without a verify token", func(t *testing.T) {
			// The sandbox integration has none: no token opens it, not even the empty one.
			for _, token := range []string{"", env.verifyToken} {
				q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {token}, "hub.challenge": {"1"}}
				res, body := inboundRequest(t, tg, http.MethodGet, inboundURL(tg, seededWhatsAppID)+"?"+q.Encode(), nil, nil)
				wantError(t, res, body, http.StatusForbidden, "forbidden")
			}
		})
		t.Run("unknown integration", func(t *testing.T) {
			for _, id := range []string{"987654321", "0", "abc"} {
				res, body := verify(t, rootURL(tg)+"/inbound/whatsapp/"+id, env.verifyToken)
				wantError(t, res, body, http.StatusNotFound, "integration_not_found")
			}
		})
		t.Run("inactive integration", func(t *testing.T) {
			other := newInboundEnv(t, tg, tg.orgID, tg.key, "s", "token-desligado")
			if res, _ := verify(t, other.url(), other.verifyToken); res.StatusCode != http.StatusOK {
				t.Fatalf("active: %d", res.StatusCode)
			}
			seed.DisableIntegration(t, tg.orgID, other.integ.ID)
			res, body := verify(t, other.url(), other.verifyToken)
			wantError(t, res, body, http.StatusNotFound, "integration_not_found")
		})
		t.Run("an RCS integration", func(t *testing.T) {
			rcs := seed.Integration(t, &impl.Integration{OrganizationID: tg.orgID, Name: "RCS", Channel: impl.ChannelRCS, Provider: impl.ProviderSandbox,
				Active: true, AppSecret: "s", VerifyTokenHash: env.integ.VerifyTokenHash})
			res, body := verify(t, inboundURL(tg, rcs.ID), env.verifyToken)
			wantError(t, res, body, http.StatusNotFound, "integration_not_found")
		})
	})
}

func TestInboundWhatsAppMessages(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		seed := tg.seed(t)
		const secret = "segredo-do-app-a"
		env := newInboundEnv(t, tg, tg.orgID, tg.key, secret, "token-a")
		pnid := env.integ.PhoneNumberID
		c := tg.client(t, tg.key, bearer)

		t.Run("from a lead", func(t *testing.T) {
			lead := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Maria Santos")})
			id := wamid(t)
			events := seed.EventCount(t, tg.orgID)
			status, body := env.push(t, secret, graphapi.InboundText(pnid, "551130030000", lead.Phone, "Maria do WhatsApp", id, "Oi, tudo bem?", time.Now()))
			if status != http.StatusOK {
				t.Fatalf("push: %d %s", status, body)
			}
			got := byProviderID(inboundMessages(t, tg, tg.key), id)
			if len(got) != 1 {
				t.Fatalf("%d inbound messages with %s, want 1", len(got), id)
			}
			m := got[0]
			if m.Direction != "inbound" || m.Status != "received" || m.Channel != "whatsapp" || m.Type != "text" ||
				m.Phone != lead.Phone || m.IntegrationId != env.integ.ID || !m.Error.IsNull() {
				t.Errorf("stored %+v", m)
			}
			if lid, err := m.LeadId.Get(); err != nil || lid != lead.Id {
				t.Errorf("lead_id %v, want the lead with that phone, %d", m.LeadId, lead.Id)
			}
			if !reflect.DeepEqual(m.Content, map[string]any{"text": "Oi, tudo bem?"}) {
				t.Errorf("content %v", m.Content)
			}
			sameMessage(t, fetchMessage(t, tg, tg.key, m.Id), m)
			// The lead keeps its name; no other lead appears.
			l := list(t, c, client.ListLeadsParams{Phone: ptr(lead.Phone)})
			if len(l.Data) != 1 || l.Data[0].Name.MustGet() != "Maria Santos" {
				t.Errorf("leads with %s: %+v", lead.Phone, l.Data)
			}
			if !hasEventFor(seed.EventPayloads(t, tg.orgID, impl.EventMessageReceived), m.Id) {
				t.Errorf("no message.received event for message %d", m.Id)
			}
			if n := seed.EventCount(t, tg.orgID); n != events+1 {
				t.Errorf("%d new events, want 1 (message.received only)", n-events)
			}
		})

		t.Run("from a new contact", func(t *testing.T) {
			phone, id := uniquePhone(t), wamid(t)
			status, body := env.push(t, secret, graphapi.InboundText(pnid, "551130030000", phone, " João da Silva ", id, "Quero saber o preço", time.Now()))
			if status != http.StatusOK {
				t.Fatalf("push: %d %s", status, body)
			}
			l := list(t, c, client.ListLeadsParams{Phone: &phone})
			if len(l.Data) != 1 {
				t.Fatalf("%d leads with %s, want the one the message created", len(l.Data), phone)
			}
			lead := l.Data[0]
			if lead.Name.MustGet() != "João da Silva" {
				t.Errorf("lead named %q, want the contact's profile name", lead.Name.MustGet())
			}
			got := byProviderID(inboundMessages(t, tg, tg.key), id)
			if len(got) != 1 || got[0].LeadId.MustGet() != lead.Id || got[0].Phone != phone {
				t.Fatalf("messages %+v, want one linked to lead %d", got, lead.Id)
			}
			if !hasEventFor(seed.EventPayloads(t, tg.orgID, impl.EventMessageReceived), got[0].Id) {
				t.Errorf("no message.received event for message %d", got[0].Id)
			}
			created := seed.EventPayloads(t, tg.orgID, impl.EventLeadCreated)
			if !hasEventFor(created, lead.Id) {
				t.Errorf("no lead.created event for lead %d", lead.Id)
			}
			for _, p := range created {
				if n, _ := p["id"].(float64); int64(n) == lead.Id && p["phone"] != phone {
					t.Errorf("lead.created payload %v", p)
				}
			}
		})

		t.Run("a contact without a profile name", func(t *testing.T) {
			phone := uniquePhone(t)
			status, body := env.push(t, secret, graphapi.InboundText(pnid, "551130030000", phone, "", wamid(t), "oi", time.Now()))
			if status != http.StatusOK {
				t.Fatalf("push: %d %s", status, body)
			}
			l := list(t, c, client.ListLeadsParams{Phone: &phone})
			if len(l.Data) != 1 || !l.Data[0].Name.IsNull() {
				t.Errorf("leads %+v, want one without a name", l.Data)
			}
		})

		t.Run("redelivery is stored once", func(t *testing.T) {
			phone, id := uniquePhone(t), wamid(t)
			payload := graphapi.InboundText(pnid, "551130030000", phone, "Ana", id, "Oi", time.Now())
			for i := 0; i < 2; i++ {
				if status, body := env.push(t, secret, payload); status != http.StatusOK {
					t.Fatalf("push %d: %d %s", i+1, status, body)
				}
			}
			events := seed.EventCount(t, tg.orgID)
			if status, body := env.push(t, secret, payload); status != http.StatusOK {
				t.Fatalf("push 3: %d %s", status, body)
			}
			if got := byProviderID(inboundMessages(t, tg, tg.key), id); len(got) != 1 {
				t.Errorf("%d messages with %s after three deliveries, want 1", len(got), id)
			}
			if l := list(t, c, client.ListLeadsParams{Phone: &phone}); len(l.Data) != 1 {
				t.Errorf("%d leads with %s, want 1", len(l.Data), phone)
			}
			if n := seed.EventCount(t, tg.orgID); n != events {
				t.Errorf("a redelivery wrote %d events", n-events)
			}
		})

		t.Run("concurrent deliveries", func(t *testing.T) {
			// Meta retries while a slow first delivery is still running, and a
			// new contact often sends several messages at once: each message is
			// stored once, all on one new lead.
			phone := uniquePhone(t)
			ids := []string{wamid(t), wamid(t), wamid(t)}
			var wg sync.WaitGroup
			statuses := make(chan string, 12)
			for i := 0; i < 12; i++ {
				wg.Add(1)
				go func(id string) {
					defer wg.Done()
					res, err := graphapi.PushInbound(context.Background(), env.url(), secret,
						graphapi.InboundText(pnid, "551130030000", phone, "Rapido", id, "Oi "+id, time.Now()))
					if err != nil {
						statuses <- err.Error()
						return
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						statuses <- fmt.Sprintf("%d %s", res.StatusCode, b)
					}
				}(ids[i%len(ids)])
			}
			wg.Wait()
			close(statuses)
			for s := range statuses {
				t.Errorf("a concurrent delivery was refused: %s", s)
			}
			l := list(t, c, client.ListLeadsParams{Phone: &phone})
			if len(l.Data) != 1 {
				t.Fatalf("%d leads with %s, want 1", len(l.Data), phone)
			}
			all := inboundMessages(t, tg, tg.key)
			for _, id := range ids {
				got := byProviderID(all, id)
				if len(got) != 1 || got[0].LeadId.MustGet() != l.Data[0].Id {
					t.Errorf("%s stored %d times: %+v", id, len(got), got)
				}
			}
		})

		// nothingStored pushes a request that must be refused and checks that
		// no message, lead or event came of it.
		nothingStored := func(t *testing.T, phone, id string, do func() (*http.Response, []byte), wantStatus int, code string) {
			t.Helper()
			events := seed.EventCount(t, tg.orgID)
			res, body := do()
			wantError(t, res, body, wantStatus, code)
			if got := byProviderID(inboundMessages(t, tg, tg.key), id); len(got) != 0 {
				t.Errorf("a refused webhook stored %+v", got)
			}
			if l := list(t, c, client.ListLeadsParams{Phone: &phone}); len(l.Data) != 0 {
				t.Errorf("a refused webhook created lead %+v", l.Data)
			}
			if n := seed.EventCount(t, tg.orgID); n != events {
				t.Errorf("a refused webhook wrote %d events", n-events)
			}
		}
		pushed := func(u, secret string, payload []byte) func() (*http.Response, []byte) {
			return func() (*http.Response, []byte) {
				res, err := graphapi.PushInbound(context.Background(), u, secret, payload)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res, b
			}
		}
		raw := func(header http.Header, payload []byte) func() (*http.Response, []byte) {
			return func() (*http.Response, []byte) {
				return inboundRequest(t, tg, http.MethodPost, env.url(), header, payload)
			}
		}

		t.Run("bad signature", func(t *testing.T) {
			phone, id := uniquePhone(t), wamid(t)
			payload := graphapi.InboundText(pnid, "551130030000", phone, "Intruso", id, "Oi", time.Now())
			nothingStored(t, phone, id, pushed(env.url(), "outro-segredo", payload), http.StatusUnauthorized, "unauthorized")
		})
		t.Run("signature of another body", func(t *testing.T) {
			phone, id := uniquePhone(t), wamid(t)
			payload := graphapi.InboundText(pnid, "551130030000", phone, "Intruso", id, "Oi", time.Now())
			h := http.Header{"Content-Type": {"application/json"}, "X-Hub-Signature-256": {graphapi.Sign(secret, append(payload, ' '))}}
			nothingStored(t, phone, id, raw(h, payload), http.StatusUnauthorized, "unauthorized")
		})
		t.Run("missing signature", func(t *testing.T) {
			phone, id := uniquePhone(t), wamid(t)
			payload := graphapi.InboundText(pnid, "551130030000", phone, "Intruso", id, "Oi", time.Now())
			nothingStored(t, phone, id, raw(http.Header{"Content-Type": {"application/json"}}, payload), http.StatusUnauthorized, "unauthorized")
		})
		t.Run("signature without the sha256= prefix", func(t *testing.T) {
			phone, id := uniquePhone(t), wamid(t)
			payload := graphapi.InboundText(pnid, "551130030000", phone, "Intruso", id, "Oi", time.Now())
			sig := strings.TrimPrefix(graphapi.Sign(secret, payload), "sha256=")
			h := http.Header{"Content-Type": {"application/json"}, "X-Hub-Signature-256": {sig}}
			nothingStored(t, phone, id, raw(h, payload), http.StatusUnauthorized, "unauthorized")
		})

		t.Run("image", func(t *testing.T) {
			phone, id := uniquePhone(t), wamid(t)
			img := graphapi.Image{Caption: "Olha isso", MimeType: "image/jpeg", SHA256: "8Xw4mM0K1Uql3k9Jp0Q2lA==", ID: "1479537139650973"}
			if status, body := env.push(t, secret, graphapi.InboundImage(pnid, "551130030000", phone, "Carla", id, img, time.Now())); status != http.StatusOK {
				t.Fatalf("push: %d %s", status, body)
			}
			got := byProviderID(inboundMessages(t, tg, tg.key), id)
			if len(got) != 1 {
				t.Fatalf("%d messages with %s, want 1", len(got), id)
			}
			want := map[string]any{"media_id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "8Xw4mM0K1Uql3k9Jp0Q2lA==", "caption": "Olha isso"}
			if got[0].Type != "image" || !reflect.DeepEqual(got[0].Content, want) {
				t.Errorf("type %q content %v, want image %v", got[0].Type, got[0].Content, want)
			}
		})

		t.Run("other kinds", func(t *testing.T) {
			cases := []struct {
				name    string
				message map[string]any
				typ     string
				content map[string]any
			}{
				{"template button", map[string]any{"type": "button", "button": map[string]any{"text": "Quero", "payload": "quero_sim"}},
					"text", map[string]any{"text": "Quero", "payload": "quero_sim"}},
				{"interactive button reply", map[string]any{"type": "interactive", "interactive": map[string]any{"type": "button_reply",
					"button_reply": map[string]any{"id": "opt_1", "title": "Opcao 1"}}},
					"text", map[string]any{"text": "Opcao 1", "payload": "opt_1"}},
				{"interactive list reply", map[string]any{"type": "interactive", "interactive": map[string]any{"type": "list_reply",
					"list_reply": map[string]any{"id": "row_2", "title": "Linha 2", "description": "d"}}},
					"text", map[string]any{"text": "Linha 2", "payload": "row_2"}},
				{"location", map[string]any{"type": "location", "location": map[string]any{"latitude": -23.561414, "longitude": -46.655881,
					"name": "Avenida Paulista", "address": "Av. Paulista, 1578"}},
					"location", map[string]any{"latitude": -23.561414, "longitude": -46.655881, "label": "Avenida Paulista", "address": "Av. Paulista, 1578"}},
				{"document", map[string]any{"type": "document", "document": map[string]any{"id": "998877", "mime_type": "application/pdf",
					"sha256": "abc=", "filename": "proposta.pdf"}},
					"document", map[string]any{"media_id": "998877", "mime_type": "application/pdf", "sha256": "abc=", "filename": "proposta.pdf"}},
				{"sticker", map[string]any{"type": "sticker", "sticker": map[string]any{"id": "5544", "mime_type": "image/webp", "animated": false}},
					"unsupported", map[string]any{"provider_type": "sticker"}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					phone, id := uniquePhone(t), wamid(t)
					status, body := env.push(t, secret, metaWebhook(pnid, phone, "Kim", merged(tc.message, map[string]any{
						"from": phone, "id": id, "timestamp": strconv.FormatInt(time.Now().Unix(), 10)})))
					if status != http.StatusOK {
						t.Fatalf("push: %d %s", status, body)
					}
					got := byProviderID(inboundMessages(t, tg, tg.key), id)
					if len(got) != 1 {
						t.Fatalf("%d messages with %s, want 1", len(got), id)
					}
					if string(got[0].Type) != tc.typ || !reflect.DeepEqual(got[0].Content, tc.content) {
						t.Errorf("type %q content %v, want %s %v", got[0].Type, got[0].Content, tc.typ, tc.content)
					}
				})
			}
		})

		t.Run("a sender that is not a phone number", func(t *testing.T) {
			id := wamid(t)
			before := seed.EventCount(t, tg.orgID)
			status, body := env.push(t, secret, metaWebhook(pnid, "12345", "Bot", map[string]any{
				"from": "12345", "id": id, "timestamp": "1700000000", "type": "text", "text": map[string]any{"body": "oi"}}))
			if status != http.StatusOK {
				t.Fatalf("push: %d %s", status, body)
			}
			if got := byProviderID(inboundMessages(t, tg, tg.key), id); len(got) != 0 {
				t.Errorf("stored %+v", got)
			}
			if n := seed.EventCount(t, tg.orgID); n != before {
				t.Errorf("%d events", n-before)
			}
		})

		t.Run("profile names become lead names", func(t *testing.T) {
			cases := []struct{ profile, want string }{
				{strings.Repeat("é", 300), strings.Repeat("é", 255)},
				{"Ana\u0007 Maria\r\n", "Ana Maria"},
				{"   ", ""},
			}
			for _, tc := range cases {
				phone := uniquePhone(t)
				profile := tc.profile
				status, body := env.push(t, secret, graphapi.InboundText(pnid, "551130030000", phone, profile, wamid(t), "oi", time.Now()))
				if status != http.StatusOK {
					t.Fatalf("push: %d %s", status, body)
				}
				l := list(t, c, client.ListLeadsParams{Phone: &phone})
				if len(l.Data) != 1 {
					t.Fatalf("%d leads with %s", len(l.Data), phone)
				}
				got, _ := l.Data[0].Name.Get()
				if got != tc.want || tc.want == "" && !l.Data[0].Name.IsNull() {
					t.Errorf("profile %q gave lead name %q (null: %v), want %q", tc.profile, got, l.Data[0].Name.IsNull(), tc.want)
				}
			}
		})

		t.Run("status update", func(t *testing.T) {
			phone := uniquePhone(t)
			total := func() int64 {
				res, err := c.ListMessagesWithResponse(context.Background(), &client.ListMessagesParams{})
				if err != nil || res.JSON200 == nil {
					t.Fatalf("list messages: %v %s", err, res.Body)
				}
				return res.JSON200.Meta.Total
			}
			before := total()
			events := seed.EventCount(t, tg.orgID)
			for _, state := range []string{"sent", "delivered", "read", "failed"} {
				status, body := env.push(t, secret, graphapi.StatusUpdate(pnid, "551130030000", phone, wamid(t), state, time.Now()))
				if status != http.StatusOK {
					t.Fatalf("%s: %d %s", state, status, body)
				}
			}
			if after := total(); after != before {
				t.Errorf("status updates stored %d messages", after-before)
			}
			if l := list(t, c, client.ListLeadsParams{Phone: &phone}); len(l.Data) != 0 {
				t.Errorf("a status update created lead %+v", l.Data)
			}
			if n := seed.EventCount(t, tg.orgID); n != events {
				t.Errorf("status updates wrote %d events", n-events)
			}
		})

		t.Run("a change for another phone number of the same Meta app", func(t *testing.T) {
			// Same app secret, another number: not this integration's message.
			phone := uniquePhone(t)
			events := seed.EventCount(t, tg.orgID)
			status, body := env.push(t, secret, graphapi.InboundText("999999999999999", "551130030001", phone, "Outra", wamid(t), "Oi", time.Now()))
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			if l := list(t, c, client.ListLeadsParams{Phone: &phone}); len(l.Data) != 0 {
				t.Errorf("a message for another number created lead %+v", l.Data)
			}
			if n := seed.EventCount(t, tg.orgID); n != events {
				t.Errorf("a message for another number wrote %d events", n-events)
			}
		})

		t.Run("not a webhook payload", func(t *testing.T) {
			payload := []byte(`{"object":`)
			h := http.Header{"Content-Type": {"application/json"}, "X-Hub-Signature-256": {graphapi.Sign(secret, payload)}}
			res, body := inboundRequest(t, tg, http.MethodPost, env.url(), h, payload)
			wantError(t, res, body, http.StatusBadRequest, "bad_request")
		})

		t.Run("another organization's integration", func(t *testing.T) {
			orgB := seed.Organization(t, "Org B")
			keyB := orgB.Key
			const secretB = "segredo-do-app-b"
			envB := newInboundEnv(t, tg, orgB.ID, keyB, secretB, "token-b")
			phone, id := uniquePhone(t), wamid(t)
			payload := graphapi.InboundText(envB.integ.PhoneNumberID, "551130030000", phone, "Bia", id, "Oi B", time.Now())

			// Org A's secret does not open B's integration.
			status, body := pushTo(t, envB.url(), secret, payload)
			if status != http.StatusUnauthorized {
				t.Fatalf("B's integration with A's secret: %d %s", status, body)
			}
			if got := byProviderID(inboundMessages(t, tg, keyB), id); len(got) != 0 {
				t.Errorf("stored in B with A's secret: %+v", got)
			}
			if n := seed.EventCount(t, orgB.ID); n != 0 {
				t.Errorf("B has %d events", n)
			}
			// Nor does B's secret open A's.
			if status, body := env.push(t, secretB, payload); status != http.StatusUnauthorized {
				t.Fatalf("A's integration with B's secret: %d %s", status, body)
			}

			// With B's own secret it lands in B, and only there.
			if status, body := pushTo(t, envB.url(), secretB, payload); status != http.StatusOK {
				t.Fatalf("B's integration with B's secret: %d %s", status, body)
			}
			got := byProviderID(inboundMessages(t, tg, keyB), id)
			if len(got) != 1 || got[0].IntegrationId != envB.integ.ID {
				t.Fatalf("B's messages with %s: %+v", id, got)
			}
			if len(byProviderID(inboundMessages(t, tg, tg.key), id)) != 0 {
				t.Errorf("B's inbound message shows in A's history")
			}
			if l := list(t, c, client.ListLeadsParams{Phone: &phone}); len(l.Data) != 0 {
				t.Errorf("B's inbound message created a lead in A: %+v", l.Data)
			}
			res, err := c.GetMessageWithResponse(context.Background(), got[0].Id, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res.HTTPResponse, res.Body, http.StatusNotFound, "not_found")
		})

		t.Run("GET and POST only", func(t *testing.T) {
			res, body := inboundRequest(t, tg, http.MethodPut, env.url(), http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("PUT: %d %s", res.StatusCode, body)
			}
		})
	})
}

// metaWebhook is a Meta webhook carrying one message of any kind, for
// kinds the fake's builders do not cover.
func metaWebhook(phoneNumberID, from, name string, message map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id": graphapi.BusinessAccountID,
			"changes": []any{map[string]any{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]any{"display_phone_number": "551130030000", "phone_number_id": phoneNumberID},
					"contacts":          []any{map[string]any{"profile": map[string]any{"name": name}, "wa_id": from}},
					"messages":          []any{message},
				},
			}},
		}},
	})
	if err != nil {
		panic(err)
	}
	return b
}
