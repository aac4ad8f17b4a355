package contracttests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
	"github.com/iagente/iagente-sdr/impl"
)

// RCS sends: every limit of a message at its boundary, and which
// integration a send goes through.

// rcsBody is an RCS send to a fresh phone with the given type's fields.
func rcsBody(t testing.TB, typ string, fields map[string]any) map[string]any {
	t.Helper()
	b := map[string]any{"phone": uniquePhone(t), "type": typ}
	for k, v := range fields {
		b[k] = v
	}
	return b
}

func card(title string, buttons int) map[string]any {
	c := map[string]any{"title": title, "description": "Descricao", "media_url": "https://exemplo.com/a.jpg"}
	if buttons > 0 {
		bs := make([]any, buttons)
		for i := range bs {
			bs[i] = map[string]any{"type": "reply", "text": fmt.Sprintf("Opcao %d", i+1), "payload": fmt.Sprintf("opt_%d", i+1)}
		}
		c["buttons"] = bs
	}
	return c
}

func cards(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = card(fmt.Sprintf("Produto %d", i+1), 1)
	}
	return out
}

func quickReplies(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"text": fmt.Sprintf("Opcao %d", i+1), "payload": fmt.Sprintf("option_%d", i+1)}
	}
	return out
}

func withCard(fields map[string]any, c map[string]any) map[string]any {
	for k, v := range c {
		fields[k] = v
	}
	return fields
}

