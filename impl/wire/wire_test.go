package wire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/impl"
)

// The stored content of a message is what the history returns, so its shape
// is part of the API: a card's fields sit at the top level, as the partner
// sent them, and empty fields are left out.
func TestRCSContentShape(t *testing.T) {
	card := &impl.RCSContent{Type: "card", Card: &impl.RCSCard{Title: "Oferta", MediaURL: "https://x.example/a.png",
		Buttons: []impl.RCSButton{{Type: impl.ButtonURL, Text: "Ver", URL: "https://x.example"}}}}
	got, err := RCSContent(card)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"title":"Oferta","media_url":"https://x.example/a.png","buttons":[{"type":"url","text":"Ver","url":"https://x.example"}]}`
	if string(got) != want {
		t.Errorf("card content\n got %s\nwant %s", got, want)
	}
	lat, long := -23.5, -46.6
	loc, _ := RCSContent(&impl.RCSContent{Type: "location", Latitude: &lat, Longitude: &long, Label: "Loja"})
	if want := `{"latitude":-23.5,"longitude":-46.6,"label":"Loja"}`; string(loc) != want {
		t.Errorf("location content %s, want %s", loc, want)
	}
}

func TestWhatsAppContentShape(t *testing.T) {
	got, _ := WhatsAppContent(&impl.WhatsAppContent{Type: "template", TemplateName: "boas_vindas",
		TemplateLanguage: "pt_BR", Variables: []string{"Maria"}})
	if want := `{"template_name":"boas_vindas","template_language":"pt_BR","variables":["Maria"]}`; string(got) != want {
		t.Errorf("template content %s, want %s", got, want)
	}
}

func TestEventEnvelope(t *testing.T) {
	at := time.Date(2026, 3, 13, 14, 2, 11, 0, time.FixedZone("BRT", -3*3600))
	name := "Maria"
	lead := &impl.Lead{ID: 9, Phone: "5511999999999", Name: &name, Temperature: "hot", CreatedAt: at, UpdatedAt: at}
	data, body, err := Event(impl.EventLeadQualified, "evt_1", at, lead)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		ID        string          `json:"id"`
		Event     string          `json:"event"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if env.ID != "evt_1" || env.Event != impl.EventLeadQualified || env.CreatedAt != "2026-03-13T17:02:11Z" {
		t.Errorf("envelope %s", body)
	}
	// data is the lead exactly as the REST API returns it.
	rest, _ := json.Marshal(Lead(lead))
	if string(env.Data) != string(rest) || string(data) != string(rest) {
		t.Errorf("data %s\n rest %s", env.Data, rest)
	}
	if _, _, err := Event(impl.EventMessageSent, "evt_2", at, lead); err == nil {
		t.Error("a lead was accepted as a message.sent event's data")
	}
	if _, _, err := Event(impl.EventLeadCreated, "evt_3", at, "not a resource"); err == nil {
		t.Error("an unknown resource was accepted")
	}
}

// The body Event writes around the data is byte for byte what json.Marshal
// writes for the event's type in webhooks.yaml, for every event.
func TestEventBodyIsTheTypedEnvelope(t *testing.T) {
	at := time.Date(2026, 3, 13, 14, 2, 11, 123456000, time.FixedZone("BRT", -3*3600))
	utc := at.UTC()
	name := "Maria <M&M>"
	lead := &impl.Lead{ID: 9, Phone: "5511999999999", Name: &name, Temperature: "hot", CreatedAt: at, UpdatedAt: at}
	leadID := int64(9)
	msg := &impl.Message{ID: 4, IntegrationID: 2, Channel: "rcs", Direction: "outbound", Type: "carousel", Status: "sent",
		LeadID: &leadID, Phone: "5511999999999", CreatedAt: at, UpdatedAt: at, SentAt: &at,
		Content: json.RawMessage(`{"card_width":"MEDIUM","cards":[{"title":"A <b>","buttons":[{"type":"url","text":"Ver","url":"https://exemplo.com/?a=1&b=2"}]}]}`)}
	handoff := &impl.Handoff{ID: 3, LeadID: 9, Reason: "quer falar com humano", Status: "open", CreatedAt: at, UpdatedAt: at}
	test := impl.TestEvent{WebhookID: 5, Message: "This is a test event from IAGENTE SDR."}
	for _, c := range []struct {
		typ      string
		resource any
		typed    any
	}{
		{impl.EventLeadCreated, lead, webhooks.LeadCreatedEvent{Id: "evt_1", Event: impl.EventLeadCreated, CreatedAt: utc, Data: Lead(lead)}},
		{impl.EventLeadUpdated, lead, webhooks.LeadUpdatedEvent{Id: "evt_1", Event: impl.EventLeadUpdated, CreatedAt: utc, Data: Lead(lead)}},
		{impl.EventLeadQualified, lead, webhooks.LeadQualifiedEvent{Id: "evt_1", Event: impl.EventLeadQualified, CreatedAt: utc, Data: Lead(lead)}},
		{impl.EventMessageReceived, msg, webhooks.MessageReceivedEvent{Id: "evt_1", Event: impl.EventMessageReceived, CreatedAt: utc, Data: Message(msg)}},
		{impl.EventMessageSent, msg, webhooks.MessageSentEvent{Id: "evt_1", Event: impl.EventMessageSent, CreatedAt: utc, Data: Message(msg)}},
		{impl.EventMessageDelivered, msg, webhooks.MessageDeliveredEvent{Id: "evt_1", Event: impl.EventMessageDelivered, CreatedAt: utc, Data: Message(msg)}},
		{impl.EventMessageRead, msg, webhooks.MessageReadEvent{Id: "evt_1", Event: impl.EventMessageRead, CreatedAt: utc, Data: Message(msg)}},
		{impl.EventMessageFailed, msg, webhooks.MessageFailedEvent{Id: "evt_1", Event: impl.EventMessageFailed, CreatedAt: utc, Data: Message(msg)}},
		{impl.EventHandoffCreated, handoff, webhooks.HandoffCreatedEvent{Id: "evt_1", Event: impl.EventHandoffCreated, CreatedAt: utc, Data: Handoff(handoff)}},
		{impl.EventHandoffClosed, handoff, webhooks.HandoffClosedEvent{Id: "evt_1", Event: impl.EventHandoffClosed, CreatedAt: utc, Data: Handoff(handoff)}},
		{impl.EventWebhookTest, test, webhooks.WebhookTestEvent{Id: "evt_1", Event: impl.EventWebhookTest, CreatedAt: utc,
			Data: webhooks.WebhookTestData{WebhookId: 5, Message: test.Message}}},
	} {
		_, body, err := Event(c.typ, "evt_1", at, c.resource)
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		want, err := json.Marshal(c.typed)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != string(want) {
			t.Errorf("%s:\n body  %s\n typed %s", c.typ, body, want)
		}
	}
	if _, _, err := Event(impl.EventWebhookTest, "evt_1", at, lead); err == nil {
		t.Error("a lead was accepted as a webhook.test event's data")
	}
}

