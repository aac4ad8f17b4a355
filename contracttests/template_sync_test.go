package contracttests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

// syncTimeout bounds a sync in these tests: far above what the fake needs,
// far below the delay the timeout case programs.
const syncTimeout = 700 * time.Millisecond

type syncResult struct {
	IntegrationID int64     `json:"integration_id"`
	Listed        int       `json:"listed"`
	Created       int       `json:"created"`
	Updated       int       `json:"updated"`
	Unchanged     int       `json:"unchanged"`
	Removed       int       `json:"removed"`
	Skipped       int       `json:"skipped"`
	Pages         int       `json:"pages"`
	SyncedAt      time.Time `json:"synced_at"`
}

// templatesBy lists the organization's templates with the query, by
// "name/language".
func templatesBy(t *testing.T, tg *target, key, query string) map[string]client.Template {
	t.Helper()
	page := evDecode[client.TemplateList](t, expectJSON(t, tg, key, http.MethodGet, "/whatsapp/templates?per_page=100&"+query, nil, http.StatusOK, nil))
	out := map[string]client.Template{}
	for _, tpl := range page.Data {
		out[string(tpl.Name)+"/"+tpl.Language] = tpl
	}
	if int64(len(out)) != page.Meta.Total {
		t.Fatalf("%d templates on the page, %d in total", len(out), page.Meta.Total)
	}
	return out
}

