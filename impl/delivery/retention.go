package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// Retention deletes delivery logs once they have outlived the retention
// period (impl.ExpiredLogs says which), in small batches with a pause
// between them, so that it never holds the database for long: on SQLite,
// every batch takes the one write lock the dispatcher also needs.
type Retention struct {
	Store impl.ExpiredLogs
	// Keep is the retention period (WEBHOOK_RETENTION).
	Keep time.Duration
	// Every is how often a sweep starts; Batch rows go per transaction,
	// with Pause between transactions.
	Every time.Duration
	Batch int
	Pause time.Duration
	Now   func() time.Time // nil: time.Now
	// Logger gets a line per sweep that deleted something, and errors.
	Logger *slog.Logger
}

// Defaults of Retention's pace: a sweep an hour, 500 rows a transaction,
// 50 ms apart, which deletes up to about 10,000 rows a second.
const (
	DefaultRetentionEvery = time.Hour
	DefaultRetentionBatch = 500
	DefaultRetentionPause = 50 * time.Millisecond
)

// Run sweeps at once and then every r.Every until ctx is done.
func (r *Retention) Run(ctx context.Context) {
	t := time.NewTicker(r.Every)
	defer t.Stop()
	for {
		if _, _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.logger().Error("delete expired delivery logs", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep deletes every delivery and event that has expired by now and
// returns how many of each.
func (r *Retention) Sweep(ctx context.Context) (deliveries, events int, err error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	cutoff := impl.RetentionCutoff(now(), r.Keep)
	// Deliveries first: an event goes only once its deliveries have.
	deliveries, err = r.walk(ctx, cutoff, r.Store.DeleteExpiredDeliveries)
	if err == nil {
		events, err = r.walk(ctx, cutoff, r.Store.DeleteExpiredEvents)
	}
	if deliveries+events > 0 {
		r.logger().Info("deleted expired delivery logs", "deliveries", deliveries, "events", events,
			"older_than", cutoff.UTC().Format(time.RFC3339))
	}
	return deliveries, events, err
}

type deleteFunc func(ctx context.Context, cutoff time.Time, after int64, limit int) (int, int64, bool, error)

func (r *Retention) walk(ctx context.Context, cutoff time.Time, del deleteFunc) (int, error) {
	total := 0
	after := int64(0)
	for {
		n, next, done, err := del(ctx, cutoff, after, max(r.Batch, 1))
		total += n
		if err != nil || done {
			return total, err
		}
		after = next
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(r.Pause):
		}
	}
}

func (r *Retention) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}
