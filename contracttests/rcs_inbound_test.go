package contracttests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/rbmapi"
)

// RCS both ways: the server's RBM adapter sends to the fake RBM API with
// the integration's own token, and the fake posts Google's signed webhook
// (user messages, tapped suggestions, DELIVERED and READ receipts) to the
// integration's inbound URL.

const (
	rcsAgent       = "iagente-teste@rbm.goog"
	rcsClientToken = "token-do-cliente-rbm"
	rcsToken       = "ya29.token-da-integracao"
	rcsServerToken = "ya29.token-do-servidor"
)

type rcsEnv struct {
	tg    *target
	fake  *rbmapi.Server
	integ *impl.Integration
	rec   *receiver
	hook  evHook
}

func inboundRCSURL(tg *target, id int64) string {
	return fmt.Sprintf("%s/inbound/rcs/%d", rootURL(tg), id)
}

func forEachRCSTarget(t *testing.T, fn func(t *testing.T, env *rcsEnv)) {
	t.Helper()
	forEachDatabase(t, "points the server at a fake RBM API that calls it back", func(t *testing.T, db sqlstoretest.Database) {
		fake := rbmapi.New()
		ts := httptest.NewServer(fake)
		t.Cleanup(ts.Close)
		t.Cleanup(fake.Close)
		tg := startInProcessWith(t, db.URL, evConfig(func(c *app.Config) {
			c.RBMBaseURL, c.RBMToken, c.SendTimeout = ts.URL, rcsServerToken, cloudSendTimeout
		}))
		integ := &impl.Integration{OrganizationID: tg.orgID, Name: "RCS Google", Channel: impl.ChannelRCS,
			Provider: impl.ProviderGoogleRBM, Active: true, AgentID: rcsAgent, AccessToken: rcsToken, ClientToken: rcsClientToken}
		tg.seed(t).Integration(t, integ)
		fake.SetToken(rcsToken)
		fake.SetWebhook(inboundRCSURL(tg, integ.ID), rcsClientToken)
		rec := evNewReceiver(t)
		hook := evCreateHook(t, tg, tg.key, "rcs", rec, impl.EventTypes, 0)
		fn(t, &rcsEnv{tg: tg, fake: fake, integ: integ, rec: rec, hook: hook})
	})
}

// inboundFrom returns the inbound messages of phone, newest first.
func inboundFrom(t *testing.T, tg *target, phone string) []client.Message {
	t.Helper()
	var out []client.Message
	for _, m := range inboundMessages(t, tg, tg.key).Data {
		if m.Phone == phone {
			out = append(out, m)
		}
	}
	return out
}

func TestRCSInbound(t *testing.T) {
	forEachRCSTarget(t, func(t *testing.T, env *rcsEnv) {
		tg, ctx := env.tg, context.Background()
		received := func(t *testing.T, phone string) client.Message {
			t.Helper()
			ms := inboundFrom(t, tg, phone)
			if len(ms) != 1 {
				t.Fatalf("%d inbound messages from %s, want 1", len(ms), phone)
			}
			m := ms[0]
			if m.Channel != "rcs" || m.IntegrationId != env.integ.ID || m.Status != "received" || m.LeadId.IsNull() ||
				m.SentAt.IsNull() || m.ProviderMessageId.IsNull() {
				t.Errorf("inbound %+v", m)
			}
			env.messageEvents(t, m.Id, []string{impl.EventMessageReceived})
			return m
		}

		t.Run("a user's text", func(t *testing.T) {
			phone := uniquePhone(t)
			if status, err := env.fake.UserText(ctx, rcsAgent, "+"+phone, "Quero saber mais"); err != nil || status != http.StatusOK {
				t.Fatalf("push: %d %v", status, err)
			}
			m := received(t, phone)
			if m.Type != "text" || m.Content["text"] != "Quero saber mais" {
				t.Errorf("content %v", m.Content)
			}
			lead := evDecode[client.Lead](t, expectJSON(t, tg, tg.key, http.MethodGet, fmt.Sprintf("/leads/%d", m.LeadId.MustGet()), nil, http.StatusOK, nil))
			if lead.Phone != phone {
				t.Errorf("lead %+v", lead)
			}
		})

		t.Run("a tapped suggestion, with its payload", func(t *testing.T) {
			phone := uniquePhone(t)
			if status, err := env.fake.UserTaps(ctx, rcsAgent, "+"+phone, "REPLY", "Opcao A", "option_a"); err != nil || status != http.StatusOK {
				t.Fatalf("push: %d %v", status, err)
			}
			m := received(t, phone)
			if m.Type != "text" || m.Content["text"] != "Opcao A" || m.Content["payload"] != "option_a" || m.Content["suggestion_type"] != "reply" {
				t.Errorf("content %v", m.Content)
			}
		})

		t.Run("a redelivered message is stored once", func(t *testing.T) {
			phone := uniquePhone(t)
			ev := map[string]any{"senderPhoneNumber": "+" + phone, "messageId": "MsRedelivered" + phone, "text": "Oi",
				"sendTime": "2026-03-13T14:02:11.5Z", "agentId": rcsAgent}
			for range 2 {
				if status, err := env.fake.PushEvent(ctx, ev); err != nil || status != http.StatusOK {
					t.Fatalf("push: %d %v", status, err)
				}
			}
			if m := received(t, phone); m.SentAt.MustGet().Format("2006-01-02T15:04:05.000Z07:00") != "2026-03-13T14:02:11.500Z" {
				t.Errorf("sent_at %v, want the user's sendTime", m.SentAt)
			}
		})
	})
}

