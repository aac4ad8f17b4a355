// Command breakingdocs prepares the specs for oasdiff in scripts/breaking.sh.
//
//	go run ./openapi/breakingdocs -kind rest -in openapi/openapi.yaml -out /tmp/x/openapi.yaml
//	go run ./openapi/breakingdocs -kind events -in openapi/webhooks.yaml -rest /tmp/x/openapi.yaml -out /tmp/x/events.yaml
//
// rest: an enum marked `x-extensible-enum: true` is a set the spec says may
// grow (the error codes): partners are told to expect new values, so its
// enum is left out of the comparison and adding a code breaks nobody.
//
// events: oasdiff compares `paths` and ignores `webhooks`. An event is data
// we send and partners consume, which is what a response is to oasdiff: each
// event becomes GET /events/{event}, answering 200 with the event's payload
// and its delivery headers. Then oasdiff's response rules say what breaks a
// receiver: a payload field removed or made optional, a header dropped, a
// type changed. webhooks.yaml's ./openapi.yaml references point at -rest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

func main() {
	kind := flag.String("kind", "", "rest or events")
	in := flag.String("in", "", "the spec to prepare")
	rest := flag.String("rest", "", "events: the openapi.yaml its references point at (default: beside -in)")
	out := flag.String("out", "", "where to write the result")
	flag.Parse()
	if err := run(*kind, *in, *rest, *out); err != nil {
		fmt.Fprintln(os.Stderr, "breakingdocs:", err)
		os.Exit(1)
	}
}

func run(kind, in, rest, out string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc []byte
	switch kind {
	case "rest":
		doc, err = Relax(src)
	case "events":
		if rest == "" {
			rest = filepath.Join(filepath.Dir(in), "openapi.yaml")
		}
		if rest, err = filepath.Abs(rest); err == nil {
			doc, err = Convert(src, rest)
		}
	default:
		return fmt.Errorf("-kind must be rest or events, not %q", kind)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return os.WriteFile(out, doc, 0o644)
}

// Relax leaves out the enum of every schema marked x-extensible-enum: true.
func Relax(src []byte) ([]byte, error) {
	var file yaml.Node
	if err := yaml.Unmarshal(src, &file); err != nil {
		return nil, err
	}
	if len(file.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	walk(file.Content[0], func(n *yaml.Node) {
		if x := get(n, "x-extensible-enum"); x == nil || x.Value != "true" {
			return
		}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "enum" && k != "x-extensible-enum" {
				kept = append(kept, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = kept
	})
	return yaml.Marshal(file.Content[0])
}

// Convert returns the events of a webhooks document as GET operations
// whose 200 responses are the payloads; restSpec is the path that
// ./openapi.yaml references point to.
func Convert(src []byte, restSpec string) ([]byte, error) {
	var file yaml.Node
	if err := yaml.Unmarshal(src, &file); err != nil {
		return nil, err
	}
	if len(file.Content) != 1 {
		return nil, errors.New("not one YAML document")
	}
	root := file.Content[0]
	webhooks := get(root, "webhooks")
	if webhooks == nil {
		return nil, errors.New("no webhooks")
	}
	paths := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(webhooks.Content); i += 2 {
		event := webhooks.Content[i].Value
		post := get(webhooks.Content[i+1], "post")
		if post == nil {
			return nil, fmt.Errorf("event %s has no post", event)
		}
		body := get(get(get(post, "requestBody"), "content"), "application/json")
		if body == nil {
			return nil, fmt.Errorf("event %s has no JSON body", event)
		}
		headers := &yaml.Node{Kind: yaml.MappingNode}
		if params := get(post, "parameters"); params != nil {
			for _, p := range params.Content {
				p = deref(root, p)
				if v := get(p, "in"); v == nil || v.Value != "header" {
					continue
				}
				h := mapping("schema", get(p, "schema"))
				if req := get(p, "required"); req != nil {
					h.Content = append(h.Content, scalar("required"), req)
				}
				h.Content = append(h.Content, scalar("description"), scalar("The delivery header."))
				headers.Content = append(headers.Content, scalar(get(p, "name").Value), h)
			}
		}
		op := mapping(
			"operationId", get(post, "operationId"),
			"responses", mapping("200", mapping(
				"description", scalar("The event "+event+"."),
				"headers", headers,
				"content", mapping("application/json", mapping("schema", get(body, "schema"))),
			)),
		)
		paths.Content = append(paths.Content, scalar("/events/"+event), mapping("get", op))
	}
	walk(root, func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "$ref" && strings.HasPrefix(n.Content[i+1].Value, "./openapi.yaml#") {
				n.Content[i+1].Value = restSpec + strings.TrimPrefix(n.Content[i+1].Value, "./openapi.yaml")
			}
		}
	})
	info := get(root, "info")
	if info == nil {
		return nil, errors.New("no info")
	}
	out := mapping(
		"openapi", scalar("3.0.3"),
		"info", info,
		"paths", paths,
		"components", mapping("schemas", get(get(root, "components"), "schemas")),
	)
	return yaml.Marshal(out)
}

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// deref follows a local "#/components/…" reference.
func deref(root, n *yaml.Node) *yaml.Node {
	ref := get(n, "$ref")
	if ref == nil || !strings.HasPrefix(ref.Value, "#/") {
		return n
	}
	for _, part := range strings.Split(strings.TrimPrefix(ref.Value, "#/"), "/") {
		root = get(root, part)
	}
	return root
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

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func mapping(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		v, _ := kv[i+1].(*yaml.Node)
		if v == nil {
			continue
		}
		m.Content = append(m.Content, scalar(kv[i].(string)), v)
	}
	return m
}
