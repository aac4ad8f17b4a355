package contracttests

// Real server processes for the delivery-guarantee tests: the iagente-sdr
// binary is built once per test binary (without -race, for speed) and run as
// `serve` subprocesses that the tests may kill -9.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

var (
	guaranteesBinOnce sync.Once
	guaranteesBinDir  string
	guaranteesBinPath string
	guaranteesBinErr  error
)

// guaranteesBinary builds ./cmd/iagente-sdr once per test binary and returns
// the executable's path.
func guaranteesBinary(t testing.TB) string {
	t.Helper()
	guaranteesBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "iagente-sdr-guarantees-")
		if err != nil {
			guaranteesBinErr = err
			return
		}
		guaranteesBinDir = dir
		bin := filepath.Join(dir, "iagente-sdr")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/iagente-sdr")
		cmd.Dir = ".." // the module root
		out, err := cmd.CombinedOutput()
		if err != nil {
			guaranteesBinErr = fmt.Errorf("go build ./cmd/iagente-sdr: %v\n%s", err, out)
			return
		}
		guaranteesBinPath = bin
	})
	if guaranteesBinErr != nil {
		t.Fatal(guaranteesBinErr)
	}
	return guaranteesBinPath
}

func guaranteesRemoveBinary() {
	if guaranteesBinDir != "" {
		_ = os.RemoveAll(guaranteesBinDir)
	}
}

// guaranteesPostgres skips under -short and returns a fresh PostgreSQL
// database, skipping (or, under REQUIRE_POSTGRES=1, failing) without one,
// as sqlstoretest does.
func guaranteesPostgres(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real server processes and delivers thousands of webhooks; skipped under -short")
	}
	db, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL: set TEST_POSTGRES_URL (or run through scripts/postgres.sh)")
	}
	return db.URL
}

