package main

import (
	"database/sql"
	"fmt"
	"os"
	"time"

	_ "modernc.org/sqlite"
)

const cand = `WITH RECURSIVE lanes(webhook_id) AS (
		SELECT MIN(webhook_id) FROM deliveries WHERE status = 'pending'
		UNION ALL
		SELECT (SELECT MIN(d.webhook_id) FROM deliveries d WHERE d.status = 'pending' AND d.webhook_id > l.webhook_id)
		FROM lanes l WHERE l.webhook_id IS NOT NULL
	), heads AS (
		SELECT d.id, d.organization_id, d.webhook_id, d.due_ms,
			row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.due_ms) AS lane_rank
		FROM lanes l JOIN deliveries d ON d.id IN (
			SELECT x.id FROM deliveries x
			WHERE x.webhook_id = l.webhook_id AND x.status = 'pending' AND x.due_ms <= ?
				AND (x.locked_until_ms IS NULL OR x.locked_until_ms < ?)
			ORDER BY x.due_ms LIMIT ?)
	)
	SELECT id, organization_id, webhook_id, due_ms FROM heads ORDER BY lane_rank, due_ms LIMIT ?`

func main() {
	os.Remove("/tmp/q.db")
	db, _ := sql.Open("sqlite", "file:/tmp/q.db?_pragma=journal_mode(WAL)")
	db.SetMaxOpenConns(1)
	must := func(_ any, err error) {
		if err != nil {
			panic(err)
		}
	}
	must(db.Exec(`CREATE TABLE deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, organization_id INTEGER NOT NULL, webhook_id INTEGER NOT NULL, event_id INTEGER NOT NULL, message_id TEXT NOT NULL UNIQUE, status TEXT NOT NULL, attempt_count INTEGER NOT NULL DEFAULT 0, attempt_limit INTEGER NOT NULL, due_ms INTEGER, locked_by TEXT, locked_until_ms INTEGER, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)`))
	must(db.Exec(`CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id)`))
	must(db.Exec(`CREATE INDEX deliveries_lane ON deliveries (webhook_id, due_ms) WHERE status = 'pending'`))
	must(db.Exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 10000)
		INSERT INTO deliveries (organization_id, webhook_id, event_id, message_id, status, attempt_limit, due_ms, created_at, updated_at)
		SELECT 1, 1, i, 'm'||i, 'pending', 8, 1000, '2026-01-01', '2026-01-01' FROM s`))
	must(db.Exec(`ANALYZE`))
	leased := 32
	if len(os.Args) > 2 {
		fmt.Sscan(os.Args[2], &leased)
	}
	must(db.Exec(`UPDATE deliveries SET locked_by='w', locked_until_ms=99999999 WHERE id <= ?`, leased))
	if len(os.Args) > 1 && os.Args[1] == "idx" {
		must(db.Exec(`DROP INDEX deliveries_lane`))
		must(db.Exec(`CREATE INDEX deliveries_lane ON deliveries (webhook_id, due_ms, locked_until_ms) WHERE status = 'pending'`))
	}
	q := cand
	args := []any{5000, 5000, 33, 64}
	if os.Getenv("SIMPLE") != "" {
		q = `SELECT id, organization_id, webhook_id, due_ms FROM deliveries WHERE webhook_id = ? AND status = 'pending' AND due_ms <= ? AND (locked_until_ms IS NULL OR locked_until_ms < ?) ORDER BY due_ms LIMIT ?`
		args = []any{1, 5000, 5000, 33}
	}
	st, err := db.Prepare(q)
	if err != nil {
		panic(err)
	}
	rows, _ := db.Query("EXPLAIN QUERY PLAN " + q, args...)
	for rows.Next() {
		var a, b, c int
		var d string
		rows.Scan(&a, &b, &c, &d)
		fmt.Println(d)
	}
	rows.Close()
	n := 2000
	start := time.Now()
	got := 0
	for range n {
		r, err := st.Query(args...)
		if err != nil {
			panic(err)
		}
		for r.Next() {
			got++
		}
		r.Close()
	}
	fmt.Printf("%s leased=%d: %.1f µs per query, %d rows each\n", os.Args[1:], leased, float64(time.Since(start).Microseconds())/float64(n), got/n)
}
