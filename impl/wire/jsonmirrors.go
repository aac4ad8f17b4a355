package wire

import (
	"encoding/json"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

// LeadJSON is api.Lead for encoding alone: the same fields, in the same
// order, with the same names, but the nullable ones are pointers rather
// than nullable.Nullable. A Nullable is a map whose MarshalJSON encodes its
// value with a json.Marshal of its own, which encoding/json then checks
// again: a lead took 3.9 µs to encode, and 1.7 this way, and a list page
// holds 25 (go test -bench, docs/benchmarks.md). A nil pointer is written
// as null, so the bytes are the same; TestLeadJSONIsTheGeneratedLead
// compares them, and fails when the generated type gains a field.
type LeadJSON struct {
	CompanyName *string         `json:"company_name"`
	CreatedAt   JSONTime        `json:"created_at"`
	DealValue   *float64        `json:"deal_value"`
	Email       *string         `json:"email"`
	Id          int64           `json:"id"`
	LeadScore   api.LeadScore   `json:"lead_score"`
	Name        *string         `json:"name"`
	Phone       api.Phone       `json:"phone"`
	Temperature api.Temperature `json:"temperature"`
	UpdatedAt   JSONTime        `json:"updated_at"`
}

// JSONTime is a time.Time that encoding/json writes through MarshalText
// instead of MarshalJSON: the same bytes (RFC 3339 with nanoseconds,
// quoted), but encoding/json re-reads and copies what a MarshalJSON
// returns, where it only quotes what a MarshalText returns. That check was
// a third of what encoding a lead cost (docs/benchmarks.md).
type JSONTime time.Time

// MarshalText implements encoding.TextMarshaler.
func (t JSONTime) MarshalText() ([]byte, error) { return time.Time(t).MarshalText() }

// LeadListJSON is api.LeadList with LeadJSON for its leads.
type LeadListJSON struct {
	Data []LeadJSON       `json:"data"`
	Meta api.LeadPageMeta `json:"meta"`
}

// LeadForEncoding is Lead(l) as a LeadJSON.
func LeadForEncoding(l *impl.Lead) LeadJSON {
	return LeadJSON{
		CompanyName: l.CompanyName,
		CreatedAt:   JSONTime(l.CreatedAt.UTC()),
		DealValue:   l.DealValue,
		Email:       l.Email,
		Id:          l.ID,
		LeadScore:   l.LeadScore,
		Name:        l.Name,
		Phone:       l.Phone,
		Temperature: api.Temperature(l.Temperature),
		UpdatedAt:   JSONTime(l.UpdatedAt.UTC()),
	}
}

// MessageJSON is api.Message for encoding alone, as LeadJSON is api.Lead:
// a message has eight nullable fields, so a page of them paid for eight
// inner json.Marshal calls a message. TestMessageJSONIsTheGeneratedMessage
// compares the bytes.
type MessageJSON struct {
	Channel           api.Channel       `json:"channel"`
	Content           json.RawMessage   `json:"content"`
	CreatedAt         JSONTime          `json:"created_at"`
	DeliveredAt       *JSONTime         `json:"delivered_at"`
	Direction         api.Direction     `json:"direction"`
	Error             *string           `json:"error"`
	ErrorCode         *string           `json:"error_code"`
	ErrorTitle        *string           `json:"error_title"`
	FailedAt          *JSONTime         `json:"failed_at"`
	Id                int64             `json:"id"`
	IntegrationId     int64             `json:"integration_id"`
	LeadId            *int64            `json:"lead_id"`
	Phone             api.Phone         `json:"phone"`
	ProviderMessageId *string           `json:"provider_message_id"`
	ReadAt            *JSONTime         `json:"read_at"`
	SentAt            *JSONTime         `json:"sent_at"`
	Status            api.MessageStatus `json:"status"`
	Type              api.MessageType   `json:"type"`
	UpdatedAt         JSONTime          `json:"updated_at"`
}

// MessageListJSON is api.MessageList with MessageJSON for its messages.
type MessageListJSON struct {
	Data []MessageJSON       `json:"data"`
	Meta api.MessagePageMeta `json:"meta"`
}

// MessageForEncoding is Message(m) as a MessageJSON.
func MessageForEncoding(m *impl.Message) MessageJSON {
	return MessageJSON{
		Channel: api.Channel(m.Channel), Content: storedObject(m.Content), CreatedAt: JSONTime(m.CreatedAt.UTC()),
		DeliveredAt: jsonTime(m.DeliveredAt), Direction: api.Direction(m.Direction), Error: m.Error, ErrorCode: m.ErrorCode,
		ErrorTitle: m.ErrorTitle, FailedAt: jsonTime(m.FailedAt), Id: m.ID, IntegrationId: m.IntegrationID, LeadId: m.LeadID,
		Phone: m.Phone, ProviderMessageId: m.ProviderMessageID, ReadAt: jsonTime(m.ReadAt), SentAt: jsonTime(m.SentAt),
		Status: api.MessageStatus(m.Status), Type: api.MessageType(m.Type), UpdatedAt: JSONTime(m.UpdatedAt.UTC()),
	}
}

// jsonTime is t in UTC as a JSONTime, nil when t is.
func jsonTime(t *time.Time) *JSONTime {
	if t == nil {
		return nil
	}
	u := JSONTime(t.UTC())
	return &u
}

// DeliveryJSON is api.Delivery for encoding alone, as LeadJSON is
// api.Lead: a delivery and each of its attempts carry nullable fields.
// TestDeliveryJSONIsTheGeneratedDelivery compares the bytes.
type DeliveryJSON struct {
	Attempts         []DeliveryAttemptJSON  `json:"attempts"`
	CreatedAt        JSONTime               `json:"created_at"`
	Event            api.DeliveredEventType `json:"event"`
	EventId          string                 `json:"event_id"`
	Id               int64                  `json:"id"`
	NextAttemptAt    *JSONTime              `json:"next_attempt_at"`
	Status           api.DeliveryStatus     `json:"status"`
	UpdatedAt        JSONTime               `json:"updated_at"`
	WebhookId        int64                  `json:"webhook_id"`
	WebhookMessageId string                 `json:"webhook_message_id"`
}

// DeliveryAttemptJSON is api.DeliveryAttempt for encoding alone.
type DeliveryAttemptJSON struct {
	AttemptedAt  JSONTime `json:"attempted_at"`
	DurationMs   int64    `json:"duration_ms"`
	Error        *string  `json:"error"`
	ResponseBody *string  `json:"response_body"`
	StatusCode   *int32   `json:"status_code"`
}

// DeliveryListJSON is api.DeliveryList with DeliveryJSON for its deliveries.
type DeliveryListJSON struct {
	Data []DeliveryJSON       `json:"data"`
	Meta api.DeliveryPageMeta `json:"meta"`
}

// DeliveryForEncoding is Delivery(d) as a DeliveryJSON.
func DeliveryForEncoding(d *impl.Delivery) DeliveryJSON {
	attempts := make([]DeliveryAttemptJSON, len(d.Attempts))
	for i, a := range d.Attempts {
		attempts[i] = DeliveryAttemptJSON{AttemptedAt: JSONTime(a.AttemptedAt.UTC()), DurationMs: a.DurationMS,
			Error: a.Error, ResponseBody: a.ResponseBody, StatusCode: a.StatusCode}
	}
	return DeliveryJSON{Attempts: attempts, CreatedAt: JSONTime(d.CreatedAt.UTC()), Event: api.DeliveredEventType(d.Event),
		EventId: d.EventID, Id: d.ID, NextAttemptAt: jsonTime(d.NextAttemptAt), Status: api.DeliveryStatus(d.Status),
		UpdatedAt: JSONTime(d.UpdatedAt.UTC()), WebhookId: d.WebhookID, WebhookMessageId: d.MessageID}
}
