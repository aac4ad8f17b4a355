package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

// Marks that follow this process's own writes.
//
// A lead that leaves a list (DELETE /leads/{id}, a new temperature) or
// moves in an order (a new score, and with every update a new update time)
// moves the revisions of the orders it was in, and the database keeps no
// trace of where it was: the arrivals' read cannot mend a mark past it. But
// the store that makes the write knows. UpdateLead and the deletes read the
// lead as it was, locked, in their transaction, and know it as it is; when
// this process keeps marks in the lead's organization, they also read what
// the write added to the organization's counters, and after the commit
// they move each mark of the organization by that one lead
// (pageMarks.follow):
//
//   - the lead was at or before the mark's place and no longer is (gone,
//     or now after it): the page begins one lead further on from that
//     place; it came to or before it: one lead nearer (pageMark.shift);
//   - the lead at the mark's place itself left it: the mark remembers that
//     no lead is there now (pageMark.gone).
//
// A mark is moved only if it was read before the write: its revision is at
// most the organization's committed revision just before the write, read
// in the write's own transaction. A mark read after the commit holds the
// write already, and its revision is higher (revisions only grow, and the
// write moved them). The mark also keeps the sum of what the writes it
// followed added to its revision, list revision and total
// (pageMark.followed): whatever else moved the list since must have been
// arrivals, which the arrivals' read checks, or the page is walked to.
// So every write is accounted for exactly once, either by the arrivals'
// read, by following, or by walking.
//
// What a write added is read, not worked out: the triggers that move the
// counters (00014) differ between the dialects in which revisions a lead
// changing temperature moves. On PostgreSQL a session's writes go to its
// slot's rows (00010), which the write's transaction locks before it
// writes, so the difference between their values before and after the
// write is the write's alone; on SQLite a transaction is the only writer.
//
// Writes made by other replicas, or by SQL, are not followed: each moves a
// revision that no followed write accounts for, and the marks it may have
// moved are walked to again, as before.

// The lead_counts columns a followed write reads, and their places in
// counters: the total and the revisions a mark reads (00014).
const (
	cTotal = iota
	cList
	cName
	cCreated
	cUpdated
	cScore
	cDeal
	nCounters
)

var countersColumns = [nCounters]string{"total", "list_revision", "name_revision", "created_revision",
	"updated_revision", "score_revision", "deal_revision"}

// counters are one temperature's lead counters, or a sum of them, in the
// order of countersColumns.
type counters [nCounters]int64

// revisionOf is the place in counters of the revision that moves when a
// lead's value of a sort field changes; -1 for the order by id, which has
// none but the list's own.
func revisionOf(field string) int {
	switch field {
	case "name":
		return cName
	case "created_at":
		return cCreated
	case "updated_at":
		return cUpdated
	case "lead_score":
		return cScore
	case "deal_value":
		return cDeal
	}
	return -1
}

// revision is the revision a list in field's order reads (sortRevision).
func (c counters) revision(field string) int64 {
	if i := revisionOf(field); i >= 0 {
		return c[cList] + c[i]
	}
	return c[cList]
}

func (c counters) plus(o counters) counters {
	for i := range c {
		c[i] += o[i]
	}
	return c
}

func (c counters) minus(o counters) counters {
	for i := range c {
		c[i] -= o[i]
	}
	return c
}

// countersRow scans a row of temperature, then the columns of extra, then
// countersColumns.
func countersRow(rows *sqlx.Rows, temperature *string, c *counters, extra ...any) error {
	dest := append([]any{temperature}, extra...)
	for i := range c {
		dest = append(dest, &c[i])
	}
	return rows.Scan(dest...)
}

// markMoves is what a mark has followed since it was read: the sums of
// what the writes added to its revision, list revision and total.
type markMoves struct {
	revision, list, total int64
}

// leadWrite is one write of one lead that marks may follow: the lead as it
// was (nil: it is new) and as it is (nil: deleted), and the organization's
// counters, per temperature, after the write (after) and what the write
// added to them (added), both read in the write's transaction.
type leadWrite struct {
	org     int64
	was, is *impl.Lead
	after   map[string]counters
	added   map[string]counters
}

// id is the written lead's.
func (w *leadWrite) id() int64 {
	if w.was != nil {
		return w.was.ID
	}
	return w.is.ID
}

// countersSlot is the lead_counts slot that this session's writes go to.
func (s *LeadStore) countersSlot() string {
	if s.db.dialect == Postgres {
		return "pg_backend_pid() % 16" // as lead_counts_apply picks it (00010)
	}
	return "0" // dialect: SQLite's triggers write slot 0 alone
}

