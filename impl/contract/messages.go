package contract

import (
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/impl"
)

// kind names one message about a field. Each has a sentence in English and
// in Brazilian Portuguese; the values it states (limits, enum values) are
// read from the schema by describe, never written here.
type kind string

// sentences holds each kind's format in both languages. Arguments: 1 the
// field (in English its last name only, "title" of "cards[3].title"), then
// the kind's own values. The Portuguese sentences follow
// the API reference's "O campo phone é obrigatório."; the English ones keep
// the wording the API has always used.
var sentences = map[kind]struct{ en, pt string }{
	"required":     {"%[1]s is required", "O campo %[1]s é obrigatório."},
	"unknown":      {"is not a known field", "O campo %[1]s não é permitido."},
	"null":         {"must not be null", "O campo %[1]s não pode ser nulo."},
	"string":       {"must be a string", "O campo %[1]s deve ser um texto."},
	"integer":      {"must be an integer", "O campo %[1]s deve ser um número inteiro."},
	"number":       {"must be a number", "O campo %[1]s deve ser um número."},
	"boolean":      {"must be true or false", "O campo %[1]s deve ser verdadeiro ou falso."},
	"object":       {"must be an object", "O campo %[1]s deve ser um objeto."},
	"array":        {"must be an array", "O campo %[1]s deve ser uma lista."},
	"enum":         {"must be one of: %[2]s", "O campo %[1]s deve ser um destes valores: %[2]s."},
	"maxLength":    {"must be at most %[2]d characters", "O campo %[1]s deve ter no máximo %[2]d caracteres."},
	"minLength":    {"must be at least %[2]d characters", "O campo %[1]s deve ter pelo menos %[2]d caracteres."},
	"empty":        {"must not be empty", "O campo %[1]s não pode ficar vazio."},
	"between":      {"must be between %[2]s and %[3]s", "O campo %[1]s deve estar entre %[2]s e %[3]s."},
	"min":          {"must be at least %[2]s", "O campo %[1]s deve ser no mínimo %[2]s."},
	"max":          {"must be at most %[2]s", "O campo %[1]s deve ser no máximo %[2]s."},
	"itemsBetween": {"must contain between %[2]d and %[3]d %[4]s", "O campo %[1]s deve ter entre %[2]d e %[3]d itens."},
	"minItems":     {"must contain at least %[2]d %[4]s", "O campo %[1]s deve ter pelo menos %[2]d %[5]s."},
	"maxItems":     {"must contain at most %[2]d %[4]s", "O campo %[1]s deve ter no máximo %[2]d %[5]s."},
	"email":        {"must be a valid e-mail address", "O campo %[1]s deve ser um endereço de e-mail válido."},
	"intFormat":    {"must be a %[2]s integer", "O campo %[1]s deve ser um número inteiro (%[2]s)."},
	"intRange":     {"must be an integer in range", "O campo %[1]s deve ser um número inteiro dentro do limite."},
	"namedFormat":  {"must be a valid %[2]s", "O campo %[1]s deve ser um %[2]s válido."},
	"format":       {"has an invalid format", "O campo %[1]s tem um formato inválido."},
	"badValue":     {"has an invalid value", "O campo %[1]s tem um valor inválido."},
	"invalid":      {"is invalid", "O campo %[1]s é inválido."},
	// The fields of "exactly one of", joined: "lead_id or phone".
	"oneRequired": {"%[1]s is required", "O campo %[2]s é obrigatório."},
	"notBoth":     {"give %[1]s, not both", "Os campos %[3]s não podem ser enviados juntos."},
}

// say renders a message of kind k about field.
func say(field string, k kind, args ...any) impl.Text {
	s, ok := sentences[k]
	if !ok {
		s = sentences["invalid"]
	}
	leaf := field
	if i := strings.LastIndexAny(field, ".]"); i >= 0 && i+1 < len(field) {
		leaf = field[i+1:]
	}
	en := append([]any{leaf}, args...)
	pt := append([]any{field}, args...)
	switch k {
	case "itemsBetween", "minItems", "maxItems":
		// English names what the list holds after the field ("10 cards");
		// Portuguese counts items.
		noun := strings.ReplaceAll(leaf, "_", " ")
		en = []any{leaf, args[0], argOr(args, 1), noun}
		pt = []any{field, args[0], argOr(args, 1), noun, itens(args[0])}
	}
	return impl.Text{En: sprintf(s.en, en...), PtBR: sprintf(s.pt, pt...)}
}

// sprintf is fmt.Sprintf for sentences that may use none of the arguments.
func sprintf(format string, args ...any) string {
	if !strings.Contains(format, "%") {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// sayFields renders a message about several fields together.
func sayFields(fields []string, k kind) impl.Text {
	s := sentences[k]
	or, ou, e := strings.Join(fields, " or "), strings.Join(fields, " ou "), strings.Join(fields, " e ")
	return impl.Text{En: sprintf(s.en, or), PtBR: sprintf(s.pt, or, ou, e)}
}

func argOr(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return 0
}

func itens(n any) string {
	if fmt.Sprint(n) == "1" {
		return "item"
	}
	return "itens"
}

// typeKind is the message for a value that is not of JSON type t.
func typeKind(t string) kind {
	if _, ok := sentences[kind(t)]; ok {
		return kind(t)
	}
	return "invalid"
}

// PatternText is the schema's x-pattern-message about field. The
// extension holds one predicate per language, {"en": "must not be blank",
// "pt-BR": "não pode ficar em branco"}; the Portuguese one is completed into
// the reference's "O campo … ." sentence. A plain string is English only.
func PatternText(field string, s *openapi3.Schema) (impl.Text, bool) {
	en, pt := PatternMessage(s)
	if en == "" {
		return impl.Text{}, false
	}
	t := say(field, "format")
	t.En = en
	if pt != "" {
		t.PtBR = fmt.Sprintf("O campo %s %s.", field, pt)
	}
	return t, true
}

// PatternMessage returns the English and Portuguese predicates of a schema's
// x-pattern-message ("" when it has none, or none in that language).
func PatternMessage(s *openapi3.Schema) (en, ptBR string) {
	switch m := s.Extensions["x-pattern-message"].(type) {
	case string:
		return m, ""
	case map[string]any:
		en, _ = m[impl.LangEn].(string)
		ptBR, _ = m[impl.LangPtBR].(string)
		return en, ptBR
	}
	return "", ""
}

// details collects field messages in both languages.
type details struct {
	en, pt map[string][]string
}

func newDetails() *details {
	return &details{en: map[string][]string{}, pt: map[string][]string{}}
}

// add files t under field once.
func (d *details) add(field string, t impl.Text) {
	for _, m := range d.en[field] {
		if m == t.En {
			return
		}
	}
	d.en[field] = append(d.en[field], t.En)
	d.pt[field] = append(d.pt[field], t.PtBR)
}
