package graphapi_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/internal/testctx"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

const path = "/v21.0/106540352242922/messages"

func start(t *testing.T) (*graphapi.Server, string) {
	t.Helper()
	fake := graphapi.New()
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	t.Cleanup(fake.Close) // first: no callback outlives the test
	return fake, ts.URL
}

type answer struct {
	status int
	header http.Header
	json   map[string]any
	raw    string
}

func do(t *testing.T, ctx context.Context, method, url, auth, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.json)
	return a
}

func post(t *testing.T, url, body string) answer {
	t.Helper()
	return do(t, context.Background(), http.MethodPost, url+path, "Bearer tok", body)
}

// metaErr returns error.code and error.message of a Meta error answer, and
// checks the envelope has Meta's other fields.
func metaErr(t *testing.T, a answer) (float64, string) {
	t.Helper()
	e, ok := a.json["error"].(map[string]any)
	if !ok {
		t.Fatalf("answer %d %s is not a Meta error", a.status, a.raw)
	}
	if typ, _ := e["type"].(string); typ == "" {
		t.Errorf("error without type: %s", a.raw)
	}
	if tr, _ := e["fbtrace_id"].(string); tr == "" {
		t.Errorf("error without fbtrace_id: %s", a.raw)
	}
	code, _ := e["code"].(float64)
	msg, _ := e["message"].(string)
	return code, msg
}

func TestAcceptsAMessageLikeMeta(t *testing.T) {
	fake, url := start(t)
	body := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+55 11 98765-4321","type":"text","text":{"preview_url":false,"body":"hi"}}`
	a := post(t, url, body)
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Fatalf("answer = %d %s %s", a.status, a.header.Get("Content-Type"), a.raw)
	}
	msgs := a.json["messages"].([]any)
	id := msgs[0].(map[string]any)["id"].(string)
	if !strings.HasPrefix(id, "wamid.") {
		t.Errorf("id = %q", id)
	}
	want := map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{map[string]any{"input": "+55 11 98765-4321", "wa_id": "5511987654321"}},
		"messages":          []any{map[string]any{"id": id}},
	}
	if !reflect.DeepEqual(a.json, want) {
		t.Errorf("answer = %s", a.raw)
	}

	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != path || string(r.Body) != body || r.Header.Get("Authorization") != "Bearer tok" ||
		r.JSON["to"] != "+55 11 98765-4321" || r.Status != 200 || r.MessageID != id || r.Time.IsZero() {
		t.Errorf("recorded %+v", r)
	}
}

func TestTemplateAnswerHasMessageStatus(t *testing.T) {
	_, url := start(t)
	a := post(t, url, `{"messaging_product":"whatsapp","to":"5511987654321","type":"template",
		"template":{"name":"hello_world","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"x"}]}]}}`)
	if a.status != 200 {
		t.Fatalf("answer = %d %s", a.status, a.raw)
	}
	m := a.json["messages"].([]any)[0].(map[string]any)
	if m["message_status"] != "accepted" {
		t.Errorf("answer = %s", a.raw)
	}
}

