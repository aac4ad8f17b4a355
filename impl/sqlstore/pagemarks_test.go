package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// TestLeadPageMarksFollowEveryWrite: a numbered page read after a mark is
// the page the list has now, after every kind of write, whoever made it: the
// API's store, or SQL that bypasses it (a bulk import, a manual fix, another
// replica). Each write moves a lead across the pages' marks; a mark trusted
// after it would give a page shifted by that lead. The marks are used
// (counted hits), and the pages are compared with a store that keeps none.
func TestLeadPageMarksFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		plain := marksFromTheStart(f)
		var ids []int64
		for i := range 40 {
			l := &impl.Lead{
				Phone: fmt.Sprintf("55119%08d", i), Name: ptr(fmt.Sprintf("lead %02d", i)),
				LeadScore: int32(i % 7 * 10), Temperature: []string{impl.TemperatureHot, impl.TemperatureCold}[i%2],
			}
			if i%3 != 0 {
				l.DealValue = ptr(float64(i * 100))
			}
			if i%8 == 5 {
				l.Name = nil
			}
			f.clock.advance(time.Second) // each lead its own times
			ids = append(ids, f.mustCreate(t, f.org, l).ID)
			f.mustCreate(t, f.other, &impl.Lead{Phone: l.Phone, Name: l.Name, Temperature: l.Temperature})
		}
		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		lists := []impl.LeadFilter{
			{Sort: "name"}, {Sort: "-deal_value"}, {Sort: "lead_score"}, {Sort: "-updated_at"},
			{Sort: "-name", Temperature: ptr(impl.TemperatureCold)}, {Sort: "deal_value", Temperature: ptr(impl.TemperatureHot)},
			{Sort: "created_at"}, {Sort: "-id"},
		}
		// pages reads every page of 6 of each list from store, the last
		// first when backwards: then each page is read after the mark an
		// earlier call left, not one this call just left.
		pages := func(store *LeadStore, backwards bool) [][]int64 {
			t.Helper()
			var all [][]int64
			for _, list := range lists {
				list.Limit = 6
				first, err := store.FindLeads(ctx, f.org, list)
				if err != nil {
					t.Fatal(err)
				}
				offsets := []int64{}
				for off := int64(0); off < first.Total; off += 6 {
					offsets = append(offsets, off)
				}
				if backwards {
					slices.Reverse(offsets)
				}
				var read [][]int64
				for _, off := range offsets {
					list.Offset = off
					page, err := store.FindLeads(ctx, f.org, list)
					if err != nil {
						t.Fatal(err)
					}
					read = append(read, idsOf(page.Leads))
				}
				if backwards {
					slices.Reverse(read)
				}
				all = append(all, read...)
			}
			return all
		}
		check := func(after string) {
			t.Helper()
			hits := f.s.Leads.marks.hits.Load() + f.s.Leads.marks.mends.Load()
			want := pages(plain, false)
			// Backwards, each page is read after the mark the last check
			// left (stale, were the revision not moved by the write);
			// forwards, after the mark the page before it just left.
			for round, backwards := range []bool{true, false} {
				if got := pages(f.s.Leads, backwards); !slices.EqualFunc(got, want, slices.Equal) {
					t.Fatalf("after %s, round %d: pages\n %v\nwant\n %v", after, round, got, want)
				}
			}
			if f.s.Leads.marks.hits.Load()+f.s.Leads.marks.mends.Load() == hits {
				t.Errorf("after %s: no page was read after a mark", after)
			}
		}
		check("the leads were made")
		writes := []struct {
			what  string
			query string
			args  []any
		}{
			{"a name set by SQL", `UPDATE leads SET name = 'a first' WHERE id = ?`, []any{ids[30]}},
			{"a name removed by SQL", `UPDATE leads SET name = NULL WHERE id = ?`, []any{ids[2]}},
			{"a score changed by SQL", `UPDATE leads SET lead_score = 99 WHERE id = ?`, []any{ids[0]}},
			{"a deal value changed by SQL", `UPDATE leads SET deal_value = 1 WHERE id = ?`, []any{ids[38]}},
			{"a temperature changed by SQL", `UPDATE leads SET temperature = 'cold' WHERE id = ?`, []any{ids[4]}},
			{"an update time moved by SQL", `UPDATE leads SET updated_at = (SELECT MIN(created_at) FROM leads) WHERE id = ?`, []any{ids[39]}},
			{"a creation time moved by SQL", `UPDATE leads SET created_at = (SELECT MIN(created_at) FROM leads) WHERE id = ?`, []any{ids[35]}},
			{"a company changed by SQL", `UPDATE leads SET company_name = 'Acme' WHERE id = ?`, []any{ids[8]}},
			{"a lead deleted by SQL", `DELETE FROM leads WHERE id = ?`, []any{ids[1]}},
			{"a lead inserted by SQL", `INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
				SELECT organization_id, '5511999999999', 'a second', email, company_name, temperature, lead_score, 5, created_at, updated_at FROM leads WHERE id = ?`, []any{ids[3]}},
			{"three leads inserted by SQL, at the start, in the middle and at the end of each order", `INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
				SELECT organization_id, '55' || phone, CASE WHEN id = ? THEN NULL ELSE name || ' b' END, email, company_name, temperature, 6 - lead_score, deal_value + 1, created_at, updated_at
				FROM leads WHERE id IN (?, ?, ?)`, []any{ids[20], ids[0], ids[20], ids[39]}},
			{"a lead's id changed by SQL", `UPDATE leads SET id = 0 WHERE phone = '5511999999999'`, nil},
			{"two leads swapping temperatures by SQL", `UPDATE leads SET temperature = CASE WHEN temperature = 'hot' THEN 'cold' ELSE 'hot' END WHERE id IN (?, ?)`,
				[]any{ids[2], ids[37]}},
			{"two leads swapping names by SQL", `UPDATE leads SET name = CASE WHEN id = ? THEN 'lead 11' ELSE 'lead 10' END WHERE id IN (?, ?)`, []any{ids[10], ids[10], ids[11]}},
		}
		for _, w := range writes {
			exec(w.query, w.args...)
			check(w.what)
		}
		// One lead gone and another come, with the totals as they were.
		exec(`DELETE FROM leads WHERE id = ?`, ids[9])
		exec(`INSERT INTO leads (organization_id, phone, name, email, company_name, temperature, lead_score, deal_value, created_at, updated_at)
			SELECT organization_id, '5511999999998', 'a third', email, company_name, temperature, lead_score, deal_value, created_at, updated_at FROM leads WHERE id = ?`, ids[21])
		check("a lead deleted and another inserted by SQL")
		// And through the store.
		if _, err := f.s.Leads.UpdateLead(ctx, f.org, ids[5], func(l *impl.Lead) error { l.Name = ptr("lead 99"); return nil }); err != nil {
			t.Fatal(err)
		}
		check("a name changed through the store")
		if err := f.s.Leads.DeleteLead(ctx, f.org, ids[6]); err != nil {
			t.Fatal(err)
		}
		check("a lead deleted through the store")
		// Another organization's writes leave this one's marks standing.
		hits := f.s.Leads.marks.hits.Load()
		pages(f.s.Leads, true)
		exec(`UPDATE leads SET lead_score = 1 WHERE organization_id = ?`, f.other)
		before := f.s.Leads.marks.hits.Load()
		pages(f.s.Leads, true)
		if f.s.Leads.marks.hits.Load()-before != before-hits {
			t.Errorf("after another organization's write, %d pages read after a mark; want %d", f.s.Leads.marks.hits.Load()-before, before-hits)
		}
	})
}

