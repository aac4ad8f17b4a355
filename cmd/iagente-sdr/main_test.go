package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/internal/syncbuf"
)

type env map[string]string

func (e env) get(k string) string { return e[k] }

func runCmd(t *testing.T, e env, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, e.get, &out, &errOut)
	return out.String(), err
}

func sqliteEnv(t *testing.T) env {
	return env{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "cli.db")}
}

var keyRe = regexp.MustCompile(`sk_live_[0-9A-Za-z]{43}`)

func TestOrgsAndKeys(t *testing.T) {
	e := sqliteEnv(t)
	out, err := runCmd(t, e, "migrate")
	if err != nil || !strings.Contains(out, "applied migrations") {
		t.Fatalf("migrate: %v %q", err, out)
	}
	if out, err = runCmd(t, e, "migrate"); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %v %q", err, out)
	}

	out, err = runCmd(t, e, "orgs", "create", "Acme", "Ltda", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		OrganizationID   int64  `json:"organization_id"`
		OrganizationName string `json:"organization_name"`
		KeyID            int64  `json:"key_id"`
		KeyPrefix        string `json:"key_prefix"`
		APIKey           string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("orgs create --json printed %q: %v", out, err)
	}
	if created.OrganizationName != "Acme Ltda" || !keyRe.MatchString(created.APIKey) || !strings.HasPrefix(created.APIKey, created.KeyPrefix) {
		t.Fatalf("orgs create: %+v", created)
	}

	out, err = runCmd(t, e, "keys", "create", "--org", fmt.Sprint(created.OrganizationID), "--name", "zapier")
	if err != nil || !keyRe.MatchString(out) {
		t.Fatalf("keys create: %v %q", err, out)
	}
	second := keyRe.FindString(out)

	out, err = runCmd(t, e, "keys", "list", "--org", fmt.Sprint(created.OrganizationID))
	if err != nil || !strings.Contains(out, "zapier") || !strings.Contains(out, created.KeyPrefix) {
		t.Fatalf("keys list: %v %q", err, out)
	}
	if strings.Contains(out, created.APIKey) || strings.Contains(out, second) {
		t.Fatalf("keys list shows a whole key: %q", out)
	}

	out, err = runCmd(t, e, "keys", "revoke", "--org", fmt.Sprint(created.OrganizationID), fmt.Sprint(created.KeyID))
	if err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke: %v %q", err, out)
	}
	out, err = runCmd(t, e, "keys", "list", "--org", fmt.Sprint(created.OrganizationID), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 || rows[0]["revoked_at"] == nil || rows[1]["revoked_at"] != nil {
		t.Fatalf("keys list --json after revoke: %v %s", err, out)
	}

	// Another organization cannot revoke this one's key.
	other, err := runCmd(t, e, "orgs", "create", "Other", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		OrganizationID int64 `json:"organization_id"`
	}
	_ = json.Unmarshal([]byte(other), &o)
	if _, err := runCmd(t, e, "keys", "revoke", "--org", fmt.Sprint(o.OrganizationID), "2"); err == nil {
		t.Fatal("revoking another organization's key should fail")
	}
}

