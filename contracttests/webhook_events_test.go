package contracttests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

// These tests point real webhooks at the reference receiver
// (mocks/webhookreceiver) and check every delivery against the event
// catalog, openapi/webhooks.yaml, more strictly than the catalog itself
// says: an object of the catalog or of the REST schemas it refers to may
// carry only the properties it lists, so a field the server adds without
// documenting it fails here. Each event is caused for real (the API call or
// the inbound message that emits it) and its data is compared with the REST
// resource the API returns for the same object.

// The fast dispatcher settings every test here starts from.
const (
	evPollInterval = 20 * time.Millisecond
	evRetryWait    = 30 * time.Millisecond
	evDeadline     = 15 * time.Second
)

var evEnvelopeID = regexp.MustCompile(`^evt_[0-9a-f]{24}$`)

// evConfig returns a configure func for startInProcessWith: the fast
// settings, then whatever more adjusts.
func evConfig(more func(c *app.Config)) func(c *app.Config) {
	return func(c *app.Config) {
		c.WebhookAllowPrivateTargets = true
		c.WebhookPollInterval = evPollInterval
		c.WebhookRetrySchedule = []time.Duration{evRetryWait}
		c.WebhookTimeout = 2 * time.Second
		if more != nil {
			more(c)
		}
	}
}

// evEachDatabase runs fn on an in-process server per database, configured
// by evConfig(more). A remote target cannot deliver to this machine's
// loopback receivers, so under CONTRACT_BASE_URL the test is skipped.
func evEachDatabase(t *testing.T, more func(c *app.Config), fn func(t *testing.T, tg *target)) {
	t.Helper()
	if os.Getenv("CONTRACT_BASE_URL") != "" {
		t.Skip("needs the in-process server: a remote server cannot deliver to this machine's loopback receivers")
	}
	for _, db := range sqlstoretest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			fn(t, startInProcessWith(t, db.URL, evConfig(more)))
		})
	}
}

// ---------------------------------------------------------------------------
// The strict validator.

var (
	evCatalogOnce sync.Once
	evCatalogDoc  *openapi3.T
	evCatalogErr  error

	evStrictMu    sync.Mutex
	evStrictCache = map[string]*openapi3.Schema{}
)

// evCatalog returns webhooks.yaml loaded with kin-openapi, its references
// into openapi.yaml resolved. It is shared: never modify it.
func evCatalog(t testing.TB) *openapi3.T {
	t.Helper()
	evCatalogOnce.Do(func() {
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = true
		evCatalogDoc, evCatalogErr = loader.LoadFromFile("../openapi/webhooks.yaml")
	})
	if evCatalogErr != nil {
		t.Fatalf("load openapi/webhooks.yaml: %v", evCatalogErr)
	}
	return evCatalogDoc
}

// evOperation is the catalog's POST for event.
func evOperation(t testing.TB, event string) *openapi3.Operation {
	t.Helper()
	item := evCatalog(t).Webhooks[event]
	if item == nil || item.Post == nil {
		t.Fatalf("webhooks.yaml has no POST for event %q", event)
	}
	return item.Post
}

// evStrictSchema returns a strict copy of the body schema of event: every
// object schema with properties and no additionalProperties of its own
// refuses properties it does not list. The copy is made once per event.
func evStrictSchema(t testing.TB, event string) *openapi3.Schema {
	t.Helper()
	evStrictMu.Lock()
	defer evStrictMu.Unlock()
	if s, ok := evStrictCache[event]; ok {
		return s
	}
	op := evOperation(t, event)
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		t.Fatalf("webhooks.yaml: %s has no requestBody", event)
	}
	mt := op.RequestBody.Value.Content["application/json"]
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		t.Fatalf("webhooks.yaml: %s has no application/json schema", event)
	}
	s := evStrictCopy(mt.Schema.Value, map[*openapi3.Schema]*openapi3.Schema{})
	evStrictCache[event] = s
	return s
}

// evStrictCopy deep-copies s, closing every object that lists properties
// and says nothing about others. seen maps each original to its copy, so
// a schema reached twice is copied once and a cycle ends.
func evStrictCopy(s *openapi3.Schema, seen map[*openapi3.Schema]*openapi3.Schema) *openapi3.Schema {
	if s == nil {
		return nil
	}
	if c, ok := seen[s]; ok {
		return c
	}
	c := new(openapi3.Schema)
	seen[s] = c
	*c = *s
	ref := func(r *openapi3.SchemaRef) *openapi3.SchemaRef {
		if r == nil {
			return nil
		}
		out := *r
		out.Value = evStrictCopy(r.Value, seen)
		return &out
	}
	refs := func(rs openapi3.SchemaRefs) openapi3.SchemaRefs {
		if rs == nil {
			return nil
		}
		out := make(openapi3.SchemaRefs, len(rs))
		for i, r := range rs {
			out[i] = ref(r)
		}
		return out
	}
	schemas := func(m openapi3.Schemas) openapi3.Schemas {
		if m == nil {
			return nil
		}
		out := make(openapi3.Schemas, len(m))
		for k, r := range m {
			out[k] = ref(r)
		}
		return out
	}
	c.OneOf, c.AnyOf, c.AllOf, c.PrefixItems = refs(s.OneOf), refs(s.AnyOf), refs(s.AllOf), refs(s.PrefixItems)
	c.Not, c.Items, c.Contains, c.PropertyNames = ref(s.Not), ref(s.Items), ref(s.Contains), ref(s.PropertyNames)
	c.If, c.Then, c.Else, c.ContentSchema = ref(s.If), ref(s.Then), ref(s.Else), ref(s.ContentSchema)
	c.Properties, c.PatternProperties = schemas(s.Properties), schemas(s.PatternProperties)
	c.DependentSchemas, c.Defs = schemas(s.DependentSchemas), schemas(s.Defs)
	c.AdditionalProperties.Schema = ref(s.AdditionalProperties.Schema)
	c.UnevaluatedItems.Schema = ref(s.UnevaluatedItems.Schema)
	c.UnevaluatedProperties.Schema = ref(s.UnevaluatedProperties.Schema)
	if len(c.Properties) > 0 && c.AdditionalProperties.Has == nil && c.AdditionalProperties.Schema == nil {
		closed := false
		c.AdditionalProperties.Has = &closed
	}
	return c
}

