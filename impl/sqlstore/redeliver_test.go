package sqlstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// TestRedeliverFailed queues failed deliveries again by the time of their
// events, a limited number per call, and leaves every other delivery as it
// was.
func TestRedeliverFailed(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		hook := f.hook(t, f.org, 3)
		t0 := f.clock.now().Truncate(time.Microsecond) // as stored
		f.queue(t, f.org, 3)                           // a, b, c at t0
		f.clock.advance(time.Hour)
		f.queue(t, f.org, 3) // d, e, g an hour later
		byTime := f.deliveriesOf(t, f.org, hook.ID)
		ids := slices.Sorted(func(yield func(int64) bool) {
			for id := range byTime {
				yield(id)
			}
		})
		if len(ids) != 6 {
			t.Fatalf("%d deliveries queued, want 6", len(ids))
		}
		a, b, c, d, e, g := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
		claimed, _ := f.claim(t, "w1", 10, 100, nil)
		byID := claimedByID(claimed)
		pick := func(is ...int64) []*impl.ClaimedDelivery {
			var out []*impl.ClaimedDelivery
			for _, id := range is {
				out = append(out, byID[id])
			}
			return out
		}
		f.finish(t, pick(a, b, d, e), impl.OutcomeFailed)
		f.finish(t, pick(c), impl.OutcomeSucceeded)
		f.finish(t, pick(g), impl.OutcomeRetry)
		before := f.deliveriesOf(t, f.org, hook.ID)
		f.clock.advance(time.Minute)

		redeliver := func(since, until time.Time, limit int) (int, bool) {
			t.Helper()
			n, more, err := f.s.Deliveries.RedeliverFailed(ctx, f.org, hook.ID, since, until, limit)
			if err != nil {
				t.Fatalf("RedeliverFailed: %v", err)
			}
			return n, more
		}
		// The first half hour holds a and b: one per call, oldest first.
		window := t0.Add(30 * time.Minute)
		if n, more := redeliver(t0, window, 1); n != 1 || !more {
			t.Fatalf("first call queued %d (more %v), want 1 and more", n, more)
		}
		if got := f.deliveriesOf(t, f.org, hook.ID); got[a].Status != impl.DeliveryPending || got[b].Status != impl.DeliveryFailed {
			t.Fatalf("after the first call a is %s and b %s, want a pending and b still failed", got[a].Status, got[b].Status)
		}
		if n, more := redeliver(t0, window, 1); n != 1 || more {
			t.Fatalf("second call queued %d (more %v), want 1 and no more", n, more)
		}
		if n, more := redeliver(t0, window, 1); n != 0 || more {
			t.Fatalf("third call queued %d (more %v), want none", n, more)
		}
		// Without an end, from an hour on: d and e.
		if n, more := redeliver(t0.Add(time.Hour), time.Time{}, 10); n != 2 || more {
			t.Fatalf("the open period queued %d (more %v), want d and e", n, more)
		}

		after := f.deliveriesOf(t, f.org, hook.ID)
		now := f.clock.now()
		for _, id := range []int64{a, b, d, e} {
			x := after[id]
			if x.Status != impl.DeliveryPending || x.NextAttemptAt == nil || x.NextAttemptAt.After(now) ||
				len(x.Attempts) != len(before[id].Attempts) || x.MessageID != before[id].MessageID {
				t.Errorf("delivery %d after: %+v, want pending and due now with its attempts and webhook-id kept", id, x)
			}
		}
		for _, id := range []int64{c, g} {
			if x, was := after[id], before[id]; x.Status != was.Status || !x.UpdatedAt.Equal(was.UpdatedAt) {
				t.Errorf("delivery %d changed: %s at %v, was %s at %v", id, x.Status, x.UpdatedAt, was.Status, was.UpdatedAt)
			}
		}
		// Queued again, they are claimed again, and the next attempt joins
		// the earlier one in their log.
		again, _ := f.claim(t, "w1", 10, 100, nil)
		if got := claimIDs(again); !slices.Equal(got, []int64{a, b, d, e}) {
			t.Fatalf("claimed %v after the redelivery, want %v", got, []int64{a, b, d, e})
		}
		f.finish(t, again, impl.OutcomeFailed)
		for _, id := range []int64{a, b, d, e} {
			if x := f.deliveriesOf(t, f.org, hook.ID)[id]; x.Status != impl.DeliveryFailed || len(x.Attempts) != 2 {
				t.Errorf("delivery %d: %s with %d attempts, want failed with 2", id, x.Status, len(x.Attempts))
			}
		}

		// Another organization's webhook is not found; a disabled one is a
		// conflict, and nothing moves.
		var ae *impl.Error
		if _, _, err := f.s.Deliveries.RedeliverFailed(ctx, f.org+1000, hook.ID, t0, time.Time{}, 10); !errors.As(err, &ae) || ae.Code != impl.ENotFound {
			t.Errorf("another organization: %v, want not found", err)
		}
		off := false
		if _, err := f.s.Webhooks.UpdateWebhook(ctx, f.org, hook.ID, impl.WebhookPatch{Active: &off}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.s.Deliveries.RedeliverFailed(ctx, f.org, hook.ID, t0, time.Time{}, 10); !errors.As(err, &ae) || ae.Code != impl.EConflict {
			t.Errorf("a disabled webhook: %v, want conflict", err)
		}
		if x := f.deliveriesOf(t, f.org, hook.ID)[a]; x.Status != impl.DeliveryFailed {
			t.Errorf("a disabled webhook's delivery is %s, want still failed", x.Status)
		}
	})
}

