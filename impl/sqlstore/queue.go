package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/jmoiron/sqlx"
)

type claimRow struct {
	ID             int64      `db:"id"`
	OrganizationID int64      `db:"organization_id"`
	WebhookID      int64      `db:"webhook_id"`
	URL            string     `db:"url"`
	Secret         string     `db:"secret"`
	PreviousSecret *string    `db:"previous_secret"`
	PreviousUntil  *time.Time `db:"previous_secret_expires_at"`
	Event          string     `db:"type"`
	EventID        string     `db:"public_id"`
	MessageID      string     `db:"message_id"`
	Body           string     `db:"body"`
	AttemptCount   int        `db:"attempt_count"`
	AttemptLimit   int        `db:"attempt_limit"`
}

const claimColumns = `d.id, d.organization_id, d.webhook_id, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at,
	e.type, e.public_id, d.message_id, e.body, d.attempt_count, d.attempt_limit`

// ClaimDeliveries implements impl.DeliveryQueue.
func (s *DeliveryQueue) ClaimDeliveries(ctx context.Context, worker string, now, leaseUntil time.Time, limit int) ([]*impl.ClaimedDelivery, error) {
	var out []*impl.ClaimedDelivery
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		pick := `SELECT id FROM deliveries WHERE status = 'pending' AND due_ms <= ?
			AND (locked_until_ms IS NULL OR locked_until_ms < ?) ORDER BY due_ms LIMIT ?`
		if s.db.dialect == Postgres {
			// dialect: replicas skip each other's claims instead of waiting on
			// them. SQLite has one writer, which already serializes claims.
			pick += ` FOR UPDATE SKIP LOCKED`
		}
		var ids []int64
		err := tx.SelectContext(ctx, &ids, s.db.rebind(`UPDATE deliveries SET locked_by = ?, locked_until_ms = ?
			WHERE id IN (`+pick+`) RETURNING id`),
			worker, leaseUntil.UnixMilli(), now.UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return fmt.Errorf("claim deliveries: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		query, args, err := sqlx.In(`SELECT `+claimColumns+` FROM deliveries d
			JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id WHERE d.id IN (?) ORDER BY d.due_ms`, ids)
		if err != nil {
			return err
		}
		var rows []*claimRow
		if err := tx.SelectContext(ctx, &rows, s.db.rebind(query), args...); err != nil {
			return fmt.Errorf("read claimed deliveries: %w", err)
		}
		for _, r := range rows {
			out = append(out, r.claimed(now))
		}
		return nil
	})
	return out, err
}

// RecordAttempt implements impl.DeliveryQueue.
func (s *DeliveryQueue) RecordAttempt(ctx context.Context, worker string, d *impl.ClaimedDelivery, r impl.AttemptRecord, disableAfter int) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.rebind(`INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error)
			VALUES (?, ?, ?, ?, ?)`), d.ID, r.AttemptedAt.UTC().Truncate(time.Microsecond), r.StatusCode, r.DurationMS, r.Error)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		now := s.db.timestamp()
		status, due := impl.DeliveryFailed, sql.NullInt64{}
		switch r.Outcome {
		case impl.OutcomeSucceeded:
			status = impl.DeliverySucceeded
		case impl.OutcomeRetry:
			status, due = impl.DeliveryPending, sql.NullInt64{Int64: r.NextAt.UnixMilli(), Valid: true}
		}
		// Only the lease holder moves the delivery on: a worker whose lease
		// ran out keeps its attempt in the log but not the last word.
		_, err = tx.ExecContext(ctx, s.db.rebind(`UPDATE deliveries SET status = ?, attempt_count = attempt_count + 1, due_ms = ?,
			locked_by = NULL, locked_until_ms = NULL, updated_at = ? WHERE id = ? AND locked_by = ?`),
			status, due, now, d.ID, worker)
		if err != nil {
			return fmt.Errorf("update delivery: %w", err)
		}
		if d.Test {
			return nil
		}
		switch r.Outcome {
		case impl.OutcomeSucceeded:
			_, err = tx.ExecContext(ctx, s.db.rebind(`UPDATE webhooks SET consecutive_failures = 0 WHERE id = ? AND consecutive_failures <> 0`), d.WebhookID)
		case impl.OutcomeGone:
			err = disableWebhook(ctx, s.db, tx, d.WebhookID, impl.DisabledGone)
		case impl.OutcomeFailed:
			var failures int
			err = tx.GetContext(ctx, &failures, s.db.rebind(`UPDATE webhooks SET consecutive_failures = consecutive_failures + 1
				WHERE id = ? RETURNING consecutive_failures`), d.WebhookID)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // the webhook was deleted meanwhile
			}
			if reason, disable := impl.DisableAfterFailures(failures, disableAfter); err == nil && disable {
				err = disableWebhook(ctx, s.db, tx, d.WebhookID, reason)
			}
		}
		return err
	})
}

// ReleaseDeliveries implements impl.DeliveryQueue.
func (s *DeliveryQueue) ReleaseDeliveries(ctx context.Context, worker string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	query, args, err := sqlx.In(`UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL
		WHERE locked_by = ? AND status = 'pending' AND id IN (?)`, worker, ids)
	if err != nil {
		return err
	}
	if _, err := s.db.pool.ExecContext(ctx, s.db.rebind(query), args...); err != nil {
		return fmt.Errorf("release deliveries: %w", err)
	}
	return nil
}

// CreateTestDelivery implements impl.DeliveryQueue.
func (s *DeliveryQueue) CreateTestDelivery(ctx context.Context, orgID, webhookID int64, worker string, leaseUntil time.Time) (*impl.ClaimedDelivery, error) {
	var out *impl.ClaimedDelivery
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := findWebhook(ctx, s.db, tx, orgID, webhookID, ""); err != nil {
			return err
		}
		now := s.db.timestamp()
		data := impl.TestEvent{WebhookID: webhookID, Message: impl.TestEventMessage}
		eventID, err := s.db.writeEvent(ctx, tx, orgID, impl.EventWebhookTest, now, data)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowxContext(ctx, s.db.rebind(`INSERT INTO deliveries
			(organization_id, webhook_id, event_id, message_id, status, attempt_count, attempt_limit, due_ms, locked_by, locked_until_ms, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 0, 1, ?, ?, ?, ?, ?) RETURNING id`),
			orgID, webhookID, eventID, randomID("msg_"), impl.DeliveryPending, now.UnixMilli(), worker, leaseUntil.UnixMilli(), now, now).Scan(&id)
		if err != nil {
			return fmt.Errorf("create test delivery: %w", err)
		}
		var r claimRow
		err = tx.GetContext(ctx, &r, s.db.rebind(`SELECT `+claimColumns+` FROM deliveries d
			JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id WHERE d.id = ?`), id)
		if err != nil {
			return fmt.Errorf("read test delivery: %w", err)
		}
		out = r.claimed(now)
		return nil
	})
	return out, err
}

func (r *claimRow) claimed(now time.Time) *impl.ClaimedDelivery {
	c := &impl.ClaimedDelivery{ID: r.ID, OrganizationID: r.OrganizationID, WebhookID: r.WebhookID, URL: r.URL,
		Secrets: []string{r.Secret}, Event: r.Event, EventID: r.EventID, MessageID: r.MessageID, Body: []byte(r.Body),
		AttemptCount: r.AttemptCount, AttemptLimit: r.AttemptLimit, Test: r.Event == impl.EventWebhookTest}
	if r.PreviousSecret != nil && r.PreviousUntil != nil && now.Before(*r.PreviousUntil) {
		c.Secrets = append(c.Secrets, *r.PreviousSecret)
	}
	return c
}
