package sqlstore

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// hook creates a webhook of org subscribed to lead.created.
func (f *fixture) hook(t *testing.T, org int64, maxAttempts int32) *impl.Webhook {
	t.Helper()
	w := &impl.Webhook{Name: "hook", URL: "https://example.com/hook", Events: []string{impl.EventLeadCreated}, MaxAttempts: maxAttempts}
	if err := f.s.Webhooks.CreateWebhook(context.Background(), org, w); err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	return w
}

// queue creates n leads in org, one millisecond apart on the store's clock,
// which queues a lead.created delivery to each of org's webhooks.
func (f *fixture) queue(t *testing.T, org int64, n int) {
	t.Helper()
	for range n {
		f.leads++
		f.mustCreate(t, org, &impl.Lead{Phone: fmt.Sprintf("55119%08d", f.leads)})
		f.clock.advance(time.Millisecond)
	}
}

// deliveriesOf returns the webhook's deliveries by id.
func (f *fixture) deliveriesOf(t *testing.T, org, hook int64) map[int64]*impl.Delivery {
	t.Helper()
	page, err := f.s.Deliveries.FindDeliveries(context.Background(), org, hook, impl.DeliveryFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("FindDeliveries: %v", err)
	}
	out := map[int64]*impl.Delivery{}
	for _, d := range page.Deliveries {
		out[d.ID] = d
	}
	return out
}

// claim claims as worker at the store's time, choosing with pick (all
// candidates when nil), and returns the claims and the candidates seen.
func (f *fixture) claim(t *testing.T, worker string, perWebhook, candidates int, pick func([]impl.ClaimCandidate) []int64) ([]*impl.ClaimedDelivery, []impl.ClaimCandidate) {
	t.Helper()
	var seen []impl.ClaimCandidate
	now := f.clock.now()
	got, err := f.s.Queue.ClaimDeliveries(context.Background(), impl.ClaimRequest{
		Worker: worker, Now: now, LeaseUntil: now.Add(time.Minute), PerWebhook: perWebhook, Candidates: candidates,
		Pick: func(c []impl.ClaimCandidate) []int64 {
			seen = c
			if pick != nil {
				return pick(c)
			}
			ids := make([]int64, len(c))
			for i, x := range c {
				ids[i] = x.ID
			}
			return ids
		},
	})
	if err != nil {
		t.Fatalf("ClaimDeliveries: %v", err)
	}
	return got, seen
}

// claimedByID indexes claimed deliveries by their ids.
func claimedByID(cs []*impl.ClaimedDelivery) map[int64]*impl.ClaimedDelivery {
	out := make(map[int64]*impl.ClaimedDelivery, len(cs))
	for _, c := range cs {
		out[c.ID] = c
	}
	return out
}

func claimIDs(cs []*impl.ClaimedDelivery) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestClaimDeliveriesTakesTheHeadOfEveryLane(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		a, b := f.hook(t, f.org, 0), f.hook(t, f.other, 0)
		f.queue(t, f.org, 30) // a backlog, due first
		f.queue(t, f.other, 2)
		aIDs := slices.Sorted(func(yield func(int64) bool) {
			for id := range f.deliveriesOf(t, f.org, a.ID) {
				yield(id)
			}
		})
		bIDs := slices.Sorted(func(yield func(int64) bool) {
			for id := range f.deliveriesOf(t, f.other, b.ID) {
				yield(id)
			}
		})

		_, seen := f.claim(t, "w1", 3, 100, func([]impl.ClaimCandidate) []int64 { return nil })
		var got []int64
		for _, c := range seen {
			got = append(got, c.ID)
		}
		// The first of each lane, then the second of each, then a's third:
		// the backlog adds no more candidates than the lane's share.
		want := []int64{aIDs[0], bIDs[0], aIDs[1], bIDs[1], aIDs[2]}
		if !slices.Equal(got, want) {
			t.Fatalf("candidates %v, want %v", got, want)
		}
		if c := seen[1]; c.OrganizationID != f.other || c.WebhookID != b.ID {
			t.Errorf("candidate %+v, want organization %d and webhook %d", c, f.other, b.ID)
		}
		if _, seen := f.claim(t, "w1", 3, 2, func([]impl.ClaimCandidate) []int64 { return nil }); len(seen) != 2 || seen[1].ID != bIDs[0] {
			t.Errorf("with room for 2 candidates: %+v, want the heads of both lanes", seen)
		}

		// Claim b's head and a's first two, in that order.
		claimed, _ := f.claim(t, "w1", 3, 100, func([]impl.ClaimCandidate) []int64 { return []int64{bIDs[0], aIDs[0], aIDs[1]} })
		if got := claimIDs(claimed); !slices.Equal(got, []int64{bIDs[0], aIDs[0], aIDs[1]}) {
			t.Fatalf("claimed %v, want them in the order picked", got)
		}
		c := claimed[0]
		if c.WebhookID != b.ID || c.OrganizationID != f.other || c.URL != b.URL || c.Event != impl.EventLeadCreated ||
			len(c.Secrets) != 1 || c.Secrets[0] != b.Secret || !strings.Contains(string(c.Body), `"lead.created"`) ||
			c.AttemptCount != 0 || c.AttemptLimit != impl.DefaultMaxAttempts || c.Test {
			t.Errorf("claimed delivery %+v", c)
		}

		// Leased, they are no one's candidates until the lease ends.
		_, seen = f.claim(t, "w2", 3, 100, func([]impl.ClaimCandidate) []int64 { return nil })
		for _, x := range seen {
			if x.ID == aIDs[0] || x.ID == aIDs[1] || x.ID == bIDs[0] {
				t.Errorf("leased delivery %d is a candidate again", x.ID)
			}
		}
		if len(seen) != 4 || seen[0].ID != aIDs[2] || seen[1].ID != bIDs[1] {
			t.Errorf("after the claim the candidates are %+v, want a's next 3 and b's last", seen)
		}
		f.clock.advance(2 * time.Minute)
		if _, seen := f.claim(t, "w2", 1, 100, func([]impl.ClaimCandidate) []int64 { return nil }); len(seen) != 2 || seen[0].ID != aIDs[0] || seen[1].ID != bIDs[0] {
			t.Errorf("after the lease ended the candidates are %+v, want the heads again", seen)
		}
	})
}

