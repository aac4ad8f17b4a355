package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// chainsEcho is an echo with two routes on one path, served through chains
// of a layer that counts how often it is applied and tags each answer with
// the handler it wrapped.
func chainsEcho(t *testing.T) (*echo.Echo, *chains, *int) {
	t.Helper()
	applied := 0
	layer := func(next echo.HandlerFunc) echo.HandlerFunc {
		applied++
		return func(c echo.Context) error {
			c.Response().Header().Set("X-Layer", "1")
			return next(c)
		}
	}
	e := echo.New()
	ch := newChains(layer)
	e.Use(ch.middleware)
	e.GET("/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "get "+c.Param("id")) })
	e.PUT("/things/:id", func(c echo.Context) error { return c.String(http.StatusOK, "put "+c.Param("id")) })
	e.GET("/other", func(c echo.Context) error { return c.String(http.StatusOK, "other") })
	return e, ch, &applied
}

func serveChains(e *echo.Echo, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// A route's chain is built on its first request and serves the rest; each
// route, and each 404, 405 and OPTIONS answer, has its own, with the layer
// around it.
func TestChainsAreBuiltOncePerRoute(t *testing.T) {
	e, _, applied := chainsEcho(t)
	for i := range 5 {
		for _, c := range []struct {
			method, target string
			status         int
			body           string
		}{
			{"GET", fmt.Sprintf("/things/%d", i), 200, fmt.Sprintf("get %d", i)},
			{"PUT", fmt.Sprintf("/things/%d", i), 200, fmt.Sprintf("put %d", i)},
			{"GET", "/other", 200, "other"},
			{"DELETE", fmt.Sprintf("/things/%d", i), 405, ""},
			{"OPTIONS", fmt.Sprintf("/things/%d", i), 204, ""},
			{"GET", fmt.Sprintf("/other/%d", i), 404, ""},
			{"GET", "/nowhere", 404, ""},
		} {
			rec := serveChains(e, c.method, c.target)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) || rec.Header().Get("X-Layer") != "1" {
				t.Errorf("%s %s: %d %q, layer %q; want %d %q through the layer", c.method, c.target, rec.Code, rec.Body, rec.Header().Get("X-Layer"), c.status, c.body)
			}
			if c.method == "OPTIONS" && !strings.Contains(rec.Header().Get("Allow"), "PUT") {
				t.Errorf("OPTIONS %s: Allow %q", c.target, rec.Header().Get("Allow"))
			}
		}
	}
	// One chain each: the two routes on /things/:id, /other, the 405 and
	// the OPTIONS answer on /things/:id, and the 404s (echo names the path
	// it got furthest along: /other, or none).
	if *applied > 7 {
		t.Errorf("the layer was applied %d times for 35 requests, want once per route and answer (at most 7)", *applied)
	}
}

// Past maxChains the chains are built for their request alone: a client
// that names a new method each time cannot grow the server's memory.
func TestChainsAreBounded(t *testing.T) {
	e, ch, applied := chainsEcho(t)
	n := maxChains + 100
	for i := range n {
		if rec := serveChains(e, fmt.Sprintf("M%d", i), "/other"); rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("X-Layer") != "1" {
			t.Fatalf("method M%d: %d, layer %q", i, rec.Code, rec.Header().Get("X-Layer"))
		}
	}
	if kept := ch.kept.Load(); kept != maxChains {
		t.Errorf("%d chains kept, want the bound %d", kept, maxChains)
	}
	if *applied != n {
		t.Errorf("the layer was applied %d times for %d requests of new methods", *applied, n)
	}
	// The routes still have their chains' behaviour.
	if rec := serveChains(e, "GET", "/things/7"); rec.Code != 200 || rec.Body.String() != "get 7" {
		t.Errorf("GET /things/7 after the bound: %d %q", rec.Code, rec.Body)
	}
}