// evValidateBody checks body against the strict schema of event.
func evValidateBody(t testing.TB, event string, body []byte) error {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return evStrictSchema(t, event).VisitJSON(v, openapi3.MultiErrors())
}

// evValidateHeaders checks a delivery's headers against the header
// parameters of event: the required ones present, every value matching its
// schema.
func evValidateHeaders(t testing.TB, event string, h http.Header) []string {
	t.Helper()
	var problems []string
	for _, p := range evOperation(t, event).Parameters {
		if p == nil || p.Value == nil || p.Value.In != openapi3.ParameterInHeader {
			continue
		}
		name := p.Value.Name
		vs := h.Values(name)
		if len(vs) == 0 {
			if p.Value.Required {
				problems = append(problems, fmt.Sprintf("required header %s is missing", name))
			}
			continue
		}
		if len(vs) > 1 {
			problems = append(problems, fmt.Sprintf("header %s is sent %d times: %q", name, len(vs), vs))
		}
		if p.Value.Schema != nil && p.Value.Schema.Value != nil {
			if err := p.Value.Schema.Value.VisitJSON(vs[0], openapi3.MultiErrors()); err != nil {
				problems = append(problems, fmt.Sprintf("header %s: %q: %v", name, vs[0], err))
			}
		}
	}
	return problems
}

// TestWebhookEventStrictValidator makes sure the validator is strict: a
// body with a field the catalog does not list fails, at the top and inside
// data, while the catalog's own shape passes.
func TestWebhookEventStrictValidator(t *testing.T) {
	lead := map[string]any{
		"id": 1, "phone": "5511999999999", "name": nil, "email": nil, "company_name": nil,
		"temperature": "cold", "lead_score": 0, "deal_value": nil,
		"created_at": "2026-03-13T14:02:11Z", "updated_at": "2026-03-13T14:02:11Z",
	}
	env := func(mut func(e map[string]any, data map[string]any)) []byte {
		data := map[string]any{}
		for k, v := range lead {
			data[k] = v
		}
		e := map[string]any{"id": "evt_0123456789abcdef01234567", "event": "lead.created", "created_at": "2026-03-13T14:02:11Z", "data": data}
		if mut != nil {
			mut(e, data)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := evValidateBody(t, impl.EventLeadCreated, env(nil)); err != nil {
		t.Fatalf("a valid lead.created envelope fails: %v", err)
	}
	for name, mut := range map[string]func(e, d map[string]any){
		"unknown field in data":         func(_, d map[string]any) { d["organization_id"] = 1 },
		"unknown field in the envelope": func(e, _ map[string]any) { e["webhook_id"] = 1 },
		"wrong event":                   func(e, _ map[string]any) { e["event"] = "lead.updated" },
		"bad id":                        func(e, _ map[string]any) { e["id"] = "evt_XYZ" },
		"missing data field":            func(_, d map[string]any) { delete(d, "email") },
		"null where not nullable":       func(_, d map[string]any) { d["phone"] = nil },
		"bad created_at":                func(e, _ map[string]any) { e["created_at"] = "yesterday" },
	} {
		if err := evValidateBody(t, impl.EventLeadCreated, env(mut)); err == nil {
			t.Errorf("%s: the strict validator accepts it", name)
		}
	}
	// The shared document is left as it was: Lead there is still open.
	lr := evOperation(t, impl.EventLeadCreated).RequestBody.Value.Content["application/json"].Schema.Value.Properties["data"].Value
	if lr.AdditionalProperties.Has != nil {
		t.Errorf("the strict copy changed the loaded catalog: Lead has additionalProperties %v", *lr.AdditionalProperties.Has)
	}

	h := http.Header{}
	h.Set("User-Agent", "IAGENTE-Webhooks/1.0")
	h.Set("X-Webhook-Event", "lead.created")
	h.Set("X-Webhook-Id", "msg_0123456789abcdef01234567")
	h.Set("X-Webhook-Timestamp", "1773410531")
	h.Set("X-Webhook-Signature", "sha256="+strings.Repeat("ab", 32))
	h.Set("webhook-id", "msg_0123456789abcdef01234567")
	h.Set("webhook-timestamp", "1773410531")
	h.Set("webhook-signature", "v1,abc=")
	if p := evValidateHeaders(t, impl.EventLeadCreated, h); len(p) != 0 {
		t.Errorf("valid headers fail: %v", p)
	}
	h.Set("X-Webhook-Id", "msg_nothex")
	h.Del("webhook-signature")
	if p := evValidateHeaders(t, impl.EventLeadCreated, h); len(p) != 2 {
		t.Errorf("a bad X-Webhook-Id and a missing webhook-signature gave %d problems, want 2: %v", len(p), p)
	}
}

// ---------------------------------------------------------------------------
// The receiver, tapped: every request is kept, whatever the receiver made
// of it, so failed attempts can be compared with the one that succeeded.

type evRequest struct {
	Header http.Header
	Body   []byte
	Status int
}

type evReceiver struct {
	*webhookreceiver.Receiver
	URL string

	mu   sync.Mutex
	reqs []evRequest
}

type evStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *evStatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *evStatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (r *evReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	sw := &evStatusWriter{ResponseWriter: w}
	r.Receiver.ServeHTTP(sw, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, evRequest{Header: req.Header.Clone(), Body: body, Status: sw.status})
}

// requests returns the requests so far.
func (r *evReceiver) requests() []evRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// requestsFor returns the requests carrying X-Webhook-Id id.
func (r *evReceiver) requestsFor(id string) []evRequest {
	var out []evRequest
	for _, q := range r.requests() {
		if q.Header.Get("X-Webhook-Id") == id {
			out = append(out, q)
		}
	}
	return out
}

// evNewReceiver starts a reference receiver. It accepts nothing until
// given a webhook's secret (evCreateHook does it). When the test ends,
// every request it got is checked: headers against the catalog, body
// against the strict schema, and none may have been refused as invalid.
func evNewReceiver(t *testing.T) *evReceiver {
	t.Helper()
	r := &evReceiver{Receiver: webhookreceiver.New("/hook")}
	srv := httptest.NewServer(r)
	r.URL = srv.URL + "/hook"
	t.Cleanup(func() {
		srv.Close()
		for i, q := range r.requests() {
			event := q.Header.Get("X-Webhook-Event")
			if _, ok := evCatalog(t).Webhooks[event]; !ok {
				t.Errorf("request %d to the receiver: X-Webhook-Event %q is no event of the catalog", i+1, event)
				continue
			}
			for _, p := range evValidateHeaders(t, event, q.Header) {
				t.Errorf("request %d to the receiver (%s): %s", i+1, event, p)
			}
			if err := evValidateBody(t, event, q.Body); err != nil {
				t.Errorf("request %d to the receiver (%s): the body violates the strict catalog: %v\nbody: %s", i+1, event, err, q.Body)
			}
			evCompareExample(t, event, q.Body)
		}
		if n := r.Rejected(); n != 0 {
			t.Errorf("the reference receiver refused %d deliveries as invalid (signature, headers or body)", n)
		}
	})
	return r
}

// ---------------------------------------------------------------------------
// The API side.

type evHook struct {
	ID     int64
	Secret string
}

// evCall sends a JSON request through the validating transport, checks the
// status and returns the body.
func evCall(t *testing.T, tg *target, key, method, path string, in any, want int) []byte {
	t.Helper()
	var body []byte
	contentType := ""
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			t.Fatal(err)
		}
		contentType = "application/json"
	}
	res, got := tg.raw(t, key, method, path, contentType, body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, got)
	}
	return got
}