// LaneLimit reads a lane only as deep as the dispatcher could take from it
// (clamped to 1..PerWebhook). SQLite honours it; PostgreSQL may read
// PerWebhook from every lane, which the request allows.
func TestClaimDeliveriesLaneLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		a, b := f.hook(t, f.org, 0), f.hook(t, f.other, 0)
		f.queue(t, f.org, 10)
		f.queue(t, f.other, 10)
		for _, c := range []struct{ limitA, limitB, wantA, wantB int }{
			{1, 5, 1, 5}, {0, 3, 1, 3}, {100, -1, 5, 1},
		} {
			var seen []impl.ClaimCandidate
			now := f.clock.now()
			_, err := f.s.Queue.ClaimDeliveries(context.Background(), impl.ClaimRequest{
				Worker: "w1", Now: now, LeaseUntil: now.Add(time.Minute), PerWebhook: 5, Candidates: 100,
				LaneLimit: func(hook int64) int {
					switch hook {
					case a.ID:
						return c.limitA
					case b.ID:
						return c.limitB
					}
					t.Errorf("LaneLimit asked about webhook %d", hook)
					return 0
				},
				Pick: func(cands []impl.ClaimCandidate) []int64 { seen = cands; return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			got := map[int64]int{}
			prevRank := 0
			for _, x := range seen {
				got[x.WebhookID]++
				// Still the first of every lane before the second of any.
				if rank := got[x.WebhookID]; rank < prevRank {
					t.Errorf("limits %d/%d: candidates not in rank order: %+v", c.limitA, c.limitB, seen)
				} else {
					prevRank = rank
				}
			}
			if f.db.dialect == Postgres {
				if got[a.ID] < c.wantA || got[a.ID] > 5 || got[b.ID] < c.wantB || got[b.ID] > 5 {
					t.Errorf("limits %d/%d: %v candidates, want at least %d/%d and at most 5 each", c.limitA, c.limitB, got, c.wantA, c.wantB)
				}
				continue
			}
			if got[a.ID] != c.wantA || got[b.ID] != c.wantB {
				t.Errorf("limits %d/%d: %v candidates, want %d/%d", c.limitA, c.limitB, got, c.wantA, c.wantB)
			}
		}
	})
}

// TestLaneHeadReadsTheLaneIndex: a lane's head is read in due order from
// the lane index, without a sort, so that closing its rows after the few a
// claim wants stops the walk there (laneHeadQuery has no LIMIT).
func TestLaneHeadReadsTheLaneIndex(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.dialect != SQLite {
			t.Skip("dialect: PostgreSQL reads the lanes' heads in candidatesQuery")
		}
		hook := f.hook(t, f.org, 0)
		f.queue(t, f.org, 3)
		plan := explain(t, f.db, laneHeadQuery, []any{hook.ID, f.clock.now().UnixMilli(), f.clock.now().UnixMilli()})
		if !strings.Contains(plan, "delivery_queue_lane") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("the lane's head is not read in the lane index's order:\n%s", plan)
		}
	})
}

