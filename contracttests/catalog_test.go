package contracttests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"

	"github.com/iagente/iagente-sdr/impl"
)

// The event catalog is written twice: openapi/webhooks.yaml (OpenAPI 3.1
// webhooks) and openapi/asyncapi.yaml (AsyncAPI 3.0, whose payloads are
// $refs into webhooks.yaml). These tests keep the two, the REST spec's
// EventType enum and impl.EventTypes telling the same story, and check
// that the server publishes the files as written.
//
// They also hold the strict validator the event tests check deliveries
// with: the catalog's schemas with every listed object closed, so that a
// field the server sends without documenting it fails.

// evWebhooksFile is the part of webhooks.yaml the cross-checks read.
type evWebhooksFile struct {
	OpenAPI  string `yaml:"openapi"`
	Webhooks map[string]struct {
		Post *struct {
			OperationID string `yaml:"operationId"`
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Ref string `yaml:"$ref"`
					} `yaml:"schema"`
				} `yaml:"content"`
			} `yaml:"requestBody"`
		} `yaml:"post"`
	} `yaml:"webhooks"`
	Components struct {
		Parameters map[string]struct {
			Name string `yaml:"name"`
			In   string `yaml:"in"`
		} `yaml:"parameters"`
		Schemas map[string]yaml.Node `yaml:"schemas"`
	} `yaml:"components"`
}

type evRef struct {
	Ref string `yaml:"$ref"`
}

// evAsyncAPIFile is the part of asyncapi.yaml the cross-checks read.
type evAsyncAPIFile struct {
	AsyncAPI string `yaml:"asyncapi"`
	Channels map[string]struct {
		Title    string           `yaml:"title"`
		Messages map[string]evRef `yaml:"messages"`
	} `yaml:"channels"`
	Operations map[string]struct {
		Action   string  `yaml:"action"`
		Channel  evRef   `yaml:"channel"`
		Messages []evRef `yaml:"messages"`
		Bindings struct {
			HTTP *struct {
				Method string `yaml:"method"`
			} `yaml:"http"`
		} `yaml:"bindings"`
	} `yaml:"operations"`
	Components struct {
		Schemas map[string]struct {
			Required   []string         `yaml:"required"`
			Properties map[string]evRef `yaml:"properties"`
		} `yaml:"schemas"`
		Messages map[string]struct {
			Name        string `yaml:"name"`
			ContentType string `yaml:"contentType"`
			Headers     evRef  `yaml:"headers"`
			Payload     struct {
				SchemaFormat string `yaml:"schemaFormat"`
				Schema       evRef  `yaml:"schema"`
			} `yaml:"payload"`
		} `yaml:"messages"`
	} `yaml:"components"`
}

