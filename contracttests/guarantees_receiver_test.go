package contracttests

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	webhooksig "github.com/iagente/iagente-sdr/impl/delivery"
)

// guaranteesReceiver is a webhook receiver that counts what it is sent: per
// X-Webhook-Id (one delivery) and per envelope event id (one event). It
// verifies every signature and answers 200 after an optional delay.
type guaranteesReceiver struct {
	srv   *httptest.Server
	delay time.Duration

	mu          sync.Mutex
	secret      string
	byMessage   map[string]int   // X-Webhook-Id -> times received
	byEvent     map[string]int   // envelope id -> times received
	leadOfEvent map[string]int64 // envelope id -> data.id
	total       int
	problems    []string // bad signatures and malformed deliveries
}

func newGuaranteesReceiver(t testing.TB, delay time.Duration) *guaranteesReceiver {
	t.Helper()
	r := &guaranteesReceiver{
		delay:       delay,
		byMessage:   map[string]int{},
		byEvent:     map[string]int{},
		leadOfEvent: map[string]int64{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is where the webhook points.
func (r *guaranteesReceiver) URL() string { return r.srv.URL + "/hook" }

// setSecret gives the receiver the webhook's signing secret; it must be
// called before any event is written.
func (r *guaranteesReceiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *guaranteesReceiver) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 1000 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *guaranteesReceiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		// The sender went away mid-request (e.g. killed): not a delivery.
		return
	}
	msgID := req.Header.Get("X-Webhook-Id")
	sig := req.Header.Get("X-Webhook-Signature")
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/hook" {
		r.problem("unexpected request %s %s", req.Method, req.URL.Path)
		http.Error(w, "not here", http.StatusNotFound)
		return
	}
	if secret == "" || !webhooksig.VerifySignature(secret, body, sig) {
		r.problem("bad X-Webhook-Signature %q on delivery %q: %s", sig, msgID, body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var env struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Data  struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.ID == "" || msgID == "" {
		r.problem("malformed delivery %q (%v): %s", msgID, err, body)
		http.Error(w, "malformed", http.StatusBadRequest)
		return
	}
	if env.Event != "lead.created" || req.Header.Get("X-Webhook-Event") != env.Event || env.Data.ID == 0 {
		r.problem("unexpected delivery %q (X-Webhook-Event %q): %s", msgID, req.Header.Get("X-Webhook-Event"), body)
		http.Error(w, "unexpected", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.byMessage[msgID]++
	r.byEvent[env.ID]++
	r.leadOfEvent[env.ID] = env.Data.ID
	r.total++
	r.mu.Unlock()
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-req.Context().Done():
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// distinctEvents is how many different events were received.
func (r *guaranteesReceiver) distinctEvents() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byEvent)
}

// guaranteesReceived is a snapshot of a receiver's counts.
type guaranteesReceived struct {
	total           int              // requests counted as deliveries
	events          int              // distinct envelope ids
	messages        int              // distinct X-Webhook-Ids
	dupEvents       int              // events received more than once
	dupMessages     int              // X-Webhook-Ids received more than once
	leads           map[int64]string // lead id -> its event id
	eventsPerLead   map[int64]int    // lead id -> distinct events for it
	problems        []string
	maxEventRepeats int
}

func (r *guaranteesReceiver) snapshot() guaranteesReceived {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := guaranteesReceived{
		total: r.total, events: len(r.byEvent), messages: len(r.byMessage),
		leads: map[int64]string{}, eventsPerLead: map[int64]int{},
		problems: append([]string(nil), r.problems...),
	}
	for id, n := range r.byEvent {
		if n > 1 {
			s.dupEvents++
		}
		s.maxEventRepeats = max(s.maxEventRepeats, n)
		lead := r.leadOfEvent[id]
		s.leads[lead] = id
		s.eventsPerLead[lead]++
	}
	for _, n := range r.byMessage {
		if n > 1 {
			s.dupMessages++
		}
	}
	return s
}

// eventCount is how many times the event was received, and whether it was.
func (r *guaranteesReceiver) eventCount(eventID string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.byEvent[eventID]
	return n, ok
}
