package contracttests

// How the dispatcher shares its workers: a slow webhook holds no more than
// its share, its backlog waits behind its own attempts rather than in front
// of another customer's fresh events, organizations take turns, and the
// backlog shows in the API and in /metrics. The tests assert who was
// served and in what order, never how fast.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/app"
)

// gateReceiver answers 204 to every request, except that requests to a
// closed path wait until the path is opened (or the request is abandoned).
// It records the order in which requests arrived and how many were in
// flight at once per path.
type gateReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	closed   map[string]chan struct{} // path -> closed while held
	first    map[string][]int         // path -> statuses of its next requests, answered at once
	arrivals []string                 // paths, in arrival order
	inFlight map[string]int
	maxIn    map[string]int
}

func newGateReceiver(t *testing.T) *gateReceiver {
	t.Helper()
	g := &gateReceiver{closed: map[string]chan struct{}{}, first: map[string][]int{}, inFlight: map[string]int{}, maxIn: map[string]int{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		g.mu.Lock()
		for p, ch := range g.closed {
			close(ch)
			delete(g.closed, p)
		}
		g.mu.Unlock()
		g.srv.Close()
	})
	return g
}

func (g *gateReceiver) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	g.mu.Lock()
	g.arrivals = append(g.arrivals, r.URL.Path)
	g.inFlight[r.URL.Path]++
	g.maxIn[r.URL.Path] = max(g.maxIn[r.URL.Path], g.inFlight[r.URL.Path])
	gate := g.closed[r.URL.Path]
	status := http.StatusNoContent
	if codes := g.first[r.URL.Path]; len(codes) > 0 {
		status, gate, g.first[r.URL.Path] = codes[0], nil, codes[1:]
	}
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	}
	g.mu.Lock()
	g.inFlight[r.URL.Path]--
	g.mu.Unlock()
	w.WriteHeader(status)
}

// answerFirst answers the next requests to path at once, with these
// statuses, held or not.
func (g *gateReceiver) answerFirst(path string, statuses ...int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.first[path] = append(g.first[path], statuses...)
}

func (g *gateReceiver) url(path string) string { return g.srv.URL + path }

func (g *gateReceiver) hold(path string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed[path] == nil {
		g.closed[path] = make(chan struct{})
	}
}

func (g *gateReceiver) open(path string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch := g.closed[path]; ch != nil {
		close(ch)
		delete(g.closed, path)
	}
}

// seen returns the arrivals so far, how many were at path, how many are in
// flight there and the most that ever were.
func (g *gateReceiver) seen(path string) (arrivals []string, n, inFlight, most int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.arrivals {
		if p == path {
			n++
		}
	}
	return slices.Clone(g.arrivals), n, g.inFlight[path], g.maxIn[path]
}

// shareHook creates a webhook of the organization of key, subscribed to
// lead.created, at url, and returns its id.
func shareHook(t *testing.T, tg *target, key, url string) int64 {
	t.Helper()
	var w struct {
		ID int64 `json:"id"`
	}
	expectJSON(t, tg, key, http.MethodPost, "/webhooks", map[string]any{
		"name": "sharing", "url": url, "events": []string{"lead.created"},
	}, http.StatusCreated, &w)
	return w.ID
}

type shareBacklog struct {
	Backlog struct {
		Pending         int64      `json:"pending"`
		OldestPendingAt *time.Time `json:"oldest_pending_at"`
	} `json:"backlog"`
}

func shareGetBacklog(t *testing.T, tg *target, key string, id int64) shareBacklog {
	t.Helper()
	var b shareBacklog
	expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/webhooks/%d", id), nil, http.StatusOK, &b)
	return b
}

// shareMetrics returns the server's /metrics text.
func shareMetrics(t *testing.T, tg *target) string {
	t.Helper()
	res, err := http.Get(strings.TrimSuffix(tg.baseURL, "/api/v1") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
	}
	return string(b)
}

