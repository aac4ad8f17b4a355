package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// The PostgreSQL and SQLite migrations are written twice, by hand, and the
// store's queries are written once for both. This test migrates a fresh
// database of each dialect and compares what the catalogs say they hold, so a
// column, constraint or index added to one dialect only fails here rather than
// as a query that works on one database and breaks on the other.
//
// The schemas are reduced to facts: a key that says what a thing is (the
// column leads.phone; a unique index on handoffs (lead_id) WHERE status =
// 'open') and a value that describes it (text NOT NULL). Keys present on one
// side only, and keys whose values differ, are drift.

// parityException is a difference between the dialects that is there on
// purpose. An exception that no longer matches anything fails the test too,
// so the list cannot keep hiding a difference after it was fixed.
type parityException struct {
	key    string // the fact's key, as printed in the diff
	reason string
}

// parityExceptions is deliberately short: there is no intended difference
// today. Add one only for something one dialect cannot express, and say why.
var parityExceptions = []parityException{}

// notOurs are tables that the migrations do not create: goose's bookkeeping
// (its two dialects' tables differ, and that is goose's business) and
// SQLite's AUTOINCREMENT counters.
var notOurs = map[string]bool{
	"goose_db_version": true,
	"sqlite_sequence":  true,
}

func TestMigrationsParity(t *testing.T) {
	pg, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL to compare with: set TEST_POSTGRES_URL")
	}
	ctx := context.Background()
	schemas := map[Dialect]schemaFacts{}
	for _, d := range []sqlstoretest.Database{sqlstoretest.SQLite(t), pg} {
		db := openStore(t, d.URL)
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatalf("migrate %s: %v", d.Name, err)
		}
		var facts schemaFacts
		var err error
		if db.Dialect() == Postgres {
			facts, err = postgresSchema(ctx, db.pool.DB)
		} else {
			facts, err = sqliteSchema(ctx, db.pool.DB)
		}
		if err != nil {
			t.Fatalf("read the %s schema: %v", d.Name, err)
		}
		if len(facts) == 0 {
			t.Fatalf("read no schema at all from %s: the catalog queries are wrong", d.Name)
		}
		schemas[db.Dialect()] = facts
	}
	// A comparison of two empty readings would pass; make sure both sides saw
	// a table that every migration set has.
	for dialect, facts := range schemas {
		if _, ok := facts["table leads"]; !ok {
			t.Fatalf("the %s schema has no leads table: the catalog queries are wrong", dialect)
		}
	}
	if report := parityReport(schemas[Postgres], schemas[SQLite], parityExceptions); report != "" {
		t.Errorf("the PostgreSQL and SQLite migrations disagree (fix them with a new migration pair, "+
			"or add a commented exception to parityExceptions):\n%s", report)
	}
}

// TestParityReport checks the comparison itself without a database: it must
// name a one-sided column, a type change and an index whose name differs, and
// it must refuse an exception that matches nothing.
func TestParityReport(t *testing.T) {
	pg := schemaFacts{
		"table leads":              "",
		"column leads.phone":       "text NOT NULL",
		"column leads.score":       "integer NOT NULL",
		"column leads.extra":       "text",
		"unique index leads (id)":  "leads_id",
		"column leads.pg_only_col": "json",
	}
	lite := schemaFacts{
		"table leads":             "",
		"column leads.phone":      "text NOT NULL",
		"column leads.score":      "real NOT NULL",
		"unique index leads (id)": "leads_id_unique",
	}
	exceptions := []parityException{
		{key: "column leads.pg_only_col", reason: "test"},
		{key: "column leads.gone", reason: "test"},
	}
	got := parityReport(pg, lite, exceptions)
	for _, want := range []string{
		`column leads.extra: only in postgres: text`,
		`column leads.score: postgres has "integer NOT NULL", sqlite has "real NOT NULL"`,
		`unique index leads (id): postgres has "leads_id", sqlite has "leads_id_unique"`,
		`exception "column leads.gone" matches no difference`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q; report:\n%s", want, got)
		}
	}
	if strings.Contains(got, "pg_only_col:") {
		t.Errorf("an excepted difference was reported:\n%s", got)
	}
	if same := parityReport(lite, lite, nil); same != "" {
		t.Errorf("identical schemas reported as different:\n%s", same)
	}
}

