package contracttests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// What most tests share: the error envelope and its one assertion, and
// requests with JSON bodies.

// errorBody is the error envelope that every 4xx and 5xx carries.
type errorBody struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Details map[string][]string `json:"details"`
	} `json:"error"`
}

// detail is the messages of one details key, joined.
func (e errorBody) detail(key string) string { return strings.Join(e.Error.Details[key], "; ") }

// fields is the details keys, sorted.
func (e errorBody) fields() []string {
	keys := make([]string, 0, len(e.Error.Details))
	for k := range e.Error.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// about reports whether the details are about field alone: there are some,
// each names field itself or one of its elements (events[0]), and each has a
// message.
func (e errorBody) about(field string) bool {
	if len(e.Error.Details) == 0 {
		return false
	}
	for k, msgs := range e.Error.Details {
		if k != field && !strings.HasPrefix(k, field+"[") || len(msgs) == 0 {
			return false
		}
	}
	return true
}

// wantError checks that an answer is the documented error: status, a JSON
// body that is the envelope, code, and a message; and, when fields are
// given, details about exactly those fields. It reports without stopping,
// so that a table of cases shows every case that fails, and returns the
// envelope for the caller's checks of details and message (the zero
// envelope when the status is wrong).
func wantError(t testing.TB, res *http.Response, body []byte, status int, code string, fields ...string) errorBody {
	t.Helper()
	what := "the answer"
	if req := res.Request; req != nil {
		what = req.Method + " " + req.URL.RequestURI()
		if req.Header.Get("X-API-Key") != "" {
			what += " (key in X-API-Key)"
		}
	}
	var e errorBody
	if res.StatusCode != status {
		t.Errorf("%s: %d, want %d %s: %s", what, res.StatusCode, status, code, body)
		return e
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s: not the error envelope: %v: %s", what, err, body)
		return errorBody{}
	}
	if e.Error.Code != code {
		t.Errorf("%s: code %q, want %q: %s", what, e.Error.Code, code, body)
	}
	if e.Error.Message == "" {
		t.Errorf("%s: the error has no message: %s", what, body)
	}
	if len(fields) > 0 {
		if want := slices.Sorted(slices.Values(fields)); !slices.Equal(e.fields(), want) {
			t.Errorf("%s: details name %v, want %v: %s", what, e.fields(), want, body)
		}
	}
	return e
}

// rawJSON is a JSON request body sent exactly as written, for bodies a
// marshalled value cannot be (null fields, numbers as written, invalid
// JSON).
type rawJSON string

// doJSON sends a request through the validating transport. body is nil (no
// body), a rawJSON (sent verbatim) or a value to marshal.
func doJSON(t testing.TB, tg *target, key, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var raw []byte
	contentType := ""
	switch b := body.(type) {
	case nil:
	case rawJSON:
		raw, contentType = []byte(b), "application/json"
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
		contentType = "application/json"
	}
	return tg.raw(t, key, method, path, contentType, raw)
}

// expectJSON is doJSON that fails the test unless the status is want, and
// decodes the answer into out when out is not nil.
func expectJSON(t testing.TB, tg *target, key, method, path string, body any, want int, out any) []byte {
	t.Helper()
	res, got := doJSON(t, tg, key, method, path, body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, got, err)
		}
	}
	return got
}

// postJSON posts body, marshalled, to path with key.
func postJSON(t *testing.T, tg *target, key, path string, body map[string]any) (*http.Response, []byte) {
	t.Helper()
	return doJSON(t, tg, key, http.MethodPost, path, body)
}

// merged is a copy of base with fields added.
func merged(base map[string]any, fields map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(fields))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range fields {
		out[k] = v
	}
	return out
}

func whDeref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// errorRecorder keeps the errors reported to it instead of failing the
// test, for an attempt that may be run again.
type errorRecorder struct {
	testing.TB
	errs []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *errorRecorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }
