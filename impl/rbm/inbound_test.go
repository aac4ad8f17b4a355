package rbm_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/rbm"
	"github.com/iagente/iagente-sdr/mocks/rbmapi"
)

func push(event string) []byte {
	b, _ := json.Marshal(map[string]any{"message": map[string]any{"data": base64.StdEncoding.EncodeToString([]byte(event)),
		"messageId": "1", "publishTime": "2026-03-13T14:02:11Z"}, "subscription": "projects/p/subscriptions/s"})
	return b
}

func TestParsePushAndSignature(t *testing.T) {
	event := `{"senderPhoneNumber":"+5511988887777","messageId":"MsA","text":"Oi"}`
	v, data, err := rbm.ParsePush(push(event))
	if err != nil || v != nil || string(data) != event {
		t.Fatalf("ParsePush = %v %q %v", v, data, err)
	}
	// Signed as the fake RBM signs, which is Google's documented way.
	sig := rbmapi.Sign("client-token", data)
	if !rbm.ValidSignature("client-token", data, sig) {
		t.Error("Google's signature was refused")
	}
	for _, bad := range []struct{ token, sig string }{
		{"another-token", sig}, {"client-token", ""}, {"client-token", "not base64!"}, {"", sig},
		{"client-token", rbmapi.Sign("client-token", []byte(event+" "))},
	} {
		if rbm.ValidSignature(bad.token, data, bad.sig) {
			t.Errorf("signature %q under %q accepted", bad.sig, bad.token)
		}
	}
	v, _, err = rbm.ParsePush([]byte(`{"clientToken":"ct","secret":"s3"}`))
	if err != nil || v == nil || v.ClientToken != "ct" || v.Secret != "s3" {
		t.Errorf("verification = %+v %v", v, err)
	}
	for _, body := range []string{`{}`, `[]`, `{"message":{"data":""}}`, `{"message":{"data":"%%"}}`, `not json`, `{"clientToken":"x"}`} {
		if _, _, err := rbm.ParsePush([]byte(body)); err == nil {
			t.Errorf("%s parsed as a push", body)
		}
	}
}

func TestParseEvent(t *testing.T) {
	integ := &impl.Integration{ID: 3, AgentID: "agent@rbm.goog"}
	at := time.Date(2026, 3, 13, 14, 2, 11, 500000000, time.UTC)
	for _, tc := range []struct {
		event   string
		typ     string
		content map[string]any
		status  string
		ignored bool
	}{
		{event: `{"senderPhoneNumber":"+5511988887777","messageId":"MsA","sendTime":"2026-03-13T14:02:11.5Z","agentId":"agent@rbm.goog","text":"Oi"}`,
			typ: "text", content: map[string]any{"text": "Oi"}},
		{event: `{"senderPhoneNumber":"+5511988887777","messageId":"MsB","sendTime":"2026-03-13T14:02:11.5Z","suggestionResponse":{"postbackData":"option_a","text":"Opcao A","type":"REPLY"}}`,
			typ: "text", content: map[string]any{"text": "Opcao A", "payload": "option_a", "suggestion_type": "reply"}},
		{event: `{"senderPhoneNumber":"+5511988887777","messageId":"MsC","sendTime":"2026-03-13T14:02:11.5Z","location":{"latitude":-23.5,"longitude":-46.6}}`,
			typ: "location", content: map[string]any{"latitude": -23.5, "longitude": -46.6}},
		{event: `{"senderPhoneNumber":"+5511988887777","messageId":"MsD","sendTime":"2026-03-13T14:02:11.5Z","userFile":{"payload":{"mimeType":"image/png","fileSizeBytes":10,"fileUri":"https://x/f.png","fileName":"f.png"}}}`,
			typ: "file", content: map[string]any{"file_url": "https://x/f.png", "mime_type": "image/png", "filename": "f.png", "size_bytes": int64(10)}},
		{event: `{"senderPhoneNumber":"+5511988887777","eventType":"DELIVERED","eventId":"E1","messageId":"iagente-42","sendTime":"2026-03-13T14:02:11.5Z"}`,
			status: impl.StatusDelivered},
		{event: `{"senderPhoneNumber":"+5511988887777","eventType":"READ","eventId":"E2","messageId":"iagente-42","sendTime":"2026-03-13T14:02:11.5Z"}`,
			status: impl.StatusRead},
		{event: `{"senderPhoneNumber":"+5511988887777","eventType":"IS_TYPING","eventId":"E3"}`, ignored: true},
		{event: `{"senderPhoneNumber":"+5511988887777","messageId":"MsE","agentId":"other@rbm.goog","text":"Oi"}`, ignored: true},
		{event: `{"senderPhoneNumber":"5511988887777","messageId":"MsF","text":"Oi"}`, ignored: true},
		{event: `{"senderPhoneNumber":"+5511988887777","text":"Oi"}`, ignored: true},
	} {
		ev, err := rbm.ParseEvent([]byte(tc.event), integ)
		if err != nil {
			t.Errorf("%s: %v", tc.event, err)
			continue
		}
		switch {
		case tc.ignored:
			if ev.Ignored == "" || ev.Message != nil || ev.Status != nil {
				t.Errorf("%s: %+v, want ignored", tc.event, ev)
			}
		case tc.status != "":
			if ev.Status == nil || ev.Status.Status != tc.status || ev.Status.Reference != "iagente-42" || !ev.Status.At.Equal(at) {
				t.Errorf("%s: %+v", tc.event, ev.Status)
			}
		default:
			m := ev.Message
			if m == nil || m.Type != tc.typ || m.From != "5511988887777" || !m.SentAt.Equal(at) || len(m.Content) != len(tc.content) {
				t.Errorf("%s: %+v", tc.event, m)
				continue
			}
			for k, v := range tc.content {
				if m.Content[k] != v {
					t.Errorf("%s: content[%s] = %v, want %v", tc.event, k, m.Content[k], v)
				}
			}
		}
	}
	if _, err := rbm.ParseEvent([]byte("garbage"), integ); err == nil {
		t.Error("garbage parsed")
	}
}

// An integration's own token wins over the server's.
func TestSendsWithTheIntegrationsToken(t *testing.T) {
	fake, client := setup(t)
	integ := &impl.Integration{AgentID: "agent@rbm.goog", AccessToken: "the-integrations-token"}
	fake.SetToken("the-integrations-token")
	if _, err := client.SendRCS(context.Background(), integ, "5511999999999", "iagente-1", &impl.RCSContent{Type: "text", Text: "Oi"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Requests()[0].Header.Get("Authorization"); got != "Bearer the-integrations-token" {
		t.Errorf("Authorization %q", got)
	}
	integ.AccessToken = "bad token"
	_, err := client.SendRCS(context.Background(), integ, "5511999999999", "iagente-2", &impl.RCSContent{Type: "text", Text: "Oi"})
	if err == nil || !strings.Contains(err.Error(), "spaces or control characters") {
		t.Errorf("a token with a space: %v", err)
	}
	client.Token = ""
	integ.AccessToken = ""
	if _, err := client.SendRCS(context.Background(), integ, "5511999999999", "iagente-3", &impl.RCSContent{Type: "text", Text: "Oi"}); err == nil {
		t.Error("sent without any token")
	}
}
