// Package graphapi is a fake of Meta's Graph API as far as the WhatsApp
// Cloud API uses it: a real HTTP server that accepts
// POST /{version}/{phone-number-id}/messages the way Meta does, answers in
// Meta's JSON, and records every request so tests can assert exactly what an
// adapter sent. It is also the other side of Meta's webhooks: it builds
// Meta's inbound payloads, signs them as Meta does and pushes them to a
// callback URL, and performs Meta's subscription handshake.
//
// In a test:
//
//	fake := graphapi.New()
//	ts := httptest.NewServer(fake)
//	defer ts.Close()
//	client := &whatsappcloud.Client{BaseURL: ts.URL}
//	fake.FailNext(1, 400, graphapi.MetaError(131030, "OAuthException", "(#131030) Recipient phone number not in allowed list", ""))
//	... send, then inspect fake.Requests()
//
// As a process, Run serves a fake on an address (iagente-mock whatsapp).
//
// The fake checks the basics Meta checks (product, recipient, message type
// and its object, required and disallowed fields) so that a malformed
// request fails here before it fails in production, and behaves like Meta
// after the send: it posts signed status webhooks to a callback URL
// (callbacks.go), fails free-form messages outside the 24-hour window with
// 131047, refuses sends beyond a number's throughput with 130429, and lists
// an account's message templates page by page (templates.go). It does not
// check template approval or media reachability; program those answers
// with FailNext. Everything is also programmable over HTTP (control.go).
package graphapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// maxBodyBytes bounds a request body; the messages endpoint takes a few
// kilobytes at most.
const maxBodyBytes = 1 << 20

// Request is one request the fake received, recorded on arrival (so a
// request the client gave up on is still there).
type Request struct {
	Method string
	// Path is the URL path, e.g. /v21.0/106540352242922/messages.
	Path  string
	Query url.Values
	// Header is as received, Authorization included, for tests to assert.
	Header http.Header
	Body   []byte
	// JSON is Body decoded, or nil when Body is not a JSON object.
	JSON map[string]any
	Time time.Time
	// Status is what the fake answered, 0 when it has not (yet) answered:
	// still delaying, or the client went away first.
	Status int
	// MessageID is the wamid the fake answered with, if it accepted a
	// message.
	MessageID string
}

type programmed struct {
	status int
	body   []byte
}

// Server is the fake Graph API. It is safe for concurrent use; its zero
// value is not usable, call New.
type Server struct {
	mu       sync.Mutex
	tokens   map[string]string
	requests []*Request
	failures []programmed
	delay    time.Duration
	seq      uint64

	// The webhooks the fake posts: where, signed with what, and how a
	// send's statuses go (see callbacks.go).
	callbackURL string
	appSecret   string
	script      StatusScript
	callbacks   []*Callback
	// windows holds when each contact (phone number id + wa_id) last
	// wrote; enforceWindow refuses free-form messages outside 24 hours.
	windows       map[string]time.Time
	enforceWindow bool
	// perSecond is each phone number's throughput; sent the recent sends.
	perSecond int
	sent      map[string][]time.Time
	// templates are each WhatsApp Business Account's, paged as paging says.
	templates map[string][]Template
	paging    map[string]Paging

	control *http.ServeMux
	// bg counts callbacks being posted; stop ends them (Close).
	bg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
	now      func() time.Time
}

// DefaultThroughput is Meta's default throughput of a business number, in
// messages per second.
const DefaultThroughput = 80

// New returns a fake that accepts any non-empty bearer token, posts no
// callbacks until SetCallback, enforces the 24-hour window and Meta's
// default throughput, and has no templates.
func New() *Server {
	s := &Server{stop: make(chan struct{}), now: time.Now}
	s.reset()
	s.control = s.newControlAPI()
	return s
}

func (s *Server) reset() {
	s.tokens = map[string]string{}
	s.requests = nil
	s.failures = nil
	s.delay = 0
	s.callbackURL, s.appSecret = "", ""
	s.script = DefaultStatusScript()
	s.callbacks = nil
	s.windows = map[string]time.Time{}
	s.enforceWindow = true
	s.perSecond = DefaultThroughput
	s.sent = map[string][]time.Time{}
	s.templates = map[string][]Template{}
	s.paging = map[string]Paging{}
}

