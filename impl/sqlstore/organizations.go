package sqlstore

import (
	"context"
	"fmt"

	"github.com/iagente/iagente-sdr/impl"
)

// CreateOrganization implements impl.OrganizationStore.
func (s *OrganizationStore) CreateOrganization(ctx context.Context, org *impl.Organization) error {
	org.CreatedAt = s.db.timestamp()
	err := s.db.pool.QueryRowxContext(ctx, s.db.rebind(
		`INSERT INTO organizations (name, created_at) VALUES (?, ?) RETURNING id`),
		org.Name, org.CreatedAt).Scan(&org.ID)
	if err != nil {
		return fmt.Errorf("create organization: %w", err)
	}
	return nil
}

// FindOrganizationByID implements impl.OrganizationStore.
func (s *OrganizationStore) FindOrganizationByID(ctx context.Context, id int64) (*impl.Organization, error) {
	var org impl.Organization
	err := s.db.pool.GetContext(ctx, &org, s.db.rebind(`SELECT id, name, created_at FROM organizations WHERE id = ?`), id)
	if err != nil {
		return nil, notFound(err, "Organization")
	}
	org.CreatedAt = org.CreatedAt.UTC()
	return &org, nil
}

// CountOrganizations implements impl.OrganizationStore.
func (s *OrganizationStore) CountOrganizations(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.pool.GetContext(ctx, &n, `SELECT COUNT(*) FROM organizations`); err != nil {
		return 0, fmt.Errorf("count organizations: %w", err)
	}
	return n, nil
}
