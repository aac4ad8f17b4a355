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
// In a test:
//
//	rcv := webhookreceiver.New("/webhook", secret)
//	ts := httptest.NewServer(rcv)
//	defer ts.Close()
//	// register ts.URL+"/webhook" as a webhook, cause an event, then:
//	if err := rcv.WaitForEvents(ctx, 1); err != nil { ... }
//	ev := rcv.Events()[0].Typed.(webhooks.LeadCreatedEvent)
//
// As a process, Run serves one (iagente-sdr mock receiver), programmable over
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
	e       *echo.Echo
	byEvent map[string]echo.HandlerFunc
	// initial is what Reset goes back to: the secrets are configuration, not
	// state a test accumulates.
	initial []string

	mu      sync.Mutex
	secrets []string
	keys    [][]byte // Standard Webhooks keys; nil where a secret is not whsec_+base64
	// now is the clock the timestamp tolerance is checked against; tests
	// move it to verify published signatures of a fixed time.
	now      func() time.Time
	events   []Received
	seen     map[string]bool
	attempts int
	rejected int
	failures []failure
	delay    time.Duration
	gone     bool
	// arrived is closed and replaced on every accepted delivery, waking
	// WaitForEvents without polling.
	arrived chan struct{}

	// report hears the verdict on every delivery; Run sets it to log them.
	report func(verdict)
}

// verdict is the fate of one request to the receiver's path.
type verdict struct {
	at        time.Time
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
		path:    path,
		initial: slices.Clone(secrets),
		seen:    map[string]bool{},
		arrived: make(chan struct{}),
		now:     time.Now,
	}
	r.setSecrets(secrets)
	r.byEvent = map[string]echo.HandlerFunc{
		string(webhooks.LeadCreated):     webhooks.LeadCreatedWebhookHandler(r),
		string(webhooks.LeadUpdated):     webhooks.LeadUpdatedWebhookHandler(r),
		string(webhooks.LeadQualified):   webhooks.LeadQualifiedWebhookHandler(r),
		string(webhooks.MessageReceived): webhooks.MessageReceivedWebhookHandler(r),
		string(webhooks.MessageSent):     webhooks.MessageSentWebhookHandler(r),
		string(webhooks.HandoffCreated):  webhooks.HandoffCreatedWebhookHandler(r),
		string(webhooks.HandoffClosed):   webhooks.HandoffClosedWebhookHandler(r),
		string(webhooks.WebhookTest):     webhooks.WebhookTestWebhookHandler(r),
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorJSON
	e.POST(path, r.dispatch)
	e.GET(controlPrefix+"/events", r.listEvents)
	e.GET(controlPrefix+"/program", r.showProgram)
	e.POST(controlPrefix+"/program", r.program)
	e.POST(controlPrefix+"/reset", r.reset)
	r.e = e
	return r
}

func checkPath(path string) error {
	switch {
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("path %q does not start with /", path)
	case path == controlPrefix || strings.HasPrefix(path, controlPrefix+"/"):
		return fmt.Errorf("path %q is taken by the control API (%s/...)", path, controlPrefix)
	case strings.ContainsAny(path, ":*?#"):
		// echo would read ":" and "*" as route parameters, silently
		// matching more URLs than the one a partner registered.
		return fmt.Errorf("path %q must be a literal path, without : * ? or #", path)
	}
	return nil
}

// checkSecret refuses what the API never issues, so that a typo fails at
// start-up rather than as a 401 on every delivery.
func checkSecret(secret string) error {
	_, err := standardKey(secret)
	return err
}

// ServeHTTP answers deliveries on the receiver's path and the control API.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.e.ServeHTTP(w, req)
}

// SetSecrets replaces the accepted secrets. A delivery is valid if it
// verifies with any of them, as during a rotation when the API signs with
// both the old and the new secret.
func (r *Receiver) SetSecrets(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setSecrets(secrets)
}

func (r *Receiver) setSecrets(secrets []string) {
	r.secrets = slices.Clone(secrets)
	r.keys = make([][]byte, len(secrets))
	for i, s := range secrets {
		r.keys[i], _ = standardKey(s)
	}
}

