package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

const messageColumns = `id, organization_id, integration_id, channel, direction, type, status, lead_id, phone,
	content, provider_message_id, error, idempotency_key, created_at, updated_at`

// messageRow is a message as scanned: the drivers hand TEXT to Go as a
// string or []byte, which json.RawMessage cannot take directly.
type messageRow struct {
	impl.Message
	Content string `db:"content"`
}

func (r *messageRow) message() *impl.Message {
	m := r.Message
	m.Content = json.RawMessage(r.Content)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return &m
}

// CreateMessage implements impl.MessageStore.
func (s *MessageStore) CreateMessage(ctx context.Context, m *impl.Message) error {
	return s.insertMessage(ctx, s.db.pool, m)
}

func (s *MessageStore) insertMessage(ctx context.Context, q sqlx.QueryerContext, m *impl.Message) error {
	m.CreatedAt = s.db.timestamp()
	m.UpdatedAt = m.CreatedAt
	if len(m.Content) == 0 {
		m.Content = json.RawMessage(`{}`)
	}
	err := q.QueryRowxContext(ctx, s.db.rebind(`INSERT INTO messages
		(organization_id, integration_id, channel, direction, type, status, lead_id, phone, content,
		 provider_message_id, error, idempotency_key, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		m.OrganizationID, m.IntegrationID, m.Channel, m.Direction, m.Type, m.Status, m.LeadID, m.Phone,
		string(m.Content), m.ProviderMessageID, m.Error, m.IdempotencyKey, m.CreatedAt, m.UpdatedAt).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("create message: %w", err)
	}
	return nil
}

// FinishMessage implements impl.MessageStore.
func (s *MessageStore) FinishMessage(ctx context.Context, m *impl.Message) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		m.UpdatedAt = s.db.timestamp()
		res, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE messages SET status = ?, provider_message_id = ?, error = ?, updated_at = ?
			WHERE organization_id = ? AND id = ?`),
			m.Status, m.ProviderMessageID, m.Error, m.UpdatedAt, m.OrganizationID, m.ID)
		if err != nil {
			return fmt.Errorf("finish message: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "Message not found.")
		}
		if m.Status == impl.StatusSent {
			return s.db.appendEvent(ctx, tx, m.OrganizationID, impl.EventMessageSent, m.UpdatedAt, m)
		}
		return nil
	})
}

// ReceiveMessage implements impl.MessageStore.
func (s *MessageStore) ReceiveMessage(ctx context.Context, m *impl.Message, contactName *string) (bool, error) {
	// Two deliveries of the same message, or two first messages from the same
	// new contact, can race; the loser hits a unique constraint and its second
	// attempt finds what the winner stored.
	for attempt := 1; ; attempt++ {
		duplicate, err := s.receiveMessage(ctx, m, contactName)
		if err != nil && isUniqueViolation(err) && attempt < 3 {
			continue
		}
		return duplicate, err
	}
}

func (s *MessageStore) receiveMessage(ctx context.Context, m *impl.Message, contactName *string) (bool, error) {
	duplicate := false
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if m.ProviderMessageID != nil {
			var n int
			err := tx.GetContext(ctx, &n, s.db.rebind(
				`SELECT COUNT(*) FROM messages WHERE integration_id = ? AND provider_message_id = ?`),
				m.IntegrationID, *m.ProviderMessageID)
			if err != nil {
				return fmt.Errorf("check duplicate message: %w", err)
			}
			if n > 0 {
				duplicate = true
				return nil
			}
		}
		leadID, err := s.leadForInbound(ctx, tx, m, contactName)
		if err != nil {
			return err
		}
		m.LeadID = &leadID
		if err := s.insertMessage(ctx, tx, m); err != nil {
			return err
		}
		return s.db.appendEvent(ctx, tx, m.OrganizationID, impl.EventMessageReceived, m.CreatedAt, m)
	})
	return duplicate, err
}

// leadForInbound returns the id of the lead with the message's phone,
// creating impl.NewInboundLead (and its events) if there is none.
func (s *MessageStore) leadForInbound(ctx context.Context, tx *sqlx.Tx, m *impl.Message, contactName *string) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, s.db.rebind(`SELECT id FROM leads WHERE organization_id = ? AND phone = ?`),
		m.OrganizationID, m.Phone)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("find lead for inbound message: %w", err)
	}
	lead := impl.NewInboundLead(m.OrganizationID, m.Phone, contactName)
	lead.CreatedAt = s.db.timestamp()
	lead.UpdatedAt = lead.CreatedAt
	if err := insertLead(ctx, s.db, tx, lead); err != nil {
		return 0, fmt.Errorf("lead for inbound message: %w", err)
	}
	return lead.ID, nil
}

// FindMessageByID implements impl.MessageStore.
func (s *MessageStore) FindMessageByID(ctx context.Context, orgID, id int64) (*impl.Message, error) {
	var r messageRow
	err := s.db.pool.GetContext(ctx, &r, s.db.rebind(
		`SELECT `+messageColumns+` FROM messages WHERE organization_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return nil, notFound(err, "Message")
	}
	return r.message(), nil
}

// FindMessageByIdempotencyKey implements impl.MessageStore.
func (s *MessageStore) FindMessageByIdempotencyKey(ctx context.Context, orgID int64, key string) (*impl.Message, error) {
	var r messageRow
	err := s.db.pool.GetContext(ctx, &r, s.db.rebind(
		`SELECT `+messageColumns+` FROM messages WHERE organization_id = ? AND idempotency_key = ?`), orgID, key)
	if err != nil {
		return nil, notFound(err, "Message")
	}
	return r.message(), nil
}

// FindMessages implements impl.MessageStore.
func (s *MessageStore) FindMessages(ctx context.Context, orgID int64, f impl.MessageFilter) ([]*impl.Message, int64, error) {
	where, args := []string{"organization_id = ?"}, []any{orgID}
	if f.LeadID != nil {
		where, args = append(where, "lead_id = ?"), append(args, *f.LeadID)
	}
	if f.Channel != nil {
		where, args = append(where, "channel = ?"), append(args, *f.Channel)
	}
	if f.Direction != nil {
		where, args = append(where, "direction = ?"), append(args, *f.Direction)
	}
	if f.Status != nil {
		where, args = append(where, "status = ?"), append(args, *f.Status)
	}
	rows := []*messageRow{}
	total, err := s.db.page(ctx, &rows, "messages", messageColumns, strings.Join(where, " AND "), "id DESC", args, f.Offset, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find messages: %w", err)
	}
	out := make([]*impl.Message, len(rows))
	for i, r := range rows {
		out[i] = r.message()
	}
	return out, total, nil
}
