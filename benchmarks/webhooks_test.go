package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/benchmarks/internal/proccpu"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/delivery"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// The webhook delivery benchmarks. One process writes lead.created events
// through the store (DB.CreateLead, which queues a delivery per subscribed
// webhook in the lead's own transaction) and one delivery.Dispatcher delivers
// them to a receiver on a loopback port: an httptest.Server that answers 204
// at once and counts what it gets. The writer is app.Open with
// WebhookDispatchOff, so it runs no dispatcher of its own and the benchmark
// starts, wires and stops the one it measures.
//
// Unlike the request benchmarks these time wall-clock work, not one call:
// the receiver, the dispatcher and the database (SQLite in this process, or
// a PostgreSQL server on the same machine) share the machine's two cores,
// and the figures are reported with b.ReportMetric.
// ns/op is the timed part of one iteration: the drain of the backlog in
// BenchmarkWebhookDelivery, the whole run of samples in
// BenchmarkWebhookLatency.
//
// BenchmarkWebhookDelivery is throughput: a backlog of webhookBacklog
// pending deliveries is written with no dispatcher running (not timed), then
// a dispatcher is started and timed until the last one is recorded as
// succeeded. In the same iteration a bare net/http client sends the same
// request (the same headers and body as a real delivery) to the same
// receiver from as many goroutines as the dispatcher has workers, which is
// the ceiling: deliveries/s as a fraction of it is x-of-bare-client.
// idle-cores and bare-idle-cores are how many of the machine's cores sat
// idle (or waiting for I/O) during each, from /proc/stat: what the CPU per
// delivery leaves out when the dispatcher waits on itself.
//
// BenchmarkWebhookLatency is commit-to-delivery latency: with the dispatcher
// running at its default 250 ms poll, leads are created one every
// latencySpacing, and each sample is the time from CreateLead returning (the
// commit is its last step) to the receiver getting the request, matched on
// the envelope's data.id. wakeup=on wires DB.DeliveriesQueued to d.Wake as
// app.Open does; wakeup=off leaves the dispatcher to its poll alone.

var (
	// webhookBacklog is how many pending deliveries one iteration of
	// BenchmarkWebhookDelivery drains.
	webhookBacklog = sized(10000, 200)
	// anchorRequests is how many requests the bare client sends per
	// iteration.
	anchorRequests = sized(50000, 500)
	// latencySamples leads are created per iteration of
	// BenchmarkWebhookLatency, one every latencySpacing.
	latencySamples = sized(1000, 20)
)

const (
	latencySpacing = 5 * time.Millisecond
	// drainTimeout bounds every wait, so that a lost delivery fails the
	// benchmark instead of hanging it.
	drainTimeout = 2 * time.Minute
)

// receiver is the partner endpoint: it answers 204 to everything, counts
// requests, keeps the first one's headers and body for the bare client, and,
// when arrivals is set, records when the request for each lead id arrived.
type receiver struct {
	*httptest.Server
	requests atomic.Int64
	failures atomic.Int64

	firstOnce   sync.Once
	firstHeader http.Header
	firstBody   []byte

	mu       sync.Mutex
	arrivals map[int64]time.Time // nil: not recorded
}