func TestClaimDeliveriesLeasesOnlyWhatIsStillFree(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.hook(t, f.org, 0)
		f.queue(t, f.org, 3)
		var stolen int64
		claimed, _ := f.claim(t, "w1", 10, 10, func(c []impl.ClaimCandidate) []int64 {
			// Another worker takes the first between the read and the lease.
			stolen = c[0].ID
			if got, _ := f.claim(t, "w2", 10, 10, func([]impl.ClaimCandidate) []int64 { return []int64{stolen} }); len(got) != 1 {
				t.Fatalf("the other worker could not claim %d", stolen)
			}
			return []int64{c[0].ID, c[1].ID, c[2].ID}
		})
		if got := claimIDs(claimed); len(got) != 2 || slices.Contains(got, stolen) {
			t.Errorf("claimed %v; want the 2 not taken by the other worker (%d)", got, stolen)
		}
	})
}

func TestClaimDeliveriesConcurrently(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.hook(t, f.org, 0)
		f.hook(t, f.other, 0)
		f.queue(t, f.org, 100)
		f.queue(t, f.other, 100)
		// Two processes: two pools on one database.
		second := openStore(t, f.dbURL)
		second.now = f.clock.now
		queues := []*DeliveryQueue{f.s.Queue, {second}}
		var mu sync.Mutex
		got := map[int64]string{}
		var wg sync.WaitGroup
		for i, q := range queues {
			worker := fmt.Sprintf("w%d", i)
			wg.Go(func() {
				for {
					now := f.clock.now()
					cs, err := q.ClaimDeliveries(context.Background(), impl.ClaimRequest{Worker: worker, Now: now,
						LeaseUntil: now.Add(time.Minute), PerWebhook: 5, Candidates: 20,
						Pick: func(c []impl.ClaimCandidate) []int64 {
							ids := make([]int64, len(c))
							for i, x := range c {
								ids[i] = x.ID
							}
							return ids
						}})
					if err != nil {
						t.Errorf("%s: ClaimDeliveries: %v", worker, err)
						return
					}
					if len(cs) == 0 {
						return
					}
					mu.Lock()
					for _, c := range cs {
						if prev, dup := got[c.ID]; dup {
							t.Errorf("delivery %d claimed by %s and %s", c.ID, prev, worker)
						}
						got[c.ID] = worker
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(got) != 200 {
			t.Errorf("%d deliveries claimed, want all 200 exactly once", len(got))
		}
	})
}

func TestRecordAttempts(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ok, failing, gone := f.hook(t, f.org, 0), f.hook(t, f.other, 0), f.hook(t, f.other, 0)
		// Only ok and failing take lead.created of their organizations
		// from here on; gone (of f.other too) gets the same events.
		f.queue(t, f.org, 3)
		f.queue(t, f.other, 2)
		claimed, _ := f.claim(t, "w1", 10, 100, nil)
		by := map[int64][]*impl.ClaimedDelivery{}
		for _, c := range claimed {
			by[c.WebhookID] = append(by[c.WebhookID], c)
		}
		if len(by[ok.ID]) != 3 || len(by[failing.ID]) != 2 || len(by[gone.ID]) != 2 {
			t.Fatalf("claimed %d, %d and %d deliveries, want 3, 2 and 2", len(by[ok.ID]), len(by[failing.ID]), len(by[gone.ID]))
		}
		at := f.clock.now().Truncate(time.Microsecond) // as the store keeps it
		code := func(c int32) *int32 { return &c }
		why := func(s string) *string { return &s }
		rec := func(c *impl.ClaimedDelivery, outcome string, status *int32, problem *string) impl.Attempted {
			r := impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: at, StatusCode: status, DurationMS: 12, Error: problem},
				Outcome: outcome}
			if outcome == impl.OutcomeRetry {
				r.NextAt = at.Add(5 * time.Second)
			}
			return impl.Attempted{Delivery: c, Record: r}
		}
		batch := []impl.Attempted{
			rec(by[ok.ID][0], impl.OutcomeSucceeded, code(204), nil),
			rec(by[ok.ID][1], impl.OutcomeRetry, code(503), why("the receiver answered 503")),
			rec(by[failing.ID][0], impl.OutcomeFailed, nil, why("no answer within 10s")),
			rec(by[failing.ID][1], impl.OutcomeFailed, code(500), why("the receiver answered 500")),
			rec(by[gone.ID][0], impl.OutcomeGone, code(410), why("the receiver answered 410 Gone")),
		}
		if err := f.s.Queue.RecordAttempts(ctx, "w1", batch, 2); err != nil {
			t.Fatalf("RecordAttempts: %v", err)
		}

		okDs := f.deliveriesOf(t, f.org, ok.ID)
		if d := okDs[by[ok.ID][0].ID]; d.Status != impl.DeliverySucceeded || len(d.Attempts) != 1 ||
			*d.Attempts[0].StatusCode != 204 || d.Attempts[0].Error != nil || d.Attempts[0].DurationMS != 12 ||
			!d.Attempts[0].AttemptedAt.Equal(at) || d.NextAttemptAt != nil {
			t.Errorf("succeeded delivery: %+v %+v", d, d.Attempts)
		}
		if d := okDs[by[ok.ID][1].ID]; d.Status != impl.DeliveryPending || len(d.Attempts) != 1 ||
			d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(at.Add(5*time.Second).Truncate(time.Millisecond)) {
			t.Errorf("retried delivery: %+v, next %v", d, d.NextAttemptAt)
		}
		// Not attempted, still leased: no candidate until the lease ends.
		if d := okDs[by[ok.ID][2].ID]; d.Status != impl.DeliveryPending || len(d.Attempts) != 0 {
			t.Errorf("delivery not in the batch: %+v", d)
		}
		for _, d := range f.deliveriesOf(t, f.other, failing.ID) {
			if d.Status != impl.DeliveryFailed || len(d.Attempts) != 1 || d.Attempts[0].Error == nil {
				t.Errorf("failed delivery: %+v %+v", d, d.Attempts)
			}
		}
		// Two deliveries in a row failed for good: DisableAfterFailures(2, 2).
		w, err := f.s.Webhooks.FindWebhookByID(ctx, f.other, failing.ID)
		if err != nil {
			t.Fatal(err)
		}
		if w.Active || w.DisabledReason == nil || *w.DisabledReason != "the last 2 deliveries failed every attempt" {
			t.Errorf("after 2 failed deliveries the webhook is active=%v reason=%v", w.Active, str(w.DisabledReason))
		}
		// 410 disables, and disabling fails the webhook's other pending
		// delivery, although it was leased.
		w, _ = f.s.Webhooks.FindWebhookByID(ctx, f.other, gone.ID)
		if w.Active || w.DisabledReason == nil || *w.DisabledReason != impl.DisabledGone {
			t.Errorf("after a 410 the webhook is active=%v reason=%v", w.Active, str(w.DisabledReason))
		}
		for id, d := range f.deliveriesOf(t, f.other, gone.ID) {
			if d.Status != impl.DeliveryFailed {
				t.Errorf("delivery %d of the gone webhook is %s, want failed", id, d.Status)
			}
		}
		if w, _ := f.s.Webhooks.FindWebhookByID(ctx, f.org, ok.ID); !w.Active {
			t.Errorf("a retry disabled the webhook")
		}
	})
}

