// Package sqlstore implements the impl services on SQL with sqlx, for two
// dialects: PostgreSQL (lib/pq) in production and SQLite (modernc.org/sqlite,
// pure Go) as the embedded default. Queries are written once with "?" and
// rebound; the dialect differences live in the migrations and in the few
// places marked "dialect:".
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/iagente/iagente-sdr/impl"
)

// Dialect is the SQL flavour of a DB.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DefaultSQLitePath is where the embedded database lives when DATABASE_URL
// is unset: a file in the working directory, so `make run` needs nothing.
const DefaultSQLitePath = "iagente-sdr.db"

//go:embed migrations
var migrations embed.FS

// DB is the store. It implements impl.LeadService, impl.OrganizationService
// and impl.APIKeyService.
type DB struct {
	db      *sqlx.DB
	dialect Dialect
	// now is the clock; tests may replace it.
	now func() time.Time

	// onDeliveries is called after a commit that queued webhook deliveries,
	// so the dispatcher starts at once instead of at its next poll.
	onDeliveries func()
	// queued holds the open transactions that queued deliveries.
	queued sync.Map // *sqlx.Tx -> struct{}
}

// OnDeliveries sets the function called after each commit that queued
// webhook deliveries. It must not block.
func (s *DB) OnDeliveries(fn func()) { s.onDeliveries = fn }

// Open connects to databaseURL: a postgres:// or postgresql:// URL, a
// sqlite:PATH, or "" for DefaultSQLitePath. It does not migrate.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	dialect, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	driver := "postgres"
	if dialect == SQLite {
		driver = "sqlite"
	}
	db, err := sqlx.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if dialect == Postgres {
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		// dialect: sqlx knows modernc's driver by no name, so tell it the
		// placeholders are "?". One writer at a time is SQLite's rule, and
		// BEGIN IMMEDIATE (the DSN's _txlock) plus busy_timeout make writers
		// queue instead of failing with SQLITE_BUSY.
		db = sqlx.NewDb(db.DB, "sqlite3")
		db.SetMaxOpenConns(8)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	return &DB{db: db, dialect: dialect, now: func() time.Time { return time.Now() }}, nil
}

func parseURL(databaseURL string) (Dialect, string, error) {
	switch {
	case databaseURL == "":
		return SQLite, sqliteDSN(DefaultSQLitePath), nil
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		if _, err := url.Parse(databaseURL); err != nil {
			return "", "", fmt.Errorf("DATABASE_URL is not a valid URL: %w", err)
		}
		return Postgres, databaseURL, nil
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//")
		if path == "" {
			return "", "", errors.New("DATABASE_URL sqlite: needs a file path, for example sqlite:./iagente-sdr.db")
		}
		return SQLite, sqliteDSN(path), nil
	default:
		return "", "", errors.New("DATABASE_URL must be a postgres://, postgresql:// or sqlite:PATH URL")
	}
}

func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	return "file:" + path + "?" + q.Encode()
}

// Dialect reports which SQL flavour the store speaks.
func (s *DB) Dialect() Dialect { return s.dialect }

// Close closes the connection pool.
func (s *DB) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Migrate applies every pending migration of the store's dialect and returns
// the versions it applied.
func (s *DB) Migrate(ctx context.Context) ([]int64, error) {
	dir, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return nil, err
	}
	gd := goose.DialectPostgres
	var opts []goose.ProviderOption
	if s.dialect == SQLite {
		gd = goose.DialectSQLite3
	} else {
		// dialect: replicas starting together on one PostgreSQL take turns,
		// through an advisory lock, instead of racing to apply the same migration.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.db.DB, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// timestamp is the store's clock reading: UTC, at the microsecond precision
// PostgreSQL keeps, so a value reads back exactly as it was written.
func (s *DB) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

func (s *DB) rebind(q string) string { return s.db.Rebind(q) }

// isUniqueViolation reports whether err is a unique-constraint failure.
// dialect: the two drivers report it differently.
func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isForeignKeyViolation reports whether err is a foreign-key failure.
func isForeignKeyViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23503"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// inTx runs fn in a transaction and commits if fn returns nil.
func (s *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	_, queued := s.queued.LoadAndDelete(tx) // a reused pointer must not inherit a flag
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		s.queued.Delete(tx)
		return err
	}
	err = tx.Commit()
	_, queued = s.queued.LoadAndDelete(tx)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if queued && s.onDeliveries != nil {
		s.onDeliveries()
	}
	return nil
}

// readTx runs fn in a transaction that sees one snapshot, for reads made of
// several statements (rows, then their children) that a concurrent commit
// must not split.
func (s *DB) readTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	var opts *sql.TxOptions
	if s.dialect == Postgres {
		// dialect: READ COMMITTED, the default, takes a snapshot per statement.
		// SQLite's transaction is one snapshot already.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.db.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	return fn(tx)
}

// notFound turns sql.ErrNoRows into an ENotFound application error.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return impl.Errorf(impl.ENotFound, "%s not found.", what)
	}
	return err
}
