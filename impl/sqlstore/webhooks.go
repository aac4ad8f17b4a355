package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/webhook"
)

var (
	_ impl.WebhookService = (*DB)(nil)
	_ impl.DeliveryQueue  = (*DB)(nil)
)

const webhookColumns = `id, organization_id, name, url, active, max_attempts, is_default, disabled_reason, disabled_at,
	previous_secret_expires_at, created_at, updated_at`

type webhookRow struct {
	ID                      int64      `db:"id"`
	OrganizationID          int64      `db:"organization_id"`
	Name                    string     `db:"name"`
	URL                     string     `db:"url"`
	Active                  bool       `db:"active"`
	MaxAttempts             int32      `db:"max_attempts"`
	IsDefault               bool       `db:"is_default"`
	DisabledReason          *string    `db:"disabled_reason"`
	DisabledAt              *time.Time `db:"disabled_at"`
	PreviousSecretExpiresAt *time.Time `db:"previous_secret_expires_at"`
	CreatedAt               time.Time  `db:"created_at"`
	UpdatedAt               time.Time  `db:"updated_at"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (r *webhookRow) webhook(events []string) *impl.Webhook {
	return &impl.Webhook{
		ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, URL: r.URL, Events: events,
		Active: r.Active, MaxAttempts: r.MaxAttempts, IsDefault: r.IsDefault, DisabledReason: r.DisabledReason,
		DisabledAt: utcPtr(r.DisabledAt), PreviousSecretExpiresAt: utcPtr(r.PreviousSecretExpiresAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// webhookEvents returns the subscribed events of each webhook, in the
// catalog's order.
func (s *DB) webhookEvents(ctx context.Context, q sqlx.QueryerContext, ids []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT webhook_id, event FROM webhook_events WHERE webhook_id IN (?)`, ids)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		WebhookID int64  `db:"webhook_id"`
		Event     string `db:"event"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, s.rebind(query), args...); err != nil {
		return nil, fmt.Errorf("find webhook events: %w", err)
	}
	have := map[int64]map[string]bool{}
	for _, r := range rows {
		if have[r.WebhookID] == nil {
			have[r.WebhookID] = map[string]bool{}
		}
		have[r.WebhookID][r.Event] = true
	}
	for id, set := range have {
		for _, e := range impl.EventTypes {
			if set[e] {
				out[id] = append(out[id], e)
			}
		}
	}
	return out, nil
}

func (s *DB) setWebhookEvents(ctx context.Context, tx *sqlx.Tx, id int64, events []string) error {
	if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM webhook_events WHERE webhook_id = ?`), id); err != nil {
		return fmt.Errorf("replace webhook events: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e] {
			continue
		}
		seen[e] = true
		if _, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO webhook_events (webhook_id, event) VALUES (?, ?)`), id, e); err != nil {
			return fmt.Errorf("store webhook event: %w", err)
		}
	}
	return nil
}

// CreateWebhook implements impl.WebhookService.
func (s *DB) CreateWebhook(ctx context.Context, orgID int64, w *impl.Webhook) error {
	secret, err := webhook.NewSecret()
	if err != nil {
		return err
	}
	w.OrganizationID = orgID
	w.Active = true
	if w.MaxAttempts == 0 {
		w.MaxAttempts = impl.DefaultMaxAttempts
	}
	w.CreatedAt = s.timestamp()
	w.UpdatedAt = w.CreatedAt
	w.DisabledReason, w.DisabledAt, w.PreviousSecretExpiresAt = nil, nil, nil
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.QueryRowxContext(ctx, s.rebind(`INSERT INTO webhooks
			(organization_id, name, url, active, max_attempts, is_default, secret, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			orgID, w.Name, w.URL, true, w.MaxAttempts, w.IsDefault, secret, w.CreatedAt, w.UpdatedAt).Scan(&w.ID)
		if w.IsDefault && isUniqueViolation(err) {
			return errDefaultExists
		}
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		return s.setWebhookEvents(ctx, tx, w.ID, w.Events)
	})
	if err != nil {
		return err
	}
	ev, err := s.webhookEvents(ctx, s.db, []int64{w.ID})
	if err != nil {
		return err
	}
	w.Events = ev[w.ID]
	w.Secret = secret
	return nil
}

