package contracttests

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
)

// GET /messages by cursor: meta.next_cursor walks the history once, newest
// first, keeping the filters it was made with, whatever is sent meanwhile;
// a cursor that is not one the API gave this organization for this list
// is 400 bad_request with details on cursor, never a 500, never other rows.

// getMessages is GET /messages?query, which must answer 200.
func getMessages(t *testing.T, tg *target, key string, query url.Values) walkPage[client.Message] {
	t.Helper()
	return getPage[client.Message](t, tg, key, "/messages", query)
}

// walkList follows next_cursor on path, a list that can be walked, from the
// page query asks for to the last page, checking each page's meta against
// total (with between, only a bound on the pages), and calls between (if
// not nil) before each page after the first. It returns the ids (idOf) in
// the order seen.
func walkList[T any](t *testing.T, tg *target, key, path string, query url.Values, perPage int, total int64, between func(), idOf func(T) int64) []int64 {
	t.Helper()
	var seen []int64
	p := getPage[T](t, tg, key, path, query)
	start := int64(p.Meta.CurrentPage-1) * int64(p.Meta.PerPage)
	for i := 0; ; i++ {
		if between == nil && p.Meta.Total != total {
			t.Errorf("page %d of the walk: total %d, want %d", i, p.Meta.Total, total)
		}
		if want := int32((start+int64(len(seen)))/int64(perPage)) + 1; i > 0 && p.Meta.CurrentPage != want {
			t.Errorf("page %d of the walk: current_page %d, want %d", i, p.Meta.CurrentPage, want)
		}
		for _, item := range p.Data {
			seen = append(seen, idOf(item))
		}
		if p.Meta.NextCursor == nil {
			return seen
		}
		if len(p.Data) != perPage || i > int(total) {
			t.Fatalf("page %d of the walk has %d items and a next_cursor", i, len(p.Data))
		}
		if between != nil {
			between()
		}
		p = getPage[T](t, tg, key, path, url.Values{"cursor": {*p.Meta.NextCursor}, "per_page": {fmt.Sprint(perPage)}})
	}
}

// walkMessages is walkList over GET /messages.
func walkMessages(t *testing.T, tg *target, key string, query url.Values, perPage int, total int64, between func()) []int64 {
	t.Helper()
	return walkList(t, tg, key, "/messages", query, perPage, total, between, func(m client.Message) int64 { return m.Id })
}

