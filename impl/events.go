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
	EventHandoffCreated  = "handoff.created"
	EventHandoffClosed   = "handoff.closed"
	// EventWebhookTest is sent only by the test endpoint, to one webhook.
	EventWebhookTest = "webhook.test"
)

// EventTypes are the subscribable events, in the catalog's order.
var EventTypes = []string{
	EventLeadCreated, EventLeadUpdated, EventLeadQualified,
	EventMessageReceived, EventMessageSent,
	EventHandoffCreated, EventHandoffClosed,
}

// Event is a row of the outbox: something that happened, written in the
// same transaction as the change, for webhook delivery to pick up.
type Event struct {
	ID             int64  `db:"id"`
	OrganizationID int64  `db:"organization_id"`
	PublicID       string `db:"public_id"` // "evt_...", the envelope's id
	Type           string `db:"type"`
	// Payload is the envelope's data: the resource as the API returns it.
	Payload   json.RawMessage `db:"payload"`
	CreatedAt time.Time       `db:"created_at"`
}

// Envelope is the body of every webhook delivery. Its bytes are fixed when
// the event is written, so every attempt signs and sends the same body.
type Envelope struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}
