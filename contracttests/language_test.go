package contracttests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// sendWithLanguage sends a JSON request with the given Accept-Language
// ("" sends none) through the validating transport and decodes the error
// envelope it answers with.
func (tg *target) sendWithLanguage(t *testing.T, method, path, acceptLanguage string, body string) (int, errorBody) {
	t.Helper()
	req, err := http.NewRequest(method, tg.baseURL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tg.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	res, err := (&http.Client{Transport: newValidatingTransport(t, tg.baseURL)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var e errorBody
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, raw, err)
	}
	return res.StatusCode, e
}

// Field messages are Brazilian Portuguese by default, as in the API
// reference's example, and English when Accept-Language prefers it; code
// and message are the same in both.
func TestFieldMessageLanguage(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		cases := []struct {
			name, method, path, body string
			status                   int
			code, message            string
			pt, en                   map[string][]string
		}{
			{"the reference's example: phone missing", "POST", "/leads", `{"name":"Maria Santos"}`,
				422, "validation_error", "The given data was invalid.",
				map[string][]string{"phone": {"O campo phone é obrigatório."}},
				map[string][]string{"phone": {"phone is required"}}},
			{"an e-mail that is not one", "POST", "/leads", `{"phone":"` + uniquePhone(t) + `","email":"maria"}`,
				422, "validation_error", "The given data was invalid.",
				map[string][]string{"email": {"O campo email deve ser um endereço de e-mail válido."}},
				map[string][]string{"email": {"must be a valid e-mail address"}}},
			{"a pattern's message from the spec", "POST", "/webhooks",
				`{"name":"Meu Webhook","url":"ftp://meusite.com","events":["lead.created"]}`,
				422, "validation_error", "The given data was invalid.",
				map[string][]string{"url": {"O campo url deve ser uma URL http:// ou https:// válida."}},
				map[string][]string{"url": {"must be a valid http:// or https:// URL"}}},
			{"a parameter", "GET", "/leads?per_page=101", "",
				400, "bad_request", "The request has invalid parameters.",
				map[string][]string{"per_page": {"O campo per_page deve estar entre 1 e 100."}},
				map[string][]string{"per_page": {"must be between 1 and 100"}}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, lang := range []struct {
					header string
					want   map[string][]string
				}{
					{"", c.pt},
					{"pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", c.pt},
					{"en", c.en},
					{"en-US,en;q=0.9,pt-BR;q=0.8", c.en},
					{"fr-FR", c.pt},
				} {
					status, e := tg.sendWithLanguage(t, c.method, c.path, lang.header, c.body)
					if status != c.status || e.Error.Code != c.code || e.Error.Message != c.message {
						t.Errorf("Accept-Language %q: %d %s %q, want %d %s %q", lang.header, status, e.Error.Code,
							e.Error.Message, c.status, c.code, c.message)
					}
					if !reflect.DeepEqual(e.Error.Details, lang.want) {
						t.Errorf("Accept-Language %q: details %v, want %v", lang.header, e.Error.Details, lang.want)
					}
				}
			})
		}

		// A business rule's message is translated too.
		phone := uniquePhone(t)
		body := `{"phone":"` + phone + `"}`
		if status, _ := tg.sendWithLanguage(t, "POST", "/leads", "en", body); status != http.StatusCreated {
			t.Fatalf("create: %d", status)
		}
		status, e := tg.sendWithLanguage(t, "POST", "/leads", "", body)
		if status != http.StatusConflict || !reflect.DeepEqual(e.Error.Details, map[string][]string{"phone": {"Já existe um lead com este telefone."}}) {
			t.Errorf("duplicate phone: %d %+v", status, e.Error)
		}
		status, e = tg.sendWithLanguage(t, "POST", "/leads", "en", body)
		if status != http.StatusConflict || !reflect.DeepEqual(e.Error.Details, map[string][]string{"phone": {"a lead with this phone already exists"}}) {
			t.Errorf("duplicate phone in English: %d %+v", status, e.Error)
		}
	})
}
