// Package openapi holds the hand-written specs and the generator configs;
// it embeds the spec files so the binary can serve them verbatim.
package openapi

import _ "embed"

// YAML is openapi.yaml exactly as written, comments included.
//
//go:embed openapi.yaml
var YAML []byte

// WebhooksYAML is webhooks.yaml, the event catalog as OpenAPI 3.1 webhooks.
//
//go:embed webhooks.yaml
var WebhooksYAML []byte

// AsyncAPIYAML is asyncapi.yaml, the same catalog as AsyncAPI 3.0; its
// payloads are $refs into webhooks.yaml.
//
//go:embed asyncapi.yaml
var AsyncAPIYAML []byte
