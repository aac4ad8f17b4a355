package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/promtext"
)

// TestDispatcherThroughAnOutage: while the database cannot serve the
// dispatcher (the deliveries' table locked past DB_TIMEOUT, on both
// databases), every poll for due deliveries fails. The log says so once,
// not at every poll, then says when the polls work again and how many
// failed; and the delivery that was due during the outage is made after
// it.
func TestDispatcherThroughAnOutage(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			var mu sync.Mutex
			var statuses []int // what the receiver answered, in order
			answers := []int{http.StatusInternalServerError, http.StatusNoContent}
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mu.Lock()
				code := answers[min(len(statuses), len(answers)-1)]
				statuses = append(statuses, code)
				mu.Unlock()
				w.WriteHeader(code)
			}))
			t.Cleanup(receiver.Close)
			seen := func() []int {
				mu.Lock()
				defer mu.Unlock()
				return append([]int(nil), statuses...)
			}

			e := startOutageApp(t, d.URL, func(c *app.Config) {
				c.WebhookDispatchOff = false
				c.WebhookAllowPrivateTargets = true
				c.WebhookPollInterval = 100 * time.Millisecond
				// Long enough for the lock to be in place when the
				// retry falls due.
				c.WebhookRetrySchedule = []time.Duration{time.Second}
			})
			res, b, _ := e.do(t, "POST", "/api/v1/webhooks",
				`{"name":"outage","url":"`+receiver.URL+`/hook","events":["lead.created"]}`)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("create webhook: %d %s", res.StatusCode, b)
			}
			if res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990020"}`); res.StatusCode != http.StatusCreated {
				t.Fatalf("create lead: %d %s", res.StatusCode, b)
			}
			// The first attempt fails and is recorded (its log line comes
			// after the record): the retry is due a second later.
			if !eventually(10*time.Second, func() bool {
				return strings.Contains(e.logs.String(), `"msg":"webhook attempt"`)
			}) {
				t.Fatalf("no attempt recorded; receiver saw %v; log:\n%s", seen(), e.logs.String())
			}
			release := holdTableLock(t, d, "deliveries")
			// The retry falls due under the lock; with DB_TIMEOUT at 1 s,
			// two polls or more fail in the 4 s the lock is held.
			time.Sleep(4 * time.Second)
			if got := seen(); len(got) != 1 {
				t.Fatalf("the receiver saw %v while the deliveries were locked; want the first attempt alone", got)
			}
			release()
			if !eventually(10*time.Second, func() bool { return len(seen()) == 2 }) {
				t.Fatalf("the retry was not made after the outage; receiver saw %v; log:\n%s", seen(), e.logs.String())
			}

			var failures, recoveries []map[string]any
			if !eventually(5*time.Second, func() bool {
				failures, recoveries = nil, nil
				for _, line := range strings.Split(e.logs.String(), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(line), &m) != nil {
						continue
					}
					switch m["msg"] {
					case "claim webhook deliveries":
						failures = append(failures, m)
					case "claim webhook deliveries: working again":
						recoveries = append(recoveries, m)
					}
				}
				return len(recoveries) > 0
			}) {
				t.Fatalf("no line said the polls work again; log:\n%s", e.logs.String())
			}
			if len(failures) != 1 || failures[0]["level"] != "ERROR" || failures[0]["err"] == "" {
				t.Errorf("failed polls logged %d times, want once at error with the error: %v", len(failures), failures)
			}
			if n, _ := recoveries[0]["failures"].(float64); len(recoveries) != 1 || n < 2 || recoveries[0]["level"] != "INFO" {
				t.Errorf("the end of the outage: %v; want one line at info counting two failed polls or more", recoveries)
			}
			t.Logf("%d polls failed over %vs", int(recoveries[0]["failures"].(float64)), recoveries[0]["failed_for_s"])

			// /metrics says the same: two attempts (the failure, then the
			// retry after the outage), each counted by its outcome and
			// timed, and as many failed claims as the log counted.
			_, body, _ := e.do(t, "GET", "/metrics", "")
			m, err := promtext.Parse(string(body))
			if err != nil {
				t.Fatalf("/metrics: %v", err)
			}
			for series, want := range map[string]float64{
				`iagente_webhook_attempts_total{outcome="retry"}`:                               1,
				`iagente_webhook_attempts_total{outcome="succeeded"}`:                           1,
				`iagente_webhook_attempts_total{outcome="failed"}`:                              0,
				`iagente_webhook_attempt_duration_seconds_count`:                                2,
				`iagente_webhook_delivery_lag_seconds_count`:                                    2,
				`iagente_webhook_dispatcher_failures_total{round="claim"}`:                      recoveries[0]["failures"].(float64),
				`iagente_webhook_dispatcher_failures_total{round="record"}`:                     0,
				`iagente_http_requests_total{route="/api/v1/leads",method="POST",status="201"}`: 1,
			} {
				if got, ok := m[series]; !ok || got != want {
					t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
				}
			}
			// The retry waited at least the second of the schedule past its
			// first attempt, and more for the outage: its lag is in a bucket
			// above a second (le is cumulative: under 1 s, only the first).
			if m[`iagente_webhook_delivery_lag_seconds_bucket{le="1"}`] != 1 {
				t.Errorf("deliveries sent within a second of falling due: %v, want 1 (the first attempt)", m[`iagente_webhook_delivery_lag_seconds_bucket{le="1"}`])
			}
			if m["iagente_db_connections_open"] < 1 || m["iagente_db_connections_max"] < 1 {
				t.Errorf("the pool: %v open of %v", m["iagente_db_connections_open"], m["iagente_db_connections_max"])
			}
		})
	}
}
