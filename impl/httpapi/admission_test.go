package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/httpapi"
)

// heldLeads holds every read of a lead until release is closed, counting
// how many are inside at once.
type heldLeads struct {
	impl.LeadStore
	release      chan struct{}
	inside, most atomic.Int64
}

func (h *heldLeads) FindLeadByID(ctx context.Context, orgID, id int64) (*impl.Lead, error) {
	n := h.inside.Add(1)
	for {
		m := h.most.Load()
		if n <= m || h.most.CompareAndSwap(m, n) {
			break
		}
	}
	<-h.release
	h.inside.Add(-1)
	return h.LeadStore.FindLeadByID(ctx, orgID, id)
}

func boundedFixture(t *testing.T, limit int, queue time.Duration) (*fixture, *heldLeads) {
	t.Helper()
	held := &heldLeads{release: make(chan struct{})}
	f := newFixtureWith(t, httpapi.ValidateStrict, func(s impl.LeadStore) impl.LeadStore {
		held.LeadStore = s
		return held
	}, func(c *httpapi.Config) { c.MaxConcurrentRequests, c.QueueTimeout = limit, queue })
	return f, held
}

// metric reads one series of /metrics.
func (f *fixture) metric(t *testing.T, name string) int64 {
	t.Helper()
	rec := f.do(t, http.MethodGet, "/metrics", "", nil)
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no %s in /metrics:\n%s", name, rec.Body)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// waitMetrics polls /metrics until running and queued read as wanted.
func (f *fixture) waitMetrics(t *testing.T, running, queued int64) {
	t.Helper()
	for range 1000 {
		if f.metric(t, "iagente_http_requests_running") == running && f.metric(t, "iagente_http_requests_queued") == queued {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("running %d, queued %d; want %d and %d", f.metric(t, "iagente_http_requests_running"),
		f.metric(t, "iagente_http_requests_queued"), running, queued)
}

func TestAdmissionBoundsTheRequestsRunningAtOnce(t *testing.T) {
	f, held := boundedFixture(t, 2, time.Minute)
	path := fmt.Sprintf("/api/v1/leads/%d", f.lead.ID)
	codes := make([]int, 6)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = f.do(t, http.MethodGet, path, "", f.bearer()).Code })
	}
	f.waitMetrics(t, 2, 4)
	// The two admitted ones reach the store after auth and validation.
	for i := 0; held.inside.Load() != 2; i++ {
		if i == 1000 {
			t.Fatalf("%d requests inside the store with a bound of 2 and 4 waiting", held.inside.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if q := f.metric(t, "iagente_http_requests_queued"); q != 4 {
		t.Fatalf("%d queued while 2 hold the places", q)
	}
	close(held.release)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: %d, want 200 once the places freed up", i, c)
		}
	}
	if most := held.most.Load(); most != 2 {
		t.Errorf("at most %d inside at once, want 2", most)
	}
	f.waitMetrics(t, 0, 0)
	if shed := f.metric(t, "iagente_http_requests_shed_total"); shed != 0 {
		t.Errorf("%d shed with a queue timeout of a minute", shed)
	}
}

func TestAdmissionShedsWhatWaitsTooLong(t *testing.T) {
	f, held := boundedFixture(t, 1, 100*time.Millisecond)
	path := fmt.Sprintf("/api/v1/leads/%d", f.lead.ID)
	first := make(chan int)
	go func() { first <- f.do(t, http.MethodGet, path, "", f.bearer()).Code }()
	f.waitMetrics(t, 1, 0)
	for i := 0; held.inside.Load() != 1; i++ {
		if i == 1000 {
			t.Fatal("the first request never reached the store")
		}
		time.Sleep(10 * time.Millisecond)
	}

	rec := f.do(t, http.MethodGet, path, "", f.bearer())
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a request past the bound, after its queue timeout: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if rec.Header().Get("Retry-After") != "2" || rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("Retry-After %q, X-Request-Id %q", rec.Header().Get("Retry-After"), rec.Header().Get("X-Request-Id"))
	}
	var env struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code != "service_unavailable" || env.Error.Message == "" || env.Error.Details == nil {
		t.Errorf("envelope %s (%v)", rec.Body, err)
	}
	if held.most.Load() != 1 {
		t.Errorf("the shed request reached the store")
	}

	close(held.release)
	if c := <-first; c != http.StatusOK {
		t.Fatalf("the request that held the place: %d", c)
	}
	f.waitMetrics(t, 0, 0)
	if shed := f.metric(t, "iagente_http_requests_shed_total"); shed != 1 {
		t.Errorf("shed_total %d, want 1", shed)
	}
	if c := f.do(t, http.MethodGet, path, "", f.bearer()).Code; c != http.StatusOK {
		t.Errorf("after the shed, a request got %d: the place was not given back", c)
	}
	// The probes and the docs are not behind the bound.
	if c := f.do(t, http.MethodGet, "/healthz", "", nil).Code; c != http.StatusOK {
		t.Errorf("/healthz %d", c)
	}
}

func TestNoBoundWithoutALimit(t *testing.T) {
	f, held := boundedFixture(t, 0, 0)
	close(held.release)
	path := fmt.Sprintf("/api/v1/leads/%d", f.lead.ID)
	if c := f.do(t, http.MethodGet, path, "", f.bearer()).Code; c != http.StatusOK {
		t.Fatalf("%d", c)
	}
	if rec := f.do(t, http.MethodGet, "/metrics", "", nil); regexp.MustCompile(`iagente_http_requests_(running|queued|limit|shed_total|pooled_total)`).MatchString(rec.Body.String()) {
		t.Errorf("admission metrics without a bound:\n%s", rec.Body)
	}
}
