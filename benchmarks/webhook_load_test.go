package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
)

// The webhook load runs: a customer's slow endpoint with a big backlog
// beside another customer's fresh events (BenchmarkWebhookFairness), and
// events committed at a steady rate by an API-only replica and delivered by
// a server in another process (BenchmarkWebhookSustained). Each takes a
// minute or more, so they run only with BENCH_WEBHOOK_LOAD=1:
//
//	BENCH_WEBHOOK_LOAD=1 go test -run '^$' -bench 'WebhookFairness|WebhookSustained' -benchtime 1x ./benchmarks/
//
// Like the other webhook benchmarks they report figures with ReportMetric;
// ns/op is the measured window.

const (
	// fairBacklog deliveries of organization A wait for its receiver, which
	// answers each after fairSlow; organization B writes fairSamples events,
	// one every fairSpacing, meanwhile.
	fairBacklog = 20000
	fairSlow    = 5 * time.Second
	fairSamples = 200
	fairSpacing = 50 * time.Millisecond
)

func skipUnlessLoad(b *testing.B) {
	b.Helper()
	if os.Getenv("BENCH_WEBHOOK_LOAD") != "1" {
		b.Skip("a load run of a minute or more: set BENCH_WEBHOOK_LOAD=1")
	}
}

// slowReceiver holds every request for hold before it answers 204, and
// counts the requests it holds and has answered.
type slowReceiver struct {
	mu   sync.Mutex
	at   map[int64]time.Time
	bad  atomic.Int64
	hold time.Duration // answer after this long

	inFlight, most atomic.Int64
	done           atomic.Int64 // requests answered
}

func (a *slowReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	n := a.inFlight.Add(1)
	for m := a.most.Load(); n > m && !a.most.CompareAndSwap(m, n); m = a.most.Load() {
	}
	defer a.inFlight.Add(-1)
	body, err := io.ReadAll(r.Body)
	var env struct {
		Data struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	if err != nil || json.Unmarshal(body, &env) != nil || env.Data.ID == 0 {
		a.bad.Add(1)
	} else {
		a.mu.Lock()
		if _, dup := a.at[env.Data.ID]; !dup {
			a.at[env.Data.ID] = at
		}
		a.mu.Unlock()
	}
	if a.hold > 0 {
		select {
		case <-time.After(a.hold):
		case <-r.Context().Done():
			return
		}
	}
	a.done.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// percentileMS is the q-quantile of sorted, in milliseconds.
func percentileMS(sorted []time.Duration, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return float64(sorted[max(0, i)]) / float64(time.Millisecond)
}

func reportLatencies(b *testing.B, prefix string, l []time.Duration) {
	b.ReportMetric(percentileMS(l, 0.50), prefix+"p50-ms")
	b.ReportMetric(percentileMS(l, 0.99), prefix+"p99-ms")
	b.ReportMetric(percentileMS(l, 1), prefix+"max-ms")
}

// hookTo creates a webhook of org subscribed to lead.created at url.
func hookTo(b *testing.B, a *app.App, org int64, url string) {
	b.Helper()
	h := &impl.Webhook{Name: "bench", URL: url, Events: []string{impl.EventLeadCreated}}
	if err := a.Stores.Webhooks.CreateWebhook(context.Background(), org, h); err != nil {
		b.Fatalf("create webhook: %v", err)
	}
}

// BenchmarkWebhookFairness: organization A's receiver answers each request
// after fairSlow and A has fairBacklog deliveries waiting; a dispatcher with
// the defaults (64 workers, 16 per webhook, 10 s timeout) works on them.
// Once A holds its share of the workers, organization B writes a lead every
// fairSpacing, fairSamples in all. Reports B's commit-to-receiver latency
// (b-p50-ms, b-p99-ms, b-max-ms), how many of A's deliveries completed
// during B's window (a-delivered), and the most requests A's receiver had
// at once (a-in-flight-max).
func BenchmarkWebhookFairness(b *testing.B) {
	skipUnlessLoad(b)
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			s := newWebhookSetup(b, db, true) // organization B, with a fast receiver
			slow := &slowReceiver{at: map[int64]time.Time{}, hold: fairSlow}
			slowSrv := httptest.NewServer(slow)
			b.Cleanup(slowSrv.Close)
			orgA, _ := newOrganization(b, s.app)
			hookTo(b, s.app, orgA.ID, slowSrv.URL+"/slow")
			setupA := &webhookSetup{app: s.app, orgID: orgA.ID, leads: 1 << 20} // distinct phones
			for range fairBacklog {
				setupA.createLead(b)
			}
			log := &attemptLog{}
			stop := s.dispatcher(0, log, true)
			defer stop()
			perWebhook := int64(app.Defaults().DispatcherConfig().PerWebhook)
			deadline := time.Now().Add(drainTimeout)
			for slow.inFlight.Load() < perWebhook {
				if time.Now().After(deadline) {
					b.Fatalf("A's receiver has %d requests in flight, want %d", slow.inFlight.Load(), perWebhook)
				}
				time.Sleep(10 * time.Millisecond)
			}

			commits := map[int64]time.Time{}
			var aDone int64
			for b.Loop() {
				aBefore := slow.done.Load()
				start := time.Now()
				for i := range fairSamples {
					if d := time.Until(start.Add(time.Duration(i) * fairSpacing)); d > 0 {
						time.Sleep(d)
					}
					id := s.createLead(b)
					commits[id] = time.Now()
				}
				for s.recv.arrivalCount() < len(commits) {
					if time.Since(start) > drainTimeout {
						b.Fatalf("B: %d of %d deliveries arrived", s.recv.arrivalCount(), len(commits))
					}
					time.Sleep(time.Millisecond)
				}
				aDone += slow.done.Load() - aBefore
			}
			lat := s.recv.latencies(b, commits)
			reportLatencies(b, "b-", lat)
			b.ReportMetric(float64(aDone), "a-delivered")
			b.ReportMetric(float64(slow.most.Load()), "a-in-flight-max")
		})
	}
}

