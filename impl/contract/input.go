package contract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

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
	_, err := scanJSON(data, false)
	return err
}

// ScanBody reads a JSON request body once for the input policy: the error
// of an unreadable body (CheckJSON's), else the fields with control
// characters (ControlChars'), as BodyError and the details of a 422.
func ScanBody(data []byte) (map[string][]string, error) {
	return scanJSON(data, true)
}

// BodyError is the 400 answer to a body ScanBody found unreadable.
func BodyError(err error) error {
	return impl.Errorf(impl.EBadRequest, "%s.", capitalize(err.Error()))
}

// ControlChars returns the field paths of the strings (keys or values) of a
// JSON body that hold control characters other than tab, line feed and
// carriage return, each with its message; nil when there are none or the
// body is not JSON. It complements the schema: a field whose pattern
// already refuses them reports its own message first.
func ControlChars(data []byte) map[string][]string {
	bad, err := scanJSON(data, true)
	if err != nil {
		return nil
	}
	return bad
}

func scanJSON(data []byte, controls bool) (map[string][]string, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	var bad map[string][]string
	for depth := 0; ; {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, jsonError(err)
		}
		switch tok.Kind() {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			if controls && impl.HasControlChars(tok.String()) {
				p := FieldPath(string(dec.StackPointer()))
				if bad == nil {
					bad = map[string][]string{}
				}
				bad[p] = []string{ControlCharsMessage}
			}
		}
		if depth == 0 {
			break
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errTrailingData
	}
	return bad, nil
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