// TestWebhookSlowReceiverHoldsOnlyItsShare: organization A's receiver holds
// every request; its backlog must not stop organization B's events.
// Without a per-webhook cap every worker would end up waiting on A, and B
// would get nothing until A answered.
func TestWebhookSlowReceiverHoldsOnlyItsShare(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookWorkers, c.WebhookWorkersPerWebhook, c.WebhookTimeout = 4, 2, 30*time.Second
	}, func(t *testing.T, tg *target) {
		// Organization A through the seeder: /metrics labels series with
		// its id, which the API never shows.
		orgA := tg.seed(t).Organization(t, "A")
		keyA, keyB := orgA.Key, tg.newOrg(t, "B")
		g := newGateReceiver(t)
		g.hold("/a")
		hookA, hookB := shareHook(t, tg, keyA, g.url("/a")), shareHook(t, tg, keyB, g.url("/b"))

		const backlog = 12
		for range backlog {
			evCreateLead(t, tg, keyA, nil)
		}
		evWaitFor(t, func() bool { _, _, in, _ := g.seen("/a"); return in == 2 },
			func() string { _, n, in, _ := g.seen("/a"); return fmt.Sprintf("A: %d requests, %d in flight", n, in) })

		// While A's receiver holds its share, its backlog shows, in the API
		// and in /metrics.
		b := shareGetBacklog(t, tg, keyA, hookA)
		if b.Backlog.Pending != backlog || b.Backlog.OldestPendingAt == nil {
			t.Errorf("A's backlog %+v, want %d pending with an oldest_pending_at", b.Backlog, backlog)
		}
		series := fmt.Sprintf(`iagente_webhook_pending_deliveries{organization_id="%d",webhook_id="%d"} %d`, orgA.ID, hookA, backlog)
		if m := shareMetrics(t, tg); !strings.Contains(m, series) || !strings.Contains(m, "iagente_webhook_oldest_pending_age_seconds{") {
			t.Errorf("/metrics lacks %q or the age series:\n%s", series, m)
		}

		const fresh = 3
		for range fresh {
			evCreateLead(t, tg, keyB, nil)
		}
		evWaitFor(t, func() bool { _, n, _, _ := g.seen("/b"); return n == fresh },
			func() string {
				_, n, _, _ := g.seen("/b")
				return fmt.Sprintf("B's receiver got %d of %d while A's was held", n, fresh)
			})
		_, nA, _, mostA := g.seen("/a")
		if nA != 2 || mostA != 2 {
			t.Errorf("while held, A's receiver got %d requests and at most %d at once, want 2 and 2 (its share)", nA, mostA)
		}
		evWaitFor(t, func() bool { return shareGetBacklog(t, tg, keyB, hookB).Backlog.Pending == 0 },
			func() string { return "B's backlog did not empty" })

		g.open("/a")
		evWaitFor(t, func() bool { _, n, _, _ := g.seen("/a"); return n == backlog },
			func() string {
				_, n, _, _ := g.seen("/a")
				return fmt.Sprintf("A's receiver got %d of %d after it opened", n, backlog)
			})
		arrivals, _, _, mostA := g.seen("/a")
		if mostA > 2 {
			t.Errorf("A's receiver had %d requests in flight at once, more than its share of 2", mostA)
		}
		// B's events went before A's backlog, behind only A's own attempts.
		if i := slices.Index(arrivals, "/b"); i != 2 {
			t.Errorf("arrivals %v: B's first event came %dth, want 3rd, right after A's two held attempts", arrivals, i+1)
		}
		evWaitFor(t, func() bool {
			b := shareGetBacklog(t, tg, keyA, hookA)
			return b.Backlog.Pending == 0 && b.Backlog.OldestPendingAt == nil
		}, func() string {
			return fmt.Sprintf("A's backlog is still %+v", shareGetBacklog(t, tg, keyA, hookA).Backlog)
		})
		// /metrics reuses a read of the backlogs for up to a second.
		var m string
		for deadline := time.Now().Add(evDeadline); ; time.Sleep(200 * time.Millisecond) {
			if m = shareMetrics(t, tg); !strings.Contains(m, fmt.Sprintf(`webhook_id="%d"`, hookA)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics still lists A's webhook %s after its backlog emptied:\n%s", evDeadline, m)
			}
		}
	})
}

// lendingCase runs check on each database with 8 workers, a share of 2,
// and organization A's webhook given a backlog of lendingBacklog: its
// receiver answers the first two requests at once with status, then holds
// the rest. Organization B's webhook answers at once; keyB is its key.
func lendingCase(t *testing.T, status int, check func(t *testing.T, tg *target, g *gateReceiver, keyB string)) {
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookWorkers, c.WebhookWorkersPerWebhook, c.WebhookTimeout = 8, 2, 30*time.Second
	}, func(t *testing.T, tg *target) {
		keyA, keyB := tg.freshOrg(t), tg.newOrg(t, "B")
		g := newGateReceiver(t)
		g.answerFirst("/a", status, status)
		g.hold("/a")
		shareHook(t, tg, keyA, g.url("/a"))
		shareHook(t, tg, keyB, g.url("/b"))
		for range lendingBacklog {
			evCreateLead(t, tg, keyA, nil)
		}
		check(t, tg, g, keyB)
	})
}

const lendingBacklog = 16

// lendingFresh sends organization B's fresh events and waits until its
// receiver has them all.
func lendingFresh(t *testing.T, tg *target, g *gateReceiver, keyB string) {
	t.Helper()
	const fresh = 3
	for range fresh {
		evCreateLead(t, tg, keyB, nil)
	}
	evWaitFor(t, func() bool { _, n, _, _ := g.seen("/b"); return n == fresh },
		func() string { _, n, _, _ := g.seen("/b"); return fmt.Sprintf("B's receiver got %d of %d", n, fresh) })
}

