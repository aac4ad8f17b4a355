package contract

import (
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// knownNames holds every property name of the spec's schemas, each once, so
// that decoding a body reuses these strings for its object names instead of
// allocating each name again in every object of every request and response.
// It is built once and only read after, whatever the bodies hold: a name
// the spec does not know is decoded as before.
var knownNames = sync.OnceValue(func() map[string]string {
	names := map[string]string{}
	spec, err := Spec()
	if err != nil {
		return names
	}
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		for name, p := range s.Properties {
			names[name] = name
			walk(p)
		}
		walk(s.Items)
		walk(s.Not)
		walk(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, r := range list {
				walk(r)
			}
		}
	}
	content := func(c openapi3.Content) {
		for _, mt := range c {
			walk(mt.Schema)
		}
	}
	if spec.Components != nil {
		for _, r := range spec.Components.Schemas {
			walk(r)
		}
	}
	if spec.Paths != nil {
		for _, item := range spec.Paths.Map() {
			for _, op := range item.Operations() {
				if op.RequestBody != nil && op.RequestBody.Value != nil {
					content(op.RequestBody.Value.Content)
				}
				if op.Responses == nil {
					continue
				}
				for _, r := range op.Responses.Map() {
					if r.Value != nil {
						content(r.Value.Content)
					}
				}
			}
		}
	}
	return names
})
