package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

const templateColumns = `id, organization_id, name, language, category, context, status, meta_approved, source,
	body, variables_count, waba_id, synced_at, removed_at, created_at`

// CreateTemplate implements impl.TemplateStore.
func (s *TemplateStore) CreateTemplate(ctx context.Context, t *impl.Template) error {
	t.CreatedAt = s.db.timestamp()
	err := insertTemplate(ctx, s.db, s.db.pool, t)
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

func insertTemplate(ctx context.Context, db *DB, q sqlx.QueryerContext, t *impl.Template) error {
	if t.Source == "" {
		t.Source = impl.TemplateSourceLocal
	}
	if t.Status == "" {
		// A local template is approved or not, as its creator says.
		t.Status = impl.TemplatePending
		if t.MetaApproved {
			t.Status = impl.TemplateApproved
		}
	}
	t.MetaApproved = impl.TemplateSendable(t.Status, t.RemovedAt)
	return q.QueryRowxContext(ctx, db.rebind(`INSERT INTO templates
		(organization_id, name, language, category, context, status, meta_approved, source, body, variables_count,
		 waba_id, synced_at, removed_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		t.OrganizationID, t.Name, t.Language, t.Category, t.Context, t.Status, t.MetaApproved, t.Source, t.Body,
		t.VariablesCount, t.WABAID, t.SyncedAt, t.RemovedAt, t.CreatedAt).Scan(&t.ID)
}

// ApplyTemplateListing implements impl.TemplateStore.
func (s *TemplateStore) ApplyTemplateListing(ctx context.Context, orgID int64, wabaID string, listing *impl.TemplateListing) (*impl.TemplateSyncResult, error) {
	var plan impl.TemplateSyncPlan
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		// dialect: two syncs of one organization queue on its row, so each
		// plans against what the other committed (locking the templates
		// would not hold back two first syncs, when there are none).
		// SQLite's write transaction is already exclusive.
		if s.db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT id FROM organizations WHERE id = $1 FOR UPDATE`, orgID); err != nil {
				return fmt.Errorf("lock organization: %w", err)
			}
		}
		var stored []*impl.Template
		if err := tx.SelectContext(ctx, &stored, s.db.rebind(`SELECT `+templateColumns+` FROM templates
			WHERE organization_id = ? ORDER BY id`), orgID); err != nil {
			return fmt.Errorf("read templates: %w", err)
		}
		plan = impl.PlanTemplateSync(orgID, wabaID, stored, listing, s.db.timestamp())
		for _, t := range plan.Insert {
			t.CreatedAt = plan.Result.SyncedAt
			if err := insertTemplate(ctx, s.db, tx, t); err != nil {
				return fmt.Errorf("insert template %s (%s): %w", t.Name, t.Language, err)
			}
		}
		for _, t := range plan.Update {
			_, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE templates SET category = ?, status = ?, meta_approved = ?,
				source = ?, body = ?, variables_count = ?, waba_id = ?, synced_at = ?, removed_at = ?
				WHERE organization_id = ? AND id = ?`),
				t.Category, t.Status, t.MetaApproved, t.Source, t.Body, t.VariablesCount, t.WABAID, t.SyncedAt,
				t.RemovedAt, orgID, t.ID)
			if err != nil {
				return fmt.Errorf("update template %s (%s): %w", t.Name, t.Language, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &plan.Result, nil
}

func utcTemplate(t *impl.Template) {
	t.CreatedAt = t.CreatedAt.UTC()
	for _, ts := range []**time.Time{&t.SyncedAt, &t.RemovedAt} {
		if *ts != nil {
			u := (*ts).UTC()
			*ts = &u
		}
	}
}

// FindTemplateByID implements impl.TemplateStore.
func (s *TemplateStore) FindTemplateByID(ctx context.Context, orgID, id int64) (*impl.Template, error) {
	var t impl.Template
	err := s.db.get(ctx, &t, `SELECT `+templateColumns+` FROM templates WHERE organization_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return nil, notFound(err, "Template")
	}
	utcTemplate(&t)
	return &t, nil
}

// FindTemplatesByName implements impl.TemplateStore.
func (s *TemplateStore) FindTemplatesByName(ctx context.Context, orgID int64, name string) ([]*impl.Template, error) {
	out := []*impl.Template{}
	err := s.db.selectAll(ctx, &out,
		`SELECT `+templateColumns+` FROM templates WHERE organization_id = ? AND name = ? ORDER BY language, id`, orgID, name)
	if err != nil {
		return nil, fmt.Errorf("find templates: %w", err)
	}
	for _, t := range out {
		utcTemplate(t)
	}
	return out, nil
}

// FindTemplates implements impl.TemplateStore.
func (s *TemplateStore) FindTemplates(ctx context.Context, orgID int64, f impl.TemplateFilter) ([]*impl.Template, int64, error) {
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
	total, err := s.db.page(ctx, &out, "templates", templateColumns, strings.Join(where, " AND "),
		s.db.nameOrder()+", language, id", args, f.Offset, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find templates: %w", err)
	}
	for _, t := range out {
		utcTemplate(t)
	}
	return out, total, nil
}