// beginFollow starts w, a write of one lead of org as it was (was): when
// this process keeps marks in org, it reads the counters of the session's
// slot that the write will move, those of temperatures, in w's
// transaction, before the write. It returns nil when no mark can follow
// the write.
func (s *LeadStore) beginFollow(ctx context.Context, tx *sqlx.Tx, org int64, was *impl.Lead, temperatures ...string) (*leadWrite, error) {
	if !s.marks.inOrg(org) {
		return nil, nil
	}
	slices.Sort(temperatures)
	temperatures = slices.Compact(temperatures)
	var query string
	args := []any{}
	if s.db.dialect == Postgres {
		// dialect: the rows are locked until the commit, and made (at zero)
		// if the slot has none yet, as the write itself would: so no other
		// session moves them between this read and the write's, and their
		// values after the write are this write's alone. A row made by
		// another session between a read that found none and the write
		// would not be. (An update that changes nothing takes the lock.)
		values := make([]string, len(temperatures))
		for i, t := range temperatures {
			values[i] = `(?, ?, ` + s.countersSlot() + `, 0, 0, 0)`
			args = append(args, org, t)
		}
		query = `INSERT INTO lead_counts AS c (organization_id, temperature, slot, total, with_name, with_deal_value)
			VALUES ` + strings.Join(values, ", ") + `
			ON CONFLICT (organization_id, temperature, slot) DO UPDATE SET total = c.total
			RETURNING temperature, ` + strings.Join(countersColumns[:], ", ")
	} else {
		// dialect: a SQLite transaction is the only writer, and a row it
		// does not find is at zero.
		query = `SELECT temperature, ` + strings.Join(countersColumns[:], ", ") + ` FROM lead_counts
			WHERE organization_id = ? AND temperature IN (?` + strings.Repeat(", ?", len(temperatures)-1) + `) AND slot = 0`
		args = append(args, org)
		for _, t := range temperatures {
			args = append(args, t)
		}
	}
	rows, err := tx.QueryxContext(ctx, s.db.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("read lead counts: %w", err)
	}
	defer rows.Close()
	w := &leadWrite{org: org, was: was, added: map[string]counters{}}
	for _, t := range temperatures {
		w.added[t] = counters{}
	}
	for rows.Next() {
		var t string
		var c counters
		if err := countersRow(rows, &t, &c); err != nil {
			return nil, fmt.Errorf("read lead counts: %w", err)
		}
		w.added[t] = counters{}.minus(c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lead counts: %w", err)
	}
	return w, nil
}

// endFollow reads, after w's write of the lead as it is (is, nil when
// deleted), what the write added to the counters of its slot and the
// organization's counters, in the write's transaction.
func (s *LeadStore) endFollow(ctx context.Context, tx *sqlx.Tx, w *leadWrite, is *impl.Lead) error {
	if w == nil {
		return nil
	}
	w.is = is
	rows, err := tx.QueryxContext(ctx, s.db.rebind(`SELECT temperature, slot = `+s.countersSlot()+` AS mine, `+
		strings.Join(countersColumns[:], ", ")+` FROM lead_counts WHERE organization_id = ?`), w.org)
	if err != nil {
		return fmt.Errorf("read lead counts: %w", err)
	}
	defer rows.Close()
	w.after = map[string]counters{}
	for rows.Next() {
		var t string
		var mine bool
		var c counters
		if err := countersRow(rows, &t, &c, &mine); err != nil {
			return fmt.Errorf("read lead counts: %w", err)
		}
		w.after[t] = w.after[t].plus(c)
		if before, ok := w.added[t]; ok && mine {
			w.added[t] = before.plus(c)
		}
	}
	return rows.Err()
}

// inOrg reports whether p keeps a mark in org.
func (p *pageMarks) inOrg(org int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.perOrg[org] > 0
}

// follow moves the marks of w's organization by w's lead, after w's
// transaction committed.
func (p *pageMarks) follow(w *leadWrite) {
	if w == nil {
		return
	}
	if p.following != nil {
		p.following()
	}
	// What the write added to each list and where each list is after it
	// (the organization's, and each temperature's), and the lead's places
	// in each order, before and after: worked out once, not per mark.
	type sums struct{ added, after counters }
	lists := map[string]sums{"": {}}
	for t, c := range w.after {
		all := lists[""]
		all.after = all.after.plus(c)
		lists[""] = all
		lists[t] = sums{after: c}
	}
	for t, c := range w.added {
		all, one := lists[""], lists[t]
		all.added, one.added = all.added.plus(c), one.added.plus(c)
		lists[""], lists[t] = all, one
	}
	type places struct{ was, is impl.LeadKey }
	keys := map[impl.LeadSort]places{}
	placesIn := func(sort impl.LeadSort) places {
		k, ok := keys[sort]
		if !ok {
			if w.was != nil {
				k.was = keyOf(sort, w.was)
			}
			if w.is != nil {
				k.is = keyOf(sort, w.is)
			}
			keys[sort] = k
		}
		return k
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, m := range p.byAt {
		if k.org != w.org {
			continue
		}
		list := lists[k.temperature]
		added, after := list.added, list.after
		moved := added.revision(k.sort.Field)
		if moved == 0 || m.revision > after.revision(k.sort.Field)-moved {
			// The write left this order as it was, or the mark was read
			// after it and holds it already.
			continue
		}
		in := func(l *impl.Lead) bool {
			return l != nil && (k.temperature == "" || k.temperature == l.Temperature)
		}
		if id := w.id(); id > m.maxID {
			// A lead the list did not have at the mark: the arrivals' read
			// counts it where it is now, and following it too would count
			// it twice. One that joins the list now is an arrival for that
			// read (the counters moved as for a new lead); one that arrived
			// since and moves or leaves again is not, and the page is walked
			// to.
			if in(w.was) || !in(w.is) {
				p.drop(k)
			}
			continue
		}
		at := placesIn(k.sort)
		if in(w.was) {
			switch c := k.sort.Compare(at.was, m.before); {
			case c == 0:
				m.shift, m.gone = m.shift+1, true
			case c < 0:
				m.shift++
			}
		}
		if in(w.is) {
			switch c := k.sort.Compare(at.is, m.before); {
			case c == 0:
				m.shift, m.gone = m.shift-1, false
			case c < 0:
				m.shift--
			}
		}
		if !mendable(abs(m.shift), k.offset) {
			p.drop(k)
			continue
		}
		m.followed.revision += moved
		m.followed.list += added[cList]
		m.followed.total += added[cTotal]
		p.byAt[k] = m
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
