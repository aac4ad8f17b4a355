package contracttests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

// The API reference's "Verify Signature" section gives receivers a Python
// (Flask) and a Node snippet that check X-Webhook-Signature. They live in
// testdata/seedsnippets/ exactly as published; the runners next to them fill
// in only the signing secret and the HTTP plumbing. This test points real
// webhooks at them: the snippets must accept what the server delivers and
// reject a tampered body.
//
// It needs a Python with Flask (SEED_PYTHON, or the .venv-seed/ that
// scripts/seed-snippets-venv.sh creates) and node on PATH. Without them it is
// skipped, unless REQUIRE_SEED_SNIPPETS=1, which makes it fail instead.

// snippetEvents are the events the test triggers: creating a lead emits
// lead.created, making it hot emits lead.updated and lead.qualified.
var snippetEvents = []string{"lead.created", "lead.updated", "lead.qualified"}

const snippetLeadName = "Seed Snippet"

// snippetRunner is one language's receiver: an interpreter and its script.
type snippetRunner struct {
	name   string
	interp string
	script string
}

func TestSeedSignatureSnippets(t *testing.T) {
	skipRemote(t, needsLoopback)
	runners := snippetRunners(t)
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		tg := startInProcessWith(t, db.URL, func(c *app.Config) {
			c.WebhookAllowPrivateTargets = true
			c.WebhookPollInterval = 50 * time.Millisecond
			// A rejected delivery is retried at once, so a failure shows
			// up as a second attempt instead of a timeout.
			c.WebhookRetrySchedule = []time.Duration{100 * time.Millisecond}
		})
		for _, r := range runners {
			t.Run(r.name, func(t *testing.T) { testSignatureSnippet(t, tg, r) })
		}
	})
}

// snippetRunners finds the interpreters, or skips (fails under
// REQUIRE_SEED_SNIPPETS=1) when one is missing.
func snippetRunners(t *testing.T) []snippetRunner {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("REQUIRE_SEED_SNIPPETS") == "1" {
			t.Fatal("REQUIRE_SEED_SNIPPETS=1 but " + msg)
		}
		t.Skip(msg)
	}
	py := os.Getenv("SEED_PYTHON")
	if py == "" {
		if venv, err := filepath.Abs("../.venv-seed/bin/python"); err == nil {
			if _, err := os.Stat(venv); err == nil {
				py = venv
			}
		}
	}
	if py == "" {
		missing("no Python with Flask to run the API reference's snippet: run scripts/seed-snippets-venv.sh or set SEED_PYTHON")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH to run the API reference's snippet")
	}
	dir, err := filepath.Abs("testdata/seedsnippets")
	if err != nil {
		t.Fatal(err)
	}
	return []snippetRunner{
		{name: "python", interp: py, script: filepath.Join(dir, "python_receiver.py")},
		{name: "node", interp: node, script: filepath.Join(dir, "node_receiver.js")},
	}
}

