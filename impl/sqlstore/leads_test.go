package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

func ptr[T any](v T) *T { return &v }

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func num(p *float64) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

// leadString renders every field, so that two leads print equal exactly
// when they are equal (times in UTC to the nanosecond).
func leadString(l *impl.Lead) string {
	if l == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{id:%d org:%d phone:%q name:%s email:%s company:%s temp:%q score:%d deal:%s created:%s updated:%s}",
		l.ID, l.OrganizationID, l.Phone, str(l.Name), str(l.Email), str(l.CompanyName), l.Temperature,
		l.LeadScore, num(l.DealValue), l.CreatedAt.UTC().Format(time.RFC3339Nano), l.UpdatedAt.UTC().Format(time.RFC3339Nano))
}

func sameLead(t *testing.T, what string, got, want *impl.Lead) {
	t.Helper()
	if leadString(got) != leadString(want) {
		t.Errorf("%s:\n got  %s\n want %s", what, leadString(got), leadString(want))
	}
	if got != nil && (got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC) {
		t.Errorf("%s: times in %v/%v, want UTC", what, got.CreatedAt.Location(), got.UpdatedAt.Location())
	}
}

func (f *fixture) mustCreate(t *testing.T, org int64, l *impl.Lead) *impl.Lead {
	t.Helper()
	if err := f.s.Leads.CreateLead(context.Background(), org, l); err != nil {
		t.Fatalf("CreateLead(%s): %v", leadString(l), err)
	}
	return l
}

// findLeads is FindLeads as a page's leads and total.
func (f *fixture) findLeads(ctx context.Context, org int64, filter impl.LeadFilter) ([]*impl.Lead, int64, error) {
	page, err := f.s.Leads.FindLeads(ctx, org, filter)
	if err != nil {
		return nil, 0, err
	}
	return page.Leads, page.Total, nil
}

func (f *fixture) mustFind(t *testing.T, org, id int64) *impl.Lead {
	t.Helper()
	l, err := f.s.Leads.FindLeadByID(context.Background(), org, id)
	if err != nil {
		t.Fatalf("FindLeadByID(%d, %d): %v", org, id, err)
	}
	return l
}

func TestCreateLead(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		stamp := t0.Truncate(time.Microsecond)

		t.Run("normalises and fills in", func(t *testing.T) {
			l := &impl.Lead{
				Phone:       "+55 (11) 99999-9999",
				Name:        ptr("Maria Santos"),
				Email:       ptr("  Maria.Santos@Empresa.COM "),
				CompanyName: ptr("Tech Corp"),
				DealValue:   ptr(15000.5),
			}
			if err := f.s.Leads.CreateLead(ctx, f.org, l); err != nil {
				t.Fatal(err)
			}
			want := &impl.Lead{
				ID: l.ID, OrganizationID: f.org, Phone: "5511999999999", Name: ptr("Maria Santos"),
				Email: ptr("maria.santos@empresa.com"), CompanyName: ptr("Tech Corp"),
				Temperature: impl.TemperatureCold, LeadScore: 0, DealValue: ptr(15000.5),
				CreatedAt: stamp, UpdatedAt: stamp,
			}
			if l.ID <= 0 {
				t.Errorf("ID = %d", l.ID)
			}
			sameLead(t, "CreateLead's lead", l, want)
			sameLead(t, "stored lead", f.mustFind(t, f.org, l.ID), want)
		})

		t.Run("keeps what is given", func(t *testing.T) {
			l := f.mustCreate(t, f.org, &impl.Lead{
				Phone: "21988887777", Temperature: impl.TemperatureHot, LeadScore: 100, DealValue: ptr(0.0),
				Name: ptr("João Çé 日本 🙂"), CompanyName: ptr(""),
			})
			got := f.mustFind(t, f.org, l.ID)
			sameLead(t, "stored lead", got, l)
			if got.Temperature != "hot" || got.LeadScore != 100 || got.DealValue == nil || *got.DealValue != 0 ||
				got.CompanyName == nil || *got.CompanyName != "" || got.Email != nil {
				t.Errorf("stored %s", leadString(got))
			}
		})

		t.Run("large deal value", func(t *testing.T) {
			l := f.mustCreate(t, f.org, &impl.Lead{Phone: "21988887770", DealValue: ptr(999999999999.99)})
			sameLead(t, "stored lead", f.mustFind(t, f.org, l.ID), l)
		})

		t.Run("ids are distinct", func(t *testing.T) {
			a := f.mustCreate(t, f.org, &impl.Lead{Phone: "1130000001"})
			b := f.mustCreate(t, f.other, &impl.Lead{Phone: "1130000002"})
			if a.ID == b.ID {
				t.Errorf("two leads got id %d", a.ID)
			}
		})
	})
}

