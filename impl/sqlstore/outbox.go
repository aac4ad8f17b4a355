package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// randomID returns prefix followed by 24 random hex digits: ids that say
// nothing about how many events or deliveries exist.
func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + hex.EncodeToString(b[:])
}

// appendEvent writes an outbox row about resource, in tx, and queues one
// delivery per active webhook of the organization subscribed to typ. Writing
// the deliveries here, with the change, means no event can be left
// undelivered by a crash between the commit and a fan-out.
func (s *DB) appendEvent(ctx context.Context, tx *sqlx.Tx, orgID int64, typ string, at time.Time, resource any) error {
	ev, err := s.writeEvent(ctx, tx, orgID, typ, at, resource)
	if err != nil {
		return err
	}
	var hooks []struct {
		ID          int64 `db:"id"`
		MaxAttempts int   `db:"max_attempts"`
	}
	find, err := s.stmtIn(ctx, tx, `SELECT w.id, w.max_attempts FROM webhooks w
		JOIN webhook_events we ON we.webhook_id = w.id
		WHERE w.organization_id = ? AND w.active AND we.event = ? ORDER BY w.id`)
	if err == nil {
		err = find.SelectContext(ctx, &hooks, orgID, typ)
	}
	if err != nil {
		return fmt.Errorf("find webhooks for %s: %w", typ, err)
	}
	if len(hooks) == 0 {
		return nil
	}
	now := s.timestamp()
	queue, err := s.stmtIn(ctx, tx, `INSERT INTO deliveries
		(organization_id, webhook_id, event_id, message_id, status, attempt_count, attempt_limit, due_ms, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("queue %s delivery: %w", typ, err)
	}
	for _, h := range hooks {
		_, err := queue.ExecContext(ctx,
			orgID, h.ID, ev, randomID("msg_"), impl.DeliveryPending, h.MaxAttempts, now.UnixMilli(), now, now)
		if err != nil {
			return fmt.Errorf("queue %s delivery: %w", typ, err)
		}
	}
	s.queued.Store(tx, struct{}{})
	return nil
}

// writeEvent writes the outbox row with its envelope, whose bytes are the
// body of every attempt of every delivery of the event, and returns its id.
// The envelope is the one mapping's (package wire), as REST responses are.
func (s *DB) writeEvent(ctx context.Context, tx *sqlx.Tx, orgID int64, typ string, at time.Time, resource any) (int64, error) {
	publicID := randomID("evt_")
	payload, body, err := wire.Event(typ, publicID, at, resource)
	if err != nil {
		return 0, err
	}
	var id int64
	st, err := s.stmtIn(ctx, tx,
		`INSERT INTO events (organization_id, public_id, type, payload, body, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return 0, fmt.Errorf("write %s event: %w", typ, err)
	}
	err = st.QueryRowxContext(ctx,
		orgID, publicID, typ, string(payload), string(body), at.UTC()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("write %s event: %w", typ, err)
	}
	return id, nil
}

// FindEvents returns the organization's events with an id above afterID,
// oldest first.
func (s *EventLog) FindEvents(ctx context.Context, orgID, afterID int64) ([]*impl.Event, error) {
	var rows []struct {
		ID             int64     `db:"id"`
		OrganizationID int64     `db:"organization_id"`
		PublicID       string    `db:"public_id"`
		Type           string    `db:"type"`
		Payload        string    `db:"payload"`
		CreatedAt      time.Time `db:"created_at"`
	}
	err := s.db.pool.SelectContext(ctx, &rows, s.db.rebind(
		`SELECT id, organization_id, COALESCE(public_id, '') AS public_id, type, payload, created_at FROM events WHERE organization_id = ? AND id > ? ORDER BY id`),
		orgID, afterID)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	out := make([]*impl.Event, len(rows))
	for i, r := range rows {
		out[i] = &impl.Event{ID: r.ID, OrganizationID: r.OrganizationID, PublicID: r.PublicID, Type: r.Type,
			Payload: json.RawMessage(r.Payload), CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}
