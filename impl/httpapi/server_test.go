package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/ratelimit"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	srv  *httpapi.Server
	db   *sqlstore.DB
	key  string
	lead *impl.Lead
	logs *syncBuffer
}

func newFixture(t *testing.T, mode string, wrap func(impl.LeadStore) impl.LeadStore) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, sqlstoretest.SQLite(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st := sqlstore.NewStores(db)
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
	logs := &syncBuffer{}
	srv, err := httpapi.NewServer(httpapi.Config{
		Leads:              leads,
		Auth:               &auth.Authenticator{Keys: st.APIKeys, Now: time.Now},
		Limiter:            ratelimit.NewMemory(1000, 1000),
		Logger:             slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ResponseValidation: mode,
		Ready:              db.Ping,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, db: db, key: key, lead: lead, logs: logs}
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
		{"/docs/openapi.json", "application/json", `"url":"/api/v1"`},
		{"/docs/", "text/html", "swagger"},
		{"/healthz", "application/json", `"ok"`},
		{"/readyz", "application/json", `"ready"`},
	} {
		rec := f.do(t, http.MethodGet, tc.path, "", nil)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.contentType) ||
			!strings.Contains(strings.ToLower(rec.Body.String()), strings.ToLower(tc.contains)) {
			t.Errorf("%s: %d %q, body lacks %q", tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.contains)
		}
	}
	// The docs' spec lists only this server, so "Try it out" calls it.
	rec := f.do(t, http.MethodGet, "/docs/openapi.json", "", nil)
	var spec struct {
		Servers []struct{ URL string } `json:"servers"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &spec); err != nil || len(spec.Servers) != 1 || spec.Servers[0].URL != "/api/v1" {
		t.Errorf("docs servers: %+v (%v)", spec.Servers, err)
	}
	// Swagger UI's assets are embedded: a script the page loads is served.
	page := f.do(t, http.MethodGet, "/docs/", "", nil).Body.String()
	if !strings.Contains(page, "swagger-ui-bundle.js") {
		t.Fatalf("docs page does not load the bundle: %s", page)
	}
	if js := f.do(t, http.MethodGet, "/docs/swagger-ui-bundle.js", "", map[string]string{"Accept-Encoding": "identity"}); js.Code != http.StatusOK || js.Body.Len() < 100_000 {
		t.Errorf("embedded swagger-ui-bundle.js: %d, %d bytes", js.Code, js.Body.Len())
	}
	if strings.Contains(page, "cdn") || strings.Contains(page, "unpkg") {
		t.Errorf("docs page refers to a CDN")
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
