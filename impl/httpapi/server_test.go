package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/ratelimit"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
	"github.com/iagente/iagente-sdr/internal/teststores"
)

// brokenLeads wraps the real store and corrupts what it returns, to produce
// a response that breaks the spec. Nothing else produces one on purpose.
type brokenLeads struct {
	impl.LeadStore
}

func (b brokenLeads) FindLeadByID(ctx context.Context, orgID, id int64) (*impl.Lead, error) {
	l, err := b.LeadStore.FindLeadByID(ctx, orgID, id)
	if err == nil {
		l.Temperature = "tepid" // not in the spec's enum
	}
	return l, err
}

type fixture struct {
	srv  *httpapi.Server
	db   *sqlstore.DB
	key  string
	lead *impl.Lead
	logs *syncbuf.Buffer
}

func newFixture(t *testing.T, mode string, wrap func(impl.LeadStore) impl.LeadStore) *fixture {
	t.Helper()
	return newFixtureWith(t, mode, wrap, nil)
}

// newFixtureWith is newFixture with the server's Config changed by set.
func newFixtureWith(t *testing.T, mode string, wrap func(impl.LeadStore) impl.LeadStore, set func(*httpapi.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	st := teststores.Open(t, sqlstoretest.SQLite(t).URL)
	org := &impl.Organization{Name: "fixture"}
	if err := st.Organizations.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	_, key, err := auth.Issue(ctx, st.APIKeys, org.ID, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	lead := &impl.Lead{Phone: "5511999999999"}
	if err := st.Leads.CreateLead(ctx, org.ID, lead); err != nil {
		t.Fatal(err)
	}
	var leads impl.LeadStore = st.Leads
	if wrap != nil {
		leads = wrap(st.Leads)
	}
	logs := &syncbuf.Buffer{}
	cfg := httpapi.Config{
		Leads:              leads,
		Auth:               &auth.Authenticator{Keys: st.APIKeys, Now: time.Now},
		Limiter:            ratelimit.NewMemory(1000, 1000),
		Logger:             slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ResponseValidation: mode,
		Ready:              st.DB.Ping,
	}
	if set != nil {
		set(&cfg)
	}
	srv, err := httpapi.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, db: st.DB, key: key, lead: lead, logs: logs}
}

func (f *fixture) do(t *testing.T, method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + f.key, "Content-Type": "application/json"}
}

func TestStrictResponseValidationTurnsViolationsInto500(t *testing.T) {
	f := newFixture(t, httpapi.ValidateStrict, func(s impl.LeadStore) impl.LeadStore { return brokenLeads{s} })
	rec := f.do(t, http.MethodGet, "/api/v1/leads/1", "", f.bearer())
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500: %s", rec.Code, rec.Body)
	}
	var env struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code != "internal_error" {
		t.Fatalf("body %s", rec.Body)
	}
	if strings.Contains(rec.Body.String(), "tepid") {
		t.Error("the violating body leaked into the 500")
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if f.srv.ResponseViolations() != 1 {
		t.Errorf("violations counted: %d", f.srv.ResponseViolations())
	}
	if !strings.Contains(f.logs.String(), "response violates the spec") || !strings.Contains(f.logs.String(), "tepid") {
		t.Errorf("the violation was not logged: %s", f.logs.String())
	}
}

