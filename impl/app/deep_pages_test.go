package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// TestDeepPagesInMetrics: /metrics shows how the server read the deep
// numbered pages of GET /leads (impl/sqlstore/pagemarks.go), on both
// databases: a first visit walked to, the same page again read after its
// mark, with the same leads.
func TestDeepPagesInMetrics(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := startOutageApp(t, d.URL)
			for i := range 530 {
				if err := e.a.Stores.Leads.CreateLead(context.Background(), e.org, &impl.Lead{Phone: fmt.Sprintf("55119%08d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			page := func() []int64 {
				t.Helper()
				res, b, _ := e.do(t, "GET", "/api/v1/leads?sort=name&page=21&per_page=25", "")
				var body struct {
					Data []struct{ ID int64 } `json:"data"`
				}
				if err := json.Unmarshal(b, &body); err != nil || res.StatusCode != 200 || len(body.Data) != 25 {
					t.Fatalf("page 21: %d %s", res.StatusCode, b)
				}
				var ids []int64
				for _, l := range body.Data {
					ids = append(ids, l.ID)
				}
				return ids
			}
			first, again := page(), page()
			if fmt.Sprint(first) != fmt.Sprint(again) {
				t.Errorf("page 21 gave %v, then %v", first, again)
			}
			_, b, _ := e.do(t, "GET", "/metrics", "")
			for read, want := range map[string]string{"walked": "1", "after_mark": "1"} {
				m := regexp.MustCompile(`(?m)^iagente_lead_deep_pages_total\{read="` + read + `"\} (\d+)$`).FindSubmatch(b)
				if m == nil || string(m[1]) != want {
					t.Errorf("iagente_lead_deep_pages_total{read=%q}: %q, want %s, in\n%s", read, m, want, b)
				}
			}
		})
	}
}