// A message's stored content is returned as it is when it is a JSON object,
// and as an empty object otherwise (a defect, not a failed read).
func TestMessageContentIsTheStoredObject(t *testing.T) {
	for stored, want := range map[string]string{
		`{"text":"oi","b":[1,2]}`: `{"text":"oi","b":[1,2]}`,
		` {"z":1,"a":2}`:          `{"z":1,"a":2}`,
		``:                        `{}`,
		`[1,2]`:                   `{}`,
		`"text"`:                  `{}`,
		`{"text":`:                `{}`,
	} {
		b, err := json.Marshal(Message(&impl.Message{Content: json.RawMessage(stored)}))
		if err != nil {
			t.Fatalf("%q: %v", stored, err)
		}
		var got struct{ Content json.RawMessage }
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %v", stored, err)
		}
		if string(got.Content) != want {
			t.Errorf("stored %q: content %s, want %s", stored, got.Content, want)
		}
	}
}

// LeadJSON is written exactly as the generated api.Lead, and has its
// fields: a field added to the spec's Lead fails here until LeadJSON has it.
func TestLeadJSONIsTheGeneratedLead(t *testing.T) {
	sameFields(t, api.Lead{}, LeadJSON{})
	sameFields(t, api.LeadList{}, LeadListJSON{})

	name, email, company := `Maria <b>"Silva"</b> & Cia`, "maria@empresa.com", "Ação\u2028Ltda"
	deals := []float64{15000, 0.1, 1e21, 123456789.25}
	at := time.Date(2026, 3, 13, 14, 2, 11, 500, time.FixedZone("BRT", -3*3600))
	var leads []*impl.Lead
	for i := range deals {
		leads = append(leads,
			&impl.Lead{ID: int64(i + 1), Phone: "5511999999999", Temperature: "hot", LeadScore: 85, CreatedAt: at, UpdatedAt: at},
			&impl.Lead{ID: int64(100 + i), Phone: "5511988887777", Name: &name, Email: &email, CompanyName: &company,
				DealValue: &deals[i], Temperature: "frozen", LeadScore: int32(i), CreatedAt: at, UpdatedAt: at.Add(time.Hour)})
	}
	list, mirror := api.LeadList{Meta: api.LeadPageMeta{CurrentPage: 2, PerPage: 25, Total: 51, TotalPages: 3}}, LeadListJSON{}
	for _, l := range leads {
		sameJSON(t, fmt.Sprintf("lead %d", l.ID), Lead(l), LeadForEncoding(l))
		list.Data = append(list.Data, Lead(l))
		mirror.Data = append(mirror.Data, LeadForEncoding(l))
	}
	mirror.Meta = list.Meta
	sameJSON(t, "the list", list, mirror)
}