// errDefaultExists says another request created the organization's default
// webhook first.
var errDefaultExists = errors.New("the organization already has a default webhook")

// SaveDefaultWebhook implements impl.WebhookService.
func (s *DB) SaveDefaultWebhook(ctx context.Context, orgID int64, url string) (*impl.Webhook, bool, error) {
	events := append([]string(nil), impl.EventTypes...)
	active := true
	// Two first saves at once: one creates, the unique index stops the
	// other, which then updates what the first created.
	for range 2 {
		w, err := s.FindDefaultWebhook(ctx, orgID)
		if err == nil {
			w, err = s.UpdateWebhook(ctx, orgID, w.ID, impl.WebhookPatch{URL: &url, Events: events, Active: &active})
			return w, false, err
		}
		if impl.ErrorCode(err) != impl.ENotFound {
			return nil, false, err
		}
		w = &impl.Webhook{Name: impl.DefaultWebhookName, URL: url, Events: events, IsDefault: true}
		err = s.CreateWebhook(ctx, orgID, w)
		if errors.Is(err, errDefaultExists) {
			continue
		}
		return w, err == nil, err
	}
	return nil, false, fmt.Errorf("save default webhook: %w", errDefaultExists)
}

// FindDefaultWebhook implements impl.WebhookService.
func (s *DB) FindDefaultWebhook(ctx context.Context, orgID int64) (*impl.Webhook, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, s.rebind(`SELECT id FROM webhooks WHERE organization_id = ? AND is_default`), orgID)
	if err != nil {
		return nil, notFound(err, "Default webhook")
	}
	return s.FindWebhookByID(ctx, orgID, id)
}

// FindWebhookByID implements impl.WebhookService.
func (s *DB) FindWebhookByID(ctx context.Context, orgID, id int64) (*impl.Webhook, error) {
	var w *impl.Webhook
	err := s.readTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		w, err = s.findWebhook(ctx, tx, orgID, id, "")
		return err
	})
	return w, err
}

func (s *DB) findWebhook(ctx context.Context, q sqlx.QueryerContext, orgID, id int64, suffix string) (*impl.Webhook, error) {
	var r webhookRow
	err := sqlx.GetContext(ctx, q, &r, s.rebind(`SELECT `+webhookColumns+` FROM webhooks WHERE organization_id = ? AND id = ?`+suffix), orgID, id)
	if err != nil {
		return nil, notFound(err, "Webhook")
	}
	ev, err := s.webhookEvents(ctx, q, []int64{id})
	if err != nil {
		return nil, err
	}
	return r.webhook(ev[id]), nil
}