// FailNext makes the next n valid deliveries get status (with a JSON error
// body) instead of 200, after any failures already programmed. They count
// as attempts, not as received events, and do not mark their X-Webhook-Id as
// seen: the retry that follows is the first real receipt, not a duplicate.
// Invalid deliveries are refused as usual and do not use up a failure, so a
// signature test keeps seeing 401 whatever is programmed.
func (r *Receiver) FailNext(n, status int) {
	r.FailNextWithRetryAfter(n, status, "")
}

// FailNextWithRetryAfter is FailNext with a Retry-After header on each
// answer (seconds or an HTTP date), which the API honours on 429 and 503.
func (r *Receiver) FailNextWithRetryAfter(n, status int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.failures = append(r.failures, failure{status: status, retryAfter: retryAfter})
	}
}

// SetDelay makes the receiver wait d before answering a valid delivery, to
// let the sender's timeout fire. The wait ends when the sender hangs up;
// such a delivery is neither received nor failed, and uses up no
// programmed failure, since it got no answer at all.
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay = d
}

// SetGone makes valid deliveries get 410 Gone, which tells the API to
// disable the webhook, until SetGone(false).
func (r *Receiver) SetGone(gone bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone = gone
}

// Events returns copies of the accepted deliveries, in arrival order,
// duplicates included (flagged).
func (r *Receiver) Events() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Received, len(r.events))
	for i, ev := range r.events {
		ev.Body = bytes.Clone(ev.Body)
		ev.Header = ev.Header.Clone()
		out[i] = ev
	}
	return out
}

// Attempts counts every request to the receiver's path: accepted, rejected,
// failed on purpose or abandoned by the sender.
func (r *Receiver) Attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// Rejected counts the requests refused as invalid: a bad signature or
// timestamp (401), a missing header, an unknown event or a body that is not
// the event's envelope (400), a body over 1 MiB (413).
func (r *Receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Count returns how many accepted deliveries were of event, duplicates
// included.
func (r *Receiver) Count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.Event == event {
			n++
		}
	}
	return n
}

// WaitForEvents returns once at least n deliveries have been accepted, or
// ctx's error (saying how many arrived) when ctx ends first.
func (r *Receiver) WaitForEvents(ctx context.Context, n int) error {
	for {
		r.mu.Lock()
		have, arrived := len(r.events), r.arrived
		r.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return fmt.Errorf("webhookreceiver: %d of %d events arrived: %w", have, n, ctx.Err())
		}
	}
}

// Reset returns the receiver to its state after New: nothing recorded,
// nothing programmed, the secrets given to New.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setSecrets(r.initial)
	r.events = nil
	r.seen = map[string]bool{}
	r.attempts = 0
	r.rejected = 0
	r.failures = nil
	r.delay = 0
	r.gone = false
}

// delivery carries one request's raw body from dispatch into the Handle
// methods, and its verdict back out.
type delivery struct {
	raw     []byte
	verdict string
}

const deliveryKey = "webhookreceiver.delivery"

// dispatch is the one URL a partner registers. It reads the body once,
// before anything else, because the signatures cover those exact bytes: any
// re-encoding on the way (a framework binding JSON first, a proxy
// reformatting it) would make a valid delivery fail verification.
func (r *Receiver) dispatch(c echo.Context) error {
	req := c.Request()
	r.mu.Lock()
	r.attempts++
	r.mu.Unlock()

	d := &delivery{}
	defer func() {
		if r.report != nil {
			r.report(verdict{at: time.Now(), event: req.Header.Get("X-Webhook-Event"), webhookID: req.Header.Get("X-Webhook-Id"), text: d.verdict})
		}
	}()

	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, maxBodyBytes))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return r.refuse(c, d, http.StatusRequestEntityTooLarge, "body", "body is larger than 1 MiB")
		}
		// Almost always the sender hanging up mid-body; nobody reads this answer.
		return r.refuse(c, d, http.StatusBadRequest, "body", "could not read the body")
	}
	req.Body = io.NopCloser(bytes.NewReader(raw))
	d.raw = raw

	event := req.Header.Get("X-Webhook-Event")
	handler, ok := r.byEvent[event]
	if !ok {
		return r.refuse(c, d, http.StatusBadRequest, "X-Webhook-Event", fmt.Sprintf("unknown event %q", event))
	}
	c.Set(deliveryKey, d)
	err = handler(c)
	if err != nil && d.verdict == "" {
		// The generated binding refused the headers before any Handle
		// method ran.
		status, msg := http.StatusBadRequest, err.Error()
		if he, ok := errors.AsType[*echo.HTTPError](err); ok {
			status, msg = he.Code, fmt.Sprint(he.Message)
		}
		return r.refuse(c, d, status, "headers", msg)
	}
	return err
}

