package contract_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/iagente/iagente-sdr/impl/contract"
	"github.com/iagente/iagente-sdr/internal/race"
)

// kinVerdict is kin-openapi's verdict on data against s, as the Validator
// reaches it without the walk: the response's decoder, then VisitJSON.
func kinVerdict(data []byte, s *openapi3.Schema) (valid, decoded bool) {
	value, err := contract.DecodeResponse(data)
	if err != nil {
		return false, false
	}
	return s.VisitJSON(value, contract.ResponseOptions().SchemaValidationOptions...) == nil, true
}

// agree fails t when the walk's verdict on data contradicts kin-openapi's,
// and returns the walk's verdict.
func agree(t *testing.T, data []byte, s *openapi3.Schema, what string) string {
	t.Helper()
	got := contract.WalkVerdict(data, s)
	valid, decoded := kinVerdict(data, s)
	switch {
	case got == "accepted" && !valid:
		t.Fatalf("%s: the walk passes %s, kin-openapi refuses it (decoded: %v)", what, data, decoded)
	case got == "refused" && valid && jsontext.Value(data).IsValid():
		// (With a name given twice, a refusal may be the first value's.)
		t.Fatalf("%s: the walk refuses %s, kin-openapi passes it", what, data)
	}
	// The walk of the decoded values (a request's), against kin-openapi's
	// visit of the same values: exact where it is sure.
	if value, _, err := contract.DecodeJSON(data); err == nil {
		visited := s.VisitJSON(value, contract.RequestOptions().SchemaValidationOptions...) == nil
		switch contract.ValuesVerdict(value, s) {
		case "accepted":
			if !visited {
				t.Fatalf("%s: the walk of the decoded values passes %s, kin-openapi refuses it", what, data)
			}
		case "refused":
			if visited {
				t.Fatalf("%s: the walk of the decoded values refuses %s, kin-openapi passes it", what, data)
			}
		}
	}
	return got
}

// The walk passes a body only when kin-openapi would, and refuses one only
// when kin-openapi would: on every JSON body of the spec (requests and
// responses, each example and each mutation of it). And it is sure of
// every response example: otherwise the Validator would decode them all
// again.
func TestWalkAgreesWithVisitJSON(t *testing.T) {
	doc, _ := leadsSpec(t)
	counts := map[string]int{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			type body struct {
				mt       *openapi3.MediaType
				response bool
			}
			var bodies []body
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
					bodies = append(bodies, body{mt, false})
				}
			}
			codes := make([]string, 0, op.Responses.Len())
			for code := range op.Responses.Map() {
				codes = append(codes, code)
			}
			sort.Strings(codes)
			for _, code := range codes {
				if r := op.Responses.Value(code); r != nil && r.Value != nil {
					if mt := r.Value.Content.Get("application/json"); mt != nil {
						bodies = append(bodies, body{mt, true})
					}
				}
			}
			for _, b := range bodies {
				if b.mt.Schema == nil || b.mt.Schema.Value == nil {
					continue
				}
				s := b.mt.Schema.Value
				for _, example := range examplesOf(b.mt) {
					for i, value := range mutations(example) {
						if race.Enabled && i%10 != 0 {
							continue
						}
						data, err := json.Marshal(value)
						if err != nil {
							t.Fatal(err)
						}
						what := method + " " + path
						got := agree(t, data, s, what)
						counts[got]++
						if i == 0 && b.response && got != "accepted" {
							t.Errorf("%s: the walk is %s of the response example %s", what, got, data)
						}
						if i == 0 && !b.response {
							decoded, _, err := contract.DecodeJSON(data)
							if err != nil {
								t.Fatal(err)
							}
							if v := contract.ValuesVerdict(decoded, s); v != "accepted" {
								t.Errorf("%s: the walk of the decoded values is %s of the request example %s", what, v, data)
							}
						}
					}
				}
			}
		}
	}
	if counts["accepted"] < race.Sample(100) || counts["refused"] < race.Sample(500) {
		t.Fatalf("verdicts %v: the corpus is too thin", counts)
	}
	t.Logf("verdicts %v", counts)
}