func TestRecordAttemptsWithoutTheLease(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		hook := f.hook(t, f.org, 0)
		f.queue(t, f.org, 1)
		claimed, _ := f.claim(t, "w1", 10, 10, nil)
		at := f.clock.now()
		code := int32(200)
		// w2 attempted it too after w1's lease ran out, say: w2's attempt is
		// kept, but only the lease holder moves the delivery on.
		err := f.s.Queue.RecordAttempts(context.Background(), "w2", []impl.Attempted{{Delivery: claimed[0],
			Record: impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: at, StatusCode: &code}, Outcome: impl.OutcomeSucceeded}}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		d := f.deliveriesOf(t, f.org, hook.ID)[claimed[0].ID]
		if d.Status != impl.DeliveryPending || len(d.Attempts) != 1 {
			t.Errorf("after another worker's attempt the delivery is %s with %d attempts, want pending with 1", d.Status, len(d.Attempts))
		}
	})
}

func TestRecordAttemptsOfADeletedWebhook(t *testing.T) {
	// A batch of successes is recorded by another path than one with a
	// failure (see RecordAttempts): both.
	for _, outcome := range []string{impl.OutcomeFailed, impl.OutcomeSucceeded} {
		t.Run(outcome, func(t *testing.T) { recordAttemptsOfADeletedWebhook(t, outcome) })
	}
}

func recordAttemptsOfADeletedWebhook(t *testing.T, outcome string) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		kept, deleted := f.hook(t, f.org, 0), f.hook(t, f.other, 0)
		f.queue(t, f.org, 1)
		f.queue(t, f.other, 1)
		claimed, _ := f.claim(t, "w1", 10, 10, nil)
		if err := f.s.Webhooks.DeleteWebhook(ctx, f.other, deleted.ID); err != nil {
			t.Fatal(err)
		}
		code := int32(200)
		var batch []impl.Attempted
		for _, c := range claimed {
			batch = append(batch, impl.Attempted{Delivery: c, Record: impl.AttemptRecord{
				DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: f.clock.now(), StatusCode: &code}, Outcome: impl.OutcomeSucceeded}})
		}
		// A failure of the deleted webhook's delivery would count against a
		// webhook that is gone; it must not stop the batch either.
		for i := range batch {
			if batch[i].Delivery.WebhookID == deleted.ID {
				batch[i].Record.Outcome = outcome
			}
		}
		if err := f.s.Queue.RecordAttempts(ctx, "w1", batch, 1); err != nil {
			t.Fatalf("RecordAttempts with a deleted webhook's delivery: %v", err)
		}
		for _, d := range f.deliveriesOf(t, f.org, kept.ID) {
			if d.Status != impl.DeliverySucceeded || len(d.Attempts) != 1 {
				t.Errorf("the other webhook's delivery is %s with %d attempts", d.Status, len(d.Attempts))
			}
		}
		var attempts int
		if err := f.db.pool.Get(&attempts, `SELECT COUNT(*) FROM delivery_attempts`); err != nil {
			t.Fatal(err)
		}
		if attempts != 1 {
			t.Errorf("%d attempts stored, want only the kept webhook's", attempts)
		}
	})
}

