package httpapi

import (
	"context"
	"fmt"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// apiKeyHandlers serve /api-keys.
type apiKeyHandlers struct {
	keys impl.APIKeyStore
}

func apiKeyLocation(id int64) string { return fmt.Sprintf("%s/api-keys/%d", BasePath, id) }

// notTheCallingKey refuses to revoke the key the request came with: an
// integration that did so would lock itself out with its next request.
func notTheCallingKey(ctx context.Context, id int64, verb string) error {
	if k := caller(ctx); k != nil && k.ID == id {
		return impl.Errorf(impl.EConflict,
			"API key %d authenticates this request and cannot %s itself. Use another key, or the dashboard.", id, verb)
	}
	return nil
}

func (h *apiKeyHandlers) ListApiKeys(ctx context.Context, req api.ListApiKeysRequestObject) (api.ListApiKeysResponseObject, error) {
	page, perPage := pageParams(req.Params.Page, req.Params.PerPage)
	var status string
	if req.Params.Status != nil {
		status = string(*req.Params.Status)
	}
	list, total, err := h.keys.FindAPIKeys(ctx, orgID(ctx), status, int64(page-1)*int64(perPage), int(perPage))
	if err != nil {
		return nil, err
	}
	data := make([]api.ApiKey, len(list))
	for i, k := range list {
		data[i] = wire.APIKey(k)
	}
	return api.ListApiKeys200JSONResponse{Body: api.ApiKeyList{Data: data, Meta: wire.PageMeta(page, perPage, total)}}, nil
}

func (h *apiKeyHandlers) CreateApiKey(ctx context.Context, req api.CreateApiKeyRequestObject) (api.CreateApiKeyResponseObject, error) {
	k, plain, err := auth.Issue(ctx, h.keys, orgID(ctx), req.Body.Name)
	replayed, err := doneEarlier(err)
	if err != nil {
		return nil, err
	}
	return api.CreateApiKey201JSONResponse{Body: wire.APIKeyCreated(k, plain),
		Headers: api.CreateApiKey201ResponseHeaders{Location: apiKeyLocation(k.ID), IdempotentReplayed: replayed}}, nil
}

func (h *apiKeyHandlers) GetApiKey(ctx context.Context, req api.GetApiKeyRequestObject) (api.GetApiKeyResponseObject, error) {
	k, err := h.keys.FindAPIKeyByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetApiKey200JSONResponse{Body: wire.APIKey(k)}, nil
}

func (h *apiKeyHandlers) RevokeApiKey(ctx context.Context, req api.RevokeApiKeyRequestObject) (api.RevokeApiKeyResponseObject, error) {
	if err := notTheCallingKey(ctx, req.Id, "revoke"); err != nil {
		return nil, err
	}
	if err := h.keys.DeleteAPIKey(ctx, orgID(ctx), req.Id); err != nil {
		return nil, err
	}
	return api.RevokeApiKey204Response{}, nil
}

func (h *apiKeyHandlers) RegenerateApiKey(ctx context.Context, req api.RegenerateApiKeyRequestObject) (api.RegenerateApiKeyResponseObject, error) {
	if err := notTheCallingKey(ctx, req.Id, "regenerate"); err != nil {
		return nil, err
	}
	k, plain, err := auth.Regenerate(ctx, h.keys, orgID(ctx), req.Id)
	replayed, err := doneEarlier(err)
	if err != nil {
		return nil, err
	}
	return api.RegenerateApiKey201JSONResponse{Body: wire.APIKeyCreated(k, plain),
		Headers: api.RegenerateApiKey201ResponseHeaders{Location: apiKeyLocation(k.ID), IdempotentReplayed: replayed}}, nil
}
