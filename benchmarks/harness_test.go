package benchmarks

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	_ "github.com/lib/pq"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// Requests are served by calling ServeHTTP with an httptest.ResponseRecorder,
// not over a loopback httptest.Server. On this two-core machine a loopback
// client would compete with the server for the same cores, and its own
// allocations, TCP and HTTP/1.1 parsing would land in ns/op and B/op; the
// question here is what the server's stack costs per request, and in
// particular what validation adds, which the recorder isolates. End-to-end
// throughput over the network is a load test's job, not a microbenchmark's.

// database is a kind of database the benchmarks run on. fresh returns a new,
// empty database that lives until b ends, or false when that kind is not
// available (PostgreSQL without TEST_POSTGRES_URL).
type database struct {
	name  string
	fresh func(testing.TB) (sqlstoretest.Database, bool)
}

var databases = []database{
	{"sqlite", func(tb testing.TB) (sqlstoretest.Database, bool) { return sqlstoretest.SQLite(tb), true }},
	{"postgres", sqlstoretest.Postgres},
}

// freshDatabase returns a new database of kind db or skips b.
func freshDatabase(b *testing.B, db database) string {
	b.Helper()
	d, ok := db.fresh(b)
	if !ok {
		b.Skip("TEST_POSTGRES_URL is not set; run through scripts/bench.sh for PostgreSQL figures")
	}
	return d.URL
}

// validation is a setting of the two validation layers.
type validation struct {
	name               string
	responseValidation string
	disableRequest     bool
}

var validations = []validation{
	// What tests and CI run; production's "log" mode does the same work.
	{"validation=on", "strict", false},
	{"validation=off", "off", true},
}

// start opens the service on databaseURL with rate limits high enough never
// to bite, and a logger that formats every access-log line and discards it.
func start(b *testing.B, databaseURL string, v validation) *app.App {
	b.Helper()
	cfg := app.Defaults()
	cfg.DatabaseURL = databaseURL
	cfg.ResponseValidation, cfg.DisableRequestValidation = v.responseValidation, v.disableRequest
	cfg.RatePerMinute, cfg.RatePerDay = math.MaxInt32, math.MaxInt32
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		b.Fatalf("start service: %v", err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}

// newOrganization creates an organization with one API key and returns the
// organization and the key's plain text.
func newOrganization(b *testing.B, a *app.App) (*impl.Organization, string) {
	b.Helper()
	ctx := context.Background()
	org := &impl.Organization{Name: "bench"}
	if err := a.Stores.Organizations.CreateOrganization(ctx, org); err != nil {
		b.Fatalf("create organization: %v", err)
	}
	_, key, err := auth.Issue(ctx, a.Stores.APIKeys, org.ID, "bench")
	if err != nil {
		b.Fatalf("issue key: %v", err)
	}
	return org, key
}

// newRequest builds an API request authenticated with key.
func newRequest(method, target, key string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// serve runs req through h and fails the benchmark unless the status is
// want, so that an error path is never measured by accident.
func serve(b *testing.B, h http.Handler, req *http.Request, want int) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL, rec.Code, want, rec.Body.String())
	}
	return rec
}

// listTotal returns meta.total of a GET /leads response.
func listTotal(b *testing.B, rec *httptest.ResponseRecorder) (total int64, page int) {
	b.Helper()
	var body struct {
		Data []json.RawMessage `json:"data"`
		Meta struct {
			Total int64 `json:"total"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		b.Fatalf("decode lead list: %v", err)
	}
	return body.Meta.Total, len(body.Data)
}

// temperatureShare is the seeded mix, in twentieths: a pipeline where most
// leads are cold and a tenth are hot.
var temperatureShare = []struct {
	temperature string
	twentieths  int
}{
	{impl.TemperatureHot, 2},
	{impl.TemperatureWarm, 4},
	{impl.TemperatureCool, 5},
	{impl.TemperatureCold, 7},
	{impl.TemperatureFrozen, 2},
}

// seedTemperature returns the temperature of the i-th seeded lead.
func seedTemperature(i int) string {
	k := i % 20
	for _, s := range temperatureShare {
		if k < s.twentieths {
			return s.temperature
		}
		k -= s.twentieths
	}
	panic("temperature shares do not add up to 20")
}

// seedEmail is the e-mail address of the i-th seeded lead.
func seedEmail(i int) string { return fmt.Sprintf("lead%05d@empresa%d.com.br", i, i%97) }

var (
	firstNames = []string{"Maria", "João", "Ana", "Pedro", "Juliana", "Carlos", "Fernanda", "Lucas"}
	lastNames  = []string{"Santos", "Silva", "Oliveira", "Souza", "Lima", "Pereira", "Costa"}
	companies  = []string{"Tech Corp", "Empresa LTDA", "Comércio Brasil", "Agro Sul", "Nuvem SA"}
)

// seedLeads stores n leads in the organization straight through the store,
// not through HTTP, with a realistic spread of optional fields.
func seedLeads(b *testing.B, a *app.App, orgID int64, n int) {
	b.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		name := firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
		email := seedEmail(i)
		lead := &impl.Lead{
			Phone:       fmt.Sprintf("5511%09d", i),
			Name:        &name,
			Email:       &email,
			Temperature: seedTemperature(i),
			LeadScore:   int32(rng.IntN(101)),
		}
		if rng.IntN(3) > 0 {
			company := companies[rng.IntN(len(companies))]
			lead.CompanyName = &company
			deal := float64(1000 * (1 + rng.IntN(50)))
			lead.DealValue = &deal
		}
		if err := a.Stores.Leads.CreateLead(ctx, orgID, lead); err != nil {
			b.Fatalf("seed lead %d: %v", i, err)
		}
	}
}

// settle brings a freshly seeded database to the state it would reach in
// service before it is measured. PostgreSQL's autovacuum analyzes a table
// within a minute of thousands of inserts, and the planner then changes its
// plan for some filters (temperature=hot goes from a sort of the 1,000 hot
// leads to a backward walk of the created_at index), so run ANALYZE now
// instead of letting autovacuum land in the middle of a measurement. SQLite
// never analyzes by itself and the service does not ask it to, so a SQLite
// database is left exactly as the service would leave it. It analyzes
// tables (leads when none is named).
func settle(b *testing.B, a *app.App, databaseURL string, tables ...string) {
	b.Helper()
	if a.Stores.DB.Dialect() != sqlstore.Postgres {
		return
	}
	db, err := sql.Open("postgres", databaseURL)
	if err != nil {
		b.Fatalf("open %s: %v", a.Stores.DB.Dialect(), err)
	}
	defer db.Close()
	if len(tables) == 0 {
		tables = []string{"leads"}
	}
	for _, t := range tables {
		if _, err := db.Exec("ANALYZE " + t); err != nil {
			b.Fatalf("analyze %s: %v", t, err)
		}
	}
}

// smoke is set by BENCH_SMOKE=1: make test runs every benchmark once that
// way, so that a benchmark that stopped working fails CI (the WhatsApp
// Cloud ones failed unnoticed for a while). Its figures mean nothing.
var smoke = os.Getenv("BENCH_SMOKE") == "1"

// sized is full, or small in a smoke run.
func sized(full, small int) int {
	if smoke {
		return small
	}
	return full
}
