package webhookreceiver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/internal/testctx"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

// deliverTo is deliver on another path of the receiver.
func deliverTo(t *testing.T, h http.Handler, p string, d delivery) answer {
	t.Helper()
	return serve(h, d.request(t, "http://receiver.test"+p))
}

func TestAttemptLogKeepsEveryAttempt(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	id := newMsgID()
	good := delivery{event: "lead.created", id: id, body: leadCreated, signWith: []string{secret}}
	before := time.Now()

	rcv.FailNext(1, http.StatusServiceUnavailable)
	wantStatus := []int{http.StatusServiceUnavailable, http.StatusOK, http.StatusOK, http.StatusUnauthorized, http.StatusMethodNotAllowed, http.StatusNotFound}
	deliver(t, rcv, good) // failed on purpose
	deliver(t, rcv, good) // accepted
	deliver(t, rcv, good) // duplicate
	deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{newSecret(t)}})
	get, _ := http.NewRequest(http.MethodGet, "http://receiver.test"+path, nil)
	if a := serve(rcv, get); a.header.Get("Allow") != http.MethodPost {
		t.Errorf("GET on the path: Allow %q", a.header.Get("Allow"))
	}
	deliverTo(t, rcv, "/elsewhere", good)

	log := rcv.AttemptLog()
	if len(log) != len(wantStatus) {
		t.Fatalf("%d attempts recorded, want %d: %+v", len(log), len(wantStatus), log)
	}
	for i, a := range log {
		if a.Status != wantStatus[i] {
			t.Errorf("attempt %d: status %d, want %d", i+1, a.Status, wantStatus[i])
		}
		if a.At.Before(before) || (i > 0 && a.At.Before(log[i-1].At)) {
			t.Errorf("attempt %d: At %v is not in arrival order", i+1, a.At)
		}
	}
	for i := range 3 {
		a := log[i]
		if a.Method != http.MethodPost || a.Path != path || string(a.Body) != leadCreated || a.Header.Get("X-Webhook-Id") != id ||
			!strings.HasPrefix(a.Header.Get("X-Webhook-Signature"), "sha256=") || !a.Verified || a.Problem != "" {
			t.Errorf("valid attempt %d recorded as %+v", i+1, a)
		}
	}
	if a := log[3]; a.Verified || !strings.HasPrefix(a.Problem, "X-Webhook-Signature: ") {
		t.Errorf("a wrong secret was recorded as verified %v, problem %q", a.Verified, a.Problem)
	}
	if a := log[4]; a.Method != http.MethodGet || a.Verified || !strings.HasPrefix(a.Problem, "method: ") || len(a.Body) != 0 {
		t.Errorf("the GET was recorded as %+v", a)
	}
	// A path with no webhook still verifies what it gets, so a test can
	// tell "sent to the wrong place" from "sent badly".
	if a := log[5]; a.Path != "/elsewhere" || !a.Verified || a.Problem != "" {
		t.Errorf("the request to another path was recorded as %+v", a)
	}

	if got := rcv.AttemptsFor(path); len(got) != 5 {
		t.Errorf("AttemptsFor(%q) = %d attempts, want 5", path, len(got))
	}
	if got := rcv.AttemptsFor("/elsewhere"); len(got) != 1 || got[0].Status != http.StatusNotFound {
		t.Errorf("AttemptsFor(/elsewhere) = %+v", got)
	}
	if rcv.Attempts() != 5 || rcv.Rejected() != 2 || len(rcv.Events()) != 2 {
		t.Errorf("attempts %d rejected %d events %d, want 5, 2 and 2", rcv.Attempts(), rcv.Rejected(), len(rcv.Events()))
	}

	// What the log hands out are copies.
	log[0].Body[0] = 'X'
	log[0].Header.Set("X-Webhook-Id", "changed")
	if a := rcv.AttemptLog()[0]; a.Body[0] != '{' || a.Header.Get("X-Webhook-Id") != id {
		t.Error("changing a returned attempt changed the log")
	}
}

