package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/internal/syncbuf"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

// TestMain lets the test binary be iagente-mock itself, so the signal
// handling in main can be tested on a real process without building one.
func TestMain(m *testing.M) {
	if os.Getenv("IAGENTE_MOCK_BE_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

var listeningRe = regexp.MustCompile(`listening on (http://\S+)`)

// started is a fake run in-process by run.
type started struct {
	url    string // as printed: the address, and the receiver's path
	out    *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

// start runs iagente-mock with args in-process and waits for it to say where
// it listens.
func start(t *testing.T, e env, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{out: &syncbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	var errOut syncbuf.Buffer
	go func() { s.done <- run(ctx, args, e.get, s.out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%v did not stop", args)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRe.FindStringSubmatch(s.out.String()); m != nil {
			s.url = m[1]
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("%v ended before listening: %v\nstdout: %s\nstderr: %s", args, err, s.out, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%v printed no address: %s", args, s.out)
	return nil
}

// stop cancels the context, as SIGINT does in main, and wants a clean exit.
func (s *started) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
		s.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWhatsApp(t *testing.T) {
	s := start(t, env{}, "whatsapp", "--addr", "127.0.0.1:0")
	status, body := call(t, "POST", s.url+"/v24.0/1234567890/messages", "any-token",
		`{"messaging_product":"whatsapp","to":"5511987654321","type":"text","text":{"body":"Ola"}}`)
	if status != http.StatusOK || !strings.Contains(body, `"wamid.`) {
		t.Errorf("send through the fake Graph API: %d %s", status, body)
	}
	s.stop(t)
	if !strings.Contains(s.out.String(), "POST /v24.0/1234567890/messages -> 200") {
		t.Errorf("the request was not logged: %s", s.out)
	}
}

func TestRBM(t *testing.T) {
	s := start(t, env{}, "rbm", "--addr=127.0.0.1:0")
	status, body := call(t, "POST", s.url+"/v1/phones/+5511987654321/agentMessages?messageId=m1&agentId=agent", "any-token",
		`{"contentMessage":{"text":"Ola"}}`)
	if status != http.StatusOK || !strings.Contains(body, `phones/+5511987654321/agentMessages/m1`) {
		t.Errorf("send through the fake RBM API: %d %s", status, body)
	}
	s.stop(t)
}

// With a callback URL the fake Graph API posts each send's statuses there,
// signed with the app secret from the environment.
func TestWhatsAppCallbacks(t *testing.T) {
	got := make(chan string, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Hub-Signature-256") == graphapi.Sign("segredo", body) {
			got <- string(body)
		}
	}))
	defer hook.Close()
	s := start(t, env{"WHATSAPP_APP_SECRET": "segredo"}, "whatsapp", "--addr", "127.0.0.1:0", "--callback-url", hook.URL)
	status, body := call(t, "POST", s.url+"/v24.0/1234567890/messages", "any-token",
		`{"messaging_product":"whatsapp","to":"5511987654321","type":"template","template":{"name":"x","language":{"code":"pt_BR"}}}`)
	if status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	for _, want := range []string{`"status":"sent"`, `"status":"delivered"`, `"status":"read"`} {
		select {
		case b := <-got:
			if !strings.Contains(b, want) {
				t.Errorf("callback %s, want %s", b, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no signed callback with %s", want)
		}
	}
	s.stop(t)
	if strings.Contains(s.out.String(), "segredo") {
		t.Errorf("the log shows the app secret: %s", s.out)
	}
}

func TestReceiver(t *testing.T) {
	a, b, c := newSecret(t), newSecret(t), newSecret(t)
	for name, tc := range map[string]struct {
		env  env
		args []string
		want string
	}{
		"secrets from the environment":   {env{"WEBHOOK_SECRET": a + ", " + b}, nil, "(2 secret(s);"},
		"flags win over the environment": {env{"WEBHOOK_SECRET": a}, []string{"--secret", b + "," + c, "--secret=" + a}, "(3 secret(s);"},
	} {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"receiver", "--addr", "127.0.0.1:0", "--path", "/hooks/in"}, tc.args...)
			s := start(t, tc.env, args...)
			if !strings.HasSuffix(s.url, "/hooks/in") || !strings.Contains(s.out.String(), tc.want) {
				t.Errorf("first line: %s, want the path and %s", s.out, tc.want)
			}
			base := strings.TrimSuffix(s.url, "/hooks/in")
			if status, body := call(t, "GET", base+"/_receiver/program", "", ""); status != http.StatusOK || !strings.Contains(body, `"attempts":0`) {
				t.Errorf("control API: %d %s", status, body)
			}
			// An unsigned POST is refused and logged, without a secret.
			if status, _ := call(t, "POST", s.url, "", "{}"); status != http.StatusBadRequest {
				t.Errorf("unsigned POST: %d, want 400", status)
			}
			s.stop(t)
			for _, secret := range []string{a, b, c} {
				if strings.Contains(s.out.String(), secret) {
					t.Errorf("the log shows a secret: %s", s.out)
				}
			}
			if !strings.Contains(s.out.String(), " /hooks/in - - rejected: ") {
				t.Errorf("the refused POST was not logged: %s", s.out)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"receiver", "-h"}, {"rbm", "--help"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, env{}.get, &out, &errOut); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		for _, want := range []string{"iagente-mock whatsapp", "iagente-mock rbm", "iagente-mock receiver", "WEBHOOK_SECRET"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: the usage lacks %q: %s", args, want, out.String())
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		env  env
		args []string
	}{
		{env{}, nil},
		{env{}, []string{"sms"}},
		{env{}, []string{"mock", "receiver"}},
		{env{}, []string{"whatsapp", "extra"}},
		{env{}, []string{"rbm", "--path", "/x"}},
		{env{}, []string{"whatsapp", "--callback-url", "http://127.0.0.1:1/inbound/whatsapp/1"}},
		{env{}, []string{"rbm", "--webhook-url", "http://127.0.0.1:1/inbound/rcs/2"}},
		{env{}, []string{"receiver", "--addr"}},
		{env{}, []string{"receiver"}},
		{env{"WEBHOOK_SECRET": " , "}, []string{"receiver"}},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tc.args, tc.env.get, &out, &errOut)
		if _, ok := errors.AsType[usageError](err); !ok {
			t.Errorf("%v: %v, want a usage error", tc.args, err)
		}
		if !strings.HasPrefix(errOut.String(), "Usage:") || out.Len() != 0 {
			t.Errorf("%v: stdout %q stderr %q, want only the usage on stderr", tc.args, out.String(), errOut.String())
		}
	}
}

func TestBadConfigurationIsNoUsageError(t *testing.T) {
	secret := newSecret(t)
	for _, args := range [][]string{
		{"receiver", "--secret", "not-a-secret," + secret},
		{"receiver", "--secret", secret, "--path", "/_receiver/x"},
		{"whatsapp", "--addr", "256.0.0.1:1"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, env{}.get, &out, &errOut)
		if _, ok := errors.AsType[usageError](err); err == nil || ok {
			t.Errorf("%v: %v, want an error that is not about usage", args, err)
		} else if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "not-a-secret") {
			t.Errorf("%v: the error repeats a secret: %v", args, err)
		}
	}
}

// TestSignalsStopTheBinary runs the real main in a child process: SIGTERM
// and SIGINT each end it with status 0, at once, even while the receiver
// is stalling a request on purpose.
func TestSignalsStopTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "receiver", "--addr", "127.0.0.1:0")
			cmd.Env = append(os.Environ(), "IAGENTE_MOCK_BE_MAIN=1", "WEBHOOK_SECRET="+newSecret(t))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() {
				t.Fatalf("no first line; stderr: %s", stderr.String())
			}
			m := listeningRe.FindStringSubmatch(lines.Text())
			if m == nil {
				t.Fatalf("first line %q", lines.Text())
			}
			go io.Copy(io.Discard, stdout)
			base := strings.TrimSuffix(m[1], "/webhook")

			// times 1: the behavior is used up as the request arrives, which
			// tells when the stall has begun.
			program := `{"path":"/stall","behaviors":[{"delay_ms":3600000,"times":1}]}`
			if status, body := call(t, "POST", base+"/_receiver/behaviors", "", program); status != http.StatusOK {
				t.Fatalf("program a stall: %d %s", status, body)
			}
			stalled := make(chan error, 1)
			go func() {
				resp, err := http.Post(base+"/stall", "application/json", strings.NewReader("{}"))
				if err == nil {
					resp.Body.Close()
				}
				stalled <- err
			}()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, body := call(t, "GET", base+"/_receiver/behaviors", "", ""); strings.TrimSpace(body) == "{}" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the stalled request never arrived")
				}
				time.Sleep(10 * time.Millisecond)
			}

			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit after %s: %v; stderr: %s", sig, err, stderr.String())
				}
				// Shutdown gives up on connections after 5 s; a stall that
				// held it up would show here.
				if took := time.Since(start); took > 3*time.Second {
					t.Errorf("took %s to stop", took)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10 s after %s", sig)
			}
			<-stalled
		})
	}
}