// TestRCSLimits proves every limit of an RCS message at its boundary: the
// last accepted value is sent (201), the first rejected one is a 422 whose
// details name the field, inside oneOfs and arrays too.
func TestRCSLimits(t *testing.T) {
	long := func(r string, n int) string { return strings.Repeat(r, n) }
	tenCardsBadTitle := cards(10)
	tenCardsBadTitle[3] = card(long("T", 201), 1)
	tenCardsFiveButtons := cards(10)
	tenCardsFiveButtons[9] = card("Produto", 5)

	cases := []struct {
		name   string
		typ    string
		fields map[string]any
		// For rejections: the details key and a fragment of its message.
		key, msg string
	}{
		{name: "text 4096 characters", typ: "text", fields: map[string]any{"text": long("a", 4096)}},
		{name: "text 4096 ç (8192 bytes)", typ: "text", fields: map[string]any{"text": long("ç", 4096)}},
		{name: "text 4096 emoji", typ: "text", fields: map[string]any{"text": long("😀", 4096)}},
		{name: "text 4097 characters", typ: "text", fields: map[string]any{"text": long("a", 4097)},
			key: "text", msg: "must be at most 4096 characters"},
		{name: "text 4097 ç", typ: "text", fields: map[string]any{"text": long("ç", 4097)},
			key: "text", msg: "must be at most 4096 characters"},
		{name: "text empty", typ: "text", fields: map[string]any{"text": ""}, key: "text", msg: "must not be empty"},
		{name: "text missing", typ: "text", fields: map[string]any{}, key: "text", msg: "text is required"},

		{name: "carousel 2 cards", typ: "carousel", fields: map[string]any{"cards": cards(2)}},
		{name: "carousel 10 cards", typ: "carousel", fields: map[string]any{"cards": cards(10), "card_width": "SMALL"}},
		{name: "carousel 1 card", typ: "carousel", fields: map[string]any{"cards": cards(1)},
			key: "cards", msg: "must contain between 2 and 10 cards"},
		{name: "carousel 11 cards", typ: "carousel", fields: map[string]any{"cards": cards(11)},
			key: "cards", msg: "must contain between 2 and 10 cards"},
		{name: "carousel card 3 title 201", typ: "carousel", fields: map[string]any{"cards": tenCardsBadTitle},
			key: "cards[3].title", msg: "must be at most 200 characters"},
		{name: "carousel card 9 with 5 buttons", typ: "carousel", fields: map[string]any{"cards": tenCardsFiveButtons},
			key: "cards[9].buttons", msg: "must contain at most 4 buttons"},
		{name: "carousel bad card_width", typ: "carousel", fields: map[string]any{"cards": cards(2), "card_width": "LARGE"},
			key: "card_width", msg: "must be one of: SMALL, MEDIUM"},
		// card_width is optional but not nullable: null is refused rather
		// than read as the MEDIUM default.
		{name: "carousel null card_width", typ: "carousel", fields: map[string]any{"cards": cards(2), "card_width": nil},
			key: "card_width", msg: "must not be null"},

		{name: "quick replies 11", typ: "replyable_text", fields: map[string]any{"text": "Escolha", "quick_replies": quickReplies(11)}},
		{name: "quick replies 12", typ: "replyable_text", fields: map[string]any{"text": "Escolha", "quick_replies": quickReplies(12)},
			key: "quick_replies", msg: "must contain between 1 and 11 quick replies"},
		{name: "quick reply text 25", typ: "replyable_text", fields: map[string]any{"text": "Escolha",
			"quick_replies": []any{map[string]any{"text": long("q", 25), "payload": "p"}}}},
		{name: "quick reply text 26", typ: "replyable_text", fields: map[string]any{"text": "Escolha",
			"quick_replies": []any{map[string]any{"text": "ok", "payload": "p"}, map[string]any{"text": long("q", 26), "payload": "p"}}},
			key: "quick_replies[1].text", msg: "must be at most 25 characters"},
		{name: "quick reply payload 2048", typ: "replyable_text", fields: map[string]any{"text": "Escolha",
			"quick_replies": []any{map[string]any{"text": "ok", "payload": long("p", 2048)}}}},
		{name: "quick reply payload 2049", typ: "replyable_text", fields: map[string]any{"text": "Escolha",
			"quick_replies": []any{map[string]any{"text": "ok", "payload": long("p", 2049)}}},
			key: "quick_replies[0].payload", msg: "must be at most 2048 characters"},

		{name: "card 4 buttons", typ: "card", fields: withCard(map[string]any{}, card("Produto", 4))},
		{name: "card 5 buttons", typ: "card", fields: withCard(map[string]any{}, card("Produto", 5)),
			key: "buttons", msg: "must contain at most 4 buttons"},
		{name: "card title 200", typ: "card", fields: withCard(map[string]any{}, card(long("T", 200), 0))},
		{name: "card title 200 ç", typ: "card", fields: withCard(map[string]any{}, card(long("ç", 200), 0))},
		{name: "card title 201", typ: "card", fields: withCard(map[string]any{}, card(long("T", 201), 0)),
			key: "title", msg: "must be at most 200 characters"},
		{name: "url button without url", typ: "card", fields: map[string]any{"title": "Produto",
			"buttons": []any{map[string]any{"type": "url", "text": "Ver Mais"}}},
			key: "buttons[0].url", msg: "url is required"},
		{name: "call button without phone_number", typ: "card", fields: map[string]any{"title": "Produto",
			"buttons": []any{map[string]any{"type": "reply", "text": "Sim", "payload": "yes"}, map[string]any{"type": "call", "text": "Ligar"}}},
			key: "buttons[1].phone_number", msg: "phone_number is required"},
		{name: "button of unknown type", typ: "card", fields: map[string]any{"title": "Produto",
			"buttons": []any{map[string]any{"type": "share", "text": "Enviar"}}},
			key: "buttons[0].type", msg: "must be one of: url, call, reply"},
		{name: "button text 26", typ: "card", fields: map[string]any{"title": "Produto",
			"buttons": []any{map[string]any{"type": "url", "text": long("b", 26), "url": "https://exemplo.com"}}},
			key: "buttons[0].text", msg: "must be at most 25 characters"},

		{name: "latitude 90", typ: "location", fields: map[string]any{"latitude": 90, "longitude": 0}},
		{name: "latitude -90", typ: "location", fields: map[string]any{"latitude": -90, "longitude": 0}},
		{name: "latitude 90.000001", typ: "location", fields: map[string]any{"latitude": 90.000001, "longitude": 0},
			key: "latitude", msg: "must be between -90 and 90"},
		{name: "latitude -90.000001", typ: "location", fields: map[string]any{"latitude": -90.000001, "longitude": 0},
			key: "latitude", msg: "must be between -90 and 90"},
		{name: "longitude 180", typ: "location", fields: map[string]any{"latitude": 0, "longitude": 180}},
		{name: "longitude -180", typ: "location", fields: map[string]any{"latitude": 0, "longitude": -180, "label": "Antimeridiano"}},
		{name: "longitude -180.000001", typ: "location", fields: map[string]any{"latitude": 0, "longitude": -180.000001},
			key: "longitude", msg: "must be between -180 and 180"},
		{name: "longitude 180.000001", typ: "location", fields: map[string]any{"latitude": 0, "longitude": 180.000001},
			key: "longitude", msg: "must be between -180 and 180"},

		{name: "file", typ: "file", fields: map[string]any{"file_url": "https://exemplo.com/a.pdf", "mime_type": "application/pdf"}},
		{name: "file without file_url", typ: "file", fields: map[string]any{"mime_type": "image/jpeg"},
			key: "file_url", msg: "file_url is required"},
		{name: "file without mime_type", typ: "file", fields: map[string]any{"file_url": "https://exemplo.com/a.jpg"},
			key: "mime_type", msg: "mime_type is required"},
		{name: "unknown type", typ: "sticker", fields: map[string]any{"text": "oi"},
			key: "type", msg: "must be one of: text, file, card, carousel, replyable_text, location"},
		{name: "field of another type", typ: "text", fields: map[string]any{"text": "oi", "cards": cards(2)},
			key: "cards", msg: "is not a known field"},
	}

	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				body, err := json.Marshal(rcsBody(t, tc.typ, tc.fields))
				if err != nil {
					t.Fatal(err)
				}
				res, out := tg.raw(t, tg.key, http.MethodPost, "/rcs/messages", "application/json", body)
				if tc.key == "" {
					if res.StatusCode != http.StatusCreated {
						t.Fatalf("want 201, got %d: %s", res.StatusCode, out)
					}
					return
				}
				// The details name the offending field and nothing else.
				e := wantError(t, res, out, http.StatusUnprocessableEntity, "validation_error", tc.key)
				if !strings.Contains(e.detail(tc.key), tc.msg) {
					t.Errorf("details[%q] = %q, want it to say %q", tc.key, e.detail(tc.key), tc.msg)
				}
			})
		}
	})
}

