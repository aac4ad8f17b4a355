package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

const apiKeyColumns = `id, organization_id, name, prefix, hash, created_at, last_used_at, revoked_at`

// CreateAPIKey implements impl.APIKeyStore. A key created under an
// Idempotency-Key (impl.IdempotencyKey of ctx) keeps it; see reissue for its
// retry.
func (s *APIKeyStore) CreateAPIKey(ctx context.Context, key *impl.APIKey) error {
	var done bool
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.db.lockOrganization(ctx, tx, key.OrganizationID); err != nil {
			return err
		}
		var err error
		if done, err = s.reissue(ctx, tx, key.OrganizationID, key); err != nil || done {
			return err
		}
		var active int
		if err := tx.GetContext(ctx, &active, s.db.rebind(
			`SELECT COUNT(*) FROM api_keys WHERE organization_id = ? AND revoked_at IS NULL`), key.OrganizationID); err != nil {
			return fmt.Errorf("count api keys: %w", err)
		}
		if err := impl.CheckAPIKeyCap(active); err != nil {
			return err
		}
		return s.insertAPIKey(ctx, tx, key)
	})
	if err == nil && done {
		return impl.ErrDoneEarlier
	}
	return err
}

// reissue finds, when ctx carries an Idempotency-Key, the organization's
// live key that a request with it created (or regenerated) within
// impl.IdempotencyTTL and that has not been used: that request's answer was
// lost after its commit, so the key's plain text was never shown, and it is
// not kept. The key is given key's new Prefix and Hash in place, and key
// takes its id, name and creation time; reissue then reports true, for the
// caller to answer impl.ErrDoneEarlier. A key that has authenticated a
// request was seen, and is left alone.
func (s *APIKeyStore) reissue(ctx context.Context, tx *sqlx.Tx, orgID int64, key *impl.APIKey) (bool, error) {
	idem := impl.IdempotencyKey(ctx)
	if idem == "" {
		return false, nil
	}
	now := s.db.timestamp()
	id, err := createdUnderKey(ctx, s.db, tx, `api_keys`, orgID, idem, now, `revoked_at IS NULL`, `last_used_at IS NULL`)
	if err != nil || id == 0 {
		return false, err
	}
	var earlier impl.APIKey
	if err := tx.GetContext(ctx, &earlier, s.db.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`), id); err != nil {
		return false, fmt.Errorf("find api key: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE api_keys SET prefix = ?, hash = ? WHERE id = ?`), key.Prefix, key.Hash, id); err != nil {
		return false, fmt.Errorf("reissue api key: %w", err)
	}
	utcKey(&earlier)
	key.ID, key.OrganizationID, key.Name, key.CreatedAt = id, orgID, earlier.Name, earlier.CreatedAt
	key.LastUsedAt, key.RevokedAt = nil, nil
	// Its unseen plain text stops working, on every replica.
	return true, s.db.keyChanged(ctx, tx, id)
}

