package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// TestSweepIdempotent: a sweep deletes the organization's keys created
// before the cutoff, at most 100 at a time, and nothing else: not a newer
// key, not another organization's expired one.
func TestSweepIdempotent(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		st := f.s.Idempotency
		day := impl.IdempotencyTTL
		claim := func(org int64, key string, at time.Time) {
			t.Helper()
			if _, claimed, err := st.BeginIdempotent(ctx, org, key, []byte{1}, at, at.Add(time.Minute)); err != nil || !claimed {
				t.Fatalf("claim %s: claimed=%v err=%v", key, claimed, err)
			}
		}
		for i := range 130 {
			claim(f.org, fmt.Sprintf("old-%03d", i), t0.Add(-2*day))
		}
		claim(f.other, "theirs-old", t0.Add(-2*day))
		claim(f.org, "recent", t0.Add(-day+time.Minute))

		count := func(org int64) int {
			t.Helper()
			var n int
			if err := f.db.pool.GetContext(ctx, &n, f.db.rebind(`SELECT count(*) FROM idempotency_keys WHERE organization_id = ?`), org); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, want := range []struct{ deleted, left int }{{100, 31}, {30, 1}, {0, 1}} {
			n, err := st.SweepIdempotent(ctx, f.org, t0.Add(-day))
			if err != nil || n != want.deleted || count(f.org) != want.left {
				t.Fatalf("sweep: deleted %d (err %v), %d left; want %d deleted, %d left", n, err, count(f.org), want.deleted, want.left)
			}
		}
		var kept string
		if err := f.db.pool.GetContext(ctx, &kept, f.db.rebind(`SELECT key FROM idempotency_keys WHERE organization_id = ?`), f.org); err != nil || kept != "recent" {
			t.Errorf("the key left is %q (err %v); want the recent one", kept, err)
		}
		if count(f.other) != 1 {
			t.Errorf("another organization's expired key was swept")
		}
	})
}

// TestReleaseIdempotentKeepsTheRequest: a released claim (its request
// answered 503) lets a retry of the same request run at once, even with the
// lease not over, while another request with the key is still refused; an
// answered key is not released.
func TestReleaseIdempotentKeepsTheRequest(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		st := f.s.Idempotency
		now := f.clock.now()
		begin := func(key string, fp byte) (*impl.IdempotencyRecord, bool) {
			t.Helper()
			rec, claimed, err := st.BeginIdempotent(ctx, f.org, key, []byte{fp}, now, now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return rec, claimed
		}
		if _, claimed := begin("released", 1); !claimed {
			t.Fatal("the first claim failed")
		}
		if rec, claimed := begin("released", 1); claimed || rec.Decide([]byte{1}, now) != impl.IdempotencyInProgress {
			t.Fatalf("before the release the same request is %v, want in progress", claimed)
		}
		if err := st.ReleaseIdempotent(ctx, f.org, "released"); err != nil {
			t.Fatal(err)
		}
		if rec, claimed := begin("released", 2); claimed || rec.Decide([]byte{2}, now) != impl.IdempotencyReused {
			t.Errorf("another request with the released key: claimed=%v, want it refused as reused", claimed)
		}
		if _, claimed := begin("released", 1); !claimed {
			t.Error("the same request after the release did not run")
		}

		rec, _ := begin("answered", 1)
		rec.Status, rec.ContentType, rec.Body = 201, "application/json", []byte(`{}`)
		if err := st.FinishIdempotent(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := st.ReleaseIdempotent(ctx, f.org, "answered"); err != nil {
			t.Fatal(err)
		}
		if rec, claimed := begin("answered", 1); claimed || rec.Decide([]byte{1}, now) != impl.IdempotencyReplay {
			t.Errorf("an answered key after a release: claimed=%v, want its answer replayed", claimed)
		}
	})
}