func TestValidatesLikeMeta(t *testing.T) {
	cases := []struct {
		name, body, message string
	}{
		{"not JSON", `hello`, "(#100) The request body must be a JSON object"},
		{"no product", `{"to":"1","type":"text","text":{"body":"x"}}`, "(#100) The parameter messaging_product is required."},
		{"wrong product", `{"messaging_product":"sms","to":"1","type":"text","text":{"body":"x"}}`, `(#100) Param messaging_product must be one of {WHATSAPP} - got "sms".`},
		{"wrong recipient type", `{"messaging_product":"whatsapp","recipient_type":"crowd","to":"1","text":{"body":"x"}}`, `recipient_type must be one of`},
		{"no to", `{"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}`, "(#100) The parameter to is required."},
		{"unknown type", `{"messaging_product":"whatsapp","to":"1","type":"sticker","sticker":{"id":"1"}}`, `(#100) Param type must be one of {AUDIO, DOCUMENT, IMAGE, TEMPLATE, TEXT, VIDEO} - got "sticker".`},
		{"type without object", `{"messaging_product":"whatsapp","to":"1","type":"image"}`, "(#100) The parameter image is required."},
		{"default type is text", `{"messaging_product":"whatsapp","to":"1","image":{"link":"https://x/y.jpg"}}`, "(#100) The parameter text is required."},
		{"empty text", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":""}}`, "(#100) The parameter text['body'] is required."},
		{"preview_url string", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"x","preview_url":"no"}}`, "preview_url'] must be a boolean"},
		{"template without name", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"language":{"code":"en"}}}`, "template['name'] is required"},
		{"template without language", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"x"}}`, "template['language']['code'] is required"},
		{"template empty parameter", `{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"x","language":{"code":"en"},
			"components":[{"type":"body","parameters":[{"type":"text","text":""}]}]}}`, "['parameters'][0]['text'] is required"},
		{"media without link", `{"messaging_product":"whatsapp","to":"1","type":"video","video":{"caption":"c"}}`, "(#100) Param video must contain either id or link."},
		{"media bad link", `{"messaging_product":"whatsapp","to":"1","type":"image","image":{"link":"ftp://x/y"}}`, "image['link'] is not a valid URI"},
		{"caption on audio", `{"messaging_product":"whatsapp","to":"1","type":"audio","audio":{"link":"https://x/a.ogg","caption":"c"}}`, `(#100) Unexpected key "caption" on param "audio".`},
		{"filename on image", `{"messaging_product":"whatsapp","to":"1","type":"image","image":{"link":"https://x/a.jpg","filename":"a.jpg"}}`, `Unexpected key "filename" on param "image"`},
		{"empty caption", `{"messaging_product":"whatsapp","to":"1","type":"image","image":{"link":"https://x/a.jpg","caption":""}}`, `image['caption'] must be a non-empty string`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake, url := start(t)
			a := post(t, url, tc.body)
			if a.status != 400 {
				t.Fatalf("status = %d, want 400: %s", a.status, a.raw)
			}
			code, msg := metaErr(t, a)
			if code != 100 || !strings.Contains(msg, tc.message) {
				t.Errorf("error = %v %q, want 100 and %q", code, msg, tc.message)
			}
			if r := fake.Requests(); len(r) != 1 || r[0].Status != 400 || r[0].MessageID != "" {
				t.Errorf("recorded %+v", r)
			}
		})
	}
}

func TestAcceptsEveryMediaType(t *testing.T) {
	_, url := start(t)
	for _, body := range []string{
		`{"messaging_product":"whatsapp","to":"1","type":"image","image":{"link":"https://x/a.jpg","caption":"c"}}`,
		`{"messaging_product":"whatsapp","to":"1","type":"video","video":{"id":"123"}}`,
		`{"messaging_product":"whatsapp","to":"1","type":"document","document":{"link":"https://x/a.pdf","caption":"c","filename":"a.pdf"}}`,
		`{"messaging_product":"whatsapp","to":"1","type":"audio","audio":{"link":"https://x/a.ogg"}}`,
		`{"messaging_product":"whatsapp","to":"1","text":{"body":"type defaults to text"}}`,
	} {
		if a := post(t, url, body); a.status != 200 {
			t.Errorf("%s: %d %s", body, a.status, a.raw)
		}
	}
}