func TestCreateLeadDuplicatePhone(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		first := f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999999", Name: ptr("first")})
		for _, phone := range []string{"5511999999999", "+55 11 99999-9999", "(55) 11.99999.9999"} {
			err := f.s.Leads.CreateLead(ctx, f.org, &impl.Lead{Phone: phone, Name: ptr("second")})
			wantCode(t, err, impl.EConflict)
			var ae *impl.Error
			if !errors.As(err, &ae) || len(ae.Details["phone"]) == 0 {
				t.Errorf("conflict %v has no detail for phone", err)
			}
		}
		sameLead(t, "first lead after the conflicts", f.mustFind(t, f.org, first.ID), first)
		_, total, err := f.findLeads(ctx, f.org, impl.LeadFilter{Limit: 100})
		if err != nil || total != 1 {
			t.Errorf("FindLeads total = %d, %v; want 1", total, err)
		}
		// Another organization may have a lead with the same phone.
		other := f.mustCreate(t, f.other, &impl.Lead{Phone: "+55 11 99999-9999"})
		if other.ID == first.ID || other.Phone != first.Phone {
			t.Errorf("other organization's lead: %s", leadString(other))
		}
		// The failed inserts did not break the store.
		f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999998"})
	})
}

func TestLeadsAreScopedToTheOrganization(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		mine := f.mustCreate(t, f.org, &impl.Lead{Phone: "11999999999", Email: ptr("a@b.co"), Temperature: "hot"})
		theirs := f.mustCreate(t, f.other, &impl.Lead{Phone: "11999999998", Email: ptr("a@b.co"), Temperature: "hot"})

		_, err := f.s.Leads.FindLeadByID(ctx, f.org, theirs.ID)
		wantCode(t, err, impl.ENotFound)
		_, err = f.s.Leads.FindLeadByID(ctx, f.other, mine.ID)
		wantCode(t, err, impl.ENotFound)
		_, err = f.s.Leads.FindLeadByID(ctx, f.org, theirs.ID+mine.ID+100)
		wantCode(t, err, impl.ENotFound)

		called := false
		_, err = f.s.Leads.UpdateLead(ctx, f.org, theirs.ID, func(l *impl.Lead) error {
			called = true
			l.Name = ptr("hijacked")
			return nil
		})
		wantCode(t, err, impl.ENotFound)
		if called {
			t.Error("UpdateLead called the update func for another organization's lead")
		}
		wantCode(t, f.s.Leads.DeleteLead(ctx, f.org, theirs.ID), impl.ENotFound)
		sameLead(t, "their lead after our attempts", f.mustFind(t, f.other, theirs.ID), theirs)

		for _, filter := range []impl.LeadFilter{
			{Limit: 100},
			{Limit: 100, Email: ptr("a@b.co")},
			{Limit: 100, Temperature: ptr("hot")},
			{Limit: 100, Phone: ptr("11999999998")},
		} {
			leads, total, err := f.findLeads(ctx, f.org, filter)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range leads {
				if l.OrganizationID != f.org {
					t.Errorf("FindLeads returned another organization's lead %s", leadString(l))
				}
			}
			if int64(len(leads)) != total {
				t.Errorf("%d leads but total %d", len(leads), total)
			}
		}
	})
}

