package httpapi

import (
	"context"
	"log/slog"
	"sync"

	"github.com/iagente/iagente-sdr/impl"
)

type ctxKey int

const (
	ctxLogger ctxKey = iota
	ctxAPIKey
)

// logger returns the request's logger, which carries the request id.
func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxLogger).(*requestLogger); ok {
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
// map, and the caller's API key (caller), without a copy of the request.
type requestLogger struct {
	base   *slog.Logger
	id     string
	once   sync.Once
	log    *slog.Logger
	ticket ticket
	route  matchedRoute // valid once routed is set
	routed bool
	key    *impl.APIKey // the caller, once authenticate has found it
}

func (l *requestLogger) get() *slog.Logger {
	l.once.Do(func() { l.log = l.base.With("request_id", l.id) })
	return l.log
}

// caller returns the API key that authenticated the request. Handlers behind
// the auth middleware can rely on it being there.
func caller(ctx context.Context) *impl.APIKey {
	if l, ok := ctx.Value(ctxLogger).(*requestLogger); ok && l.key != nil {
		return l.key
	}
	k, _ := ctx.Value(ctxAPIKey).(*impl.APIKey)
	return k
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
