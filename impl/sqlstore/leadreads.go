package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/lib/pq"

	"github.com/iagente/iagente-sdr/impl"
)

// leadReadsRunning is how many statements reading single leads a process
// runs on PostgreSQL at once; reads that arrive meanwhile wait, and go
// together in the next one.
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
// with the one-lead statement, as before: gathering adds no wait at low
// load. SQLite reads in the process, with no round trip to save.
const leadReadsRunning = 2

// leadReads gathers the reads of single leads (organization and id) that
// arrive while leadReadsRunning statements run, and reads them with one
// statement when one of those ends. Each read is still of its own
// organization's lead: the statement matches organization and id as
// pairs, and each read takes only the row of its own pair.
type leadReads struct {
	most int
	// readMany reads a batch, filling in each read's lead or error.
	readMany func(ctx context.Context, reads []*leadRead)

	mu      sync.Mutex
	running int         // statements running
	waiting []*leadRead // reads for the next statement
}

// leadRead is one read of a lead, waiting for its answer.
type leadRead struct {
	org, id int64
	lead    *impl.Lead
	err     error
	// done is closed when lead and err hold the answer, or when run is set.
	done chan struct{}
	// run, set before done is closed, is a batch the reader must now read
	// (its own read first): the batch that waited while all statements
	// were running.
	run []*leadRead
}

func newLeadReads(most int, readMany func(ctx context.Context, reads []*leadRead)) *leadReads {
	return &leadReads{most: most, readMany: readMany}
}

// find returns the lead id of organization org, as FindLeadByID.
func (r *leadReads) find(ctx context.Context, org, id int64) (*impl.Lead, error) {
	me := &leadRead{org: org, id: id, done: make(chan struct{})}
	r.mu.Lock()
	if r.running < r.most {
		r.running++
		r.mu.Unlock()
		r.read(ctx, []*leadRead{me})
		return me.lead, me.err
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
	return me.lead, me.err
}

// read reads batch, whose first read is the caller's, answers the others,
// then hands the reads that waited meanwhile to the first of them, to read
// in its own goroutine. A panic in readMany still answers every read (those
// it left without an answer with errLeadReadFailed) and hands on, before it
// goes on up the caller's stack: otherwise the reads waiting, and every
// read after them, would wait for ever.
func (r *leadReads) read(ctx context.Context, batch []*leadRead) {
	defer r.handOn(batch)
	r.readMany(context.WithoutCancel(ctx), batch)
}

// errLeadReadFailed answers the reads of a batch whose reading panicked.
var errLeadReadFailed = errors.New("sqlstore: the statement reading leads failed")

func (r *leadReads) handOn(batch []*leadRead) {
	for i, b := range batch {
		if b.lead == nil && b.err == nil {
			b.err = errLeadReadFailed
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

// readLeads reads a batch of leadReads: one with the statement of a single
// lead, more with one statement that matches their pairs.
func (s *LeadStore) readLeads(ctx context.Context, reads []*leadRead) {
	if len(reads) == 1 {
		reads[0].lead, reads[0].err = s.findOne(ctx, reads[0].org, reads[0].id)
		return
	}
	found, err := s.findPairs(ctx, reads)
	for _, r := range reads {
		switch l := found[[2]int64{r.org, r.id}]; {
		case err != nil:
			r.err = err
		case l == nil:
			r.err = notFound(sql.ErrNoRows, "Lead")
		default:
			c := *l // reads of the same lead get a lead each
			r.lead = &c
		}
	}
}

// findPairs reads the leads of reads' (organization, id) pairs, by pair.
func (s *LeadStore) findPairs(ctx context.Context, reads []*leadRead) (map[[2]int64]*impl.Lead, error) {
	orgs, ids := make([]int64, len(reads)), make([]int64, len(reads))
	for i, r := range reads {
		orgs[i], ids[i] = r.org, r.id
	}
	stmt, err := s.db.prepared(ctx, `SELECT `+s.sql().colsOfL+` FROM leads l
		JOIN unnest(?::bigint[], ?::bigint[]) AS k(org, id) ON l.organization_id = k.org AND l.id = k.id`)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.Stmt.QueryContext(ctx, pq.Array(orgs), pq.Array(ids))
	leads, err := scanEach(rows, err, leadFields)
	if err != nil {
		return nil, err
	}
	found := make(map[[2]int64]*impl.Lead, len(leads))
	for _, l := range leads {
		utcLead(l)
		found[[2]int64{l.OrganizationID, l.ID}] = l
	}
	return found, nil
}

func newLeadStore(db *DB) *LeadStore {
	s := &LeadStore{db: db}
	if db.dialect == Postgres {
		s.reads = newLeadReads(leadReadsRunning, s.readLeads)
	}
	return s
}
