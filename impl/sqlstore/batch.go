package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Statements that act on a batch of rows are written so that their text is
// the same for any number of rows: the rows travel as one argument per
// column, arrays on PostgreSQL and one JSON array on SQLite. The text is
// then prepared once (see queueStatement) and every batch costs one round
// trip per statement, instead of a Parse and a Bind for each one and each
// row.

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
// DSN's _time_format=sqlite, and so how a time inside a JSON argument must
// be written for a DATETIME column to read back as the same time.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// rowsArg builds the arguments of a batch of rows with the given columns.
// On PostgreSQL each column is an array (unnest(?::type[], ...)); on SQLite
// the rows are one JSON array of arrays (json_each(?)). A nil value is NULL.
type rowsArg struct {
	dialect Dialect
	cols    [][]any
	rows    [][]any
}

func (s *DB) newRows(columns int) *rowsArg {
	return &rowsArg{dialect: s.dialect, cols: make([][]any, columns)}
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
		values[i] = v
		r.cols[i] = append(r.cols[i], v)
	}
	r.rows = append(r.rows, values)
}

func (r *rowsArg) len() int { return len(r.rows) }

// args are the statement's arguments for the rows.
func (r *rowsArg) args() ([]any, error) {
	if r.dialect == Postgres {
		out := make([]any, len(r.cols))
		for i, c := range r.cols {
			out[i] = pq.GenericArray{A: c}
		}
		return out, nil
	}
	b, err := json.Marshal(r.rows)
	if err != nil {
		return nil, fmt.Errorf("encode rows: %w", err)
	}
	return []any{string(b)}, nil
}

// rowsSource is the FROM item of a batch of rows of the given columns, each
// with the PostgreSQL array type of its values ("bigint", "text", ...), as
// alias(col, ...).
func (s *DB) rowsSource(alias string, columns []string, pgTypes []string) string {
	if s.dialect == Postgres {
		q := "unnest("
		for i, t := range pgTypes {
			if i > 0 {
				q += ", "
			}
			q += "?::" + t + "[]"
		}
		q += ") AS " + alias + "("
		for i, c := range columns {
			if i > 0 {
				q += ", "
			}
			q += c
		}
		return q + ")"
	}
	q := "(SELECT "
	for i, c := range columns {
		if i > 0 {
			q += ", "
		}
		q += "json_extract(value, '$[" + strconv.Itoa(i) + "]') AS " + c
	}
	return q + " FROM json_each(?)) AS " + alias
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
