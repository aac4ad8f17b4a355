package contracttests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/client"
)

// GET /leads by cursor: meta.next_cursor walks every lead once, in the order
// of the numbered pages, keeping the sort and filters it was made with; a
// cursor that is not one the API gave this organization for this list is
// 400 bad_request with details on cursor, never a 500, never other rows.

// walkPage is one page of a list that can be walked by cursor, as the API
// answered it.
type walkPage[T any] struct {
	Data []T `json:"data"`
	Meta struct {
		CurrentPage int32   `json:"current_page"`
		PerPage     int32   `json:"per_page"`
		Total       int64   `json:"total"`
		TotalPages  int64   `json:"total_pages"`
		NextCursor  *string `json:"next_cursor"`
	} `json:"meta"`
}

// getPage is GET path?query, which must answer 200.
func getPage[T any](t *testing.T, tg *target, key, path string, query url.Values) walkPage[T] {
	t.Helper()
	res, body := tg.raw(t, key, http.MethodGet, path+"?"+query.Encode(), "", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s?%s: %d %s", path, query.Encode(), res.StatusCode, body)
	}
	var p walkPage[T]
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// getLeads is GET /leads?query, which must answer 200.
func getLeads(t *testing.T, tg *target, key string, query url.Values) walkPage[client.Lead] {
	t.Helper()
	return getPage[client.Lead](t, tg, key, "/leads", query)
}

// walk follows next_cursor from the page query asks for to the last page,
// checking each page's meta, and returns the ids in the order seen.
func walk(t *testing.T, tg *target, key string, query url.Values, perPage int, total int64) []int64 {
	t.Helper()
	var seen []int64
	p := getLeads(t, tg, key, query)
	start := int64(p.Meta.CurrentPage-1) * int64(p.Meta.PerPage)
	for i := 0; ; i++ {
		if p.Meta.Total != total {
			t.Errorf("page %d of the walk: total %d, want %d", i, p.Meta.Total, total)
		}
		if want := int32((start+int64(len(seen)))/int64(perPage)) + 1; i > 0 && p.Meta.CurrentPage != want {
			t.Errorf("page %d of the walk: current_page %d, want %d", i, p.Meta.CurrentPage, want)
		}
		seen = append(seen, ids(p.Data)...)
		if p.Meta.NextCursor == nil {
			if start+int64(len(seen)) != total {
				t.Errorf("the walk ended after %d leads of %d", len(seen), total)
			}
			return seen
		}
		if len(p.Data) != perPage || i > int(total) {
			t.Fatalf("page %d of the walk has %d leads and a next_cursor", i, len(p.Data))
		}
		p = getLeads(t, tg, key, url.Values{"cursor": {*p.Meta.NextCursor}, "per_page": {fmt.Sprint(perPage)}})
	}
}

// numbered reads every numbered page of query.
func numbered(t *testing.T, tg *target, key string, query url.Values, perPage int) []int64 {
	t.Helper()
	var seen []int64
	for page := 1; ; page++ {
		q := url.Values{"page": {fmt.Sprint(page)}, "per_page": {fmt.Sprint(perPage)}}
		for k, v := range query {
			q[k] = v
		}
		p := getLeads(t, tg, key, q)
		seen = append(seen, ids(p.Data)...)
		if int64(page) >= p.Meta.TotalPages {
			return seen
		}
	}
}

// refused checks that GET /leads?query is 400 bad_request with details on
// cursor alone.
func refused(t *testing.T, tg *target, key string, query url.Values) {
	t.Helper()
	res, body := tg.raw(t, key, http.MethodGet, "/leads?"+query.Encode(), "", nil)
	wantError(t, res, body, http.StatusBadRequest, "bad_request", "cursor")
}

func TestLeadCursors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		t.Run("a walk gives every lead once, in the order of the pages", func(t *testing.T) {
			key := tg.freshOrg(t)
			c := tg.client(t, key, bearer)
			names := []string{"Ana", "", "Bruno", "ana", "Ágata", "Zé", "Bruno"}
			for i := range 23 {
				lead := client.LeadCreate{Phone: uniquePhone(t), LeadScore: ptr(int32(i % 4 * 10)),
					Temperature: ptr([]client.Temperature{client.Hot, client.Cold}[i%2])}
				if i%5 != 0 { // some leads have no name, some no deal value
					lead.Name = nullable.NewNullableWithValue(names[i%len(names)])
				}
				if i%3 != 0 {
					lead.DealValue = nullable.NewNullableWithValue(float64(i % 4 * 100))
				}
				createLead(t, c, lead)
			}
			for _, sort := range []string{"", "id", "-name", "name", "deal_value", "-deal_value", "lead_score", "-updated_at"} {
				for _, filter := range []url.Values{{}, {"temperature": {"cold"}}} {
					query := url.Values{"per_page": {"4"}}
					if sort != "" {
						query.Set("sort", sort)
					}
					for k, v := range filter {
						query[k] = v
					}
					want := numbered(t, tg, key, query, 4)
					total := int64(len(want))
					if got := walk(t, tg, key, query, 4, total); !slices.Equal(got, want) {
						t.Errorf("sort=%q %v: the walk gives\n %v\nthe numbered pages\n %v", sort, filter, got, want)
					}
					// A walk may start from any numbered page.
					from := url.Values{"page": {"2"}}
					for k, v := range query {
						from[k] = v
					}
					if got := walk(t, tg, key, from, 4, total); !slices.Equal(got, want[4:]) {
						t.Errorf("sort=%q %v: a walk from page 2 gives\n %v\nwant\n %v", sort, filter, got, want[4:])
					}
				}
			}
		})

		t.Run("a cursor keeps its sort and filters; repeating them is fine", func(t *testing.T) {
			key := tg.freshOrg(t)
			c := tg.client(t, key, bearer)
			for i := range 5 {
				createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), LeadScore: ptr(int32(50 - i)), Temperature: ptr(client.Warm)})
			}
			createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), LeadScore: ptr(int32(99)), Temperature: ptr(client.Hot)})
			query := url.Values{"sort": {"lead_score"}, "temperature": {"warm"}, "per_page": {"2"}}
			first := getLeads(t, tg, key, query)
			if first.Meta.NextCursor == nil || first.Meta.Total != 5 {
				t.Fatalf("first page: %+v", first.Meta)
			}
			alone := getLeads(t, tg, key, url.Values{"cursor": {*first.Meta.NextCursor}, "per_page": {"2"}})
			query.Set("cursor", *first.Meta.NextCursor)
			repeated := getLeads(t, tg, key, query)
			if !slices.Equal(ids(alone.Data), ids(repeated.Data)) || len(alone.Data) != 2 {
				t.Errorf("the cursor alone gives %v, with its sort and filter repeated %v", ids(alone.Data), ids(repeated.Data))
			}
			for _, l := range alone.Data {
				if l.Temperature != client.Warm || l.LeadScore <= first.Data[1].LeadScore {
					t.Errorf("after the cursor: %+v, which is not a warm lead after score %d", l, first.Data[1].LeadScore)
				}
			}
			if alone.Meta.CurrentPage != 2 || alone.Meta.Total != 5 || alone.Meta.TotalPages != 3 {
				t.Errorf("the second page of the walk: %+v", alone.Meta)
			}
		})

		t.Run("a cursor that is not this list's is 400, never other rows", func(t *testing.T) {
			c := tg.client(t, tg.key, bearer)
			for range 3 {
				createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Temperature: ptr(client.Frozen)})
			}
			first := getLeads(t, tg, tg.key, url.Values{"sort": {"id"}, "temperature": {"frozen"}, "per_page": {"1"}})
			if first.Meta.NextCursor == nil {
				t.Fatalf("no next_cursor on a page of 1 of %d", first.Meta.Total)
			}
			cursor := *first.Meta.NextCursor
			mid := len(cursor) / 2
			flipped := cursor[:mid] + map[bool]string{true: "B", false: "A"}[cursor[mid] == 'A'] + cursor[mid+1:]
			for _, query := range []url.Values{
				{"cursor": {cursor}, "page": {"2"}},                          // a cursor says where the page starts
				{"cursor": {cursor}, "page": {"1"}},                          // even page 1
				{"cursor": {cursor}, "sort": {"-id"}},                        // another sort
				{"cursor": {cursor}, "sort": {"-created_at"}},                // the default sort, named
				{"cursor": {cursor}, "temperature": {"hot"}},                 // another filter value
				{"cursor": {cursor}, "email": {"a@b.com"}},                   // a filter it was made without
				{"cursor": {flipped}},                                        // altered
				{"cursor": {cursor[:len(cursor)-4]}},                         // cut short
				{"cursor": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, // made up
				{"cursor": {"not/a+cursor="}},                                // not base64url
				{"cursor": {""}},                                             // empty
				{"cursor": {strings.Repeat("A", 4097)}},                      // over the spec's maxLength
				{"cursor": {cursor + "\x01"}},                                // a control character
			} {
				refused(t, tg, tg.key, query)
			}
			// Another organization's key with this cursor: refused, and none
			// of either organization's leads in the answer.
			other := tg.newOrg(t, "Cursor B")
			createLead(t, tg.client(t, other, bearer), client.LeadCreate{Phone: uniquePhone(t), Temperature: ptr(client.Frozen)})
			refused(t, tg, other, url.Values{"cursor": {cursor}})
			otherFirst := getLeads(t, tg, other, url.Values{"sort": {"id"}, "per_page": {"1"}})
			if otherFirst.Meta.NextCursor != nil {
				refused(t, tg, tg.key, url.Values{"cursor": {*otherFirst.Meta.NextCursor}})
			}
		})
	})
}