// TestLeadPageMarksBounded: the marks a store keeps stay under marksMax
// however many lists and pages are asked for.
func TestLeadPageMarksBounded(t *testing.T) {
	var p pageMarks
	q := impl.LeadQuery{Sort: impl.LeadSort{Field: "name"}}
	for i := range marksMax + 100 {
		p.leaveKey(1, q, int64(i+markFrom), leadCounts{Total: 10}, impl.LeadKey{ID: int64(i + 1), Value: "x"})
	}
	if len(p.byAt) != marksMax {
		t.Fatalf("%d marks kept, want %d", len(p.byAt), marksMax)
	}
	m, ok := p.at(1, q, int64(marksMax+99+markFrom))
	if !ok || !m.holds(leadCounts{Total: 10}) {
		t.Errorf("the newest mark was not kept")
	}
	if m.holds(leadCounts{Total: 10, Revision: 1}) {
		t.Errorf("a mark was taken at another revision")
	}
}

// TestLeadDeepPageCounts: DeepPageCounts (what /metrics shows) counts a
// deep page walked to when no mark holds, and read after a mark when one
// does: its own from an earlier read, or the one the page before it left.
func TestLeadDeepPageCounts(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.s.Leads.marks.from = 5
		var ids []int64
		for i := range 25 {
			ids = append(ids, f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("55119%08d", i), Temperature: "hot"}).ID)
		}
		read := func(offset int64, wantAfter, wantMended, wantWalked int64) {
			t.Helper()
			page, err := f.s.Leads.FindLeads(ctx, f.org, impl.LeadFilter{Sort: "id", Offset: offset, Limit: 5})
			if err != nil || len(page.Leads) != 5 || page.Leads[0].ID != ids[offset] {
				t.Fatalf("page at %d: %+v, %v", offset, page, err)
			}
			if after, mended, walked := f.s.Leads.DeepPageCounts(); after != wantAfter || mended != wantMended || walked != wantWalked {
				t.Errorf("after the page at %d: %d after a mark, %d after a mended one, %d walked; want %d, %d, %d",
					offset, after, mended, walked, wantAfter, wantMended, wantWalked)
			}
		}
		read(0, 0, 0, 0)  // not deep
		read(10, 0, 0, 1) // no mark yet
		read(10, 1, 0, 1) // its own mark
		read(15, 2, 0, 1) // the mark the page before it left
		if _, err := f.s.Leads.UpdateLead(ctx, f.org, ids[3], func(l *impl.Lead) error { l.LeadScore = 7; return nil }); err != nil {
			t.Fatal(err)
		}
		read(15, 3, 0, 1) // a new score leaves the order by id as it was
		last := f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999999", Temperature: "hot"})
		read(15, 3, 1, 1) // a new lead: the mark mended past it
		read(15, 4, 1, 1) // and left again
		if err := f.s.Leads.DeleteLead(ctx, f.org, last.ID); err != nil {
			t.Fatal(err)
		}
		read(15, 5, 1, 1) // a lead gone through this store, after the page: the mark followed it
		if err := f.s.Leads.DeleteLead(ctx, f.org, ids[0]); err != nil {
			t.Fatal(err)
		}
		ids = ids[1:]
		read(15, 5, 2, 1) // one before the page: the mark moved on past it
		if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(`DELETE FROM leads WHERE id = ?`), ids[0]); err != nil {
			t.Fatal(err)
		}
		ids = ids[1:]
		read(15, 5, 2, 2) // a lead gone by SQL: walked again
	})
}

