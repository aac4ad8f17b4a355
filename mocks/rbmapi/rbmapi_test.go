package rbmapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/internal/testctx"
	"github.com/iagente/iagente-sdr/mocks/rbmapi"
)

const okPath = "/v1/phones/+5511999999999/agentMessages?messageId=m1&agentId=agent@rbm.goog"

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
	err    struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	}
}

func do(t *testing.T, ctx context.Context, method, url, auth, body string) answer {
	t.Helper()
	// Errorf, not Fatal: some tests call this from other goroutines.
	var a answer
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Errorf("request: %v", err)
		return a
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return a
	}
	defer resp.Body.Close()
	a.status, a.header = resp.StatusCode, resp.Header
	a.raw, _ = io.ReadAll(resp.Body)
	_ = json.Unmarshal(a.raw, &a.body)
	var e struct {
		Error *json.RawMessage `json:"error"`
	}
	if json.Unmarshal(a.raw, &e) == nil && e.Error != nil {
		_ = json.Unmarshal(*e.Error, &a.err)
	}
	return a
}

func post(t *testing.T, base, path, body string) answer {
	t.Helper()
	return do(t, context.Background(), http.MethodPost, base+path, "Bearer tok", body)
}

func start(t *testing.T) (*rbmapi.Server, string) {
	t.Helper()
	fake := rbmapi.New()
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	return fake, ts.URL
}