func keysOf(m map[string]client.Template) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func TestTemplateSync(t *testing.T) {
	forEachLifecycleTarget(t, func(c *app.Config) { c.TemplateSyncTimeout = syncTimeout }, func(t *testing.T, env *lifecycleEnv) {
		tg, fake := env.tg, env.fake
		fake.SetTemplates(lcWABA, graphapi.SampleTemplates())
		fake.SetPaging(lcWABA, graphapi.Paging{PageSize: 3})
		sync := func(t *testing.T, body any, want int) []byte {
			t.Helper()
			return expectJSON(t, tg, tg.key, http.MethodPost, "/whatsapp/templates/sync", body, want, nil)
		}

		t.Run("Meta's templates, every page, with the API reference's filters", func(t *testing.T) {
			before := len(fake.Requests())
			r := evDecode[syncResult](t, sync(t, map[string]any{"integration_id": env.integ.ID}, http.StatusOK))
			// 11 at Meta: one on its way out is not listed, one with named
			// placeholders is skipped; boas_vindas pt_BR was the sandbox's.
			if r.IntegrationID != env.integ.ID || r.Listed != 10 || r.Created != 8 || r.Updated != 1 || r.Skipped != 1 ||
				r.Removed != 0 || r.Pages != 4 {
				t.Errorf("sync result %+v", r)
			}
			reqs := fake.Requests()[before:]
			if len(reqs) != 4 {
				t.Fatalf("the fake got %d requests, want 4 pages", len(reqs))
			}
			for i, q := range reqs {
				if q.Method != http.MethodGet || q.Path != "/v21.0/"+lcWABA+"/message_templates" ||
					q.Header.Get("Authorization") != "Bearer "+env.integ.AccessToken || (i > 0) != (q.Query.Get("after") != "") {
					t.Errorf("page %d: %s %s?%s", i+1, q.Method, q.Path, q.Query.Encode())
				}
			}

			all := templatesBy(t, tg, tg.key, "")
			if got := keysOf(all); len(got) != 9 {
				t.Errorf("templates %v", got)
			}
			bv := all["boas_vindas/pt_BR"]
			if bv.Source != "meta" || bv.Status != "APPROVED" || !bv.MetaApproved || bv.Body != "Ola {{1}}, seja bem-vindo!" ||
				bv.VariablesCount != 1 || bv.SyncedAt.IsNull() || !bv.RemovedAt.IsNull() || bv.Context.MustGet() != "onboarding" {
				t.Errorf("boas_vindas/pt_BR %+v", bv)
			}
			if o := all["oferta_black_friday/pt_BR"]; o.Category != "MARKETING" || o.VariablesCount != 2 || !o.MetaApproved {
				t.Errorf("oferta_black_friday %+v", o)
			}
			if l := all["lembrete_reuniao/pt_BR"]; l.Status != "PENDING" || l.MetaApproved {
				t.Errorf("a template in appeal: %+v", l)
			}
			for query, want := range map[string][]string{
				"meta_approved=true":                   {"boas_vindas/en_US", "boas_vindas/pt_BR", "codigo_verificacao/pt_BR", "oferta_black_friday/pt_BR"},
				"category=MARKETING":                   {"oferta_black_friday/pt_BR", "pesquisa_satisfacao/pt_BR", "promocao_relampago/pt_BR"},
				"context=onboarding":                   {"boas_vindas/pt_BR"},
				"category=UTILITY&meta_approved=false": {"aviso_antigo/pt_BR", "lembrete_reuniao/pt_BR", "pedido_enviado/pt_BR"},
			} {
				if got := keysOf(templatesBy(t, tg, tg.key, query)); !slices.Equal(got, want) {
					t.Errorf("?%s: %v, want %v", query, got, want)
				}
			}
		})

		t.Run("a synced template is sent as Meta has it", func(t *testing.T) {
			before := len(fake.Requests())
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": env.integ.ID,
				"phone": uniquePhone(t), "type": "template", "template_name": "oferta_black_friday", "variables": []any{"Ana", "30%"}})
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("%d %s", res.StatusCode, out)
			}
			sent := fake.Requests()[before]
			if tpl, _ := sent.JSON["template"].(map[string]any); tpl["name"] != "oferta_black_friday" {
				t.Errorf("Meta received %s", sent.Body)
			}
			res, out = postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": env.integ.ID,
				"phone": uniquePhone(t), "type": "template", "template_name": "pedido_enviado", "variables": []any{"#1"}})
			if e := wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", "template_name"); !strings.Contains(e.detail("template_name"), "not approved") {
				t.Errorf("a pending template: %s", out)
			}
		})

		t.Run("a template gone from Meta is marked, not deleted", func(t *testing.T) {
			var next []graphapi.Template
			for _, tpl := range graphapi.SampleTemplates() {
				switch tpl.Name {
				case "codigo_verificacao":
					continue
				case "pedido_enviado":
					tpl.Status = "APPROVED"
				}
				next = append(next, tpl)
			}
			fake.SetTemplates(lcWABA, next)
			r := evDecode[syncResult](t, sync(t, nil, http.StatusOK))
			if r.Removed != 1 || r.Updated != 1 || r.Created != 0 || r.Listed != 9 {
				t.Errorf("second sync %+v", r)
			}
			all := templatesBy(t, tg, tg.key, "")
			gone := all["codigo_verificacao/pt_BR"]
			if gone.RemovedAt.IsNull() || gone.MetaApproved || gone.Status != "APPROVED" {
				t.Errorf("codigo_verificacao after it went: %+v", gone)
			}
			if p := all["pedido_enviado/pt_BR"]; !p.MetaApproved || p.Status != "APPROVED" {
				t.Errorf("pedido_enviado, approved at Meta: %+v", p)
			}
			res, out := postJSON(t, tg, tg.key, "/whatsapp/messages", map[string]any{"integration_id": env.integ.ID,
				"phone": uniquePhone(t), "type": "template", "template_name": "codigo_verificacao", "variables": []any{"123456"}})
			wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", "template_name")
		})

		// Every failure leaves the templates exactly as they were.
		stored := func() string {
			b, _ := json.Marshal(templatesBy(t, tg, tg.key, ""))
			return string(b)
		}
		failing := func(t *testing.T, reason string, program func()) {
			t.Helper()
			before := stored()
			program()
			res, out := tg.raw(t, tg.key, http.MethodPost, "/whatsapp/templates/sync", "application/json",
				[]byte(fmt.Sprintf(`{"integration_id":%d}`, env.integ.ID)))
			e := wantError(t, res, out, http.StatusBadGateway, "sync_failed")
			if !strings.Contains(e.Error.Message, reason) || !strings.Contains(e.Error.Message, "unchanged") ||
				e.detail("integration_id") != fmt.Sprint(env.integ.ID) {
				t.Errorf("sync_failed %s, want the reason %q", out, reason)
			}
			if strings.Contains(string(out), env.integ.AccessToken) {
				t.Errorf("the answer leaks the token: %s", out)
			}
			if after := stored(); after != before {
				t.Errorf("a failed sync changed the templates:\nbefore %s\n after %s", before, after)
			}
			fake.SetDelay(0)
			fake.SetPaging(lcWABA, graphapi.Paging{PageSize: 3})
		}
		// What a partial listing would have marked removed, had it been applied.
		fake.SetTemplates(lcWABA, graphapi.SampleTemplates()[:2])

		t.Run("Meta answers 500: 502, nothing lost", func(t *testing.T) {
			failing(t, "Something went wrong", func() {
				fake.FailNext(1, http.StatusInternalServerError, graphapi.MetaError(2, "OAuthException", "(#2) Something went wrong", ""))
			})
		})
		t.Run("a proxy answers with HTML: 502", func(t *testing.T) {
			failing(t, "HTTP 502", func() { fake.FailNext(1, http.StatusBadGateway, []byte("<html>Bad Gateway</html>")) })
		})
		t.Run("Meta times out: 502 within the bound", func(t *testing.T) {
			start := time.Now()
			failing(t, "timeout", func() { fake.SetDelay(5 * time.Second) })
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("the sync took %s, past its %s bound", d, syncTimeout)
			}
		})
		t.Run("Meta pages forever: 502 after the page limit", func(t *testing.T) {
			before := len(fake.Requests())
			failing(t, "still paging", func() { fake.SetPaging(lcWABA, graphapi.Paging{PageSize: 1, Endless: true}) })
			if n := len(fake.Requests()) - before; n != 100 {
				t.Errorf("the endless listing cost %d requests, want the 100-page bound", n)
			}
		})
		t.Run("a wrong token: 502 with Meta's reason", func(t *testing.T) {
			failing(t, "Invalid OAuth access token", func() { fake.SetToken(lcWABA, "another-token") })
			fake.SetToken(lcWABA, env.integ.AccessToken)
		})
	})
}

