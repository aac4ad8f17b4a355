package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/internal/syncbuf"
)

// admissionServer serves routes behind an admission bound, with the
// request state the access log's layer would give them.
func admissionServer(t *testing.T, a *admission, routes map[string]echo.HandlerFunc) *httptest.Server {
	t.Helper()
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), ctxLogger, &requestLogger{base: slog.Default()})))
			return next(c)
		}
	}, a.middleware)
	for path, h := range routes {
		e.GET(path, h)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

func get(url string) (int, error) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// A request waiting for a provider gives its place back: with a bound of
// one, another request runs meanwhile instead of being shed.
func TestOutsideGivesThePlaceBack(t *testing.T) {
	a := newAdmission(1, 200*time.Millisecond, nil, nil)
	a.inline = 0 // on the pool, where the place is the worker's to give back
	calling, answer := make(chan struct{}), make(chan struct{})
	srv := admissionServer(t, a, map[string]echo.HandlerFunc{
		"/send": func(c echo.Context) error {
			back := outside(c.Request().Context())
			close(calling)
			<-answer // the provider's time
			back()
			if a.running() != 1 {
				return errors.New("back did not take a place again")
			}
			return c.NoContent(http.StatusNoContent)
		},
		"/read": func(c echo.Context) error { return c.NoContent(http.StatusOK) },
	})
	sent := make(chan int)
	go func() { c, _ := get(srv.URL + "/send"); sent <- c }()
	<-calling
	if c, err := get(srv.URL + "/read"); c != http.StatusOK {
		t.Fatalf("a read while the only place's holder waits for a provider: %d %v", c, err)
	}
	close(answer)
	if c := <-sent; c != http.StatusNoContent {
		t.Fatalf("the send: %d", c)
	}
	waitFor(t, "every place given back", func() bool { return a.running() == 0 })
	if a.idle.Load() == 0 {
		t.Errorf("no worker waits for work: the requests did not run on the pool")
	}
}

// Requests admitted while more run than there are CPUs run on the pooled
// workers (here all of them); a panic
// there reaches net/http on the connection's goroutine as it would without
// the pool (the connection is dropped, the process goes on), and its place
// is given back.
func TestPooledRequestsPanicWhereTheyAlwaysDid(t *testing.T) {
	a := newAdmission(1, time.Minute, nil, nil)
	a.inline = 0 // every request on the pool
	hold := make(chan struct{})
	srv := admissionServer(t, a, map[string]echo.HandlerFunc{
		"/hold":  func(c echo.Context) error { <-hold; return c.NoContent(http.StatusOK) },
		"/panic": func(echo.Context) error { panic(http.ErrAbortHandler) },
		"/ok":    func(c echo.Context) error { return c.NoContent(http.StatusOK) },
	})
	held := make(chan int)
	go func() { c, _ := get(srv.URL + "/hold"); held <- c }()
	waitFor(t, "/hold running", func() bool { return a.running() == 1 })
	panicked := make(chan error, 1)
	go func() { _, err := get(srv.URL + "/panic"); panicked <- err }()
	waitFor(t, "/panic queued", func() bool { return a.queued.Load() == 1 })
	var wg sync.WaitGroup
	okCode := 0
	wg.Go(func() { okCode, _ = get(srv.URL + "/ok") })
	waitFor(t, "/ok queued", func() bool { return a.queued.Load() == 2 })

	close(hold)
	if c := <-held; c != http.StatusOK {
		t.Fatalf("/hold: %d", c)
	}
	if err := <-panicked; err == nil {
		t.Errorf("/panic answered: the abort did not reach net/http")
	}
	wg.Wait()
	if okCode != http.StatusOK {
		t.Errorf("/ok after the panic: %d", okCode)
	}
	waitFor(t, "every place given back", func() bool { return a.running() == 0 })
	if a.idle.Load() == 0 {
		t.Errorf("no worker waits for work: the requests did not run on the pool")
	}
}

// On many connections every request runs on the pool, whatever the load:
// each connection's goroutine would otherwise keep the deep stack of the
// requests it ran. On few, requests run on their connection's goroutine.
func TestManyConnectionsRunOnThePool(t *testing.T) {
	conns := &Connections{}
	a := newAdmission(1, time.Second, conns, nil)
	if a.inlineConns != 2 {
		t.Fatalf("inline up to %d connections with a bound of 1, want 2", a.inlineConns)
	}
	e := echo.New()
	e.Use(a.middleware)
	e.GET("/ok", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	srv := httptest.NewUnstartedServer(e)
	srv.Config.ConnState = conns.Track
	srv.Start()
	t.Cleanup(srv.Close)
	// A client of its own is a connection of its own, kept alive.
	client := func() *http.Client { return &http.Client{Transport: &http.Transport{}} }
	send := func(c *http.Client) {
		t.Helper()
		res, err := c.Get(srv.URL + "/ok")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /ok: %d", res.StatusCode)
		}
	}
	metrics := func() string {
		var b strings.Builder
		a.writeMetrics(&b)
		return b.String()
	}

	first, second, third := client(), client(), client()
	for range 3 {
		send(first)
	}
	if n := a.pooled.Load(); n != 0 {
		t.Fatalf("one connection: %d requests ran on the pool", n)
	}
	send(second)
	send(third)
	waitFor(t, "three connections open", func() bool { return conns.Open() == 3 })
	before := a.pooled.Load()
	send(first)
	if n := a.pooled.Load() - before; n != 1 {
		t.Fatalf("three connections over a bound of 1: %d of 1 requests ran on the pool", n)
	}
	if m := metrics(); !strings.Contains(m, "\niagente_http_connections_open 3\n") ||
		!strings.Contains(m, "\niagente_http_requests_pooled_total ") {
		t.Errorf("metrics:\n%s", m)
	}

	second.CloseIdleConnections()
	third.CloseIdleConnections()
	waitFor(t, "one connection left", func() bool { return conns.Open() == 1 })
	before = a.pooled.Load()
	send(first)
	if n := a.pooled.Load() - before; n != 0 {
		t.Fatalf("back to one connection: %d requests ran on the pool", n)
	}
	first.CloseIdleConnections()
	waitFor(t, "no connection left", func() bool { return conns.Open() == 0 })
}

// Shed requests reach the log at most once per logEvery, with how many
// were shed since the last line.
func TestShedRequestsAreLoggedOncePerInterval(t *testing.T) {
	var logs syncbuf.Buffer
	a := newAdmission(1, time.Second, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, time.Second, 29 * time.Second, 30 * time.Second, 31 * time.Second} {
		a.shedOne(t0.Add(at))
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["shed"] != 1.0 || lines[1]["shed"] != 3.0 || lines[0]["level"] != "WARN" {
		t.Fatalf("want two warnings, of 1 and then 3 shed requests:\n%s", logs.String())
	}
	if a.shed.Load() != 5 {
		t.Errorf("shed_total %d, want 5", a.shed.Load())
	}
}
