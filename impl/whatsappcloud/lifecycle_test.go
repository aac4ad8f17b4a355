package whatsappcloud_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/whatsappcloud"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

const waba = "102290129340398"

func (f *fixture) withAccount() *fixture {
	f.integ.WABAID = waba
	f.fake.SetToken(waba, token)
	return f
}

func TestListTemplates(t *testing.T) {
	f := newFixture(t).withAccount()
	f.fake.SetTemplates(waba, graphapi.SampleTemplates())
	f.fake.SetPaging(waba, graphapi.Paging{PageSize: 4})
	listing, err := f.client.ListTemplates(context.Background(), f.integ)
	if err != nil {
		t.Fatal(err)
	}
	// 11 at Meta, 3 pages of 4; the one pending deletion is not listed.
	if listing.Pages != 3 || len(listing.Templates) != 10 {
		t.Fatalf("%d templates in %d pages", len(listing.Templates), listing.Pages)
	}
	byName := map[string]impl.ListedTemplate{}
	for _, lt := range listing.Templates {
		byName[lt.Name+"/"+lt.Language] = lt
	}
	want := map[string]impl.ListedTemplate{
		"boas_vindas/pt_BR":         {Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY", Status: "APPROVED", Body: "Ola {{1}}, seja bem-vindo!", VariablesCount: 1},
		"oferta_black_friday/pt_BR": {Name: "oferta_black_friday", Language: "pt_BR", Category: "MARKETING", Status: "APPROVED", Body: "{{1}}, a Black Friday chegou: {{2}} de desconto!", VariablesCount: 2},
		"lembrete_reuniao/pt_BR":    {Name: "lembrete_reuniao", Language: "pt_BR", Category: "UTILITY", Status: "PENDING", Body: "Lembrete: reuniao amanha."},
		"pesquisa_satisfacao/pt_BR": {Name: "pesquisa_satisfacao", Language: "pt_BR", Category: "MARKETING", Status: "PAUSED", Body: "Como foi seu atendimento?"},
	}
	for k, w := range want {
		if got := byName[k]; got != w {
			t.Errorf("%s = %+v, want %+v", k, got, w)
		}
	}
	if named := byName["confirmacao_nome/pt_BR"]; !strings.Contains(named.Skip, "named placeholders") {
		t.Errorf("a template with named placeholders is not skipped: %+v", named)
	}
	if _, listed := byName["campanha_encerrada/pt_BR"]; listed {
		t.Error("a template pending deletion was listed")
	}
	reqs := f.fake.Requests()
	for i, r := range reqs {
		if r.Method != http.MethodGet || r.Path != "/v21.0/"+waba+"/message_templates" || r.Header.Get("Authorization") != "Bearer "+token ||
			r.Query.Get("limit") != "100" || !strings.Contains(r.Query.Get("fields"), "components") || (i > 0) == (r.Query.Get("after") == "") {
			t.Errorf("request %d: %s %s?%s", i, r.Method, r.Path, r.Query.Encode())
		}
	}
}

func TestListTemplatesFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		program func(f *fixture)
		client  func(c *whatsappcloud.Client)
		ctx     func() (context.Context, context.CancelFunc)
		want    string
		status  int
	}{
		{name: "Meta's error", program: func(f *fixture) {
			f.fake.FailNext(1, 400, graphapi.MetaError(100, "OAuthException", "(#100) Tried accessing nonexisting field", ""))
		}, want: "(#100) Tried accessing nonexisting field", status: 400},
		{name: "a 500 from a proxy", program: func(f *fixture) { f.fake.FailNext(1, 502, []byte("<html>bad gateway</html>")) },
			want: "HTTP 502 from the WhatsApp Cloud API", status: 502},
		{name: "a page that does not parse", program: func(f *fixture) { f.fake.FailNext(1, 200, []byte(`{"data":{}}`)) },
			want: "does not parse", status: 200},
		{name: "paging without end", program: func(f *fixture) { f.fake.SetPaging(waba, graphapi.Paging{PageSize: 1, Endless: true}) },
			client: func(c *whatsappcloud.Client) { c.MaxTemplatePages = 7 }, want: "still paging after 7 pages"},
		{name: "no answer in time", program: func(f *fixture) { f.fake.SetDelay(time.Minute) },
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			}, want: "within the timeout"},
		{name: "a wrong token", program: func(f *fixture) { f.fake.SetToken(waba, "another") }, want: "Invalid OAuth access token", status: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t).withAccount()
			f.fake.SetTemplates(waba, graphapi.SampleTemplates())
			tc.program(f)
			if tc.client != nil {
				tc.client(f.client)
			}
			ctx, cancel := context.Background(), func() {}
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			listing, err := f.client.ListTemplates(ctx, f.integ)
			if listing != nil {
				t.Errorf("a partial listing was returned: %d templates", len(listing.Templates))
			}
			pe := asProviderError(t, err)
			if !strings.Contains(pe.Message, tc.want) || pe.Status != tc.status {
				t.Errorf("error %+v, want %q with status %d", pe, tc.want, tc.status)
			}
			if tc.name == "paging without end" && len(f.fake.Requests()) != 7 {
				t.Errorf("%d requests, want the 7-page bound", len(f.fake.Requests()))
			}
		})
	}
	f := newFixture(t)
	if _, err := f.client.ListTemplates(context.Background(), f.integ); !strings.Contains(asProviderError(t, err).Message, "Business Account") {
		t.Errorf("without an account id: %v", err)
	}
}

