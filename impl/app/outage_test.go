package app_test

// How the service behaves when its database is frozen, locked or gone: it
// answers 503 service_unavailable with Retry-After instead of hanging or
// saying 500, /readyz says so within its 2 s, and it recovers on its own.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
)

// outageDBTimeout keeps the test short; the service's default is 5 s.
const outageDBTimeout = time.Second

type outageEnv struct {
	srv  *httptest.Server
	a    *app.App
	key  string
	org  int64
	logs *syncbuf.Buffer // the service's log, as JSON lines
}

func startOutageApp(t *testing.T, dbURL string, options ...func(*app.Config)) *outageEnv {
	t.Helper()
	cfg := app.Defaults()
	cfg.DatabaseURL = dbURL
	cfg.ResponseValidation = "strict"
	cfg.DBTimeout = outageDBTimeout
	cfg.WebhookDispatchOff = true
	for _, o := range options {
		o(&cfg)
	}
	logs := &syncbuf.Buffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Server)
	t.Cleanup(func() {
		srv.Close()
		if n := a.Server.ResponseViolations(); n != 0 {
			t.Errorf("%d responses violated the spec", n)
		}
		a.Close()
	})
	org := &impl.Organization{Name: "Outage"}
	if err := a.Stores.Organizations.CreateOrganization(context.Background(), org); err != nil {
		t.Fatal(err)
	}
	_, key, err := auth.Issue(context.Background(), a.Stores.APIKeys, org.ID, "outage")
	if err != nil {
		t.Fatal(err)
	}
	return &outageEnv{srv: srv, a: a, key: key, org: org.ID, logs: logs}
}

// do sends a request with a client that gives up well after the answer is
// due: a hang fails the test instead of stalling it.
func (e *outageEnv) do(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Timeout: outageDBTimeout + 5*time.Second}
	start := time.Now()
	res, err := client.Do(req)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: no answer after %s: %v", method, path, took, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b, took
}

// wantUnavailable checks a 503 with Retry-After and the envelope.
func wantUnavailable(t *testing.T, what string, res *http.Response, body []byte) {
	t.Helper()
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(body, &env)
	if res.StatusCode != http.StatusServiceUnavailable || env.Error.Code != impl.EUnavailable ||
		res.Header.Get("Retry-After") == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: %d %s (Retry-After %q); want 503 service_unavailable with Retry-After",
			what, res.StatusCode, body, res.Header.Get("Retry-After"))
	}
}

