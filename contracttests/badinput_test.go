package contracttests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/client"
)

// TestBadInput sends hostile bodies to every writing operation: each must
// get a documented 4xx with the envelope, and nothing stored may change.
func TestBadInput(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key
		if !tg.remote() {
			key = tg.freshOrg(t)
		}
		c := tg.client(t, key, bearer)
		victim := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Intacta")})
		before := list(t, c, client.ListLeadsParams{}).Meta.Total

		deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
		deepArray := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
		cases := []struct {
			name, contentType, body string
			status                  int
			code                    string
		}{
			{"empty body", "application/json", "", 400, "bad_request"},
			{"whitespace body", "application/json", "   \n", 400, "bad_request"},
			{"malformed JSON", "application/json", `{"phone":`, 400, "bad_request"},
			{"trailing garbage", "application/json", `{"phone":"11988887777"} trailing`, 400, "bad_request"},
			{"two documents", "application/json", `{"phone":"11988887777"}{"phone":"11988887778"}`, 400, "bad_request"},
			{"invalid UTF-8", "application/json", "{\"phone\":\"11988887777\",\"name\":\"\xff\xfe\"}", 400, "bad_request"},
			{"number beyond float64", "application/json", `{"phone":"11988887777","deal_value":1e400}`, 400, "bad_request"},
			{"integer beyond int64", "application/json", `{"phone":"11988887777","lead_score":92233720368547758080}`, 422, "validation_error"},
			{"NUL in a string", "application/json", `{"phone":"11988887777","name":"a\u0000b"}`, 422, "validation_error"},
			{"control character", "application/json", `{"phone":"11988887777","company_name":"x\u001by"}`, 422, "validation_error"},
			{"NUL in phone", "application/json", `{"phone":"1198888\u00007777"}`, 422, "validation_error"},
			{"deeply nested object", "application/json", deep, 400, "bad_request"},
			{"deeply nested array", "application/json", deepArray, 400, "bad_request"},
			{"array body", "application/json", `[]`, 422, "validation_error"},
			{"string body", "application/json", `"x"`, 422, "validation_error"},
			{"null body", "application/json", `null`, 422, "validation_error"},
			{"wrong content type", "text/plain", `{"phone":"11988887777"}`, 400, "bad_request"},
			{"form content type", "application/x-www-form-urlencoded", `phone=11988887777`, 400, "bad_request"},
			{"no content type", "", `{"phone":"11988887777"}`, 400, "bad_request"},
			{"over 1 MiB", "application/json", `{"phone":"11988887777","name":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "payload_too_large"},
		}
		targets := []struct{ method, path string }{
			{http.MethodPost, "/leads"},
			{http.MethodPut, fmt.Sprintf("/leads/%d", victim.Id)},
			{http.MethodPatch, fmt.Sprintf("/leads/%d", victim.Id)},
		}
		for _, op := range targets {
			for _, tc := range cases {
				t.Run(op.method+" "+tc.name, func(t *testing.T) {
					res, body := tg.raw(t, key, op.method, op.path, tc.contentType, []byte(tc.body))
					wantError(t, res, body, tc.status, tc.code)
				})
			}
		}
		t.Run("nothing was stored or changed", func(t *testing.T) {
			assertUnchanged(t, c, victim)
			if after := list(t, c, client.ListLeadsParams{}).Meta.Total; after != before {
				t.Errorf("%d leads before the hostile requests, %d after", before, after)
			}
		})

		t.Run("422 details name every offending field", func(t *testing.T) {
			res, body := tg.raw(t, key, http.MethodPost, "/leads", "application/json",
				[]byte(`{"phone":"12","email":"nope","lead_score":101,"temperature":"boiling","extra":1,"deal_value":-1,"company_name":5}`))
			e := wantError(t, res, body, 422, "validation_error")
			want := map[string]string{
				"phone":        "must have 10 to 15 digits",
				"email":        "must be a valid e-mail address",
				"lead_score":   "must be between 0 and 100",
				"temperature":  "must be one of: hot, warm, cool, cold, frozen",
				"extra":        "is not a known field",
				"deal_value":   "must be between 0 and 1000000000000",
				"company_name": "must be a string",
			}
			for field, msg := range want {
				got := strings.Join(e.Error.Details[field], "; ")
				if !strings.Contains(got, msg) {
					t.Errorf("details[%q] = %q, want it to say %q", field, got, msg)
				}
			}
			if len(e.Error.Details) != len(want) {
				t.Errorf("details has %d fields, want %d: %v", len(e.Error.Details), len(want), e.Error.Details)
			}
		})

		t.Run("bad path ids are 400", func(t *testing.T) {
			for _, id := range []string{"abc", "0", "-1", "1.5", "99999999999999999999", "%00", "%ff"} {
				res, body := tg.raw(t, key, http.MethodGet, "/leads/"+id, "", nil)
				wantError(t, res, body, http.StatusBadRequest, "bad_request")
			}
		})

		t.Run("invalid UTF-8 in the query is 400", func(t *testing.T) {
			res, body := tg.raw(t, key, http.MethodGet, "/leads?email=%ff%fe@x.com", "", nil)
			wantError(t, res, body, http.StatusBadRequest, "bad_request")
		})

		t.Run("unknown route is 404 with the envelope", func(t *testing.T) {
			res, body := tg.raw(t, key, http.MethodGet, "/no-such-thing", "", nil)
			wantError(t, res, body, http.StatusNotFound, "not_found")
		})

		t.Run("a path past a resource's id is 404, and changes nothing", func(t *testing.T) {
			// The spec's {id} is one path segment: /leads/{id}/more is no
			// route, whichever method.
			for _, tc := range []struct{ method, path string }{
				{http.MethodGet, fmt.Sprintf("/leads/%d/more", victim.Id)},
				{http.MethodGet, fmt.Sprintf("/leads/%d/", victim.Id)},
				{http.MethodPatch, fmt.Sprintf("/leads/%d/x/y", victim.Id)},
				{http.MethodDelete, fmt.Sprintf("/leads/%d/x", victim.Id)},
				{http.MethodGet, "/messages/1/x"},
			} {
				res, body := tg.raw(t, key, tc.method, tc.path, "application/json", []byte(`{"name":"changed"}`))
				wantError(t, res, body, http.StatusNotFound, "not_found")
			}
			res, body := tg.raw(t, key, http.MethodGet, fmt.Sprintf("/leads/%d", victim.Id), "", nil)
			if res.StatusCode != http.StatusOK || strings.Contains(string(body), `"changed"`) {
				t.Errorf("the lead after those requests: %d %s", res.StatusCode, body)
			}
		})

		t.Run("wrong method is 405 with Allow", func(t *testing.T) {
			for _, tc := range []struct{ method, path, allow string }{
				{http.MethodDelete, "/leads", "GET"},
				{http.MethodPut, "/leads", "POST"},
				{http.MethodPost, fmt.Sprintf("/leads/%d", victim.Id), "PATCH"},
			} {
				res, body := tg.raw(t, key, tc.method, tc.path, "application/json", []byte(`{}`))
				wantError(t, res, body, http.StatusMethodNotAllowed, "method_not_allowed")
				if !strings.Contains(res.Header.Get("Allow"), tc.allow) {
					t.Errorf("%s %s: Allow %q lacks %s", tc.method, tc.path, res.Header.Get("Allow"), tc.allow)
				}
			}
		})

		t.Run("a body on GET is ignored, not an error", func(t *testing.T) {
			res, body := tg.raw(t, key, http.MethodGet, "/leads", "application/json", []byte(`garbage`))
			if res.StatusCode != http.StatusOK {
				t.Errorf("%d %s", res.StatusCode, body)
			}
		})
	})
}
