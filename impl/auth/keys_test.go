package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/teststores"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func TestNewKeyFormat(t *testing.T) {
	const n = 2000
	seen := make(map[string]bool, n)
	prefixes := make(map[string]bool, n)
	used := map[rune]bool{}
	for range n {
		key, err := auth.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != auth.KeyLen || auth.KeyLen != len("sk_live_")+43 {
			t.Fatalf("key %q has length %d, want %d", key, len(key), len("sk_live_")+43)
		}
		body, ok := strings.CutPrefix(key, "sk_live_")
		if !ok {
			t.Fatalf("key %q does not start with sk_live_", key)
		}
		for _, r := range body {
			if !strings.ContainsRune(base62, r) {
				t.Fatalf("key %q has %q, not a base62 character", key, r)
			}
			used[r] = true
		}
		if seen[key] {
			t.Fatalf("NewKey returned %q twice", key)
		}
		seen[key] = true
		prefixes[auth.Prefix(key)] = true
	}
	// Every digit shows up, so the encoding is not stuck on part of the
	// alphabet, and the visible prefixes are (almost always) distinct, so
	// they narrow the lookup.
	if len(used) != 62 {
		t.Errorf("keys use %d distinct characters, want all 62", len(used))
	}
	if len(prefixes) < n-5 {
		t.Errorf("%d keys have only %d distinct prefixes", n, len(prefixes))
	}
}

func TestHashAndPrefix(t *testing.T) {
	key, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(key))
	if got := auth.Hash(key); !bytes.Equal(got, sum[:]) {
		t.Errorf("Hash = %x, want the SHA-256 %x", got, sum)
	}
	other := key[:len(key)-1] + flip(key[len(key)-1])
	if bytes.Equal(auth.Hash(key), auth.Hash(other)) {
		t.Error("keys differing in the last character hash the same")
	}
	if got := auth.Prefix(key); got != key[:auth.PrefixLen] || auth.PrefixLen != len("sk_live_")+8 {
		t.Errorf("Prefix = %q, want the first %d characters %q", got, len("sk_live_")+8, key[:16])
	}
	if auth.Prefix(key) != auth.Prefix(other) {
		t.Error("keys differing in the last character have different prefixes")
	}
	if got := auth.Prefix("sk_live_x"); got != "sk_live_x" {
		t.Errorf("Prefix of a short string = %q, want it unchanged", got)
	}
	// The stored prefix must not reveal the secret body beyond 8 characters.
	if strings.Contains(auth.Prefix(key), key[auth.PrefixLen:]) {
		t.Error("prefix contains the rest of the key")
	}
}

// flip returns a base62 character other than c.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

// fixedClock is a settable clock.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

type env struct {
	db    *sqlstore.Stores
	clock *fixedClock
	auth  *auth.Authenticator
	orgA  int64
	orgB  int64
}