func (r *Receiver) refuse(c echo.Context, d *delivery, status int, check, msg string) error {
	r.mu.Lock()
	r.rejected++
	r.mu.Unlock()
	d.verdict = "rejected: " + msg
	return c.JSON(status, map[string]string{"error": msg, "check": check})
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
		// Only reachable if a generated handler is mounted without dispatch,
		// which would skip reading the raw body first.
		return echo.NewHTTPError(http.StatusInternalServerError, "webhookreceiver: Handle called outside dispatch")
	}
	req := c.Request()

	r.mu.Lock()
	secrets, keys, now := r.secrets, r.keys, r.now()
	r.mu.Unlock()

	if status, check, msg := verify(secrets, keys, now, d.raw, p); status != 0 {
		return r.refuse(c, d, status, check, msg)
	}

	typed, err := decodeBody(d.raw)
	if err != nil {
		return r.refuse(c, d, http.StatusBadRequest, "body", "body is not a "+p.XWebhookEvent+" envelope: "+err.Error())
	}
	var env struct {
		ID    string `json:"id"`
		Event string `json:"event"`
	}
	_ = json.Unmarshal(d.raw, &env) // cannot fail: the strict decode above succeeded
	if env.Event != p.XWebhookEvent {
		// The header chose the type but is not signed; the body is.
		return r.refuse(c, d, http.StatusBadRequest, "body", fmt.Sprintf("envelope event %q differs from X-Webhook-Event", env.Event))
	}

	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			d.verdict = "abandoned: the sender left during the delay"
			return nil
		}
	}

	r.mu.Lock()
	var fail *failure
	switch {
	case r.gone:
		fail = &failure{status: http.StatusGone}
	case len(r.failures) > 0:
		fail = &r.failures[0]
		r.failures = r.failures[1:]
	default:
		rec := Received{
			Event:     p.XWebhookEvent,
			WebhookID: p.XWebhookId,
			EventID:   env.ID,
			Body:      d.raw,
			Header:    req.Header.Clone(),
			At:        time.Now(),
			Duplicate: r.seen[p.XWebhookId],
			Typed:     typed,
		}
		r.seen[p.XWebhookId] = true
		r.events = append(r.events, rec)
		close(r.arrived)
		r.arrived = make(chan struct{})
		if rec.Duplicate {
			d.verdict = "duplicate"
		} else {
			d.verdict = "accepted"
		}
	}
	r.mu.Unlock()

	if fail != nil {
		d.verdict = fmt.Sprintf("failed on purpose: %d", fail.status)
		if fail.retryAfter != "" {
			c.Response().Header().Set("Retry-After", fail.retryAfter)
		}
		return c.JSON(fail.status, map[string]string{"error": "failing on purpose, as programmed"})
	}
	// A real endpoint answers here, before doing the work, and processes
	// the event asynchronously: the sender gives up after 10 seconds.
	return c.JSON(http.StatusOK, map[string]string{"status": d.verdict})
}

