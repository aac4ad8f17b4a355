// Package webhookreceiver is a reference partner endpoint for IAGENTE SDR
// webhooks: what a correct receiver does, written down as code that runs.
// Partners read it; our tests and a running server deliver to it.
//
// It is built on the receiver generated from openapi/webhooks.yaml
// (gen/webhooks): Receiver implements webhooks.WebhookReceiverInterface, and
// one URL takes every event, routed by X-Webhook-Event to the generated
// handler, because a partner registers one URL for all its events.
//
// Every delivery is checked before its body is trusted: the X-Webhook-Signature
// HMAC and the Standard Webhooks signature (refusing a timestamp more than 5
// minutes away), each on the raw body and against every configured secret,
// so a secret rotation is seamless. Only then is the body decoded into the
// generated event type. The checks are this package's own code (verify.go):
// it imports nothing of the server, so that it can catch the server's bugs.
//
// For tests it also keeps every request it gets, on any path, with its
// answer and whether it verified (AttemptLog), and each path can be told how
// to answer (SetBehavior): fail, stall, redirect, or act as another webhook
// endpoint, so one receiver can stand in for several partners.
//
// In a test:
//
//	rcv := webhookreceiver.New("/webhook", secret)
//	ts := httptest.NewServer(rcv)
//	defer ts.Close()
//	// register ts.URL+"/webhook" as a webhook, cause an event, then:
//	if err := rcv.WaitForEvents(ctx, 1); err != nil { ... }
//	ev := rcv.Events()[0].Typed.(webhooks.LeadCreatedEvent)
//
// As a process, Run serves one (iagente-mock receiver), programmable over
// HTTP under /_receiver/.
package webhookreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/gen/webhooks"
)

// maxBodyBytes bounds what is read before the signature is checked: an
// unauthenticated sender must not be able to make the receiver buffer an
// arbitrary amount. Our envelopes are a few kilobytes.
const maxBodyBytes = 1 << 20

// controlPrefix is where the control API lives. The leading underscore keeps
// it out of the way of any path a partner would choose for its webhook.
const controlPrefix = "/_receiver"

// Received is one delivery the receiver accepted.
type Received struct {
	// Path is the request path it arrived on: the receiver's own, or one
	// made a webhook endpoint with SetBehavior.
	Path string
	// Event is the X-Webhook-Event header, e.g. "lead.created".
	Event string
	// WebhookID is X-Webhook-Id: the delivery's id, the same on every retry.
	WebhookID string
	// EventID is the envelope's id ("evt_..."), shared by the deliveries of
	// one event to several webhooks.
	EventID string
	// Body is the raw body, exactly the bytes that were signed.
	Body   []byte
	Header http.Header
	At     time.Time
	// Duplicate is true when an earlier accepted delivery had the same
	// WebhookID: delivery is at least once, so this is normal and still
	// answered 2xx.
	Duplicate bool
	// Typed is the body decoded into the generated event type, e.g. a
	// webhooks.LeadCreatedEvent (a value, not a pointer).
	Typed any
}

// failure is one programmed answer to a valid delivery.
type failure struct {
	status     int
	retryAfter string
}

// Receiver is the reference webhook endpoint. It is safe for concurrent use;
// its zero value is not usable, call New.
type Receiver struct {
	path    string
	e       *echo.Echo // the deliveries' context and error handler; routes nothing
	control *echo.Echo
	byEvent map[string]echo.HandlerFunc
	// initial is what Reset goes back to: the secrets are configuration, not
	// state a test accumulates.
	initial []string

	mu      sync.Mutex
	secrets []string
	keys    [][]byte // Standard Webhooks keys; nil where a secret is not whsec_+base64
	// now is the clock the timestamp tolerance is checked against; tests
	// move it to verify published signatures of a fixed time.
	now       func() time.Time
	events    []Received
	seen      map[string]bool
	log       []*logEntry
	behaviors map[string][]Behavior
	rejected  int
	failures  []failure
	delay     time.Duration
	delaying  int // deliveries in the delay now
	gone      bool
	// changed is closed and replaced whenever an event is accepted or an
	// attempt is answered, waking WaitForEvents and WaitForAttempts without
	// polling.
	changed chan struct{}

	// report hears the verdict on every attempt; Run sets it to log them.
	report func(verdict)
}

// verdict is the fate of one request.
type verdict struct {
	at        time.Time
	path      string
	event     string
	webhookID string
	text      string // accepted, duplicate, rejected: ..., failed on purpose: ...
}

var _ webhooks.WebhookReceiverInterface = (*Receiver)(nil)

