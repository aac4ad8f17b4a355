package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/iagente/iagente-sdr/impl"
)

const templateColumns = `id, organization_id, name, language, category, context, meta_approved, body, variables_count, created_at`

// CreateTemplate implements impl.TemplateStore.
func (s *TemplateStore) CreateTemplate(ctx context.Context, t *impl.Template) error {
	t.CreatedAt = s.db.timestamp()
	err := s.db.pool.QueryRowxContext(ctx, s.db.rebind(`INSERT INTO templates
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

// FindTemplateByID implements impl.TemplateStore.
func (s *TemplateStore) FindTemplateByID(ctx context.Context, orgID, id int64) (*impl.Template, error) {
	var t impl.Template
	err := s.db.pool.GetContext(ctx, &t, s.db.rebind(
		`SELECT `+templateColumns+` FROM templates WHERE organization_id = ? AND id = ?`), orgID, id)
	if err != nil {
		return nil, notFound(err, "Template")
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// FindTemplatesByName implements impl.TemplateStore.
func (s *TemplateStore) FindTemplatesByName(ctx context.Context, orgID int64, name string) ([]*impl.Template, error) {
	out := []*impl.Template{}
	err := s.db.pool.SelectContext(ctx, &out, s.db.rebind(
		`SELECT `+templateColumns+` FROM templates WHERE organization_id = ? AND name = ? ORDER BY language, id`), orgID, name)
	if err != nil {
		return nil, fmt.Errorf("find templates: %w", err)
	}
	for _, t := range out {
		t.CreatedAt = t.CreatedAt.UTC()
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
		t.CreatedAt = t.CreatedAt.UTC()
	}
	return out, total, nil
}
