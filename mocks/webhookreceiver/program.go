package webhookreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Programming and inspecting a receiver from Go. The control API (control.go)
// offers the same over HTTP.

// Attempt is one request the receiver got on a path outside the control API,
// whatever it made of it: a delivery it accepted, one it refused, one its
// path was programmed to fail, a request to a path with no webhook.
type Attempt struct {
	Method string
	Path   string
	Header http.Header
	// Body is the raw body, as read: at most 1 MiB and a byte.
	Body []byte
	// At is when the request arrived.
	At time.Time
	// Status is what the receiver answered; 0 when the sender hung up
	// before the answer, during a programmed delay.
	Status int
	// Verified is true when both signature schemes verified with a
	// configured secret, webhook-timestamp was within 5 minutes and the
	// unsigned X-Webhook-Id and X-Webhook-Timestamp equal their signed twins.
	Verified bool
	// Problem is why the request is not a valid delivery, as "check:
	// message" (e.g. "webhook-timestamp: ... more than 5 minutes old"), or ""
	// when it is one. It is filled in whatever the path answered.
	Problem string
}

// Behavior is how one path answers a request.
type Behavior struct {
	// Status, when not 0, is answered to every request, valid or not, with
	// a small JSON body: it stands for an endpoint that fails, moved or is
	// gone before it looks at the delivery. 0 means the receiver's own
	// answer: check, record, 200 (or 4xx for an invalid delivery). Status
	// 0 on a path other than the receiver's makes it another webhook
	// endpoint.
	Status int
	// RetryAfter is sent as the Retry-After header with Status: seconds or
	// an HTTP date.
	RetryAfter string
	// Location is sent as the Location header with Status, for a redirect.
	Location string
	// Delay is waited before answering. The wait ends when the sender hangs
	// up, and then nothing is answered: enough to stall a sender past its
	// timeout without holding up the test.
	Delay time.Duration
	// Times is how many requests the behavior answers before the next one
	// in the path's sequence takes over; 0 means every request from then
	// on.
	Times int
}

func (b Behavior) check() error {
	switch {
	case b.Status != 0 && (b.Status < 200 || b.Status > 599):
		return fmt.Errorf("status %d is not 0 or from 200 to 599", b.Status)
	case b.Status == 0 && (b.RetryAfter != "" || b.Location != ""):
		return errors.New("retry_after and location go with a status")
	case b.Delay < 0:
		return errors.New("the delay is negative")
	case b.Times < 0:
		return errors.New("times is negative")
	}
	return nil
}

// SetBehavior programs how requests to path are answered, replacing what
// was programmed there before: each behavior in turn, for its Times
// requests; a last one with Times 0 stays. When the sequence runs out, or is
// empty, the path is back to its default: the receiver's own answer on the
// receiver's path, 404 anywhere else. Paths are independent: what one is
// programmed to do, or has used up, does not touch another.
//
// For example, an endpoint that fails twice and then accepts:
//
//	rcv.SetBehavior("/flaky", Behavior{Status: 500, Times: 2}, Behavior{})
//
// It panics on a path New would refuse or on an impossible behavior; the
// control API answers 400 to the same.
func (r *Receiver) SetBehavior(path string, seq ...Behavior) {
	if err := checkBehaviors(path, seq); err != nil {
		panic("webhookreceiver: " + err.Error())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setBehavior(path, seq)
}

func checkBehaviors(path string, seq []Behavior) error {
	if err := checkPath(path); err != nil {
		return err
	}
	for i, b := range seq {
		if err := b.check(); err != nil {
			return fmt.Errorf("behavior #%d for %s: %w", i+1, path, err)
		}
	}
	return nil
}

func (r *Receiver) setBehavior(path string, seq []Behavior) {
	if len(seq) == 0 {
		delete(r.behaviors, path)
		return
	}
	r.behaviors[path] = slices.Clone(seq)
}

// nextBehavior takes the behavior that answers the next request to path,
// using up one of its Times. It is taken when the request arrives, so a
// stalled request that the sender abandons has had its turn.
func (r *Receiver) nextBehavior(path string) (Behavior, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.behaviors[path]
	if len(seq) == 0 {
		return Behavior{}, false
	}
	b := seq[0]
	switch {
	case b.Times == 1:
		r.setBehavior(path, seq[1:])
	case b.Times > 1:
		seq[0].Times--
	}
	return b, true
}

// SetSecrets replaces the accepted secrets. A delivery is valid if it
// verifies with any of them, as during a rotation when the API signs with
// both the old and the new secret.
func (r *Receiver) SetSecrets(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setSecrets(secrets)
}

func (r *Receiver) setSecrets(secrets []string) {
	r.secrets = slices.Clone(secrets)
	r.keys = make([][]byte, len(secrets))
	for i, s := range secrets {
		r.keys[i], _ = standardKey(s)
	}
}

// FailNext makes the next n valid deliveries to the receiver's path get
// status (with a JSON error body) instead of 200, after any failures already
// programmed. They count as attempts, not as received events, and do not
// mark their X-Webhook-Id as seen: the retry that follows is the first real
// receipt, not a duplicate. Invalid deliveries are refused as usual and do
// not use up a failure, so a signature test keeps seeing 401 whatever is
// programmed.
func (r *Receiver) FailNext(n, status int) {
	r.FailNextWithRetryAfter(n, status, "")
}

// FailNextWithRetryAfter is FailNext with a Retry-After header on each
// answer (seconds or an HTTP date), which the API honours on 429 and 503.
func (r *Receiver) FailNextWithRetryAfter(n, status int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.failures = append(r.failures, failure{status: status, retryAfter: retryAfter})
	}
}

