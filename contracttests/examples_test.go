package contracttests

import (
	"encoding/json"
	"sync"
	"time"

	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/gen/samples"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/openapi"
)

// Every response example in the spec is what the server really answers.
// Spectral checks that an example fits its schema; this sends the request
// each example stands for and compares the answer with it:
//
//   - a 2xx example: the operation's request example of the same name (or
//     its first), made true by the example runner; the answer must have the
//     example's shape (the same fields, recursively, of the same JSON types)
//     and, when the request example has the same name, its values too, ids,
//     keys, secrets, durations and timestamps aside;
//   - an error example: the situation its name says (triggers below), sent
//     without Accept-Language; the answer must have the example's status,
//     code, message (numbers aside: they are ids and seconds) and details,
//     in the API's default language.
//
// An example whose name has no trigger fails the test: name it after one,
// or add the trigger here, so that no example goes unchecked.

// unprovokable are examples of failures a client cannot cause: an internal
// error, and a provider refusing a message (the sandbox never refuses; the
// WhatsApp contract tests cause it with the fake Graph API).
var unprovokable = map[string]string{
	"internal":    "an internal error cannot be caused from outside",
	"refused":     "the sandbox provider never refuses a message (whatsapp_test.go covers send_failed with the fake Graph API)",
	"unavailable": "needs the database down (impl/app/outage_test.go takes it down)",
	"metaDown":    "needs the Graph API down (template_sync_test.go makes the fake fail)",
	"inProgress":  "needs a request still running under the same key (idempotency_crash_test.go holds one)",
}

// volatile fields differ between the example and any real answer.
func volatile(field string) bool {
	switch field {
	case "id", "key", "prefix", "signing_secret", "duration_ms", "provider_message_id":
		return true
	}
	return strings.HasSuffix(field, "_id") || strings.HasSuffix(field, "_at")
}

// dataDependent fields are in an answer only when the data calls for
// them: the example shows the first page of many, the runner's organization
// has one page. Their type is still compared when both have them.
var dataDependent = map[string]bool{
	"next_cursor": true, // absent on the last page
}

type responseExample struct {
	op     *specOp
	status int
	name   string
	value  any
}

// responseExamples lists every JSON response example of the spec.
func responseExamples(t *testing.T) []responseExample {
	t.Helper()
	var out []responseExample
	for _, op := range specOps(t) {
		for code, resp := range op.op.Responses.Map() {
			status, err := strconv.Atoi(code)
			if err != nil || resp.Value == nil {
				continue
			}
			mt := resp.Value.Content.Get("application/json")
			if mt == nil {
				continue
			}
			if mt.Example != nil {
				out = append(out, responseExample{op, status, "", mt.Example})
			}
			for name, ex := range mt.Examples {
				if ex.Value != nil {
					out = append(out, responseExample{op, status, name, ex.Value.Value})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.op.id != b.op.id {
			return a.op.id < b.op.id
		}
		if a.status != b.status {
			return a.status < b.status
		}
		return a.name < b.name
	})
	return out
}

func TestExamplesAreTrue(t *testing.T) {
	set, err := samples.Load()
	if err != nil {
		t.Fatal(err)
	}
	examples := responseExamples(t)
	forEachExampleServer(t, func(t *testing.T, s *exampleServer) {
		// Rate limiting is per key and minute; a second server with a limit
		// of one request a minute shows the 429 without waiting.
		limited := startInProcessWith(t, s.tg.dbURL+"", func(c *app.Config) { c.RatePerMinute = 1 })
		checked := 0
		for _, ex := range examples {
			name := fmt.Sprintf("%s/%d/%s", ex.op.id, ex.status, ex.name)
			t.Run(name, func(t *testing.T) {
				if why, ok := unprovokable[ex.name]; ok {
					t.Skip(why)
				}
				r := s.newExampleRun(t, set)
				var status int
				var body []byte
				if ex.status == http.StatusTooManyRequests {
					status, body = r.rateLimited(limited, ex.op)
				} else {
					status, body = r.provoke(ex)
				}
				if status != ex.status {
					t.Fatalf("got %d, want %d: %s", status, ex.status, body)
				}
				var got any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("%v: %s", err, body)
				}
				if paired := r.pairedValues(ex); ex.status < 300 {
					// An example that is not the answer to its own request
					// shows one possible answer: a nullable field may be
					// null in it and not in the answer, or the other way.
					compareShapeOf(t, "", ex.value, got, paired, r.bound, !paired)
				} else {
					compareError(t, ex.value, got)
				}
				checked++
			})
		}
		t.Logf("%d response examples checked against the server", checked)
	})
}

// pairedValues reports whether the example's values, not only its shape,
// are what the server answers: when the request example that causes it has
// the same name.
func (r *exampleRun) pairedValues(ex responseExample) bool {
	for _, req := range r.set.Operations[ex.op.id] {
		if req.Example != "" && req.Example == ex.name {
			return true
		}
	}
	return false
}

// request returns the sample request of op named name, or its first.
func (r *exampleRun) request(op *specOp, name string) *samples.Request {
	reqs := r.set.Operations[op.id]
	if len(reqs) == 0 {
		r.t.Fatalf("%s has no sample request", op.id)
	}
	for _, req := range reqs {
		if req.Example == name {
			return req
		}
	}
	return reqs[0]
}

// body returns the request example as an object, for triggers to change.
func exampleObject(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("request example: %v", err)
	}
	return obj
}

