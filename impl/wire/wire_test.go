package wire

import (
	"encoding/json"
	"testing"
	"time"

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
