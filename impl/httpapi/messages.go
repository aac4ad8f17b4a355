package httpapi

import (
	"context"
	"fmt"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/wire"
)

// messageHandlers serve /whatsapp, /rcs and /messages.
type messageHandlers struct {
	messenger    impl.Messenger
	messages     impl.MessageStore
	templates    impl.TemplateStore
	integrations impl.IntegrationStore
	templateSync impl.TemplateSyncer
}

func (h *messageHandlers) SendWhatsAppMessage(ctx context.Context, req api.SendWhatsAppMessageRequestObject) (api.SendWhatsAppMessageResponseObject, error) {
	r, err := whatsAppRequest(ctx, req.Body)
	if err != nil {
		return nil, err
	}
	back := outside(ctx) // the provider's time does not hold a place
	m, err := h.messenger.SendWhatsApp(ctx, orgID(ctx), &r)
	back()
	if err != nil {
		return nil, err
	}
	return api.SendWhatsAppMessage201JSONResponse{MessageCreatedJSONResponse: messageCreated(m)}, nil
}

// whatsAppRequest reads the body of POST /whatsapp/messages: from the tree
// request validation decoded, when there is one (validatedTree), else from
// its bytes.
func whatsAppRequest(ctx context.Context, body *api.SendWhatsAppMessageJSONRequestBody) (impl.WhatsAppRequest, error) {
	r, ok := whatsAppRequestOf(validatedTree(ctx))
	if !ok {
		var err error
		if r, err = whatsAppRequestFromBytes(body); err != nil {
			return r, err
		}
	}
	if r.Content.Variables == nil && r.Content.Type == "template" {
		r.Content.Variables = []string{}
	}
	return r, nil
}

// whatsAppRequestFromBytes reads the body's bytes through the generated
// oneOf types.
func whatsAppRequestFromBytes(body *api.SendWhatsAppMessageJSONRequestBody) (impl.WhatsAppRequest, error) {
	v, err := body.ValueByDiscriminator()
	if err != nil {
		return impl.WhatsAppRequest{}, unreadableBody(err)
	}
	switch b := v.(type) {
	case api.WhatsAppTextMessage:
		return impl.WhatsAppRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.WhatsAppContent{Type: string(b.Type), Text: b.Text}}, nil
	case api.WhatsAppTemplateMessage:
		return impl.WhatsAppRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content:    impl.WhatsAppContent{Type: string(b.Type), Variables: b.Variables},
			TemplateID: b.TemplateId, TemplateName: b.TemplateName}, nil
	case api.WhatsAppImageMessage:
		return mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, b.Caption, nil), nil
	case api.WhatsAppVideoMessage:
		return mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, b.Caption, nil), nil
	case api.WhatsAppDocumentMessage:
		return mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, b.Caption, b.Filename), nil
	case api.WhatsAppAudioMessage:
		return mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, nil, nil), nil
	}
	return impl.WhatsAppRequest{}, unreadableBody(fmt.Errorf("unexpected WhatsApp message %T", v))
}

// whatsAppRequestOf reads a WhatsApp message from the tree request
// validation decoded (see treeReader), as whatsAppRequestFromBytes reads
// its bytes, so that the body is decoded once; except that an id written
// as 2.0, which the spec's integers take, reads as 2 (the generated types
// refuse it). ok is false when there is no tree or it is not what
// validation passes.
func whatsAppRequestOf(tree any) (r impl.WhatsAppRequest, ok bool) {
	m, isObject := tree.(map[string]any)
	if !isObject {
		return r, false
	}
	t := treeReader{ok: true}
	if id := t.int64Ptr(m["integration_id"]); id != nil {
		r.IntegrationID = *id
	}
	r.Recipient = recipient(t.int64Ptr(m["lead_id"]), t.strPtr(m["phone"]))
	typ := t.str(m["type"])
	switch typ {
	case "text":
		r.Content = impl.WhatsAppContent{Type: typ, Text: t.str(m["text"])}
	case "template":
		r.Content = impl.WhatsAppContent{Type: typ, Variables: t.strings(m["variables"])}
		r.TemplateID, r.TemplateName = t.int64Ptr(m["template_id"]), t.strPtr(m["template_name"])
	case "image", "video":
		r = mediaRequest(r.IntegrationID, r.Recipient, typ, t.str(m["media_url"]), t.strPtr(m["caption"]), nil)
	case "document":
		r = mediaRequest(r.IntegrationID, r.Recipient, typ, t.str(m["media_url"]), t.strPtr(m["caption"]), t.strPtr(m["filename"]))
	case "audio":
		r = mediaRequest(r.IntegrationID, r.Recipient, typ, t.str(m["media_url"]), nil, nil)
	default:
		return r, false
	}
	return r, t.ok
}

func mediaRequest(integrationID int64, to impl.Recipient, typ, url string, caption, filename *string) impl.WhatsAppRequest {
	return impl.WhatsAppRequest{IntegrationID: integrationID, Recipient: to,
		Content: impl.WhatsAppContent{Type: typ, MediaURL: url, Caption: deref(caption), Filename: deref(filename)}}
}