// messageEvents is lifecycleEnv's, for the RCS environment.
func (env *rcsEnv) messageEvents(t *testing.T, id int64, want []string) map[string][]map[string]any {
	t.Helper()
	lc := &lifecycleEnv{tg: env.tg, rec: env.rec, hook: env.hook, fake: nil}
	return lc.messageEventsWith(t, id, want, func() bool {
		for _, p := range env.fake.Pushes() {
			if p.Status == 0 && p.Err == "" {
				return false
			}
		}
		return true
	})
}

func TestRCSReceiptsAndCredentials(t *testing.T) {
	forEachRCSTarget(t, func(t *testing.T, env *rcsEnv) {
		tg := env.tg
		send := func(t *testing.T, integrationID int64) (*http.Response, []byte) {
			return postJSON(t, tg, tg.key, "/rcs/messages", map[string]any{"integration_id": integrationID,
				"phone": uniquePhone(t), "type": "text", "text": "Ola! Como posso ajudar?"})
		}

		t.Run("DELIVERED and READ drive the message to read", func(t *testing.T) {
			before := len(env.fake.Requests())
			res, out := send(t, env.integ.ID)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			var m client.Message
			_ = json.Unmarshal(out, &m)
			if got := env.fake.Requests()[before].Header.Get("Authorization"); got != "Bearer "+rcsToken {
				t.Errorf("sent with %q, want the integration's own token", got)
			}
			got := waitMessage(t, tg, m.Id, "read", func(m client.Message) bool { return m.Status == "read" })
			if got.DeliveredAt.IsNull() || got.ReadAt.IsNull() {
				t.Errorf("read without its times: %+v", got)
			}
			env.messageEvents(t, m.Id, []string{impl.EventMessageSent, impl.EventMessageDelivered, impl.EventMessageRead})
		})

		t.Run("an integration without a token uses the server's", func(t *testing.T) {
			bare := &impl.Integration{OrganizationID: tg.orgID, Name: "RCS sem token", Channel: impl.ChannelRCS,
				Provider: impl.ProviderGoogleRBM, Active: true, AgentID: "outro@rbm.goog"}
			tg.seed(t).Integration(t, bare)
			env.fake.SetToken(rcsServerToken)
			defer env.fake.SetToken(rcsToken)
			before := len(env.fake.Requests())
			if res, out := send(t, bare.ID); res.StatusCode != http.StatusCreated {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			if got := env.fake.Requests()[before].Header.Get("Authorization"); got != "Bearer "+rcsServerToken {
				t.Errorf("sent with %q, want RBM_ACCESS_TOKEN", got)
			}
			// The integration with its own token does not fall back.
			res, out := send(t, env.integ.ID)
			if e := wantError(t, res, out, http.StatusInternalServerError, "send_failed"); !strings.Contains(e.Error.Message, "authentication") {
				t.Errorf("%s", out)
			}
		})

		t.Run("RBM's quota", func(t *testing.T) {
			env.fake.SetRateLimit(1)
			defer env.fake.SetRateLimit(0)
			// The quota is one send in any second: the second send must
			// reach the fake within a second of the first. When the two
			// sends took a second or more, on a loaded machine, the fake
			// rightly takes the second; such an attempt is told apart by
			// the clock and run again once the quota's second has passed.
			var res *http.Response
			var out []byte
			for attempt := 1; ; attempt++ {
				start := time.Now()
				if res, out := send(t, env.integ.ID); res.StatusCode != http.StatusCreated {
					t.Fatalf("%d %s", res.StatusCode, out)
				}
				res, out = send(t, env.integ.ID)
				if took := time.Since(start); res.StatusCode == http.StatusCreated && took >= time.Second && attempt < 3 {
					t.Logf("the two sends of attempt %d took %s, the quota's second and more; again", attempt, took.Round(time.Millisecond))
					time.Sleep(time.Second)
					continue
				}
				break
			}
			e := wantError(t, res, out, http.StatusInternalServerError, "send_failed")
			var id int64
			fmt.Sscan(e.Error.Details["message_id"][0], &id)
			if m := fetchMessage(t, tg, tg.key, id); m.ErrorCode.MustGet() != "RESOURCE_EXHAUSTED" || m.Status != "failed" {
				t.Errorf("over the quota: %+v", m)
			}
		})
	})
}

// rbmPush is a push as Google makes it, event given, signed with token
// ("" for no signature).
func rbmPush(t *testing.T, tg *target, integID int64, token string, event []byte) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"message": map[string]any{"data": base64.StdEncoding.EncodeToString(event),
		"messageId": "1", "publishTime": "2026-03-13T14:02:11Z"}, "subscription": "projects/x/subscriptions/y"})
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("X-Goog-Signature", rbmapi.Sign(token, event))
	}
	return inboundRequest(t, tg, http.MethodPost, inboundRCSURL(tg, integID), h, body)
}