// TestLeadPageMarksOutliveOtherFields: a write leaves standing the marks
// of every order it cannot have changed, and only those: each sort's deep
// page is walked to again after a write that changes its field or the
// list's leads, and read after its mark after any other. Whichever it is,
// the page is the one a store without marks reads.
func TestLeadPageMarksOutliveOtherFields(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		plain := marksFromTheStart(f)
		var ids []int64
		for i := range 30 {
			l := &impl.Lead{Phone: fmt.Sprintf("55119%08d", i), Name: ptr(fmt.Sprintf("lead %02d", 29-i)),
				LeadScore: int32(i * 3 % 10), Temperature: impl.TemperatureHot, DealValue: ptr(float64(i % 4 * 100))}
			if i%5 == 2 {
				l.Name, l.DealValue = nil, nil
			}
			f.clock.advance(time.Second)
			ids = append(ids, f.mustCreate(t, f.org, l).ID)
		}
		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(query), args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		update := func(id int64, change func(*impl.Lead)) func() {
			return func() {
				if _, err := f.s.Leads.UpdateLead(ctx, f.org, id, func(l *impl.Lead) error { change(l); return nil }); err != nil {
					t.Fatal(err)
				}
			}
		}
		sorts := []string{"id", "name", "created_at", "updated_at", "lead_score", "deal_value"}
		all := map[string]bool{}
		for _, s := range sorts {
			all[s] = true
		}
		none := map[string]bool{}
		// Another replica's store, whose writes this one's marks do not
		// follow.
		replica := &LeadStore{db: f.db}
		writes := []struct {
			what  string
			write func()
			walks map[string]bool // the sorts whose deep pages walk again
			// those whose marks are mended (past new leads, or by the writes
			// they followed); nil: either mended or read after the mark, as
			// the write's lead falls before or after the page
			mends map[string]bool
		}{
			{"a score through the store", update(ids[4], func(l *impl.Lead) { l.LeadScore = 99 }), none, nil},
			{"a name through the store", update(ids[6], func(l *impl.Lead) { l.Name = ptr("a first") }), none, nil},
			{"a score through another replica", func() {
				if _, err := replica.UpdateLead(ctx, f.org, ids[3], func(l *impl.Lead) error { l.LeadScore = 98; return nil }); err != nil {
					t.Fatal(err)
				}
			}, map[string]bool{"lead_score": true, "updated_at": true}, none},
			{"a name given to a lead without one, by SQL", func() { exec(`UPDATE leads SET name = 'zz' WHERE id = ?`, ids[7]) },
				map[string]bool{"name": true}, none},
			{"a deal value by SQL", func() { exec(`UPDATE leads SET deal_value = 5 WHERE id = ?`, ids[9]) },
				map[string]bool{"deal_value": true}, none},
			{"a company by SQL", func() { exec(`UPDATE leads SET company_name = 'Acme' WHERE id = ?`, ids[10]) },
				map[string]bool{}, none},
			{"an update that changes nothing, by SQL", func() { exec(`UPDATE leads SET lead_score = lead_score WHERE organization_id = ?`, f.org) },
				map[string]bool{}, none},
			{"a creation time by SQL", func() {
				exec(`UPDATE leads SET created_at = (SELECT MIN(created_at) FROM leads) WHERE id = ?`, ids[25])
			},
				map[string]bool{"created_at": true}, none},
			{"a temperature by SQL", func() { exec(`UPDATE leads SET temperature = 'cold' WHERE id = ?`, ids[11]) }, all, none},
			{"a new lead through the store", func() { f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999999", Temperature: "hot"}) }, none, all},
			{"a new lead of another list", func() { f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999998", Temperature: "cold"}) }, none, none},
			{"three new leads by SQL", func() {
				exec(`INSERT INTO leads (organization_id, phone, name, temperature, lead_score, deal_value, created_at, updated_at)
					SELECT organization_id, '55' || phone, name, temperature, lead_score + 1, deal_value, created_at, updated_at
					FROM leads WHERE id IN (?, ?, ?)`, ids[1], ids[2], ids[20])
			}, none, all},
			{"a new lead and a new score, through the store", func() {
				f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999990", Temperature: "hot"})
				update(ids[15], func(l *impl.Lead) { l.LeadScore = 77 })()
			}, none, all},
			{"a new lead, then the lead before every page deleted, through the store", func() {
				f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999989", Temperature: "hot"})
				if err := f.s.Leads.DeleteLead(ctx, f.org, ids[16]); err != nil {
					t.Fatal(err)
				}
			}, none, all},
			{"a lead deleted through the store, checked as If-Match does", func() {
				if err := f.s.Leads.DeleteLeadIf(ctx, f.org, ids[17], func(*impl.Lead) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}, none, nil},
			{"a temperature through the store", update(ids[18], func(l *impl.Lead) { l.Temperature = impl.TemperatureWarm }), none, nil},
			{"a temperature back, a name and a score, through the store", update(ids[18], func(l *impl.Lead) {
				l.Temperature, l.Name, l.LeadScore = impl.TemperatureHot, nil, 1
			}), none, nil},
			{"a lead deleted through another replica", func() {
				if err := replica.DeleteLead(ctx, f.org, ids[19]); err != nil {
					t.Fatal(err)
				}
			}, all, none},
			{"a lead deleted through the store, then another by SQL", func() {
				if err := f.s.Leads.DeleteLead(ctx, f.org, ids[21]); err != nil {
					t.Fatal(err)
				}
				exec(`DELETE FROM leads WHERE id = ?`, ids[22])
			}, all, none},
			{"a lead deleted by SQL", func() { exec(`DELETE FROM leads WHERE id = ?`, ids[12]) }, all, none},
			{"a new lead by SQL under an id older than the newest", func() {
				// As a transaction that took its id before another's and
				// committed after it would: it is not taken for one that
				// arrived since.
				exec(`INSERT INTO leads (id, organization_id, phone, temperature, lead_score, created_at, updated_at)
					SELECT ?, organization_id, '5511999999997', temperature, 0, created_at, updated_at FROM leads WHERE id = ?`, ids[12], ids[13])
			}, all, none},
			{"a new lead and a lead gone, by SQL", func() {
				f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999996", Temperature: "hot"})
				exec(`DELETE FROM leads WHERE id = ?`, ids[14])
			}, all, none},
		}
		// deep reads the page at 24 of each sort from the store, and says
		// which were walked to and which read after a mended mark.
		deep := func(after string) (walked, mended map[string]bool) {
			t.Helper()
			walked, mended = map[string]bool{}, map[string]bool{}
			for _, sort := range sorts {
				for _, s := range []string{sort, "-" + sort} {
					// Deep enough for three arrivals' mending (mendMax).
					q := impl.LeadFilter{Sort: s, Offset: 24, Limit: 5, Temperature: ptr(impl.TemperatureHot)}
					_, mendedBefore, before := f.s.Leads.DeepPageCounts()
					got, err := f.s.Leads.FindLeads(ctx, f.org, q)
					if err != nil {
						t.Fatal(err)
					}
					_, mendedNow, now := f.s.Leads.DeepPageCounts()
					walked[s], mended[s] = now != before, mendedNow != mendedBefore
					want, err := plain.FindLeads(ctx, f.org, q)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(idsOf(got.Leads), idsOf(want.Leads)) || got.Total != want.Total {
						t.Fatalf("after %s, sort=%s: page %v of %d, want %v of %d", after, s, idsOf(got.Leads), got.Total, idsOf(want.Leads), want.Total)
					}
				}
			}
			return walked, mended
		}
		deep("the leads were made")
		if walked, mended := deep("nothing"); slices.Contains(slices.Collect(maps.Values(walked)), true) || slices.Contains(slices.Collect(maps.Values(mended)), true) {
			t.Fatalf("with nothing written, pages walked to again: %v, mended: %v", walked, mended)
		}
		// revision, 00012's, still moves on every write: the servers of the
		// version before 00014 read it during a rolling restart.
		revision := func() int64 {
			t.Helper()
			var r int64
			if err := f.db.pool.GetContext(ctx, &r, f.db.rebind(`SELECT COALESCE(SUM(revision), 0) FROM lead_counts WHERE organization_id = ?`), f.org); err != nil {
				t.Fatal(err)
			}
			return r
		}
		for _, w := range writes {
			f.clock.advance(time.Second) // what the store writes, now
			before := revision()
			w.write()
			if revision() == before {
				t.Errorf("after %s, lead_counts.revision did not move", w.what)
			}
			walked, mended := deep(w.what)
			for _, sort := range sorts {
				for _, s := range []string{sort, "-" + sort} {
					if walked[s] != w.walks[sort] || w.mends != nil && mended[s] != w.mends[sort] {
						t.Errorf("after %s, sort=%s: walked to again %v, mended %v; want %v, %v", w.what, s, walked[s], mended[s], w.walks[sort], w.mends[sort])
					}
				}
			}
		}
	})
}

// TestLeadPageMarkMendedOnlyOverOneState: a mark is mended past the leads
// that arrived since it from reads of one state of the list, and left only
// from a page read at the revision counted before it. A write that commits
// while a mark is mended, or between the count and the page (here another
// lead, arriving before the page), makes the page walked to instead, the
// list's as it is after that write, and the walk leaves no mark at the
// revision counted before the write (a mark whose lead already follows an
// arrival would be moved past it again).
func TestLeadPageMarkMendedOnlyOverOneState(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		plain := marksFromTheStart(f)
		hotLeads(t, f, 40)
		q := impl.LeadFilter{Offset: 24, Limit: 5} // newest first: arrivals come before the page
		read := func(what string, want [3]int64) {
			t.Helper()
			if got, want := bothPages(t, f.s.Leads, plain, f.org, q); !slices.Equal(got, want) {
				t.Fatalf("%s: page %v, want %v", what, got, want)
			}
			if after, mended, walked := f.s.Leads.DeepPageCounts(); [3]int64{after, mended, walked} != want {
				t.Errorf("%s: %d after a mark, %d mended, %d walked; want %v", what, after, mended, walked, want)
			}
		}
		arrive := func(phone string) {
			t.Helper()
			f.clock.advance(time.Second)
			f.mustCreate(t, f.org, &impl.Lead{Phone: phone, Temperature: impl.TemperatureHot})
		}
		read("the first read", [3]int64{0, 0, 1})
		arrive("5511999999999")
		read("a lead arrived", [3]int64{0, 1, 1})
		arrive("5511999999998")
		f.s.Leads.marks.mending = func() { f.s.Leads.marks.mending = nil; arrive("5511999999997") }
		read("another arrived while the mark was mended past the one before", [3]int64{0, 1, 2})
		// The walk read the list after that write, so it left no mark at
		// the revision counted before it: the mark mended the read before
		// is mended again, past both.
		read("nothing since", [3]int64{0, 2, 2})
		read("nothing since, again", [3]int64{1, 2, 2})
		// The same when the write comes between the count and the page.
		arrive("5511999999996")
		f.s.Leads.marks.reading = func() { f.s.Leads.marks.reading = nil; arrive("5511999999995") }
		read("another arrived after the list was counted", [3]int64{1, 2, 3})
		read("nothing since that", [3]int64{1, 3, 3})
		read("nothing since that, again", [3]int64{2, 3, 3})
	})
}

// TestLeadPageMarkFollowsAWriteOnce: a mark left by a page read after a
// write committed, before the marks followed it, holds that write already,
// and is not moved by it again; a mark read before it is.
func TestLeadPageMarkFollowsAWriteOnce(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		plain := marksFromTheStart(f)
		ids := hotLeads(t, f, 40)
		early, late := impl.LeadFilter{Sort: "id", Offset: 20, Limit: 5}, impl.LeadFilter{Sort: "id", Offset: 30, Limit: 5}
		read := func(what string, qs ...impl.LeadFilter) {
			t.Helper()
			for _, q := range qs {
				if got, want := bothPages(t, f.s.Leads, plain, f.org, q); !slices.Equal(got, want) {
					t.Fatalf("%s, offset %d: page %v, want %v", what, q.Offset, got, want)
				}
			}
		}
		read("the first read", early, late)
		// A lead before both pages goes; the page at 30 is read again after
		// the delete's commit, before the marks follow it, and leaves a
		// mark that holds the delete.
		f.s.Leads.marks.following = func() {
			f.s.Leads.marks.following = nil
			read("between the commit and the marks", late)
		}
		if err := f.s.Leads.DeleteLead(ctx, f.org, ids[3]); err != nil {
			t.Fatal(err)
		}
		hits, mended, walked := f.s.Leads.DeepPageCounts()
		read("after the marks followed the delete", early, late)
		if h, m, w := f.s.Leads.DeepPageCounts(); h != hits+1 || m != mended+1 || w != walked {
			t.Errorf("after the delete, %d pages read after a mark, %d after a mended one, %d walked; want 1, 1, 0", h-hits, m-mended, w-walked)
		}
	})
}