func testSignatureSnippet(t *testing.T, tg *target, r snippetRunner) {
	key := tg.freshOrg(t)

	// Webhook A is for the snippet. Its secret is only known once it exists,
	// and the runner's port only once the runner has the secret: create it
	// pointing nowhere, start the runner, then point it at the runner.
	hookA := createSnippetWebhook(t, tg, key, "seed snippet "+r.name, "http://127.0.0.1:1/")
	urlA := startSnippetRunner(t, r, "A", hookA.SigningSecret)
	expectJSON(t, tg, key, http.MethodPatch, fmt.Sprintf("/webhooks/%d", hookA.ID),
		map[string]any{"url": urlA + "/webhook"}, http.StatusOK, nil)

	// Webhook B, same events, is recorded here so its deliveries can be
	// replayed, untouched and tampered with. Its receiver answers 200
	// without checking anything: the snippet does the checking.
	rec := startReceiver(t, "/webhook")
	rec.SetBehavior("/hook", webhookreceiver.Behavior{Status: http.StatusOK})
	hookB := createSnippetWebhook(t, tg, key, "seed snippet recorder", rec.url("/hook"))

	// Real events.
	var lead struct {
		ID int64 `json:"id"`
	}
	expectJSON(t, tg, key, http.MethodPost, "/leads",
		map[string]any{"phone": "5511988887777", "name": snippetLeadName}, http.StatusCreated, &lead)
	expectJSON(t, tg, key, http.MethodPatch, fmt.Sprintf("/leads/%d", lead.ID),
		map[string]any{"temperature": "hot"}, http.StatusOK, nil)

	t.Run("accepts real deliveries", func(t *testing.T) {
		deliveries := waitSnippetDeliveries(t, tg, key, hookA.ID, len(snippetEvents))
		var events []string
		for _, d := range deliveries {
			events = append(events, d.Event)
			if d.Status != "succeeded" {
				t.Errorf("delivery %d (%s) is %s, want succeeded: %+v", d.ID, d.Event, d.Status, d.Attempts)
				continue
			}
			if len(d.Attempts) != 1 {
				t.Errorf("delivery %d (%s) took %d attempts, want 1: %+v", d.ID, d.Event, len(d.Attempts), d.Attempts)
				continue
			}
			if a := d.Attempts[0]; a.StatusCode == nil || *a.StatusCode != http.StatusOK {
				t.Errorf("delivery %d (%s): the snippet answered %v, want 200 (error %v)", d.ID, d.Event, snippetDeref(a.StatusCode), snippetDeref(a.Error))
			}
		}
		sort.Strings(events)
		want := append([]string(nil), snippetEvents...)
		sort.Strings(want)
		if strings.Join(events, ",") != strings.Join(want, ",") {
			t.Errorf("delivered events %v, want %v", events, want)
		}
	})

	t.Run("accepts the test delivery", func(t *testing.T) {
		var res struct {
			Delivered  bool    `json:"delivered"`
			StatusCode *int    `json:"status_code"`
			Error      *string `json:"error"`
		}
		expectJSON(t, tg, key, http.MethodPost, fmt.Sprintf("/webhooks/%d/test", hookA.ID), nil, http.StatusOK, &res)
		if !res.Delivered || res.StatusCode == nil || *res.StatusCode != http.StatusOK {
			t.Errorf("test delivery: delivered=%v status_code=%v error=%v, want delivered with 200",
				res.Delivered, snippetDeref(res.StatusCode), snippetDeref(res.Error))
		}
	})

	t.Run("rejects tampering", func(t *testing.T) {
		got := rec.waitAttempts(t, "/hook", 2, 20*time.Second) // webhook B takes snippetEvents only
		urlB := startSnippetRunner(t, r, "B", hookB.SigningSecret)
		first, second := got[0], got[1]
		sig := first.Header.Get("X-Webhook-Signature")
		if !strings.HasPrefix(sig, "sha256=") {
			t.Fatalf("recorded delivery has X-Webhook-Signature %q, want sha256=<hex>", sig)
		}
		otherSig := second.Header.Get("X-Webhook-Signature")
		if otherSig == sig {
			t.Fatalf("two different deliveries carry the same signature %q", sig)
		}

		// Unchanged: accepted, and the snippet saw the envelope's event.
		status, body := replaySnippetDelivery(t, urlB, first, first.Body, sig)
		if status != http.StatusOK {
			t.Fatalf("replaying a real delivery unchanged: %d, want 200: %s", status, body)
		}
		var ack struct {
			OK    bool   `json:"ok"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(body, &ack); err != nil || !ack.OK || ack.Event != first.Header.Get("X-Webhook-Event") {
			t.Errorf("the receiver answered %s, want ok with event %q", body, first.Header.Get("X-Webhook-Event"))
		}

		tampered := tamperSnippetBody(t, first.Body)
		if status, body := replaySnippetDelivery(t, urlB, first, tampered, sig); status != http.StatusUnauthorized {
			t.Errorf("one byte of the body changed: %d, want 401: %s", status, body)
		}
		if status, body := replaySnippetDelivery(t, urlB, first, first.Body, otherSig); status != http.StatusUnauthorized {
			t.Errorf("another delivery's signature: %d, want 401: %s", status, body)
		}
	})
}

// snippetWebhook is the part of WebhookCreated the test uses.
type snippetWebhook struct {
	ID            int64  `json:"id"`
	SigningSecret string `json:"signing_secret"`
}

func createSnippetWebhook(t *testing.T, tg *target, key, name, url string) snippetWebhook {
	t.Helper()
	var w snippetWebhook
	expectJSON(t, tg, key, http.MethodPost, "/webhooks", map[string]any{
		"name":   name,
		"url":    url,
		"events": snippetEvents,
		// A rejected delivery fails after one retry instead of lingering.
		"max_attempts": 2,
	}, http.StatusCreated, &w)
	if w.ID == 0 || !strings.HasPrefix(w.SigningSecret, "whsec_") {
		t.Fatalf("created webhook without id or signing secret: %+v", w)
	}
	t.Cleanup(func() {
		res, body := tg.raw(t, key, http.MethodDelete, fmt.Sprintf("/webhooks/%d", w.ID), "", nil)
		if res.StatusCode != http.StatusNoContent {
			t.Errorf("delete webhook %d: %d %s", w.ID, res.StatusCode, body)
		}
	})
	return w
}

type snippetDelivery struct {
	ID       int64  `json:"id"`
	Event    string `json:"event"`
	Status   string `json:"status"`
	Attempts []struct {
		AttemptedAt string  `json:"attempted_at"`
		StatusCode  *int    `json:"status_code"`
		DurationMS  int64   `json:"duration_ms"`
		Error       *string `json:"error"`
	} `json:"attempts"`
}

// waitSnippetDeliveries polls the webhook's delivery log until n deliveries
// of snippetEvents are finished, and returns them. Any that fails ends the
// wait at once.
func waitSnippetDeliveries(t *testing.T, tg *target, key string, id int64, n int) []snippetDelivery {
	t.Helper()
	wanted := map[string]bool{}
	for _, e := range snippetEvents {
		wanted[e] = true
	}
	deadline := time.Now().Add(20 * time.Second)
	var last []byte
	for {
		var page struct {
			Data []snippetDelivery `json:"data"`
		}
		res, body := tg.raw(t, key, http.MethodGet, fmt.Sprintf("/webhooks/%d/deliveries?per_page=100", id), "", nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("list deliveries: %d %s", res.StatusCode, body)
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("list deliveries: decode %s: %v", body, err)
		}
		last = body
		var ours []snippetDelivery
		finished, failed := 0, false
		for _, d := range page.Data {
			if !wanted[d.Event] {
				continue
			}
			ours = append(ours, d)
			switch d.Status {
			case "succeeded":
				finished++
			case "failed":
				finished++
				failed = true
			}
		}
		if failed || (len(ours) >= n && finished == len(ours)) {
			return ours
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s, %d of %d deliveries finished; the log: %s", finished, n, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startSnippetRunner starts r with the given secret and returns its base
// URL. The runner is killed when the test ends; its stderr goes to the test
// log if the test failed.
func startSnippetRunner(t *testing.T, r snippetRunner, label, secret string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, r.interp, r.script)
	cmd.Env = append(os.Environ(), "SEED_SECRET="+secret, "PORT=0", "PYTHONUNBUFFERED=1")
	cmd.WaitDelay = 5 * time.Second
	stdout := &snippetListening{port: make(chan string, 1)}
	stderr := &snippetBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start the %s runner: %v", r.name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("%s runner %s (%s %s):\nstdout:\n%s\nstderr:\n%s",
				r.name, label, r.interp, r.script, stdout.String(), stderr.String())
		}
	})
	select {
	case port := <-stdout.port:
		return "http://127.0.0.1:" + port
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("the %s runner exited before listening: %v", r.name, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("the %s runner did not print LISTENING <port> within 20s", r.name)
	}
	return ""
}

var snippetListeningLine = regexp.MustCompile(`(?m)^LISTENING ([0-9]+)\r?\n`)

// snippetListening is a runner's stdout: it keeps everything and sends the
// port of the first "LISTENING <port>" line.
type snippetListening struct {
	snippetBuffer
	port chan string
	sent bool
}

func (l *snippetListening) Write(p []byte) (int, error) {
	n, err := l.snippetBuffer.Write(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.sent {
		if m := snippetListeningLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.sent = true
			l.port <- string(m[1])
		}
	}
	return n, err
}

// snippetBuffer is a bytes.Buffer safe for concurrent use.
type snippetBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *snippetBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *snippetBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// replaySnippetDelivery POSTs body to the runner with the recorded
// delivery's headers and the given signature, and returns the answer.
func replaySnippetDelivery(t *testing.T, baseURL string, d webhookreceiver.Attempt, body []byte, signature string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range d.Header {
		if k == "Content-Type" || k == "User-Agent" ||
			strings.HasPrefix(k, "X-Webhook-") || strings.HasPrefix(k, "Webhook-") {
			req.Header[k] = append([]string(nil), vs...)
		}
	}
	req.Header.Set("X-Webhook-Signature", signature)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("replay to the runner: %v", err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, got
}

// tamperSnippetBody changes one byte of a delivery's body, keeping it valid
// JSON, so only the signature can tell.
func tamperSnippetBody(t *testing.T, body []byte) []byte {
	t.Helper()
	out := append([]byte(nil), body...)
	if i := bytes.Index(out, []byte(snippetLeadName)); i >= 0 {
		out[i+len(snippetLeadName)-1] ^= 0x0c // "Seed Snippet" becomes "Seed Snippex"
	} else if i := bytes.IndexAny(out, "0123456789"); i >= 0 {
		out[i] = '0' + (out[i]-'0'+1)%10
	} else {
		t.Fatalf("nothing to tamper with in %s", body)
	}
	if bytes.Equal(out, body) || !json.Valid(out) {
		t.Fatalf("tampering %s gave %s", body, out)
	}
	return out
}

func snippetDeref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