var missingField = regexp.MustCompile(`^missing([A-Z][A-Za-z]*)$`)

// provoke sends the request the example stands for.
func (r *exampleRun) provoke(ex responseExample) (int, []byte) {
	r.t.Helper()
	op := ex.op
	req := r.request(op, ex.name)
	// Success: the example request, made true, and a list with something
	// in it.
	if ex.status < 300 {
		if ex.name == "rejected" {
			r.receiver = r.s.receiverBase + "/refuse"
		}
		b := r.prepare(op, req.Body)
		if op.method == http.MethodGet {
			r.populate(op, b.params)
		}
		var body json.RawMessage
		if req.Body != nil {
			body = b.apply(r.t, req.Body)
		}
		return r.call(op, b.params, body, "")
	}
	// exampleParams are the path's example values: in a fresh organization
	// nothing has those ids.
	exampleParams := op.pathParamExamples
	valid := func() (*bindings, json.RawMessage) {
		b := r.prepare(op, req.Body)
		if req.Body == nil {
			return b, nil
		}
		return b, b.apply(r.t, req.Body)
	}
	switch m := missingField.FindStringSubmatch(ex.name); {
	case m != nil:
		field := snake(m[1])
		b, body := valid()
		obj := exampleObject(r.t, body)
		if _, ok := obj[field]; !ok {
			r.t.Fatalf("example %s: the request example of %s has no %s to leave out", ex.name, op.id, field)
		}
		delete(obj, field)
		return r.call(op, b.params, mustJSON(obj), "")
	}
	switch {
	case ex.status == http.StatusRequestHeaderFieldsTooLarge:
		// Over the 16 KiB the URL and headers may take.
		return r.sendWith(op.method, fillPath(op.path, exampleParams()), r.key, req.Body,
			map[string]string{"X-Padding": strings.Repeat("a", 17<<10)})
	case ex.status == http.StatusUnsupportedMediaType && ex.name == "latin1":
		b, body := valid()
		return r.sendWith(op.method, fillPath(op.path, b.params), r.key, body,
			map[string]string{"Content-Type": "application/json; charset=latin1"})
	case ex.name == "keyReused":
		// The key first goes with another request (a POST /leads of its
		// own), then with this one.
		key := map[string]string{"Idempotency-Key": "exemplo-" + strconv.FormatInt(r.keyID, 10) + "-" + op.id}
		other := mustJSON(map[string]string{"phone": uniquePhone(r.t)})
		if status, out := r.sendWith(http.MethodPost, "/leads", r.key, other, key); status != http.StatusCreated {
			r.t.Fatalf("the first request with the key: %d %s", status, out)
		}
		b, body := valid()
		return r.sendWith(op.method, fillPath(op.path, b.params), r.key, body, key)
	}
	switch ex.name {
	case "neverWrote":
		// The contact never wrote to the integration's number.
		r.noWindow = true
		b, body := valid()
		return r.call(op, b.params, body, "")
	case "windowClosed":
		// The contact's last message is 25 hours old.
		r.noWindow = true
		b, body := valid()
		phone, _ := exampleObject(r.t, body)["phone"].(string)
		r.s.tg.seed(r.t).ContactWroteAt(r.t, r.integrations["whatsapp"], phone, time.Now().Add(-25*time.Hour))
		return r.call(op, b.params, body, "")
	case "missing":
		return r.send(op.method, fillPath(op.path, exampleParams()), "", req.Body, "")
	case "invalidId":
		p := exampleParams()
		if _, ok := p["id"]; !ok {
			r.t.Fatalf("example %s: %s has no id parameter", ex.name, op.id)
		}
		p["id"] = "abc"
		return r.call(op, p, req.Body, "")
	case "perPage":
		if !op.hasParam("per_page") {
			r.t.Fatalf("example %s: %s has no per_page parameter", ex.name, op.id)
		}
		b := r.prepare(op, nil)
		return r.send(op.method, fillPath(op.path, b.params)+"?per_page=101", r.key, nil, "")
	case "malformedJSON":
		if req.Body == nil {
			r.t.Fatalf("example %s: %s takes no body", ex.name, op.id)
		}
		return r.call(op, exampleParams(), json.RawMessage(`{"name": "Maria Santos"`), "")
	case "tooLarge":
		big := `{"name": "` + strings.Repeat("a", 1<<20) + `"}`
		return r.call(op, exampleParams(), json.RawMessage(big), "")
	case "unknownField":
		b, body := valid()
		obj := exampleObject(r.t, body)
		obj["extra"] = true
		return r.call(op, b.params, mustJSON(obj), "")
	case "duplicatePhone":
		// Another lead has the phone the request gives.
		other := r.request(r.ops["createLead"], "")
		otherBody := exampleObject(r.t, other.Body)
		otherBody["phone"] = uniquePhone(r.t)
		if status, out := r.call(r.ops["createLead"], nil, mustJSON(otherBody), ""); status != http.StatusCreated {
			r.t.Fatalf("create the other lead: %d %s", status, out)
		}
		b, body := valid()
		obj := exampleObject(r.t, body)
		obj["phone"] = otherBody["phone"]
		return r.call(op, b.params, mustJSON(obj), "")
	case "ownKey":
		// The key that authenticates the request names itself.
		return r.call(op, map[string]string{"id": strconv.FormatInt(r.keyID, 10)}, nil, "")
	case "tooManyKeys", "tooManyWebhooks":
		// Create until the organization's cap refuses.
		for i := 0; ; i++ {
			status, out := r.call(op, nil, req.Body, "")
			if status != http.StatusCreated || i > 200 {
				return status, out
			}
		}
	case "openHandoff", "alreadyClosed", "alreadyRevoked":
		// The same request twice.
		b, body := valid()
		if status, out := r.call(op, b.params, body, ""); status >= 300 {
			r.t.Fatalf("first %s: %d %s", op.id, status, out)
		}
		return r.call(op, b.params, body, "")
	case "emptyPeriod":
		// A period that ends where it begins.
		b, body := valid()
		obj := exampleObject(r.t, body)
		obj["until"] = obj["since"]
		return r.call(op, b.params, mustJSON(obj), "")
	case "changedSinceRead":
		// If-Match names a tag the lead does not have (any more).
		b, body := valid()
		return r.sendWith(op.method, fillPath(op.path, b.params), r.key, body, map[string]string{"If-Match": `"read-before-a-change"`})
	case "webhookDisabled":
		b, body := valid()
		if status, out := r.call(r.ops["updateWebhook"], map[string]string{"id": b.params["id"]},
			json.RawMessage(`{"active":false}`), ""); status != http.StatusOK {
			r.t.Fatalf("disable the webhook: %d %s", status, out)
		}
		return r.call(op, b.params, body, "")
	}
	if ex.status == http.StatusNotFound {
		// A body field named after the example ("lead": lead_id) keeps
		// its example id, which names nothing in a fresh organization;
		// everything else is made true.
		field := snake(ex.name) + "_id"
		for _, rq := range r.set.Operations[op.id] {
			if rq.Body == nil {
				continue
			}
			if _, ok := exampleObject(r.t, rq.Body)[field]; ok {
				b := r.prepare(op, rq.Body)
				delete(b.fields, field)
				return r.call(op, b.params, b.apply(r.t, rq.Body), "")
			}
		}
		// Otherwise the path's example ids name nothing in a fresh
		// organization; a path parameter named in the example's name
		// ("delivery") is the one that is missing, the others exist.
		p := exampleParams()
		var body json.RawMessage = req.Body
		if strings.Contains(op.path, "{") && ex.name != "" {
			for param := range p {
				if strings.HasPrefix(param, strings.ToLower(ex.name)) && param != "id" {
					real := r.prepare(op, nil).params
					for k, v := range real {
						if k != param {
							p[k] = v
						}
					}
				}
			}
		}
		return r.call(op, p, body, "")
	}
	r.t.Fatalf("no trigger for example %q of %s %d: name it after a trigger in examples_test.go, or add one", ex.name, op.id, ex.status)
	return 0, nil
}

