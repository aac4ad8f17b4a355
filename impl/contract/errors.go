package contract

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/iagente/iagente-sdr/impl"
)

// RequestError translates an error from openapi3filter.ValidateRequest:
//
//   - a body over the limit is 413 payload_too_large;
//   - an unreadable body (wrong Content-Type, malformed JSON, no body) is
//     400 bad_request;
//   - invalid parameters are 400 bad_request, with details per parameter;
//   - a readable body that breaks the schema is 422 validation_error, with
//     details per field path.
func RequestError(err error) error {
	var (
		unreadable string
		params     = newDetails()
		fields     = newDetails()
	)
	for _, re := range requestErrors(err) {
		switch {
		case re.Parameter != nil:
			collect(params, re.Parameter.Name, re.Err, typeHint(re.Parameter))
		case re.RequestBody != nil:
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(re.Err, &tooLarge):
				return impl.Errorf(impl.EPayloadTooLarge, "The request body is larger than 1 MiB.")
			case strings.HasPrefix(re.Reason, "header Content-Type has unexpected value"):
				unreadable = "The Content-Type header must be application/json."
			case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
				unreadable = "The request body is required."
			case isDecodeError(re.Err):
				unreadable = capitalize(decodeMessage(re.Err)) + "."
			case hasSchemaError(re.Err):
				collect(fields, "", re.Err, "")
			default:
				unreadable = "The request body could not be read."
			}
		}
	}
	switch {
	case len(params.en) > 0:
		return &impl.Error{Code: impl.EBadRequest, Message: "The request has invalid parameters.", Details: params.en, DetailsPtBR: params.pt}
	case unreadable != "":
		return impl.Errorf(impl.EBadRequest, "%s", unreadable)
	case len(fields.en) > 0:
		return &impl.Error{Code: impl.EValidation, Message: "The given data was invalid.", Details: fields.en, DetailsPtBR: fields.pt}
	default:
		return impl.Errorf(impl.EBadRequest, "The request is invalid.")
	}
}

// requestErrors lists the per-parameter and per-body errors. It switches on
// concrete types: errors.As would dive through Unwrap into the nested schema
// errors and lose the structure.
func requestErrors(err error) []*openapi3filter.RequestError {
	switch e := err.(type) {
	case openapi3.MultiError:
		var out []*openapi3filter.RequestError
		for _, x := range e {
			out = append(out, requestErrors(x)...)
		}
		return out
	case *openapi3filter.RequestError:
		return []*openapi3filter.RequestError{e}
	}
	return nil
}

func isDecodeError(err error) bool {
	for _, e := range []error{errInvalidUTF8, errTrailingData, errJSONSyntax, errNumberInvalid, errDuplicateName, errLoneSurrogate} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func decodeMessage(err error) string {
	for _, e := range []error{errInvalidUTF8, errTrailingData, errNumberInvalid, errDuplicateName, errLoneSurrogate} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	var pe *openapi3filter.ParseError
	if errors.As(err, &pe) && pe.Cause != nil {
		return pe.Cause.Error()
	}
	return errJSONSyntax.Error()
}

func hasSchemaError(err error) bool {
	var se *openapi3.SchemaError
	return errors.As(err, &se)
}

// collect walks err down to its schema errors and files one message per
// leaf under its field path, prefixed by root (a parameter name or "").
func collect(into *details, root string, err error, hint kind) {
	walk(err, nil, func(path []string, se *openapi3.SchemaError, other error) {
		if se == nil {
			field := fieldName(root, path)
			into.add(field, otherMessage(field, other, hint))
			return
		}
		if se.SchemaField == "discriminator" && se.Schema != nil && se.Schema.Discriminator != nil {
			// The message is about the discriminating property, not the object.
			field := fieldName(root, append(path, se.Schema.Discriminator.PropertyName))
			into.add(field, describeDiscriminator(field, se))
			return
		}
		if fields, msg, ok := exclusiveFields(se); ok {
			// "exactly one of a and b", stated in the spec as an anyOf of
			// required lists plus a not: the message goes on each field.
			for _, f := range fields {
				into.add(fieldName(root, append(path, f)), msg)
			}
			return
		}
		if se.SchemaField == "properties" {
			// An unknown property: kin-openapi names it only in the reason.
			if name, ok := unsupportedProperty(se.Reason); ok {
				field := fieldName(root, append(path, name))
				into.add(field, say(field, "unknown"))
				return
			}
		}
		field := fieldName(root, path)
		into.add(field, describe(field, se))
	})
}

// walk calls leaf for every innermost error under err with its JSON path.
// A failure inside allOf/anyOf/oneOf is reported as the inner failure, at
// the full path, since that is the one a partner can fix.
func walk(err error, path []string, leaf func(path []string, se *openapi3.SchemaError, other error)) {
	switch e := err.(type) {
	case nil:
	case openapi3.MultiError:
		for _, x := range e {
			walk(x, path, leaf)
		}
	case *openapi3.SchemaError:
		p := append(append([]string(nil), path...), e.JSONPointer()...)
		switch e.SchemaField {
		case "allOf", "anyOf", "oneOf":
			// kin-openapi marks the inner errors with the property keys
			// too, so they carry the full path already.
			if e.Origin != nil {
				walk(e.Origin, path, leaf)
				return
			}
		}
		leaf(p, e, nil)
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			walk(x, path, leaf)
		}
	case *openapi3filter.ParseError:
		leaf(path, nil, e)
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			walk(inner, path, leaf)
			return
		}
		leaf(path, nil, err)
	default:
		leaf(path, nil, err)
	}
}

