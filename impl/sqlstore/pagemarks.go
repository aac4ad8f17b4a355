package sqlstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// Page marks: where deep numbered pages of GET /leads begin.
//
// A numbered page skips the leads of the pages before it, and no index of
// either database can skip by position: page 400 of a million leads walks
// 9,975 index entries before its 25. A mark remembers, for one list (an
// organization, a temperature or none, a sort) and one offset, the lead
// just before that offset, and the list's revision and total when it was
// read. While the database still holds that revision the lead is still at
// that place, and the page is read after it, as a cursor continues a walk:
// from the index's seek, not from the list's start. A client walking pages
// 1, 2, 3, ... (a CRM's sync) reads each page after the mark the page
// before it left; a client asking for the same deep page again (polling)
// reads it after its own mark. A page never asked for before, or asked for
// after a write that may have moved it (see below), is walked to as before.
//
// The revision is the sum, over the counted rows of lead_counts, of the
// list's revision and its sort field's (sortRevision). The database's
// triggers move the first when a lead joins or leaves the list and the
// second when a lead's value of that field changes (00014), whatever made
// the write, and neither ever goes back: so a mark read at
// one revision is never taken for another, and a write that changes
// neither (a new score, for a list by name) leaves the mark standing. It is
// read with meta.total, in the same statement, so a mark costs no round
// trip. Marks are the process's own; each replica keeps its own, and all of
// them check the same revisions.
//
// A mark is stored with the revision read before its page was, and only if
// the page's own statements saw that same revision (LeadStore.pageLeads):
// no write came between, so the mark's lead is where the list had it at
// its revision.
//
// A lead that joins the list (a new lead, the busiest write of all) moves
// the list's revision and with it every mark of every order. But a mark
// need not walk again: when the only writes since it were leads arriving,
// the lead it holds is still in its order, only further on by the arrivals
// that sort before it. The mark also keeps the largest id the list had,
// read with its revision; the leads above that id are the arrivals (ids
// only grow), and when there are exactly as many of them as the list's
// revision moved, nothing else happened (each other write moves it too,
// and revisions never go back). The mark is then mended: moved back by the
// arrivals before it, a read of at most that many index entries where the
// walk reads the whole offset (LeadStore.mendMark).
//
// A lead that leaves the list or moves in its order leaves no trace in
// the database of where it was; but when this process's store made the
// write, the marks follow it (followmarks.go), and are mended past it as
// past the arrivals, in the same read.

// markFrom is the smallest offset a mark is kept for: a shallower page
// costs less to walk to than a mark costs to keep.
const markFrom = 500

// marksMax bounds the marks kept, about 100 bytes each.
const marksMax = 8192

// markKey is one list's one offset.
type markKey struct {
	org         int64
	temperature string // "" when the list is of every temperature
	sort        impl.LeadSort
	offset      int64
}

// pageMark is the lead just before markKey's offset, at a revision.
type pageMark struct {
	revision, total int64
	before          impl.LeadKey
	// listRevision is the part of revision that moves when a lead joins or
	// leaves the list, and maxID the list's largest id then (leadCounts).
	listRevision, maxID int64
	// What the writes this process made since the mark moved (see
	// followmarks.go): followed sums what they added to the revisions and
	// the total; the page now begins shift leads after the place before
	// holds (before it, when negative), and gone says that the lead at
	// that place has left it.
	followed markMoves
	shift    int64
	gone     bool
}

// mendMax bounds the leads a mark is mended past; with more, or more than
// an eighth of its offset, walking costs less.
const mendMax = 1000

// mendable reports whether a mark at offset is mended past n leads rather
// than walked to.
func mendable(n, offset int64) bool { return n <= mendMax && n*8 <= offset }

// holds reports whether m is where the list is now: nothing but the writes
// it followed moved the list since, and they left the page where it began.
func (m pageMark) holds(now leadCounts) bool {
	return m.revision+m.followed.revision == now.Revision && m.total+m.followed.total == now.Total &&
		m.shift == 0 && !m.gone
}