func TestNormalizedTypes(t *testing.T) {
	for _, c := range []struct{ dialect, declared, want string }{
		{"postgres", "bigint", "integer"},
		{"postgres", "integer", "integer"},
		{"postgres", "text", "text"},
		{"postgres", "character varying", "text"},
		{"postgres", "timestamp with time zone", "timestamp"},
		// No SQLite type keeps a zone or not, so the PostgreSQL side must pick
		// one; the store writes UTC into timestamptz.
		{"postgres", "timestamp without time zone", "timestamp without time zone"},
		{"postgres", "double precision", "real"},
		{"postgres", "bytea", "blob"},
		{"postgres", "jsonb", "json"},
		{"sqlite", "INTEGER", "integer"},
		{"sqlite", "BIGINT", "integer"},
		{"sqlite", "DATETIME", "timestamp"},
		{"sqlite", "BOOLEAN", "boolean"},
		{"sqlite", "REAL", "real"},
		{"sqlite", "BLOB", "blob"},
		{"sqlite", "VARCHAR(20)", "text"},
		{"sqlite", "JSON", "json"},
		{"sqlite", "", "untyped"},
	} {
		norm := sqliteType
		if c.dialect == "postgres" {
			norm = postgresType
		}
		if got := norm(c.declared); got != c.want {
			t.Errorf("%s %q normalizes to %q, want %q", c.dialect, c.declared, got, c.want)
		}
	}
	for in, want := range map[string]string{
		`''::text`:                      `''`,
		`(status = 'pending'::text)`:    `status = 'pending'`,
		`FALSE`:                         `false`,
		`'A'::character varying`:        `'A'`,
		`((a = 1) AND (b = 2))`:         `(a = 1) AND (b = 2)`,
		`(a = 1) AND (b = 2)`:           `(a = 1) AND (b = 2)`,
		`'x'::timestamp with time zone`: `'x'`,
	} {
		if got := normalizeExpr(in); got != want {
			t.Errorf("normalizeExpr(%q) = %q, want %q", in, got, want)
		}
	}
}

// schemaFacts maps a fact's key to its value.
type schemaFacts map[string]string

// parityReport lists every difference between the two schemas that no
// exception covers, and every exception that covers nothing; "" when they
// agree.
func parityReport(pg, lite schemaFacts, exceptions []parityException) string {
	excepted := map[string]bool{}
	for _, e := range exceptions {
		excepted[e.key] = false
	}
	keys := map[string]bool{}
	for k := range pg {
		keys[k] = true
	}
	for k := range lite {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)

	var lines []string
	for _, k := range sorted {
		pv, inPG := pg[k]
		lv, inLite := lite[k]
		var line string
		switch {
		case !inLite:
			line = fmt.Sprintf("%s: only in postgres%s", k, describe(pv))
		case !inPG:
			line = fmt.Sprintf("%s: only in sqlite%s", k, describe(lv))
		case pv != lv:
			line = fmt.Sprintf("%s: postgres has %q, sqlite has %q", k, pv, lv)
		default:
			continue
		}
		if _, ok := excepted[k]; ok {
			excepted[k] = true
			continue
		}
		lines = append(lines, "  "+line)
	}
	for _, e := range exceptions {
		if !excepted[e.key] {
			lines = append(lines, fmt.Sprintf("  exception %q matches no difference: remove it from parityExceptions", e.key))
		}
	}
	return strings.Join(lines, "\n")
}

func describe(v string) string {
	if v == "" {
		return ""
	}
	return ": " + v
}

// Keys and values are built by these few functions for both dialects, so the
// two readings can only differ in what the catalogs say.

func tableKey(table string) string { return "table " + table }

func columnFact(f schemaFacts, table, column, typ string, notNull bool, dflt string) {
	v := typ
	if notNull {
		v += " NOT NULL"
	}
	if dflt != "" {
		v += " DEFAULT " + dflt
	}
	f["column "+table+"."+column] = v
}

func primaryKeyFact(f schemaFacts, table string, columns []string) {
	f["primary key "+table] = "(" + strings.Join(columns, ", ") + ")"
}

// indexFact records an index by what it does: its table, key columns,
// uniqueness and predicate. Its value says where it came from: a UNIQUE
// constraint (whose index name is the database's choice, so ignored) or a
// CREATE INDEX by the name later migrations would DROP it by.
func indexFact(f schemaFacts, table string, columns []string, unique bool, predicate, constraint, name string) {
	k := "index "
	if unique {
		k = "unique index "
	}
	k += table + " (" + strings.Join(columns, ", ") + ")"
	if predicate != "" {
		k += " WHERE " + normalizeExpr(predicate)
	}
	v := "CREATE INDEX " + name
	if constraint != "" {
		v = constraint + " constraint"
	}
	f[k] = v
}