// hotLeads makes n hot leads in f's organization, a second apart, and
// returns their ids.
func hotLeads(t *testing.T, f *fixture, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		f.clock.advance(time.Second)
		ids = append(ids, f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("55119%08d", i), Temperature: impl.TemperatureHot}).ID)
	}
	return ids
}

// marksFromTheStart makes f's lead store keep marks from the first lead on,
// and returns a store of the same database that keeps none.
func marksFromTheStart(f *fixture) *LeadStore {
	f.s.Leads.marks.from = 1
	plain := &LeadStore{db: f.db}
	plain.marks.from = math.MaxInt64
	return plain
}

// TestLeadPageMarksUnderConcurrentArrivals: deep pages read while new
// leads arrive from several writers leave only marks that hold the list as
// it was at their revision. Once the writers stop, every page read after
// those marks, as they stand and mended past one more lead, is the page a
// store without marks reads. The same while the writers change and delete
// leads through the store, whose marks follow those writes
// (followmarks.go): a mark read after a write's commit and before the
// marks followed it must not be moved by it again.
func TestLeadPageMarksUnderConcurrentArrivals(t *testing.T) {
	for _, writes := range []string{"arrivals", "changes and deletes"} {
		t.Run(writes, func(t *testing.T) { leadPageMarksUnderConcurrentWrites(t, writes) })
	}
}