func TestLogResponseValidationSendsTheResponseAndCounts(t *testing.T) {
	f := newFixture(t, httpapi.ValidateLog, func(s impl.LeadStore) impl.LeadStore { return brokenLeads{s} })
	rec := f.do(t, http.MethodGet, "/api/v1/leads/1", "", f.bearer())
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"tepid"`) {
		t.Fatalf("log mode must send the response as is: %d %s", rec.Code, rec.Body)
	}
	if f.srv.ResponseViolations() != 1 || !strings.Contains(f.logs.String(), "response violates the spec") {
		t.Errorf("violations %d, logs %s", f.srv.ResponseViolations(), f.logs.String())
	}
	m := f.do(t, http.MethodGet, "/metrics", "", nil)
	if !strings.Contains(m.Body.String(), "iagente_response_validation_failures_total 1") {
		t.Errorf("metrics: %s", m.Body)
	}
}

func TestOffResponseValidationDoesNotLook(t *testing.T) {
	f := newFixture(t, httpapi.ValidateOff, func(s impl.LeadStore) impl.LeadStore { return brokenLeads{s} })
	rec := f.do(t, http.MethodGet, "/api/v1/leads/1", "", f.bearer())
	if rec.Code != http.StatusOK || f.srv.ResponseViolations() != 0 {
		t.Fatalf("%d, violations %d", rec.Code, f.srv.ResponseViolations())
	}
}

func TestUnknownResponseValidationModeIsRefused(t *testing.T) {
	_, err := httpapi.NewServer(httpapi.Config{ResponseValidation: "sometimes"})
	if err == nil || !strings.Contains(err.Error(), "RESPONSE_VALIDATION") {
		t.Fatalf("err = %v", err)
	}
}

func TestKeysNeverReachTheLogs(t *testing.T) {
	f := newFixture(t, httpapi.ValidateStrict, nil)
	wrong := "sk_live_" + strings.Repeat("Z", 43)
	f.do(t, http.MethodGet, "/api/v1/leads", "", f.bearer())
	f.do(t, http.MethodGet, "/api/v1/leads", "", map[string]string{"X-API-Key": f.key})
	f.do(t, http.MethodGet, "/api/v1/leads", "", map[string]string{"Authorization": "Bearer " + wrong})
	f.do(t, http.MethodPost, "/api/v1/leads", `{"phone":"1`, f.bearer())
	f.do(t, http.MethodGet, "/api/v1/leads?email="+f.key, "", f.bearer())
	logs := f.logs.String()
	if strings.Count(logs, `"msg":"request"`) != 5 {
		t.Fatalf("expected 5 access-log lines:\n%s", logs)
	}
	for _, secret := range []string{f.key, wrong, f.key[len(auth.KeyPrefix):]} {
		if strings.Contains(logs, secret) {
			t.Errorf("a key reached the logs:\n%s", logs)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if m["request_id"] == nil || m["request_id"] == "" {
			t.Errorf("log line without request_id: %s", line)
		}
	}
}

func TestRequestIDIsEchoedOrMade(t *testing.T) {
	f := newFixture(t, httpapi.ValidateStrict, nil)
	rec := f.do(t, http.MethodGet, "/healthz", "", map[string]string{"X-Request-Id": "abc-123"})
	if rec.Header().Get("X-Request-Id") != "abc-123" {
		t.Errorf("caller's id not echoed: %q", rec.Header().Get("X-Request-Id"))
	}
	rec = f.do(t, http.MethodGet, "/healthz", "", map[string]string{"X-Request-Id": "bad id\x01"})
	if id := rec.Header().Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("unsafe id should be replaced: %q", id)
	}
}

func TestDocsSpecAndProbes(t *testing.T) {
	f := newFixture(t, httpapi.ValidateStrict, nil)
	for _, tc := range []struct {
		path, contentType, contains string
	}{
		{"/openapi.yaml", "application/yaml", "openapi: 3.0.3"},
		{"/openapi.json", "application/json", `"openapi":"3.0.3"`},
		{"/docs/reference.json", "application/json", `"url":"/api/v1"`},
		{"/docs/", "text/html", "Referência da API"},
		{"/healthz", "application/json", `"ok"`},
		{"/readyz", "application/json", `"ready"`},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		rec := f.do(t, http.MethodGet, tc.path, "", nil)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.contentType) ||
			!strings.Contains(strings.ToLower(rec.Body.String()), strings.ToLower(tc.contains)) {
			t.Errorf("%s: %d %q, body lacks %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.contains)
		}
	}
	if rec := f.do(t, http.MethodGet, "/favicon.ico", "", nil); rec.Code != http.StatusOK ||
		rec.Header().Get("Content-Type") != "image/x-icon" || !bytes.HasPrefix(rec.Body.Bytes(), []byte{0, 0, 1, 0}) {
		t.Errorf("/favicon.ico: %d %q % x", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()[:min(rec.Body.Len(), 4)])
	}
	// The reference's document lists only this server, so "try it" calls it;
	// it holds the events too, and every operation's code samples.
	rec := f.do(t, http.MethodGet, "/docs/reference.json", "", nil)
	var doc struct {
		Servers  []struct{ URL string }                `json:"servers"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
		Webhooks map[string]json.RawMessage            `json:"webhooks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Errorf("reference servers: %+v (%v)", doc.Servers, err)
	}
	if len(doc.Webhooks) == 0 {
		t.Error("the reference has no webhook events")
	}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				CodeSamples []struct{ Lang, Label, Source string } `json:"x-codeSamples"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if labels := len(op.CodeSamples); labels < 5 {
				t.Errorf("%s %s: %d code samples, want the five languages", method, path, labels)
			}
		}
	}
	// The bundle is embedded: the script the page loads is served, gzipped
	// when asked; the page loads nothing from another host.
	page := f.do(t, http.MethodGet, "/docs/", "", nil)
	m := regexp.MustCompile(`src="(/docs/assets/scalar-[0-9.]+/standalone\.js)"`).FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("docs page does not load the bundle: %s", page.Body)
	}
	if js := f.do(t, http.MethodGet, m[1], "", map[string]string{"Accept-Encoding": "identity"}); js.Code != http.StatusOK || js.Body.Len() < 1_000_000 {
		t.Errorf("embedded bundle: %d, %d bytes", js.Code, js.Body.Len())
	}
	if js := f.do(t, http.MethodGet, m[1], "", map[string]string{"Accept-Encoding": "gzip"}); js.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("the bundle is not gzipped for a browser that takes gzip")
	}
	if strings.Contains(page.Body.String(), "//") && regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page.Body.String()) {
		t.Errorf("docs page loads something from another host")
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("docs page CSP: %q", csp)
	}
	// The events' old page is now a section of the reference.
	if rec := f.do(t, http.MethodGet, "/docs/webhooks/", "", nil); rec.Code != http.StatusMovedPermanently ||
		rec.Header().Get("Location") != "/docs/#tag/webhook-events" {
		t.Errorf("/docs/webhooks/: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestReadyzFailsWhenTheDatabaseIsGone(t *testing.T) {
	f := newFixture(t, httpapi.ValidateStrict, nil)
	f.db.Close()
	rec := f.do(t, http.MethodGet, "/readyz", "", nil)
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, http.MethodGet, "/healthz", "", nil); rec.Code != http.StatusOK {
		t.Errorf("healthz is about the process, not the database: %d", rec.Code)
	}
}

func TestPanicsBecomeTheEnvelope(t *testing.T) {
	f := newFixture(t, httpapi.ValidateStrict, func(impl.LeadStore) impl.LeadStore { return panicky{} })
	rec := f.do(t, http.MethodGet, "/api/v1/leads/1", "", f.bearer())
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"internal_error"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "boom") || !strings.Contains(f.logs.String(), "boom") {
		t.Errorf("panic text must be logged, not returned: body %s", rec.Body)
	}
}

type panicky struct{ impl.LeadStore }

func (panicky) FindLeadByID(context.Context, int64, int64) (*impl.Lead, error) { panic("boom") }
