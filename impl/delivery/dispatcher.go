package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/faultlog"
)

// UserAgent identifies our deliveries.
const UserAgent = "IAGENTE-Webhooks/1.0"

// DefaultRetrySchedule is the wait after each failed attempt; the last entry
// repeats. openapi.yaml's Webhooks tag documents it.
var DefaultRetrySchedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
}

// Config tunes a Dispatcher. Its defaults are the service's (impl/app);
// New refuses a config without a timeout, a poll interval, a retry
// schedule, workers, a per-webhook share or a lease.
type Config struct {
	Timeout       time.Duration // per attempt
	PollInterval  time.Duration // how often to look for due deliveries
	RetrySchedule []time.Duration
	// DisableAfter is how many deliveries in a row may fail every attempt
	// before the webhook is disabled; 0 never disables.
	DisableAfter int
	Workers      int // concurrent attempts
	// PerWebhook is how many of the workers one webhook may hold at once
	// while it is slow or failing, and how many stay free while a quick
	// one borrows idle workers (see fairShare).
	PerWebhook   int
	Lease        time.Duration // how long a claim lasts; longer than Timeout
	AllowPrivate bool          // WEBHOOK_ALLOW_PRIVATE_TARGETS
	// Transport replaces the SSRF-guarded transport, for tests of the
	// dispatcher itself. An attempt's timeout is Timeout whatever it is.
	Transport http.RoundTripper
	Logger    *slog.Logger // nil discards
	Now       func() time.Time
}

// Dispatcher delivers queued deliveries: it claims due ones in batches,
// POSTs them concurrently with their signatures, and records the attempts
// of a batch, with their consequences, in one transaction.
type Dispatcher struct {
	queue  impl.DeliveryQueue
	cfg    Config
	sender *webhooks.WebhookInitiator
	worker string
	wake   chan struct{}
	// The rounds that fail together while the database is away: each
	// logs the first failure, a line every faultlog.DefaultEvery, and
	// the first success after them.
	claimLog, recordLog, releaseLog *faultlog.Log
	metrics                         *dispatchMetrics
}