// FindWebhooks implements impl.WebhookService.
func (s *DB) FindWebhooks(ctx context.Context, orgID int64, offset int64, limit int) ([]*impl.Webhook, int64, error) {
	var out []*impl.Webhook
	var total int64
	err := s.readTx(ctx, func(tx *sqlx.Tx) error {
		rows := []*webhookRow{}
		var err error
		total, err = s.pageIn(ctx, tx, &rows, "webhooks", webhookColumns, "organization_id = ?", "id", []any{orgID}, offset, limit)
		if err != nil {
			return fmt.Errorf("find webhooks: %w", err)
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		ev, err := s.webhookEvents(ctx, tx, ids)
		if err != nil {
			return err
		}
		out = make([]*impl.Webhook, len(rows))
		for i, r := range rows {
			out[i] = r.webhook(ev[r.ID])
		}
		return nil
	})
	return out, total, err
}

// UpdateWebhook implements impl.WebhookService.
func (s *DB) UpdateWebhook(ctx context.Context, orgID, id int64, p impl.WebhookPatch) (*impl.Webhook, error) {
	var w *impl.Webhook
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if w, err = s.findWebhook(ctx, tx, orgID, id, s.forUpdate()); err != nil {
			return err
		}
		sets, args := []string{}, []any{}
		if p.Name != nil {
			sets, args = append(sets, "name = ?"), append(args, *p.Name)
		}
		if p.URL != nil {
			sets, args = append(sets, "url = ?"), append(args, *p.URL)
		}
		if p.MaxAttempts != nil {
			sets, args = append(sets, "max_attempts = ?"), append(args, *p.MaxAttempts)
		}
		changed := len(sets) > 0 || p.Events != nil
		if p.Active != nil && *p.Active != w.Active {
			changed = true
			if *p.Active {
				sets = append(sets, "active = ?", "disabled_reason = NULL", "disabled_at = NULL", "consecutive_failures = 0")
				args = append(args, true)
			} else if err := s.disableWebhook(ctx, tx, id, "disabled through the API"); err != nil {
				return err
			}
		}
		if p.Events != nil {
			if err := s.setWebhookEvents(ctx, tx, id, p.Events); err != nil {
				return err
			}
		}
		if !changed {
			return nil // updated_at stays
		}
		sets, args = append(sets, "updated_at = ?"), append(args, s.timestamp())
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE webhooks SET `+strings.Join(sets, ", ")+` WHERE organization_id = ? AND id = ?`),
			append(args, orgID, id)...)
		if err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		w, err = s.findWebhook(ctx, tx, orgID, id, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// forUpdate is the row-lock suffix of a SELECT that precedes an UPDATE.
func (s *DB) forUpdate() string {
	if s.dialect == Postgres {
		// dialect: SQLite's write transaction already excludes other writers.
		return " FOR UPDATE"
	}
	return ""
}

// disableWebhook turns the webhook off and fails its pending deliveries,
// which would otherwise wait forever; they can be redelivered once it is
// on again.
func (s *DB) disableWebhook(ctx context.Context, tx *sqlx.Tx, id int64, reason string) error {
	now := s.timestamp()
	_, err := tx.ExecContext(ctx, s.rebind(`UPDATE webhooks SET active = ?, disabled_reason = ?, disabled_at = ?, updated_at = ?
		WHERE id = ? AND active`), false, reason, now, now, id)
	if err != nil {
		return fmt.Errorf("disable webhook: %w", err)
	}
	_, err = tx.ExecContext(ctx, s.rebind(`UPDATE deliveries SET status = ?, due_ms = NULL, locked_by = NULL, locked_until_ms = NULL, updated_at = ?
		WHERE webhook_id = ? AND status = ?`), impl.DeliveryFailed, now, id, impl.DeliveryPending)
	if err != nil {
		return fmt.Errorf("fail pending deliveries: %w", err)
	}
	return nil
}

// DeleteWebhook implements impl.WebhookService.
func (s *DB) DeleteWebhook(ctx context.Context, orgID, id int64) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Children first: SQLite enforces ON DELETE CASCADE only when foreign
		// keys are on for the connection, and deleting explicitly does not
		// depend on it.
		for _, q := range []string{
			`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE webhook_id = ? AND organization_id = ?)`,
			`DELETE FROM deliveries WHERE webhook_id = ? AND organization_id = ?`,
			`DELETE FROM webhook_events WHERE webhook_id IN (SELECT id FROM webhooks WHERE id = ? AND organization_id = ?)`,
		} {
			if _, err := tx.ExecContext(ctx, s.rebind(q), id, orgID); err != nil {
				return fmt.Errorf("delete webhook: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM webhooks WHERE organization_id = ? AND id = ?`), orgID, id)
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "Webhook not found.")
		}
		return nil
	})
}

