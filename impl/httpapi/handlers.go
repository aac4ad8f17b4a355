package httpapi

import "github.com/iagente/iagente-sdr/gen/api"

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

func newHandlers(cfg Config) *handlers {
	return &handlers{
		leadHandlers:    leadHandlers{leads: cfg.Leads},
		handoffHandlers: handoffHandlers{handoffs: cfg.Handoffs},
		messageHandlers: messageHandlers{messenger: cfg.Messenger, messages: cfg.Messages,
			templates: cfg.Templates, integrations: cfg.Integrations, templateSync: cfg.TemplateSync},
		webhookHandlers: webhookHandlers{webhooks: cfg.Webhooks, deliveries: cfg.Deliveries, tester: cfg.WebhookTester},
		apiKeyHandlers:  apiKeyHandlers{keys: cfg.APIKeys},
	}
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