func TestBehaviorsAnswerPerPath(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	rcv.SetBehavior("/fail", webhookreceiver.Behavior{Status: http.StatusInternalServerError})
	rcv.SetBehavior("/gone", webhookreceiver.Behavior{Status: http.StatusGone})
	rcv.SetBehavior("/busy", webhookreceiver.Behavior{Status: http.StatusTooManyRequests, RetryAfter: "7"})
	rcv.SetBehavior("/moved", webhookreceiver.Behavior{Status: http.StatusFound, Location: "/target"})
	rcv.SetBehavior("/target", webhookreceiver.Behavior{})
	rcv.SetBehavior("/empty", webhookreceiver.Behavior{Status: http.StatusNoContent})
	d := func() delivery { return delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}} }

	for _, tc := range []struct {
		path   string
		status int
		header string
		value  string
	}{
		{"/fail", 500, "", ""},
		{"/gone", 410, "", ""},
		{"/busy", 429, "Retry-After", "7"},
		{"/moved", 302, "Location", "/target"},
		{"/target", 200, "", ""},
		{"/empty", 204, "", ""},
		{path, 200, "", ""},
		{"/nowhere", 404, "", ""},
	} {
		for range 2 { // a behavior without Times stays
			a := deliverTo(t, rcv, tc.path, d())
			if a.status != tc.status || (tc.header != "" && a.header.Get(tc.header) != tc.value) {
				t.Errorf("%s: %d %v %s, want %d with %s %q", tc.path, a.status, a.header, a.raw, tc.status, tc.header, tc.value)
			}
		}
	}

	// Only the receiver's path and /target, programmed to the default
	// answer, accepted the deliveries; every other answer was the path's.
	byPath := map[string]int{}
	for _, ev := range rcv.Events() {
		byPath[ev.Path]++
	}
	if len(byPath) != 2 || byPath[path] != 2 || byPath["/target"] != 2 {
		t.Errorf("events by path %v, want 2 on %s and 2 on /target", byPath, path)
	}
	for _, a := range rcv.AttemptLog() {
		if !a.Verified {
			t.Errorf("%s: a valid delivery recorded as not verified: %s", a.Path, a.Problem)
		}
	}
	if rcv.Rejected() != 0 {
		t.Errorf("Rejected = %d after only valid deliveries", rcv.Rejected())
	}
}

func TestProgrammedStatusAnswersInvalidDeliveriesToo(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	rcv.SetBehavior("/fail", webhookreceiver.Behavior{Status: http.StatusInternalServerError})
	rcv.SetBehavior("/other", webhookreceiver.Behavior{})
	bad := delivery{event: "lead.created", body: leadCreated, signWith: []string{newSecret(t)}}

	if a := deliverTo(t, rcv, "/fail", bad); a.status != http.StatusInternalServerError {
		t.Errorf("/fail, wrong secret: %d, want the programmed 500", a.status)
	}
	if rcv.Rejected() != 0 {
		t.Errorf("a programmed answer counted as a rejection")
	}
	if a := rcv.AttemptsFor("/fail")[0]; a.Verified || !strings.HasPrefix(a.Problem, "X-Webhook-Signature: ") {
		t.Errorf("/fail attempt %+v, want unverified with the signature named", a)
	}
	// A path with the default answer is as strict as the receiver's own.
	if a := deliverTo(t, rcv, "/other", bad); a.status != http.StatusUnauthorized || a.json["check"] != "X-Webhook-Signature" {
		t.Errorf("/other, wrong secret: %d %s, want 401 naming X-Webhook-Signature", a.status, a.raw)
	}
	if rcv.Rejected() != 1 || len(rcv.Events()) != 0 {
		t.Errorf("rejected %d events %d, want 1 and 0", rcv.Rejected(), len(rcv.Events()))
	}
}

