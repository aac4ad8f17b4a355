package impl

import (
	"context"
	"time"
)

// Organization is a tenant. Every piece of tenant data belongs to exactly one.
type Organization struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
}

// APIKey is an organization's credential for the REST API. The secret itself
// is never stored: only its SHA-256 (Hash) and a short visible Prefix that
// identifies it in listings and narrows the lookup.
type APIKey struct {
	ID             int64      `db:"id"`
	OrganizationID int64      `db:"organization_id"`
	Name           string     `db:"name"`
	Prefix         string     `db:"prefix"`
	Hash           []byte     `db:"hash"`
	CreatedAt      time.Time  `db:"created_at"`
	LastUsedAt     *time.Time `db:"last_used_at"`
	RevokedAt      *time.Time `db:"revoked_at"`
}

// OrganizationStore stores organizations.
type OrganizationStore interface {
	// CreateOrganization stores a new organization and fills in its ID.
	CreateOrganization(ctx context.Context, org *Organization) error
	// FindOrganizationByID returns the organization, or ENotFound.
	FindOrganizationByID(ctx context.Context, id int64) (*Organization, error)
	// CountOrganizations returns how many organizations exist.
	CountOrganizations(ctx context.Context) (int64, error)
}

// APIKeyTouchInterval bounds how stale an API key's LastUsedAt may be: it is
// written at most once per interval, not on every request.
const APIKeyTouchInterval = time.Minute

// MaxActiveAPIKeys is how many unrevoked keys an organization may have.
const MaxActiveAPIKeys = 100

// CheckAPIKeyCap returns EConflict when an organization that already has
// active unrevoked keys may not have another.
func CheckAPIKeyCap(active int) error {
	if active >= MaxActiveAPIKeys {
		return Errorf(EConflict,
			"The organization already has %d active API keys, the most it can have. Revoke one first.", active)
	}
	return nil
}

// MaxWebhooks is how many webhooks an organization may have, its default
// webhook included. Every event is queued once for each webhook subscribed
// to it, in the transaction that wrote it: the cap bounds what one write
// costs the database.
const MaxWebhooks = 20

// CheckWebhookCap returns EConflict when an organization that already has
// count webhooks may not have another.
func CheckWebhookCap(count int) error {
	if count >= MaxWebhooks {
		return Errorf(EConflict, "The organization already has %d webhooks, the most it can have. Delete one first.", count)
	}
	return nil
}

// ErrAPIKeyRevoked is the conflict of regenerating a key that is revoked.
func ErrAPIKeyRevoked(id int64) *Error {
	return Errorf(EConflict, "API key %d is revoked and cannot be regenerated. Create a new key instead.", id)
}

// API key statuses, as the list filters them.
const (
	APIKeyActive  = "active"
	APIKeyRevoked = "revoked"
)

// APIKeyStore stores API keys.
type APIKeyStore interface {
	// CreateAPIKey stores key (its Hash and Prefix already set) and fills in
	// its ID and CreatedAt. It returns ENotFound if the organization does not
	// exist and CheckAPIKeyCap's error when it has no room for another key;
	// concurrent creates cannot pass the cap together. If a request with
	// ctx's Idempotency-Key created (or regenerated) a live key within
	// IdempotencyTTL that has never authenticated a request, that key takes
	// key's Hash and Prefix in place, key is filled in as it, and the error
	// is ErrDoneEarlier: its first text was never shown.
	CreateAPIKey(ctx context.Context, key *APIKey) error
	// ReplaceAPIKey revokes the organization's key oldID and stores key (its
	// Hash and Prefix set) under the old key's name, in one transaction. It
	// returns ENotFound, or ErrAPIKeyRevoked if oldID is already revoked.
	// The key a request with ctx's Idempotency-Key stored is found again as
	// CreateAPIKey finds it, before oldID's revocation is looked at.
	ReplaceAPIKey(ctx context.Context, orgID, oldID int64, key *APIKey) error
	// FindAPIKeyByID returns the organization's key, or ENotFound.
	FindAPIKeyByID(ctx context.Context, orgID, id int64) (*APIKey, error)
	// FindAPIKeys returns one page of the organization's keys, oldest first,
	// and the total; status, when not empty, is APIKeyActive or APIKeyRevoked.
	FindAPIKeys(ctx context.Context, orgID int64, status string, offset int64, limit int) ([]*APIKey, int64, error)
	// FindAPIKeysByPrefix returns every key, revoked or not, with that prefix.
	FindAPIKeysByPrefix(ctx context.Context, prefix string) ([]*APIKey, error)
	// ListAPIKeys returns the organization's keys, oldest first.
	ListAPIKeys(ctx context.Context, orgID int64) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked from now on. It returns ENotFound if
	// the organization has no such key; revoking twice is not an error.
	RevokeAPIKey(ctx context.Context, orgID, id int64) error
	// DeleteAPIKey removes the organization's key, which stops working at
	// once. It returns ENotFound.
	DeleteAPIKey(ctx context.Context, orgID, id int64) error
	// TouchAPIKey records that the key was used at t, unless the recorded
	// time is less than APIKeyTouchInterval older.
	TouchAPIKey(ctx context.Context, id int64, t time.Time) error
}
