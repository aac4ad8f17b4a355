package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/iagente/iagente-sdr/impl"
)

// The input policy, in one place: what no string we accept may hold, and
// which bodies are not JSON we read, whatever the spec says about the field.

// ControlCharsMessage is the detail for a string with a forbidden
// character.
const ControlCharsMessage = "must not contain control characters"

// ControlCharsText is that detail about field in both languages.
func ControlCharsText(field string) impl.Text {
	return impl.Text{En: ControlCharsMessage, PtBR: "O campo " + field + " não pode conter caracteres de controle."}
}

// CheckJSON reads data as exactly one JSON value under the input policy:
// valid UTF-8 without lone surrogates, no object with the same key twice,
// and no data after the value. Its errors are ones RequestError answers
// with 400.
func CheckJSON(data []byte) error {
	_, _, err := decodeJSON(data, false)
	return err
}

// DecodeJSON reads a JSON request body once: the error of an unreadable
// body (CheckJSON's, answered with BodyError), else the decoded value, as
// kin-openapi's schemas take it (numbers as json.Number, whole numbers
// written 50.0 or 1e2 as integers, see checkNumbers), and the fields with
// control characters (ControlChars'), for the details of a 422.
func DecodeJSON(data []byte) (any, map[string][]string, error) {
	return decodeJSON(data, true)
}

// BodyError is the 400 answer to a body DecodeJSON found unreadable.
func BodyError(err error) error {
	return impl.Errorf(impl.EBadRequest, "%s.", capitalize(err.Error()))
}

// ControlChars returns the field paths of the strings (keys or values) of a
// JSON body that hold control characters other than tab, line feed and
// carriage return, each with its message; nil when there are none or the
// body is not JSON. It complements the schema: a field whose pattern
// already refuses them reports its own message first.
func ControlChars(data []byte) map[string][]string {
	_, bad, err := decodeJSON(data, true)
	if err != nil {
		return nil
	}
	return bad
}