// Close stops posting callbacks, waiting for the ones under way to give
// up. The fake keeps answering requests.
func (s *Server) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.bg.Wait()
}

// SetToken makes the fake require token for phoneNumberID (or a business
// account id, for its templates), answering 401 with Meta's OAuthException
// (code 190) otherwise. Other ids keep accepting any non-empty token.
func (s *Server) SetToken(phoneNumberID, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[phoneNumberID] = token
}

// FailNext makes the next n requests get status and body instead of the
// normal answer, after any failures already programmed. body is sent as
// is; use MetaError for Meta's error JSON, or any bytes (an HTML page, an
// empty body) to imitate a proxy or an outage.
func (s *Server) FailNext(n, status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, programmed{status: status, body: bytes.Clone(body)})
	}
}

// SetDelay makes the fake wait d before answering each request, to let a
// client's timeout fire. The wait ends early when the client goes away, so
// a test that gives up after 100ms does not keep the server busy for d.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns copies of the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// Reset returns the fake to its state after New: no recorded requests or
// callbacks, no programmed failures, no delay, no tokens, no callback URL,
// the default status script, no contact windows, no templates.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
}

var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)

// ServeHTTP answers one Graph API request, or one of the control API
// under /_graphapi/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == controlPrefix || strings.HasPrefix(r.URL.Path, controlPrefix+"/") {
		s.control.ServeHTTP(w, r)
		return
	}
	// Reading the whole body before anything else also lets net/http notice
	// when the client hangs up, which is what ends a delay early.
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	rec := &Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.Query(),
		Header: r.Header.Clone(),
		Body:   body,
		Time:   time.Now(),
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		rec.JSON = obj
	}

	s.mu.Lock()
	s.requests = append(s.requests, rec)
	delay := s.delay
	var fail *programmed
	if len(s.failures) > 0 {
		fail = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	if fail != nil {
		s.write(w, rec, fail.status, fail.body, "")
		return
	}
	if readErr != nil {
		s.write(w, rec, http.StatusRequestEntityTooLarge, MetaError(100, "OAuthException", "(#100) The request body is too large", ""), "")
		return
	}

	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || !versionRE.MatchString(parts[0]) || parts[1] == "" ||
		(parts[2] != "messages" && parts[2] != "message_templates") {
		s.write(w, rec, http.StatusBadRequest, MetaError(2500, "OAuthException", "Unknown path components: "+r.URL.Path, ""), "")
		return
	}
	node := parts[1]
	if wantMethod := map[string]string{"messages": http.MethodPost, "message_templates": http.MethodGet}[parts[2]]; r.Method != wantMethod {
		s.write(w, rec, http.StatusBadRequest, unsupported(r.Method, node), "")
		return
	}
	if !s.authorized(w, r, rec, node) {
		return
	}
	if parts[2] == "message_templates" {
		s.listTemplates(w, r, rec, node)
		return
	}
	phoneNumberID := node

	if rec.JSON == nil {
		s.write(w, rec, http.StatusBadRequest, MetaError(100, "OAuthException", "(#100) The request body must be a JSON object", ""), "")
		return
	}
	to, typ, problem := validate(rec.JSON)
	if problem != "" {
		s.write(w, rec, http.StatusBadRequest, MetaError(100, "OAuthException", "(#100) "+problem, ""), "")
		return
	}
	if !s.takeThroughput(phoneNumberID) {
		s.write(w, rec, http.StatusBadRequest, MetaError(130429, "OAuthException", "(#130429) Rate limit hit",
			"Cloud API message throughput has been reached."), "")
		return
	}

	id := s.newMessageID()
	msg := map[string]any{"id": id}
	if typ == "template" {
		msg["message_status"] = "accepted"
	}
	answer, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{map[string]any{"input": to, "wa_id": digits(to)}},
		"messages":          []any{msg},
	})
	s.write(w, rec, http.StatusOK, answer, id)
	ref, _ := rec.JSON["biz_opaque_callback_data"].(string)
	s.afterSend(phoneNumberID, digits(to), id, ref, typ)
}

