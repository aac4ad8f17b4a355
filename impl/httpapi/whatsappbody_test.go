package httpapi

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

// Every kind of WhatsApp message, with its optional members present, absent
// and null, reads the same from the tree request validation decoded as from
// its bytes through the generated types.
func TestWhatsAppBodyReadsTheSameFromTheTree(t *testing.T) {
	bodies := []string{
		`{"integration_id":1,"type":"text","lead_id":123,"text":"Olá!"}`,
		`{"integration_id":1,"type":"text","phone":"+55 (11) 99999-9999","text":"Olá\nmundo"}`,
		`{"integration_id":1,"type":"template","phone":"11999999999","template_name":"boas_vindas","variables":["Joao","R$ 10"]}`,
		`{"integration_id":1,"type":"template","lead_id":5,"template_id":7}`,
		`{"integration_id":1,"type":"template","lead_id":5,"template_id":7,"variables":[]}`,
		`{"integration_id":1,"type":"template","lead_id":5,"template_name":"x","variables":null}`,
		`{"integration_id":1,"type":"image","lead_id":5,"media_url":"https://exemplo.com/a.jpg"}`,
		`{"integration_id":1,"type":"image","lead_id":5,"media_url":"https://exemplo.com/a.jpg","caption":"Oferta"}`,
		`{"integration_id":1,"type":"video","lead_id":5,"media_url":"https://exemplo.com/a.mp4","caption":null}`,
		`{"integration_id":1,"type":"document","phone":"11999999999","media_url":"https://exemplo.com/a.pdf","caption":"Contrato","filename":"contrato.pdf"}`,
		`{"integration_id":1,"type":"document","lead_id":5,"media_url":"https://exemplo.com/a.pdf"}`,
		`{"integration_id":1,"type":"audio","lead_id":5,"media_url":"https://exemplo.com/a.ogg"}`,
		`{"integration_id":9223372036854775807,"type":"text","lead_id":9223372036854775806,"text":"x"}`,
	}
	for _, text := range bodies {
		var body api.WhatsAppMessageCreate
		if err := json.Unmarshal([]byte(text), &body); err != nil {
			t.Fatal(err)
		}
		want, err := whatsAppRequest(context.Background(), &body)
		if err != nil {
			t.Fatalf("%s: from the bytes: %v", text, err)
		}
		if _, ok := whatsAppRequestOf(validatedTree(withTree(t, text))); !ok {
			t.Errorf("%s: the tree was not read", text)
		}
		got, err := whatsAppRequest(withTree(t, text), &body)
		if err != nil {
			t.Errorf("%s: %v", text, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %+v\n want %+v", text, got, want)
		}
	}
}

// With a tree, whatsAppRequest reads the tree, not the bytes; a tree that is
// not what validation passes sends it back to the bytes.
func TestWhatsAppBodyFromTheTree(t *testing.T) {
	var union api.WhatsAppMessageCreate
	if err := json.Unmarshal([]byte(`{"integration_id":4,"type":"text","lead_id":9,"text":"from the bytes"}`), &union); err != nil {
		t.Fatal(err)
	}
	fromBytes, err := whatsAppRequest(context.Background(), &union)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tree string
		want impl.WhatsAppRequest
	}{
		{`{"integration_id":1,"type":"text","lead_id":1,"text":"from the tree"}`,
			impl.WhatsAppRequest{IntegrationID: 1, Recipient: impl.Recipient{LeadID: ptr(int64(1))}, Content: impl.WhatsAppContent{Type: "text", Text: "from the tree"}}},
		// Whole numbers written as 2.0 or 3e0, which the generated types
		// refuse.
		{`{"integration_id":2.0,"type":"template","lead_id":3e0,"template_id":4.0}`,
			impl.WhatsAppRequest{IntegrationID: 2, Recipient: impl.Recipient{LeadID: ptr(int64(3))}, TemplateID: ptr(int64(4)),
				Content: impl.WhatsAppContent{Type: "template", Variables: []string{}}}},
		// Not what validation passes: read from the bytes.
		{`{"integration_id":"1","type":"text","lead_id":1,"text":"x"}`, fromBytes},
		{`{"integration_id":1,"type":"sticker","lead_id":1}`, fromBytes},
		{`{"integration_id":1,"type":"template","lead_id":1,"variables":"x"}`, fromBytes},
		{`{"integration_id":1,"type":"image","lead_id":1,"media_url":5}`, fromBytes},
		{`"text"`, fromBytes},
	} {
		got, err := whatsAppRequest(withTree(t, c.tree), &union)
		if err != nil {
			t.Errorf("%s: %v", c.tree, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", c.tree, got, c.want)
		}
	}
}
