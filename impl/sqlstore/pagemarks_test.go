package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"math"
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
		for i := range 20 {
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
		read(15, 4, 1, 2) // a lead gone: walked again
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
		writes := []struct {
			what  string
			write func()
			walks map[string]bool // the sorts whose deep pages walk again
			mends map[string]bool // those whose marks are mended past new leads
		}{
			{"a score through the store", update(ids[4], func(l *impl.Lead) { l.LeadScore = 99 }),
				map[string]bool{"lead_score": true, "updated_at": true}, none},
			{"a name through the store", update(ids[6], func(l *impl.Lead) { l.Name = ptr("a first") }),
				map[string]bool{"name": true, "updated_at": true}, none},
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
			},
				map[string]bool{"lead_score": true, "updated_at": true},
				map[string]bool{"id": true, "name": true, "created_at": true, "deal_value": true}},
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
					if walked[s] != w.walks[sort] || mended[s] != w.mends[sort] {
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
		for i := range 40 {
			f.clock.advance(time.Second)
			f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("55119%08d", i), Temperature: impl.TemperatureHot})
		}
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
// store without marks reads.
func TestLeadPageMarksUnderConcurrentArrivals(t *testing.T) {
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
		for i := range 150 {
			f.clock.advance(time.Millisecond)
			f.mustCreate(t, f.org, lead(i))
		}
		var lists []impl.LeadFilter
		for _, sort := range []string{"-created_at", "name", "-lead_score", "deal_value", "id"} {
			for _, offset := range []int64{40, 64, 96} {
				lists = append(lists, impl.LeadFilter{Sort: sort, Offset: offset, Limit: 8})
			}
		}
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					f.clock.advance(time.Millisecond)
					if err := f.s.Leads.CreateLead(ctx, f.org, lead(1000+w*100+i)); err != nil {
						t.Errorf("CreateLead: %v", err)
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
		f.clock.advance(time.Millisecond)
		f.mustCreate(t, f.org, lead(9999))
		before := f.s.Leads.marks.mends.Load()
		compare("one more lead")
		if f.s.Leads.marks.mends.Load() == before {
			t.Errorf("no mark was mended past the last lead")
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
