package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// newKey makes an API key row for org; the store does not care how the
// secret was made, only that Hash and Prefix are set.
func newKey(org int64, name, secret string) *impl.APIKey {
	sum := sha256.Sum256([]byte(secret))
	return &impl.APIKey{OrganizationID: org, Name: name, Prefix: secret[:min(16, len(secret))], Hash: sum[:]}
}

func (f *fixture) mustCreateKey(t *testing.T, k *impl.APIKey) *impl.APIKey {
	t.Helper()
	if err := f.s.APIKeys.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatalf("CreateAPIKey(%s): %v", k.Name, err)
	}
	return k
}

func keyString(k *impl.APIKey) string {
	tm := func(p *time.Time) string {
		if p == nil {
			return "<nil>"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("{id:%d org:%d name:%q prefix:%q hash:%x created:%s last_used:%s revoked:%s}",
		k.ID, k.OrganizationID, k.Name, k.Prefix, k.Hash, k.CreatedAt.UTC().Format(time.RFC3339Nano),
		tm(k.LastUsedAt), tm(k.RevokedAt))
}

func keyNames(keys []*impl.APIKey) []string {
	var names []string
	for _, k := range keys {
		names = append(names, k.Name)
	}
	return names
}

func (f *fixture) key(t *testing.T, org, id int64) *impl.APIKey {
	t.Helper()
	keys, err := f.s.APIKeys.ListAPIKeys(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == id {
			return k
		}
	}
	t.Fatalf("key %d not listed for org %d", id, org)
	return nil
}

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		stamp := t0.Truncate(time.Microsecond)
		crm := f.mustCreateKey(t, newKey(f.org, "CRM", "sk_live_AAAAAAAAcrm-secret"))
		if crm.ID == 0 || !crm.CreatedAt.Equal(stamp) {
			t.Errorf("CreateAPIKey filled in %s", keyString(crm))
		}
		f.clock.advance(time.Second)
		erp := f.mustCreateKey(t, newKey(f.org, "ERP", "sk_live_BBBBBBBBerp-secret"))
		theirs := f.mustCreateKey(t, newKey(f.other, "theirs", "sk_live_CCCCCCCCtheirs"))

		t.Run("list is scoped and oldest first", func(t *testing.T) {
			keys, err := f.s.APIKeys.ListAPIKeys(ctx, f.org)
			if err != nil {
				t.Fatal(err)
			}
			if got := keyNames(keys); strings.Join(got, ",") != "CRM,ERP" {
				t.Fatalf("ListAPIKeys = %v, want [CRM ERP]", got)
			}
			if keyString(keys[0]) != keyString(crm) || keyString(keys[1]) != keyString(erp) {
				t.Errorf("listed\n %s\n %s\nwant\n %s\n %s", keyString(keys[0]), keyString(keys[1]), keyString(crm), keyString(erp))
			}
			keys, err = f.s.APIKeys.ListAPIKeys(ctx, f.other)
			if err != nil || strings.Join(keyNames(keys), ",") != "theirs" {
				t.Errorf("other organization's keys: %v, %v", keyNames(keys), err)
			}
			keys, err = f.s.APIKeys.ListAPIKeys(ctx, f.other+100)
			if err != nil || len(keys) != 0 {
				t.Errorf("keys of a missing organization: %v, %v", keyNames(keys), err)
			}
		})

		t.Run("find by prefix", func(t *testing.T) {
			keys, err := f.s.APIKeys.FindAPIKeysByPrefix(ctx, erp.Prefix)
			if err != nil || len(keys) != 1 || keyString(keys[0]) != keyString(erp) {
				t.Fatalf("FindAPIKeysByPrefix = %v, %v; want ERP", keyNames(keys), err)
			}
			if !bytes.Equal(keys[0].Hash, erp.Hash) {
				t.Errorf("hash read back as %x, want %x", keys[0].Hash, erp.Hash)
			}
			keys, err = f.s.APIKeys.FindAPIKeysByPrefix(ctx, "sk_live_ZZZZZZZZ")
			if err != nil || len(keys) != 0 {
				t.Errorf("unknown prefix: %v, %v", keyNames(keys), err)
			}
			// Prefixes may collide; every key with the prefix is returned.
			twin := f.mustCreateKey(t, newKey(f.other, "twin", erp.Prefix+"-other-secret"))
			keys, err = f.s.APIKeys.FindAPIKeysByPrefix(ctx, erp.Prefix)
			if err != nil || len(keys) != 2 {
				t.Fatalf("colliding prefix: %v, %v; want ERP and twin", keyNames(keys), err)
			}
			for _, k := range keys {
				if k.ID == twin.ID && (k.OrganizationID != f.other || !bytes.Equal(k.Hash, twin.Hash)) {
					t.Errorf("twin read back as %s", keyString(k))
				}
			}
		})

		t.Run("revoke", func(t *testing.T) {
			f.clock.set(t0.Add(time.Hour))
			if err := f.s.APIKeys.RevokeAPIKey(ctx, f.org, crm.ID); err != nil {
				t.Fatal(err)
			}
			revokedAt := t0.Add(time.Hour).Truncate(time.Microsecond)
			got := f.key(t, f.org, crm.ID)
			if got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
				t.Errorf("revoked_at = %v, want %v", got.RevokedAt, revokedAt)
			}
			// Revoked keys are still found by prefix, so that the
			// authenticator can say the key was revoked.
			keys, err := f.s.APIKeys.FindAPIKeysByPrefix(ctx, crm.Prefix)
			if err != nil || len(keys) != 1 || keys[0].RevokedAt == nil {
				t.Errorf("FindAPIKeysByPrefix of a revoked key: %v, %v", keyNames(keys), err)
			}
			// Revoking twice is fine and keeps the first time.
			f.clock.set(t0.Add(2 * time.Hour))
			if err := f.s.APIKeys.RevokeAPIKey(ctx, f.org, crm.ID); err != nil {
				t.Errorf("second revoke: %v", err)
			}
			if got := f.key(t, f.org, crm.ID); got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
				t.Errorf("after a second revoke revoked_at = %v, want %v", got.RevokedAt, revokedAt)
			}
			if got := f.key(t, f.org, erp.ID); got.RevokedAt != nil {
				t.Errorf("sibling key revoked too: %s", keyString(got))
			}
		})

		t.Run("revoking another organization's key", func(t *testing.T) {
			wantCode(t, f.s.APIKeys.RevokeAPIKey(ctx, f.org, theirs.ID), impl.ENotFound)
			if got := f.key(t, f.other, theirs.ID); got.RevokedAt != nil {
				t.Errorf("their key was revoked: %s", keyString(got))
			}
			wantCode(t, f.s.APIKeys.RevokeAPIKey(ctx, f.org, theirs.ID+1000), impl.ENotFound)
		})

		t.Run("touch", func(t *testing.T) {
			used := t0.Add(3 * time.Hour).Add(123 * time.Nanosecond)
			if err := f.s.APIKeys.TouchAPIKey(ctx, erp.ID, used); err != nil {
				t.Fatal(err)
			}
			want := used.Truncate(time.Microsecond)
			if got := f.key(t, f.org, erp.ID).LastUsedAt; got == nil || !got.Equal(want) {
				t.Fatalf("last_used_at = %v, want %v", got, want)
			}
			// Within a minute: skipped.
			if err := f.s.APIKeys.TouchAPIKey(ctx, erp.ID, used.Add(59*time.Second)); err != nil {
				t.Fatal(err)
			}
			if got := f.key(t, f.org, erp.ID).LastUsedAt; got == nil || !got.Equal(want) {
				t.Errorf("59s later last_used_at = %v, want %v", got, want)
			}
			// An older time never moves it back.
			if err := f.s.APIKeys.TouchAPIKey(ctx, erp.ID, used.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := f.key(t, f.org, erp.ID).LastUsedAt; got == nil || !got.Equal(want) {
				t.Errorf("after an older touch last_used_at = %v, want %v", got, want)
			}
			// A minute and a bit later: written. The time may come in any
			// location.
			later := used.Add(61 * time.Second).In(time.FixedZone("BRT", -3*60*60))
			if err := f.s.APIKeys.TouchAPIKey(ctx, erp.ID, later); err != nil {
				t.Fatal(err)
			}
			if got := f.key(t, f.org, erp.ID).LastUsedAt; got == nil || !got.Equal(later.Truncate(time.Microsecond)) {
				t.Errorf("61s later last_used_at = %v, want %v", got, later)
			}
			// Touching a missing key is harmless.
			if err := f.s.APIKeys.TouchAPIKey(ctx, theirs.ID+1000, later); err != nil {
				t.Errorf("touch of a missing key: %v", err)
			}
			if got := f.key(t, f.other, theirs.ID).LastUsedAt; got != nil {
				t.Errorf("another key was touched: %v", got)
			}
		})

		t.Run("missing organization", func(t *testing.T) {
			err := f.s.APIKeys.CreateAPIKey(ctx, newKey(f.other+1000, "ghost", "sk_live_GGGGGGGGghost"))
			wantCode(t, err, impl.ENotFound)
			keys, err := f.s.APIKeys.FindAPIKeysByPrefix(ctx, "sk_live_GGGGGGGG")
			if err != nil || len(keys) != 0 {
				t.Errorf("a key for a missing organization was stored: %v, %v", keyNames(keys), err)
			}
		})
	})
}