// MessageJSON is written exactly as the generated api.Message, whatever
// its nullable fields hold, and has its fields.
func TestMessageJSONIsTheGeneratedMessage(t *testing.T) {
	sameFields(t, api.Message{}, MessageJSON{})
	sameFields(t, api.MessageList{}, MessageListJSON{})

	at := time.Date(2026, 3, 13, 14, 2, 11, 123456789, time.FixedZone("BRT", -3*3600))
	later := at.Add(90 * time.Second)
	lead, pid := int64(7), "wamid.HBgN<&>\u2028"
	reason, code, title := `Re-engagement "message" <b>`, "131047", "Ação & fim"
	msgs := []*impl.Message{
		{ID: 1, IntegrationID: 2, Channel: "whatsapp", Direction: "outbound", Type: "text", Status: "queued",
			Phone: "5511999999999", Content: json.RawMessage(`{"text": "Oi <b>\u00e9</b>"}`), CreatedAt: at, UpdatedAt: at},
		{ID: 2, IntegrationID: 2, Channel: "rcs", Direction: "outbound", Type: "card", Status: "failed", LeadID: &lead,
			Phone: "5511999999999", Content: json.RawMessage(`{"title":"x"}`), ProviderMessageID: &pid, Error: &reason,
			ErrorCode: &code, ErrorTitle: &title, SentAt: &at, DeliveredAt: &later, ReadAt: &later, FailedAt: &later,
			CreatedAt: at, UpdatedAt: later},
		{ID: 3, IntegrationID: 2, Channel: "whatsapp", Direction: "inbound", Type: "text", Status: "received",
			Phone: "5511999999999", Content: json.RawMessage(`not an object`), CreatedAt: at, UpdatedAt: at},
	}
	list, mirror := api.MessageList{}, MessageListJSON{}
	for _, m := range msgs {
		sameJSON(t, fmt.Sprintf("message %d", m.ID), Message(m), MessageForEncoding(m))
		list.Data = append(list.Data, Message(m))
		mirror.Data = append(mirror.Data, MessageForEncoding(m))
	}
	sameJSON(t, "the list", list, mirror)
}

// sameFields fails unless structs a and b have the same fields, by name
// and JSON name, in the same order.
func sameFields(t *testing.T, a, b any) {
	t.Helper()
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta.NumField() != tb.NumField() {
		t.Fatalf("%s has %d fields, %s %d", ta, ta.NumField(), tb, tb.NumField())
	}
	for i := range ta.NumField() {
		fa, fb := ta.Field(i), tb.Field(i)
		if fa.Name != fb.Name || fa.Tag.Get("json") != fb.Tag.Get("json") {
			t.Errorf("field %d: %s %q in %s, %s %q in %s", i, fa.Name, fa.Tag.Get("json"), ta, fb.Name, fb.Tag.Get("json"), tb)
		}
	}
}

// DeliveryJSON is written exactly as the generated api.Delivery, with and
// without attempts, and has its fields, as have its attempts.
func TestDeliveryJSONIsTheGeneratedDelivery(t *testing.T) {
	sameFields(t, api.Delivery{}, DeliveryJSON{})
	sameFields(t, api.DeliveryAttempt{}, DeliveryAttemptJSON{})
	sameFields(t, api.DeliveryList{}, DeliveryListJSON{})

	at := time.Date(2026, 3, 13, 14, 2, 11, 987654321, time.FixedZone("BRT", -3*3600))
	next := at.Add(time.Minute)
	code, refused := int32(400), int32(500)
	why, body := "HTTP 400", `{"erro":"assinatura <inválida> & \u2028"}`
	deliveries := []*impl.Delivery{
		{ID: 1, WebhookID: 2, EventID: "evt_1", Event: impl.EventLeadCreated, MessageID: "msg_1", Status: impl.DeliveryPending,
			Attempts: []impl.DeliveryAttempt{}, NextAttemptAt: &next, CreatedAt: at, UpdatedAt: at},
		{ID: 2, WebhookID: 2, EventID: "evt_2", Event: impl.EventLeadUpdated, MessageID: "msg_2", Status: impl.DeliveryFailed,
			Attempts: []impl.DeliveryAttempt{
				{AttemptedAt: at, StatusCode: &code, DurationMS: 12, Error: &why, ResponseBody: &body},
				{AttemptedAt: next, DurationMS: 10000, Error: &why},
				{AttemptedAt: next, StatusCode: &refused, DurationMS: 3},
			}, CreatedAt: at, UpdatedAt: next},
	}
	list, mirror := api.DeliveryList{}, DeliveryListJSON{}
	for _, d := range deliveries {
		sameJSON(t, fmt.Sprintf("delivery %d", d.ID), Delivery(d), DeliveryForEncoding(d))
		list.Data = append(list.Data, Delivery(d))
		mirror.Data = append(mirror.Data, DeliveryForEncoding(d))
	}
	sameJSON(t, "the list", list, mirror)
}

// sameJSON fails unless generated and mirror encode to the same bytes.
func sameJSON(t *testing.T, what string, generated, mirror any) {
	t.Helper()
	a, err := json.Marshal(generated)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(mirror)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Errorf("%s:\n generated %s\n mirror    %s", what, a, b)
	}
}
