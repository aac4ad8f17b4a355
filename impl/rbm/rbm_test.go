package rbm_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/rbm"
	"github.com/iagente/iagente-sdr/internal/testctx"
	"github.com/iagente/iagente-sdr/mocks/rbmapi"
)

const (
	token   = "ya29.test-token-do-not-leak"
	agentID = "iagente-agent@rbm.goog"
	phone   = "5511999999999"
	msisdn  = "+5511999999999"
)

var integ = &impl.Integration{ID: 7, Channel: impl.ChannelRCS, Provider: impl.ProviderGoogleRBM, Active: true, AgentID: agentID}

func setup(t *testing.T) (*rbmapi.Server, *rbm.Client) {
	t.Helper()
	fake := rbmapi.New()
	fake.SetToken(token)
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	return fake, &rbm.Client{BaseURL: ts.URL, Token: token}
}

func ptr(f float64) *float64 { return &f }

// mustJSON decodes a JSON literal the way the fake decodes bodies.
func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad expected JSON: %v\n%s", err, s)
	}
	return m
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestSendRCSBodies(t *testing.T) {
	tests := []struct {
		name string
		msg  *impl.RCSContent
		want string
	}{
		{
			name: "text",
			msg:  &impl.RCSContent{Type: "text", Text: "Olá! Tudo bem?"},
			want: `{"contentMessage":{"text":"Olá! Tudo bem?"}}`,
		},
		{
			name: "file",
			msg:  &impl.RCSContent{Type: "file", FileURL: "https://cdn.example.com/catalogo.pdf", MimeType: "application/pdf"},
			want: `{"contentMessage":{"contentInfo":{"fileUrl":"https://cdn.example.com/catalogo.pdf","forceRefresh":false}}}`,
		},
		{
			name: "card with all three button kinds",
			msg: &impl.RCSContent{Type: "card", Card: &impl.RCSCard{
				Title:       "Plano Pro",
				Description: "Tudo do Básico e mais.",
				MediaURL:    "https://cdn.example.com/pro.png",
				Buttons: []impl.RCSButton{
					{Type: impl.ButtonURL, Text: "Ver site", URL: "https://example.com/pro"},
					{Type: impl.ButtonCall, Text: "Ligar", PhoneNumber: "551130000000", Payload: "call_sales"},
					{Type: impl.ButtonReply, Text: "Quero!", Payload: "want_pro"},
				},
			}},
			want: `{"contentMessage":{"richCard":{"standaloneCard":{
				"cardOrientation":"VERTICAL",
				"cardContent":{
					"title":"Plano Pro",
					"description":"Tudo do Básico e mais.",
					"media":{"height":"MEDIUM","contentInfo":{"fileUrl":"https://cdn.example.com/pro.png"}},
					"suggestions":[
						{"action":{"text":"Ver site","postbackData":"open_url","openUrlAction":{"url":"https://example.com/pro"}}},
						{"action":{"text":"Ligar","postbackData":"call_sales","dialAction":{"phoneNumber":"+551130000000"}}},
						{"reply":{"text":"Quero!","postbackData":"want_pro"}}
					]}}}}}`,
		},
		{
			name: "url and call buttons with payloads, call already in E.164",
			msg: &impl.RCSContent{Type: "card", Card: &impl.RCSCard{
				Description: "Fale conosco",
				Buttons: []impl.RCSButton{
					{Type: impl.ButtonURL, Text: "Site", URL: "https://example.com", Payload: "site"},
					{Type: impl.ButtonCall, Text: "Ligar", PhoneNumber: "+551130000000"},
				},
			}},
			want: `{"contentMessage":{"richCard":{"standaloneCard":{
				"cardOrientation":"VERTICAL",
				"cardContent":{
					"description":"Fale conosco",
					"suggestions":[
						{"action":{"text":"Site","postbackData":"site","openUrlAction":{"url":"https://example.com"}}},
						{"action":{"text":"Ligar","postbackData":"dial","dialAction":{"phoneNumber":"+551130000000"}}}
					]}}}}}`,
		},
		{
			name: "card with only a title",
			msg:  &impl.RCSContent{Type: "card", Card: &impl.RCSCard{Title: "Só o título"}},
			want: `{"contentMessage":{"richCard":{"standaloneCard":{"cardOrientation":"VERTICAL","cardContent":{"title":"Só o título"}}}}}`,
		},
		{
			name: "carousel with 2 cards, SMALL",
			msg: &impl.RCSContent{Type: "carousel", CardWidth: "SMALL", Cards: []impl.RCSCard{
				{Title: "Básico", MediaURL: "https://cdn.example.com/b.png", Buttons: []impl.RCSButton{{Type: impl.ButtonReply, Text: "Escolher", Payload: "basic"}}},
				{Title: "Pro", Description: "O melhor"},
			}},
			want: `{"contentMessage":{"richCard":{"carouselCard":{
				"cardWidth":"SMALL",
				"cardContents":[
					{"title":"Básico","media":{"height":"MEDIUM","contentInfo":{"fileUrl":"https://cdn.example.com/b.png"}},
					 "suggestions":[{"reply":{"text":"Escolher","postbackData":"basic"}}]},
					{"title":"Pro","description":"O melhor"}
				]}}}}`,
		},
		{
			name: "carousel with no width is MEDIUM",
			msg: &impl.RCSContent{Type: "carousel", Cards: []impl.RCSCard{
				{Title: "Um"}, {Title: "Dois"},
			}},
			want: `{"contentMessage":{"richCard":{"carouselCard":{"cardWidth":"MEDIUM","cardContents":[{"title":"Um"},{"title":"Dois"}]}}}}`,
		},
		{
			name: "replyable_text with 3 quick replies",
			msg: &impl.RCSContent{Type: "replyable_text", Text: "Qual horário prefere?", QuickReplies: []impl.RCSQuickReply{
				{Text: "Manhã", Payload: "morning"},
				{Text: "Tarde", Payload: "afternoon"},
				{Text: "Noite", Payload: "evening"},
			}},
			want: `{"contentMessage":{"text":"Qual horário prefere?","suggestions":[
				{"reply":{"text":"Manhã","postbackData":"morning"}},
				{"reply":{"text":"Tarde","postbackData":"afternoon"}},
				{"reply":{"text":"Noite","postbackData":"evening"}}]}}`,
		},
		{
			name: "location with label and no text",
			msg:  &impl.RCSContent{Type: "location", Latitude: ptr(-23.5613), Longitude: ptr(-46.6565), Label: "Nossa loja"},
			want: `{"contentMessage":{"text":"Nossa loja","suggestions":[{"action":{
				"text":"View location","postbackData":"view_location",
				"viewLocationAction":{"latLong":{"latitude":-23.5613,"longitude":-46.6565},"label":"Nossa loja"}}}]}}`,
		},
		{
			name: "location with text and label",
			msg:  &impl.RCSContent{Type: "location", Text: "Estamos aqui:", Latitude: ptr(-23.5613), Longitude: ptr(-46.6565), Label: "Nossa loja"},
			want: `{"contentMessage":{"text":"Estamos aqui:","suggestions":[{"action":{
				"text":"View location","postbackData":"view_location",
				"viewLocationAction":{"latLong":{"latitude":-23.5613,"longitude":-46.6565},"label":"Nossa loja"}}}]}}`,
		},
		{
			name: "location without label or text",
			msg:  &impl.RCSContent{Type: "location", Latitude: ptr(0), Longitude: ptr(-46.6565)},
			want: `{"contentMessage":{"text":"Location","suggestions":[{"action":{
				"text":"View location","postbackData":"view_location",
				"viewLocationAction":{"latLong":{"latitude":0,"longitude":-46.6565}}}}]}}`,
		},
		{
			name: "location with a label longer than a chip",
			// 30 characters: longer than RBM allows on a chip, so the chip
			// text is fixed and the label stays whole in the action.
			msg: &impl.RCSContent{Type: "location", Latitude: ptr(-23.5), Longitude: ptr(-46.6), Label: "Avenida São João, 439 — Centro"},
			want: `{"contentMessage":{"text":"Avenida São João, 439 — Centro","suggestions":[{"action":{
				"text":"View location","postbackData":"view_location",
				"viewLocationAction":{"latLong":{"latitude":-23.5,"longitude":-46.6},"label":"Avenida São João, 439 — Centro"}}}]}}`,
		},
	}
	fake, client := setup(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.Reset()
			fake.SetToken(token)
			messageID := "msg-" + string(rune('a'+i))
			id, err := client.SendRCS(context.Background(), integ, phone, messageID, tt.msg)
			if err != nil {
				t.Fatalf("SendRCS: %v", err)
			}
			if want := "phones/" + msisdn + "/agentMessages/" + messageID; id != want {
				t.Errorf("provider id = %q, want %q", id, want)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("fake got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if got, want := r.JSON, mustJSON(t, tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("body:\n%s\nwant:\n%s", pretty(got), pretty(want))
			}
			if r.Method != http.MethodPost {
				t.Errorf("method = %s", r.Method)
			}
			// "+" is legal in a path segment: it travels as is and is not
			// a space there (unlike in a query).
			if r.Path != "/v1/phones/+5511999999999/agentMessages" {
				t.Errorf("path = %q", r.Path)
			}
			if !strings.HasPrefix(r.RequestURI, "/v1/phones/+5511999999999/agentMessages?") {
				t.Errorf("request URI = %q", r.RequestURI)
			}
			if r.Query.Get("messageId") != messageID || r.Query.Get("agentId") != agentID || len(r.Query) != 2 {
				t.Errorf("query = %v", r.Query)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
		})
	}
}

