package httpapi

import (
	"context"
	"fmt"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// handoffHandlers serve /handoffs.
type handoffHandlers struct {
	handoffs impl.HandoffStore
}

func (h *handoffHandlers) ListHandoffs(ctx context.Context, req api.ListHandoffsRequestObject) (api.ListHandoffsResponseObject, error) {
	p := req.Params
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.HandoffFilter{LeadID: p.LeadId, Offset: int64(page-1) * int64(perPage), Limit: int(perPage)}
	if p.Status != nil {
		s := string(*p.Status)
		f.Status = &s
	}
	list, total, err := h.handoffs.FindHandoffs(ctx, orgID(ctx), f)
	if err != nil {
		return nil, err
	}
	data := make([]api.Handoff, len(list))
	for i, x := range list {
		data[i] = wire.Handoff(x)
	}
	return jsonAnswer{body: api.HandoffList{Data: data, Meta: wire.PageMeta(page, perPage, total)}, ifNoneMatch: p.IfNoneMatch}, nil
}

func (h *handoffHandlers) CreateHandoff(ctx context.Context, req api.CreateHandoffRequestObject) (api.CreateHandoffResponseObject, error) {
	x := &impl.Handoff{LeadID: req.Body.LeadId, Reason: req.Body.Reason}
	replayed, err := doneEarlier(h.handoffs.CreateHandoff(ctx, orgID(ctx), x))
	if err != nil {
		return nil, err
	}
	return api.CreateHandoff201JSONResponse{
		Body: wire.Handoff(x),
		Headers: api.CreateHandoff201ResponseHeaders{Location: fmt.Sprintf("%s/handoffs/%d", BasePath, x.ID),
			IdempotentReplayed: replayed},
	}, nil
}

func (h *handoffHandlers) GetHandoff(ctx context.Context, req api.GetHandoffRequestObject) (api.GetHandoffResponseObject, error) {
	x, err := h.handoffs.FindHandoffByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return jsonAnswer{body: wire.Handoff(x), ifNoneMatch: req.Params.IfNoneMatch}, nil
}

func (h *handoffHandlers) CloseHandoff(ctx context.Context, req api.CloseHandoffRequestObject) (api.CloseHandoffResponseObject, error) {
	x, err := h.handoffs.CloseHandoff(ctx, orgID(ctx), req.Id)
	replayed, err := doneEarlier(err)
	if err != nil {
		return nil, err
	}
	return api.CloseHandoff200JSONResponse{HandoffClosedOKJSONResponse: api.HandoffClosedOKJSONResponse{Body: wire.Handoff(x),
		Headers: api.HandoffClosedOKResponseHeaders{IdempotentReplayed: replayed}}}, nil
}
