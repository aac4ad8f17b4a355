// Package contract is the glue between the spec and kin-openapi, shared by
// the server's validation middleware and the contract suite: the validation
// options, the format validators, the strict JSON body decoder, and the
// translation of kin-openapi's errors into application errors whose details
// name each offending field.
package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

func init() {
	// kin-openapi keeps body decoders in a global registry; this one is
	// stricter than the default about what counts as one JSON document.
	openapi3filter.RegisterBodyDecoder("application/json", decodeJSONBody)
}

// The formats every response carries (date-time in each resource, email
// in each lead) are checked by small functions instead of regexps: the
// regexps were 5% of a GET /leads/{id} with validation on. formats_test.go
// proves each function accepts exactly what its regexp does.
//
// One map for every validation, handed over whole: WithStringFormatValidator
// makes a map and fills it at each VisitJSON call (3% of a GET /leads/{id}
// with validation on); kin-openapi only reads this one.
var stringFormats = map[string]openapi3.StringFormatValidator{
	"email": openapi3.NewCallbackValidator(func(s string) error {
		if !isEmail(s) {
			return errors.New("not a valid e-mail address")
		}
		return nil
	}),
	"date-time": openapi3.NewCallbackValidator(func(s string) error {
		if !isDateTime(s) {
			// kin-openapi's own words for its regexp's refusal.
			return fmt.Errorf(`string doesn't match pattern "%s"`, openapi3.FormatOfStringDateTime)
		}
		return nil
	}),
}

// schemaOptions are the schema options of every validation: the formats
// above, and the spec's patterns compiled by compilePattern.
func schemaOptions() []openapi3.SchemaValidationOption {
	return []openapi3.SchemaValidationOption{
		openapi3.WithStringFormatValidators(stringFormats),
		openapi3.SetSchemaRegexCompiler(compilePattern),
	}
}

// RequestOptions are the options for validating requests. Authentication is
// the auth middleware's job, so the spec's security is not re-checked here.
//
// Schema error details are disabled: otherwise kin-openapi renders each
// failing value, indented, into the error text while it validates (allOf
// does so eagerly), which costs time and memory quadratic in the nesting of
// a hostile body, and would put a partner's data into any log of the error.
// RequestError reads the structured errors, never their text.
//
// Defaults are not written into the request: the handlers apply the spec's
// defaults themselves (so they behave the same with validation off), and
// they must tell a parameter left out from one given with its default value:
// GET /leads refuses `page` next to a `cursor`, and takes the cursor's sort
// when `sort` is left out.
func RequestOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		MultiError:              true,
		SkipSettingDefaults:     true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		KeepValidatedValue:      true,
		SchemaValidationOptions: append(schemaOptions(), openapi3.DisableSchemaErrorDetails()),
	}
}

// ResponseOptions are the options for validating responses: a status the
// spec does not list for the operation is a violation too.
func ResponseOptions() *openapi3filter.Options {
	return &openapi3filter.Options{
		MultiError:              true,
		IncludeResponseStatus:   true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: schemaOptions(),
	}
}

// Body decoding failures; RequestError maps them to 400 with these messages.
var (
	errInvalidUTF8   = errors.New("the request body is not valid UTF-8")
	errTrailingData  = errors.New("the request body has data after the JSON value")
	errJSONSyntax    = errors.New("the request body is not valid JSON")
	errNumberInvalid = errors.New("the request body has a number that cannot be represented")
	errDuplicateName = errors.New("the request body has an object with the same key twice")
	errLoneSurrogate = errors.New("the request body has a \\u escape of half a surrogate pair, which is not a character")
)

// controlCharsError names the strings of a body that hold control
// characters other than tab, line feed and carriage return. It is a
// validation error (422), not an unreadable body: the JSON is fine.
type controlCharsError struct{ fields map[string][]string }

func (e *controlCharsError) Error() string {
	return "the request body has control characters in strings"
}

// decodeJSONBody decodes exactly one JSON value. Unlike the default decoder
// it refuses invalid UTF-8 (which would otherwise be silently replaced) and
// anything after the value. The stricter input policy (lone surrogates,
// keys given twice, control characters) is ScanBody's, which the server
// runs once on a request body before this decodes it; responses, which we
// wrote, need only this.
func decodeJSONBody(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(data) {
		return nil, errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %s", errJSONSyntax, jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailingData
	}
	return checkNumbers(v)
}

// checkNumbers refuses numbers a float64 cannot hold (1e400): they would
// pass as +Inf and fail later, somewhere less helpful. It also rewrites
// whole numbers written as 50.0 or 1e2 as 50 and 100: JSON Schema counts
// them as integers, and the handlers' integer fields must bind them.
func checkNumbers(v any) (any, error) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return nil, errNumberInvalid
		}
		if _, err := t.Int64(); err != nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return json.Number(strconv.FormatInt(int64(f), 10)), nil
		}
	case map[string]any:
		for k, e := range t {
			n, err := checkNumbers(e)
			if err != nil {
				return nil, err
			}
			t[k] = n
		}
	case []any:
		for i, e := range t {
			n, err := checkNumbers(e)
			if err != nil {
				return nil, err
			}
			t[i] = n
		}
	}
	return v, nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return err.Error()
}
