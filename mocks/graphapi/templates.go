package graphapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Template is a message template as GET /{waba-id}/message_templates lists
// it: Meta's fields and components, as JSON.
type Template struct {
	ID              string      `json:"id"`
	Name            string      `json:"name"`
	Language        string      `json:"language"`
	Category        string      `json:"category"`
	Status          string      `json:"status"`
	ParameterFormat string      `json:"parameter_format,omitempty"`
	Components      []Component `json:"components"`
}

// Component is a part of a template: HEADER, BODY, FOOTER or BUTTONS.
type Component struct {
	Type    string         `json:"type"`
	Format  string         `json:"format,omitempty"`
	Text    string         `json:"text,omitempty"`
	Example map[string]any `json:"example,omitempty"`
	Buttons []Button       `json:"buttons,omitempty"`
}

// Button is a template button.
type Button struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	OTPType     string `json:"otp_type,omitempty"`
}

// Paging is how the fake pages an account's templates.
type Paging struct {
	// PageSize caps a page, below the request's limit; 0: the limit only.
	PageSize int
	// Endless makes every page say there is a next one, as a broken Graph
	// API (or proxy) would, so a client must bound its paging.
	Endless bool
}

// SetTemplates makes ts the templates of the WhatsApp Business Account
// wabaID, listed in this order.
func (s *Server) SetTemplates(wabaID string, ts []Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates[wabaID] = slices.Clone(ts)
}

// SetPaging sets how wabaID's templates are paged.
func (s *Server) SetPaging(wabaID string, p Paging) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paging[wabaID] = p
}

// SampleTemplates is a WhatsApp Business Account's templates as Meta lists
// them: every category, every status, headers, footers and buttons, a
// template in two languages, one with named placeholders and one that is
// being deleted.
func SampleTemplates() []Template {
	body := func(text string, examples ...string) Component {
		c := Component{Type: "BODY", Text: text}
		if len(examples) > 0 {
			c.Example = map[string]any{"body_text": []any{slices.Clone(examples)}}
		}
		return c
	}
	return []Template{
		{ID: "1000000000000001", Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY", Status: "APPROVED",
			ParameterFormat: "POSITIONAL", Components: []Component{
				{Type: "HEADER", Format: "TEXT", Text: "Bem-vindo!"},
				body("Ola {{1}}, seja bem-vindo!", "Joao"),
				{Type: "FOOTER", Text: "IAGENTE"},
				{Type: "BUTTONS", Buttons: []Button{{Type: "QUICK_REPLY", Text: "Falar com atendente"}}},
			}},
		{ID: "1000000000000002", Name: "boas_vindas", Language: "en_US", Category: "UTILITY", Status: "APPROVED",
			ParameterFormat: "POSITIONAL", Components: []Component{body("Hello {{1}}, welcome!", "John")}},
		{ID: "1000000000000003", Name: "oferta_black_friday", Language: "pt_BR", Category: "MARKETING", Status: "APPROVED",
			ParameterFormat: "POSITIONAL", Components: []Component{
				{Type: "HEADER", Format: "IMAGE", Example: map[string]any{"header_handle": []any{"4::aW1hZ2UvanBlZw==:ARb"}}},
				body("{{1}}, a Black Friday chegou: {{2}} de desconto!", "Maria", "30%"),
				{Type: "BUTTONS", Buttons: []Button{{Type: "URL", Text: "Ver ofertas", URL: "https://exemplo.com/ofertas"}}},
			}},
		{ID: "1000000000000004", Name: "codigo_verificacao", Language: "pt_BR", Category: "AUTHENTICATION", Status: "APPROVED",
			Components: []Component{
				body("*{{1}}* e seu codigo de verificacao.", "123456"),
				{Type: "FOOTER", Text: "Este codigo expira em 10 minutos."},
				{Type: "BUTTONS", Buttons: []Button{{Type: "OTP", OTPType: "COPY_CODE", Text: "Copiar codigo"}}},
			}},
		{ID: "1000000000000005", Name: "pedido_enviado", Language: "pt_BR", Category: "UTILITY", Status: "PENDING",
			ParameterFormat: "POSITIONAL", Components: []Component{body("Seu pedido {{1}} foi enviado.", "#4521")}},
		{ID: "1000000000000006", Name: "promocao_relampago", Language: "pt_BR", Category: "MARKETING", Status: "REJECTED",
			Components: []Component{body("Compre agora!")}},
		{ID: "1000000000000007", Name: "pesquisa_satisfacao", Language: "pt_BR", Category: "MARKETING", Status: "PAUSED",
			Components: []Component{body("Como foi seu atendimento?"), {Type: "BUTTONS", Buttons: []Button{
				{Type: "QUICK_REPLY", Text: "Otimo"}, {Type: "QUICK_REPLY", Text: "Ruim"}}}}},
		{ID: "1000000000000008", Name: "lembrete_reuniao", Language: "pt_BR", Category: "UTILITY", Status: "IN_APPEAL",
			Components: []Component{body("Lembrete: reuniao amanha.")}},
		{ID: "1000000000000009", Name: "aviso_antigo", Language: "pt_BR", Category: "UTILITY", Status: "DISABLED",
			Components: []Component{body("Aviso.")}},
		{ID: "1000000000000010", Name: "confirmacao_nome", Language: "pt_BR", Category: "UTILITY", Status: "APPROVED",
			ParameterFormat: "NAMED", Components: []Component{{Type: "BODY", Text: "Ola {{first_name}}!",
				Example: map[string]any{"body_text_named_params": []any{map[string]any{"param_name": "first_name", "example": "Ana"}}}}}},
		{ID: "1000000000000011", Name: "campanha_encerrada", Language: "pt_BR", Category: "MARKETING", Status: "PENDING_DELETION",
			Components: []Component{body("Ultimos dias!")}},
	}
}

