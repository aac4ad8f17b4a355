package contracttests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/client"
)

// Leads: created with a normalised phone that is unique in the
// organization, read, replaced, patched, deleted and listed (paged,
// filtered, sorted), and concurrent writers that all get a documented
// answer.

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

func whCreateLead(t testing.TB, tg *target, key, name string) int64 {
	t.Helper()
	var l struct {
		ID int64 `json:"id"`
	}
	expectJSON(t, tg, key, http.MethodPost, "/leads", map[string]any{"phone": uniquePhone(t), "name": name}, http.StatusCreated, &l)
	return l.ID
}

// assertUnchanged fails if the lead differs from before.
func assertUnchanged(t *testing.T, c *client.ClientWithResponses, before client.Lead) {
	t.Helper()
	res, err := c.GetLeadWithResponse(context.Background(), before.Id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK || !reflect.DeepEqual(*res.JSON200, before) {
		t.Errorf("lead changed: %d %s, want %+v", res.StatusCode(), res.Body, before)
	}
}

func list(t *testing.T, c *client.ClientWithResponses, p client.ListLeadsParams) client.LeadList {
	t.Helper()
	res, err := c.ListLeadsWithResponse(context.Background(), &p)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK {
		t.Fatalf("list: %d %s", res.StatusCode(), res.Body)
	}
	return *res.JSON200
}

func ids(leads []client.Lead) []int64 {
	out := make([]int64, len(leads))
	for i, l := range leads {
		out[i] = l.Id
	}
	return out
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
			got, err := c.GetLeadWithResponse(ctx, l.Id, nil)
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
			wantError(t, res, body, http.StatusUnprocessableEntity, "validation_error")
		})

		t.Run("duplicate phone is 409 conflict", func(t *testing.T) {
			phone := uniquePhone(t)
			createLead(t, c, client.LeadCreate{Phone: phone})
			res, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: "+" + phone[:2] + " " + phone[2:]})
			if err != nil {
				t.Fatal(err)
			}
			e := wantError(t, res.HTTPResponse, res.Body, http.StatusConflict, "conflict")
			if len(e.Error.Details["phone"]) == 0 {
				t.Errorf("details should name phone: %s", res.Body)
			}
		})

		t.Run("missing phone is 422 with details.phone", func(t *testing.T) {
			res, body := tg.raw(t, tg.key, http.MethodPost, "/leads", "application/json", []byte(`{"name":"Sem Telefone"}`))
			e := wantError(t, res, body, http.StatusUnprocessableEntity, "validation_error")
			if got := e.Error.Details["phone"]; !reflect.DeepEqual(got, []string{"phone is required"}) {
				t.Errorf("details.phone = %q", got)
			}
		})

		t.Run("get unknown id is 404", func(t *testing.T) {
			res, err := c.GetLeadWithResponse(ctx, 9_000_000_000_000, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res.HTTPResponse, res.Body, http.StatusNotFound, "not_found")
		})

		t.Run("put replaces and clears what it leaves out", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{
				Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Old"),
				Email: nullable.NewNullableWithValue("old@x.com"), Temperature: ptr(client.Warm), LeadScore: ptr(int32(40)),
			})
			newPhone := uniquePhone(t)
			time.Sleep(2 * time.Millisecond)
			res, err := c.UpdateLeadWithResponse(ctx, l.Id, nil, client.LeadReplace{Phone: newPhone, CompanyName: nullable.NewNullableWithValue("New Co")})
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
			e := wantError(t, res, body, http.StatusUnprocessableEntity, "validation_error")
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
			res, err := c.PatchLeadWithResponse(ctx, l.Id, nil, client.LeadPatch{
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
			res, err := c.PatchLeadWithResponse(ctx, l.Id, nil, client.LeadPatch{})
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
			pr, err := c.PatchLeadWithResponse(ctx, b.Id, nil, client.LeadPatch{Phone: ptr(a.Phone), Name: nullable.NewNullableWithValue("changed")})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, pr.HTTPResponse, pr.Body, http.StatusConflict, "conflict")
			ur, err := c.UpdateLeadWithResponse(ctx, b.Id, nil, client.LeadReplace{Phone: a.Phone})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, ur.HTTPResponse, ur.Body, http.StatusConflict, "conflict")
			assertUnchanged(t, c, b)
		})

		t.Run("update or patch unknown id is 404", func(t *testing.T) {
			ur, err := c.UpdateLeadWithResponse(ctx, 9_000_000_000_001, nil, client.LeadReplace{Phone: uniquePhone(t)})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, ur.HTTPResponse, ur.Body, http.StatusNotFound, "not_found")
			pr, err := c.PatchLeadWithResponse(ctx, 9_000_000_000_001, nil, client.LeadPatch{})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, pr.HTTPResponse, pr.Body, http.StatusNotFound, "not_found")
		})

		t.Run("delete then get, update, delete are 404", func(t *testing.T) {
			l := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
			dr, err := c.DeleteLeadWithResponse(ctx, l.Id, nil)
			if err != nil {
				t.Fatal(err)
			}
			if dr.StatusCode() != http.StatusNoContent || len(dr.Body) != 0 {
				t.Fatalf("delete: %d %q", dr.StatusCode(), dr.Body)
			}
			gr, _ := c.GetLeadWithResponse(ctx, l.Id, nil)
			wantError(t, gr.HTTPResponse, gr.Body, http.StatusNotFound, "not_found")
			pr, _ := c.PatchLeadWithResponse(ctx, l.Id, nil, client.LeadPatch{})
			wantError(t, pr.HTTPResponse, pr.Body, http.StatusNotFound, "not_found")
			dr, _ = c.DeleteLeadWithResponse(ctx, l.Id, nil)
			wantError(t, dr.HTTPResponse, dr.Body, http.StatusNotFound, "not_found")
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

func TestListLeads(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		t.Run("paging meta on 60 leads", func(t *testing.T) {
			c := tg.client(t, tg.freshOrg(t), bearer)
			var created []int64
			for i := 0; i < 60; i++ {
				created = append(created, createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)}).Id)
			}
			var seen []int64
			for _, pc := range []struct {
				page int32
				n    int
			}{{1, 25}, {2, 25}, {3, 10}, {4, 0}} {
				l := list(t, c, client.ListLeadsParams{Page: ptr(pc.page), Sort: ptr(client.ListLeadsParamsSortId)})
				if len(l.Data) != pc.n {
					t.Errorf("page %d has %d leads, want %d", pc.page, len(l.Data), pc.n)
				}
				m := l.Meta
				if m.CurrentPage != pc.page || m.PerPage != 25 || m.Total != 60 || m.TotalPages != 3 {
					t.Errorf("page %d meta %+v, want total 60, total_pages 3, per_page 25", pc.page, m)
				}
				seen = append(seen, ids(l.Data)...)
			}
			if !slices.Equal(seen, created) {
				t.Errorf("pages in id order gave %v, want %v", seen, created)
			}
			l := list(t, c, client.ListLeadsParams{PerPage: ptr(int32(100))})
			if len(l.Data) != 60 || l.Meta.TotalPages != 1 {
				t.Errorf("per_page=100: %d leads, meta %+v", len(l.Data), l.Meta)
			}
			l = list(t, c, client.ListLeadsParams{PerPage: ptr(int32(7)), Page: ptr(int32(9))})
			if len(l.Data) != 4 || l.Meta.TotalPages != 9 {
				t.Errorf("per_page=7 page 9: %d leads, meta %+v, want 4 and 9 pages", len(l.Data), l.Meta)
			}
		})

		t.Run("an empty organization has zero pages", func(t *testing.T) {
			c := tg.client(t, tg.freshOrg(t), bearer)
			l := list(t, c, client.ListLeadsParams{})
			if len(l.Data) != 0 || l.Meta.Total != 0 || l.Meta.TotalPages != 0 || l.Meta.CurrentPage != 1 {
				t.Errorf("got %+v", l)
			}
		})

		t.Run("filters", func(t *testing.T) {
			c := tg.client(t, tg.key, bearer)
			phone := uniquePhone(t)
			email := strings.ToLower(fmt.Sprintf("filter-%s@empresa.com", phone))
			hot := createLead(t, c, client.LeadCreate{Phone: phone, Email: nullable.NewNullableWithValue(email), Temperature: ptr(client.Hot)})
			frozen := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Temperature: ptr(client.Frozen)})

			formatted := fmt.Sprintf("+%s (%s) %s-%s", phone[:2], phone[2:4], phone[4:9], phone[9:])
			if got := ids(list(t, c, client.ListLeadsParams{Phone: ptr(formatted)}).Data); !slices.Equal(got, []int64{hot.Id}) {
				t.Errorf("phone=%q gave %v, want [%d]", formatted, got, hot.Id)
			}
			if got := ids(list(t, c, client.ListLeadsParams{Email: ptr(strings.ToUpper(email))}).Data); !slices.Equal(got, []int64{hot.Id}) {
				t.Errorf("email (upper case) gave %v, want [%d]", got, hot.Id)
			}
			both := list(t, c, client.ListLeadsParams{Phone: ptr(phone), Temperature: ptr(client.Frozen)})
			if len(both.Data) != 0 || both.Meta.Total != 0 {
				t.Errorf("phone AND temperature=frozen should match nothing: %+v", both)
			}
			for _, tc := range []struct {
				temp client.Temperature
				in   int64
				out  int64
			}{{client.Hot, hot.Id, frozen.Id}, {client.Frozen, frozen.Id, hot.Id}} {
				l := list(t, c, client.ListLeadsParams{Temperature: ptr(tc.temp), PerPage: ptr(int32(100))})
				got := ids(l.Data)
				for _, lead := range l.Data {
					if lead.Temperature != tc.temp {
						t.Errorf("temperature=%s returned a %s lead", tc.temp, lead.Temperature)
					}
				}
				if tg.remote() {
					continue // other leads may crowd ours off the page
				}
				if !slices.Contains(got, tc.in) || slices.Contains(got, tc.out) {
					t.Errorf("temperature=%s gave %v", tc.temp, got)
				}
			}
		})

		t.Run("sort in both directions", func(t *testing.T) {
			c := tg.client(t, tg.freshOrg(t), bearer)
			a := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Ana"), LeadScore: ptr(int32(10)), DealValue: nullable.NewNullableWithValue(300.0)})
			b := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Bruno"), LeadScore: ptr(int32(90)), DealValue: nullable.NewNullableWithValue(100.0)})
			n := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), LeadScore: ptr(int32(50))})
			d := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t), Name: nullable.NewNullableWithValue("Carla"), LeadScore: ptr(int32(50)), DealValue: nullable.NewNullableWithValue(200.0)})
			cases := map[client.ListLeadsParamsSort][]int64{
				client.ListLeadsParamsSortId:             {a.Id, b.Id, n.Id, d.Id},
				client.ListLeadsParamsSortMinusId:        {d.Id, n.Id, b.Id, a.Id},
				client.ListLeadsParamsSortName:           {a.Id, b.Id, d.Id, n.Id}, // no name: last
				client.ListLeadsParamsSortMinusName:      {d.Id, b.Id, a.Id, n.Id}, // no name: last here too
				client.ListLeadsParamsSortLeadScore:      {a.Id, n.Id, d.Id, b.Id}, // ties by id
				client.ListLeadsParamsSortMinusLeadScore: {b.Id, d.Id, n.Id, a.Id},
				client.ListLeadsParamsSortDealValue:      {b.Id, d.Id, a.Id, n.Id},
				client.ListLeadsParamsSortMinusDealValue: {a.Id, d.Id, b.Id, n.Id},
				client.ListLeadsParamsSortCreatedAt:      {a.Id, b.Id, n.Id, d.Id},
				client.ListLeadsParamsSortMinusCreatedAt: {d.Id, n.Id, b.Id, a.Id},
				client.ListLeadsParamsSortUpdatedAt:      {a.Id, b.Id, n.Id, d.Id},
				client.ListLeadsParamsSortMinusUpdatedAt: {d.Id, n.Id, b.Id, a.Id},
			}
			for sort, want := range cases {
				if got := ids(list(t, c, client.ListLeadsParams{Sort: ptr(sort)}).Data); !slices.Equal(got, want) {
					t.Errorf("sort=%s gave %v, want %v", sort, got, want)
				}
			}
			if got := ids(list(t, c, client.ListLeadsParams{}).Data); !slices.Equal(got, cases[client.ListLeadsParamsSortMinusCreatedAt]) {
				t.Errorf("default order %v, want newest first", got)
			}
		})

		t.Run("invalid parameters are 400 with details", func(t *testing.T) {
			for _, tc := range []struct{ query, param string }{
				{"per_page=101", "per_page"},
				{"per_page=0", "per_page"},
				{"page=0", "page"},
				{"page=abc", "page"},
				{"sort=bogus", "sort"},
				{"sort=-bogus", "sort"},
				{"temperature=boiling", "temperature"},
				{"phone=12", "phone"},
				{"email=not-an-email", "email"},
			} {
				res, body := tg.raw(t, tg.key, http.MethodGet, "/leads?"+tc.query, "", nil)
				e := wantError(t, res, body, http.StatusBadRequest, "bad_request")
				if len(e.Error.Details[tc.param]) == 0 {
					t.Errorf("%s: details %v do not name %s", tc.query, e.Error.Details, tc.param)
				}
			}
		})
	})
}

