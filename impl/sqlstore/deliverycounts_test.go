package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// wantDeliveryTotalsExact compares meta.total of GET
// /webhooks/{id}/deliveries, for every status filter and each of the
// webhooks, with their deliveries counted, and the dashboard's list (test
// pings left out) with its own count.
func (f *fixture) wantDeliveryTotalsExact(t *testing.T, after string, hooks map[int64]int64) {
	t.Helper()
	ctx := context.Background()
	statuses := []*string{nil, ptr(impl.DeliveryPending), ptr(impl.DeliverySucceeded), ptr(impl.DeliveryFailed)}
	for hook, org := range hooks {
		for _, st := range statuses {
			cond, args := "webhook_id = ?", []any{hook}
			if st != nil {
				cond, args = cond+" AND status = ?", append(args, *st)
			}
			var n int64
			if err := f.db.pool.GetContext(ctx, &n, f.db.rebind(`SELECT COUNT(*) FROM deliveries WHERE `+cond), args...); err != nil {
				t.Fatal(err)
			}
			for _, dashboard := range []bool{false, true} {
				page, err := f.s.Deliveries.FindDeliveries(ctx, org, hook, impl.DeliveryFilter{Status: st, Limit: 1, ExcludeTests: dashboard})
				if err != nil {
					t.Fatalf("after %s, webhook %d, %s %v: %v", after, hook, cond, args[1:], err)
				}
				if page.Total != n || (n > 0) != (len(page.Deliveries) == 1) {
					t.Errorf("after %s, webhook %d, %s %v (dashboard %v): total %d (page of %d); %d deliveries counted",
						after, hook, cond, args[1:], dashboard, page.Total, len(page.Deliveries), n)
				}
			}
		}
	}
}

// TestDeliveryCountsFollowEveryWrite: the counters behind meta.total of a
// webhook's delivery log stay exact through the store's writes (an event's
// fan-out, attempts of every outcome, a redelivery, retention, a webhook's
// deletion) and through SQL written by hand (a bulk import, a move to
// another webhook, a bulk delete, TRUNCATE), because the database keeps
// them; and no change of status writes them.
func TestDeliveryCountsFollowEveryWrite(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, b := f.hook(t, f.org, 3), f.hook(t, f.org, 3)
		theirs := f.hook(t, f.other, 3)
		hooks := map[int64]int64{a.ID: f.org, b.ID: f.org, theirs.ID: f.other}
		f.wantDeliveryTotalsExact(t, "nothing", hooks)

		f.queue(t, f.org, 9)
		f.queue(t, f.other, 4)
		f.wantDeliveryTotalsExact(t, "the events' fan-out", hooks)

		claimed, _ := f.claim(t, "w1", 100, 100, nil)
		var mine []*impl.ClaimedDelivery
		for _, c := range claimed {
			if c.WebhookID != theirs.ID {
				mine = append(mine, c)
			}
		}
		if len(mine) != 18 {
			t.Fatalf("claimed %d of the organization's 18 deliveries", len(mine))
		}
		before := f.count(t, `SELECT COALESCE(SUM(total), 0) FROM delivery_counts`)
		f.finish(t, mine[:8], impl.OutcomeSucceeded)
		f.finish(t, mine[8:12], impl.OutcomeFailed)
		f.finish(t, mine[12:14], impl.OutcomeRetry)
		f.wantDeliveryTotalsExact(t, "attempts", hooks)
		if _, err := f.s.Deliveries.RedeliverDelivery(ctx, f.org, mine[8].WebhookID, mine[8].ID); err != nil {
			t.Fatal(err)
		}
		f.wantDeliveryTotalsExact(t, "a redelivery", hooks)
		if _, _, err := f.s.Deliveries.RedeliverFailed(ctx, f.org, mine[9].WebhookID, time.Time{}, time.Time{}, 10); err != nil {
			t.Fatal(err)
		}
		f.wantDeliveryTotalsExact(t, "a bulk redelivery", hooks)
		f.finish(t, mine[14:16], impl.OutcomeGone) // a 410, which disables the webhook
		f.wantDeliveryTotalsExact(t, "a 410", hooks)
		if after := f.count(t, `SELECT COALESCE(SUM(total), 0) FROM delivery_counts`); after != before {
			t.Errorf("changes of status moved the counters from %d to %d", before, after)
		}

		for _, h := range []int64{a.ID, b.ID} {
			if f.count(t, fmt.Sprintf(`SELECT COUNT(*) FROM deliveries WHERE webhook_id = %d`, h)) == 0 {
				t.Fatalf("webhook %d has no deliveries for the SQL to change", h)
			}
		}
		for _, step := range []struct{ what, sql string }{
			{"a bulk import", `INSERT INTO deliveries (organization_id, webhook_id, event_id, message_id, status, attempt_count, attempt_limit, created_at, updated_at)
				SELECT organization_id, webhook_id, event_id, message_id || '-copy', 'succeeded', 1, attempt_limit, created_at, updated_at FROM deliveries`},
			{"a bulk fix of statuses", `UPDATE deliveries SET status = 'failed', due_ms = NULL WHERE status = 'succeeded' AND id % 2 = 0`},
			{"a move to another webhook", fmt.Sprintf(`UPDATE deliveries SET webhook_id = %d WHERE webhook_id = %d AND id %% 3 = 0`, b.ID, a.ID)},
			{"a bulk delete", fmt.Sprintf(`DELETE FROM deliveries WHERE webhook_id = %d AND id %% 4 = 0`, b.ID)},
		} {
			if _, err := f.db.pool.ExecContext(ctx, step.sql); err != nil {
				t.Fatalf("%s: %v", step.what, err)
			}
			f.wantDeliveryTotalsExact(t, step.what, hooks)
		}

		// Past the retention period, what finished goes; pending stays.
		f.clock.advance(impl.DefaultDeliveryRetention + time.Hour)
		f.queue(t, f.org, 2) // recent: stays
		cutoff := impl.RetentionCutoff(f.clock.now(), impl.DefaultDeliveryRetention)
		if deleted, _ := sweep(t, f.s.Retention.DeleteExpiredDeliveries, cutoff, 3); deleted == 0 {
			t.Fatal("retention deleted nothing")
		}
		f.wantDeliveryTotalsExact(t, "retention", hooks)

		// A webhook's deletion takes its deliveries and its counters, and
		// leaves the others'.
		if err := f.s.Webhooks.DeleteWebhook(ctx, f.org, a.ID); err != nil {
			t.Fatal(err)
		}
		delete(hooks, a.ID)
		if n := f.count(t, fmt.Sprintf(`SELECT COUNT(*) FROM delivery_counts WHERE webhook_id = %d`, a.ID)); n != 0 {
			t.Errorf("the deleted webhook kept %d counters", n)
		}
		f.wantDeliveryTotalsExact(t, "a webhook's deletion", hooks)

		if f.db.dialect == Postgres {
			if _, err := f.db.pool.ExecContext(ctx, `TRUNCATE deliveries CASCADE`); err != nil {
				t.Fatal(err)
			}
			f.wantDeliveryTotalsExact(t, "TRUNCATE", hooks)
			f.queue(t, f.org, 2)
			f.wantDeliveryTotalsExact(t, "events after TRUNCATE", hooks)
		}
	})
}
