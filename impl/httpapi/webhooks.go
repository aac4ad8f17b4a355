package httpapi

import (
	"context"
	"fmt"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

func toAPIWebhook(w *impl.Webhook) api.Webhook {
	events := make(api.WebhookEvents, len(w.Events))
	for i, e := range w.Events {
		events[i] = api.EventType(e)
	}
	return api.Webhook{Id: w.ID, Name: w.Name, Url: w.URL, Events: events, Active: w.Active, MaxAttempts: w.MaxAttempts, IsDefault: w.IsDefault,
		DisabledReason: toNullable(w.DisabledReason), DisabledAt: toNullable(w.DisabledAt),
		PreviousSecretExpiresAt: toNullable(w.PreviousSecretExpiresAt), CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func toAPIDelivery(d *impl.Delivery) api.Delivery {
	attempts := make([]api.DeliveryAttempt, len(d.Attempts))
	for i, a := range d.Attempts {
		attempts[i] = api.DeliveryAttempt{AttemptedAt: a.AttemptedAt, StatusCode: toNullable(a.StatusCode),
			DurationMs: a.DurationMS, Error: toNullable(a.Error)}
	}
	return api.Delivery{Id: d.ID, WebhookId: d.WebhookID, EventId: d.EventID, Event: api.DeliveredEventType(d.Event),
		WebhookMessageId: d.MessageID, Status: api.DeliveryStatus(d.Status), Attempts: attempts,
		NextAttemptAt: toNullable(d.NextAttemptAt), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

func eventNames(in api.WebhookEvents) []string {
	out := make([]string, len(in))
	for i, e := range in {
		out[i] = string(e)
	}
	return out
}

// checkWebhookURL is the seed's URL rule past what the spec's pattern says:
// the URL must parse, since the dispatcher will have to use it.
func checkWebhookURL(raw string) error {
	if !impl.ParsesAsWebhookURL(raw) {
		return impl.Errorf(impl.EValidation, "The given data was invalid.").
			WithDetail("url", "must be a valid http:// or https:// URL")
	}
	return nil
}

func (h *handlers) ListWebhooks(ctx context.Context, req api.ListWebhooksRequestObject) (api.ListWebhooksResponseObject, error) {
	page, perPage := pageParams(req.Params.Page, req.Params.PerPage)
	list, total, err := h.webhooks.FindWebhooks(ctx, orgID(ctx), int64(page-1)*int64(perPage), int(perPage))
	if err != nil {
		return nil, err
	}
	data := make([]api.Webhook, len(list))
	for i, w := range list {
		data[i] = toAPIWebhook(w)
	}
	return api.ListWebhooks200JSONResponse{Body: api.WebhookList{Data: data, Meta: pageMeta(page, perPage, total)}}, nil
}

func (h *handlers) CreateWebhook(ctx context.Context, req api.CreateWebhookRequestObject) (api.CreateWebhookResponseObject, error) {
	b := req.Body
	if err := checkWebhookURL(b.Url); err != nil {
		return nil, err
	}
	w := &impl.Webhook{Name: b.Name, URL: b.Url, Events: eventNames(b.Events), MaxAttempts: impl.DefaultMaxAttempts}
	if b.MaxAttempts != nil {
		w.MaxAttempts = *b.MaxAttempts
	}
	if err := h.webhooks.CreateWebhook(ctx, orgID(ctx), w); err != nil {
		return nil, err
	}
	v := toAPIWebhook(w)
	return api.CreateWebhook201JSONResponse{
		Body: api.WebhookCreated{Id: v.Id, Name: v.Name, Url: v.Url, Events: v.Events, Active: v.Active,
			MaxAttempts: v.MaxAttempts, DisabledReason: v.DisabledReason, DisabledAt: v.DisabledAt,
			PreviousSecretExpiresAt: v.PreviousSecretExpiresAt, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
			SigningSecret: w.Secret},
		Headers: api.CreateWebhook201ResponseHeaders{Location: fmt.Sprintf("%s/webhooks/%d", BasePath, w.ID)},
	}, nil
}

func (h *handlers) GetWebhook(ctx context.Context, req api.GetWebhookRequestObject) (api.GetWebhookResponseObject, error) {
	w, err := h.webhooks.FindWebhookByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetWebhook200JSONResponse{WebhookOKJSONResponse: api.WebhookOKJSONResponse{Body: toAPIWebhook(w)}}, nil
}

func (h *handlers) UpdateWebhook(ctx context.Context, req api.UpdateWebhookRequestObject) (api.UpdateWebhookResponseObject, error) {
	b := req.Body
	p := impl.WebhookPatch{Name: b.Name, URL: b.Url, Active: b.Active, MaxAttempts: b.MaxAttempts}
	if b.Url != nil {
		if err := checkWebhookURL(*b.Url); err != nil {
			return nil, err
		}
	}
	if b.Events != nil {
		p.Events = eventNames(*b.Events)
	}
	w, err := h.webhooks.UpdateWebhook(ctx, orgID(ctx), req.Id, p)
	if err != nil {
		return nil, err
	}
	return api.UpdateWebhook200JSONResponse{WebhookOKJSONResponse: api.WebhookOKJSONResponse{Body: toAPIWebhook(w)}}, nil
}

func (h *handlers) DeleteWebhook(ctx context.Context, req api.DeleteWebhookRequestObject) (api.DeleteWebhookResponseObject, error) {
	if err := h.webhooks.DeleteWebhook(ctx, orgID(ctx), req.Id); err != nil {
		return nil, err
	}
	return api.DeleteWebhook204Response{}, nil
}

func (h *handlers) TestWebhook(ctx context.Context, req api.TestWebhookRequestObject) (api.TestWebhookResponseObject, error) {
	r, err := h.tester.TestWebhook(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return api.TestWebhook200JSONResponse{Body: api.WebhookTestResult{Delivered: r.Delivered,
		StatusCode: toNullable(r.StatusCode), DurationMs: r.DurationMS, Error: toNullable(r.Error), DeliveryId: r.DeliveryID}}, nil
}

func (h *handlers) RotateWebhookSecret(ctx context.Context, req api.RotateWebhookSecretRequestObject) (api.RotateWebhookSecretResponseObject, error) {
	w, err := h.webhooks.RotateWebhookSecret(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return api.RotateWebhookSecret200JSONResponse{Body: api.WebhookSecret{SigningSecret: w.Secret,
		PreviousSecretExpiresAt: *w.PreviousSecretExpiresAt}}, nil
}

func (h *handlers) ListWebhookDeliveries(ctx context.Context, req api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error) {
	p := req.Params
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.DeliveryFilter{Offset: int64(page-1) * int64(perPage), Limit: int(perPage)}
	if p.Status != nil {
		s := string(*p.Status)
		f.Status = &s
	}
	list, total, err := h.webhooks.FindDeliveries(ctx, orgID(ctx), req.Id, f)
	if err != nil {
		return nil, err
	}
	data := make([]api.Delivery, len(list))
	for i, d := range list {
		data[i] = toAPIDelivery(d)
	}
	return api.ListWebhookDeliveries200JSONResponse{Body: api.DeliveryList{Data: data, Meta: pageMeta(page, perPage, total)}}, nil
}

func (h *handlers) RedeliverWebhookDelivery(ctx context.Context, req api.RedeliverWebhookDeliveryRequestObject) (api.RedeliverWebhookDeliveryResponseObject, error) {
	d, err := h.webhooks.RedeliverDelivery(ctx, orgID(ctx), req.Id, req.DeliveryId)
	if err != nil {
		return nil, err
	}
	return api.RedeliverWebhookDelivery202JSONResponse{Body: toAPIDelivery(d)}, nil
}
