// Package rbmapi is a fake of Google's RCS Business Messaging (RBM) API, v1,
// as a real HTTP server: enough of it to send agent messages against, with
// the validation, errors and deduplication of the real thing at a basic
// level, a record of every request, and programmable failures.
//
// It serves
//
//	POST /v1/phones/{msisdn}/agentMessages?messageId={id}&agentId={agent}
//
// with an AgentMessage ({"contentMessage": {...}}) as the JSON body and a
// bearer token, and answers like Google does:
//
//   - 200 with the AgentMessage echoed, plus "name"
//     ("phones/{msisdn}/agentMessages/{id}") and "sendTime";
//   - 401 UNAUTHENTICATED without a bearer token, or with another one than
//     the one set with SetToken;
//   - 400 INVALID_ARGUMENT when the query, the phone number or the body is
//     wrong (unknown fields, wrong types, not exactly one kind of content,
//     a carousel without 2 to 10 cards, ...);
//   - 404 NOT_FOUND for numbers marked with SetUnreachable, as RBM does for
//     a device that is not RCS-capable;
//   - 409 ALREADY_EXISTS when a messageId is reused for the same agent.
//
// Errors have Google's shape:
//
//	{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}
//
// In tests, wrap it in httptest.NewServer and point the RBM adapter's
// BaseURL at the test server's URL. As a stand-alone server
// (`iagente-mock rbm`, which calls Run), point the API server's RBM base
// URL at it instead of https://rcsbusinessmessaging.googleapis.com; any
// non-empty bearer token is accepted.
package rbmapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBody caps the body of a request; RBM's own limit is far below.
const maxBody = 10 << 20

// Request is one request the fake received, whatever it answered.
type Request struct {
	Method string
	// Path is the decoded path (r.URL.Path), RequestURI the path and
	// query as they came on the wire.
	Path       string
	RequestURI string
	Query      url.Values
	Header     http.Header
	Body       []byte
	// JSON is Body decoded, or nil when it is not a JSON object.
	JSON map[string]any
}

type failure struct {
	status int
	body   []byte
	left   int
}

// Server is the fake RBM API. The zero value is not usable; call New. All
// its methods are safe for concurrent use, also while it serves.
type Server struct {
	mux *http.ServeMux

	mu          sync.Mutex
	token       string
	unreachable map[string]bool
	seen        map[string]bool // agentId + "\x00" + messageId
	requests    []Request
	failures    []*failure
	delay       time.Duration

	// The agent's webhook (see webhook.go): where RBM posts user messages
	// and receipts, the client token that signs them, the receipts each
	// accepted message gets, and what was posted.
	webhookURL  string
	clientToken string
	receipts    []string
	pushes      []*Push
	// perSecond caps each agent's sends per second; sent the recent ones.
	perSecond int
	sent      map[string][]time.Time

	bg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

// New returns a fake that accepts any non-empty bearer token, reaches every
// number, and has seen no message.
func New() *Server {
	s := &Server{stop: make(chan struct{})}
	s.reset()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /v1/phones/{msisdn}/agentMessages", s.agentMessages)
	s.controlAPI(s.mux)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, GoogleError(http.StatusNotFound, "NOT_FOUND",
			fmt.Sprintf("Method not found: %s %s", r.Method, r.URL.Path)))
	})
	return s
}

func (s *Server) reset() {
	s.token = ""
	s.unreachable = map[string]bool{}
	s.seen = map[string]bool{}
	s.requests = nil
	s.failures = nil
	s.delay = 0
	s.webhookURL, s.clientToken = "", ""
	s.receipts = []string{"DELIVERED", "READ"}
	s.pushes = nil
	s.perSecond = 0
	s.sent = map[string][]time.Time{}
}

// Close stops posting to the webhook, waiting for posts under way to give
// up. The fake keeps answering requests.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.bg.Wait()
}

// Reset returns the fake to the state New gives: it forgets the requests,
// the message ids seen, the token, the unreachable numbers, the programmed
// failures and the delay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
}

// SetToken makes token the only bearer token accepted; "" accepts any
// non-empty one again.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetUnreachable makes msisdn (E.164, with its "+") answer 404 NOT_FOUND,
// like a device that is not RCS-capable.
func (s *Server) SetUnreachable(msisdn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unreachable[msisdn] = true
}

// FailNext makes the next n requests, whatever they are, answer status with
// body (as application/json when it is valid JSON, else as text/html). They
// are recorded but not checked, and their message ids are not marked seen.
// Calls queue up: a second FailNext applies after the first's n requests.
func (s *Server) FailNext(n, status int, body []byte) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{status: status, body: append([]byte(nil), body...), left: n})
}

// FailNextServerError makes the next n requests answer 500 INTERNAL, as
// Google does when something breaks on its side.
func (s *Server) FailNextServerError(n int) {
	s.FailNext(n, http.StatusInternalServerError,
		GoogleError(http.StatusInternalServerError, "INTERNAL", "Internal error encountered."))
}

