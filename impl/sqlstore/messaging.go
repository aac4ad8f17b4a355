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

var (
	_ impl.IntegrationService = (*DB)(nil)
	_ impl.TemplateService    = (*DB)(nil)
	_ impl.MessageService     = (*DB)(nil)
)

const integrationColumns = `id, organization_id, name, channel, provider, active, phone_number, phone_number_id,
	access_token, app_secret, verify_token_hash, agent_id, created_at, updated_at`

// CreateIntegration implements impl.IntegrationService.
func (s *DB) CreateIntegration(ctx context.Context, in *impl.Integration) error {
	in.CreatedAt = s.timestamp()
	in.UpdatedAt = in.CreatedAt
	err := s.db.QueryRowxContext(ctx, s.rebind(`INSERT INTO integrations
		(organization_id, name, channel, provider, active, phone_number, phone_number_id,
		 access_token, app_secret, verify_token_hash, agent_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		in.OrganizationID, in.Name, in.Channel, in.Provider, in.Active, in.PhoneNumber, in.PhoneNumberID,
		in.AccessToken, in.AppSecret, in.VerifyTokenHash, in.AgentID, in.CreatedAt, in.UpdatedAt).Scan(&in.ID)
	if isForeignKeyViolation(err) {
		return impl.Errorf(impl.ENotFound, "Organization %d not found.", in.OrganizationID)
	}
	if err != nil {
		return fmt.Errorf("create integration: %w", err)
	}
	return nil
}

// FindIntegrationByID implements impl.IntegrationService.
func (s *DB) FindIntegrationByID(ctx context.Context, orgID, id int64) (*impl.Integration, error) {
	var in impl.Integration
	err := s.db.GetContext(ctx, &in, s.rebind(
		`SELECT `+integrationColumns+` FROM integrations WHERE organization_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return nil, notFound(err, "Integration")
	}
	utcIntegration(&in)
	return &in, nil
}

// FindIntegrationForInbound implements impl.IntegrationService.
func (s *DB) FindIntegrationForInbound(ctx context.Context, id int64) (*impl.Integration, error) {
	var in impl.Integration
	err := s.db.GetContext(ctx, &in, s.rebind(`SELECT `+integrationColumns+` FROM integrations WHERE id = ?`), id)
	if err != nil {
		return nil, notFound(err, "Integration")
	}
	utcIntegration(&in)
	return &in, nil
}

// ListIntegrations implements impl.IntegrationService.
func (s *DB) ListIntegrations(ctx context.Context, orgID int64, channel string) ([]*impl.Integration, error) {
	q, args := `SELECT `+integrationColumns+` FROM integrations WHERE organization_id = ?`, []any{orgID}
	if channel != "" {
		q, args = q+` AND channel = ?`, append(args, channel)
	}
	out := []*impl.Integration{}
	if err := s.db.SelectContext(ctx, &out, s.rebind(q+` ORDER BY id`), args...); err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	for _, in := range out {
		utcIntegration(in)
	}
	return out, nil
}

// SetIntegrationActive implements impl.IntegrationService.
func (s *DB) SetIntegrationActive(ctx context.Context, orgID, id int64, active bool) error {
	res, err := s.db.ExecContext(ctx, s.rebind(
		`UPDATE integrations SET active = ?, updated_at = ? WHERE organization_id = ? AND id = ?`),
		active, s.timestamp(), orgID, id)
	if err != nil {
		return fmt.Errorf("update integration: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return impl.Errorf(impl.ENotFound, "Integration not found.")
	}
	return nil
}

func utcIntegration(in *impl.Integration) {
	in.CreatedAt, in.UpdatedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC()
}

const templateColumns = `id, organization_id, name, language, category, context, meta_approved, body, variables_count, created_at`

// CreateTemplate implements impl.TemplateService.
func (s *DB) CreateTemplate(ctx context.Context, t *impl.Template) error {
	t.CreatedAt = s.timestamp()
	err := s.db.QueryRowxContext(ctx, s.rebind(`INSERT INTO templates
		(organization_id, name, language, category, context, meta_approved, body, variables_count, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		t.OrganizationID, t.Name, t.Language, t.Category, t.Context, t.MetaApproved, t.Body, t.VariablesCount,
		t.CreatedAt).Scan(&t.ID)
	switch {
	case isUniqueViolation(err):
		return impl.Errorf(impl.EConflict, "A template named %q in language %q already exists.", t.Name, t.Language)
	case isForeignKeyViolation(err):
		return impl.Errorf(impl.ENotFound, "Organization %d not found.", t.OrganizationID)
	case err != nil:
		return fmt.Errorf("create template: %w", err)
	}
	return nil
}

// FindTemplateByID implements impl.TemplateService.
func (s *DB) FindTemplateByID(ctx context.Context, orgID, id int64) (*impl.Template, error) {
	var t impl.Template
	err := s.db.GetContext(ctx, &t, s.rebind(
		`SELECT `+templateColumns+` FROM templates WHERE organization_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return nil, notFound(err, "Template")
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// FindTemplatesByName implements impl.TemplateService.
func (s *DB) FindTemplatesByName(ctx context.Context, orgID int64, name string) ([]*impl.Template, error) {
	out := []*impl.Template{}
	err := s.db.SelectContext(ctx, &out, s.rebind(
		`SELECT `+templateColumns+` FROM templates WHERE organization_id = ? AND name = ? ORDER BY language, id`), orgID, name)
	if err != nil {
		return nil, fmt.Errorf("find templates: %w", err)
	}
	for _, t := range out {
		t.CreatedAt = t.CreatedAt.UTC()
	}
	return out, nil
}

// FindTemplates implements impl.TemplateService.
func (s *DB) FindTemplates(ctx context.Context, orgID int64, f impl.TemplateFilter) ([]*impl.Template, int64, error) {
	where, args := []string{"organization_id = ?"}, []any{orgID}
	if f.Category != nil {
		where, args = append(where, "category = ?"), append(args, *f.Category)
	}
	if f.Context != nil {
		where, args = append(where, "context = ?"), append(args, *f.Context)
	}
	if f.MetaApproved != nil {
		where, args = append(where, "meta_approved = ?"), append(args, *f.MetaApproved)
	}
	out := []*impl.Template{}
	total, err := s.page(ctx, &out, "templates", templateColumns, strings.Join(where, " AND "),
		s.nameOrder()+", language, id", args, f.Offset, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find templates: %w", err)
	}
	for _, t := range out {
		t.CreatedAt = t.CreatedAt.UTC()
	}
	return out, total, nil
}

// nameOrder compares names byte-wise on both databases.
func (s *DB) nameOrder() string {
	if s.dialect == Postgres {
		// dialect: as for lead names, whatever the cluster's locale.
		return `name COLLATE "C"`
	}
	return "name"
}

// page counts the rows of table matching cond and selects one page of them
// into dst (a pointer to a slice).
func (s *DB) page(ctx context.Context, dst any, table, columns, cond, order string, args []any, offset int64, limit int) (int64, error) {
	return s.pageIn(ctx, s.db, dst, table, columns, cond, order, args, offset, limit)
}

// pageIn is page on q, for a page read inside a transaction.
func (s *DB) pageIn(ctx context.Context, q sqlx.QueryerContext, dst any, table, columns, cond, order string, args []any, offset int64, limit int) (int64, error) {
	var total int64
	if err := sqlx.GetContext(ctx, q, &total, s.rebind(`SELECT COUNT(*) FROM `+table+` WHERE `+cond), args...); err != nil {
		return 0, err
	}
	if total == 0 || offset >= total {
		return total, nil
	}
	query := `SELECT ` + columns + ` FROM ` + table + ` WHERE ` + cond + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	return total, sqlx.SelectContext(ctx, q, dst, s.rebind(query), append(args, limit, offset)...)
}

const messageColumns = `id, organization_id, integration_id, channel, direction, type, status, lead_id, phone,
	content, provider_message_id, error, created_at, updated_at`

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

// CreateMessage implements impl.MessageService.
func (s *DB) CreateMessage(ctx context.Context, m *impl.Message) error {
	return s.insertMessage(ctx, s.db, m)
}

func (s *DB) insertMessage(ctx context.Context, q sqlx.QueryerContext, m *impl.Message) error {
	m.CreatedAt = s.timestamp()
	m.UpdatedAt = m.CreatedAt
	if len(m.Content) == 0 {
		m.Content = json.RawMessage(`{}`)
	}
	err := q.QueryRowxContext(ctx, s.rebind(`INSERT INTO messages
		(organization_id, integration_id, channel, direction, type, status, lead_id, phone, content,
		 provider_message_id, error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		m.OrganizationID, m.IntegrationID, m.Channel, m.Direction, m.Type, m.Status, m.LeadID, m.Phone,
		string(m.Content), m.ProviderMessageID, m.Error, m.CreatedAt, m.UpdatedAt).Scan(&m.ID)
	if err != nil {
		return fmt.Errorf("create message: %w", err)
	}
	return nil
}

// FinishMessage implements impl.MessageService.
func (s *DB) FinishMessage(ctx context.Context, m *impl.Message) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		m.UpdatedAt = s.timestamp()
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE messages SET status = ?, provider_message_id = ?, error = ?, updated_at = ?
			WHERE organization_id = ? AND id = ?`),
			m.Status, m.ProviderMessageID, m.Error, m.UpdatedAt, m.OrganizationID, m.ID)
		if err != nil {
			return fmt.Errorf("finish message: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "Message not found.")
		}
		if m.Status == impl.StatusSent {
			return s.insertEvent(ctx, tx, m.OrganizationID, impl.EventMessageSent, m.UpdatedAt, m)
		}
		return nil
	})
}

// ReceiveMessage implements impl.MessageService.
func (s *DB) ReceiveMessage(ctx context.Context, m *impl.Message, contactName *string) (bool, error) {
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

func (s *DB) receiveMessage(ctx context.Context, m *impl.Message, contactName *string) (bool, error) {
	duplicate := false
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if m.ProviderMessageID != nil {
			var n int
			err := tx.GetContext(ctx, &n, s.rebind(
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
		return s.insertEvent(ctx, tx, m.OrganizationID, impl.EventMessageReceived, m.CreatedAt, m)
	})
	return duplicate, err
}

// leadForInbound returns the id of the lead with the message's phone,
// creating the lead (and its lead.created event) if there is none.
func (s *DB) leadForInbound(ctx context.Context, tx *sqlx.Tx, m *impl.Message, contactName *string) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, s.rebind(`SELECT id FROM leads WHERE organization_id = ? AND phone = ?`),
		m.OrganizationID, m.Phone)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("find lead for inbound message: %w", err)
	}
	lead := &impl.Lead{OrganizationID: m.OrganizationID, Phone: m.Phone, Name: contactName,
		Temperature: impl.DefaultTemperature, LeadScore: impl.DefaultLeadScore}
	lead.CreatedAt = s.timestamp()
	lead.UpdatedAt = lead.CreatedAt
	err = tx.QueryRowxContext(ctx, s.rebind(`INSERT INTO leads
		(organization_id, phone, name, temperature, lead_score, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		lead.OrganizationID, lead.Phone, lead.Name, lead.Temperature, lead.LeadScore, lead.CreatedAt, lead.UpdatedAt).Scan(&lead.ID)
	if err != nil {
		return 0, fmt.Errorf("create lead for inbound message: %w", err)
	}
	if err := s.insertEvent(ctx, tx, lead.OrganizationID, impl.EventLeadCreated, lead.CreatedAt, lead); err != nil {
		return 0, err
	}
	return lead.ID, nil
}

// FindMessageByID implements impl.MessageService.
func (s *DB) FindMessageByID(ctx context.Context, orgID, id int64) (*impl.Message, error) {
	var r messageRow
	err := s.db.GetContext(ctx, &r, s.rebind(
		`SELECT `+messageColumns+` FROM messages WHERE organization_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return nil, notFound(err, "Message")
	}
	return r.message(), nil
}

// FindMessages implements impl.MessageService.
func (s *DB) FindMessages(ctx context.Context, orgID int64, f impl.MessageFilter) ([]*impl.Message, int64, error) {
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
	total, err := s.page(ctx, &rows, "messages", messageColumns, strings.Join(where, " AND "), "id DESC", args, f.Offset, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find messages: %w", err)
	}
	out := make([]*impl.Message, len(rows))
	for i, r := range rows {
		out[i] = r.message()
	}
	return out, total, nil
}
