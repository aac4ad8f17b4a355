package webhookreceiver

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// The control API: inspection and programming without Go, for a receiver
// run as a process (Run), under /_receiver/. It has no authentication: a
// receiver is meant to listen on localhost.

func (r *Receiver) newControlAPI() *echo.Echo {
	e := newEcho()
	e.GET(controlPrefix+"/events", r.listEvents)
	e.GET(controlPrefix+"/attempts", r.listAttempts)
	e.GET(controlPrefix+"/behaviors", r.showBehaviors)
	e.POST(controlPrefix+"/behaviors", r.programBehavior)
	e.GET(controlPrefix+"/program", r.showProgram)
	e.POST(controlPrefix+"/program", r.program)
	e.POST(controlPrefix+"/reset", r.reset)
	return e
}

func badRequest(c echo.Context, prefix, msg string) error {
	return c.JSON(http.StatusBadRequest, map[string]string{"error": prefix + ": " + msg})
}

// decodeStrict reads a small JSON body and refuses unknown fields, so that
// a misspelt setting is an error rather than silently ignored.
func decodeStrict(c echo.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 1<<16))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type eventJSON struct {
	Path      string    `json:"path"`
	Event     string    `json:"event"`
	WebhookID string    `json:"webhook_id"`
	EventID   string    `json:"event_id"`
	Duplicate bool      `json:"duplicate"`
	At        time.Time `json:"at"`
}

func (r *Receiver) listEvents(c echo.Context) error {
	evs := r.Events()
	out := make([]eventJSON, len(evs))
	for i, ev := range evs {
		out[i] = eventJSON{Path: ev.Path, Event: ev.Event, WebhookID: ev.WebhookID, EventID: ev.EventID, Duplicate: ev.Duplicate, At: ev.At}
	}
	return c.JSON(http.StatusOK, out)
}

// attemptJSON carries the body as text when it is UTF-8, as every delivery
// is, and in base64 otherwise, so that the bytes a signature covers survive
// the trip through JSON exactly.
type attemptJSON struct {
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	Headers    http.Header `json:"headers"`
	Body       string      `json:"body"`
	BodyBase64 string      `json:"body_base64,omitempty"`
	At         time.Time   `json:"at"`
	Status     int         `json:"status"`
	Verified   bool        `json:"verified"`
	Problem    string      `json:"problem"`
}

