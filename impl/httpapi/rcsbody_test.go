package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
)

// generatedRCSRequest reads the body through the generated oneOf types, as
// SendRCSMessage did before rcsRequest: the reference rcsRequest must agree
// with.
func generatedRCSRequest(body api.RCSMessageCreate) (impl.RCSRequest, error) {
	v, err := body.ValueByDiscriminator()
	if err != nil {
		return impl.RCSRequest{}, err
	}
	switch b := v.(type) {
	case api.RCSTextMessage:
		return impl.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Text: b.Text}}, nil
	case api.RCSFileMessage:
		return impl.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), FileURL: b.FileUrl, MimeType: b.MimeType}}, nil
	case api.RCSCardMessage:
		card, err := generatedCard(api.RCSCard{Title: b.Title, Description: b.Description, MediaUrl: b.MediaUrl, Buttons: b.Buttons})
		return impl.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Card: &card}}, err
	case api.RCSCarouselMessage:
		cards := make([]impl.RCSCard, len(b.Cards))
		for i, c := range b.Cards {
			if cards[i], err = generatedCard(c); err != nil {
				return impl.RCSRequest{}, err
			}
		}
		width := string(api.MEDIUM)
		if b.CardWidth != nil {
			width = string(*b.CardWidth)
		}
		return impl.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Cards: cards, CardWidth: width}}, nil
	case api.RCSReplyableTextMessage:
		replies := make([]impl.RCSQuickReply, len(b.QuickReplies))
		for i, q := range b.QuickReplies {
			replies[i] = impl.RCSQuickReply{Text: q.Text, Payload: q.Payload}
		}
		return impl.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Text: b.Text, QuickReplies: replies}}, nil
	case api.RCSLocationMessage:
		lat, long := b.Latitude, b.Longitude
		return impl.RCSRequest{IntegrationID: b.IntegrationId, Recipient: recipient(b.LeadId, b.Phone),
			Content: impl.RCSContent{Type: string(b.Type), Latitude: &lat, Longitude: &long, Label: deref(b.Label)}}, nil
	}
	return impl.RCSRequest{}, fmt.Errorf("unexpected RCS message %T", v)
}

func generatedCard(c api.RCSCard) (impl.RCSCard, error) {
	card := impl.RCSCard{Title: c.Title, Description: deref(c.Description), MediaURL: deref(c.MediaUrl)}
	if c.Buttons == nil {
		return card, nil
	}
	for _, raw := range *c.Buttons {
		v, err := raw.ValueByDiscriminator()
		if err != nil {
			return card, err
		}
		switch x := v.(type) {
		case api.RCSUrlButton:
			card.Buttons = append(card.Buttons, impl.RCSButton{Type: impl.ButtonURL, Text: x.Text, URL: x.Url, Payload: deref(x.Payload)})
		case api.RCSCallButton:
			card.Buttons = append(card.Buttons, impl.RCSButton{Type: impl.ButtonCall, Text: x.Text, PhoneNumber: x.PhoneNumber, Payload: deref(x.Payload)})
		case api.RCSReplyButton:
			card.Buttons = append(card.Buttons, impl.RCSButton{Type: impl.ButtonReply, Text: x.Text, Payload: x.Payload})
		default:
			return card, fmt.Errorf("unexpected button %T", v)
		}
	}
	return card, nil
}

