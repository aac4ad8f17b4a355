package contracttests

// Receivers that misbehave, webhooks that change while their deliveries are
// in flight, and the retention job running through a drain.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
)

// badReceiver misbehaves in one way per path and reports what it saw.
type badReceiver struct {
	srv *httptest.Server

	hugeWritten   atomic.Int64 // bytes of the 50 MB answer written before the client left
	trickleBytes  atomic.Int64 // bytes trickled before the client left
	trickleDone   atomic.Bool  // the 60 s trickle ran to its end
	headerTrickle atomic.Int64
	hangs         atomic.Int64 // requests held open until the client left
	stop          chan struct{}
	stopOnce      sync.Once
}

const (
	hugeBody        = 50 << 20
	trickleFor      = 60 * time.Second
	trickleInterval = 100 * time.Millisecond
)

func newBadReceiver(t *testing.T) *badReceiver {
	t.Helper()
	r := &badReceiver{stop: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.stopOnce.Do(func() { close(r.stop) })
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
	return r
}

func (r *badReceiver) serve(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	switch req.URL.Path {
	case "/huge": // 200 and 50 MB of body
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for written := 0; written < hugeBody; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			r.hugeWritten.Add(int64(len(chunk)))
		}
	case "/trickle": // 200, then a byte of body every 100 ms for 60 s
		w.WriteHeader(http.StatusOK)
		deadline := time.Now().Add(trickleFor)
		for time.Now().Before(deadline) {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
			r.trickleBytes.Add(1)
			select {
			case <-req.Context().Done():
				return
			case <-r.stop:
				return
			case <-time.After(trickleInterval):
			}
		}
		r.trickleDone.Store(true)
	case "/trickle-headers": // the status line itself, a byte at a time
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
			if err := buf.WriteByte(b); err != nil || buf.Flush() != nil {
				return
			}
			r.headerTrickle.Add(1)
			select {
			case <-r.stop:
				return
			case <-time.After(2 * trickleInterval):
			}
		}
	case "/hang": // never answers
		r.hangs.Add(1)
		select {
		case <-req.Context().Done():
		case <-r.stop:
		}
	case "/retry-after": // come back in three years
		w.Header().Set("Retry-After", "99999999")
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// TestWebhookBadReceivers: whatever a receiver does, the attempt ends at
// the timeout, reads at most a small part of the body, says why it failed,
// and gives the worker back. There is one worker, so a receiver that kept
// it would keep every later delivery waiting: the well-behaved receiver's
// delivery, created last, must arrive while the trickle still has most of
// its minute to run.
func TestWebhookBadReceivers(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookWorkers, c.WebhookWorkersPerWebhook = 1, 1
		c.WebhookTimeout = time.Second
		c.WebhookRetrySchedule = []time.Duration{time.Hour}
	}, func(t *testing.T, tg *target) {
		r := newBadReceiver(t)
		key := tg.freshOrg(t)
		hooks := map[string]int64{}
		for _, path := range []string{"/huge", "/trickle", "/trickle-headers", "/hang", "/retry-after"} {
			in := map[string]any{"name": path, "url": r.srv.URL + path, "events": []string{"lead.created"}, "max_attempts": 2}
			if path != "/retry-after" {
				in["max_attempts"] = 1
			}
			var w struct {
				ID int64 `json:"id"`
			}
			expectJSON(t, tg, key, http.MethodPost, "/webhooks", in, http.StatusCreated, &w)
			hooks[path] = w.ID
		}
		evCreateLead(t, tg, key, nil)
		started := time.Now()
		okKey := tg.newOrg(t, "well-behaved")
		okHook := shareHook(t, tg, okKey, r.srv.URL+"/ok")
		evCreateLead(t, tg, okKey, nil)

		var ok whDelivery
		evWaitFor(t, func() bool {
			ds := evDeliveries(t, tg, okKey, okHook)
			if len(ds) == 1 {
				ok = ds[0]
			}
			return ok.Status == impl.DeliverySucceeded
		}, func() string { return fmt.Sprintf("the well-behaved receiver's delivery is %s", ok) })
		if r.trickleDone.Load() || time.Since(started) > trickleFor/2 {
			t.Errorf("the well-behaved receiver was served %s after the others, after the trickle's end: a worker was kept", time.Since(started))
		}

		finished := func(path string) whDelivery {
			var d whDelivery
			evWaitFor(t, func() bool {
				ds := evDeliveries(t, tg, key, hooks[path])
				if len(ds) == 1 {
					d = ds[0]
				}
				return len(d.Attempts) == 1
			}, func() string { return fmt.Sprintf("%s: delivery %s", path, d) })
			return d
		}
		for _, path := range []string{"/trickle-headers", "/hang"} {
			d := finished(path)
			a := d.Attempts[0]
			if d.Status != impl.DeliveryFailed || a.StatusCode != nil || a.Error == nil || !strings.Contains(*a.Error, "no answer within 1s") {
				t.Errorf("%s: %s, want failed with no status and the error naming the 1s timeout", path, d)
			}
		}
		// A 2xx in time is received, whatever the body does next: reading it
		// stops at the timeout or at the cap.
		for _, path := range []string{"/huge", "/trickle"} {
			d := finished(path)
			if d.Status != impl.DeliverySucceeded || d.Attempts[0].StatusCode == nil || *d.Attempts[0].StatusCode != 200 {
				t.Errorf("%s: %s, want succeeded with 200", path, d)
			}
			if d.Attempts[0].DurationMS > int64(trickleFor/time.Millisecond)/2 {
				t.Errorf("%s: the attempt took %d ms, reading the body past the timeout", path, d.Attempts[0].DurationMS)
			}
		}
		if n := r.hugeWritten.Load(); n >= hugeBody {
			t.Errorf("the receiver wrote all %d bytes of its answer: the sender read it all", n)
		}
		d := finished("/retry-after")
		if d.Status != impl.DeliveryPending || d.NextAttemptAt == nil || d.Attempts[0].Error == nil ||
			!strings.Contains(*d.Attempts[0].Error, "503") {
			t.Fatalf("/retry-after: %s, want pending after a 503", d)
		}
		// Retry-After's three years are capped at the schedule's longest wait.
		if wait := d.NextAttemptAt.Sub(d.Attempts[0].AttemptedAt); wait <= 0 || wait > time.Hour+time.Minute {
			t.Errorf("/retry-after: next attempt %s after the first, want at most the schedule's 1h", wait)
		}
	})
}

