package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

const leadColumns = `id, organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at`

// CreateLead implements impl.LeadStore.
func (s *LeadStore) CreateLead(ctx context.Context, orgID int64, lead *impl.Lead) error {
	lead.Normalize()
	lead.OrganizationID = orgID
	lead.CreatedAt = s.db.timestamp()
	lead.UpdatedAt = lead.CreatedAt
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		err := insertLead(ctx, s.db, tx, lead)
		if isUniqueViolation(err) {
			return impl.ErrDuplicatePhone()
		}
		return err
	})
}

// insertLead stores a new lead (normalised, with its timestamps) and the
// events of its creation, in tx. A duplicate phone is left as the driver's
// unique violation, for callers that retry on it.
func insertLead(ctx context.Context, db *DB, tx *sqlx.Tx, lead *impl.Lead) error {
	err := tx.QueryRowxContext(ctx, db.rebind(`INSERT INTO leads
		(organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		lead.OrganizationID, lead.Phone, lead.Name, lead.Email, lead.CompanyName, lead.Temperature, lead.LeadScore,
		lead.DealValue, lead.CreatedAt, lead.UpdatedAt).Scan(&lead.ID)
	if err != nil {
		return fmt.Errorf("create lead: %w", err)
	}
	return appendLeadEvents(ctx, db, tx, nil, lead)
}

// FindLeadByID implements impl.LeadStore.
func (s *LeadStore) FindLeadByID(ctx context.Context, orgID, id int64) (*impl.Lead, error) {
	var lead impl.Lead
	err := s.db.get(ctx, &lead, `SELECT `+leadColumns+` FROM leads WHERE organization_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return nil, notFound(err, "Lead")
	}
	utcLead(&lead)
	return &lead, nil
}

func (s *LeadStore) findLead(ctx context.Context, q sqlx.QueryerContext, orgID, id int64, suffix string) (*impl.Lead, error) {
	var lead impl.Lead
	err := sqlx.GetContext(ctx, q, &lead, s.db.rebind(
		`SELECT `+leadColumns+` FROM leads WHERE organization_id = ? AND id = ?`+suffix), orgID, id)
	if err != nil {
		return nil, notFound(err, "Lead")
	}
	utcLead(&lead)
	return &lead, nil
}

// utcLead reports times in UTC whatever the session time zone of the database.
func utcLead(l *impl.Lead) {
	l.CreatedAt = l.CreatedAt.UTC()
	l.UpdatedAt = l.UpdatedAt.UTC()
}

// FindLeads implements impl.LeadStore.
func (s *LeadStore) FindLeads(ctx context.Context, orgID int64, f impl.LeadFilter) ([]*impl.Lead, int64, error) {
	where := []string{"organization_id = ?"}
	args := []any{orgID}
	if f.Phone != nil {
		where, args = append(where, "phone = ?"), append(args, impl.NormalizePhone(*f.Phone))
	}
	if f.Email != nil {
		where, args = append(where, "email = ?"), append(args, impl.NormalizeEmail(*f.Email))
	}
	if f.Temperature != nil {
		where, args = append(where, "temperature = ?"), append(args, *f.Temperature)
	}
	cond := strings.Join(where, " AND ")

	var total int64
	if err := s.db.pool.GetContext(ctx, &total, s.db.rebind(`SELECT COUNT(*) FROM leads WHERE `+cond), args...); err != nil {
		return nil, 0, fmt.Errorf("count leads: %w", err)
	}
	order, err := s.leadOrder(f.Sort)
	if err != nil {
		return nil, 0, err
	}
	leads := []*impl.Lead{}
	if total == 0 || f.Offset >= total {
		return leads, total, nil
	}
	err = s.db.pool.SelectContext(ctx, &leads, s.db.rebind(
		`SELECT `+leadColumns+` FROM leads WHERE `+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`),
		append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("find leads: %w", err)
	}
	for _, l := range leads {
		utcLead(l)
	}
	return leads, total, nil
}

// leadOrder turns a sort key into an ORDER BY clause. Missing values sort
// last in both directions, and id breaks ties, so pages never overlap.
func (s *LeadStore) leadOrder(sort string) (string, error) {
	if sort == "" {
		sort = "-created_at"
	}
	dir := "ASC"
	key := sort
	if strings.HasPrefix(sort, "-") {
		dir, key = "DESC", sort[1:]
	}
	col, ok := impl.LeadSortColumns[key]
	if !ok {
		return "", impl.Errorf(impl.EBadRequest, "Unknown sort field %q.", key).WithDetailText("sort", impl.Text{En: "unknown sort field", PtBR: "O campo sort não é um campo de ordenação."})
	}
	expr := col
	if col == "name" && s.db.dialect == Postgres {
		// dialect: compare bytes, as SQLite does, so both databases give the
		// same order whatever the cluster's locale.
		expr = `name COLLATE "C"`
	}
	switch col {
	case "name", "deal_value":
		return fmt.Sprintf("(%s IS NULL), %s %s, id %s", col, expr, dir, dir), nil
	case "id":
		return "id " + dir, nil
	default:
		return fmt.Sprintf("%s %s, id %s", expr, dir, dir), nil
	}
}

// UpdateLead implements impl.LeadStore.
func (s *LeadStore) UpdateLead(ctx context.Context, orgID, id int64, update func(*impl.Lead) error) (*impl.Lead, error) {
	var lead *impl.Lead
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		lockSuffix := ""
		if s.db.dialect == Postgres {
			// dialect: SQLite's BEGIN IMMEDIATE already holds the write lock.
			lockSuffix = " FOR UPDATE"
		}
		var err error
		lead, err = s.findLead(ctx, tx, orgID, id, lockSuffix)
		if err != nil {
			return err
		}
		before := *lead
		if err := update(lead); err != nil {
			return err
		}
		lead.Normalize()
		// The store owns these; an update func cannot move, re-date or
		// renumber a lead, and a no-op returns the lead exactly as stored.
		lead.ID, lead.OrganizationID = before.ID, before.OrganizationID
		lead.CreatedAt, lead.UpdatedAt = before.CreatedAt, before.UpdatedAt
		if len(impl.LeadEvents(&before, lead)) == 0 {
			return nil // a no-op returns the lead exactly as stored
		}
		lead.UpdatedAt = s.db.timestamp()
		_, err = tx.ExecContext(ctx, s.db.rebind(`UPDATE leads SET
			phone = ?, name = ?, email = ?, company_name = ?, temperature = ?, lead_score = ?, deal_value = ?, updated_at = ?
			WHERE organization_id = ? AND id = ?`),
			lead.Phone, lead.Name, lead.Email, lead.CompanyName, lead.Temperature, lead.LeadScore, lead.DealValue,
			lead.UpdatedAt, orgID, id)
		if isUniqueViolation(err) {
			return impl.ErrDuplicatePhone()
		}
		if err != nil {
			return fmt.Errorf("update lead: %w", err)
		}
		return appendLeadEvents(ctx, s.db, tx, &before, lead)
	})
	if err != nil {
		return nil, err
	}
	return lead, nil
}

// appendLeadEvents writes the events impl.LeadEvents says the change from
// before to lead causes, stamped with the lead's updated_at.
func appendLeadEvents(ctx context.Context, db *DB, tx *sqlx.Tx, before, lead *impl.Lead) error {
	for _, typ := range impl.LeadEvents(before, lead) {
		if err := db.appendEvent(ctx, tx, lead.OrganizationID, typ, lead.UpdatedAt, lead); err != nil {
			return err
		}
	}
	return nil
}

// DeleteLead implements impl.LeadStore.
func (s *LeadStore) DeleteLead(ctx context.Context, orgID, id int64) error {
	res, err := s.db.pool.ExecContext(ctx, s.db.rebind(`DELETE FROM leads WHERE organization_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return fmt.Errorf("delete lead: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return impl.Errorf(impl.ENotFound, "Lead not found.")
	}
	return nil
}