func TestAuthorization(t *testing.T) {
	fake, url := start(t)
	body := `{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`
	ctx := context.Background()

	for _, auth := range []string{"", "Bearer ", "Basic dXNlcjpwYXNz"} {
		a := do(t, ctx, "POST", url+path, auth, body)
		if a.status != 401 {
			t.Errorf("auth %q: status %d", auth, a.status)
		}
		metaErr(t, a)
	}
	if a := do(t, ctx, "POST", url+path, "Bearer anything", body); a.status != 200 {
		t.Errorf("any token before SetToken: %d %s", a.status, a.raw)
	}

	fake.SetToken("106540352242922", "right")
	a := do(t, ctx, "POST", url+path, "Bearer wrong", body)
	if code, msg := metaErr(t, a); a.status != 401 || code != 190 || msg != "Invalid OAuth access token - Cannot parse access token" {
		t.Errorf("wrong token: %d %s", a.status, a.raw)
	}
	if e := a.json["error"].(map[string]any); e["type"] != "OAuthException" {
		t.Errorf("type = %v", e["type"])
	}
	if a := do(t, ctx, "POST", url+path, "Bearer right", body); a.status != 200 {
		t.Errorf("right token: %d %s", a.status, a.raw)
	}
	if a := do(t, ctx, "POST", url+"/v21.0/999/messages", "Bearer other", body); a.status != 200 {
		t.Errorf("another phone number id: %d %s", a.status, a.raw)
	}

	fake.Reset()
	if a := do(t, ctx, "POST", url+path, "Bearer wrong", body); a.status != 200 {
		t.Errorf("after Reset: %d %s", a.status, a.raw)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("after Reset, %d requests recorded, want 1", n)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	_, url := start(t)
	ctx := context.Background()
	for _, p := range []string{"/106540352242922/messages", "/v21.0/106540352242922/media", "/v21/1/messages", "/"} {
		a := do(t, ctx, "POST", url+p, "Bearer t", `{}`)
		if code, _ := metaErr(t, a); a.status != 400 || code != 2500 {
			t.Errorf("%s: %d %s", p, a.status, a.raw)
		}
	}
	a := do(t, ctx, "GET", url+path, "Bearer t", "")
	if code, msg := metaErr(t, a); a.status != 400 || code != 100 || !strings.HasPrefix(msg, "Unsupported get request.") {
		t.Errorf("GET: %d %s", a.status, a.raw)
	}
}

func TestFailNext(t *testing.T) {
	fake, url := start(t)
	body := `{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`
	metaBody := graphapi.MetaError(131030, "OAuthException", "(#131030) Recipient phone number not in allowed list", "Add it to the list.")
	fake.FailNext(2, 400, metaBody)
	fake.FailNext(1, 503, []byte("<html>down</html>"))

	for i := range 2 {
		a := post(t, url, body)
		code, msg := metaErr(t, a)
		details := a.json["error"].(map[string]any)["error_data"].(map[string]any)["details"]
		if a.status != 400 || code != 131030 || msg != "(#131030) Recipient phone number not in allowed list" || details != "Add it to the list." {
			t.Errorf("request %d: %d %s", i, a.status, a.raw)
		}
	}
	if a := post(t, url, body); a.status != 503 || a.raw != "<html>down</html>" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Errorf("third: %d %q %s", a.status, a.raw, a.header.Get("Content-Type"))
	}
	if a := post(t, url, body); a.status != 200 {
		t.Errorf("fourth, after the programmed failures: %d %s", a.status, a.raw)
	}
	var statuses []int
	for _, r := range fake.Requests() {
		statuses = append(statuses, r.Status)
	}
	if !reflect.DeepEqual(statuses, []int{400, 400, 503, 200}) {
		t.Errorf("recorded statuses %v", statuses)
	}
}

func TestMetaErrorShape(t *testing.T) {
	var got map[string]map[string]any
	if err := json.Unmarshal(graphapi.MetaError(190, "OAuthException", "Invalid", ""), &got); err != nil {
		t.Fatal(err)
	}
	e := got["error"]
	if e["code"] != float64(190) || e["type"] != "OAuthException" || e["message"] != "Invalid" || e["fbtrace_id"] == "" {
		t.Errorf("error = %v", e)
	}
	if _, present := e["error_data"]; present {
		t.Errorf("error_data present without details: %v", e)
	}
}

func TestDelayEndsWhenTheClientLeaves(t *testing.T) {
	fake, url := start(t)
	fake.SetDelay(time.Hour) // were the delay not cut short, ts.Close in Cleanup would hang the test
	// The deadline passes once the fake holds the request.
	ctx := testctx.DeadlineWhen(func() bool { return len(fake.Requests()) > 0 })
	req, _ := http.NewRequestWithContext(ctx, "POST", url+path, strings.NewReader(`{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`))
	req.Header.Set("Authorization", "Bearer t")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer %d despite the delay", resp.StatusCode)
	}
	if r := fake.Requests(); len(r) != 1 || r[0].Status != 0 {
		t.Errorf("recorded %+v, want one unanswered request", r)
	}
}

func TestDelayThenAnswer(t *testing.T) {
	fake, url := start(t)
	fake.SetDelay(time.Millisecond)
	if a := post(t, url, `{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`); a.status != 200 {
		t.Errorf("%d %s", a.status, a.raw)
	}
}

