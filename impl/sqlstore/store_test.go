package sqlstore

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// t0 is the store's clock at the start of every test. Its nanoseconds show
// that the store keeps microseconds, as PostgreSQL does, on both dialects.
var t0 = time.Date(2026, 3, 13, 14, 2, 11, 123456789, time.UTC)

// testClock is the store's clock in tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a migrated store with two organizations.
type fixture struct {
	db    *DB
	dbURL string
	s     *Stores
	clock *testClock
	org   int64 // the caller's organization
	other int64 // another organization
	leads int   // leads queue has created, for distinct phones
}

func openStore(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newFixture(t *testing.T, url string) *fixture {
	t.Helper()
	ctx := context.Background()
	db := openStore(t, url)
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	f := &fixture{db: db, dbURL: url, s: NewStores(db), clock: &testClock{t: t0}}
	db.now = f.clock.now
	for _, id := range []*int64{&f.org, &f.other} {
		org := &impl.Organization{Name: "Org"}
		if err := f.s.Organizations.CreateOrganization(ctx, org); err != nil {
			t.Fatalf("CreateOrganization: %v", err)
		}
		*id = org.ID
	}
	return f
}

// forEachDB runs fn on a fresh fixture of every database available.
func forEachDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			fn(t, newFixture(t, d.URL))
		})
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := impl.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			db := openStore(t, d.URL)
			if string(db.Dialect()) != d.Name {
				t.Errorf("Dialect() = %q, want %q", db.Dialect(), d.Name)
			}
			applied, err := db.Migrate(ctx)
			if err != nil {
				t.Fatalf("first Migrate: %v", err)
			}
			if len(applied) == 0 || applied[0] != 1 {
				t.Errorf("first Migrate applied %v, want to start with version 1", applied)
			}
			applied, err = db.Migrate(ctx)
			if err != nil || len(applied) != 0 {
				t.Errorf("second Migrate: applied %v, err %v; want nothing, no error", applied, err)
			}
			// Another process starting on the same database finds nothing to do.
			again := openStore(t, d.URL)
			applied, err = again.Migrate(ctx)
			if err != nil || len(applied) != 0 {
				t.Errorf("Migrate from a second connection: applied %v, err %v", applied, err)
			}
			if err := again.Ping(ctx); err != nil {
				t.Error(err)
			}
			// The schema works after all that.
			org := &impl.Organization{Name: "after"}
			if err := NewStores(again).Organizations.CreateOrganization(ctx, org); err != nil {
				t.Fatal(err)
			}
			if err := NewStores(again).Leads.CreateLead(ctx, org.ID, &impl.Lead{Phone: "11999999999"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url        string
		dialect    Dialect
		dsnPrefix  string
		wantErrSub string
	}{
		{url: "", dialect: SQLite, dsnPrefix: "file:" + DefaultSQLitePath + "?"},
		{url: "sqlite:/tmp/x.db", dialect: SQLite, dsnPrefix: "file:/tmp/x.db?"},
		{url: "sqlite:./data/x.db", dialect: SQLite, dsnPrefix: "file:./data/x.db?"},
		{url: "sqlite:///tmp/x.db", dialect: SQLite, dsnPrefix: "file:/tmp/x.db?"},
		{url: "postgres://u:p@h:5432/db?sslmode=disable", dialect: Postgres, dsnPrefix: "postgres://u:p@h:5432/db?sslmode=disable"},
		{url: "postgresql://h/db", dialect: Postgres, dsnPrefix: "postgresql://h/db"},
		{url: "sqlite:", wantErrSub: "needs a file path"},
		{url: "mysql://h/db", wantErrSub: "must be a postgres"},
		{url: "/tmp/x.db", wantErrSub: "must be a postgres"},
		{url: "postgres://h/db\x7f", wantErrSub: "not a valid URL"},
	}
	for _, tt := range tests {
		dialect, dsn, err := parseURL(tt.url)
		if tt.wantErrSub != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("parseURL(%q) error = %v, want one mentioning %q", tt.url, err, tt.wantErrSub)
			}
			continue
		}
		if err != nil || dialect != tt.dialect || !strings.HasPrefix(dsn, tt.dsnPrefix) {
			t.Errorf("parseURL(%q) = %q, %q, %v; want %q, %q...", tt.url, dialect, dsn, err, tt.dialect, tt.dsnPrefix)
		}
		if dialect == SQLite {
			for _, p := range []string{"foreign_keys%281%29", "busy_timeout", "_txlock=immediate", "_time_format=sqlite"} {
				if !strings.Contains(dsn, p) {
					t.Errorf("SQLite DSN %q lacks %s", dsn, p)
				}
			}
		}
	}
}

func TestOpenFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, url := range []string{
		"mysql://localhost/db",
		"postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		"sqlite:" + t.TempDir() + "/missing-dir/x.db",
	} {
		if db, err := Open(ctx, url); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

func TestOrganizations(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		n, err := f.s.Organizations.CountOrganizations(ctx)
		if err != nil || n != 2 {
			t.Fatalf("CountOrganizations = %d, %v; want 2", n, err)
		}
		org := &impl.Organization{Name: "Acme Ltda — São Paulo"}
		if err := f.s.Organizations.CreateOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		if org.ID == 0 || org.ID == f.org || org.ID == f.other || !org.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
			t.Errorf("CreateOrganization filled in %+v", org)
		}
		got, err := f.s.Organizations.FindOrganizationByID(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != org.ID || got.Name != org.Name || !got.CreatedAt.Equal(org.CreatedAt) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("FindOrganizationByID = %+v, want %+v in UTC", got, org)
		}
		_, err = f.s.Organizations.FindOrganizationByID(ctx, org.ID+100)
		wantCode(t, err, impl.ENotFound)
		if n, _ := f.s.Organizations.CountOrganizations(ctx); n != 3 {
			t.Errorf("CountOrganizations = %d, want 3", n)
		}
	})
}

// migrationProvider is db's goose provider, on a pool of its own, for tests
// that undo and redo migrations.
func migrationProvider(t *testing.T, db *DB) *goose.Provider {
	t.Helper()
	pool, err := openPool(db.dialect, db.dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	p, err := db.migrations(pool)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
