package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

const messageColumns = `id, organization_id, integration_id, channel, direction, type, status, lead_id, phone,
	content, provider_message_id, error, error_code, error_title, sent_at, delivered_at, read_at, failed_at,
	idempotency_key, created_at, updated_at`

// messageRow is a message as scanned: the drivers hand TEXT to Go as a
// string or []byte, which json.RawMessage cannot take directly.
type messageRow struct {
	impl.Message
	Content string `db:"content"`
}

// messageListColumns is messageColumns as each dialect's list selects
// them (selectList): on SQLite a page of 25 messages has 150 timestamps,
// which modernc's driver would parse twice each.
var messageListColumns = map[Dialect]string{
	Postgres: messageColumns,
	SQLite:   selectList(SQLite, messageColumns, "", "sent_at", "delivered_at", "read_at", "failed_at", "created_at", "updated_at"),
}

// fields are the destinations of messageColumns, in their order. Scanning
// into them skips sqlx's reflection, as leadFields does.
func (r *messageRow) fields() []any {
	m := &r.Message
	return []any{&m.ID, &m.OrganizationID, &m.IntegrationID, &m.Channel, &m.Direction, &m.Type, &m.Status,
		&m.LeadID, &m.Phone, &r.Content, &m.ProviderMessageID, &m.Error, &m.ErrorCode, &m.ErrorTitle,
		storedNullTime{&m.SentAt}, storedNullTime{&m.DeliveredAt}, storedNullTime{&m.ReadAt}, storedNullTime{&m.FailedAt},
		&m.IdempotencyKey, storedTime{&m.CreatedAt}, storedTime{&m.UpdatedAt}}
}

func (r *messageRow) message() *impl.Message {
	m := r.Message
	m.Content = json.RawMessage(r.Content)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	for _, ts := range []**time.Time{&m.SentAt, &m.DeliveredAt, &m.ReadAt, &m.FailedAt} {
		if *ts != nil {
			u := (*ts).UTC()
			*ts = &u
		}
	}
	return &m
}

// CreateMessage implements impl.MessageStore.
func (s *MessageStore) CreateMessage(ctx context.Context, m *impl.Message) error {
	return s.insertMessage(ctx, nil, m)
}

