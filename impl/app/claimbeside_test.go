package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/delivery"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// heldClaims is the database's delivery queue, except that every claim
// after the first waits until it is let go.
type heldClaims struct {
	impl.DeliveryQueue
	claims  atomic.Int64
	holding chan struct{} // closed when a claim starts to wait
	letGo   chan struct{}
	once    sync.Once
}

func (q *heldClaims) ClaimDeliveries(ctx context.Context, r impl.ClaimRequest) ([]*impl.ClaimedDelivery, error) {
	if q.claims.Add(1) > 1 {
		q.once.Do(func() { close(q.holding) })
		select {
		case <-q.letGo:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return q.DeliveryQueue.ClaimDeliveries(ctx, r)
}

// TestAttemptsStartWhileAClaimRuns: the dispatcher claims ahead of what it
// runs, and an attempt that ends gives its worker to a delivery claimed
// ahead at once, even while a claim is still running (a slow database, a
// claim that waits on the recorder). Here every claim after the first
// waits until the receiver has had all the first claim's deliveries: a
// dispatcher that starts attempts only between claims never gets there.
func TestAttemptsStartWhileAClaimRuns(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			var received atomic.Int64
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				received.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(receiver.Close)

			cfg := app.Defaults()
			cfg.DatabaseURL = d.URL
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			cfg.WebhookDispatchOff = true // the test runs its own
			a, err := app.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			org := &impl.Organization{Name: "claims"}
			if err := a.Stores.Organizations.CreateOrganization(ctx, org); err != nil {
				t.Fatal(err)
			}
			hook := &impl.Webhook{Name: "claims", URL: receiver.URL + "/hook", Events: []string{impl.EventLeadCreated}}
			if err := a.Stores.Webhooks.CreateWebhook(ctx, org.ID, hook); err != nil {
				t.Fatal(err)
			}
			for i := range 12 {
				if err := a.Stores.Leads.CreateLead(ctx, org.ID, &impl.Lead{Phone: fmt.Sprintf("55119%08d", i)}); err != nil {
					t.Fatal(err)
				}
			}

			// 4 workers, a share of 2: the first claim takes 4 (twice the
			// share) and runs 2; the other 2 wait for those to end.
			dcfg := app.Defaults()
			dcfg.WebhookAllowPrivateTargets = true
			dcfg.WebhookWorkers, dcfg.WebhookWorkersPerWebhook = 4, 2
			dcfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			queue := &heldClaims{DeliveryQueue: a.Stores.Queue, holding: make(chan struct{}), letGo: make(chan struct{})}
			dispatcher, err := delivery.New(queue, dcfg.DispatcherConfig())
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				dispatcher.Run(runCtx)
			}()
			t.Cleanup(func() {
				stop()
				<-done
			})

			select {
			case <-queue.holding:
			case <-time.After(10 * time.Second):
				t.Fatalf("no second claim; the receiver got %d requests", received.Load())
			}
			if !eventually(10*time.Second, func() bool { return received.Load() >= 4 }) {
				close(queue.letGo)
				t.Fatalf("while a claim ran, the receiver got %d of the first claim's 4 deliveries", received.Load())
			}
			close(queue.letGo)
			if !eventually(10*time.Second, func() bool { return received.Load() == 12 }) {
				t.Fatalf("the receiver got %d of 12 deliveries", received.Load())
			}
		})
	}
}
