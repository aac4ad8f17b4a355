package testctx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// The context is live until the condition holds, then expired with
// DeadlineExceeded, and net/http gives up on a request with it then.
func TestDeadlineWhen(t *testing.T) {
	var arrived atomic.Bool
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Store(true)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx := DeadlineWhen(arrived.Load)
	if err := ctx.Err(); err != nil && !arrived.Load() {
		t.Fatalf("expired before the condition held: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || !arrived.Load() {
		t.Errorf("err = %v, arrived %v; want a deadline after the server had the request", err, arrived.Load())
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("ctx.Err() = %v after the condition held", ctx.Err())
	}
}