// walkSpec holds schemas with what the spec's own bodies use little of:
// oneOf, anyOf and allOf over objects, bounds on members and items, and a
// property whose value may be anything.
const walkSpec = `
openapi: 3.0.3
info: {title: walk, version: "1"}
paths: {}
components:
  schemas:
    Shape:
      type: object
      required: [kind]
      minProperties: 1
      maxProperties: 4
      properties:
        kind: {type: string, enum: [dot, box, any]}
        size: {type: integer, minimum: 0, maximum: 9}
        tags:
          type: array
          minItems: 1
          maxItems: 3
          uniqueItems: true
          items: {type: string, maxLength: 3}
        extra: {}
        nested: {$ref: '#/components/schemas/Shape'}
      additionalProperties: false
    Either:
      oneOf:
        - {type: object, required: [a], properties: {a: {type: integer}}}
        - {type: object, required: [b], properties: {b: {type: string}}}
        - {type: array, items: {type: boolean}}
        - {type: string}
    Some:
      type: object
      anyOf:
        - {required: [a]}
        - {required: [b]}
      allOf:
        - {properties: {a: {type: integer, nullable: true}}}
        - {properties: {b: {type: string}}, additionalProperties: {type: number}}
    Guarded:
      type: object
      not: {required: [a, b]}
    Pet:
      oneOf:
        - $ref: '#/components/schemas/Cat'
        - $ref: '#/components/schemas/Dog'
      discriminator:
        propertyName: kind
        mapping: {cat: '#/components/schemas/Cat', dog: Dog}
    AnyPet:
      anyOf:
        - $ref: '#/components/schemas/Cat'
        - $ref: '#/components/schemas/Dog'
      discriminator: {propertyName: kind}
    Cat:
      type: object
      required: [kind]
      properties: {kind: {type: string}, a: {type: integer}}
    Dog:
      type: object
      required: [kind]
      properties: {kind: {type: string}, b: {type: string}}
      additionalProperties: false
    Scalars:
      type: object
      properties:
        i32: {type: integer, format: int32}
        i64: {type: integer, format: int64, minimum: 1}
        n: {type: number, minimum: 0, exclusiveMinimum: true, maximum: 10, exclusiveMaximum: true}
        m: {type: number, multipleOf: 0.5}
        f: {type: number, format: double}
        e: {type: string, enum: [a, b], nullable: true}
        ne: {type: integer, enum: [1, 2]}
        be: {type: boolean, enum: [true]}
        mail: {type: string, format: email, maxLength: 20}
        when: {type: string, format: date-time}
        day: {type: string, format: date}
        pat: {type: string, pattern: '^[0-9]{2,4}$', minLength: 3}
        u: {type: string, maxLength: 2}
        any: {nullable: true}
        typeless: {minimum: 3, maxLength: 2}
        b: {type: boolean}
        s: {type: string}
    Mapped:
      type: object
      additionalProperties:
        type: array
        items: {type: integer, minimum: 1}
`

