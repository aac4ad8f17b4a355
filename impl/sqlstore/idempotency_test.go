package sqlstore

import (
	"context"
	"fmt"
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