// insertMessage stores m in tx, or on the pool when tx is nil.
func (s *MessageStore) insertMessage(ctx context.Context, tx *sqlx.Tx, m *impl.Message) error {
	m.CreatedAt = s.db.timestamp()
	m.UpdatedAt = m.CreatedAt
	if len(m.Content) == 0 {
		m.Content = json.RawMessage(`{}`)
	}
	for _, ts := range []**time.Time{&m.SentAt, &m.DeliveredAt, &m.ReadAt, &m.FailedAt} {
		if *ts != nil {
			u := (*ts).UTC().Truncate(time.Microsecond)
			*ts = &u
		}
	}
	st, err := s.db.stmtIn(ctx, tx, `INSERT INTO messages
		(organization_id, integration_id, channel, direction, type, status, lead_id, phone, content,
		 provider_message_id, error, error_code, error_title, sent_at, delivered_at, read_at, failed_at,
		 idempotency_key, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return fmt.Errorf("create message: %w", err)
	}
	err = st.QueryRowxContext(ctx,
		m.OrganizationID, m.IntegrationID, m.Channel, m.Direction, m.Type, m.Status, m.LeadID, m.Phone,
		string(m.Content), m.ProviderMessageID, m.Error, m.ErrorCode, m.ErrorTitle, m.SentAt, m.DeliveredAt,
		m.ReadAt, m.FailedAt, m.IdempotencyKey, m.CreatedAt, m.UpdatedAt).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("create message: %w", err)
	}
	return nil
}

// FinishMessage implements impl.MessageStore.
func (s *MessageStore) FinishMessage(ctx context.Context, orgID, id int64, u impl.StatusUpdate) (*impl.Message, error) {
	var out *impl.Message
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var r messageRow
		err := s.db.getStmt(ctx, tx, &r, `SELECT `+messageColumns+` FROM messages
			WHERE organization_id = ? AND id = ?`+s.db.forUpdate(), orgID, id)
		if err != nil {
			return notFound(err, "Message")
		}
		out = r.message()
		_, err = s.apply(ctx, tx, out, u, out.Settle)
		return err
	})
	return out, err
}

// UpdateMessageStatus implements impl.MessageStore.
func (s *MessageStore) UpdateMessageStatus(ctx context.Context, integrationID int64, rep impl.StatusReport) (*impl.Message, bool, error) {
	var (
		out     *impl.Message
		changed bool
	)
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if out, err = s.reportedMessage(ctx, tx, integrationID, rep); err != nil {
			return err
		}
		changed, err = s.apply(ctx, tx, out, rep.StatusUpdate, out.Advance)
		return err
	})
	return out, changed, err
}

// reportedMessage finds and locks the outbound message of the integration
// that a report names: by the provider's id, or else by our reference when
// the message has no provider id yet or the same one (a reference is a
// hint, the provider's id is the fact).
func (s *MessageStore) reportedMessage(ctx context.Context, tx *sqlx.Tx, integrationID int64, rep impl.StatusReport) (*impl.Message, error) {
	var r messageRow
	q := `SELECT ` + messageColumns + ` FROM messages WHERE integration_id = ? AND direction = ? AND `
	err := sql.ErrNoRows
	if rep.ProviderMessageID != "" {
		err = s.db.getStmt(ctx, tx, &r, q+`provider_message_id = ?`+s.db.forUpdate(),
			integrationID, impl.DirectionOutbound, rep.ProviderMessageID)
	}
	if id := impl.ParseMessageReference(rep.Reference); errors.Is(err, sql.ErrNoRows) && id != 0 {
		err = s.db.getStmt(ctx, tx, &r, q+`id = ?`+s.db.forUpdate(), integrationID, impl.DirectionOutbound, id)
		if err == nil && rep.ProviderMessageID != "" && r.ProviderMessageID != nil && *r.ProviderMessageID != rep.ProviderMessageID {
			err = sql.ErrNoRows
		}
	}
	if err != nil {
		return nil, notFound(err, "Message")
	}
	return r.message(), nil
}

// apply applies u to m (locked by tx) as impl's rule (Message.Settle or
// Message.Advance) decides, stores the result and appends the events it
// causes.
func (s *MessageStore) apply(ctx context.Context, tx *sqlx.Tx, m *impl.Message, u impl.StatusUpdate,
	rule func(impl.StatusUpdate) ([]string, bool)) (bool, error) {
	// At the precision PostgreSQL keeps, so the message returned reads
	// back the same.
	if u.At.IsZero() {
		u.At = s.db.timestamp()
	}
	u.At = u.At.UTC().Truncate(time.Microsecond)
	events, changed := rule(u)
	if !changed {
		return false, nil
	}
	m.UpdatedAt = s.db.timestamp()
	_, err := s.db.execStmt(ctx, tx, `UPDATE messages SET status = ?, provider_message_id = ?, error = ?,
		error_code = ?, error_title = ?, sent_at = ?, delivered_at = ?, read_at = ?, failed_at = ?, updated_at = ?
		WHERE id = ?`,
		m.Status, m.ProviderMessageID, m.Error, m.ErrorCode, m.ErrorTitle, m.SentAt, m.DeliveredAt, m.ReadAt,
		m.FailedAt, m.UpdatedAt, m.ID)
	if err != nil {
		return false, fmt.Errorf("update message status: %w", err)
	}
	for _, ev := range events {
		if err := s.db.appendEvent(ctx, tx, m.OrganizationID, ev, m.UpdatedAt, m); err != nil {
			return false, err
		}
	}
	return true, nil
}

// LastInbound implements impl.MessageStore.
func (s *MessageStore) LastInbound(ctx context.Context, orgID, integrationID int64, phone string) (*time.Time, error) {
	// dialect: ORDER BY ... LIMIT 1 rather than MAX(), whose result SQLite
	// hands back as text: only a column keeps its declared type.
	var at []time.Time
	err := s.db.selectAll(ctx, &at, `SELECT sent_at FROM messages
		WHERE integration_id = ? AND phone = ? AND direction = ? AND organization_id = ? AND sent_at IS NOT NULL
		ORDER BY sent_at DESC LIMIT 1`, integrationID, phone, impl.DirectionInbound, orgID)
	if err != nil {
		return nil, fmt.Errorf("last inbound message: %w", err)
	}
	if len(at) == 0 {
		return nil, nil
	}
	t := at[0].UTC()
	return &t, nil
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
	err := s.db.getStmt(ctx, tx, &id, `SELECT id FROM leads WHERE organization_id = ? AND phone = ?`, m.OrganizationID, m.Phone)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("find lead for inbound message: %w", err)
	}
	lead := impl.NewInboundLead(m.OrganizationID, m.Phone, contactName)
	lead.CreatedAt = s.db.timestamp()
	lead.UpdatedAt = lead.CreatedAt
	if err := insertLead(ctx, s.db, tx, lead, ""); err != nil {
		return 0, fmt.Errorf("lead for inbound message: %w", err)
	}
	return lead.ID, nil
}

// FindMessageByID implements impl.MessageStore. On PostgreSQL, reads that
// arrive together go to the database together (pointReads): an automation
// polling its messages' statuses reads many at once.
func (s *MessageStore) FindMessageByID(ctx context.Context, orgID, id int64) (*impl.Message, error) {
	if s.reads != nil {
		return s.reads.find(ctx, orgID, id)
	}
	return s.findOne(ctx, orgID, id)
}

// findOne reads one message with its own statement, prepared once and
// scanned without sqlx, as a page of them is.
func (s *MessageStore) findOne(ctx context.Context, orgID, id int64) (*impl.Message, error) {
	stmt, err := s.db.prepared(ctx, `SELECT `+messageListColumns[s.db.dialect]+` FROM messages WHERE organization_id = ? AND id = ?`)
	if err != nil {
		return nil, err
	}
	if ctx, err = oneRow(ctx); err != nil {
		return nil, err
	}
	var r messageRow
	if err := stmt.Stmt.QueryRowContext(ctx, orgID, id).Scan(r.fields()...); err != nil {
		return nil, notFound(err, "Message")
	}
	return r.message(), nil
}

// readMessages answers a batch of FindMessageByID's reads (pointReads).
func (s *MessageStore) readMessages(ctx context.Context, reads []*pointRead[impl.Message]) {
	if len(reads) == 1 {
		reads[0].got, reads[0].err = s.findOne(ctx, reads[0].org, reads[0].id)
		return
	}
	readPairs(ctx, s.db, reads, `SELECT `+selectList(s.db.dialect, messageColumns, "m.")+` FROM messages m
		JOIN unnest(?::bigint[], ?::bigint[]) AS k(org, id) ON m.organization_id = k.org AND m.id = k.id`,
		(*messageRow).fields, func(r *messageRow) [2]int64 { return [2]int64{r.OrganizationID, r.ID} },
		(*messageRow).message, "Message")
}

// FindMessageByIdempotencyKey implements impl.MessageStore.
func (s *MessageStore) FindMessageByIdempotencyKey(ctx context.Context, orgID int64, key string) (*impl.Message, error) {
	var r messageRow
	err := s.db.get(ctx, &r, `SELECT `+messageColumns+` FROM messages WHERE organization_id = ? AND idempotency_key = ?`, orgID, key)
	if err != nil {
		return nil, notFound(err, "Message")
	}
	return r.message(), nil
}

// FindMessages implements impl.MessageStore.
//
// meta.total is the sum of the counters the database keeps (00018), unless
// a lead narrows the list, whose messages are counted through its index. A
// page is read from the filter's index, newest first (every index of
// messages ends in id); a deep numbered page skips its offset in that index
// alone, and a walk by cursor starts below the last id it returned, so it
// skips nothing.
func (s *MessageStore) FindMessages(ctx context.Context, orgID int64, f impl.MessageFilter) (*impl.MessagePage, error) {
	var key []byte
	if f.Cursor != "" {
		var err error
		if key, err = s.db.signingKey(ctx, messageCursorKey); err != nil {
			return nil, err
		}
	}
	q, err := f.Resolve(key, orgID)
	if err != nil {
		return nil, err
	}
	where, args := []string{"organization_id = ?"}, []any{orgID}
	if q.LeadID != nil {
		where, args = append(where, "lead_id = ?"), append(args, *q.LeadID)
	}
	if q.Channel != nil {
		where, args = append(where, "channel = ?"), append(args, *q.Channel)
	}
	if q.Direction != nil {
		where, args = append(where, "direction = ?"), append(args, *q.Direction)
	}
	if q.Status != nil {
		where, args = append(where, "status = ?"), append(args, *q.Status)
	}
	cond := strings.Join(where, " AND ")
	count := `SELECT COUNT(*) FROM messages WHERE ` + cond
	if q.LeadID == nil {
		count = `SELECT COALESCE(SUM(total), 0) FROM message_counts WHERE ` + cond
	}
	page := &impl.MessagePage{Messages: []*impl.Message{}, Offset: q.Start()}
	if err := s.db.listGet(ctx, &page.Total, count, args...); err != nil {
		return nil, fmt.Errorf("count messages: %w", err)
	}
	if q.Limit <= 0 || page.Total == 0 || (q.Before == 0 && q.Offset >= page.Total) {
		return page, nil
	}
	// One message more than the page says whether another page follows.
	var query string
	cols := messageListColumns[s.db.dialect]
	switch {
	case q.Before != 0:
		query = `SELECT ` + cols + ` FROM messages WHERE ` + cond + ` AND id < ? ORDER BY id DESC LIMIT ?`
		args = append(args, q.Before, q.Limit+1)
	case q.Offset > 0:
		// The ids from the filter's index alone, then only the page's
		// rows from the table, not every row skipped.
		query = `SELECT ` + cols + ` FROM messages WHERE id IN (SELECT id FROM messages WHERE ` + cond +
			` ORDER BY id DESC LIMIT ? OFFSET ?) ORDER BY id DESC`
		args = append(args, q.Limit+1, q.Offset)
	default:
		query = `SELECT ` + cols + ` FROM messages WHERE ` + cond + ` ORDER BY id DESC LIMIT ?`
		args = append(args, q.Limit+1)
	}
	read, err := s.db.listRows(ctx, query, args...)
	rows, err := scanEach(read, err, (*messageRow).fields)
	if err != nil {
		return nil, fmt.Errorf("find messages: %w", err)
	}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		if key == nil {
			if key, err = s.db.signingKey(ctx, messageCursorKey); err != nil {
				return nil, err
			}
		}
		page.Next = q.Next(key, orgID, rows[len(rows)-1].ID, len(rows))
	}
	page.Messages = make([]*impl.Message, len(rows))
	for i, r := range rows {
		page.Messages[i] = r.message()
	}
	return page, nil
}
