package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// CreateSession implements impl.SessionStore. Its times are stored, and
// left in sess, in UTC to the microsecond. The row is made only if the user
// belongs to sess.OrganizationID, so a session can never act for an
// organization its user is not in; otherwise it returns ENotFound.
func (s *SessionStore) CreateSession(ctx context.Context, sess *impl.Session) error {
	sess.CreatedAt = microUTC(sess.CreatedAt)
	sess.LastSeenAt = microUTC(sess.LastSeenAt)
	sess.ExpiresAt = microUTC(sess.ExpiresAt)
	err := s.db.pool.QueryRowxContext(ctx, s.db.rebind(
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

// FindSession implements impl.SessionStore.
func (s *SessionStore) FindSession(ctx context.Context, tokenHash []byte) (*impl.Session, *impl.User, error) {
	var sess impl.Session
	var u impl.User
	err := s.db.pool.QueryRowxContext(ctx, s.db.rebind(
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

// TouchSession implements impl.SessionStore. An older t than the one
// recorded never moves LastSeenAt back (concurrent requests of one browser
// finish in any order); touching a session that is gone is not an error.
func (s *SessionStore) TouchSession(ctx context.Context, id int64, t time.Time) error {
	t = microUTC(t)
	_, err := s.db.pool.ExecContext(ctx, s.db.rebind(
		`UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`), t, id, t)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession implements impl.SessionStore.
func (s *SessionStore) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.db.pool.ExecContext(ctx, s.db.rebind(`DELETE FROM sessions WHERE token_hash = ?`), tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements impl.SessionStore.
func (s *SessionStore) DeleteExpiredSessions(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.pool.ExecContext(ctx, s.db.rebind(`DELETE FROM sessions WHERE expires_at < ?`), microUTC(t))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}