// guaranteesEnv is the environment of every process the tests run: a
// minimal base (nothing inherited that the server reads) plus the delivery
// settings of the brief.
func guaranteesEnv(dbURL string, extra map[string]string) map[string]string {
	env := map[string]string{
		"DATABASE_URL":                  dbURL,
		"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
		"WEBHOOK_LEASE":                 "3s",
		"WEBHOOK_TIMEOUT":               "2s",
		"WEBHOOK_POLL_INTERVAL":         "50ms",
		"WEBHOOK_RETRY_SCHEDULE":        "200ms",
		// The server logs JSON (slog.JSONHandler) to stderr; "webhook
		// attempt" lines are at info.
		"LOG_LEVEL":             "info",
		"RATE_LIMIT_PER_MINUTE": "1000000",
		"RATE_LIMIT_PER_DAY":    "100000000",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func guaranteesEnviron(env map[string]string) []string {
	out := []string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// guaranteesCreateOrg runs `iagente-sdr orgs create NAME --json` against the
// database (which also migrates it) and returns the organization's API key.
func guaranteesCreateOrg(t testing.TB, bin string, env map[string]string, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "orgs", "create", name, "--json")
	cmd.Env = guaranteesEnviron(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("iagente-sdr orgs create: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var created struct {
		OrganizationID int64  `json:"organization_id"`
		APIKey         string `json:"api_key"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &created); err != nil || created.APIKey == "" {
		t.Fatalf("iagente-sdr orgs create --json printed %q: %v", stdout.String(), err)
	}
	return created.APIKey
}

// guaranteesServer is one `iagente-sdr serve` process.
type guaranteesServer struct {
	name       string
	baseURL    string // http://127.0.0.1:PORT
	cmd        *exec.Cmd
	stdoutPath string
	stderrPath string
	exited     chan struct{}
	waitErr    error
}

// guaranteesFreePort asks the kernel for an unused port. Another process may
// take it before the server binds it; startGuaranteesServer retries then.
func guaranteesFreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startGuaranteesServer starts `iagente-sdr serve` with env on a free port
// and waits for /readyz. Its output goes to files in a temp dir; their tails
// are printed if the test fails. The process is stopped when the test ends
// (unless the test killed it already).
func startGuaranteesServer(t *testing.T, bin string, env map[string]string, name string) *guaranteesServer {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for try := 1; try <= 3; try++ {
		s := &guaranteesServer{
			name:       name,
			stdoutPath: filepath.Join(dir, fmt.Sprintf("%s-%d.stdout", name, try)),
			stderrPath: filepath.Join(dir, fmt.Sprintf("%s-%d.stderr", name, try)),
			exited:     make(chan struct{}),
		}
		addr := fmt.Sprintf("127.0.0.1:%d", guaranteesFreePort(t))
		s.baseURL = "http://" + addr
		e := map[string]string{"LISTEN_ADDR": addr}
		for k, v := range env {
			e[k] = v
		}
		stdout, err := os.Create(s.stdoutPath)
		if err != nil {
			t.Fatal(err)
		}
		stderr, err := os.Create(s.stderrPath)
		if err != nil {
			stdout.Close()
			t.Fatal(err)
		}
		s.cmd = exec.Command(bin, "serve")
		s.cmd.Env = guaranteesEnviron(e)
		s.cmd.Stdout, s.cmd.Stderr = stdout, stderr
		if err := s.cmd.Start(); err != nil {
			stdout.Close()
			stderr.Close()
			t.Fatalf("start %s: %v", name, err)
		}
		go func() {
			s.waitErr = s.cmd.Wait()
			stdout.Close()
			stderr.Close()
			close(s.exited)
		}()
		t.Cleanup(func() {
			s.stop()
			if t.Failed() {
				t.Logf("server %s (%s) exited with %v\n--- stdout tail (%s)\n%s\n--- stderr tail (%s)\n%s",
					s.name, s.baseURL, s.waitErr, s.stdoutPath, guaranteesTail(s.stdoutPath, 20),
					s.stderrPath, guaranteesTail(s.stderrPath, 40))
			}
		})
		if lastErr = s.waitReady(30 * time.Second); lastErr == nil {
			return s
		}
		s.stop()
		if !strings.Contains(guaranteesTail(s.stderrPath, 5), "address already in use") {
			break
		}
	}
	t.Fatalf("server %s did not become ready: %v", name, lastErr)
	return nil
}

func (s *guaranteesServer) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("the process exited before it was ready: %v; stderr:\n%s", s.waitErr, guaranteesTail(s.stderrPath, 10))
		default:
		}
		if res, err := client.Get(s.baseURL + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /readyz did not answer 200 within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (s *guaranteesServer) kill9(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill -9 %s: %v", s.name, err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not die within 10s of SIGKILL", s.name)
	}
}

// stop ends the process gracefully (SIGTERM), or with SIGKILL after 10s.
func (s *guaranteesServer) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}

// attemptLogs returns the delivery ids of the "webhook attempt" lines this
// process logged, one entry per line.
func (s *guaranteesServer) attemptLogs(t testing.TB) []int64 {
	t.Helper()
	f, err := os.Open(s.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"webhook attempt"`)) {
			continue
		}
		var rec struct {
			Msg        string `json:"msg"`
			DeliveryID *int64 `json:"delivery_id"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || rec.Msg != "webhook attempt" {
			continue
		}
		if rec.DeliveryID == nil {
			t.Errorf("%s logged a webhook attempt without delivery_id: %s", s.name, line)
			continue
		}
		ids = append(ids, *rec.DeliveryID)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", s.stderrPath, err)
	}
	return ids
}

// guaranteesTail returns the last n lines of a file.
func guaranteesTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// guaranteesReport logs the summary line and appends it to the file named by
// GUARANTEES_REPORT, if set.
func guaranteesReport(t testing.TB, line string) {
	t.Helper()
	t.Log(line)
	path := os.Getenv("GUARANTEES_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("GUARANTEES_REPORT: %v", err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Errorf("GUARANTEES_REPORT: %v", err)
	}
}

// guaranteesWait polls cond every interval until it is true or the deadline
// passes; it reports whether cond became true.
func guaranteesWait(within, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// logProblems returns the process's log lines at level WARN or ERROR.
func (s *guaranteesServer) logProblems(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(s.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return out
}