func TestSendRCSEscapesQueryAndPath(t *testing.T) {
	fake, client := setup(t)
	in := &impl.Integration{AgentID: "agent with spaces&x=1@rbm.goog"}
	messageID := "id/with?odd&chars=1"
	if _, err := client.SendRCS(context.Background(), in, phone, messageID, &impl.RCSContent{Type: "text", Text: "oi"}); err != nil {
		t.Fatal(err)
	}
	r := fake.Requests()[0]
	if r.Query.Get("messageId") != messageID || r.Query.Get("agentId") != in.AgentID || len(r.Query) != 2 {
		t.Errorf("query = %v (raw %s)", r.Query, r.RequestURI)
	}
	if r.Path != "/v1/phones/+5511999999999/agentMessages" {
		t.Errorf("path = %q", r.Path)
	}
}

func TestSendRCSNameFallback(t *testing.T) {
	// An answer without a name (not what RBM does, but possible through a
	// proxy) still means the message was accepted.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"sendTime":"2026-01-02T03:04:05Z"}`))
	}))
	defer ts.Close()
	c := &rbm.Client{BaseURL: ts.URL + "/", Token: token}
	id, err := c.SendRCS(context.Background(), integ, phone, "msg-1", &impl.RCSContent{Type: "text", Text: "oi"})
	if err != nil || id != "msg-1" {
		t.Fatalf("SendRCS = %q, %v; want msg-1", id, err)
	}
}