// TestFrozenPostgres stops every process of a private PostgreSQL cluster
// (SIGSTOP, as a hung host or a stalled disk would), then resumes it, then
// shuts it down.
func TestFrozenPostgres(t *testing.T) {
	cluster := startPrivateCluster(t)
	e := startOutageApp(t, cluster.url)
	res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990001"}`)
	var lead struct{ ID int64 }
	if res.StatusCode != http.StatusCreated || json.Unmarshal(b, &lead) != nil || lead.ID == 0 {
		t.Fatalf("before the freeze: %d %s", res.StatusCode, b)
	}

	cluster.signal(t, syscall.SIGSTOP)
	thawed := false
	defer func() {
		if !thawed {
			cluster.signal(t, syscall.SIGCONT)
		}
	}()
	res, b, took := e.do(t, "GET", "/api/v1/leads", "")
	wantUnavailable(t, "GET /leads on a frozen database", res, b)
	t.Logf("GET /leads answered %d after %s (DB_TIMEOUT %s)", res.StatusCode, took.Round(time.Millisecond), outageDBTimeout)
	// A read of one row by its key runs without the request's cancellation
	// (sqlstore.oneRow): the session's timeout still ends it.
	res, b, took = e.do(t, "GET", fmt.Sprintf("/api/v1/leads/%d", lead.ID), "")
	wantUnavailable(t, "GET /leads/{id} on a frozen database", res, b)
	t.Logf("GET /leads/{id} answered %d after %s", res.StatusCode, took.Round(time.Millisecond))
	res, b, took = e.do(t, "GET", "/readyz", "")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz on a frozen database: %d %s", res.StatusCode, b)
	}
	t.Logf("/readyz answered %d after %s", res.StatusCode, took.Round(time.Millisecond))
	res, b, _ = e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990002"}`, "Idempotency-Key", "frozen-1")
	wantUnavailable(t, "POST /leads on a frozen database", res, b)

	cluster.signal(t, syscall.SIGCONT)
	thawed = true
	if !eventually(15*time.Second, func() bool {
		res, _, _ := e.do(t, "GET", "/api/v1/leads", "")
		return res.StatusCode == http.StatusOK
	}) {
		t.Fatal("the service did not recover within 15s of the database resuming")
	}
	// The key of the request the outage stopped was released: its retry runs.
	res, b, _ = e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990002"}`, "Idempotency-Key", "frozen-1")
	if res.StatusCode != http.StatusCreated || res.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("the retry after the outage: %d %s (replayed %q); want it to run", res.StatusCode, b, res.Header.Get("Idempotent-Replayed"))
	}
	if res, _, _ := e.do(t, "GET", "/readyz", ""); res.StatusCode != http.StatusOK {
		t.Errorf("/readyz after the outage: %d", res.StatusCode)
	}

	cluster.stop(t)
	res, b, _ = e.do(t, "GET", "/api/v1/leads", "")
	wantUnavailable(t, "GET /leads with the database shut down", res, b)
	res, b, _ = e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990003"}`)
	wantUnavailable(t, "POST /leads with the database shut down", res, b)
}

// TestPostgresRestart restarts the cluster under a running service, as an
// operator's restart or a failover does: every pooled connection, the
// dispatcher's and the notification listener's, is cut at once. No request
// may get a 500 (a request caught by the restart gets 503 and may be sent
// again); reads and writes work again on new connections, the dispatcher
// delivers what is committed after it, and an API key revoked after it is
// refused.
func TestPostgresRestart(t *testing.T) {
	cluster := startPrivateCluster(t)
	var delivered atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
	}))
	t.Cleanup(recv.Close)
	e := startOutageApp(t, cluster.url, func(c *app.Config) {
		c.WebhookDispatchOff, c.WebhookAllowPrivateTargets = false, true
	})
	var hook struct{ ID int64 }
	res, b, _ := e.do(t, "POST", "/api/v1/webhooks", `{"name":"restart","url":"`+recv.URL+`/hook","events":["lead.created"]}`)
	if res.StatusCode != http.StatusCreated || json.Unmarshal(b, &hook) != nil {
		t.Fatalf("create the webhook: %d %s", res.StatusCode, b)
	}
	if res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990101"}`); res.StatusCode != http.StatusCreated {
		t.Fatalf("before the restart: %d %s", res.StatusCode, b)
	}
	if !eventually(15*time.Second, func() bool { return delivered.Load() == 1 }) {
		t.Fatalf("before the restart: %d deliveries, want 1", delivered.Load())
	}
	for range 8 { // connections in the pool, to be cut
		e.do(t, "GET", "/api/v1/leads", "")
	}

	script, err := filepath.Abs("../../scripts/postgres.sh")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(script, "restart", cluster.dir).CombinedOutput(); err != nil {
		t.Fatalf("scripts/postgres.sh restart: %v\n%s", err, out)
	}

	// Every answer from here on is a success or a 503, never a 500.
	answered := func(what string, res *http.Response, b []byte, want int) bool {
		t.Helper()
		switch res.StatusCode {
		case want:
			return true
		case http.StatusServiceUnavailable:
			wantUnavailable(t, what, res, b)
			return false
		default:
			t.Fatalf("%s after the restart: %d %s", what, res.StatusCode, b)
			return false
		}
	}
	ok := 0
	for range 20 {
		res, b, _ := e.do(t, "GET", "/api/v1/leads", "")
		if answered("GET /leads", res, b, http.StatusOK) {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no GET /leads succeeded after the restart")
	}
	t.Logf("after the restart: %d of 20 GET /leads answered 200, the rest 503", ok)
	if !eventually(15*time.Second, func() bool {
		res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990102"}`, "Idempotency-Key", "after-restart")
		return answered("POST /leads", res, b, http.StatusCreated)
	}) {
		t.Fatal("POST /leads did not succeed within 15s of the restart")
	}
	// The dispatcher's own connections were cut too: it delivers the new
	// lead's event.
	if !eventually(15*time.Second, func() bool { return delivered.Load() == 2 }) {
		t.Errorf("after the restart: %d deliveries, want 2", delivered.Load())
	}
	// A key made and revoked after the restart is refused.
	var made struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	}
	res, b, _ = e.do(t, "POST", "/api/v1/api-keys", `{"name":"after the restart"}`)
	if !answered("POST /api-keys", res, b, http.StatusCreated) || json.Unmarshal(b, &made) != nil || made.Key == "" {
		t.Fatalf("create a key: %d %s", res.StatusCode, b)
	}
	other := &outageEnv{srv: e.srv, key: made.Key}
	if res, b, _ := other.do(t, "GET", "/api/v1/leads", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("the new key: %d %s", res.StatusCode, b)
	}
	if res, b, _ := e.do(t, "DELETE", fmt.Sprintf("/api/v1/api-keys/%d", made.ID), ""); !answered("DELETE /api-keys", res, b, http.StatusNoContent) {
		t.Fatalf("revoke the key: %d %s", res.StatusCode, b)
	}
	if !eventually(time.Second, func() bool {
		res, _, _ := other.do(t, "GET", "/api/v1/leads", "")
		return res.StatusCode == http.StatusUnauthorized
	}) {
		t.Error("the key revoked after the restart is still accepted after 1s")
	}
	// The restart did cut the service's connections: the listener saw it.
	if !strings.Contains(e.logs.String(), "notification listener lost its connection") {
		t.Error("the service's log does not show the listener losing its connection: was the cluster restarted under it?")
	}
}

