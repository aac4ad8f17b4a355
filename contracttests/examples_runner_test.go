package contracttests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/gen/samples"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
	"github.com/iagente/iagente-sdr/openapi"
)

// The spec's examples, run for real. An example request names resources by
// the ids the spec shows (lead 123, webhook 7) and posts webhooks to
// https://meusite.com/webhook; the runner makes each one true in a fresh
// organization of the server's:
//
//   - a path parameter comes from the operation that links to this one
//     (the spec's `links`: createLead's GetLeadById gives getLead its id),
//     run first with its own first example, recursively;
//   - a body field named after a resource (`lead_id` for /leads/{id}) gets
//     the id of one prepared the same way; `integration_id` gets the
//     organization's integration of the operation's channel, as `make run`
//     seeds it;
//   - a body field of the WebhookURL schema points at a receiver on
//     127.0.0.1 of the test's own, so nothing leaves the machine.
//
// Everything else is the spec's example as written.

// specOp is one operation of openapi.yaml.
type specOp struct {
	id, method, path string
	op               *openapi3.Operation
	// params are the operation's parameters and its path's.
	params openapi3.Parameters
}

// pathParamExamples are the path parameters' example values.
func (op *specOp) pathParamExamples() map[string]string {
	p := map[string]string{}
	for _, ref := range op.params {
		if ref.Value != nil && ref.Value.In == "path" {
			ex := ref.Value.Example
			if ex == nil && ref.Value.Schema != nil && ref.Value.Schema.Value != nil {
				ex = ref.Value.Schema.Value.Example
			}
			p[ref.Value.Name] = fmt.Sprint(ex)
		}
	}
	return p
}

func (op *specOp) hasParam(name string) bool {
	for _, p := range op.params {
		if p.Value != nil && p.Value.Name == name {
			return true
		}
	}
	return false
}

var (
	rawSpecOnce sync.Once
	rawSpec     *openapi3.T
	rawSpecErr  error
)

// rawOpenAPI is openapi.yaml as written (gen/api's copy capitalises the
// operationIds the links name).
func rawOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	rawSpecOnce.Do(func() {
		loader := openapi3.NewLoader()
		rawSpec, rawSpecErr = loader.LoadFromData(openapi.YAML)
	})
	if rawSpecErr != nil {
		t.Fatal(rawSpecErr)
	}
	return rawSpec
}

// specOps lists every operation by operationId.
func specOps(t testing.TB) map[string]*specOp {
	t.Helper()
	doc := rawOpenAPI(t)
	ops := map[string]*specOp{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			params := append(append(openapi3.Parameters{}, op.Parameters...), item.Parameters...)
			ops[op.OperationID] = &specOp{id: op.OperationID, method: method, path: path, op: op, params: params}
		}
	}
	return ops
}

// exampleServer is an in-process server for running the spec's examples:
// webhooks may target loopback, where the test's receiver answers 200, and
// the WhatsApp Cloud API is the fake Graph API, for what the sandbox cannot
// do (read templates from Meta).
type exampleServer struct {
	tg *target
	// receiverBase is the receiver's root: /webhook answers 200, /refuse 401
	// with the reason a receiver would give.
	receiverBase string
	graph        *graphapi.Server
}

// needsMeta are the operations the sandbox cannot serve: the runner binds
// their integration_id to a Cloud API integration on the fake Graph API.
var needsMeta = map[string]bool{"syncWhatsAppTemplates": true}

// forEachExampleServer runs fn against a fresh in-process server per
// database. The examples assume a server of our own (the seeded messaging
// of `make run`, a receiver on loopback), so a remote target is not used.
func forEachExampleServer(t *testing.T, fn func(t *testing.T, s *exampleServer)) {
	t.Helper()
	for _, db := range sqlstoretest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if r.URL.Path == "/refuse" {
					w.WriteHeader(http.StatusUnauthorized)
					_, _ = io.WriteString(w, `{"error":"invalid signature"}`)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(rec.Close)
			graph := graphapi.New()
			gs := httptest.NewServer(graph)
			t.Cleanup(gs.Close)
			t.Cleanup(graph.Close)
			tg := startInProcessWith(t, db.URL, func(c *app.Config) {
				c.WebhookAllowPrivateTargets = true
				c.WhatsAppBaseURL, c.WhatsAppAPIVersion = gs.URL, "v21.0"
			})
			fn(t, &exampleServer{tg: tg, receiverBase: rec.URL, graph: graph})
		})
	}
}

