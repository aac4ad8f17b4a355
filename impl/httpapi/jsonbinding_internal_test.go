package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/gen/api"
)

// unreadJSON is a body that the Validator passed as a union: its bytes are
// data, and reading it fails, so that a binding that reads it shows.
type unreadJSON struct{ data []byte }

func (b unreadJSON) Read([]byte) (int, error) { return 0, errors.New("the body was read again") }
func (b unreadJSON) Close() error             { return nil }
func (b unreadJSON) ValidatedBytes() []byte   { return b.data }

// TestJSONBindingHandsValidatedBytesToTheUnion: a union bound from a
// validated body keeps the body's bytes without reading them again, and
// everything else is bound as echo binds it.
func TestJSONBindingHandsValidatedBytesToTheUnion(t *testing.T) {
	e := echo.New()
	e.JSONSerializer = jsonBinding{}
	bind := func(body io.ReadCloser, into any) error {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/rcs/messages", nil)
		req.Body, req.ContentLength = body, 1
		req.Header.Set(echo.HeaderContentType, "application/json; charset=utf-8")
		return (&echo.DefaultBinder{}).BindBody(e.NewContext(req, httptest.NewRecorder()), into)
	}
	sent := []byte(`{"type": "text", "to": "+5511999998888", "text": "Olá"}`)

	var union api.RCSMessageCreate
	if err := bind(unreadJSON{data: sent}, &union); err != nil {
		t.Fatalf("bind a validated union: %v", err)
	}
	if kept, err := union.MarshalJSON(); err != nil || !bytes.Equal(kept, sent) {
		t.Fatalf("the union keeps %s (%v), want the body as sent %s", kept, err, sent)
	}
	sent[2] = 'X' // the union's bytes are its own
	if text, err := union.AsRCSTextMessage(); err != nil || text.Text != "Olá" {
		t.Fatalf("the union's text message: %+v, %v", text, err)
	}

	// A type that is not a union reads the body, as echo does.
	var lead api.LeadCreate
	if err := bind(unreadJSON{data: []byte(`{"phone": "+5511999998888"}`)}, &lead); err == nil {
		t.Fatal("a struct bound from validated JSON without reading the body")
	}
	if err := bind(io.NopCloser(bytes.NewReader([]byte(`{"phone": "+5511999998888"}`))), &lead); err != nil || lead.Phone != "+5511999998888" {
		t.Fatalf("a plain body: %+v, %v", lead, err)
	}
	// And a body the Validator did not pass as a union is decoded.
	var plain api.RCSMessageCreate
	if err := bind(io.NopCloser(bytes.NewReader([]byte(`{"type":"text"}`))), &plain); err != nil {
		t.Fatalf("a union from a plain body: %v", err)
	}
	if kept, _ := plain.MarshalJSON(); string(kept) != `{"type":"text"}` {
		t.Fatalf("a union from a plain body keeps %s", kept)
	}
}

// validatedLead is a body the Validator passed with a value to bind: its
// bytes are data (unreadJSON's), and reading it fails.
type validatedLead struct{ unreadJSON }

func (b validatedLead) ValidatedValue() any { return map[string]any{"phone": "+5511999998888"} }

// TestRequestBytesLeavesAValidatedBodyAsItIs: the idempotency middleware
// fingerprints a validated body's bytes without reading it, so the handler
// still binds what was validated; any other body is read and replaced.
func TestRequestBytesLeavesAValidatedBodyAsItIs(t *testing.T) {
	sent := []byte(`{"phone": "+5511999998888"}`)
	for _, body := range []io.ReadCloser{&unreadJSON{data: sent}, &validatedLead{unreadJSON{data: sent}}} {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/leads", nil)
		req.Body = body
		got, err := requestBytes(req)
		if err != nil || !bytes.Equal(got, sent) {
			t.Fatalf("%T: %s, %v", body, got, err)
		}
		if req.Body != body {
			t.Fatalf("%T: the body was replaced with %T", body, req.Body)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/leads", bytes.NewReader(sent))
	got, err := requestBytes(req)
	if err != nil || !bytes.Equal(got, sent) {
		t.Fatalf("a plain body: %s, %v", got, err)
	}
	if again, _ := io.ReadAll(req.Body); !bytes.Equal(again, sent) {
		t.Fatalf("a plain body reads %s after, want it again", again)
	}
}
