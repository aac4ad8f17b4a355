package whatsappcloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/whatsappcloud"
	"github.com/iagente/iagente-sdr/internal/testctx"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

const (
	phoneNumberID = "106540352242922"
	token         = "EAAGm0PX4ZCpsBAKZCZAtest0token"
	recipient     = "5511987654321"
)

type fixture struct {
	fake   *graphapi.Server
	url    string
	client *whatsappcloud.Client
	integ  *impl.Integration
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fake := graphapi.New()
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	return &fixture{
		fake:   fake,
		url:    ts.URL,
		client: &whatsappcloud.Client{BaseURL: ts.URL, Version: "v21.0"},
		integ: &impl.Integration{
			ID: 7, OrganizationID: 3, Channel: impl.ChannelWhatsApp, Provider: impl.ProviderWhatsAppCloud, Active: true,
			PhoneNumber: "551130000000", PhoneNumberID: phoneNumberID, AccessToken: token, AppSecret: "app-secret",
		},
	}
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad expected JSON %s: %v", s, err)
	}
	return m
}

func asProviderError(t *testing.T, err error) *impl.ProviderError {
	t.Helper()
	var pe *impl.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *impl.ProviderError", err, err)
	}
	if pe.Provider != impl.ProviderWhatsAppCloud {
		t.Errorf("Provider = %q, want %q", pe.Provider, impl.ProviderWhatsAppCloud)
	}
	if strings.Contains(pe.Error(), token) {
		t.Errorf("error leaks the access token: %q", pe.Error())
	}
	return pe
}

