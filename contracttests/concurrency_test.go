package contracttests

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
)

// TestConcurrentWrites runs writers in parallel: creates, creates racing for
// one phone, and patches of one lead. SQLite has one writer at a time and
// PostgreSQL locks the row; either way every request must end in a
// documented answer (201, 200 or 409), never a 500, and the racing phone is
// stored exactly once. (The store tests check that concurrent updates of one
// lead lose nothing.)
func TestConcurrentWrites(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key
		if !tg.remote() {
			key = tg.freshOrg(t)
		}
		c := tg.client(t, key, bearer)
		ctx := context.Background()
		lead := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
		const workers, each = 8, 15
		shared := uniquePhone(t) // every worker tries to create this one too

		var mu sync.Mutex
		statuses := map[int]int{}
		record := func(op string, status int, body []byte) {
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status >= 500 {
				t.Errorf("%s: %d %s", op, status, body)
			}
		}
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					cr, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: uniquePhone(t)})
					if err != nil {
						t.Error(err)
						return
					}
					record("create", cr.StatusCode(), cr.Body)
					dup, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: shared})
					if err != nil {
						t.Error(err)
						return
					}
					record("create shared phone", dup.StatusCode(), dup.Body)
					pr, err := c.PatchLeadWithResponse(ctx, lead.Id, client.LeadPatch{LeadScore: ptr(int32(i % 101))})
					if err != nil {
						t.Error(err)
						return
					}
					record("patch", pr.StatusCode(), pr.Body)
				}
			}()
		}
		wg.Wait()
		if statuses[http.StatusCreated] != workers*each+1 {
			t.Errorf("statuses %v: want %d creates (every unique phone plus the shared one once)", statuses, workers*each+1)
		}
		if statuses[http.StatusConflict] != workers*each-1 {
			t.Errorf("statuses %v: want %d conflicts on the shared phone", statuses, workers*each-1)
		}
		if statuses[http.StatusOK] != workers*each {
			t.Errorf("statuses %v: want %d patches", statuses, workers*each)
		}
		found := list(t, c, client.ListLeadsParams{Phone: ptr(shared)})
		if found.Meta.Total != 1 {
			t.Errorf("the shared phone is stored %d times", found.Meta.Total)
		}
		if !tg.remote() {
			if l := list(t, c, client.ListLeadsParams{}); l.Meta.Total != int64(workers*each+2) {
				t.Errorf("%d leads stored, want %d", l.Meta.Total, workers*each+2)
			}
		}
	})
}
