package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/lib/pq"
)

// pointReadsRunning is how many statements reading single rows of one kind
// (leads, messages) a process runs on PostgreSQL at once; the reads that
// arrive meanwhile wait, and go together in the next one.
//
// dialect: on PostgreSQL a read is a round trip to a backend, and under
// load the backends' wake-ups, not the reads, are the cost: 32 concurrent
// GET /leads/{id} each read on its own cost the cluster 36-37 CPU µs a
// request and the server 87-94 (docs/benchmarks.md, "Reads of single leads
// gathered"). Gathered into two statements at a time they cost 15 and
// 65-71, and the answers came sooner (p50 2.4 -> 1.8 ms). One at a time
// was cheaper still on a 2-core host, but would leave every read of the
// process behind one connection; two keep a slow answer from holding up
// the next batch. A read alone, or while fewer than this run, goes at once
// with the one-row statement, as before: gathering adds no wait at low
// load. SQLite reads in the process, with no round trip to save.
const pointReadsRunning = 2

// pointReads gathers the reads of single rows (organization and id) that
// arrive while its most statements run, and reads them with one statement
// when one of those ends. Each read is still of its own organization's
// row: the statement matches organization and id as pairs (readPairs), and
// each read takes only the row of its own pair.
type pointReads[T any] struct {
	most int
	// readMany reads a batch, filling in each read's row or error.
	readMany func(ctx context.Context, reads []*pointRead[T])

	mu      sync.Mutex
	running int             // statements running
	waiting []*pointRead[T] // reads for the next statement

	// For /metrics: reads that ran their own statement, reads that went
	// in a gathered one, and those statements.
	alone, gathered, gatherings atomic.Int64
}

// pointRead is one read of a row, waiting for its answer.
type pointRead[T any] struct {
	org, id int64
	got     *T
	err     error
	// done is closed when got and err hold the answer, or when run is set.
	done chan struct{}
	// run, set before done is closed, is a batch the reader must now read
	// (its own read first): the batch that waited while all statements
	// were running.
	run []*pointRead[T]
}

func newPointReads[T any](most int, readMany func(ctx context.Context, reads []*pointRead[T])) *pointReads[T] {
	return &pointReads[T]{most: most, readMany: readMany}
}

// find returns the row id of organization org.
func (r *pointReads[T]) find(ctx context.Context, org, id int64) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	me := &pointRead[T]{org: org, id: id, done: make(chan struct{})}
	r.mu.Lock()
	if r.running < r.most {
		r.running++
		r.mu.Unlock()
		r.read(ctx, []*pointRead[T]{me})
		return me.got, me.err
	}
	r.waiting = append(r.waiting, me)
	r.mu.Unlock()
	// The read waits for at most two statements, each bounded by the
	// session's statement_timeout; as with oneRow, a cancelled request does
	// not cut them short.
	<-me.done
	if me.run != nil {
		r.read(ctx, me.run)
	}
	return me.got, me.err
}

// read reads batch, whose first read is the caller's, answers the others,
// then hands the reads that waited meanwhile to the first of them, to read
// in its own goroutine. A panic in readMany still answers every read (those
// it left without an answer with errPointReadFailed) and hands on, before
// it goes on up the caller's stack: otherwise the reads waiting, and every
// read after them, would wait for ever.
func (r *pointReads[T]) read(ctx context.Context, batch []*pointRead[T]) {
	defer r.handOn(batch)
	r.readMany(context.WithoutCancel(ctx), batch)
}

// errPointReadFailed answers the reads of a batch whose reading panicked.
var errPointReadFailed = errors.New("sqlstore: the statement reading the batch failed")

func (r *pointReads[T]) handOn(batch []*pointRead[T]) {
	if len(batch) == 1 {
		r.alone.Add(1)
	} else {
		r.gathered.Add(int64(len(batch)))
		r.gatherings.Add(1)
	}
	for i, b := range batch {
		if b.got == nil && b.err == nil {
			b.err = errPointReadFailed
		}
		if i > 0 {
			close(b.done)
		}
	}
	r.mu.Lock()
	next := r.waiting
	r.waiting = nil
	if len(next) == 0 {
		r.running--
	}
	r.mu.Unlock()
	if len(next) > 0 {
		next[0].run = next
		close(next[0].done)
	}
}

// readPairs answers a batch of reads (more than one) with one statement,
// query: its arguments are the arrays of the reads' organizations and ids,
// and it joins its table to unnest(?::bigint[], ?::bigint[]) AS k(org, id)
// on the table's organization_id = k.org AND its id = k.id. scan reads a
// row of it, key says whose it is (organization, id), and answer makes
// each read's own T of it; a read no row answers is not found, as what. A
// row goes only to the reads of its own pair, whatever the statement
// returns.
func readPairs[T, R any](ctx context.Context, db *DB, reads []*pointRead[T], query string,
	scan func(*R) []any, key func(*R) [2]int64, answer func(*R) *T, what string) {
	orgs, ids := make([]int64, len(reads)), make([]int64, len(reads))
	for i, r := range reads {
		orgs[i], ids[i] = r.org, r.id
	}
	found := map[[2]int64]*R{}
	stmt, err := db.prepared(ctx, query)
	if err == nil {
		var rows []*R
		rs, qerr := stmt.Stmt.QueryContext(ctx, pq.Array(orgs), pq.Array(ids))
		rows, err = scanEach(rs, qerr, scan)
		for _, row := range rows {
			found[key(row)] = row
		}
	}
	for _, r := range reads {
		switch row := found[[2]int64{r.org, r.id}]; {
		case err != nil:
			r.err = err
		case row == nil:
			r.err = notFound(sql.ErrNoRows, what)
		default:
			r.got = answer(row) // reads of the same row get one each
		}
	}
}

// writeMetrics writes r's counts for /metrics, labelled with kind.
func (r *pointReads[T]) writeMetrics(w io.Writer, kind string) {
	k := `kind="` + kind + `"`
	_, _ = io.WriteString(w, `iagente_db_point_reads_total{`+k+`,read="alone"} `+strconv.FormatInt(r.alone.Load(), 10)+"\n"+
		`iagente_db_point_reads_total{`+k+`,read="gathered"} `+strconv.FormatInt(r.gathered.Load(), 10)+"\n"+
		`iagente_db_point_read_gatherings_total{`+k+`} `+strconv.FormatInt(r.gatherings.Load(), 10)+"\n")
}
