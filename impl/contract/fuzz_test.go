package contract_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/iagente/iagente-sdr/impl"
)

// FuzzRequestError feeds raw bodies to the lead operations that take one.
// Whatever the body, validation plus translation must not panic and must
// give one of the documented client errors with a usable message.
//
// `go test` runs only the seeds; explore further with
//
//	go test -fuzz=FuzzRequestError -fuzztime=30s -fuzzminimizetime=2s ./impl/contract/
//
// (Without the short minimize time the workers spend most of a short run
// minimizing interesting inputs derived from the 100 KB seeds.)
func FuzzRequestError(f *testing.F) {
	for _, seed := range []string{
		``,
		` `,
		`{}`,
		`[]`,
		`null`,
		`"x"`,
		`0`,
		`{"phone":"11999999999"}`,
		`{"phone":"+55 (11) 99999-9999","name":"Maria","email":"maria@empresa.com","company_name":"Tech","deal_value":15000,"temperature":"hot","lead_score":85}`,
		`{"phone":"123"}`,
		`{"phone":null}`,
		`{"phone":"11999999999","extra":1}`,
		`{"phone":"11999999999","lead_score":101}`,
		`{"phone":"11999999999","lead_score":99999999999999999999999999}`,
		`{"phone":"11999999999","lead_score":1.5}`,
		`{"phone":"11999999999","temperature":null,"lead_score":null}`,
		`{"phone":"11999999999","temperature":"boiling"}`,
		`{"phone":"11999999999","email":"nope"}`,
		`{"phone":"11999999999","name":"a\u0001b"}`,
		`{"phone":"1","extra":1,"lead_score":101,"email":"x","temperature":"x","deal_value":-1}`,
		`{"phone":`,
		`{"phone":"11999999999"} x`,
		`{"phone":"11999999999"}{}`,
		"{\"phone\":\"11999999999\",\"name\":\"\xff\"}",
		`{"phone":"11999999999","deal_value":1e400}`,
		`{"phone":"11999999999","deal_value":-1e-400}`,
		"\ufeff{}",
		`{"phone":"11999999999","name":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
		strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000),
		strings.Repeat("[", 100000),
		`{"":1,"\u0000":2,"a/b~c":3}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, op := range []struct{ method, path string }{
			{"POST", "/api/v1/leads"},
			{"PUT", "/api/v1/leads/1"},
			{"PATCH", "/api/v1/leads/1"},
		} {
			got := check(t, op.method, op.path, jsonCT, string(body))
			if got == nil {
				continue
			}
			switch got.Code {
			case impl.EBadRequest, impl.EValidation, impl.EPayloadTooLarge:
			default:
				t.Fatalf("%s %s %q: code %q, want a 400, 413 or 422 code", op.method, op.path, body, got.Code)
			}
			if got.Message == "" || strings.Contains(got.Message, "\n") {
				t.Fatalf("%s %s %q: message %q", op.method, op.path, body, got.Message)
			}
			if got.Code == impl.EValidation && len(got.Details) == 0 {
				t.Fatalf("%s %s %q: validation error without details", op.method, op.path, body)
			}
			for field, msgs := range got.Details {
				if field == "" || len(msgs) == 0 {
					t.Fatalf("%s %s %q: details %v has an empty field or no messages", op.method, op.path, body, got.Details)
				}
				for _, m := range msgs {
					// A raw kin-openapi report (with its "Schema:" dump)
					// must never reach a partner.
					if m == "" || strings.Contains(m, "\n") || !utf8.ValidString(m) {
						t.Fatalf("%s %s %q: details[%q] has message %q", op.method, op.path, body, field, m)
					}
				}
			}
		}
	})
}