func TestFindLeadsFilters(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		a := f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999999", Email: ptr("Maria@Empresa.com"), Temperature: "hot"})
		b := f.mustCreate(t, f.org, &impl.Lead{Phone: "5521988887777", Email: ptr("joao@empresa.com"), Temperature: "hot"})
		c := f.mustCreate(t, f.org, &impl.Lead{Phone: "5531977776666", Temperature: "frozen"})
		f.mustCreate(t, f.other, &impl.Lead{Phone: "5511999999999", Email: ptr("maria@empresa.com"), Temperature: "hot"})

		tests := []struct {
			name   string
			filter impl.LeadFilter
			want   []*impl.Lead
		}{
			{"no filter", impl.LeadFilter{}, []*impl.Lead{a, b, c}},
			{"formatted phone", impl.LeadFilter{Phone: ptr("+55 (11) 99999-9999")}, []*impl.Lead{a}},
			{"digits phone", impl.LeadFilter{Phone: ptr("5521988887777")}, []*impl.Lead{b}},
			{"phone without country code does not match", impl.LeadFilter{Phone: ptr("11999999999")}, nil},
			{"email in other case", impl.LeadFilter{Email: ptr("MARIA@EMPRESA.COM")}, []*impl.Lead{a}},
			{"email with spaces", impl.LeadFilter{Email: ptr(" joao@Empresa.com ")}, []*impl.Lead{b}},
			{"unknown email", impl.LeadFilter{Email: ptr("nobody@empresa.com")}, nil},
			{"temperature", impl.LeadFilter{Temperature: ptr("hot")}, []*impl.Lead{a, b}},
			{"other temperature", impl.LeadFilter{Temperature: ptr("frozen")}, []*impl.Lead{c}},
			{"temperature nobody has", impl.LeadFilter{Temperature: ptr("warm")}, nil},
			{"filters combine with AND", impl.LeadFilter{Temperature: ptr("hot"), Email: ptr("joao@empresa.com")}, []*impl.Lead{b}},
			{"AND with no match", impl.LeadFilter{Temperature: ptr("frozen"), Phone: ptr("5511999999999")}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.filter.Sort, tt.filter.Limit = "id", 100
				leads, total, err := f.findLeads(ctx, f.org, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				if leads == nil {
					t.Error("FindLeads returned a nil slice; want an empty one (it renders as [])")
				}
				if total != int64(len(tt.want)) || len(leads) != len(tt.want) {
					t.Fatalf("%d leads, total %d; want %d", len(leads), total, len(tt.want))
				}
				for i := range leads {
					sameLead(t, fmt.Sprintf("lead %d", i), leads[i], tt.want[i])
				}
			})
		}
	})
}

func TestFindLeadsPaging(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		var ids []int64
		for i := range 7 {
			ids = append(ids, f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("11900000%03d", i)}).ID)
		}
		f.mustCreate(t, f.other, &impl.Lead{Phone: "11900000999"})
		tests := []struct {
			offset int64
			limit  int
			want   []int64
		}{
			{0, 3, ids[0:3]},
			{3, 3, ids[3:6]},
			{6, 3, ids[6:7]},
			{7, 3, nil},
			{100, 3, nil},
			{0, 100, ids},
			{2, 1, ids[2:3]},
		}
		for _, tt := range tests {
			leads, total, err := f.findLeads(ctx, f.org, impl.LeadFilter{Sort: "id", Offset: tt.offset, Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if total != 7 {
				t.Errorf("offset %d limit %d: total %d, want 7 on every page", tt.offset, tt.limit, total)
			}
			if got := leadIDs(leads); !slices.Equal(got, tt.want) {
				t.Errorf("offset %d limit %d: ids %v, want %v", tt.offset, tt.limit, got, tt.want)
			}
		}
	})
}

func leadIDs(leads []*impl.Lead) []int64 {
	var ids []int64
	for _, l := range leads {
		ids = append(ids, l.ID)
	}
	return ids
}

// sortLead is one row of the sort fixture; at says when it was created, as
// an offset from a whole second, so that timestamps with and without
// fractions compare (SQLite keeps them as text).
type sortLead struct {
	name  *string
	score int32
	deal  *float64
	at    time.Duration
	// touched, when set, is when the lead was last updated.
	touched time.Duration
}

var sortBase = time.Date(2026, 3, 13, 14, 2, 11, 0, time.UTC)