// evDecode decodes b into a new T, failing the test if it cannot.
func evDecode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// evCreateHook registers a webhook pointing at r and gives r its secret.
// maxAttempts 0 leaves the default.
func evCreateHook(t *testing.T, tg *target, key, name string, r *evReceiver, events []string, maxAttempts int) evHook {
	t.Helper()
	in := map[string]any{"name": name, "url": r.URL, "events": events}
	if maxAttempts > 0 {
		in["max_attempts"] = maxAttempts
	}
	w := evDecode[struct {
		ID            int64  `json:"id"`
		SigningSecret string `json:"signing_secret"`
	}](t, evCall(t, tg, key, http.MethodPost, "/webhooks", in, http.StatusCreated))
	if w.ID == 0 || w.SigningSecret == "" {
		t.Fatalf("created webhook without id or secret: %+v", w)
	}
	r.SetSecrets(w.SigningSecret)
	return evHook{ID: w.ID, Secret: w.SigningSecret}
}

type evWebhook struct {
	ID             int64      `json:"id"`
	Active         bool       `json:"active"`
	DisabledReason *string    `json:"disabled_reason"`
	DisabledAt     *time.Time `json:"disabled_at"`
}

func evGetHook(t *testing.T, tg *target, key string, id int64) evWebhook {
	t.Helper()
	return evDecode[evWebhook](t, evCall(t, tg, key, http.MethodGet, fmt.Sprintf("/webhooks/%d", id), nil, http.StatusOK))
}

type evAttempt struct {
	AttemptedAt time.Time `json:"attempted_at"`
	StatusCode  *int      `json:"status_code"`
	DurationMS  int64     `json:"duration_ms"`
	Error       *string   `json:"error"`
}

type evDelivery struct {
	ID            int64       `json:"id"`
	WebhookID     int64       `json:"webhook_id"`
	EventID       string      `json:"event_id"`
	Event         string      `json:"event"`
	MessageID     string      `json:"webhook_message_id"`
	Status        string      `json:"status"`
	Attempts      []evAttempt `json:"attempts"`
	NextAttemptAt *time.Time  `json:"next_attempt_at"`
}

func (d evDelivery) String() string {
	b, _ := json.Marshal(d)
	return string(b)
}

func (d evDelivery) codes() []int {
	out := make([]int, len(d.Attempts))
	for i, a := range d.Attempts {
		out[i] = -1 // no answer
		if a.StatusCode != nil {
			out[i] = *a.StatusCode
		}
	}
	return out
}

// evDeliveries returns every delivery of the webhook, newest first.
func evDeliveries(t *testing.T, tg *target, key string, hookID int64) []evDelivery {
	t.Helper()
	var all []evDelivery
	for page := 1; ; page++ {
		p := evDecode[struct {
			Data []evDelivery `json:"data"`
			Meta struct {
				TotalPages int64 `json:"total_pages"`
			} `json:"meta"`
		}](t, evCall(t, tg, key, http.MethodGet, fmt.Sprintf("/webhooks/%d/deliveries?per_page=100&page=%d", hookID, page), nil, http.StatusOK))
		all = append(all, p.Data...)
		if int64(page) >= p.Meta.TotalPages {
			return all
		}
	}
}

// evDeliveryByID returns one delivery of the webhook.
func evDeliveryByID(t *testing.T, tg *target, key string, hookID, id int64) evDelivery {
	t.Helper()
	for _, d := range evDeliveries(t, tg, key, hookID) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("webhook %d has no delivery %d", hookID, id)
	return evDelivery{}
}