// providerError asserts err is a *impl.ProviderError from google_rbm that
// does not leak the token.
func providerError(t *testing.T, err error) *impl.ProviderError {
	t.Helper()
	var pe *impl.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *impl.ProviderError", err, err)
	}
	if pe.Provider != "google_rbm" {
		t.Errorf("Provider = %q", pe.Provider)
	}
	if strings.Contains(pe.Error(), token) || strings.Contains(pe.Error(), "test-token") {
		t.Errorf("error leaks the token: %v", pe)
	}
	return pe
}

func TestSendRCSErrors(t *testing.T) {
	text := &impl.RCSContent{Type: "text", Text: "oi"}

	t.Run("unreachable number is 404 NOT_FOUND", func(t *testing.T) {
		fake, client := setup(t)
		fake.SetUnreachable(msisdn)
		_, err := client.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 404 || pe.Code != "NOT_FOUND" || pe.Message != "Requested entity was not found." {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("duplicate messageId is 409 ALREADY_EXISTS", func(t *testing.T) {
		_, client := setup(t)
		if _, err := client.SendRCS(context.Background(), integ, phone, "dup-1", text); err != nil {
			t.Fatal(err)
		}
		_, err := client.SendRCS(context.Background(), integ, phone, "dup-1", text)
		pe := providerError(t, err)
		if pe.Status != 409 || pe.Code != "ALREADY_EXISTS" || !strings.Contains(pe.Message, "dup-1") {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("400 with Google error JSON", func(t *testing.T) {
		fake, client := setup(t)
		fake.FailNext(1, 400, rbmapi.GoogleError(400, "INVALID_ARGUMENT", "Invalid value at 'agent_message.content_message.text'"))
		_, err := client.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 400 || pe.Code != "INVALID_ARGUMENT" || pe.Message != "Invalid value at 'agent_message.content_message.text'" {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("400 from the fake's own validation", func(t *testing.T) {
		_, client := setup(t)
		// One card is not a carousel; the API spec would have refused it,
		// but if it got through, RBM's refusal must come back intact.
		_, err := client.SendRCS(context.Background(), integ, phone, "m1",
			&impl.RCSContent{Type: "carousel", Cards: []impl.RCSCard{{Title: "só um"}}})
		pe := providerError(t, err)
		if pe.Status != 400 || pe.Code != "INVALID_ARGUMENT" || !strings.Contains(pe.Message, "card_contents") {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("the token echoed, and words that are not one line", func(t *testing.T) {
		fake, client := setup(t)
		fake.FailNext(1, 400, rbmapi.GoogleError(400, "INVALID_ARGUMENT", "bad token "+token+"\n\u0000end"))
		_, err := client.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 400 || pe.Code != "INVALID_ARGUMENT" || pe.Message != "bad token [redacted]  end" {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("500 with an HTML body", func(t *testing.T) {
		fake, client := setup(t)
		html := "<!DOCTYPE html><html><body><h1>Error 500 (Server Error)!!1</h1></body></html>"
		fake.FailNext(1, 500, []byte(html))
		_, err := client.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 500 || pe.Code != "" || pe.Message == "" || strings.Contains(pe.Message, "<") || strings.Contains(pe.Message, "Error 500") {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("502 with an HTML body", func(t *testing.T) {
		fake, client := setup(t)
		fake.FailNext(1, 502, []byte("<html><head><title>502 Bad Gateway</title></head></html>"))
		_, err := client.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 502 || strings.Contains(pe.Message, "<") || strings.Contains(pe.Message, "Bad Gateway") {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("500 INTERNAL", func(t *testing.T) {
		fake, client := setup(t)
		fake.FailNextServerError(1)
		_, err := client.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 500 || pe.Code != "INTERNAL" || pe.Message != "Internal error encountered." {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("401 wrong token", func(t *testing.T) {
		fake, client := setup(t)
		fake.SetToken("another-token")
		_, err := client.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 401 || pe.Code != "UNAUTHENTICATED" || !strings.HasPrefix(pe.Message, "Request had invalid authentication credentials.") {
			t.Errorf("got %+v", pe)
		}
	})

	t.Run("oversized error body is capped", func(t *testing.T) {
		big := `{"error":{"code":400,"status":"INVALID_ARGUMENT","message":"` + strings.Repeat("a", 2<<20) + `"}}`
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(big))
		}))
		defer ts.Close()
		c := &rbm.Client{BaseURL: ts.URL, Token: token}
		_, err := c.SendRCS(context.Background(), integ, phone, "m1", text)
		pe := providerError(t, err)
		if pe.Status != 400 || len(pe.Message) > 200 {
			t.Errorf("got status %d, message of %d bytes", pe.Status, len(pe.Message))
		}
	})

	t.Run("redirects are not followed", func(t *testing.T) {
		fake, client := setup(t)
		target := client.BaseURL
		var hits atomic.Int32
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		}))
		defer ts.Close()
		for _, hc := range []*http.Client{nil, {}} {
			c := &rbm.Client{BaseURL: ts.URL, Token: token, HTTP: hc}
			_, err := c.SendRCS(context.Background(), integ, phone, "m1", text)
			pe := providerError(t, err)
			if pe.Status != http.StatusTemporaryRedirect {
				t.Errorf("got %+v", pe)
			}
		}
		if n := len(fake.Requests()); n != 0 || hits.Load() != 2 {
			t.Errorf("redirect followed: fake got %d requests, redirector %d", n, hits.Load())
		}
	})
}

func TestSendRCSTimeout(t *testing.T) {
	fake, client := setup(t)
	fake.SetDelay(time.Hour) // the fake gives up when the client does
	// The deadline passes once the fake holds the request.
	ctx := testctx.DeadlineWhen(func() bool { return len(fake.Requests()) > 0 })
	_, err := client.SendRCS(ctx, integ, phone, "m1", &impl.RCSContent{Type: "text", Text: "oi"})
	pe := providerError(t, err)
	if pe.Status != 0 || pe.Code != "" || !strings.Contains(pe.Message, "timed out") {
		t.Errorf("got %+v", pe)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("fake got %d requests, want 1", n)
	}
}

func TestSendRCSClientTimeout(t *testing.T) {
	fake, client := setup(t)
	fake.SetDelay(time.Hour)
	client.HTTP = &http.Client{Timeout: 20 * time.Millisecond}
	_, err := client.SendRCS(context.Background(), integ, phone, "m1", &impl.RCSContent{Type: "text", Text: "oi"})
	pe := providerError(t, err)
	if pe.Status != 0 || !strings.Contains(pe.Message, "timed out") {
		t.Errorf("got %+v", pe)
	}
}

func TestSendRCSCanceled(t *testing.T) {
	fake, client := setup(t)
	fake.SetDelay(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(fake.Requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := client.SendRCS(ctx, integ, phone, "m1", &impl.RCSContent{Type: "text", Text: "oi"})
	pe := providerError(t, err)
	if pe.Status != 0 || !strings.Contains(pe.Message, "canceled") {
		t.Errorf("got %+v", pe)
	}
}

func TestSendRCSConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &rbm.Client{BaseURL: "http://" + addr, Token: token}
	_, err = c.SendRCS(context.Background(), integ, phone, "m1", &impl.RCSContent{Type: "text", Text: "oi"})
	pe := providerError(t, err)
	if pe.Status != 0 || !strings.Contains(pe.Message, "could not connect") {
		t.Errorf("got %+v", pe)
	}
	if strings.Contains(pe.Message, addr) {
		t.Errorf("message names the address: %q", pe.Message)
	}
}

func TestSendRCSRefusedWithoutCall(t *testing.T) {
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer ts.Close()
	text := &impl.RCSContent{Type: "text", Text: "oi"}
	tests := []struct {
		name      string
		token     string
		integ     *impl.Integration
		phone, id string
		msg       *impl.RCSContent
		want      string
	}{
		{"no agent id", token, &impl.Integration{}, phone, "m1", text, "integration misconfigured"},
		{"nil integration", token, nil, phone, "m1", text, "integration misconfigured"},
		{"no token", "", integ, phone, "m1", text, "integration misconfigured"},
		{"no message id", token, integ, phone, "", text, "message id"},
		{"bad phone", token, integ, "55 11 9999", "m1", text, "phone"},
		{"empty phone", token, integ, "", "m1", text, "phone"},
		{"nil content", token, integ, phone, "m1", nil, "content"},
		{"unknown type", token, integ, phone, "m1", &impl.RCSContent{Type: "sticker"}, "unsupported"},
		{"unknown button", token, integ, phone, "m1", &impl.RCSContent{Type: "card", Card: &impl.RCSCard{Title: "x",
			Buttons: []impl.RCSButton{{Type: "share", Text: "x"}}}}, "unsupported"},
		{"card without card", token, integ, phone, "m1", &impl.RCSContent{Type: "card"}, "card"},
		{"location without coordinates", token, integ, phone, "m1", &impl.RCSContent{Type: "location", Latitude: ptr(1)}, "latitude"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &rbm.Client{BaseURL: ts.URL, Token: tt.token}
			_, err := c.SendRCS(context.Background(), tt.integ, tt.phone, tt.id, tt.msg)
			pe := providerError(t, err)
			if pe.Status != 0 || !strings.Contains(pe.Message, tt.want) {
				t.Errorf("got %+v, want a message with %q", pe, tt.want)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("%d HTTP calls made", hits.Load())
	}
}
