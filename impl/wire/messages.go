package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

// Message is a message of the history as the API returns it. Its content
// is the stored JSON object, written as it is (see openapi/overlay-api.yaml).
func Message(m *impl.Message) api.Message {
	return api.Message{
		Id:                m.ID,
		IntegrationId:     m.IntegrationID,
		Channel:           api.Channel(m.Channel),
		Direction:         api.Direction(m.Direction),
		Type:              api.MessageType(m.Type),
		Status:            api.MessageStatus(m.Status),
		LeadId:            Nullable(m.LeadID),
		Phone:             m.Phone,
		Content:           storedObject(m.Content),
		ProviderMessageId: Nullable(m.ProviderMessageID),
		Error:             Nullable(m.Error),
		ErrorCode:         Nullable(m.ErrorCode),
		ErrorTitle:        Nullable(m.ErrorTitle),
		SentAt:            Nullable(utcPtr(m.SentAt)),
		DeliveredAt:       Nullable(utcPtr(m.DeliveredAt)),
		ReadAt:            Nullable(utcPtr(m.ReadAt)),
		FailedAt:          Nullable(utcPtr(m.FailedAt)),
		CreatedAt:         m.CreatedAt.UTC(),
		UpdatedAt:         m.UpdatedAt.UTC(),
	}
}

// storedObject is stored content as the API returns it: a JSON object. The
// content was written by us as one; anything else would be a defect, shown
// as an empty object rather than a failed read. (jsontext checks a 3 kB
// object in 5 µs where json.Valid takes 12.)
func storedObject(raw json.RawMessage) json.RawMessage {
	if b := bytes.TrimLeft(raw, " \t\r\n"); len(b) > 0 && b[0] == '{' && jsontext.Value(raw).IsValid() {
		return raw
	}
	return json.RawMessage(`{}`)
}

// whatsAppContent is a WhatsApp message's content as the history shows it:
// the fields the partner sent, with the template resolved.
type whatsAppContent struct {
	Text             string   `json:"text,omitempty"`
	TemplateName     string   `json:"template_name,omitempty"`
	TemplateLanguage string   `json:"template_language,omitempty"`
	Variables        []string `json:"variables,omitempty"`
	MediaURL         string   `json:"media_url,omitempty"`
	Caption          string   `json:"caption,omitempty"`
	Filename         string   `json:"filename,omitempty"`
}

// WhatsAppContent is the stored (and returned) content of an outbound
// WhatsApp message.
func WhatsAppContent(c *impl.WhatsAppContent) (json.RawMessage, error) {
	b, err := json.Marshal(whatsAppContent{Text: c.Text, TemplateName: c.TemplateName, TemplateLanguage: c.TemplateLanguage,
		Variables: c.Variables, MediaURL: c.MediaURL, Caption: c.Caption, Filename: c.Filename})
	if err != nil {
		return nil, fmt.Errorf("encode WhatsApp content: %w", err)
	}
	return b, nil
}

type rcsButton struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	Payload     string `json:"payload,omitempty"`
}

type rcsCard struct {
	Title       string      `json:"title,omitempty"`
	Description string      `json:"description,omitempty"`
	MediaURL    string      `json:"media_url,omitempty"`
	Buttons     []rcsButton `json:"buttons,omitempty"`
}

type rcsQuickReply struct {
	Text    string `json:"text"`
	Payload string `json:"payload"`
}

// rcsContent is an RCS message's content as the partner sent it: a single
// card's fields sit at the top level, as in the request.
type rcsContent struct {
	Text         string          `json:"text,omitempty"`
	FileURL      string          `json:"file_url,omitempty"`
	MimeType     string          `json:"mime_type,omitempty"`
	Cards        []rcsCard       `json:"cards,omitempty"`
	CardWidth    string          `json:"card_width,omitempty"`
	QuickReplies []rcsQuickReply `json:"quick_replies,omitempty"`
	Latitude     *float64        `json:"latitude,omitempty"`
	Longitude    *float64        `json:"longitude,omitempty"`
	Label        string          `json:"label,omitempty"`
	*rcsCard
}

func toRCSCard(c *impl.RCSCard) rcsCard {
	out := rcsCard{Title: c.Title, Description: c.Description, MediaURL: c.MediaURL}
	for _, b := range c.Buttons {
		out.Buttons = append(out.Buttons, rcsButton(b))
	}
	return out
}

// RCSContent is the stored (and returned) content of an outbound RCS
// message.
func RCSContent(c *impl.RCSContent) (json.RawMessage, error) {
	out := rcsContent{Text: c.Text, FileURL: c.FileURL, MimeType: c.MimeType, CardWidth: c.CardWidth,
		Latitude: c.Latitude, Longitude: c.Longitude, Label: c.Label}
	for i := range c.Cards {
		out.Cards = append(out.Cards, toRCSCard(&c.Cards[i]))
	}
	for _, q := range c.QuickReplies {
		out.QuickReplies = append(out.QuickReplies, rcsQuickReply(q))
	}
	if c.Card != nil {
		card := toRCSCard(c.Card)
		out.rcsCard = &card
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode RCS content: %w", err)
	}
	return b, nil
}

// InboundContent is the stored content of an inbound message: the fields
// the provider reported, already in the API's names.
func InboundContent(fields map[string]any) (json.RawMessage, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("encode inbound content: %w", err)
	}
	return b, nil
}
