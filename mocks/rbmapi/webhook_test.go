package rbmapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/mocks/rbmapi"
)

const clientToken = "token-do-cliente"

// agentHook is an agent's webhook: it verifies Google's signature with its
// own code and keeps the events.
type agentHook struct {
	mu     sync.Mutex
	events []map[string]any
	bad    int
	url    string
}

func newAgentHook(t *testing.T) *agentHook {
	h := &agentHook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var push struct {
			Message struct {
				Data string `json:"data"`
			} `json:"message"`
		}
		_ = json.Unmarshal(body, &push)
		data, err := base64.StdEncoding.DecodeString(push.Message.Data)
		mac := hmac.New(sha512.New, []byte(clientToken))
		mac.Write(data)
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil || r.Header.Get("X-Goog-Signature") != want {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(data, &ev)
		h.events = append(h.events, ev)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *agentHook) got() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func startFake(t *testing.T) (*rbmapi.Server, string) {
	t.Helper()
	fake := rbmapi.New()
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	t.Cleanup(fake.Close)
	return fake, ts.URL
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReceiptsAfterASend(t *testing.T) {
	fake, base := startFake(t)
	h := newAgentHook(t)
	fake.SetWebhook(h.url, clientToken)
	if a := do(t, context.Background(), http.MethodPost, base+okPath, "Bearer t", `{"contentMessage":{"text":"Oi"}}`); a.status != http.StatusOK {
		t.Fatalf("send: %d %s", a.status, a.raw)
	}
	eventually(t, "two receipts", func() bool { return len(h.got()) == 2 })
	for i, want := range []string{"DELIVERED", "READ"} {
		ev := h.got()[i]
		if ev["eventType"] != want || ev["messageId"] != "m1" || ev["senderPhoneNumber"] != "+5511999999999" || ev["agentId"] != "agent@rbm.goog" {
			t.Errorf("receipt %d: %v", i, ev)
		}
	}
	fake.SetReceipts(nil)
	do(t, context.Background(), http.MethodPost, strings.Replace(base+okPath, "m1", "m2", 1), "Bearer t", `{"contentMessage":{"text":"Oi"}}`)
	time.Sleep(50 * time.Millisecond)
	if n := len(h.got()); n != 2 {
		t.Errorf("%d events with receipts off", n)
	}
}

func TestUserMessages(t *testing.T) {
	fake, _ := startFake(t)
	ctx := context.Background()
	if _, err := fake.UserText(ctx, "agent@rbm.goog", "+5511988887777", "Oi"); err != rbmapi.ErrNoWebhook {
		t.Errorf("without a webhook: %v", err)
	}
	h := newAgentHook(t)
	fake.SetWebhook(h.url, clientToken)
	if status, err := fake.UserText(ctx, "agent@rbm.goog", "+5511988887777", "Quero saber mais"); err != nil || status != http.StatusOK {
		t.Fatalf("UserText = %d, %v", status, err)
	}
	if status, err := fake.UserTaps(ctx, "agent@rbm.goog", "+5511988887777", "REPLY", "Opcao A", "option_a"); err != nil || status != http.StatusOK {
		t.Fatalf("UserTaps = %d, %v", status, err)
	}
	evs := h.got()
	if len(evs) != 2 || evs[0]["text"] != "Quero saber mais" || evs[0]["messageId"] == "" {
		t.Fatalf("events %v", evs)
	}
	sr, _ := evs[1]["suggestionResponse"].(map[string]any)
	if sr["postbackData"] != "option_a" || sr["text"] != "Opcao A" || sr["type"] != "REPLY" {
		t.Errorf("suggestion response %v", evs[1])
	}
	fake.SetWebhook(h.url, "another-token")
	if status, _ := fake.UserText(ctx, "agent@rbm.goog", "+5511988887777", "x"); status != http.StatusUnauthorized || h.bad != 1 {
		t.Errorf("signed with another token: %d, the hook refused %d", status, h.bad)
	}
	if ps := fake.Pushes(); len(ps) != 3 || ps[2].Status != http.StatusUnauthorized {
		t.Errorf("pushes %v", ps)
	}
}

func TestVerifyWebhook(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ ClientToken, Secret string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.ClientToken != clientToken {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		io.WriteString(w, in.Secret)
	}))
	defer srv.Close()
	if status, body, err := rbmapi.VerifyWebhook(context.Background(), srv.URL, clientToken, "s3cr3t"); err != nil || status != 200 || body != "s3cr3t" {
		t.Errorf("VerifyWebhook = %d %q %v", status, body, err)
	}
}

func TestRateLimit(t *testing.T) {
	fake, base := startFake(t)
	fake.SetRateLimit(2)
	for i := range 3 {
		a := do(t, context.Background(), http.MethodPost, strings.Replace(base+okPath, "m1", "rl"+string(rune('a'+i)), 1), "Bearer t", `{"contentMessage":{"text":"Oi"}}`)
		if i < 2 && a.status != http.StatusOK {
			t.Fatalf("send %d: %d %s", i, a.status, a.raw)
		}
		if i == 2 && (a.status != http.StatusTooManyRequests || a.err.Status != "RESOURCE_EXHAUSTED") {
			t.Errorf("third send in a second: %d %s", a.status, a.raw)
		}
	}
}

func TestWebhookControlAPI(t *testing.T) {
	fake, base := startFake(t)
	h := newAgentHook(t)
	post := func(path, body string) int {
		resp, err := http.Post(base+"/_rbm"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, body := range map[string]string{
		"/webhook": `{"url":"` + h.url + `","client_token":"` + clientToken + `"}`,
	} {
		if status := post(path, body); status != http.StatusOK {
			t.Fatalf("%s: %d", path, status)
		}
	}
	if status := post("/receipts", `{"events":["READ"]}`); status != http.StatusOK {
		t.Fatalf("receipts: %d", status)
	}
	if status := post("/user-messages", `{"agent_id":"a@rbm.goog","from":"+5511900001111","suggestion":{"text":"Sim","postback_data":"yes"}}`); status != http.StatusOK {
		t.Fatalf("user message: %d", status)
	}
	do(t, context.Background(), http.MethodPost, base+okPath, "Bearer t", `{"contentMessage":{"text":"Oi"}}`)
	eventually(t, "the tap and the receipt", func() bool { return len(h.got()) == 2 })
	if h.got()[1]["eventType"] != "READ" {
		t.Errorf("events %v", h.got())
	}
	for path, body := range map[string]string{
		"/webhook":       `{"url":"http://x"}`,
		"/user-messages": `{"agent_id":"a","from":"5511","text":"x"}`,
		"/receipts":      `{"evnts":[]}`,
		"/nothing":       `{}`,
	} {
		if status := post(path, body); status < 400 || status > 499 {
			t.Errorf("%s %s: %d, want a 4xx", path, body, status)
		}
	}
	resp, err := http.Get(base + "/_rbm/pushes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ps []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil || len(ps) != 2 {
		t.Errorf("pushes: %v %v", ps, err)
	}
	if post("/reset", "") != http.StatusOK || len(fake.Pushes()) != 0 {
		t.Error("reset kept the pushes")
	}
}