func foreignKeyFact(f schemaFacts, table string, columns []string, refTable string, refColumns []string, onDelete, onUpdate string) {
	f["foreign key "+table+" ("+strings.Join(columns, ", ")+")"] = fmt.Sprintf("REFERENCES %s (%s) ON DELETE %s ON UPDATE %s",
		refTable, strings.Join(refColumns, ", "), strings.ToUpper(onDelete), strings.ToUpper(onUpdate))
}

// autoID is the default of an id the database numbers itself: a sequence on
// PostgreSQL, AUTOINCREMENT on SQLite. Both never hand out an id twice.
const autoID = "<generated id>"

// postgresType maps information_schema's data_type to a family both dialects
// can state.
func postgresType(t string) string {
	switch t {
	case "smallint", "integer", "bigint":
		return "integer"
	case "text", "character varying", "character":
		return "text"
	case "boolean":
		return "boolean"
	case "timestamp with time zone":
		return "timestamp"
	case "real", "double precision":
		return "real"
	case "numeric":
		return "numeric"
	case "bytea":
		return "blob"
	case "json", "jsonb":
		return "json"
	}
	return t
}

// sqliteType maps a declared SQLite type to the same families. SQLite keeps
// the declaration as written, so this follows its affinity rules (INT first,
// then text, blob, real) with the names it has no affinity for, such as
// BOOLEAN and DATETIME, recognised first.
func sqliteType(t string) string {
	u := strings.ToUpper(strings.TrimSpace(t))
	switch {
	case u == "":
		return "untyped"
	case u == "BOOLEAN" || u == "BOOL":
		return "boolean"
	case u == "DATETIME" || u == "TIMESTAMP":
		return "timestamp"
	case u == "JSON" || u == "JSONB":
		return "json"
	case strings.Contains(u, "INT"):
		return "integer"
	case strings.Contains(u, "CHAR"), strings.Contains(u, "CLOB"), strings.Contains(u, "TEXT"):
		return "text"
	case strings.Contains(u, "BLOB"):
		return "blob"
	case strings.Contains(u, "REAL"), strings.Contains(u, "FLOA"), strings.Contains(u, "DOUB"):
		return "real"
	case strings.HasPrefix(u, "NUMERIC"), strings.HasPrefix(u, "DECIMAL"):
		return "numeric"
	}
	return "sqlite " + u
}

// pgCast matches the casts PostgreSQL writes into the defaults and predicates
// it prints back ('pending'::text), which SQLite keeps as written.
var pgCast = regexp.MustCompile(`::"?[a-z_][a-z0-9_]*"?(?: (?:with|without) time zone| varying| precision)?(?:\[\])?`)

// normalizeExpr puts a default or an index predicate as either catalog prints
// it into one form: no casts, no redundant outer parentheses, single spaces,
// and lower-case boolean and NULL keywords.
func normalizeExpr(s string) string {
	s = pgCast.ReplaceAllString(s, "")
	s = strings.Join(strings.Fields(s), " ")
	for enclosed(s) {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	switch u := strings.ToUpper(s); u {
	case "TRUE", "FALSE", "NULL":
		return strings.ToLower(u)
	}
	return s
}

// enclosed reports whether s is one parenthesised expression: "(a) AND (b)"
// starts and ends with parentheses but is not.
func enclosed(s string) bool {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return false
	}
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 && i != len(s)-1 {
				return false
			}
		}
	}
	return true
}