// RotateWebhookSecret implements impl.WebhookService.
func (s *DB) RotateWebhookSecret(ctx context.Context, orgID, id int64) (*impl.Webhook, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return nil, err
	}
	var w *impl.Webhook
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		now := s.timestamp()
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE webhooks SET previous_secret = secret, secret = ?,
			previous_secret_expires_at = ?, updated_at = ? WHERE organization_id = ? AND id = ?`),
			secret, now.Add(impl.SecretGrace), now, orgID, id)
		if err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "Webhook not found.")
		}
		w, err = s.findWebhook(ctx, tx, orgID, id, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	w.Secret = secret
	return w, nil
}

const deliveryColumns = `d.id, d.organization_id, d.webhook_id, e.public_id, e.type, d.message_id, d.status,
	d.due_ms, d.created_at, d.updated_at`

type deliveryRow struct {
	ID             int64     `db:"id"`
	OrganizationID int64     `db:"organization_id"`
	WebhookID      int64     `db:"webhook_id"`
	EventID        string    `db:"public_id"`
	Event          string    `db:"type"`
	MessageID      string    `db:"message_id"`
	Status         string    `db:"status"`
	DueMS          *int64    `db:"due_ms"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

// FindDeliveries implements impl.WebhookService.
func (s *DB) FindDeliveries(ctx context.Context, orgID, webhookID int64, f impl.DeliveryFilter) ([]*impl.Delivery, int64, error) {
	var out []*impl.Delivery
	var total int64
	// One snapshot: an attempt recorded between reading the deliveries and
	// their attempts would otherwise show a pending delivery next to the
	// attempt that finished it.
	err := s.readTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := s.findWebhook(ctx, tx, orgID, webhookID, ""); err != nil {
			return err
		}
		cond, args := "d.organization_id = ? AND d.webhook_id = ?", []any{orgID, webhookID}
		if f.Status != nil {
			cond, args = cond+" AND d.status = ?", append(args, *f.Status)
		}
		rows := []*deliveryRow{}
		var err error
		total, err = s.pageIn(ctx, tx, &rows, "deliveries d JOIN events e ON e.id = d.event_id", deliveryColumns, cond, "d.id DESC", args, f.Offset, f.Limit)
		if err != nil {
			return fmt.Errorf("find deliveries: %w", err)
		}
		out, err = s.withAttempts(ctx, tx, rows)
		return err
	})
	return out, total, err
}

