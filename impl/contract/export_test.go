package contract

import "github.com/getkin/kin-openapi/openapi3"

// WalkVerdict is the walk's verdict on data against s: "accepted",
// "refused" or "unsure".
func WalkVerdict(data []byte, s *openapi3.Schema) string {
	w := walker{leaf: append([]openapi3.SchemaValidationOption{openapi3.FailFast()}, schemaOptions()...)}
	return [...]string{accepted: "accepted", refused: "refused", unsure: "unsure"}[w.body(data, s)]
}

// DecodeResponse decodes a response's body as Response does.
func DecodeResponse(data []byte) (any, error) { return decodeResponse(data) }
