package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// withKeys reopens the fixture's database with secrets keys, as a restart
// with SECRETS_KEY (and SECRETS_KEY_PREVIOUS) would.
func (f *fixture) withKeys(t *testing.T, current []byte, previous ...[]byte) {
	t.Helper()
	db, err := OpenWith(context.Background(), f.dbURL, Options{SecretsKey: current, PreviousSecretsKeys: previous})
	if err != nil {
		t.Fatalf("OpenWith: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	db.now = f.clock.now
	f.db, f.s = db, NewStores(db)
}

// stored reads a column as the database holds it.
func (f *fixture) stored(t *testing.T, table, column string, id int64) string {
	t.Helper()
	var v *string
	if err := f.db.pool.Get(&v, f.db.rebind(`SELECT `+column+` FROM `+table+` WHERE id = ?`), id); err != nil {
		t.Fatalf("read %s.%s: %v", table, column, err)
	}
	if v == nil {
		return ""
	}
	return *v
}

// claimedSecrets claims every due delivery and returns the secrets each
// was given to sign with.
func (f *fixture) claimedSecrets(t *testing.T) [][]string {
	t.Helper()
	got, _ := f.claim(t, "w", 100, 100, nil)
	out := make([][]string, len(got))
	for i, c := range got {
		out[i] = c.Secrets
	}
	return out
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, SecretsKeySize) }

// The secrets the service must use are sealed in the database, opened
// where they are used, and a key rotation reseals them; a value stored
// before sealing is read as it is, then sealed at the next start.
func TestSecretsSealedAtRest(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		// Before any key: stored as given, and still usable afterwards.
		legacy := &impl.Integration{OrganizationID: f.org, Name: "legacy", Channel: "whatsapp", Provider: impl.ProviderWhatsAppCloud,
			Active: true, AccessToken: "EAAlegacyToken", AppSecret: "legacy-app-secret", PhoneNumberID: "1001"}
		if err := f.s.Integrations.CreateIntegration(ctx, legacy); err != nil {
			t.Fatal(err)
		}
		oldHook := f.hook(t, f.org, 5)
		if got := f.stored(t, "webhooks", "secret", oldHook.ID); got != oldHook.Secret {
			t.Fatalf("without a key the secret is stored as %q, want it as it is", got)
		}

		f.withKeys(t, testKey(1))
		hook := f.hook(t, f.org, 5)
		in := &impl.Integration{OrganizationID: f.org, Name: "cloud", Channel: "whatsapp", Provider: impl.ProviderWhatsAppCloud,
			Active: true, AccessToken: "EAAsealedToken", AppSecret: "sealed-app-secret", ClientToken: "client-token", PhoneNumberID: "1002"}
		if err := f.s.Integrations.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ table, column, plain string }{
			{"webhooks", "secret", hook.Secret},
			{"integrations", "access_token", in.AccessToken},
			{"integrations", "app_secret", in.AppSecret},
			{"integrations", "client_token", in.ClientToken},
		} {
			id := hook.ID
			if c.table == "integrations" {
				id = in.ID
			}
			got := f.stored(t, c.table, c.column, id)
			if !strings.HasPrefix(got, sealPrefix) || strings.Contains(got, c.plain) {
				t.Errorf("%s.%s is stored as %q, want it sealed", c.table, c.column, got)
			}
		}
		read, err := f.s.Integrations.FindIntegrationByID(ctx, f.org, in.ID)
		if err != nil || read.AccessToken != in.AccessToken || read.AppSecret != in.AppSecret || read.ClientToken != in.ClientToken {
			t.Fatalf("the integration reads back as %+v (%v)", read, err)
		}
		// The legacy row is still read, and a sealed value does not open
		// in another column.
		if read, err := f.s.Integrations.FindIntegrationByID(ctx, f.org, legacy.ID); err != nil || read.AccessToken != legacy.AccessToken {
			t.Fatalf("the unsealed integration reads back as %+v (%v)", read, err)
		}
		if _, _, err := f.db.open(purposeAppSecret, f.stored(t, "integrations", "access_token", in.ID)); !errors.Is(err, errSecretsKey) {
			t.Errorf("an access token opened as an app secret: %v", err)
		}

		// Deliveries are signed with the opened secrets, the previous one
		// too during a rotation's grace.
		f.queue(t, f.org, 1)
		for _, s := range f.claimedSecrets(t) {
			if s[0] != oldHook.Secret && s[0] != hook.Secret {
				t.Fatalf("a delivery got secret %q", s[0])
			}
		}
		f.clock.advance(2 * time.Minute)
		rotated, err := f.s.Webhooks.RotateWebhookSecret(ctx, f.org, hook.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.stored(t, "webhooks", "previous_secret", hook.ID); !strings.HasPrefix(got, sealPrefix) {
			t.Errorf("previous_secret is stored as %q, want it sealed", got)
		}
		f.queue(t, f.org, 1)
		var sawRotation bool
		for _, s := range f.claimedSecrets(t) {
			if len(s) == 2 && s[0] == rotated.Secret && s[1] == hook.Secret {
				sawRotation = true
			}
		}
		if !sawRotation {
			t.Error("no delivery was given the rotated secret and the previous one, opened")
		}

		// At start-up, what is unsealed gets sealed.
		n, err := f.db.SealSecrets(ctx)
		if err != nil || n != 3 { // the legacy webhook's secret, the legacy integration's token and app secret
			t.Fatalf("SealSecrets sealed %d values (%v), want 3", n, err)
		}
		if got := f.stored(t, "integrations", "access_token", legacy.ID); !strings.HasPrefix(got, sealPrefix) {
			t.Errorf("after SealSecrets the legacy token is stored as %q", got)
		}

		// A rotation of the secrets key: the old key only opens, and
		// everything is sealed again with the new one.
		f.withKeys(t, testKey(2), testKey(1))
		if n, err := f.db.SealSecrets(ctx); err != nil || n != 8 {
			t.Fatalf("SealSecrets after a key rotation sealed %d values (%v), want 8", n, err)
		}
		f.withKeys(t, testKey(2))
		if read, err := f.s.Integrations.FindIntegrationByID(ctx, f.org, in.ID); err != nil || read.AccessToken != in.AccessToken {
			t.Fatalf("after the rotation the integration reads back as %+v (%v)", read, err)
		}

		// The wrong key, or none, is an error that names the setting, never
		// a secret read as garbage.
		f.withKeys(t, testKey(3))
		if _, err := f.s.Integrations.FindIntegrationByID(ctx, f.org, in.ID); !errors.Is(err, errSecretsKey) || !strings.Contains(err.Error(), "SECRETS_KEY") {
			t.Errorf("with another key: %v", err)
		}
		f.withKeys(t, nil)
		if _, err := f.s.Integrations.FindIntegrationByID(ctx, f.org, in.ID); !errors.Is(err, errSecretsKey) {
			t.Errorf("without a key: %v", err)
		}
	})
}