// exampleRun is one organization in which examples are made true.
type exampleRun struct {
	t     *testing.T
	s     *exampleServer
	ops   map[string]*specOp
	set   *samples.Set
	key   string
	keyID int64
	orgID int64
	// integrations are the organization's seeded WhatsApp and RCS ones,
	// cloud its Cloud API one.
	integrations map[string]int64
	cloud        int64
	// noWindow keeps the WhatsApp contact from writing first: the run is
	// about the 24-hour window being shut.
	noWindow bool
	// receiver is where the run's webhooks point.
	receiver string
	// bound are the body fields the run has given values of its own.
	bound map[string]bool
}

// newExampleRun makes a fresh organization with the messaging `make run`
// seeds.
func (s *exampleServer) newExampleRun(t *testing.T, set *samples.Set) *exampleRun {
	t.Helper()
	// Grey-box: an organization of its own, with the messaging `make run`
	// seeds, and a Cloud API integration whose account is on the fake.
	seed := s.tg.seed(t)
	org := seed.Organization(t, "Exemplos "+t.Name())
	wa, rcs := seed.Messaging(t, org.ID)
	n, err := rand.Int(rand.Reader, big.NewInt(1e12))
	if err != nil {
		t.Fatal(err)
	}
	waba, number := fmt.Sprintf("1%014d", n.Int64()), fmt.Sprintf("2%014d", n.Int64())
	cloud := seed.Integration(t, &impl.Integration{OrganizationID: org.ID, Name: "WhatsApp Cloud", Channel: impl.ChannelWhatsApp,
		Provider: impl.ProviderWhatsAppCloud, Active: true, PhoneNumber: "551130030000", PhoneNumberID: number,
		AccessToken: "EAAGexemplos" + waba, AppSecret: "segredo-" + waba, WABAID: waba})
	s.graph.SetToken(number, cloud.AccessToken)
	s.graph.SetToken(waba, cloud.AccessToken)
	s.graph.SetTemplates(waba, graphapi.SampleTemplates())
	return &exampleRun{t: t, s: s, ops: specOps(t), set: set, key: org.Key, keyID: org.KeyID, orgID: org.ID,
		integrations: map[string]int64{"whatsapp": wa.ID, "rcs": rcs.ID}, cloud: cloud.ID,
		receiver: s.receiverBase + "/webhook", bound: map[string]bool{}}
}

// bindings are what an example request needs changed to be true here.
type bindings struct {
	// params are the path parameters' values.
	params map[string]string
	// fields maps a body field path ("lead_id", "url") to its value.
	fields map[string]any
}

// prepare makes the resources an example request of op names.
func (r *exampleRun) prepare(op *specOp, body json.RawMessage) *bindings {
	r.t.Helper()
	b := &bindings{params: r.pathParams(op, 0), fields: map[string]any{}}
	if len(body) == 0 {
		return b
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		r.t.Fatalf("%s: example body: %v", op.id, err)
	}
	obj, _ := v.(map[string]any)
	for field := range obj {
		switch {
		case field == "integration_id" && needsMeta[op.id]:
			b.fields[field] = r.cloud
		case field == "integration_id":
			ch := strings.Split(strings.TrimPrefix(op.path, "/"), "/")[0]
			id, ok := r.integrations[ch]
			if !ok {
				r.t.Fatalf("%s: integration_id of channel %q: the run seeds only %v", op.id, ch, r.integrations)
			}
			b.fields[field] = id
		case strings.HasSuffix(field, "_id"):
			if getter := r.resourceGetter(strings.TrimSuffix(field, "_id")); getter != nil {
				id, err := strconv.ParseInt(r.pathParams(getter, 0)["id"], 10, 64)
				if err != nil {
					r.t.Fatalf("%s: %s: %v", op.id, field, err)
				}
				b.fields[field] = id
			}
		}
	}
	if op.op.RequestBody != nil && op.op.RequestBody.Value != nil {
		if mt := op.op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			for _, f := range webhookURLFields(rawOpenAPI(r.t), mt.Schema.Value, obj) {
				b.fields[f] = r.receiver
			}
		}
	}
	for f := range b.fields {
		if r.bound != nil {
			r.bound[f] = true
		}
	}
	r.openWindow(op, obj, b)
	return b
}