// arrivals is how many leads joined the list since m, if the counts say
// that arrivals may be all that happened besides the writes m followed: the
// list's revision moved as often as its total, and its order's field of no
// lead changed. 0 arrivals: the followed writes are all that happened.
func (m pageMark) arrivals(now leadCounts, offset int64) (int64, bool) {
	d := now.ListRevision - m.listRevision - m.followed.list
	return d, m.maxID > 0 && d >= 0 && mendable(d, offset) && now.Total-m.total-m.followed.total == d &&
		now.Revision-now.ListRevision == m.revision-m.listRevision+m.followed.revision-m.followed.list
}

// pageMarks are the marks a LeadStore keeps. The zero value is empty and
// ready.
type pageMarks struct {
	mu   sync.Mutex
	byAt map[markKey]pageMark
	// perOrg counts the marks of each organization in byAt.
	perOrg map[int64]int
	// from overrides markFrom when not 0 (tests).
	from int64
	// mending, when not nil, runs as a mark is mended, before the page is
	// read after it (tests: a write that comes between).
	mending func()
	// reading, when not nil, runs after a list is counted, before its page
	// is read (tests).
	reading func()
	// following, when not nil, runs after a write this store made
	// committed, before the marks follow it (tests: a page read between).
	following func()
	// hits, mends and walks count the deep pages read after a mark, those
	// read after a mark mended past arrivals or the writes it followed, and
	// those walked to (DeepPageCounts).
	hits, mends, walks atomic.Int64
}

// DeepPageCounts reports how many numbered pages of GET /leads from markFrom
// on this process has read after a mark, how many after a mark mended past
// the leads that arrived since, and how many it walked to from the list's
// start: what /metrics shows.
func (s *LeadStore) DeepPageCounts() (afterMark, mended, walked int64) {
	return s.marks.hits.Load(), s.marks.mends.Load(), s.marks.walks.Load()
}

// markable reports whether q's page may be read after a mark, or leave one
// at offset: a numbered page of a list the counters count.
func (p *pageMarks) markable(q impl.LeadQuery, offset int64) bool {
	from := p.from
	if from == 0 {
		from = markFrom
	}
	return q.After == nil && q.Phone == nil && q.Email == nil && offset >= from
}

func marksKey(orgID int64, q impl.LeadQuery, offset int64) markKey {
	k := markKey{org: orgID, sort: q.Sort, offset: offset}
	if q.Temperature != nil {
		k.temperature = *q.Temperature
	}
	return k
}

// at is the mark at offset in q's list, if there is one.
func (p *pageMarks) at(orgID int64, q impl.LeadQuery, offset int64) (pageMark, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.byAt[marksKey(orgID, q, offset)]
	return m, ok
}

// keyOf is lead's place in sort, as a mark keeps it.
func keyOf(sort impl.LeadSort, lead *impl.Lead) impl.LeadKey {
	k := sort.KeyOf(lead)
	if t, ok := k.Value.(time.Time); ok {
		// As a cursor carries it: to the nanosecond, in UTC.
		k.Value = time.Unix(0, t.UnixNano()).UTC()
	}
	return k
}

// leaveKey marks offset in q's list: the lead at k is just before it at
// counts' revision.
func (p *pageMarks) leaveKey(orgID int64, q impl.LeadQuery, offset int64, counts leadCounts, k impl.LeadKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byAt == nil {
		p.byAt, p.perOrg = make(map[markKey]pageMark), make(map[int64]int)
	}
	at := marksKey(orgID, q, offset)
	if _, ok := p.byAt[at]; !ok {
		if len(p.byAt) >= marksMax {
			for old := range p.byAt {
				p.drop(old) // any one: a mark is only a shortcut
				break
			}
		}
		p.perOrg[orgID]++
	}
	p.byAt[at] = pageMark{revision: counts.Revision, total: counts.Total, before: k,
		listRevision: counts.ListRevision, maxID: counts.MaxID}
}

// drop forgets the mark at k; p.mu is held.
func (p *pageMarks) drop(k markKey) {
	if _, ok := p.byAt[k]; !ok {
		return
	}
	delete(p.byAt, k)
	if p.perOrg[k.org]--; p.perOrg[k.org] == 0 {
		delete(p.perOrg, k.org)
	}
}
