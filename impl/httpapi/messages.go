package httpapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/messaging"
)

func (h *handlers) SendWhatsAppMessage(ctx context.Context, req api.SendWhatsAppMessageRequestObject) (api.SendWhatsAppMessageResponseObject, error) {
	v, err := req.Body.ValueByDiscriminator()
	if err != nil {
		return nil, unreadableBody(err)
	}
	var r messaging.WhatsAppRequest
	switch b := v.(type) {
	case api.WhatsAppTextMessage:
		r = messaging.WhatsAppRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.WhatsAppContent{Type: string(b.Type), Text: b.Text}}
	case api.WhatsAppTemplateMessage:
		r = messaging.WhatsAppRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content:    impl.WhatsAppContent{Type: string(b.Type), Variables: b.Variables},
			TemplateID: b.TemplateId, TemplateName: b.TemplateName}
	case api.WhatsAppImageMessage:
		r = mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, b.Caption, nil)
	case api.WhatsAppVideoMessage:
		r = mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, b.Caption, nil)
	case api.WhatsAppDocumentMessage:
		r = mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, b.Caption, b.Filename)
	case api.WhatsAppAudioMessage:
		r = mediaRequest(b.IntegrationId, recipient(b.LeadId, b.Phone), string(b.Type), b.MediaUrl, nil, nil)
	default:
		return nil, unreadableBody(fmt.Errorf("unexpected WhatsApp message %T", v))
	}
	if r.Content.Variables == nil && r.Content.Type == "template" {
		r.Content.Variables = []string{}
	}
	m, err := h.messaging.SendWhatsApp(ctx, orgID(ctx), &r)
	if err != nil {
		return nil, err
	}
	return api.SendWhatsAppMessage201JSONResponse{MessageCreatedJSONResponse: messageCreated(m)}, nil
}

func mediaRequest(integrationID int64, to messaging.Recipient, typ, url string, caption, filename *string) messaging.WhatsAppRequest {
	return messaging.WhatsAppRequest{IntegrationID: integrationID, Recipient: to,
		Content: impl.WhatsAppContent{Type: typ, MediaURL: url, Caption: deref(caption), Filename: deref(filename)}}
}

func (h *handlers) SendRCSMessage(ctx context.Context, req api.SendRCSMessageRequestObject) (api.SendRCSMessageResponseObject, error) {
	v, err := req.Body.ValueByDiscriminator()
	if err != nil {
		return nil, unreadableBody(err)
	}
	var r messaging.RCSRequest
	switch b := v.(type) {
	case api.RCSTextMessage:
		r = messaging.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Text: b.Text}}
	case api.RCSFileMessage:
		r = messaging.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), FileURL: b.FileUrl, MimeType: b.MimeType}}
	case api.RCSCardMessage:
		card, err := rcsCard(api.RCSCard{Title: b.Title, Description: b.Description, MediaUrl: b.MediaUrl, Buttons: b.Buttons})
		if err != nil {
			return nil, err
		}
		r = messaging.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Card: &card}}
	case api.RCSCarouselMessage:
		cards := make([]impl.RCSCard, len(b.Cards))
		for i, c := range b.Cards {
			if cards[i], err = rcsCard(c); err != nil {
				return nil, err
			}
		}
		width := string(api.MEDIUM)
		if b.CardWidth != nil {
			width = string(*b.CardWidth)
		}
		r = messaging.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Cards: cards, CardWidth: width}}
	case api.RCSReplyableTextMessage:
		replies := make([]impl.RCSQuickReply, len(b.QuickReplies))
		for i, q := range b.QuickReplies {
			replies[i] = impl.RCSQuickReply{Text: q.Text, Payload: q.Payload}
		}
		r = messaging.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Text: b.Text, QuickReplies: replies}}
	case api.RCSLocationMessage:
		lat, long := b.Latitude, b.Longitude
		r = messaging.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Latitude: &lat, Longitude: &long, Label: deref(b.Label)}}
	default:
		return nil, unreadableBody(fmt.Errorf("unexpected RCS message %T", v))
	}
	m, err := h.messaging.SendRCS(ctx, orgID(ctx), &r)
	if err != nil {
		return nil, err
	}
	return api.SendRCSMessage201JSONResponse{MessageCreatedJSONResponse: messageCreated(m)}, nil
}

func rcsCard(c api.RCSCard) (impl.RCSCard, error) {
	card := impl.RCSCard{Title: c.Title, Description: deref(c.Description), MediaURL: deref(c.MediaUrl)}
	if c.Buttons == nil {
		return card, nil
	}
	for _, raw := range *c.Buttons {
		v, err := raw.ValueByDiscriminator()
		if err != nil {
			return card, unreadableBody(err)
		}
		var b impl.RCSButton
		switch x := v.(type) {
		case api.RCSUrlButton:
			b = impl.RCSButton{Type: impl.ButtonURL, Text: x.Text, URL: x.Url, Payload: deref(x.Payload)}
		case api.RCSCallButton:
			b = impl.RCSButton{Type: impl.ButtonCall, Text: x.Text, PhoneNumber: x.PhoneNumber, Payload: deref(x.Payload)}
		case api.RCSReplyButton:
			b = impl.RCSButton{Type: impl.ButtonReply, Text: x.Text, Payload: x.Payload}
		default:
			return card, unreadableBody(fmt.Errorf("unexpected button %T", v))
		}
		card.Buttons = append(card.Buttons, b)
	}
	return card, nil
}

// unreadableBody reports a body the generated types could not take apart.
// Request validation has passed by then, so this only happens when it is
// switched off.
func unreadableBody(err error) error {
	return impl.Errorf(impl.EBadRequest, "The request body could not be read: %v.", err)
}

