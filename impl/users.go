package impl

import (
	"context"
	"time"
)

// MaxEmailBytes is the longest e-mail a user may have: the longest address
// SMTP carries, and the spec's maxLength for a lead's e-mail.
const MaxEmailBytes = 254

// User is a person who signs in to the dashboard. A user belongs to exactly
// one organization and acts for it.
type User struct {
	ID             int64      `db:"id"`
	OrganizationID int64      `db:"organization_id"`
	Email          string     `db:"email"` // lower case, unique across organizations
	Name           string     `db:"name"`
	PasswordHash   string     `db:"password_hash"` // an argon2id PHC string; never the password
	CreatedAt      time.Time  `db:"created_at"`
	LastLoginAt    *time.Time `db:"last_login_at"`
}

// UserStore stores dashboard users.
type UserStore interface {
	// CreateUser stores u (its Email lower-cased, PasswordHash set) and fills
	// in its ID and CreatedAt. It returns EConflict if the e-mail is taken and
	// ENotFound if the organization does not exist.
	CreateUser(ctx context.Context, u *User) error
	// FindUserByEmail returns the user with that e-mail (compared in lower
	// case), or ENotFound.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns the organization's users, oldest first.
	ListUsers(ctx context.Context, orgID int64) ([]*User, error)
	// SetUserPassword replaces the user's password hash and ends all of the
	// user's sessions, in one transaction. It returns ENotFound.
	SetUserPassword(ctx context.Context, userID int64, hash string) error
	// RecordLogin sets the user's LastLoginAt.
	RecordLogin(ctx context.Context, userID int64, at time.Time) error
}

// Session is a signed-in browser. The cookie carries a random token; the
// store keeps only its SHA-256 (TokenHash), so a copy of the database
// cannot be used to sign in.
type Session struct {
	ID             int64  `db:"id"`
	TokenHash      []byte `db:"token_hash"`
	UserID         int64  `db:"user_id"`
	OrganizationID int64  `db:"organization_id"`
	// CSRFToken is the synchronizer token every form POST of the session
	// must carry.
	CSRFToken  string    `db:"csrf_token"`
	CreatedAt  time.Time `db:"created_at"`
	LastSeenAt time.Time `db:"last_seen_at"`
	// ExpiresAt is the absolute end of the session, whatever its activity.
	ExpiresAt time.Time `db:"expires_at"`
}

// SessionStore stores dashboard sessions.
type SessionStore interface {
	// CreateSession stores s (TokenHash, UserID, OrganizationID, CSRFToken,
	// CreatedAt, LastSeenAt and ExpiresAt set) and fills in its ID.
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the session with that token hash and its user, or
	// ENotFound. It does not judge expiry: the caller does.
	FindSession(ctx context.Context, tokenHash []byte) (*Session, *User, error)
	// TouchSession records activity at t.
	TouchSession(ctx context.Context, id int64, t time.Time) error
	// DeleteSession ends the session; ending one that is gone is not an error.
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// DeleteExpiredSessions removes sessions whose ExpiresAt is before t and
	// returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int64, error)
}

// LoginFailureStore counts failed sign-ins per key (an e-mail, an address,
// or both), in the database so that every replica sees the same counts.
type LoginFailureStore interface {
	// RecordLoginFailure counts a failure for each key at t.
	RecordLoginFailure(ctx context.Context, keys []string, t time.Time) error
	// CountLoginFailures returns the failures of key since t, and the time
	// of the oldest of them (zero when there are none).
	CountLoginFailures(ctx context.Context, key string, since time.Time) (int, time.Time, error)
	// ClearLoginFailures forgets the failures of the keys.
	ClearLoginFailures(ctx context.Context, keys []string) error
}
