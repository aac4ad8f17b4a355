package contracttests

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/client"
)

// Who may call the API: a key in either header style, 401 with the
// envelope for anything else; each organization seeing only its own leads;
// and the per-key rate limit with its headers.

func TestAuthentication(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		lead := createLead(t, tg.client(t, tg.key, bearer), client.LeadCreate{Phone: uniquePhone(t)})

		t.Run("both header styles work", func(t *testing.T) {
			for _, style := range []authStyle{bearer, xAPIKey} {
				res, err := tg.client(t, tg.key, style).GetLeadWithResponse(ctx, lead.Id, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode() != http.StatusOK {
					t.Errorf("%s: %d %s", style, res.StatusCode(), res.Body)
				}
			}
		})

		wrong := "sk_live_" + strings.Repeat("A", 43)
		revoked := tg.revokedKey(t)
		for _, tc := range []struct {
			name  string
			key   string
			style authStyle
		}{
			{"no key", "", noKey},
			{"wrong key, Bearer", wrong, bearer},
			{"wrong key, X-API-Key", wrong, xAPIKey},
			{"malformed key, Bearer", "not-a-key", bearer},
			{"revoked key, Bearer", revoked, bearer},
			{"revoked key, X-API-Key", revoked, xAPIKey},
		} {
			t.Run(tc.name+" is 401 on every operation", func(t *testing.T) {
				c := tg.client(t, tc.key, tc.style)
				l, _ := c.ListLeadsWithResponse(ctx, &client.ListLeadsParams{})
				wantError(t, l.HTTPResponse, l.Body, http.StatusUnauthorized, "unauthorized")
				cr, _ := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: uniquePhone(t)})
				wantError(t, cr.HTTPResponse, cr.Body, http.StatusUnauthorized, "unauthorized")
				g, _ := c.GetLeadWithResponse(ctx, lead.Id, nil)
				wantError(t, g.HTTPResponse, g.Body, http.StatusUnauthorized, "unauthorized")
				u, _ := c.UpdateLeadWithResponse(ctx, lead.Id, nil, client.LeadReplace{Phone: uniquePhone(t)})
				wantError(t, u.HTTPResponse, u.Body, http.StatusUnauthorized, "unauthorized")
				p, _ := c.PatchLeadWithResponse(ctx, lead.Id, nil, client.LeadPatch{})
				wantError(t, p.HTTPResponse, p.Body, http.StatusUnauthorized, "unauthorized")
				d, _ := c.DeleteLeadWithResponse(ctx, lead.Id, nil)
				wantError(t, d.HTTPResponse, d.Body, http.StatusUnauthorized, "unauthorized")
			})
		}

		t.Run("a 401 says how to authenticate", func(t *testing.T) {
			res, body := tg.raw(t, "", http.MethodGet, "/leads", "", nil)
			e := wantError(t, res, body, http.StatusUnauthorized, "unauthorized")
			if !strings.Contains(e.Error.Message, "Bearer") || res.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("message %q, WWW-Authenticate %q", e.Error.Message, res.Header.Get("WWW-Authenticate"))
			}
		})

		t.Run("the lead survived the unauthorized writes", func(t *testing.T) {
			assertUnchanged(t, tg.client(t, tg.key, bearer), lead)
		})
	})
}