// verify checks both signature schemes before anything in the body is
// believed. It returns status 0 when the delivery is authentic.
func verify(secrets []string, keys [][]byte, now time.Time, raw []byte, p deliveryHeaders) (status int, check, msg string) {
	if len(secrets) == 0 {
		return http.StatusUnauthorized, "secrets", "no secret is configured, so nothing can verify"
	}

	if !slices.ContainsFunc(secrets, func(s string) bool { return legacySignatureOK(s, raw, p.XWebhookSignature) }) {
		return http.StatusUnauthorized, "X-Webhook-Signature", "X-Webhook-Signature matches none of the configured secrets (is the body exactly as received?)"
	}

	usable := slices.DeleteFunc(slices.Clone(keys), func(k []byte) bool { return k == nil })
	if len(usable) == 0 {
		return http.StatusUnauthorized, "webhook-signature", "no configured secret is whsec_ followed by base64, so webhook-signature cannot verify"
	}
	// The timestamp is judged before the signature: a stale delivery fails
	// the same way for every secret, and "too old" says more than "no
	// matching signature".
	at, ok := parseTimestamp(p.WebhookTimestamp)
	switch {
	case !ok:
		return http.StatusUnauthorized, "webhook-timestamp", "webhook-timestamp is not Unix seconds"
	case now.Sub(at) > tolerance:
		return http.StatusUnauthorized, "webhook-timestamp", "webhook-timestamp is more than 5 minutes old (a replay, or a clock off)"
	case at.Sub(now) > tolerance:
		return http.StatusUnauthorized, "webhook-timestamp", "webhook-timestamp is more than 5 minutes in the future (a clock off)"
	}
	if !standardSignatureOK(usable, p.WebhookId, p.WebhookTimestamp, raw, p.WebhookSignature) {
		return http.StatusUnauthorized, "webhook-signature", "webhook-signature matches none of the configured secrets"
	}

	// X-Webhook-Id and X-Webhook-Timestamp are covered by no signature; their
	// signed twins are. Deduplicating on an unsigned id would let anyone
	// replaying a body suppress a later real delivery.
	if p.XWebhookId != p.WebhookId {
		return http.StatusUnauthorized, "X-Webhook-Id", "X-Webhook-Id differs from the signed webhook-id"
	}
	if p.XWebhookTimestamp != p.WebhookTimestamp {
		return http.StatusUnauthorized, "X-Webhook-Timestamp", "X-Webhook-Timestamp differs from the signed webhook-timestamp"
	}
	return 0, "", ""
}

// errorJSON answers echo's own errors (404, 405) in the receiver's error
// shape.
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

// The control API: inspection and programming without Go, for the CLI mode.

type eventJSON struct {
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
		out[i] = eventJSON{Event: ev.Event, WebhookID: ev.WebhookID, EventID: ev.EventID, Duplicate: ev.Duplicate, At: ev.At}
	}
	return c.JSON(http.StatusOK, out)
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
	r.mu.Lock()
	defer r.mu.Unlock()
	return stateJSON{
		FailNext: len(r.failures),
		DelayMS:  r.delay.Milliseconds(),
		Gone:     r.gone,
		Attempts: r.attempts,
		Rejected: r.rejected,
		Events:   len(r.events),
	}
}

func (r *Receiver) showProgram(c echo.Context) error {
	return c.JSON(http.StatusOK, r.state())
}

func (r *Receiver) program(c echo.Context) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 1<<16))
	dec.DisallowUnknownFields()
	var p programJSON
	if err := dec.Decode(&p); err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "program: " + err.Error()})
	}
	bad := func(msg string) error {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "program: " + msg})
	}
	// Validate everything before changing anything, so a rejected program
	// leaves the receiver as it was.
	status := http.StatusServiceUnavailable
	if p.FailNext == nil && (p.Status != nil || p.RetryAfter != nil) {
		return bad("status and retry_after apply to fail_next, which is missing")
	}
	if p.FailNext != nil && *p.FailNext < 0 {
		return bad("fail_next must be 0 or more")
	}
	if p.Status != nil {
		// 2xx would be a success to the sender, not a failure.
		if *p.Status < 300 || *p.Status > 599 {
			return bad("status must be from 300 to 599")
		}
		status = *p.Status
	}
	if p.DelayMS != nil && *p.DelayMS < 0 {
		return bad("delay_ms must be 0 or more")
	}

	if p.FailNext != nil {
		retryAfter := ""
		if p.RetryAfter != nil {
			retryAfter = *p.RetryAfter
		}
		r.FailNextWithRetryAfter(*p.FailNext, status, retryAfter)
	}
	if p.DelayMS != nil {
		r.SetDelay(time.Duration(*p.DelayMS) * time.Millisecond)
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
