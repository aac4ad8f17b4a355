package contracttests

// An Idempotency-Key survives the server: a WhatsApp send whose server is
// killed (-9) while the provider holds the request, repeated against a new
// server process with the same key, reaches the provider once.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

func TestIdempotentSendSurvivesKill9(t *testing.T) {
	// Most of its time is spent waiting on child processes: it runs beside
	// the other tests that do (each has its own database and ports).
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and kills real server processes; skipped under -short")
	}
	bin := guaranteesBinary(t)
	dbs := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "crash.db")}
	if pg, ok := sqlstoretest.Postgres(t); ok {
		dbs["postgres"] = pg.URL
	}
	for name, dbURL := range dbs {
		t.Run(name, func(t *testing.T) {
			const phoneNumberID, token = "106540352242900", "EAAGcrashToken"
			fake := graphapi.New()
			fake.SetToken(phoneNumberID, token)
			// The provider takes its time: the server is killed while it does.
			fake.SetDelay(1500 * time.Millisecond)
			ts := httptest.NewServer(fake)
			defer ts.Close()

			env := guaranteesEnv(dbURL, map[string]string{
				"WHATSAPP_API_BASE_URL": ts.URL,
				// Short timeouts make the key's lease (the slowest request's
				// length) short, so the test need not wait long to take over.
				"SEND_TIMEOUT": "3s", "DB_TIMEOUT": "1s", "WEBHOOK_TIMEOUT": "1s",
				"INTEGRATION_ACCESS_TOKEN": token, "INTEGRATION_APP_SECRET": "crash-app-secret",
			})
			key := guaranteesCreateOrg(t, bin, env, "Crash")
			integrationID := crashIntegration(t, bin, env, phoneNumberID)

			body := []byte(fmt.Sprintf(`{"integration_id":%d,"phone":"5511977776666","type":"text","text":"Ola, Maria!"}`, integrationID))
			const idem = "crash-send-0001"
			a := startGuaranteesServer(t, bin, env, "a")
			// The contact writes first, through Meta's signed webhook: a text
			// needs WhatsApp's 24-hour window open.
			in, err := graphapi.PushInbound(context.Background(), fmt.Sprintf("%s/inbound/whatsapp/%d", a.baseURL, integrationID),
				"crash-app-secret", graphapi.InboundText(phoneNumberID, "551130030000", "5511977776666", "Maria", "wamid.crash-in", "Oi", time.Now()))
			if err != nil || in.StatusCode != http.StatusOK {
				t.Fatalf("the contact's message: %v %v", in, err)
			}
			in.Body.Close()
			go func() { _, _, _ = crashPost(a.baseURL, key, idem, body, 30*time.Second) }()
			if !guaranteesWait(10*time.Second, 20*time.Millisecond, func() bool { return len(fake.Requests()) == 1 }) {
				t.Fatal("the send never reached the fake Graph API")
			}
			a.kill9(t) // mid-request: the provider has the message, the server never hears back

			b := startGuaranteesServer(t, bin, env, "b")
			var res *http.Response
			var out []byte
			inProgress := 0
			if !guaranteesWait(30*time.Second, 250*time.Millisecond, func() bool {
				var err error
				res, out, err = crashPost(b.baseURL, key, idem, body, 10*time.Second)
				if err != nil {
					t.Fatalf("retry: %v", err)
				}
				if res.StatusCode == http.StatusConflict {
					inProgress++
					if res.Header.Get("Retry-After") == "" {
						t.Errorf("409 without Retry-After: %s", out)
					}
					return false
				}
				return true
			}) {
				t.Fatalf("the key was still in progress 30s after the kill: %s", out)
			}
			t.Logf("the retry was answered 409 idempotency_in_progress %d times, then %d", inProgress, res.StatusCode)
			if n := len(fake.Requests()); n != 1 {
				t.Fatalf("the fake Graph API got %d sends, want exactly 1", n)
			}
			// The interrupted send is reported failed, never sent again.
			env2 := wantError(t, res, out, http.StatusInternalServerError, impl.ESendFailed, "message_id")
			if len(env2.Error.Details["message_id"]) != 1 {
				t.FailNow()
			}
			msg := crashGet(t, b.baseURL, key, "/api/v1/messages/"+env2.Error.Details["message_id"][0])
			if !strings.Contains(msg, `"status":"failed"`) || !strings.Contains(msg, "interrupted") {
				t.Errorf("the message is %s; want failed as interrupted", msg)
			}
			// And that answer is now the key's, replayed.
			res, again, err := crashPost(b.baseURL, key, idem, body, 10*time.Second)
			if err != nil || res.StatusCode != http.StatusInternalServerError || !bytes.Equal(again, out) ||
				res.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("a further repeat: %v %d %s", err, res.StatusCode, again)
			}
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("the fake Graph API got %d sends in all, want 1", n)
			}
			guaranteesReport(t, fmt.Sprintf("idempotent send after kill -9 (%s): provider called %d time(s), retry answered %d after %d in-progress answers",
				name, len(fake.Requests()), res.StatusCode, inProgress))
		})
	}
}

// crashIntegration creates a whatsapp_cloud integration with the CLI and
// returns its id.
func crashIntegration(t *testing.T, bin string, env map[string]string, phoneNumberID string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "integrations", "create", "--org", "1", "--channel", "whatsapp",
		"--provider", "whatsapp_cloud", "--phone-number-id", phoneNumberID, "--json")
	cmd.Env = guaranteesEnviron(env)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("integrations create: %v\n%s", err, out)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.ID == 0 {
		t.Fatalf("integrations create printed %s: %v", out, err)
	}
	return created.ID
}

func crashPost(base, key, idem string, body []byte, timeout time.Duration) (*http.Response, []byte, error) {
	req, err := http.NewRequest("POST", base+"/api/v1/whatsapp/messages", bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idem)
	res, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res, out, err
}

func crashGet(t *testing.T, base, key, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
