package contracttests

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/iagente/iagente-sdr/gen/client"
)

// TestSeedMessagingExamples runs the API reference's messaging examples
// verbatim. They name integration 1 and the template boas_vindas, which the
// main organization has (as `serve --dev` gives a new installation), and
// the oldest active RCS integration, which the RCS examples leave implicit.
func TestSeedMessagingExamples(t *testing.T) {
	cases := []struct {
		file    string
		channel string
		typ     string
		content map[string]any // nil: not checked in full
	}{
		{"whatsapp-text.curl", "whatsapp", "text", map[string]any{"text": "Ola! Como posso ajudar?"}},
		{"whatsapp-template.curl", "whatsapp", "template",
			map[string]any{"template_name": "boas_vindas", "template_language": "pt_BR", "variables": []any{"Joao"}}},
		{"rcs-text.curl", "rcs", "text", map[string]any{"text": "Ola! Como posso ajudar?"}},
		{"rcs-card.curl", "rcs", "card", nil},
		{"rcs-carousel.curl", "rcs", "carousel", nil},
		{"rcs-replyable-text.curl", "rcs", "replyable_text", nil},
	}
	forEachTarget(t, func(t *testing.T, tg *target) {
		for _, tc := range cases {
			t.Run(tc.file, func(t *testing.T) {
				status, body := runSeedCurl(t, tg, tg.key, tc.file)
				if status != http.StatusCreated {
					t.Fatalf("%d %s, want 201", status, body)
				}
				var m client.Message
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatalf("not a message: %v: %s", err, body)
				}
				if string(m.Channel) != tc.channel || string(m.Type) != tc.typ || m.Status != "sent" ||
					m.Direction != "outbound" || m.Phone != "5511999999999" {
					t.Errorf("got %s %s %s %s to %s, want a sent outbound %s %s to 5511999999999",
						m.Channel, m.Type, m.Status, m.Direction, m.Phone, tc.channel, tc.typ)
				}
				if pid, err := m.ProviderMessageId.Get(); err != nil || pid == "" {
					t.Errorf("provider_message_id %v", m.ProviderMessageId)
				}
				if tc.channel == "whatsapp" && m.IntegrationId != seededWhatsAppID {
					t.Errorf("integration_id %d, want the example's %d", m.IntegrationId, seededWhatsAppID)
				}
				if tc.content != nil && !reflect.DeepEqual(m.Content, tc.content) {
					t.Errorf("content %v, want %v", m.Content, tc.content)
				}
				switch tc.typ {
				case "card":
					// The card's fields, as the example sent them.
					buttons, _ := m.Content["buttons"].([]any)
					if m.Content["title"] != "Produto em Destaque" || m.Content["description"] != "Confira nossa oferta especial!" ||
						m.Content["media_url"] != "https://exemplo.com/imagem.jpg" || len(buttons) != 2 {
						t.Errorf("card content %v", m.Content)
					}
				case "carousel":
					cs, _ := m.Content["cards"].([]any)
					if len(cs) != 2 || m.Content["card_width"] != "MEDIUM" {
						t.Errorf("carousel content %v", m.Content)
					}
				case "replyable_text":
					qs, _ := m.Content["quick_replies"].([]any)
					if m.Content["text"] != "Qual opcao voce prefere?" || len(qs) != 3 {
						t.Errorf("replyable_text content %v", m.Content)
					}
				}
				// The history has it as the example returned it.
				sameMessage(t, fetchMessage(t, tg, tg.key, m.Id), m)
			})
		}
	})
}