var unsupportedRe = regexp.MustCompile(`^property "(.*)" is unsupported$`)

func unsupportedProperty(reason string) (string, bool) {
	m := unsupportedRe.FindStringSubmatch(reason)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func fieldName(root string, path []string) string {
	if f := joinPath(root, path); f != "" {
		return f
	}
	return "body"
}

// typeHint is what a parameter that failed to parse should have been: a
// kind of message, or "" when its schema names no type.
func typeHint(p *openapi3.Parameter) kind {
	if p.Schema == nil || p.Schema.Value == nil || p.Schema.Value.Type == nil || len(p.Schema.Value.Type.Slice()) == 0 {
		return ""
	}
	return typeKind(p.Schema.Value.Type.Slice()[0])
}

func otherMessage(field string, err error, hint kind) impl.Text {
	var pe *openapi3filter.ParseError
	switch {
	case errors.As(err, &pe) && hint != "":
		return say(field, hint)
	case errors.As(err, &pe):
		return say(field, parseKind(pe))
	case errors.Is(err, openapi3filter.ErrInvalidRequired):
		return say(field, "required")
	case errors.Is(err, openapi3filter.ErrInvalidEmptyValue):
		return say(field, "empty")
	}
	return say(field, "invalid")
}

// joinPath renders a JSON pointer as a field path: cards[3].title.
func joinPath(root string, pointer []string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, seg := range pointer {
		if _, err := strconv.Atoi(seg); err == nil && b.Len() > 0 {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func parseKind(pe *openapi3filter.ParseError) kind {
	if pe.Kind == openapi3filter.KindInvalidFormat {
		return "format"
	}
	r := pe.Reason
	if r == "" && pe.Cause != nil {
		r = pe.Cause.Error()
	}
	for _, t := range []string{"integer", "number", "boolean"} {
		if strings.Contains(r, t) {
			return kind(t)
		}
	}
	return "invalid"
}

// describe turns one schema violation into a sentence a partner can act on.
// The limits are read from the schema, so the message can never disagree
// with the spec.
func describe(field string, se *openapi3.SchemaError) impl.Text {
	s := se.Schema
	switch se.SchemaField {
	case "required":
		return say(field, "required")
	case "additionalProperties":
		return say(field, "unknown")
	case "nullable":
		return say(field, "null")
	case "type":
		if se.Value == nil {
			return say(field, "null")
		}
		if s != nil && s.Type != nil && len(s.Type.Slice()) > 0 {
			return say(field, typeKind(s.Type.Slice()[0]))
		}
	case "enum":
		if se.Value == nil {
			return say(field, "null")
		}
		if s != nil {
			vals := make([]string, 0, len(s.Enum))
			for _, v := range s.Enum {
				vals = append(vals, fmt.Sprint(v))
			}
			return say(field, "enum", strings.Join(vals, ", "))
		}
	case "maxLength":
		if s != nil && s.MaxLength != nil {
			return say(field, "maxLength", *s.MaxLength)
		}
	case "minLength":
		if s != nil {
			if s.MinLength == 1 {
				return say(field, "empty")
			}
			return say(field, "minLength", s.MinLength)
		}
	case "minimum", "maximum":
		if s != nil && s.Min != nil && s.Max != nil {
			return say(field, "between", num(*s.Min), num(*s.Max))
		}
		if se.SchemaField == "minimum" && s != nil && s.Min != nil {
			return say(field, "min", num(*s.Min))
		}
		if s != nil && s.Max != nil {
			return say(field, "max", num(*s.Max))
		}
	case "minItems", "maxItems":
		if s != nil && s.MaxItems != nil && s.MinItems > 0 {
			return say(field, "itemsBetween", s.MinItems, *s.MaxItems)
		}
		if se.SchemaField == "maxItems" && s != nil && s.MaxItems != nil {
			return say(field, "maxItems", *s.MaxItems)
		}
		if s != nil {
			return say(field, "minItems", s.MinItems)
		}
	case "pattern":
		if s != nil {
			if t, ok := PatternText(field, s); ok {
				return t
			}
		}
		return say(field, "format")
	case "format":
		if s != nil && (s.Format == "int32" || s.Format == "int64") && s.Min != nil && s.Max != nil {
			return say(field, "between", num(*s.Min), num(*s.Max))
		}
		if s != nil && (s.Format == "int32" || s.Format == "int64") {
			return say(field, "intFormat", s.Format)
		}
		if s != nil && s.Format == "email" {
			return say(field, "email")
		}
		if s != nil && s.Format != "" {
			return say(field, "namedFormat", s.Format)
		}
	case "int32", "int64":
		return say(field, "intRange")
	}
	t := say(field, "invalid")
	if se.Reason != "" {
		// kin-openapi's own words, in English only: a keyword the spec
		// does not use yet.
		t.En = se.Reason
	}
	return t
}

// exclusiveFields recognises the spec's way of saying "exactly one of these
// fields": an anyOf whose alternatives only require one field each (none
// given), or a not that only requires them all (more than one given).
func exclusiveFields(se *openapi3.SchemaError) ([]string, impl.Text, bool) {
	s := se.Schema
	if s == nil {
		return nil, impl.Text{}, false
	}
	switch se.SchemaField {
	case "anyOf":
		var fields []string
		for _, alt := range s.AnyOf {
			if alt.Value == nil || len(alt.Value.Required) != 1 || len(alt.Value.Properties) > 0 {
				return nil, impl.Text{}, false
			}
			fields = append(fields, alt.Value.Required[0])
		}
		if len(fields) < 2 {
			return nil, impl.Text{}, false
		}
		return fields, sayFields(fields, "oneRequired"), true
	case "not":
		if s.Not == nil || s.Not.Value == nil || len(s.Not.Value.Required) < 2 || len(s.Not.Value.Properties) > 0 {
			return nil, impl.Text{}, false
		}
		fields := s.Not.Value.Required
		return fields, sayFields(fields, "notBoth"), true
	}
	return nil, impl.Text{}, false
}

// describeDiscriminator says what the discriminating property of a oneOf
// must be: its values, in the order the oneOf lists their schemas.
func describeDiscriminator(field string, se *openapi3.SchemaError) impl.Text {
	if strings.Contains(se.Reason, "does not contain") {
		return say(field, "required")
	}
	d := se.Schema.Discriminator
	var values []string
	for _, ref := range se.Schema.OneOf {
		for value, target := range d.Mapping {
			if target.Ref == ref.Ref {
				values = append(values, value)
			}
		}
	}
	if len(values) == 0 {
		return say(field, "badValue")
	}
	return say(field, "enum", strings.Join(values, ", "))
}

func num(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
