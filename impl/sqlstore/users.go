package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

// loginFailureRetention is how long a failed sign-in is kept. A throttle
// window longer than this would undercount.
const loginFailureRetention = 24 * time.Hour

// microUTC is t as the store keeps it: UTC, to the microsecond. Times bound
// as parameters go through it too, so that SQLite, which compares the text
// of its DATETIME values, compares like PostgreSQL.
func microUTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// normalizeEmail is the stored form of an e-mail address.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

const userColumns = `id, organization_id, email, name, password_hash, created_at, last_login_at`

func utcUser(u *impl.User) {
	u.CreatedAt = u.CreatedAt.UTC()
	u.LastLoginAt = utcPtr(u.LastLoginAt)
}

// CreateUser implements impl.UserStore.
func (s *UserStore) CreateUser(ctx context.Context, u *impl.User) error {
	u.Email = normalizeEmail(u.Email)
	u.CreatedAt = s.db.timestamp()
	err := s.db.pool.QueryRowxContext(ctx, s.db.rebind(
		`INSERT INTO users (organization_id, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`),
		u.OrganizationID, u.Email, u.Name, u.PasswordHash, u.CreatedAt).Scan(&u.ID)
	switch {
	case isUniqueViolation(err):
		return impl.Errorf(impl.EConflict, "A user with e-mail %s already exists.", u.Email)
	case isForeignKeyViolation(err):
		return impl.Errorf(impl.ENotFound, "Organization %d not found.", u.OrganizationID)
	case err != nil:
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// FindUserByEmail implements impl.UserStore.
func (s *UserStore) FindUserByEmail(ctx context.Context, email string) (*impl.User, error) {
	var u impl.User
	err := s.db.pool.GetContext(ctx, &u, s.db.rebind(`SELECT `+userColumns+` FROM users WHERE email = ?`), normalizeEmail(email))
	if err != nil {
		return nil, notFound(err, "User")
	}
	utcUser(&u)
	return &u, nil
}

// ListUsers implements impl.UserStore.
func (s *UserStore) ListUsers(ctx context.Context, orgID int64) ([]*impl.User, error) {
	var users []*impl.User
	err := s.db.pool.SelectContext(ctx, &users, s.db.rebind(
		`SELECT `+userColumns+` FROM users WHERE organization_id = ? ORDER BY id`), orgID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for _, u := range users {
		utcUser(u)
	}
	return users, nil
}

// SetUserPassword implements impl.UserStore.
func (s *UserStore) SetUserPassword(ctx context.Context, userID int64, hash string) error {
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE users SET password_hash = ? WHERE id = ?`), hash, userID)
		if err != nil {
			return fmt.Errorf("set user password: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set user password: %w", err)
		} else if n == 0 {
			return impl.Errorf(impl.ENotFound, "User %d not found.", userID)
		}
		if _, err := tx.ExecContext(ctx, s.db.rebind(`DELETE FROM sessions WHERE user_id = ?`), userID); err != nil {
			return fmt.Errorf("end user sessions: %w", err)
		}
		return nil
	})
}

// RecordLogin implements impl.UserStore. It returns ENotFound if the user
// does not exist.
func (s *UserStore) RecordLogin(ctx context.Context, userID int64, at time.Time) error {
	res, err := s.db.pool.ExecContext(ctx, s.db.rebind(`UPDATE users SET last_login_at = ? WHERE id = ?`), microUTC(at), userID)
	if err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("record login: %w", err)
	} else if n == 0 {
		return impl.Errorf(impl.ENotFound, "User %d not found.", userID)
	}
	return nil
}
