package httpapi

import (
	"context"
	"log/slog"

	"github.com/iagente/iagente-sdr/impl"
)

type ctxKey int

const (
	ctxLogger ctxKey = iota
	ctxAPIKey
)

// logger returns the request's logger, which carries the request id.
func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// caller returns the API key that authenticated the request. Handlers behind
// the auth middleware can rely on it being there.
func caller(ctx context.Context) *impl.APIKey {
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
