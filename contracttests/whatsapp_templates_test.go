package contracttests

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
)

// WhatsApp templates: sending by id or name with the right number of
// variables, templates Meta has not approved or that are another
// organization's, and the template list (filtered and paged).

func TestWhatsAppTemplates(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		sendTemplate := func(t *testing.T, fields map[string]any) (*http.Response, []byte) {
			t.Helper()
			return postJSON(t, tg, tg.key, "/whatsapp/messages", merged(map[string]any{
				"integration_id": seededWhatsAppID, "phone": uniquePhone(t), "type": "template"}, fields))
		}
		c := tg.client(t, tg.key, bearer)

		t.Run("by id", func(t *testing.T) {
			res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Context: ptr("onboarding"), PerPage: ptr(int32(100))})
			if err != nil || res.JSON200 == nil {
				t.Fatalf("list templates: %v %d", err, res.StatusCode())
			}
			var id int64
			for _, tpl := range res.JSON200.Data {
				if tpl.Name == "boas_vindas" && tpl.Language == "pt_BR" {
					id = tpl.Id
				}
			}
			if id == 0 {
				t.Fatalf("boas_vindas is not among the onboarding templates: %s", res.Body)
			}
			r, out := sendTemplate(t, map[string]any{"template_id": id, "variables": []any{"Joao"}})
			m := mustCreated(t, tg, tg.key, r, out)
			want := map[string]any{"template_name": "boas_vindas", "template_language": "pt_BR", "variables": []any{"Joao"}}
			if m.Type != "template" || !reflect.DeepEqual(m.Content, want) {
				t.Errorf("type %q content %v, want template %v", m.Type, m.Content, want)
			}
		})
		t.Run("too few variables", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_name": "boas_vindas", "variables": []any{}})
			e := wantError(t, r, out, http.StatusUnprocessableEntity, "validation_error", "variables")
			if !strings.Contains(e.detail("variables"), "must contain 1 value") || !strings.Contains(e.detail("variables"), "got 0") {
				t.Errorf("details.variables %q", e.detail("variables"))
			}
		})
		t.Run("too many variables", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_name": "boas_vindas", "variables": []any{"Joao", "Silva"}})
			e := wantError(t, r, out, http.StatusUnprocessableEntity, "validation_error", "variables")
			if !strings.Contains(e.detail("variables"), "got 2") {
				t.Errorf("details.variables %q", e.detail("variables"))
			}
		})
		t.Run("unknown template_name", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_name": "nao_existe_esse_modelo", "variables": []any{}})
			e := wantError(t, r, out, http.StatusNotFound, "not_found")
			if !strings.Contains(e.detail("template_name"), "no template has this name") {
				t.Errorf("details %v", e.Error.Details)
			}
		})
		t.Run("unknown template_id", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_id": 987654321, "variables": []any{}})
			e := wantError(t, r, out, http.StatusNotFound, "not_found")
			if !strings.Contains(e.detail("template_id"), "no template has this id") {
				t.Errorf("details %v", e.Error.Details)
			}
		})
		t.Run("both template_id and template_name", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"template_id": 1, "template_name": "boas_vindas", "variables": []any{"Joao"}})
			wantError(t, r, out, http.StatusUnprocessableEntity, "validation_error", "template_id", "template_name")
		})
		t.Run("neither template_id nor template_name", func(t *testing.T) {
			r, out := sendTemplate(t, map[string]any{"variables": []any{"Joao"}})
			wantError(t, r, out, http.StatusUnprocessableEntity, "validation_error", "template_id", "template_name")
		})
		t.Run("not approved by Meta", func(t *testing.T) {
			tpl := tg.seed(t).Template(t, &impl.Template{OrganizationID: tg.orgID, Name: "promo_pendente", Language: "pt_BR", Category: "MARKETING",
				MetaApproved: false, Body: "Oferta {{1}}", VariablesCount: 1})
			for _, f := range []map[string]any{{"template_name": "promo_pendente"}, {"template_id": tpl.ID}} {
				r, out := sendTemplate(t, merged(f, map[string]any{"variables": []any{"10%"}}))
				var key string
				for k := range f {
					key = k
				}
				e := wantError(t, r, out, http.StatusUnprocessableEntity, "validation_error", key)
				if !strings.Contains(e.detail(key), "not approved") {
					t.Errorf("details %v", e.Error.Details)
				}
			}
		})
		t.Run("a name in two languages", func(t *testing.T) {
			seed := tg.seed(t)
			var ids []int64
			for _, lang := range []string{"pt_BR", "en_US"} {
				tpl := seed.Template(t, &impl.Template{OrganizationID: tg.orgID, Name: "confirmacao", Language: lang, Category: "UTILITY",
					MetaApproved: true, Body: "Confirmado, {{1}}", VariablesCount: 1})
				ids = append(ids, tpl.ID)
			}
			r, out := sendTemplate(t, map[string]any{"template_name": "confirmacao", "variables": []any{"Ana"}})
			e := wantError(t, r, out, http.StatusUnprocessableEntity, "validation_error", "template_name")
			if d := e.detail("template_name"); !strings.Contains(d, "template_id") || !strings.Contains(d, "en_US, pt_BR") {
				t.Errorf("details.template_name %q should name the languages and ask for template_id", d)
			}
			r, out = sendTemplate(t, map[string]any{"template_id": ids[1], "variables": []any{"Ana"}})
			if m := mustCreated(t, tg, tg.key, r, out); m.Content["template_language"] != "en_US" {
				t.Errorf("content %v, want the en_US template", m.Content)
			}
		})
		t.Run("another organization's template", func(t *testing.T) {
			seed := tg.seed(t)
			tpl := seed.Template(t, &impl.Template{OrganizationID: seed.Organization(t, "Org B").ID, Name: "so_da_b", Language: "pt_BR", Category: "UTILITY",
				MetaApproved: true, Body: "Oi", VariablesCount: 0})
			r, out := sendTemplate(t, map[string]any{"template_id": tpl.ID, "variables": []any{}})
			e := wantError(t, r, out, http.StatusNotFound, "not_found")
			if e.detail("template_id") == "" {
				t.Errorf("details %v, want template_id", e.Error.Details)
			}
			r, out = sendTemplate(t, map[string]any{"template_name": "so_da_b", "variables": []any{}})
			e = wantError(t, r, out, http.StatusNotFound, "not_found")
			if e.detail("template_name") == "" {
				t.Errorf("details %v, want template_name", e.Error.Details)
			}
		})
	})
}

