package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

var (
	_ impl.OrganizationService = (*DB)(nil)
	_ impl.APIKeyService       = (*DB)(nil)
)

// CreateOrganization implements impl.OrganizationService.
func (s *DB) CreateOrganization(ctx context.Context, org *impl.Organization) error {
	org.CreatedAt = s.timestamp()
	err := s.db.QueryRowxContext(ctx, s.rebind(
		`INSERT INTO organizations (name, created_at) VALUES (?, ?) RETURNING id`),
		org.Name, org.CreatedAt).Scan(&org.ID)
	if err != nil {
		return fmt.Errorf("create organization: %w", err)
	}
	return nil
}

// FindOrganizationByID implements impl.OrganizationService.
func (s *DB) FindOrganizationByID(ctx context.Context, id int64) (*impl.Organization, error) {
	var org impl.Organization
	err := s.db.GetContext(ctx, &org, s.rebind(`SELECT id, name, created_at FROM organizations WHERE id = ?`), id)
	if err != nil {
		return nil, notFound(err, "Organization")
	}
	org.CreatedAt = org.CreatedAt.UTC()
	return &org, nil
}

// CountOrganizations implements impl.OrganizationService.
func (s *DB) CountOrganizations(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.GetContext(ctx, &n, `SELECT COUNT(*) FROM organizations`); err != nil {
		return 0, fmt.Errorf("count organizations: %w", err)
	}
	return n, nil
}

const apiKeyColumns = `id, organization_id, name, prefix, hash, created_at, last_used_at, revoked_at`

// CreateAPIKey implements impl.APIKeyService.
func (s *DB) CreateAPIKey(ctx context.Context, key *impl.APIKey) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Dialect difference: on PostgreSQL concurrent creates would each
		// count the same keys under READ COMMITTED and pass the cap together,
		// so they queue on the organization's row. SQLite's write transaction
		// is already exclusive.
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, s.rebind(`SELECT id FROM organizations WHERE id = ? FOR UPDATE`), key.OrganizationID); err != nil {
				return fmt.Errorf("lock organization: %w", err)
			}
		}
		var active int
		if err := tx.GetContext(ctx, &active, s.rebind(
			`SELECT COUNT(*) FROM api_keys WHERE organization_id = ? AND revoked_at IS NULL`), key.OrganizationID); err != nil {
			return fmt.Errorf("count api keys: %w", err)
		}
		if active >= impl.MaxActiveAPIKeys {
			return impl.Errorf(impl.EConflict,
				"The organization already has %d active API keys, the most it can have. Revoke one first.", active)
		}
		return s.insertAPIKey(ctx, tx, key)
	})
}

func (s *DB) insertAPIKey(ctx context.Context, tx *sqlx.Tx, key *impl.APIKey) error {
	key.CreatedAt = s.timestamp()
	key.LastUsedAt, key.RevokedAt = nil, nil
	err := tx.QueryRowxContext(ctx, s.rebind(
		`INSERT INTO api_keys (organization_id, name, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`),
		key.OrganizationID, key.Name, key.Prefix, key.Hash, key.CreatedAt).Scan(&key.ID)
	if isForeignKeyViolation(err) {
		return impl.Errorf(impl.ENotFound, "Organization %d not found.", key.OrganizationID)
	}
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

// ReplaceAPIKey implements impl.APIKeyService.
func (s *DB) ReplaceAPIKey(ctx context.Context, orgID, oldID int64, key *impl.APIKey) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var old impl.APIKey
		err := tx.GetContext(ctx, &old, s.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ? AND organization_id = ?`), oldID, orgID)
		if err != nil {
			return notFound(err, fmt.Sprintf("API key %d", oldID))
		}
		// The conditional update is what decides: of two replacements at
		// once, one revokes the key and the other finds it revoked.
		res, err := tx.ExecContext(ctx, s.rebind(
			`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND organization_id = ? AND revoked_at IS NULL`),
			s.timestamp(), oldID, orgID)
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.EConflict, "API key %d is revoked and cannot be regenerated. Create a new key instead.", oldID)
		}
		key.OrganizationID, key.Name = orgID, old.Name
		return s.insertAPIKey(ctx, tx, key)
	})
}

// FindAPIKeyByID implements impl.APIKeyService.
func (s *DB) FindAPIKeyByID(ctx context.Context, orgID, id int64) (*impl.APIKey, error) {
	var k impl.APIKey
	err := s.db.GetContext(ctx, &k, s.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ? AND organization_id = ?`), id, orgID)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("API key %d", id))
	}
	utcKey(&k)
	return &k, nil
}

// FindAPIKeys implements impl.APIKeyService.
func (s *DB) FindAPIKeys(ctx context.Context, orgID int64, status string, offset int64, limit int) ([]*impl.APIKey, int64, error) {
	cond := "organization_id = ?"
	switch status {
	case impl.APIKeyActive:
		cond += " AND revoked_at IS NULL"
	case impl.APIKeyRevoked:
		cond += " AND revoked_at IS NOT NULL"
	}
	var keys []*impl.APIKey
	total, err := s.page(ctx, &keys, "api_keys", apiKeyColumns, cond, "id", []any{orgID}, offset, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find api keys: %w", err)
	}
	for _, k := range keys {
		utcKey(k)
	}
	return keys, total, nil
}

// FindAPIKeysByPrefix implements impl.APIKeyService.
func (s *DB) FindAPIKeysByPrefix(ctx context.Context, prefix string) ([]*impl.APIKey, error) {
	var keys []*impl.APIKey
	err := s.db.SelectContext(ctx, &keys, s.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`), prefix)
	if err != nil {
		return nil, fmt.Errorf("find api keys: %w", err)
	}
	for _, k := range keys {
		utcKey(k)
	}
	return keys, nil
}

// ListAPIKeys implements impl.APIKeyService.
func (s *DB) ListAPIKeys(ctx context.Context, orgID int64) ([]*impl.APIKey, error) {
	var keys []*impl.APIKey
	err := s.db.SelectContext(ctx, &keys, s.rebind(
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE organization_id = ? ORDER BY id`), orgID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	for _, k := range keys {
		utcKey(k)
	}
	return keys, nil
}

// utcKey reports times in UTC whatever the session time zone of the database.
func utcKey(k *impl.APIKey) {
	k.CreatedAt = k.CreatedAt.UTC()
	for _, t := range []*time.Time{k.LastUsedAt, k.RevokedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
}

// RevokeAPIKey implements impl.APIKeyService.
func (s *DB) RevokeAPIKey(ctx context.Context, orgID, id int64) error {
	res, err := s.db.ExecContext(ctx, s.rebind(
		`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND organization_id = ?`),
		s.timestamp(), id, orgID)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return impl.Errorf(impl.ENotFound, "API key %d not found.", id)
	}
	return nil
}

// DeleteAPIKey implements impl.APIKeyService.
func (s *DB) DeleteAPIKey(ctx context.Context, orgID, id int64) error {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM api_keys WHERE id = ? AND organization_id = ?`), id, orgID)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return impl.Errorf(impl.ENotFound, "API key %d not found.", id)
	}
	return nil
}

// TouchAPIKey implements impl.APIKeyService.
func (s *DB) TouchAPIKey(ctx context.Context, id int64, t time.Time) error {
	t = t.UTC().Truncate(time.Microsecond)
	_, err := s.db.ExecContext(ctx, s.rebind(
		`UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`),
		t, id, t.Add(-impl.APIKeyTouchInterval))
	if err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	return nil
}