// New returns a receiver answering POST path, accepting deliveries signed
// with any of secrets (each "whsec_..." as issued by the API). It panics if
// path is not a plain absolute path or falls under /_receiver/, where the
// control API lives; Run reports the same mistakes as errors.
func New(path string, secrets ...string) *Receiver {
	if err := checkPath(path); err != nil {
		panic("webhookreceiver: " + err.Error())
	}
	r := &Receiver{
		path:      path,
		initial:   slices.Clone(secrets),
		seen:      map[string]bool{},
		behaviors: map[string][]Behavior{},
		changed:   make(chan struct{}),
		now:       time.Now,
	}
	r.setSecrets(secrets)
	r.byEvent = map[string]echo.HandlerFunc{
		string(webhooks.LeadCreated):      webhooks.LeadCreatedWebhookHandler(r),
		string(webhooks.LeadUpdated):      webhooks.LeadUpdatedWebhookHandler(r),
		string(webhooks.LeadQualified):    webhooks.LeadQualifiedWebhookHandler(r),
		string(webhooks.MessageReceived):  webhooks.MessageReceivedWebhookHandler(r),
		string(webhooks.MessageSent):      webhooks.MessageSentWebhookHandler(r),
		string(webhooks.MessageDelivered): webhooks.MessageDeliveredWebhookHandler(r),
		string(webhooks.MessageRead):      webhooks.MessageReadWebhookHandler(r),
		string(webhooks.MessageFailed):    webhooks.MessageFailedWebhookHandler(r),
		string(webhooks.HandoffCreated):   webhooks.HandoffCreatedWebhookHandler(r),
		string(webhooks.HandoffClosed):    webhooks.HandoffClosedWebhookHandler(r),
		string(webhooks.WebhookTest):      webhooks.WebhookTestWebhookHandler(r),
	}
	r.e = newEcho()
	r.control = r.newControlAPI()
	return r
}

func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorJSON
	return e
}

func checkPath(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("path %q does not start with /", path)
	case isControl(path):
		return fmt.Errorf("path %q is taken by the control API (%s/...)", path, controlPrefix)
	case strings.ContainsAny(path, ":*?#"):
		// Paths are compared literally. "?" and "#" never reach a request
		// path, and ":" or "*" read as a route pattern (/hooks/:id) that
		// would match nothing here.
		return fmt.Errorf("path %q must be a literal path, without : * ? or #", path)
	}
	return nil
}

func isControl(path string) bool {
	return path == controlPrefix || strings.HasPrefix(path, controlPrefix+"/")
}

// checkSecret refuses what the API never issues, so that a typo fails at
// start-up rather than as a 401 on every delivery.
func checkSecret(secret string) error {
	_, err := standardKey(secret)
	return err
}

// ServeHTTP answers the control API under /_receiver/ and takes every other
// request as an attempt: recorded, checked, and answered as its path is
// programmed.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if isControl(req.URL.Path) {
		r.control.ServeHTTP(w, req)
		return
	}
	entry := r.begin(req)
	at := entry.attempt // filled in below, published by finish
	c := r.e.NewContext(req, w)
	text, err := r.dispatch(c, &at)
	if err != nil {
		r.e.HTTPErrorHandler(err, c)
	}
	if c.Response().Committed {
		at.Status = c.Response().Status
	}
	r.finish(entry, at)
	if r.report != nil {
		r.report(verdict{at: time.Now(), path: req.URL.Path, event: req.Header.Get("X-Webhook-Event"),
			webhookID: req.Header.Get("X-Webhook-Id"), text: text})
	}
}

// delivery is what the checks made of one request: its raw body, carried
// into the Handle methods, and their findings carried back out.
type delivery struct {
	raw []byte
	// refusal is why the request is not a valid delivery; nil when it is.
	refusal *refusal
	// verified is true once both signatures, the timestamp and the signed
	// twins of the unsigned headers checked out.
	verified bool
	params   deliveryHeaders
	typed    any
	eventID  string
}

// refusal is the answer to an invalid delivery and the check it failed.
type refusal struct {
	status     int
	check, msg string
}

const deliveryKey = "webhookreceiver.delivery"

// dispatch answers one attempt. The checks run first, whatever the path is
// programmed to answer, so that every attempt says whether it verified.
func (r *Receiver) dispatch(c echo.Context, at *Attempt) (text string, err error) {
	req := c.Request()
	d := r.check(c)
	at.Body, at.Verified = d.raw, d.verified
	if d.refusal != nil {
		at.Problem = d.refusal.check + ": " + d.refusal.msg
	}

	b, programmed := r.nextBehavior(req.URL.Path)
	if !r.waitOut(req.Context(), b.Delay) {
		return "abandoned: the sender left during the delay", nil
	}
	switch {
	case b.Status != 0:
		return fmt.Sprintf("answered as programmed: %d", b.Status), answerProgrammed(c, b)
	case !programmed && req.URL.Path != r.path:
		return "no webhook at this path: 404", c.JSON(http.StatusNotFound, map[string]string{
			"error": fmt.Sprintf("no webhook at %s; this receiver's is %s", req.URL.Path, r.path)})
	}
	return r.handle(c, d, req.URL.Path == r.path)
}