// openWindow has a WhatsApp message's contact write first: WhatsApp (and
// the sandbox, like it) takes only templates from a business whose contact
// has not written in the last 24 hours, and `make run` has the examples'
// contact write for the same reason.
func (r *exampleRun) openWindow(op *specOp, body map[string]any, b *bindings) {
	r.t.Helper()
	if op.path != "/whatsapp/messages" || r.noWindow {
		return
	}
	phone, _ := body["phone"].(string)
	if id, ok := b.fields["lead_id"]; ok {
		status, out := r.send(http.MethodGet, fmt.Sprintf("/leads/%v", id), r.key, nil, "")
		var lead struct{ Phone string }
		if err := json.Unmarshal(out, &lead); status != http.StatusOK || err != nil {
			r.t.Fatalf("the lead of %s: %d %s", op.id, status, out)
		}
		phone = lead.Phone
	}
	if phone != "" {
		r.s.tg.seed(r.t).ContactWrote(r.t, r.integrations["whatsapp"], phone)
	}
}

// webhookURLFields lists the top-level fields of value whose schema is the
// spec's WebhookURL: the server connects to them.
func webhookURLFields(doc *openapi3.T, schema *openapi3.Schema, value map[string]any) []string {
	want := doc.Components.Schemas["WebhookURL"]
	if want == nil || schema == nil {
		return nil
	}
	var out []string
	var visit func(s *openapi3.Schema)
	visit = func(s *openapi3.Schema) {
		for name, p := range s.Properties {
			if _, given := value[name]; given && p.Value == want.Value {
				out = append(out, name)
			}
		}
		for _, group := range [][]*openapi3.SchemaRef{s.AllOf, s.OneOf, s.AnyOf} {
			for _, sub := range group {
				if sub.Value != nil {
					visit(sub.Value)
				}
			}
		}
	}
	visit(schema)
	sort.Strings(out)
	return out
}

// resourceGetter is the operation that gets one resource by name ("lead":
// GET /leads/{id}), or nil.
func (r *exampleRun) resourceGetter(name string) *specOp {
	plural := strings.ReplaceAll(name, "_", "-") + "s"
	for _, op := range r.ops {
		if op.method == http.MethodGet && op.path == "/"+plural+"/{id}" {
			return op
		}
	}
	return nil
}