// evWaitFor polls cond until it holds, failing the test after evDeadline
// with what describe says.
func evWaitFor(t *testing.T, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(evDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", evDeadline, describe())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// evWaitDelivery polls the delivery until done says it has reached the
// state wanted, and returns it.
func evWaitDelivery(t *testing.T, tg *target, key string, hookID, id int64, what string, done func(evDelivery) bool) evDelivery {
	t.Helper()
	var d evDelivery
	evWaitFor(t, func() bool {
		d = evDeliveryByID(t, tg, key, hookID, id)
		return done(d)
	}, func() string { return fmt.Sprintf("delivery %d is not %s: %s", id, what, d) })
	return d
}

func evFinished(d evDelivery) bool { return d.Status != impl.DeliveryPending }

// evNewDeliveries runs act and returns the deliveries it queued for the
// webhook. Deliveries are written with the change that causes them, so
// once act's request has been answered the list is complete: an event
// that is not in it will never be delivered.
func evNewDeliveries(t *testing.T, tg *target, key string, hookID int64, act func()) []evDelivery {
	t.Helper()
	seen := map[int64]bool{}
	for _, d := range evDeliveries(t, tg, key, hookID) {
		seen[d.ID] = true
	}
	act()
	var out []evDelivery
	for _, d := range evDeliveries(t, tg, key, hookID) {
		if !seen[d.ID] {
			out = append(out, d)
		}
	}
	slices.Reverse(out) // oldest first
	return out
}

func evEvents(ds []evDelivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Event
	}
	slices.Sort(out)
	return out
}

// evCreateLead creates a lead and returns its id and phone.
func evCreateLead(t *testing.T, tg *target, key string, fields map[string]any) (int64, string) {
	t.Helper()
	in := map[string]any{"phone": uniquePhone(t)}
	for k, v := range fields {
		in[k] = v
	}
	l := evDecode[struct {
		ID    int64  `json:"id"`
		Phone string `json:"phone"`
	}](t, evCall(t, tg, key, http.MethodPost, "/leads", in, http.StatusCreated))
	return l.ID, l.Phone
}

// ---------------------------------------------------------------------------
// Events from their real causes.

// evTypedEvent is a delivery decoded into its generated type.
type evTypedEvent struct {
	ID    string
	Event string
	// Data is the generated REST type (api.Lead, api.Message, api.Handoff).
	Data any
}

// evTyped decodes body into E strictly, checks the receiver decoded it into
// the same type, and takes it apart.
func evTyped[E any, D any](body []byte, received any, parts func(E) (string, string, D)) (evTypedEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e E
	if err := dec.Decode(&e); err != nil {
		return evTypedEvent{}, fmt.Errorf("decode into %T: %w", e, err)
	}
	if _, ok := received.(E); !ok {
		return evTypedEvent{}, fmt.Errorf("the receiver decoded it into %T, want %T", received, e)
	}
	id, name, data := parts(e)
	return evTypedEvent{ID: id, Event: name, Data: data}, nil
}

var evTypedDecoders = map[string]func(body []byte, received any) (evTypedEvent, error){
	impl.EventLeadCreated: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.LeadCreatedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventLeadUpdated: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.LeadUpdatedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventLeadQualified: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.LeadQualifiedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventMessageReceived: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.MessageReceivedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventMessageSent: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.MessageSentEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventHandoffCreated: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.HandoffCreatedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventHandoffClosed: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.HandoffClosedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
}

// evJSONObject is v marshalled and decoded again, for comparing JSON
// objects whatever their key order and spacing.
func evJSONObject(t *testing.T, v any) map[string]any {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// evEventsEnv is the TestWebhookEvent setup: webhook A takes every event,
// B only lead.qualified, C every event but is inactive.
type evEventsEnv struct {
	tg                   *target
	key                  string
	recA, recB, recC     *evReceiver
	hookA, hookB, hookC  evHook
	receivedA, receivedB map[string]webhookreceiver.Received // by X-Webhook-Id
}

// act runs fn and checks the deliveries it caused: exactly want on A (as a
// multiset), the lead.qualified among them on B, nothing on C. It returns
// A's and B's new deliveries.
func (env *evEventsEnv) act(t *testing.T, want []string, fn func()) (a, b []evDelivery) {
	t.Helper()
	var c []evDelivery
	b = evNewDeliveries(t, env.tg, env.key, env.hookB.ID, func() {
		c = evNewDeliveries(t, env.tg, env.key, env.hookC.ID, func() {
			a = evNewDeliveries(t, env.tg, env.key, env.hookA.ID, fn)
		})
	})
	want = slices.Sorted(slices.Values(want))
	if got := evEvents(a); !slices.Equal(got, want) {
		t.Errorf("webhook A (every event) got deliveries of %v, want %v", got, want)
	}
	var wantB []string
	for _, e := range want {
		if e == impl.EventLeadQualified {
			wantB = append(wantB, e)
		}
	}
	if got := evEvents(b); !slices.Equal(got, wantB) {
		t.Errorf("webhook B (lead.qualified only) got deliveries of %v, want %v", got, wantB)
	}
	if len(c) != 0 {
		t.Errorf("the inactive webhook C got deliveries: %v", c)
	}
	return a, b
}

// received waits until r has accepted delivery d and returns it.
func (env *evEventsEnv) received(t *testing.T, r *evReceiver, d evDelivery) webhookreceiver.Received {
	t.Helper()
	var got webhookreceiver.Received
	evWaitFor(t, func() bool {
		for _, ev := range r.Events() {
			if ev.WebhookID == d.MessageID {
				got = ev
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("the receiver did not accept delivery %s; it got %d requests, the log says %s",
			d.MessageID, len(r.requests()), evDeliveryByID(t, env.tg, env.key, d.WebhookID, d.ID))
	})
	return got
}

// check waits for A's delivery d, validates it strictly, decodes it into
// its generated type and compares its data with GET path. It returns the
// delivery as received and its data.
func (env *evEventsEnv) check(t *testing.T, d evDelivery, path string) (webhookreceiver.Received, map[string]any) {
	t.Helper()
	rec := env.received(t, env.recA, d)
	if err := evValidateBody(t, d.Event, rec.Body); err != nil {
		t.Errorf("%s: the body violates the strict catalog: %v\nbody: %s", d.Event, err, rec.Body)
	}
	if p := evValidateHeaders(t, d.Event, rec.Header); len(p) != 0 {
		t.Errorf("%s: headers: %v", d.Event, p)
	}
	var env0 struct {
		ID        string          `json:"id"`
		Event     string          `json:"event"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.Body, &env0); err != nil {
		t.Fatalf("%s: body is not the envelope: %v: %s", d.Event, err, rec.Body)
	}
	if !evEnvelopeID.MatchString(env0.ID) {
		t.Errorf("%s: envelope id %q does not match %s", d.Event, env0.ID, evEnvelopeID)
	}
	if env0.ID != d.EventID || env0.Event != d.Event || rec.Event != d.Event || rec.EventID != env0.ID {
		t.Errorf("envelope id %q event %q (header %q), want the delivery log's %q %q", env0.ID, env0.Event, rec.Event, d.EventID, d.Event)
	}

	decode := evTypedDecoders[d.Event]
	if decode == nil {
		t.Fatalf("no generated type for %q", d.Event)
	}
	typed, err := decode(rec.Body, rec.Typed)
	if err != nil {
		t.Fatalf("%s: %v\nbody: %s", d.Event, err, rec.Body)
	}
	if typed.ID != env0.ID || typed.Event != d.Event {
		t.Errorf("%s: typed event has id %q event %q", d.Event, typed.ID, typed.Event)
	}

	// The same object, from the REST API, now.
	restBody := evCall(t, env.tg, env.key, http.MethodGet, path, nil, http.StatusOK)
	data, rest := evJSONObject(t, []byte(env0.Data)), evJSONObject(t, restBody)
	if !reflect.DeepEqual(data, rest) {
		t.Errorf("%s: data differs from GET %s:\n data %s\n  GET %s", d.Event, path, env0.Data, restBody)
	}
	restTyped := reflect.New(reflect.TypeOf(typed.Data))
	if err := json.Unmarshal(restBody, restTyped.Interface()); err != nil {
		t.Fatalf("GET %s into %T: %v", path, typed.Data, err)
	}
	if a, b := evJSONObject(t, typed.Data), evJSONObject(t, restTyped.Elem().Interface()); !reflect.DeepEqual(a, b) {
		t.Errorf("%s: typed data (%T) differs from GET %s decoded the same way:\n data %v\n  GET %v", d.Event, typed.Data, path, a, b)
	}
	return rec, data
}

func TestWebhookEventsFromTheirCauses(t *testing.T) {
	evEachDatabase(t, nil, func(t *testing.T, tg *target) {
		env := &evEventsEnv{tg: tg, key: tg.key}
		env.recA, env.recB, env.recC = evNewReceiver(t), evNewReceiver(t), evNewReceiver(t)
		env.hookA = evCreateHook(t, tg, env.key, "every event", env.recA, impl.EventTypes, 0)
		env.hookB = evCreateHook(t, tg, env.key, "qualified only", env.recB, []string{impl.EventLeadQualified}, 0)
		env.hookC = evCreateHook(t, tg, env.key, "inactive", env.recC, impl.EventTypes, 0)
		if w := evDecode[evWebhook](t, evCall(t, tg, env.key, http.MethodPatch, fmt.Sprintf("/webhooks/%d", env.hookC.ID),
			map[string]any{"active": false}, http.StatusOK)); w.Active {
			t.Fatalf("PATCH active false left webhook C active")
		}

		var leadID int64
		var phone string
		leadPath := func() string { return fmt.Sprintf("/leads/%d", leadID) }
		patch := func(fields map[string]any) func() {
			return func() { evCall(t, tg, env.key, http.MethodPatch, leadPath(), fields, http.StatusOK) }
		}

		t.Run("lead.created by POST /leads", func(t *testing.T) {
			a, _ := env.act(t, []string{impl.EventLeadCreated}, func() {
				leadID, phone = evCreateLead(t, tg, env.key, map[string]any{"name": "Ana Souza", "temperature": "cold"})
			})
			if len(a) == 1 {
				env.check(t, a[0], leadPath())
			}
		})
		if leadID == 0 {
			t.Fatal("no lead to go on with")
		}

		t.Run("lead.updated by a PATCH of the name", func(t *testing.T) {
			a, _ := env.act(t, []string{impl.EventLeadUpdated}, patch(map[string]any{"name": "Ana Souza Lima"}))
			if len(a) == 1 {
				_, data := env.check(t, a[0], leadPath())
				if data["name"] != "Ana Souza Lima" {
					t.Errorf("lead.updated data has name %v", data["name"])
				}
			}
		})

		t.Run("a no-op PATCH emits nothing", func(t *testing.T) {
			env.act(t, nil, patch(map[string]any{}))
			env.act(t, nil, patch(map[string]any{"name": "Ana Souza Lima", "temperature": "cold"}))
		})

		var qualifiedA, qualifiedB evDelivery
		t.Run("cold to hot emits lead.updated and lead.qualified", func(t *testing.T) {
			a, b := env.act(t, []string{impl.EventLeadUpdated, impl.EventLeadQualified}, patch(map[string]any{"temperature": "hot"}))
			if len(a) != 2 || len(b) != 1 {
				t.FailNow()
			}
			datas := map[string]map[string]any{}
			for _, d := range a {
				_, data := env.check(t, d, leadPath())
				datas[d.Event] = data
				if d.Event == impl.EventLeadQualified {
					qualifiedA = d
				}
			}
			qualifiedB = b[0]
			if !reflect.DeepEqual(datas[impl.EventLeadUpdated], datas[impl.EventLeadQualified]) {
				t.Errorf("one change, two events, different data:\n lead.updated   %v\n lead.qualified %v",
					datas[impl.EventLeadUpdated], datas[impl.EventLeadQualified])
			}
			if datas[impl.EventLeadQualified]["temperature"] != "hot" {
				t.Errorf("lead.qualified data has temperature %v", datas[impl.EventLeadQualified]["temperature"])
			}
			for _, d := range a {
				if d.EventID == qualifiedA.EventID && d.Event != impl.EventLeadQualified {
					t.Errorf("lead.updated and lead.qualified share the event id %s", d.EventID)
				}
			}
		})

		t.Run("the same event to two webhooks", func(t *testing.T) {
			if qualifiedA.ID == 0 || qualifiedB.ID == 0 {
				t.Skip("no lead.qualified to compare")
			}
			ra := env.received(t, env.recA, qualifiedA)
			rb := env.received(t, env.recB, qualifiedB)
			if qualifiedA.EventID != qualifiedB.EventID || ra.EventID != rb.EventID || ra.EventID != qualifiedA.EventID {
				t.Errorf("envelope ids differ: A log %s got %s, B log %s got %s", qualifiedA.EventID, ra.EventID, qualifiedB.EventID, rb.EventID)
			}
			if ra.WebhookID == rb.WebhookID || qualifiedA.MessageID == qualifiedB.MessageID {
				t.Errorf("both webhooks got X-Webhook-Id %s, want one per delivery", ra.WebhookID)
			}
			if !bytes.Equal(ra.Body, rb.Body) {
				t.Errorf("the same event has different bodies:\n A %s\n B %s", ra.Body, rb.Body)
			}
			if err := evValidateBody(t, impl.EventLeadQualified, rb.Body); err != nil {
				t.Errorf("B's lead.qualified violates the strict catalog: %v", err)
			}
		})

		t.Run("hot again is no qualification", func(t *testing.T) {
			env.act(t, nil, patch(map[string]any{"temperature": "hot"}))
			a, _ := env.act(t, []string{impl.EventLeadUpdated}, patch(map[string]any{"company_name": "Souza Ltda", "temperature": "hot"}))
			if len(a) == 1 {
				env.check(t, a[0], leadPath())
			}
			a, _ = env.act(t, []string{impl.EventLeadUpdated}, patch(map[string]any{"lead_score": 80}))
			if len(a) == 1 {
				env.check(t, a[0], leadPath())
			}
		})

		t.Run("message.sent by POST /whatsapp/messages", func(t *testing.T) {
			var msgID int64
			a, _ := env.act(t, []string{impl.EventMessageSent}, func() {
				m := evDecode[struct {
					ID int64 `json:"id"`
				}](t, evCall(t, tg, env.key, http.MethodPost, "/whatsapp/messages", map[string]any{
					"integration_id": seededWhatsAppID, "phone": phone, "type": "text", "text": "Olá, Ana! Tudo bem?",
				}, http.StatusCreated))
				msgID = m.ID
			})
			if len(a) == 1 {
				_, data := env.check(t, a[0], fmt.Sprintf("/messages/%d", msgID))
				if data["status"] != "sent" || data["direction"] != "outbound" {
					t.Errorf("message.sent data has status %v direction %v", data["status"], data["direction"])
				}
			}
		})

		const appSecret = "segredo-do-app-eventos"
		inbound := newInboundEnv(t, tg, tg.orgID, env.key, appSecret, "token-eventos")
		push := func(from, name, text string) func() {
			return func() {
				status, body := inbound.push(t, appSecret, graphapi.InboundText(inbound.integ.PhoneNumberID, "551130030000",
					from, name, wamid(t), text, time.Now()))
				if status != http.StatusOK {
					t.Fatalf("inbound push: %d %s", status, body)
				}
			}
		}

		t.Run("message.received from a lead", func(t *testing.T) {
			a, _ := env.act(t, []string{impl.EventMessageReceived}, push(phone, "Ana", "Quero uma proposta"))
			if len(a) == 1 {
				rec := env.received(t, env.recA, a[0])
				id := evJSONObject(t, evJSONObject(t, rec.Body)["data"])["id"]
				_, data := env.check(t, a[0], fmt.Sprintf("/messages/%v", id))
				if data["direction"] != "inbound" || data["lead_id"] != float64(leadID) {
					t.Errorf("message.received data has direction %v lead_id %v, want inbound and %d", data["direction"], data["lead_id"], leadID)
				}
			}
		})

		t.Run("message.received and lead.created from a new phone", func(t *testing.T) {
			newPhone := uniquePhone(t)
			a, _ := env.act(t, []string{impl.EventLeadCreated, impl.EventMessageReceived}, push(newPhone, "Carla Nova", "Oi!"))
			if len(a) != 2 {
				return
			}
			var newLead, msgLead any
			for _, d := range a {
				rec := env.received(t, env.recA, d)
				id := evJSONObject(t, evJSONObject(t, rec.Body)["data"])["id"]
				switch d.Event {
				case impl.EventLeadCreated:
					_, data := env.check(t, d, fmt.Sprintf("/leads/%v", id))
					newLead = data["id"]
					if data["phone"] != newPhone {
						t.Errorf("lead.created for phone %v, want %s", data["phone"], newPhone)
					}
				case impl.EventMessageReceived:
					_, data := env.check(t, d, fmt.Sprintf("/messages/%v", id))
					msgLead = data["lead_id"]
				}
			}
			if newLead == nil || newLead != msgLead {
				t.Errorf("message.received has lead_id %v, want the new lead %v", msgLead, newLead)
			}
		})

		t.Run("handoff.created and handoff.closed", func(t *testing.T) {
			var hID int64
			a, _ := env.act(t, []string{impl.EventHandoffCreated}, func() {
				h := evDecode[struct {
					ID int64 `json:"id"`
				}](t, evCall(t, tg, env.key, http.MethodPost, "/handoffs",
					map[string]any{"lead_id": leadID, "reason": "Pediu uma proposta comercial"}, http.StatusCreated))
				hID = h.ID
			})
			path := fmt.Sprintf("/handoffs/%d", hID)
			if len(a) == 1 {
				_, data := env.check(t, a[0], path)
				if data["status"] != "open" || data["closed_at"] != nil {
					t.Errorf("handoff.created data: status %v closed_at %v", data["status"], data["closed_at"])
				}
			}
			a, _ = env.act(t, []string{impl.EventHandoffClosed}, func() {
				evCall(t, tg, env.key, http.MethodPost, path+"/close", nil, http.StatusOK)
			})
			if len(a) == 1 {
				_, data := env.check(t, a[0], path)
				if data["status"] != "closed" || data["closed_at"] == nil {
					t.Errorf("handoff.closed data: status %v closed_at %v", data["status"], data["closed_at"])
				}
			}
		})

		t.Run("every delivery arrived once, the filtered and inactive webhooks got only theirs", func(t *testing.T) {
			for _, h := range []struct {
				name string
				hook evHook
				rec  *evReceiver
			}{{"A", env.hookA, env.recA}, {"B", env.hookB, env.recB}} {
				var ds []evDelivery
				evWaitFor(t, func() bool {
					ds = evDeliveries(t, tg, env.key, h.hook.ID)
					return !slices.ContainsFunc(ds, func(d evDelivery) bool { return !evFinished(d) })
				}, func() string { return fmt.Sprintf("webhook %s still has pending deliveries: %v", h.name, ds) })
				for _, d := range ds {
					if d.Status != impl.DeliverySucceeded || len(d.Attempts) != 1 {
						t.Errorf("webhook %s: delivery %s, want succeeded at the first attempt", h.name, d)
					}
				}
				evWaitFor(t, func() bool { return len(h.rec.requests()) >= len(ds) },
					func() string {
						return fmt.Sprintf("receiver %s: %d requests for %d deliveries", h.name, len(h.rec.requests()), len(ds))
					})
				if n := len(h.rec.requests()); n != len(ds) {
					t.Errorf("receiver %s got %d requests for %d deliveries", h.name, n, len(ds))
				}
				for _, ev := range h.rec.Events() {
					if !evEnvelopeID.MatchString(ev.EventID) {
						t.Errorf("receiver %s: envelope id %q", h.name, ev.EventID)
					}
					if h.name == "B" && ev.Event != impl.EventLeadQualified {
						t.Errorf("webhook B, subscribed to lead.qualified only, got %s", ev.Event)
					}
				}
			}
			if n := len(env.recB.Events()); n != 1 {
				t.Errorf("webhook B got %d lead.qualified, want 1 (one lead became hot once)", n)
			}
			if ds := evDeliveries(t, tg, env.key, env.hookC.ID); len(ds) != 0 {
				t.Errorf("the inactive webhook has deliveries: %v", ds)
			}
			if n := env.recC.Attempts(); n != 0 {
				t.Errorf("the inactive webhook's receiver got %d requests", n)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// How deliveries behave with the receiver's answers.

// evDeliveryOf creates a lead in the organization of key and returns the
// one delivery it queues on the webhook.
func evDeliveryOf(t *testing.T, tg *target, key string, hookID int64) evDelivery {
	t.Helper()
	ds := evNewDeliveries(t, tg, key, hookID, func() { evCreateLead(t, tg, key, nil) })
	if len(ds) != 1 || ds[0].Event != impl.EventLeadCreated {
		t.Fatalf("creating a lead queued %v, want one lead.created delivery", ds)
	}
	return ds[0]
}

// evSameRequests checks that the receiver got n requests of delivery d,
// all with its X-Webhook-Id and byte-identical bodies, answered with
// statuses (0 where it did not answer in time).
func evSameRequests(t *testing.T, r *evReceiver, d evDelivery, statuses []int) {
	t.Helper()
	evWaitFor(t, func() bool { return len(r.requests()) >= len(statuses) },
		func() string {
			return fmt.Sprintf("the receiver got %d requests, want %d", len(r.requests()), len(statuses))
		})
	reqs := r.requests()
	if len(reqs) != len(statuses) {
		t.Fatalf("the receiver got %d requests, want %d", len(reqs), len(statuses))
	}
	var got []int
	for i, q := range reqs {
		got = append(got, q.Status)
		if id := q.Header.Get("X-Webhook-Id"); id != d.MessageID {
			t.Errorf("request %d has X-Webhook-Id %q, want the delivery's %q", i+1, id, d.MessageID)
		}
		if !bytes.Equal(q.Body, reqs[0].Body) {
			t.Errorf("request %d's body differs from the first:\n first %s\n  this %s", i+1, reqs[0].Body, q.Body)
		}
	}
	if !slices.Equal(got, statuses) {
		t.Errorf("the receiver answered %v, want %v", got, statuses)
	}
}

// evParallel runs each case as a parallel subtest. Every case works in an
// organization of its own, so the cases share the server without seeing
// each other's events, and a server is started once per database rather
// than once per case.
func evParallel(t *testing.T, tg *target, cases map[string]func(t *testing.T, tg *target)) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cases[name](t, tg)
		})
	}
}

// TestWebhookDelivery: what the receiver's answers do to a delivery and to
// its webhook. The server disables a webhook after 3 failed deliveries in
// a row; the other cases never fail 3 deliveries of one webhook.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, func(c *app.Config) { c.WebhookDisableAfter = 3 }, func(t *testing.T, tg *target) {
		evParallel(t, tg, map[string]func(*testing.T, *target){
			"fails 3 times then succeeds":    evRetriesUntilSuccess,
			"always fails, max_attempts 3":   evGivesUpAfterMaxAttempts,
			"410 disables the webhook":       evGoneDisablesTheWebhook,
			"3 failed deliveries disable it": evAutoDisable,
		})
	})
}

// TestWebhookDeliveryWaits: a server whose retry schedule is an hour, so
// that a retry within the test can only come from Retry-After, and whose
// attempts time out after a second.
func TestWebhookDeliveryWaits(t *testing.T) {
	t.Parallel()
	evEachDatabase(t, func(c *app.Config) {
		c.WebhookRetrySchedule = []time.Duration{time.Hour}
		c.WebhookTimeout = time.Second
	}, func(t *testing.T, tg *target) {
		evParallel(t, tg, map[string]func(*testing.T, *target){
			"Retry-After overrides the schedule": evRetryAfter,
			"no answer within the timeout":       evTimeout,
		})
	})
}

// evRetriesUntilSuccess: a receiver failing 3 times, then answering 200.
func evRetriesUntilSuccess(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "flaky", rec, []string{impl.EventLeadCreated}, 0)
	rec.FailNext(3, http.StatusInternalServerError)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliverySucceeded || !slices.Equal(d.codes(), []int{500, 500, 500, 200}) {
		t.Errorf("delivery %s, want succeeded after attempts 500,500,500,200", d)
	}
	if d.NextAttemptAt != nil {
		t.Errorf("a succeeded delivery has next_attempt_at %v", d.NextAttemptAt)
	}
	for i, a := range d.Attempts {
		if (i < 3) != (a.Error != nil) {
			t.Errorf("attempt %d: error %v", i+1, a.Error)
		}
		if i > 0 && a.AttemptedAt.Before(d.Attempts[i-1].AttemptedAt) {
			t.Errorf("attempt %d is dated before attempt %d", i+1, i)
		}
	}
	evSameRequests(t, rec, d, []int{500, 500, 500, 200})
	if evs := rec.Events(); len(evs) != 1 || evs[0].Duplicate {
		t.Errorf("the receiver accepted %d events, want the one delivery once", len(evs))
	}
}

func evGivesUpAfterMaxAttempts(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "always failing", rec, []string{impl.EventLeadCreated}, 3)
	rec.FailNext(1000, http.StatusInternalServerError)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliveryFailed || !slices.Equal(d.codes(), []int{500, 500, 500}) {
		t.Errorf("delivery %s, want failed after attempts 500,500,500", d)
	}
	if d.NextAttemptAt != nil {
		t.Errorf("a failed delivery has next_attempt_at %v, want null", d.NextAttemptAt)
	}
	for i, a := range d.Attempts {
		if a.Error == nil || !strings.Contains(*a.Error, "500") {
			t.Errorf("attempt %d: error %v, want one naming the 500", i+1, a.Error)
		}
	}
	evSameRequests(t, rec, d, []int{500, 500, 500})

	// Nothing more comes, however long we look: many poll intervals and
	// retry waits later, the delivery and the receiver are as they were.
	time.Sleep(20*evPollInterval + 5*evRetryWait)
	if n := rec.Attempts(); n != 3 {
		t.Errorf("the receiver got %d requests, want 3: a failed delivery was tried again", n)
	}
	if again := evDeliveryByID(t, tg, key, hook.ID, d.ID); again.Status != impl.DeliveryFailed || len(again.Attempts) != 3 {
		t.Errorf("later the delivery is %s", again)
	}
	if w := evGetHook(t, tg, key, hook.ID); !w.Active {
		t.Errorf("one failed delivery disabled the webhook: %+v", w)
	}
}

func evGoneDisablesTheWebhook(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "gone", rec, []string{impl.EventLeadCreated}, 0)
	rec.SetGone(true)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliveryFailed || !slices.Equal(d.codes(), []int{http.StatusGone}) || d.NextAttemptAt != nil {
		t.Errorf("delivery %s, want failed after one attempt answered 410, without next_attempt_at", d)
	}
	w := evGetHook(t, tg, key, hook.ID)
	if w.Active || w.DisabledReason == nil || !strings.Contains(*w.DisabledReason, "410") || w.DisabledAt == nil {
		t.Errorf("after a 410 the webhook is %+v (reason %v), want inactive with a reason mentioning 410", w, evStr(w.DisabledReason))
	}
	if ds := evNewDeliveries(t, tg, key, hook.ID, func() { evCreateLead(t, tg, key, nil) }); len(ds) != 0 {
		t.Errorf("a disabled webhook got new deliveries: %v", ds)
	}
	evSameRequests(t, rec, d, []int{http.StatusGone})
}

func evAutoDisable(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "failing", rec, []string{impl.EventLeadCreated}, 1)
	rec.FailNext(3, http.StatusInternalServerError)
	var ds []evDelivery
	for range 3 {
		ds = append(ds, evDeliveryOf(t, tg, key, hook.ID))
	}
	for _, d := range ds {
		d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
		if d.Status != impl.DeliveryFailed || !slices.Equal(d.codes(), []int{500}) {
			t.Errorf("delivery %s, want failed after one 500", d)
		}
	}
	var w evWebhook
	evWaitFor(t, func() bool { w = evGetHook(t, tg, key, hook.ID); return !w.Active },
		func() string { return fmt.Sprintf("after 3 failed deliveries in a row the webhook is still %+v", w) })
	if w.DisabledReason == nil || strings.TrimSpace(*w.DisabledReason) == "" || w.DisabledAt == nil {
		t.Errorf("disabled webhook has disabled_reason %v disabled_at %v", evStr(w.DisabledReason), w.DisabledAt)
	}

	if later := evNewDeliveries(t, tg, key, hook.ID, func() { evCreateLead(t, tg, key, nil) }); len(later) != 0 {
		t.Errorf("a disabled webhook got new deliveries: %v", later)
	}
	if n := rec.Attempts(); n != 3 {
		t.Errorf("the receiver got %d requests, want 3", n)
	}

	w = evDecode[evWebhook](t, evCall(t, tg, key, http.MethodPatch, fmt.Sprintf("/webhooks/%d", hook.ID),
		map[string]any{"active": true}, http.StatusOK))
	if !w.Active || w.DisabledReason != nil || w.DisabledAt != nil {
		t.Errorf("re-enabled webhook is %+v (reason %v)", w, evStr(w.DisabledReason))
	}
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliverySucceeded || !slices.Equal(d.codes(), []int{200}) {
		t.Errorf("after re-enabling, delivery %s, want succeeded", d)
	}
	evWaitFor(t, func() bool { return len(rec.Events()) == 1 },
		func() string { return fmt.Sprintf("the receiver accepted %d events, want 1", len(rec.Events())) })
	if got := rec.Events()[0].WebhookID; got != d.MessageID {
		t.Errorf("the receiver accepted %s, want %s", got, d.MessageID)
	}
}

func evRetryAfter(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "busy", rec, []string{impl.EventLeadCreated}, 0)
	rec.FailNextWithRetryAfter(1, http.StatusServiceUnavailable, "1")
	d := evDeliveryOf(t, tg, key, hook.ID)

	// Between the attempts: the stored next attempt is Retry-After's
	// second away, not the schedule's hour.
	var between evDelivery
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "attempted", func(d evDelivery) bool {
		if d.Status == impl.DeliveryPending && len(d.Attempts) == 1 {
			between = d
		}
		return len(d.Attempts) > 0
	})
	if between.ID == 0 {
		t.Fatalf("never saw the delivery pending after its first attempt: %s", d)
	}
	if c := between.codes(); !slices.Equal(c, []int{503}) || between.NextAttemptAt == nil {
		t.Fatalf("after the first attempt: %s, want one 503 and a next_attempt_at", between)
	}
	wait := between.NextAttemptAt.Sub(between.Attempts[0].AttemptedAt)
	if wait < 900*time.Millisecond || wait > 3*time.Second {
		t.Errorf("next_attempt_at is %s after the first attempt, want about 1s (Retry-After: 1), not the schedule's 1h", wait)
	}

	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliverySucceeded || !slices.Equal(d.codes(), []int{503, 200}) {
		t.Errorf("delivery %s, want succeeded after 503, 200", d)
	}
	if len(d.Attempts) == 2 {
		if gap := d.Attempts[1].AttemptedAt.Sub(d.Attempts[0].AttemptedAt); gap < 900*time.Millisecond {
			t.Errorf("the second attempt is dated %s after the first, before Retry-After's second", gap)
		}
	}
	evSameRequests(t, rec, d, []int{503, 200})
}

func evTimeout(t *testing.T, tg *target) {
	key := tg.freshOrg(t)
	rec := evNewReceiver(t)
	hook := evCreateHook(t, tg, key, "slow", rec, []string{impl.EventLeadCreated}, 1)
	rec.SetDelay(3 * time.Second)
	d := evDeliveryOf(t, tg, key, hook.ID)
	d = evWaitDelivery(t, tg, key, hook.ID, d.ID, "finished", evFinished)
	if d.Status != impl.DeliveryFailed || len(d.Attempts) != 1 {
		t.Fatalf("delivery %s, want failed after one attempt", d)
	}
	a := d.Attempts[0]
	if a.StatusCode != nil {
		t.Errorf("an unanswered attempt has status_code %d", *a.StatusCode)
	}
	if a.Error == nil || !strings.Contains(*a.Error, "no answer within 1s") {
		t.Errorf("attempt error %v, want it to say no answer within 1s", evStr(a.Error))
	}
	if n := len(rec.Events()); n != 0 {
		t.Errorf("the receiver accepted %d events from an attempt the sender gave up on", n)
	}
}

func evStr(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}
