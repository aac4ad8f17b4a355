package httpapi

import (
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"
)

// chains applies the server's middleware to each handler once and keeps
// the result. Echo applies the middleware given to Echo.Use to the matched
// handler on every request, and each of the server's dozen layers made a
// closure or two doing so: 20 of the 132 allocations of a GET /leads/{id}.
//
// A chain is kept per method, route path and handler: echo gives the same
// route the same handler every time, and a 404, a 405 or an OPTIONS answer
// on that path has a handler of another function, so it gets a chain of its
// own. The layers keep nothing of a request in what they return (they are
// built from the Server's configuration alone), so one chain serves every
// request of its route.
type chains struct {
	layers []echo.MiddlewareFunc
	serve  echo.HandlerFunc // ch.serveChained, made once
	built  sync.Map         // chainKey -> echo.HandlerFunc
	// kept counts the chains in built: methods are the client's to name,
	// so past maxChains a chain is built for its request alone, as echo
	// did.
	kept atomic.Int32
}

// maxChains bounds the chains kept: the routes, their methods and their
// 404, 405 and OPTIONS answers are a few hundred.
const maxChains = 2048

type chainKey struct {
	method, path string
	handler      uintptr // the handler's function
}

// newChains applies layers, outermost first, as Echo.Use(layers...) would.
func newChains(layers ...echo.MiddlewareFunc) *chains {
	ch := &chains{layers: layers}
	ch.serve = ch.serveChained
	return ch
}

// middleware is the one layer given to Echo.Use: it hands every handler to
// serveChained, the same function value each time, which costs echo no
// allocation.
func (ch *chains) middleware(echo.HandlerFunc) echo.HandlerFunc { return ch.serve }

// serveChained serves c through the chain of the handler echo matched.
func (ch *chains) serveChained(c echo.Context) error {
	h := c.Handler()
	k := chainKey{method: c.Request().Method, path: c.Path(), handler: reflect.ValueOf(h).Pointer()}
	if chained, ok := ch.built.Load(k); ok {
		return chained.(echo.HandlerFunc)(c)
	}
	chained := ch.apply(h)
	if ch.kept.Load() < maxChains {
		if _, loaded := ch.built.LoadOrStore(k, chained); !loaded {
			ch.kept.Add(1)
		}
	}
	return chained(c)
}

// apply wraps h in the layers, as echo's own applyMiddleware does.
func (ch *chains) apply(h echo.HandlerFunc) echo.HandlerFunc {
	for i := len(ch.layers) - 1; i >= 0; i-- {
		h = ch.layers[i](h)
	}
	return h
}
