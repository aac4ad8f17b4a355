package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/ratelimit"
)

const testMetricsToken = "m3tr1cs-t0ken-0f-the-0perators"

// With METRICS_TOKEN, /metrics answers only its bearer: no token, another
// one or an API key get 401 with the error envelope, and count against the
// address as failed authentications do.
func TestMetricsAskForTheirToken(t *testing.T) {
	f := newFixtureWith(t, httpapi.ValidateStrict, nil, func(c *httpapi.Config) {
		c.MetricsToken = testMetricsToken
		c.AddressLimiter = ratelimit.NewMemory(4, 1000)
	})
	for name, header := range map[string]map[string]string{
		"no token":    nil,
		"other token": {"Authorization": "Bearer " + strings.Repeat("x", len(testMetricsToken))},
		"an API key":  {"Authorization": "Bearer " + f.key},
	} {
		rec := f.do(t, http.MethodGet, "/metrics", "", header)
		var env struct{ Error struct{ Code string } }
		if rec.Code != http.StatusUnauthorized || json.Unmarshal(rec.Body.Bytes(), &env) != nil || env.Error.Code != "unauthorized" ||
			rec.Header().Get("WWW-Authenticate") == "" || strings.Contains(rec.Body.String(), "iagente_") {
			t.Errorf("%s: %d %s %q, want 401 unauthorized with the envelope", name, rec.Code, rec.Body, rec.Header().Get("WWW-Authenticate"))
		}
	}
	rec := f.do(t, http.MethodGet, "/metrics", "", map[string]string{"Authorization": "Bearer " + testMetricsToken})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "iagente_response_validation_failures_total 0") {
		t.Fatalf("with the token: %d %s", rec.Code, rec.Body)
	}
	// Three failures and one success: the fourth failure is the address's
	// last, and then even the token waits for the window.
	f.do(t, http.MethodGet, "/metrics", "", nil)
	rec = f.do(t, http.MethodGet, "/metrics", "", map[string]string{"Authorization": "Bearer " + testMetricsToken})
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("after the address's failures ran out: %d %s", rec.Code, rec.Body)
	}
}

// Without METRICS_TOKEN anyone may read /metrics, as the docs, each
// request counted against the address's limit.
func TestMetricsWithoutTokenCountAgainstTheAddress(t *testing.T) {
	f := newFixtureWith(t, httpapi.ValidateStrict, nil, func(c *httpapi.Config) {
		c.AddressLimiter = ratelimit.NewMemory(3, 1000)
	})
	for i := range 3 {
		if rec := f.do(t, http.MethodGet, "/metrics", "", nil); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := f.do(t, http.MethodGet, "/metrics", "", nil)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"rate_limit_exceeded"`) {
		t.Errorf("past the address's limit: %d %s", rec.Code, rec.Body)
	}
}

// countingBacklog is a BacklogReader that counts its reads and holds each
// until release is closed.
type countingBacklog struct {
	reads   atomic.Int32
	release chan struct{}
}

func (b *countingBacklog) WebhookBacklogs(ctx context.Context) ([]impl.WebhookBacklog, error) {
	b.reads.Add(1)
	<-b.release
	return []impl.WebhookBacklog{{OrganizationID: 7, WebhookID: 9, Pending: 3}}, nil
}

// Requests for /metrics that arrive while the backlogs are read share that
// read, and those within a second of it reuse it: a flood of them costs the
// database one read a second, not one each.
func TestMetricsShareTheBacklogRead(t *testing.T) {
	backlog := &countingBacklog{release: make(chan struct{})}
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixtureWith(t, httpapi.ValidateStrict, nil, func(c *httpapi.Config) {
		c.Backlog, c.Now = backlog, clock
	})
	const series = `iagente_webhook_pending_deliveries{organization_id="7",webhook_id="9"} 3`
	scrape := func() string {
		rec := f.do(t, http.MethodGet, "/metrics", "", nil)
		if rec.Code != http.StatusOK {
			t.Errorf("/metrics: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}

	var wg sync.WaitGroup
	bodies := make([]string, 10)
	for i := range bodies {
		wg.Add(1)
		go func() { defer wg.Done(); bodies[i] = scrape() }()
	}
	// Let them all arrive while the first read is held, then end it.
	for deadline := time.Now().Add(5 * time.Second); backlog.reads.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(backlog.release)
	wg.Wait()
	for i, b := range bodies {
		if !strings.Contains(b, series) {
			t.Errorf("scrape %d lacks the backlog: %s", i, b)
		}
	}
	if n := backlog.reads.Load(); n != 1 {
		t.Errorf("10 scrapes at once read the backlogs %d times, want once", n)
	}

	mu.Lock()
	now = now.Add(900 * time.Millisecond)
	mu.Unlock()
	if b := scrape(); !strings.Contains(b, series) || backlog.reads.Load() != 1 {
		t.Errorf("a scrape within the second read again (%d reads)", backlog.reads.Load())
	}
	mu.Lock()
	now = now.Add(200 * time.Millisecond)
	mu.Unlock()
	if scrape(); backlog.reads.Load() != 2 {
		t.Errorf("a scrape past the second did not read again (%d reads)", backlog.reads.Load())
	}
}
