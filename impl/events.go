package impl

import (
	"encoding/json"
	"time"
)

// Event types written to the outbox. openapi/webhooks.yaml describes each
// one's payload; EventTypes lists those a webhook can subscribe to.
const (
	EventLeadCreated     = "lead.created"
	EventLeadUpdated     = "lead.updated"
	EventLeadQualified   = "lead.qualified"
	EventMessageReceived = "message.received"
	EventMessageSent     = "message.sent"
	// The lifecycle of a message sent: see Message.Advance.
	EventMessageDelivered = "message.delivered"
	EventMessageRead      = "message.read"
	EventMessageFailed    = "message.failed"
	EventHandoffCreated   = "handoff.created"
	EventHandoffClosed    = "handoff.closed"
	// EventWebhookTest is sent only by the test endpoint, to one webhook.
	EventWebhookTest = "webhook.test"
)

// EventTypes are the subscribable events, in the catalog's order.
var EventTypes = []string{
	EventLeadCreated, EventLeadUpdated, EventLeadQualified,
	EventMessageReceived, EventMessageSent,
	EventMessageDelivered, EventMessageRead, EventMessageFailed,
	EventHandoffCreated, EventHandoffClosed,
}

// Event is a row of the outbox: something that happened, written in the
// same transaction as the change, for webhook delivery to pick up. Its body
// (the envelope every delivery sends) is fixed when it is written, so every
// attempt signs and sends the same bytes.
type Event struct {
	ID             int64
	OrganizationID int64
	PublicID       string // "evt_...", the envelope's id
	Type           string
	// Payload is the envelope's data: the resource as the API returns it.
	Payload   json.RawMessage
	CreatedAt time.Time
}

// TestEvent is the data of a webhook.test event: which webhook it tests.
type TestEvent struct {
	WebhookID int64
	Message   string
}

// TestEventMessage is what every webhook.test event says.
const TestEventMessage = "This is a test event from IAGENTE SDR."