func (s *DB) withAttempts(ctx context.Context, q sqlx.QueryerContext, rows []*deliveryRow) ([]*impl.Delivery, error) {
	out := make([]*impl.Delivery, len(rows))
	byID := map[int64]*impl.Delivery{}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		d := &impl.Delivery{ID: r.ID, OrganizationID: r.OrganizationID, WebhookID: r.WebhookID, EventID: r.EventID,
			Event: r.Event, MessageID: r.MessageID, Status: r.Status, Attempts: []impl.DeliveryAttempt{},
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
		if r.DueMS != nil && r.Status == impl.DeliveryPending {
			t := time.UnixMilli(*r.DueMS).UTC()
			d.NextAttemptAt = &t
		}
		out[i], byID[r.ID], ids[i] = d, d, r.ID
	}
	if len(ids) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT delivery_id, attempted_at, status_code, duration_ms, error FROM delivery_attempts
		WHERE delivery_id IN (?) ORDER BY id`, ids)
	if err != nil {
		return nil, err
	}
	var attempts []struct {
		DeliveryID  int64     `db:"delivery_id"`
		AttemptedAt time.Time `db:"attempted_at"`
		StatusCode  *int32    `db:"status_code"`
		DurationMS  int64     `db:"duration_ms"`
		Error       *string   `db:"error"`
	}
	if err := sqlx.SelectContext(ctx, q, &attempts, s.rebind(query), args...); err != nil {
		return nil, fmt.Errorf("find delivery attempts: %w", err)
	}
	for _, a := range attempts {
		d := byID[a.DeliveryID]
		d.Attempts = append(d.Attempts, impl.DeliveryAttempt{AttemptedAt: a.AttemptedAt.UTC(), StatusCode: a.StatusCode,
			DurationMS: a.DurationMS, Error: a.Error})
	}
	return out, nil
}

// RedeliverDelivery implements impl.WebhookService.
func (s *DB) RedeliverDelivery(ctx context.Context, orgID, webhookID, deliveryID int64) (*impl.Delivery, error) {
	var out *impl.Delivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		w, err := s.findWebhook(ctx, tx, orgID, webhookID, s.forUpdate())
		if err != nil {
			return err
		}
		var status string
		err = tx.GetContext(ctx, &status, s.rebind(`SELECT status FROM deliveries WHERE organization_id = ? AND webhook_id = ? AND id = ?`),
			orgID, webhookID, deliveryID)
		if err != nil {
			return notFound(err, "Delivery")
		}
		if status == impl.DeliveryPending {
			return impl.Errorf(impl.EConflict, "This delivery is still pending; it will be attempted again on its own.")
		}
		if !w.Active {
			return impl.Errorf(impl.EConflict, "This webhook is disabled; enable it (PATCH active: true) before redelivering.")
		}
		now := s.timestamp()
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE deliveries SET status = ?, attempt_limit = attempt_count + ?, due_ms = ?,
			locked_by = NULL, locked_until_ms = NULL, updated_at = ? WHERE id = ?`),
			impl.DeliveryPending, w.MaxAttempts, now.UnixMilli(), now, deliveryID)
		if err != nil {
			return fmt.Errorf("redeliver: %w", err)
		}
		s.queued.Store(tx, struct{}{})
		var rows []*deliveryRow
		err = tx.SelectContext(ctx, &rows, s.rebind(`SELECT `+deliveryColumns+` FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?`), deliveryID)
		if err != nil || len(rows) != 1 {
			return fmt.Errorf("read redelivered delivery: %w", err)
		}
		list, err := s.withAttempts(ctx, tx, rows)
		if err != nil {
			return err
		}
		out = list[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

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

func (r *claimRow) claimed(now time.Time) *impl.ClaimedDelivery {
	c := &impl.ClaimedDelivery{ID: r.ID, OrganizationID: r.OrganizationID, WebhookID: r.WebhookID, URL: r.URL,
		Secrets: []string{r.Secret}, Event: r.Event, EventID: r.EventID, MessageID: r.MessageID, Body: []byte(r.Body),
		AttemptCount: r.AttemptCount, AttemptLimit: r.AttemptLimit, Test: r.Event == impl.EventWebhookTest}
	if r.PreviousSecret != nil && r.PreviousUntil != nil && now.Before(*r.PreviousUntil) {
		c.Secrets = append(c.Secrets, *r.PreviousSecret)
	}
	return c
}

// ClaimDeliveries implements impl.DeliveryQueue.
func (s *DB) ClaimDeliveries(ctx context.Context, worker string, now, leaseUntil time.Time, limit int) ([]*impl.ClaimedDelivery, error) {
	var out []*impl.ClaimedDelivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		pick := `SELECT id FROM deliveries WHERE status = 'pending' AND due_ms <= ?
			AND (locked_until_ms IS NULL OR locked_until_ms < ?) ORDER BY due_ms LIMIT ?`
		if s.dialect == Postgres {
			// dialect: replicas skip each other's claims instead of waiting on
			// them. SQLite has one writer, which already serializes claims.
			pick += ` FOR UPDATE SKIP LOCKED`
		}
		var ids []int64
		err := tx.SelectContext(ctx, &ids, s.rebind(`UPDATE deliveries SET locked_by = ?, locked_until_ms = ?
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
		if err := tx.SelectContext(ctx, &rows, s.rebind(query), args...); err != nil {
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
func (s *DB) RecordAttempt(ctx context.Context, worker string, d *impl.ClaimedDelivery, r impl.AttemptRecord, disableAfter int) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.rebind(`INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error)
			VALUES (?, ?, ?, ?, ?)`), d.ID, r.AttemptedAt.UTC().Truncate(time.Microsecond), r.StatusCode, r.DurationMS, r.Error)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		now := s.timestamp()
		status, due := impl.DeliveryFailed, sql.NullInt64{}
		switch r.Outcome {
		case impl.OutcomeSucceeded:
			status = impl.DeliverySucceeded
		case impl.OutcomeRetry:
			status, due = impl.DeliveryPending, sql.NullInt64{Int64: r.NextAt.UnixMilli(), Valid: true}
		}
		// Only the lease holder moves the delivery on: a worker whose lease
		// ran out keeps its attempt in the log but not the last word.
		_, err = tx.ExecContext(ctx, s.rebind(`UPDATE deliveries SET status = ?, attempt_count = attempt_count + 1, due_ms = ?,
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
			_, err = tx.ExecContext(ctx, s.rebind(`UPDATE webhooks SET consecutive_failures = 0 WHERE id = ? AND consecutive_failures <> 0`), d.WebhookID)
		case impl.OutcomeGone:
			err = s.disableWebhook(ctx, tx, d.WebhookID, "the receiver answered 410 Gone")
		case impl.OutcomeFailed:
			var failures int
			err = tx.GetContext(ctx, &failures, s.rebind(`UPDATE webhooks SET consecutive_failures = consecutive_failures + 1
				WHERE id = ? RETURNING consecutive_failures`), d.WebhookID)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // the webhook was deleted meanwhile
			}
			if err == nil && disableAfter > 0 && failures >= disableAfter {
				err = s.disableWebhook(ctx, tx, d.WebhookID,
					fmt.Sprintf("the last %d deliveries failed every attempt", failures))
			}
		}
		return err
	})
}

