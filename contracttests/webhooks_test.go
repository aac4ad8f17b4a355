package contracttests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The REST contract of webhooks: create (the signing secret shown once),
// read, list, patch, delete, rotate the secret, and the validation of each.
// It runs on every target; what needs a delivery is in deliveries_test.go.

var whSecretRe = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

const (
	whURLMessage = "must be a valid http:// or https:// URL"
	// whMaxWebhooks is how many webhooks an organization can have, as
	// POST /webhooks documents it.
	whMaxWebhooks = 20
	whExampleBody = `{"name":"Meu Webhook","url":"https://meusite.com/webhook","events":["lead.created","lead.qualified","message.received"]}`
)

type whHook struct {
	ID                      int64      `json:"id"`
	Name                    string     `json:"name"`
	URL                     string     `json:"url"`
	Events                  []string   `json:"events"`
	Active                  bool       `json:"active"`
	MaxAttempts             int        `json:"max_attempts"`
	DisabledReason          *string    `json:"disabled_reason"`
	DisabledAt              *time.Time `json:"disabled_at"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	SigningSecret           string     `json:"signing_secret"`
}

type whMeta struct {
	CurrentPage int32 `json:"current_page"`
	PerPage     int32 `json:"per_page"`
	Total       int64 `json:"total"`
	TotalPages  int64 `json:"total_pages"`
}

type whHookPage struct {
	Data []whHook `json:"data"`
	Meta whMeta   `json:"meta"`
}

type whSecretResult struct {
	SigningSecret           string     `json:"signing_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

func whHookPath(id int64) string { return fmt.Sprintf("/webhooks/%d", id) }

// whCreateHook creates a webhook and deletes it when the test ends.
func whCreateHook(t testing.TB, tg *target, key string, body any) whHook {
	t.Helper()
	var h whHook
	expectJSON(t, tg, key, http.MethodPost, "/webhooks", body, http.StatusCreated, &h)
	if h.ID == 0 || !whSecretRe.MatchString(h.SigningSecret) {
		t.Fatalf("created webhook without id or a valid signing secret: %+v", h)
	}
	t.Cleanup(func() {
		res, got := doJSON(t, tg, key, http.MethodDelete, whHookPath(h.ID), nil)
		if res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusNotFound {
			t.Errorf("clean up webhook %d: %d %s", h.ID, res.StatusCode, got)
		}
	})
	return h
}

func whGetHook(t testing.TB, tg *target, key string, id int64) (whHook, []byte) {
	t.Helper()
	var h whHook
	raw := expectJSON(t, tg, key, http.MethodGet, whHookPath(id), nil, http.StatusOK, &h)
	return h, raw
}

// whListHooks returns every webhook of the organization, following pages.
func whListHooks(t testing.TB, tg *target, key string) ([]whHook, int64, [][]byte) {
	t.Helper()
	var all []whHook
	var bodies [][]byte
	var total int64
	for page := 1; ; page++ {
		var p whHookPage
		bodies = append(bodies, expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/webhooks?per_page=100&page=%d", page), nil, http.StatusOK, &p))
		all, total = append(all, p.Data...), p.Meta.Total
		if len(p.Data) == 0 || int64(page) >= p.Meta.TotalPages {
			return all, total, bodies
		}
	}
}

func whRotate(t testing.TB, tg *target, key string, hookID int64) whSecretResult {
	t.Helper()
	var s whSecretResult
	expectJSON(t, tg, key, http.MethodPost, whHookPath(hookID)+"/rotate-secret", nil, http.StatusOK, &s)
	if !whSecretRe.MatchString(s.SigningSecret) {
		t.Fatalf("rotated secret %q does not match %s", s.SigningSecret, whSecretRe)
	}
	return s
}

func whSameEvents(got, want []string) bool {
	a, b := append([]string(nil), got...), append([]string(nil), want...)
	sort.Strings(a)
	sort.Strings(b)
	return reflect.DeepEqual(a, b)
}

func TestWebhookAPI(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key

		t.Run("the API reference's example", func(t *testing.T) {
			res, raw := doJSON(t, tg, key, http.MethodPost, "/webhooks", rawJSON(whExampleBody))
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("create: %d, want 201: %s", res.StatusCode, raw)
			}
			var h whHook
			if err := json.Unmarshal(raw, &h); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { doJSON(t, tg, key, http.MethodDelete, whHookPath(h.ID), nil) })
			if loc := res.Header.Get("Location"); loc != fmt.Sprintf("/api/v1/webhooks/%d", h.ID) {
				t.Errorf("Location %q, want /api/v1/webhooks/%d", loc, h.ID)
			}
			if !whSecretRe.MatchString(h.SigningSecret) {
				t.Errorf("signing_secret %q does not match %s", h.SigningSecret, whSecretRe)
			}
			if h.MaxAttempts != 8 || !h.Active {
				t.Errorf("max_attempts %d active %v, want 8 and true", h.MaxAttempts, h.Active)
			}
			if h.Name != "Meu Webhook" || h.URL != "https://meusite.com/webhook" ||
				!whSameEvents(h.Events, []string{"lead.created", "lead.qualified", "message.received"}) {
				t.Errorf("fields not stored as sent: %s", raw)
			}
			if h.DisabledReason != nil || h.DisabledAt != nil || h.PreviousSecretExpiresAt != nil {
				t.Errorf("a new webhook has disabled_reason, disabled_at or previous_secret_expires_at: %s", raw)
			}
			if h.CreatedAt.IsZero() || !h.CreatedAt.Equal(h.UpdatedAt) {
				t.Errorf("created_at %v updated_at %v, want equal", h.CreatedAt, h.UpdatedAt)
			}
			b64 := strings.TrimPrefix(h.SigningSecret, "whsec_")
			noSecret := func(what string, body []byte) {
				t.Helper()
				for _, s := range []string{h.SigningSecret, b64, "signing_secret"} {
					if bytes.Contains(body, []byte(s)) {
						t.Errorf("%s contains %q: %s", what, s, body)
					}
				}
			}

			got, getRaw := whGetHook(t, tg, key, h.ID)
			noSecret("GET /webhooks/{id}", getRaw)
			want := h
			want.SigningSecret = ""
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GET after create:\n got %+v\nwant %+v", got, want)
			}

			list, _, bodies := whListHooks(t, tg, key)
			for _, b := range bodies {
				noSecret("GET /webhooks", b)
			}
			found := false
			for _, x := range list {
				found = found || x.ID == h.ID
			}
			if !found {
				t.Errorf("webhook %d is not listed", h.ID)
			}
		})

		t.Run("the URL rule", func(t *testing.T) {
			victim := whCreateHook(t, tg, key, map[string]any{"name": "url rule", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			_, before := whGetHook(t, tg, key, victim.ID)
			_, total, _ := whListHooks(t, tg, key)
			for _, bad := range []string{"ftp://x.com/a", "meusite.com/webhook", "http://", "javascript:alert(1)", "https://exa mple.com", ""} {
				t.Run("url "+strconv.Quote(bad), func(t *testing.T) {
					wantDetails := map[string][]string{"url": {whURLMessage}}
					res, raw := doJSON(t, tg, key, http.MethodPost, "/webhooks",
						map[string]any{"name": "bad url", "url": bad, "events": []string{"lead.created"}})
					if e := wantError(t, res, raw, 422, "validation_error"); res.StatusCode == 422 &&
						!reflect.DeepEqual(e.Error.Details, wantDetails) {
						t.Errorf("create: details %v, want %v", e.Error.Details, wantDetails)
					}
					res, raw = doJSON(t, tg, key, http.MethodPatch, whHookPath(victim.ID), map[string]any{"url": bad})
					if e := wantError(t, res, raw, 422, "validation_error"); res.StatusCode == 422 &&
						!reflect.DeepEqual(e.Error.Details, wantDetails) {
						t.Errorf("PATCH: details %v, want %v", e.Error.Details, wantDetails)
					}
				})
			}
			if _, after, _ := whListHooks(t, tg, key); after != total {
				t.Errorf("%d webhooks before the invalid creates, %d after", total, after)
			}
			if _, after := whGetHook(t, tg, key, victim.ID); !bytes.Equal(after, before) {
				t.Errorf("invalid PATCHes changed the webhook:\nbefore %s\n after %s", before, after)
			}

			for _, good := range []string{"http://exemplo.com:8080/webhook/receber", "HTTPS://MEUSITE.COM/webhook"} {
				h := whCreateHook(t, tg, key, map[string]any{"name": "good url", "url": good, "events": []string{"lead.created"}})
				if h.URL != good {
					t.Errorf("created with url %q, stored %q", good, h.URL)
				}
				var p whHook
				expectJSON(t, tg, key, http.MethodPatch, whHookPath(victim.ID), map[string]any{"url": good}, http.StatusOK, &p)
				if p.URL != good {
					t.Errorf("PATCH url %q, stored %q", good, p.URL)
				}
			}
		})

		t.Run("other validation", func(t *testing.T) {
			victim := whCreateHook(t, tg, key, map[string]any{"name": "validation", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			_, before := whGetHook(t, tg, key, victim.ID)
			_, total, _ := whListHooks(t, tg, key)
			const u = `"url":"https://meusite.com/webhook"`
			creates := []struct{ name, body, field string }{
				{"events empty", `{"name":"x",` + u + `,"events":[]}`, "events"},
				{"events missing", `{"name":"x",` + u + `}`, "events"},
				{"unknown event", `{"name":"x",` + u + `,"events":["lead.deleted"]}`, "events"},
				{"max_attempts 0", `{"name":"x",` + u + `,"events":["lead.created"],"max_attempts":0}`, "max_attempts"},
				{"max_attempts 16", `{"name":"x",` + u + `,"events":["lead.created"],"max_attempts":16}`, "max_attempts"},
				{"unknown field", `{"name":"x",` + u + `,"events":["lead.created"],"secret":"whsec_x"}`, "secret"},
				{"name blank", `{"name":"   ",` + u + `,"events":["lead.created"]}`, "name"},
				{"name empty", `{"name":"",` + u + `,"events":["lead.created"]}`, "name"},
				{"name missing", `{` + u + `,"events":["lead.created"]}`, "name"},
			}
			for _, tc := range creates {
				t.Run("create with "+tc.name, func(t *testing.T) {
					res, raw := doJSON(t, tg, key, http.MethodPost, "/webhooks", rawJSON(tc.body))
					e := wantError(t, res, raw, http.StatusUnprocessableEntity, "validation_error")
					if res.StatusCode == http.StatusUnprocessableEntity && !e.about(tc.field) {
						t.Errorf("details %v, want them about %q alone", e.Error.Details, tc.field)
					}
					if tc.name == "unknown field" && res.StatusCode == 422 && strings.Join(e.Error.Details["secret"], "") != "is not a known field" {
						t.Errorf("unknown field: details %v, want secret: is not a known field", e.Error.Details)
					}
				})
			}
			patches := []struct{ name, body, field string }{
				{"events empty", `{"events":[]}`, "events"},
				{"unknown event", `{"events":["lead.deleted"]}`, "events"},
				{"max_attempts 0", `{"max_attempts":0}`, "max_attempts"},
				{"max_attempts 16", `{"max_attempts":16}`, "max_attempts"},
				{"unknown field", `{"secret":"whsec_x"}`, "secret"},
				{"name blank", `{"name":"   "}`, "name"},
				{"name null", `{"name":null}`, "name"},
				{"active null", `{"active":null}`, "active"},
			}
			for _, tc := range patches {
				t.Run("PATCH "+tc.name, func(t *testing.T) {
					res, raw := doJSON(t, tg, key, http.MethodPatch, whHookPath(victim.ID), rawJSON(tc.body))
					e := wantError(t, res, raw, http.StatusUnprocessableEntity, "validation_error")
					if res.StatusCode == http.StatusUnprocessableEntity && !e.about(tc.field) {
						t.Errorf("details %v, want them about %q alone", e.Error.Details, tc.field)
					}
				})
			}
			if _, after, _ := whListHooks(t, tg, key); after != total {
				t.Errorf("%d webhooks before the invalid creates, %d after", total, after)
			}
			if _, after := whGetHook(t, tg, key, victim.ID); !bytes.Equal(after, before) {
				t.Errorf("invalid PATCHes changed the webhook:\nbefore %s\n after %s", before, after)
			}
		})

		t.Run("PATCH", func(t *testing.T) {
			h := whCreateHook(t, tg, key, map[string]any{"name": "patch me", "url": "https://meusite.com/webhook",
				"events": []string{"lead.created"}, "max_attempts": 3})
			orig, origRaw := whGetHook(t, tg, key, h.ID)

			var p whHook
			expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(`{}`), http.StatusOK, &p)
			if !reflect.DeepEqual(p, orig) {
				t.Errorf("PATCH {} changed the webhook:\n got %+v\nwant %+v", p, orig)
			}
			if _, raw := whGetHook(t, tg, key, h.ID); !bytes.Equal(raw, origRaw) {
				t.Errorf("after PATCH {}, GET is %s, was %s", raw, origRaw)
			}

			// Each PATCH changes what it names and nothing else but
			// updated_at (and, with active, disabled_reason/disabled_at).
			for _, st := range []struct {
				body  string
				apply func(w *whHook)
			}{
				{`{"name":"renamed"}`, func(w *whHook) { w.Name = "renamed" }},
				{`{"events":["handoff.created","lead.updated"]}`, func(w *whHook) { w.Events = []string{"handoff.created", "lead.updated"} }},
				{`{"max_attempts":15}`, func(w *whHook) { w.MaxAttempts = 15 }},
				{`{"url":"https://meusite.com/outro"}`, func(w *whHook) { w.URL = "https://meusite.com/outro" }},
				{`{"active":false}`, func(w *whHook) { w.Active = false }},
				{`{"active":true}`, func(w *whHook) { w.Active, w.DisabledReason, w.DisabledAt = true, nil, nil }},
			} {
				before, _ := whGetHook(t, tg, key, h.ID)
				var after whHook
				expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(st.body), http.StatusOK, &after)
				got, _ := whGetHook(t, tg, key, h.ID)
				if !reflect.DeepEqual(got, after) {
					t.Errorf("PATCH %s answered %+v, GET then shows %+v", st.body, after, got)
				}
				want := before
				st.apply(&want)
				if !want.Active {
					if after.DisabledReason == nil || *after.DisabledReason == "" || after.DisabledAt == nil {
						t.Errorf("PATCH %s: disabled_reason %v disabled_at %v, want both set",
							st.body, whDeref(after.DisabledReason), whDeref(after.DisabledAt))
					}
					want.DisabledReason, want.DisabledAt = after.DisabledReason, after.DisabledAt
				}
				if after.UpdatedAt.Before(before.UpdatedAt) {
					t.Errorf("PATCH %s: updated_at went back from %v to %v", st.body, before.UpdatedAt, after.UpdatedAt)
				}
				want.UpdatedAt = after.UpdatedAt
				sort.Strings(want.Events)
				sort.Strings(after.Events)
				if !reflect.DeepEqual(after, want) {
					t.Errorf("PATCH %s:\n got %+v\nwant %+v", st.body, after, want)
				}
			}

			_, beforeNull := whGetHook(t, tg, key, h.ID)
			res, raw := doJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(`{"name":null}`))
			if e := wantError(t, res, raw, http.StatusUnprocessableEntity, "validation_error"); res.StatusCode == http.StatusUnprocessableEntity && !e.about("name") {
				t.Errorf("PATCH name null: details %v, want them about name alone", e.Error.Details)
			}
			if _, after := whGetHook(t, tg, key, h.ID); !bytes.Equal(after, beforeNull) {
				t.Errorf("PATCH name null changed the webhook: %s, was %s", after, beforeNull)
			}

			var unchanged whHook
			_, beforeEmpty := whGetHook(t, tg, key, h.ID)
			expectJSON(t, tg, key, http.MethodPatch, whHookPath(h.ID), rawJSON(`{}`), http.StatusOK, &unchanged)
			if _, after := whGetHook(t, tg, key, h.ID); !bytes.Equal(after, beforeEmpty) {
				t.Errorf("a second PATCH {} changed the webhook: %s, was %s", after, beforeEmpty)
			}
		})

		t.Run("DELETE", func(t *testing.T) {
			h := whCreateHook(t, tg, key, map[string]any{"name": "delete me", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			res, raw := doJSON(t, tg, key, http.MethodDelete, whHookPath(h.ID), nil)
			if res.StatusCode != http.StatusNoContent || len(raw) != 0 {
				t.Fatalf("DELETE: %d %q, want 204 without a body", res.StatusCode, raw)
			}
			for _, op := range []struct{ method, path string }{
				{http.MethodGet, whHookPath(h.ID)},
				{http.MethodDelete, whHookPath(h.ID)},
				{http.MethodPatch, whHookPath(h.ID)},
				{http.MethodPost, whHookPath(h.ID) + "/rotate-secret"},
				{http.MethodPost, whHookPath(h.ID) + "/test"},
				{http.MethodGet, whHookPath(h.ID) + "/deliveries"},
				{http.MethodPost, whHookPath(h.ID) + "/deliveries/1/redeliver"},
			} {
				var body any
				if op.method == http.MethodPatch {
					body = rawJSON(`{"name":"ghost"}`)
				}
				res, raw := doJSON(t, tg, key, op.method, op.path, body)
				wantError(t, res, raw, http.StatusNotFound, "not_found")
			}
			list, _, _ := whListHooks(t, tg, key)
			for _, x := range list {
				if x.ID == h.ID {
					t.Errorf("deleted webhook %d is still listed", h.ID)
				}
			}
		})

		t.Run("list is oldest first and paginated", func(t *testing.T) {
			k := tg.freshOrg(t)
			var ids []int64
			for i := range 3 {
				ids = append(ids, whCreateHook(t, tg, k, map[string]any{"name": fmt.Sprintf("hook %d", i),
					"url": "https://meusite.com/webhook", "events": []string{"lead.created"}}).ID)
			}
			for _, tc := range []struct {
				query string
				meta  whMeta
				ids   []int64
			}{
				{"", whMeta{1, 25, 3, 1}, ids},
				{"per_page=2", whMeta{1, 2, 3, 2}, ids[:2]},
				{"per_page=2&page=2", whMeta{2, 2, 3, 2}, ids[2:]},
				{"per_page=2&page=3", whMeta{3, 2, 3, 2}, []int64{}},
			} {
				var p whHookPage
				raw := expectJSON(t, tg, k, http.MethodGet, "/webhooks?"+tc.query, nil, http.StatusOK, &p)
				got := []int64{}
				for _, x := range p.Data {
					got = append(got, x.ID)
				}
				if p.Meta != tc.meta || !reflect.DeepEqual(got, tc.ids) {
					t.Errorf("?%s: meta %+v ids %v, want %+v %v: %s", tc.query, p.Meta, got, tc.meta, tc.ids, raw)
				}
			}
		})

		t.Run("rotate-secret", func(t *testing.T) {
			h := whCreateHook(t, tg, key, map[string]any{"name": "rotate me", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			s := whRotate(t, tg, key, h.ID)
			now := time.Now()
			if s.SigningSecret == h.SigningSecret {
				t.Errorf("rotate returned the same secret")
			}
			if s.PreviousSecretExpiresAt == nil {
				t.Fatalf("previous_secret_expires_at is null")
			}
			if d := s.PreviousSecretExpiresAt.Sub(now); d < 23*time.Hour || d > 25*time.Hour {
				t.Errorf("previous_secret_expires_at %v is %s from now, want about 24h", *s.PreviousSecretExpiresAt, d)
			}
			got, raw := whGetHook(t, tg, key, h.ID)
			if got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(*s.PreviousSecretExpiresAt) {
				t.Errorf("GET previous_secret_expires_at %v, want %v", whDeref(got.PreviousSecretExpiresAt), *s.PreviousSecretExpiresAt)
			}
			for _, secret := range []string{h.SigningSecret, s.SigningSecret, "signing_secret"} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("GET after rotate contains %q: %s", secret, raw)
				}
			}
			res, body := doJSON(t, tg, key, http.MethodPost, "/webhooks/999999999/rotate-secret", nil)
			wantError(t, res, body, http.StatusNotFound, "not_found")
		})
	})
}

