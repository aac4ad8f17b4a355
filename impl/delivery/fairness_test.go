package delivery

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// lanes builds candidates as the queue orders them (rank in lane, then due
// time) from lanes given as organization, webhook and number of due
// deliveries, the first lane's head due first. Candidate ids are
// webhook*100 + position in the lane.
func lanes(spec ...[3]int64) []impl.ClaimCandidate {
	var out []impl.ClaimCandidate
	t0 := time.Date(2026, 3, 13, 14, 0, 0, 0, time.UTC)
	for rank := int64(0); ; rank++ {
		added := false
		for i, l := range spec {
			if rank < l[2] {
				out = append(out, impl.ClaimCandidate{ID: l[1]*100 + rank, OrganizationID: l[0], WebhookID: l[1],
					Due: t0.Add(time.Duration(rank*10+int64(i)) * time.Second)})
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func TestFairShareCapsAWebhook(t *testing.T) {
	f := newFairShare(3, 3)
	got, left := f.pick(lanes([3]int64{1, 7, 10}), 8, readWhole)
	if want := []int64{700, 701, 702}; !slices.Equal(got, want) {
		t.Errorf("picked %v, want the first 3 of webhook 7's lane: %v", got, want)
	}
	if left.limited || !slices.Equal(left.waiting, []int64{7}) {
		t.Errorf("leftover %+v, want webhook 7 waiting at its cap and no limit hit", left)
	}

	// Two in flight leave room for one more.
	f.start(7)
	f.start(7)
	if got, _ := f.pick(lanes([3]int64{1, 7, 10}), 8, readWhole); len(got) != 1 {
		t.Errorf("with 2 of 3 in flight the webhook got %d more, want 1", len(got))
	}
	if n := f.settle(7); n != 1 || f.room(7) != 2 {
		t.Errorf("after one settled: %d in flight, room %d; want 1 and 2", n, f.room(7))
	}
	f.settle(7)
	if f.room(7) != 3 || len(f.busy) != 0 {
		t.Errorf("after both settled: room %d, busy %v", f.room(7), f.busy)
	}
}

func TestFairShareOrganizationsTakeTurnsWithinAClaim(t *testing.T) {
	f := newFairShare(10, 10)
	// Organization 1's backlog fell due first.
	got, left := f.pick(lanes([3]int64{1, 7, 5}, [3]int64{2, 8, 2}), 5, readWhole)
	if want := []int64{700, 800, 701, 801, 702}; !slices.Equal(got, want) {
		t.Errorf("picked %v, want the organizations alternating: %v", got, want)
	}
	if !left.limited || len(left.waiting) != 0 {
		t.Errorf("leftover %+v, want limited (webhook 7 had room and more) and nothing waiting", left)
	}
}

func TestFairShareOrganizationsTakeTurnsAcrossClaims(t *testing.T) {
	f := newFairShare(10, 10)
	// One free worker at a time, and organization 1's backlog always older:
	// first come, first served would give every turn to organization 1.
	var got []int64
	for range 6 {
		ids, _ := f.pick(lanes([3]int64{1, 7, 50}, [3]int64{2, 8, 50}), 1, readWhole)
		got = append(got, ids...)
		// The lanes' heads stay the same candidates: the picked ones would
		// be leased, but this test only looks at whose turn it is.
	}
	var orgs []int64
	for _, id := range got {
		orgs = append(orgs, id/100-6) // webhook 7 -> org 1, 8 -> 2
	}
	if want := []int64{1, 2, 1, 2, 1, 2}; !slices.Equal(orgs, want) {
		t.Errorf("served organizations %v, want them alternating %v", orgs, want)
	}
}

func TestFairShareCountsOrganizationsNotWebhooks(t *testing.T) {
	f := newFairShare(10, 10)
	// Organization 1 has three webhooks, organization 2 one: per round each
	// organization takes one delivery, and organization 1's webhooks take
	// turns among themselves.
	got, _ := f.pick(lanes([3]int64{1, 3, 5}, [3]int64{1, 4, 5}, [3]int64{1, 5, 5}, [3]int64{2, 9, 5}), 6, readWhole)
	if want := []int64{300, 900, 400, 901, 500, 902}; !slices.Equal(got, want) {
		t.Errorf("picked %v, want %v", got, want)
	}
}

func TestFairShareSkipsAFullWebhookForTheOthers(t *testing.T) {
	f := newFairShare(2, 2)
	f.start(7)
	f.start(7)
	got, left := f.pick(lanes([3]int64{1, 7, 20}, [3]int64{2, 8, 1}), 4, readWhole)
	if !slices.Equal(got, []int64{800}) {
		t.Errorf("picked %v, want only organization 2's delivery while webhook 7 is full", got)
	}
	if left.limited || !slices.Equal(left.waiting, []int64{7}) {
		t.Errorf("leftover %+v, want webhook 7 waiting", left)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 13, 14, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"99999999", 99999999 * time.Second},
		// Beyond a Duration: the longest wait, never a negative one.
		{"9999999999999", math.MaxInt64},
		{"99999999999999999999999", math.MaxInt64},
		{"-5", 0},
		{"soon", 0},
		{"Fri, 13 Mar 2026 14:00:30 GMT", 30 * time.Second},
		{"Fri, 13 Mar 2026 13:00:00 GMT", 0}, // in the past
	} {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestReadyQueueStartsTheOrganizationLeastRecentlyStarted(t *testing.T) {
	q := newReadyQueue()
	until := time.Now().Add(time.Minute)
	d := func(id, org, hook int64) *impl.ClaimedDelivery {
		return &impl.ClaimedDelivery{ID: id, OrganizationID: org, WebhookID: hook}
	}
	next := func(want int64) {
		t.Helper()
		got, ok := q.next(limitOf(1))
		if !ok || got.ID != want {
			t.Fatalf("started %d (%v), want %d", got.ID, ok, want)
		}
	}
	// Two of organization 1's deliveries were claimed ahead for webhook 7,
	// which may run one at a time.
	q.push(d(1, 1, 7), until)
	q.push(d(2, 1, 7), until)
	next(1)
	if got, ok := q.next(limitOf(1)); ok {
		t.Fatalf("started %d while webhook 7 already runs its one", got.ID)
	}
	// A fresh event of organization 2, then two more of organization 1's.
	q.push(d(3, 2, 8), until)
	q.push(d(4, 1, 9), until)
	q.done(7)
	// Organization 1 started last: organization 2 goes first, then
	// organization 1's webhooks in the order they became ready.
	next(3)
	next(2)
	next(4)
	if _, ok := q.next(limitOf(1)); ok {
		t.Fatal("started more than was queued")
	}
	if left := q.drain(); len(left) != 0 {
		t.Errorf("drain returned %d", len(left))
	}
}

// limitOf is a readyQueue limit of n for every webhook.
func limitOf(n int) func(int64) int { return func(int64) int { return n } }

// A webhook whose last attempt was quick may hold what it is lent; the
// first attempt that is not brings it back to its share.
func TestFairShareLendsToAQuickWebhook(t *testing.T) {
	f := newFairShare(2, 6)
	if got, _ := f.pick(lanes([3]int64{1, 7, 10}), 10, readWhole); len(got) != 2 || f.widest() != 2 {
		t.Fatalf("a new webhook got %d (widest %d), want its share of 2", len(got), f.widest())
	}
	f.start(7)
	f.start(7)
	f.observe(7, true)
	f.settle(7)
	if f.limit(7) != 6 || f.room(7) != 5 || f.widest() != 6 || f.limit(8) != 2 {
		t.Errorf("after a quick attempt: limit %d, room %d, widest %d, another's limit %d; want 6, 5, 6, 2",
			f.limit(7), f.room(7), f.widest(), f.limit(8))
	}
	if got, left := f.pick(lanes([3]int64{1, 7, 10}), 10, readWhole); len(got) != 5 || !slices.Equal(left.waiting, []int64{7}) {
		t.Errorf("a quick webhook got %d (leftover %+v), want 5 more and waiting at its limit", len(got), left)
	}
	f.observe(7, false)
	if f.limit(7) != 2 || f.widest() != 2 {
		t.Errorf("after an attempt that was not quick: limit %d, widest %d; want the share, 2", f.limit(7), f.widest())
	}
	// A quick webhook not served for forgetAfter turns starts again at its
	// share.
	f.observe(7, true)
	f.settle(7)
	f.turn += 2 * forgetAfter
	f.hookTurn[9], f.orgTurn[9] = f.turn, f.turn // served now
	for id := range int64(forgetAfter) {
		f.hookTurn[1000+id] = f.turn
	}
	f.forget()
	if f.quick[7] || f.limit(7) != 2 {
		t.Errorf("a webhook not served for %d turns is still quick", forgetAfter)
	}
}

func TestQuickAttempt(t *testing.T) {
	for _, c := range []struct {
		rec  impl.AttemptRecord
		want bool
	}{
		{attemptOf(impl.OutcomeSucceeded, 12), true},
		{attemptOf(impl.OutcomeSucceeded, quickAfter.Milliseconds()), false},
		{attemptOf(impl.OutcomeRetry, 3), false},
		{attemptOf(impl.OutcomeGone, 3), false},
		{attemptOf(impl.OutcomeFailed, 3), false},
	} {
		if got := quickAttempt(c.rec); got != c.want {
			t.Errorf("quickAttempt(%+v) = %v, want %v", c.rec, got, c.want)
		}
	}
}

func attemptOf(outcome string, ms int64) impl.AttemptRecord {
	return impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{DurationMS: ms}, Outcome: outcome}
}

// readWhole is a claim's asked for tests whose lanes were read whole.
func readWhole(int64) int { return 1 << 30 }

// TestPickLeavesTheSentinel: a claim beside the loop reads a lane as deep
// as its webhook had room then, plus one to tell whether there is more.
// When attempts of that webhook end before the pick, so that it has more
// room, the pick still leaves that last candidate, and says the webhook
// waits with more due rather than that its lane was emptied.
func TestPickLeavesTheSentinel(t *testing.T) {
	f := newFairShare(4, 4)
	// The lane was read with room for 2: 3 asked, 3 found.
	asked := func(int64) int { return 3 }
	got, left := f.pick(lanes([3]int64{1, 7, 3}), 10, asked)
	if len(got) != 2 || !slices.Equal(left.waiting, []int64{7}) || left.limited {
		t.Fatalf("picked %v, left %+v; want 2 picked and webhook 7 waiting", got, left)
	}
	// A lane that had fewer than asked was read to its end.
	got, left = f.pick(lanes([3]int64{2, 8, 2}), 10, asked)
	if len(got) != 2 || len(left.waiting) != 0 || left.limited {
		t.Fatalf("picked %v, left %+v; want both picked and nothing left", got, left)
	}
}