func TestListWhatsAppTemplates(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		seed := tg.seed(t)
		ctx := context.Background()
		org := seed.Organization(t, "templates")
		key := org.Key
		for _, tpl := range []*impl.Template{
			{Name: "promo_verao", Language: "pt_BR", Category: "MARKETING", Context: ptr("promocoes"), MetaApproved: false, Body: "Oferta {{1}}", VariablesCount: 1},
			{Name: "aviso_pagamento", Language: "pt_BR", Category: "UTILITY", Context: ptr("cobranca"), MetaApproved: true, Body: "Boleto {{1}} vence {{2}}", VariablesCount: 2},
			{Name: "codigo_acesso", Language: "pt_BR", Category: "AUTHENTICATION", MetaApproved: true, Body: "Codigo {{1}}", VariablesCount: 1},
			{Name: "promo_verao", Language: "en_US", Category: "MARKETING", Context: ptr("promocoes"), MetaApproved: true, Body: "Deal {{1}}", VariablesCount: 1},
			{Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY", Context: ptr("onboarding"), MetaApproved: true, Body: "Ola {{1}}", VariablesCount: 1},
		} {
			tpl.OrganizationID = org.ID
			seed.Template(t, tpl)
		}
		c := tg.client(t, key, bearer)
		names := func(ts []client.Template) []string {
			out := make([]string, len(ts))
			for i, x := range ts {
				out[i] = x.Name + "/" + x.Language
			}
			return out
		}
		cases := []struct {
			name   string
			params client.ListWhatsAppTemplatesParams
			want   []string
		}{
			{"all, by name then language", client.ListWhatsAppTemplatesParams{},
				[]string{"aviso_pagamento/pt_BR", "boas_vindas/pt_BR", "codigo_acesso/pt_BR", "promo_verao/en_US", "promo_verao/pt_BR"}},
			{"category", client.ListWhatsAppTemplatesParams{Category: ptr(client.TemplateCategory("MARKETING"))},
				[]string{"promo_verao/en_US", "promo_verao/pt_BR"}},
			{"context", client.ListWhatsAppTemplatesParams{Context: ptr("cobranca")}, []string{"aviso_pagamento/pt_BR"}},
			{"unknown context", client.ListWhatsAppTemplatesParams{Context: ptr("nada")}, []string{}},
			{"meta_approved=false", client.ListWhatsAppTemplatesParams{MetaApproved: ptr(false)}, []string{"promo_verao/pt_BR"}},
			{"meta_approved=true", client.ListWhatsAppTemplatesParams{MetaApproved: ptr(true)},
				[]string{"aviso_pagamento/pt_BR", "boas_vindas/pt_BR", "codigo_acesso/pt_BR", "promo_verao/en_US"}},
			{"category and meta_approved", client.ListWhatsAppTemplatesParams{Category: ptr(client.TemplateCategory("MARKETING")), MetaApproved: ptr(true)},
				[]string{"promo_verao/en_US"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &tc.params)
				if err != nil || res.JSON200 == nil {
					t.Fatalf("%v %d %s", err, res.StatusCode(), res.Body)
				}
				l := res.JSON200
				if got := names(l.Data); !slices.Equal(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				wantPages := int64(0)
				if len(tc.want) > 0 {
					wantPages = 1
				}
				if l.Meta.Total != int64(len(tc.want)) || l.Meta.TotalPages != wantPages || l.Meta.CurrentPage != 1 || l.Meta.PerPage != 25 {
					t.Errorf("meta %+v", l.Meta)
				}
			})
		}
		t.Run("fields", func(t *testing.T) {
			res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Context: ptr("cobranca")})
			if err != nil || res.JSON200 == nil || len(res.JSON200.Data) != 1 {
				t.Fatalf("%v %s", err, res.Body)
			}
			got := res.JSON200.Data[0]
			if got.Category != "UTILITY" || got.Context.MustGet() != "cobranca" || !got.MetaApproved ||
				got.Body != "Boleto {{1}} vence {{2}}" || got.VariablesCount != 2 || got.Id < 1 || got.CreatedAt.IsZero() {
				t.Errorf("template %+v", got)
			}
			res, _ = c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Category: ptr(client.TemplateCategory("AUTHENTICATION"))})
			if len(res.JSON200.Data) != 1 || !res.JSON200.Data[0].Context.IsNull() {
				t.Errorf("a template without context: %s", res.Body)
			}
		})
		t.Run("paging", func(t *testing.T) {
			var seen []string
			for page, n := range []int{2, 2, 1, 0} {
				res, err := c.ListWhatsAppTemplatesWithResponse(ctx, &client.ListWhatsAppTemplatesParams{Page: ptr(int32(page + 1)), PerPage: ptr(int32(2))})
				if err != nil || res.JSON200 == nil {
					t.Fatalf("%v %s", err, res.Body)
				}
				l := res.JSON200
				if len(l.Data) != n || l.Meta.Total != 5 || l.Meta.TotalPages != 3 || l.Meta.PerPage != 2 || l.Meta.CurrentPage != int32(page+1) {
					t.Errorf("page %d: %d templates, meta %+v", page+1, len(l.Data), l.Meta)
				}
				seen = append(seen, names(l.Data)...)
			}
			if want := cases[0].want; !slices.Equal(seen, want) {
				t.Errorf("pages gave %v, want %v", seen, want)
			}
		})
		t.Run("bad category", func(t *testing.T) {
			res, out := tg.raw(t, key, http.MethodGet, "/whatsapp/templates?category=PROMO", "", nil)
			wantError(t, res, out, http.StatusBadRequest, "bad_request")
		})
	})
}