func setup(t *testing.T, url string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{db: teststores.Open(t, url), clock: &fixedClock{t: time.Date(2026, 3, 13, 14, 2, 11, 123456789, time.UTC)}}
	e.auth = &auth.Authenticator{Keys: e.db.APIKeys, Now: e.clock.Now}
	for _, id := range []*int64{&e.orgA, &e.orgB} {
		org := &impl.Organization{Name: "org"}
		if err := e.db.Organizations.CreateOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		*id = org.ID
	}
	return e
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := impl.ErrorCode(err); got != code {
		t.Errorf("error %v has code %q, want %q", err, got, code)
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := setup(t, d.URL)
			key, plain, err := auth.Issue(ctx, e.db.APIKeys, e.orgA, "CRM")
			if err != nil {
				t.Fatal(err)
			}
			if key.ID == 0 || key.OrganizationID != e.orgA || key.Name != "CRM" ||
				key.Prefix != auth.Prefix(plain) || !bytes.Equal(key.Hash, auth.Hash(plain)) {
				t.Fatalf("Issue returned %+v for %q", key, plain)
			}
			keyB, plainB, err := auth.Issue(ctx, e.db.APIKeys, e.orgB, "ERP")
			if err != nil {
				t.Fatal(err)
			}

			t.Run("valid key", func(t *testing.T) {
				got, err := e.auth.Authenticate(ctx, plain)
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != key.ID || got.OrganizationID != e.orgA {
					t.Errorf("got key %d of org %d, want key %d of org %d", got.ID, got.OrganizationID, key.ID, e.orgA)
				}
				got, err = e.auth.Authenticate(ctx, plainB)
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != keyB.ID || got.OrganizationID != e.orgB {
					t.Errorf("got key %d of org %d, want key %d of org %d", got.ID, got.OrganizationID, keyB.ID, e.orgB)
				}
			})

			t.Run("refused keys", func(t *testing.T) {
				unknown, _ := auth.NewKey()
				last := plain[len(plain)-1]
				refused := map[string]string{
					"unknown well-formed key":    unknown,
					"last character differs":     plain[:len(plain)-1] + flip(last),
					"empty":                      "",
					"prefix only":                auth.Prefix(plain),
					"one character short":        plain[:len(plain)-1],
					"one character long":         plain + "0",
					"test key":                   "sk_test_" + plain[len("sk_live_"):],
					"upper-case prefix":          "SK_LIVE_" + plain[len("sk_live_"):],
					"leading space":              " " + plain[:len(plain)-1],
					"trailing newline":           plain[:len(plain)-1] + "\n",
					"non-base62 character":       plain[:len(plain)-1] + "-",
					"NUL":                        plain[:len(plain)-1] + "\x00",
					"multi-byte character":       plain[:len(plain)-2] + "é",
					"the hash itself":            string(key.Hash),
					"bearer keyword left in":     "Bearer " + plain,
					"another key's prefix+body":  auth.Prefix(plainB) + plain[auth.PrefixLen:],
					"the key with swapped cases": swapCase(plain),
				}
				for name, presented := range refused {
					got, err := e.auth.Authenticate(ctx, presented)
					if got != nil || impl.ErrorCode(err) != impl.EUnauthorized {
						t.Errorf("%s (%q): got %+v, %v; want unauthorized", name, presented, got, err)
					}
				}
			})

			t.Run("revoked key", func(t *testing.T) {
				_, plainC, err := auth.Issue(ctx, e.db.APIKeys, e.orgA, "old")
				if err != nil {
					t.Fatal(err)
				}
				keys, _ := e.db.APIKeys.ListAPIKeys(ctx, e.orgA)
				var id int64
				for _, k := range keys {
					if k.Name == "old" {
						id = k.ID
					}
				}
				if _, err := e.auth.Authenticate(ctx, plainC); err != nil {
					t.Fatalf("before revoking: %v", err)
				}
				if err := e.db.APIKeys.RevokeAPIKey(ctx, e.orgA, id); err != nil {
					t.Fatal(err)
				}
				got, err := e.auth.Authenticate(ctx, plainC)
				if got != nil {
					t.Errorf("revoked key authenticated as %+v", got)
				}
				wantCode(t, err, impl.EUnauthorized)
				// The other keys of the organization still work.
				if _, err := e.auth.Authenticate(ctx, plain); err != nil {
					t.Errorf("a sibling key stopped working: %v", err)
				}
			})

			t.Run("last_used_at", func(t *testing.T) {
				_, plainD, err := auth.Issue(ctx, e.db.APIKeys, e.orgB, "touch")
				if err != nil {
					t.Fatal(err)
				}
				lastUsed := func() *time.Time {
					keys, err := e.db.APIKeys.ListAPIKeys(ctx, e.orgB)
					if err != nil {
						t.Fatal(err)
					}
					for _, k := range keys {
						if k.Name == "touch" {
							return k.LastUsedAt
						}
					}
					t.Fatal("key not listed")
					return nil
				}
				if lu := lastUsed(); lu != nil {
					t.Fatalf("new key has last_used_at %v", lu)
				}
				first := e.clock.t
				if _, err := e.auth.Authenticate(ctx, plainD); err != nil {
					t.Fatal(err)
				}
				lu := lastUsed()
				if lu == nil || !lu.Equal(first.Truncate(time.Microsecond)) {
					t.Fatalf("last_used_at = %v, want %v", lu, first.Truncate(time.Microsecond))
				}
				// A failed attempt does not touch the key.
				e.clock.t = first.Add(2 * time.Minute)
				_, _ = e.auth.Authenticate(ctx, plainD[:len(plainD)-1]+flip(plainD[len(plainD)-1]))
				if lu := lastUsed(); lu == nil || !lu.Equal(first.Truncate(time.Microsecond)) {
					t.Errorf("after a failed attempt last_used_at = %v, want %v", lu, first)
				}
				// Within the touch interval the write is skipped; after it
				// the new time is recorded.
				e.clock.t = first.Add(30 * time.Second)
				if _, err := e.auth.Authenticate(ctx, plainD); err != nil {
					t.Fatal(err)
				}
				if lu := lastUsed(); lu == nil || !lu.Equal(first.Truncate(time.Microsecond)) {
					t.Errorf("30s later last_used_at = %v, want it unchanged", lu)
				}
				later := first.Add(5 * time.Minute)
				e.clock.t = later
				if _, err := e.auth.Authenticate(ctx, plainD); err != nil {
					t.Fatal(err)
				}
				if lu := lastUsed(); lu == nil || !lu.Equal(later.Truncate(time.Microsecond)) {
					t.Errorf("5 minutes later last_used_at = %v, want %v", lu, later)
				}
			})

			t.Run("keys sharing a prefix", func(t *testing.T) {
				// Two keys whose visible prefixes collide must each still
				// resolve to themselves.
				a, _ := auth.NewKey()
				b := auth.Prefix(a) + strings.Repeat("Z", auth.KeyLen-auth.PrefixLen)
				ids := map[string]int64{}
				for _, plain := range []string{a, b} {
					k := &impl.APIKey{OrganizationID: e.orgA, Name: "twin", Prefix: auth.Prefix(plain), Hash: auth.Hash(plain)}
					if err := e.db.APIKeys.CreateAPIKey(ctx, k); err != nil {
						t.Fatal(err)
					}
					ids[plain] = k.ID
				}
				for _, plain := range []string{a, b} {
					got, err := e.auth.Authenticate(ctx, plain)
					if err != nil {
						t.Fatal(err)
					}
					if got.ID != ids[plain] {
						t.Errorf("key %q resolved to id %d, want %d", plain, got.ID, ids[plain])
					}
				}
			})

			t.Run("issue for a missing organization", func(t *testing.T) {
				k, plain, err := auth.Issue(ctx, e.db.APIKeys, e.orgB+1000, "ghost")
				wantCode(t, err, impl.ENotFound)
				if k != nil || plain != "" {
					t.Errorf("Issue returned %+v %q with an error", k, plain)
				}
			})

			t.Run("store failure is not a bad key", func(t *testing.T) {
				broken := setup(t, sqlstoretest.SQLite(t).URL)
				broken.db.Close()
				got, err := broken.auth.Authenticate(ctx, plain)
				if got != nil || err == nil {
					t.Fatalf("got %+v, %v with the store closed", got, err)
				}
				// A database outage must be a 500, not a 401 telling the
				// partner to rotate a perfectly good key.
				wantCode(t, err, impl.EInternal)
			})
		})
	}
}

func swapCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case i < len("sk_live_"):
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 32)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 32)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The default clock is time.Now.
func TestAuthenticateDefaultClock(t *testing.T) {
	ctx := context.Background()
	e := setup(t, sqlstoretest.SQLite(t).URL)
	_, plain, err := auth.Issue(ctx, e.db.APIKeys, e.orgA, "k")
	if err != nil {
		t.Fatal(err)
	}
	a := &auth.Authenticator{Keys: e.db.APIKeys}
	before := time.Now().Add(-time.Second)
	if _, err := a.Authenticate(ctx, plain); err != nil {
		t.Fatal(err)
	}
	keys, err := e.db.APIKeys.ListAPIKeys(ctx, e.orgA)
	if err != nil {
		t.Fatal(err)
	}
	if lu := keys[0].LastUsedAt; lu == nil || lu.Before(before) || lu.After(time.Now().Add(time.Second)) {
		t.Errorf("last_used_at = %v, want about now", lu)
	}
}

// countingKeys counts the writes Authenticate asks of the real store.
type countingKeys struct {
	impl.APIKeyStore
	touches int
}

func (c *countingKeys) TouchAPIKey(ctx context.Context, id int64, t time.Time) error {
	c.touches++
	return c.APIKeyStore.TouchAPIKey(ctx, id, t)
}

