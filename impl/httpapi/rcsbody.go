package httpapi

import (
	"fmt"

	json "github.com/go-json-experiment/json"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

// rcsBody holds every member an RCS message may have, whatever its type,
// and rcsButtonBody every member of a button.
//
// The generated types of POST /rcs/messages are oneOf unions kept as raw
// JSON: reading a carousel through them decoded it three times (its type,
// the carousel, then each member again) and each button twice more, a
// fifth of the request's CPU. Request validation has already held the body
// to the schema of its type, so one decode into these types reads it.
// TestRCSBodyReadsAsTheGeneratedTypes holds them to the generated types.
type rcsBody struct {
	Type          string  `json:"type"`
	IntegrationID *int64  `json:"integration_id"`
	LeadID        *int64  `json:"lead_id"`
	Phone         *string `json:"phone"`
	// text, replyable_text
	Text string `json:"text"`
	// file
	FileURL  string `json:"file_url"`
	MimeType string `json:"mime_type"`
	// card
	rcsCardBody `json:",inline"`
	// carousel
	Cards     []rcsCardBody `json:"cards"`
	CardWidth *string       `json:"card_width"`
	// replyable_text
	QuickReplies []api.RCSQuickReply `json:"quick_replies"`
	// location
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Label     *string `json:"label"`
}

type rcsCardBody struct {
	Title       string          `json:"title"`
	Description *string         `json:"description"`
	MediaURL    *string         `json:"media_url"`
	Buttons     []rcsButtonBody `json:"buttons"`
}

type rcsButtonBody struct {
	Type        string  `json:"type"`
	Text        string  `json:"text"`
	URL         string  `json:"url"`
	PhoneNumber string  `json:"phone_number"`
	Payload     *string `json:"payload"`
}

// rcsRequest reads the body of POST /rcs/messages.
func rcsRequest(body *api.RCSMessageCreate) (impl.RCSRequest, error) {
	raw, err := body.MarshalJSON()
	if err != nil {
		return impl.RCSRequest{}, unreadableBody(err)
	}
	var b rcsBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return impl.RCSRequest{}, unreadableBody(err)
	}
	r := impl.RCSRequest{IntegrationID: b.IntegrationID, Recipient: recipient(b.LeadID, b.Phone),
		Content: impl.RCSContent{Type: b.Type}}
	c := &r.Content
	switch b.Type {
	case "text":
		c.Text = b.Text
	case "file":
		c.FileURL, c.MimeType = b.FileURL, b.MimeType
	case "card":
		card, err := b.rcsCardBody.card()
		if err != nil {
			return r, err
		}
		c.Card = &card
	case "carousel":
		c.Cards = make([]impl.RCSCard, len(b.Cards))
		for i, cb := range b.Cards {
			if c.Cards[i], err = cb.card(); err != nil {
				return r, err
			}
		}
		c.CardWidth = string(api.MEDIUM)
		if b.CardWidth != nil {
			c.CardWidth = *b.CardWidth
		}
	case "replyable_text":
		c.Text = b.Text
		c.QuickReplies = make([]impl.RCSQuickReply, len(b.QuickReplies))
		for i, q := range b.QuickReplies {
			c.QuickReplies[i] = impl.RCSQuickReply{Text: q.Text, Payload: q.Payload}
		}
	case "location":
		lat, long := b.Latitude, b.Longitude
		c.Latitude, c.Longitude, c.Label = &lat, &long, deref(b.Label)
	default:
		return r, unreadableBody(fmt.Errorf("unexpected RCS message type %q", b.Type))
	}
	return r, nil
}

func (cb rcsCardBody) card() (impl.RCSCard, error) {
	card := impl.RCSCard{Title: cb.Title, Description: deref(cb.Description), MediaURL: deref(cb.MediaURL)}
	for _, x := range cb.Buttons {
		var b impl.RCSButton
		switch x.Type {
		case impl.ButtonURL:
			b = impl.RCSButton{Type: impl.ButtonURL, Text: x.Text, URL: x.URL, Payload: deref(x.Payload)}
		case impl.ButtonCall:
			b = impl.RCSButton{Type: impl.ButtonCall, Text: x.Text, PhoneNumber: x.PhoneNumber, Payload: deref(x.Payload)}
		case impl.ButtonReply:
			b = impl.RCSButton{Type: impl.ButtonReply, Text: x.Text, Payload: deref(x.Payload)}
		default:
			return card, unreadableBody(fmt.Errorf("unexpected button type %q", x.Type))
		}
		card.Buttons = append(card.Buttons, b)
	}
	return card, nil
}
