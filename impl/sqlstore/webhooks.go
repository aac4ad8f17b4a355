package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
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
func webhookEvents(ctx context.Context, db *DB, q sqlx.QueryerContext, ids []int64) (map[int64][]string, error) {
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
	if err := sqlx.SelectContext(ctx, q, &rows, db.rebind(query), args...); err != nil {
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

func setWebhookEvents(ctx context.Context, db *DB, tx *sqlx.Tx, id int64, events []string) error {
	if _, err := tx.ExecContext(ctx, db.rebind(`DELETE FROM webhook_events WHERE webhook_id = ?`), id); err != nil {
		return fmt.Errorf("replace webhook events: %w", err)
	}
	for _, e := range impl.SubscribedEvents(events) {
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO webhook_events (webhook_id, event) VALUES (?, ?)`), id, e); err != nil {
			return fmt.Errorf("store webhook event: %w", err)
		}
	}
	return nil
}

// CreateWebhook implements impl.WebhookStore. A webhook created under an
// Idempotency-Key (impl.IdempotencyKey of ctx) keeps it; a retry that finds
// the webhook its key created within impl.IdempotencyTTL fills w with it, its
// current secret opened, and returns impl.ErrDoneEarlier.
func (s *WebhookStore) CreateWebhook(ctx context.Context, orgID int64, w *impl.Webhook) error {
	w.PrepareNew(orgID, s.db.timestamp())
	w.Events = impl.SubscribedEvents(w.Events)
	key := impl.IdempotencyKey(ctx)
	var earlier int64
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.db.lockOrganization(ctx, tx, orgID); err != nil {
			return err
		}
		if key != "" {
			// Before the cap: the retry of a create that filled it is answered.
			var err error
			if earlier, err = createdUnderKey(ctx, s.db, tx, `webhooks`, orgID, key, w.CreatedAt); err != nil || earlier != 0 {
				return err
			}
		}
		var count int
		if err := tx.GetContext(ctx, &count, s.db.rebind(`SELECT COUNT(*) FROM webhooks WHERE organization_id = ?`), orgID); err != nil {
			return fmt.Errorf("count webhooks: %w", err)
		}
		if err := impl.CheckWebhookCap(count); err != nil {
			return err
		}
		err := tx.QueryRowxContext(ctx, s.db.rebind(`INSERT INTO webhooks
			(organization_id, name, url, active, max_attempts, is_default, secret, idempotency_key, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			orgID, w.Name, w.URL, w.Active, w.MaxAttempts, w.IsDefault, s.db.seal(purposeWebhookSecret, w.Secret),
			nullString(key), w.CreatedAt, w.UpdatedAt).Scan(&w.ID)
		if w.IsDefault && isUniqueViolation(err) {
			return errDefaultExists
		}
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		return setWebhookEvents(ctx, s.db, tx, w.ID, w.Events)
	})
	if err != nil || earlier == 0 {
		return err
	}
	found, err := s.withSecret(ctx, orgID, earlier)
	if err != nil {
		return err
	}
	*w = *found
	return impl.ErrDoneEarlier
}

// withSecret is the organization's webhook id as FindWebhookByID reads it,
// with its current signing secret opened: what a replayed create answers.
func (s *WebhookStore) withSecret(ctx context.Context, orgID, id int64) (*impl.Webhook, error) {
	w, err := s.FindWebhookByID(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	var sealed string
	if err := s.db.get(ctx, &sealed, `SELECT secret FROM webhooks WHERE organization_id = ? AND id = ?`, orgID, id); err != nil {
		return nil, notFound(err, "Webhook")
	}
	if w.Secret, err = s.db.opened(purposeWebhookSecret, sealed); err != nil {
		return nil, err
	}
	return w, nil
}

// errDefaultExists says another request created the organization's default
// webhook first.
var errDefaultExists = errors.New("the organization already has a default webhook")

// SaveDefaultWebhook implements impl.WebhookStore.
func (s *WebhookStore) SaveDefaultWebhook(ctx context.Context, orgID int64, url string) (*impl.Webhook, bool, error) {
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

// FindDefaultWebhook implements impl.WebhookStore.
func (s *WebhookStore) FindDefaultWebhook(ctx context.Context, orgID int64) (*impl.Webhook, error) {
	var id int64
	err := s.db.pool.GetContext(ctx, &id, s.db.rebind(`SELECT id FROM webhooks WHERE organization_id = ? AND is_default`), orgID)
	if err != nil {
		return nil, notFound(err, "Default webhook")
	}
	return s.FindWebhookByID(ctx, orgID, id)
}

// FindWebhookByID implements impl.WebhookStore.
func (s *WebhookStore) FindWebhookByID(ctx context.Context, orgID, id int64) (*impl.Webhook, error) {
	var w *impl.Webhook
	err := s.db.readTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if w, err = findWebhook(ctx, s.db, tx, orgID, id, ""); err != nil {
			return err
		}
		return withBacklogs(ctx, s.db, tx, w)
	})
	return w, err
}

// withBacklogs fills in the webhooks' Backlog.
func withBacklogs(ctx context.Context, db *DB, q sqlx.QueryerContext, hooks ...*impl.Webhook) error {
	ids := make([]int64, len(hooks))
	for i, w := range hooks {
		ids[i] = w.ID
		w.Backlog = impl.WebhookBacklog{WebhookID: w.ID, OrganizationID: w.OrganizationID}
	}
	backlogs, err := webhookBacklogs(ctx, db, q, ids)
	if err != nil {
		return err
	}
	for _, b := range backlogs {
		for _, w := range hooks {
			if w.ID == b.WebhookID {
				w.Backlog = b
			}
		}
	}
	return nil
}

func findWebhook(ctx context.Context, db *DB, q sqlx.QueryerContext, orgID, id int64, suffix string) (*impl.Webhook, error) {
	var r webhookRow
	err := sqlx.GetContext(ctx, q, &r, db.rebind(`SELECT `+webhookColumns+` FROM webhooks WHERE organization_id = ? AND id = ?`+suffix), orgID, id)
	if err != nil {
		return nil, notFound(err, "Webhook")
	}
	ev, err := webhookEvents(ctx, db, q, []int64{id})
	if err != nil {
		return nil, err
	}
	return r.webhook(ev[id]), nil
}

// FindWebhooks implements impl.WebhookStore.
func (s *WebhookStore) FindWebhooks(ctx context.Context, orgID int64, offset int64, limit int) ([]*impl.Webhook, int64, error) {
	var out []*impl.Webhook
	var total int64
	err := s.db.readTx(ctx, func(tx *sqlx.Tx) error {
		rows := []*webhookRow{}
		var err error
		total, err = s.db.pageIn(ctx, tx, &rows, "webhooks", webhookColumns, "organization_id = ?", "id", []any{orgID}, offset, limit)
		if err != nil {
			return fmt.Errorf("find webhooks: %w", err)
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		ev, err := webhookEvents(ctx, s.db, tx, ids)
		if err != nil {
			return err
		}
		out = make([]*impl.Webhook, len(rows))
		for i, r := range rows {
			out[i] = r.webhook(ev[r.ID])
		}
		return withBacklogs(ctx, s.db, tx, out...)
	})
	return out, total, err
}

// UpdateWebhook implements impl.WebhookStore.
func (s *WebhookStore) UpdateWebhook(ctx context.Context, orgID, id int64, p impl.WebhookPatch) (*impl.Webhook, error) {
	var w *impl.Webhook
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if w, err = findWebhook(ctx, s.db, tx, orgID, id, s.db.forUpdate()); err != nil {
			return err
		}
		change := w.Apply(p, s.db.timestamp())
		if !change.Changed {
			return withBacklogs(ctx, s.db, tx, w) // updated_at stays
		}
		_, err = tx.ExecContext(ctx, s.db.rebind(`UPDATE webhooks SET name = ?, url = ?, max_attempts = ?, active = ?,
			disabled_reason = ?, disabled_at = ?, updated_at = ? WHERE organization_id = ? AND id = ?`),
			w.Name, w.URL, w.MaxAttempts, w.Active, w.DisabledReason, w.DisabledAt, w.UpdatedAt, orgID, id)
		if err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		if p.Events != nil {
			if err := setWebhookEvents(ctx, s.db, tx, id, w.Events); err != nil {
				return err
			}
		}
		switch {
		case change.Enabled:
			_, err = tx.ExecContext(ctx, s.db.rebind(`UPDATE webhooks SET consecutive_failures = 0 WHERE id = ?`), id)
		case change.Disabled:
			err = failPendingDeliveries(ctx, s.db, tx, id, w.UpdatedAt)
		}
		if err != nil {
			return err
		}
		return withBacklogs(ctx, s.db, tx, w)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// disableWebhook turns the webhook off for reason, with the consequences
// impl.WebhookChange names for a disabled webhook.
func disableWebhook(ctx context.Context, db *DB, tx *sqlx.Tx, id int64, reason string) error {
	now := db.timestamp()
	_, err := tx.ExecContext(ctx, db.rebind(`UPDATE webhooks SET active = ?, disabled_reason = ?, disabled_at = ?, updated_at = ?
		WHERE id = ? AND active`), false, reason, now, now, id)
	if err != nil {
		return fmt.Errorf("disable webhook: %w", err)
	}
	return failPendingDeliveries(ctx, db, tx, id, now)
}

// failPendingDeliveries ends the pending deliveries of a webhook that has
// been disabled (see impl.WebhookChange).
func failPendingDeliveries(ctx context.Context, db *DB, tx *sqlx.Tx, id int64, now time.Time) error {
	// The webhook's lane (delivery_queue, 00023) finds them; its trigger
	// takes them out of it.
	_, err := tx.ExecContext(ctx, db.rebind(`UPDATE deliveries SET status = ?, due_ms = NULL, updated_at = ?
		WHERE id IN (SELECT delivery_id FROM delivery_queue WHERE webhook_id = ?) AND status = ?`),
		impl.DeliveryFailed, now, id, impl.DeliveryPending)
	if err != nil {
		return fmt.Errorf("fail pending deliveries: %w", err)
	}
	return nil
}

// DeleteWebhook implements impl.WebhookStore.
func (s *WebhookStore) DeleteWebhook(ctx context.Context, orgID, id int64) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		// Children first: SQLite enforces ON DELETE CASCADE only when foreign
		// keys are on for the connection, and deleting explicitly does not
		// depend on it.
		for _, q := range []string{
			`DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE webhook_id = ? AND organization_id = ?)`,
			`DELETE FROM deliveries WHERE webhook_id = ? AND organization_id = ?`,
			`DELETE FROM webhook_events WHERE webhook_id IN (SELECT id FROM webhooks WHERE id = ? AND organization_id = ?)`,
		} {
			if _, err := tx.ExecContext(ctx, s.db.rebind(q), id, orgID); err != nil {
				return fmt.Errorf("delete webhook: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, s.db.rebind(`DELETE FROM webhooks WHERE organization_id = ? AND id = ?`), orgID, id)
		if err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "Webhook not found.")
		}
		return nil
	})
}

// RotateWebhookSecret implements impl.WebhookStore. A rotation under an
// Idempotency-Key keeps it; a retry that finds the webhook's last rotation
// made by its key within impl.IdempotencyTTL does not rotate again (that
// would drop the secret receivers still check): it returns the webhook with
// that rotation's secret opened, and impl.ErrDoneEarlier.
func (s *WebhookStore) RotateWebhookSecret(ctx context.Context, orgID, id int64) (*impl.Webhook, error) {
	secret := impl.NewWebhookSecret()
	key := impl.IdempotencyKey(ctx)
	var w *impl.Webhook
	var done bool
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		now := s.db.timestamp()
		if key != "" {
			var err error
			if done, err = s.rotatedUnderKey(ctx, tx, orgID, id, key, now); err != nil || done {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE webhooks SET previous_secret = secret, secret = ?,
			previous_secret_expires_at = ?, rotation_idempotency_key = ?, updated_at = ? WHERE organization_id = ? AND id = ?`),
			s.db.seal(purposeWebhookSecret, secret), now.Add(impl.SecretGrace), nullString(key), now, orgID, id)
		if err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "Webhook not found.")
		}
		w, err = findWebhook(ctx, s.db, tx, orgID, id, "")
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case done:
		if w, err = s.withSecret(ctx, orgID, id); err != nil {
			return nil, err
		}
		return w, impl.ErrDoneEarlier
	}
	w.Secret = secret
	return w, nil
}

// rotatedUnderKey reports whether the webhook's last rotation was made by a
// request with the Idempotency-Key within impl.IdempotencyTTL of now. A
// rotation without a key clears the key of the one before.
func (s *WebhookStore) rotatedUnderKey(ctx context.Context, tx *sqlx.Tx, orgID, id int64, key string, now time.Time) (bool, error) {
	var row struct {
		Key     *string    `db:"rotation_idempotency_key"`
		Expires *time.Time `db:"previous_secret_expires_at"`
	}
	err := tx.GetContext(ctx, &row, s.db.rebind(`SELECT rotation_idempotency_key, previous_secret_expires_at
		FROM webhooks WHERE organization_id = ? AND id = ?`), orgID, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, impl.Errorf(impl.ENotFound, "Webhook not found.")
	case err != nil:
		return false, fmt.Errorf("find webhook rotation: %w", err)
	case row.Expires == nil:
		return false, nil // never rotated
	}
	// The rotation set the previous secret to expire SecretGrace after it.
	rotated := row.Expires.Add(-impl.SecretGrace)
	return doneUnder(row.Key, key, &rotated, now), nil
}