// TestIdempotentAnswersSealedAtRest: the answer kept for an Idempotency-Key
// can hold the one copy of a new API key or signing secret, so with a
// secrets key it is sealed, and bound to its row; a replay opens it. One
// kept before the key was configured replays as it is; a rotation of the
// secrets key seals both again under the new key; the wrong key is an
// error that names the setting, never a garbled replay.
func TestIdempotentAnswersSealedAtRest(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		fp := []byte("fingerprint")
		keep := func(key, body string) {
			t.Helper()
			rec, claimed, err := f.s.Idempotency.BeginIdempotent(ctx, f.org, key, fp, t0, t0.Add(time.Minute))
			if err != nil || !claimed {
				t.Fatalf("claim %s: claimed=%v err=%v", key, claimed, err)
			}
			rec.Status, rec.ContentType, rec.Body = 201, "application/json", []byte(body)
			if err := f.s.Idempotency.FinishIdempotent(ctx, rec); err != nil {
				t.Fatalf("keep the answer for %s: %v", key, err)
			}
		}
		replay := func(key string) (string, error) {
			t.Helper()
			rec, claimed, err := f.s.Idempotency.BeginIdempotent(ctx, f.org, key, fp, t0.Add(time.Second), t0.Add(time.Minute))
			if err != nil {
				return "", err
			}
			if claimed || rec.Status != 201 {
				t.Fatalf("%s: claimed=%v status %d, want the kept 201", key, claimed, rec.Status)
			}
			return string(rec.Body), nil
		}
		stored := func(key string) string {
			t.Helper()
			var body []byte
			if err := f.db.pool.GetContext(ctx, &body, f.db.rebind(`SELECT body FROM idempotency_keys
				WHERE organization_id = ? AND key = ?`), f.org, key); err != nil {
				t.Fatalf("read the stored answer of %s: %v", key, err)
			}
			return string(body)
		}
		const legacyBody = `{"key":"sk_live_keptBeforeSealing"}`
		const secretBody = `{"key":"sk_live_Hq7LmN2pUPqa7oQGxm0JEAFAIiPiTjL6VkbEHWtcWQx","name":"ERP"}`

		// Without a key the answer is stored as it is.
		keep("legacy", legacyBody)
		if got := stored("legacy"); got != legacyBody {
			t.Fatalf("without a key the answer is stored as %q", got)
		}

		f.withKeys(t, testKey(1))
		keep("sealed", secretBody)
		if got := stored("sealed"); !strings.HasPrefix(got, sealPrefix) || strings.Contains(got, "sk_live_") {
			t.Fatalf("the answer is stored as %q, want it sealed", got)
		}
		for key, want := range map[string]string{"sealed": secretBody, "legacy": legacyBody} {
			if got, err := replay(key); err != nil || got != want {
				t.Fatalf("%s replays %q (%v), want %q", key, got, err, want)
			}
		}

		// A rotation: what the old key sealed, and what was kept unsealed,
		// is sealed again, and replays with the new key alone.
		f.withKeys(t, testKey(2), testKey(1))
		if _, err := f.db.SealSecrets(ctx); err != nil {
			t.Fatalf("SealSecrets during a rotation: %v", err)
		}
		f.withKeys(t, testKey(2))
		for key, want := range map[string]string{"sealed": secretBody, "legacy": legacyBody} {
			if got := stored(key); !strings.HasPrefix(got, sealPrefix) {
				t.Errorf("after the rotation %s is stored as %q, want it sealed", key, got)
			}
			if got, err := replay(key); err != nil || got != want {
				t.Fatalf("after the rotation %s replays %q (%v), want %q", key, got, err, want)
			}
		}

		// The wrong key is an error naming the setting.
		f.withKeys(t, testKey(3))
		if _, err := replay("sealed"); !errors.Is(err, errSecretsKey) || !strings.Contains(err.Error(), "SECRETS_KEY") {
			t.Errorf("with another key: %v", err)
		}

		// An answer moved into another key's row does not open there.
		f.withKeys(t, testKey(2))
		keep("other", `{"id":7}`)
		if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(`UPDATE idempotency_keys SET body = ?
			WHERE organization_id = ? AND key = ?`), []byte(stored("sealed")), f.org, "other"); err != nil {
			t.Fatal(err)
		}
		if _, err := replay("other"); !errors.Is(err, errSecretsKey) {
			t.Errorf("an answer moved to another key replayed (%v)", err)
		}
		// Nor does it stop the next rotation, which reseals the rest.
		f.withKeys(t, testKey(4), testKey(2))
		if _, err := f.db.SealSecrets(ctx); err != nil {
			t.Fatalf("an answer that does not open stopped a rotation: %v", err)
		}
		f.withKeys(t, testKey(4))
		if got, err := replay("sealed"); err != nil || got != secretBody {
			t.Errorf("after the second rotation sealed replays %q (%v)", got, err)
		}
	})
}