// check reads the body once, before anything else, because the signatures
// cover those exact bytes: any re-encoding on the way (a framework binding
// JSON first, a proxy reformatting it) would make a valid delivery fail
// verification. Then it runs every check a partner's endpoint should, and
// answers nothing.
func (r *Receiver) check(c echo.Context) *delivery {
	req := c.Request()
	d := &delivery{}
	if req.Body == nil {
		// Only a client-side request, handed straight to ServeHTTP, has none.
		req.Body = http.NoBody
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, maxBodyBytes))
	d.raw = raw
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			d.refusal = &refusal{http.StatusRequestEntityTooLarge, "body", "body is larger than 1 MiB"}
			return d
		}
		// Almost always the sender hanging up mid-body; nobody reads this answer.
		d.refusal = &refusal{http.StatusBadRequest, "body", "could not read the body"}
		return d
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	if req.Method != http.MethodPost {
		d.refusal = &refusal{http.StatusMethodNotAllowed, "method", "deliveries are POSTs, not " + req.Method}
		return d
	}

	event := req.Header.Get("X-Webhook-Event")
	handler, ok := r.byEvent[event]
	if !ok {
		d.refusal = &refusal{http.StatusBadRequest, "X-Webhook-Event", fmt.Sprintf("unknown event %q", event)}
		return d
	}
	c.Set(deliveryKey, d)
	if err := handler(c); err != nil {
		// The generated binding refused the headers before any Handle
		// method ran: those never return an error.
		status, msg := http.StatusBadRequest, err.Error()
		if he, ok := errors.AsType[*echo.HTTPError](err); ok {
			status, msg = he.Code, fmt.Sprint(he.Message)
		}
		d.refusal = &refusal{status, "headers", msg}
	}
	return d
}

// handle is what a partner's endpoint does with a delivery: refuse it if
// invalid, otherwise record it (flagging a duplicate) and answer 200. On the
// receiver's own path, FailNext, SetDelay and SetGone come first.
func (r *Receiver) handle(c echo.Context, d *delivery, own bool) (string, error) {
	req := c.Request()
	if f := d.refusal; f != nil {
		r.mu.Lock()
		r.rejected++
		r.mu.Unlock()
		if f.status == http.StatusMethodNotAllowed {
			c.Response().Header().Set("Allow", http.MethodPost)
		}
		return "rejected: " + f.msg, c.JSON(f.status, map[string]string{"error": f.msg, "check": f.check})
	}

	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	if own && !r.waitOut(req.Context(), delay) {
		return "abandoned: the sender left during the delay", nil
	}

	var text string
	r.mu.Lock()
	var fail *failure
	switch {
	case own && r.gone:
		fail = &failure{status: http.StatusGone}
	case own && len(r.failures) > 0:
		fail = &r.failures[0]
		r.failures = r.failures[1:]
	default:
		p := d.params
		rec := Received{
			Path:      req.URL.Path,
			Event:     p.XWebhookEvent,
			WebhookID: p.XWebhookId,
			EventID:   d.eventID,
			Body:      d.raw,
			Header:    req.Header.Clone(),
			At:        r.now(),
			Duplicate: r.seen[p.XWebhookId],
			Typed:     d.typed,
		}
		r.seen[p.XWebhookId] = true
		r.events = append(r.events, rec)
		r.broadcast()
		text = "accepted"
		if rec.Duplicate {
			text = "duplicate"
		}
	}
	r.mu.Unlock()

	if fail != nil {
		if fail.retryAfter != "" {
			c.Response().Header().Set("Retry-After", fail.retryAfter)
		}
		return fmt.Sprintf("failed on purpose: %d", fail.status),
			c.JSON(fail.status, map[string]string{"error": "failing on purpose, as programmed"})
	}
	// A real endpoint answers here, before doing the work, and processes
	// the event asynchronously: the sender gives up after 10 seconds.
	return text, c.JSON(http.StatusOK, map[string]string{"status": text})
}

// answerProgrammed gives b's answer whatever the request was: it stands for
// an endpoint that fails before it looks at a delivery.
func answerProgrammed(c echo.Context, b Behavior) error {
	h := c.Response().Header()
	if b.RetryAfter != "" {
		h.Set("Retry-After", b.RetryAfter)
	}
	if b.Location != "" {
		h.Set("Location", b.Location)
	}
	if b.Status == http.StatusNoContent || b.Status == http.StatusNotModified {
		return c.NoContent(b.Status)
	}
	return c.JSON(b.Status, map[string]any{"programmed": b.Status})
}