func TestConcurrentUse(t *testing.T) {
	fake, url := start(t)
	fake.FailNext(5, 500, nil)
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			// t.Fatal is not allowed off the test goroutine, hence no post().
			req, _ := http.NewRequest("POST", url+path, strings.NewReader(`{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`))
			req.Header.Set("Authorization", "Bearer t")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var ok struct{ Messages []struct{ ID string } }
			if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&ok) == nil && len(ok.Messages) == 1 {
				ids <- ok.Messages[0].ID
			}
			fake.Requests()
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("duplicate id %s", id)
		}
		seen[id] = true
	}
	if len(seen) != 15 {
		t.Errorf("%d successes, want 15", len(seen))
	}
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestPushInbound(t *testing.T) {
	type got struct {
		method, contentType, signature string
		body                           []byte
	}
	gotc := make(chan got, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotc <- got{r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Hub-Signature-256"), b}
	}))
	defer receiver.Close()

	payload := graphapi.InboundText("106540352242922", "15550001111", "5511987654321", "Maria", "wamid.abc", "Oi!", time.Unix(1700000000, 0))
	resp, err := graphapi.PushInbound(context.Background(), receiver.URL+"/webhooks/whatsapp", "s3cret", payload)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	g := <-gotc
	if g.method != "POST" || g.contentType != "application/json" || string(g.body) != string(payload) {
		t.Errorf("received %s %q %s", g.method, g.contentType, g.body)
	}
	if want := "sha256=" + hmacHex("s3cret", g.body); g.signature != want {
		t.Errorf("signature = %q, want %q", g.signature, want)
	}
	if g.signature == "sha256="+hmacHex("other", g.body) {
		t.Error("signature does not depend on the secret")
	}
	if graphapi.Sign("s3cret", payload) != g.signature {
		t.Error("Sign disagrees with PushInbound")
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInboundText(t *testing.T) {
	got := decode(t, graphapi.InboundText("106540352242922", "15550001111", "5511987654321", "Maria", "wamid.abc", "Oi!", time.Unix(1700000000, 0)))
	want := decode(t, []byte(`{"object":"whatsapp_business_account","entry":[{"id":"`+graphapi.BusinessAccountID+`","changes":[{"value":{
		"messaging_product":"whatsapp",
		"metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},
		"contacts":[{"profile":{"name":"Maria"},"wa_id":"5511987654321"}],
		"messages":[{"from":"5511987654321","id":"wamid.abc","timestamp":"1700000000","type":"text","text":{"body":"Oi!"}}]},
		"field":"messages"}]}]}`))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestInboundImage(t *testing.T) {
	img := graphapi.Image{ID: "1479537139650973", MimeType: "image/jpeg", SHA256: "e5b8...", Caption: "look"}
	got := decode(t, graphapi.InboundImage("106540352242922", "15550001111", "5511987654321", "Maria", "wamid.img", img, time.Unix(1700000001, 0)))
	want := decode(t, []byte(`{"object":"whatsapp_business_account","entry":[{"id":"`+graphapi.BusinessAccountID+`","changes":[{"value":{
		"messaging_product":"whatsapp",
		"metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},
		"contacts":[{"profile":{"name":"Maria"},"wa_id":"5511987654321"}],
		"messages":[{"from":"5511987654321","id":"wamid.img","timestamp":"1700000001","type":"image",
			"image":{"caption":"look","mime_type":"image/jpeg","sha256":"e5b8...","id":"1479537139650973"}}]},
		"field":"messages"}]}]}`))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestStatusUpdate(t *testing.T) {
	got := decode(t, graphapi.StatusUpdate("106540352242922", "15550001111", "5511987654321", "wamid.abc", "delivered", time.Unix(1700000002, 0)))
	want := decode(t, []byte(`{"object":"whatsapp_business_account","entry":[{"id":"`+graphapi.BusinessAccountID+`","changes":[{"value":{
		"messaging_product":"whatsapp",
		"metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},
		"statuses":[{"id":"wamid.abc","status":"delivered","timestamp":"1700000002","recipient_id":"5511987654321"}]},
		"field":"messages"}]}]}`))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestVerifySubscription(t *testing.T) {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != "GET" || q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != "my token&more" || q.Get("org") != "7" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		io.WriteString(w, q.Get("hub.challenge"))
	}))
	defer receiver.Close()

	resp, err := graphapi.VerifySubscription(context.Background(), receiver.URL+"/hook?org=7", "my token&more", "1158201444")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "1158201444" {
		t.Errorf("answer %d %q", resp.StatusCode, b)
	}

	resp, err = graphapi.VerifySubscription(context.Background(), receiver.URL+"/hook?org=7", "wrong", "1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	lines := make(chan string, 10)
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	done := make(chan error, 1)
	go func() { done <- graphapi.Run(ctx, "127.0.0.1:0", pw) }()

	first := <-lines
	url, ok := strings.CutPrefix(first, "fake Meta Graph API listening on ")
	if !ok {
		t.Fatalf("first line %q", first)
	}
	a := do(t, context.Background(), "POST", url+path, "Bearer very-secret-token", `{"messaging_product":"whatsapp","to":"1","text":{"body":"x"}}`)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	line := <-lines
	if !strings.Contains(line, "POST "+path+" -> 200 OK") || strings.Contains(line, "very-secret-token") {
		t.Errorf("log line %q", line)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	pw.Close()
}