// authorized checks the bearer token for node (a phone number id or a
// business account id), answering Meta's 401 when it fails.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, rec *Request, node string) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		s.write(w, rec, http.StatusUnauthorized, MetaError(104, "OAuthException", "An access token is required to request this resource.", ""), "")
		return false
	}
	s.mu.Lock()
	want, enforced := s.tokens[node]
	s.mu.Unlock()
	if enforced && token != want {
		s.write(w, rec, http.StatusUnauthorized, MetaError(190, "OAuthException", "Invalid OAuth access token - Cannot parse access token", ""), "")
		return false
	}
	return true
}

// SetThroughput sets how many messages per second each business number
// may send; more within a second are refused with Meta's 130429. Zero
// or less means no limit.
func (s *Server) SetThroughput(perSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perSecond = perSecond
}

// takeThroughput counts a send of phoneNumberID, or reports that the
// number is over its throughput in the last second.
func (s *Server) takeThroughput(phoneNumberID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perSecond <= 0 {
		return true
	}
	now := s.now()
	recent := s.sent[phoneNumberID][:0]
	for _, t := range s.sent[phoneNumberID] {
		if now.Sub(t) < time.Second {
			recent = append(recent, t)
		}
	}
	if len(recent) >= s.perSecond {
		s.sent[phoneNumberID] = recent
		return false
	}
	s.sent[phoneNumberID] = append(recent, now)
	return true
}

