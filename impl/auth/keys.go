// Package auth issues and checks API keys.
//
// A key is "sk_live_" followed by 32 random bytes in base62 (43 characters,
// zero-padded). The server stores only the key's SHA-256 and its first
// PrefixLen characters; the prefix is shown in listings and narrows the
// lookup, and the hash is compared in constant time.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

const (
	// KeyPrefix starts every live key.
	KeyPrefix = "sk_live_"
	// secretBytes of randomness make the body of a key.
	secretBytes = 32
	// bodyLen is the base62 length of secretBytes: ceil(256 / log2(62)) = 43.
	bodyLen = 43
	// KeyLen is the length of a whole key.
	KeyLen = len(KeyPrefix) + bodyLen
	// PrefixLen characters of a key are stored in clear for listing.
	PrefixLen = len(KeyPrefix) + 8
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewKey returns a fresh random key in its presentable form.
func NewKey() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	n := new(big.Int).SetBytes(b)
	body := make([]byte, bodyLen)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := bodyLen - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		body[i] = base62[mod.Int64()]
	}
	return KeyPrefix + string(body), nil
}

// Hash returns the stored form of a key.
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Prefix returns the visible part of a key.
func Prefix(key string) string {
	if len(key) < PrefixLen {
		return key
	}
	return key[:PrefixLen]
}

// wellFormed reports whether s can be a key at all, so that garbage never
// reaches the database.
func wellFormed(s string) bool {
	if len(s) != KeyLen || !strings.HasPrefix(s, KeyPrefix) {
		return false
	}
	for i := len(KeyPrefix); i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Issue creates a key for the organization and returns it with its plain
// text, which the caller shows once and then forgets.
func Issue(ctx context.Context, keys impl.APIKeyStore, orgID int64, name string) (*impl.APIKey, string, error) {
	plain, err := NewKey()
	if err != nil {
		return nil, "", err
	}
	k := &impl.APIKey{OrganizationID: orgID, Name: name, Prefix: Prefix(plain), Hash: Hash(plain)}
	if err := keys.CreateAPIKey(ctx, k); err != nil {
		return issued(k, plain, err)
	}
	return k, plain, nil
}

// Regenerate replaces the organization's key id with a new key of the same
// name: the old key stops working the moment the new one is stored. It
// returns the new key and its plain text, which the caller shows once.
func Regenerate(ctx context.Context, keys impl.APIKeyStore, orgID, id int64) (*impl.APIKey, string, error) {
	plain, err := NewKey()
	if err != nil {
		return nil, "", err
	}
	k := &impl.APIKey{Prefix: Prefix(plain), Hash: Hash(plain)}
	if err := keys.ReplaceAPIKey(ctx, orgID, id, k); err != nil {
		return issued(k, plain, err)
	}
	return k, plain, nil
}

// issued is what Issue and Regenerate return for the store's err: with
// impl.ErrDoneEarlier, the key an earlier try of the request stored, now
// with plain as its text, and the error, for the caller to answer it as a
// replay; with any other error, nothing.
func issued(k *impl.APIKey, plain string, err error) (*impl.APIKey, string, error) {
	if errors.Is(err, impl.ErrDoneEarlier) {
		return k, plain, err
	}
	return nil, "", err
}

// Authenticator resolves a presented key to the stored key it matches.
type Authenticator struct {
	Keys impl.APIKeyStore
	Now  func() time.Time
	// Cache, when set, answers for keys verified less than its TTL ago
	// without the database.
	Cache *KeyCache
	// Usage, when set, takes the writes of last_used_at of cached keys off
	// the request path; without it they are written before answering.
	Usage *UsageWriter
}

// Authenticate returns the live key matching presented, or an EUnauthorized
// error that says whether the key is malformed, unknown or revoked.
func (a *Authenticator) Authenticate(ctx context.Context, presented string) (*impl.APIKey, error) {
	if !wellFormed(presented) {
		return nil, impl.Errorf(impl.EUnauthorized, "Invalid API key.")
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	t := now()
	var sum [32]byte
	copy(sum[:], Hash(presented))
	var gen uint64
	if g, ok := a.Keys.(generation); ok {
		gen = g.KeysChanged() // read before the lookup: a change after it leaves the entry stale
	}
	if a.Cache != nil {
		if k, ok := a.Cache.get(sum, t, gen); ok {
			if touchDue(k, t) {
				a.Cache.noteUse(sum, t)
				if err := a.touch(ctx, k.ID, t); err != nil {
					return nil, err
				}
			}
			return k, nil
		}
	}
	candidates, err := a.Keys.FindAPIKeysByPrefix(ctx, Prefix(presented))
	if err != nil {
		return nil, err
	}
	var match *impl.APIKey
	for _, c := range candidates {
		if subtle.ConstantTimeCompare(sum[:], c.Hash) == 1 {
			match = c
		}
	}
	if match == nil {
		return nil, impl.Errorf(impl.EUnauthorized, "Invalid API key.")
	}
	if match.RevokedAt != nil {
		return nil, impl.Errorf(impl.EUnauthorized, "This API key has been revoked.")
	}
	// The key was just read, so the common case (used within the interval)
	// costs no write: on SQLite a write would queue every request behind
	// the one write lock. A key read from the database is touched before
	// the answer, so that its first use is visible at once.
	if touchDue(match, t) {
		if err := a.Keys.TouchAPIKey(ctx, match.ID, t); err != nil {
			return nil, err
		}
		match.LastUsedAt = &t
	}
	if a.Cache != nil {
		a.Cache.put(sum, match, t, gen)
	}
	return match, nil
}

func touchDue(k *impl.APIKey, t time.Time) bool {
	return k.LastUsedAt == nil || t.Sub(*k.LastUsedAt) >= impl.APIKeyTouchInterval
}

// touch records a cached key's use: queued when a UsageWriter is set,
// written now otherwise.
func (a *Authenticator) touch(ctx context.Context, id int64, t time.Time) error {
	if a.Usage != nil {
		a.Usage.add(id, t)
		return nil
	}
	return a.Keys.TouchAPIKey(ctx, id, t)
}
