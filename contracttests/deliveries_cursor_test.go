package contracttests

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
)

// GET /webhooks/{id}/deliveries by cursor: meta.next_cursor walks the
// delivery log once, newest first, keeping its webhook and status filter,
// whatever events come meanwhile; a cursor that is not one the API gave
// this organization for this log is 400 bad_request with details on
// cursor, never a 500, never other rows.

func deliveryIDs(ds []whDelivery) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// walkDeliveries is walkList over the webhook's delivery log; every
// delivery of the walk must be the webhook's.
func walkDeliveries(t *testing.T, tg *target, key string, hookID int64, query url.Values, perPage int, total int64, between func()) []int64 {
	t.Helper()
	return walkList(t, tg, key, fmt.Sprintf("/webhooks/%d/deliveries", hookID), query, perPage, total, between, func(d whDelivery) int64 {
		if d.WebhookID != hookID {
			t.Errorf("the walk of webhook %d's log holds delivery %d of webhook %d", hookID, d.ID, d.WebhookID)
		}
		return d.ID
	})
}

func TestDeliveryCursors(t *testing.T) {
	evEachDatabase(t, nil, func(t *testing.T, tg *target) {
		key := tg.freshOrg(t)
		c := tg.client(t, key, bearer)
		// A receiver per webhook: each checks its own webhook's signature.
		hook := evCreateHook(t, tg, key, "walk", evNewReceiver(t), []string{"lead.created"}, 0)
		other := evCreateHook(t, tg, key, "walk too", evNewReceiver(t), []string{"lead.created"}, 0)
		for range 9 {
			createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
		}
		for _, h := range []int64{hook.ID, other.ID} {
			whWaitDeliveries(t, tg, key, h, "9 succeeded", func(ds []whDelivery) bool {
				return len(ds) == 9 && !slices.ContainsFunc(ds, func(d whDelivery) bool { return d.Status != "succeeded" })
			})
		}
		all := deliveryIDs(whWaitDeliveries(t, tg, key, hook.ID, "listed", func([]whDelivery) bool { return true }))

		t.Run("a walk gives every delivery once, newest first, from any page", func(t *testing.T) {
			for _, query := range []url.Values{{"per_page": {"2"}}, {"per_page": {"4"}, "status": {"succeeded"}}} {
				perPage := perPageOf(query)
				if got := walkDeliveries(t, tg, key, hook.ID, query, perPage, 9, nil); !slices.Equal(got, all) {
					t.Errorf("%v: the walk gives\n %v\nwant\n %v", query, got, all)
				}
				from := url.Values{"page": {"2"}}
				for k, v := range query {
					from[k] = v
				}
				if got := walkDeliveries(t, tg, key, hook.ID, from, perPage, 9, nil); !slices.Equal(got, all[perPage:]) {
					t.Errorf("%v: a walk from page 2 gives\n %v\nwant\n %v", query, got, all[perPage:])
				}
			}
			// A status none has: one empty page, no cursor.
			if got := walkDeliveries(t, tg, key, hook.ID, url.Values{"status": {"failed"}, "per_page": {"2"}}, 2, 0, nil); len(got) != 0 {
				t.Errorf("failed deliveries: %v, want none", got)
			}
		})

		t.Run("deliveries made during a walk neither repeat nor hide the others", func(t *testing.T) {
			before := deliveryIDs(whWaitDeliveries(t, tg, key, hook.ID, "listed", func([]whDelivery) bool { return true }))
			made := 0
			got := walkDeliveries(t, tg, key, hook.ID, url.Values{"per_page": {"3"}}, 3, 100, func() {
				createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
				made++
			})
			if !slices.Equal(got, before) {
				t.Errorf("a walk during %d new events gives\n %v\nwant what there was before them\n %v", made, got, before)
			}
		})

		t.Run("a cursor that is not this log's is 400, never other rows", func(t *testing.T) {
			path := fmt.Sprintf("/webhooks/%d/deliveries", hook.ID)
			first := getPage[whDelivery](t, tg, key, path, url.Values{"status": {"succeeded"}, "per_page": {"1"}})
			if first.Meta.NextCursor == nil {
				t.Fatalf("no next_cursor on a page of 1 of %d", first.Meta.Total)
			}
			cursor := *first.Meta.NextCursor
			mid := len(cursor) / 2
			flipped := cursor[:mid] + map[bool]string{true: "B", false: "A"}[cursor[mid] == 'A'] + cursor[mid+1:]
			refusedOn := func(key string, hookID int64, query url.Values) {
				t.Helper()
				res, body := tg.raw(t, key, http.MethodGet, fmt.Sprintf("/webhooks/%d/deliveries?%s", hookID, query.Encode()), "", nil)
				wantError(t, res, body, http.StatusBadRequest, "bad_request", "cursor")
			}
			for _, query := range []url.Values{
				{"cursor": {cursor}, "page": {"2"}},                  // a cursor says where the page starts
				{"cursor": {cursor}, "status": {"failed"}},           // another status
				{"cursor": {flipped}},                                // altered
				{"cursor": {cursor[:len(cursor)-4]}},                 // cut short
				{"cursor": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, // made up
			} {
				refusedOn(key, hook.ID, query)
			}
			// Another webhook's log, the message list's cursor and another
			// organization's key.
			refusedOn(key, other.ID, url.Values{"cursor": {cursor}})
			wa := getPage[whDelivery](t, tg, key, fmt.Sprintf("/webhooks/%d/deliveries", other.ID), url.Values{"per_page": {"1"}})
			if wa.Meta.NextCursor == nil {
				t.Fatal("no next_cursor on the other webhook's first page")
			}
			refusedOn(key, hook.ID, url.Values{"cursor": {*wa.Meta.NextCursor}})
			leads := getLeads(t, tg, key, url.Values{"per_page": {"1"}})
			if leads.Meta.NextCursor == nil {
				t.Fatal("no next_cursor on a page of 1 lead")
			}
			refusedOn(key, hook.ID, url.Values{"cursor": {*leads.Meta.NextCursor}})
			refused(t, tg, key, url.Values{"cursor": {cursor}}) // the lead list refuses it too
			stranger := tg.freshOrg(t)
			strangerHook := evCreateHook(t, tg, stranger, "theirs", evNewReceiver(t), []string{"lead.created"}, 0)
			refusedOn(stranger, strangerHook.ID, url.Values{"cursor": {cursor}})
		})
	})
}