func TestAuthenticateWritesLastUsedAtOncePerInterval(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := setup(t, d.URL)
			ctx := context.Background()
			_, key, err := auth.Issue(ctx, e.db.APIKeys, e.orgA, "k")
			if err != nil {
				t.Fatal(err)
			}
			keys := &countingKeys{APIKeyStore: e.db.APIKeys}
			a := &auth.Authenticator{Keys: keys, Now: e.clock.Now}
			for i := 0; i < 5; i++ {
				if _, err := a.Authenticate(ctx, key); err != nil {
					t.Fatal(err)
				}
				e.clock.t = e.clock.t.Add(10 * time.Second)
			}
			if keys.touches != 1 {
				t.Fatalf("5 requests within %v wrote last_used_at %d times, want 1", impl.APIKeyTouchInterval, keys.touches)
			}
			e.clock.t = e.clock.t.Add(impl.APIKeyTouchInterval)
			if _, err := a.Authenticate(ctx, key); err != nil {
				t.Fatal(err)
			}
			if keys.touches != 2 {
				t.Fatalf("after the interval: %d writes, want 2", keys.touches)
			}
		})
	}
}

// lookupCounter counts the lookups Authenticate makes.
type lookupCounter struct {
	impl.APIKeyStore
	lookups int
}

func (c *lookupCounter) FindAPIKeysByPrefix(ctx context.Context, prefix string) ([]*impl.APIKey, error) {
	c.lookups++
	return c.APIKeyStore.FindAPIKeysByPrefix(ctx, prefix)
}

