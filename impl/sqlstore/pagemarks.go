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
// A mark is stored with the revision read before its page was, so a write
// that commits between the two leaves a mark that no later read matches.

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
}

// pageMarks are the marks a LeadStore keeps. The zero value is empty and
// ready.
type pageMarks struct {
	mu   sync.Mutex
	byAt map[markKey]pageMark
	// from overrides markFrom when not 0 (tests).
	from int64
	// hits and walks count the deep pages read after a mark and those
	// walked to (DeepPageCounts).
	hits, walks atomic.Int64
}

// DeepPageCounts reports how many numbered pages of GET /leads from markFrom
// on this process has read after a mark, and how many it walked to from the
// list's start: what /metrics shows.
func (s *LeadStore) DeepPageCounts() (afterMark, walked int64) {
	return s.marks.hits.Load(), s.marks.walks.Load()
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

// before is the lead just before offset in q's list, if a mark there was
// left at counts' revision.
func (p *pageMarks) before(orgID int64, q impl.LeadQuery, offset int64, counts leadCounts) (impl.LeadKey, bool) {
	p.mu.Lock()
	m, ok := p.byAt[marksKey(orgID, q, offset)]
	p.mu.Unlock()
	if !ok || m.revision != counts.Revision || m.total != counts.Total {
		return impl.LeadKey{}, false
	}
	p.hits.Add(1)
	return m.before, true
}

// leave marks offset in q's list: lead is just before it at counts'
// revision.
func (p *pageMarks) leave(orgID int64, q impl.LeadQuery, offset int64, counts leadCounts, lead *impl.Lead) {
	k := q.Sort.KeyOf(lead)
	if t, ok := k.Value.(time.Time); ok {
		// As a cursor carries it: to the nanosecond, in UTC.
		k.Value = time.Unix(0, t.UnixNano()).UTC()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byAt == nil {
		p.byAt = make(map[markKey]pageMark)
	}
	at := marksKey(orgID, q, offset)
	if _, ok := p.byAt[at]; !ok && len(p.byAt) >= marksMax {
		for old := range p.byAt {
			delete(p.byAt, old) // any one: a mark is only a shortcut
			break
		}
	}
	p.byAt[at] = pageMark{revision: counts.Revision, total: counts.Total, before: k}
}