func TestMessageCursors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		o := newMessagingOrg(t, tg, "history walk")
		rcs := func() int64 {
			return o.send(t, tg, "/rcs/messages", map[string]any{"phone": uniquePhone(t), "type": "text", "text": "Oi"}, http.StatusCreated)
		}
		wa := func() int64 {
			return o.send(t, tg, "/whatsapp/messages", map[string]any{"integration_id": o.whatsApp.ID, "type": "template",
				"template_name": "boas_vindas", "variables": []any{"Ana"}, "phone": uniquePhone(t)}, http.StatusCreated)
		}
		var all, rcsOnly []int64
		for i := range 9 {
			if i%3 == 0 {
				id := rcs()
				all, rcsOnly = append(all, id), append(rcsOnly, id)
			} else {
				all = append(all, wa())
			}
		}
		all, rcsOnly = newestFirst(all...), newestFirst(rcsOnly...)

		t.Run("a walk gives every message once, newest first, from any page", func(t *testing.T) {
			for _, tc := range []struct {
				query url.Values
				want  []int64
			}{
				{url.Values{"per_page": {"2"}}, all},
				{url.Values{"per_page": {"2"}, "channel": {"rcs"}}, rcsOnly},
				{url.Values{"per_page": {"1"}, "channel": {"whatsapp"}, "direction": {"outbound"}, "status": {"sent"}},
					slices.DeleteFunc(slices.Clone(all), func(id int64) bool { return slices.Contains(rcsOnly, id) })},
			} {
				total := int64(len(tc.want))
				if got := walkMessages(t, tg, o.key, tc.query, perPageOf(tc.query), total, nil); !slices.Equal(got, tc.want) {
					t.Errorf("%v: the walk gives\n %v\nwant\n %v", tc.query, got, tc.want)
				}
				from := url.Values{"page": {"2"}}
				for k, v := range tc.query {
					from[k] = v
				}
				if skip := perPageOf(tc.query); len(tc.want) > skip {
					if got := walkMessages(t, tg, o.key, from, skip, total, nil); !slices.Equal(got, tc.want[skip:]) {
						t.Errorf("%v: a walk from page 2 gives\n %v\nwant\n %v", tc.query, got, tc.want[skip:])
					}
				}
			}
		})

		t.Run("messages sent during a walk neither repeat nor hide the others", func(t *testing.T) {
			// Numbered pages move with every send: page 2 read after a
			// send repeats page 1's last message. The walk does not.
			first := getMessages(t, tg, o.key, url.Values{"per_page": {"3"}})
			var sent []int64
			// total bounds the walk alone here: it moves with every send.
			got := walkMessages(t, tg, o.key, url.Values{"per_page": {"3"}}, 3, 100, func() { sent = append(sent, wa()) })
			before := listMessages(t, o.c, client.ListMessagesParams{PerPage: ptr(int32(100))})
			want := messageIDs(before.Data)[len(sent):] // what existed when the walk began
			if !slices.Equal(got, want) || !slices.Equal(got[:3], messageIDs(first.Data)) {
				t.Errorf("a walk during %d sends gives\n %v\nwant what there was before them\n %v", len(sent), got, want)
			}
			for _, id := range sent {
				if slices.Contains(got, id) {
					t.Errorf("message %d, sent during the walk, is in it", id)
				}
			}
		})

		t.Run("a cursor keeps its filters; repeating them is fine", func(t *testing.T) {
			first := getMessages(t, tg, o.key, url.Values{"channel": {"rcs"}, "per_page": {"1"}})
			if first.Meta.NextCursor == nil || first.Meta.Total != int64(len(rcsOnly)) {
				t.Fatalf("first page: %+v", first.Meta)
			}
			alone := getMessages(t, tg, o.key, url.Values{"cursor": {*first.Meta.NextCursor}, "per_page": {"1"}})
			repeated := getMessages(t, tg, o.key, url.Values{"cursor": {*first.Meta.NextCursor}, "per_page": {"1"}, "channel": {"rcs"}})
			if !slices.Equal(messageIDs(alone.Data), rcsOnly[1:2]) || !slices.Equal(messageIDs(repeated.Data), rcsOnly[1:2]) {
				t.Errorf("the cursor alone gives %v, with its filter repeated %v; want %v",
					messageIDs(alone.Data), messageIDs(repeated.Data), rcsOnly[1:2])
			}
			if alone.Meta.CurrentPage != 2 || alone.Meta.Total != int64(len(rcsOnly)) || alone.Meta.TotalPages != int64(len(rcsOnly)) {
				t.Errorf("the second page of the walk: %+v", alone.Meta)
			}
		})

		t.Run("a cursor that is not this list's is 400, never other rows", func(t *testing.T) {
			first := getMessages(t, tg, o.key, url.Values{"channel": {"whatsapp"}, "per_page": {"1"}})
			if first.Meta.NextCursor == nil {
				t.Fatalf("no next_cursor on a page of 1 of %d", first.Meta.Total)
			}
			cursor := *first.Meta.NextCursor
			mid := len(cursor) / 2
			flipped := cursor[:mid] + map[bool]string{true: "B", false: "A"}[cursor[mid] == 'A'] + cursor[mid+1:]
			for range 2 {
				createLead(t, o.c, client.LeadCreate{Phone: uniquePhone(t)})
			}
			leadsPage := getLeads(t, tg, o.key, url.Values{"per_page": {"1"}})
			if leadsPage.Meta.NextCursor == nil {
				t.Fatalf("no next_cursor on a page of 1 lead of %d", leadsPage.Meta.Total)
			}
			refusedHere := func(key string, query url.Values) {
				t.Helper()
				res, body := tg.raw(t, key, http.MethodGet, "/messages?"+query.Encode(), "", nil)
				wantError(t, res, body, http.StatusBadRequest, "bad_request", "cursor")
			}
			for _, query := range []url.Values{
				{"cursor": {cursor}, "page": {"2"}},                          // a cursor says where the page starts
				{"cursor": {cursor}, "page": {"1"}},                          // even page 1
				{"cursor": {cursor}, "channel": {"rcs"}},                     // another filter value
				{"cursor": {cursor}, "status": {"sent"}},                     // a filter it was made without
				{"cursor": {cursor}, "lead_id": {"1"}},                       // a lead it was made without
				{"cursor": {flipped}},                                        // altered
				{"cursor": {cursor[:len(cursor)-4]}},                         // cut short
				{"cursor": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, // made up
				{"cursor": {"not/a+cursor="}},                                // not base64url
				{"cursor": {""}},                                             // empty
				{"cursor": {strings.Repeat("A", 4097)}},                      // over the spec's maxLength
			} {
				refusedHere(o.key, query)
			}
			refusedHere(o.key, url.Values{"cursor": {*leadsPage.Meta.NextCursor}}) // the lead list's
			// A message cursor given to the lead list is refused there too.
			refused(t, tg, o.key, url.Values{"cursor": {cursor}})
			// Another organization's key with this cursor: refused.
			other := newMessagingOrg(t, tg, "history walk B")
			refusedHere(other.key, url.Values{"cursor": {cursor}})
		})
	})
}

// perPageOf is query's per_page.
func perPageOf(query url.Values) int {
	var n int
	fmt.Sscan(query.Get("per_page"), &n)
	return n
}
