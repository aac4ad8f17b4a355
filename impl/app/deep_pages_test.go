package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/promtext"
)

// TestDeepPagesInMetrics: /metrics shows how the server read the deep
// numbered pages of GET /leads (impl/sqlstore/pagemarks.go), on both
// databases: a first visit walked to, the same page again read after its
// mark, with the same leads, and after a new lead, read after the mark
// mended past it.
func TestDeepPagesInMetrics(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := startOutageApp(t, d.URL)
			var last int64
			for i := range 530 {
				l := &impl.Lead{Phone: fmt.Sprintf("55119%08d", i)}
				if err := e.a.Stores.Leads.CreateLead(context.Background(), e.org, l); err != nil {
					t.Fatal(err)
				}
				last = l.ID
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
			// A new lead before every other in the order by name (the
			// others have none): the mark is mended past it, and the page
			// begins one lead earlier.
			res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511988887777","name":"Ana"}`)
			var ana struct{ ID int64 }
			if err := json.Unmarshal(b, &ana); err != nil || res.StatusCode != 201 {
				t.Fatalf("create a lead: %d %s", res.StatusCode, b)
			}
			moved := page()
			if fmt.Sprint(moved[1:]) != fmt.Sprint(first[:24]) || moved[0] == first[0] {
				t.Errorf("after a new first lead, page 21 gave %v; it was %v", moved, first)
			}
			// That lead deleted, then the last lead named, through the API:
			// the mark follows both writes (impl/sqlstore/followmarks.go),
			// and the page is back where it was, then again one lead earlier.
			if res, b, _ := e.do(t, "DELETE", fmt.Sprintf("/api/v1/leads/%d", ana.ID), ""); res.StatusCode != 204 {
				t.Fatalf("delete the lead: %d %s", res.StatusCode, b)
			}
			if back := page(); fmt.Sprint(back) != fmt.Sprint(first) {
				t.Errorf("after the new first lead was deleted, page 21 gave %v; want %v", back, first)
			}
			if res, b, _ := e.do(t, "PATCH", fmt.Sprintf("/api/v1/leads/%d", last), `{"name":"Bia"}`); res.StatusCode != 200 {
				t.Fatalf("name the last lead: %d %s", res.StatusCode, b)
			}
			if again := page(); fmt.Sprint(again) != fmt.Sprint(moved) {
				t.Errorf("after the last lead was named, page 21 gave %v; want %v", again, moved)
			}
			_, b, _ = e.do(t, "GET", "/metrics", "")
			for read, want := range map[string]string{"walked": "1", "after_mark": "1", "mended": "3"} {
				m := regexp.MustCompile(`(?m)^iagente_lead_deep_pages_total\{read="` + read + `"\} (\d+)$`).FindSubmatch(b)
				if m == nil || string(m[1]) != want {
					t.Errorf("iagente_lead_deep_pages_total{read=%q}: %q, want %s, in\n%s", read, m, want, b)
				}
			}
		})
	}
}

// TestPointReadsInMetrics: /metrics counts the reads of single leads and
// messages by how they reached PostgreSQL (impl/sqlstore/pointreads.go);
// SQLite, which gathers none, has no such series.
func TestPointReadsInMetrics(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := startOutageApp(t, d.URL)
			lead := &impl.Lead{Phone: "5511999990000"}
			if err := e.a.Stores.Leads.CreateLead(context.Background(), e.org, lead); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if res, b, _ := e.do(t, "GET", fmt.Sprintf("/api/v1/leads/%d", lead.ID), ""); res.StatusCode != 200 {
					t.Fatalf("GET the lead: %d %s", res.StatusCode, b)
				}
			}
			_, b, _ := e.do(t, "GET", "/metrics", "")
			m, err := promtext.Parse(string(b))
			if err != nil {
				t.Fatalf("/metrics: %v", err)
			}
			want := map[string]float64{
				`iagente_db_point_reads_total{kind="lead",read="alone"}`:       2,
				`iagente_db_point_reads_total{kind="lead",read="gathered"}`:    0,
				`iagente_db_point_read_gatherings_total{kind="lead"}`:          0,
				`iagente_db_point_reads_total{kind="message",read="alone"}`:    0,
				`iagente_db_point_reads_total{kind="message",read="gathered"}`: 0,
				`iagente_db_point_read_gatherings_total{kind="message"}`:       0,
			}
			for series, n := range want {
				got, ok := m[series]
				switch {
				case d.Name != "postgres" && ok:
					t.Errorf("%s = %v on %s, which gathers no reads", series, got, d.Name)
				case d.Name == "postgres" && (!ok || got != n):
					t.Errorf("%s = %v (present %v), want %v", series, got, ok, n)
				}
			}
		})
	}
}