func TestAccepts(t *testing.T) {
	valid := []struct{ name, body string }{
		{"text", `{"contentMessage":{"text":"hi"}}`},
		{"text with chips", `{"contentMessage":{"text":"hi","suggestions":[
			{"reply":{"text":"Yes","postbackData":"yes"}},
			{"action":{"text":"Call","postbackData":"c","dialAction":{"phoneNumber":"+12223334444"}}},
			{"action":{"text":"Site","postbackData":"u","openUrlAction":{"url":"https://example.com"}}},
			{"action":{"text":"Map","postbackData":"l","viewLocationAction":{"latLong":{"latitude":-23.5,"longitude":-46.6},"label":"Here"}}},
			{"action":{"text":"Find","postbackData":"q","viewLocationAction":{"query":"Googleplex"}}},
			{"action":{"text":"Share","postbackData":"s","shareLocationAction":{}}},
			{"action":{"text":"Save","postbackData":"e","createCalendarEventAction":{"startTime":"2026-01-01T10:00:00Z","endTime":"2026-01-01T11:00:00Z","title":"Meet"}}}]}}`},
		{"file", `{"contentMessage":{"contentInfo":{"fileUrl":"https://example.com/a.png","forceRefresh":false}}}`},
		{"file with thumbnail", `{"contentMessage":{"contentInfo":{"fileUrl":"https://example.com/a.mp4","thumbnailUrl":"https://example.com/a.jpg"}}}`},
		{"standalone card", `{"contentMessage":{"richCard":{"standaloneCard":{"cardOrientation":"VERTICAL","cardContent":{"title":"t",
			"media":{"height":"MEDIUM","contentInfo":{"fileUrl":"https://example.com/a.png"}},
			"suggestions":[{"reply":{"text":"a","postbackData":"a"}}]}}}}}`},
		{"horizontal card", `{"contentMessage":{"richCard":{"standaloneCard":{"cardOrientation":"HORIZONTAL","thumbnailImageAlignment":"LEFT","cardContent":{"description":"d"}}}}}`},
		{"carousel of 2", `{"contentMessage":{"richCard":{"carouselCard":{"cardWidth":"SMALL","cardContents":[{"title":"a"},{"title":"b"}]}}}}`},
		{"carousel of 10", `{"contentMessage":{"richCard":{"carouselCard":{"cardWidth":"MEDIUM","cardContents":[` +
			strings.TrimSuffix(strings.Repeat(`{"title":"x"},`, 10), ",") + `]}}}}`},
		{"traffic type and ttl", `{"contentMessage":{"text":"hi"},"messageTrafficType":"TRANSACTION","ttl":"3600s"}`},
		{"suggestion text of 25 multi-byte characters", `{"contentMessage":{"text":"hi","suggestions":[{"reply":{"text":"ããããããããããããããããããããããããã","postbackData":"a"}}]}}`},
		{"null fields are unset", `{"contentMessage":{"text":"hi","richCard":null}}`},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			_, base := start(t)
			a := post(t, base, okPath, tt.body)
			if a.status != 200 {
				t.Fatalf("status %d: %s", a.status, a.raw)
			}
			if a.body["name"] != "phones/+5511999999999/agentMessages/m1" {
				t.Errorf("name = %v", a.body["name"])
			}
			st, _ := a.body["sendTime"].(string)
			if ts, err := time.Parse(time.RFC3339Nano, st); err != nil || ts.Location() != time.UTC || !strings.HasSuffix(st, "Z") {
				t.Errorf("sendTime = %q (%v)", st, err)
			}
			var sent map[string]any
			_ = json.Unmarshal([]byte(tt.body), &sent)
			if !jsonEqual(a.body["contentMessage"], sent["contentMessage"]) {
				t.Errorf("contentMessage not echoed: %s", a.raw)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestRejects(t *testing.T) {
	card := func(content string) string {
		return `{"contentMessage":{"richCard":{"standaloneCard":{"cardOrientation":"VERTICAL","cardContent":` + content + `}}}}`
	}
	chip := func(s string) string { return `{"contentMessage":{"text":"hi","suggestions":[` + s + `]}}` }
	tests := []struct{ name, path, body, want string }{
		{"no messageId", "/v1/phones/+5511999999999/agentMessages?agentId=a", `{"contentMessage":{"text":"hi"}}`, "messageId"},
		{"no agentId", "/v1/phones/+5511999999999/agentMessages?messageId=m1", `{"contentMessage":{"text":"hi"}}`, "agentId"},
		{"msisdn without +", "/v1/phones/5511999999999/agentMessages?messageId=m1&agentId=a", `{"contentMessage":{"text":"hi"}}`, "E.164"},
		{"msisdn with letters", "/v1/phones/+55119abc/agentMessages?messageId=m1&agentId=a", `{"contentMessage":{"text":"hi"}}`, "E.164"},
		{"msisdn with a space (a + decoded as one)", "/v1/phones/%205511999999999/agentMessages?messageId=m1&agentId=a", `{"contentMessage":{"text":"hi"}}`, "E.164"},
		{"not JSON", okPath, `text=hi`, "Invalid JSON payload"},
		{"JSON array", okPath, `[]`, "Invalid JSON payload"},
		{"no contentMessage", okPath, `{}`, "content_message"},
		{"unknown top-level field", okPath, `{"contentMessage":{"text":"hi"},"to":"+1"}`, `Unknown name "to" at 'agent_message'`},
		{"unknown content field", okPath, `{"contentMessage":{"text":"hi","image":"x"}}`, `Unknown name "image" at 'agent_message.content_message'`},
		{"empty content", okPath, `{"contentMessage":{}}`, "must set one of"},
		{"empty text", okPath, `{"contentMessage":{"text":""}}`, "text"},
		{"text and richCard", okPath, `{"contentMessage":{"text":"hi","richCard":{"carouselCard":{}}}}`, "more than one"},
		{"text and contentInfo", okPath, `{"contentMessage":{"text":"hi","contentInfo":{"fileUrl":"https://e.com/a"}}}`, "more than one"},
		{"text not a string", okPath, `{"contentMessage":{"text":5}}`, "Invalid value at 'agent_message.content_message.text' (TYPE_STRING), 5"},
		{"text too long", okPath, `{"contentMessage":{"text":"` + strings.Repeat("a", 3073) + `"}}`, "too long"},
		{"suggestions with a file", okPath, `{"contentMessage":{"contentInfo":{"fileUrl":"https://e.com/a"},"suggestions":[{"reply":{"text":"a","postbackData":"a"}}]}}`, "only allowed with a text"},
		{"suggestions beside a card", okPath, `{"contentMessage":{"richCard":{"standaloneCard":{"cardOrientation":"VERTICAL","cardContent":{"title":"t"}}},"suggestions":[{"reply":{"text":"a","postbackData":"a"}}]}}`, "only allowed with a text"},
		{"12 chips", okPath, chip(strings.TrimSuffix(strings.Repeat(`{"reply":{"text":"a","postbackData":"a"}},`, 12), ",")), "maximum 11"},
		{"file without url", okPath, `{"contentMessage":{"contentInfo":{"forceRefresh":false}}}`, "file_url"},
		{"file url not http", okPath, `{"contentMessage":{"contentInfo":{"fileUrl":"ftp://e.com/a"}}}`, "http"},
		{"forceRefresh not bool", okPath, `{"contentMessage":{"contentInfo":{"fileUrl":"https://e.com/a","forceRefresh":"no"}}}`, "TYPE_BOOL"},
		{"rich card with both kinds", okPath, `{"contentMessage":{"richCard":{"standaloneCard":{},"carouselCard":{}}}}`, "more than one"},
		{"card without orientation", okPath, `{"contentMessage":{"richCard":{"standaloneCard":{"cardContent":{"title":"t"}}}}}`, "card_orientation"},
		{"card with bad orientation", okPath, `{"contentMessage":{"richCard":{"standaloneCard":{"cardOrientation":"DIAGONAL","cardContent":{"title":"t"}}}}}`, `"DIAGONAL"`},
		{"card without content", okPath, `{"contentMessage":{"richCard":{"standaloneCard":{"cardOrientation":"VERTICAL"}}}}`, "card_content"},
		{"card content empty", okPath, card(`{}`), "at least one of title, description, media"},
		{"card content with only suggestions", okPath, card(`{"suggestions":[{"reply":{"text":"a","postbackData":"a"}}]}`), "at least one of"},
		{"card title too long", okPath, card(`{"title":"` + strings.Repeat("t", 201) + `"}`), "too long"},
		{"card with 5 suggestions", okPath, card(`{"title":"t","suggestions":[` + strings.TrimSuffix(strings.Repeat(`{"reply":{"text":"a","postbackData":"a"}},`, 5), ",") + `]}`), "maximum 4"},
		{"media without height", okPath, card(`{"media":{"contentInfo":{"fileUrl":"https://e.com/a"}}}`), "height"},
		{"media without file", okPath, card(`{"media":{"height":"TALL"}}`), "must set one of"},
		{"media with a bare fileUrl", okPath, card(`{"media":{"height":"TALL","fileUrl":"https://e.com/a"}}`), `Unknown name "fileUrl"`},
		{"carousel of 1", okPath, `{"contentMessage":{"richCard":{"carouselCard":{"cardWidth":"MEDIUM","cardContents":[{"title":"a"}]}}}}`, "between 2 and 10"},
		{"carousel of 11", okPath, `{"contentMessage":{"richCard":{"carouselCard":{"cardWidth":"MEDIUM","cardContents":[` +
			strings.TrimSuffix(strings.Repeat(`{"title":"x"},`, 11), ",") + `]}}}}`, "between 2 and 10"},
		{"carousel without width", okPath, `{"contentMessage":{"richCard":{"carouselCard":{"cardContents":[{"title":"a"},{"title":"b"}]}}}}`, "card_width"},
		{"carousel with LARGE width", okPath, `{"contentMessage":{"richCard":{"carouselCard":{"cardWidth":"LARGE","cardContents":[{"title":"a"},{"title":"b"}]}}}}`, "CardWidth"},
		{"carousel with an empty card", okPath, `{"contentMessage":{"richCard":{"carouselCard":{"cardWidth":"SMALL","cardContents":[{"title":"a"},{}]}}}}`, "card_contents[1]"},
		{"suggestion both reply and action", okPath, chip(`{"reply":{"text":"a"},"action":{"text":"b","shareLocationAction":{}}}`), "more than one"},
		{"suggestion text too long", okPath, chip(`{"reply":{"text":"` + strings.Repeat("a", 26) + `","postbackData":"a"}}`), "maximum 25"},
		{"suggestion without text", okPath, chip(`{"reply":{"postbackData":"a"}}`), "text"},
		{"postbackData too long", okPath, chip(`{"reply":{"text":"a","postbackData":"` + strings.Repeat("p", 2049) + `"}}`), "maximum 2048"},
		{"wrong casing of postbackData", okPath, chip(`{"reply":{"text":"a","postBackData":"a"}}`), `Unknown name "postBackData"`},
		{"action without action", okPath, chip(`{"action":{"text":"a","postbackData":"a"}}`), "must set one of"},
		{"action with two actions", okPath, chip(`{"action":{"text":"a","dialAction":{"phoneNumber":"+1222"},"openUrlAction":{"url":"https://e.com"}}}`), "more than one"},
		{"dial without +", okPath, chip(`{"action":{"text":"a","dialAction":{"phoneNumber":"12223334444"}}}`), "E.164"},
		{"open url without url", okPath, chip(`{"action":{"text":"a","openUrlAction":{}}}`), "url"},
		{"view location without place", okPath, chip(`{"action":{"text":"a","viewLocationAction":{"label":"x"}}}`), "lat_long or query"},
		{"latitude out of range", okPath, chip(`{"action":{"text":"a","viewLocationAction":{"latLong":{"latitude":91,"longitude":0}}}}`), "latitude"},
		{"latitude as string", okPath, chip(`{"action":{"text":"a","viewLocationAction":{"latLong":{"latitude":"1","longitude":0}}}}`), "TYPE_DOUBLE"},
		{"ttl and expireTime", okPath, `{"contentMessage":{"text":"hi"},"ttl":"10s","expireTime":"2030-01-01T00:00:00Z"}`, "more than one"},
		{"bad traffic type", okPath, `{"contentMessage":{"text":"hi"},"messageTrafficType":"SPAM"}`, "MessageTrafficType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, base := start(t)
			a := post(t, base, tt.path, tt.body)
			if a.status != 400 || a.err.Code != 400 || a.err.Status != "INVALID_ARGUMENT" {
				t.Fatalf("got %d %s", a.status, a.raw)
			}
			if !strings.Contains(a.err.Message, tt.want) {
				t.Errorf("message %q does not contain %q", a.err.Message, tt.want)
			}
			if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			// A refused message does not burn its id.
			if a := post(t, base, okPath, `{"contentMessage":{"text":"hi"}}`); a.status != 200 {
				t.Errorf("valid retry after refusal: %d %s", a.status, a.raw)
			}
			if n := len(fake.Requests()); n != 2 {
				t.Errorf("recorded %d requests, want 2", n)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	const body = `{"contentMessage":{"text":"hi"}}`
	for _, tt := range []struct {
		name, want, auth string
		code             int
	}{
		{"none", "", "", 401},
		{"empty bearer", "", "Bearer ", 401},
		{"basic", "", "Basic dXNlcjpwYXNz", 401},
		{"any bearer", "", "Bearer whatever", 200},
		{"right token", "s3cret", "Bearer s3cret", 200},
		{"wrong token", "s3cret", "Bearer other", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fake, base := start(t)
			fake.SetToken(tt.want)
			a := do(t, context.Background(), http.MethodPost, base+okPath, tt.auth, body)
			if a.status != tt.code {
				t.Fatalf("status %d, want %d: %s", a.status, tt.code, a.raw)
			}
			if tt.code == 401 {
				if a.err.Code != 401 || a.err.Status != "UNAUTHENTICATED" || !strings.HasPrefix(a.err.Message, "Request had invalid authentication credentials") {
					t.Errorf("body %s", a.raw)
				}
				if a.header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate")
				}
			}
		})
	}
}

func TestUnauthenticatedBeforeValidation(t *testing.T) {
	fake, base := start(t)
	fake.SetToken("s3cret")
	a := do(t, context.Background(), http.MethodPost, base+"/v1/phones/bad/agentMessages", "Bearer nope", `{}`)
	if a.status != 401 {
		t.Errorf("status %d, want 401", a.status)
	}
}

func TestDuplicateMessageID(t *testing.T) {
	_, base := start(t)
	const body = `{"contentMessage":{"text":"hi"}}`
	if a := post(t, base, okPath, body); a.status != 200 {
		t.Fatalf("first: %d %s", a.status, a.raw)
	}
	a := post(t, base, okPath, body)
	if a.status != 409 || a.err.Code != 409 || a.err.Status != "ALREADY_EXISTS" || !strings.Contains(a.err.Message, "m1") {
		t.Errorf("second: %d %s", a.status, a.raw)
	}
	// Even to another number: the id belongs to the agent.
	if a := post(t, base, "/v1/phones/+12223334444/agentMessages?messageId=m1&agentId=agent@rbm.goog", body); a.status != 409 {
		t.Errorf("other number: %d %s", a.status, a.raw)
	}
	// Another agent has its own ids.
	if a := post(t, base, "/v1/phones/+5511999999999/agentMessages?messageId=m1&agentId=other@rbm.goog", body); a.status != 200 {
		t.Errorf("other agent: %d %s", a.status, a.raw)
	}
}

func TestDuplicateMessageIDConcurrent(t *testing.T) {
	fake, base := start(t)
	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			codes <- post(t, base, okPath, `{"contentMessage":{"text":"hi"}}`).status
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[200] != 1 || count[409] != n-1 {
		t.Errorf("statuses %v, want one 200 and %d 409", count, n-1)
	}
	if len(fake.Requests()) != n {
		t.Errorf("recorded %d requests", len(fake.Requests()))
	}
}

func TestUnreachable(t *testing.T) {
	fake, base := start(t)
	fake.SetUnreachable("+5511999999999")
	const body = `{"contentMessage":{"text":"hi"}}`
	a := post(t, base, okPath, body)
	if a.status != 404 || a.err.Code != 404 || a.err.Status != "NOT_FOUND" || a.err.Message != "Requested entity was not found." {
		t.Errorf("got %d %s", a.status, a.raw)
	}
	// The message was not sent, so its id is free for another number.
	if a := post(t, base, "/v1/phones/+12223334444/agentMessages?messageId=m1&agentId=agent@rbm.goog", body); a.status != 200 {
		t.Errorf("other number: %d %s", a.status, a.raw)
	}
	// Validation comes first.
	if a := post(t, base, "/v1/phones/+5511999999999/agentMessages?messageId=m2&agentId=a", `{}`); a.status != 400 {
		t.Errorf("invalid to unreachable: %d", a.status)
	}
}

func TestRecordsRequests(t *testing.T) {
	fake, base := start(t)
	body := `{"contentMessage":{"text":"olá"}}`
	post(t, base, okPath, body)
	post(t, base, okPath, `not json`)
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/phones/+5511999999999/agentMessages" || r.RequestURI != okPath ||
		r.Query.Get("messageId") != "m1" || r.Query.Get("agentId") != "agent@rbm.goog" ||
		r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" ||
		string(r.Body) != body || r.JSON["contentMessage"].(map[string]any)["text"] != "olá" {
		t.Errorf("recorded %+v", r)
	}
	if _, ok := r.JSON["name"]; ok {
		t.Error("the recorded body has the answer's fields")
	}
	if reqs[1].JSON != nil || string(reqs[1].Body) != "not json" {
		t.Errorf("recorded %+v", reqs[1])
	}
	fake.Reset()
	if len(fake.Requests()) != 0 {
		t.Error("Reset kept requests")
	}
	// Reset forgot the id too.
	if a := post(t, base, okPath, body); a.status != 200 {
		t.Errorf("after Reset: %d %s", a.status, a.raw)
	}
}

func TestResetForgetsSettings(t *testing.T) {
	fake, base := start(t)
	fake.SetToken("s3cret")
	fake.SetUnreachable("+5511999999999")
	fake.FailNextServerError(5)
	fake.Reset()
	if a := post(t, base, okPath, `{"contentMessage":{"text":"hi"}}`); a.status != 200 {
		t.Errorf("after Reset: %d %s", a.status, a.raw)
	}
}

func TestFailNext(t *testing.T) {
	fake, base := start(t)
	fake.FailNext(2, 503, rbmapi.GoogleError(503, "UNAVAILABLE", "The service is currently unavailable."))
	fake.FailNext(1, 502, []byte("<html><body>502 Bad Gateway</body></html>"))
	const body = `{"contentMessage":{"text":"hi"}}`
	for i := range 2 {
		a := post(t, base, okPath, body)
		if a.status != 503 || a.err.Status != "UNAVAILABLE" || a.err.Code != 503 {
			t.Errorf("request %d: %d %s", i, a.status, a.raw)
		}
	}
	a := post(t, base, okPath, body)
	if a.status != 502 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !strings.Contains(string(a.raw), "Bad Gateway") {
		t.Errorf("third: %d %s %s", a.status, a.header.Get("Content-Type"), a.raw)
	}
	// Failures neither check the request nor burn the id.
	if a := post(t, base, okPath, body); a.status != 200 {
		t.Errorf("after failures: %d %s", a.status, a.raw)
	}
	fake.FailNextServerError(1)
	a = post(t, base, okPath, body)
	if a.status != 500 || a.err.Status != "INTERNAL" {
		t.Errorf("server error: %d %s", a.status, a.raw)
	}
	if n := len(fake.Requests()); n != 5 {
		t.Errorf("recorded %d requests, want 5", n)
	}
}

func TestGoogleError(t *testing.T) {
	got := string(rbmapi.GoogleError(404, "NOT_FOUND", `Requested "entity" was not found.`))
	want := `{"error":{"code":404,"message":"Requested \"entity\" was not found.","status":"NOT_FOUND"}}`
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestDelayHonoursCancellation(t *testing.T) {
	fake := rbmapi.New()
	ts := httptest.NewServer(fake)
	fake.SetDelay(time.Hour)
	// The deadline passes once the fake holds the request.
	ctx := testctx.DeadlineWhen(func() bool { return len(fake.Requests()) > 0 })
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+okPath, strings.NewReader(`{"contentMessage":{"text":"hi"}}`))
	req.Header.Set("Authorization", "Bearer tok")
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	// Close waits for running handlers: were the delay not cut short by
	// the client going away, this would hang for an hour.
	ts.Close()
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("recorded %d requests", n)
	}
}

func TestDelayThenAnswer(t *testing.T) {
	fake, base := start(t)
	fake.SetDelay(time.Millisecond)
	if a := post(t, base, okPath, `{"contentMessage":{"text":"hi"}}`); a.status != 200 {
		t.Errorf("%d %s", a.status, a.raw)
	}
}

func TestOtherRoutes(t *testing.T) {
	_, base := start(t)
	for _, tt := range []struct{ method, path string }{
		{"GET", okPath},
		{"POST", "/v1/phones/+5511999999999/agentEvents?eventId=e&agentId=a"},
		{"POST", "/v2/phones/+5511999999999/agentMessages?messageId=m1&agentId=a"},
	} {
		a := do(t, context.Background(), tt.method, base+tt.path, "Bearer tok", `{}`)
		if a.status != 404 || a.err.Status != "NOT_FOUND" {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, a.status, a.raw)
		}
	}
}

func TestConcurrentSends(t *testing.T) {
	fake, base := start(t)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			path := "/v1/phones/+5511999999999/agentMessages?agentId=a&messageId=m" + string(rune('A'+i))
			if a := post(t, base, path, `{"contentMessage":{"text":"hi"}}`); a.status != 200 {
				t.Errorf("%d %s", a.status, a.raw)
			}
			fake.Requests()
		})
	}
	wg.Wait()
	if got := len(fake.Requests()); got != n {
		t.Errorf("recorded %d requests, want %d", got, n)
	}
}

// syncBuffer is a log the server and the test share.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		b.lines <- sc.Text()
	}
	return len(p), nil
}

func TestRun(t *testing.T) {
	log := &syncBuffer{lines: make(chan string, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rbmapi.Run(ctx, "127.0.0.1:0", log) }()

	first := <-log.lines
	m := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(first)
	if m == nil {
		cancel()
		t.Fatalf("first log line %q", first)
	}
	const secret = "Bearer very-secret-token"
	a := do(t, context.Background(), http.MethodPost, m[1]+okPath, secret, `{"contentMessage":{"text":"hi"}}`)
	if a.status != 200 {
		t.Errorf("status %d: %s", a.status, a.raw)
	}
	line := <-log.lines
	if !strings.Contains(line, "POST "+okPath+" 200") {
		t.Errorf("request log line %q", line)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	log.mu.Lock()
	all := log.buf.String()
	log.mu.Unlock()
	if strings.Contains(all, "very-secret-token") {
		t.Errorf("log has the token:\n%s", all)
	}
}

func TestRunBadAddress(t *testing.T) {
	if err := rbmapi.Run(context.Background(), "127.0.0.1:-1", io.Discard); err == nil {
		t.Error("no error for a bad address")
	}
}