func postgresSchema(ctx context.Context, db *sql.DB) (schemaFacts, error) {
	f := schemaFacts{}

	rows, err := db.QueryContext(ctx, `
		SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO',
		       COALESCE(c.column_default, ''), c.is_identity = 'YES'
		FROM information_schema.columns c
		JOIN information_schema.tables t
		  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'`)
	if err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}
	err = eachRow(rows, func() error {
		var table, column, typ, dflt string
		var notNull, identity bool
		if err := rows.Scan(&table, &column, &typ, &notNull, &dflt, &identity); err != nil {
			return err
		}
		if notOurs[table] {
			return nil
		}
		if identity || strings.HasPrefix(dflt, "nextval(") {
			dflt = autoID
		} else if dflt != "" {
			dflt = normalizeExpr(dflt)
		}
		f[tableKey(table)] = ""
		columnFact(f, table, column, postgresType(typ), notNull, dflt)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}

	// Every index of our tables, with its key columns in order (INCLUDE
	// columns left out: SQLite has none) and the constraint it backs, if any.
	rows, err = db.QueryContext(ctx, `
		SELECT t.relname, i.relname, ix.indisunique, ix.indisprimary,
		       COALESCE(pg_get_expr(ix.indpred, ix.indrelid, true), ''),
		       COALESCE(con.contype::text, ''),
		       (SELECT string_agg(pg_get_indexdef(ix.indexrelid, k, true)
		                  || CASE WHEN ix.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END,
		                  E'\x1f' ORDER BY k)
		          FROM generate_series(1, ix.indnkeyatts) AS k)
		FROM pg_index ix
		JOIN pg_class i ON i.oid = ix.indexrelid
		JOIN pg_class t ON t.oid = ix.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		LEFT JOIN pg_constraint con ON con.conindid = ix.indexrelid AND con.contype IN ('p', 'u', 'x')
		WHERE n.nspname = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("indexes: %w", err)
	}
	err = eachRow(rows, func() error {
		var table, name, predicate, contype, columns string
		var unique, primary bool
		if err := rows.Scan(&table, &name, &unique, &primary, &predicate, &contype, &columns); err != nil {
			return err
		}
		if notOurs[table] {
			return nil
		}
		// A unit separator, not a comma: an expression column has commas.
		cols := strings.Split(columns, "\x1f")
		switch {
		case primary:
			primaryKeyFact(f, table, cols)
		case contype == "u":
			indexFact(f, table, cols, unique, predicate, "UNIQUE", "")
		case contype != "":
			indexFact(f, table, cols, unique, predicate, "postgres "+contype, "")
		default:
			indexFact(f, table, cols, unique, predicate, "", name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexes: %w", err)
	}

	rows, err = db.QueryContext(ctx, `
		SELECT t.relname, r.relname, con.confdeltype::text, con.confupdtype::text,
		       (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
		          FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
		          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
		       (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
		          FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
		          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum)
		FROM pg_constraint con
		JOIN pg_class t ON t.oid = con.conrelid
		JOIN pg_class r ON r.oid = con.confrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE con.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("foreign keys: %w", err)
	}
	actions := map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
	err = eachRow(rows, func() error {
		var table, ref, onDelete, onUpdate, cols, refCols string
		if err := rows.Scan(&table, &ref, &onDelete, &onUpdate, &cols, &refCols); err != nil {
			return err
		}
		foreignKeyFact(f, table, strings.Split(cols, ","), ref, strings.Split(refCols, ","),
			actions[onDelete], actions[onUpdate])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("foreign keys: %w", err)
	}
	return f, nil
}

// sqliteWhere finds the predicate of a partial index in the CREATE INDEX
// statement SQLite keeps: everything after the WHERE that follows the column
// list.
var sqliteWhere = regexp.MustCompile(`(?is)\)\s*WHERE\s+(.*)$`)

var sqliteAutoincrement = regexp.MustCompile(`(?i)\bAUTOINCREMENT\b`)

func sqliteSchema(ctx context.Context, db *sql.DB) (schemaFacts, error) {
	f := schemaFacts{}
	type table struct{ name, sql string }
	var tables []table
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	err = eachRow(rows, func() error {
		var t table
		if err := rows.Scan(&t.name, &t.sql); err != nil {
			return err
		}
		if !notOurs[t.name] {
			tables = append(tables, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	indexSQL := map[string]string{}
	rows, err = db.QueryContext(ctx, `SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'index'`)
	if err != nil {
		return nil, fmt.Errorf("index statements: %w", err)
	}
	err = eachRow(rows, func() error {
		var name, stmt string
		if err := rows.Scan(&name, &stmt); err != nil {
			return err
		}
		indexSQL[name] = stmt
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index statements: %w", err)
	}

	for _, t := range tables {
		f[tableKey(t.name)] = ""
		if err := sqliteColumns(ctx, db, f, t.name, sqliteAutoincrement.MatchString(t.sql)); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", t.name, err)
		}
		if err := sqliteIndexes(ctx, db, f, t.name, indexSQL); err != nil {
			return nil, fmt.Errorf("indexes of %s: %w", t.name, err)
		}
		if err := sqliteForeignKeys(ctx, db, f, t.name); err != nil {
			return nil, fmt.Errorf("foreign keys of %s: %w", t.name, err)
		}
	}
	return f, nil
}

func sqliteColumns(ctx context.Context, db *sql.DB, f schemaFacts, table string, autoincrement bool) error {
	type column struct {
		name, typ, dflt string
		notNull         bool
		pk              int
	}
	var cols []column
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", COALESCE(dflt_value, ''), pk FROM pragma_table_info(?)`, table)
	if err != nil {
		return err
	}
	err = eachRow(rows, func() error {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.dflt, &c.pk); err != nil {
			return err
		}
		cols = append(cols, c)
		return nil
	})
	if err != nil {
		return err
	}
	pk := map[int]string{}
	for _, c := range cols {
		if c.pk > 0 {
			pk[c.pk] = c.name
		}
	}
	for _, c := range cols {
		typ, dflt := sqliteType(c.typ), ""
		if c.dflt != "" {
			dflt = normalizeExpr(c.dflt)
		}
		// A lone INTEGER PRIMARY KEY is the rowid: never NULL, numbered by
		// SQLite. Only with AUTOINCREMENT does it, like a sequence, never
		// reuse the id of a deleted row; without it the two dialects differ.
		if len(pk) == 1 && c.pk == 1 && strings.EqualFold(strings.TrimSpace(c.typ), "INTEGER") {
			c.notNull = true
			if autoincrement {
				dflt = autoID
			} else {
				dflt = "<rowid, may reuse ids>"
			}
		}
		columnFact(f, table, c.name, typ, c.notNull, dflt)
	}
	if len(pk) > 0 {
		names := make([]string, len(pk))
		for i := range names {
			names[i] = pk[i+1]
		}
		primaryKeyFact(f, table, names)
	}
	return nil
}

func sqliteIndexes(ctx context.Context, db *sql.DB, f schemaFacts, table string, indexSQL map[string]string) error {
	type index struct {
		name, origin string
		unique       bool
	}
	var indexes []index
	rows, err := db.QueryContext(ctx, `SELECT name, "unique", origin FROM pragma_index_list(?)`, table)
	if err != nil {
		return err
	}
	err = eachRow(rows, func() error {
		var ix index
		if err := rows.Scan(&ix.name, &ix.unique, &ix.origin); err != nil {
			return err
		}
		indexes = append(indexes, ix)
		return nil
	})
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		if ix.origin == "pk" {
			continue // the primary key is its own fact, from table_info
		}
		var cols []string
		rows, err := db.QueryContext(ctx, `SELECT cid, COALESCE(name, ''), "desc" FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno`, ix.name)
		if err != nil {
			return err
		}
		err = eachRow(rows, func() error {
			var cid int
			var name string
			var desc bool
			if err := rows.Scan(&cid, &name, &desc); err != nil {
				return err
			}
			if cid == -2 {
				name = "<expression>" // SQLite does not print expressions back
			}
			if desc {
				name += " DESC"
			}
			cols = append(cols, name)
			return nil
		})
		if err != nil {
			return err
		}
		predicate := ""
		if m := sqliteWhere.FindStringSubmatch(indexSQL[ix.name]); m != nil {
			predicate = m[1]
		}
		switch ix.origin {
		case "u":
			indexFact(f, table, cols, ix.unique, predicate, "UNIQUE", "")
		default:
			indexFact(f, table, cols, ix.unique, predicate, "", ix.name)
		}
	}
	return nil
}

func sqliteForeignKeys(ctx context.Context, db *sql.DB, f schemaFacts, table string) error {
	type fk struct {
		ref, onDelete, onUpdate string
		from, to                []string
	}
	byID := map[int]*fk{}
	var order []int
	rows, err := db.QueryContext(ctx, `SELECT id, "table", "from", COALESCE("to", ''), on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table)
	if err != nil {
		return err
	}
	err = eachRow(rows, func() error {
		var id int
		var ref, from, to, onUpdate, onDelete string
		if err := rows.Scan(&id, &ref, &from, &to, &onUpdate, &onDelete); err != nil {
			return err
		}
		k, ok := byID[id]
		if !ok {
			k = &fk{ref: ref, onDelete: onDelete, onUpdate: onUpdate}
			byID[id] = k
			order = append(order, id)
		}
		k.from = append(k.from, from)
		k.to = append(k.to, to)
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range order {
		k := byID[id]
		// "REFERENCES t" without columns means t's primary key; the
		// PostgreSQL catalog always names the columns.
		if k.to[0] == "" {
			key, err := sqlitePrimaryKey(ctx, db, k.ref)
			if err != nil {
				return err
			}
			k.to = key
		}
		foreignKeyFact(f, table, k.from, k.ref, k.to, k.onDelete, k.onUpdate)
	}
	return nil
}

func sqlitePrimaryKey(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	var cols []string
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
	if err != nil {
		return nil, err
	}
	err = eachRow(rows, func() error {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		cols = append(cols, name)
		return nil
	})
	return cols, err
}

// eachRow calls fn for every row and closes rows, returning the first error.
func eachRow(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}