func leadPageMarksUnderConcurrentWrites(t *testing.T, writes string) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		plain := marksFromTheStart(f)
		lead := func(i int) *impl.Lead {
			l := &impl.Lead{Phone: fmt.Sprintf("55119%08d", i), Name: ptr(fmt.Sprintf("lead %03d", i*37%101)),
				LeadScore: int32(i * 13 % 100), Temperature: impl.TemperatureHot}
			if i%4 == 0 {
				l.Name = nil
			}
			if i%3 != 0 {
				l.DealValue = ptr(float64(i * 7 % 50 * 10))
			}
			return l
		}
		var ids []int64
		for i := range 150 {
			f.clock.advance(time.Millisecond)
			ids = append(ids, f.mustCreate(t, f.org, lead(i)).ID)
		}
		var lists []impl.LeadFilter
		for _, sort := range []string{"-created_at", "name", "-lead_score", "deal_value", "id"} {
			for _, offset := range []int64{40, 64, 96} {
				lists = append(lists, impl.LeadFilter{Sort: sort, Offset: offset, Limit: 8})
			}
		}
		// write is writer w's i-th write.
		write := func(w, i int) error {
			f.clock.advance(time.Millisecond)
			if writes == "arrivals" {
				return f.s.Leads.CreateLead(ctx, f.org, lead(1000+w*100+i))
			}
			id := ids[w*40+i]
			if i%3 == 2 {
				return f.s.Leads.DeleteLead(ctx, f.org, id)
			}
			_, err := f.s.Leads.UpdateLead(ctx, f.org, id, func(l *impl.Lead) error {
				l.LeadScore, l.Name = int32((i*31+w)%100), lead(i*7+w).Name
				return nil
			})
			return err
		}
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					if err := write(w, i); err != nil {
						t.Errorf("write %d of writer %d: %v", i, w, err)
						return
					}
				}
			}()
		}
		for r := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 60 {
					list := lists[(r*7+i)%len(lists)]
					page, err := f.s.Leads.FindLeads(ctx, f.org, list)
					if err != nil || len(page.Leads) != list.Limit {
						t.Errorf("sort=%s offset %d: %d leads, %v", list.Sort, list.Offset, len(page.Leads), err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		compare := func(after string) {
			t.Helper()
			for _, list := range lists {
				if got, want := bothPages(t, f.s.Leads, plain, f.org, list); !slices.Equal(got, want) {
					t.Errorf("%s, sort=%s offset %d: page %v, want %v", after, list.Sort, list.Offset, got, want)
				}
			}
		}
		compare("the writers stopped")
		before := f.s.Leads.marks.mends.Load()
		if err := write(2, 20); err != nil {
			t.Fatal(err)
		}
		compare("one more write")
		if f.s.Leads.marks.mends.Load() == before {
			t.Errorf("no mark was mended past the last write")
		}
	})
}