func (s *APIKeyStore) insertAPIKey(ctx context.Context, tx *sqlx.Tx, key *impl.APIKey) error {
	key.CreatedAt = s.db.timestamp()
	key.LastUsedAt, key.RevokedAt = nil, nil
	err := tx.QueryRowxContext(ctx, s.db.rebind(
		`INSERT INTO api_keys (organization_id, name, prefix, hash, idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`),
		key.OrganizationID, key.Name, key.Prefix, key.Hash, nullString(impl.IdempotencyKey(ctx)), key.CreatedAt).Scan(&key.ID)
	if isForeignKeyViolation(err) {
		return impl.Errorf(impl.ENotFound, "Organization %d not found.", key.OrganizationID)
	}
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

// ReplaceAPIKey implements impl.APIKeyStore. The new key keeps the request's
// Idempotency-Key, and its retry finds it as CreateAPIKey's does (reissue),
// rather than ErrAPIKeyRevoked for the key it replaced.
func (s *APIKeyStore) ReplaceAPIKey(ctx context.Context, orgID, oldID int64, key *impl.APIKey) error {
	var done bool
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var old impl.APIKey
		err := tx.GetContext(ctx, &old, s.db.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ? AND organization_id = ?`), oldID, orgID)
		if err != nil {
			return notFound(err, fmt.Sprintf("API key %d", oldID))
		}
		if done, err = s.reissue(ctx, tx, orgID, key); err != nil || done {
			return err
		}
		// The conditional update is what decides: of two replacements at
		// once, one revokes the key and the other finds it revoked.
		res, err := tx.ExecContext(ctx, s.db.rebind(
			`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND organization_id = ? AND revoked_at IS NULL`),
			s.db.timestamp(), oldID, orgID)
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.ErrAPIKeyRevoked(oldID)
		}
		key.OrganizationID, key.Name = orgID, old.Name
		if err := s.insertAPIKey(ctx, tx, key); err != nil {
			return err
		}
		return s.db.keyChanged(ctx, tx, oldID)
	})
	if err == nil && done {
		return impl.ErrDoneEarlier
	}
	return err
}

// FindAPIKeyByID implements impl.APIKeyStore.
func (s *APIKeyStore) FindAPIKeyByID(ctx context.Context, orgID, id int64) (*impl.APIKey, error) {
	var k impl.APIKey
	err := s.db.pool.GetContext(ctx, &k, s.db.rebind(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ? AND organization_id = ?`), id, orgID)
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("API key %d", id))
	}
	utcKey(&k)
	return &k, nil
}

// FindAPIKeys implements impl.APIKeyStore.
func (s *APIKeyStore) FindAPIKeys(ctx context.Context, orgID int64, status string, offset int64, limit int) ([]*impl.APIKey, int64, error) {
	cond := "organization_id = ?"
	switch status {
	case impl.APIKeyActive:
		cond += " AND revoked_at IS NULL"
	case impl.APIKeyRevoked:
		cond += " AND revoked_at IS NOT NULL"
	}
	var keys []*impl.APIKey
	total, err := s.db.page(ctx, &keys, "api_keys", apiKeyColumns, cond, "id", []any{orgID}, offset, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find api keys: %w", err)
	}
	for _, k := range keys {
		utcKey(k)
	}
	return keys, total, nil
}

// FindAPIKeysByPrefix implements impl.APIKeyStore.
func (s *APIKeyStore) FindAPIKeysByPrefix(ctx context.Context, prefix string) ([]*impl.APIKey, error) {
	var keys []*impl.APIKey
	err := s.db.selectAll(ctx, &keys, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix)
	if err != nil {
		return nil, fmt.Errorf("find api keys: %w", err)
	}
	for _, k := range keys {
		utcKey(k)
	}
	return keys, nil
}

// ListAPIKeys implements impl.APIKeyStore.
func (s *APIKeyStore) ListAPIKeys(ctx context.Context, orgID int64) ([]*impl.APIKey, error) {
	var keys []*impl.APIKey
	err := s.db.pool.SelectContext(ctx, &keys, s.db.rebind(
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

// RevokeAPIKey implements impl.APIKeyStore.
func (s *APIKeyStore) RevokeAPIKey(ctx context.Context, orgID, id int64) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.rebind(
			`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND organization_id = ?`),
			s.db.timestamp(), id, orgID)
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "API key %d not found.", id)
		}
		return s.db.keyChanged(ctx, tx, id)
	})
}

// DeleteAPIKey implements impl.APIKeyStore.
func (s *APIKeyStore) DeleteAPIKey(ctx context.Context, orgID, id int64) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.rebind(`DELETE FROM api_keys WHERE id = ? AND organization_id = ?`), id, orgID)
		if err != nil {
			return fmt.Errorf("delete api key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return impl.Errorf(impl.ENotFound, "API key %d not found.", id)
		}
		return s.db.keyChanged(ctx, tx, id)
	})
}

// TouchAPIKey implements impl.APIKeyStore.
func (s *APIKeyStore) TouchAPIKey(ctx context.Context, id int64, t time.Time) error {
	t = t.UTC().Truncate(time.Microsecond)
	_, err := s.db.execStmt(ctx, nil,
		`UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		t, id, t.Add(-impl.APIKeyTouchInterval))
	if err != nil {
		return fmt.Errorf("touch api key: %w", err)
	}
	return nil
}
