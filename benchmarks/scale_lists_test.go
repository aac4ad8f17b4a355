package benchmarks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// The lists' scale benchmarks (messages, a webhook's deliveries) time the
// same page in a small and a big organization, alternating, and print one
// row per page with p50 and p99 and their ratios, big over small.

// benchListScale runs run on each database with the sizes of the
// environment: BENCH_SCALE=1 (make bench-scale), bigEnv (1000000),
// BENCH_SCALE_SMALL (10000) and BENCH_SCALE_SAMPLES (50).
func benchListScale(b *testing.B, what, bigEnv string, run func(b *testing.B, db database, big, small, samples int)) {
	if os.Getenv("BENCH_SCALE") != "1" {
		b.Skip("seeds a million " + what + " per database: run it with make bench-scale")
	}
	big := scaleEnv(b, bigEnv, 1_000_000)
	small := scaleEnv(b, "BENCH_SCALE_SMALL", 10_000)
	samples := scaleEnv(b, "BENCH_SCALE_SAMPLES", 50)
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			for b.Loop() {
				run(b, db, big, small, samples)
			}
		})
	}
}

// seriesInsert is insert (INSERT INTO t (...) SELECT ...) over the rows
// i = 1..$2 in the dialect: generate_series, or a recursive CTE on SQLite,
// where $N is written ?N. {created} in it is the time i seconds after
// 2025-01-01, in the dialect's timestamp.
func seriesInsert(dialect sqlstore.Dialect, insert string) string {
	if dialect == sqlstore.SQLite {
		return numbered(dialect, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) `+
			strings.ReplaceAll(insert, "{created}", `strftime('%Y-%m-%d %H:%M:%S', 1735689600 + i, 'unixepoch') || '+00:00'`)+` FROM n`)
	}
	return strings.ReplaceAll(insert, "{created}", `to_timestamp(1735689600 + i)`) + ` FROM generate_series(1::bigint, $2) AS i`
}

// numbered is q, whose parameters are written $1 to $9, in the dialect:
// ?1 to ?9 on SQLite.
func numbered(dialect sqlstore.Dialect, q string) string {
	if dialect == sqlstore.SQLite {
		for n := 9; n >= 1; n-- {
			q = strings.ReplaceAll(q, fmt.Sprintf("$%d", n), fmt.Sprintf("?%d", n))
		}
	}
	return q
}

// scaleOrgs are the two sides of a comparison, in the order they are timed.
var scaleOrgs = []string{"small", "big"}

// listProbe is one page to time: its row's label, the page number it
// answers and its request target in each organization.
type listProbe struct {
	label   string
	page    int
	targets map[string]string
}

// cursorProbe is page deep again, by the next_cursor of page deep-1, whose
// targets before gives; cursorTarget makes an organization's target of a
// cursor.
func cursorProbe(b *testing.B, h http.Handler, keys map[string]string, deep int, before map[string]string, cursorTarget func(org, cursor string) string) listProbe {
	b.Helper()
	p := listProbe{fmt.Sprintf("%d by cursor", deep), deep, map[string]string{}}
	for _, org := range scaleOrgs {
		rec := serve(b, h, newRequest(http.MethodGet, before[org], keys[org], nil), http.StatusOK)
		var page struct {
			Meta struct {
				NextCursor string `json:"next_cursor"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.Meta.NextCursor == "" {
			b.Fatalf("page %d (%s) gave no next_cursor: %v", deep-1, org, err)
		}
		p.targets[org] = cursorTarget(org, page.Meta.NextCursor)
	}
	return p
}

// timeListProbes checks each probe's answer against want (meta.total, and
// the page's length at 25 a page), then times samples of it in both
// organizations, alternating, and prints its row under label.
func timeListProbes(b *testing.B, h http.Handler, label string, probes []listProbe, keys map[string]string, want map[string]int64, samples int) {
	b.Helper()
	for _, pr := range probes {
		for _, org := range scaleOrgs {
			rec := serve(b, h, newRequest(http.MethodGet, pr.targets[org], keys[org], nil), http.StatusOK)
			var body struct {
				Data []json.RawMessage     `json:"data"`
				Meta struct{ Total int64 } `json:"meta"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				b.Fatal(err)
			}
			if body.Meta.Total != want[org] || len(body.Data) != scalePageLen(want[org], pr.page, 25) {
				b.Fatalf("GET %s (%s): total %d, %d items; want %d, %d", pr.targets[org], org, body.Meta.Total, len(body.Data), want[org], scalePageLen(want[org], pr.page, 25))
			}
		}
		times := map[string][]time.Duration{}
		for range samples {
			for _, org := range scaleOrgs {
				req := newRequest(http.MethodGet, pr.targets[org], keys[org], nil)
				rec := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(rec, req)
				times[org] = append(times[org], time.Since(t0))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", pr.targets[org], rec.Code, rec.Body)
				}
			}
		}
		s50, b50 := percentile(times["small"], 50), percentile(times["big"], 50)
		s99, b99 := percentile(times["small"], 99), percentile(times["big"], 99)
		fmt.Printf("| %s | %s | %s | %s | %.2f | %s | %s | %.2f |\n", label, pr.label,
			strings.TrimSuffix(ms(s50), " ms"), strings.TrimSuffix(ms(b50), " ms"), float64(b50)/float64(s50),
			strings.TrimSuffix(ms(s99), " ms"), strings.TrimSuffix(ms(b99), " ms"), float64(b99)/float64(s99))
	}
}