// SetDelay makes the receiver wait d before answering a valid delivery to
// its path, to let the sender's timeout fire. The wait ends when the sender
// hangs up; such a delivery is neither received nor failed, and uses up no
// programmed failure, since it got no answer at all.
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay = d
}

// Delaying is how many deliveries are waiting out a delay now (SetDelay's
// or a Behavior's): a test of
// the sender's deadline can let it pass once the receiver holds the
// request, rather than guess how long sending takes.
func (r *Receiver) Delaying() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delaying
}

// SetGone makes valid deliveries to the receiver's path get 410 Gone, which
// tells the API to disable the webhook, until SetGone(false).
func (r *Receiver) SetGone(gone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone = gone
}

// Events returns copies of the accepted deliveries, in arrival order,
// duplicates included (flagged).
func (r *Receiver) Events() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Received, len(r.events))
	for i, ev := range r.events {
		ev.Body = bytes.Clone(ev.Body)
		ev.Header = ev.Header.Clone()
		out[i] = ev
	}
	return out
}

// logEntry holds an attempt from its arrival, so that the log keeps arrival
// order, until it is answered (done) and may be read.
type logEntry struct {
	attempt Attempt
	done    bool
}

func (r *Receiver) begin(req *http.Request) *logEntry {
	e := &logEntry{attempt: Attempt{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone()}}
	r.mu.Lock()
	defer r.mu.Unlock()
	e.attempt.At = r.now()
	r.log = append(r.log, e)
	return e
}

// finish publishes an answered attempt. After a Reset the entry is no
// longer in the log, and this changes nothing anyone can see.
func (r *Receiver) finish(e *logEntry, a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.attempt, e.done = a, true
	r.broadcast()
}

// broadcast wakes the waiters; r.mu must be held.
func (r *Receiver) broadcast() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Attempts counts every request to the receiver's path, one still being
// answered included: accepted, rejected, failed on purpose or abandoned by
// the sender.
func (r *Receiver) Attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.log {
		if e.attempt.Path == r.path {
			n++
		}
	}
	return n
}

// AttemptLog returns copies of the answered attempts on every path, in
// arrival order.
func (r *Receiver) AttemptLog() []Attempt {
	return r.AttemptsFor("")
}

// AttemptsFor returns copies of the answered attempts to path, in arrival
// order; path "" means every path.
func (r *Receiver) AttemptsFor(path string) []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attemptsFor(path)
}

func (r *Receiver) attemptsFor(path string) []Attempt {
	var out []Attempt
	for _, e := range r.log {
		if e.done && (path == "" || e.attempt.Path == path) {
			a := e.attempt
			a.Header = a.Header.Clone()
			a.Body = bytes.Clone(a.Body)
			out = append(out, a)
		}
	}
	return out
}

// WaitForAttempts returns the answered attempts to path ("" for every path)
// once there are at least n, or ctx's error (saying how many there were)
// when ctx ends first.
func (r *Receiver) WaitForAttempts(ctx context.Context, path string, n int) ([]Attempt, error) {
	for {
		r.mu.Lock()
		got, changed := r.attemptsFor(path), r.changed
		r.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return got, fmt.Errorf("webhookreceiver: %d of %d attempts to %q answered: %w", len(got), n, path, ctx.Err())
		}
	}
}

// Rejected counts the requests refused as invalid: a bad signature or
// timestamp (401), a missing header, an unknown event or a body that is not
// the event's envelope (400), a body over 1 MiB (413), a method other than
// POST (405). A request to a path programmed with a Status is answered that
// Status instead, and is not counted here; its Attempt says whether it
// verified.
func (r *Receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Count returns how many accepted deliveries were of event, duplicates
// included.
func (r *Receiver) Count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.Event == event {
			n++
		}
	}
	return n
}

// WaitForEvents returns once at least n deliveries have been accepted, or
// ctx's error (saying how many arrived) when ctx ends first.
func (r *Receiver) WaitForEvents(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		have, changed := len(r.events), r.changed
		r.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("webhookreceiver: %d of %d events arrived: %w", have, n, ctx.Err())
		}
	}
}

// Reset returns the receiver to its state after New: nothing recorded,
// nothing programmed, the secrets given to New.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setSecrets(r.initial)
	r.events = nil
	r.seen = map[string]bool{}
	r.log = nil
	r.behaviors = map[string][]Behavior{}
	r.rejected = 0
	r.failures = nil
	r.delay = 0
	r.gone = false
}