func TestBehaviorSequenceAndIndependence(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	rcv.SetBehavior("/flaky",
		webhookreceiver.Behavior{Status: http.StatusInternalServerError, Times: 2},
		webhookreceiver.Behavior{Status: http.StatusServiceUnavailable, Times: 1},
		webhookreceiver.Behavior{})
	rcv.SetBehavior("/twice", webhookreceiver.Behavior{Status: http.StatusBadGateway, Times: 2})
	rcv.SetBehavior(path, webhookreceiver.Behavior{Status: http.StatusGone, Times: 1})
	d := delivery{event: "lead.created", id: newMsgID(), body: leadCreated, signWith: []string{secret}}

	// Interleaved, so that using up one path's turns would show on another.
	steps := []struct {
		path   string
		status int
	}{
		{"/flaky", 500}, {"/twice", 502}, {path, 410},
		{"/flaky", 500}, {path, 200},
		{"/flaky", 503}, {"/twice", 502},
		{"/flaky", 200}, {"/twice", 404}, {"/flaky", 200},
	}
	for i, s := range steps {
		if a := deliverTo(t, rcv, s.path, d); a.status != s.status {
			t.Errorf("step %d, %s: %d %s, want %d", i+1, s.path, a.status, a.raw, s.status)
		}
	}
	// The same X-Webhook-Id was accepted on two paths; the second receipt is
	// a duplicate wherever it lands, as at-least-once delivery makes it.
	evs := rcv.Events()
	if len(evs) != 3 || evs[0].Path != path || evs[0].Duplicate || evs[1].Path != "/flaky" || !evs[1].Duplicate {
		t.Errorf("events %+v", evs)
	}

	// An empty sequence clears the path.
	rcv.SetBehavior("/flaky")
	if a := deliverTo(t, rcv, "/flaky", d); a.status != http.StatusNotFound {
		t.Errorf("/flaky after clearing: %d, want 404", a.status)
	}
}

func TestBehaviorDelay(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	// Were the stall not cut short when the sender leaves, ts.Close would
	// hang the test for an hour.
	rcv.SetBehavior("/stall", webhookreceiver.Behavior{Delay: time.Hour, Times: 1}, webhookreceiver.Behavior{})
	rcv.SetBehavior("/slow", webhookreceiver.Behavior{Delay: 100 * time.Millisecond, Status: http.StatusServiceUnavailable})

	// The sender's deadline passes once the receiver is in the stall.
	ctx := testctx.DeadlineWhen(func() bool { return rcv.Delaying() > 0 })
	req := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, ts.URL+"/stall").WithContext(ctx)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer %d despite the stall", resp.StatusCode)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	got, err := rcv.WaitForAttempts(wctx, "/stall", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Status != 0 || !got[0].Verified {
		t.Errorf("the abandoned attempt: %+v, want status 0 and verified", got[0])
	}

	// The stall was used up by the abandoned attempt; the default follows.
	resp, err := http.DefaultClient.Do(delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, ts.URL+"/stall"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/stall after the stall: %d, want 200", resp.StatusCode)
	}

	start := time.Now()
	resp, err = http.DefaultClient.Do(delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, ts.URL+"/slow"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || took < 100*time.Millisecond {
		t.Errorf("/slow: %d after %s, want 503 after at least 100ms", resp.StatusCode, took)
	}
}

