package contracttests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Handoffs: one open handoff per lead, closed once, listed by lead and
// status, validated, and invisible to other organizations.

type whHandoff struct {
	ID        int64      `json:"id"`
	LeadID    int64      `json:"lead_id"`
	Reason    string     `json:"reason"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

type whHandoffPage struct {
	Data []whHandoff `json:"data"`
	Meta whMeta      `json:"meta"`
}

func TestHandoffAPI(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key
		handoffs := func(t *testing.T, k, query string) (whHandoffPage, []byte) {
			t.Helper()
			var p whHandoffPage
			raw := expectJSON(t, tg, k, http.MethodGet, "/handoffs?"+query, nil, http.StatusOK, &p)
			return p, raw
		}
		open := func(t *testing.T, k string, lead int64, reason string) (whHandoff, http.Header) {
			t.Helper()
			res, raw := doJSON(t, tg, k, http.MethodPost, "/handoffs", map[string]any{"lead_id": lead, "reason": reason})
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("open a handoff for lead %d: %d, want 201: %s", lead, res.StatusCode, raw)
			}
			var h whHandoff
			if err := json.Unmarshal(raw, &h); err != nil {
				t.Fatal(err)
			}
			return h, res.Header
		}

		t.Run("open, conflict, close, reopen", func(t *testing.T) {
			lead := whCreateLead(t, tg, key, "Handoff Lead")
			h, header := open(t, key, lead, "Pediu uma proposta comercial")
			if loc := header.Get("Location"); loc != fmt.Sprintf("/api/v1/handoffs/%d", h.ID) {
				t.Errorf("Location %q, want /api/v1/handoffs/%d", loc, h.ID)
			}
			if h.Status != "open" || h.ClosedAt != nil || h.LeadID != lead || h.Reason != "Pediu uma proposta comercial" ||
				h.CreatedAt.IsZero() || !h.UpdatedAt.Equal(h.CreatedAt) {
				t.Errorf("opened handoff %+v, want open for lead %d with closed_at null", h, lead)
			}
			var got whHandoff
			expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", h.ID), nil, http.StatusOK, &got)
			if !reflect.DeepEqual(got, h) {
				t.Errorf("GET %+v, want %+v", got, h)
			}

			res, raw := doJSON(t, tg, key, http.MethodPost, "/handoffs", map[string]any{"lead_id": lead, "reason": "De novo"})
			wantError(t, res, raw, http.StatusConflict, "conflict")

			var closed whHandoff
			expectJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", h.ID), nil, http.StatusOK, &closed)
			if closed.Status != "closed" || closed.ClosedAt == nil || closed.ClosedAt.Before(h.CreatedAt) ||
				closed.ID != h.ID || closed.Reason != h.Reason || !closed.CreatedAt.Equal(h.CreatedAt) || closed.UpdatedAt.Before(h.UpdatedAt) {
				t.Errorf("closed handoff %+v", closed)
			}
			expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", h.ID), nil, http.StatusOK, &got)
			if !reflect.DeepEqual(got, closed) {
				t.Errorf("GET after close %+v, want %+v", got, closed)
			}
			res, raw = doJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", h.ID), nil)
			wantError(t, res, raw, http.StatusConflict, "conflict")

			again, _ := open(t, key, lead, "Voltou a pedir")
			if again.ID == h.ID || again.Status != "open" {
				t.Errorf("reopened handoff %+v", again)
			}

			ids := func(p whHandoffPage) []int64 {
				out := []int64{}
				for _, x := range p.Data {
					out = append(out, x.ID)
				}
				return out
			}
			for _, tc := range []struct {
				query string
				ids   []int64
			}{
				{fmt.Sprintf("lead_id=%d", lead), []int64{again.ID, h.ID}},
				{fmt.Sprintf("lead_id=%d&status=open", lead), []int64{again.ID}},
				{fmt.Sprintf("lead_id=%d&status=closed", lead), []int64{h.ID}},
				{fmt.Sprintf("lead_id=%d&per_page=1&page=2", lead), []int64{h.ID}},
			} {
				p, raw := handoffs(t, key, tc.query)
				if !reflect.DeepEqual(ids(p), tc.ids) {
					t.Errorf("?%s: ids %v, want %v: %s", tc.query, ids(p), tc.ids, raw)
				}
			}
			if p, _ := handoffs(t, key, fmt.Sprintf("lead_id=%d&per_page=1", lead)); p.Meta != (whMeta{1, 1, 2, 2}) {
				t.Errorf("meta %+v, want page 1 of 2", p.Meta)
			}
			for _, st := range []string{"open", "closed"} {
				p, _ := handoffs(t, key, "per_page=100&status="+st)
				for _, x := range p.Data {
					if x.Status != st {
						t.Errorf("?status=%s lists handoff %d with status %s", st, x.ID, x.Status)
					}
				}
				want := map[string]int64{"open": again.ID, "closed": h.ID}[st]
				if !slices.Contains(ids(p), want) {
					t.Errorf("?status=%s does not list handoff %d: %v", st, want, ids(p))
				}
			}
			expectJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", again.ID), nil, http.StatusOK, nil)
		})

		t.Run("unknown lead and handoff", func(t *testing.T) {
			res, raw := doJSON(t, tg, key, http.MethodPost, "/handoffs", map[string]any{"lead_id": 999999999999, "reason": "x"})
			if e := wantError(t, res, raw, http.StatusNotFound, "not_found"); len(e.Error.Details["lead_id"]) == 0 && res.StatusCode == 404 {
				t.Errorf("no details.lead_id: %s", raw)
			}
			res, raw = doJSON(t, tg, key, http.MethodGet, "/handoffs/999999999", nil)
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			res, raw = doJSON(t, tg, key, http.MethodPost, "/handoffs/999999999/close", nil)
			wantError(t, res, raw, http.StatusNotFound, "not_found")
		})

		t.Run("validation", func(t *testing.T) {
			lead := whCreateLead(t, tg, key, "Handoff Validation")
			for _, tc := range []struct{ name, body, field string }{
				{"reason blank", fmt.Sprintf(`{"lead_id":%d,"reason":"   "}`, lead), "reason"},
				{"reason empty", fmt.Sprintf(`{"lead_id":%d,"reason":""}`, lead), "reason"},
				{"reason missing", fmt.Sprintf(`{"lead_id":%d}`, lead), "reason"},
				{"reason 1001 chars", fmt.Sprintf(`{"lead_id":%d,"reason":%q}`, lead, strings.Repeat("a", 1001)), "reason"},
				{"reason null", fmt.Sprintf(`{"lead_id":%d,"reason":null}`, lead), "reason"},
				{"lead_id missing", `{"reason":"x"}`, "lead_id"},
				{"lead_id 0", `{"lead_id":0,"reason":"x"}`, "lead_id"},
				{"unknown field", fmt.Sprintf(`{"lead_id":%d,"reason":"x","status":"closed"}`, lead), "status"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res, raw := doJSON(t, tg, key, http.MethodPost, "/handoffs", rawJSON(tc.body))
					e := wantError(t, res, raw, http.StatusUnprocessableEntity, "validation_error")
					if res.StatusCode == http.StatusUnprocessableEntity && !e.about(tc.field) {
						t.Errorf("details %v, want them about %q alone", e.Error.Details, tc.field)
					}
					if tc.name == "unknown field" && res.StatusCode == 422 && strings.Join(e.Error.Details["status"], "") != "is not a known field" {
						t.Errorf("unknown field: details %v", e.Error.Details)
					}
				})
			}
			if p, raw := handoffs(t, key, fmt.Sprintf("lead_id=%d", lead)); p.Meta.Total != 0 {
				t.Errorf("invalid requests stored handoffs: %s", raw)
			}
			h, _ := open(t, key, lead, strings.Repeat("a", 1000))
			if len(h.Reason) != 1000 {
				t.Errorf("a 1000-character reason was stored as %d characters", len(h.Reason))
			}
			expectJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", h.ID), nil, http.StatusOK, nil)
		})

		t.Run("tenant isolation", func(t *testing.T) {
			keyB := tg.newOrg(t, "Handoff B")
			leadA := whCreateLead(t, tg, key, "Handoff Tenant A")
			hA, _ := open(t, key, leadA, "Só para A")
			t.Cleanup(func() { doJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", hA.ID), nil) })
			var before whHandoff
			snapshot := expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", hA.ID), nil, http.StatusOK, &before)

			res, raw := doJSON(t, tg, keyB, http.MethodGet, fmt.Sprintf("/handoffs/%d", hA.ID), nil)
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			res, raw = doJSON(t, tg, keyB, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", hA.ID), nil)
			wantError(t, res, raw, http.StatusNotFound, "not_found")
			res, raw = doJSON(t, tg, keyB, http.MethodPost, "/handoffs", map[string]any{"lead_id": leadA, "reason": "roubando"})
			if e := wantError(t, res, raw, http.StatusNotFound, "not_found"); res.StatusCode == 404 && len(e.Error.Details["lead_id"]) == 0 {
				t.Errorf("no details.lead_id: %s", raw)
			}
			if p, raw := handoffs(t, keyB, fmt.Sprintf("lead_id=%d", leadA)); p.Meta.Total != 0 {
				t.Errorf("org B lists handoffs of A's lead: %s", raw)
			}
			p, _ := handoffs(t, keyB, "per_page=100")
			for _, x := range p.Data {
				if x.ID == hA.ID {
					t.Errorf("org B lists A's handoff %d", hA.ID)
				}
			}
			if after := expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", hA.ID), nil, http.StatusOK, nil); !bytes.Equal(after, snapshot) {
				t.Errorf("A's handoff changed:\nbefore %s\n after %s", snapshot, after)
			}
		})
	})
}