func TestRecordAttemptsOfATestDelivery(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		hook := f.hook(t, f.org, 0)
		c, err := f.s.Queue.CreateTestDelivery(ctx, f.org, hook.ID, "w1", f.clock.now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Test || c.Event != impl.EventWebhookTest || c.AttemptLimit != 1 || c.Secrets[0] != hook.Secret {
			t.Fatalf("test delivery %+v", c)
		}
		problem := "the receiver answered 500"
		err = f.s.Queue.RecordAttempts(ctx, "w1", []impl.Attempted{{Delivery: c, Record: impl.AttemptRecord{
			DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: f.clock.now(), Error: &problem}, Outcome: impl.OutcomeFailed}}}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if w, _ := f.s.Webhooks.FindWebhookByID(ctx, f.org, hook.ID); !w.Active {
			t.Errorf("a failed test delivery disabled the webhook: %v", str(w.DisabledReason))
		}
		if d := f.deliveriesOf(t, f.org, hook.ID)[c.ID]; d.Status != impl.DeliveryFailed || len(d.Attempts) != 1 {
			t.Errorf("test delivery %+v", d)
		}
	})
}

func TestWebhookBacklog(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, b := f.hook(t, f.org, 0), f.hook(t, f.other, 0)
		if w, _ := f.s.Webhooks.FindWebhookByID(ctx, f.org, a.ID); w.Backlog.Pending != 0 || w.Backlog.OldestPendingAt != nil {
			t.Errorf("a new webhook's backlog is %+v", w.Backlog)
		}
		first := f.clock.now().Truncate(time.Microsecond) // as the store keeps it
		f.queue(t, f.org, 3)
		f.queue(t, f.other, 1)
		w, err := f.s.Webhooks.FindWebhookByID(ctx, f.org, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if w.Backlog.Pending != 3 || w.Backlog.OldestPendingAt == nil || !w.Backlog.OldestPendingAt.Equal(first) {
			t.Errorf("backlog %+v (oldest %v), want 3 pending since %v", w.Backlog, w.Backlog.OldestPendingAt, first)
		}
		list, _, err := f.s.Webhooks.FindWebhooks(ctx, f.other, 0, 10)
		if err != nil || len(list) != 1 || list[0].Backlog.Pending != 1 {
			t.Fatalf("FindWebhooks: %v %+v", err, list)
		}

		// The oldest delivered, the next one is the oldest.
		claimed, _ := f.claim(t, "w1", 1, 10, nil)
		code := int32(200)
		var batch []impl.Attempted
		for _, c := range claimed {
			batch = append(batch, impl.Attempted{Delivery: c, Record: impl.AttemptRecord{
				DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: f.clock.now(), StatusCode: &code}, Outcome: impl.OutcomeSucceeded}})
		}
		if err := f.s.Queue.RecordAttempts(ctx, "w1", batch, 0); err != nil {
			t.Fatal(err)
		}
		w, _ = f.s.Webhooks.FindWebhookByID(ctx, f.org, a.ID)
		if w.Backlog.Pending != 2 || !w.Backlog.OldestPendingAt.Equal(first.Add(time.Millisecond)) {
			t.Errorf("after the oldest was delivered the backlog is %d since %v", w.Backlog.Pending, w.Backlog.OldestPendingAt)
		}

		all, err := f.s.Queue.WebhookBacklogs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].WebhookID != a.ID || all[0].OrganizationID != f.org || all[0].Pending != 2 {
			t.Errorf("WebhookBacklogs = %+v, want only webhook %d with 2 (b's one was delivered)", all, a.ID)
		}
		if w, _ := f.s.Webhooks.FindWebhookByID(ctx, f.other, b.ID); w.Backlog.Pending != 0 || w.Backlog.OldestPendingAt != nil {
			t.Errorf("an emptied backlog reads %+v", w.Backlog)
		}
	})
}