// TestDashboardDuringAnOutage: a sign-in whose database work cannot be done
// now (the table it writes is locked past DB_TIMEOUT) gets the dashboard's
// page that says to come back in a moment, 503 with Retry-After, not the
// 500 of a defect; and works once the lock goes.
func TestDashboardDuringAnOutage(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := startOutageApp(t, d.URL)
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Jar: jar, Timeout: outageDBTimeout + 5*time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			signIn := func() (*http.Response, string) {
				t.Helper()
				res, err := client.Get(e.srv.URL + "/dashboard/login")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(b)
				if res.StatusCode != http.StatusOK || m == nil {
					t.Fatalf("the sign-in page: %d %s", res.StatusCode, b)
				}
				res, err = client.PostForm(e.srv.URL+"/dashboard/login", url.Values{"csrf_token": {string(m[1])},
					"email": {"ninguem@example.com"}, "password": {"not the password"}})
				if err != nil {
					t.Fatal(err)
				}
				b, _ = io.ReadAll(res.Body)
				res.Body.Close()
				return res, string(b)
			}
			release := holdTableLock(t, d, "login_failures")
			res, body := signIn()
			if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
				!strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "temporariamente indisponível") {
				t.Errorf("a sign-in behind a lock: %d (Retry-After %q) %s", res.StatusCode, res.Header.Get("Retry-After"), body)
			}
			if !strings.Contains(e.logs.String(), `"msg":"database unavailable"`) || strings.Contains(e.logs.String(), `"level":"ERROR"`) {
				t.Errorf("the log, want a warning and no error: %s", e.logs.String())
			}
			release()
			if res, body := signIn(); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "E-mail ou senha") {
				t.Errorf("the sign-in after the lock: %d %s", res.StatusCode, body)
			}
		})
	}
}