// latencies returns arrival minus commit for each committed lead, sorted,
// and fails b if one has not arrived.
func (r *receiver) latencies(b *testing.B, commits map[int64]time.Time) []time.Duration {
	b.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, 0, len(commits))
	for id, committed := range commits {
		arrived, ok := r.arrivals[id]
		if !ok {
			b.Fatalf("no delivery arrived for lead %d", id)
		}
		out = append(out, max(0, arrived.Sub(committed)))
	}
	slices.Sort(out)
	return out
}

// writeTrace writes one line per event, in commit order: milliseconds from
// the first commit, then commit-to-receiver milliseconds. It shows when in
// a run the slow deliveries happened.
func (r *receiver) writeTrace(b *testing.B, path string, commits map[int64]time.Time) {
	b.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	type sample struct{ at, lat time.Duration }
	var first time.Time
	for _, c := range commits {
		if first.IsZero() || c.Before(first) {
			first = c
		}
	}
	out := make([]sample, 0, len(commits))
	for id, c := range commits {
		out = append(out, sample{c.Sub(first), r.arrivals[id].Sub(c)})
	}
	slices.SortFunc(out, func(x, y sample) int { return int(x.at - y.at) })
	var buf strings.Builder
	for _, s := range out {
		fmt.Fprintf(&buf, "%.1f %.2f\n", float64(s.at)/1e6, float64(s.lat)/1e6)
	}
	if err := os.WriteFile(path, []byte(buf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWebhookSustained: this process is an API-only replica (app.Open
// with WebhookDispatchOff) that commits lead.created events at a steady
// rate, 500 a second for 60 s by default (BENCH_SUSTAINED_RATE,
// BENCH_SUSTAINED_SECONDS), from 8 writers; `iagente-sdr serve` in another
// process, with the defaults, delivers them to a receiver in this process.
// The only way the other process hears of an event before its 250 ms poll
// is the NOTIFY this process sends after the commit. WEBHOOK_* variables
// set for the run are passed to the server. Each sample is the
// commit (CreateLead returning) to the receiver getting the request.
// Reports p50-ms, p99-ms, max-ms and the rate achieved (events/s).
// PostgreSQL only: SQLite is served by one process.
func BenchmarkWebhookSustained(b *testing.B) {
	skipUnlessLoad(b)
	db := databases[1]
	rate, seconds := envInt(b, "BENCH_SUSTAINED_RATE", 500), envInt(b, "BENCH_SUSTAINED_SECONDS", 60)
	s := newWebhookSetup(b, db, true) // migrates, and writes with dispatch off
	env := map[string]string{"DATABASE_URL": s.dbURL, "LOG_LEVEL": "warn"}
	// The run's own WEBHOOK_* settings go to the server, to measure others
	// than the defaults (WEBHOOK_WORKERS_PER_WEBHOOK, say).
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WEBHOOK_") {
			env[k] = v
		}
	}
	env["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
	startServer(b, buildServer(b), env)
	// One event first: the other process has connected to the receiver.
	warm := s.createLead(b)
	for s.recv.arrivalCount() < 1 {
		time.Sleep(time.Millisecond)
	}

	total := rate * seconds
	commits := make(map[int64]time.Time, total)
	var mu sync.Mutex
	var elapsed time.Duration
	for b.Loop() {
		var next atomic.Int64
		var wg sync.WaitGroup
		var leadsMu sync.Mutex
		start := time.Now()
		for range 8 {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(total) {
						return
					}
					if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
						time.Sleep(d)
					}
					leadsMu.Lock()
					lead := s.nextLead()
					leadsMu.Unlock()
					if err := s.app.Stores.Leads.CreateLead(context.Background(), s.orgID, lead); err != nil {
						b.Errorf("create lead: %v", err)
						return
					}
					committed := time.Now()
					mu.Lock()
					commits[lead.ID] = committed
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		elapsed = time.Since(start)
		for s.recv.arrivalCount() < len(commits)+1 {
			if time.Since(start) > time.Duration(seconds)*time.Second+drainTimeout {
				b.Fatalf("%d of %d deliveries arrived", s.recv.arrivalCount()-1, len(commits))
			}
			time.Sleep(time.Millisecond)
		}
	}
	delete(commits, warm)
	if path := os.Getenv("BENCH_SUSTAINED_TRACE"); path != "" {
		s.recv.writeTrace(b, path, commits)
	}
	lat := s.recv.latencies(b, commits)
	reportLatencies(b, "", lat)
	b.ReportMetric(float64(len(commits))/elapsed.Seconds(), "events/s")
	if f := s.recv.failures.Load(); f != 0 {
		b.Fatalf("the receiver could not read %d requests", f)
	}
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s must be a positive integer, not %q", name, v)
	}
	return n
}

// buildServer builds ./cmd/iagente-sdr into a temporary directory.
func buildServer(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "iagente-sdr")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/iagente-sdr")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/iagente-sdr: %v\n%s", err, out)
	}
	return bin
}

// startServer runs `bin serve` with env (and nothing else of this process's
// environment but PATH and HOME) on a free loopback port until b ends, and
// waits for /readyz.
func startServer(b *testing.B, bin string, env map[string]string) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LISTEN_ADDR=" + addr}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logPath := filepath.Join(b.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
		if b.Failed() {
			out, _ := os.ReadFile(logPath)
			b.Logf("server log:\n%s", out)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the server did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