// TestRecordAttemptsWhileTheWebhookIsBeingDeleted: on PostgreSQL the
// deletion holds the rows when the batch is recorded; the batch waits for
// it and then finds them gone, rather than failing on the attempts'
// foreign key.
func TestRecordAttemptsWhileTheWebhookIsBeingDeleted(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.Dialect() != Postgres {
			t.Skip("SQLite's one writer makes the deletion and the record take turns")
		}
		for _, outcome := range []string{impl.OutcomeSucceeded, impl.OutcomeFailed} {
			t.Run(outcome, func(t *testing.T) {
				ctx := context.Background()
				kept, doomed := f.hook(t, f.org, 0), f.hook(t, f.other, 0)
				f.queue(t, f.org, 1)
				f.queue(t, f.other, 1)
				claimed, _ := f.claim(t, "w1", 10, 10, func(c []impl.ClaimCandidate) []int64 {
					var ids []int64
					for _, x := range c {
						if x.WebhookID == kept.ID || x.WebhookID == doomed.ID {
							ids = append(ids, x.ID)
						}
					}
					return ids
				})
				if len(claimed) != 2 {
					t.Fatalf("claimed %d", len(claimed))
				}
				tx, err := f.db.pool.Beginx()
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []string{
					`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE webhook_id = $1)`,
					`DELETE FROM deliveries WHERE webhook_id = $1`,
					`DELETE FROM webhook_events WHERE webhook_id = $1`,
					`DELETE FROM webhooks WHERE id = $1`,
				} {
					if _, err := tx.Exec(q, doomed.ID); err != nil {
						t.Fatal(err)
					}
				}
				var batch []impl.Attempted
				for _, c := range claimed {
					batch = append(batch, impl.Attempted{Delivery: c, Record: impl.AttemptRecord{
						DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: f.clock.now()}, Outcome: outcome}})
				}
				recorded := make(chan error, 1)
				go func() { recorded <- f.s.Queue.RecordAttempts(ctx, "w1", batch, 1) }()
				select {
				case err := <-recorded:
					t.Fatalf("the record did not wait for the deletion: %v", err)
				case <-time.After(300 * time.Millisecond):
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				if err := <-recorded; err != nil {
					t.Fatalf("RecordAttempts after the deletion: %v", err)
				}
				if d := f.deliveriesOf(t, f.org, kept.ID); len(d) == 0 {
					t.Fatal("the kept webhook lost its delivery")
				}
				for _, d := range f.deliveriesOf(t, f.org, kept.ID) {
					if len(d.Attempts) != 1 {
						t.Errorf("the kept webhook's delivery has %d attempts, want 1", len(d.Attempts))
					}
				}
				if err := f.s.Webhooks.DeleteWebhook(ctx, f.org, kept.ID); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

// A claim's lease is meant to be a HOT update on PostgreSQL, which needs free
// space on the deliveries table's pages (migration 00011).
func TestDeliveriesLeaveRoomForLeases(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.Dialect() != Postgres {
			t.Skip("SQLite updates rows in place")
		}
		var got string
		err := f.db.pool.QueryRowContext(context.Background(),
			`SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class WHERE oid = 'deliveries'::regclass`).Scan(&got)
		if err != nil {
			t.Fatalf("read reloptions: %v", err)
		}
		if !slices.Contains(strings.Split(got, ","), "fillfactor=50") {
			t.Errorf("deliveries reloptions = %q, want fillfactor=50", got)
		}
	})
}

// The writes every lead makes (the lead, its event, the webhooks to tell
// and their deliveries) are prepared once, on both databases (stmtIn): the
// first leads fill the statement cache, and more leads add nothing to it.
func TestLeadWritesArePreparedOnce(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		w := f.hook(t, f.org, 0)
		count := func() (n int) {
			f.db.stmts.Range(func(any, any) bool { n++; return true })
			return n
		}
		before := count()
		f.queue(t, f.org, 2)
		first := count()
		if first-before < 4 {
			t.Errorf("creating leads kept %d statements; want the lead's, the event's, the webhooks' and the delivery's", first-before)
		}
		f.queue(t, f.org, 3)
		f.queue(t, f.other, 2)
		if n := count(); n != first {
			t.Errorf("more leads prepared %d statements more", n-first)
		}
		if got := len(f.deliveriesOf(t, f.org, w.ID)); got != 5 {
			t.Errorf("%d deliveries queued for 5 leads", got)
		}
	})
}

// TestRecordAttemptsInBatchesOfEverySize records batches whose sizes
// straddle the lengths SQLite's VALUES lists are rounded to (see
// sqliteRowsFor), on both of RecordAttempts' paths: every attempt of the
// batch is stored once with its own values, and the padding rows store
// nothing and move nothing.
func TestRecordAttemptsInBatchesOfEverySize(t *testing.T) {
	recordAttemptsInBatches(t, []int{1, 7, 8, 9, 129})
}

