package httpapi

import (
	"encoding/json"
	"strconv"
)

// A union body (POST /whatsapp/messages, POST /rcs/messages) is decoded
// once, by request validation, into a tree (contract.ValidatedTree), which
// its handler reads with a treeReader instead of decoding the bytes again.
// The tree holds objects as map[string]any, arrays as []any, numbers as
// json.Number (a whole number written as 2.0 or 2e0 as "2", which JSON
// Schema counts as the integer 2 and the spec's integers take), strings,
// booleans and nil.

// treeReader reads the members of a validated tree as json.Unmarshal reads
// the same body's bytes into a struct: a member left out or null leaves its
// field empty. ok turns false at the first member that has another type
// than its field (not what validation passes), and the handler then reads
// the bytes.
type treeReader struct{ ok bool }

func (t *treeReader) str(v any) string {
	s, isString := v.(string)
	if v != nil && !isString {
		t.ok = false
	}
	return s
}

func (t *treeReader) strPtr(v any) *string {
	if v == nil {
		return nil
	}
	s := t.str(v)
	return &s
}

func (t *treeReader) int64Ptr(v any) *int64 {
	if v == nil {
		return nil
	}
	n, isNumber := v.(json.Number)
	i, err := strconv.ParseInt(string(n), 10, 64)
	if !isNumber || err != nil {
		t.ok = false
		return nil
	}
	return &i
}

func (t *treeReader) float(v any) float64 {
	if v == nil {
		return 0
	}
	n, isNumber := v.(json.Number)
	f, err := strconv.ParseFloat(string(n), 64)
	if !isNumber || err != nil {
		t.ok = false
	}
	return f
}

func (t *treeReader) array(v any) []any {
	a, isArray := v.([]any)
	if v != nil && !isArray {
		t.ok = false
	}
	return a
}

func (t *treeReader) object(v any) map[string]any {
	m, isObject := v.(map[string]any)
	if !isObject {
		t.ok = false
	}
	return m
}

// strings reads an array of strings.
func (t *treeReader) strings(v any) []string {
	a := t.array(v)
	if a == nil {
		return nil
	}
	out := make([]string, len(a))
	for i, e := range a {
		out[i] = t.str(e)
	}
	return out
}
