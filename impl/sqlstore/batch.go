package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Statements that act on a batch of rows are written so that their text is
// the same, or one of a few, for any number of rows: the rows travel as
// one argument per column on PostgreSQL (arrays), and as a VALUES list
// rounded up in length on SQLite (see rowsArg). The text is then prepared
// once (see queueStatement) and every batch costs one round trip per
// statement, instead of a Parse and a Bind for each one and each row.

// queueStatement is prepared for the webhook queue's statements: query,
// rebound for the dialect, prepared on the queue's pool (see queuePool) the
// first time it is asked for. database/sql prepares it again on each
// connection it runs on, once; tx.StmtxContext reuses that, in a
// transaction of inQueueTx.
func (s *DB) queueStatement(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := s.statements.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := s.queuePool.PreparexContext(ctx, s.rebind(query))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if prev, loaded := s.statements.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// inTxStmt is queueStatement's statement for use in tx.
func (s *DB) inTxStmt(ctx context.Context, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	st, err := s.queueStatement(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtxContext(ctx, st), nil
}

// closeStatements closes every prepared statement.
func (s *DB) closeStatements() {
	s.statements.Range(func(k, v any) bool {
		v.(*sqlx.Stmt).Close()
		s.statements.Delete(k)
		return true
	})
}

// oneOf is the condition "col is one of the ids in the next argument", and
// ids is that argument (see idsArg).
func (s *DB) oneOf(col string) string {
	if s.dialect == Postgres {
		return col + ` = ANY(?::bigint[])`
	}
	return col + ` IN (SELECT value FROM json_each(?))`
}

// idsArg is the argument of oneOf.
func (s *DB) idsArg(ids []int64) any {
	if s.dialect == Postgres {
		return pq.Array(ids)
	}
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// sqliteTimeLayout is how the SQLite driver writes a time.Time under the
// DSN's _time_format=sqlite, and so how a time written as text must be
// for a DATETIME column to read back as the same time.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// rowsArg builds a batch of rows with the given columns: the FROM item that
// reads them (source) and its arguments (args). On PostgreSQL each column
// is one array argument (unnest(?::type[], ...)), so the text is the same
// for any number of rows. On SQLite the rows are a VALUES list of bound
// parameters, its length rounded up (see sqliteRowsFor) and the rows past
// the batch all NULL, so that a few texts serve every batch: a statement
// that reads the rows must match them on a column that is never NULL in a
// real row. (Rows as one JSON array cost SQLite a parse of each row's text
// per column, and the process the encoding: about a tenth of a delivery's
// record.) A nil value is NULL.
type rowsArg struct {
	dialect Dialect
	width   int
	cols    [][]any // PostgreSQL: one slice per column
	flat    []any   // SQLite: the rows one after the other
	n       int
}

func (s *DB) newRows(columns int) *rowsArg {
	r := &rowsArg{dialect: s.dialect, width: columns}
	if s.dialect == Postgres {
		r.cols = make([][]any, columns)
	}
	return r
}

func (r *rowsArg) add(values ...any) {
	for i, v := range values {
		if t, ok := v.(time.Time); ok {
			if r.dialect == Postgres {
				v = t.UTC().Format(time.RFC3339Nano)
			} else {
				v = t.UTC().Format(sqliteTimeLayout)
			}
		}
		if r.dialect == Postgres {
			r.cols[i] = append(r.cols[i], v)
		} else {
			r.flat = append(r.flat, v)
		}
	}
	r.n++
}

func (r *rowsArg) len() int { return r.n }

// sqliteRowsFor is how many rows a SQLite batch of n is written with: n
// rounded up to a multiple of 8 up to 128, to a power of two beyond.
func sqliteRowsFor(n int) int {
	if n <= 128 {
		return max(8, (n+7)/8*8)
	}
	p := 256
	for p < n {
		p *= 2
	}
	return p
}

// args are the statement's arguments for the rows.
func (r *rowsArg) args() []any {
	if r.dialect == Postgres {
		out := make([]any, len(r.cols))
		for i, c := range r.cols {
			out[i] = pq.GenericArray{A: c}
		}
		return out
	}
	out := make([]any, sqliteRowsFor(r.n)*r.width)
	copy(out, r.flat)
	return out
}

// source is the FROM item of the rows, each column with the PostgreSQL
// array type of its values ("bigint", "text", ...), as alias(col, ...).
func (r *rowsArg) source(alias string, columns []string, pgTypes []string) string {
	var q strings.Builder
	if r.dialect == Postgres {
		q.WriteString("unnest(")
		for i, t := range pgTypes {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("?::" + t + "[]")
		}
		q.WriteString(") AS " + alias + "(" + strings.Join(columns, ", ") + ")")
		return q.String()
	}
	q.WriteString("(SELECT ")
	for i, c := range columns {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("column" + strconv.Itoa(i+1) + " AS " + c)
	}
	q.WriteString(" FROM (VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", ") + ")"
	for i := range sqliteRowsFor(r.n) {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
	}
	q.WriteString(")) AS " + alias)
	return q.String()
}

// isRetryable reports whether a transaction failed only because it lost a
// race with another (a deadlock or a serialization failure) and may simply
// run again. dialect: SQLite's one writer never deadlocks.
func isRetryable(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "40P01" || pqErr.Code == "40001"
	}
	return false
}
