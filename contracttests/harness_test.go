package contracttests

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/contract"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// TestMain removes, when the package's tests end, the server binary the
// delivery-guarantee tests build on first use.
func TestMain(m *testing.M) {
	code := m.Run()
	guaranteesRemoveBinary()
	os.Exit(code)
}

// target is one server the suite runs against.
type target struct {
	name    string
	baseURL string // ends in /api/v1
	key     string // a key of the main organization

	// In-process targets only: the way into the database (tests get it
	// from tg.seed), its URL and the main organization's id.
	seeder *seeder
	dbURL  string
	orgID  int64
}

// remote reports whether the target is a server the suite did not start.
func (tg *target) remote() bool { return tg.seeder == nil }

// forEachTarget runs fn as a subtest per target.
func forEachTarget(t *testing.T, fn func(t *testing.T, tg *target)) {
	t.Helper()
	if base := os.Getenv("CONTRACT_BASE_URL"); base != "" {
		key := os.Getenv("CONTRACT_API_KEY")
		if key == "" {
			t.Fatal("CONTRACT_BASE_URL is set but CONTRACT_API_KEY is not")
		}
		t.Run("remote", func(t *testing.T) {
			fn(t, &target{name: "remote", baseURL: strings.TrimSuffix(base, "/"), key: key})
		})
		return
	}
	for _, db := range sqlstoretest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			fn(t, startInProcess(t, db.URL, app.DefaultRatePerMinute*1000, app.DefaultRatePerDay*1000))
		})
	}
}

// Why a test runs only against servers it starts itself.
const (
	needsLoopback = "needs the in-process server: a remote server cannot deliver to this machine's loopback receivers"
	needsFakes    = "points the server at a fake Graph API, which only an in-process target can do"
)

// skipRemote skips the test, saying why, when the suite runs against a
// remote server.
func skipRemote(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CONTRACT_BASE_URL") != "" {
		t.Skip(why)
	}
}

// forEachDatabase runs fn as a subtest per database, for tests that start
// in-process servers of their own, configured in ways no remote server can
// be (why): under CONTRACT_BASE_URL they skip.
func forEachDatabase(t *testing.T, why string, fn func(t *testing.T, db sqlstoretest.Database)) {
	t.Helper()
	skipRemote(t, why)
	for _, db := range sqlstoretest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) { fn(t, db) })
	}
}

// startInProcess runs the service on dbURL with strict response validation
// and an organization with one key.
func startInProcess(t testing.TB, dbURL string, perMinute, perDay int) *target {
	return startInProcessWith(t, dbURL, func(c *app.Config) { c.RatePerMinute, c.RatePerDay = perMinute, perDay })
}

// startInProcessWith is startInProcess with the configuration adjusted by
// configure, for tests that point the providers at fakes.
func startInProcessWith(t testing.TB, dbURL string, configure func(*app.Config)) *target {
	t.Helper()
	ctx := context.Background()
	cfg := app.Defaults()
	cfg.DatabaseURL = dbURL
	cfg.ResponseValidation = "strict"
	cfg.RatePerMinute, cfg.RatePerDay = app.DefaultRatePerMinute*1000, app.DefaultRatePerDay*1000
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	// Off in tests: a test syncs when it means to.
	cfg.TemplateSyncInterval = 0
	configure(&cfg)
	a, err := app.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("start service: %v", err)
	}
	// Served as serve serves it: net/http's own answers to what is not
	// HTTP leave as the envelope.
	srv := httptest.NewUnstartedServer(a.Server)
	srv.Listener = httpapi.EnvelopeProtocolErrors(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if n := a.Server.ResponseViolations(); n != 0 {
			t.Errorf("the server saw %d responses violating the spec (strict mode turned them into 500s)", n)
		}
		a.Close()
	})
	seed := &seeder{stores: a.Stores, app: a}
	tg := &target{name: "in-process", baseURL: srv.URL + "/api/v1", seeder: seed, dbURL: dbURL}
	main := seed.Organization(t, "Org A")
	tg.key, tg.orgID = main.Key, main.ID
	// What `serve --dev` gives a new installation, so the API reference's
	// examples run verbatim.
	seed.Messaging(t, tg.orgID)
	// And, as `serve --dev` does, the examples' contact has written, so
	// that their WhatsApp text, which needs the 24-hour window open, works.
	seed.DevContactWrote(t)
	return tg
}