func newReceiver(b *testing.B, recordArrivals bool) *receiver {
	b.Helper()
	r := &receiver{}
	if recordArrivals {
		r.arrivals = map[int64]time.Time{}
	}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	b.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.failures.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if req.Header.Get("X-Webhook-Id") != "" {
		r.firstOnce.Do(func() { r.firstHeader, r.firstBody = req.Header.Clone(), body })
	}
	if r.arrivals != nil {
		var env struct {
			Data struct {
				ID int64 `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Data.ID == 0 {
			r.failures.Add(1)
		} else {
			r.mu.Lock()
			if _, dup := r.arrivals[env.Data.ID]; !dup {
				r.arrivals[env.Data.ID] = at
			}
			r.mu.Unlock()
		}
	}
	r.requests.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// arrivalCount is how many distinct leads' deliveries have arrived.
func (r *receiver) arrivalCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.arrivals)
}

// attemptLog is the dispatcher's logger. The dispatcher logs "webhook
// attempt" only after RecordAttempt has committed, so counting the succeeded
// ones tells when a delivery is both received and recorded, without polling
// the database while it is being measured. Anything logged at Warn or above
// (a failed attempt, a store error) is kept and fails the benchmark.
type attemptLog struct {
	mu        sync.Mutex
	succeeded int
	want      int
	reached   chan struct{}
	problems  []string
}

// expect returns a channel closed once n attempts in all have succeeded.
func (l *attemptLog) expect(n int) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want, l.reached = n, make(chan struct{})
	if l.succeeded >= n {
		close(l.reached)
	}
	return l.reached
}

func (l *attemptLog) counts() (succeeded int, problems []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.succeeded, slices.Clone(l.problems)
}

func (l *attemptLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *attemptLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *attemptLog) WithGroup(string) slog.Handler            { return l }

func (l *attemptLog) Handle(_ context.Context, r slog.Record) error {
	succeeded := false
	if r.Message == "webhook attempt" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "outcome" {
				succeeded = a.Value.String() == impl.OutcomeSucceeded
				return false
			}
			return true
		})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case succeeded:
		l.succeeded++
		if l.reached != nil && l.succeeded >= l.want {
			close(l.reached)
			l.reached = nil
		}
	case r.Level >= slog.LevelWarn && len(l.problems) < 10:
		var sb strings.Builder
		sb.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value); return true })
		l.problems = append(l.problems, sb.String())
	}
	return nil
}

// webhookSetup is a fresh database with one organization whose one webhook
// is subscribed to lead.created and points at a new receiver.
type webhookSetup struct {
	app       *app.App
	dbURL     string
	orgID     int64
	webhookID int64
	recv      *receiver
	leads     int // leads created so far, for distinct phones
}

func newWebhookSetup(b *testing.B, db database, recordArrivals bool) *webhookSetup {
	b.Helper()
	cfg := app.Defaults()
	cfg.DatabaseURL = freshDatabase(b, db)
	cfg.RatePerMinute, cfg.RatePerDay = math.MaxInt32, math.MaxInt32
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg.WebhookDispatchOff = true // the benchmark runs the dispatcher it measures
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		b.Fatalf("start service: %v", err)
	}
	b.Cleanup(func() { a.Close() })
	org, _ := newOrganization(b, a)
	recv := newReceiver(b, recordArrivals)
	hook := &impl.Webhook{Name: "bench receiver", URL: recv.URL + "/webhooks/iagente", Events: []string{impl.EventLeadCreated}}
	if err := a.Stores.Webhooks.CreateWebhook(context.Background(), org.ID, hook); err != nil {
		b.Fatalf("create webhook: %v", err)
	}
	return &webhookSetup{app: a, dbURL: cfg.DatabaseURL, orgID: org.ID, webhookID: hook.ID, recv: recv}
}

// nextLead is the next lead to store, with every optional field set (a
// lead.created body of about 400 bytes).
func (s *webhookSetup) nextLead() *impl.Lead {
	i := s.leads
	s.leads++
	name := firstNames[i%len(firstNames)] + " " + lastNames[i%len(lastNames)]
	email := seedEmail(i)
	company := companies[i%len(companies)]
	deal := float64(1000 * (1 + i%50))
	return &impl.Lead{
		Phone: fmt.Sprintf("5511%09d", i), Name: &name, Email: &email, CompanyName: &company,
		Temperature: seedTemperature(i), LeadScore: int32(i % 101), DealValue: &deal,
	}
}

// createLead stores the next lead and returns its id.
func (s *webhookSetup) createLead(b *testing.B) int64 {
	lead := s.nextLead()
	if err := s.app.Stores.Leads.CreateLead(context.Background(), s.orgID, lead); err != nil {
		b.Fatalf("create lead %s: %v", lead.Phone, err)
	}
	return lead.ID
}

// dispatcher starts a dispatcher over the setup's database with log as its
// logger, with the service's defaults but for workers (0 keeps the
// default); stop cancels it and waits until Run has returned.
func (s *webhookSetup) dispatcher(workers int, log *attemptLog, wakeup bool) (stop func()) {
	cfg := app.Defaults()
	cfg.WebhookAllowPrivateTargets, cfg.Logger = true, slog.New(log)
	if workers > 0 {
		cfg.WebhookWorkers = workers
	}
	d, err := delivery.New(s.app.Stores.Queue, cfg.DispatcherConfig())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if wakeup {
		go func() { // as app.Open wires it
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.app.Stores.DB.DeliveriesQueued():
					d.Wake()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// wait fails b unless reached closes within drainTimeout.
func (s *webhookSetup) wait(b *testing.B, reached <-chan struct{}, log *attemptLog, what string) {
	b.Helper()
	select {
	case <-reached:
	case <-time.After(drainTimeout):
		ok, problems := log.counts()
		b.Fatalf("%s: only %d attempts succeeded within %s (receiver got %d requests); problems: %q",
			what, ok, drainTimeout, s.recv.requests.Load(), problems)
	}
	if _, problems := log.counts(); len(problems) > 0 {
		b.Fatalf("%s: the dispatcher logged problems: %q", what, problems)
	}
}

// checkDelivered fails b unless the webhook has exactly n deliveries, all
// succeeded. It is not timed.
func (s *webhookSetup) checkDelivered(b *testing.B, n int) {
	b.Helper()
	ctx := context.Background()
	page, err := s.app.Stores.Deliveries.FindDeliveries(ctx, s.orgID, s.webhookID, impl.DeliveryFilter{Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	total := page.Total
	succeeded := impl.DeliverySucceeded
	okPage, err := s.app.Stores.Deliveries.FindDeliveries(ctx, s.orgID, s.webhookID, impl.DeliveryFilter{Status: &succeeded, Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	ok := okPage.Total
	if total != int64(n) || ok != int64(n) {
		b.Fatalf("%d deliveries stored, %d succeeded, want %d of each", total, ok, n)
	}
	if f := s.recv.failures.Load(); f != 0 {
		b.Fatalf("the receiver could not read %d requests", f)
	}
}

// bareClientRate sends total copies of the request (header and body) to url
// from workers goroutines through one keep-alive client with room for
// workers idle connections, and returns requests per second.
func bareClientRate(b *testing.B, url string, header http.Header, body []byte, workers, total int) float64 {
	b.Helper()
	transport := &http.Transport{MaxIdleConns: workers, MaxIdleConnsPerHost: workers, IdleConnTimeout: 90 * time.Second}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					return
				}
				for k, v := range header {
					req.Header[k] = v
				}
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() != 0 {
		b.Fatalf("bare client: %d of %d requests failed", failed.Load(), total)
	}
	return float64(total) / elapsed.Seconds()
}

// BenchmarkWebhookDelivery is the throughput of one dispatcher draining a
// backlog of webhookBacklog lead.created deliveries to a local receiver,
// with 64 workers (the default) and 16, against a bare client's rate to the
// same receiver at the same concurrency. The backlog is one webhook's, so
// the dispatcher starts at its per-webhook share (a quarter of the workers)
// and, once its attempts succeed quickly, borrows the idle ones but a
// share's worth: 48 of 64 at once where the bare client uses them all. Each iteration writes the backlog
// (not timed), runs a new dispatcher until the last delivery is recorded as
// succeeded (timed), stops it, and runs the bare client (not timed).
func BenchmarkWebhookDelivery(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			for _, workers := range []int{app.Defaults().WebhookWorkers, 16} {
				b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
					s := newWebhookSetup(b, db, false)
					log := &attemptLog{}
					var delivered, anchored int
					var deliveryTime, anchorRate float64
					var ourCPU, ourDBCPU, bareCPU time.Duration
					var ourHeap, bareHeap heapUse
					// The cores the machine left idle: a drain that waits on
					// itself leaves them, which its CPU a delivery does not show.
					var ourIdle, bareIdle, bareWall time.Duration
					meter := newCPUMeter()
					for b.Loop() {
						b.StopTimer()
						for range webhookBacklog {
							s.createLead(b)
						}
						// Autovacuum would have analyzed the deliveries a
						// minute after such a burst; without statistics the
						// planner leases a claim's deliveries by scanning every
						// pending one instead of looking each up by id.
						settle(b, s.app, s.dbURL, "deliveries", "events")
						s.recv.requests.Store(0)
						reached := log.expect(delivered + webhookBacklog)
						b.StartTimer()

						start := time.Now()
						self0, db0 := meter.read()
						heap0 := readHeapUse()
						idle0, _ := proccpu.Idle()
						stopProfile := profileDrain(b)
						stop := s.dispatcher(workers, log, false)
						s.wait(b, reached, log, "drain the backlog")
						stopProfile()
						elapsed := time.Since(start)
						self1, db1 := meter.read()
						idle1, _ := proccpu.Idle()
						ourIdle += idle1 - idle0
						ourHeap = ourHeap.plus(readHeapUse().minus(heap0))

						b.StopTimer()
						stop()
						ourCPU += self1 - self0
						ourDBCPU += db1 - db0
						if got := s.recv.requests.Load(); got != int64(webhookBacklog) {
							b.Fatalf("receiver got %d requests for a backlog of %d", got, webhookBacklog)
						}
						delivered += webhookBacklog
						deliveryTime += elapsed.Seconds()

						bare0, _ := meter.read()
						bareHeap0 := readHeapUse()
						bareIdle0, _ := proccpu.Idle()
						bareStart := time.Now()
						rate := bareClientRate(b, s.recv.URL+"/webhooks/iagente", s.recv.firstHeader, s.recv.firstBody, workers, anchorRequests)
						bareWall += time.Since(bareStart)
						bareIdle1, _ := proccpu.Idle()
						bareIdle += bareIdle1 - bareIdle0
						bare1, _ := meter.read()
						bareHeap = bareHeap.plus(readHeapUse().minus(bareHeap0))
						bareCPU += bare1 - bare0
						anchorRate += rate
						anchored++
						b.StartTimer()
					}
					s.checkDelivered(b, delivered)
					ours := float64(delivered) / deliveryTime
					bare := anchorRate / float64(anchored)
					b.ReportMetric(ours, "deliveries/s")
					b.ReportMetric(bare, "bare-req/s")
					b.ReportMetric(ours/bare, "x-of-bare-client")
					b.ReportMetric(float64(len(s.recv.firstBody)), "body-bytes")
					// CPU per delivery (this process: dispatcher, receiver and,
					// on SQLite, the database; then PostgreSQL's processes) and
					// per bare request (client and receiver).
					us := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
					b.ReportMetric(us(ourCPU, delivered), "cpu-µs/delivery")
					if meter.postmaster != 0 && db.name == "postgres" {
						b.ReportMetric(us(ourDBCPU, delivered), "db-cpu-µs/delivery")
					}
					b.ReportMetric(us(bareCPU, anchored*anchorRequests), "bare-cpu-µs/req")
					b.ReportMetric(ourIdle.Seconds()/deliveryTime, "idle-cores")
					b.ReportMetric(bareIdle.Seconds()/bareWall.Seconds(), "bare-idle-cores")
					// What the collector has to do: bytes allocated, and
					// collections, per delivery and per bare request (both
					// with the receiver's share).
					b.ReportMetric(float64(ourHeap.bytes)/float64(delivered), "alloc-B/delivery")
					b.ReportMetric(float64(bareHeap.bytes)/float64(anchored*anchorRequests), "bare-alloc-B/req")
					b.ReportMetric(float64(ourHeap.cycles)*1e4/float64(delivered), "gc/10k-deliveries")
					b.ReportMetric(float64(bareHeap.cycles)*1e4/float64(anchored*anchorRequests), "bare-gc/10k-req")
				})
			}
		})
	}
}

// BenchmarkWebhookLatency is commit-to-delivery latency at a modest rate:
// one lead every latencySpacing, latencySamples per iteration, with the
// dispatcher's defaults (250 ms poll, 64 workers), with and without the
// in-process wake-up after commit.
func BenchmarkWebhookLatency(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			for _, wakeup := range []bool{true, false} {
				name := "wakeup=on"
				if !wakeup {
					name = "wakeup=off"
				}
				b.Run(name, func(b *testing.B) {
					s := newWebhookSetup(b, db, true)
					log := &attemptLog{}
					stop := s.dispatcher(0, log, wakeup)
					defer stop()

					// One delivery before timing opens the connection.
					s.createLead(b)
					s.wait(b, log.expect(1), log, "warm-up delivery")
					warm := s.recv.arrivalCount()

					commits := map[int64]time.Time{}
					for b.Loop() {
						start := time.Now()
						for i := range latencySamples {
							if d := time.Until(start.Add(time.Duration(i) * latencySpacing)); d > 0 {
								time.Sleep(d)
							}
							id := s.createLead(b)
							commits[id] = time.Now()
						}
						s.wait(b, log.expect(warm+len(commits)), log, "deliver the samples")
					}
					stop()

					s.recv.mu.Lock()
					latencies := make([]time.Duration, 0, len(commits))
					for id, committed := range commits {
						arrived, ok := s.recv.arrivals[id]
						if !ok {
							s.recv.mu.Unlock()
							b.Fatalf("no delivery arrived for lead %d", id)
						}
						// The receiver can see the request before CreateLead
						// has returned: the commit precedes the return.
						latencies = append(latencies, max(0, arrived.Sub(committed)))
					}
					s.recv.mu.Unlock()
					s.checkDelivered(b, warm+len(commits))

					slices.Sort(latencies)
					ms := func(q float64) float64 {
						i := int(math.Ceil(q*float64(len(latencies)))) - 1
						return float64(latencies[max(0, i)]) / float64(time.Millisecond)
					}
					b.ReportMetric(ms(0.50), "p50-ms")
					b.ReportMetric(ms(0.99), "p99-ms")
					b.ReportMetric(ms(1), "max-ms")
				})
			}
		})
	}
}

// BenchmarkListDeliveries is GET /webhooks/{id}/deliveries, 25 a page,
// with validation on and off, for a webhook of 1,000 deliveries (one in 50
// failed, a few pending), each with one attempt, seeded by two INSERT ...
// SELECT (deliveryScaleSeed, then the attempts from the deliveries),
// dated now so that the app's retention job leaves them.
func BenchmarkListDeliveries(b *testing.B) {
	benchPages(b, 1000, func(b *testing.B, a *app.App, dbURL string, orgID int64) string {
		ctx := context.Background()
		w := &impl.Webhook{Name: "bench", URL: "https://example.com/hook", Events: []string{impl.EventLeadCreated}, MaxAttempts: 8}
		if err := a.Stores.Webhooks.CreateWebhook(ctx, orgID, w); err != nil {
			b.Fatal(err)
		}
		dialect := a.Stores.DB.Dialect()
		raw := rawDB(b, dialect, dbURL)
		var event int64
		if err := raw.QueryRowContext(ctx, numbered(dialect, `INSERT INTO events (organization_id, type, payload, created_at, public_id, body)
			VALUES ($1, 'lead.created', '{}', $2, 'evt_bench', '{}') RETURNING id`), orgID, time.Now().UTC()).Scan(&event); err != nil {
			b.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, deliveryScaleSeed(dialect), orgID, 1000, event, w.ID, "msg_bench_"); err != nil {
			b.Fatal(err)
		}
		// Dated now, or the app's retention job would take them; on SQLite
		// written as the stores write times (_time_format=sqlite), not as
		// this raw connection would.
		var now any = time.Now().UTC()
		if dialect == sqlstore.SQLite {
			now = time.Now().UTC().Format("2006-01-02 15:04:05.999999999-07:00")
		}
		if _, err := raw.ExecContext(ctx, numbered(dialect, `UPDATE deliveries SET created_at = $2, updated_at = $2 WHERE webhook_id = $1`),
			w.ID, now); err != nil {
			b.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, numbered(dialect, `INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error, response_body)
			SELECT id, created_at, CASE status WHEN 'failed' THEN 400 ELSE 200 END, 42,
				CASE status WHEN 'failed' THEN 'HTTP 400' END, CASE status WHEN 'failed' THEN '{"error":"invalid signature"}' END
			FROM deliveries WHERE webhook_id = $1 AND status <> 'pending'`), w.ID); err != nil {
			b.Fatal(err)
		}
		return fmt.Sprintf("/api/v1/webhooks/%d/deliveries?per_page=25", w.ID)
	})
}
