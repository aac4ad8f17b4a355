package reference

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/iagente/iagente-sdr/gen/samples"
)

// sampleLanguages are how the reference names each language of the code
// samples: the highlighter's language and the label partners see.
var sampleLanguages = map[string]struct{ lang, label string }{
	"curl":   {"shell", "curl"},
	"python": {"python", "Python"},
	"node":   {"javascript", "Node.js"},
	"php":    {"php", "PHP"},
	"csharp": {"csharp", "C#"},
}

// Document is the reference's document: openapi.yaml as written, with the
// server it is served from as its only server (so "try it" calls it), the
// events of webhooks.yaml as its `webhooks` (REST operations and events in
// one reference), and every operation's code samples as x-codeSamples. The
// order of the spec's paths, fields and examples is kept.
func Document(openapiYAML, webhooksYAML []byte, set *samples.Set, server string) ([]byte, error) {
	rest, err := mapping(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	events, err := mapping(webhooksYAML)
	if err != nil {
		return nil, fmt.Errorf("webhooks.yaml: %w", err)
	}
	set0 := func(m *yaml.Node, key string, v *yaml.Node) {
		if i := index(m, key); i >= 0 {
			m.Content[i+1] = v
			return
		}
		m.Content = append(m.Content, str(key), v)
	}
	set0(rest, "servers", seq(obj("url", str(server), "description", str("Este servidor"))))
	// Renderers show `webhooks` only in an OpenAPI 3.1 document; the REST
	// schemas stay 3.0's (`nullable`), which the renderer reads in either.
	set0(rest, "openapi", str("3.1.0"))

	if err := mergeEvents(rest, events); err != nil {
		return nil, err
	}
	if err := addSamples(rest, set); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeJSON(&b, rest); err != nil {
		return nil, err
	}
	if !json.Valid(b.Bytes()) {
		return nil, errors.New("the reference document does not encode as JSON")
	}
	return b.Bytes(), nil
}

// mergeEvents adds the events' webhooks and components to the REST spec.
// webhooks.yaml refers to the REST schemas as ./openapi.yaml#/…, which in
// one document are #/…; an event component whose name the REST spec uses
// too (the webhook-id header and the webhook's id parameter) is renamed.
func mergeEvents(rest, events *yaml.Node) error {
	restComponents := get(rest, "components")
	eventComponents := get(events, "components")
	renames := map[string]string{}
	if eventComponents != nil {
		for i := 0; i+1 < len(eventComponents.Content); i += 2 {
			kind := eventComponents.Content[i].Value
			for j := 0; j+1 < len(eventComponents.Content[i+1].Content); j += 2 {
				name := eventComponents.Content[i+1].Content[j].Value
				if get(get(restComponents, kind), name) != nil {
					renames["#/components/"+kind+"/"+name] = "#/components/" + kind + "/Event" + name
					eventComponents.Content[i+1].Content[j].Value = "Event" + name
				}
			}
		}
	}
	walk(events, func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != "$ref" {
				continue
			}
			ref := n.Content[i+1]
			switch {
			case strings.HasPrefix(ref.Value, "./openapi.yaml#"):
				ref.Value = strings.TrimPrefix(ref.Value, "./openapi.yaml")
			case renames[ref.Value] != "":
				ref.Value = renames[ref.Value]
			}
		}
	})
	var external []string
	walk(events, func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "$ref" && !strings.HasPrefix(n.Content[i+1].Value, "#/") {
				external = append(external, n.Content[i+1].Value)
			}
		}
	})
	if len(external) > 0 {
		return fmt.Errorf("webhooks.yaml refers to %s, outside openapi.yaml and itself", strings.Join(external, ", "))
	}
	if eventComponents != nil {
		for i := 0; i+1 < len(eventComponents.Content); i += 2 {
			kind := eventComponents.Content[i].Value
			target := get(restComponents, kind)
			if target == nil {
				target = &yaml.Node{Kind: yaml.MappingNode}
				restComponents.Content = append(restComponents.Content, str(kind), target)
			}
			target.Content = append(target.Content, eventComponents.Content[i+1].Content...)
		}
	}
	webhooks := get(events, "webhooks")
	if webhooks == nil {
		return errors.New("webhooks.yaml has no webhooks")
	}
	// The events are one section of the reference, introduced by the
	// catalog's own description (envelope, answer, signatures, retries).
	for i := 0; i+1 < len(webhooks.Content); i += 2 {
		item := webhooks.Content[i+1]
		for j := 0; j+1 < len(item.Content); j += 2 {
			if op := item.Content[j+1]; op.Kind == yaml.MappingNode && get(op, "operationId") != nil {
				if k := index(op, "tags"); k >= 0 {
					op.Content[k+1] = seq(str(EventsTag))
				} else {
					op.Content = append(op.Content, str("tags"), seq(str(EventsTag)))
				}
				// We send events: no API key, a signature (its headers).
				op.Content = append(op.Content, str("security"), seq())
			}
		}
	}
	tag := obj("name", str(EventsTag))
	if d := get(get(events, "info"), "description"); d != nil {
		tag.Content = append(tag.Content, str("description"), d)
	}
	tags := get(rest, "tags")
	if tags == nil {
		tags = seq()
		rest.Content = append(rest.Content, str("tags"), tags)
	}
	tags.Content = append(tags.Content, tag)
	rest.Content = append(rest.Content, str("webhooks"), webhooks)
	return nil
}

// EventsTag is the reference's section of webhook events.
const EventsTag = "Webhook events"

// addSamples gives every operation its code samples.
func addSamples(rest *yaml.Node, set *samples.Set) error {
	paths := get(rest, "paths")
	var missing []string
	for i := 0; i+1 < len(paths.Content); i += 2 {
		item := paths.Content[i+1]
		for j := 0; j+1 < len(item.Content); j += 2 {
			op := item.Content[j+1]
			id := get(op, "operationId")
			if id == nil {
				continue
			}
			reqs := set.Operations[id.Value]
			if len(reqs) == 0 {
				missing = append(missing, id.Value)
				continue
			}
			list := &yaml.Node{Kind: yaml.SequenceNode}
			for _, req := range reqs {
				for _, lang := range samples.Languages {
					l := sampleLanguages[lang]
					entry := obj("lang", str(l.lang), "label", str(l.label), "source", str(req.Code[lang]))
					if req.Example != "" {
						entry.Content = append(entry.Content, str("example"), str(req.Example))
					}
					list.Content = append(list.Content, entry)
				}
			}
			op.Content = append(op.Content, str("x-codeSamples"), list)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no code samples for %s: run make generate", strings.Join(missing, ", "))
	}
	return nil
}

func mapping(src []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not a YAML mapping")
	}
	return doc.Content[0], nil
}

func index(m *yaml.Node, key string) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func get(m *yaml.Node, key string) *yaml.Node {
	if i := index(m, key); i >= 0 {
		return m.Content[i+1]
	}
	return nil
}

func walk(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil {
		return
	}
	if n.Kind == yaml.MappingNode {
		fn(n)
	}
	for _, c := range n.Content {
		walk(c, fn)
	}
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func obj(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return m
}

// writeJSON encodes a YAML node as JSON, keeping the order of its keys.
func writeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		return writeJSON(b, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(b, n.Alias)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeString(b, n.Content[i].Value); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return err
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!int", "!!float":
			var v float64
			if err := n.Decode(&v); err != nil {
				return err
			}
			if json.Valid([]byte(n.Value)) {
				b.WriteString(n.Value)
			} else {
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		default:
			return writeString(b, n.Value)
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // the encoder's newline
	return nil
}