func TestTenantIsolation(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		a := tg.client(t, tg.key, bearer)
		b := tg.client(t, tg.newOrg(t, "Org B"), bearer)
		lead := createLead(t, a, client.LeadCreate{Phone: uniquePhone(t)})

		g, _ := b.GetLeadWithResponse(ctx, lead.Id, nil)
		wantError(t, g.HTTPResponse, g.Body, http.StatusNotFound, "not_found")
		u, _ := b.UpdateLeadWithResponse(ctx, lead.Id, nil, client.LeadReplace{Phone: uniquePhone(t)})
		wantError(t, u.HTTPResponse, u.Body, http.StatusNotFound, "not_found")
		p, _ := b.PatchLeadWithResponse(ctx, lead.Id, nil, client.LeadPatch{LeadScore: ptr(int32(1))})
		wantError(t, p.HTTPResponse, p.Body, http.StatusNotFound, "not_found")
		d, _ := b.DeleteLeadWithResponse(ctx, lead.Id, nil)
		wantError(t, d.HTTPResponse, d.Body, http.StatusNotFound, "not_found")

		for _, params := range []client.ListLeadsParams{{PerPage: ptr(int32(100))}, {Phone: ptr(lead.Phone)}} {
			l := list(t, b, params)
			for _, other := range l.Data {
				if other.Id == lead.Id {
					t.Errorf("organization B's list shows A's lead %d", lead.Id)
				}
			}
		}
		// The same phone is free in B: phones are unique per organization.
		createLead(t, b, client.LeadCreate{Phone: lead.Phone})
		assertUnchanged(t, a, lead)
	})
}

func TestRateLimit(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		if tg.remote() {
			t.Skip("a remote server's limits cannot be lowered for the test")
		}
		const limit = 5
		low := startInProcess(t, tg.dbURL, limit, 1000)
		ctx := context.Background()
		// The minute window is real time: if it rolls over between the
		// requests, the sixth is rightly allowed, and the count of
		// X-RateLimit-Remaining begins again. Detect that from
		// X-RateLimit-Reset and start again with a fresh key; what the
		// requests' headers showed counts only for an attempt in one minute.
		for attempt := 1; ; attempt++ {
			key := low.newOrg(t, fmt.Sprintf("rate limited %d", attempt))
			c := low.client(t, key, bearer)
			var resets []string
			headers := &errorRecorder{TB: t}
			for i := 1; i <= limit; i++ {
				res, err := c.ListLeadsWithResponse(ctx, &client.ListLeadsParams{})
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode() != http.StatusOK {
					t.Fatalf("request %d: %d %s", i, res.StatusCode(), res.Body)
				}
				h := res.HTTPResponse.Header
				if h.Get("X-RateLimit-Limit") != strconv.Itoa(limit) || h.Get("X-RateLimit-Remaining") != strconv.Itoa(limit-i) {
					headers.Errorf("request %d: limit %s remaining %s, want %d and %d", i, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), limit, limit-i)
				}
				resets = append(resets, h.Get("X-RateLimit-Reset"))
			}
			res, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: uniquePhone(t)})
			if err != nil {
				t.Fatal(err)
			}
			h := res.HTTPResponse.Header
			if rolled := h.Get("X-RateLimit-Reset") != resets[0] || resets[0] != resets[limit-1]; rolled && attempt < 3 {
				t.Logf("the minute window rolled over during attempt %d; again", attempt)
				continue
			}
			for _, e := range headers.errs {
				t.Error(e)
			}
			wantError(t, res.HTTPResponse, res.Body, http.StatusTooManyRequests, "rate_limit_exceeded")
			retry, err := strconv.Atoi(h.Get("Retry-After"))
			if err != nil || retry < 1 || retry > 60 {
				t.Errorf("Retry-After %q, want 1..60 seconds", h.Get("Retry-After"))
			}
			reset, _ := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
			if now := time.Now().Unix(); reset+2 < now || reset > now+61 {
				t.Errorf("X-RateLimit-Reset %d, want within the next minute of %d", reset, now)
			}
			if h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Limit") != fmt.Sprint(limit) {
				t.Errorf("429 headers: limit %s remaining %s", h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"))
			}
			// The refused create stored nothing: ask the unlimited server,
			// which shares the database, with the same key.
			if l := list(t, tg.client(t, key, bearer), client.ListLeadsParams{}); l.Meta.Total != 0 {
				t.Errorf("a refused create stored %d leads", l.Meta.Total)
			}
			return
		}
	})
}