// TestCreateLeadFindsWhatItsKeyCreated: a lead created under an
// Idempotency-Key is found again by a create with the same key and phone,
// for a day; after that, with another key or none, the phone is a conflict.
func TestCreateLeadFindsWhatItsKeyCreated(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		keyed := impl.WithIdempotencyKey(context.Background(), "lost-answer-1")
		first := &impl.Lead{Phone: "5511987650001"}
		if err := f.s.Leads.CreateLead(keyed, f.org, first); err != nil {
			t.Fatal(err)
		}
		create := func(ctx context.Context) error {
			return f.s.Leads.CreateLead(ctx, f.org, &impl.Lead{Phone: "5511987650001", Name: ptr("Maria")})
		}
		retry := &impl.Lead{Phone: "5511987650001", Name: ptr("Maria")}
		if err := f.s.Leads.CreateLead(keyed, f.org, retry); !errors.Is(err, impl.ErrDoneEarlier) || retry.ID != first.ID || retry.Name != nil {
			t.Fatalf("the same key: %v, lead %d named %v, want the first lead (%d) as stored", err, retry.ID, retry.Name, first.ID)
		}
		for name, ctx := range map[string]context.Context{
			"another key": impl.WithIdempotencyKey(context.Background(), "lost-answer-2"),
			"no key":      context.Background(),
		} {
			if err := create(ctx); impl.ErrorCode(err) != impl.EConflict {
				t.Errorf("%s: %v, want the phone's conflict", name, err)
			}
		}
		f.clock.advance(impl.IdempotencyTTL + time.Minute)
		if err := create(keyed); impl.ErrorCode(err) != impl.EConflict {
			t.Errorf("the same key a day later: %v, want the phone's conflict", err)
		}
	})
}