// TestWebhookChangedWhileInFlight: deliveries are in flight, held by the
// receiver, when one webhook is deleted and another disabled. The batch
// their outcomes are recorded in also holds a third webhook's delivery,
// which must be recorded as usual; the deleted webhook's attempts have no
// delivery left to belong to and are dropped; the disabled webhook's
// attempt is kept, and its delivery stays failed, as disabling made it.
func TestWebhookChangedWhileInFlight(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookWorkers, c.WebhookWorkersPerWebhook, c.WebhookTimeout = 8, 4, 30*time.Second
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}, func(t *testing.T, tg *target) {
		g := newGateReceiver(t)
		keys := map[string]string{"deleted": tg.freshOrg(t), "disabled": tg.newOrg(t, "disabled"), "kept": tg.newOrg(t, "kept")}
		hooks := map[string]int64{}
		want := map[string]int{"deleted": 3, "disabled": 1, "kept": 1}
		for name, key := range keys {
			g.hold("/" + name)
			hooks[name] = shareHook(t, tg, key, g.url("/"+name))
			for range want[name] {
				evCreateLead(t, tg, key, nil)
			}
		}
		for name, n := range want {
			evWaitFor(t, func() bool { _, _, in, _ := g.seen("/" + name); return in == n },
				func() string {
					_, _, in, _ := g.seen("/" + name)
					return fmt.Sprintf("%s: %d in flight, want %d", name, in, n)
				})
		}
		expectJSON(t, tg, keys["deleted"], http.MethodDelete, fmt.Sprintf("/webhooks/%d", hooks["deleted"]), nil, http.StatusNoContent, nil)
		expectJSON(t, tg, keys["disabled"], http.MethodPatch, fmt.Sprintf("/webhooks/%d", hooks["disabled"]), map[string]any{"active": false}, http.StatusOK, nil)
		for name := range want {
			g.open("/" + name)
		}

		kept := evWaitDelivery(t, tg, keys["kept"], hooks["kept"], evDeliveries(t, tg, keys["kept"], hooks["kept"])[0].ID, "succeeded",
			func(d whDelivery) bool { return d.Status == impl.DeliverySucceeded })
		if len(kept.Attempts) != 1 {
			t.Errorf("the kept webhook's delivery: %s, want one attempt", kept)
		}
		disabled := evWaitDelivery(t, tg, keys["disabled"], hooks["disabled"], evDeliveries(t, tg, keys["disabled"], hooks["disabled"])[0].ID,
			"attempted", func(d whDelivery) bool { return len(d.Attempts) == 1 })
		if disabled.Status != impl.DeliveryFailed || disabled.Attempts[0].StatusCode == nil || *disabled.Attempts[0].StatusCode != 204 {
			t.Errorf("the disabled webhook's delivery: %s, want failed with its 204 attempt kept in the log", disabled)
		}
		expectJSON(t, tg, keys["deleted"], http.MethodGet, fmt.Sprintf("/webhooks/%d/deliveries", hooks["deleted"]), nil, http.StatusNotFound, nil)
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("the server logged an error: %s", line)
			}
		}
	})
}