// TestConcurrentWrites runs writers in parallel: creates, creates racing for
// one phone, and patches of one lead. SQLite has one writer at a time and
// PostgreSQL locks the row; either way every request must end in a
// documented answer (201, 200 or 409), never a 500, and the racing phone is
// stored exactly once. (The store tests check that concurrent updates of one
// lead lose nothing.)
func TestConcurrentWrites(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key
		if !tg.remote() {
			key = tg.freshOrg(t)
		}
		c := tg.client(t, key, bearer)
		ctx := context.Background()
		lead := createLead(t, c, client.LeadCreate{Phone: uniquePhone(t)})
		const workers, each = 8, 15
		shared := uniquePhone(t) // every worker tries to create this one too

		var mu sync.Mutex
		statuses := map[int]int{}
		record := func(op string, status int, body []byte) {
			mu.Lock()
			defer mu.Unlock()
			statuses[status]++
			if status >= 500 {
				t.Errorf("%s: %d %s", op, status, body)
			}
		}
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					cr, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: uniquePhone(t)})
					if err != nil {
						t.Error(err)
						return
					}
					record("create", cr.StatusCode(), cr.Body)
					dup, err := c.CreateLeadWithResponse(ctx, nil, client.LeadCreate{Phone: shared})
					if err != nil {
						t.Error(err)
						return
					}
					record("create shared phone", dup.StatusCode(), dup.Body)
					pr, err := c.PatchLeadWithResponse(ctx, lead.Id, nil, client.LeadPatch{LeadScore: ptr(int32(i % 101))})
					if err != nil {
						t.Error(err)
						return
					}
					record("patch", pr.StatusCode(), pr.Body)
				}
			}()
		}
		wg.Wait()
		if statuses[http.StatusCreated] != workers*each+1 {
			t.Errorf("statuses %v: want %d creates (every unique phone plus the shared one once)", statuses, workers*each+1)
		}
		if statuses[http.StatusConflict] != workers*each-1 {
			t.Errorf("statuses %v: want %d conflicts on the shared phone", statuses, workers*each-1)
		}
		if statuses[http.StatusOK] != workers*each {
			t.Errorf("statuses %v: want %d patches", statuses, workers*each)
		}
		found := list(t, c, client.ListLeadsParams{Phone: ptr(shared)})
		if found.Meta.Total != 1 {
			t.Errorf("the shared phone is stored %d times", found.Meta.Total)
		}
		if !tg.remote() {
			if l := list(t, c, client.ListLeadsParams{}); l.Meta.Total != int64(workers*each+2) {
				t.Errorf("%d leads stored, want %d", l.Meta.Total, workers*each+2)
			}
		}
	})
}
