package httpapi

import (
	"context"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// What keepAnswer could not write (the database failed it) is retried in
// the background until the key's lease ends: a claim whose 503 could not be
// given back would otherwise answer 409 idempotency_in_progress to its
// retries for the whole lease (26 s with the defaults), and an answer that
// could not be kept would be run again, not replayed. Retries stop short of
// the lease, so that none can touch a key that a retry has taken over since.
const (
	keepQueueSize   = 1024                   // what waits; more is dropped, as before the retries
	keepRetryFirst  = 250 * time.Millisecond // the first wait after a failure
	keepRetryLongst = 2 * time.Second        // the longest
)

// pendingKeep is a write keepAnswer could not do.
type pendingKeep struct {
	rec     *impl.IdempotencyRecord // with the answer, unless release
	release bool                    // give the key back (the answer was 503)
}

// queueKeep hands a failed write to RetryKeeps; with the queue full (or no
// RetryKeeps running long enough to drain it) the key keeps its claim until
// the lease ends, as it did before.
func (s *Server) queueKeep(ctx context.Context, p pendingKeep) {
	select {
	case s.keeps <- p:
	default:
		logger(ctx).Warn("idempotency key left claimed until its lease ends: too many writes waiting to be retried")
	}
}

// RetryKeeps retries the writes keepAnswer could not do, until each
// succeeds or comes within DBTimeout of its key's lease end, and until ctx
// ends. While the database keeps failing, one write is tried per round and
// the rounds back off, so a recovering database is not met by a crowd. It
// holds keepQueueSize writes at most, and sleeps while it holds none.
func (s *Server) RetryKeeps(ctx context.Context) {
	var waiting []pendingKeep
	wait := keepRetryFirst
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		in, due := s.keeps, timer.C
		if len(waiting) >= keepQueueSize {
			in = nil // full: queueKeep drops what comes
		}
		if len(waiting) == 0 {
			due = nil
		}
		select {
		case <-ctx.Done():
			return
		case p := <-in:
			if len(waiting) == 0 {
				wait = keepRetryFirst
				timer.Reset(wait)
			}
			waiting = append(waiting, p)
			continue
		case <-due:
		}
		failed := false
		kept := waiting[:0]
		for _, p := range waiting {
			switch {
			case failed:
				kept = append(kept, p)
			case !s.now().Add(s.keepTimeout()).Before(p.rec.LockedUntil):
				s.cfg.Logger.Warn("idempotency key left claimed until its lease ends: the database did not recover in time",
					"organization_id", p.rec.OrganizationID)
			case s.retryKeep(ctx, p) != nil:
				failed = true
				kept = append(kept, p)
			}
		}
		clear(waiting[len(kept):]) // the answers written go
		waiting = kept
		if failed {
			wait = min(2*wait, keepRetryLongst)
		} else {
			wait = keepRetryFirst
		}
		timer.Reset(wait)
	}
}

// keepTimeout bounds one retried write, and how close to the lease's end
// one may start.
func (s *Server) keepTimeout() time.Duration {
	if s.cfg.DBTimeout > 0 {
		return s.cfg.DBTimeout
	}
	return time.Second
}

func (s *Server) retryKeep(ctx context.Context, p pendingKeep) error {
	ctx, cancel := context.WithTimeout(ctx, s.keepTimeout())
	defer cancel()
	if p.release {
		return s.cfg.Idempotency.ReleaseIdempotent(ctx, p.rec.OrganizationID, p.rec.Key)
	}
	return s.cfg.Idempotency.FinishIdempotent(ctx, p.rec)
}
