package httpapi

import (
	"context"
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

// rcsRequest reads the body of POST /rcs/messages: from the tree request
// validation decoded, when there is one (validatedTree), else from its
// bytes.
func rcsRequest(ctx context.Context, body *api.RCSMessageCreate) (impl.RCSRequest, error) {
	b, ok := rcsBodyOf(validatedTree(ctx))
	if !ok {
		raw, err := body.MarshalJSON()
		if err != nil {
			return impl.RCSRequest{}, unreadableBody(err)
		}
		b = rcsBody{}
		if err := json.Unmarshal(raw, &b); err != nil {
			return impl.RCSRequest{}, unreadableBody(err)
		}
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
			var err error
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

// rcsBodyOf reads an RCS message from the tree request validation decoded
// (see treeReader) as json.Unmarshal reads the same body's bytes into
// rcsBody, except that an id written as 2.0, which the spec's integers
// take, reads as 2 (the bytes refuse it).
//
// With validation on, the body was decoded once for the validation and
// then again here from its bytes: for a 10-card carousel that second decode
// was about 45 µs, a quarter of what validation added to the request. ok
// is false when there is no tree (validation off) or it is not what
// validation passes: the caller then decodes the bytes, which says what is
// wrong. TestRCSBodyReadsAsTheGeneratedTypes holds both readings to the
// generated types.
func rcsBodyOf(tree any) (b rcsBody, ok bool) {
	m, isObject := tree.(map[string]any)
	if !isObject {
		return b, false
	}
	t := treeReader{ok: true}
	b.Type = t.str(m["type"])
	b.IntegrationID = t.int64Ptr(m["integration_id"])
	b.LeadID = t.int64Ptr(m["lead_id"])
	b.Phone = t.strPtr(m["phone"])
	b.Text = t.str(m["text"])
	b.FileURL = t.str(m["file_url"])
	b.MimeType = t.str(m["mime_type"])
	b.rcsCardBody = t.card(m)
	for _, c := range t.array(m["cards"]) {
		if cm := t.object(c); cm != nil {
			b.Cards = append(b.Cards, t.card(cm))
		}
	}
	b.CardWidth = t.strPtr(m["card_width"])
	for _, q := range t.array(m["quick_replies"]) {
		if qm := t.object(q); qm != nil {
			b.QuickReplies = append(b.QuickReplies, api.RCSQuickReply{Text: t.str(qm["text"]), Payload: t.str(qm["payload"])})
		}
	}
	b.Latitude = t.float(m["latitude"])
	b.Longitude = t.float(m["longitude"])
	b.Label = t.strPtr(m["label"])
	return b, t.ok
}

// card reads an RCS card, or the card members of a card message.
func (t *treeReader) card(m map[string]any) rcsCardBody {
	c := rcsCardBody{Title: t.str(m["title"]), Description: t.strPtr(m["description"]), MediaURL: t.strPtr(m["media_url"])}
	for _, x := range t.array(m["buttons"]) {
		if xm := t.object(x); xm != nil {
			c.Buttons = append(c.Buttons, rcsButtonBody{Type: t.str(xm["type"]), Text: t.str(xm["text"]),
				URL: t.str(xm["url"]), PhoneNumber: t.str(xm["phone_number"]), Payload: t.strPtr(xm["payload"])})
		}
	}
	return c
}