// populate runs, before the list op, the POSTs that make what it lists:
// the POST to the same path, those that link to it with the same path
// parameters (testWebhook to listWebhookDeliveries), and those that answer
// with the list's item schema (the message sends, for listMessages).
func (r *exampleRun) populate(op *specOp, params map[string]string) {
	r.t.Helper()
	var item *openapi3.Schema
	if resp := op.op.Responses.Status(http.StatusOK); resp != nil && resp.Value != nil {
		if mt := resp.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
			if data := mt.Schema.Value.Properties["data"]; data != nil && data.Value != nil && data.Value.Items != nil {
				item = data.Value.Items.Value
			}
		}
	}
	ids := make([]string, 0, len(r.ops))
	for id := range r.ops {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		other := r.ops[id]
		if other.method != http.MethodPost {
			continue
		}
		switch {
		case other.path == op.path, linksWithSamePath(other, op.id):
			r.succeed(other, params)
		case item != nil && answers(other, item) && !strings.Contains(other.path, "{"):
			r.succeed(other, nil)
		}
	}
}

// linksWithSamePath reports whether src links to target passing only its
// own path parameters on.
func linksWithSamePath(src *specOp, target string) bool {
	for _, resp := range src.op.Responses.Map() {
		if resp.Value == nil {
			continue
		}
		for _, l := range resp.Value.Links {
			if l.Value == nil || l.Value.OperationID != target || len(l.Value.Parameters) == 0 {
				continue
			}
			same := true
			for _, e := range l.Value.Parameters {
				if s, _ := e.(string); !strings.HasPrefix(s, "$request.path.") {
					same = false
				}
			}
			if same {
				return true
			}
		}
	}
	return false
}

