package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// A value that each language must escape its own way comes out as the
// same data: a single quote in curl's single-quoted body, a dollar sign in a
// double-quoted PHP string, a C# keyword as a property name, an empty
// object that PHP's json_encode must not turn into a list.
func TestLiteralsEscape(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("note: \"it's $5 \\\"off\\\"\"\nevent: x\nempty: {}\nlist: [1, 2]\nnothing: null\n"), &n); err != nil {
		t.Fatal(err)
	}
	v, err := toValue(n.Content[0])
	if err != nil {
		t.Fatal(err)
	}
	r := &render{method: "POST", url: "https://x.test/api/v1/leads", result: "lead", status: 201}
	code := r.all(v)
	for lang, want := range map[string][]string{
		"curl":   {`"note": "it'\''s $5 \"off\""`},
		"python": {`"note": "it's $5 \"off\""`, `"nothing": None`},
		"node":   {`note: "it's $5 \"off\""`, `empty: {}`},
		"php":    {`"note" => "it's \$5 \"off\""`, `"empty" => (object) []`, `"list" => [1, 2]`},
		"csharp": {`note = "it's $5 \"off\""`, `@event = "x"`, `nothing = (object?)null`, `list = new[] { 1, 2 }`},
	} {
		for _, w := range want {
			if !strings.Contains(code[lang], w) {
				t.Errorf("%s sample lacks %s:\n%s", lang, w, code[lang])
			}
		}
	}
	raw, err := marshal(v, "")
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(raw), &back); err != nil || back["note"] != `it's $5 "off"` {
		t.Errorf("the JSON body %s does not hold the value (%v)", raw, err)
	}
}

// Every operation of the spec gets samples, in its YAML order of examples.
func TestGenerateCoversTheSpec(t *testing.T) {
	src, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := Generate(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	ops := 0
	for path, item := range doc.Paths {
		for method, node := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				OperationID string `yaml:"operationId"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatal(err)
			}
			ops++
			reqs := set.Operations[op.OperationID]
			if len(reqs) == 0 {
				t.Errorf("%s %s (%s) has no samples", method, path, op.OperationID)
			}
			for _, r := range reqs {
				if len(r.Code) != 5 || strings.Contains(r.URL, "{") {
					t.Errorf("%s: %d languages, URL %s", op.OperationID, len(r.Code), r.URL)
				}
			}
		}
	}
	if ops == 0 || ops != len(set.Operations) {
		t.Errorf("%d operations in the spec, samples for %d", ops, len(set.Operations))
	}
	if reqs := set.Operations["sendWhatsAppMessage"]; len(reqs) < 2 || reqs[0].Example != "apiReferenceText" {
		t.Errorf("the examples lost the spec's order: %+v", reqs)
	}
}
