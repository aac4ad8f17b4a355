package httpapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
)

// admission bounds how many API requests run at once. A request past the
// bound waits, in arrival order, for a running one to finish; one that
// waits longer than the queue allows (or whose client leaves) is answered
// 503 with Retry-After, without having touched anything.
//
// While no more requests run than there are CPUs, and the listener holds
// few connections, a request runs on its connection's goroutine, as
// without the bound. Past either, each one admitted runs on a pooled
// worker goroutine while its connection's goroutine waits for it. The deep
// part of a request (validation, the handler, the database driver) grows a
// goroutine's stack to 16-64 KiB, and the runtime keeps a stack at its
// largest until a collection finds it mostly unused: with 1,000 busy
// connections, stacks held 22-29 MB when every connection ran its own
// requests and 13-16 MB with the pool. Counting running requests alone
// was not enough on SQLite, whose requests never wait: two at a time ran
// on 1,000 connections' goroutines in turn, and their stacks held 25 MB.
// With few connections the handoff (which wakes another thread, 20-30 µs
// on an idle machine) buys nothing.
//
// The bound is on work the process does, not on waiting for a provider or a
// partner: a handler that calls out (a send, a template sync, a webhook
// test) gives its place back for the call (see outside), so a slow provider
// cannot hold every place while the requests behind it starve.
type admission struct {
	slots   chan struct{} // a token per request running inside the bound
	timeout time.Duration // the longest wait for a place
	work    chan *admitted
	// idleWorker is how long a worker waits for the next request before
	// it ends.
	idleWorker time.Duration
	// inline is how many may run at once (this one included) before a
	// request is handed to a worker: the CPUs the process may use.
	inline int64
	// conns counts the listener's open connections (nil: not known); past
	// inlineConns, every request is handed to a worker.
	conns       *Connections
	inlineConns int64
	// pooled counts the requests handed to a worker.
	pooled atomic.Int64

	queued, shed atomic.Int64
	// logger hears of shed requests, at most once per logEvery: how many
	// since it last heard.
	logger   *slog.Logger
	logEvery time.Duration
	logMu    sync.Mutex
	lastLog  time.Time
	logged   int64 // shed when it last heard
	// idle counts the workers waiting on work that no request has
	// reserved yet.
	idle atomic.Int64
}

// admitted is a request handed to a worker.
type admitted struct {
	next echo.HandlerFunc
	c    echo.Context
	t    *ticket
	err  error
	// panicked holds what the handler panicked with, re-raised on the
	// connection's goroutine so that net/http treats it as it always has.
	panicked any
	done     chan struct{}
}

var admittedPool = sync.Pool{New: func() any { return &admitted{done: make(chan struct{}, 1)} }}

// ticket is a request's place in the bound. out counts the calls to
// providers in flight (outside), during which the place is given back;
// finished is set when the request has ended and given its place back for
// good.
type ticket struct {
	a        *admission
	mu       sync.Mutex
	out      int
	finished bool
}

// ticketOf finds the request's ticket, in its requestLogger.
func ticketOf(ctx context.Context) *ticket {
	if l := stateOf(ctx); l != nil {
		return &l.ticket
	}
	return nil
}

// newAdmission bounds requests at limit; conns may be nil. Requests run on
// their connections' goroutines while the listener holds at most twice
// limit connections: their deep stacks then stay within a few MB.
func newAdmission(limit int, timeout time.Duration, conns *Connections, logger *slog.Logger) *admission {
	if logger == nil {
		logger = slog.Default()
	}
	return &admission{slots: make(chan struct{}, limit), timeout: timeout, logger: logger, logEvery: 30 * time.Second,
		work: make(chan *admitted), idleWorker: 30 * time.Second, inline: int64(runtime.GOMAXPROCS(0)),
		conns: conns, inlineConns: 2 * int64(limit)}
}

// runInline reports whether a request just admitted runs on its
// connection's goroutine.
func (a *admission) runInline() bool {
	return a.running() <= a.inline && (a.conns == nil || a.conns.Open() <= a.inlineConns)
}

// Connections counts a listener's open connections. Give Track to
// http.Server.ConnState, and the counter to Config.Connections.
type Connections struct{ open atomic.Int64 }

// Track is an http.Server.ConnState hook.
func (c *Connections) Track(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		c.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.open.Add(-1)
	}
}

// Open is how many connections are open.
func (c *Connections) Open() int64 { return c.open.Load() }

// middleware admits each request, or answers 503 when no place frees up in
// time.
func (a *admission) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := a.acquire(c.Request().Context()); err != nil {
			return err
		}
		t := ticketOf(c.Request().Context())
		if t == nil {
			t = &ticket{} // no access log's layer: outside cannot find it
		}
		t.a = a
		if a.runInline() {
			// No more requests run than there are CPUs, on few
			// connections: the handoff to a worker (which wakes an idle
			// CPU's thread, 20-30 µs) would buy nothing.
			defer t.finish()
			return next(c)
		}
		a.pooled.Add(1)
		j := admittedPool.Get().(*admitted)
		j.next, j.c, j.t = next, c, t
		if a.reserveIdle() {
			a.work <- j
		} else {
			go a.worker(j)
		}
		<-j.done
		err, panicked := j.err, j.panicked
		*j = admitted{done: j.done}
		admittedPool.Put(j)
		if panicked != nil {
			panic(panicked)
		}
		return err
	}
}

