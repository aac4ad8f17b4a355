package wire

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/impl"
)

// Event encodes an outbox event of type typ about resource (a *impl.Lead,
// *impl.Message, *impl.Handoff or impl.TestEvent) into its data, the resource
// as the API returns it, and its body, the envelope webhooks.yaml types for
// that event. It refuses a resource that is not the event's.
func Event(typ, id string, at time.Time, resource any) (data, body []byte, err error) {
	var v any
	switch r := resource.(type) {
	case *impl.Lead:
		v, err = Lead(r), eventOf(typ, "a lead", impl.EventLeadCreated, impl.EventLeadUpdated, impl.EventLeadQualified)
	case *impl.Message:
		v, err = Message(r), eventOf(typ, "a message", impl.EventMessageReceived, impl.EventMessageSent,
			impl.EventMessageDelivered, impl.EventMessageRead, impl.EventMessageFailed)
	case *impl.Handoff:
		v, err = Handoff(r), eventOf(typ, "a handoff", impl.EventHandoffCreated, impl.EventHandoffClosed)
	case impl.TestEvent:
		v, err = webhooks.WebhookTestData{WebhookId: r.WebhookID, Message: r.Message}, eventOf(typ, "a test event's data", impl.EventWebhookTest)
	default:
		return nil, nil, fmt.Errorf("encode %s event: no mapping for %T", typ, resource)
	}
	if err != nil {
		return nil, nil, err
	}
	if data, err = json.Marshal(v); err != nil {
		return nil, nil, fmt.Errorf("encode %s event: %w", typ, err)
	}
	body, err = envelope(typ, id, at.UTC(), data)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s envelope: %w", typ, err)
	}
	return data, body, nil
}

// eventOf refuses typ unless it is one of the events whose data is what.
func eventOf(typ, what string, events ...string) error {
	if !slices.Contains(events, typ) {
		return fmt.Errorf("encode %s event: %s is not its data", typ, what)
	}
	return nil
}

// envelope writes the body of an event around data, the encoding of its
// resource, as json.Marshal writes the event types of webhooks.yaml (their
// members are created_at, data, event and id, in that order; a test holds
// every event to it). Marshalling the typed envelope encoded the resource
// a second time: for an RCS carousel's message.sent, 8 % of the send.
func envelope(typ, id string, at time.Time, data []byte) ([]byte, error) {
	created, err := at.MarshalJSON()
	if err != nil {
		return nil, err
	}
	event, err := json.Marshal(typ)
	if err != nil {
		return nil, err
	}
	eventID, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(created)+len(data)+len(event)+len(eventID)+40)
	b = append(b, `{"created_at":`...)
	b = append(b, created...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"event":`...)
	b = append(b, event...)
	b = append(b, `,"id":`...)
	b = append(b, eventID...)
	return append(b, '}'), nil
}