func TestRCSInboundBadInput(t *testing.T) {
	forEachRCSTarget(t, func(t *testing.T, env *rcsEnv) {
		tg := env.tg
		phone := uniquePhone(t)
		text, _ := json.Marshal(map[string]any{"senderPhoneNumber": "+" + phone, "messageId": "MsBad", "text": "Oi",
			"sendTime": "2026-03-13T14:02:11Z", "agentId": rcsAgent})
		before, messagesBefore := tg.seed(t).EventCount(t, tg.orgID), len(inboundMessages(t, tg, tg.key).Data)
		for _, tc := range []struct {
			name   string
			token  string
			event  []byte
			raw    []byte // the whole body, instead of a push of event
			status int
			code   string
		}{
			{"unsigned: 401", "", text, nil, http.StatusUnauthorized, "unauthorized"},
			{"signed with another token: 401", "not-the-client-token", text, nil, http.StatusUnauthorized, "unauthorized"},
			{"not a push: 400", "", nil, []byte(`{"hello":"world"}`), http.StatusBadRequest, "bad_request"},
			{"not JSON: 400", "", nil, []byte(`{"message":`), http.StatusBadRequest, "bad_request"},
			{"data not base64: 400", "", nil, []byte(`{"message":{"data":"%%%"}}`), http.StatusBadRequest, "bad_request"},
			{"signed, not JSON inside: 200, ignored", rcsClientToken, []byte("garbage"), nil, http.StatusOK, ""},
			{"IS_TYPING: 200, ignored", rcsClientToken, mustJSON(map[string]any{"senderPhoneNumber": "+" + phone,
				"eventType": "IS_TYPING", "eventId": "Ev1", "messageId": "x", "agentId": rcsAgent}), nil, http.StatusOK, ""},
			{"another agent's message: 200, ignored", rcsClientToken, mustJSON(map[string]any{"senderPhoneNumber": "+" + phone,
				"messageId": "MsOther", "text": "Oi", "agentId": "someone-else@rbm.goog"}), nil, http.StatusOK, ""},
			{"a receipt for a message never sent: 200, ignored", rcsClientToken, mustJSON(map[string]any{"senderPhoneNumber": "+" + phone,
				"eventType": "READ", "eventId": "Ev2", "messageId": "iagente-999999", "agentId": rcsAgent}), nil, http.StatusOK, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var res *http.Response
				var body []byte
				if tc.raw != nil {
					res, body = inboundRequest(t, tg, http.MethodPost, inboundRCSURL(tg, env.integ.ID),
						http.Header{"Content-Type": {"application/json"}, "X-Goog-Signature": {rbmapi.Sign(rcsClientToken, tc.raw)}}, tc.raw)
				} else {
					res, body = rbmPush(t, tg, env.integ.ID, tc.token, tc.event)
				}
				if tc.code != "" {
					wantError(t, res, body, tc.status, tc.code)
				} else if res.StatusCode != tc.status || !bytes.Contains(body, []byte(`"ignored":1`)) {
					t.Errorf("%d %s", res.StatusCode, body)
				}
			})
		}
		t.Run("an RBM push to a WhatsApp integration's number: 404", func(t *testing.T) {
			res, body := rbmPush(t, tg, seededWhatsAppID, rcsClientToken, text)
			wantError(t, res, body, http.StatusNotFound, "integration_not_found")
		})
		if after := tg.seed(t).EventCount(t, tg.orgID); after != before {
			t.Errorf("bad input wrote %d events", after-before)
		}
		if n := len(inboundMessages(t, tg, tg.key).Data); n != messagesBefore {
			t.Errorf("bad input stored %d messages", n-messagesBefore)
		}

		t.Run("the webhook verification", func(t *testing.T) {
			status, body, err := rbmapi.VerifyWebhook(context.Background(), inboundRCSURL(tg, env.integ.ID), rcsClientToken, "segredo-123")
			if err != nil || status != http.StatusOK || body != "segredo-123" {
				t.Errorf("the right client token: %d %q %v", status, body, err)
			}
			status, body, _ = rbmapi.VerifyWebhook(context.Background(), inboundRCSURL(tg, env.integ.ID), "wrong", "segredo-123")
			if status != http.StatusForbidden || strings.Contains(body, "segredo-123") {
				t.Errorf("a wrong client token: %d %q", status, body)
			}
		})
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// A provider's refusal is kept and shown in its own words, but as one line
// of text of bounded length: a NUL in Google's (or a proxy's) answer made
// the record of the send fail on PostgreSQL, where SQLite kept it, and the
// message stayed queued behind a 500.
func TestRCSRefusalTextKeptPlain(t *testing.T) {
	forEachRCSTarget(t, func(t *testing.T, env *rcsEnv) {
		tg := env.tg
		refuse := func(t *testing.T, status, message string) (client.Message, string) {
			t.Helper()
			env.fake.FailNext(1, http.StatusBadRequest, rbmapi.GoogleError(400, status, message))
			res, out := postJSON(t, tg, tg.key, "/rcs/messages", map[string]any{"integration_id": env.integ.ID,
				"phone": uniquePhone(t), "type": "text", "text": "Oi"})
			e := wantError(t, res, out, http.StatusInternalServerError, "send_failed")
			var id int64
			if _, err := fmt.Sscan(e.Error.Details["message_id"][0], &id); err != nil {
				t.Fatalf("no message id in %s", out)
			}
			m := fetchMessage(t, tg, tg.key, id)
			if m.Status != "failed" || m.FailedAt.IsNull() {
				t.Errorf("refused message %+v", m)
			}
			reason := m.Error.MustGet()
			if want := "The provider did not accept the message: " + reason; e.Error.Message != want {
				t.Errorf("the answer says %.200q, the message %.200q", e.Error.Message, reason)
			}
			env.messageEvents(t, id, []string{impl.EventMessageFailed})
			return m, reason
		}

		t.Run("control characters and a NUL", func(t *testing.T) {
			m, reason := refuse(t, "INVALID_ARGUMENT", "Invalid value\u0000 at\nline 2\u001b[31m\u0085 ")
			if reason != "Invalid value  at line 2 [31m (HTTP 400)" || m.ErrorCode.MustGet() != "INVALID_ARGUMENT" {
				t.Errorf("kept %q, code %v", reason, m.ErrorCode)
			}
		})
		t.Run("a code that is no code", func(t *testing.T) {
			m, reason := refuse(t, "INVALID\u0000ARGUMENT", "Invalid value")
			if reason != "Invalid value (HTTP 400)" || !m.ErrorCode.IsNull() {
				t.Errorf("kept %q, code %v", reason, m.ErrorCode)
			}
		})
		t.Run("50,000 characters", func(t *testing.T) {
			_, reason := refuse(t, "INVALID_ARGUMENT", strings.Repeat("é", 50_000))
			if n := utf8.RuneCountInString(reason); n != impl.MaxProviderText || !strings.HasSuffix(reason, "é… (HTTP 400)") {
				t.Errorf("kept %d characters, ending %q", n, reason[len(reason)-20:])
			}
		})
	})
}

// RBM's answer names the message; a name that cannot be an id (a NUL in
// it, kilobytes of it) is not kept, and the message keeps the reference
// the send chose, which is RBM's own id for it. A NUL failed the record
// on PostgreSQL after the message went out: a 500, and a retry would have
// sent it twice.
func TestRCSAcceptedWithANameThatIsNoID(t *testing.T) {
	forEachRCSTarget(t, func(t *testing.T, env *rcsEnv) {
		tg := env.tg
		for _, name := range []string{`phones/x/agentMessages/a\u0000b`, `phones/x/agentMessages/a\tb`, strings.Repeat("n", impl.MaxProviderID+1)} {
			env.fake.FailNext(1, http.StatusOK, []byte(`{"name":"`+name+`"}`))
			res, out := postJSON(t, tg, tg.key, "/rcs/messages", map[string]any{"integration_id": env.integ.ID,
				"phone": uniquePhone(t), "type": "text", "text": "Oi"})
			m := mustCreated(t, tg, tg.key, res, out)
			if got := m.ProviderMessageId.MustGet(); got != impl.MessageReference(m.Id) {
				t.Errorf("provider_message_id %.60q, want the send's reference %q", got, impl.MessageReference(m.Id))
			}
		}
	})
}
