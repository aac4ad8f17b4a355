package httpapi

import (
	"context"
	"fmt"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
)

func toAPIKey(k *impl.APIKey) api.ApiKey {
	return api.ApiKey{Id: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt,
		LastUsedAt: toNullable(k.LastUsedAt), Revoked: k.RevokedAt != nil, RevokedAt: toNullable(k.RevokedAt)}
}

func toAPIKeyCreated(k *impl.APIKey, plain string) api.ApiKeyCreated {
	v := toAPIKey(k)
	return api.ApiKeyCreated{Id: v.Id, Name: v.Name, Prefix: v.Prefix, CreatedAt: v.CreatedAt,
		LastUsedAt: v.LastUsedAt, Revoked: v.Revoked, RevokedAt: v.RevokedAt, Key: plain}
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

func (h *handlers) ListApiKeys(ctx context.Context, req api.ListApiKeysRequestObject) (api.ListApiKeysResponseObject, error) {
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
		data[i] = toAPIKey(k)
	}
	return api.ListApiKeys200JSONResponse{Body: api.ApiKeyList{Data: data, Meta: pageMeta(page, perPage, total)}}, nil
}

func (h *handlers) CreateApiKey(ctx context.Context, req api.CreateApiKeyRequestObject) (api.CreateApiKeyResponseObject, error) {
	k, plain, err := auth.Issue(ctx, h.keys, orgID(ctx), req.Body.Name)
	if err != nil {
		return nil, err
	}
	return api.CreateApiKey201JSONResponse{Body: toAPIKeyCreated(k, plain),
		Headers: api.CreateApiKey201ResponseHeaders{Location: apiKeyLocation(k.ID)}}, nil
}

func (h *handlers) GetApiKey(ctx context.Context, req api.GetApiKeyRequestObject) (api.GetApiKeyResponseObject, error) {
	k, err := h.keys.FindAPIKeyByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetApiKey200JSONResponse{Body: toAPIKey(k)}, nil
}

func (h *handlers) RevokeApiKey(ctx context.Context, req api.RevokeApiKeyRequestObject) (api.RevokeApiKeyResponseObject, error) {
	if err := notTheCallingKey(ctx, req.Id, "revoke"); err != nil {
		return nil, err
	}
	if err := h.keys.DeleteAPIKey(ctx, orgID(ctx), req.Id); err != nil {
		return nil, err
	}
	return api.RevokeApiKey204Response{}, nil
}

func (h *handlers) RegenerateApiKey(ctx context.Context, req api.RegenerateApiKeyRequestObject) (api.RegenerateApiKeyResponseObject, error) {
	if err := notTheCallingKey(ctx, req.Id, "regenerate"); err != nil {
		return nil, err
	}
	k, plain, err := auth.Regenerate(ctx, h.keys, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return api.RegenerateApiKey201JSONResponse{Body: toAPIKeyCreated(k, plain),
		Headers: api.RegenerateApiKey201ResponseHeaders{Location: apiKeyLocation(k.ID)}}, nil
}