func TestWaitForAttempts(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan []webhookreceiver.Attempt, 1)
	go func() {
		got, err := rcv.WaitForAttempts(ctx, "/late", 2)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	for _, p := range []string{path, "/late", "/late"} {
		resp, err := http.Post(ts.URL+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := <-done; len(got) != 2 || got[0].Path != "/late" || got[1].Status != http.StatusNotFound {
		t.Errorf("WaitForAttempts(/late, 2) = %+v", got)
	}
	if got, err := rcv.WaitForAttempts(ctx, "", 3); err != nil || len(got) != 3 {
		t.Errorf("WaitForAttempts(\"\", 3) = %d attempts, %v", len(got), err)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	got, err := rcv.WaitForAttempts(short, path, 2)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 of 2") || len(got) != 1 {
		t.Errorf("WaitForAttempts past the deadline = %d, %v", len(got), err)
	}
}

func TestSetBehaviorRefusesNonsense(t *testing.T) {
	for name, tc := range map[string]struct {
		path string
		b    webhookreceiver.Behavior
	}{
		"control path":                {"/_receiver/events", webhookreceiver.Behavior{}},
		"relative path":               {"fail", webhookreceiver.Behavior{}},
		"1xx":                         {"/x", webhookreceiver.Behavior{Status: 101}},
		"past 599":                    {"/x", webhookreceiver.Behavior{Status: 600}},
		"negative status":             {"/x", webhookreceiver.Behavior{Status: -1}},
		"retry-after alone":           {"/x", webhookreceiver.Behavior{RetryAfter: "1"}},
		"location alone":              {"/x", webhookreceiver.Behavior{Location: "/y"}},
		"negative delay":              {"/x", webhookreceiver.Behavior{Delay: -time.Second}},
		"negative times":              {"/x", webhookreceiver.Behavior{Status: 500, Times: -1}},
		"a route pattern, not a path": {"/hooks/:id", webhookreceiver.Behavior{}},
	} {
		t.Run(name, func(t *testing.T) {
			rcv := webhookreceiver.New(path, newSecret(t))
			defer func() {
				if recover() == nil {
					t.Errorf("SetBehavior(%q, %+v) did not panic", tc.path, tc.b)
				}
			}()
			rcv.SetBehavior(tc.path, tc.b)
		})
	}
}

func TestResetForgetsAttemptsAndBehaviors(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	rcv.SetBehavior(path, webhookreceiver.Behavior{Status: http.StatusGone})
	rcv.SetBehavior("/other", webhookreceiver.Behavior{})
	d := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}
	deliver(t, rcv, d)
	rcv.Reset()
	if n := len(rcv.AttemptLog()); n != 0 || rcv.Attempts() != 0 {
		t.Fatalf("Reset kept %d attempts", n)
	}
	if a := deliver(t, rcv, d); a.status != http.StatusOK {
		t.Errorf("after Reset the receiver's path answered %d", a.status)
	}
	if a := deliverTo(t, rcv, "/other", d); a.status != http.StatusNotFound {
		t.Errorf("after Reset /other answered %d, want 404", a.status)
	}
}

type attemptJSON struct {
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	Headers    http.Header `json:"headers"`
	Body       string      `json:"body"`
	BodyBase64 string      `json:"body_base64"`
	At         time.Time   `json:"at"`
	Status     int         `json:"status"`
	Verified   bool        `json:"verified"`
	Problem    string      `json:"problem"`
}

func TestControlAPIAttemptsAndBehaviors(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	post := func(p string, d delivery) *http.Response {
		t.Helper()
		resp, err := http.DefaultClient.Do(d.request(t, ts.URL+p))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	valid := func() delivery { return delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}} }

	a := controlCall(t, "POST", ts.URL+"/_receiver/behaviors",
		`{"path":"/flaky","behaviors":[{"status":429,"retry_after":"3","times":1},{"status":307,"location":"/target","delay_ms":1,"times":1},{}]}`)
	if a.status != 200 || a.json["/flaky"] == nil {
		t.Fatalf("program /flaky: %d %s", a.status, a.raw)
	}
	if a := controlCall(t, "POST", ts.URL+"/_receiver/behaviors", `{"path":"/dead","behaviors":[{"status":410}]}`); a.status != 200 {
		t.Fatalf("program /dead: %d %s", a.status, a.raw)
	}
	var shown map[string][]map[string]any
	a = controlCall(t, "GET", ts.URL+"/_receiver/behaviors", "")
	if err := json.Unmarshal([]byte(a.raw), &shown); err != nil || len(shown["/flaky"]) != 3 || shown["/flaky"][1]["location"] != "/target" ||
		shown["/flaky"][1]["delay_ms"] != float64(1) || shown["/dead"][0]["status"] != float64(410) {
		t.Fatalf("behaviors: %s %v", a.raw, err)
	}

	if resp := post("/flaky", valid()); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("/flaky 1: %d %v", resp.StatusCode, resp.Header)
	}
	// The client would follow a redirect; the sender must not, and neither
	// does this check.
	req := valid().request(t, ts.URL+"/flaky")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "/target" {
		t.Errorf("/flaky 2: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := post("/flaky", valid()); resp.StatusCode != 200 {
		t.Errorf("/flaky 3: %d", resp.StatusCode)
	}
	if resp := post("/dead", valid()); resp.StatusCode != 410 {
		t.Errorf("/dead: %d", resp.StatusCode)
	}
	if resp := post(path, valid()); resp.StatusCode != 200 {
		t.Errorf("%s: %d, programming other paths changed it", path, resp.StatusCode)
	}
	// A body that is not UTF-8 comes back byte for byte, in base64.
	binary := []byte{0xff, 0xfe, '{', '}'}
	resp, err = http.Post(ts.URL+"/raw", "application/octet-stream", strings.NewReader(string(binary)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var all []attemptJSON
	a = controlCall(t, "GET", ts.URL+"/_receiver/attempts", "")
	if err := json.Unmarshal([]byte(a.raw), &all); err != nil || a.status != 200 || len(all) != 6 {
		t.Fatalf("attempts: %d %s %v", a.status, a.raw, err)
	}
	first := all[0]
	if first.Method != "POST" || first.Path != "/flaky" || first.Status != 429 || !first.Verified || first.Problem != "" ||
		first.Body != leadCreated || first.Headers.Get("X-Webhook-Event") != "lead.created" || first.At.IsZero() {
		t.Errorf("first attempt over JSON: %+v", first)
	}
	last := all[5]
	if decoded, _ := base64.StdEncoding.DecodeString(last.BodyBase64); last.Path != "/raw" || last.Status != 404 || last.Body != "" || string(decoded) != string(binary) {
		t.Errorf("the binary attempt over JSON: %+v", last)
	}

	var flaky []attemptJSON
	a = controlCall(t, "GET", ts.URL+"/_receiver/attempts?path=/flaky", "")
	if err := json.Unmarshal([]byte(a.raw), &flaky); err != nil || len(flaky) != 3 || flaky[1].Status != 307 || flaky[2].Status != 200 {
		t.Errorf("attempts?path=/flaky: %s %v", a.raw, err)
	}
	var events []map[string]any
	a = controlCall(t, "GET", ts.URL+"/_receiver/events", "")
	if err := json.Unmarshal([]byte(a.raw), &events); err != nil || len(events) != 2 || events[0]["path"] != "/flaky" || events[1]["path"] != path {
		t.Errorf("events: %s %v", a.raw, err)
	}

	for _, bad := range []string{
		`{"path":"/x"}`,
		`{"behaviors":[]}`,
		`{"path":"/x","behaviors":[{"status":99}]}`,
		`{"path":"/x","behaviors":[{"retry_after":"1"}]}`,
		`{"path":"/x","behaviors":[{"delay_ms":-1}]}`,
		`{"path":"/x","behaviors":[{"delay_ms":9223372036854775807}]}`,
		`{"path":"/x","behaviors":[{"times":-1}]}`,
		`{"path":"/_receiver/reset","behaviors":[]}`,
		`{"path":"x","behaviors":[]}`,
		`{"path":"/x","behaviors":[{"stauts":500}]}`,
		`{"path":"/x","behaviors":{"status":500}}`,
	} {
		if a := controlCall(t, "POST", ts.URL+"/_receiver/behaviors", bad); a.status != 400 || a.json["error"] == nil {
			t.Errorf("behaviors %s: %d %s, want 400", bad, a.status, a.raw)
		}
	}
	if a := controlCall(t, "GET", ts.URL+"/_receiver/attempts?path=relative", ""); a.status != 400 {
		t.Errorf("attempts?path=relative: %d", a.status)
	}
	// Refused programs changed nothing.
	a = controlCall(t, "GET", ts.URL+"/_receiver/behaviors", "")
	if err := json.Unmarshal([]byte(a.raw), &shown); err != nil || len(shown) != 2 || shown["/x"] != nil {
		t.Errorf("behaviors after refused programs: %s", a.raw)
	}

	if a := controlCall(t, "POST", ts.URL+"/_receiver/behaviors", `{"path":"/dead","behaviors":[]}`); a.status != 200 || a.json["/dead"] != nil {
		t.Errorf("clearing /dead: %d %s", a.status, a.raw)
	}
	if resp := post("/dead", valid()); resp.StatusCode != 404 {
		t.Errorf("/dead after clearing: %d, want 404", resp.StatusCode)
	}

	controlCall(t, "POST", ts.URL+"/_receiver/reset", "")
	if a := controlCall(t, "GET", ts.URL+"/_receiver/attempts", ""); strings.TrimSpace(a.raw) != "[]" {
		t.Errorf("attempts after reset: %s", a.raw)
	}
	if a := controlCall(t, "GET", ts.URL+"/_receiver/behaviors", ""); strings.TrimSpace(a.raw) != "{}" {
		t.Errorf("behaviors after reset: %s", a.raw)
	}
}