// ReleaseDeliveries implements impl.DeliveryQueue.
func (s *DB) ReleaseDeliveries(ctx context.Context, worker string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	query, args, err := sqlx.In(`UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL
		WHERE locked_by = ? AND status = 'pending' AND id IN (?)`, worker, ids)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.rebind(query), args...); err != nil {
		return fmt.Errorf("release deliveries: %w", err)
	}
	return nil
}

// CreateTestDelivery implements impl.DeliveryQueue.
func (s *DB) CreateTestDelivery(ctx context.Context, orgID, webhookID int64, worker string, leaseUntil time.Time) (*impl.ClaimedDelivery, error) {
	var out *impl.ClaimedDelivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := s.findWebhook(ctx, tx, orgID, webhookID, ""); err != nil {
			return err
		}
		now := s.timestamp()
		data := map[string]any{"webhook_id": webhookID, "message": "This is a test event from IAGENTE SDR."}
		eventID, err := s.writeEvent(ctx, tx, orgID, impl.EventWebhookTest, now, data)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowxContext(ctx, s.rebind(`INSERT INTO deliveries
			(organization_id, webhook_id, event_id, message_id, status, attempt_count, attempt_limit, due_ms, locked_by, locked_until_ms, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 0, 1, ?, ?, ?, ?, ?) RETURNING id`),
			orgID, webhookID, eventID, randomID("msg_"), impl.DeliveryPending, now.UnixMilli(), worker, leaseUntil.UnixMilli(), now, now).Scan(&id)
		if err != nil {
			return fmt.Errorf("create test delivery: %w", err)
		}
		var r claimRow
		err = tx.GetContext(ctx, &r, s.rebind(`SELECT `+claimColumns+` FROM deliveries d
			JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id WHERE d.id = ?`), id)
		if err != nil {
			return fmt.Errorf("read test delivery: %w", err)
		}
		out = r.claimed(now)
		return nil
	})
	return out, err
}