// TestAPIKeyReissuedUnderItsKey: a key created or regenerated under an
// Idempotency-Key is found again by the retry of that request, within a
// day, and takes the retry's text in place; a key that was used, revoked,
// created by another organization or more than a day ago is left alone and
// the retry makes a new key.
func TestAPIKeyReissuedUnderItsKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		keyed := impl.WithIdempotencyKey(context.Background(), "lost-key-1")
		create := func(org int64, secret string) (*impl.APIKey, error) {
			k := newKey(org, "ERP sync", secret)
			return k, f.s.APIKeys.CreateAPIKey(keyed, k)
		}
		first, err := create(f.org, "sk_live_first0000000000000000")
		if err != nil {
			t.Fatal(err)
		}
		retry, err := create(f.org, "sk_live_second000000000000000")
		if !errors.Is(err, impl.ErrDoneEarlier) || retry.ID != first.ID || !retry.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("the retry: %v, key %s; want key %d again", err, keyString(retry), first.ID)
		}
		stored, err := f.s.APIKeys.FindAPIKeyByID(context.Background(), f.org, first.ID)
		if err != nil || !bytes.Equal(stored.Hash, retry.Hash) || stored.Prefix != retry.Prefix {
			t.Fatalf("stored %v %v, want the retry's hash and prefix", stored, err)
		}
		// newAfter creates under the key and wants a new key, not first's.
		n := 0
		newAfter := func(what string, org int64) *impl.APIKey {
			t.Helper()
			n++
			k, err := create(org, fmt.Sprintf("sk_live_new%018d", n))
			if err != nil || k.ID == first.ID {
				t.Fatalf("after %s: %v, key %d; want a new key", what, err, k.ID)
			}
			return k
		}
		newAfter("another organization's", f.other)
		if err := f.s.APIKeys.TouchAPIKey(context.Background(), first.ID, f.clock.now()); err != nil {
			t.Fatal(err)
		}
		used := newAfter("a use", f.org)
		if err := f.s.APIKeys.RevokeAPIKey(context.Background(), f.org, used.ID); err != nil {
			t.Fatal(err)
		}
		late := newAfter("a revocation", f.org)
		f.clock.advance(impl.IdempotencyTTL + time.Minute)
		newAfter("a day", f.org)

		// A regeneration's retry finds the key it made, not ErrAPIKeyRevoked.
		f.clock.advance(time.Minute)
		regen := impl.WithIdempotencyKey(context.Background(), "lost-regenerate-1")
		made := newKey(0, "", "sk_live_regen00000000000000000")
		if err := f.s.APIKeys.ReplaceAPIKey(regen, f.org, late.ID, made); err != nil {
			t.Fatal(err)
		}
		again := newKey(0, "", "sk_live_regen11111111111111111")
		if err := f.s.APIKeys.ReplaceAPIKey(regen, f.org, late.ID, again); !errors.Is(err, impl.ErrDoneEarlier) || again.ID != made.ID || again.Name != "ERP sync" {
			t.Fatalf("the regeneration's retry: %v, key %s; want key %d", err, keyString(again), made.ID)
		}
		if err := f.s.APIKeys.ReplaceAPIKey(context.Background(), f.org, late.ID, newKey(0, "", "sk_live_regen22222222222222222")); impl.ErrorCode(err) != impl.EConflict {
			t.Errorf("regenerating the replaced key without the key: %v, want its conflict", err)
		}
	})
}

// TestWebhookFoundUnderItsKey: a webhook's creation and its secret's
// rotation under an Idempotency-Key are found again by their retry within
// a day, with the secret they made; past the day, or under another key, the
// request runs again.
func TestWebhookFoundUnderItsKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		keyed := impl.WithIdempotencyKey(context.Background(), "lost-webhook-1")
		create := func(ctx context.Context) (*impl.Webhook, error) {
			w := &impl.Webhook{Name: "CRM", URL: "https://crm.example.com/hook", Events: []string{impl.EventLeadCreated}}
			return w, f.s.Webhooks.CreateWebhook(ctx, f.org, w)
		}
		first, err := create(keyed)
		if err != nil {
			t.Fatal(err)
		}
		retry, err := create(keyed)
		if !errors.Is(err, impl.ErrDoneEarlier) || retry.ID != first.ID || retry.Secret != first.Secret || len(retry.Events) != 1 {
			t.Fatalf("the retry: %v, webhook %d %v; want webhook %d with its secret", err, retry.ID, retry.Events, first.ID)
		}
		if other, err := create(impl.WithIdempotencyKey(context.Background(), "lost-webhook-2")); err != nil || other.ID == first.ID {
			t.Fatalf("another key: %v, webhook %d; want a new one", err, other.ID)
		}

		rotating := impl.WithIdempotencyKey(context.Background(), "lost-rotation-1")
		rotated, err := f.s.Webhooks.RotateWebhookSecret(rotating, f.org, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		again, err := f.s.Webhooks.RotateWebhookSecret(rotating, f.org, first.ID)
		if !errors.Is(err, impl.ErrDoneEarlier) || again.Secret != rotated.Secret ||
			!again.PreviousSecretExpiresAt.Equal(*rotated.PreviousSecretExpiresAt) {
			t.Fatalf("the rotation's retry: %v, secret kept %v; want the rotation's secret", err, again.Secret == rotated.Secret)
		}
		if _, err := f.s.Webhooks.RotateWebhookSecret(rotating, f.org, first.ID+1000); impl.ErrorCode(err) != impl.ENotFound {
			t.Errorf("rotating a missing webhook under the key: %v, want not found", err)
		}

		f.clock.advance(impl.IdempotencyTTL + time.Minute)
		if late, err := f.s.Webhooks.RotateWebhookSecret(rotating, f.org, first.ID); err != nil || late.Secret == rotated.Secret {
			t.Errorf("the rotation's key a day later: %v; want a new rotation", err)
		}
		if other, err := f.s.Webhooks.RotateWebhookSecret(impl.WithIdempotencyKey(context.Background(), "lost-rotation-2"), f.org, first.ID); err != nil {
			t.Errorf("a rotation under another key: %v; want a new rotation", err)
		} else if again, err := f.s.Webhooks.RotateWebhookSecret(rotating, f.org, first.ID); err != nil || again.Secret == other.Secret {
			t.Errorf("the first key after another's rotation: %v; want a new rotation", err)
		}
		if late, err := create(keyed); err != nil || late.ID == first.ID {
			t.Errorf("the creation's key a day later: %v, webhook %d; want a new one", err, late.ID)
		}
	})
}