// TestWebhookRetentionDuringADrain runs the retention job in a loop, with
// a retention of a nanosecond (every finished delivery expires at once),
// while a few hundred deliveries drain, a third of them after a failed
// first attempt. Nothing pending may go: every event must arrive.
func TestWebhookRetentionDuringADrain(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, nil, func(t *testing.T, tg *target) {
		key := tg.freshOrg(t)
		var mu sync.Mutex
		got := map[string]int{}
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			id := r.Header.Get("X-Webhook-Id")
			mu.Lock()
			got[id]++
			first := got[id] == 1
			mu.Unlock()
			if first && n.Add(1)%3 == 0 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		hook := shareHook(t, tg, key, srv.URL+"/hook")

		ctx, stop := context.WithCancel(context.Background())
		sweeps := make(chan struct{})
		seed := tg.seed(t)
		go func() {
			defer close(sweeps)
			for ctx.Err() == nil {
				seed.SweepDeliveryLogs(t, time.Nanosecond)
				time.Sleep(5 * time.Millisecond)
			}
		}()
		t.Cleanup(func() { stop(); <-sweeps })

		const events = 300
		for range events {
			evCreateLead(t, tg, key, nil)
		}
		delivered := func() int {
			mu.Lock()
			defer mu.Unlock()
			ok := 0
			for id, c := range got {
				if c >= 1 && id != "" {
					ok++
				}
			}
			return ok
		}
		evWaitFor(t, func() bool { return delivered() == events && n.Load() >= events },
			func() string { return fmt.Sprintf("%d of %d events reached the receiver", delivered(), events) })
		// Every delivery that failed once came back for its second attempt.
		evWaitFor(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			twice := 0
			for _, c := range got {
				if c == 2 {
					twice++
				}
			}
			return twice == events/3
		}, func() string { return "not every failed first attempt was retried" })
		// And the job did delete: finished deliveries are gone.
		evWaitFor(t, func() bool {
			return shareGetBacklog(t, tg, key, hook).Backlog.Pending == 0 && len(evDeliveries(t, tg, key, hook)) < events
		}, func() string {
			return fmt.Sprintf("%d deliveries are still listed", len(evDeliveries(t, tg, key, hook)))
		})
	})
}