// bothPages is the page q gives in store and in plain, as ids.
func bothPages(t *testing.T, store, plain *LeadStore, org int64, q impl.LeadFilter) (got, want []int64) {
	t.Helper()
	for _, p := range []struct {
		from *LeadStore
		ids  *[]int64
	}{{store, &got}, {plain, &want}} {
		page, err := p.from.FindLeads(context.Background(), org, q)
		if err != nil {
			t.Fatal(err)
		}
		*p.ids = idsOf(page.Leads)
	}
	return got, want
}

// TestLeadPageMarksFollowThisStoresWrites: deep pages read after marks
// that followed this store's own writes (followmarks.go) are the pages a
// store without marks reads: new scores, names, deal values and
// temperatures, leads deleted, among them the leads the marks hold, with
// new leads through the store and by SQL between them. While only this
// store writes, and every list is read after each write, no page is walked
// to again: each mark follows each write.
func TestLeadPageMarksFollowThisStoresWrites(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		plain := marksFromTheStart(f)
		rng := rand.New(rand.NewPCG(7, 13))
		temperatures := []string{impl.TemperatureHot, impl.TemperatureCold}
		lead := randomLeads(rng, "55119", 40, 10, 8, temperatures)
		for range 70 {
			f.clock.advance(time.Second)
			f.mustCreate(t, f.org, lead())
		}
		var lists []impl.LeadFilter
		for _, sort := range []string{"name", "-name", "lead_score", "-updated_at", "deal_value", "-deal_value", "id", "-created_at"} {
			lists = append(lists, impl.LeadFilter{Sort: sort, Offset: 18, Limit: 6},
				impl.LeadFilter{Sort: sort, Offset: 12, Limit: 6, Temperature: ptr(impl.TemperatureHot)})
		}
		ids := func() []int64 {
			var all []int64
			if err := f.db.pool.SelectContext(ctx, &all, f.db.rebind(`SELECT id FROM leads WHERE organization_id = ? ORDER BY id`), f.org); err != nil {
				t.Fatal(err)
			}
			return all
		}
		// held is a lead a mark holds: the one just before a list's page.
		held := func() int64 {
			list := lists[rng.IntN(len(lists))]
			list.Offset--
			list.Limit = 1
			page, err := plain.FindLeads(ctx, f.org, list)
			if err != nil || len(page.Leads) == 0 {
				t.Fatalf("the lead before sort=%s offset %d: %v", list.Sort, list.Offset+1, err)
			}
			return page.Leads[0].ID
		}
		update := func(id int64, change func(*impl.Lead)) {
			t.Helper()
			if _, err := f.s.Leads.UpdateLead(ctx, f.org, id, func(l *impl.Lead) error { change(l); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		writes := []func(id int64) string{
			func(id int64) string {
				update(id, func(l *impl.Lead) { l.LeadScore = int32(rng.IntN(10)) })
				return "a score"
			},
			func(id int64) string {
				update(id, func(l *impl.Lead) { l.Name = lead().Name })
				return "a name"
			},
			func(id int64) string {
				update(id, func(l *impl.Lead) { l.DealValue = lead().DealValue })
				return "a deal value"
			},
			func(id int64) string {
				update(id, func(l *impl.Lead) { l.Temperature = temperatures[rng.IntN(2)] })
				return "a temperature"
			},
			func(id int64) string {
				update(id, func(l *impl.Lead) {
					m := lead()
					l.Name, l.LeadScore, l.Temperature, l.DealValue = m.Name, m.LeadScore, m.Temperature, m.DealValue
				})
				return "every field"
			},
			func(id int64) string {
				if err := f.s.Leads.DeleteLead(ctx, f.org, id); err != nil {
					t.Fatal(err)
				}
				return "a lead deleted"
			},
		}
		compare := func(after string, each func(list impl.LeadFilter) bool) {
			t.Helper()
			for _, list := range lists {
				if !each(list) {
					continue
				}
				if got, want := bothPages(t, f.s.Leads, plain, f.org, list); !slices.Equal(got, want) {
					t.Fatalf("after %s, sort=%s temperature %v: page %v, want %v", after, list.Sort, list.Temperature != nil, got, want)
				}
			}
		}
		every := func(impl.LeadFilter) bool { return true }
		compare("the leads were made", every)
		compare("nothing", every)
		_, mended, walked := f.s.Leads.DeepPageCounts()
		for i := range 60 {
			id := held()
			if i%3 == 0 {
				all := ids()
				id = all[rng.IntN(len(all))]
			}
			f.clock.advance(time.Second)
			what := writes[rng.IntN(len(writes))](id)
			compare(fmt.Sprintf("write %d, %s", i, what), every)
		}
		_, mendedNow, walkedNow := f.s.Leads.DeepPageCounts()
		if walkedNow != walked {
			t.Errorf("%d pages walked to again after this store's writes alone", walkedNow-walked)
		}
		if mendedNow-mended < 60 {
			t.Errorf("%d pages read after a mark that followed a write, of 60 writes", mendedNow-mended)
		}
		// With new leads between (through the store and by SQL), and only
		// some lists read after each write: marks follow several writes,
		// or are mended past arrivals as well.
		for i := range 80 {
			f.clock.advance(time.Second)
			what := ""
			switch r := rng.IntN(10); {
			case r < 2:
				f.mustCreate(t, f.org, lead())
				what = "a new lead"
			case r == 2:
				if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(`INSERT INTO leads (organization_id, phone, name, temperature, lead_score, deal_value, created_at, updated_at)
					SELECT organization_id, ? || phone, name, temperature, lead_score + 1, deal_value, created_at, updated_at FROM leads WHERE id = ?`), fmt.Sprintf("%03d", i), held()); err != nil {
					t.Fatal(err)
				}
				what = "a new lead by SQL"
			default:
				id := held()
				if r < 5 {
					all := ids()
					id = all[len(all)-1-rng.IntN(3)] // perhaps one that arrived since a mark
				}
				what = writes[rng.IntN(len(writes))](id)
			}
			compare(fmt.Sprintf("write %d, %s", i, what), func(impl.LeadFilter) bool { return rng.IntN(3) == 0 })
		}
		compare("the last write", every)
		if _, mendedNow, _ := f.s.Leads.DeepPageCounts(); mendedNow == mended {
			t.Errorf("no page was read after a mended mark")
		}
	})
}