var sortFixture = []sortLead{
	{name: ptr("alice"), score: 50, deal: ptr(100.0), at: 0},
	{name: nil, score: 50, deal: nil, at: 0},
	{name: ptr("Bob"), score: 10, deal: ptr(0.0), at: 500 * time.Millisecond, touched: 3 * time.Hour},
	{name: ptr("émile"), score: 90, deal: ptr(1e12), at: 250 * time.Millisecond},
	{name: ptr(""), score: 10, deal: nil, at: time.Second, touched: 3 * time.Hour},
	{name: ptr("Zoe"), score: 90, deal: ptr(100.0), at: time.Second + time.Microsecond},
	{name: ptr("alice"), score: 0, deal: ptr(0.5), at: -100 * time.Millisecond, touched: 2 * time.Hour},
	{name: nil, score: 100, deal: ptr(100.0), at: 500 * time.Millisecond},
	{name: ptr("alicE"), score: 100, deal: ptr(99.99), at: 50 * time.Millisecond, touched: 2*time.Hour + 500*time.Millisecond},
	{name: ptr("Ängström"), score: 0, deal: nil, at: 10 * time.Second},
	{name: ptr("10"), score: 1, deal: ptr(2.0), at: 5 * time.Second},
	{name: ptr("9"), score: 1, deal: ptr(10.0), at: 5 * time.Second},
}

// expectedOrder sorts the fixture's indexes the way the API documents:
// values in the direction asked, missing values last in both directions,
// ties by id (creation order here) in the same direction.
func expectedOrder(key string, created, updated []time.Time) []int {
	desc := strings.HasPrefix(key, "-")
	col := strings.TrimPrefix(key, "-")
	// cmp returns <0, 0, >0 comparing present values; null reports a
	// missing value.
	var cmp func(a, b int) int
	null := func(int) bool { return false }
	switch col {
	case "id":
		cmp = func(a, b int) int { return 0 }
	case "name":
		null = func(i int) bool { return sortFixture[i].name == nil }
		cmp = func(a, b int) int { return strings.Compare(*sortFixture[a].name, *sortFixture[b].name) }
	case "lead_score":
		cmp = func(a, b int) int { return int(sortFixture[a].score) - int(sortFixture[b].score) }
	case "deal_value":
		null = func(i int) bool { return sortFixture[i].deal == nil }
		cmp = func(a, b int) int {
			x, y := *sortFixture[a].deal, *sortFixture[b].deal
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case "created_at":
		cmp = func(a, b int) int { return created[a].Compare(created[b]) }
	case "updated_at":
		cmp = func(a, b int) int { return updated[a].Compare(updated[b]) }
	default:
		panic(col)
	}
	order := make([]int, len(sortFixture))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if na, nb := null(a), null(b); na != nb {
			if na {
				return 1
			}
			return -1
		} else if !na {
			if c := cmp(a, b); c != 0 {
				if desc {
					return -c
				}
				return c
			}
		}
		if desc {
			return b - a
		}
		return a - b
	})
	return order
}

var sortKeys = []string{
	"id", "-id", "name", "-name", "created_at", "-created_at",
	"updated_at", "-updated_at", "lead_score", "-lead_score", "deal_value", "-deal_value",
}

