package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

func TestSaveDefaultWebhookConcurrently(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		created := make([]bool, n)
		for i := range n {
			wg.Go(func() {
				_, created[i], errs[i] = f.s.Webhooks.SaveDefaultWebhook(ctx, f.org, fmt.Sprintf("https://h%d.example/hook", i))
			})
		}
		wg.Wait()
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("save %d: %v", i, errs[i])
			}
			if created[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Errorf("%d saves created the default webhook, want 1", creators)
		}
		list, total, err := f.s.Webhooks.FindWebhooks(ctx, f.org, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || !list[0].IsDefault || len(list[0].Events) != len(impl.EventTypes) {
			t.Fatalf("after %d concurrent saves: %d webhooks (%+v), want one default with every event", n, total, list)
		}
	})
}

func TestReplaceAPIKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		old := f.mustCreateKey(t, newKey(f.org, "CRM", "sk_live_oldoldoldoldold"))
		other := &impl.Organization{Name: "Other"}
		if err := f.s.Organizations.CreateOrganization(ctx, other); err != nil {
			t.Fatal(err)
		}
		nk := newKey(0, "", "sk_live_newnewnewnewnew")
		wantCode(t, f.s.APIKeys.ReplaceAPIKey(ctx, other.ID, old.ID, nk), impl.ENotFound)
		if err := f.s.APIKeys.ReplaceAPIKey(ctx, f.org, old.ID, nk); err != nil {
			t.Fatal(err)
		}
		if nk.Name != "CRM" || nk.OrganizationID != f.org || nk.ID == old.ID {
			t.Fatalf("new key %+v, want the old key's name and organization under a new id", nk)
		}
		got, err := f.s.APIKeys.FindAPIKeyByID(ctx, f.org, old.ID)
		if err != nil || got.RevokedAt == nil {
			t.Fatalf("old key after replace: %+v %v, want revoked", got, err)
		}
		wantCode(t, f.s.APIKeys.ReplaceAPIKey(ctx, f.org, old.ID, newKey(0, "", "sk_live_thirdthirdthird")), impl.EConflict)
		active, n, err := f.s.APIKeys.FindAPIKeys(ctx, f.org, impl.APIKeyActive, 0, 10)
		if err != nil || n != 1 || active[0].ID != nk.ID {
			t.Fatalf("active keys: %d %v, want only the new one", n, err)
		}
		revoked, n, err := f.s.APIKeys.FindAPIKeys(ctx, f.org, impl.APIKeyRevoked, 0, 10)
		if err != nil || n != 1 || revoked[0].ID != old.ID {
			t.Fatalf("revoked keys: %d %v, want only the old one", n, err)
		}
		_, n, _ = f.s.APIKeys.FindAPIKeys(ctx, other.ID, "", 0, 10)
		if n != 0 {
			t.Fatalf("the other organization lists %d keys", n)
		}
	})
}

func TestDeleteAPIKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		k := f.mustCreateKey(t, newKey(f.org, "CRM", "sk_live_deletedeletedel"))
		other := &impl.Organization{Name: "Other"}
		if err := f.s.Organizations.CreateOrganization(ctx, other); err != nil {
			t.Fatal(err)
		}
		wantCode(t, f.s.APIKeys.DeleteAPIKey(ctx, other.ID, k.ID), impl.ENotFound)
		if err := f.s.APIKeys.DeleteAPIKey(ctx, f.org, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err := f.s.APIKeys.FindAPIKeyByID(ctx, f.org, k.ID)
		wantCode(t, err, impl.ENotFound)
		if found, _ := f.s.APIKeys.FindAPIKeysByPrefix(ctx, k.Prefix); len(found) != 0 {
			t.Fatal("a deleted key can still be found by its prefix")
		}
		wantCode(t, f.s.APIKeys.DeleteAPIKey(ctx, f.org, k.ID), impl.ENotFound)
	})
}
