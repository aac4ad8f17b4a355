package wire

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

// BenchmarkLeadListEncoding encodes a page of 25 leads as GET /leads does.
func BenchmarkLeadListEncoding(b *testing.B) {
	name, email := "Maria Silva", "maria@empresa.com"
	deal := 15000.0
	at := time.Date(2026, 3, 13, 14, 2, 11, 500, time.UTC)
	var page LeadListJSON
	for i := range 25 {
		page.Data = append(page.Data, LeadForEncoding(&impl.Lead{ID: int64(i + 1), Phone: "5511999999999", Name: &name,
			Email: &email, DealValue: &deal, Temperature: "hot", LeadScore: 85, CreatedAt: at, UpdatedAt: at}))
	}
	benchEncode(b, page)
}

// BenchmarkMessageListEncoding encodes a page of 25 messages as GET
// /messages does (mirror), half of them failed with the provider's words,
// and as the generated api.MessageList did before (generated).
func BenchmarkMessageListEncoding(b *testing.B) {
	at := time.Date(2026, 3, 13, 14, 2, 11, 500, time.UTC)
	lead, pid, reason, code := int64(7), "wamid.HBgNNTUxMTk5OTk5OTk5ORUCABEYEjA", "Message undeliverable (HTTP 400)", "131026"
	var mirror MessageListJSON
	var generated api.MessageList
	for i := range 25 {
		m := &impl.Message{ID: int64(i + 1), IntegrationID: 2, Channel: "whatsapp", Direction: "outbound", Type: "text",
			Status: "read", LeadID: &lead, Phone: "5511999999999", Content: []byte(`{"text":"Ola! Como posso ajudar?"}`),
			ProviderMessageID: &pid, SentAt: &at, DeliveredAt: &at, ReadAt: &at, CreatedAt: at, UpdatedAt: at}
		if i%2 == 1 {
			m.Status, m.ReadAt, m.DeliveredAt, m.FailedAt, m.Error, m.ErrorCode = "failed", nil, nil, &at, &reason, &code
		}
		mirror.Data = append(mirror.Data, MessageForEncoding(m))
		generated.Data = append(generated.Data, Message(m))
	}
	for name, page := range map[string]any{"mirror": mirror, "generated": generated} {
		b.Run(name, func(b *testing.B) { benchEncode(b, page) })
	}
}

// benchEncode times v's encoding as jsonAnswer writes it.
func benchEncode(b *testing.B, v any) {
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := json.NewEncoder(&buf).Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliveryListEncoding encodes a page of 25 deliveries, each with
// one attempt (a fifth refused, with the receiver's answer), as GET
// /webhooks/{id}/deliveries does (mirror) and as the generated
// api.DeliveryList did (generated).
func BenchmarkDeliveryListEncoding(b *testing.B) {
	at := time.Date(2026, 3, 13, 14, 2, 11, 500, time.UTC)
	ok, refused, why, answer := int32(200), int32(400), "HTTP 400", `{"error":"invalid signature"}`
	var mirror DeliveryListJSON
	var generated api.DeliveryList
	for i := range 25 {
		d := &impl.Delivery{ID: int64(i + 1), WebhookID: 2, EventID: "evt_01JPA1", Event: impl.EventLeadCreated,
			MessageID: "msg_01JPA1", Status: impl.DeliverySucceeded, CreatedAt: at, UpdatedAt: at,
			Attempts: []impl.DeliveryAttempt{{AttemptedAt: at, StatusCode: &ok, DurationMS: 42}}}
		if i%5 == 0 {
			d.Status, d.Attempts[0].StatusCode, d.Attempts[0].Error, d.Attempts[0].ResponseBody = impl.DeliveryFailed, &refused, &why, &answer
		}
		mirror.Data = append(mirror.Data, DeliveryForEncoding(d))
		generated.Data = append(generated.Data, Delivery(d))
	}
	for name, page := range map[string]any{"mirror": mirror, "generated": generated} {
		b.Run(name, func(b *testing.B) { benchEncode(b, page) })
	}
}
