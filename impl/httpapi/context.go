package httpapi

import (
	"context"
	"log/slog"
	"sync"

	"github.com/iagente/iagente-sdr/impl"
)

type ctxKey int

const ctxLogger ctxKey = iota

// logger returns the request's logger, which carries the request id.
func logger(ctx context.Context) *slog.Logger {
	if l := stateOf(ctx); l != nil {
		return l.get()
	}
	return slog.Default()
}

// requestLogger is a request's logger, tagged with its request_id, made
// when something in the request first logs: most requests log only their
// access line, and slog's With (which formats the attribute ahead) was 1.6%
// of the server's CPU under load when made for every request.
//
// It also holds the request's place under the admission bound, which the
// request's context carries this way without a context of its own, the
// spec's route the request matched (findRoute), without echo's per-request
// map, the caller's API key (caller), without a copy of the request, and a
// union body's validated tree (validatedTree).
type requestLogger struct {
	base   *slog.Logger
	id     string
	once   sync.Once
	log    *slog.Logger
	ticket ticket
	route  matchedRoute // valid once routed is set
	routed bool
	key    *impl.APIKey // the caller, once authenticate has found it
	// tree is a valid union body as request validation decoded it
	// (contract.ValidatedTree), for the handler that takes it apart.
	tree any
}

func (l *requestLogger) get() *slog.Logger {
	l.once.Do(func() { l.log = l.base.With("request_id", l.id) })
	return l.log
}

// caller returns the API key that authenticated the request. Handlers behind
// the auth middleware can rely on it being there.
func caller(ctx context.Context) *impl.APIKey {
	if l := stateOf(ctx); l != nil {
		return l.key
	}
	return nil
}

// validatedTree is the request's body as request validation decoded it,
// when it was a valid union (see contract.ValidatedTree); nil otherwise,
// and when validation is off.
func validatedTree(ctx context.Context) any {
	if l := stateOf(ctx); l != nil {
		return l.tree
	}
	return nil
}

// stateOf is the request's requestLogger, which requestLog, the first
// middleware of every request, puts in its context; nil only for a context
// that did not come through it.
func stateOf(ctx context.Context) *requestLogger {
	l, _ := ctx.Value(ctxLogger).(*requestLogger)
	return l
}

// orgID is the organization every query of the request is scoped to.
func orgID(ctx context.Context) int64 {
	if k := caller(ctx); k != nil {
		return k.OrganizationID
	}
	// Unreachable behind auth; 0 matches no organization, so a wiring
	// mistake shows as "not found" rather than as another tenant's data.
	return 0
}