// Every time the store returns is in UTC, whatever the database session's
// time zone, as with leads.
func TestAPIKeyTimesAreUTCInAnySessionTimeZone(t *testing.T) {
	pg, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	sep := "?"
	if strings.Contains(pg.URL, "?") {
		sep = "&"
	}
	f := newFixture(t, pg.URL+sep+"timezone=America%2FSao_Paulo")
	k := f.mustCreateKey(t, newKey(f.org, "k", "sk_live_TTTTTTTTtz"))
	if err := f.s.APIKeys.TouchAPIKey(ctx, k.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.APIKeys.RevokeAPIKey(ctx, f.org, k.ID); err != nil {
		t.Fatal(err)
	}
	listed, err := f.s.APIKeys.ListAPIKeys(ctx, f.org)
	if err != nil {
		t.Fatal(err)
	}
	found, err := f.s.APIKeys.FindAPIKeysByPrefix(ctx, k.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	for what, keys := range map[string][]*impl.APIKey{"ListAPIKeys": listed, "FindAPIKeysByPrefix": found} {
		if len(keys) != 1 {
			t.Fatalf("%s returned %d keys", what, len(keys))
		}
		got := keys[0]
		for field, tm := range map[string]*time.Time{"created_at": &got.CreatedAt, "last_used_at": got.LastUsedAt, "revoked_at": got.RevokedAt} {
			if tm == nil {
				t.Errorf("%s: %s is nil", what, field)
				continue
			}
			if tm.Location() != time.UTC {
				t.Errorf("%s: %s = %v, want UTC", what, field, tm)
			}
		}
	}
}