// TestLockedDatabase holds a lock the request needs, on both databases:
// the statement times out (PostgreSQL's statement_timeout, SQLite's busy
// timeout) and the answer is 503; once the lock goes, the same request works.
func TestLockedDatabase(t *testing.T) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			e := startOutageApp(t, d.URL)
			release := holdWriteLock(t, d)
			res, b, took := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990010"}`)
			wantUnavailable(t, "POST /leads behind a lock", res, b)
			t.Logf("answered %d after %s", res.StatusCode, took.Round(time.Millisecond))
			release()
			if res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990010"}`); res.StatusCode != http.StatusCreated {
				t.Errorf("after the lock: %d %s", res.StatusCode, b)
			}
		})
	}
}

// TestIdempotencySweepNeverFailsTheRequest: each claimed Idempotency-Key
// sweeps a batch of the organization's expired keys. Here another session
// holds one of those expired keys (PostgreSQL row locks let the test stall
// the sweep alone; SQLite's single writer lock would stall the claim too),
// so the sweep runs out of DB_TIMEOUT: the request still answers 201, its
// answer is kept for the retry, and the stalled sweep is only logged. Once
// the lock goes, the next key sweeps the expired one away.
func TestIdempotencySweepNeverFailsTheRequest(t *testing.T) {
	d, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL (TEST_POSTGRES_URL)")
	}
	e := startOutageApp(t, d.URL)
	db, expired := withExpiredKey(t, e, d)
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // released below, or on a failure
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM idempotency_keys WHERE organization_id = $1 AND key = 'expired-key' FOR UPDATE`, e.org); err != nil {
		t.Fatal(err)
	}

	body := `{"phone":"5511999990020"}`
	first, firstBody, took := e.do(t, "POST", "/api/v1/leads", body, "Idempotency-Key", "sweep-stalled")
	if first.StatusCode != http.StatusCreated {
		t.Fatalf("POST /leads with a new key while the sweep is stalled: %d %s after %s; want 201",
			first.StatusCode, firstBody, took.Round(time.Millisecond))
	}
	again, againBody, _ := e.do(t, "POST", "/api/v1/leads", body, "Idempotency-Key", "sweep-stalled")
	if again.StatusCode != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || string(againBody) != string(firstBody) {
		t.Errorf("the retry: %d replayed=%q %s; want the first answer replayed", again.StatusCode,
			again.Header.Get("Idempotent-Replayed"), againBody)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "sweep expired idempotency keys") {
		t.Errorf("the stalled sweep was not logged; the log:\n%s", logs)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990021"}`, "Idempotency-Key", "sweep-free"); res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /leads with another key: %d %s", res.StatusCode, b)
	}
	if expired() != 0 {
		t.Errorf("the expired key is still there after an unhindered sweep")
	}
}