// TestLeadSortCompareIsTheDatabasesOrder: impl.LeadSort.Compare, by which
// marks follow a write, orders leads as each database does, in every
// order: values that collations disagree on, ties, leads without a value.
func TestLeadSortCompareIsTheDatabasesOrder(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		listFixture(t, f)
		for _, s := range allLeadSorts {
			page, err := f.s.Leads.FindLeads(ctx, f.org, impl.LeadFilter{Sort: s, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			sort, _ := impl.ParseLeadSort(s)
			for i, l := range page.Leads {
				if c := sort.Compare(keyOf(sort, l), keyOf(sort, l)); c != 0 {
					t.Errorf("sort=%s: lead %d compares %d with itself", s, l.ID, c)
				}
				if i == 0 {
					continue
				}
				a, b := keyOf(sort, page.Leads[i-1]), keyOf(sort, l)
				if sort.Compare(a, b) >= 0 || sort.Compare(b, a) <= 0 {
					t.Errorf("sort=%s: %v before %v in the database, not by Compare", s, a, b)
				}
			}
		}
	})
}

// TestLeadPageMarksTwoReplicasRandom: two stores that keep marks on one
// database (two replicas) write leads of two organizations in a random
// order, mostly through the first, with SQL now and then: new leads,
// changes of one field or of all, deletes. Between the writes, each reads
// deep pages of a fixed set of lists (sorts both ways, with and without a
// temperature), and every page and total is checked against a store
// without marks at that moment. The first replica's marks follow its own
// writes and are mended past arrivals; the second's walk after most
// writes, and the first's after the second's and SQL's. Three seeds, the
// same on both databases.
func TestLeadPageMarksTwoReplicasRandom(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		plain := marksFromTheStart(f)
		other := &LeadStore{db: f.db}
		other.marks.from = 1
		replicas := []*LeadStore{f.s.Leads, other}
		otherOrg := f.other
		for seed := range uint64(3) {
			rng := rand.New(rand.NewPCG(seed, 99))
			temperatures := []string{impl.TemperatureHot, impl.TemperatureCold, impl.TemperatureWarm}
			lead := randomLeads(rng, fmt.Sprintf("55%d9", seed), 12, 5, 4, temperatures)
			for range 240 {
				f.clock.advance(time.Millisecond * time.Duration(rng.IntN(3)))
				org := f.org
				if rng.IntN(4) == 0 {
					org = otherOrg
				}
				if err := replicas[rng.IntN(2)].CreateLead(ctx, org, lead()); err != nil {
					t.Fatal(err)
				}
			}
			sorts := []string{"name", "-name", "lead_score", "-lead_score", "updated_at", "-updated_at", "deal_value", "-deal_value", "id", "-id", "created_at", "-created_at"}
			// A fixed set of lists, so that their marks are read again.
			var lists []impl.LeadFilter
			for range 20 {
				l := impl.LeadFilter{Sort: sorts[rng.IntN(len(sorts))], Offset: int64(40 + rng.IntN(120)), Limit: 1 + rng.IntN(8)}
				if rng.IntN(3) == 0 {
					l.Temperature = ptr(temperatures[rng.IntN(3)])
					l.Offset /= 3
				}
				lists = append(lists, l)
			}
			list := func() impl.LeadFilter { return lists[rng.IntN(len(lists))] }
			ids := func(org int64) []int64 {
				var all []int64
				if err := f.db.pool.SelectContext(ctx, &all, f.db.rebind(`SELECT id FROM leads WHERE organization_id = ? ORDER BY id`), org); err != nil {
					t.Fatal(err)
				}
				return all
			}
			for i := range 400 {
				// A few reads, from either replica, each checked.
				for range rng.IntN(7) {
					r := rng.IntN(2)
					l := list()
					got, err := replicas[r].FindLeads(ctx, f.org, l)
					if err != nil {
						t.Fatal(err)
					}
					want, err := plain.FindLeads(ctx, f.org, l)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(idsOf(got.Leads), idsOf(want.Leads)) || got.Total != want.Total {
						t.Fatalf("seed %d step %d replica %d sort=%s offset %d limit %d temperature %v: page %v (%d), want %v (%d)",
							seed, i, r, l.Sort, l.Offset, l.Limit, l.Temperature, idsOf(got.Leads), got.Total, idsOf(want.Leads), want.Total)
					}
				}
				f.clock.advance(time.Millisecond * time.Duration(rng.IntN(3)))
				org := f.org
				if rng.IntN(6) == 0 {
					org = otherOrg
				}
				all := ids(org)
				id := all[rng.IntN(len(all))]
				// Mostly the first replica, so that its marks follow writes.
				w := replicas[0]
				if rng.IntN(20) == 0 {
					w = replicas[1]
				}
				switch op := rng.IntN(20); {
				case op < 4:
					if err := w.CreateLead(ctx, org, lead()); err != nil {
						t.Fatal(err)
					}
				case op < 6 && len(all) > 100:
					if err := w.DeleteLead(ctx, org, id); err != nil {
						t.Fatal(err)
					}
				case op == 6 && rng.IntN(3) == 0:
					if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(`UPDATE leads SET lead_score = ? WHERE id = ?`), rng.IntN(5), id); err != nil {
						t.Fatal(err)
					}
				case op == 7 && len(all) > 100 && rng.IntN(3) == 0:
					if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(`DELETE FROM leads WHERE id = ?`), id); err != nil {
						t.Fatal(err)
					}
				default:
					m := lead()
					if _, err := w.UpdateLead(ctx, org, id, func(l *impl.Lead) error {
						switch rng.IntN(5) {
						case 0:
							l.LeadScore = m.LeadScore
						case 1:
							l.Name = m.Name
						case 2:
							l.DealValue = m.DealValue
						case 3:
							l.Temperature = m.Temperature
						default:
							l.Name, l.LeadScore, l.Temperature, l.DealValue = m.Name, m.LeadScore, m.Temperature, m.DealValue
						}
						return nil
					}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		// The walk of every page would pass the checks above: the first
		// replica must have read many after marks it followed or mended.
		_, mended, _ := replicas[0].DeepPageCounts()
		_, otherMended, _ := replicas[1].DeepPageCounts()
		if mended < 300 || mended < 3*otherMended {
			t.Errorf("the first replica read %d pages after a mended mark, the second %d", mended, otherMended)
		}
	})
}

// randomLeads makes leads with values drawn from rng, phones from prefix
// on: one of names names (none for a fifth), one of scores scores, one of
// deals deal values (none for a quarter), one of temperatures. Few values
// of each make ties, which the orders break by id.
func randomLeads(rng *rand.Rand, prefix string, names, scores, deals int, temperatures []string) func() *impl.Lead {
	n := 0
	return func() *impl.Lead {
		n++
		l := &impl.Lead{Phone: fmt.Sprintf("%s%08d", prefix, n), Name: ptr(fmt.Sprintf("lead %02d", rng.IntN(names))),
			LeadScore: int32(rng.IntN(scores)), Temperature: temperatures[rng.IntN(len(temperatures))],
			DealValue: ptr(float64(rng.IntN(deals) * 50))}
		if rng.IntN(5) == 0 {
			l.Name = nil
		}
		if rng.IntN(4) == 0 {
			l.DealValue = nil
		}
		return l
	}
}
