package sqlstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// finish records an attempt with outcome for each claimed delivery.
func (f *fixture) finish(t *testing.T, claimed []*impl.ClaimedDelivery, outcome string) {
	t.Helper()
	var batch []impl.Attempted
	for _, c := range claimed {
		r := impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: f.clock.now()}, Outcome: outcome}
		if outcome == impl.OutcomeRetry {
			r.NextAt = f.clock.now().Add(time.Hour)
		}
		batch = append(batch, impl.Attempted{Delivery: c, Record: r})
	}
	if err := f.s.Queue.RecordAttempts(context.Background(), "w1", batch, 0); err != nil {
		t.Fatalf("RecordAttempts: %v", err)
	}
}

// sweep runs a delete function to the end, batch rows at a time, and
// returns how many rows it deleted and in how many calls.
func sweep(t *testing.T, del func(context.Context, time.Time, int64, int) (int, int64, bool, error), cutoff time.Time, batch int) (deleted, calls int) {
	t.Helper()
	after := int64(0)
	for {
		n, next, done, err := del(context.Background(), cutoff, after, batch)
		if err != nil {
			t.Fatalf("delete expired: %v", err)
		}
		deleted += n
		calls++
		if done {
			return deleted, calls
		}
		if next <= after {
			t.Fatalf("the walk did not move on from %d", after)
		}
		after = next
		if calls > 1000 {
			t.Fatal("the walk does not end")
		}
	}
}

func (f *fixture) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if err := f.db.pool.Get(&n, query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestDeleteExpiredDeliveryLogs(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		// An event from before any webhook: it has no delivery at all.
		f.queue(t, f.org, 1)
		hook := f.hook(t, f.org, 0)
		f.queue(t, f.org, 10)
		old := f.deliveriesOf(t, f.org, hook.ID)
		ids := slices.Sorted(func(yield func(int64) bool) {
			for id := range old {
				yield(id)
			}
		})
		claimed, _ := f.claim(t, "w1", 10, 100, nil)
		byID := claimedByID(claimed)
		pick := func(is ...int) []*impl.ClaimedDelivery {
			var out []*impl.ClaimedDelivery
			for _, i := range is {
				out = append(out, byID[ids[i]])
			}
			return out
		}
		f.finish(t, pick(0, 1, 2, 3, 4, 5), impl.OutcomeSucceeded)
		f.finish(t, pick(6), impl.OutcomeFailed)
		f.finish(t, pick(7), impl.OutcomeRetry) // pending: never expires
		// 8 and 9 stay leased and pending.

		// 35 days on, delivery 5 is redelivered and delivered again: its log
		// changed recently, so it stays.
		f.clock.advance(35 * 24 * time.Hour)
		if _, err := f.s.Deliveries.RedeliverDelivery(ctx, f.org, hook.ID, ids[5]); err != nil {
			t.Fatal(err)
		}
		again, _ := f.claim(t, "w1", 10, 100, func(c []impl.ClaimCandidate) []int64 {
			for _, x := range c {
				if x.ID == ids[5] {
					return []int64{x.ID}
				}
			}
			t.Fatalf("the redelivered delivery is not a candidate: %+v", c)
			return nil
		})
		f.finish(t, again, impl.OutcomeSucceeded)
		// And new ones, finished.
		f.queue(t, f.org, 3)
		recent, _ := f.claim(t, "w1", 10, 100, func(c []impl.ClaimCandidate) []int64 {
			var out []int64
			for _, x := range c {
				if x.ID > ids[len(ids)-1] {
					out = append(out, x.ID)
				}
			}
			return out
		})
		f.finish(t, recent, impl.OutcomeSucceeded)
		attemptsBefore := f.count(t, `SELECT COUNT(*) FROM delivery_attempts`)
		eventsBefore := f.count(t, `SELECT COUNT(*) FROM events`)

		f.clock.advance(5 * 24 * time.Hour)
		cutoff := impl.RetentionCutoff(f.clock.now(), impl.DefaultDeliveryRetention)
		deleted, calls := sweep(t, f.s.Retention.DeleteExpiredDeliveries, cutoff, 3)
		if deleted != 6 {
			t.Errorf("deleted %d deliveries, want the 6 finished before the cutoff (0-4 and 6)", deleted)
		}
		// 13 old rows in windows of 3, stopped by the first recent one.
		if calls < 4 || calls > 6 {
			t.Errorf("the walk took %d calls for 13 old deliveries in windows of 3", calls)
		}
		left := f.deliveriesOf(t, f.org, hook.ID)
		for i, id := range ids {
			_, kept := left[id]
			if want := i >= 5 && i != 6; kept != want {
				t.Errorf("old delivery %d (#%d): kept %v, want %v (status was %s)", id, i, kept, want, old[id].Status)
			}
		}
		for _, c := range recent {
			if _, ok := left[c.ID]; !ok {
				t.Errorf("recent delivery %d was deleted", c.ID)
			}
		}
		// One attempt per deleted delivery went with it.
		if got := f.count(t, `SELECT COUNT(*) FROM delivery_attempts`); got != attemptsBefore-6 {
			t.Errorf("%d attempts left of %d, want 6 fewer", got, attemptsBefore)
		}
		if got := f.count(t, `SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)`); got != 0 {
			t.Errorf("%d attempts of deleted deliveries are left", got)
		}

		deleted, _ = sweep(t, f.s.Retention.DeleteExpiredEvents, cutoff, 4)
		// The first event (no delivery ever) and the 6 whose deliveries went.
		if deleted != 7 {
			t.Errorf("deleted %d events, want 7", deleted)
		}
		if got := f.count(t, `SELECT COUNT(*) FROM events`); got != eventsBefore-7 {
			t.Errorf("%d events left of %d, want 7 fewer", got, eventsBefore)
		}
		if got := f.count(t, `SELECT COUNT(*) FROM deliveries WHERE event_id NOT IN (SELECT id FROM events)`); got != 0 {
			t.Errorf("%d deliveries lost their event", got)
		}
		// Nothing else expires: a second sweep deletes nothing.
		if n, _ := sweep(t, f.s.Retention.DeleteExpiredDeliveries, cutoff, 3); n != 0 {
			t.Errorf("a second sweep deleted %d deliveries", n)
		}
		if n, _ := sweep(t, f.s.Retention.DeleteExpiredEvents, cutoff, 3); n != 0 {
			t.Errorf("a second sweep deleted %d events", n)
		}
	})
}

func TestDeleteExpiredOnAnEmptyDatabase(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		for name, del := range map[string]func(context.Context, time.Time, int64, int) (int, int64, bool, error){
			"deliveries": f.s.Retention.DeleteExpiredDeliveries, "events": f.s.Retention.DeleteExpiredEvents,
		} {
			n, next, done, err := del(context.Background(), f.clock.now(), 0, 10)
			if err != nil || n != 0 || next != 0 || !done {
				t.Errorf("%s: %d, %d, %v, %v", name, n, next, done, err)
			}
		}
	})
}