func (h *messageHandlers) SendRCSMessage(ctx context.Context, req api.SendRCSMessageRequestObject) (api.SendRCSMessageResponseObject, error) {
	r, err := rcsRequest(ctx, req.Body)
	if err != nil {
		return nil, err
	}
	back := outside(ctx) // the provider's time does not hold a place
	m, err := h.messenger.SendRCS(ctx, orgID(ctx), &r)
	back()
	if err != nil {
		return nil, err
	}
	return api.SendRCSMessage201JSONResponse{MessageCreatedJSONResponse: messageCreated(m)}, nil
}

// unreadableBody reports a body the generated types could not take apart.
// Request validation has passed by then, so this only happens when it is
// switched off.
func unreadableBody(err error) error {
	return impl.Errorf(impl.EBadRequest, "The request body could not be read: %v.", err)
}

func recipient(leadID *int64, phone *string) impl.Recipient {
	return impl.Recipient{LeadID: leadID, Phone: phone}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func messageCreated(m *impl.Message) api.MessageCreatedJSONResponse {
	return api.MessageCreatedJSONResponse{
		Body:    wire.Message(m),
		Headers: api.MessageCreatedResponseHeaders{Location: fmt.Sprintf("%s/messages/%d", BasePath, m.ID)},
	}
}

func (h *messageHandlers) ListMessages(ctx context.Context, req api.ListMessagesRequestObject) (api.ListMessagesResponseObject, error) {
	p := req.Params
	if p.Cursor != nil && p.Page != nil {
		return nil, impl.ErrCursorWithPage()
	}
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.MessageFilter{LeadID: p.LeadId, Offset: int64(page-1) * int64(perPage), Limit: int(perPage)}
	f.Channel = (*string)(p.Channel)
	f.Direction = (*string)(p.Direction)
	f.Status = (*string)(p.Status)
	if p.Cursor != nil {
		f.Cursor = *p.Cursor
	}
	res, err := h.messages.FindMessages(ctx, orgID(ctx), f)
	if err != nil {
		return nil, err
	}
	data := make([]wire.MessageJSON, len(res.Messages))
	for i, m := range res.Messages {
		data[i] = wire.MessageForEncoding(m)
	}
	return jsonAnswer{body: wire.MessageListJSON{Data: data, Meta: wire.MessagePageMeta(res, perPage)}, ifNoneMatch: p.IfNoneMatch}, nil
}

func (h *messageHandlers) GetMessage(ctx context.Context, req api.GetMessageRequestObject) (api.GetMessageResponseObject, error) {
	m, err := h.messages.FindMessageByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return jsonAnswer{body: wire.MessageForEncoding(m), ifNoneMatch: req.Params.IfNoneMatch}, nil
}

func (h *messageHandlers) ListWhatsAppTemplates(ctx context.Context, req api.ListWhatsAppTemplatesRequestObject) (api.ListWhatsAppTemplatesResponseObject, error) {
	p := req.Params
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.TemplateFilter{Context: p.Context, MetaApproved: p.MetaApproved,
		Offset: int64(page-1) * int64(perPage), Limit: int(perPage)}
	f.Category = (*string)(p.Category)
	ts, total, err := h.templates.FindTemplates(ctx, orgID(ctx), f)
	if err != nil {
		return nil, err
	}
	data := make([]api.Template, len(ts))
	for i, t := range ts {
		data[i] = wire.Template(t)
	}
	return api.ListWhatsAppTemplates200JSONResponse{Body: api.TemplateList{Data: data, Meta: wire.PageMeta(page, perPage, total)}}, nil
}

func (h *messageHandlers) SyncWhatsAppTemplates(ctx context.Context, req api.SyncWhatsAppTemplatesRequestObject) (api.SyncWhatsAppTemplatesResponseObject, error) {
	var id *int64
	if req.Body != nil {
		id = req.Body.IntegrationId
	}
	back := outside(ctx) // the provider's time does not hold a place
	r, err := h.templateSync.SyncTemplates(ctx, orgID(ctx), id)
	back()
	if err != nil {
		return nil, err
	}
	return api.SyncWhatsAppTemplates200JSONResponse{Body: wire.TemplateSyncResult(r)}, nil
}

func (h *messageHandlers) ListWhatsAppIntegrations(ctx context.Context, _ api.ListWhatsAppIntegrationsRequestObject) (api.ListWhatsAppIntegrationsResponseObject, error) {
	list, err := h.listIntegrations(ctx, impl.ChannelWhatsApp)
	if err != nil {
		return nil, err
	}
	return api.ListWhatsAppIntegrations200JSONResponse{IntegrationsOKJSONResponse: api.IntegrationsOKJSONResponse{Body: list}}, nil
}

func (h *messageHandlers) ListRCSIntegrations(ctx context.Context, _ api.ListRCSIntegrationsRequestObject) (api.ListRCSIntegrationsResponseObject, error) {
	list, err := h.listIntegrations(ctx, impl.ChannelRCS)
	if err != nil {
		return nil, err
	}
	return api.ListRCSIntegrations200JSONResponse{IntegrationsOKJSONResponse: api.IntegrationsOKJSONResponse{Body: list}}, nil
}

func (h *messageHandlers) listIntegrations(ctx context.Context, channel string) (api.IntegrationList, error) {
	all, err := h.integrations.ListIntegrations(ctx, orgID(ctx), channel)
	if err != nil {
		return api.IntegrationList{}, err
	}
	data := make([]api.Integration, len(all))
	for i, in := range all {
		data[i] = wire.Integration(in)
	}
	return api.IntegrationList{Data: data}, nil
}
