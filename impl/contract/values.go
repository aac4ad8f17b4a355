package contract

import (
	"encoding/json"

	"github.com/getkin/kin-openapi/openapi3"
)

// The walk also judges a request's body as DecodeJSON decoded it: the
// handler binds those values, so they are built anyway, and walking them
// costs less than kin-openapi's visit of them, which sorts the names of
// every object and makes its settings afresh for each scalar. Its verdicts
// are the token walk's (the same shape, leaf and combined): exact or
// unsure, and kin-openapi visits whatever it does not pass. A decoded body
// has no name twice, so its refusals are exact everywhere.

// values judges v, a body as DecodeJSON gives it, against s.
func (w walker) values(v any, s *openapi3.Schema) verdict {
	return (&walking{leaf: w.leaf, budget: walkBudget}).decoded(v, s, nil, nil, false, 0)
}

// decoded judges one decoded value against s; same and own as in raw.
func (w *walking) decoded(v any, s *openapi3.Schema, sh *shape, same []*openapi3.Schema, own bool, depth int) verdict {
	if depth > walkDepth {
		return unsure
	}
	if sh == nil {
		sh = shapeOf(s)
	}
	var first byte
	switch v.(type) {
	case map[string]any:
		first = '{'
	case []any:
		first = '['
	default:
		return w.decodedScalar(v, s, sh.leaf)
	}
	switch {
	case !sh.modelled:
		return unsure
	case sh.empty:
		return accepted
	}
	if !own && (len(s.OneOf)+len(s.AnyOf)+len(s.AllOf) != 0 || s.Not != nil) {
		for _, t := range same {
			if t == s {
				return unsure
			}
		}
		same = append(same, s)
		if w.budget--; w.budget < 0 {
			return unsure
		}
		return combined(s, first,
			func(t *openapi3.Schema, own bool) verdict { return w.decoded(v, t, nil, same, own, depth) },
			func(d *openapi3.Discriminator) (string, verdict) { return discriminatedValue(v, d) })
	}
	if first == '{' {
		return w.decodedObject(v.(map[string]any), s, sh, depth)
	}
	return w.decodedArray(v.([]any), s, sh, depth)
}

// decodedScalar is scalar for a decoded string, json.Number, bool or nil.
func (w *walking) decodedScalar(v any, s *openapi3.Schema, l *leaf) verdict {
	switch x := v.(type) {
	case string:
		if l.stringValue(x) {
			return accepted
		}
	case json.Number:
		if l.numberValue(string(x)) {
			return accepted
		}
	case bool:
		if l.boolValue() {
			return accepted
		}
	case nil:
		if l.null() {
			return accepted
		}
	default:
		return unsure
	}
	if s.VisitJSON(v, w.leaf...) != nil {
		return refused
	}
	return accepted
}

// decodedObject is object for a decoded object: its names are distinct.
func (w *walking) decodedObject(m map[string]any, s *openapi3.Schema, sh *shape, depth int) verdict {
	if !s.Type.Permits(openapi3.TypeObject) {
		return refused
	}
	if n := s.MinProps; n != 0 && uint64(len(m)) < n {
		return refused
	}
	if n := s.MaxProps; n != nil && uint64(len(m)) > *n {
		return refused
	}
	for _, name := range s.Required {
		if _, ok := m[name]; !ok {
			return refused
		}
	}
	result := accepted
	for name, member := range m {
		i, known := sh.index[name]
		child, kid, v := sh.member(s, i, known)
		switch {
		case v != accepted:
			return v
		case child == nil:
			continue // a member the schema leaves free
		}
		switch w.decoded(member, child, kid, nil, false, depth+1) {
		case refused:
			return refused
		case unsure:
			result = unsure // a later member may still be refused
		}
	}
	return result
}

// decodedArray is array for a decoded array.
func (w *walking) decodedArray(items []any, s *openapi3.Schema, sh *shape, depth int) verdict {
	if !s.Type.Permits(openapi3.TypeArray) {
		return refused
	}
	if n := s.MinItems; n != 0 && uint64(len(items)) < n {
		return refused
	}
	if n := s.MaxItems; n != nil && uint64(len(items)) > *n {
		return refused
	}
	result := accepted
	if s.UniqueItems {
		// As in the token walk: strings only, equal when the same.
		seen := make(map[string]struct{}, len(items))
		for _, item := range items {
			text, ok := item.(string)
			if !ok {
				return unsure
			}
			seen[text] = struct{}{}
		}
		if len(seen) != len(items) {
			return refused
		}
	}
	if s.Items == nil {
		return result
	}
	kid := sh.kid(len(sh.props)+itemsKid, s.Items.Value)
	for _, item := range items {
		switch w.decoded(item, s.Items.Value, kid, nil, false, depth+1) {
		case refused:
			return refused
		case unsure:
			result = unsure
		}
	}
	return result
}

// discriminatedValue is discriminated for a decoded value.
func discriminatedValue(v any, d *openapi3.Discriminator) (string, verdict) {
	m, isObject := v.(map[string]any)
	if !isObject {
		return "", accepted
	}
	raw, ok := m[d.PropertyName]
	if !ok {
		return "", refused
	}
	name, isString := raw.(string)
	if !isString {
		return "", refused
	}
	return mapped(d, name)
}