// New returns a dispatcher over queue. Start it with Run.
func New(queue impl.DeliveryQueue, cfg Config) (*Dispatcher, error) {
	switch {
	case cfg.Timeout <= 0, cfg.PollInterval <= 0, len(cfg.RetrySchedule) == 0, cfg.Workers <= 0, cfg.PerWebhook <= 0:
		return nil, errors.New("delivery: the dispatcher needs a timeout, a poll interval, a retry schedule, workers and a per-webhook share")
	case cfg.Lease <= cfg.Timeout:
		return nil, fmt.Errorf("delivery: a lease (%s) must outlive an attempt's timeout (%s)", cfg.Lease, cfg.Timeout)
	case cfg.DisableAfter < 0:
		return nil, errors.New("delivery: DisableAfter cannot be negative")
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport(cfg.Timeout, cfg.AllowPrivate, cfg.Workers)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sender, _ := webhooks.NewWebhookInitiator(webhooks.WithWebhookHTTPClient(transportDoer{cfg.Transport}))
	var id [6]byte
	_, _ = rand.Read(id[:])
	host, _ := os.Hostname()
	return &Dispatcher{
		queue: queue, cfg: cfg, sender: sender,
		// Leases name their holder, so a replica only ever settles its own.
		worker:     host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(id[:]),
		wake:       make(chan struct{}, 1),
		claimLog:   &faultlog.Log{Logger: cfg.Logger, Level: slog.LevelError, Msg: "claim webhook deliveries", Now: cfg.Now},
		recordLog:  &faultlog.Log{Logger: cfg.Logger, Level: slog.LevelError, Msg: "record webhook attempts", Now: cfg.Now},
		releaseLog: &faultlog.Log{Logger: cfg.Logger, Level: slog.LevelError, Msg: "release webhook deliveries", Now: cfg.Now},
		metrics:    newDispatchMetrics(),
	}, nil
}

// Wake makes the dispatcher look for due deliveries now rather than at its
// next poll. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// recordTimeout bounds the transaction that records a batch of attempts. A
// batch not recorded in time is attempted again once its leases run out.
const recordTimeout = 30 * time.Second

// outcome is an attempt on its way to the recorder.
type outcome struct {
	claim     *impl.ClaimedDelivery
	record    impl.AttemptRecord
	abandoned bool // ended by shutdown: released, not recorded
}

// Run delivers until ctx is done. Then it stops claiming, releases what it
// claimed but had not started, and gives the attempts in flight up to the
// attempt timeout to finish; any still running after that are abandoned and
// their deliveries released for a retry.
//
// One loop starts the attempts and claims, a claim at a time, on a
// goroutine beside it; a pool of Workers goroutines makes the attempts, and
// one recorder writes the outcomes: whatever has ended while it wrote the
// previous batch goes into its next transaction. A webhook has at most
// PerWebhook attempts running or, while its last attempt was quick, more,
// as long as PerWebhook workers stay free; the loop claims ahead (up to
// as many again for a slow webhook, three times as many for a quick one),
// and those wait in the process for the webhook's running attempts, so that a
// webhook whose attempts end one by one is claimed for in batches and never
// waits for a claim between two attempts. An attempt gives its worker back
// once its outcome is handed to the recorder, which holds at most a worker's
// worth of them: a recorder that falls behind keeps the workers waiting, so
// a process never holds more than twice as many unrecorded attempts as it
// has workers (what a kill -9 may send again).
func (d *Dispatcher) Run(ctx context.Context) {
	// Attempts outlive ctx by the grace period: a shutdown should not turn
	// a delivery that is about to succeed into a failure.
	attemptCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	outcomes := make(chan outcome, d.cfg.Workers)
	ended := make(chan attemptEnd, d.cfg.Workers) // each attempt handed over
	var started atomic.Int64                      // attempts started, for the recorder
	recorderDone := make(chan struct{})
	go func() {
		defer close(recorderDone)
		d.record(outcomes, &started)
	}()

	// The attempts run on Workers long-lived goroutines rather than one new
	// goroutine each: signing and the HTTP client grow a goroutine's stack
	// past its start, and a new goroutine per attempt paid for copying it
	// every time (about 6 µs of a SQLite delivery's 150 in a drain profile).
	// At most Workers attempts run, so a send on jobs never waits.
	jobs := make(chan readyDelivery, d.cfg.Workers)
	defer close(jobs)
	for range d.cfg.Workers {
		go func() {
			var sg signer // this worker's
			for c := range jobs {
				rec, abandoned := d.attempt(attemptCtx, &sg, c.ClaimedDelivery)
				outcomes <- outcome{claim: c.ClaimedDelivery, record: rec, abandoned: abandoned}
				ended <- attemptEnd{webhookID: c.WebhookID, quick: !abandoned && quickAttempt(rec)}
			}
		}()
	}

	// A webhook may run its share; while its last attempt succeeded
	// quickly, it may also borrow idle workers, up to all but a share's
	// worth, which stay free for the other webhooks. It may hold, running
	// and claimed ahead, twice its share, or four times what it borrows to
	// while it is quick: a claim costs a round trip and the database's
	// time whatever its size, and a quick webhook's deliveries claimed
	// ahead are sent within seconds. Four times rather than twice gave
	// claims about twice as large, 13 % less of PostgreSQL's CPU a
	// delivery and a tenth more deliveries a second (docs/benchmarks.md);
	// eight times gave nothing more. What waits in the process does not
	// delay others: the ready queue starts the organization served least
	// recently first.
	lendable := max(d.cfg.PerWebhook, d.cfg.Workers-d.cfg.PerWebhook)
	fair := newFairShare(2*d.cfg.PerWebhook, 4*lendable)
	waitingToRun := newReadyQueue()
	running := 0
	held := 0 // claimed and not ended: waiting to run or running
	runLimit := func(webhookID int64) int {
		if fair.quick[webhookID] && running < lendable {
			return lendable
		}
		return d.cfg.PerWebhook
	}
	start := func() {
		for running < d.cfg.Workers {
			c, ok := waitingToRun.next(runLimit)
			if !ok {
				return
			}
			// A delivery that could not finish within its lease is given
			// back rather than risk a second worker sending it as well.
			if d.cfg.Now().Add(d.cfg.Timeout).After(c.leaseUntil) {
				waitingToRun.done(c.WebhookID)
				fair.settle(c.WebhookID)
				held--
				d.release(c.ClaimedDelivery)
				continue
			}
			running++
			started.Add(1)
			jobs <- c
		}
	}

	// A claim for less than claimMin waits for more room, unless new work
	// arrived, so that a busy dispatcher claims in batches rather than one
	// delivery per finished attempt. A webhook held back at its limit is
	// claimed for again once three eighths of that limit are free (three
	// quarters of what a slow webhook may run, one and a half times what
	// a quick one may), likewise, while what still waits keeps its
	// workers busy. The process holds, running and claimed ahead, at most
	// four times as many deliveries as it has workers.
	capacity := 4 * d.cfg.Workers
	claimMin := max(1, d.cfg.Workers/8)
	laneMin := func(webhookID int64) int { return max(1, fair.limit(webhookID)*3/8) }
	// roomAgain: the webhook, held back at its limit, has room for a claim.
	roomAgain := func(webhookID int64) bool { return fair.room(webhookID) >= laneMin(webhookID) }
	claimNow := true
	limited := false
	waiting := map[int64]bool{}

	// A claim runs on a goroutine of its own, so that the loop goes on
	// starting attempts meanwhile: an attempt that ended during a claim
	// used to leave its worker idle until the claim returned, and with
	// claims a third of the loop's time, a drain left a tenth of the CPU
	// idle (docs/benchmarks.md, "Claims beside the loop"). One claim runs
	// at a time. The claim reads fair (its share of each webhook, the
	// turns) while it picks; the loop holds mu whenever it is not waiting
	// in its select, so the two never touch fair at once.
	var mu sync.Mutex
	mu.Lock()
	claims := make(chan claimed, 1)
	claiming := false
	applyClaim := func(r claimed) {
		claiming = false
		for _, c := range r.batch {
			fair.start(c.WebhookID)
			held++
			waitingToRun.push(c, r.leaseUntil)
		}
		limited = r.left.limited
		clear(waiting)
		for _, id := range r.left.waiting {
			// Attempts that ended while it claimed may have made the room
			// they would have asked for again.
			if roomAgain(id) {
				claimNow = true
			} else {
				waiting[id] = true
			}
		}
		if limited && capacity-held >= claimMin {
			claimNow = true
		}
	}

	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		// Claim before starting what waits, so that a fresh event of an
		// organization served less recently goes before what was claimed
		// ahead for a busy webhook once the claim is in.
		if room := capacity - held; claimNow && room > 0 && !claiming {
			claimNow, claiming = false, true
			now := d.cfg.Now()
			perWebhook := min(fair.widest(), room) + 1
			go func() { claims <- d.claim(ctx, fair, &mu, perWebhook, room, now) }()
		}
		start()
		mu.Unlock()
		select {
		case <-ctx.Done():
			mu.Lock()
		case r := <-claims:
			mu.Lock()
			applyClaim(r)
		case <-ticker.C:
			mu.Lock()
			claimNow = true
		case <-d.wake:
			mu.Lock()
			claimNow = true
		case e := <-ended:
			mu.Lock()
			id := e.webhookID
			running--
			held--
			waitingToRun.done(id)
			fair.observe(id, e.quick)
			fair.settle(id)
			if waiting[id] && roomAgain(id) {
				delete(waiting, id)
				claimNow = true
			}
			if limited && capacity-held >= claimMin {
				claimNow = true
			}
		}
	}
	mu.Unlock()
	if claiming {
		// It ends soon: ctx is done. What it leased is given back.
		d.release((<-claims).batch...)
	}

	d.release(waitingToRun.drain()...)
	grace := time.After(d.cfg.Timeout + time.Second)
	for running > 0 {
		select {
		case <-ended:
			running--
		case <-grace:
			abandon()
			grace = nil
		}
	}
	close(outcomes)
	<-recorderDone
}