// waitOut waits a programmed delay (SetDelay's or a Behavior's), counted
// in Delaying meanwhile, and reports false if the sender left first.
func (r *Receiver) waitOut(ctx context.Context, delay time.Duration) bool {
	if delay <= 0 {
		return true
	}
	r.mu.Lock()
	r.delaying++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.delaying--
		r.mu.Unlock()
	}()
	return sleep(ctx, delay)
}

// sleep waits d, or less if ctx ends first (the sender hung up, or the
// server is shutting down); it reports whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Every event's Params struct is generated from the same shared header
// parameters, so each converts to this one and a single code path verifies
// all events. Should an event ever get different headers, its conversion
// stops compiling instead of silently skipping a check.
type deliveryHeaders = webhooks.LeadCreatedParams

// HandleLeadCreatedWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleLeadCreatedWebhook(c echo.Context, p webhooks.LeadCreatedParams) error {
	return r.deliver(c, p, decode[webhooks.LeadCreatedEvent])
}

// HandleLeadUpdatedWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleLeadUpdatedWebhook(c echo.Context, p webhooks.LeadUpdatedParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.LeadUpdatedEvent])
}

// HandleLeadQualifiedWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleLeadQualifiedWebhook(c echo.Context, p webhooks.LeadQualifiedParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.LeadQualifiedEvent])
}

// HandleMessageReceivedWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleMessageReceivedWebhook(c echo.Context, p webhooks.MessageReceivedParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.MessageReceivedEvent])
}

// HandleMessageSentWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleMessageSentWebhook(c echo.Context, p webhooks.MessageSentParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.MessageSentEvent])
}

// HandleMessageDeliveredWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleMessageDeliveredWebhook(c echo.Context, p webhooks.MessageDeliveredParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.MessageDeliveredEvent])
}

// HandleMessageReadWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleMessageReadWebhook(c echo.Context, p webhooks.MessageReadParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.MessageReadEvent])
}

// HandleMessageFailedWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleMessageFailedWebhook(c echo.Context, p webhooks.MessageFailedParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.MessageFailedEvent])
}

// HandleHandoffCreatedWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleHandoffCreatedWebhook(c echo.Context, p webhooks.HandoffCreatedParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.HandoffCreatedEvent])
}

// HandleHandoffClosedWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleHandoffClosedWebhook(c echo.Context, p webhooks.HandoffClosedParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.HandoffClosedEvent])
}

// HandleWebhookTestWebhook implements webhooks.WebhookReceiverInterface.
func (r *Receiver) HandleWebhookTestWebhook(c echo.Context, p webhooks.WebhookTestParams) error {
	return r.deliver(c, deliveryHeaders(p), decode[webhooks.WebhookTestEvent])
}

// decode is strict on purpose: this receiver exists to catch our server
// drifting from the catalog, so a field the generated type does not know is
// an error here. A production endpoint should ignore unknown fields instead,
// since new ones may be added.
func decode[T any](raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ev T
	if err := dec.Decode(&ev); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return ev, nil
}

func (r *Receiver) deliver(c echo.Context, p deliveryHeaders, decodeBody func([]byte) (any, error)) error {
	d, _ := c.Get(deliveryKey).(*delivery)
	if d == nil {
		// Only reachable if a generated handler is mounted without check,
		// which would skip reading the raw body first.
		return echo.NewHTTPError(http.StatusInternalServerError, "webhookreceiver: Handle called outside dispatch")
	}
	d.params = p

	r.mu.Lock()
	secrets, keys, now := r.secrets, r.keys, r.now()
	r.mu.Unlock()
	if status, check, msg := verify(secrets, keys, now, d.raw, p); status != 0 {
		d.refusal = &refusal{status, check, msg}
		return nil
	}
	d.verified = true

	typed, err := decodeBody(d.raw)
	if err != nil {
		d.refusal = &refusal{http.StatusBadRequest, "body", "body is not a " + p.XWebhookEvent + " envelope: " + err.Error()}
		return nil
	}
	var env struct {
		ID    string `json:"id"`
		Event string `json:"event"`
	}
	_ = json.Unmarshal(d.raw, &env) // cannot fail: the strict decode above succeeded
	if env.Event != p.XWebhookEvent {
		// The header chose the type but is not signed; the body is.
		d.refusal = &refusal{http.StatusBadRequest, "body", fmt.Sprintf("envelope event %q differs from X-Webhook-Event", env.Event)}
		return nil
	}
	d.typed, d.eventID = typed, env.ID
	return nil
}

// errorJSON answers echo's own errors in the receiver's error shape.
func errorJSON(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, err.Error()
	if he, ok := errors.AsType[*echo.HTTPError](err); ok {
		status, msg = he.Code, fmt.Sprint(he.Message)
	}
	_ = c.JSON(status, map[string]string{"error": msg})
}