func TestTemplateSyncRefusals(t *testing.T) {
	forEachLifecycleTarget(t, nil, func(t *testing.T, env *lifecycleEnv) {
		tg := env.tg
		post := func(key, contentType, body string) (*http.Response, []byte) {
			return tg.raw(t, key, http.MethodPost, "/whatsapp/templates/sync", contentType, []byte(body))
		}
		res, out := post(tg.key, "application/json", fmt.Sprintf(`{"integration_id":%d}`, seededWhatsAppID))
		if e := wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", "integration_id"); !strings.Contains(e.detail("integration_id"), "templates create") {
			t.Errorf("a sandbox integration: %s", out)
		}
		res, out = post(tg.key, "application/json", `{"integration_id":999999}`)
		wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		res, out = post(tg.key, "application/json", `{"integration_id":1,"waba_id":"1"}`)
		wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", "waba_id")
		res, out = post(tg.key, "application/json", `{"integration_id":`)
		wantError(t, res, out, http.StatusBadRequest, "bad_request")
		// Another organization's integration, and an organization with none.
		other := tg.freshOrg(t)
		res, out = post(other, "application/json", fmt.Sprintf(`{"integration_id":%d}`, env.integ.ID))
		wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		res, out = post(other, "", "")
		wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		// Without a body, the organization's integration with an account.
		res, out = post(tg.key, "", "")
		if res.StatusCode != http.StatusOK {
			t.Errorf("no body: %d %s", res.StatusCode, out)
		}
	})
}

// A template's text from Meta (or from a proxy posing as it) is kept
// without the control characters no text may hold, and a template whose
// language is no language code is skipped: a NUL in either made the whole
// sync a 500 on PostgreSQL, where SQLite stored it.
func TestTemplateSyncKeepsTextPlain(t *testing.T) {
	forEachLifecycleTarget(t, func(c *app.Config) { c.TemplateSyncTimeout = syncTimeout }, func(t *testing.T, env *lifecycleEnv) {
		tg, fake := env.tg, env.fake
		body := func(text string) []graphapi.Component { return []graphapi.Component{{Type: "BODY", Text: text}} }
		fake.SetTemplates(lcWABA, []graphapi.Template{
			{ID: "2000000000000001", Name: "corpo_com_nul", Language: "pt_BR", Category: "UTILITY", Status: "APPROVED",
				ParameterFormat: "POSITIONAL", Components: body("Ola\u0000 {{1}},\n\tseja\u001b bem-vindo!\xff")},
			{ID: "2000000000000002", Name: "idioma_com_nul", Language: "pt\u0000BR", Category: "UTILITY", Status: "APPROVED",
				ParameterFormat: "POSITIONAL", Components: body("Ola")},
			{ID: "2000000000000003", Name: "idioma_regional", Language: "es_419", Category: "UTILITY", Status: "APPROVED",
				ParameterFormat: "POSITIONAL", Components: body("Hola {{1}}")},
		})
		r := evDecode[syncResult](t, expectJSON(t, tg, tg.key, http.MethodPost, "/whatsapp/templates/sync",
			map[string]any{"integration_id": env.integ.ID}, http.StatusOK, nil))
		if r.Listed != 3 || r.Created != 2 || r.Skipped != 1 {
			t.Errorf("sync result %+v", r)
		}
		got := templatesBy(t, tg, tg.key, "")
		if tpl, ok := got["corpo_com_nul/pt_BR"]; !ok || tpl.Body != "Ola {{1}},\n\tseja bem-vindo!\uFFFD" || tpl.VariablesCount != 1 {
			t.Errorf("corpo_com_nul: %+v", tpl)
		}
		if _, ok := got["idioma_regional/es_419"]; !ok {
			t.Errorf("es_419 was not kept: %v", keysOf(got))
		}
		for k := range got {
			if strings.HasPrefix(k, "idioma_com_nul/") {
				t.Errorf("a template with no language code was kept: %q", k)
			}
		}
	})
}
