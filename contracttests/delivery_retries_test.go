package contracttests

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
)

// What a receiver's answers do to a delivery and to its webhook: retries
// until a 2xx or max_attempts, 410 and repeated failures disabling the
// webhook, Retry-After overriding the schedule, and the attempt timeout.
// The receiver is the reference one, told how to answer.

// TestWebhookDelivery: what the receiver's answers do to a delivery and to
// its webhook. The server disables a webhook after 3 failed deliveries in
// a row; the other cases never fail 3 deliveries of one webhook.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, func(c *app.Config) { c.WebhookDisableAfter = 3 }, func(t *testing.T, tg *target) {
		evParallel(t, tg, map[string]func(*testing.T, *target){
			"fails 3 times then succeeds":    evRetriesUntilSuccess,
			"always fails, max_attempts 3":   evGivesUpAfterMaxAttempts,
			"410 disables the webhook":       evGoneDisablesTheWebhook,
			"3 failed deliveries disable it": evAutoDisable,
		})
	})
}

// TestWebhookDeliveryWaits: a server whose retry schedule is an hour, so
// that a retry within the test can only come from Retry-After, and whose
// attempts time out after a second.
func TestWebhookDeliveryWaits(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookRetrySchedule = []time.Duration{time.Hour}
		c.WebhookTimeout = time.Second
	}, func(t *testing.T, tg *target) {
		evParallel(t, tg, map[string]func(*testing.T, *target){
			"Retry-After overrides the schedule": evRetryAfter,
			"no answer within the timeout":       evTimeout,
		})
	})
}

// evParallel runs each case as a parallel subtest. Every case works in an
// organization of its own, so the cases share the server without seeing
// each other's events, and a server is started once per database rather
// than once per case.
func evParallel(t *testing.T, tg *target, cases map[string]func(t *testing.T, tg *target)) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cases[name](t, tg)
		})
	}
}

// evRetriesUntilSuccess: a receiver failing 3 times, then answering 200.
func evRetriesUntilSuccess(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "flaky", rec, []string{impl.EventLeadCreated}, 0)
	rec.FailNext(3, http.StatusInternalServerError)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliverySucceeded || !slices.Equal(d.codes(), []int{500, 500, 500, 200}) {
		t.Errorf("delivery %s, want succeeded after attempts 500,500,500,200", d)
	}
	if d.NextAttemptAt != nil {
		t.Errorf("a succeeded delivery has next_attempt_at %v", d.NextAttemptAt)
	}
	for i, a := range d.Attempts {
		if (i < 3) != (a.Error != nil) {
			t.Errorf("attempt %d: error %v", i+1, a.Error)
		}
		if i > 0 && a.AttemptedAt.Before(d.Attempts[i-1].AttemptedAt) {
			t.Errorf("attempt %d is dated before attempt %d", i+1, i)
		}
	}
	evSameRequests(t, rec, d, []int{500, 500, 500, 200})
	if evs := rec.Events(); len(evs) != 1 || evs[0].Duplicate {
		t.Errorf("the receiver accepted %d events, want the one delivery once", len(evs))
	}
}

func evGivesUpAfterMaxAttempts(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "always failing", rec, []string{impl.EventLeadCreated}, 3)
	rec.FailNext(1000, http.StatusInternalServerError)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliveryFailed || !slices.Equal(d.codes(), []int{500, 500, 500}) {
		t.Errorf("delivery %s, want failed after attempts 500,500,500", d)
	}
	if d.NextAttemptAt != nil {
		t.Errorf("a failed delivery has next_attempt_at %v, want null", d.NextAttemptAt)
	}
	for i, a := range d.Attempts {
		if a.Error == nil || !strings.Contains(*a.Error, "500") {
			t.Errorf("attempt %d: error %v, want one naming the 500", i+1, a.Error)
		}
	}
	evSameRequests(t, rec, d, []int{500, 500, 500})

	// Nothing more comes, however long we look: many poll intervals and
	// retry waits later, the delivery and the receiver are as they were.
	time.Sleep(20*evPollInterval + 5*evRetryWait)
	if n := rec.Attempts(); n != 3 {
		t.Errorf("the receiver got %d requests, want 3: a failed delivery was tried again", n)
	}
	if again := evDeliveryByID(t, tg, key, hook.ID, d.ID); again.Status != impl.DeliveryFailed || len(again.Attempts) != 3 {
		t.Errorf("later the delivery is %s", again)
	}
	if w := evGetHook(t, tg, key, hook.ID); !w.Active {
		t.Errorf("one failed delivery disabled the webhook: %+v", w)
	}
}

