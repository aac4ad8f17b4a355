package graphapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

const (
	phoneID   = "106540352242922"
	appSecret = "segredo-do-app"
	contact   = "5511987654321"
)

// hook is an app's webhook endpoint: it checks Meta's signature with its
// own code and keeps what it got.
type hook struct {
	mu   sync.Mutex
	got  []map[string]any
	bad  int
	srv  *httptest.Server
	code int
}

func newHook(t *testing.T) *hook {
	h := &hook{code: http.StatusOK}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.Header.Get("X-Hub-Signature-256") != graphapi.Sign(appSecret, body) {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		h.got = append(h.got, m)
		w.WriteHeader(h.code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// statuses are the statuses received so far: state, wamid, reference and
// error code of each.
func (h *hook) statuses() [][4]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][4]string
	for _, m := range h.got {
		for _, e := range m["entry"].([]any) {
			for _, c := range e.(map[string]any)["changes"].([]any) {
				v := c.(map[string]any)["value"].(map[string]any)
				sts, _ := v["statuses"].([]any)
				for _, s := range sts {
					st := s.(map[string]any)
					code := ""
					if errs, ok := st["errors"].([]any); ok {
						code = jsonText(errs[0].(map[string]any)["code"])
					}
					ref, _ := st["biz_opaque_callback_data"].(string)
					out = append(out, [4]string{st["status"].(string), st["id"].(string), ref, code})
				}
			}
		}
	}
	return out
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func send(t *testing.T, base, body string) answer {
	t.Helper()
	return do(t, context.Background(), http.MethodPost, base+"/v21.0/"+phoneID+"/messages", "Bearer token", body)
}

func textTo(to, ref string) string {
	return `{"messaging_product":"whatsapp","to":"` + to + `","biz_opaque_callback_data":"` + ref + `","type":"text","text":{"body":"Oi"}}`
}

const template = `{"messaging_product":"whatsapp","to":"` + contact + `","type":"template","template":{"name":"boas_vindas","language":{"code":"pt_BR"}}}`

func TestStatusCallbacks(t *testing.T) {
	for _, tt := range []struct {
		name  string
		steps []string
		err   graphapi.Error
		want  []string
		code  string
	}{
		{"in order", nil, graphapi.Error{}, []string{"sent", "delivered", "read"}, ""},
		{"out of order", []string{"read", "sent", "delivered"}, graphapi.Error{}, []string{"read", "sent", "delivered"}, ""},
		{"delivered skipped", []string{"sent", "read"}, graphapi.Error{}, []string{"sent", "read"}, ""},
		{"twice", []string{"sent", "sent", "delivered", "delivered"}, graphapi.Error{}, []string{"sent", "sent", "delivered", "delivered"}, ""},
		{"failed after sent", []string{"sent", "failed"}, graphapi.Error{}, []string{"sent", "failed"}, "131026"},
		{"failed with a chosen error", []string{"failed"}, graphapi.Error{Code: 131049, Title: "Ecosystem engagement"},
			[]string{"failed"}, "131049"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake, base := start(t)
			h := newHook(t)
			fake.SetCallback(h.srv.URL, appSecret)
			fake.ContactWrote(phoneID, contact, time.Now())
			if tt.steps != nil {
				fake.SetStatusScript(graphapi.StatusScript{Steps: tt.steps, Error: tt.err})
			}
			a := send(t, base, textTo(contact, "iagente-7"))
			if a.status != http.StatusOK {
				t.Fatalf("send: %d %s", a.status, a.raw)
			}
			wamid := fake.Requests()[0].MessageID
			waitFor(t, "the callbacks", func() bool { return len(h.statuses()) == len(tt.want) })
			var states []string
			for _, st := range h.statuses() {
				states = append(states, st[0])
				if st[1] != wamid || st[2] != "iagente-7" {
					t.Errorf("status %v: want the wamid %s and the reference echoed", st, wamid)
				}
				if st[0] == "failed" && st[3] != tt.code {
					t.Errorf("failed with code %s, want %s", st[3], tt.code)
				}
			}
			if !slices.Equal(states, tt.want) {
				t.Errorf("statuses %v, want %v", states, tt.want)
			}
			waitFor(t, "the recorded answers", func() bool {
				for _, cb := range fake.Callbacks() {
					if cb.Status != http.StatusOK {
						return false
					}
				}
				return true
			})
		})
	}
}

func TestWindowEnforced(t *testing.T) {
	fake, base := start(t)
	h := newHook(t)
	fake.SetCallback(h.srv.URL, appSecret)
	fake.SetStatusScript(graphapi.StatusScript{Steps: []string{"sent"}})

	// Never wrote: accepted, then failed with 131047, as Meta does.
	if a := send(t, base, textTo(contact, "iagente-1")); a.status != http.StatusOK {
		t.Fatalf("send: %d %s", a.status, a.raw)
	}
	waitFor(t, "the failure", func() bool { return len(h.statuses()) == 1 })
	if st := h.statuses()[0]; st[0] != "failed" || st[3] != "131047" {
		t.Errorf("outside the window: %v, want failed 131047", st)
	}
	// A template is always allowed.
	send(t, base, template)
	waitFor(t, "the template's status", func() bool { return len(h.statuses()) == 2 })
	if st := h.statuses()[1]; st[0] != "sent" {
		t.Errorf("template outside the window: %v, want sent", st)
	}
	// Wrote 25 hours ago: still closed. Wrote now (through the fake, which
	// posts the inbound webhook too): open.
	fake.ContactWrote(phoneID, contact, time.Now().Add(-25*time.Hour))
	send(t, base, textTo(contact, "iagente-2"))
	waitFor(t, "the second failure", func() bool { return len(h.statuses()) == 3 })
	if st := h.statuses()[2]; st[0] != "failed" || st[3] != "131047" {
		t.Errorf("25 hours after: %v", st)
	}
	status, err := fake.PushInboundText(context.Background(), phoneID, contact, "Maria", "wamid.in1", "Oi!", time.Now())
	if err != nil || status != http.StatusOK {
		t.Fatalf("PushInboundText = %d, %v", status, err)
	}
	send(t, base, textTo(contact, "iagente-3"))
	waitFor(t, "the status inside the window", func() bool { return len(h.statuses()) == 4 })
	if st := h.statuses()[3]; st[0] != "sent" {
		t.Errorf("inside the window: %v", st)
	}
	if h.bad != 0 {
		t.Errorf("%d callbacks were not signed with the app secret", h.bad)
	}
}

func TestThroughput(t *testing.T) {
	fake, base := start(t)
	fake.SetThroughput(2)
	for i := range 3 {
		a := send(t, base, template)
		if i < 2 && a.status != http.StatusOK {
			t.Fatalf("send %d: %d %s", i, a.status, a.raw)
		}
		if i == 2 {
			e, _ := a.json["error"].(map[string]any)
			if a.status != http.StatusBadRequest || e["code"] != float64(130429) || !strings.Contains(a.raw, "throughput") {
				t.Errorf("third send in a second: %d %s, want 400 with 130429", a.status, a.raw)
			}
		}
	}
	fake.SetThroughput(0)
	if a := send(t, base, template); a.status != http.StatusOK {
		t.Errorf("unlimited: %d", a.status)
	}
}

func listPage(t *testing.T, base, waba, after string) (names []string, next, cursor string) {
	t.Helper()
	u := base + "/v21.0/" + waba + "/message_templates?fields=name,status&limit=3"
	if after != "" {
		u += "&after=" + after
	}
	a := do(t, context.Background(), http.MethodGet, u, "Bearer token", "")
	if a.status != http.StatusOK {
		t.Fatalf("list: %d %s", a.status, a.raw)
	}
	var page struct {
		Data []struct {
			Name       string `json:"name"`
			Components []any  `json:"components"`
		} `json:"data"`
		Paging struct {
			Cursors struct {
				After string `json:"after"`
			} `json:"cursors"`
			Next string `json:"next"`
		} `json:"paging"`
	}
	if err := json.Unmarshal([]byte(a.raw), &page); err != nil {
		t.Fatal(err)
	}
	for _, d := range page.Data {
		names = append(names, d.Name)
		if len(d.Components) == 0 {
			t.Errorf("%s has no components", d.Name)
		}
	}
	return names, page.Paging.Next, page.Paging.Cursors.After
}

func TestTemplateListing(t *testing.T) {
	fake, base := start(t)
	fake.SetTemplates("111", graphapi.SampleTemplates())
	var all []string
	after := ""
	for pages := 1; ; pages++ {
		names, next, cursor := listPage(t, base, "111", after)
		all = append(all, names...)
		if next == "" {
			break
		}
		if !strings.Contains(next, "after="+cursor) || pages > 10 {
			t.Fatalf("next %q does not carry the after cursor %q", next, cursor)
		}
		after = cursor
	}
	if len(all) != len(graphapi.SampleTemplates()) {
		t.Errorf("listed %d templates over the pages, want %d: %v", len(all), len(graphapi.SampleTemplates()), all)
	}
	if names, _, _ := listPage(t, base, "999", ""); len(names) != 0 {
		t.Errorf("an account without templates lists %v", names)
	}
	fake.SetPaging("111", graphapi.Paging{Endless: true})
	after = ""
	for range 10 {
		_, next, cursor := listPage(t, base, "111", after)
		if next == "" || cursor == after {
			t.Fatalf("endless paging stopped or stalled: next %q cursor %q", next, cursor)
		}
		after = cursor
	}
	fake.SetToken("111", "the-token")
	if a := do(t, context.Background(), http.MethodGet, base+"/v21.0/111/message_templates", "Bearer other", ""); a.status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", a.status)
	}
}