// TestWebhookQuickReceiverBorrowsIdleWorkers: a webhook whose attempts
// succeed quickly runs on the workers the others leave idle, up to all but
// a share's worth, which stay free: another organization's events go out
// while it holds them. Without lending, A would run 2 at a time (its share)
// and never reach 6.
func TestWebhookQuickReceiverBorrowsIdleWorkers(t *testing.T) {
	t.Parallel()
	lendingCase(t, http.StatusNoContent, func(t *testing.T, tg *target, g *gateReceiver, keyB string) {
		const lendable = 6 // 8 workers less a share of 2
		evWaitFor(t, func() bool { _, _, in, _ := g.seen("/a"); return in == lendable },
			func() string {
				_, n, in, _ := g.seen("/a")
				return fmt.Sprintf("A: %d requests, %d in flight, want %d in flight", n, in, lendable)
			})
		lendingFresh(t, tg, g, keyB) // while A holds what it borrowed
		g.open("/a")
		evWaitFor(t, func() bool { _, n, _, _ := g.seen("/a"); return n == lendingBacklog },
			func() string {
				_, n, _, _ := g.seen("/a")
				return fmt.Sprintf("A's receiver got %d of %d", n, lendingBacklog)
			})
		if _, _, _, most := g.seen("/a"); most != lendable {
			t.Errorf("A's receiver had at most %d requests in flight, want %d: all workers but a share's worth", most, lendable)
		}
	})
}

// TestWebhookFailingReceiverDoesNotBorrow: a webhook whose last attempt
// failed keeps to its share even with every other worker idle.
func TestWebhookFailingReceiverDoesNotBorrow(t *testing.T) {
	t.Parallel()
	lendingCase(t, http.StatusInternalServerError, func(t *testing.T, tg *target, g *gateReceiver, keyB string) {
		evWaitFor(t, func() bool { _, n, in, _ := g.seen("/a"); return n == 4 && in == 2 },
			func() string { _, n, in, _ := g.seen("/a"); return fmt.Sprintf("A: %d requests, %d in flight", n, in) })
		// B's events give the dispatcher claims and turns in which A could
		// have borrowed.
		lendingFresh(t, tg, g, keyB)
		if _, n, _, most := g.seen("/a"); n != 4 || most != 2 {
			t.Errorf("A's receiver got %d requests and had at most %d in flight; want 4 and 2 (its share)", n, most)
		}
	})
}

// TestWebhookOrganizationsTakeTurns: one worker, and organization A's
// backlog is older than B's events. First come, first served would deliver
// all of A before any of B; taking turns alternates them.
func TestWebhookOrganizationsTakeTurns(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookWorkers, c.WebhookWorkersPerWebhook, c.WebhookTimeout = 1, 1, 30*time.Second
	}, func(t *testing.T, tg *target) {
		keyA, keyB := tg.freshOrg(t), tg.newOrg(t, "B")
		g := newGateReceiver(t)
		g.hold("/a")
		shareHook(t, tg, keyA, g.url("/a"))
		hookB := shareHook(t, tg, keyB, g.url("/b"))

		const nA, nB = 8, 3
		for range nA {
			evCreateLead(t, tg, keyA, nil)
		}
		// A's first delivery holds the one worker; everything else queues.
		evWaitFor(t, func() bool { _, n, _, _ := g.seen("/a"); return n == 1 },
			func() string { _, n, _, _ := g.seen("/a"); return fmt.Sprintf("A's receiver got %d requests", n) })
		for range nB {
			evCreateLead(t, tg, keyB, nil)
		}
		// The turn is decided among what the dispatcher holds when A's
		// first attempt ends: wait until it holds B's first delivery, which
		// the commit's wake-up makes it claim (on a loaded machine the
		// gate could otherwise open first, and A's next, claimed ahead,
		// would rightly go before a B not yet claimed). Grey-box: a lease
		// shows in the database alone.
		db, param := rawDB(t, tg.dbURL)
		leasedB := func() (n int) {
			if err := db.QueryRow(`SELECT COUNT(*) FROM delivery_queue WHERE webhook_id = `+param+` AND locked_by IS NOT NULL`, hookB).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		evWaitFor(t, func() bool { return leasedB() > 0 }, func() string { return "the dispatcher holds none of B's deliveries" })
		g.open("/a")
		evWaitFor(t, func() bool { a, _, _, _ := g.seen("/a"); return len(a) == nA+nB },
			func() string { a, _, _, _ := g.seen("/a"); return fmt.Sprintf("arrivals so far: %v", a) })
		arrivals, _, _, _ := g.seen("/a")
		want := []string{"/a", "/b", "/a", "/b", "/a", "/b", "/a", "/a", "/a", "/a", "/a"}
		if !slices.Equal(arrivals, want) {
			t.Errorf("arrivals %v, want the organizations taking turns: %v", arrivals, want)
		}
	})
}