// Every kind of RCS message, with its optional members present and absent,
// reads the same through rcsRequest as through the generated types.
func TestRCSBodyReadsAsTheGeneratedTypes(t *testing.T) {
	const buttons = `[{"type":"url","text":"Ver","url":"https://exemplo.com/p","payload":"u1"},
		{"type":"url","text":"Abrir","url":"https://exemplo.com/q"},
		{"type":"call","text":"Ligar","phone_number":"+5511999999999","payload":"c1"},
		{"type":"call","text":"Ligar já","phone_number":"+5511988888888"},
		{"type":"reply","text":"Sim","payload":"yes"}]`
	bodies := []string{
		`{"type":"text","lead_id":123,"text":"Olá!"}`,
		`{"type":"text","phone":"+55 (11) 99999-9999","integration_id":2,"text":"Olá\nmundo"}`,
		`{"type":"file","lead_id":1,"file_url":"https://exemplo.com/a.pdf","mime_type":"application/pdf"}`,
		`{"type":"card","lead_id":1,"title":"Produto"}`,
		`{"type":"card","phone":"11999999999","integration_id":3,"title":"Produto","description":"Oferta","media_url":"https://exemplo.com/i.jpg","buttons":` + buttons + `}`,
		`{"type":"carousel","lead_id":1,"cards":[{"title":"A"},{"title":"B","description":"b"}]}`,
		`{"type":"carousel","lead_id":1,"card_width":"SMALL","cards":[{"title":"A","buttons":` + buttons + `},{"title":"B","media_url":"https://exemplo.com/b.jpg","buttons":[{"type":"reply","text":"Não","payload":"no"}]}]}`,
		`{"type":"replyable_text","lead_id":1,"text":"Escolha","quick_replies":[{"text":"Sim","payload":"s"},{"text":"Não","payload":"n"}]}`,
		`{"type":"location","lead_id":1,"latitude":-23.5505,"longitude":-46.6333}`,
		`{"type":"location","phone":"11999999999","latitude":0,"longitude":180,"label":"Escritório"}`,
	}
	for _, text := range bodies {
		var body api.RCSMessageCreate
		if err := json.Unmarshal([]byte(text), &body); err != nil {
			t.Fatal(err)
		}
		want, err := generatedRCSRequest(body)
		if err != nil {
			t.Fatalf("%s: the generated types: %v", text, err)
		}
		// From its bytes (validation off), and from the tree request
		// validation decoded.
		for _, ctx := range []context.Context{context.Background(), withTree(t, text)} {
			got, err := rcsRequest(ctx, &body)
			if err != nil {
				t.Errorf("%s: %v", text, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (tree %v):\n got  %+v\n want %+v", text, validatedTree(ctx) != nil, got, want)
			}
		}
	}
}

// withTree is a request's context as validateRequest leaves it for a valid
// union body: with the tree contract.DecodeJSON makes of text.
func withTree(t *testing.T, text string) context.Context {
	t.Helper()
	tree, _, err := contract.DecodeJSON([]byte(text))
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return context.WithValue(context.Background(), ctxLogger, &requestLogger{tree: tree})
}

// With a tree, rcsRequest reads the tree and not the bytes: the body is
// decoded once, for the validation and the handler. Each tree here is
// another body's than the union's bytes, which would give another request.
// A tree it cannot read as the bytes would be read (a member of another
// type: not what validation passes) sends it back to the bytes.
func TestRCSBodyFromTheTree(t *testing.T) {
	var union api.RCSMessageCreate
	if err := json.Unmarshal([]byte(`{"type":"text","lead_id":9,"text":"from the bytes"}`), &union); err != nil {
		t.Fatal(err)
	}
	fromBytes, err := rcsRequest(context.Background(), &union)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tree string
		want impl.RCSRequest
	}{
		{`{"type":"text","lead_id":1,"text":"from the tree"}`,
			impl.RCSRequest{Recipient: impl.Recipient{LeadID: ptr(int64(1))}, Content: impl.RCSContent{Type: "text", Text: "from the tree"}}},
		// A whole number written as 2.0 is an integer to JSON Schema, and
		// the tree holds it as 2; the bytes cannot give it to an int64.
		{`{"type":"text","lead_id":2.0,"integration_id":3e0,"text":"x"}`,
			impl.RCSRequest{IntegrationID: ptr(int64(3)), Recipient: impl.Recipient{LeadID: ptr(int64(2))}, Content: impl.RCSContent{Type: "text", Text: "x"}}},
		{`{"type":"text","lead_id":9223372036854775807,"text":"x"}`,
			impl.RCSRequest{Recipient: impl.Recipient{LeadID: ptr(int64(9223372036854775807))}, Content: impl.RCSContent{Type: "text", Text: "x"}}},
		{`{"type":"location","phone":"11999999999","latitude":-23.5505,"longitude":1e2,"label":null}`,
			impl.RCSRequest{Recipient: impl.Recipient{Phone: ptr("11999999999")},
				Content: impl.RCSContent{Type: "location", Latitude: ptr(-23.5505), Longitude: ptr(100.0)}}},
		{`{"type":"carousel","lead_id":1,"card_width":"SMALL","cards":[{"title":"A","description":null,"buttons":[{"type":"call","text":"Ligar","phone_number":"+5511999999999"}]}]}`,
			impl.RCSRequest{Recipient: impl.Recipient{LeadID: ptr(int64(1))}, Content: impl.RCSContent{Type: "carousel", CardWidth: "SMALL",
				Cards: []impl.RCSCard{{Title: "A", Buttons: []impl.RCSButton{{Type: impl.ButtonCall, Text: "Ligar", PhoneNumber: "+5511999999999"}}}}}}},
		// Not what validation passes: read from the bytes.
		{`{"type":"text","lead_id":"one","text":"x"}`, fromBytes},
		{`{"type":"text","lead_id":1.5,"text":"x"}`, fromBytes},
		{`{"type":"carousel","lead_id":1,"cards":[1]}`, fromBytes},
		{`{"type":"carousel","lead_id":1,"cards":{"title":"A"}}`, fromBytes},
		{`["text"]`, fromBytes},
	} {
		got, err := rcsRequest(withTree(t, c.tree), &union)
		if err != nil {
			t.Errorf("%s: %v", c.tree, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", c.tree, got, c.want)
		}
	}
}

// What request validation would refuse, rcsRequest refuses with 400 when
// validation is off, as the generated types did.
func TestRCSBodyUnreadable(t *testing.T) {
	for _, text := range []string{
		`{"type":"sticker","lead_id":1}`,
		`{"type":"card","lead_id":1,"title":"x","buttons":[{"type":"share","text":"x"}]}`,
		`{"type":"carousel","lead_id":1,"cards":[{"title":"A","buttons":[{"type":"url","text":1}]}]}`,
		`{"type":"text","lead_id":"one","text":"x"}`,
		`[1,2]`,
	} {
		var body api.RCSMessageCreate
		if err := json.Unmarshal([]byte(text), &body); err != nil {
			t.Fatal(err)
		}
		if _, err := rcsRequest(context.Background(), &body); impl.ErrorCode(err) != impl.EBadRequest {
			t.Errorf("%s: %v, want a %s error", text, err, impl.EBadRequest)
		}
	}
}

func ptr[T any](v T) *T { return &v }
