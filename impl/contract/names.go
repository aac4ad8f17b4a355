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
	eachSchema(spec, func(s *openapi3.Schema) {
		for name := range s.Properties {
			names[name] = name
		}
	})
	return names
})

// eachSchema calls fn once for every schema of doc, named or inline: the
// components' and those of the operations' request and response bodies,
// and every schema within them.
func eachSchema(doc *openapi3.T, fn func(*openapi3.Schema)) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		fn(s)
		for _, p := range s.Properties {
			walk(p)
		}
		for _, group := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, r := range group {
				walk(r)
			}
		}
		walk(s.Items)
		walk(s.Not)
		walk(s.AdditionalProperties.Schema)
	}
	content := func(c openapi3.Content) {
		for _, mt := range c {
			if mt != nil {
				walk(mt.Schema)
			}
		}
	}
	if doc.Components != nil {
		for _, r := range doc.Components.Schemas {
			walk(r)
		}
	}
	if doc.Paths == nil {
		return
	}
	for _, item := range doc.Paths.Map() {
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