// pathParams gives op's path parameters values that exist, from the
// operation that links to op.
func (r *exampleRun) pathParams(op *specOp, depth int) map[string]string {
	r.t.Helper()
	params := map[string]string{}
	if !strings.Contains(op.path, "{") {
		return params
	}
	if depth > 5 {
		r.t.Fatalf("%s: the links that lead to it go round in circles", op.id)
	}
	src, link := r.linkTo(op)
	if src == nil {
		r.t.Fatalf("%s has path parameters but no operation links to it: add a link (`links:`) from the operation "+
			"that makes what it needs, so that its examples can be made true (and schemathesis can chain them)", op.id)
	}
	srcParams := r.pathParams(src, depth+1)
	reqs := r.set.Operations[src.id]
	if len(reqs) == 0 {
		r.t.Fatalf("%s: no sample request of %s", op.id, src.id)
	}
	var body json.RawMessage
	if reqs[0].Body != nil {
		b := r.prepare(src, reqs[0].Body)
		body = b.apply(r.t, reqs[0].Body)
	}
	status, resp := r.call(src, srcParams, body, "en")
	if status < 200 || status > 299 {
		r.t.Fatalf("preparing %s: %s answered %d: %s", op.id, src.id, status, resp)
	}
	var respBody any
	if len(resp) > 0 {
		if err := json.Unmarshal(resp, &respBody); err != nil {
			r.t.Fatalf("preparing %s: %s: %v", op.id, src.id, err)
		}
	}
	for name, expr := range link.Parameters {
		e, _ := expr.(string)
		switch {
		case strings.HasPrefix(e, "$response.body#"):
			v, ok := pointer(respBody, strings.TrimPrefix(e, "$response.body#"))
			if !ok {
				r.t.Fatalf("preparing %s: link %s: %s has no %s: %s", op.id, src.id, e, e, resp)
			}
			params[name] = fmt.Sprint(v)
		case strings.HasPrefix(e, "$request.path."):
			params[name] = srcParams[strings.TrimPrefix(e, "$request.path.")]
		default:
			r.t.Fatalf("preparing %s: link from %s: unsupported expression %q", op.id, src.id, e)
		}
	}
	for _, p := range op.params {
		if p.Value != nil && p.Value.In == "path" && params[p.Value.Name] == "" {
			r.t.Fatalf("preparing %s: the link from %s gives no %s", op.id, src.id, p.Value.Name)
		}
	}
	return params
}

// linkTo finds the operation whose response links to op: the one with the
// fewest path parameters of its own, a POST first, for a stable choice.
func (r *exampleRun) linkTo(op *specOp) (*specOp, *openapi3.Link) {
	type cand struct {
		src  *specOp
		link *openapi3.Link
	}
	var cands []cand
	for _, src := range r.ops {
		for _, resp := range src.op.Responses.Map() {
			if resp.Value == nil {
				continue
			}
			for _, l := range resp.Value.Links {
				if l.Value != nil && l.Value.OperationID == op.id && src.id != op.id {
					cands = append(cands, cand{src, l.Value})
				}
			}
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].src, cands[j].src
		if na, nb := strings.Count(a.path, "{"), strings.Count(b.path, "{"); na != nb {
			return na < nb
		}
		if (a.method == http.MethodPost) != (b.method == http.MethodPost) {
			return a.method == http.MethodPost
		}
		return a.id < b.id
	})
	return cands[0].src, cands[0].link
}

// pointer resolves a JSON pointer in v.
func pointer(v any, ptr string) (any, bool) {
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if seg == "" {
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// apply returns body with the bound fields set.
func (b *bindings) apply(t testing.TB, body json.RawMessage) json.RawMessage {
	t.Helper()
	if len(b.fields) == 0 {
		return body
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	for f, v := range b.fields {
		obj[f] = v
	}
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fillPath puts params into a path template.
func fillPath(template string, params map[string]string) string {
	for name, v := range params {
		template = strings.ReplaceAll(template, "{"+name+"}", v)
	}
	return template
}

// call sends op with the run's key through the validating transport.
func (r *exampleRun) call(op *specOp, params map[string]string, body json.RawMessage, lang string) (int, []byte) {
	r.t.Helper()
	return r.send(op.method, fillPath(op.path, params), r.key, body, lang)
}

func (r *exampleRun) send(method, path, key string, body json.RawMessage, lang string) (int, []byte) {
	r.t.Helper()
	var headers map[string]string
	if lang != "" {
		headers = map[string]string{"Accept-Language": lang}
	}
	return r.sendWith(method, path, key, body, headers)
}

// sendWith sends a request with headers of the caller's besides the key
// and the JSON Content-Type (which headers may replace).
func (r *exampleRun) sendWith(method, path, key string, body json.RawMessage, headers map[string]string) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, r.s.tg.baseURL+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := (&http.Client{Transport: newValidatingTransport(r.t, r.s.tg.baseURL)}).Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return res.StatusCode, out
}