// TestRedeliverFailedLeavesTestPings: a failed webhook.test ping stays
// failed when the webhook's failures are queued again in bulk, and the
// failure beside it is queued.
func TestRedeliverFailedLeavesTestPings(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		hook := f.hook(t, f.org, 3)
		since := f.clock.now().Add(-time.Minute)
		ping, err := f.s.Queue.CreateTestDelivery(ctx, f.org, hook.ID, "w1", f.clock.now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		f.finish(t, []*impl.ClaimedDelivery{ping}, impl.OutcomeFailed)
		f.queue(t, f.org, 1)
		claimed, _ := f.claim(t, "w1", 10, 100, nil)
		if len(claimed) != 1 {
			t.Fatalf("claimed %d, want the lead's delivery", len(claimed))
		}
		f.finish(t, claimed, impl.OutcomeFailed)

		n, more, err := f.s.Deliveries.RedeliverFailed(ctx, f.org, hook.ID, since, time.Time{}, 10)
		if err != nil || n != 1 || more {
			t.Fatalf("RedeliverFailed: %d (more %v), %v; want the lead's delivery alone", n, more, err)
		}
		got := f.deliveriesOf(t, f.org, hook.ID)
		if got[ping.ID].Status != impl.DeliveryFailed || got[claimed[0].ID].Status != impl.DeliveryPending {
			t.Errorf("the ping is %s and the lead's delivery %s; want failed and pending",
				got[ping.ID].Status, got[claimed[0].ID].Status)
		}
	})
}

// TestFailedDeliveriesReadTheirIndex: picking a webhook's failed
// deliveries walks deliveries_failed, not every delivery of the webhook.
func TestFailedDeliveriesReadTheirIndex(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		hook := f.hook(t, f.org, 3)
		f.queue(t, f.org, 3)
		now := f.clock.now()
		for _, until := range []bool{false, true} {
			args := []any{f.org, hook.ID, now}
			if until {
				args = append(args, now)
			}
			plan := explain(t, f.db, failedPick(until), append(args, 10))
			if !strings.Contains(plan, "deliveries_failed") {
				t.Errorf("the pick (until %v) does not read deliveries_failed:\n%s", until, plan)
			}
		}
	})
}