func TestFindLeadsSort(t *testing.T) {
	ctx := context.Background()
	orders := map[string]map[string][]int{} // dialect -> sort key -> fixture indexes
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFixture(t, d.URL)
			created := make([]time.Time, len(sortFixture))
			updated := make([]time.Time, len(sortFixture))
			index := map[int64]int{}
			for i, s := range sortFixture {
				f.clock.set(sortBase.Add(s.at))
				l := f.mustCreate(t, f.org, &impl.Lead{
					Phone: fmt.Sprintf("119000000%02d", i), Name: s.name, LeadScore: s.score, DealValue: s.deal,
				})
				index[l.ID] = i
				created[i], updated[i] = l.CreatedAt, l.UpdatedAt
			}
			// Another organization's leads never show up.
			f.mustCreate(t, f.other, &impl.Lead{Phone: "11900000099", Name: ptr("aaa"), LeadScore: 100})
			for i, s := range sortFixture {
				if s.touched == 0 {
					continue
				}
				f.clock.set(sortBase.Add(s.touched))
				l, err := f.s.Leads.UpdateLead(ctx, f.org, leadIDOf(index, i), func(l *impl.Lead) error {
					l.Temperature = impl.TemperatureWarm
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				updated[i] = l.UpdatedAt
			}

			orders[d.Name] = map[string][]int{}
			for _, key := range append(sortKeys, "") {
				name := key
				if name == "" {
					name = "default"
				}
				t.Run(name, func(t *testing.T) {
					want := key
					if key == "" {
						want = "-created_at"
					}
					wantOrder := expectedOrder(want, created, updated)

					leads, total, err := f.findLeads(ctx, f.org, impl.LeadFilter{Sort: key, Limit: 100})
					if err != nil {
						t.Fatal(err)
					}
					if total != int64(len(sortFixture)) {
						t.Fatalf("total %d, want %d", total, len(sortFixture))
					}
					var got []int
					for _, l := range leads {
						got = append(got, index[l.ID])
					}
					if !slices.Equal(got, wantOrder) {
						t.Errorf("order (fixture indexes)\n got  %v\n want %v", got, wantOrder)
					}
					orders[d.Name][name] = got

					// Paging through the same order gives every lead once.
					var paged []int
					for off := int64(0); off < total; off += 5 {
						page, _, err := f.findLeads(ctx, f.org, impl.LeadFilter{Sort: key, Offset: off, Limit: 5})
						if err != nil {
							t.Fatal(err)
						}
						for _, l := range page {
							paged = append(paged, index[l.ID])
						}
					}
					if !slices.Equal(paged, got) {
						t.Errorf("pages of 5 give\n %v\nthe whole list gives\n %v", paged, got)
					}
				})
			}
			_, _, err := f.findLeads(ctx, f.org, impl.LeadFilter{Sort: "phone", Limit: 10})
			wantCode(t, err, impl.EBadRequest)
			_, _, err = f.findLeads(ctx, f.org, impl.LeadFilter{Sort: "name; DROP TABLE leads", Limit: 10})
			wantCode(t, err, impl.EBadRequest)
		})
	}
	if sq, pg := orders["sqlite"], orders["postgres"]; sq != nil && pg != nil {
		for key, o := range sq {
			if !slices.Equal(o, pg[key]) {
				t.Errorf("sort %s: SQLite gives %v, PostgreSQL %v", key, o, pg[key])
			}
		}
	}
}

func leadIDOf(index map[int64]int, i int) int64 {
	for id, j := range index {
		if j == i {
			return id
		}
	}
	panic("no such fixture lead")
}