// evRESTFile is the part of openapi.yaml the cross-checks read.
type evRESTFile struct {
	Components struct {
		Schemas map[string]struct {
			Enum []string `yaml:"enum"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func evReadYAML[T any](t *testing.T, path string) (T, []byte) {
	t.Helper()
	var v T
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v, b
}

// evAllEvents is impl.EventTypes and webhook.test, sorted.
func evAllEvents() []string {
	return slices.Sorted(slices.Values(append(slices.Clone(impl.EventTypes), impl.EventWebhookTest)))
}

// evLocalRef returns the name a local ref "#/<prefix><name>" points at.
func evLocalRef(t *testing.T, ref, prefix string) string {
	t.Helper()
	name, ok := strings.CutPrefix(ref, "#/"+prefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		t.Errorf("$ref %q is not #/%s<name>", ref, prefix)
		return ""
	}
	return name
}

func TestEventCatalogFilesAgree(t *testing.T) {
	wh, _ := evReadYAML[evWebhooksFile](t, "../openapi/webhooks.yaml")
	aa, _ := evReadYAML[evAsyncAPIFile](t, "../openapi/asyncapi.yaml")
	rest, _ := evReadYAML[evRESTFile](t, "../openapi/openapi.yaml")

	if !strings.HasPrefix(wh.OpenAPI, "3.1") {
		t.Errorf("webhooks.yaml is OpenAPI %q, want 3.1 (webhooks: needs it)", wh.OpenAPI)
	}
	if !strings.HasPrefix(aa.AsyncAPI, "3.") {
		t.Errorf("asyncapi.yaml is AsyncAPI %q, want 3.x", aa.AsyncAPI)
	}

	// The API reference's events stay, by the same names, in its order.
	seed := []string{"lead.created", "lead.updated", "lead.qualified", "message.received", "message.sent",
		"handoff.created", "handoff.closed"}
	var kept []string
	for _, e := range impl.EventTypes {
		if slices.Contains(seed, e) {
			kept = append(kept, e)
		}
	}
	if !slices.Equal(kept, seed) {
		t.Errorf("impl.EventTypes keeps the API reference's events as %v, want %v", kept, seed)
	}

	want := evAllEvents()
	catalog := slices.Sorted(maps.Keys(wh.Webhooks))
	if !slices.Equal(catalog, want) {
		t.Errorf("webhooks.yaml lists %v, want impl.EventTypes + webhook.test = %v", catalog, want)
	}

	// asyncapi.yaml: one message per event, named after it, whose payload is
	// the schema webhooks.yaml gives that event's body.
	messageByEvent := map[string]string{} // event -> components.messages key
	for key, m := range aa.Components.Messages {
		if prev, dup := messageByEvent[m.Name]; dup {
			t.Errorf("asyncapi.yaml: messages %s and %s are both named %q", prev, key, m.Name)
		}
		messageByEvent[m.Name] = key
	}
	if names := slices.Sorted(maps.Keys(messageByEvent)); !slices.Equal(names, catalog) {
		t.Errorf("asyncapi.yaml's messages are named %v, webhooks.yaml's events are %v", names, catalog)
	}
	for _, event := range catalog {
		key, ok := messageByEvent[event]
		if !ok {
			continue
		}
		m := aa.Components.Messages[key]
		post := wh.Webhooks[event].Post
		if post == nil {
			t.Errorf("webhooks.yaml: %s has no post", event)
			continue
		}
		body, ok := post.RequestBody.Content["application/json"]
		if !ok || body.Schema.Ref == "" {
			t.Errorf("webhooks.yaml: %s's requestBody has no application/json schema $ref", event)
			continue
		}
		if got, wantRef := m.Payload.Schema.Ref, "./webhooks.yaml"+body.Schema.Ref; got != wantRef {
			t.Errorf("asyncapi.yaml: message %s (%s) has payload $ref %q, want %q", key, event, got, wantRef)
		}
		if schema := evLocalRef(t, body.Schema.Ref, "components/schemas/"); schema != "" {
			if _, ok := wh.Components.Schemas[schema]; !ok {
				t.Errorf("webhooks.yaml: %s's body refers to %s, which components.schemas lacks", event, body.Schema.Ref)
			}
		}
		if m.ContentType != "application/json" {
			t.Errorf("asyncapi.yaml: message %s has contentType %q", key, m.ContentType)
		}
		if m.Headers.Ref != "#/components/schemas/DeliveryHeaders" {
			t.Errorf("asyncapi.yaml: message %s has headers %q, want the shared DeliveryHeaders", key, m.Headers.Ref)
		}
	}

	// The headers are webhooks.yaml's header parameters, each under its own
	// name.
	headers, ok := aa.Components.Schemas["DeliveryHeaders"]
	if !ok {
		t.Errorf("asyncapi.yaml has no components.schemas.DeliveryHeaders")
	}
	var catalogHeaders []string
	for _, p := range wh.Components.Parameters {
		if p.In == "header" {
			catalogHeaders = append(catalogHeaders, p.Name)
		}
	}
	slices.Sort(catalogHeaders)
	if got := slices.Sorted(maps.Keys(headers.Properties)); !slices.Equal(got, catalogHeaders) {
		t.Errorf("asyncapi.yaml's DeliveryHeaders has %v, webhooks.yaml's header parameters are %v", got, catalogHeaders)
	}
	for name, ref := range headers.Properties {
		param, ok := strings.CutPrefix(ref.Ref, "./webhooks.yaml#/components/parameters/")
		param, ok2 := strings.CutSuffix(param, "/schema")
		if !ok || !ok2 {
			t.Errorf("asyncapi.yaml: header %s has $ref %q, want ./webhooks.yaml#/components/parameters/<P>/schema", name, ref.Ref)
			continue
		}
		if p, ok := wh.Components.Parameters[param]; !ok || p.Name != name || p.In != "header" {
			t.Errorf("asyncapi.yaml: header %s refers to parameter %s, which is %+v", name, param, p)
		}
	}
	if got := slices.Sorted(slices.Values(headers.Required)); !slices.Equal(got, catalogHeaders) {
		t.Errorf("asyncapi.yaml's DeliveryHeaders requires %v, want every header %v", got, catalogHeaders)
	}

	// Every operation sends one event over HTTP POST, through a channel
	// carrying that event's message; every event has one.
	sent := map[string]int{}
	for name, op := range aa.Operations {
		if op.Action != "send" {
			t.Errorf("asyncapi.yaml: operation %s has action %q, want send", name, op.Action)
		}
		if op.Bindings.HTTP == nil || op.Bindings.HTTP.Method != http.MethodPost {
			t.Errorf("asyncapi.yaml: operation %s has no http binding with method POST", name)
		}
		chName := evLocalRef(t, op.Channel.Ref, "channels/")
		ch, ok := aa.Channels[chName]
		if !ok {
			t.Errorf("asyncapi.yaml: operation %s refers to channel %q, which does not exist", name, op.Channel.Ref)
			continue
		}
		if len(ch.Messages) != 1 {
			t.Errorf("asyncapi.yaml: channel %s carries %d messages, want 1", chName, len(ch.Messages))
		}
		for _, ref := range ch.Messages {
			if _, ok := aa.Components.Messages[evLocalRef(t, ref.Ref, "components/messages/")]; !ok {
				t.Errorf("asyncapi.yaml: channel %s refers to message %q, which does not exist", chName, ref.Ref)
			}
		}
		if len(op.Messages) != 1 {
			t.Errorf("asyncapi.yaml: operation %s names %d messages, want 1", name, len(op.Messages))
		}
		for _, ref := range op.Messages {
			inChannel, ok := strings.CutPrefix(ref.Ref, "#/channels/"+chName+"/messages/")
			if _, exists := ch.Messages[inChannel]; !ok || !exists {
				t.Errorf("asyncapi.yaml: operation %s's message %q is not one of its channel %s", name, ref.Ref, chName)
				continue
			}
			event := aa.Components.Messages[evLocalRef(t, ch.Messages[inChannel].Ref, "components/messages/")].Name
			sent[event]++
			if ch.Title != event {
				t.Errorf("asyncapi.yaml: channel %s is titled %q but carries %s", chName, ch.Title, event)
			}
		}
	}
	for _, event := range catalog {
		if sent[event] != 1 {
			t.Errorf("asyncapi.yaml: %d operations send %s, want 1", sent[event], event)
		}
	}
	for event := range sent {
		if _, ok := wh.Webhooks[event]; !ok {
			t.Errorf("asyncapi.yaml sends %q, which webhooks.yaml does not list", event)
		}
	}

	// The REST spec's enums.
	eventType := rest.Components.Schemas["EventType"].Enum
	if !slices.Equal(eventType, impl.EventTypes) {
		t.Errorf("openapi.yaml EventType enum is %v, want impl.EventTypes %v", eventType, impl.EventTypes)
	}
	if delivered := slices.Sorted(slices.Values(rest.Components.Schemas["DeliveredEventType"].Enum)); !slices.Equal(delivered, want) {
		t.Errorf("openapi.yaml DeliveredEventType enum is %v, want %v", delivered, want)
	}
}

func TestEventCatalogLoadsAndValidates(t *testing.T) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	doc, err := loader.LoadFromFile("../openapi/webhooks.yaml")
	if err != nil {
		t.Fatalf("load webhooks.yaml: %v", err)
	}
	// The events' examples are not judged here: in this 3.1 document
	// kin-openapi reads openapi.yaml's 3.0 schemas as 3.1 ones and ignores
	// their `nullable`, refusing the null of an open handoff's closed_at.
	// Spectral validates the examples (make lint), and examples_test.go
	// compares each with a real delivery.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("webhooks.yaml does not validate: %v", err)
	}
	if got := slices.Sorted(maps.Keys(doc.Webhooks)); !slices.Equal(got, evAllEvents()) {
		t.Errorf("kin-openapi sees webhooks %v, want %v", got, evAllEvents())
	}
	for name, item := range doc.Webhooks {
		if item.Post == nil || item.Post.RequestBody == nil || item.Post.RequestBody.Value == nil {
			t.Errorf("%s: no POST with a request body", name)
			continue
		}
		mt := item.Post.RequestBody.Value.Content.Get("application/json")
		if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
			t.Errorf("%s: no resolved application/json schema", name)
			continue
		}
		data := mt.Schema.Value.Properties["data"]
		if data == nil || data.Value == nil || len(data.Value.Properties) == 0 {
			t.Errorf("%s: data does not resolve to an object schema", name)
		}
		if ev := mt.Schema.Value.Properties["event"]; ev == nil || ev.Value == nil || !slices.Equal(ev.Value.Enum, []any{name}) {
			t.Errorf("%s: the envelope's event is not the enum [%s]", name, name)
		}
	}
}

func TestEventCatalogServed(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		root := rootURL(tg)
		get := func(t *testing.T, path string) []byte {
			t.Helper()
			res, err := http.Get(root + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
			}
			return b
		}
		for _, name := range []string{"webhooks.yaml", "asyncapi.yaml"} {
			t.Run(name, func(t *testing.T) {
				file, err := os.ReadFile("../openapi/" + name)
				if err != nil {
					t.Fatal(err)
				}
				if served := get(t, "/"+name); !bytes.Equal(served, file) {
					t.Errorf("GET /%s (%d bytes) differs from openapi/%s (%d bytes)", name, len(served), name, len(file))
				}
			})
		}
		t.Run("docs/reference.json", func(t *testing.T) {
			body := get(t, "/docs/reference.json")
			var doc struct {
				Webhooks map[string]json.RawMessage `json:"webhooks"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			// The API reference's 7, the 3 of a message's life after the
			// send, and webhook.test.
			if got := slices.Sorted(maps.Keys(doc.Webhooks)); !slices.Equal(got, evAllEvents()) || len(got) != 11 {
				t.Errorf("/docs/reference.json lists the events %v, want the 11 events %v", got, evAllEvents())
			}
			// The reference's document must stand alone: no $ref may point
			// outside it, and every one must resolve in it.
			var v any
			_ = json.Unmarshal(body, &v)
			var walk func(node any)
			walk = func(node any) {
				switch x := node.(type) {
				case map[string]any:
					if ref, ok := x["$ref"].(string); ok {
						if !strings.HasPrefix(ref, "#/") {
							t.Errorf("/docs/reference.json has an external $ref %q", ref)
						} else if _, found := pointer(v, strings.TrimPrefix(ref, "#")); !found {
							t.Errorf("/docs/reference.json: $ref %q resolves to nothing", ref)
						}
					}
					for _, c := range x {
						walk(c)
					}
				case []any:
					for _, c := range x {
						walk(c)
					}
				}
			}
			walk(v)
		})
	})
}

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
