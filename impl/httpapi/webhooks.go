package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// webhookHandlers serve /webhooks and their delivery logs.
type webhookHandlers struct {
	webhooks   impl.WebhookStore
	deliveries impl.DeliveryStore
	tester     impl.WebhookTester
	// urlMessage is the spec's message for a URL its WebhookURL pattern
	// refuses, said again when the parse check refuses one.
	urlMessage impl.Text
}

// checkWebhookURL is the seed's URL rule past what the spec's pattern says:
// the URL must parse, since the dispatcher will have to use it.
func (h *webhookHandlers) checkWebhookURL(raw string) error {
	if !impl.ParsesAsWebhookURL(raw) {
		return impl.Errorf(impl.EValidation, "The given data was invalid.").WithDetailText("url", h.urlMessage)
	}
	return nil
}

func (h *webhookHandlers) ListWebhooks(ctx context.Context, req api.ListWebhooksRequestObject) (api.ListWebhooksResponseObject, error) {
	page, perPage := pageParams(req.Params.Page, req.Params.PerPage)
	list, total, err := h.webhooks.FindWebhooks(ctx, orgID(ctx), int64(page-1)*int64(perPage), int(perPage))
	if err != nil {
		return nil, err
	}
	data := make([]api.Webhook, len(list))
	for i, w := range list {
		data[i] = wire.Webhook(w)
	}
	return jsonAnswer{body: api.WebhookList{Data: data, Meta: wire.PageMeta(page, perPage, total)}, ifNoneMatch: req.Params.IfNoneMatch}, nil
}

func (h *webhookHandlers) CreateWebhook(ctx context.Context, req api.CreateWebhookRequestObject) (api.CreateWebhookResponseObject, error) {
	b := req.Body
	if err := h.checkWebhookURL(b.Url); err != nil {
		return nil, err
	}
	w := &impl.Webhook{Name: b.Name, URL: b.Url, Events: wire.WebhookEvents(b.Events)}
	if b.MaxAttempts != nil {
		w.MaxAttempts = *b.MaxAttempts
	}
	replayed, err := doneEarlier(h.webhooks.CreateWebhook(ctx, orgID(ctx), w))
	if err != nil {
		return nil, err
	}
	return api.CreateWebhook201JSONResponse{
		Body: wire.WebhookCreated(w),
		Headers: api.CreateWebhook201ResponseHeaders{Location: fmt.Sprintf("%s/webhooks/%d", BasePath, w.ID),
			IdempotentReplayed: replayed},
	}, nil
}

func (h *webhookHandlers) GetWebhook(ctx context.Context, req api.GetWebhookRequestObject) (api.GetWebhookResponseObject, error) {
	w, err := h.webhooks.FindWebhookByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	// Its tag is the digest of the body: the backlog in it moves with every
	// delivery, so no revision of the settings alone could stand for it.
	return jsonAnswer{body: wire.Webhook(w), ifNoneMatch: req.Params.IfNoneMatch}, nil
}

func (h *webhookHandlers) UpdateWebhook(ctx context.Context, req api.UpdateWebhookRequestObject) (api.UpdateWebhookResponseObject, error) {
	b := req.Body
	p := impl.WebhookPatch{Name: b.Name, URL: b.Url, Active: b.Active, MaxAttempts: b.MaxAttempts}
	if b.Url != nil {
		if err := h.checkWebhookURL(*b.Url); err != nil {
			return nil, err
		}
	}
	if b.Events != nil {
		p.Events = wire.WebhookEvents(*b.Events)
	}
	w, err := h.webhooks.UpdateWebhook(ctx, orgID(ctx), req.Id, p)
	if err != nil {
		return nil, err
	}
	return api.UpdateWebhook200JSONResponse{WebhookOKJSONResponse: api.WebhookOKJSONResponse{Body: wire.Webhook(w)}}, nil
}

func (h *webhookHandlers) DeleteWebhook(ctx context.Context, req api.DeleteWebhookRequestObject) (api.DeleteWebhookResponseObject, error) {
	if err := h.webhooks.DeleteWebhook(ctx, orgID(ctx), req.Id); err != nil {
		return nil, err
	}
	return api.DeleteWebhook204Response{}, nil
}