func TestUpdateLead(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		created := f.mustCreate(t, f.org, &impl.Lead{
			Phone: "5511999999999", Name: ptr("Maria"), Email: ptr("maria@empresa.com"), DealValue: ptr(10.0),
		})
		neighbour := f.mustCreate(t, f.org, &impl.Lead{Phone: "5521988887777"})

		t.Run("changes fields and updated_at", func(t *testing.T) {
			f.clock.set(t0.Add(time.Hour))
			got, err := f.s.Leads.UpdateLead(ctx, f.org, created.ID, func(l *impl.Lead) error {
				l.Phone = "+55 (11) 97777-6666"
				l.Name = ptr("Maria Santos")
				l.Email = ptr("Maria@TechCorp.com")
				l.CompanyName = ptr("Tech Corp")
				l.Temperature = impl.TemperatureWarm
				l.LeadScore = 60
				l.DealValue = nil
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := &impl.Lead{
				ID: created.ID, OrganizationID: f.org, Phone: "5511977776666", Name: ptr("Maria Santos"),
				Email: ptr("maria@techcorp.com"), CompanyName: ptr("Tech Corp"), Temperature: "warm",
				LeadScore: 60, DealValue: nil,
				CreatedAt: created.CreatedAt, UpdatedAt: t0.Add(time.Hour).Truncate(time.Microsecond),
			}
			sameLead(t, "UpdateLead's lead", got, want)
			sameLead(t, "stored lead", f.mustFind(t, f.org, created.ID), want)
			// The old phone is free again.
			f.mustCreate(t, f.org, &impl.Lead{Phone: "5511999999999"})
		})

		t.Run("no-op keeps updated_at", func(t *testing.T) {
			before := f.mustFind(t, f.org, created.ID)
			f.clock.set(t0.Add(2 * time.Hour))
			for name, update := range map[string]func(*impl.Lead) error{
				"nothing":                 func(*impl.Lead) error { return nil },
				"same values":             func(l *impl.Lead) error { l.Name = ptr(*l.Name); l.LeadScore = 60; return nil },
				"same phone, formatted":   func(l *impl.Lead) error { l.Phone = "+55 11 97777-6666"; return nil },
				"same e-mail, upper case": func(l *impl.Lead) error { l.Email = ptr("MARIA@TECHCORP.COM"); return nil },
			} {
				got, err := f.s.Leads.UpdateLead(ctx, f.org, created.ID, update)
				if err != nil {
					t.Fatal(err)
				}
				sameLead(t, name+": returned lead", got, before)
				sameLead(t, name+": stored lead", f.mustFind(t, f.org, created.ID), before)
			}
		})

		t.Run("identity fields cannot be changed", func(t *testing.T) {
			before := f.mustFind(t, f.org, created.ID)
			f.clock.set(t0.Add(3 * time.Hour))
			tamper := func(l *impl.Lead) {
				l.ID = neighbour.ID
				l.OrganizationID = f.other
				l.CreatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
				l.UpdatedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
			}
			// Only identity fields: nothing to save.
			got, err := f.s.Leads.UpdateLead(ctx, f.org, created.ID, func(l *impl.Lead) error { tamper(l); return nil })
			if err != nil {
				t.Fatal(err)
			}
			sameLead(t, "returned lead", got, before)
			sameLead(t, "stored lead", f.mustFind(t, f.org, created.ID), before)
			// With a real change too.
			got, err = f.s.Leads.UpdateLead(ctx, f.org, created.ID, func(l *impl.Lead) error {
				tamper(l)
				l.LeadScore = 61
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := *before
			want.LeadScore, want.UpdatedAt = 61, t0.Add(3*time.Hour).Truncate(time.Microsecond)
			sameLead(t, "returned lead", got, &want)
			sameLead(t, "stored lead", f.mustFind(t, f.org, created.ID), &want)
			sameLead(t, "neighbour", f.mustFind(t, f.org, neighbour.ID), neighbour)
			if _, err := f.s.Leads.FindLeadByID(ctx, f.other, created.ID); impl.ErrorCode(err) != impl.ENotFound {
				t.Errorf("lead moved to the other organization: %v", err)
			}
		})

		t.Run("phone of another lead is a conflict", func(t *testing.T) {
			before := f.mustFind(t, f.org, created.ID)
			f.clock.set(t0.Add(4 * time.Hour))
			_, err := f.s.Leads.UpdateLead(ctx, f.org, created.ID, func(l *impl.Lead) error {
				l.Phone = "+55 21 98888-7777"
				l.Name = ptr("changed too")
				return nil
			})
			wantCode(t, err, impl.EConflict)
			sameLead(t, "lead after the conflict", f.mustFind(t, f.org, created.ID), before)
			sameLead(t, "the other lead", f.mustFind(t, f.org, neighbour.ID), neighbour)
			// The store still works after the failed transaction.
			if _, err := f.s.Leads.UpdateLead(ctx, f.org, created.ID, func(l *impl.Lead) error { l.LeadScore = 62; return nil }); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("phone of another organization's lead is fine", func(t *testing.T) {
			theirs := f.mustCreate(t, f.other, &impl.Lead{Phone: "5541966665555"})
			got, err := f.s.Leads.UpdateLead(ctx, f.org, neighbour.ID, func(l *impl.Lead) error { l.Phone = theirs.Phone; return nil })
			if err != nil || got.Phone != theirs.Phone {
				t.Fatalf("got %s, %v", leadString(got), err)
			}
		})

		t.Run("error from the update func", func(t *testing.T) {
			before := f.mustFind(t, f.org, created.ID)
			f.clock.set(t0.Add(5 * time.Hour))
			sentinel := impl.Errorf(impl.EValidation, "nope").WithDetail("lead_score", "too high")
			got, err := f.s.Leads.UpdateLead(ctx, f.org, created.ID, func(l *impl.Lead) error {
				l.Name = ptr("should not be saved")
				l.Phone = "5599999999999"
				return sentinel
			})
			if got != nil || !errors.Is(err, sentinel) {
				t.Fatalf("got %s, %v; want nil and the func's error", leadString(got), err)
			}
			sameLead(t, "lead after the failed update", f.mustFind(t, f.org, created.ID), before)
		})

		t.Run("missing lead", func(t *testing.T) {
			_, err := f.s.Leads.UpdateLead(ctx, f.org, 1<<40, func(*impl.Lead) error {
				t.Error("update func called for a missing lead")
				return nil
			})
			wantCode(t, err, impl.ENotFound)
		})
	})
}

// UpdateLead is a read-modify-write in one transaction: concurrent updates
// of one lead must not lose each other's changes.
func TestUpdateLeadConcurrently(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		l := f.mustCreate(t, f.org, &impl.Lead{Phone: "11999999999"})
		const workers, each = 6, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					_, err := f.s.Leads.UpdateLead(ctx, f.org, l.ID, func(l *impl.Lead) error {
						l.LeadScore++
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := f.mustFind(t, f.org, l.ID).LeadScore; got != workers*each {
			t.Errorf("lead_score = %d after %d increments", got, workers*each)
		}
	})
}

func TestDeleteLead(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		a := f.mustCreate(t, f.org, &impl.Lead{Phone: "11999999999"})
		b := f.mustCreate(t, f.org, &impl.Lead{Phone: "11999999998"})
		if err := f.s.Leads.DeleteLead(ctx, f.org, a.ID); err != nil {
			t.Fatal(err)
		}
		_, err := f.s.Leads.FindLeadByID(ctx, f.org, a.ID)
		wantCode(t, err, impl.ENotFound)
		wantCode(t, f.s.Leads.DeleteLead(ctx, f.org, a.ID), impl.ENotFound)
		_, err = f.s.Leads.UpdateLead(ctx, f.org, a.ID, func(*impl.Lead) error { return nil })
		wantCode(t, err, impl.ENotFound)
		sameLead(t, "the other lead", f.mustFind(t, f.org, b.ID), b)
		leads, total, err := f.findLeads(ctx, f.org, impl.LeadFilter{Limit: 10})
		if err != nil || total != 1 || len(leads) != 1 || leads[0].ID != b.ID {
			t.Errorf("after delete: %d leads, total %d, %v", len(leads), total, err)
		}
		// The phone can be used again.
		f.mustCreate(t, f.org, &impl.Lead{Phone: "+1 199 999 9999"})
	})
}

// DeleteLeadIf checks the lead as the deleting transaction sees it: a
// refusal keeps the lead, a missing lead is ENotFound before any check, and
// another organization's lead is not found.
func TestDeleteLeadIf(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		a := f.mustCreate(t, f.org, &impl.Lead{Phone: "11999999999"})
		refused := impl.ErrLeadChanged(`"now"`)
		var checked *impl.Lead
		err := f.s.Leads.DeleteLeadIf(ctx, f.org, a.ID, func(l *impl.Lead) error { checked = l; return refused })
		if !errors.Is(err, refused) {
			t.Fatalf("a refused check gave %v", err)
		}
		sameLead(t, "the lead the check saw", checked, a)
		sameLead(t, "the lead after a refusal", f.mustFind(t, f.org, a.ID), a)

		err = f.s.Leads.DeleteLeadIf(ctx, f.other, a.ID, func(*impl.Lead) error { t.Error("checked another organization's lead"); return nil })
		wantCode(t, err, impl.ENotFound)

		if err := f.s.Leads.DeleteLeadIf(ctx, f.org, a.ID, func(*impl.Lead) error { return nil }); err != nil {
			t.Fatal(err)
		}
		_, err = f.s.Leads.FindLeadByID(ctx, f.org, a.ID)
		wantCode(t, err, impl.ENotFound)
		err = f.s.Leads.DeleteLeadIf(ctx, f.org, a.ID, func(*impl.Lead) error { t.Error("checked a deleted lead"); return nil })
		wantCode(t, err, impl.ENotFound)
	})
}

