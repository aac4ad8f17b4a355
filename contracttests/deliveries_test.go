package contracttests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

// Deliveries through the REST API: the test endpoint, the headers and
// signatures of a delivery, secret rotation as a receiver sees it,
// redirects, redelivery, the delivery log (paged, filtered, consistent
// while deliveries run), the SSRF guard and secrets kept out of the logs.
// They need the in-process server, whose dispatcher may reach this
// machine's loopback receivers.

var (
	whMessageIDRe = regexp.MustCompile(`^msg_`)
	whEventIDRe   = regexp.MustCompile(`^evt_`)
)

// How fast the deliveries' servers poll their outbox, and how long a test
// waits for a delivery to get where it should.
const (
	whPollInterval = 20 * time.Millisecond
	whWait         = 10 * time.Second
)

type whAttempt struct {
	AttemptedAt time.Time `json:"attempted_at"`
	StatusCode  *int      `json:"status_code"`
	DurationMS  int64     `json:"duration_ms"`
	Error       *string   `json:"error"`
	// ResponseBody is the start of a non-2xx answer.
	ResponseBody *string `json:"response_body"`
}

type whDelivery struct {
	ID            int64       `json:"id"`
	WebhookID     int64       `json:"webhook_id"`
	EventID       string      `json:"event_id"`
	Event         string      `json:"event"`
	MessageID     string      `json:"webhook_message_id"`
	Status        string      `json:"status"`
	Attempts      []whAttempt `json:"attempts"`
	NextAttemptAt *time.Time  `json:"next_attempt_at"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

// String is the delivery as JSON, for failure messages.
func (d whDelivery) String() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// codes is the status code each attempt was answered, -1 for none.
func (d whDelivery) codes() []int {
	out := make([]int, len(d.Attempts))
	for i, a := range d.Attempts {
		out[i] = -1 // no answer
		if a.StatusCode != nil {
			out[i] = *a.StatusCode
		}
	}
	return out
}

type whDeliveryPage struct {
	Data []whDelivery `json:"data"`
	Meta whMeta       `json:"meta"`
}

type whTestResult struct {
	Delivered    bool    `json:"delivered"`
	StatusCode   *int    `json:"status_code"`
	DurationMS   int64   `json:"duration_ms"`
	Error        *string `json:"error"`
	ResponseBody *string `json:"response_body"`
	DeliveryID   int64   `json:"delivery_id"`
}

func whDeliveries(t testing.TB, tg *target, key string, hookID int64, query string) (whDeliveryPage, []byte) {
	t.Helper()
	var p whDeliveryPage
	path := fmt.Sprintf("/webhooks/%d/deliveries", hookID)
	if query != "" {
		path += "?" + query
	}
	raw := expectJSON(t, tg, key, http.MethodGet, path, nil, http.StatusOK, &p)
	return p, raw
}

// whWaitDeliveries polls the webhook's delivery log until done accepts it.
func whWaitDeliveries(t testing.TB, tg *target, key string, hookID int64, what string, done func([]whDelivery) bool) []whDelivery {
	t.Helper()
	deadline := time.Now().Add(whWait)
	for {
		p, raw := whDeliveries(t, tg, key, hookID, "per_page=100")
		if done(p.Data) {
			return p.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, webhook %d's deliveries are still not %s: %s", whWait, hookID, what, raw)
		}
		time.Sleep(whPollInterval)
	}
}

// whWaitOne waits for the webhook's only delivery to reach status with n
// attempts.
func whWaitOne(t testing.TB, tg *target, key string, hookID int64, status string, n int) whDelivery {
	t.Helper()
	list := whWaitDeliveries(t, tg, key, hookID, fmt.Sprintf("one %s delivery with %d attempts", status, n), func(ds []whDelivery) bool {
		return len(ds) == 1 && ds[0].Status == status && len(ds[0].Attempts) == n
	})
	return list[0]
}

// whWaitDelivery waits for one delivery to reach status with n attempts.
func whWaitDelivery(t testing.TB, tg *target, key string, hookID, id int64, status string, n int) whDelivery {
	t.Helper()
	var out whDelivery
	whWaitDeliveries(t, tg, key, hookID, fmt.Sprintf("with delivery %d %s after %d attempts", id, status, n), func(ds []whDelivery) bool {
		for _, d := range ds {
			if d.ID == id && d.Status == status && len(d.Attempts) == n {
				out = d
				return true
			}
		}
		return false
	})
	return out
}

func whFindDelivery(t testing.TB, tg *target, key string, hookID, id int64) whDelivery {
	t.Helper()
	p, raw := whDeliveries(t, tg, key, hookID, "per_page=100")
	for _, d := range p.Data {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("delivery %d is not in webhook %d's log: %s", id, hookID, raw)
	return whDelivery{}
}

func whTest(t testing.TB, tg *target, key string, hookID int64) (whTestResult, []byte) {
	t.Helper()
	var r whTestResult
	raw := expectJSON(t, tg, key, http.MethodPost, whHookPath(hookID)+"/test", nil, http.StatusOK, &r)
	return r, raw
}

// whDeliveryServer starts a server that delivers quickly to loopback
// receivers; tweak adjusts the configuration further.
func whDeliveryServer(t *testing.T, db sqlstoretest.Database, tweak func(*app.Config)) *target {
	t.Helper()
	return startInProcessWith(t, db.URL, func(c *app.Config) {
		c.WebhookAllowPrivateTargets = true
		c.WebhookPollInterval = whPollInterval
		c.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond}
		c.WebhookTimeout = 2 * time.Second
		if tweak != nil {
			tweak(c)
		}
	})
}

// whVerifyStandard reports whether the Standard Webhooks headers of req
// verify with secret, using the official library.
func whVerifyStandard(t testing.TB, secret string, req webhookreceiver.Attempt) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook: %v", err)
	}
	return wh.Verify(req.Body, req.Header)
}

// whCheckHeaders checks the headers every delivery carries.
func whCheckHeaders(t testing.TB, req webhookreceiver.Attempt, event string) {
	t.Helper()
	h := req.Header
	if req.Method != http.MethodPost {
		t.Errorf("method %s, want POST", req.Method)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
	if got := h.Get("User-Agent"); got != "IAGENTE-Webhooks/1.0" {
		t.Errorf("User-Agent %q, want IAGENTE-Webhooks/1.0", got)
	}
	if got := h.Get("X-Webhook-Event"); got != event {
		t.Errorf("X-Webhook-Event %q, want %q", got, event)
	}
	id := h.Get("X-Webhook-Id")
	if !whMessageIDRe.MatchString(id) {
		t.Errorf("X-Webhook-Id %q does not match %s", id, whMessageIDRe)
	}
	if got := h.Get("Webhook-Id"); got != id {
		t.Errorf("webhook-id %q, want X-Webhook-Id %q", got, id)
	}
	ts := h.Get("X-Webhook-Timestamp")
	if got := h.Get("Webhook-Timestamp"); got != ts {
		t.Errorf("webhook-timestamp %q, want X-Webhook-Timestamp %q", got, ts)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Errorf("X-Webhook-Timestamp %q is not Unix seconds", ts)
	} else if d := time.Since(time.Unix(n, 0)); d < -time.Minute || d > time.Minute {
		t.Errorf("X-Webhook-Timestamp %q is %s away from now", ts, d)
	}
	if !strings.HasPrefix(h.Get("X-Webhook-Signature"), "sha256=") {
		t.Errorf("X-Webhook-Signature %q, want sha256=<hex>", h.Get("X-Webhook-Signature"))
	}
	if !strings.HasPrefix(h.Get("Webhook-Signature"), "v1,") {
		t.Errorf("webhook-signature %q, want v1,<base64>", h.Get("Webhook-Signature"))
	}
}

func TestWebhookAPIDelivery(t *testing.T) {
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		tg := whDeliveryServer(t, db, nil)

		t.Run("test endpoint delivers a signed webhook.test", func(t *testing.T) {
			key := tg.newOrg(t, "wh test ok")
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "test ok", "url": rec.url("/ok"), "events": []string{"lead.created"}})
			r, raw := whTest(t, tg, key, h.ID)
			if !r.Delivered || r.StatusCode == nil || *r.StatusCode != 200 || r.Error != nil || r.DurationMS < 0 || r.DeliveryID < 1 {
				t.Errorf("test result %s, want delivered with 200 and error null", raw)
			}
			got := rec.waitAttempts(t, "", 1, whWait)
			if len(got) != 1 || got[0].Path != "/ok" {
				t.Fatalf("the receiver got %d requests, want 1 at /ok: %+v", len(got), got)
			}
			req := got[0]
			whCheckHeaders(t, req, "webhook.test")
			if !signedWith(h.SigningSecret, req.Body, req.Header.Get("X-Webhook-Signature")) {
				t.Errorf("X-Webhook-Signature %q does not verify", req.Header.Get("X-Webhook-Signature"))
			}
			if err := whVerifyStandard(t, h.SigningSecret, req); err != nil {
				t.Errorf("the Standard Webhooks headers do not verify: %v", err)
			}

			var env map[string]json.RawMessage
			if err := json.Unmarshal(req.Body, &env); err != nil {
				t.Fatalf("body is not a JSON object: %v: %s", err, req.Body)
			}
			var keys []string
			for k := range env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "created_at,data,event,id" {
				t.Errorf("envelope keys %v, want id, event, created_at, data: %s", keys, req.Body)
			}
			var e struct {
				ID        string    `json:"id"`
				Event     string    `json:"event"`
				CreatedAt time.Time `json:"created_at"`
				Data      struct {
					WebhookID int64  `json:"webhook_id"`
					Message   string `json:"message"`
				} `json:"data"`
			}
			if err := json.Unmarshal(req.Body, &e); err != nil {
				t.Fatalf("envelope: %v: %s", err, req.Body)
			}
			if !whEventIDRe.MatchString(e.ID) || e.Event != "webhook.test" || e.CreatedAt.IsZero() ||
				e.Data.WebhookID != h.ID || e.Data.Message == "" {
				t.Errorf("envelope %s, want id evt_..., event webhook.test, created_at and data {webhook_id: %d, message}", req.Body, h.ID)
			}

			d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID)
			if d.Event != "webhook.test" || d.Status != "succeeded" || len(d.Attempts) != 1 || d.WebhookID != h.ID || d.NextAttemptAt != nil {
				t.Errorf("the test delivery in the log: %+v, want webhook.test succeeded with one attempt", d)
			} else if a := d.Attempts[0]; a.StatusCode == nil || *a.StatusCode != 200 || a.Error != nil || a.DurationMS < 0 {
				t.Errorf("the test attempt: status %v error %v duration %d", whDeref(a.StatusCode), whDeref(a.Error), a.DurationMS)
			}
			if d.EventID != e.ID || d.MessageID != req.Header.Get("X-Webhook-Id") {
				t.Errorf("delivery event_id %q webhook_message_id %q, the receiver saw id %q X-Webhook-Id %q",
					d.EventID, d.MessageID, e.ID, req.Header.Get("X-Webhook-Id"))
			}
		})

		t.Run("test endpoint reports a failure and does not retry", func(t *testing.T) {
			key := tg.newOrg(t, "wh test fail")
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "test fail", "url": rec.url("/fail"), "events": []string{"lead.created"}})
			r, raw := whTest(t, tg, key, h.ID)
			if r.Delivered || r.StatusCode == nil || *r.StatusCode != 500 || r.Error == nil || !strings.Contains(*r.Error, "500") {
				t.Errorf("test result %s, want not delivered, status_code 500 and an error about 500", raw)
			}
			d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID)
			if d.Event != "webhook.test" || d.Status != "failed" || len(d.Attempts) != 1 || d.NextAttemptAt != nil {
				t.Errorf("the failed test delivery: %+v, want webhook.test failed with one attempt and no next attempt", d)
			} else if a := d.Attempts[0]; a.StatusCode == nil || *a.StatusCode != 500 || !reflect.DeepEqual(a.Error, r.Error) {
				t.Errorf("the attempt: status %v error %v, want 500 and %v", whDeref(a.StatusCode), whDeref(a.Error), whDeref(r.Error))
			}
			// Several poll intervals, with a retry schedule of 50ms: a retry
			// would show up.
			end := time.Now().Add(15 * whPollInterval)
			for time.Now().Before(end) {
				time.Sleep(whPollInterval)
				if n := len(rec.AttemptLog()); n != 1 {
					t.Fatalf("the receiver got %d requests, want 1: the test delivery was retried", n)
				}
			}
			if d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID); len(d.Attempts) != 1 || d.Status != "failed" {
				t.Errorf("after a while the test delivery is %s with %d attempts, want failed with 1", d.Status, len(d.Attempts))
			}
		})

		t.Run("redirects are not followed", func(t *testing.T) {
			key := tg.newOrg(t, "wh redirect")
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "redirect", "url": rec.url("/redirect"), "events": []string{"lead.created"}})
			r, raw := whTest(t, tg, key, h.ID)
			if r.Delivered || r.StatusCode == nil || *r.StatusCode != 302 || r.Error == nil || !strings.Contains(strings.ToLower(*r.Error), "redirect") {
				t.Errorf("test result %s, want not delivered, status_code 302 and an error about redirects", raw)
			}
			if n := len(rec.AttemptsFor("/redirect")); n != 1 {
				t.Errorf("/redirect got %d requests, want 1", n)
			}
			if n := len(rec.AttemptsFor("/target")); n != 0 {
				t.Errorf("the redirect was followed: /target got %d requests", n)
			}
		})

		t.Run("rotate-secret signs with both secrets", func(t *testing.T) {
			key := tg.newOrg(t, "wh rotate")
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "rotate", "url": rec.url("/ok"), "events": []string{"lead.created"}})
			s0 := h.SigningSecret
			other := whCreateHook(t, tg, key, map[string]any{"name": "unrelated", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}}).SigningSecret

			sigs := func(req webhookreceiver.Attempt) int { return len(strings.Fields(req.Header.Get("Webhook-Signature"))) }
			check := func(label string, req webhookreceiver.Attempt, xsig string, std, notStd []string) {
				t.Helper()
				for _, s := range append([]string{xsig}, append(std, notStd...)...) {
					if ok := signedWith(s, req.Body, req.Header.Get("X-Webhook-Signature")); ok != (s == xsig) {
						t.Errorf("%s: X-Webhook-Signature verifies with secret #%d: %v, want %v", label, whSecretIndex(s, s0, other, h.SigningSecret), ok, s == xsig)
					}
				}
				for _, s := range std {
					if err := whVerifyStandard(t, s, req); err != nil {
						t.Errorf("%s: the Standard Webhooks headers do not verify with a current secret: %v (webhook-signature %q)", label, err, req.Header.Get("Webhook-Signature"))
					}
				}
				for _, s := range notStd {
					if err := whVerifyStandard(t, s, req); err == nil {
						t.Errorf("%s: the Standard Webhooks headers verify with a secret they should not", label)
					}
				}
				if sigs(req) != len(std) {
					t.Errorf("%s: webhook-signature has %d signatures, want %d: %q", label, sigs(req), len(std), req.Header.Get("Webhook-Signature"))
				}
			}

			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test before rotation: %s", raw)
			}
			check("before rotation", rec.waitAttempts(t, "", 1, whWait)[0], s0, []string{s0}, []string{other})

			s1 := whRotate(t, tg, key, h.ID).SigningSecret
			if s1 == s0 {
				t.Fatal("rotation returned the same secret")
			}
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test after rotation: %s", raw)
			}
			got := rec.waitAttempts(t, "", 2, whWait)
			check("after rotation", got[len(got)-1], s1, []string{s0, s1}, []string{other})

			s2 := whRotate(t, tg, key, h.ID).SigningSecret
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test after the second rotation: %s", raw)
			}
			got = rec.waitAttempts(t, "", 3, whWait)
			check("after the second rotation", got[len(got)-1], s2, []string{s1, s2}, []string{s0, other})
		})

		t.Run("redeliver", func(t *testing.T) {
			key := tg.newOrg(t, "wh redeliver")
			rec, rec2 := startEndpoints(t), startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "redeliver", "url": rec.url("/ok"), "events": []string{"lead.created"}})
			h2 := whCreateHook(t, tg, key, map[string]any{"name": "sibling", "url": rec2.url("/ok"), "events": []string{"lead.created"}})
			leadID := whCreateLead(t, tg, key, "Redeliver")
			d := whWaitOne(t, tg, key, h.ID, "succeeded", 1)
			d2 := whWaitOne(t, tg, key, h2.ID, "succeeded", 1)
			if d.Event != "lead.created" {
				t.Fatalf("delivery %+v, want lead.created", d)
			}
			first := rec.waitAttempts(t, "/ok", 1, whWait)
			whCheckHeaders(t, first[0], "lead.created")
			// The envelope's data is the lead exactly as the API returns it.
			var env struct {
				ID    string         `json:"id"`
				Event string         `json:"event"`
				Data  map[string]any `json:"data"`
			}
			if err := json.Unmarshal(first[0].Body, &env); err != nil {
				t.Fatalf("lead.created body: %v: %s", err, first[0].Body)
			}
			var lead map[string]any
			expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/leads/%d", leadID), nil, http.StatusOK, &lead)
			if env.Event != "lead.created" || env.ID != d.EventID || !reflect.DeepEqual(env.Data, lead) {
				t.Errorf("lead.created envelope %s, want event lead.created, id %s and data equal to GET /leads/%d: %v", first[0].Body, d.EventID, leadID, lead)
			}

			redeliver := func(hook, delivery int64) (*http.Response, []byte) {
				return doJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", hook, delivery), nil)
			}
			res, raw := redeliver(h.ID, d.ID)
			if res.StatusCode != http.StatusAccepted {
				t.Fatalf("redeliver: %d, want 202: %s", res.StatusCode, raw)
			}
			var q whDelivery
			if err := json.Unmarshal(raw, &q); err != nil {
				t.Fatal(err)
			}
			if q.ID != d.ID || q.Status != "pending" || q.MessageID != d.MessageID || q.EventID != d.EventID || q.NextAttemptAt == nil {
				t.Errorf("redeliver answered %s, want delivery %d pending with the same ids and a next attempt", raw, d.ID)
			}
			got := rec.waitAttempts(t, "/ok", 2, whWait)
			if len(got) != 2 {
				t.Fatalf("the receiver got %d requests, want 2", len(got))
			}
			if a, b := got[0].Header.Get("X-Webhook-Id"), got[1].Header.Get("X-Webhook-Id"); a != b || a != d.MessageID {
				t.Errorf("X-Webhook-Id %q then %q, want %q twice", a, b, d.MessageID)
			}
			if a, b := got[0].Header.Get("Webhook-Id"), got[1].Header.Get("Webhook-Id"); a != b {
				t.Errorf("webhook-id %q then %q, want the same", a, b)
			}
			if !bytes.Equal(got[0].Body, got[1].Body) {
				t.Errorf("the redelivered body differs:\n%s\n%s", got[0].Body, got[1].Body)
			}
			whCheckHeaders(t, got[1], "lead.created")
			whWaitDelivery(t, tg, key, h.ID, d.ID, "succeeded", 2)

			res, raw = redeliver(h.ID, 999999999)
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			res, raw = redeliver(h.ID, d2.ID)
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			res, raw = redeliver(999999999, d.ID)
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			if after := whFindDelivery(t, tg, key, h2.ID, d2.ID); after.Status != "succeeded" || len(after.Attempts) != 1 {
				t.Errorf("the sibling's delivery changed: %+v", after)
			}

			expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(`{"active":false}`), http.StatusOK, nil)
			res, raw = redeliver(h.ID, d.ID)
			wantError(t, res, raw, http.StatusConflict, "conflict")
			// The test endpoint works on a disabled webhook too.
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Errorf("test of a disabled webhook: %s, want delivered", raw)
			}
			expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(`{"active":true}`), http.StatusOK, nil)
			if res, raw = redeliver(h.ID, d.ID); res.StatusCode != http.StatusAccepted {
				t.Errorf("redeliver once enabled again: %d, want 202: %s", res.StatusCode, raw)
			} else {
				whWaitDelivery(t, tg, key, h.ID, d.ID, "succeeded", 3)
			}
		})

		t.Run("redeliver failed deliveries", func(t *testing.T) {
			key := tg.newOrg(t, "wh redeliver failed")
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "down", "url": rec.url("/fail"),
				"events": []string{"lead.created"}, "max_attempts": 1})
			sibling := whCreateHook(t, tg, key, map[string]any{"name": "also down", "url": rec.url("/fail"),
				"events": []string{"lead.created"}, "max_attempts": 1})
			since := time.Now().UTC().Add(-time.Second).Format(time.RFC3339Nano)
			for i := range 3 {
				whCreateLead(t, tg, key, fmt.Sprintf("Outage %d", i))
			}
			allFailed := func(ds []whDelivery) bool {
				n := 0
				for _, d := range ds {
					if d.Status == "failed" && len(d.Attempts) == 1 {
						n++
					}
				}
				return n == 3
			}
			failed := whWaitDeliveries(t, tg, key, h.ID, "3 failed", allFailed)
			whWaitDeliveries(t, tg, key, sibling.ID, "3 failed", allFailed)

			path := fmt.Sprintf("/webhooks/%d/deliveries/redeliver", h.ID)
			redeliver := func(body any) (*http.Response, []byte) {
				return doJSON(t, tg, key, http.MethodPost, path, body)
			}
			var result struct {
				Queued  *int  `json:"queued"`
				HasMore *bool `json:"has_more"`
			}
			// The endpoint is back: the failed deliveries go again.
			expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), map[string]any{"url": rec.url("/ok")}, http.StatusOK, nil)
			raw := expectJSON(t, tg, key, http.MethodPost, path, map[string]any{"since": since}, http.StatusAccepted, &result)
			if result.Queued == nil || *result.Queued != 3 || result.HasMore == nil || *result.HasMore {
				t.Fatalf("redeliver failed answered %s, want 3 queued and no more", raw)
			}
			again := whWaitDeliveries(t, tg, key, h.ID, "3 succeeded on their second attempt", func(ds []whDelivery) bool {
				n := 0
				for _, d := range ds {
					if d.Status == "succeeded" && len(d.Attempts) == 2 {
						n++
					}
				}
				return n == 3
			})
			for i, d := range again {
				// The list is newest first, as failed was.
				if d.ID != failed[i].ID || d.MessageID != failed[i].MessageID || d.EventID != failed[i].EventID {
					t.Errorf("delivery %d after: id %d, webhook_message_id %s, event_id %s; want %d, %s, %s",
						i, d.ID, d.MessageID, d.EventID, failed[i].ID, failed[i].MessageID, failed[i].EventID)
				}
			}
			if got := rec.waitAttempts(t, "/ok", 3, whWait); len(got) != 3 {
				t.Errorf("the endpoint got %d deliveries, want 3", len(got))
			}
			// Nothing failed is left: a repeat queues nothing.
			result.Queued, result.HasMore = nil, nil
			raw = expectJSON(t, tg, key, http.MethodPost, path, map[string]any{"since": since}, http.StatusAccepted, &result)
			if result.Queued == nil || *result.Queued != 0 || result.HasMore == nil || *result.HasMore {
				t.Errorf("a repeat answered %s, want 0 queued and no more", raw)
			}
			// The other webhook's deliveries are its own.
			for _, d := range whWaitDeliveries(t, tg, key, sibling.ID, "3 failed", allFailed) {
				if d.Status != "failed" || len(d.Attempts) != 1 {
					t.Errorf("the sibling's delivery %d changed: %+v", d.ID, d)
				}
			}

			res, raw := redeliver(map[string]any{"since": since, "until": since})
			wantError(t, res, raw, http.StatusUnprocessableEntity, "validation_error", "until")
			res, raw = redeliver(map[string]any{})
			wantError(t, res, raw, http.StatusUnprocessableEntity, "validation_error", "since")
			res, raw = redeliver(map[string]any{"since": "yesterday"})
			wantError(t, res, raw, http.StatusUnprocessableEntity, "validation_error", "since")
			res, raw = doJSON(t, tg, key, http.MethodPost, "/webhooks/999999999/deliveries/redeliver", map[string]any{"since": since})
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			other := tg.newOrg(t, "wh redeliver failed, another organization")
			res, raw = doJSON(t, tg, other, http.MethodPost, path, map[string]any{"since": since})
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			expectJSON(t, tg, key, http.MethodPatch, whHookPath(sibling.ID), rawJSON(`{"active":false}`), http.StatusOK, nil)
			res, raw = doJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/webhooks/%d/deliveries/redeliver", sibling.ID), map[string]any{"since": since})
			wantError(t, res, raw, http.StatusConflict, "conflict")
			for _, d := range whWaitDeliveries(t, tg, key, sibling.ID, "3 failed", allFailed) {
				if d.Status != "failed" {
					t.Errorf("a disabled webhook's delivery %d is %s, want still failed", d.ID, d.Status)
				}
			}
		})

		t.Run("deliveries list", func(t *testing.T) {
			key := tg.newOrg(t, "wh deliveries")
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "flaky", "url": rec.url("/fail-twice"),
				"events": []string{"lead.created"}, "max_attempts": 3})
			whCreateLead(t, tg, key, "Flaky")
			d1 := whWaitOne(t, tg, key, h.ID, "succeeded", 3)
			wantCodes := []int{500, 500, 200}
			for i, a := range d1.Attempts {
				if a.StatusCode == nil || *a.StatusCode != wantCodes[i] {
					t.Errorf("attempt %d: status_code %v, want %d", i, whDeref(a.StatusCode), wantCodes[i])
				}
				if (a.Error == nil) != (i == 2) || (a.Error != nil && !strings.Contains(*a.Error, "500")) {
					t.Errorf("attempt %d: error %v", i, whDeref(a.Error))
				}
				if a.DurationMS < 0 || a.AttemptedAt.IsZero() {
					t.Errorf("attempt %d: duration_ms %d attempted_at %v", i, a.DurationMS, a.AttemptedAt)
				}
				if i > 0 && !a.AttemptedAt.After(d1.Attempts[i-1].AttemptedAt) {
					t.Errorf("attempts not oldest first: %v then %v", d1.Attempts[i-1].AttemptedAt, a.AttemptedAt)
				}
			}
			if d1.NextAttemptAt != nil {
				t.Errorf("a succeeded delivery has next_attempt_at %v", *d1.NextAttemptAt)
			}

			expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), map[string]any{"url": rec.url("/fail")}, http.StatusOK, nil)
			r2, _ := whTest(t, tg, key, h.ID)
			expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), map[string]any{"url": rec.url("/ok")}, http.StatusOK, nil)
			r3, _ := whTest(t, tg, key, h.ID)
			if r2.Delivered || !r3.Delivered {
				t.Fatalf("test deliveries: %+v then %+v, want failed then delivered", r2, r3)
			}

			ids := func(p whDeliveryPage) []int64 {
				out := []int64{}
				for _, d := range p.Data {
					out = append(out, d.ID)
				}
				return out
			}
			cases := []struct {
				query string
				meta  whMeta
				ids   []int64
			}{
				{"", whMeta{1, 25, 3, 1}, []int64{r3.DeliveryID, r2.DeliveryID, d1.ID}},
				{"per_page=2", whMeta{1, 2, 3, 2}, []int64{r3.DeliveryID, r2.DeliveryID}},
				{"per_page=2&page=2", whMeta{2, 2, 3, 2}, []int64{d1.ID}},
				{"per_page=2&page=3", whMeta{3, 2, 3, 2}, []int64{}},
				{"status=failed", whMeta{1, 25, 1, 1}, []int64{r2.DeliveryID}},
				{"status=succeeded", whMeta{1, 25, 2, 1}, []int64{r3.DeliveryID, d1.ID}},
				{"status=pending", whMeta{1, 25, 0, 0}, []int64{}},
				{"status=succeeded&per_page=1&page=2", whMeta{2, 1, 2, 2}, []int64{d1.ID}},
			}
			for _, tc := range cases {
				p, raw := whDeliveries(t, tg, key, h.ID, tc.query)
				if p.Meta != tc.meta || !reflect.DeepEqual(ids(p), tc.ids) {
					t.Errorf("?%s: meta %+v ids %v, want %+v %v: %s", tc.query, p.Meta, ids(p), tc.meta, tc.ids, raw)
				}
				for i := 1; i < len(p.Data); i++ {
					if p.Data[i].CreatedAt.After(p.Data[i-1].CreatedAt) {
						t.Errorf("?%s: not newest first: %v before %v", tc.query, p.Data[i-1].CreatedAt, p.Data[i].CreatedAt)
					}
				}
			}
			res, raw := doJSON(t, tg, key, http.MethodGet, whHookPath(h.ID)+"/deliveries?status=lost", nil)
			wantError(t, res, raw, http.StatusBadRequest, "bad_request")
		})

		t.Run("tenant isolation", func(t *testing.T) {
			keyA, keyB := tg.newOrg(t, "wh tenant A"), tg.newOrg(t, "wh tenant B")
			recA, recB := startEndpoints(t), startEndpoints(t)
			hA := whCreateHook(t, tg, keyA, map[string]any{"name": "A", "url": recA.url("/ok"), "events": []string{"lead.created", "handoff.created"}})
			hB := whCreateHook(t, tg, keyB, map[string]any{"name": "B", "url": recB.url("/ok"), "events": []string{"lead.created"}})
			whCreateLead(t, tg, keyA, "Tenant A")
			dA := whWaitOne(t, tg, keyA, hA.ID, "succeeded", 1)
			_, hookBefore := whGetHook(t, tg, keyA, hA.ID)
			_, deliveriesBefore := whDeliveries(t, tg, keyA, hA.ID, "")

			for _, op := range []struct {
				method, path string
				body         any
			}{
				{http.MethodGet, whHookPath(hA.ID), nil},
				{http.MethodPatch, whHookPath(hA.ID), rawJSON(`{"name":"hacked","active":false,"url":"https://evil.example/x"}`)},
				{http.MethodDelete, whHookPath(hA.ID), nil},
				{http.MethodPost, whHookPath(hA.ID) + "/test", nil},
				{http.MethodPost, whHookPath(hA.ID) + "/rotate-secret", nil},
				{http.MethodGet, whHookPath(hA.ID) + "/deliveries", nil},
				{http.MethodPost, fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", hA.ID, dA.ID), nil},
				{http.MethodPost, fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", hB.ID, dA.ID), nil},
			} {
				res, raw := doJSON(t, tg, keyB, op.method, op.path, op.body)
				wantError(t, res, raw, http.StatusNotFound, "not_found")
				if bytes.Contains(raw, []byte(`"A"`)) || bytes.Contains(raw, []byte(hA.SigningSecret)) {
					t.Errorf("org B: %s %s leaks org A's webhook: %s", op.method, op.path, raw)
				}
			}
			list, total, _ := whListHooks(t, tg, keyB)
			if total != 1 || len(list) != 1 || list[0].ID != hB.ID {
				t.Errorf("org B lists %+v (total %d), want only its own webhook %d", list, total, hB.ID)
			}

			if _, after := whGetHook(t, tg, keyA, hA.ID); !bytes.Equal(after, hookBefore) {
				t.Errorf("org A's webhook changed:\nbefore %s\n after %s", hookBefore, after)
			}
			if _, after := whDeliveries(t, tg, keyA, hA.ID, ""); !bytes.Equal(after, deliveriesBefore) {
				t.Errorf("org A's deliveries changed:\nbefore %s\n after %s", deliveriesBefore, after)
			}

			// B's event is delivered to B; deliveries are queued with the
			// event, so A's log is final once B's delivery exists.
			whCreateLead(t, tg, keyB, "Tenant B")
			whWaitOne(t, tg, keyB, hB.ID, "succeeded", 1)
			if p, raw := whDeliveries(t, tg, keyA, hA.ID, ""); p.Meta.Total != 1 {
				t.Errorf("org A's webhook has %d deliveries after org B's event, want 1: %s", p.Meta.Total, raw)
			}
			if n := len(recA.AttemptLog()); n != 1 {
				t.Errorf("org A's receiver got %d requests, want 1 (its own lead.created)", n)
			}

			// A's secret was not rotated: a test still verifies with it, with
			// one signature only.
			if r, raw := whTest(t, tg, keyA, hA.ID); !r.Delivered {
				t.Fatalf("org A's test: %s", raw)
			}
			got := recA.waitAttempts(t, "", 2, whWait)
			last := got[len(got)-1]
			if !signedWith(hA.SigningSecret, last.Body, last.Header.Get("X-Webhook-Signature")) {
				t.Errorf("org A's secret no longer signs its deliveries")
			}
			if n := len(strings.Fields(last.Header.Get("Webhook-Signature"))); n != 1 {
				t.Errorf("org A's delivery carries %d Standard Webhooks signatures, want 1 (no rotation)", n)
			}
		})
	})
}

// whSecretIndex names a secret in failure messages without printing it.
func whSecretIndex(s string, secrets ...string) int {
	for i, x := range secrets {
		if x == s {
			return i
		}
	}
	return -1
}

func TestWebhookAPISSRF(t *testing.T) {
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		tg := startInProcessWith(t, db.URL, func(c *app.Config) {
			c.WebhookPollInterval = whPollInterval
			c.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond}
			c.WebhookTimeout = 2 * time.Second
		})
		key := tg.freshOrg(t)
		rec := startEndpoints(t)
		port := rec.port()
		for _, tc := range []struct {
			url   string
			addrs []string
		}{
			{"http://127.0.0.1:" + port + "/ok", []string{"127.0.0.1"}},
			{"http://10.0.0.1/", []string{"10.0.0.1"}},
			{"http://169.254.169.254/latest/meta-data/", []string{"169.254.169.254"}},
			{"http://localhost:" + port + "/ok", []string{"127.0.0.1", "::1"}},
		} {
			t.Run(tc.url, func(t *testing.T) {
				h := whCreateHook(t, tg, key, map[string]any{"name": "ssrf", "url": tc.url, "events": []string{"lead.created"}, "max_attempts": 1})
				r, raw := whTest(t, tg, key, h.ID)
				if r.Delivered || r.StatusCode != nil || r.Error == nil || !strings.Contains(*r.Error, "refused") {
					t.Fatalf("test of %s: %s, want not delivered, status_code null and a refusal", tc.url, raw)
				}
				named := false
				for _, a := range tc.addrs {
					named = named || strings.Contains(*r.Error, a)
				}
				if !named {
					t.Errorf("the error %q names none of %v", *r.Error, tc.addrs)
				}
				d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID)
				if len(d.Attempts) != 1 || d.Attempts[0].StatusCode != nil || !reflect.DeepEqual(d.Attempts[0].Error, r.Error) {
					t.Errorf("the logged attempt %+v, want the same refusal", d.Attempts)
				}
			})
		}
		if got := rec.AttemptLog(); len(got) != 0 {
			t.Errorf("the loopback receiver got %d requests, want none", len(got))
		}
	})
}

func TestWebhookAPIRedeliverPending(t *testing.T) {
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		tg := whDeliveryServer(t, db, func(c *app.Config) { c.WebhookRetrySchedule = []time.Duration{time.Hour} })
		key := tg.freshOrg(t)
		rec := startEndpoints(t)
		h := whCreateHook(t, tg, key, map[string]any{"name": "always 500", "url": rec.url("/fail"),
			"events": []string{"lead.created"}, "max_attempts": 15})
		whCreateLead(t, tg, key, "Pending")
		// Waits for a settled read: the log can show the attempt before the
		// delivery's new schedule (TestWebhookAPIDeliveryLogConsistency).
		d := whWaitDeliveries(t, tg, key, h.ID, "one pending delivery after its first attempt", func(ds []whDelivery) bool {
			return len(ds) == 1 && ds[0].Status == "pending" && len(ds[0].Attempts) == 1 && whInconsistency(ds[0]) == ""
		})[0]
		if d.NextAttemptAt == nil || time.Until(*d.NextAttemptAt) < 50*time.Minute {
			t.Errorf("next_attempt_at %v, want about an hour from now", whDeref(d.NextAttemptAt))
		}
		path := fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", h.ID, d.ID)
		res, raw := doJSON(t, tg, key, http.MethodPost, path, nil)
		wantError(t, res, raw, http.StatusConflict, "conflict")
		if after := whFindDelivery(t, tg, key, h.ID, d.ID); after.Status != "pending" || len(after.Attempts) != 1 {
			t.Errorf("the refused redelivery changed the delivery: %+v", after)
		}

		// Disabling fails the pending delivery; a disabled webhook refuses
		// redelivery until it is enabled again.
		expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(`{"active":false}`), http.StatusOK, nil)
		if after := whFindDelivery(t, tg, key, h.ID, d.ID); after.Status != "failed" || after.NextAttemptAt != nil {
			t.Errorf("after disabling, the pending delivery is %s (next %v), want failed", after.Status, whDeref(after.NextAttemptAt))
		}
		res, raw = doJSON(t, tg, key, http.MethodPost, path, nil)
		wantError(t, res, raw, http.StatusConflict, "conflict")
		expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(`{"active":true}`), http.StatusOK, nil)
		expectJSON(t, tg, key, http.MethodPost, path, nil, http.StatusAccepted, nil)
		whWaitOne(t, tg, key, h.ID, "pending", 2)
		if n := len(rec.AttemptLog()); n != 2 {
			t.Errorf("the receiver got %d requests, want 2", n)
		}
	})
}

func TestWebhookAPISecretsNotLogged(t *testing.T) {
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		logs := &syncbuf.Buffer{}
		tg := whDeliveryServer(t, db, func(c *app.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		key := tg.freshOrg(t)
		rec := startEndpoints(t)
		h := whCreateHook(t, tg, key, map[string]any{"name": "logged", "url": rec.url("/ok"),
			"events": []string{"lead.created"}, "max_attempts": 2})
		s1 := whRotate(t, tg, key, h.ID).SigningSecret
		if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
			t.Fatalf("test: %s", raw)
		}
		expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), map[string]any{"url": rec.url("/fail")}, http.StatusOK, nil)
		if r, raw := whTest(t, tg, key, h.ID); r.Delivered {
			t.Fatalf("test against /fail: %s", raw)
		}
		whCreateLead(t, tg, key, "Logged")
		whWaitDeliveries(t, tg, key, h.ID, "a failed lead.created", func(ds []whDelivery) bool {
			for _, d := range ds {
				if d.Event == "lead.created" && d.Status == "failed" && len(d.Attempts) == 2 {
					return true
				}
			}
			return false
		})

		out := logs.String()
		if !strings.Contains(out, "webhook attempt") {
			t.Fatalf("the logs do not mention the webhook attempts, so the logger is not the one in use:\n%s", out)
		}
		for i, s := range []string{h.SigningSecret, s1} {
			for _, needle := range []string{s, strings.TrimPrefix(s, "whsec_")} {
				if strings.Contains(out, needle) {
					t.Errorf("the logs contain secret #%d (%q)", i, needle)
				}
			}
		}
	})
}

// whInconsistency describes how a delivery in the log contradicts its own
// attempts, or returns "" when it does not.
func whInconsistency(d whDelivery) string {
	n := len(d.Attempts)
	ok2xx := func(a whAttempt) bool { return a.StatusCode != nil && *a.StatusCode >= 200 && *a.StatusCode < 300 }
	switch d.Status {
	case "pending":
		for i, a := range d.Attempts {
			if ok2xx(a) {
				return fmt.Sprintf("pending although attempt %d was answered %d", i, *a.StatusCode)
			}
		}
		if d.Event == "webhook.test" && n > 0 {
			return fmt.Sprintf("a test delivery is pending after %d attempts; it is never retried", n)
		}
		if n > 0 && (d.NextAttemptAt == nil || !d.NextAttemptAt.After(d.Attempts[n-1].AttemptedAt)) {
			return fmt.Sprintf("pending with next_attempt_at %v, not after its last attempt at %v", whDeref(d.NextAttemptAt), d.Attempts[n-1].AttemptedAt)
		}
	case "succeeded":
		if n == 0 || !ok2xx(d.Attempts[n-1]) {
			return fmt.Sprintf("succeeded but its last of %d attempts was not answered 2xx", n)
		}
	}
	return ""
}

// The delivery log is read while deliveries are being attempted: every
// delivery in every answer must agree with its own attempts (a delivery is
// never shown pending next to the 200 that finished it).
func TestWebhookAPIDeliveryLogConsistency(t *testing.T) {
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		tg := whDeliveryServer(t, db, nil)
		key := tg.freshOrg(t)
		rec := startEndpoints(t)
		h := whCreateHook(t, tg, key, map[string]any{"name": "consistency", "url": rec.url("/ok"), "events": []string{"lead.created"}})

		// The poller uses a plain client: it runs outside the test goroutine.
		stop := make(chan struct{})
		var (
			mu     sync.Mutex
			bad    []string
			polls  int
			wg     sync.WaitGroup
			client = &http.Client{Timeout: 10 * time.Second}
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/webhooks/%d/deliveries?per_page=100", tg.baseURL, h.ID), nil)
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var p whDeliveryPage
				if res.StatusCode != http.StatusOK || json.Unmarshal(body, &p) != nil {
					continue
				}
				mu.Lock()
				polls++
				for _, d := range p.Data {
					if msg := whInconsistency(d); msg != "" {
						b, _ := json.Marshal(d)
						bad = append(bad, fmt.Sprintf("delivery %d: %s: %s", d.ID, msg, b))
					}
				}
				mu.Unlock()
			}
		}()

		// Test deliveries are created pending and finished by one attempt;
		// real events go through the dispatcher.
		const n = 40
		for i := range n {
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test %d: %s", i, raw)
			}
			if i%4 == 0 {
				whCreateLead(t, tg, key, fmt.Sprintf("Consistency %d", i))
			}
		}
		whWaitDeliveries(t, tg, key, h.ID, "all finished", func(ds []whDelivery) bool {
			for _, d := range ds {
				if d.Status == "pending" {
					return false
				}
			}
			return len(ds) == n+n/4
		})
		close(stop)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if polls == 0 {
			t.Fatal("the poller never got a page of deliveries")
		}
		if len(bad) > 0 {
			t.Errorf("GET /webhooks/{id}/deliveries contradicted itself %d times in %d polls, e.g. %s", len(bad), polls, bad[0])
		}
	})
}
