package httpapi

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl/contract"
)

// handlers implements the generated strict server interface, one embedded
// handler type per resource, each with only the stores it needs. Requests
// reach them already authenticated and validated against the spec, so they
// only map between the wire types (package wire) and the domain.
type handlers struct {
	leadHandlers
	handoffHandlers
	messageHandlers
	webhookHandlers
	apiKeyHandlers
}

var _ api.StrictServerInterface = (*handlers)(nil)

func newHandlers(cfg Config, spec *openapi3.T) (*handlers, error) {
	url := spec.Components.Schemas["WebhookURL"]
	if url == nil || url.Value == nil {
		return nil, fmt.Errorf("the embedded spec has no WebhookURL schema")
	}
	urlMessage, ok := contract.PatternText("url", url.Value)
	if !ok {
		return nil, fmt.Errorf("the embedded spec's WebhookURL has no x-pattern-message")
	}
	return &handlers{
		leadHandlers:    leadHandlers{leads: cfg.Leads},
		handoffHandlers: handoffHandlers{handoffs: cfg.Handoffs},
		messageHandlers: messageHandlers{messenger: cfg.Messenger, messages: cfg.Messages,
			templates: cfg.Templates, integrations: cfg.Integrations, templateSync: cfg.TemplateSync},
		webhookHandlers: webhookHandlers{webhooks: cfg.Webhooks, deliveries: cfg.Deliveries, tester: cfg.WebhookTester,
			urlMessage: urlMessage},
		apiKeyHandlers: apiKeyHandlers{keys: cfg.APIKeys},
	}, nil
}

// Spec defaults for the list parameters; kin-openapi fills in the spec's
// defaults too, these only cover a server run with validation off.
const (
	defaultPage    = 1
	defaultPerPage = 25
)

func pageParams(page, perPage *int32) (int32, int32) {
	p, pp := int32(defaultPage), int32(defaultPerPage)
	if page != nil {
		p = *page
	}
	if perPage != nil {
		pp = *perPage
	}
	return p, pp
}
