// Package openapi holds the hand-written specs and the generator configs;
// it embeds the spec files so the binary can serve them verbatim.
package openapi

import _ "embed"

// YAML is openapi.yaml exactly as written, comments included.
//
//go:embed openapi.yaml
var YAML []byte