// release gives up the leases of deliveries that were not attempted.
func (d *Dispatcher) release(cs ...*impl.ClaimedDelivery) {
	if len(cs) == 0 {
		return
	}
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	d.releaseIDs(ctx, ids)
}

// releaseIDs gives up the leases of the deliveries ids; a failure is
// counted for /metrics and logged as part of its run (releaseLog).
func (d *Dispatcher) releaseIDs(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	if err := d.queue.ReleaseDeliveries(ctx, d.worker, ids); err != nil {
		d.metrics.releaseFailures.Inc()
		d.releaseLog.Failed(err, "deliveries", len(ids))
	} else {
		d.releaseLog.Succeeded()
	}
}

// claimed is what a claim leased, and what it left due.
type claimed struct {
	batch      []*impl.ClaimedDelivery
	left       leftover
	leaseUntil time.Time
}

// claim leases up to room due deliveries, chosen by fair, which it reads
// under mu; perWebhook is the most it may take of one webhook (the widest
// share when the claim began). It runs beside the loop (see Run).
func (d *Dispatcher) claim(ctx context.Context, fair *fairShare, mu *sync.Mutex, perWebhook, room int, now time.Time) claimed {
	r := claimed{leaseUntil: now.Add(d.cfg.Lease)}
	// How deep each lane was read: one more than the webhook could take
	// then, to tell whether it has more.
	asked := map[int64]int{}
	batch, err := d.queue.ClaimDeliveries(ctx, impl.ClaimRequest{
		Worker: d.worker, Now: now, LeaseUntil: r.leaseUntil,
		PerWebhook: perWebhook,
		LaneLimit: func(webhookID int64) int {
			mu.Lock()
			defer mu.Unlock()
			n := min(fair.room(webhookID), room) + 1
			asked[webhookID] = n
			return n
		},
		// Enough lanes for every free place to go to a different
		// organization, and some to spare for the lanes held back.
		Candidates: 4 * room,
		Pick: func(cands []impl.ClaimCandidate) []int64 {
			mu.Lock()
			defer mu.Unlock()
			var ids []int64
			ids, r.left = fair.pick(cands, room, func(webhookID int64) int {
				if n, ok := asked[webhookID]; ok {
					return n
				}
				return perWebhook
			})
			return ids
		},
	})
	r.batch = batch
	switch {
	case err == nil:
		d.claimLog.Succeeded()
	case ctx.Err() == nil:
		d.metrics.claimFailures.Inc()
		d.claimLog.Failed(err)
	}
	return r
}