// TestCursorSigningKeySealed: the key that signs the lead list's cursors is
// sealed like the other secrets, under its own name, and sealing one made
// before keeps it the same key, so the cursors partners hold still verify.
func TestCursorSigningKeySealed(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		storedKey := func(name string) []byte {
			t.Helper()
			var v []byte
			if err := f.db.pool.Get(&v, f.db.rebind(`SELECT secret FROM signing_keys WHERE name = ?`), name); err != nil {
				t.Fatalf("read signing key %s: %v", name, err)
			}
			return v
		}
		legacy, err := f.db.signingKey(ctx, leadCursorKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := storedKey(leadCursorKey); !bytes.Equal(got, legacy) {
			t.Fatalf("without a secrets key the signing key is stored as %q, want it as it is", got)
		}

		// A restart with a secrets key seals it; it is the same key.
		f.withKeys(t, testKey(1))
		if n, err := f.db.SealSecrets(ctx); err != nil || n != 1 {
			t.Fatalf("SealSecrets sealed %d values (%v), want the signing key", n, err)
		}
		stored := storedKey(leadCursorKey)
		if !bytes.HasPrefix(stored, []byte(sealPrefix)) || bytes.Contains(stored, legacy) {
			t.Fatalf("the signing key is stored as %q, want it sealed", stored)
		}
		if key, err := f.db.signingKey(ctx, leadCursorKey); err != nil || !bytes.Equal(key, legacy) {
			t.Fatalf("after sealing the signing key reads %x (%v), want the same key %x", key, err, legacy)
		}

		// A key made with a secrets key is stored sealed from the start,
		// and a sealed key does not open under another name.
		fresh, err := f.db.signingKey(ctx, "other_cursor")
		if err != nil {
			t.Fatal(err)
		}
		if got := storedKey("other_cursor"); !bytes.HasPrefix(got, []byte(sealPrefix)) || bytes.Contains(got, fresh) {
			t.Errorf("a new signing key is stored as %q, want it sealed", got)
		}
		if _, err := f.db.pool.Exec(f.db.rebind(`INSERT INTO signing_keys (name, secret, created_at) VALUES (?, ?, ?)`),
			"moved", stored, f.db.timestamp()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.signingKey(ctx, "moved"); !errors.Is(err, errSecretsKey) {
			t.Errorf("a signing key moved to another name opened: %v", err)
		}
		if _, err := f.db.pool.Exec(f.db.rebind(`DELETE FROM signing_keys WHERE name = ?`), "moved"); err != nil {
			t.Fatal(err)
		}

		// A rotation of the secrets key seals both again, keys unchanged.
		f.withKeys(t, testKey(2), testKey(1))
		if n, err := f.db.SealSecrets(ctx); err != nil || n != 2 {
			t.Fatalf("SealSecrets after a key rotation sealed %d values (%v), want 2", n, err)
		}
		f.withKeys(t, testKey(2))
		if key, err := f.db.signingKey(ctx, leadCursorKey); err != nil || !bytes.Equal(key, legacy) {
			t.Fatalf("after the rotation the signing key reads %x (%v), want %x", key, err, legacy)
		}
	})
}