func (r *Receiver) listAttempts(c echo.Context) error {
	path := c.QueryParam("path")
	if path != "" {
		if err := checkPath(path); err != nil {
			return badRequest(c, "attempts", err.Error())
		}
	}
	as := r.AttemptsFor(path)
	out := make([]attemptJSON, len(as))
	for i, a := range as {
		out[i] = attemptJSON{Method: a.Method, Path: a.Path, Headers: a.Header, At: a.At, Status: a.Status, Verified: a.Verified, Problem: a.Problem}
		if utf8.Valid(a.Body) {
			out[i].Body = string(a.Body)
		} else {
			out[i].BodyBase64 = base64.StdEncoding.EncodeToString(a.Body)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// millis reads a delay_ms. A day bounds it: longer is surely a mistake,
// and far longer would overflow a time.Duration into a negative wait.
func millis(ms int64) (time.Duration, error) {
	const most = 24 * time.Hour
	if ms < 0 || ms > most.Milliseconds() {
		return 0, fmt.Errorf("delay_ms must be from 0 to %d (a day)", most.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

type behaviorJSON struct {
	Status     int    `json:"status"`
	RetryAfter string `json:"retry_after"`
	Location   string `json:"location"`
	DelayMS    int64  `json:"delay_ms"`
	Times      int    `json:"times"`
}

// behaviorsJSON is the body of POST /_receiver/behaviors: the whole
// sequence for one path, as SetBehavior takes it; [] clears the path.
type behaviorsJSON struct {
	Path      *string         `json:"path"`
	Behaviors *[]behaviorJSON `json:"behaviors"`
}

func (r *Receiver) behaviorsByPath() map[string][]behaviorJSON {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]behaviorJSON, len(r.behaviors))
	for path, seq := range r.behaviors {
		js := make([]behaviorJSON, len(seq))
		for i, b := range seq {
			js[i] = behaviorJSON{Status: b.Status, RetryAfter: b.RetryAfter, Location: b.Location, DelayMS: b.Delay.Milliseconds(), Times: b.Times}
		}
		out[path] = js
	}
	return out
}

func (r *Receiver) showBehaviors(c echo.Context) error {
	return c.JSON(http.StatusOK, r.behaviorsByPath())
}

func (r *Receiver) programBehavior(c echo.Context) error {
	var p behaviorsJSON
	if err := decodeStrict(c, &p); err != nil {
		return badRequest(c, "behaviors", err.Error())
	}
	if p.Path == nil || p.Behaviors == nil {
		return badRequest(c, "behaviors", `"path" and "behaviors" are both required ("behaviors": [] clears the path)`)
	}
	seq := make([]Behavior, len(*p.Behaviors))
	for i, b := range *p.Behaviors {
		delay, err := millis(b.DelayMS)
		if err != nil {
			return badRequest(c, "behaviors", err.Error())
		}
		seq[i] = Behavior{Status: b.Status, RetryAfter: b.RetryAfter, Location: b.Location, Delay: delay, Times: b.Times}
	}
	if err := checkBehaviors(*p.Path, seq); err != nil {
		return badRequest(c, "behaviors", err.Error())
	}
	r.SetBehavior(*p.Path, seq...)
	return c.JSON(http.StatusOK, r.behaviorsByPath())
}

// programJSON is the body of POST /_receiver/program; an absent field
// leaves that setting as it is.
type programJSON struct {
	FailNext   *int    `json:"fail_next"`
	Status     *int    `json:"status"`
	RetryAfter *string `json:"retry_after"`
	DelayMS    *int64  `json:"delay_ms"`
	Gone       *bool   `json:"gone"`
}

type stateJSON struct {
	FailNext int   `json:"fail_next"`
	DelayMS  int64 `json:"delay_ms"`
	Gone     bool  `json:"gone"`
	Attempts int   `json:"attempts"`
	Rejected int   `json:"rejected"`
	Events   int   `json:"events"`
}

func (r *Receiver) state() stateJSON {
	attempts := r.Attempts()
	r.mu.Lock()
	defer r.mu.Unlock()
	return stateJSON{
		FailNext: len(r.failures),
		DelayMS:  r.delay.Milliseconds(),
		Gone:     r.gone,
		Attempts: attempts,
		Rejected: r.rejected,
		Events:   len(r.events),
	}
}

func (r *Receiver) showProgram(c echo.Context) error {
	return c.JSON(http.StatusOK, r.state())
}

func (r *Receiver) program(c echo.Context) error {
	var p programJSON
	if err := decodeStrict(c, &p); err != nil {
		return badRequest(c, "program", err.Error())
	}
	// Validate everything before changing anything, so a rejected program
	// leaves the receiver as it was.
	status := http.StatusServiceUnavailable
	if p.FailNext == nil && (p.Status != nil || p.RetryAfter != nil) {
		return badRequest(c, "program", "status and retry_after apply to fail_next, which is missing")
	}
	if p.FailNext != nil && *p.FailNext < 0 {
		return badRequest(c, "program", "fail_next must be 0 or more")
	}
	if p.Status != nil {
		// 2xx would be a success to the sender, not a failure.
		if *p.Status < 300 || *p.Status > 599 {
			return badRequest(c, "program", "status must be from 300 to 599")
		}
		status = *p.Status
	}
	var delay time.Duration
	if p.DelayMS != nil {
		var err error
		if delay, err = millis(*p.DelayMS); err != nil {
			return badRequest(c, "program", err.Error())
		}
	}

	if p.FailNext != nil {
		retryAfter := ""
		if p.RetryAfter != nil {
			retryAfter = *p.RetryAfter
		}
		r.FailNextWithRetryAfter(*p.FailNext, status, retryAfter)
	}
	if p.DelayMS != nil {
		r.SetDelay(delay)
	}
	if p.Gone != nil {
		r.SetGone(*p.Gone)
	}
	return c.JSON(http.StatusOK, r.state())
}

func (r *Receiver) reset(c echo.Context) error {
	r.Reset()
	return c.NoContent(http.StatusNoContent)
}