// TestRecordAttemptsOverTheBatchLimit: a batch larger than one transaction
// records (recordBatchMax) is recorded whole, in turns.
func TestRecordAttemptsOverTheBatchLimit(t *testing.T) {
	defer func(was int) { recordBatchMax = was }(recordBatchMax)
	recordBatchMax = 4
	recordAttemptsInBatches(t, []int{9, 4, 3})
}

// recordAttemptsInBatches records batches of the given sizes on both of
// RecordAttempts' paths and checks every attempt stored once, with its own
// values.
func recordAttemptsInBatches(t *testing.T, sizes []int) {
	for _, withFailure := range []bool{false, true} {
		t.Run(fmt.Sprintf("failure=%v", withFailure), func(t *testing.T) {
			forEachDB(t, func(t *testing.T, f *fixture) {
				ctx := context.Background()
				hook := f.hook(t, f.org, 0)
				total := 0
				for _, n := range sizes {
					total += n
				}
				f.queue(t, f.org, total)
				claimed, _ := f.claim(t, "w1", total, total, nil)
				if len(claimed) != total {
					t.Fatalf("claimed %d of %d", len(claimed), total)
				}
				at := f.clock.now().Truncate(time.Microsecond)
				want := map[int64]int32{} // delivery -> its attempt's status code
				for _, n := range sizes {
					var batch []impl.Attempted
					for i, c := range claimed[:n] {
						code := int32(200 + i%7)
						r := impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: at, StatusCode: &code, DurationMS: int64(i)},
							Outcome: impl.OutcomeSucceeded}
						switch {
						case i%3 == 1:
							r.Outcome, r.NextAt = impl.OutcomeRetry, at.Add(time.Duration(i+1)*time.Second)
						case withFailure && i == n-1:
							r.Outcome = impl.OutcomeFailed
						}
						batch = append(batch, impl.Attempted{Delivery: c, Record: r})
						want[c.ID] = code
					}
					claimed = claimed[n:]
					if err := f.s.Queue.RecordAttempts(ctx, "w1", batch, 0); err != nil {
						t.Fatalf("RecordAttempts of %d: %v", n, err)
					}
				}
				var stored int
				if err := f.db.pool.Get(&stored, `SELECT COUNT(*) FROM delivery_attempts`); err != nil {
					t.Fatal(err)
				}
				if stored != total {
					t.Errorf("%d attempts stored for %d recorded", stored, total)
				}
				ds := f.deliveriesOf(t, f.org, hook.ID)
				for id, code := range want {
					d := ds[id]
					if d == nil || len(d.Attempts) != 1 || d.Attempts[0].StatusCode == nil || *d.Attempts[0].StatusCode != code ||
						!d.Attempts[0].AttemptedAt.Equal(at) {
						t.Errorf("delivery %d: %+v", id, d)
						continue
					}
					if d.Status == impl.DeliveryPending && d.NextAttemptAt == nil {
						t.Errorf("retried delivery %d has no next attempt", id)
					}
				}
			})
		})
	}
}

// On SQLite a webhook's delivery log reads through prepared statements
// (listQueryer): their text must hold no value, or every status, page or
// cursor would prepare and keep one more. Walks of every status, by
// number and by cursor, for two webhooks, then again for a third,
// prepare nothing new the second time.
func TestDeliveryListStatementsAreBounded(t *testing.T) {
	f := newFixture(t, sqlstoretest.SQLite(t).URL)
	ctx := context.Background()
	hooks := []*impl.Webhook{f.hook(t, f.org, 8), f.hook(t, f.org, 8)}
	f.queue(t, f.org, 6)
	claimed, _ := f.claim(t, "w1", 100, 100, nil)
	f.finish(t, claimed[:len(claimed)/2], impl.OutcomeSucceeded)
	f.finish(t, claimed[len(claimed)/2:], impl.OutcomeFailed)
	f.queue(t, f.org, 2) // pending
	walk := func(hook int64) {
		t.Helper()
		for _, status := range []string{"", impl.DeliveryPending, impl.DeliverySucceeded, impl.DeliveryFailed} {
			for _, offset := range []int64{0, 1} {
				filter := impl.DeliveryFilter{Limit: 1, Offset: offset}
				if status != "" {
					filter.Status = &status
				}
				for range 3 { // the page, then two by cursor
					page, err := f.s.Deliveries.FindDeliveries(ctx, f.org, hook, filter)
					if err != nil {
						t.Fatalf("%+v: %v", filter, err)
					}
					if page.Next == "" {
						break
					}
					filter.Cursor, filter.Offset = page.Next, 0
				}
			}
		}
	}
	f.statementsBounded(t, 15, func() { walk(hooks[0].ID); walk(hooks[1].ID) }, func() {
		third := f.hook(t, f.org, 8)
		f.queue(t, f.org, 2)
		walk(third.ID)
	})
}