// Times come back in UTC whatever the database session's time zone.
func TestLeadTimesAreUTCInAnySessionTimeZone(t *testing.T) {
	pg, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	url := pg.URL + "&timezone=America%2FSao_Paulo"
	if !strings.Contains(pg.URL, "?") {
		url = pg.URL + "?timezone=America%2FSao_Paulo"
	}
	f := newFixture(t, url)
	var tz string
	if err := f.db.pool.GetContext(ctx, &tz, "SHOW TimeZone"); err != nil || tz != "America/Sao_Paulo" {
		t.Fatalf("session time zone %q, %v", tz, err)
	}
	l := f.mustCreate(t, f.org, &impl.Lead{Phone: "11999999999"})
	got := f.mustFind(t, f.org, l.ID)
	sameLead(t, "FindLeadByID", got, l)
	leads, _, err := f.findLeads(ctx, f.org, impl.LeadFilter{Limit: 10})
	if err != nil || len(leads) != 1 {
		t.Fatal(err)
	}
	sameLead(t, "FindLeads", leads[0], l)
	f.clock.advance(time.Minute)
	u, err := f.s.Leads.UpdateLead(ctx, f.org, l.ID, func(l *impl.Lead) error { l.LeadScore = 1; return nil })
	if err != nil {
		t.Fatal(err)
	}
	sameLead(t, "stored after update", f.mustFind(t, f.org, l.ID), u)
	org, err := f.s.Organizations.FindOrganizationByID(ctx, f.org)
	if err != nil || org.CreatedAt.Location() != time.UTC || !org.CreatedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("organization %+v, %v", org, err)
	}
}

