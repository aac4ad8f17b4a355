package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

var (
	_ impl.UserService    = (*DB)(nil)
	_ impl.SessionService = (*DB)(nil)
	_ impl.LoginThrottle  = (*DB)(nil)
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

// CreateUser implements impl.UserService.
func (s *DB) CreateUser(ctx context.Context, u *impl.User) error {
	u.Email = normalizeEmail(u.Email)
	u.CreatedAt = s.timestamp()
	err := s.db.QueryRowxContext(ctx, s.rebind(
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

// FindUserByEmail implements impl.UserService.
func (s *DB) FindUserByEmail(ctx context.Context, email string) (*impl.User, error) {
	var u impl.User
	err := s.db.GetContext(ctx, &u, s.rebind(`SELECT `+userColumns+` FROM users WHERE email = ?`), normalizeEmail(email))
	if err != nil {
		return nil, notFound(err, "User")
	}
	utcUser(&u)
	return &u, nil
}

// ListUsers implements impl.UserService.
func (s *DB) ListUsers(ctx context.Context, orgID int64) ([]*impl.User, error) {
	var users []*impl.User
	err := s.db.SelectContext(ctx, &users, s.rebind(
		`SELECT `+userColumns+` FROM users WHERE organization_id = ? ORDER BY id`), orgID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for _, u := range users {
		utcUser(u)
	}
	return users, nil
}

// SetUserPassword implements impl.UserService.
func (s *DB) SetUserPassword(ctx context.Context, userID int64, hash string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.rebind(`UPDATE users SET password_hash = ? WHERE id = ?`), hash, userID)
		if err != nil {
			return fmt.Errorf("set user password: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set user password: %w", err)
		} else if n == 0 {
			return impl.Errorf(impl.ENotFound, "User %d not found.", userID)
		}
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM sessions WHERE user_id = ?`), userID); err != nil {
			return fmt.Errorf("end user sessions: %w", err)
		}
		return nil
	})
}

// RecordLogin implements impl.UserService. It returns ENotFound if the user
// does not exist.
func (s *DB) RecordLogin(ctx context.Context, userID int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.rebind(`UPDATE users SET last_login_at = ? WHERE id = ?`), microUTC(at), userID)
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

// CreateSession implements impl.SessionService. Its times are stored, and
// left in sess, in UTC to the microsecond. The row is made only if the user
// belongs to sess.OrganizationID, so a session can never act for an
// organization its user is not in; otherwise it returns ENotFound.
func (s *DB) CreateSession(ctx context.Context, sess *impl.Session) error {
	sess.CreatedAt = microUTC(sess.CreatedAt)
	sess.LastSeenAt = microUTC(sess.LastSeenAt)
	sess.ExpiresAt = microUTC(sess.ExpiresAt)
	err := s.db.QueryRowxContext(ctx, s.rebind(
		`INSERT INTO sessions (token_hash, user_id, organization_id, csrf_token, created_at, last_seen_at, expires_at)
		SELECT ?, id, organization_id, ?, ?, ?, ? FROM users WHERE id = ? AND organization_id = ?
		RETURNING id`),
		sess.TokenHash, sess.CSRFToken, sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt,
		sess.UserID, sess.OrganizationID).Scan(&sess.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return impl.Errorf(impl.ENotFound, "User %d not found in organization %d.", sess.UserID, sess.OrganizationID)
	case isUniqueViolation(err):
		return impl.Errorf(impl.EConflict, "A session with that token already exists.")
	case err != nil:
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// FindSession implements impl.SessionService.
func (s *DB) FindSession(ctx context.Context, tokenHash []byte) (*impl.Session, *impl.User, error) {
	var sess impl.Session
	var u impl.User
	err := s.db.QueryRowxContext(ctx, s.rebind(
		`SELECT s.id, s.token_hash, s.user_id, s.organization_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at,
			u.id, u.organization_id, u.email, u.name, u.password_hash, u.created_at, u.last_login_at
		FROM sessions s JOIN users u ON u.id = s.user_id AND u.organization_id = s.organization_id
		WHERE s.token_hash = ?`), tokenHash).Scan(
		&sess.ID, &sess.TokenHash, &sess.UserID, &sess.OrganizationID, &sess.CSRFToken,
		&sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt,
		&u.ID, &u.OrganizationID, &u.Email, &u.Name, &u.PasswordHash, &u.CreatedAt, &u.LastLoginAt)
	if err != nil {
		return nil, nil, notFound(err, "Session")
	}
	sess.CreatedAt = sess.CreatedAt.UTC()
	sess.LastSeenAt = sess.LastSeenAt.UTC()
	sess.ExpiresAt = sess.ExpiresAt.UTC()
	utcUser(&u)
	return &sess, &u, nil
}

// TouchSession implements impl.SessionService. An older t than the one
// recorded never moves LastSeenAt back (concurrent requests of one browser
// finish in any order); touching a session that is gone is not an error.
func (s *DB) TouchSession(ctx context.Context, id int64, t time.Time) error {
	t = microUTC(t)
	_, err := s.db.ExecContext(ctx, s.rebind(
		`UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`), t, id, t)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession implements impl.SessionService.
func (s *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM sessions WHERE token_hash = ?`), tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements impl.SessionService.
func (s *DB) DeleteExpiredSessions(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.rebind(`DELETE FROM sessions WHERE expires_at < ?`), microUTC(t))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// RecordLoginFailure implements impl.LoginThrottle. A key repeated in keys
// counts once.
func (s *DB) RecordLoginFailure(ctx context.Context, keys []string, t time.Time) error {
	keys = distinct(keys)
	if len(keys) == 0 {
		return nil
	}
	t = microUTC(t)
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		insert := s.rebind(`INSERT INTO login_failures (key, failed_at) VALUES (?, ?)`)
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, insert, k, t); err != nil {
				return fmt.Errorf("record login failure: %w", err)
			}
		}
		// Housekeeping: failures older than loginFailureRetention count in no
		// window, so each new failure sweeps them away; nothing else has to.
		if _, err := tx.ExecContext(ctx, s.rebind(`DELETE FROM login_failures WHERE failed_at < ?`),
			t.Add(-loginFailureRetention)); err != nil {
			return fmt.Errorf("forget old login failures: %w", err)
		}
		return nil
	})
}

// CountLoginFailures implements impl.LoginThrottle. since should be within
// loginFailureRetention of the latest failure, or older failures will have
// been forgotten.
func (s *DB) CountLoginFailures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	// dialect: MIN(failed_at) would come back from SQLite as text (an
	// aggregate has no declared type), so take the oldest row itself, which
	// keeps its DATETIME type, and the count as a window over all the rows.
	var row struct {
		FailedAt time.Time `db:"failed_at"`
		N        int       `db:"n"`
	}
	err := s.db.QueryRowxContext(ctx, s.rebind(
		`SELECT failed_at, COUNT(*) OVER () AS n FROM login_failures
		WHERE key = ? AND failed_at >= ? ORDER BY failed_at LIMIT 1`), key, microUTC(since)).StructScan(&row)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count login failures: %w", err)
	}
	return row.N, row.FailedAt.UTC(), nil
}

// ClearLoginFailures implements impl.LoginThrottle.
func (s *DB) ClearLoginFailures(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	query, args, err := sqlx.In(`DELETE FROM login_failures WHERE key IN (?)`, keys)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.rebind(query), args...); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

func distinct(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