func TestUsageErrors(t *testing.T) {
	e := sqliteEnv(t)
	for _, args := range [][]string{
		{"frobnicate"},
		{"orgs"},
		{"orgs", "create"},
		{"keys", "create"},
		{"keys", "revoke", "--org", "1"},
		{"keys", "explode", "--org", "1"},
		// Text no database keeps alike (a NUL: PostgreSQL refuses it).
		{"orgs", "create", "Acme\x00"},
		{"orgs", "create", "Acme\x1b[0m"},
		{"keys", "create", "--org", "1", "--name", "crm\x00"},
		{"keys", "create", "--org", "1", "--name", " "},
		{"migrate", "extra"},
	} {
		_, err := runCmd(t, e, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
	if _, err := runCmd(t, env{"DATABASE_URL": "mysql://x"}, "migrate"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("bad DATABASE_URL: %v", err)
	}
	if _, err := runCmd(t, env{"RATE_LIMIT_PER_MINUTE": "zero"}, "migrate"); err == nil {
		t.Error("bad RATE_LIMIT_PER_MINUTE accepted")
	}
}

// TestHelpListsNoFake: the fakes are iagente-mock's; this binary neither
// offers nor links them (go list -deps ./cmd/iagente-sdr shows no mocks/).
func TestHelpListsNoFake(t *testing.T) {
	out, err := runCmd(t, env{}, "help")
	if err != nil || !strings.Contains(out, "iagente-sdr migrate") {
		t.Fatalf("help: %v %q", err, out)
	}
	if strings.Contains(out, "mock") || strings.Contains(out, "receiver") {
		t.Errorf("help still lists a fake:\n%s", out)
	}
	_, err = runCmd(t, env{}, "mock", "receiver", "--addr", ":9003")
	if !isUsage(err) || !strings.Contains(err.Error(), "iagente-mock receiver --addr :9003") {
		t.Errorf("the old subcommand: %v, want a usage error naming iagente-mock", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeDev starts the whole binary in-process the way `make run` does
// and uses the key it prints.
func TestServeDev(t *testing.T) {
	e := sqliteEnv(t)
	addr := freePort(t)
	e["LISTEN_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--dev"}, e.get, &out, &logs) }()

	var key string
	deadline := time.Now().Add(60 * time.Second)
	for key == "" && time.Now().Before(deadline) {
		key = keyRe.FindString(out.String())
		time.Sleep(20 * time.Millisecond)
	}
	if key == "" {
		cancel()
		t.Fatalf("no key printed: %s\nlogs: %s", out.String(), logs.String())
	}
	if !strings.Contains(out.String(), "curl -X GET") || !strings.Contains(out.String(), "/docs/") {
		t.Errorf("banner lacks the curl line or the docs link: %s", out.String())
	}
	var res *http.Response
	var err error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/leads", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if res, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /leads with the printed key: %d", res.StatusCode)
	}
	// What net/http refuses before any handler runs leaves as the envelope.
	if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
		t.Error(err)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, "HELLO\r\n\r\n")
		raw, _ := io.ReadAll(conn)
		conn.Close()
		if !bytes.HasPrefix(raw, []byte("HTTP/1.1 400 ")) || !bytes.Contains(raw, []byte("Content-Type: application/json")) ||
			!bytes.Contains(raw, []byte(`{"error":{"code":"bad_request"`)) {
			t.Errorf("a request that is not HTTP: %q", raw)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v after cancel", err)
	}
	if strings.Contains(logs.String(), key) {
		t.Error("the dev key reached the logs")
	}

	// A second start does not mint another key silently, and says how to.
	ctx2, cancel2 := context.WithCancel(context.Background())
	var out2, logs2 syncbuf.Buffer
	done2 := make(chan error, 1)
	go func() { done2 <- run(ctx2, []string{"serve", "--dev"}, e.get, &out2, &logs2) }()
	deadline2 := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline2) && !strings.Contains(out2.String(), "keys create") {
		time.Sleep(20 * time.Millisecond)
	}
	cancel2()
	<-done2
	if keyRe.MatchString(out2.String()) || !strings.Contains(out2.String(), "keys create") {
		t.Errorf("second start printed: %s", out2.String())
	}
}

// TestPprofOnlyOnLoopback: PPROF_ADDR is bound to loopback or the start is
// refused, naming the setting; a loopback listener serves the profiles.
func TestPprofOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "6060", "127.0.0.1"} {
		if ln, err := pprofListen(addr); err == nil {
			ln.Close()
			t.Errorf("PPROF_ADDR=%s was accepted, bound to %s", addr, ln.Addr())
		} else if !strings.Contains(err.Error(), "PPROF_ADDR") {
			t.Errorf("PPROF_ADDR=%s: %v, want the setting named", addr, err)
		}
	}
	ln, err := pprofListen("localhost:0")
	if err != nil {
		t.Fatalf("localhost: %v", err)
	}
	servePprof(ln, slog.New(slog.DiscardHandler))
	defer ln.Close()
	res, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("the profiles on loopback: %d %.80s", res.StatusCode, body)
	}

	// serve refuses to start on it, before it opens the database.
	e := sqliteEnv(t)
	e["LISTEN_ADDR"], e["PPROF_ADDR"] = freePort(t), ":0"
	var out, logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a serve that started stops
	defer cancel()
	if err := run(ctx, []string{"serve"}, e.get, &out, &logs); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("serve with PPROF_ADDR=:0: %v, want it refused", err)
	}
}