// TestIdempotencyKeyWritesRetriedAfterAnOutage: when the database fails
// the write that ends a request's claim on its Idempotency-Key (giving the
// key back after a 503, or keeping a 201's answer), the write is retried
// once the database recovers, well within the claim's lease: the key's
// retry then runs, or replays, instead of answering 409
// idempotency_in_progress until the lease ends. PostgreSQL only: its row
// locks let the test fail the claim's write alone. The lease is two minutes
// here, so only the retried write can end the 409s within the 30 s allowed.
func TestIdempotencyKeyWritesRetriedAfterAnOutage(t *testing.T) {
	d, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL (TEST_POSTGRES_URL)")
	}
	e := startOutageApp(t, d.URL, func(c *app.Config) {
		c.SendTimeout = 2 * time.Minute
		c.RatePerMinute, c.RatePerDay = 10000, 100000 // the retries poll
	})
	db, err := sql.Open("postgres", d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	lock := func(t *testing.T, q string, args ...any) *sql.Tx {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback() })
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	post := func(key string, other ...string) (int, string, string) {
		hook := key
		if len(other) > 0 {
			hook = other[0] // another request with the same key
		}
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/webhooks",
			strings.NewReader(`{"name":"CRM","url":"https://crm.example.com/hooks/`+hook+`","events":["lead.created"]}`))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return 0, err.Error(), ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header.Get("Idempotent-Replayed")
	}
	for _, c := range []struct {
		name string
		want int // the first answer
		// unlockFirst lets the request past the organization's lock
		// before it ends, so that it stores its webhook and answers 201.
		unlockFirst bool
		log         string
	}{
		{name: "a 503's key given back", want: http.StatusServiceUnavailable, log: "keep idempotent answer"},
		{name: "a 201's answer kept", want: http.StatusCreated, unlockFirst: true, log: "keep idempotent answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := strings.ReplaceAll(c.name, " ", "-")
			logged := strings.Count(e.logs.String(), c.log)
			// The organization's row, which creating a webhook locks first
			// (NO KEY: the claim's foreign key check still passes).
			org := lock(t, `SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, e.org)
			type answer struct {
				status    int
				body, rep string
			}
			first := make(chan answer, 1)
			go func() {
				st, b, rep := post(key)
				first <- answer{st, b, rep}
			}()
			claimed := eventually(10*time.Second, func() bool {
				var n int
				_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys WHERE organization_id = $1 AND key = $2`, e.org, key).Scan(&n)
				return n == 1
			})
			if !claimed {
				t.Fatal("the request never claimed its key")
			}
			claim := lock(t, `SELECT key FROM idempotency_keys WHERE organization_id = $1 AND key = $2 FOR UPDATE`, e.org, key)
			if c.unlockFirst {
				_ = org.Rollback()
			}
			a := <-first
			if a.status != c.want {
				t.Fatalf("the first answer: %d %s, want %d", a.status, a.body, c.want)
			}
			if !eventually(10*time.Second, func() bool { return strings.Count(e.logs.String(), c.log) > logged }) {
				t.Fatalf("the claim's write did not fail; the log:\n%s", e.logs.String())
			}
			_ = org.Rollback()
			_ = claim.Rollback()
			// The claim's write done (given back, or the answer kept), in
			// the background: another request with the key is refused, the
			// key being the first's, and the same request runs or replays.
			if !eventually(30*time.Second, func() bool {
				var claimed int
				_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys WHERE organization_id = $1 AND key = $2
					AND status IS NULL AND locked_until > created_at`, e.org, key).Scan(&claimed)
				return claimed == 0
			}) {
				t.Fatal("the claim's write was not done 30 s after the database recovered")
			}
			if st, b, _ := post(key, key+"-other"); st != http.StatusUnprocessableEntity || !strings.Contains(b, "idempotency_key_reused") {
				t.Errorf("another request with the key: %d %s, want 422 idempotency_key_reused", st, b)
			}
			st, b, rep := post(key)
			last := answer{st, b, rep}
			switch {
			case c.want == http.StatusCreated && (last.status != http.StatusCreated || last.rep != "true" || last.body != a.body):
				t.Errorf("the retry: %d replayed=%q %s; want the first answer replayed:\n%s", last.status, last.rep, last.body, a.body)
			case c.want != http.StatusCreated && (last.status != http.StatusCreated || last.rep != ""):
				t.Errorf("the retry: %d replayed=%q %s; want it to run", last.status, last.rep, last.body)
			}
		})
	}
}

// withExpiredKey stores an Idempotency-Key of e's organization created two
// days ago, 'expired-key', and returns a connection to the database and a
// count of that key (1 until a sweep deletes it).
func withExpiredKey(t *testing.T, e *outageEnv, d sqlstoretest.Database) (*sql.DB, func() int) {
	t.Helper()
	db, err := sql.Open("postgres", d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO idempotency_keys (organization_id, key, fingerprint, status, locked_until, created_at)
		VALUES ($1, 'expired-key', '\x00', 201, now() - interval '2 days', now() - interval '2 days')`, e.org); err != nil {
		t.Fatal(err)
	}
	return db, func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM idempotency_keys WHERE organization_id = $1 AND key = 'expired-key'`, e.org).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// A request the database could not serve (503) sweeps nothing: an expired
// key survives it, and the next request that goes well sweeps it.
func TestNoIdempotencySweepAfterAnOutage(t *testing.T) {
	d, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL (TEST_POSTGRES_URL)")
	}
	e := startOutageApp(t, d.URL)
	_, expired := withExpiredKey(t, e, d)

	release := holdWriteLock(t, d) // leads only: the key's claim and release still work
	res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990030"}`, "Idempotency-Key", "outage-1")
	release()
	wantUnavailable(t, "POST /leads behind a lock", res, b)
	if expired() != 1 {
		t.Errorf("a request answered 503 swept the expired key")
	}
	if res, b, _ := e.do(t, "POST", "/api/v1/leads", `{"phone":"5511999990030"}`, "Idempotency-Key", "outage-1"); res.StatusCode != http.StatusCreated {
		t.Fatalf("the retry after the lock: %d %s", res.StatusCode, b)
	}
	if expired() != 0 {
		t.Errorf("the request that went well did not sweep the expired key")
	}
}

