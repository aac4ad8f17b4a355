package impl

import (
	"context"
	"time"
)

// ClaimCandidate is a due, unleased delivery that a claim may take.
type ClaimCandidate struct {
	ID             int64
	OrganizationID int64
	WebhookID      int64
	Due            time.Time
}

// ClaimRequest asks the DeliveryQueue for deliveries to attempt.
//
// A webhook's pending deliveries form its lane, in the order they fall due.
// The queue reads up to PerWebhook due, unleased deliveries from the head of
// every lane, and at most Candidates in all, the first of every lane before
// the second of any, so that a lane with a long backlog adds no more
// candidates than one with a single fresh event. Which of them to take is
// Pick's decision (the dispatcher's fair share); the queue then leases the
// ones Pick chose.
type ClaimRequest struct {
	Worker     string
	Now        time.Time
	LeaseUntil time.Time
	PerWebhook int
	// LaneLimit, when set, is how many candidates to read from one
	// webhook's lane instead of PerWebhook (at most PerWebhook, at least 1):
	// what the dispatcher could still take from it, plus one to tell whether
	// more are due. A queue may read PerWebhook from every lane instead.
	LaneLimit  func(webhookID int64) int
	Candidates int
	// Pick returns the ids of the candidates to claim, in the order to
	// attempt them. The candidates come ordered by their rank in their lane,
	// then by when they fell due.
	Pick func([]ClaimCandidate) []int64
}

// Attempted is one attempt of a claimed delivery, ready to be recorded.
type Attempted struct {
	Delivery *ClaimedDelivery
	Record   AttemptRecord
}

// FailureStreak is what a batch of attempts does to a webhook's count of
// deliveries in a row that failed every attempt (see DisableAfterFailures).
type FailureStreak struct {
	// Reset: a delivery succeeded, so the count starts again from zero
	// before Failed is added.
	Reset bool
	// Failed is how many deliveries failed for good after the last success
	// in the batch (or in all, without one).
	Failed int
}

// FailureStreaks says, for each webhook with attempts in the batch, how its
// failure count moves. attempts are in the order they ended, which is the
// order "in a row" means. Test deliveries do not count, and neither do
// retries (the delivery has not failed yet) or 410s (they disable the
// webhook at once).
func FailureStreaks(attempts []Attempted) map[int64]FailureStreak {
	out := map[int64]FailureStreak{}
	for _, a := range attempts {
		if a.Delivery.Test {
			continue
		}
		id := a.Delivery.WebhookID
		switch a.Record.Outcome {
		case OutcomeSucceeded:
			out[id] = FailureStreak{Reset: true}
		case OutcomeFailed:
			s := out[id]
			s.Failed++
			out[id] = s
		}
	}
	return out
}

// WebhookBacklog is what waits to be delivered to one webhook.
type WebhookBacklog struct {
	WebhookID      int64
	OrganizationID int64
	// Pending counts the webhook's pending deliveries: due now, leased to a
	// worker, or waiting for a retry.
	Pending int64
	// OldestPendingAt is when the oldest of them was created; nil without
	// any.
	OldestPendingAt *time.Time
}

// BacklogReader reads the backlog of every webhook that has one, across
// organizations, for the operators' /metrics.
type BacklogReader interface {
	WebhookBacklogs(ctx context.Context) ([]WebhookBacklog, error)
}

// DefaultDeliveryRetention is how long a delivery's log (the delivery, its
// attempts and its event) is kept after its last change: the API reference
// tells partners so, and WEBHOOK_RETENTION changes it.
const DefaultDeliveryRetention = 30 * 24 * time.Hour

// RetentionCutoff is the instant before which finished delivery logs
// expire, for a retention period.
func RetentionCutoff(now time.Time, retention time.Duration) time.Time {
	return now.Add(-retention)
}

// ExpiredLogs deletes the delivery logs that have outlived the retention
// period, a few rows at a time, walking each table by id from after. A
// pending delivery never expires, nor does the event of one.
type ExpiredLogs interface {
	// DeleteExpiredDeliveries deletes, among the next limit deliveries after
	// the id after that were created before cutoff, those that are not
	// pending and have not changed since cutoff, with their attempts. It
	// returns how many it deleted, the id to continue after, and done once
	// no delivery created before cutoff is left to look at. Deliveries it
	// would wait for (another transaction holds them) are left for next time.
	DeleteExpiredDeliveries(ctx context.Context, cutoff time.Time, after int64, limit int) (deleted int, next int64, done bool, err error)
	// DeleteExpiredEvents does the same for events created before cutoff
	// that have no delivery left.
	DeleteExpiredEvents(ctx context.Context, cutoff time.Time, after int64, limit int) (deleted int, next int64, done bool, err error)
}
