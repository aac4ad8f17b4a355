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
