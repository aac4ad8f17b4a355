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
	"sync/atomic"
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

// DB is the database handle every store shares: the pool, the dialect, the
// clock, and the transaction helpers. The stores (one per aggregate) are in
// the files named after them; Stores bundles them for wiring.
type DB struct {
	pool    *sqlx.DB
	dialect Dialect
	dsn     string // to open the migrations' own, unbounded pool
	// now is the clock; tests may replace it.
	now func() time.Time

	// queuedSignal receives a value after each commit that queued webhook
	// deliveries; whoever delivers them listens (see DeliveriesQueued).
	queuedSignal chan struct{}
	// queued holds the open transactions that queued deliveries.
	queued sync.Map // *sqlx.Tx -> struct{}

	// keySignal and changedKeys are KeyChanges: the API keys that the open
	// transactions invalidated, handed on after their commit.
	keySignal   chan int64
	changedKeys sync.Map // *sqlx.Tx -> []int64
	keyGen      atomic.Uint64
}

// DeliveriesQueued signals, without blocking the writer, that a commit has
// queued webhook deliveries, so that a dispatcher can start at once instead
// of at its next poll. Signals coalesce: one pending value stands for any
// number of commits.
func (s *DB) DeliveriesQueued() <-chan struct{} { return s.queuedSignal }

// Options tune how a DB talks to its database.
type Options struct {
	// Timeout bounds every statement (0: unbounded). On PostgreSQL it is the
	// session's statement_timeout, and a connection that stays silent for
	// longer (a frozen server) is abandoned; on SQLite it is how long a
	// writer waits for the lock. Callers bound whole requests with their
	// context; this bounds what a context cannot reach.
	Timeout time.Duration
}

// Open connects to databaseURL: a postgres:// or postgresql:// URL, a
// sqlite:PATH, or "" for DefaultSQLitePath. It does not migrate, and it
// bounds nothing; the server opens with OpenWith.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	return OpenWith(ctx, databaseURL, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, databaseURL string, opts Options) (*DB, error) {
	dialect, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	db, err := openPool(dialect, dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	return &DB{pool: db, dialect: dialect, dsn: dsn, now: func() time.Time { return time.Now() },
		queuedSignal: make(chan struct{}, 1), keySignal: make(chan int64, 256)}, nil
}

// openPool opens the connection pool of a dialect.
func openPool(dialect Dialect, dsn string, opts Options) (*sqlx.DB, error) {
	if dialect == Postgres {
		connector, err := pgConnector(dsn, opts.Timeout)
		if err != nil {
			return nil, err
		}
		db := sqlx.NewDb(sql.OpenDB(connector), "postgres")
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db, nil
	}
	if opts.Timeout > 0 {
		dsn = strings.Replace(dsn, url.QueryEscape("busy_timeout(10000)"),
			url.QueryEscape(fmt.Sprintf("busy_timeout(%d)", opts.Timeout.Milliseconds())), 1)
	}
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// dialect: sqlx knows modernc's driver by no name, so tell it the
	// placeholders are "?". One writer at a time is SQLite's rule, and
	// BEGIN IMMEDIATE (the DSN's _txlock) plus busy_timeout make writers
	// queue instead of failing with SQLITE_BUSY.
	db = sqlx.NewDb(db.DB, "sqlite3")
	db.SetMaxOpenConns(8)
	return db, nil
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
func (s *DB) Close() error { return s.pool.Close() }

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.pool.PingContext(ctx) }

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
	// Migrations get their own pool without the statement timeout: building
	// an index on a large table may rightly take longer than any request.
	pool, err := openPool(s.dialect, s.dsn, Options{})
	if err != nil {
		return nil, fmt.Errorf("open migration connection: %w", err)
	}
	defer pool.Close()
	p, err := goose.NewProvider(gd, pool.DB, dir, opts...)
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

func (s *DB) rebind(q string) string { return s.pool.Rebind(q) }

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
	tx, err := s.pool.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	_, queued := s.queued.LoadAndDelete(tx) // a reused pointer must not inherit a flag
	s.changedKeys.Delete(tx)
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		s.queued.Delete(tx)
		s.changedKeys.Delete(tx)
		return err
	}
	err = tx.Commit()
	_, queued = s.queued.LoadAndDelete(tx)
	if err != nil {
		s.changedKeys.Delete(tx)
		return fmt.Errorf("commit: %w", err)
	}
	s.signalKeys(tx)
	if queued {
		select {
		case s.queuedSignal <- struct{}{}:
		default: // a signal is already pending
		}
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
	tx, err := s.pool.BeginTxx(ctx, opts)
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

// nameOrder compares names byte-wise on both databases.
func (s *DB) nameOrder() string {
	if s.dialect == Postgres {
		// dialect: as for lead names, whatever the cluster's locale.
		return `name COLLATE "C"`
	}
	return "name"
}

// page counts the rows of table matching cond and selects one page of them
// into dst (a pointer to a slice).
func (s *DB) page(ctx context.Context, dst any, table, columns, cond, order string, args []any, offset int64, limit int) (int64, error) {
	return s.pageIn(ctx, s.pool, dst, table, columns, cond, order, args, offset, limit)
}

// pageIn is page on q, for a page read inside a transaction.
func (s *DB) pageIn(ctx context.Context, q sqlx.QueryerContext, dst any, table, columns, cond, order string, args []any, offset int64, limit int) (int64, error) {
	var total int64
	if err := sqlx.GetContext(ctx, q, &total, s.rebind(`SELECT COUNT(*) FROM `+table+` WHERE `+cond), args...); err != nil {
		return 0, err
	}
	if total == 0 || offset >= total {
		return total, nil
	}
	query := `SELECT ` + columns + ` FROM ` + table + ` WHERE ` + cond + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	return total, sqlx.SelectContext(ctx, q, dst, s.rebind(query), append(args, limit, offset)...)
}

// forUpdate is the row-lock suffix of a SELECT that precedes an UPDATE.
func (s *DB) forUpdate() string {
	if s.dialect == Postgres {
		// dialect: SQLite's write transaction already excludes other writers.
		return " FOR UPDATE"
	}
	return ""
}