// newOrg returns a key of another organization. On a remote target it is
// CONTRACT_API_KEY_B, or the test skips.
func (tg *target) newOrg(t testing.TB, name string) string {
	t.Helper()
	if tg.remote() {
		return envOrSkip(t, "CONTRACT_API_KEY_B", "a second organization")
	}
	return tg.seed(t).Organization(t, name).Key
}

// freshOrg gives a test an empty organization of its own, for assertions on
// totals. Remote targets skip: their organizations are not empty.
func (tg *target) freshOrg(t testing.TB) string {
	t.Helper()
	if tg.remote() {
		t.Skip("needs an empty organization, which a remote target cannot provide")
	}
	return tg.newOrg(t, t.Name())
}

// revokedKey returns a key that has been revoked. On a remote target it is
// CONTRACT_REVOKED_API_KEY, or the test skips.
func (tg *target) revokedKey(t testing.TB) string {
	t.Helper()
	if tg.remote() {
		return envOrSkip(t, "CONTRACT_REVOKED_API_KEY", "a revoked key")
	}
	seed := tg.seed(t)
	org := seed.Organization(t, "revoked")
	seed.RevokeKey(t, org)
	return org.Key
}

func envOrSkip(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("needs %s: set %s", what, name)
	}
	return v
}

// authStyle is how a client presents its key.
type authStyle int

const (
	bearer authStyle = iota
	xAPIKey
	noKey
)

func (s authStyle) String() string {
	return [...]string{"Bearer", "X-API-Key", "none"}[s]
}

// client returns a typed client presenting key in the given style, whose
// every response is validated against the spec.
func (tg *target) client(t testing.TB, key string, style authStyle) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses(tg.baseURL,
		client.WithHTTPClient(&http.Client{Transport: newValidatingTransport(t, tg.baseURL)}),
		client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			// The suite checks the English wording of field messages; the
			// Portuguese default has tests of its own (language_test.go).
			req.Header.Set("Accept-Language", "en")
			switch style {
			case bearer:
				req.Header.Set("Authorization", "Bearer "+key)
			case xAPIKey:
				req.Header.Set("X-API-Key", key)
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// raw sends a request the typed client cannot express (malformed bodies,
// odd methods) through the same validating transport.
func (tg *target) raw(t testing.TB, key, method, path, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, tg.baseURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept-Language", "en")
	res, err := (&http.Client{Transport: newValidatingTransport(t, tg.baseURL)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

var (
	specRouter = map[string]routers.Router{}
	specMu     sync.Mutex
)

// routerFor returns a spec router matching requests under baseURL.
func routerFor(t testing.TB, baseURL string) routers.Router {
	t.Helper()
	specMu.Lock()
	defer specMu.Unlock()
	if r, ok := specRouter[baseURL]; ok {
		return r
	}
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	spec.Servers = openapi3.Servers{{URL: baseURL}}
	r, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	specRouter[baseURL] = r
	return r
}

// validatingTransport checks every response against the spec: the status
// must be one the operation documents, and headers and body must match.
type validatingTransport struct {
	t      testing.TB
	router routers.Router
}

func newValidatingTransport(t testing.TB, baseURL string) *validatingTransport {
	return &validatingTransport{t: t, router: routerFor(t, baseURL)}
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))

	// Every error, documented route or not, is the JSON envelope.
	if res.StatusCode >= 400 {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			v.t.Errorf("%s %s: %d with Content-Type %q, want application/json", req.Method, req.URL.Path, res.StatusCode, ct)
		}
		if !bytes.Contains(body, []byte(`"error"`)) {
			v.t.Errorf("%s %s: %d without the error envelope: %s", req.Method, req.URL.Path, res.StatusCode, body)
		}
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return res, nil // not an operation of the spec (404/405 probes)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route, Options: contract.ResponseOptions(),
		},
		Status:  res.StatusCode,
		Header:  res.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: contract.ResponseOptions(),
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		v.t.Errorf("%s %s: response %d violates the spec: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
	return res, nil
}

// uniquePhone returns a Brazilian mobile number no other test uses, so
// tests can share a remote server's organization.
func uniquePhone(t testing.TB) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("55119%08d", n.Int64())
}

func ptr[T any](v T) *T { return &v }
