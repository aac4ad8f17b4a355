package contracttests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
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
	if err := doc.Validate(context.Background()); err != nil {
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
			if got := slices.Sorted(maps.Keys(doc.Webhooks)); !slices.Equal(got, evAllEvents()) || len(got) != 8 {
				t.Errorf("/docs/reference.json lists the events %v, want the 8 events %v", got, evAllEvents())
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