// SetDelay makes every request wait d before it is handled (0 to stop), to
// provoke client timeouts. The wait ends early when the client goes away.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// GoogleError is the body of a Google API error.
func GoogleError(code int, status, message string) []byte {
	type detail struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	}
	b, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{detail{code, message, status}})
	return b
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) agentMessages(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, GoogleError(http.StatusBadRequest, "INVALID_ARGUMENT", "Could not read the request body."))
		return
	}
	var body map[string]any
	jsonErr := json.Unmarshal(raw, &body)
	if jsonErr != nil {
		body = nil
	}
	rec := Request{
		Method:     r.Method,
		Path:       r.URL.Path,
		RequestURI: r.RequestURI,
		Query:      r.URL.Query(),
		Header:     r.Header.Clone(),
		Body:       raw,
		JSON:       body,
	}

	s.mu.Lock()
	s.requests = append(s.requests, rec)
	delay := s.delay
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client is gone; nobody reads an answer
		}
	}

	s.mu.Lock()
	if len(s.failures) > 0 {
		f := s.failures[0]
		f.left--
		if f.left == 0 {
			s.failures = s.failures[1:]
		}
		s.mu.Unlock()
		if json.Valid(f.body) {
			writeJSON(w, f.status, f.body)
		} else {
			w.Header().Set("Content-Type", "text/html; charset=UTF-8")
			w.WriteHeader(f.status)
			_, _ = w.Write(f.body)
		}
		return
	}
	want := s.token
	s.mu.Unlock()

	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" || (want != "" && token != want) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		writeJSON(w, http.StatusUnauthorized, GoogleError(http.StatusUnauthorized, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."))
		return
	}

	msisdn := r.PathValue("msisdn")
	q := r.URL.Query()
	messageID, agentID := q.Get("messageId"), q.Get("agentId")
	var msg string
	switch {
	case !validMSISDN(msisdn):
		msg = fmt.Sprintf("Invalid phone number %q: expected E.164 format, e.g. +12223334444.", msisdn)
	case messageID == "":
		msg = "Required parameter missing: messageId."
	case agentID == "":
		msg = "Required parameter missing: agentId."
	case jsonErr != nil || body == nil:
		msg = "Invalid JSON payload received. The body must be a JSON object (an AgentMessage)."
	default:
		if err := validateAgentMessage(body); err != nil {
			msg = err.Error()
		}
	}
	if msg != "" {
		writeJSON(w, http.StatusBadRequest, GoogleError(http.StatusBadRequest, "INVALID_ARGUMENT", msg))
		return
	}

	s.mu.Lock()
	if s.unreachable[msisdn] {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, GoogleError(http.StatusNotFound, "NOT_FOUND", "Requested entity was not found."))
		return
	}
	key := agentID + "\x00" + messageID
	if s.seen[key] {
		s.mu.Unlock()
		writeJSON(w, http.StatusConflict, GoogleError(http.StatusConflict, "ALREADY_EXISTS",
			fmt.Sprintf("Message with ID %s already exists.", messageID)))
		return
	}
	if !s.takeQuota(agentID) {
		s.mu.Unlock()
		writeJSON(w, http.StatusTooManyRequests, GoogleError(http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
			"Quota exceeded for quota metric 'Agent messages' and limit 'Agent messages per second' of service 'rcsbusinessmessaging.googleapis.com'."))
		return
	}
	s.seen[key] = true
	s.mu.Unlock()
	defer s.afterSend(agentID, msisdn, messageID)

	// The echo: what was sent, with the output-only fields filled in. It is
	// decoded afresh so the recorded map stays as received.
	var echo map[string]any
	_ = json.Unmarshal(raw, &echo)
	echo["name"] = "phones/" + msisdn + "/agentMessages/" + messageID
	echo["sendTime"] = time.Now().UTC().Format(time.RFC3339Nano)
	out, _ := json.Marshal(echo)
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// validMSISDN: "+" and 1 to 15 digits, not starting with 0.
func validMSISDN(s string) bool {
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || digits == "" || len(digits) > 15 || digits[0] == '0' {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Run serves a fake on addr (host:port; ":0" picks a port) until ctx is
// done, then shuts it down and returns nil. It writes to log the address it
// listens on and a line per request: method, path and query, status,
// duration. The Authorization header is never logged.
func Run(ctx context.Context, addr string, log io.Writer) error {
	return New().ListenAndServe(ctx, addr, log)
}

// ListenAndServe serves s on addr until ctx is done, as Run does with a new
// fake: for a fake configured before it serves (iagente-mock rbm
// --webhook-url ...).
func (s *Server) ListenAndServe(ctx context.Context, addr string, log io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	l := &lineLogger{w: log}
	l.printf("rbmapi: fake Google RBM API listening on http://%s", ln.Addr())
	return serve(ctx, ln, l, s)
}

func serve(ctx context.Context, ln net.Listener, l *lineLogger, fake *Server) error {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			fake.ServeHTTP(sw, r)
			status := fmt.Sprint(sw.status)
			if !sw.wrote && r.Context().Err() != nil {
				status = "client gone"
			}
			l.printf("rbmapi: %s %s %s %s", r.Method, r.URL.RequestURI(), status, time.Since(start).Round(time.Microsecond))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	fake.Close()
	l.printf("rbmapi: stopped")
	return err
}

type lineLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineLogger) printf(format string, args ...any) {
	if l.w == nil {
		return
	}
	line := time.Now().UTC().Format(time.RFC3339) + " " + fmt.Sprintf(format, args...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
