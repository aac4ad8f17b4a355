package wire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/impl"
)

// Event encodes an outbox event of type typ about resource (a *impl.Lead,
// *impl.Message, *impl.Handoff or impl.TestEvent) into its data, the resource
// as the API returns it, and its body, the envelope webhooks.yaml types for
// that event. It refuses a resource that is not the event's.
func Event(typ, id string, at time.Time, resource any) (data, body []byte, err error) {
	at = at.UTC()
	var envelope any
	switch r := resource.(type) {
	case *impl.Lead:
		v := Lead(r)
		data, envelope, err = leadEvent(typ, id, at, v)
	case *impl.Message:
		v := Message(r)
		data, envelope, err = messageEvent(typ, id, at, v)
	case *impl.Handoff:
		v := Handoff(r)
		data, envelope, err = handoffEvent(typ, id, at, v)
	case impl.TestEvent:
		if typ != impl.EventWebhookTest {
			return nil, nil, fmt.Errorf("encode %s event: a test event's data", typ)
		}
		v := webhooks.WebhookTestData{WebhookId: r.WebhookID, Message: r.Message}
		envelope = webhooks.WebhookTestEvent{Id: id, Event: webhooks.WebhookTestEventEvent(typ), CreatedAt: at, Data: v}
		data, err = json.Marshal(v)
	default:
		return nil, nil, fmt.Errorf("encode %s event: no mapping for %T", typ, resource)
	}
	if err != nil {
		return nil, nil, err
	}
	body, err = json.Marshal(envelope)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s envelope: %w", typ, err)
	}
	return data, body, nil
}

func leadEvent(typ, id string, at time.Time, v api.Lead) ([]byte, any, error) {
	var env any
	switch typ {
	case impl.EventLeadCreated:
		env = webhooks.LeadCreatedEvent{Id: id, Event: webhooks.LeadCreatedEventEvent(typ), CreatedAt: at, Data: v}
	case impl.EventLeadUpdated:
		env = webhooks.LeadUpdatedEvent{Id: id, Event: webhooks.LeadUpdatedEventEvent(typ), CreatedAt: at, Data: v}
	case impl.EventLeadQualified:
		env = webhooks.LeadQualifiedEvent{Id: id, Event: webhooks.LeadQualifiedEventEvent(typ), CreatedAt: at, Data: v}
	default:
		return nil, nil, fmt.Errorf("encode %s event: a lead is not its data", typ)
	}
	data, err := json.Marshal(v)
	return data, env, err
}

func messageEvent(typ, id string, at time.Time, v api.Message) ([]byte, any, error) {
	var env any
	switch typ {
	case impl.EventMessageReceived:
		env = webhooks.MessageReceivedEvent{Id: id, Event: webhooks.MessageReceivedEventEvent(typ), CreatedAt: at, Data: v}
	case impl.EventMessageSent:
		env = webhooks.MessageSentEvent{Id: id, Event: webhooks.MessageSentEventEvent(typ), CreatedAt: at, Data: v}
	case impl.EventMessageDelivered:
		env = webhooks.MessageDeliveredEvent{Id: id, Event: webhooks.MessageDeliveredEventEvent(typ), CreatedAt: at, Data: v}
	case impl.EventMessageRead:
		env = webhooks.MessageReadEvent{Id: id, Event: webhooks.MessageReadEventEvent(typ), CreatedAt: at, Data: v}
	case impl.EventMessageFailed:
		env = webhooks.MessageFailedEvent{Id: id, Event: webhooks.MessageFailedEventEvent(typ), CreatedAt: at, Data: v}
	default:
		return nil, nil, fmt.Errorf("encode %s event: a message is not its data", typ)
	}
	data, err := json.Marshal(v)
	return data, env, err
}

func handoffEvent(typ, id string, at time.Time, v api.Handoff) ([]byte, any, error) {
	var env any
	switch typ {
	case impl.EventHandoffCreated:
		env = webhooks.HandoffCreatedEvent{Id: id, Event: webhooks.HandoffCreatedEventEvent(typ), CreatedAt: at, Data: v}
	case impl.EventHandoffClosed:
		env = webhooks.HandoffClosedEvent{Id: id, Event: webhooks.HandoffClosedEventEvent(typ), CreatedAt: at, Data: v}
	default:
		return nil, nil, fmt.Errorf("encode %s event: a handoff is not its data", typ)
	}
	data, err := json.Marshal(v)
	return data, env, err
}