// TestLanesFollowWritesBySQL: delivery_queue is the database's, kept in
// step with deliveries by triggers (00023), so a status or a due time
// written by SQL (an operator's fix, a bulk import) moves a delivery into
// or out of its lane, and failed_at follows the status, as the
// dispatcher's and the redeliveries' own writes do.
func TestLanesFollowWritesBySQL(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		hook := f.hook(t, f.org, 0)
		f.queue(t, f.org, 3)
		var ids []int64
		if err := f.db.pool.Select(&ids, f.db.rebind(`SELECT id FROM deliveries WHERE webhook_id = ? ORDER BY id`), hook.ID); err != nil || len(ids) != 3 {
			t.Fatalf("the queued deliveries: %v %v", ids, err)
		}
		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := f.db.pool.Exec(f.db.rebind(query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		lane := func() []int64 {
			t.Helper()
			var got []int64
			if err := f.db.pool.Select(&got, f.db.rebind(`SELECT delivery_id FROM delivery_queue WHERE webhook_id = ? ORDER BY delivery_id`), hook.ID); err != nil {
				t.Fatal(err)
			}
			return got
		}
		failedAt := func(id int64) bool {
			t.Helper()
			return f.count(t, fmt.Sprintf(`SELECT COUNT(*) FROM deliveries WHERE id = %d AND failed_at IS NOT NULL`, id)) == 1
		}
		if got := lane(); !slices.Equal(got, ids) {
			t.Fatalf("lane after the fan-out: %v, want %v", got, ids)
		}
		// Failed by SQL: out of the lane, failed_at set.
		exec(`UPDATE deliveries SET status = 'failed', due_ms = NULL WHERE id = ?`, ids[0])
		if got := lane(); !slices.Equal(got, ids[1:]) || !failedAt(ids[0]) {
			t.Errorf("after a failure by SQL: lane %v (want %v), failed_at set %v", got, ids[1:], failedAt(ids[0]))
		}
		// A lease, then a new due time by SQL: the lease ends with it.
		claimed, _ := f.claim(t, "w1", 10, 10, func(c []impl.ClaimCandidate) []int64 { return []int64{ids[1]} })
		if len(claimed) != 1 {
			t.Fatalf("claimed %d, want %d", len(claimed), ids[1])
		}
		exec(`UPDATE deliveries SET due_ms = ? WHERE id = ?`, f.clock.now().UnixMilli()-1, ids[1])
		if n := f.count(t, fmt.Sprintf(`SELECT COUNT(*) FROM delivery_queue WHERE delivery_id = %d AND locked_by IS NULL`, ids[1])); n != 1 {
			t.Errorf("a new due time by SQL left delivery %d leased", ids[1])
		}
		// Queued again by SQL: back in the lane, claimable, failed_at gone.
		exec(`UPDATE deliveries SET status = 'pending', due_ms = ? WHERE id = ?`, f.clock.now().UnixMilli()-1, ids[0])
		if failedAt(ids[0]) {
			t.Errorf("delivery %d is pending again but keeps its failed_at", ids[0])
		}
		claimed, _ = f.claim(t, "w1", 10, 10, nil) // f.finish records as w1
		if got := claimIDs(claimed); !slices.Contains(got, ids[0]) || !slices.Contains(got, ids[1]) {
			t.Errorf("claimed %v after the writes by SQL, want %d and %d among them", got, ids[0], ids[1])
		}
		// Succeeded: out of the lane for good.
		f.finish(t, claimed, impl.OutcomeSucceeded)
		exec(`UPDATE deliveries SET status = 'succeeded', due_ms = NULL WHERE id = ?`, ids[2])
		if got := lane(); len(got) != 0 {
			t.Errorf("lane after every delivery succeeded: %v", got)
		}
	})
}

// TestFinishingADeliveryChangesNoIndexedColumn: on PostgreSQL an update
// that changes no column an index names (key, expression or predicate)
// can be HOT, a new version of the row on its own page without a new
// entry in every index; the record's update of a finished delivery
// changes these columns, so no index of deliveries may name them
// (00023 moved the lane, whose predicate named status, to its own table).
func TestFinishingADeliveryChangesNoIndexedColumn(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.dialect != Postgres {
			t.Skip("dialect: HOT updates are PostgreSQL's")
		}
		var defs []string
		if err := f.db.pool.Select(&defs, `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'deliveries'::regclass`); err != nil {
			t.Fatal(err)
		}
		if len(defs) < 4 {
			t.Fatalf("deliveries has %d indexes: %v", len(defs), defs)
		}
		changed := regexp.MustCompile(`\b(status|attempt_count|due_ms|updated_at)\b`)
		for _, def := range defs {
			if m := changed.FindString(def); m != "" {
				t.Errorf("an index names %s, which finishing a delivery changes: %s", m, def)
			}
		}
	})
}
