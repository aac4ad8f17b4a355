package contracttests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/client"
)

// createLead creates a lead through the API and fails the test unless it
// was created.
func createLead(t *testing.T, c *client.ClientWithResponses, body client.LeadCreate) client.Lead {
	t.Helper()
	res, err := c.CreateLeadWithResponse(context.Background(), nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusCreated || res.JSON201 == nil {
		t.Fatalf("create lead: %d %s", res.StatusCode(), res.Body)
	}
	return *res.JSON201
}

// errorOf decodes an error envelope.
func errorOf(t *testing.T, body []byte) client.Error {
	t.Helper()
	var e client.Error
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error envelope: %v: %s", err, body)
	}
	return e
}

func wantError(t *testing.T, status int, body []byte, wantStatus int, wantCode string) client.Error {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d: %s", status, wantStatus, body)
	}
	e := errorOf(t, body)
	if string(e.Error.Code) != wantCode {
		t.Fatalf("code %q, want %q: %s", e.Error.Code, wantCode, body)
	}
	return e
}

func TestLeads(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		c := tg.client(t, tg.key, bearer)

		t.Run("create normalises and returns the lead", func(t *testing.T) {
			phone := uniquePhone(t)
			formatted := fmt.Sprintf("+%s (%s) %s-%s", phone[:2], phone[2:4], phone[4:9], phone[9:])
			res, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{
				Phone:       formatted,
				Name:        nullable.NewNullableWithValue("Maria Santos"),
				Email:       nullable.NewNullableWithValue("Maria@Empresa.COM"),
				CompanyName: nullable.NewNullableWithValue("Tech Corp"),
				DealValue:   nullable.NewNullableWithValue(15000.5),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusCreated {
				t.Fatalf("status %d: %s", res.StatusCode(), res.Body)
			}
			l := res.JSON201
			if l.Phone != phone {
				t.Errorf("phone %q, want digits only %q", l.Phone, phone)
			}
			if got := l.Email.MustGet(); got != "maria@empresa.com" {
				t.Errorf("email %q, want lower case", got)
			}
			if l.Temperature != client.Cold || l.LeadScore != 0 {
				t.Errorf("defaults: temperature %q score %d, want cold 0", l.Temperature, l.LeadScore)
			}
			if l.DealValue.MustGet() != 15000.5 || l.Name.MustGet() != "Maria Santos" || l.CompanyName.MustGet() != "Tech Corp" {
				t.Errorf("fields not stored as sent: %+v", l)
			}
			if l.CreatedAt.IsZero() || !l.CreatedAt.Equal(l.UpdatedAt) {
				t.Errorf("timestamps: created %v updated %v", l.CreatedAt, l.UpdatedAt)
			}
			if loc := res.HTTPResponse.Header.Get("Location"); loc != "/api/v1/leads/"+strconv.FormatInt(l.Id, 10) {
				t.Errorf("Location %q", loc)
			}
			got, err := c.GetLeadWithResponse(ctx, l.Id)
			if err != nil {
				t.Fatal(err)
			}
			if got.StatusCode() != http.StatusOK || !reflect.DeepEqual(*got.JSON200, *l) {
				t.Errorf("GET after create: %d %s, want %+v", got.StatusCode(), got.Body, *l)
			}
		})

		t.Run("create with only a phone gives nulls", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
			if !l.Name.IsNull() || !l.Email.IsNull() || !l.CompanyName.IsNull() || !l.DealValue.IsNull() {
				t.Errorf("optional fields should be null: %+v", l)
			}
		})

		t.Run("create accepts temperature and score", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Temperature: ptr(client.Hot), LeadScore: ptr(int32(90))})
			if l.Temperature != client.Hot || l.LeadScore != 90 {
				t.Errorf("got %q %d", l.Temperature, l.LeadScore)
			}
		})

		t.Run("whole numbers written as 50.0 or 1e2 are integers", func(t *testing.T) {
			res, body := tg.raw(t, tg.key, http.MethodPost, "/leads", "application/json",
				[]byte(fmt.Sprintf(`{"phone":%q,"lead_score":50.0,"deal_value":1.5e3}`, uniquePhone(t))))
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			var l client.Lead
			if err := json.Unmarshal(body, &l); err != nil {
				t.Fatal(err)
			}
			if l.LeadScore != 50 || l.DealValue.MustGet() != 1500 {
				t.Errorf("got score %d deal %v", l.LeadScore, l.DealValue)
			}
			res, body = tg.raw(t, tg.key, http.MethodPatch, fmt.Sprintf("/leads/%d", l.Id), "application/json", []byte(`{"lead_score":1e2}`))
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"lead_score":100`) {
				t.Errorf("PATCH lead_score 1e2: %d %s", res.StatusCode, body)
			}
			res, body = tg.raw(t, tg.key, http.MethodPatch, fmt.Sprintf("/leads/%d", l.Id), "application/json", []byte(`{"lead_score":50.5}`))
			wantError(t, res.StatusCode, body, http.StatusUnprocessableEntity, "validation_error")
		})

		t.Run("duplicate phone is 409 conflict", func(t *testing.T) {
			phone := uniquePhone(t)
			createLead(t, c, client.LeadCreate{Phone: phone})
			res, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: "+" + phone[:2] + " " + phone[2:]})
			if err != nil {
				t.Fatal(err)
			}
			e := wantError(t, res.StatusCode(), res.Body, http.StatusConflict, "conflict")
			if len(e.Error.Details["phone"]) == 0 {
				t.Errorf("details should name phone: %s", res.Body)
			}
		})

		t.Run("missing phone is 422 with details.phone", func(t *testing.T) {
			res, body := tg.raw(t, tg.key, http.MethodPost, "/leads", "application/json", []byte(`{"name":"Sem Telefone"}`))
			e := wantError(t, res.StatusCode, body, http.StatusUnprocessableEntity, "validation_error")
			if got := e.Error.Details["phone"]; !reflect.DeepEqual(got, []string{"phone is required"}) {
				t.Errorf("details.phone = %q", got)
			}
		})

		t.Run("get unknown id is 404", func(t *testing.T) {
			res, err := c.GetLeadWithResponse(ctx, 9_000_000_000_000)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res.StatusCode(), res.Body, http.StatusNotFound, "not_found")
		})

		t.Run("put replaces and clears what it leaves out", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{
				Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Old"),
				Email: nullable.NewNullableWithValue("old@x.com"), Temperature: ptr(client.Warm), LeadScore: ptr(int32(40)),
			})
			newPhone := uniquePhone(t)
			time.Sleep(2 * time.Millisecond)
			res, err := c.UpdateLeadWithResponse(ctx, l.Id, client.LeadReplace{Phone: newPhone, CompanyName: nullable.NewNullableWithValue("New Co")})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode(), res.Body)
			}
			u := res.JSON200
			if u.Phone != newPhone || u.CompanyName.MustGet() != "New Co" || !u.Name.IsNull() || !u.Email.IsNull() ||
				u.Temperature != client.Cold || u.LeadScore != 0 {
				t.Errorf("PUT result %+v", u)
			}
			if !u.UpdatedAt.After(l.UpdatedAt) || !u.CreatedAt.Equal(l.CreatedAt) {
				t.Errorf("timestamps: created %v->%v updated %v->%v", l.CreatedAt, u.CreatedAt, l.UpdatedAt, u.UpdatedAt)
			}
		})

		t.Run("put without phone is 422 and changes nothing", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Keep")})
			res, body := tg.raw(t, tg.key, http.MethodPut, fmt.Sprintf("/leads/%d", l.Id), "application/json", []byte(`{"name":"Lost"}`))
			e := wantError(t, res.StatusCode, body, http.StatusUnprocessableEntity, "validation_error")
			if len(e.Error.Details["phone"]) == 0 {
				t.Errorf("details: %+v", e.Error.Details)
			}
			assertUnchanged(t, c, l)
		})

		t.Run("patch changes only what it names and null clears", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{
				Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Joao"),
				Email: nullable.NewNullableWithValue("joao@x.com"), DealValue: nullable.NewNullableWithValue(10.0),
			})
			res, err := c.PatchLeadWithResponse(ctx, l.Id, client.LeadPatch{
				Temperature: ptr(client.Hot), LeadScore: ptr(int32(85)), Email: nullable.NewNullNullable[string](),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode(), res.Body)
			}
			p := res.JSON200
			if p.Temperature != client.Hot || p.LeadScore != 85 || !p.Email.IsNull() ||
				p.Name.MustGet() != "Joao" || p.DealValue.MustGet() != 10 || p.Phone != l.Phone {
				t.Errorf("PATCH result %+v", p)
			}
		})

		t.Run("empty patch changes nothing", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
			res, err := c.PatchLeadWithResponse(ctx, l.Id, client.LeadPatch{})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusOK || !reflect.DeepEqual(*res.JSON200, l) {
				t.Errorf("empty PATCH: %d %s, want %+v", res.StatusCode(), res.Body, l)
			}
		})

		t.Run("patch or put to another lead's phone is 409 and changes nothing", func(t *testing.T) {
			a := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
			b := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("B")})
			pr, err := c.PatchLeadWithResponse(ctx, b.Id, client.LeadPatch{Phone: ptr(a.Phone), Name: nullable.NewNullableWithValue("changed")})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, pr.StatusCode(), pr.Body, http.StatusConflict, "conflict")
			ur, err := c.UpdateLeadWithResponse(ctx, b.Id, client.LeadReplace{Phone: a.Phone})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, ur.StatusCode(), ur.Body, http.StatusConflict, "conflict")
			assertUnchanged(t, c, b)
		})

		t.Run("update or patch unknown id is 404", func(t *testing.T) {
			ur, err := c.UpdateLeadWithResponse(ctx, 9_000_000_000_001, client.LeadReplace{Phone: uniquePhone(t)})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, ur.StatusCode(), ur.Body, http.StatusNotFound, "not_found")
			pr, err := c.PatchLeadWithResponse(ctx, 9_000_000_000_001, client.LeadPatch{})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, pr.StatusCode(), pr.Body, http.StatusNotFound, "not_found")
		})

		t.Run("delete then get, update, delete are 404", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
			dr, err := c.DeleteLeadWithResponse(ctx, l.Id)
			if err != nil {
				t.Fatal(err)
			}
			if dr.StatusCode() != http.StatusNoContent || len(dr.Body) != 0 {
				t.Fatalf("delete: %d %q", dr.StatusCode(), dr.Body)
			}
			gr, _ := c.GetLeadWithResponse(ctx, l.Id)
			wantError(t, gr.StatusCode(), gr.Body, http.StatusNotFound, "not_found")
			pr, _ := c.PatchLeadWithResponse(ctx, l.Id, client.LeadPatch{})
			wantError(t, pr.StatusCode(), pr.Body, http.StatusNotFound, "not_found")
			dr, _ = c.DeleteLeadWithResponse(ctx, l.Id)
			wantError(t, dr.StatusCode(), dr.Body, http.StatusNotFound, "not_found")
			// The phone is free again.
			createLead(t, c, client.LeadCreate{Phone: l.Phone})
		})

		t.Run("authenticated responses carry rate limit headers", func(t *testing.T) {
			res, err := c.ListLeadsWithResponse(ctx, &client.ListLeadsParams{})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
				v, err := strconv.ParseInt(res.HTTPResponse.Header.Get(h), 10, 64)
				if err != nil || v < 0 {
					t.Errorf("%s = %q", h, res.HTTPResponse.Header.Get(h))
				}
			}
			if reset, _ := strconv.ParseInt(res.HTTPResponse.Header.Get("X-RateLimit-Reset"), 10, 64); reset < time.Now().Add(-time.Minute).Unix() {
				t.Errorf("X-RateLimit-Reset %d is not a future Unix time", reset)
			}
			if res.HTTPResponse.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	})
}

// assertUnchanged fails if the lead differs from before.
func assertUnchanged(t *testing.T, c *client.ClientWithResponses, before client.Lead) {
	t.Helper()
	res, err := c.GetLeadWithResponse(context.Background(), before.Id)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK || !reflect.DeepEqual(*res.JSON200, before) {
		t.Errorf("lead changed: %d %s, want %+v", res.StatusCode(), res.Body, before)
	}
}