func evGoneDisablesTheWebhook(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "gone", rec, []string{impl.EventLeadCreated}, 0)
	rec.SetGone(true)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliveryFailed || !slices.Equal(d.codes(), []int{http.StatusGone}) || d.NextAttemptAt != nil {
		t.Errorf("delivery %s, want failed after one attempt answered 410, without next_attempt_at", d)
	}
	w := evGetHook(t, tg, key, hook.ID)
	if w.Active || w.DisabledReason == nil || !strings.Contains(*w.DisabledReason, "410") || w.DisabledAt == nil {
		t.Errorf("after a 410 the webhook is %+v (reason %v), want inactive with a reason mentioning 410", w, evStr(w.DisabledReason))
	}
	if ds := evNewDeliveries(t, tg, key, hook.ID, func() { evCreateLead(t, tg, key, nil) }); len(ds) != 0 {
		t.Errorf("a disabled webhook got new deliveries: %v", ds)
	}
	evSameRequests(t, rec, d, []int{http.StatusGone})
}

func evAutoDisable(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "failing", rec, []string{impl.EventLeadCreated}, 1)
	rec.FailNext(3, http.StatusInternalServerError)
	var ds []whDelivery
	for range 3 {
		ds = append(ds, evDeliveryOf(t, tg, key, hook.ID))
	}
	for _, d := range ds {
		d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
		if d.Status != impl.DeliveryFailed || !slices.Equal(d.codes(), []int{500}) {
			t.Errorf("delivery %s, want failed after one 500", d)
		}
	}
	var w whHook
	evWaitFor(t, func() bool { w = evGetHook(t, tg, key, hook.ID); return !w.Active },
		func() string { return fmt.Sprintf("after 3 failed deliveries in a row the webhook is still %+v", w) })
	if w.DisabledReason == nil || strings.TrimSpace(*w.DisabledReason) == "" || w.DisabledAt == nil {
		t.Errorf("disabled webhook has disabled_reason %v disabled_at %v", evStr(w.DisabledReason), w.DisabledAt)
	}

	if later := evNewDeliveries(t, tg, key, hook.ID, func() { evCreateLead(t, tg, key, nil) }); len(later) != 0 {
		t.Errorf("a disabled webhook got new deliveries: %v", later)
	}
	if n := rec.Attempts(); n != 3 {
		t.Errorf("the receiver got %d requests, want 3", n)
	}

	w = evDecode[whHook](t, expectJSON(t, tg, key, http.MethodPatch, fmt.Sprintf("/webhooks/%d", hook.ID),
		map[string]any{"active": true}, http.StatusOK, nil))
	if !w.Active || w.DisabledReason != nil || w.DisabledAt != nil {
		t.Errorf("re-enabled webhook is %+v (reason %v)", w, evStr(w.DisabledReason))
	}
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliverySucceeded || !slices.Equal(d.codes(), []int{200}) {
		t.Errorf("after re-enabling, delivery %s, want succeeded", d)
	}
	evWaitFor(t, func() bool { return len(rec.Events()) == 1 },
		func() string { return fmt.Sprintf("the receiver accepted %d events, want 1", len(rec.Events())) })
	if got := rec.Events()[0].WebhookID; got != d.MessageID {
		t.Errorf("the receiver accepted %s, want %s", got, d.MessageID)
	}
}