// leadFields names, in leadColumns' order, the fields whose db tags are
// those columns: a column added to one and not the other fails here, not
// as a scan into the wrong field.
func TestLeadFieldsMatchLeadColumns(t *testing.T) {
	var l impl.Lead
	v := reflect.ValueOf(&l).Elem()
	tagOf := map[uintptr]string{}
	for i := range v.NumField() {
		tagOf[v.Field(i).Addr().Pointer()] = v.Type().Field(i).Tag.Get("db")
	}
	var got []string
	for _, p := range leadFields(&l) {
		if st, ok := p.(storedTime); ok {
			p = st.t
		}
		got = append(got, tagOf[reflect.ValueOf(p).Pointer()])
	}
	if want := strings.Split(leadColumns, ", "); !slices.Equal(got, want) {
		t.Errorf("leadFields are the fields of %v, want %v", got, want)
	}
}

// A lead read back with every nullable column null and then set: what
// leadFields scans is what was stored, on both databases.
func TestFindLeadByIDScansEveryColumn(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		bare := &impl.Lead{Phone: "5511988887777"}
		full := &impl.Lead{Phone: "5511988886666", Name: ptr("Ana Souza"), Email: ptr("ana@example.com"),
			CompanyName: ptr("Tech Solutions Ltda"), Temperature: "hot", LeadScore: 87, DealValue: ptr(15000.5)}
		for _, want := range []*impl.Lead{bare, full} {
			f.mustCreate(t, f.org, want)
			got, err := f.s.Leads.FindLeadByID(ctx, f.org, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != want.ID || got.OrganizationID != f.org || got.Phone != want.Phone || str(got.Name) != str(want.Name) ||
				str(got.Email) != str(want.Email) || str(got.CompanyName) != str(want.CompanyName) ||
				got.Temperature != want.Temperature || got.LeadScore != want.LeadScore ||
				(got.DealValue == nil) != (want.DealValue == nil) || (got.DealValue != nil && *got.DealValue != *want.DealValue) ||
				!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
				got.CreatedAt.Location() != time.UTC {
				t.Errorf("read back %+v, want %+v", got, want)
			}
		}
		_, err := f.s.Leads.FindLeadByID(ctx, f.other, full.ID)
		wantCode(t, err, impl.ENotFound)
	})
}