var walkSeeds = []string{
	`{"kind":"cat","a":1}`, `{"kind":"dog","b":"x"}`, `{"kind":"dog","a":1}`, `{"kind":"cow"}`, `{"kind":1}`, `{"a":1}`, `{"k\u0069nd":"cat"}`,
	`{"kind":"cat","a":"x"}`, `{"b":"x","kind":"dog"}`, `{"kind":"dog","kind":"cat","a":1}`,
	`{"i32":2147483647}`, `{"i32":2147483648}`, `{"i32":-2147483648}`, `{"i32":-2147483649}`, `{"i32":1.5}`, `{"i32":1e2}`, `{"i32":"1"}`,
	`{"i64":9223372036854775807}`, `{"i64":9223372036854775808}`, `{"i64":9223372036854777856}`, `{"i64":-9223372036854775808}`, `{"i64":0}`, `{"i64":1e400}`,
	`{"n":0}`, `{"n":0.1}`, `{"n":10}`, `{"n":9.99}`, `{"m":1.5}`, `{"m":1.25}`, `{"f":1e308}`, `{"f":-0.0}`,
	`{"e":"a"}`, `{"e":"c"}`, `{"e":null}`, `{"ne":1}`, `{"ne":1.0}`, `{"ne":3}`, `{"be":true}`, `{"be":false}`,
	`{"mail":"a@b.co"}`, `{"mail":"not-mail"}`, `{"mail":"abcdefghij@klmnopqrstu.com"}`, `{"when":"2026-03-13T14:02:11Z"}`, `{"when":"2026-13-13T14:02:11Z"}`,
	`{"day":"2026-03-13"}`, `{"day":"13/03/2026"}`, `{"pat":"123"}`, `{"pat":"12"}`, `{"pat":"12345"}`, `{"pat":"12a"}`,
	`{"u":"ab"}`, `{"u":"abc"}`, `{"u":"\ud83d\ude00"}`, `{"u":"😀😀"}`, `{"u":"😀😀😀"}`, `{"any":1}`, `{"any":null}`, `{"typeless":2}`, `{"typeless":3}`, `{"typeless":"abc"}`, `{"typeless":true}`,
	`{"b":true}`, `{"b":null}`, `{"b":"true"}`, `{"s":""}`, `{"s":null}`, `{"s":1}`,
	`{"kind":"dot"}`, `{"kind":"box","size":3,"tags":["a","bc"]}`, `{"kind":"any","extra":{"x":[1,{"y":null}]},"nested":{"kind":"dot","nested":{"kind":"box"}}}`,
	`{"kind":"dot","size":10}`, `{"kind":"dot","tags":[]}`, `{"kind":"dot","tags":["a","b","c","d"]}`, `{"kind":"dot","zz":1}`,
	`{"size":1}`, `{}`, `{"kind":"dot","size":1,"tags":["a"],"extra":1,"nested":{"kind":"dot"}}`, `{"kind":"dot","kind":"box"}`,
	`{"k\u0069nd":"dot"}`, `{"kind":"dot"} 1`, `{"kind":"dot"`, `{"a":1}`, `{"b":"x"}`, `{"a":1,"b":"x"}`, `{"a":"x"}`,
	`[true,false]`, `[1]`, `"x"`, `1`, `null`, `{"a":null}`, `{"b":"x","c":1.5}`, `{"b":"x","c":"y"}`, `{"c":1}`,
	`{"p":[1,2]}`, `{"p":[0]}`, `{"p":{}}`, `{"a":1,"b":2}`, `{"a":1.0}`, `{"a":1e2}`, `{"kind":"dot","size":-0}`,
	"{\"kind\":\"\xff\"}", `{"kind":"dot","tags":["é"]}`, `{"kind":"dot","tags":["a","a"]}`, `{"kind":"dot","tags":["a","\u0061"]}`, `{"kind":"dot","tags":["a",1]}`, `[[[[[]]]]]`, `{"p":[1],"p":[0]}`, `{"b":"x","c":1,"c":"y"}`, `{"kind":"dot","extra":{"a":1,"a":2}}`, `{"kind":"dot","size":1,"size":10}`, `{"kind":"dot","nested":` + strings.Repeat(`{"kind":"dot","nested":`, 70) + `null` + strings.Repeat(`}`, 71),
}

func walkSchemas(t testing.TB) map[string]*openapi3.Schema {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(walkSpec))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := map[string]*openapi3.Schema{}
	for name, ref := range doc.Components.Schemas {
		out[name] = ref.Value
	}
	return out
}

func TestWalkAgreesOnCombinedSchemas(t *testing.T) {
	schemas := walkSchemas(t)
	names := make([]string, 0, len(schemas))
	for name := range schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	counts := map[string]int{}
	for _, name := range names {
		for _, seed := range walkSeeds {
			counts[agree(t, []byte(seed), schemas[name], name)]++
		}
	}
	// Each kind of verdict is reached: the walk is sure of the combined
	// schemas, and unsure where it must be (not, a name given twice, data
	// after the value, nesting past its bound).
	for _, v := range []string{"accepted", "refused", "unsure"} {
		if counts[v] < 20 {
			t.Fatalf("verdicts %v: too few %s", counts, v)
		}
	}
	for seed, want := range map[string]string{
		`{"a":1}`: "accepted", `{"a":1,"b":"x"}`: "refused", `[true]`: "accepted", `{"b":"x"}`: "accepted",
	} {
		if got := contract.WalkVerdict([]byte(seed), schemas["Either"]); got != want {
			t.Errorf("Either %s: %s, want %s", seed, got, want)
		}
	}
	t.Logf("verdicts %v", counts)
}