func (h *webhookHandlers) TestWebhook(ctx context.Context, req api.TestWebhookRequestObject) (api.TestWebhookResponseObject, error) {
	back := outside(ctx) // the receiver's time does not hold a place
	r, err := h.tester.TestWebhook(ctx, orgID(ctx), req.Id)
	back()
	if err != nil {
		return nil, err
	}
	return api.TestWebhook200JSONResponse{Body: wire.WebhookTestResult(r)}, nil
}

func (h *webhookHandlers) RotateWebhookSecret(ctx context.Context, req api.RotateWebhookSecretRequestObject) (api.RotateWebhookSecretResponseObject, error) {
	w, err := h.webhooks.RotateWebhookSecret(ctx, orgID(ctx), req.Id)
	replayed, err := doneEarlier(err)
	if err != nil {
		return nil, err
	}
	return api.RotateWebhookSecret200JSONResponse{Body: api.WebhookSecret{SigningSecret: w.Secret,
		PreviousSecretExpiresAt: *w.PreviousSecretExpiresAt}, Headers: api.RotateWebhookSecret200ResponseHeaders{
		IdempotentReplayed: replayed}}, nil
}

func (h *webhookHandlers) ListWebhookDeliveries(ctx context.Context, req api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error) {
	p := req.Params
	if p.Cursor != nil && p.Page != nil {
		return nil, impl.ErrCursorWithPage()
	}
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.DeliveryFilter{Offset: int64(page-1) * int64(perPage), Limit: int(perPage)}
	if p.Status != nil {
		s := string(*p.Status)
		f.Status = &s
	}
	if p.Cursor != nil {
		f.Cursor = *p.Cursor
	}
	res, err := h.deliveries.FindDeliveries(ctx, orgID(ctx), req.Id, f)
	if err != nil {
		return nil, err
	}
	data := make([]wire.DeliveryJSON, len(res.Deliveries))
	for i, d := range res.Deliveries {
		data[i] = wire.DeliveryForEncoding(d)
	}
	return jsonAnswer{body: wire.DeliveryListJSON{Data: data, Meta: wire.DeliveryPageMeta(res, perPage)}, ifNoneMatch: p.IfNoneMatch}, nil
}

func (h *webhookHandlers) RedeliverFailedWebhookDeliveries(ctx context.Context, req api.RedeliverFailedWebhookDeliveriesRequestObject) (api.RedeliverFailedWebhookDeliveriesResponseObject, error) {
	b := req.Body
	var until time.Time // zero: no end
	if b.Until != nil {
		if !b.Until.After(b.Since) {
			return nil, impl.Errorf(impl.EValidation, "The given data was invalid.").WithDetailText("until", untilAfterSince)
		}
		until = *b.Until
	}
	queued, more, err := h.deliveries.RedeliverFailed(ctx, orgID(ctx), req.Id, b.Since, until, impl.RedeliverFailedMax)
	// ErrDoneEarlier: the request's first try queued them and its answer
	// was lost; queued counts what it queued, as the key promises.
	replayed, err := doneEarlier(err)
	if err != nil {
		return nil, err
	}
	return api.RedeliverFailedWebhookDeliveries202JSONResponse{Body: api.FailedRedeliveryResult{
		Queued: int32(queued), HasMore: more}, Headers: api.RedeliverFailedWebhookDeliveries202ResponseHeaders{IdempotentReplayed: replayed}}, nil
}

// untilAfterSince is the message for a period that ends before it begins.
var untilAfterSince = impl.Text{En: "The until field must be later than since.", PtBR: "O campo until deve ser posterior a since."}

func (h *webhookHandlers) RedeliverWebhookDelivery(ctx context.Context, req api.RedeliverWebhookDeliveryRequestObject) (api.RedeliverWebhookDeliveryResponseObject, error) {
	d, err := h.deliveries.RedeliverDelivery(ctx, orgID(ctx), req.Id, req.DeliveryId)
	replayed, err := doneEarlier(err)
	if err != nil {
		return nil, err
	}
	return api.RedeliverWebhookDelivery202JSONResponse{Body: wire.Delivery(d),
		Headers: api.RedeliverWebhookDelivery202ResponseHeaders{IdempotentReplayed: replayed}}, nil
}