func (s *Server) write(w http.ResponseWriter, rec *Request, status int, body []byte, messageID string) {
	s.mu.Lock()
	rec.Status = status
	rec.MessageID = messageID
	s.mu.Unlock()
	switch {
	case len(body) == 0:
	case json.Valid(body):
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// newMessageID makes a wamid: the real ones are opaque base64, so only the
// prefix and uniqueness matter to a client.
func (s *Server) newMessageID() string {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	b := make([]byte, 20)
	rand.Read(b[:12])
	binary.BigEndian.PutUint64(b[12:], seq)
	return "wamid." + base64.StdEncoding.EncodeToString(b)
}

func unsupported(method, id string) []byte {
	return metaError(100, 33, "GraphMethodException", fmt.Sprintf(
		"Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
		strings.ToLower(method), id), "")
}

// MetaError builds a Graph API error body, as Meta sends it with 4xx and
// 5xx answers: {"error":{"message","type","code","error_data":{...},
// "fbtrace_id"}}. details, when not empty, goes in error_data.details,
// where Meta explains WhatsApp errors (codes 131xxx, 132xxx, ...).
//
// Meta's message usually starts with the code, e.g. "(#131030) Recipient
// phone number not in allowed list"; pass it that way for realism.
func MetaError(code int, typ, message, details string) []byte {
	return metaError(code, 0, typ, message, details)
}

func metaError(code, subcode int, typ, message, details string) []byte {
	e := map[string]any{
		"message":    message,
		"type":       typ,
		"code":       code,
		"fbtrace_id": traceID(),
	}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	if details != "" {
		e["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": details}
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}

func traceID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "A" + hex.EncodeToString(b)[:22]
}

var messageTypes = map[string]bool{"text": true, "template": true, "image": true, "video": true, "document": true, "audio": true}

// allowedKeys are the fields each message object may carry; Meta answers
// "Unexpected key" for others (a caption on audio, a filename on an image).
var allowedKeys = map[string]map[string]bool{
	"text":     {"body": true, "preview_url": true},
	"template": {"name": true, "language": true, "components": true, "namespace": true},
	"image":    {"id": true, "link": true, "caption": true},
	"video":    {"id": true, "link": true, "caption": true},
	"document": {"id": true, "link": true, "caption": true, "filename": true},
	"audio":    {"id": true, "link": true},
}

// validate checks a messages request as Meta does for the basics and
// returns the recipient and type, or a problem in Meta's wording style.
func validate(m map[string]any) (to, typ, problem string) {
	mp, present := m["messaging_product"]
	if !present {
		return "", "", "The parameter messaging_product is required."
	}
	if s, _ := mp.(string); s != "whatsapp" {
		return "", "", fmt.Sprintf("Param messaging_product must be one of {WHATSAPP} - got %s.", jsonText(mp))
	}
	if rt, present := m["recipient_type"]; present {
		if s, _ := rt.(string); s != "individual" {
			return "", "", fmt.Sprintf("Param recipient_type must be one of {INDIVIDUAL} - got %s.", jsonText(rt))
		}
	}
	to, _ = m["to"].(string)
	if strings.TrimSpace(to) == "" {
		return "", "", "The parameter to is required."
	}
	if digits(to) == "" {
		return "", "", "Param to must be a valid phone number."
	}
	// Meta sends a text message when type is left out.
	typ = "text"
	if t, present := m["type"]; present {
		s, _ := t.(string)
		if !messageTypes[s] {
			return "", "", fmt.Sprintf("Param type must be one of {AUDIO, DOCUMENT, IMAGE, TEMPLATE, TEXT, VIDEO} - got %s.", jsonText(t))
		}
		typ = s
	}
	raw, present := m[typ]
	if !present {
		return "", "", fmt.Sprintf("The parameter %s is required.", typ)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return "", "", fmt.Sprintf("Param %s must be a JSON object.", typ)
	}
	for k := range obj {
		if !allowedKeys[typ][k] {
			return "", "", fmt.Sprintf("Unexpected key %q on param %q.", k, typ)
		}
	}
	switch typ {
	case "text":
		if s, _ := obj["body"].(string); s == "" {
			return "", "", "The parameter text['body'] is required."
		}
		if pv, present := obj["preview_url"]; present {
			if _, ok := pv.(bool); !ok {
				return "", "", "Param text['preview_url'] must be a boolean."
			}
		}
	case "template":
		problem = validateTemplate(obj)
	default:
		problem = validateMedia(typ, obj)
	}
	return to, typ, problem
}

func validateTemplate(t map[string]any) string {
	if s, _ := t["name"].(string); s == "" {
		return "The parameter template['name'] is required."
	}
	lang, _ := t["language"].(map[string]any)
	if code, _ := lang["code"].(string); code == "" {
		return "The parameter template['language']['code'] is required."
	}
	rawComps, present := t["components"]
	if !present {
		return ""
	}
	comps, ok := rawComps.([]any)
	if !ok {
		return "Param template['components'] must be an array."
	}
	for i, c := range comps {
		comp, _ := c.(map[string]any)
		ctype, _ := comp["type"].(string)
		switch ctype {
		case "header", "body", "button":
		default:
			return fmt.Sprintf("Param template['components'][%d]['type'] must be one of {BODY, BUTTON, HEADER}.", i)
		}
		params, _ := comp["parameters"].([]any)
		for j, p := range params {
			param, _ := p.(map[string]any)
			if ptype, _ := param["type"].(string); ptype == "" {
				return fmt.Sprintf("The parameter template['components'][%d]['parameters'][%d]['type'] is required.", i, j)
			} else if ptype == "text" {
				if s, _ := param["text"].(string); s == "" {
					return fmt.Sprintf("The parameter template['components'][%d]['parameters'][%d]['text'] is required.", i, j)
				}
			}
		}
	}
	return ""
}

func validateMedia(typ string, obj map[string]any) string {
	link, _ := obj["link"].(string)
	id, _ := obj["id"].(string)
	switch {
	case link == "" && id == "":
		return fmt.Sprintf("Param %s must contain either id or link.", typ)
	case link != "" && id != "":
		return fmt.Sprintf("Param %s must contain either id or link, not both.", typ)
	case link != "":
		u, err := url.Parse(link)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Sprintf("Param %s['link'] is not a valid URI.", typ)
		}
	}
	for _, k := range []string{"caption", "filename"} {
		if v, present := obj[k]; present {
			if s, ok := v.(string); !ok || s == "" {
				return fmt.Sprintf("Param %s['%s'] must be a non-empty string.", typ, k)
			}
		}
	}
	return ""
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// ListenAndServe serves s on addr until ctx is done, writing one line per
// request to log (nil: no log). Requests still waiting out a delay are cut
// short when ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string, log io.Writer) error {
	return serve(ctx, addr, log, s)
}
