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
	"os"
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
	// dsn opens the migrations' own, unbounded pool and a Notifier's
	// listening connection.
	dsn string
	// now is the clock; tests may replace it.
	now func() time.Time

	// queuedSignal receives a value after each commit that queued webhook
	// deliveries; whoever delivers them listens (see DeliveriesQueued).
	queuedSignal chan struct{}
	// queued holds the open transactions that queued deliveries.
	queued sync.Map // *sqlx.Tx -> struct{}
	// onQueuePool holds the transactions open on the queue's pool, when it
	// is not the main pool: their statements come from its own cache.
	onQueuePool sync.Map // *sqlx.Tx -> struct{}

	signing signingKeys

	// sealer seals the secrets the service must use (nil: stored as they
	// are); see seal.go.
	sealer *sealer

	// writeTurn is held by the process's one SQLite writer at a time (nil on
	// PostgreSQL); see exclusive.
	writeTurn chan struct{}
	// queuePool serves the webhook queue's prepared statements (see
	// queueStatement); on SQLite it is pool.
	queuePool *sqlx.DB
	// statements are the queue's prepared statements, by query text.
	statements sync.Map // string -> *sqlx.Stmt
	// keySignal and changedKeys are KeyChanges: the API keys that the open
	// transactions invalidated, handed on after their commit.
	keySignal   chan int64
	changedKeys sync.Map // *sqlx.Tx -> []int64

	// stmts caches prepared statements by their (rebound) text: the hot
	// reads are prepared once per connection rather than parsed each time
	// (18% of the server's CPU on SQLite before).
	stmts  sync.Map // string -> *sqlx.Stmt
	keyGen atomic.Uint64
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

	// SecretsKey (32 bytes) seals the secrets the service must use at rest
	// (seal.go); nil stores them as they are. PreviousSecretsKeys only open:
	// what they sealed is sealed again with SecretsKey by SealSecrets.
	SecretsKey          []byte
	PreviousSecretsKeys [][]byte

	// settings are more of the session's settings (PostgreSQL).
	settings map[string]string
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
	if path, ok := SQLiteFile(databaseURL); ok {
		if err := createPrivately(path); err != nil {
			return nil, fmt.Errorf("create the SQLite database: %w", err)
		}
	}
	sealer, err := newSealer(opts.SecretsKey, opts.PreviousSecretsKeys)
	if err != nil {
		return nil, fmt.Errorf("SECRETS_KEY: %w", err)
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
	out := &DB{pool: db, queuePool: db, dialect: dialect, dsn: dsn, now: func() time.Time { return time.Now() },
		queuedSignal: make(chan struct{}, 1), keySignal: make(chan int64, 256), sealer: sealer}
	if dialect == SQLite {
		out.writeTurn = make(chan struct{}, 1)
		return out, nil
	}
	// dialect: the queue's statements are prepared once, and their generic
	// plans (primary-key and lane-index lookups) are the right ones for any
	// batch. PostgreSQL's default plans them again at every execution,
	// because for a short list of ids a custom plan looks a little cheaper,
	// and planning a claim's three-table join cost more CPU than running
	// it. Sessions of their own keep that setting away from the rest of the
	// service's queries, which are planned for their parameters.
	//
	// A generic plan is made at a statement's first execution in a session
	// and kept until an ANALYZE of its tables. Made while deliveries was
	// small (a new deployment, a queue the retention job emptied), it scans
	// the table: the record of a batch of two went from 0.3 to 13 ms as a
	// fresh queue grew to 30,000 rows within a minute, before autovacuum's
	// first look (BenchmarkWebhookSustained, auto_explain). Every queue
	// statement reads its rows by primary key or through the lane index,
	// so these sessions never plan a sequential scan where an index serves.
	qopts := opts
	qopts.settings = map[string]string{"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}
	if out.queuePool, err = openPool(dialect, dsn, qopts); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	out.queuePool.SetMaxOpenConns(8)
	out.queuePool.SetMaxIdleConns(8)
	return out, nil
}

// openPool opens the connection pool of a dialect.
func openPool(dialect Dialect, dsn string, opts Options) (*sqlx.DB, error) {
	if dialect == Postgres {
		connector, err := pgConnector(dsn, opts.Timeout, opts.settings)
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
	// As many idle as open: the default of two idle connections made a busy
	// server open and close SQLite connections all the time (7% of its CPU
	// under 32 concurrent requests).
	db.SetMaxIdleConns(8)
	return db, nil
}

// createPrivately creates a SQLite database that does not exist yet as an
// empty file only its owner may read and write. It holds the organizations'
// leads and messages, and SQLite gives its WAL and shared-memory files the
// database file's mode; left to SQLite, all three would be readable by
// every user of the host (0644 under the usual umask). A file that exists
// keeps the mode it has: its operator chose it (app.Open warns when others
// can read it).
func createPrivately(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// SQLiteFile is the file of a SQLite DATABASE_URL ("" is the default
// file); ok is false for PostgreSQL, an in-memory database and a URL that
// does not parse.
func SQLiteFile(databaseURL string) (path string, ok bool) {
	switch {
	case databaseURL == "":
		return DefaultSQLitePath, true
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path = strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		return path, path != "" && !strings.HasPrefix(path, ":memory:")
	}
	return "", false
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

// Close closes the connection pools.
func (s *DB) Close() error {
	s.stmts.Range(func(_, v any) bool {
		_ = v.(*sqlx.Stmt).Close()
		return true
	})
	s.closeStatements()
	if s.queuePool != s.pool {
		s.queuePool.Close()
	}
	return s.pool.Close()
}

// prepared returns the statement of query (written with "?"), prepared
// once for the pool: database/sql then prepares it once per connection.
func (s *DB) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	query = s.rebind(query)
	if stmt, ok := s.stmts.Load(query); ok {
		return stmt.(*sqlx.Stmt), nil
	}
	stmt, err := s.pool.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if first, loaded := s.stmts.LoadOrStore(query, stmt); loaded {
		_ = stmt.Close() // another request prepared it first
		return first.(*sqlx.Stmt), nil
	}
	return stmt, nil
}

// listGet and listRows run one of a list's reads (a count, a page),
// written with "?", into dst, through the prepared-statement cache
// (prepared), as the lead list's reads are (see readRun).
//
// dialect: on SQLite, parsing a page's two statements again was a quarter
// of GET /messages (BenchmarkListMessages profile); on PostgreSQL, planning
// them for their arguments was most of what a page cost the cluster, as
// for the leads (docs/benchmarks.md, "Pages of leads on prepared
// statements"). The text must hold only placeholders, columns and fixed
// conditions, so that there are a bounded number of them
// (TestMessageListStatementsAreBounded).
func (s *DB) listGet(ctx context.Context, dst any, query string, args ...any) error {
	stmt, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	return stmt.GetContext(ctx, dst, args...)
}

// listRows is listGet for a page of rows, to scan.
func (s *DB) listRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// scanEach reads every row of rows (or returns err, the query's) into a
// new T through the destinations fields gives, in the statement's column
// order: without sqlx's reflection over each row.
func scanEach[T any](rows *sql.Rows, err error, fields func(*T) []any) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*T{}
	for rows.Next() {
		r := new(T)
		if err := rows.Scan(fields(r)...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// listQueryer is tx for a list's reads. dialect: on SQLite each of its
// statements goes through the prepared-statement cache (stmtIn), as
// listGet's do; on PostgreSQL it is tx itself (unnamed statements, planned
// for their arguments). A webhook's delivery log, its only user, was not
// better prepared there: at a million deliveries beside 10,000, pages
// filtered by status were 8-15 % slower on generic plans, though its pages
// at 10,000 were faster (docs/benchmarks.md, "Pages of leads on prepared
// statements"). Only for reads whose text holds no value.
func (s *DB) listQueryer(tx *sqlx.Tx) sqlx.QueryerContext {
	if s.dialect != SQLite {
		return tx
	}
	return preparedQueryer{db: s, tx: tx}
}

// preparedQueryer runs the statements of a read-only transaction through
// their prepared statements (stmtIn).
type preparedQueryer struct {
	db *DB
	tx *sqlx.Tx
}

func (p preparedQueryer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.db.stmtIn(ctx, p.tx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p preparedQueryer) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	st, err := p.db.stmtIn(ctx, p.tx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryxContext(ctx, args...)
}

func (p preparedQueryer) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	st, err := p.db.stmtIn(ctx, p.tx, query)
	if err != nil {
		// A statement that does not prepare fails the same way unprepared.
		return p.tx.QueryRowxContext(ctx, query, args...)
	}
	return st.QueryRowxContext(ctx, args...)
}

// stmtIn is query's statement (written with "?"), prepared once for the
// pool (see prepared), for use in tx; on the pool itself when tx is nil.
// database/sql prepares it once on each connection and keeps it there, so
// the writes every request makes are not parsed again each time: on SQLite
// that parse also compiles the table's triggers, and it was 16 % of the CPU
// of POST /leads. Only for statements whose text is fixed: each text is kept
// for the life of the pool.
func (s *DB) stmtIn(ctx context.Context, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	if _, queue := s.onQueuePool.Load(tx); queue && tx != nil {
		return s.inTxStmt(ctx, tx, query)
	}
	st, err := s.prepared(ctx, query)
	if err != nil || tx == nil {
		return st, err
	}
	return tx.StmtxContext(ctx, st), nil
}

// execStmt runs query through stmtIn.
func (s *DB) execStmt(ctx context.Context, tx *sqlx.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.stmtIn(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// getStmt reads one row into dest through stmtIn.
func (s *DB) getStmt(ctx context.Context, tx *sqlx.Tx, dest any, query string, args ...any) error {
	st, err := s.stmtIn(ctx, tx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// get runs a one-row read through its prepared statement: for the reads
// every request makes.
func (s *DB) get(ctx context.Context, dest any, query string, args ...any) error {
	stmt, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	ctx, err = oneRow(ctx)
	if err != nil {
		return err
	}
	return stmt.GetContext(ctx, dest, args...)
}

// oneRow is the context of a read of one row by its key, or ctx's error if
// it has already ended. It keeps ctx's values but not its cancellation:
// for a cancellable context, database/sql and the driver each start a
// goroutine per query to watch it, and for a read that ends in microseconds
// that watch cost more than the read (GET /leads/{id} on SQLite: 63-65 ->
// 53-56 CPU µs, docs/benchmarks.md). What bounds a read that hangs is
// unchanged: on PostgreSQL, the session's statement_timeout and the
// connection's deadline (unavailable.go); on SQLite a WAL read does not
// wait for writers. Reads that may walk many rows keep ctx.
func oneRow(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// selectAll is get for many rows.
func (s *DB) selectAll(ctx context.Context, dest any, query string, args ...any) error {
	stmt, err := s.prepared(ctx, query)
	if err != nil {
		return err
	}
	return stmt.SelectContext(ctx, dest, args...)
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.pool.PingContext(ctx) }

// Migrate applies every pending migration of the store's dialect and returns
// the versions it applied.
func (s *DB) Migrate(ctx context.Context) ([]int64, error) {
	// Migrations get their own pool without the statement timeout: building
	// an index on a large table may rightly take longer than any request.
	pool, err := openPool(s.dialect, s.dsn, Options{})
	if err != nil {
		return nil, fmt.Errorf("open migration connection: %w", err)
	}
	defer pool.Close()
	p, err := s.migrations(pool)
	if err != nil {
		return nil, err
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

// migrations is the goose provider of the dialect's migrations over pool.
func (s *DB) migrations(pool *sqlx.DB) (*goose.Provider, error) {
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
	p, err := goose.NewProvider(gd, pool.DB, dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
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

// lockOrganization makes tx's count of an organization's rows (API keys,
// webhooks) hold until it commits, so that a cap checked on it holds.
// dialect: on PostgreSQL concurrent creates would each count the same rows
// under READ COMMITTED and pass the cap together, so they queue on the
// organization's row; SQLite's write transaction is already exclusive.
func (s *DB) lockOrganization(ctx context.Context, tx *sqlx.Tx, orgID int64) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`SELECT id FROM organizations WHERE id = ? FOR UPDATE`), orgID); err != nil {
		return fmt.Errorf("lock organization: %w", err)
	}
	return nil
}

// exclusive waits for the process's turn to write and returns the function
// that ends it. dialect: SQLite has one writer at a time; a writer that
// finds the lock taken sleeps in SQLite's busy handler (1 ms, then 2, then
// 5...) although the holder needs a fraction of that. Taking turns in the
// process first hands the lock over as soon as it is free. Other processes
// on the same file still wait in the busy handler. PostgreSQL writers run
// side by side, so there it does nothing.
func (s *DB) exclusive(ctx context.Context) (func(), error) {
	if s.writeTurn == nil {
		return func() {}, nil
	}
	select {
	case s.writeTurn <- struct{}{}:
		return func() { <-s.writeTurn }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to write: %w", ctx.Err())
	}
}

// inTx runs fn in a transaction and commits if fn returns nil.
func (s *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.inTxOn(ctx, s.pool, fn)
}

// inQueueTx is inTx on the queue's pool, for transactions that use
// prepared statements.
func (s *DB) inQueueTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.inTxOn(ctx, s.queuePool, fn)
}

func (s *DB) inTxOn(ctx context.Context, pool *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	done, err := s.exclusive(ctx)
	if err != nil {
		return err
	}
	defer done()
	tx, err := pool.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	_, queued := s.queued.LoadAndDelete(tx) // a reused pointer must not inherit a flag
	s.changedKeys.Delete(tx)
	if pool != s.pool {
		s.onQueuePool.Store(tx, struct{}{})
		defer s.onQueuePool.Delete(tx)
	}
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
	// dialect: READ COMMITTED, PostgreSQL's default, takes a snapshot per
	// statement. SQLite's transaction is one snapshot already; read-only, it
	// begins DEFERRED instead of taking the write lock (the DSN's _txlock).
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
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