func recipient(leadID *int64, phone *string) messaging.Recipient {
	return messaging.Recipient{LeadID: leadID, Phone: phone}
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
		Body:    toAPIMessage(m),
		Headers: api.MessageCreatedResponseHeaders{Location: fmt.Sprintf("%s/messages/%d", BasePath, m.ID)},
	}
}

func toAPIMessage(m *impl.Message) api.Message {
	content := map[string]any{}
	// The content was written by us as a JSON object; an unreadable one
	// would be a defect, shown as an empty object rather than a failed read.
	_ = json.Unmarshal(m.Content, &content)
	return api.Message{
		Id:                m.ID,
		IntegrationId:     m.IntegrationID,
		Channel:           api.Channel(m.Channel),
		Direction:         api.Direction(m.Direction),
		Type:              api.MessageType(m.Type),
		Status:            api.MessageStatus(m.Status),
		LeadId:            toNullable(m.LeadID),
		Phone:             m.Phone,
		Content:           content,
		ProviderMessageId: toNullable(m.ProviderMessageID),
		Error:             toNullable(m.Error),
		CreatedAt:         m.CreatedAt.UTC(),
		UpdatedAt:         m.UpdatedAt.UTC(),
	}
}

func (h *handlers) ListMessages(ctx context.Context, req api.ListMessagesRequestObject) (api.ListMessagesResponseObject, error) {
	p := req.Params
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.MessageFilter{LeadID: p.LeadId, Offset: int64(page-1) * int64(perPage), Limit: int(perPage)}
	f.Channel = (*string)(p.Channel)
	f.Direction = (*string)(p.Direction)
	f.Status = (*string)(p.Status)
	msgs, total, err := h.messaging.Messages.FindMessages(ctx, orgID(ctx), f)
	if err != nil {
		return nil, err
	}
	data := make([]api.Message, len(msgs))
	for i, m := range msgs {
		data[i] = toAPIMessage(m)
	}
	return api.ListMessages200JSONResponse{Body: api.MessageList{Data: data, Meta: pageMeta(page, perPage, total)}}, nil
}

func (h *handlers) GetMessage(ctx context.Context, req api.GetMessageRequestObject) (api.GetMessageResponseObject, error) {
	m, err := h.messaging.Messages.FindMessageByID(ctx, orgID(ctx), req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetMessage200JSONResponse{Body: toAPIMessage(m)}, nil
}

func (h *handlers) ListWhatsAppTemplates(ctx context.Context, req api.ListWhatsAppTemplatesRequestObject) (api.ListWhatsAppTemplatesResponseObject, error) {
	p := req.Params
	page, perPage := pageParams(p.Page, p.PerPage)
	f := impl.TemplateFilter{Context: p.Context, MetaApproved: p.MetaApproved,
		Offset: int64(page-1) * int64(perPage), Limit: int(perPage)}
	f.Category = (*string)(p.Category)
	ts, total, err := h.messaging.Templates.FindTemplates(ctx, orgID(ctx), f)
	if err != nil {
		return nil, err
	}
	data := make([]api.Template, len(ts))
	for i, t := range ts {
		data[i] = api.Template{
			Id: t.ID, Name: t.Name, Language: t.Language, Category: api.TemplateCategory(t.Category),
			Context: toNullable(t.Context), MetaApproved: t.MetaApproved, Body: t.Body,
			VariablesCount: int32(t.VariablesCount), CreatedAt: t.CreatedAt.UTC(),
		}
	}
	return api.ListWhatsAppTemplates200JSONResponse{Body: api.TemplateList{Data: data, Meta: pageMeta(page, perPage, total)}}, nil
}

func (h *handlers) ListWhatsAppIntegrations(ctx context.Context, _ api.ListWhatsAppIntegrationsRequestObject) (api.ListWhatsAppIntegrationsResponseObject, error) {
	list, err := h.integrations(ctx, impl.ChannelWhatsApp)
	if err != nil {
		return nil, err
	}
	return api.ListWhatsAppIntegrations200JSONResponse{IntegrationsOKJSONResponse: api.IntegrationsOKJSONResponse{Body: list}}, nil
}

func (h *handlers) ListRCSIntegrations(ctx context.Context, _ api.ListRCSIntegrationsRequestObject) (api.ListRCSIntegrationsResponseObject, error) {
	list, err := h.integrations(ctx, impl.ChannelRCS)
	if err != nil {
		return nil, err
	}
	return api.ListRCSIntegrations200JSONResponse{IntegrationsOKJSONResponse: api.IntegrationsOKJSONResponse{Body: list}}, nil
}

func (h *handlers) integrations(ctx context.Context, channel string) (api.IntegrationList, error) {
	all, err := h.messaging.Integrations.ListIntegrations(ctx, orgID(ctx), channel)
	if err != nil {
		return api.IntegrationList{}, err
	}
	data := make([]api.Integration, len(all))
	for i, in := range all {
		phone := nullable.NewNullNullable[string]()
		if in.PhoneNumber != "" {
			phone = nullable.NewNullableWithValue(in.PhoneNumber)
		}
		data[i] = api.Integration{Id: in.ID, Name: in.Name, Channel: api.Channel(in.Channel),
			Provider: api.IntegrationProvider(in.Provider), Active: in.Active, PhoneNumber: phone,
			CreatedAt: in.CreatedAt.UTC()}
	}
	return api.IntegrationList{Data: data}, nil
}

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

func pageMeta(page, perPage int32, total int64) api.PageMeta {
	return api.PageMeta{CurrentPage: page, PerPage: perPage, Total: total,
		TotalPages: (total + int64(perPage) - 1) / int64(perPage)}
}