// attemptEnd is what the loop learns when an attempt has been handed to
// the recorder.
type attemptEnd struct {
	webhookID int64
	quick     bool // see quickAttempt
}

// quickAfter is how soon an attempt must succeed for its webhook to borrow
// idle workers beyond its share (see fairShare).
const quickAfter = time.Second

// quickAttempt reports whether rec succeeded within quickAfter.
func quickAttempt(rec impl.AttemptRecord) bool {
	return rec.Outcome == impl.OutcomeSucceeded && rec.DurationMS < quickAfter.Milliseconds()
}

// recordLinger is how long the recorder waits for more outcomes before it
// records a batch, while attempts are still running. Attempts end one by
// one, and a transaction per attempt is what made the dispatcher slow; a
// millisecond gathers those of a busy dispatcher into one transaction, and
// a lone attempt (nothing else running) is recorded at once.
const recordLinger = time.Millisecond

// record writes the outcomes as they come, in batches, until outcomes is
// closed. started counts the attempts begun so far.
func (d *Dispatcher) record(outcomes <-chan outcome, started *atomic.Int64) {
	linger := time.NewTimer(recordLinger)
	received := int64(0)
	// One batch's slices, reused: a busy dispatcher records a few hundred
	// batches a second, and growing new ones each time was about 500 of the
	// 17,000 bytes a delivery allocated in a drain.
	batch := make([]outcome, 0, d.cfg.Workers)
	attempts := make([]impl.Attempted, 0, d.cfg.Workers)
	var released []int64
	for first := range outcomes {
		received++
		batch = append(batch[:0], first)
		linger.Reset(recordLinger)
	more:
		for len(batch) < d.cfg.Workers && received < started.Load() {
			select {
			case o, ok := <-outcomes:
				if !ok {
					break more
				}
				received++
				batch = append(batch, o)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		attempts, released = attempts[:0], released[:0]
		for _, o := range batch {
			// Counted here, on one goroutine, rather than by the workers,
			// which would contend for the histograms.
			d.metrics.attempted(o.claim, o.record, o.abandoned)
			if o.abandoned {
				released = append(released, o.claim.ID)
			} else {
				attempts = append(attempts, impl.Attempted{Delivery: o.claim, Record: o.record})
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		d.releaseIDs(ctx, released)
		if err := d.queue.RecordAttempts(ctx, d.worker, attempts, d.cfg.DisableAfter); err != nil {
			// The leases run out and the deliveries are attempted again:
			// at least once.
			d.metrics.recordFailures.Inc()
			d.recordLog.Failed(err, "attempts", len(attempts))
		} else {
			if len(attempts) > 0 {
				d.recordLog.Succeeded()
			}
			for _, a := range attempts {
				d.logAttempt(ctx, a.Delivery, a.Record)
			}
		}
		cancel()
		clear(batch) // the claims are not kept alive until the next batch
		clear(attempts)
	}
}

// TestWebhook makes one attempt of a webhook.test delivery to the webhook now.
func (d *Dispatcher) TestWebhook(ctx context.Context, orgID, webhookID int64) (*impl.WebhookTestResult, error) {
	now := d.cfg.Now()
	c, err := d.queue.CreateTestDelivery(ctx, orgID, webhookID, d.worker, now.Add(d.cfg.Lease))
	if err != nil {
		return nil, err
	}
	// The partner waits for this answer; a hang-up must not leave the
	// delivery without its attempt.
	store := context.WithoutCancel(ctx)
	rec, abandoned := d.attempt(store, nil, c)
	d.metrics.attempted(c, rec, abandoned)
	if abandoned {
		return nil, errors.New("delivery: test attempt abandoned")
	}
	if err := d.queue.RecordAttempts(store, d.worker, []impl.Attempted{{Delivery: c, Record: rec}}, d.cfg.DisableAfter); err != nil {
		return nil, err
	}
	d.logAttempt(ctx, c, rec)
	return &impl.WebhookTestResult{Delivered: rec.Outcome == impl.OutcomeSucceeded, StatusCode: rec.StatusCode,
		DurationMS: rec.DurationMS, Error: rec.Error, ResponseBody: rec.ResponseBody, DeliveryID: c.ID}, nil
}

// logAttempt logs a recorded attempt: at info when it succeeded, at warn
// when it did not.
func (d *Dispatcher) logAttempt(ctx context.Context, c *impl.ClaimedDelivery, rec impl.AttemptRecord) {
	level := slog.LevelInfo
	if rec.Outcome != impl.OutcomeSucceeded {
		level = slog.LevelWarn
	}
	if !d.cfg.Logger.Enabled(ctx, level) {
		return
	}
	// Typed attributes rather than key-value pairs: an int64 boxed in an
	// interface is an allocation, and this runs once per delivery.
	attrs := append(make([]slog.Attr, 0, 9), slog.Int64("delivery_id", c.ID), slog.Int64("webhook_id", c.WebhookID),
		slog.Int64("organization_id", c.OrganizationID), slog.String("event", c.Event),
		slog.Int("attempt", c.AttemptCount+1), slog.String("outcome", rec.Outcome),
		slog.Int64("duration_ms", rec.DurationMS))
	if rec.StatusCode != nil {
		attrs = append(attrs, slog.Int("status", int(*rec.StatusCode)))
	}
	if rec.Error != nil {
		attrs = append(attrs, slog.String("error", *rec.Error))
	}
	d.cfg.Logger.LogAttrs(ctx, level, "webhook attempt", attrs...)
}

// attempt POSTs the delivery once and classifies the result. abandoned is
// true when ctx ended the attempt (shutdown), which is not the receiver's
// failure and is not recorded.
func (d *Dispatcher) attempt(ctx context.Context, sg *signer, c *impl.ClaimedDelivery) (rec impl.AttemptRecord, abandoned bool) {
	start := d.cfg.Now()
	rec.AttemptedAt = start
	// The timeout bounds the whole attempt, the answer's body included:
	// the body is read below, before the deadline is cancelled.
	limited, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	resp, err := d.send(limited, sg, c, start.Unix())
	var retryAfter time.Duration
	var problem string
	gone := false
	if err != nil {
		rec.DurationMS = time.Since(start).Milliseconds()
		if ctx.Err() != nil {
			return rec, true
		}
		problem = describe(err, d.cfg.Timeout)
	} else {
		// Read a little of the body, within the attempt's timeout, so that
		// the connection can be reused; of an answer that is not 2xx, the
		// start is kept for the log (impl.ResponseExcerpt), the rest is
		// not. A bigger body, or one that trickles in, costs the
		// connection, not the worker.
		code := int32(resp.StatusCode)
		read := int64(0)
		if code < 200 || code >= 300 {
			excerpt := make([]byte, impl.ResponseExcerptBytes)
			n, _ := io.ReadFull(resp.Body, excerpt)
			rec.ResponseBody, read = impl.ResponseExcerpt(excerpt[:n]), int64(n)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit-read))
		resp.Body.Close()
		rec.DurationMS = time.Since(start).Milliseconds()
		rec.StatusCode = &code
		switch {
		case code >= 200 && code < 300:
			rec.Outcome = impl.OutcomeSucceeded
			return rec, false
		case code == http.StatusGone:
			gone = true
			problem = "the receiver answered 410 Gone"
		case code >= 300 && code < 400:
			problem = fmt.Sprintf("the receiver answered %d: redirects are not followed", code)
		default:
			problem = fmt.Sprintf("the receiver answered %d", code)
			if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
				retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), start)
			}
		}
	}
	rec.Error = &problem
	switch {
	case c.Test:
		rec.Outcome = impl.OutcomeFailed
	case gone:
		rec.Outcome = impl.OutcomeGone
	case c.AttemptCount+1 >= c.AttemptLimit:
		rec.Outcome = impl.OutcomeFailed
	default:
		rec.Outcome = impl.OutcomeRetry
		wait := d.backoff(c.AttemptCount)
		if retryAfter > 0 {
			wait = min(retryAfter, d.cfg.RetrySchedule[len(d.cfg.RetrySchedule)-1])
		}
		rec.NextAt = d.cfg.Now().Add(wait)
	}
	return rec, false
}

