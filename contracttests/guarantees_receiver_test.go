package contracttests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// The delivery-guarantee tests deliver to a reference receiver
// (mocks/webhookreceiver), which checks every signature with its own code,
// and count what it was sent from its attempt log.

// guaranteesPath is where the guarantee tests' webhook points.
const guaranteesPath = "/hook"

// newGuaranteesReceiver starts a reference receiver that answers a valid
// delivery after delay. It accepts nothing until it is given the webhook's
// secret (SetSecrets), which must happen before any event is written.
func newGuaranteesReceiver(t testing.TB, delay time.Duration) *receiver {
	t.Helper()
	r := startReceiver(t, guaranteesPath)
	r.SetDelay(delay)
	return r
}

// guaranteesReceived is what a receiver was sent, counted per X-Webhook-Id
// (one delivery) and per envelope id (one event). A request counts once it
// has arrived whole and verified, whether or not the sender waited for the
// answer: a server killed mid-delivery has still delivered.
type guaranteesReceived struct {
	total           int              // requests counted as deliveries
	events          int              // distinct envelope ids
	messages        int              // distinct X-Webhook-Ids
	dupEvents       int              // events received more than once
	dupMessages     int              // X-Webhook-Ids received more than once
	leads           map[int64]string // lead id -> its event id
	eventsPerLead   map[int64]int    // lead id -> distinct events for it
	byMessage       map[string]int   // X-Webhook-Id -> times received
	byEvent         map[string]int   // envelope id -> times received
	problems        []string         // requests that are not valid lead.created deliveries
	maxEventRepeats int
}

// guaranteesTally counts the receiver's attempts so far.
func guaranteesTally(r *receiver) guaranteesReceived {
	s := guaranteesReceived{
		leads: map[int64]string{}, eventsPerLead: map[int64]int{},
		byMessage: map[string]int{}, byEvent: map[string]int{},
	}
	problem := func(format string, args ...any) {
		if len(s.problems) < 1000 {
			s.problems = append(s.problems, fmt.Sprintf(format, args...))
		}
	}
	leadOfEvent := map[string]int64{}
	for _, a := range r.AttemptLog() {
		if n, err := strconv.Atoi(a.Header.Get("Content-Length")); err == nil && len(a.Body) < n {
			continue // the sender went away mid-request (killed): not a delivery
		}
		msgID := a.Header.Get("X-Webhook-Id")
		if a.Method != http.MethodPost || a.Path != guaranteesPath {
			problem("unexpected request %s %s", a.Method, a.Path)
			continue
		}
		if !a.Verified || a.Problem != "" {
			problem("delivery %q refused by the reference receiver (%s): %s", msgID, a.Problem, a.Body)
			continue
		}
		var env struct {
			ID    string `json:"id"`
			Event string `json:"event"`
			Data  struct {
				ID int64 `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(a.Body, &env); err != nil || env.ID == "" || msgID == "" {
			problem("malformed delivery %q (%v): %s", msgID, err, a.Body)
			continue
		}
		if env.Event != "lead.created" || a.Header.Get("X-Webhook-Event") != env.Event || env.Data.ID == 0 {
			problem("unexpected delivery %q (X-Webhook-Event %q): %s", msgID, a.Header.Get("X-Webhook-Event"), a.Body)
			continue
		}
		s.byMessage[msgID]++
		s.byEvent[env.ID]++
		leadOfEvent[env.ID] = env.Data.ID
		s.total++
	}
	s.events, s.messages = len(s.byEvent), len(s.byMessage)
	for id, n := range s.byEvent {
		if n > 1 {
			s.dupEvents++
		}
		s.maxEventRepeats = max(s.maxEventRepeats, n)
		lead := leadOfEvent[id]
		s.leads[lead] = id
		s.eventsPerLead[lead]++
	}
	for _, n := range s.byMessage {
		if n > 1 {
			s.dupMessages++
		}
	}
	return s
}
