package contract

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

func TestCheckJSON(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       error // nil: accepted
		fields     map[string][]string
	}{
		{"plain", `{"phone":"11999999999","name":"Maria\tSantos\r\nda Silva"}`, nil, nil},
		{"emoji as a pair", `{"name":"\ud83d\ude00"}`, nil, nil},
		{"lone high surrogate", `{"name":"\ud800"}`, errLoneSurrogate, nil},
		{"lone low surrogate", `{"name":"x\udc00y"}`, errLoneSurrogate, nil},
		{"duplicate key", `{"phone":"1","phone":"2"}`, errDuplicateName, nil},
		{"duplicate nested key", `{"cards":[{"title":"a","title":"b"}]}`, errDuplicateName, nil},
		{"invalid UTF-8", "{\"name\":\"S\xe3o\"}", errInvalidUTF8, nil},
		{"trailing value", `{"a":1} {"b":2}`, errTrailingData, nil},
		{"truncated", `{"a":`, errJSONSyntax, nil},
		{"NUL", `{"name":"a\u0000b"}`, nil, map[string][]string{"name": {ControlCharsMessage}}},
		{"bell in a card title", `{"cards":[{"title":"ok"},{"title":"\u0007"}]}`, nil,
			map[string][]string{"cards[1].title": {ControlCharsMessage}}},
		{"escape in a key", `{"a\u001bb":1}`, nil, map[string][]string{"a\x1bb": {ControlCharsMessage}}},
		{"lone surrogate in a key", `{"x\ud800":1}`, errLoneSurrogate, nil},
		{"duplicate key, once escaped", `{"phone":"1","ph\u006fne":"2"}`, errDuplicateName, nil},
		{"invalid UTF-8 in a key", "{\"n\xe3o\":1}", errInvalidUTF8, nil},
	} {
		err := CheckJSON([]byte(tt.body))
		switch {
		case tt.fields != nil:
			if got := ControlChars([]byte(tt.body)); err != nil || !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("%s: %v %v, want control characters at %v", tt.name, err, got, tt.fields)
			}
		case tt.want == nil && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCheckCharset(t *testing.T) {
	for ct, ok := range map[string]bool{
		"":                                  true,
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"application/json; charset=UTF-8":   true,
		"application/json;charset=utf8":     true,
		"application/json; charset=latin1":  false,
		"application/json; charset=utf-16":  false,
		"application/json; charset=\"x y\"": false,
	} {
		err := CheckCharset(ct)
		if ok != (err == nil) || (!ok && impl.ErrorCode(err) != impl.EUnsupportedMediaType) {
			t.Errorf("%q: %v", ct, err)
		}
	}
}

func TestFieldPath(t *testing.T) {
	for in, want := range map[string]string{
		"/phone": "phone", "/cards/2/title": "cards[2].title", "/a~1b/0": "a/b[0]", "/0": "0",
	} {
		if got := FieldPath(in); got != want {
			t.Errorf("FieldPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDecodeJSONNames: object names the spec knows, unknown ones and
// escaped ones decode to the same value encoding/json gives, in requests
// and responses.
func TestDecodeJSONNames(t *testing.T) {
	for _, body := range []string{
		`{"phone":"11999999999","name":"Maria","custom_fields":{"não":"sim","phone":1}}`,
		`{"ph\u006fne":"1","cards":[{"title":"a","suggestions":[{"type":"url","text":"x"}]}],"\u00e9":null}`,
		`{"":0,"data":[{"id":1,"tags":[]}],"meta":{"total":1e2,"next_cursor":"\/x"}}`,
	} {
		var want any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		want, err := checkNumbers(want)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := DecodeJSON([]byte(body))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("request %s: %#v, %v; want %#v", body, got, err, want)
		}
		if got, err := decodeResponse([]byte(body)); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("response %s: %#v, %v; want %#v", body, got, err, want)
		}
	}
	if len(knownNames()) < 50 {
		t.Errorf("the spec's property names: %d, want the spec's many", len(knownNames()))
	}
}