// backoff is the wait after the attempt numbered n (from 0) failed: the
// schedule's entry plus up to 20% jitter, so that a receiver's outage does
// not turn into synchronized waves of retries.
func (d *Dispatcher) backoff(n int) time.Duration {
	s := d.cfg.RetrySchedule
	base := s[min(n, len(s)-1)]
	if j := int64(base) / 5; j > 0 {
		r, _ := rand.Int(rand.Reader, big.NewInt(j))
		base += time.Duration(r.Int64())
	}
	return base
}

// transportDoer sends each request once on the transport, with no
// http.Client in between. A client's Do is for what deliveries never use,
// redirects and cookies, and pays for it on every request: a copy of the
// headers, kept for a redirect that is not followed, and a timer beside
// the context's deadline (1.8 KB of a SQLite drain's 16 KB a delivery).
// Without a client, a redirect is the answer, which is what a delivery
// records, and the attempt's deadline is its context's (see attempt).
type transportDoer struct{ rt http.RoundTripper }

func (t transportDoer) Do(req *http.Request) (*http.Response, error) {
	return t.rt.RoundTrip(req)
}

// drainLimit is how much of an answer's body an attempt reads.
const drainLimit = 64 << 10

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or
// invalid. Seconds beyond what a time.Duration holds (about 292 years) read
// as the most it holds, not as a negative wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(math.MaxInt64/time.Second) {
			return math.MaxInt64
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describe turns a transport error into the attempt's error text. It leaves
// out the URL, whose path or query may hold the partner's own token.
func describe(err error, timeout time.Duration) string {
	var forbidden *forbiddenTargetError
	if errors.As(err, &forbidden) {
		return forbidden.Error()
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	// The transport's errors may quote what the receiver sent.
	return "request failed: " + impl.PlainText(err.Error())
}

// send POSTs the body through the generated sender, with the headers
// webhooks.yaml documents, signed by sg (nil: a signer of its own).
func (d *Dispatcher) send(ctx context.Context, sg *signer, c *impl.ClaimedDelivery, ts int64) (*http.Response, error) {
	std, err := sg.standard(c.MessageID, ts, c.Body, c.Secrets)
	if err != nil {
		return nil, err
	}
	stamp := strconv.FormatInt(ts, 10)
	p := webhooks.LeadCreatedParams{
		UserAgent:         UserAgent,
		XWebhookEvent:     c.Event,
		XWebhookId:        c.MessageID,
		XWebhookTimestamp: stamp,
		XWebhookSignature: sg.legacy(c.Secrets[0], c.Body),
		WebhookId:         c.MessageID,
		WebhookTimestamp:  stamp,
		WebhookSignature:  std,
	}
	const ct = "application/json"
	body := bytes.NewReader(c.Body)
	// Each event has its own generated operation; their parameter structs
	// are identical, so one converts to the other.
	switch c.Event {
	case impl.EventLeadCreated:
		return d.sender.LeadCreatedWithBody(ctx, c.URL, &p, ct, body)
	case impl.EventLeadUpdated:
		q := webhooks.LeadUpdatedParams(p)
		return d.sender.LeadUpdatedWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventLeadQualified:
		q := webhooks.LeadQualifiedParams(p)
		return d.sender.LeadQualifiedWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventMessageReceived:
		q := webhooks.MessageReceivedParams(p)
		return d.sender.MessageReceivedWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventMessageSent:
		q := webhooks.MessageSentParams(p)
		return d.sender.MessageSentWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventMessageDelivered:
		q := webhooks.MessageDeliveredParams(p)
		return d.sender.MessageDeliveredWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventMessageRead:
		q := webhooks.MessageReadParams(p)
		return d.sender.MessageReadWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventMessageFailed:
		q := webhooks.MessageFailedParams(p)
		return d.sender.MessageFailedWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventHandoffCreated:
		q := webhooks.HandoffCreatedParams(p)
		return d.sender.HandoffCreatedWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventHandoffClosed:
		q := webhooks.HandoffClosedParams(p)
		return d.sender.HandoffClosedWithBody(ctx, c.URL, &q, ct, body)
	case impl.EventWebhookTest:
		q := webhooks.WebhookTestParams(p)
		return d.sender.WebhookTestWithBody(ctx, c.URL, &q, ct, body)
	}
	return nil, fmt.Errorf("no sender for event %q", c.Event)
}
