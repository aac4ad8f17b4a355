package contract

import (
	"encoding/json"

	"github.com/getkin/kin-openapi/openapi3"
)

// WalkVerdict is the walk's verdict on data against s: "accepted",
// "refused" or "unsure".
func WalkVerdict(data []byte, s *openapi3.Schema) string {
	w := walker{leaf: append([]openapi3.SchemaValidationOption{openapi3.FailFast()}, schemaOptions()...)}
	return [...]string{accepted: "accepted", refused: "refused", unsure: "unsure"}[w.body(data, s)]
}

// DecodeResponse decodes a response's body as Response does.
func DecodeResponse(data []byte) (any, error) { return decodeResponse(data) }

// LeafPasses reports whether s's leaf passes the JSON scalar text without
// kin-openapi.
func LeafPasses(s *openapi3.Schema, text string) bool {
	l := leafOf(s)
	switch {
	case text == "null":
		return l.null()
	case text == "true" || text == "false":
		return l.boolValue()
	case text[0] == '"':
		var v string
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return false
		}
		return l.stringValue(v)
	}
	return l.numberValue(text)
}

// ValuesVerdict is the walk's verdict on a body as DecodeJSON decodes it.
func ValuesVerdict(v any, s *openapi3.Schema) string {
	w := walker{leaf: append([]openapi3.SchemaValidationOption{openapi3.FailFast()}, schemaOptions()...)}
	return [...]string{accepted: "accepted", refused: "refused", unsure: "unsure"}[w.values(v, s)]
}
