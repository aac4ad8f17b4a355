package main

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every event of webhooks.yaml becomes a GET whose 200 response is its
// payload, with its delivery headers, and the payload's references into
// openapi.yaml point at the file given.
// A set the spec marks extensible is compared without its values.
func TestRelax(t *testing.T) {
	src := []byte("components:\n  schemas:\n    Code:\n      type: string\n      x-extensible-enum: true\n      enum: [a, b]\n    Fixed:\n      type: string\n      enum: [c]\n")
	out, err := Relax(src)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Components.Schemas["Code"]["enum"]; ok || doc.Components.Schemas["Code"]["type"] != "string" {
		t.Errorf("the extensible enum is still compared: %v", doc.Components.Schemas["Code"])
	}
	if _, ok := doc.Components.Schemas["Fixed"]["enum"]; !ok {
		t.Errorf("a fixed enum lost its values: %v", doc.Components.Schemas["Fixed"])
	}
}

func TestConvert(t *testing.T) {
	src, err := os.ReadFile("../webhooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Convert(src, "/specs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Headers map[string]struct {
					Required bool `yaml:"required"`
				} `yaml:"headers"`
				Content map[string]struct {
					Schema map[string]string `yaml:"schema"`
				} `yaml:"content"`
			} `yaml:"responses"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var in struct {
		Webhooks map[string]any `yaml:"webhooks"`
	}
	if err := yaml.Unmarshal(src, &in); err != nil {
		t.Fatal(err)
	}
	if len(doc.Paths) != len(in.Webhooks) || len(doc.Paths) == 0 {
		t.Fatalf("%d paths for %d events", len(doc.Paths), len(in.Webhooks))
	}
	for event := range in.Webhooks {
		op, ok := doc.Paths["/events/"+event]["get"]
		if !ok {
			t.Errorf("no GET /events/%s", event)
			continue
		}
		ok200 := op.Responses["200"]
		if h, ok := ok200.Headers["X-Webhook-Signature"]; !ok || !h.Required {
			t.Errorf("%s: X-Webhook-Signature is not a required header of the payload", event)
		}
		if ref := ok200.Content["application/json"].Schema["$ref"]; !strings.HasPrefix(ref, "#/components/schemas/") {
			t.Errorf("%s: payload schema %q", event, ref)
		}
	}
	if strings.Contains(string(out), "./openapi.yaml#") || !strings.Contains(string(out), "/specs/openapi.yaml#/components/schemas/Lead") {
		t.Errorf("the references to openapi.yaml were not made absolute")
	}
}