// TestWebhookRefusalBodies: the delivery log keeps the start of an answer
// that was not 2xx, so that a partner sees why the receiver refused (its
// signature check, its validation): up to 1,024 bytes as text, a character
// cut at the end left out, bytes that are not UTF-8 and NUL as U+FFFD
// (PostgreSQL's text takes no NUL), and nothing of a 2xx or an empty
// answer. A test ping answers with it too.
func TestWebhookRefusalBodies(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 1022) + "€" + strings.Repeat("b", 4000) // the euro sign's 3 bytes straddle byte 1024
	answers := map[string]struct {
		status int
		body   string
		want   *string
	}{
		"/json":   {http.StatusBadRequest, `{"error":"invalid signature"}`, ptrTo(`{"error":"invalid signature"}`)},
		"/long":   {http.StatusUnprocessableEntity, long, ptrTo(strings.Repeat("a", 1022))},
		"/binary": {http.StatusInternalServerError, "\x00\xff\xfe ok \xe2\x82", ptrTo("\uFFFD\uFFFD ok ")},
		"/empty":  {http.StatusServiceUnavailable, "", nil},
		"/ok":     {http.StatusOK, "thanks, got it", nil},
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a := answers[r.URL.Path]
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(recv.Close)
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookRetrySchedule = []time.Duration{time.Hour}
	}, func(t *testing.T, tg *target) {
		key := tg.freshOrg(t)
		hooks := map[string]int64{}
		for path := range answers {
			var w struct {
				ID int64 `json:"id"`
			}
			expectJSON(t, tg, key, http.MethodPost, "/webhooks", map[string]any{"name": path, "url": recv.URL + path,
				"events": []string{"lead.created"}, "max_attempts": 1}, http.StatusCreated, &w)
			hooks[path] = w.ID
		}
		evCreateLead(t, tg, key, nil)
		for path, a := range answers {
			var d whDelivery
			evWaitFor(t, func() bool {
				if ds := evDeliveries(t, tg, key, hooks[path]); len(ds) == 1 {
					d = ds[0]
				}
				return len(d.Attempts) == 1
			}, func() string { return fmt.Sprintf("%s: delivery %s", path, d) })
			got := d.Attempts[0].ResponseBody
			if (got == nil) != (a.want == nil) || (got != nil && *got != *a.want) {
				t.Errorf("%s (%d): response_body %s, want %s", path, a.status, quoteOrNull(got), quoteOrNull(a.want))
			}
			if got != nil && len(*got) > 1024 {
				t.Errorf("%s: response_body of %d bytes", path, len(*got))
			}
		}

		// The reference receiver, holding a secret that is not the
		// webhook's, says which check failed; the log shows it.
		ref := startReceiver(t, "/hook", "whsec_"+strings.Repeat("A", 43)+"=")
		refHook := shareHook(t, tg, key, ref.url("/hook"))
		evCreateLead(t, tg, key, nil)
		var d whDelivery
		evWaitFor(t, func() bool {
			if ds := evDeliveries(t, tg, key, refHook); len(ds) > 0 {
				d = ds[0]
			}
			return len(d.Attempts) > 0
		}, func() string { return fmt.Sprintf("the reference receiver's delivery: %s", d) })
		a := d.Attempts[0]
		if a.StatusCode == nil || *a.StatusCode != http.StatusUnauthorized || a.ResponseBody == nil ||
			!strings.Contains(*a.ResponseBody, `"check":"`) || !strings.Contains(*a.ResponseBody, "X-Webhook-Signature") {
			t.Errorf("the reference receiver's refusal: %s, want 401 with its explanation of the signature", d)
		}

		var res whTestResult
		expectJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/webhooks/%d/test", hooks["/json"]), nil, http.StatusOK, &res)
		if res.Delivered || res.ResponseBody == nil || *res.ResponseBody != `{"error":"invalid signature"}` {
			t.Errorf("test ping to a refusing receiver: delivered %v, response_body %s", res.Delivered, quoteOrNull(res.ResponseBody))
		}
		expectJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/webhooks/%d/test", hooks["/ok"]), nil, http.StatusOK, &res)
		if !res.Delivered || res.ResponseBody != nil {
			t.Errorf("test ping to an accepting receiver: delivered %v, response_body %s", res.Delivered, quoteOrNull(res.ResponseBody))
		}
	})
}

func ptrTo(s string) *string { return &s }

func quoteOrNull(s *string) string {
	if s == nil {
		return "null"
	}
	return fmt.Sprintf("%q", *s)
}

// TestWebhookMalformedAnswers: a receiver whose answer is not HTTP that Go
// reads (a header line with NUL and bytes that are not UTF-8) fails its
// own attempt with a readable reason, which both databases keep as text,
// and the other deliveries recorded with it are recorded as usual: no
// receiver's bytes can make a batch's record fail.
func TestWebhookMalformedAnswers(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 64<<10)
				_, _ = conn.Read(buf) // the request, or enough of it
				_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nX-Bad\x00\xff\xfe: y\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookRetrySchedule = []time.Duration{time.Hour}
	}, func(t *testing.T, tg *target) {
		key := tg.freshOrg(t)
		bad := shareHook(t, tg, key, "http://"+ln.Addr().String()+"/hook")
		ok := startReceiver(t, "/hook", "whsec_"+strings.Repeat("A", 43)+"=")
		good := shareHook(t, tg, key, ok.url("/other")) // answers 404: recorded all the same
		evCreateLead(t, tg, key, nil)
		for name, hook := range map[string]int64{"malformed": bad, "well-formed": good} {
			var d whDelivery
			evWaitFor(t, func() bool {
				if ds := evDeliveries(t, tg, key, hook); len(ds) == 1 {
					d = ds[0]
				}
				return len(d.Attempts) == 1
			}, func() string { return fmt.Sprintf("the %s receiver's delivery: %s", name, d) })
			a := d.Attempts[0]
			if a.Error == nil || !utf8.ValidString(*a.Error) || strings.ContainsRune(*a.Error, 0) {
				t.Errorf("the %s receiver's attempt: %s, want an error as text", name, d)
			}
		}
	})
}