// acquire waits for a place, at most a.timeout and while ctx lasts.
func (a *admission) acquire(ctx context.Context) error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	a.queued.Add(1)
	defer a.queued.Add(-1)
	timer := time.NewTimer(a.timeout)
	defer timer.Stop()
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	a.shedOne(time.Now())
	return impl.Errorf(impl.EUnavailable, "The server is at capacity. Retry after %d seconds.", retryAfterUnavailable)
}

// shedOne counts a shed request and tells the log, at most once per
// logEvery, how many were shed since it last did.
func (a *admission) shedOne(now time.Time) {
	total := a.shed.Add(1)
	a.logMu.Lock()
	if now.Sub(a.lastLog) < a.logEvery {
		a.logMu.Unlock()
		return
	}
	n := total - a.logged
	a.lastLog, a.logged = now, total
	a.logMu.Unlock()
	a.logger.Warn("requests shed: the server is at capacity", "shed", n, "limit", cap(a.slots),
		"queue_timeout", a.timeout.String(), "queued", a.queued.Load())
}

// worker runs j, then whatever is handed to it, until it has been idle for
// a.idleWorker.
func (a *admission) worker(j *admitted) {
	idle := time.NewTimer(a.idleWorker)
	defer idle.Stop()
	for {
		a.run(j)
		idle.Reset(a.idleWorker)
		select {
		case j = <-a.work:
		case <-idle.C:
			if a.retire() {
				return
			}
			j = <-a.work // a request reserved this worker meanwhile
		}
	}
}

// run runs j and then counts its worker idle before it tells the
// connection's goroutine: the next request then finds this worker (which
// has the grown stack) rather than starting another.
func (a *admission) run(j *admitted) {
	defer func() {
		j.panicked = recover()
		j.t.finish()
		a.idle.Add(1)
		j.done <- struct{}{} // j is not touched after this
	}()
	j.err = j.next(j.c)
}

// reserveIdle takes one idle worker for a request, which then hands its
// work over a.work; false when none is idle.
func (a *admission) reserveIdle() bool {
	for {
		n := a.idle.Load()
		if n <= 0 {
			return false
		}
		if a.idle.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// retire ends an idle worker unless every idle worker has been reserved,
// this one included.
func (a *admission) retire() bool { return a.reserveIdle() }

// finish gives the request's place back for good.
func (t *ticket) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.out == 0 {
		t.a.release()
	}
	t.finished = true
}

// running is how many requests hold a place.
func (a *admission) running() int64 { return int64(len(a.slots)) }

func (a *admission) release() {
	<-a.slots
}

// outside gives the request's place back while it waits for a provider or
// a partner's server; the returned function takes a place again, waiting
// for one as long as it takes (the request has work left to finish). It
// does nothing for a request that is not under an admission bound.
func outside(ctx context.Context) (back func()) {
	t := ticketOf(ctx)
	if t == nil || t.a == nil {
		return func() {}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return func() {}
	}
	t.out++
	if t.out == 1 {
		t.a.release()
	}
	return func() {
		// Under the lock while waiting: another call of the same request
		// must not give back a place this one has not taken yet.
		t.mu.Lock()
		defer t.mu.Unlock()
		t.out--
		if t.out == 0 && !t.finished {
			t.a.slots <- struct{}{}
		}
	}
}

// writeMetrics writes the bound's gauges and its shed requests.
func (a *admission) writeMetrics(b *strings.Builder) {
	metric := func(name, kind, help string, v int64) {
		b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + kind + "\n")
		b.WriteString(name + " " + strconv.FormatInt(v, 10) + "\n")
	}
	metric("iagente_http_requests_running", "gauge", "API requests running inside the bound (MAX_CONCURRENT_REQUESTS).", a.running())
	metric("iagente_http_requests_queued", "gauge", "API requests waiting for a place in the bound.", a.queued.Load())
	metric("iagente_http_requests_limit", "gauge", "MAX_CONCURRENT_REQUESTS.", int64(cap(a.slots)))
	metric("iagente_http_requests_shed_total", "counter", "API requests answered 503 because no place freed up within REQUEST_QUEUE_TIMEOUT.", a.shed.Load())
	metric("iagente_http_requests_pooled_total", "counter", "API requests run on a pooled worker goroutine rather than their connection's.", a.pooled.Load())
	if a.conns != nil {
		metric("iagente_http_connections_open", "gauge", "Connections open on the listener.", a.conns.Open())
	}
}