// IsJSON reports a JSON media type: the only bodies the API reads.
func IsJSON(contentType string) bool {
	if contentType == "application/json" {
		return true // what the server writes: no need to parse it
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// container is an object or array being decoded.
type container struct {
	obj map[string]any
	arr []any
	key string // the member being read, in an object
	// named is set in an object between a member's name and its value.
	named bool
}

// decoder is what decodeJSON reuses from one body to the next: the
// tokenizer and its state, and the stack of open containers. The body is
// given to the tokenizer as a bytes.Buffer, which it reads in place rather
// than copying it into a buffer of its own. Allocating all this afresh, and
// the copy, were a fifth of what validating a response allocated.
type decoder struct {
	dec   jsontext.Decoder
	body  bytes.Buffer
	stack []container
}

var decoders = sync.Pool{New: func() any { return new(decoder) }}

// Options of the tokenizer for a request and for a response. A response
// is written by encoding/json from our own values, which cannot hold a name
// twice, so the check for duplicate names (and the set of names it keeps
// for every object) is a request's only.
var (
	requestJSON  = []jsontext.Options{}
	responseJSON = []jsontext.Options{jsontext.AllowDuplicateNames(true)}
)

// decodeJSON decodes one JSON value token by token with jsontext, which
// enforces the input policy's syntax (strict UTF-8, no duplicate names),
// building the value without recursion. controls asks for the paths of
// strings with control characters.
func decodeJSON(data []byte, controls bool) (any, map[string][]string, error) {
	return decodeWith(data, controls, requestJSON)
}

// decodeResponse is decodeJSON for a response body (see responseJSON).
func decodeResponse(data []byte) (any, error) {
	v, _, err := decodeWith(data, false, responseJSON)
	return v, err
}

func decodeWith(data []byte, controls bool, opts []jsontext.Options) (any, map[string][]string, error) {
	d := decoders.Get().(*decoder)
	defer func() {
		// Keep no reference to data or to the values built.
		d.body = bytes.Buffer{}
		d.dec.Reset(&d.body)
		clear(d.stack[:cap(d.stack)])
		d.stack = d.stack[:0]
		decoders.Put(d)
	}()
	d.body = *bytes.NewBuffer(data)
	d.dec.Reset(&d.body, opts...)
	dec := &d.dec
	var (
		bad  map[string][]string
		root any
	)
	put := func(v any) {
		if len(d.stack) == 0 {
			root = v
			return
		}
		top := &d.stack[len(d.stack)-1]
		if top.obj != nil {
			top.obj[top.key] = v
			top.named = false
		} else {
			top.arr = append(top.arr, v)
		}
	}
	// checkControls notes the string just read (a name or a value) when it
	// holds control characters and the caller asked for them.
	checkControls := func(s string) {
		if controls && impl.HasControlChars(s) {
			if bad == nil {
				bad = map[string][]string{}
			}
			bad[FieldPath(string(dec.StackPointer()))] = []string{ControlCharsMessage}
		}
	}
	names := knownNames()
	for {
		// An object's member name is read raw: one the spec knows, written
		// without escapes, is its string from knownNames, not a new one.
		if top := len(d.stack) - 1; top >= 0 && d.stack[top].obj != nil && !d.stack[top].named && dec.PeekKind() == '"' {
			raw, err := dec.ReadValue()
			if err != nil {
				return nil, nil, jsonError(err)
			}
			inner := raw[1 : len(raw)-1]
			name, known := names[string(inner)]
			if !known || bytes.IndexByte(inner, '\\') >= 0 {
				unquoted, err := jsontext.AppendUnquote(nil, raw)
				if err != nil {
					return nil, nil, jsonError(err)
				}
				name = string(unquoted)
			}
			checkControls(name)
			d.stack[top].key, d.stack[top].named = name, true
			continue
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, nil, jsonError(err)
		}
		switch tok.Kind() {
		case '{':
			d.stack = append(d.stack, container{obj: map[string]any{}})
			continue
		case '[':
			d.stack = append(d.stack, container{arr: []any{}})
			continue
		case '}', ']':
			done := d.stack[len(d.stack)-1]
			d.stack = d.stack[:len(d.stack)-1]
			if done.obj != nil {
				put(done.obj)
			} else {
				put(done.arr)
			}
		case '"':
			s := tok.String()
			checkControls(s)
			put(s)
		case '0':
			n, err := number(tok.String())
			if err != nil {
				return nil, nil, err
			}
			put(n)
		case 't':
			put(true)
		case 'f':
			put(false)
		case 'n':
			put(nil)
		}
		if len(d.stack) == 0 {
			break
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, nil, errTrailingData
	}
	return root, bad, nil
}

// number is a JSON number as checkNumbers leaves it.
func number(text string) (json.Number, error) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return "", errNumberInvalid
	}
	if _, err := strconv.ParseInt(text, 10, 64); err != nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return json.Number(strconv.FormatInt(int64(f), 10)), nil
	}
	return json.Number(text), nil
}

// jsonError turns the decoder's error into one of the policy's.
func jsonError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: unexpected end of input", errJSONSyntax)
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		msg := se.Err.Error()
		switch {
		case errors.Is(se.Err, jsontext.ErrDuplicateName):
			return errDuplicateName
		case strings.Contains(msg, "surrogate"):
			return errLoneSurrogate
		case strings.Contains(msg, "UTF-8"):
			return errInvalidUTF8
		}
		return fmt.Errorf("%w: %s (at byte %d)", errJSONSyntax, msg, se.ByteOffset)
	}
	return fmt.Errorf("%w: %v", errJSONSyntax, err)
}

// FieldPath turns a JSON Pointer (/cards/2/title) into the field path the
// error details use (cards[2].title).
func FieldPath(pointer string) string {
	segs := strings.Split(strings.TrimPrefix(pointer, "/"), "/")
	for i, seg := range segs {
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
	}
	return joinPath("", segs)
}

// CheckCharset refuses a body whose Content-Type names a charset other than
// UTF-8: it would be read as UTF-8 anyway, and a Latin-1 "São" would arrive
// as something else. A missing charset is UTF-8, as RFC 8259 says for JSON.
func CheckCharset(contentType string) error {
	if contentType == "" {
		return nil
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil // the media type itself is validated against the spec
	}
	cs, ok := params["charset"]
	if !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "utf8") {
		return nil
	}
	return impl.Errorf(impl.EUnsupportedMediaType,
		"The request body must be UTF-8 JSON; charset %s is not supported.", printable(cs))
}

// printable keeps a caller's value fit to echo back in a message.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F || r > 0x7E {
			return '?'
		}
		return r
	}, s)
}
