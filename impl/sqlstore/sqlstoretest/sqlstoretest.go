// Package sqlstoretest gives tests fresh databases of both dialects.
//
// SQLite is always available. PostgreSQL is used when TEST_POSTGRES_URL
// points at a server where the tests may create databases (scripts/postgres.sh
// starts a throwaway one; `make test` does it for you). When it is unset the
// PostgreSQL cases are skipped, unless REQUIRE_POSTGRES=1, when they fail:
// CI sets that, so a missing PostgreSQL can never pass silently.
//
// SKIP_SQLITE=1 leaves SQLite out of Databases, the loop over both databases
// that most tests run their cases in. `make test` runs the Go tests twice:
// under the race detector with SKIP_SQLITE=1, and without it and without
// PostgreSQL, so that each database's cases run once. The race detector
// instruments the SQLite engine too (modernc.org/sqlite is Go), which made
// the SQLite cases 15-25 times slower for no finding about our own code,
// which runs the same on either database. Tests that ask for SQLite by name
// (SQLite) still get it.
package sqlstoretest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/lib/pq"
)

// Database is a fresh, empty database for one test.
type Database struct {
	Name string // "sqlite" or "postgres"
	URL  string // a DATABASE_URL for sqlstore.Open
}

// Databases returns a fresh SQLite database (unless SKIP_SQLITE=1) and,
// when available, a fresh PostgreSQL database. Both are removed when the
// test ends.
func Databases(t testing.TB) []Database {
	t.Helper()
	var dbs []Database
	if !skipSQLite() {
		dbs = append(dbs, SQLite(t))
	}
	if pg, ok := Postgres(t); ok {
		dbs = append(dbs, pg)
	}
	return dbs
}

func skipSQLite() bool { return os.Getenv("SKIP_SQLITE") == "1" }

// SQLite returns a fresh SQLite database in the test's temp dir, whatever
// SKIP_SQLITE says: a test that asks for SQLite by name needs it (the
// migrations' parity with PostgreSQL, a store to break), and it is not one of
// the per-database cases that the other pass runs.
func SQLite(t testing.TB) Database {
	t.Helper()
	return Database{Name: "sqlite", URL: "sqlite:" + filepath.Join(t.TempDir(), "test.db")}
}

// Postgres returns a fresh PostgreSQL database, or false when none is
// configured (the test is failed instead under REQUIRE_POSTGRES=1).
func Postgres(t testing.TB) (Database, bool) {
	t.Helper()
	admin := os.Getenv("TEST_POSTGRES_URL")
	if admin == "" {
		if os.Getenv("REQUIRE_POSTGRES") == "1" {
			t.Fatal("REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set; run the tests through `make test` or scripts/postgres.sh")
		}
		t.Log("TEST_POSTGRES_URL is not set: skipping PostgreSQL")
		return Database{}, false
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("TEST_POSTGRES_URL: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)

	adminDB, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatalf("open %s: %v", u.Redacted(), err)
	}
	if _, err := adminDB.Exec("CREATE DATABASE " + name); err != nil {
		adminDB.Close()
		t.Fatalf("create database on %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		defer adminDB.Close()
		if _, err := adminDB.Exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return Database{Name: "postgres", URL: u.String()}, true
}