// holdWriteLock takes the database's write lock on leads from another
// connection and returns its release.
func holdWriteLock(t *testing.T, d sqlstoretest.Database) func() {
	t.Helper()
	return holdTableLock(t, d, "leads")
}

// holdTableLock takes the database's write lock (SQLite) or an exclusive
// lock on table (PostgreSQL) from another connection and returns its
// release.
func holdTableLock(t *testing.T, d sqlstoretest.Database, table string) func() {
	t.Helper()
	driver, dsn, lock := "postgres", d.URL, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"
	if d.Name == "sqlite" {
		driver, dsn, lock = "sqlite", "file:"+strings.TrimPrefix(d.URL, "sqlite:"), "INSERT INTO organizations (name, created_at) VALUES ('lock', CURRENT_TIMESTAMP)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	begin := "BEGIN"
	if d.Name == "sqlite" {
		begin = "BEGIN IMMEDIATE" // the write lock, at once
	}
	for _, q := range []string{begin, lock} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		conn.Close()
		db.Close()
	}
	t.Cleanup(release)
	return release
}

func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// privateCluster is a PostgreSQL cluster of this test alone, started by the
// project's scripts/postgres.sh, which the test may freeze and stop.
type privateCluster struct {
	dir, url string
	stopped  bool
}

func startPrivateCluster(t *testing.T) *privateCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster of its own; skipped under -short")
	}
	if os.Getenv("TEST_POSTGRES_URL") == "" && os.Getenv("REQUIRE_POSTGRES") != "1" {
		t.Skip("needs PostgreSQL: run through scripts/postgres.sh or make test")
	}
	script, err := filepath.Abs("../../scripts/postgres.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(script, "start").Output()
	if err != nil {
		t.Fatalf("scripts/postgres.sh start: %v", err)
	}
	c := &privateCluster{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		v = strings.Trim(v, `'`)
		switch k {
		case "PG_THROWAWAY_DIR":
			c.dir = v
		case "PG_ADMIN_URL":
			c.url = v
		}
	}
	if c.dir == "" || c.url == "" {
		t.Fatalf("scripts/postgres.sh start printed %q", out)
	}
	t.Cleanup(func() { c.stop(t) })
	return c
}

// signal sends sig to the cluster's postmaster and every process it started.
func (c *privateCluster) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	f, err := os.Open(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	pm, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	pids := append([]int{pm}, childrenOf(pm)...)
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("signal %d: %v", pid, err)
		}
	}
	t.Logf("sent %v to %d PostgreSQL processes", sig, len(pids))
}

func childrenOf(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

func (c *privateCluster) stop(t *testing.T) {
	if c.stopped {
		return
	}
	c.stopped = true
	script, _ := filepath.Abs("../../scripts/postgres.sh")
	if out, err := exec.Command(script, "stop", c.dir).CombinedOutput(); err != nil {
		t.Errorf("scripts/postgres.sh stop: %v\n%s", err, out)
	}
}