func TestSendWhatsAppBodies(t *testing.T) {
	cases := []struct {
		name string
		msg  impl.WhatsAppContent
		want string
	}{
		{
			name: "text",
			msg:  impl.WhatsAppContent{Type: "text", Text: "Olá, <tudo> bem? & https://example.com"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"text",
				"text":{"preview_url":false,"body":"Olá, <tudo> bem? & https://example.com"}}`,
		},
		{
			name: "template with two variables",
			msg:  impl.WhatsAppContent{Type: "template", TemplateName: "order_update", TemplateLanguage: "pt_BR", Variables: []string{"Maria", "#1234"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"template",
				"template":{"name":"order_update","language":{"code":"pt_BR"},"components":[
					{"type":"body","parameters":[{"type":"text","text":"Maria"},{"type":"text","text":"#1234"}]}]}}`,
		},
		{
			name: "template without variables",
			msg:  impl.WhatsAppContent{Type: "template", TemplateName: "hello_world", TemplateLanguage: "en_US"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"template",
				"template":{"name":"hello_world","language":{"code":"en_US"}}}`,
		},
		{
			name: "image with caption",
			msg:  impl.WhatsAppContent{Type: "image", MediaURL: "https://cdn.example.com/a.jpg", Caption: "our catalogue"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"image",
				"image":{"link":"https://cdn.example.com/a.jpg","caption":"our catalogue"}}`,
		},
		{
			name: "image without caption",
			msg:  impl.WhatsAppContent{Type: "image", MediaURL: "https://cdn.example.com/a.jpg"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"image",
				"image":{"link":"https://cdn.example.com/a.jpg"}}`,
		},
		{
			name: "video",
			msg:  impl.WhatsAppContent{Type: "video", MediaURL: "https://cdn.example.com/v.mp4", Caption: "demo"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"video",
				"video":{"link":"https://cdn.example.com/v.mp4","caption":"demo"}}`,
		},
		{
			name: "document with filename and caption",
			msg:  impl.WhatsAppContent{Type: "document", MediaURL: "https://cdn.example.com/p.pdf", Caption: "the proposal", Filename: "proposal.pdf"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"document",
				"document":{"link":"https://cdn.example.com/p.pdf","caption":"the proposal","filename":"proposal.pdf"}}`,
		},
		{
			name: "audio drops caption and filename",
			msg:  impl.WhatsAppContent{Type: "audio", MediaURL: "https://cdn.example.com/a.ogg", Caption: "ignored", Filename: "ignored.ogg"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"5511987654321","biz_opaque_callback_data":"iagente-42","type":"audio",
				"audio":{"link":"https://cdn.example.com/a.ogg"}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			id, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &tc.msg)
			if err != nil {
				t.Fatalf("SendWhatsApp: %v", err)
			}
			reqs := f.fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("fake got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/v21.0/"+phoneNumberID+"/messages" {
				t.Errorf("request = %s %s, want POST /v21.0/%s/messages", r.Method, r.Path, phoneNumberID)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if want := mustJSON(t, tc.want); !reflect.DeepEqual(r.JSON, want) {
				t.Errorf("body =\n%s\nwant\n%s", r.Body, tc.want)
			}
			if r.Status != http.StatusOK {
				t.Errorf("fake answered %d, want 200 (a body Meta would reject?)", r.Status)
			}
			if id == "" || id != r.MessageID || !strings.HasPrefix(id, "wamid.") {
				t.Errorf("id = %q, want the fake's %q", id, r.MessageID)
			}
		})
	}
}

func TestSendWhatsAppDefaultsAndTrailingSlash(t *testing.T) {
	f := newFixture(t)
	c := &whatsappcloud.Client{BaseURL: f.url + "/"} // no Version
	if _, err := c.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.fake.Requests()[0].Path, "/"+whatsappcloud.DefaultVersion+"/"+phoneNumberID+"/messages"; got != want {
		t.Errorf("path = %q, want %q", got, want)
	}
}

func TestSendWhatsAppIDsAreThoseOfTheAnswers(t *testing.T) {
	f := newFixture(t)
	seen := map[string]bool{}
	for range 3 {
		id, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Errorf("got %d distinct ids over 3 sends", len(seen))
	}
}

func TestSendWhatsAppMetaError(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(1, http.StatusBadRequest, graphapi.MetaError(131030, "OAuthException",
		"(#131030) Recipient phone number not in allowed list",
		"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."))
	_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	want := impl.ProviderError{
		Provider: impl.ProviderWhatsAppCloud, Status: 400, Code: "131030",
		Message: "(#131030) Recipient phone number not in allowed list (Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again.)",
	}
	if *pe != want {
		t.Errorf("error = %+v\nwant    %+v", *pe, want)
	}
}

func TestSendWhatsAppMetaErrorWithoutDetails(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(1, http.StatusBadRequest, graphapi.MetaError(132001, "OAuthException", "(#132001) Template name does not exist in the translation", ""))
	_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42",
		&impl.WhatsAppContent{Type: "template", TemplateName: "nope", TemplateLanguage: "pt_BR"})
	pe := asProviderError(t, err)
	if pe.Status != 400 || pe.Code != "132001" || pe.Message != "(#132001) Template name does not exist in the translation" {
		t.Errorf("error = %+v", *pe)
	}
}

func TestSendWhatsAppWrongToken(t *testing.T) {
	f := newFixture(t)
	f.fake.SetToken(phoneNumberID, "the-real-token")
	_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	if pe.Status != 401 || pe.Code != "190" || !strings.Contains(pe.Message, "Invalid OAuth access token") {
		t.Errorf("error = %+v", *pe)
	}
}

func TestSendWhatsAppRedactsTokenEchoedByMeta(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(1, http.StatusBadRequest, graphapi.MetaError(190, "OAuthException", "Malformed access token "+token, ""))
	_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err) // fails if the token is in the message
	if pe.Message != "Malformed access token [redacted]" {
		t.Errorf("Message = %q", pe.Message)
	}
}

// The token is redacted before the message is cut to its length, so a
// token that straddles the cut leaves no part of itself behind.
func TestSendWhatsAppRedactsTokenAtTheCut(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(1, http.StatusBadRequest, graphapi.MetaError(190, "OAuthException",
		strings.Repeat("a", impl.MaxProviderText-4)+token+" and more", ""))
	_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	if want := strings.Repeat("a", impl.MaxProviderText-4) + "[re…"; pe.Message != want {
		t.Errorf("Message ends %q, want %q", pe.Message[len(pe.Message)-12:], want[len(want)-12:])
	}
}

func TestSendWhatsAppServerErrorWithHTML(t *testing.T) {
	f := newFixture(t)
	html := []byte("<html><body><h1>502 Bad Gateway</h1>" + strings.Repeat("x", 5000) + "</body></html>")
	f.fake.FailNext(1, http.StatusBadGateway, html)
	_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	want := impl.ProviderError{Provider: impl.ProviderWhatsAppCloud, Status: 502, Message: "HTTP 502 from the WhatsApp Cloud API"}
	if *pe != want {
		t.Errorf("error = %+v, want %+v", *pe, want)
	}
}

func TestSendWhatsAppServerErrorEmptyAndUnexpectedJSON(t *testing.T) {
	for _, body := range []string{"", `{"status":"down"}`, `{"error":"oops"}`, `[1,2]`} {
		f := newFixture(t)
		f.fake.FailNext(1, http.StatusInternalServerError, []byte(body))
		_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
		pe := asProviderError(t, err)
		if pe.Status != 500 || pe.Code != "" || pe.Message != "HTTP 500 from the WhatsApp Cloud API" {
			t.Errorf("body %q: error = %+v", body, *pe)
		}
	}
}

func TestSendWhatsAppSuccessWithoutID(t *testing.T) {
	for _, body := range []string{`{"messaging_product":"whatsapp","contacts":[],"messages":[]}`, `{"messages":[{"id":""}]}`, `not json`, ``} {
		f := newFixture(t)
		f.fake.FailNext(1, http.StatusOK, []byte(body))
		id, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
		if err == nil {
			t.Fatalf("body %q: got id %q and no error", body, id)
		}
		pe := asProviderError(t, err)
		if pe.Status != 200 || !strings.Contains(pe.Message, "without a message id") {
			t.Errorf("body %q: error = %+v", body, *pe)
		}
	}
}

func TestSendWhatsAppContextDeadline(t *testing.T) {
	f := newFixture(t)
	f.fake.SetDelay(2 * time.Second) // ended early by the fake when the client leaves
	// The deadline passes once the fake holds the request.
	ctx := testctx.DeadlineWhen(func() bool { return len(f.fake.Requests()) > 0 })
	_, err := f.client.SendWhatsApp(ctx, f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	want := impl.ProviderError{Provider: impl.ProviderWhatsAppCloud, Status: 0, Message: "no answer from the WhatsApp Cloud API within the timeout"}
	if *pe != want {
		t.Errorf("error = %+v, want %+v", *pe, want)
	}
	if n := len(f.fake.Requests()); n != 1 {
		t.Errorf("fake got %d requests, want 1", n)
	}
}

func TestSendWhatsAppClientTimeout(t *testing.T) {
	f := newFixture(t)
	f.fake.SetDelay(2 * time.Second)
	f.client.HTTP = &http.Client{Timeout: 100 * time.Millisecond}
	_, err := f.client.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	if pe.Status != 0 || pe.Message != "no answer from the WhatsApp Cloud API within the timeout" {
		t.Errorf("error = %+v", *pe)
	}
}

func TestSendWhatsAppCanceled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.client.SendWhatsApp(ctx, f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	if pe.Status != 0 || pe.Message != "the request to the WhatsApp Cloud API was canceled" {
		t.Errorf("error = %+v", *pe)
	}
}

func TestSendWhatsAppConnectionRefused(t *testing.T) {
	ts := httptest.NewServer(graphapi.New())
	base := ts.URL
	ts.Close()
	c := &whatsappcloud.Client{BaseURL: base}
	integ := &impl.Integration{PhoneNumberID: phoneNumberID, AccessToken: token}
	_, err := c.SendWhatsApp(context.Background(), integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
	pe := asProviderError(t, err)
	if pe.Status != 0 || !strings.HasPrefix(pe.Message, "could not reach the WhatsApp Cloud API: ") {
		t.Errorf("error = %+v", *pe)
	}
	if strings.Contains(pe.Message, base) || strings.Contains(pe.Message, "/messages") {
		t.Errorf("message carries the request URL: %q", pe.Message)
	}
}

func TestSendWhatsAppDoesNotFollowRedirects(t *testing.T) {
	f := newFixture(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, f.url+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	for _, hc := range []*http.Client{nil, {}} {
		c := &whatsappcloud.Client{BaseURL: redirector.URL, HTTP: hc}
		_, err := c.SendWhatsApp(context.Background(), f.integ, recipient, "iagente-42", &impl.WhatsAppContent{Type: "text", Text: "hi"})
		pe := asProviderError(t, err)
		if pe.Status != http.StatusTemporaryRedirect || pe.Message != "HTTP 307 from the WhatsApp Cloud API" {
			t.Errorf("error = %+v", *pe)
		}
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("the redirect was followed: fake got %d requests", n)
	}
}

func TestSendWhatsAppRefusesBrokenInput(t *testing.T) {
	f := newFixture(t)
	text := &impl.WhatsAppContent{Type: "text", Text: "hi"}
	with := func(change func(*impl.Integration)) *impl.Integration {
		integ := *f.integ
		change(&integ)
		return &integ
	}
	cases := []struct {
		name    string
		integ   *impl.Integration
		phone   string
		msg     *impl.WhatsAppContent
		message string
	}{
		{"no integration", nil, recipient, text, "integration misconfigured"},
		{"no phone number id", with(func(i *impl.Integration) { i.PhoneNumberID = "" }), recipient, text, "phone number id is missing"},
		{"no token", with(func(i *impl.Integration) { i.AccessToken = "" }), recipient, text, "access token is missing"},
		{"token with newline", with(func(i *impl.Integration) { i.AccessToken = "abc\ndef" }), recipient, text, "access token contains"},
		{"empty phone", f.integ, "", text, "digits only"},
		{"phone with plus", f.integ, "+" + recipient, text, "digits only"},
		{"no content", f.integ, recipient, nil, "no message content"},
		{"unknown type", f.integ, recipient, &impl.WhatsAppContent{Type: "sticker", MediaURL: "https://x/y.webp"}, `unsupported WhatsApp message type "sticker"`},
		{"empty text", f.integ, recipient, &impl.WhatsAppContent{Type: "text"}, "needs a text"},
		{"template without language", f.integ, recipient, &impl.WhatsAppContent{Type: "template", TemplateName: "x"}, "name and language"},
		{"image without URL", f.integ, recipient, &impl.WhatsAppContent{Type: "image", Caption: "c"}, "needs a media URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.SendWhatsApp(context.Background(), tc.integ, tc.phone, "iagente-42", tc.msg)
			pe := asProviderError(t, err)
			if pe.Status != 0 || !strings.Contains(pe.Message, tc.message) {
				t.Errorf("error = %+v, want a message containing %q", *pe, tc.message)
			}
		})
	}
	if n := len(f.fake.Requests()); n != 0 {
		t.Errorf("fake got %d requests, want none", n)
	}
}
