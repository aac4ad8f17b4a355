package contracttests

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/client"
)

func list(t *testing.T, c *client.ClientWithResponses, p client.ListLeadsParams) client.LeadList {
	t.Helper()
	res, err := c.ListLeadsWithResponse(context.Background(), &p)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK {
		t.Fatalf("list: %d %s", res.StatusCode(), res.Body)
	}
	return *res.JSON200
}

func ids(leads []client.Lead) []int64 {
	out := make([]int64, len(leads))
	for i, l := range leads {
		out[i] = l.Id
	}
	return out
}

func TestListLeads(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		t.Run("paging meta on 60 leads", func(t *testing.T) {
			c := tg.client(t, tg.freshOrg(t), bearer)
			var created []int64
			for i := 0; i < 60; i++ {
				created = append(created, createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)}).Id)
			}
			var seen []int64
			for _, pc := range []struct {
				page int32
				n    int
			}{{1, 25}, {2, 25}, {3, 10}, {4, 0}} {
				l := list(t, c, client.ListLeadsParams{Page: ptr(pc.page), Sort: ptr(client.ListLeadsParamsSortId)})
				if len(l.Data) != pc.n {
					t.Errorf("page %d has %d leads, want %d", pc.page, len(l.Data), pc.n)
				}
				m := l.Meta
				if m.CurrentPage != pc.page || m.PerPage != 25 || m.Total != 60 || m.TotalPages != 3 {
					t.Errorf("page %d meta %+v, want total 60, total_pages 3, per_page 25", pc.page, m)
				}
				seen = append(seen, ids(l.Data)...)
			}
			if !slices.Equal(seen, created) {
				t.Errorf("pages in id order gave %v, want %v", seen, created)
			}
			l := list(t, c, client.ListLeadsParams{PerPage: ptr(int32(100))})
			if len(l.Data) != 60 || l.Meta.TotalPages != 1 {
				t.Errorf("per_page=100: %d leads, meta %+v", len(l.Data), l.Meta)
			}
			l = list(t, c, client.ListLeadsParams{PerPage: ptr(int32(7)), Page: ptr(int32(9))})
			if len(l.Data) != 4 || l.Meta.TotalPages != 9 {
				t.Errorf("per_page=7 page 9: %d leads, meta %+v, want 4 and 9 pages", len(l.Data), l.Meta)
			}
		})

		t.Run("an empty organization has zero pages", func(t *testing.T) {
			c := tg.client(t, tg.freshOrg(t), bearer)
			l := list(t, c, client.ListLeadsParams{})
			if len(l.Data) != 0 || l.Meta.Total != 0 || l.Meta.TotalPages != 0 || l.Meta.CurrentPage != 1 {
				t.Errorf("got %+v", l)
			}
		})

		t.Run("filters", func(t *testing.T) {
			c := tg.client(t, tg.key, bearer)
			phone := uniquePhone(t)
			email := strings.ToLower(fmt.Sprintf("filter-%s@empresa.com", phone))
			hot := createLead(t, c, client.LeadCreate{Phone: phone, Email: nullable.NewNullableWithValue(email), Temperature: ptr(client.Hot)})
			frozen := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Temperature: ptr(client.Frozen)})

			formatted := fmt.Sprintf("+%s (%s) %s-%s", phone[:2], phone[2:4], phone[4:9], phone[9:])
			if got := ids(list(t, c, client.ListLeadsParams{Phone: ptr(formatted)}).Data); !slices.Equal(got, []int64{hot.Id}) {
				t.Errorf("phone=%q gave %v, want [%d]", formatted, got, hot.Id)
			}
			if got := ids(list(t, c, client.ListLeadsParams{Email: ptr(strings.ToUpper(email))}).Data); !slices.Equal(got, []int64{hot.Id}) {
				t.Errorf("email (upper case) gave %v, want [%d]", got, hot.Id)
			}
			both := list(t, c, client.ListLeadsParams{Phone: ptr(phone), Temperature: ptr(client.Frozen)})
			if len(both.Data) != 0 || both.Meta.Total != 0 {
				t.Errorf("phone AND temperature=frozen should match nothing: %+v", both)
			}
			for _, tc := range []struct {
				temp client.Temperature
				in   int64
				out  int64
			}{{client.Hot, hot.Id, frozen.Id}, {client.Frozen, frozen.Id, hot.Id}} {
				l := list(t, c, client.ListLeadsParams{Temperature: ptr(tc.temp), PerPage: ptr(int32(100))})
				got := ids(l.Data)
				for _, lead := range l.Data {
					if lead.Temperature != tc.temp {
						t.Errorf("temperature=%s returned a %s lead", tc.temp, lead.Temperature)
					}
				}
				if tg.remote() {
					continue // other leads may crowd ours off the page
				}
				if !slices.Contains(got, tc.in) || slices.Contains(got, tc.out) {
					t.Errorf("temperature=%s gave %v", tc.temp, got)
				}
			}
		})

		t.Run("sort in both directions", func(t *testing.T) {
			c := tg.client(t, tg.freshOrg(t), bearer)
			a := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Ana"), LeadScore: ptr(int32(10)), DealValue: nullable.NewNullableWithValue(300.0)})
			b := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Bruno"), LeadScore: ptr(int32(90)), DealValue: nullable.NewNullableWithValue(100.0)})
			n := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), LeadScore: ptr(int32(50))})
			d := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Carla"), LeadScore: ptr(int32(50)), DealValue: nullable.NewNullableWithValue(200.0)})
			cases := map[client.ListLeadsParamsSort][]int64{
				client.ListLeadsParamsSortId:             {a.Id, b.Id, n.Id, d.Id},
				client.ListLeadsParamsSortMinusId:        {d.Id, n.Id, b.Id, a.Id},
				client.ListLeadsParamsSortName:           {a.Id, b.Id, d.Id, n.Id}, // no name: last
				client.ListLeadsParamsSortMinusName:      {d.Id, b.Id, a.Id, n.Id}, // no name: last here too
				client.ListLeadsParamsSortLeadScore:      {a.Id, n.Id, d.Id, b.Id}, // ties by id
				client.ListLeadsParamsSortMinusLeadScore: {b.Id, d.Id, n.Id, a.Id},
				client.ListLeadsParamsSortDealValue:      {b.Id, d.Id, a.Id, n.Id},
				client.ListLeadsParamsSortMinusDealValue: {a.Id, d.Id, b.Id, n.Id},
				client.ListLeadsParamsSortCreatedAt:      {a.Id, b.Id, n.Id, d.Id},
				client.ListLeadsParamsSortMinusCreatedAt: {d.Id, n.Id, b.Id, a.Id},
				client.ListLeadsParamsSortUpdatedAt:      {a.Id, b.Id, n.Id, d.Id},
				client.ListLeadsParamsSortMinusUpdatedAt: {d.Id, n.Id, b.Id, a.Id},
			}
			for sort, want := range cases {
				if got := ids(list(t, c, client.ListLeadsParams{Sort: ptr(sort)}).Data); !slices.Equal(got, want) {
					t.Errorf("sort=%s gave %v, want %v", sort, got, want)
				}
			}
			if got := ids(list(t, c, client.ListLeadsParams{}).Data); !slices.Equal(got, cases[client.ListLeadsParamsSortMinusCreatedAt]) {
				t.Errorf("default order %v, want newest first", got)
			}
		})

		t.Run("invalid parameters are 400 with details", func(t *testing.T) {
			for _, tc := range []struct{ query, param string }{
				{"per_page=101", "per_page"},
				{"per_page=0", "per_page"},
				{"page=0", "page"},
				{"page=abc", "page"},
				{"sort=bogus", "sort"},
				{"sort=-bogus", "sort"},
				{"temperature=boiling", "temperature"},
				{"phone=12", "phone"},
				{"email=not-an-email", "email"},
			} {
				res, body := tg.raw(t, tg.key, http.MethodGet, "/leads?"+tc.query, "", nil)
				e := wantError(t, res, body, http.StatusBadRequest, "bad_request")
				if len(e.Error.Details[tc.param]) == 0 {
					t.Errorf("%s: details %v do not name %s", tc.query, e.Error.Details, tc.param)
				}
			}
		})
	})
}