// templatePage is one page of GET /{waba-id}/message_templates.
type templatePage struct {
	Data   []Template `json:"data"`
	Paging *struct {
		Cursors struct {
			Before string `json:"before"`
			After  string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next,omitempty"`
	} `json:"paging,omitempty"`
}

func cursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func offsetOf(c string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
	return n, err == nil && n >= 0 && strings.HasPrefix(string(b), "offset:")
}

// listTemplates answers GET /{version}/{waba-id}/message_templates: a page
// of the account's templates from the after cursor, with Meta's paging.
func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request, rec *Request, wabaID string) {
	q := r.URL.Query()
	limit := 25
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.write(w, rec, http.StatusBadRequest, MetaError(100, "OAuthException", "(#100) Param limit must be a positive integer", ""), "")
			return
		}
		limit = n
	}
	offset := 0
	if c := q.Get("after"); c != "" {
		var ok bool
		if offset, ok = offsetOf(c); !ok {
			s.write(w, rec, http.StatusBadRequest, MetaError(100, "OAuthException", "(#100) Invalid cursor", ""), "")
			return
		}
	}
	s.mu.Lock()
	all := slices.Clone(s.templates[wabaID])
	p := s.paging[wabaID]
	s.mu.Unlock()
	if p.PageSize > 0 && p.PageSize < limit {
		limit = p.PageSize
	}
	page := templatePage{Data: []Template{}}
	if offset < len(all) {
		page.Data = all[offset:min(offset+limit, len(all))]
	}
	end := offset + len(page.Data)
	if len(page.Data) > 0 || p.Endless {
		page.Paging = &struct {
			Cursors struct {
				Before string `json:"before"`
				After  string `json:"after"`
			} `json:"cursors"`
			Next string `json:"next,omitempty"`
		}{}
		page.Paging.Cursors.Before = cursor(offset)
		next := end
		if p.Endless && next == offset {
			next = offset + 1
		}
		page.Paging.Cursors.After = cursor(next)
		if end < len(all) || p.Endless {
			nq := url.Values{"limit": {strconv.Itoa(limit)}, "after": {cursor(next)}}
			if f := q.Get("fields"); f != "" {
				nq.Set("fields", f)
			}
			page.Paging.Next = fmt.Sprintf("http://%s%s?%s", r.Host, r.URL.Path, nq.Encode())
		}
	}
	body, _ := json.Marshal(page)
	s.write(w, rec, http.StatusOK, body, "")
}