func TestRCSIntegrationChoice(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		o := newMessagingOrg(t, tg, "rcs")
		second := o.createIntegration(t, &impl.Integration{Name: "RCS 2", Channel: impl.ChannelRCS,
			Provider: impl.ProviderSandbox, Active: true})
		send := func(t *testing.T, fields map[string]any) (*http.Response, []byte) {
			t.Helper()
			return postJSON(t, tg, o.key, "/rcs/messages", merged(map[string]any{"phone": uniquePhone(t), "type": "text", "text": "Oi"}, fields))
		}
		sentThrough := func(t *testing.T, fields map[string]any, want int64) {
			t.Helper()
			res, out := send(t, fields)
			m := mustCreated(t, tg, o.key, res, out)
			if m.IntegrationId != want || m.Channel != "rcs" {
				t.Errorf("sent through %s integration %d, want rcs %d", m.Channel, m.IntegrationId, want)
			}
		}

		t.Run("the oldest active one by default", func(t *testing.T) { sentThrough(t, nil, o.rcs.ID) })
		t.Run("an explicit one", func(t *testing.T) { sentThrough(t, map[string]any{"integration_id": second.ID}, second.ID) })
		t.Run("an id written as a whole number with a fraction or an exponent", func(t *testing.T) {
			// JSON Schema counts 2.0 and 2e0 as the integer 2, so the
			// spec's integer ids take them, as the leads' integers do.
			for _, id := range []string{fmt.Sprintf("%d.0", second.ID), fmt.Sprintf("%de0", second.ID)} {
				res, out := tg.raw(t, o.key, http.MethodPost, "/rcs/messages", "application/json",
					[]byte(fmt.Sprintf(`{"phone":%q,"type":"text","text":"Oi","integration_id":%s}`, uniquePhone(t), id)))
				m := mustCreated(t, tg, o.key, res, out)
				if m.IntegrationId != second.ID {
					t.Errorf("integration_id %s: sent through %d, want %d", id, m.IntegrationId, second.ID)
				}
			}
		})
		t.Run("the WhatsApp integration", func(t *testing.T) {
			res, out := send(t, map[string]any{"integration_id": o.whatsApp.ID})
			wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		})
		t.Run("a missing one", func(t *testing.T) {
			res, out := send(t, map[string]any{"integration_id": 987654321})
			wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		})
		t.Run("the oldest disabled", func(t *testing.T) {
			o.seed.DisableIntegration(t, o.id, o.rcs.ID)
			sentThrough(t, nil, second.ID)
			res, out := send(t, map[string]any{"integration_id": o.rcs.ID})
			wantError(t, res, out, http.StatusNotFound, "integration_not_found")
		})
		t.Run("all disabled", func(t *testing.T) {
			o.seed.DisableIntegration(t, o.id, second.ID)
			before := listMessages(t, o.c, client.ListMessagesParams{}).Meta.Total
			res, out := send(t, nil)
			wantError(t, res, out, http.StatusNotFound, "integration_not_found")
			if after := listMessages(t, o.c, client.ListMessagesParams{}).Meta.Total; after != before {
				t.Errorf("a send without an integration stored %d messages", after-before)
			}
		})
		t.Run("enabled again", func(t *testing.T) {
			o.seed.EnableIntegration(t, o.id, o.rcs.ID)
			sentThrough(t, nil, o.rcs.ID)
		})
	})
}