func evRetryAfter(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "busy", rec, []string{impl.EventLeadCreated}, 0)
	rec.FailNextWithRetryAfter(1, http.StatusServiceUnavailable, "1")
	d := evDeliveryOf(t, tg, key, hook.ID)

	// Between the attempts: the stored next attempt is Retry-After's
	// second away, not the schedule's hour.
	var between whDelivery
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "attempted", func(d whDelivery) bool {
		if d.Status == impl.DeliveryPending && len(d.Attempts) == 1 {
			between = d
		}
		return len(d.Attempts) > 0
	})
	if between.ID == 0 {
		t.Fatalf("never saw the delivery pending after its first attempt: %s", d)
	}
	if c := between.codes(); !slices.Equal(c, []int{503}) || between.NextAttemptAt == nil {
		t.Fatalf("after the first attempt: %s, want one 503 and a next_attempt_at", between)
	}
	wait := between.NextAttemptAt.Sub(between.Attempts[0].AttemptedAt)
	if wait < 900*time.Millisecond || wait > 3*time.Second {
		t.Errorf("next_attempt_at is %s after the first attempt, want about 1s (Retry-After: 1), not the schedule's 1h", wait)
	}

	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliverySucceeded || !slices.Equal(d.codes(), []int{503, 200}) {
		t.Errorf("delivery %s, want succeeded after 503, 200", d)
	}
	if len(d.Attempts) == 2 {
		if gap := d.Attempts[1].AttemptedAt.Sub(d.Attempts[0].AttemptedAt); gap < 900*time.Millisecond {
			t.Errorf("the second attempt is dated %s after the first, before Retry-After's second", gap)
		}
	}
	evSameRequests(t, rec, d, []int{503, 200})
}

func evTimeout(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "slow", rec, []string{impl.EventLeadCreated}, 1)
	rec.SetDelay(3 * time.Second)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliveryFailed || len(d.Attempts) != 1 {
		t.Fatalf("delivery %s, want failed after one attempt", d)
	}
	a := d.Attempts[0]
	if a.StatusCode != nil {
		t.Errorf("an unanswered attempt has status_code %d", *a.StatusCode)
	}
	if a.Error == nil || !strings.Contains(*a.Error, "no answer within 1s") {
		t.Errorf("attempt error %v, want it to say no answer within 1s", evStr(a.Error))
	}
	if n := len(rec.Events()); n != 0 {
		t.Errorf("the receiver accepted %d events from an attempt the sender gave up on", n)
	}
}

// evDeliveryOf creates a lead in the organization of key and returns the
// one delivery it queues on the webhook.
func evDeliveryOf(t *testing.T, tg *target, key string, hookID int64) whDelivery {
	t.Helper()
	ds := evNewDeliveries(t, tg, key, hookID, func() { evCreateLead(t, tg, key, nil) })
	if len(ds) != 1 || ds[0].Event != impl.EventLeadCreated {
		t.Fatalf("creating a lead queued %v, want one lead.created delivery", ds)
	}
	return ds[0]
}

// evSameRequests checks that the receiver got n requests of delivery d,
// all with its X-Webhook-Id and byte-identical bodies, answered with
// statuses (0 where it did not answer in time).
func evSameRequests(t *testing.T, r *receiver, d whDelivery, statuses []int) {
	t.Helper()
	reqs := r.waitAttempts(t, "", len(statuses), evDeadline)
	if len(reqs) != len(statuses) {
		t.Fatalf("the receiver got %d requests, want %d", len(reqs), len(statuses))
	}
	var got []int
	for i, q := range reqs {
		got = append(got, q.Status)
		if id := q.Header.Get("X-Webhook-Id"); id != d.MessageID {
			t.Errorf("request %d has X-Webhook-Id %q, want the delivery's %q", i+1, id, d.MessageID)
		}
		if !bytes.Equal(q.Body, reqs[0].Body) {
			t.Errorf("request %d's body differs from the first:\n first %s\n  this %s", i+1, reqs[0].Body, q.Body)
		}
	}
	if !slices.Equal(got, statuses) {
		t.Errorf("the receiver answered %v, want %v", got, statuses)
	}
}

func evStr(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}
