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
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/impl"
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
// schedule, workers or a lease.
type Config struct {
	Timeout       time.Duration // per attempt
	PollInterval  time.Duration // how often to look for due deliveries
	RetrySchedule []time.Duration
	// DisableAfter is how many deliveries in a row may fail every attempt
	// before the webhook is disabled; 0 never disables.
	DisableAfter int
	Workers      int           // concurrent attempts
	Lease        time.Duration // how long a claim lasts; longer than Timeout
	AllowPrivate bool          // WEBHOOK_ALLOW_PRIVATE_TARGETS
	// Client replaces the SSRF-guarded client, for tests of the dispatcher
	// itself.
	Client *http.Client
	Logger *slog.Logger // nil discards
	Now    func() time.Time
}

// Dispatcher delivers queued deliveries: it claims due ones, POSTs them with
// their signatures, and records each attempt with its consequence.
type Dispatcher struct {
	queue  impl.DeliveryQueue
	cfg    Config
	sender *webhooks.WebhookInitiator
	worker string
	wake   chan struct{}
}

// New returns a dispatcher over queue. Start it with Run.
func New(queue impl.DeliveryQueue, cfg Config) (*Dispatcher, error) {
	switch {
	case cfg.Timeout <= 0, cfg.PollInterval <= 0, len(cfg.RetrySchedule) == 0, cfg.Workers <= 0:
		return nil, errors.New("delivery: the dispatcher needs a timeout, a poll interval, a retry schedule and workers")
	case cfg.Lease <= cfg.Timeout:
		return nil, fmt.Errorf("delivery: a lease (%s) must outlive an attempt's timeout (%s)", cfg.Lease, cfg.Timeout)
	case cfg.DisableAfter < 0:
		return nil, errors.New("delivery: DisableAfter cannot be negative")
	}
	if cfg.Client == nil {
		cfg.Client = NewHTTPClient(cfg.Timeout, cfg.AllowPrivate)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sender, _ := webhooks.NewWebhookInitiator(webhooks.WithWebhookHTTPClient(cfg.Client))
	var id [6]byte
	_, _ = rand.Read(id[:])
	host, _ := os.Hostname()
	return &Dispatcher{
		queue: queue, cfg: cfg, sender: sender,
		// Leases name their holder, so a replica only ever settles its own.
		worker: host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(id[:]),
		wake:   make(chan struct{}, 1),
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

// Run delivers until ctx is done. Then it stops claiming and gives the
// attempts in flight up to the attempt timeout to finish; any still running
// after that are abandoned and their deliveries released for a retry.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	// Attempts outlive ctx by the grace period: a shutdown should not turn
	// a delivery that is about to succeed into a failure.
	attemptCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	slots := make(chan struct{}, d.cfg.Workers)
	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		if free := d.cfg.Workers - len(slots); free > 0 {
			now := d.cfg.Now()
			batch, err := d.queue.ClaimDeliveries(ctx, d.worker, now, now.Add(d.cfg.Lease), free)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.Error("claim webhook deliveries", "err", err.Error())
			}
			for _, c := range batch {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					d.deliver(attemptCtx, c)
					<-slots
					d.Wake() // a free slot may take a waiting delivery
				}()
			}
			if len(batch) == free {
				continue // there may be more due
			}
		}
		select {
		case <-ctx.Done():
		case <-ticker.C:
		case <-d.wake:
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.cfg.Timeout + time.Second):
		abandon()
		<-done
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
	rec, err := d.deliver(context.WithoutCancel(ctx), c)
	if err != nil {
		return nil, err
	}
	return &impl.WebhookTestResult{Delivered: rec.Outcome == impl.OutcomeSucceeded, StatusCode: rec.StatusCode,
		DurationMS: rec.DurationMS, Error: rec.Error, DeliveryID: c.ID}, nil
}

// deliver makes one attempt and records it.
func (d *Dispatcher) deliver(ctx context.Context, c *impl.ClaimedDelivery) (impl.AttemptRecord, error) {
	rec, abandoned := d.attempt(ctx, c)
	// Recording must happen even while shutting down.
	store := context.WithoutCancel(ctx)
	if abandoned {
		if err := d.queue.ReleaseDeliveries(store, d.worker, []int64{c.ID}); err != nil {
			d.cfg.Logger.Error("release webhook delivery", "delivery_id", c.ID, "err", err.Error())
		}
		return rec, errors.New("delivery: delivery abandoned at shutdown")
	}
	if err := d.queue.RecordAttempt(store, d.worker, c, rec, d.cfg.DisableAfter); err != nil {
		// The lease runs out and the delivery is attempted again: at least once.
		d.cfg.Logger.Error("record webhook attempt", "delivery_id", c.ID, "err", err.Error())
		return rec, err
	}
	level := slog.LevelInfo
	if rec.Outcome != impl.OutcomeSucceeded {
		level = slog.LevelWarn
	}
	attrs := []any{"delivery_id", c.ID, "webhook_id", c.WebhookID, "organization_id", c.OrganizationID,
		"event", c.Event, "attempt", c.AttemptCount + 1, "outcome", rec.Outcome, "duration_ms", rec.DurationMS}
	if rec.StatusCode != nil {
		attrs = append(attrs, "status", *rec.StatusCode)
	}
	if rec.Error != nil {
		attrs = append(attrs, "error", *rec.Error)
	}
	d.cfg.Logger.Log(ctx, level, "webhook attempt", attrs...)
	return rec, nil
}

// attempt POSTs the delivery once and classifies the result. abandoned is
// true when ctx ended the attempt (shutdown), which is not the receiver's
// failure and is not recorded.
func (d *Dispatcher) attempt(ctx context.Context, c *impl.ClaimedDelivery) (rec impl.AttemptRecord, abandoned bool) {
	start := d.cfg.Now()
	rec.AttemptedAt = start
	resp, err := d.send(ctx, c, start.Unix())
	rec.DurationMS = time.Since(start).Milliseconds()
	var retryAfter time.Duration
	var problem string
	gone := false
	if err != nil {
		if ctx.Err() != nil {
			return rec, true
		}
		problem = describe(err, d.cfg.Timeout)
	} else {
		// Drain a little so the connection can be reused; the body is not kept.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		code := int32(resp.StatusCode)
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

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
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
	return "request failed: " + err.Error()
}

// send POSTs the body through the generated sender, with the headers
// webhooks.yaml documents.
func (d *Dispatcher) send(ctx context.Context, c *impl.ClaimedDelivery, ts int64) (*http.Response, error) {
	std, err := StandardSignature(c.MessageID, ts, c.Body, c.Secrets...)
	if err != nil {
		return nil, err
	}
	stamp := strconv.FormatInt(ts, 10)
	p := webhooks.LeadCreatedParams{
		UserAgent:         UserAgent,
		XWebhookEvent:     c.Event,
		XWebhookId:        c.MessageID,
		XWebhookTimestamp: stamp,
		XWebhookSignature: Signature(c.Secrets[0], c.Body),
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