// TestWebhookCap fills an organization to its 20 webhooks: one more is 409
// conflict and creates nothing, a deletion makes room again, and creates
// racing for the last places never pass the cap together. It needs
// organizations of its own, which only in-process targets give.
func TestWebhookCap(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		total := func(t *testing.T, key string) int64 {
			t.Helper()
			var page struct{ Meta struct{ Total int64 } }
			expectJSON(t, tg, key, http.MethodGet, "/webhooks?per_page=1", nil, http.StatusOK, &page)
			return page.Meta.Total
		}
		body := func(i int) rawJSON {
			return rawJSON(fmt.Sprintf(`{"name":"cap %d","url":"https://crm.example.com/hooks/%d","events":["lead.created"]}`, i, i))
		}

		key := tg.freshOrg(t)
		var ids []int64
		for i := range whMaxWebhooks {
			var h whHook
			expectJSON(t, tg, key, http.MethodPost, "/webhooks", body(i), http.StatusCreated, &h)
			ids = append(ids, h.ID)
		}
		res, raw := doJSON(t, tg, key, http.MethodPost, "/webhooks", body(99))
		wantError(t, res, raw, http.StatusConflict, "conflict")
		if bytes.Contains(raw, []byte("whsec_")) || !bytes.Contains(raw, []byte("20 webhooks")) {
			t.Errorf("the refused create: %s", raw)
		}
		if n := total(t, key); n != whMaxWebhooks {
			t.Fatalf("after the refused create: %d webhooks, want %d", n, whMaxWebhooks)
		}
		if res, raw := doJSON(t, tg, key, http.MethodDelete, whHookPath(ids[3]), nil); res.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d %s", res.StatusCode, raw)
		}
		expectJSON(t, tg, key, http.MethodPost, "/webhooks", body(100), http.StatusCreated, nil)

		// Thirty creates at once in another organization: exactly twenty.
		other := tg.freshOrg(t)
		statuses := make([]int, 30)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, _ := doJSON(t, tg, other, http.MethodPost, "/webhooks", body(i))
				statuses[i] = res.StatusCode
			}()
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
			default:
				t.Errorf("a racing create answered %d", s)
			}
		}
		if n := total(t, other); created != whMaxWebhooks || n != whMaxWebhooks {
			t.Errorf("30 racing creates made %d (%d listed), want %d", created, n, whMaxWebhooks)
		}
	})
}