// FuzzWalk: whatever the body, the walk never contradicts kin-openapi.
//
//	go test -fuzz=FuzzWalk -fuzztime=60s ./impl/contract/
func FuzzWalk(f *testing.F) {
	for _, seed := range walkSeeds {
		f.Add(seed)
	}
	f.Add(`{"id":123,"phone":"+5511999999999","name":"Maria","email":"maria@empresa.com","company_name":"Tech","temperature":"hot","lead_score":85,"deal_value":15000,"created_at":"2026-03-13T14:02:11Z","updated_at":"2026-03-14T09:30:00Z"}`)
	schemas := walkSchemas(f)
	doc, _ := leadsSpec(f)
	schemas["Lead"] = doc.Components.Schemas["Lead"].Value
	schemas["LeadCreate"] = doc.Components.Schemas["LeadCreate"].Value
	names := make([]string, 0, len(schemas))
	for name := range schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	f.Fuzz(func(t *testing.T, body string) {
		for _, name := range names {
			agree(t, []byte(body), schemas[name], name)
		}
	})
}

// Every scalar schema of the spec and of walkSpec, against scalars near
// their edges and their own examples and enums: the leaf passes only what
// kin-openapi passes, and it does pass the scalars of a lead.
func TestLeafAgreesWithVisitJSON(t *testing.T) {
	doc, _ := leadsSpec(t)
	var schemas []*openapi3.Schema
	seen := map[*openapi3.Schema]bool{}
	var collect func(ref *openapi3.SchemaRef)
	collect = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		schemas = append(schemas, s)
		for _, p := range s.Properties {
			collect(p)
		}
		collect(s.Items)
		collect(s.AdditionalProperties.Schema)
		collect(s.Not)
		for _, of := range [][]*openapi3.SchemaRef{s.OneOf, s.AnyOf, s.AllOf} {
			for _, r := range of {
				collect(r)
			}
		}
	}
	for _, ref := range doc.Components.Schemas {
		collect(ref)
	}
	for _, s := range walkSchemas(t) {
		collect(&openapi3.SchemaRef{Value: s})
	}
	corpus := []string{`null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `1.5`, `1e2`, `100`, `101`, `0.1`, `1e400`, `-1e400`,
		`2147483647`, `2147483648`, `-2147483649`, `9223372036854775807`, `9223372036854775808`, `9223372036854777856`, `-9223372036854777856`,
		`""`, `" "`, `"a"`, `"hot"`, `"HOT"`, `"x\u0001"`, `"😀"`, `"\ud83d\ude00"`, `"5511999999999"`, `"551199999999999999"`, `"+55 11 99999-9999"`,
		`"maria@empresa.com"`, `"maria@"`, `"2026-03-13T14:02:11Z"`, `"2026-03-13T14:02:11.123-03:00"`, `"2026-03-13"`, `"2026-03-13 14:02:11"`,
		`"https://meusite.com/webhook"`, `"http://x"`, `"ftp://x"`, `"sk_live_` + strings.Repeat("a", 43) + `"`, `"` + strings.Repeat("a", 300) + `"`}
	values := func(s *openapi3.Schema) []string {
		out := append([]string{}, corpus...)
		for _, v := range append(append([]any{}, s.Enum...), s.Example, s.Default) {
			if v == nil {
				continue
			}
			if data, err := json.Marshal(v); err == nil {
				out = append(out, string(data))
			}
		}
		return out
	}
	passed := 0
	for _, s := range schemas {
		for _, text := range values(s) {
			if !contract.LeafPasses(s, text) {
				continue
			}
			passed++
			value, err := contract.DecodeResponse([]byte(text))
			if err != nil {
				t.Fatalf("%s: %v", text, err)
			}
			if err := s.VisitJSON(value, contract.ResponseOptions().SchemaValidationOptions...); err != nil {
				t.Fatalf("the leaf passes %s, kin-openapi refuses it: %v", text, err)
			}
		}
	}
	lead := doc.Components.Schemas["Lead"].Value
	for name, text := range map[string]string{"id": `123`, "phone": `"5511999999999"`, "name": `"Maria"`, "email": `"maria@empresa.com"`,
		"company_name": `null`, "temperature": `"hot"`, "lead_score": `85`, "deal_value": `15000.5`, "created_at": `"2026-03-13T14:02:11Z"`} {
		if !contract.LeafPasses(lead.Properties[name].Value, text) {
			t.Errorf("Lead.%s: the leaf leaves %s to kin-openapi", name, text)
		}
	}
	if passed < 500 {
		t.Fatalf("the leaf passed %d values: the corpus is too thin", passed)
	}
	t.Logf("%d schemas, %d values passed", len(schemas), passed)
}