// The cache answers for a key verified within its TTL without the
// database; a forgotten key, or one past the TTL, is verified again, so a
// revocation is seen.
func TestKeyCache(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := setup(t, d.URL)
			ctx := context.Background()
			k, key, err := auth.Issue(ctx, e.db.APIKeys, e.orgA, "cached")
			if err != nil {
				t.Fatal(err)
			}
			keys := &lookupCounter{APIKeyStore: e.db.APIKeys}
			cache := &auth.KeyCache{TTL: time.Second, Size: 10}
			a := &auth.Authenticator{Keys: keys, Now: e.clock.Now, Cache: cache}
			for range 5 {
				if _, err := a.Authenticate(ctx, key); err != nil {
					t.Fatal(err)
				}
				e.clock.t = e.clock.t.Add(100 * time.Millisecond)
			}
			if keys.lookups != 1 {
				t.Fatalf("5 requests within the TTL made %d lookups, want 1", keys.lookups)
			}

			// Revoked in the database: the cache still answers until it is
			// told or the TTL passes.
			if err := e.db.APIKeys.RevokeAPIKey(ctx, e.orgA, k.ID); err != nil {
				t.Fatal(err)
			}
			cache.Forget(k.ID)
			if _, err := a.Authenticate(ctx, key); impl.ErrorCode(err) != impl.EUnauthorized {
				t.Fatalf("after Forget: %v, want unauthorized", err)
			}

			// A lost notification: only the TTL stands between a revoked
			// key and the door.
			_, key2, _ := auth.Issue(ctx, e.db.APIKeys, e.orgA, "stale")
			if _, err := a.Authenticate(ctx, key2); err != nil {
				t.Fatal(err)
			}
			k2, _ := e.db.APIKeys.FindAPIKeysByPrefix(ctx, auth.Prefix(key2))
			if err := e.db.APIKeys.RevokeAPIKey(ctx, e.orgA, k2[0].ID); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Authenticate(ctx, key2); err != nil {
				t.Fatalf("within the TTL the cached key still works (%v): that is the bound the TTL sets", err)
			}
			e.clock.t = e.clock.t.Add(time.Second)
			if _, err := a.Authenticate(ctx, key2); impl.ErrorCode(err) != impl.EUnauthorized {
				t.Fatalf("past the TTL: %v, want unauthorized", err)
			}

			// With the store itself (which counts its key-invalidating
			// commits), this process's own revocation is seen at once,
			// without Forget and within the TTL.
			direct := &auth.Authenticator{Keys: e.db.APIKeys, Now: e.clock.Now, Cache: &auth.KeyCache{TTL: time.Hour, Size: 10}}
			k3, key3, _ := auth.Issue(ctx, e.db.APIKeys, e.orgA, "own")
			if _, err := direct.Authenticate(ctx, key3); err != nil {
				t.Fatal(err)
			}
			if err := e.db.APIKeys.RevokeAPIKey(ctx, e.orgA, k3.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := direct.Authenticate(ctx, key3); impl.ErrorCode(err) != impl.EUnauthorized {
				t.Fatalf("right after this process revoked it: %v, want unauthorized", err)
			}

			// Forget with a purge value drops everything; the size bound holds.
			for i := range 15 {
				_, kx, _ := auth.Issue(ctx, e.db.APIKeys, e.orgB, fmt.Sprintf("k%d", i))
				if _, err := a.Authenticate(ctx, kx); err != nil {
					t.Fatal(err)
				}
			}
			if n := cache.Len(); n > 10 {
				t.Errorf("%d cached keys, want at most the size 10", n)
			}
			cache.Forget(0)
			if n := cache.Len(); n != 0 {
				t.Errorf("%d cached keys after a purge", n)
			}
		})
	}
}

// The store tells the process which keys its commits invalidated.
func TestKeyChangesSignal(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := setup(t, d.URL)
			ctx := context.Background()
			k, _, _ := auth.Issue(ctx, e.db.APIKeys, e.orgA, "a")
			if _, _, err := auth.Regenerate(ctx, e.db.APIKeys, e.orgA, k.ID); err != nil {
				t.Fatal(err)
			}
			k2, _, _ := auth.Issue(ctx, e.db.APIKeys, e.orgA, "b")
			if err := e.db.APIKeys.RevokeAPIKey(ctx, e.orgA, k2.ID); err != nil {
				t.Fatal(err)
			}
			if err := e.db.APIKeys.DeleteAPIKey(ctx, e.orgA, k2.ID); err != nil {
				t.Fatal(err)
			}
			// A change that fails is not signalled.
			if err := e.db.APIKeys.RevokeAPIKey(ctx, e.orgA, 999999); impl.ErrorCode(err) != impl.ENotFound {
				t.Fatal(err)
			}
			var got []int64
			for len(got) < 3 {
				select {
				case id := <-e.db.DB.KeyChanges():
					got = append(got, id)
				case <-time.After(time.Second):
					t.Fatalf("signals %v, want %d, %d, %d", got, k.ID, k2.ID, k2.ID)
				}
			}
			if got[0] != k.ID || got[1] != k2.ID || got[2] != k2.ID {
				t.Errorf("signals %v, want %d, %d, %d", got, k.ID, k2.ID, k2.ID)
			}
			select {
			case id := <-e.db.DB.KeyChanges():
				t.Errorf("a failed change was signalled: %d", id)
			default:
			}
		})
	}
}