func control(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The control API does over HTTP what the Go methods do.
func TestControlAPI(t *testing.T) {
	fake, base := start(t)
	h := newHook(t)
	c := base + "/_graphapi"
	for _, step := range []struct{ method, path, body string }{
		{http.MethodPost, "/callback", `{"url":"` + h.srv.URL + `","app_secret":"` + appSecret + `"}`},
		{http.MethodPost, "/statuses", `{"steps":["read","delivered"],"delay_ms":1}`},
		{http.MethodPost, "/inbound", `{"phone_number_id":"` + phoneID + `","from":"` + contact + `","name":"Ana","text":"Oi"}`},
		{http.MethodPut, "/templates/111", `[{"id":"1","name":"boas_vindas","language":"pt_BR","category":"UTILITY","status":"APPROVED","components":[{"type":"BODY","text":"Ola {{1}}"}]}]`},
		{http.MethodPost, "/templates/111/paging", `{"page_size":1}`},
		{http.MethodPost, "/throughput", `{"per_second":100}`},
	} {
		if status, body := control(t, step.method, c+step.path, step.body); status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", step.method, step.path, status, body)
		}
	}
	if a := send(t, base, textTo(contact, "iagente-9")); a.status != http.StatusOK {
		t.Fatalf("send: %d %s", a.status, a.raw)
	}
	waitFor(t, "the inbound and two statuses", func() bool { return len(h.statuses()) == 2 })
	if st := h.statuses(); st[0][0] != "read" || st[1][0] != "delivered" {
		t.Errorf("statuses %v, want read then delivered", st)
	}
	status, body := control(t, http.MethodGet, c+"/callbacks", "")
	var cbs []map[string]any
	if err := json.Unmarshal([]byte(body), &cbs); status != http.StatusOK || err != nil || len(cbs) != 3 || cbs[0]["kind"] != "inbound" {
		t.Errorf("callbacks: %d %s", status, body)
	}
	status, body = control(t, http.MethodGet, c+"/requests", "")
	if status != http.StatusOK || strings.Contains(body, "Bearer") || !strings.Contains(body, "iagente-9") {
		t.Errorf("requests: %d %s", status, body)
	}
	if names, _, _ := listPage(t, base, "111", ""); len(names) != 1 || names[0] != "boas_vindas" {
		t.Errorf("templates set over HTTP list as %v", names)
	}
	for _, bad := range []struct{ path, body string }{
		{"/statuses", `{"stepz":["sent"]}`},
		{"/callback", `{"url":"http://x"}`},
		{"/delay", `{"delay_ms":-1}`},
		{"/inbound", `{"phone_number_id":"1","from":"+55","text":"x"}`},
		{"/nothing", `{}`},
	} {
		if status, body := control(t, http.MethodPost, c+bad.path, bad.body); status < 400 || status > 499 {
			t.Errorf("POST %s %s: %d %s, want a 4xx", bad.path, bad.body, status, body)
		}
	}
	if status, _ := control(t, http.MethodPost, c+"/reset", ""); status != http.StatusOK || len(fake.Callbacks()) != 0 {
		t.Errorf("reset: %d, %d callbacks left", status, len(fake.Callbacks()))
	}
}