func TestParseWebhookStatuses(t *testing.T) {
	integ := &impl.Integration{ID: 7, PhoneNumberID: phoneNumberID}
	at := time.Date(2026, 3, 13, 14, 2, 11, 0, time.UTC)
	payload := graphapi.StatusesPayload(phoneNumberID, "551130000000",
		graphapi.Status{WAMID: "wamid.A", State: "delivered", Recipient: recipient, Time: at, Reference: "iagente-5"},
		graphapi.Status{WAMID: "wamid.B", State: "failed", Recipient: recipient, Time: at, Error: &graphapi.ReEngagement},
		graphapi.Status{WAMID: "wamid.C", State: "deleted", Recipient: recipient, Time: at},
		graphapi.Status{State: "read", Recipient: recipient, Time: at})
	var warned []string
	w, err := whatsappcloud.ParseWebhook(payload, integ, 100, func(msg string, _ ...any) { warned = append(warned, msg) })
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Messages) != 0 || len(w.Statuses) != 2 || w.Ignored != 2 || len(warned) != 2 {
		t.Fatalf("webhook %+v, warned %v", w, warned)
	}
	d, f := w.Statuses[0], w.Statuses[1]
	if d.ProviderMessageID != "wamid.A" || d.Reference != "iagente-5" || d.Status != impl.StatusDelivered || !d.At.Equal(at) {
		t.Errorf("delivered %+v", d)
	}
	if f.Status != impl.StatusFailed || f.ErrorCode != "131047" || f.ErrorTitle != "Re-engagement message" ||
		!strings.Contains(f.Error, "more than 24 hours") {
		t.Errorf("failed %+v", f)
	}
	// Another number's statuses are not this integration's.
	other := graphapi.StatusesPayload("999", "551130000000", graphapi.Status{WAMID: "wamid.A", State: "read", Time: at})
	if w, _ := whatsappcloud.ParseWebhook(other, integ, 100, func(string, ...any) {}); len(w.Statuses) != 0 || w.Ignored != 1 {
		t.Errorf("another number's status: %+v", w)
	}
	// Inbound messages carry the contact's time.
	in := graphapi.InboundText(phoneNumberID, "551130000000", recipient, "Maria", "wamid.in", "Oi", at)
	if w, _ := whatsappcloud.ParseWebhook(in, integ, 100, func(string, ...any) {}); len(w.Messages) != 1 || !w.Messages[0].SentAt.Equal(at) {
		t.Errorf("inbound %+v", w)
	}
	if _, err := whatsappcloud.ParseWebhook([]byte(`[1]`), integ, 100, func(string, ...any) {}); err == nil {
		t.Error("a JSON array parsed as a webhook")
	}
}