// answers reports whether op's success response is schema.
func answers(op *specOp, schema *openapi3.Schema) bool {
	for code, resp := range op.op.Responses.Map() {
		if !strings.HasPrefix(code, "2") || resp.Value == nil {
			continue
		}
		if mt := resp.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value == schema {
			return true
		}
	}
	return false
}

// succeed runs op's first example, made true, with params (prepared when
// nil), and fails the test unless it succeeds.
func (r *exampleRun) succeed(op *specOp, params map[string]string) {
	r.t.Helper()
	req := r.request(op, "")
	b := r.prepare(op, req.Body)
	if params == nil {
		params = b.params
	}
	var body json.RawMessage
	if req.Body != nil {
		body = b.apply(r.t, req.Body)
	}
	if status, out := r.call(op, params, body, ""); status < 200 || status > 299 {
		r.t.Fatalf("%s, to have something to list: %d %s", op.id, status, out)
	}
}

func snake(camel string) string {
	var b strings.Builder
	for i, c := range camel {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// rateLimited sends op with a new key on the server limited to one request
// a minute until it is refused, three times at most: the second answer is
// the 429, or the third when the first two straddle a minute.
func (r *exampleRun) rateLimited(limited *target, op *specOp) (int, []byte) {
	r.t.Helper()
	key := limited.seed(r.t).Organization(r.t, "limited").Key
	path := fillPath(op.path, op.pathParamExamples())
	lr := &exampleRun{t: r.t, s: &exampleServer{tg: limited}}
	lr.send(op.method, path, key, nil, "")
	status, body := lr.send(op.method, path, key, nil, "")
	if status != http.StatusTooManyRequests {
		// The limiter's windows are fixed minutes: when the two requests
		// straddle the start of one, the second is the new window's first.
		// A third, right after, is in the second's window.
		status, body = lr.send(op.method, path, key, nil, "")
	}
	return status, body
}

var (
	freeFormOnce  sync.Once
	freeFormNames map[string]bool
)

// freeForm reports whether the spec has a property of this name whose
// schema is a free-form object (additionalProperties: true and no
// properties), such as a message's content, whose keys depend on its type.
func freeForm(name string) bool {
	freeFormOnce.Do(func() {
		freeFormNames = map[string]bool{}
		doc, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
		if err != nil {
			return
		}
		for _, s := range doc.Components.Schemas {
			if s.Value == nil {
				continue
			}
			for n, p := range s.Value.Properties {
				if v := p.Value; v != nil && len(v.Properties) == 0 && v.AdditionalProperties.Has != nil && *v.AdditionalProperties.Has {
					freeFormNames[n] = true
				}
			}
		}
	})
	return freeFormNames[name]
}

var (
	digits    = regexp.MustCompile(`[0-9]+`)
	timestamp = regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})`)
)

// compareError compares an error example with the answer: code, message
// with numbers masked, and details exactly.
func compareError(t *testing.T, want, got any) {
	t.Helper()
	w, _ := pointer(want, "/error")
	g, _ := pointer(got, "/error")
	wm, _ := w.(map[string]any)
	gm, _ := g.(map[string]any)
	if wm == nil || gm == nil {
		t.Fatalf("not an error envelope: example %v, answer %v", want, got)
	}
	if wm["code"] != gm["code"] {
		t.Errorf("code: example %v, answer %v", wm["code"], gm["code"])
	}
	wmsg, gmsg := fmt.Sprint(wm["message"]), fmt.Sprint(gm["message"])
	if digits.ReplaceAllString(wmsg, "N") != digits.ReplaceAllString(gmsg, "N") {
		t.Errorf("message: example %q, answer %q", wmsg, gmsg)
	}
	// Details carry no ids, but they may carry a time.
	wd, _ := json.Marshal(wm["details"])
	gd, _ := json.Marshal(gm["details"])
	if timestamp.ReplaceAllString(string(wd), "T") != timestamp.ReplaceAllString(string(gd), "T") {
		t.Errorf("details: example %s, answer %s", wd, gd)
	}
}

// compareShape compares a success example with the answer: the same
// fields with the same JSON types, recursively; with values, the same
// values too but for volatile fields and those the runner bound (a webhook's
// url is the test's receiver).
func compareShape(t testing.TB, path string, want, got any, values bool, bound map[string]bool) {
	compareShapeOf(t, path, want, got, values, bound, false)
}

// compareShapeOf is compareShape; with anyNull, a null on either side
// matches any type (a nullable field the real cause left empty).
func compareShapeOf(t testing.TB, path string, want, got any, values bool, bound map[string]bool, anyNull bool) {
	t.Helper()
	kind := func(v any) string {
		switch v.(type) {
		case nil:
			return "null"
		case bool:
			return "boolean"
		case float64, json.Number, int, int64:
			return "number"
		case string:
			return "string"
		case []any:
			return "array"
		case map[string]any:
			return "object"
		}
		return fmt.Sprintf("%T", v)
	}
	at := path
	if at == "" {
		at = "the body"
	}
	if anyNull && (want == nil || got == nil) {
		return
	}
	if kind(want) != kind(got) {
		t.Errorf("%s: example has %s %v, answer %s %v", at, kind(want), want, kind(got), got)
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		if freeForm(strings.TrimPrefix(path[strings.LastIndex(path, ".")+1:], ".")) {
			return // its fields depend on the resource's kind; it is an object in both
		}
		for k := range w {
			if _, ok := g[k]; !ok && !dataDependent[k] {
				t.Errorf("%s: the example has %q, the answer does not", at, k)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s: the answer has %q, the example does not", at, k)
			}
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				compareShapeOf(t, strings.TrimPrefix(path+"."+k, "."), wv, gv, values && !volatile(k) && !bound[k], bound, anyNull)
			}
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 && len(g) == 0 {
			t.Errorf("%s: the example has items, the answer none: make the example's request make some", at)
			return
		}
		if values && len(w) != len(g) {
			t.Errorf("%s: example has %d items, answer %d", at, len(w), len(g))
		}
		for i := range w {
			if i < len(g) {
				compareShapeOf(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i], values, bound, anyNull)
			}
		}
	default:
		if values && fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("%s: example %v, answer %v", at, want, got)
		}
	}
}

// evCompareExample checks a real delivery against the examples the
// catalog documents for its event: the same shape (fields and JSON types;
// the tests' leads leave nullable fields empty, so null matches any).
// The webhook event tests call it for every delivery they receive, so each
// event's example is compared with one made by its real cause.
func evCompareExample(t *testing.T, event string, body []byte) {
	t.Helper()
	op := evOperation(t, event)
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil {
		return
	}
	if len(mt.Examples) == 0 {
		t.Errorf("webhooks.yaml documents no example of %s", event)
	}
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Errorf("%s delivery: %v", event, err)
		return
	}
	for name, ex := range mt.Examples {
		if ex.Value != nil {
			compareShapeOf(t, event+" example "+strconv.Quote(name)+" vs a real delivery: ", ex.Value.Value, got, false, nil, true)
		}
	}
}