// TestHandoffMovesFoundUnderTheirKey: a handoff opened or closed under an
// Idempotency-Key is found by the retry within a day; past the day, or with
// another key, the retry is the conflict it always was.
func TestHandoffMovesFoundUnderTheirKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		lead := &impl.Lead{Phone: "5511987650077"}
		f.mustCreate(t, f.org, lead)
		opening := impl.WithIdempotencyKey(context.Background(), "lost-handoff-1")
		open := func(ctx context.Context) (*impl.Handoff, error) {
			h := &impl.Handoff{LeadID: lead.ID, Reason: "humano"}
			return h, f.s.Handoffs.CreateHandoff(ctx, f.org, h)
		}
		first, err := open(opening)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := open(opening); !errors.Is(err, impl.ErrDoneEarlier) || again.ID != first.ID || again.Status != impl.HandoffOpen {
			t.Fatalf("the open's retry: %v, handoff %d; want handoff %d", err, again.ID, first.ID)
		}
		if _, err := open(impl.WithIdempotencyKey(context.Background(), "lost-handoff-2")); impl.ErrorCode(err) != impl.EConflict {
			t.Errorf("another key: %v, want the conflict", err)
		}
		closing := impl.WithIdempotencyKey(context.Background(), "lost-close-1")
		if _, err := f.s.Handoffs.CloseHandoff(closing, f.org, first.ID); err != nil {
			t.Fatal(err)
		}
		if h, err := f.s.Handoffs.CloseHandoff(closing, f.org, first.ID); !errors.Is(err, impl.ErrDoneEarlier) || h.Status != impl.HandoffClosed {
			t.Fatalf("the close's retry: %v; want the closed handoff", err)
		}
		f.clock.advance(impl.IdempotencyTTL + time.Minute)
		if _, err := f.s.Handoffs.CloseHandoff(closing, f.org, first.ID); impl.ErrorCode(err) != impl.EConflict {
			t.Errorf("the close's key a day later: %v, want the conflict", err)
		}
		second, err := open(opening)
		if err != nil || second.ID == first.ID {
			t.Fatalf("a new open under the old key: %v", err)
		}
		f.clock.advance(impl.IdempotencyTTL + time.Minute)
		if _, err := open(opening); impl.ErrorCode(err) != impl.EConflict {
			t.Errorf("the open's key a day later: %v, want the conflict", err)
		}
	})
}
