package contracttests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/client"
)

// The REST contract of API keys: a key is shown once, listed afterwards by
// its prefix only, stops working the moment it is revoked or regenerated,
// cannot lock its own caller out, and never crosses organizations.

var akKeyRe = regexp.MustCompile(`^sk_live_[0-9A-Za-z]{43}$`)

const (
	akPatternMessage = "must not be blank or contain control characters"
	akMaxActive      = 100
	akHugeID         = "9223372036854775807"
)

// akSlack is how far apart the server's clock and ours may be.
func akSlack(tg *target) time.Duration {
	if tg.remote() {
		return 5 * time.Minute
	}
	return 2 * time.Second
}

func akPath(id int64) string { return "/api-keys/" + strconv.FormatInt(id, 10) }

// akUniqueName is a key name no other test uses, so that tests sharing a
// remote organization can find their keys.
func akUniqueName(t testing.TB, what string) string {
	t.Helper()
	return fmt.Sprintf("%s %s", what, uniquePhone(t)[5:])
}

// akCheckTime reports a timestamp outside [lo-slack, hi+slack].
func akCheckTime(t testing.TB, tg *target, what string, got, lo, hi time.Time) {
	t.Helper()
	s := akSlack(tg)
	if got.Before(lo.Add(-s)) || got.After(hi.Add(s)) {
		t.Errorf("%s is %v, want between %v and %v", what, got, lo, hi)
	}
}

// akCheckCreated reports a created key that is not a fresh, working-looking
// key named name, created between lo and hi.
func akCheckCreated(t testing.TB, tg *target, what string, k client.ApiKeyCreated, name string, lo, hi time.Time) {
	t.Helper()
	if !akKeyRe.MatchString(k.Key) {
		t.Errorf("%s: key %q does not match %s", what, k.Key, akKeyRe)
	}
	if len(k.Key) >= 16 && k.Prefix != k.Key[:16] {
		t.Errorf("%s: prefix %q, want the key's first 16 characters %q", what, k.Prefix, k.Key[:16])
	}
	if k.Id < 1 {
		t.Errorf("%s: id %d", what, k.Id)
	}
	if k.Name != name {
		t.Errorf("%s: name %q, want %q", what, k.Name, name)
	}
	if k.Revoked || !k.RevokedAt.IsNull() {
		t.Errorf("%s: a new key is revoked: revoked %v revoked_at %v", what, k.Revoked, k.RevokedAt)
	}
	if !k.LastUsedAt.IsNull() {
		t.Errorf("%s: a new key has last_used_at %v, want null", what, k.LastUsedAt)
	}
	akCheckTime(t, tg, what+": created_at", k.CreatedAt, lo, hi)
}

// akCheckLocation reports a Location header that is not the key's URL.
func akCheckLocation(t testing.TB, what string, res *http.Response, id int64) {
	t.Helper()
	if got, want := res.Header.Get("Location"), "/api/v1"+akPath(id); got != want {
		t.Errorf("%s: Location %q, want %q", what, got, want)
	}
}

// akCreate creates a key through the typed client and fails the test unless
// it was created. On a remote target the key is revoked when the test ends,
// so that runs do not pile up active keys.
func akCreate(t testing.TB, tg *target, key, name string) (client.ApiKeyCreated, *http.Response) {
	t.Helper()
	res, err := tg.client(t, key, bearer).CreateApiKeyWithResponse(context.Background(), nil, client.ApiKeyCreate{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusCreated || res.JSON201 == nil {
		t.Fatalf("create API key %q: %d %s", name, res.StatusCode(), res.Body)
	}
	k := *res.JSON201
	if tg.remote() {
		t.Cleanup(func() { akRevokeQuietly(t, tg, key, k.Id) })
	}
	return k, res.HTTPResponse
}

func akRevokeQuietly(t testing.TB, tg *target, key string, id int64) {
	res, body := tg.raw(t, key, http.MethodDelete, akPath(id), "", nil)
	switch res.StatusCode {
	case http.StatusNoContent, http.StatusNotFound, http.StatusUnauthorized, http.StatusConflict:
	default:
		t.Errorf("clean up API key %d: %d %s", id, res.StatusCode, body)
	}
}

// akGet returns a key and the raw response, failing the test unless it is 200.
func akGet(t testing.TB, tg *target, key string, id int64) (client.ApiKey, []byte) {
	t.Helper()
	res, err := tg.client(t, key, bearer).GetApiKeyWithResponse(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
		t.Fatalf("GET API key %d: %d %s", id, res.StatusCode(), res.Body)
	}
	return *res.JSON200, res.Body
}

// akPage returns one page of the list, failing the test unless it is 200.
func akPage(t testing.TB, tg *target, key string, p client.ListApiKeysParams) (client.ApiKeyList, []byte) {
	t.Helper()
	res, err := tg.client(t, key, bearer).ListApiKeysWithResponse(context.Background(), &p)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
		t.Fatalf("list API keys %+v: %d %s", p, res.StatusCode(), res.Body)
	}
	return *res.JSON200, res.Body
}

// akAll returns every key of the organization (with the status filter, if
// any), following pages, and the raw pages.
func akAll(t testing.TB, tg *target, key string, status *client.ListApiKeysParamsStatus) ([]client.ApiKey, [][]byte) {
	t.Helper()
	var all []client.ApiKey
	var bodies [][]byte
	for page := int32(1); ; page++ {
		l, raw := akPage(t, tg, key, client.ListApiKeysParams{Page: ptr(page), PerPage: ptr(int32(100)), Status: status})
		all, bodies = append(all, l.Data...), append(bodies, raw)
		if len(l.Data) == 0 || int64(page) >= l.Meta.TotalPages {
			if int64(len(all)) != l.Meta.Total {
				t.Errorf("the pages hold %d keys, meta.total says %d", len(all), l.Meta.Total)
			}
			return all, bodies
		}
	}
}

func akIDs(keys []client.ApiKey) []int64 {
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = k.Id
	}
	return out
}

func akFind(keys []client.ApiKey, id int64) (client.ApiKey, int) {
	n := 0
	var found client.ApiKey
	for _, k := range keys {
		if k.Id == id {
			found, n = k, n+1
		}
	}
	return found, n
}

func akCountNamed(keys []client.ApiKey, name string) int {
	n := 0
	for _, k := range keys {
		if k.Name == name {
			n++
		}
	}
	return n
}

// akUse makes a real call with key and returns the answer.
func akUse(t testing.TB, tg *target, key string, style authStyle) (*http.Response, []byte) {
	t.Helper()
	res, err := tg.client(t, key, style).ListLeadsWithResponse(context.Background(), &client.ListLeadsParams{PerPage: ptr(int32(1))})
	if err != nil {
		t.Fatal(err)
	}
	return res.HTTPResponse, res.Body
}

// akWorks reports a key that does not authenticate a real call.
func akWorks(t testing.TB, tg *target, what, key string) {
	t.Helper()
	for _, style := range []authStyle{bearer, xAPIKey} {
		if res, body := akUse(t, tg, key, style); res.StatusCode != http.StatusOK {
			t.Errorf("%s: GET /leads with the key as %s: %d, want 200: %s", what, style, res.StatusCode, body)
		}
	}
}

// akRejected reports a key that is not answered 401 unauthorized.
func akRejected(t testing.TB, tg *target, what, key string) {
	t.Helper()
	for _, style := range []authStyle{bearer, xAPIKey} {
		res, body := akUse(t, tg, key, style)
		if e := wantError(t, res, body, http.StatusUnauthorized, "unauthorized"); e.Error.Code != "unauthorized" {
			t.Logf("that was %s, with the key as %s", what, style)
		}
	}
}

// akNoSecret reports a response that carries a key: a "key" property
// anywhere, or the secret itself.
func akNoSecret(t testing.TB, what string, raw []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if bytes.Contains(raw, []byte(s)) || bytes.Contains(raw, []byte(s[16:])) {
			t.Errorf("%s shows the secret %s: %s", what, s, raw)
		}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v: %s", what, err, raw)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["key"]; ok {
				t.Errorf("%s has a \"key\" property: %s", what, raw)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
}

// akCheckRevoked reports a key that is not shown revoked at about when.
func akCheckRevoked(t testing.TB, tg *target, what string, k client.ApiKey, lo, hi time.Time) {
	t.Helper()
	if !k.Revoked {
		t.Errorf("%s: revoked false, want true", what)
	}
	at, err := k.RevokedAt.Get()
	if err != nil {
		t.Errorf("%s: revoked_at %v, want a time", what, k.RevokedAt)
		return
	}
	akCheckTime(t, tg, what+": revoked_at", at, lo, hi)
	if at.Before(k.CreatedAt) {
		t.Errorf("%s: revoked_at %v is before created_at %v", what, at, k.CreatedAt)
	}
}

func akCheckActive(t testing.TB, what string, k client.ApiKey) {
	t.Helper()
	if k.Revoked || !k.RevokedAt.IsNull() {
		t.Errorf("%s: revoked %v revoked_at %v, want false and null", what, k.Revoked, k.RevokedAt)
	}
}

func TestApiKeys(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		ctx := context.Background()
		mainKey := tg.key
		c := tg.client(t, mainKey, bearer)

		t.Run("create shows the key once and the key works", func(t *testing.T) {
			name := akUniqueName(t, "CRM")
			lo := time.Now()
			k, res := akCreate(t, tg, mainKey, name)
			akCheckCreated(t, tg, "create", k, name, lo, time.Now())
			akCheckLocation(t, "create", res, k.Id)
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if k.Key == mainKey {
				t.Fatalf("the new key is the caller's key")
			}

			akWorks(t, tg, "the new key", k.Key)

			got, raw := akGet(t, tg, mainKey, k.Id)
			akNoSecret(t, "GET /api-keys/{id}", raw, k.Key)
			if got.Id != k.Id || got.Name != name || got.Prefix != k.Prefix || !got.CreatedAt.Equal(k.CreatedAt) {
				t.Errorf("GET gave %+v, created %+v", got, k)
			}
			akCheckActive(t, "GET after create", got)

			all, pages := akAll(t, tg, mainKey, nil)
			for i, p := range pages {
				akNoSecret(t, fmt.Sprintf("list page %d", i+1), p, k.Key, mainKey)
			}
			listed, n := akFind(all, k.Id)
			if n != 1 {
				t.Fatalf("the list has key %d %d times, want once", k.Id, n)
			}
			if listed.Name != name || listed.Prefix != k.Prefix || !listed.CreatedAt.Equal(k.CreatedAt) || listed.Revoked {
				t.Errorf("listed as %+v, created %+v", listed, k)
			}

			// The new key belongs to the caller's organization: it sees the
			// same keys, the caller's among them.
			fromNew, _ := akAll(t, tg, k.Key, nil)
			if !slices.Equal(akIDs(fromNew), akIDs(all)) {
				t.Errorf("the new key lists %v, the caller %v", akIDs(fromNew), akIDs(all))
			}
			if !slices.ContainsFunc(fromNew, func(x client.ApiKey) bool { return x.Prefix == mainKey[:16] && !x.Revoked }) {
				t.Errorf("the new key's list lacks the caller's key %s", mainKey[:16])
			}

			// Each create makes a different key.
			k2, _ := akCreate(t, tg, mainKey, name)
			if k2.Id == k.Id || k2.Key == k.Key || k2.Prefix == k.Prefix {
				t.Errorf("two creates gave %d %s and %d %s", k.Id, k.Prefix, k2.Id, k2.Prefix)
			}
			if k2.Name != name {
				t.Errorf("a second key with the same name is named %q", k2.Name)
			}
			akWorks(t, tg, "the second key", k2.Key)
			akWorks(t, tg, "the first key after the second was made", k.Key)
		})

		t.Run("the spec's example creates a key", func(t *testing.T) {
			res, body := tg.raw(t, mainKey, http.MethodPost, "/api-keys", "application/json", []byte(`{"name":"CRM"}`))
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			var k client.ApiKeyCreated
			if err := json.Unmarshal(body, &k); err != nil {
				t.Fatal(err)
			}
			if tg.remote() {
				t.Cleanup(func() { akRevokeQuietly(t, tg, mainKey, k.Id) })
			}
			if k.Name != "CRM" || !akKeyRe.MatchString(k.Key) {
				t.Errorf("got %s", body)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(body, &fields); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"id", "name", "prefix", "created_at", "last_used_at", "revoked", "revoked_at", "key"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("the response lacks %q: %s", f, body)
				}
			}
			if string(fields["last_used_at"]) != "null" || string(fields["revoked_at"]) != "null" || string(fields["revoked"]) != "false" {
				t.Errorf("a new key: last_used_at %s revoked_at %s revoked %s, want null null false",
					fields["last_used_at"], fields["revoked_at"], fields["revoked"])
			}
		})

		t.Run("names up to 100 characters are kept as sent", func(t *testing.T) {
			for _, name := range []string{
				"a",
				strings.Repeat("a", 100),
				strings.Repeat("é", 100), // characters, not bytes
				"CRM — São Paulo 🚀",
				"  ERP  interno ",
			} {
				k, _ := akCreate(t, tg, mainKey, name)
				if k.Name != name {
					t.Errorf("created with name %q, got %q", name, k.Name)
				}
				if got, _ := akGet(t, tg, mainKey, k.Id); got.Name != name {
					t.Errorf("created with name %q, GET says %q", name, got.Name)
				}
			}
		})

		t.Run("invalid creates are documented 4xx and store nothing", func(t *testing.T) {
			before, _ := akPage(t, tg, mainKey, client.ListApiKeysParams{})
			cases := []struct {
				name, contentType, body string
				status                  int
				code, field, message    string
			}{
				{"name missing", "application/json", `{}`, 422, "validation_error", "name", "name is required"},
				{"name empty", "application/json", `{"name":""}`, 422, "validation_error", "name", "must not be empty"},
				{"name blank", "application/json", `{"name":"   "}`, 422, "validation_error", "name", akPatternMessage},
				{"name of tabs and newlines", "application/json", `{"name":"\t\n"}`, 422, "validation_error", "name", akPatternMessage},
				{"name of 101 characters", "application/json", `{"name":"` + strings.Repeat("a", 101) + `"}`, 422, "validation_error", "name", "must be at most 100 characters"},
				{"name of 101 accented characters", "application/json", `{"name":"` + strings.Repeat("é", 101) + `"}`, 422, "validation_error", "name", "must be at most 100 characters"},
				{"name with a tab", "application/json", `{"name":"CR\tM"}`, 422, "validation_error", "name", akPatternMessage},
				{"name with a newline", "application/json", `{"name":"CRM\n"}`, 422, "validation_error", "name", akPatternMessage},
				{"name with NUL", "application/json", `{"name":"CR\u0000M"}`, 422, "validation_error", "name", akPatternMessage},
				{"name with ESC", "application/json", `{"name":"CR\u001bM"}`, 422, "validation_error", "name", akPatternMessage},
				{"name with DEL", "application/json", `{"name":"CR\u007fM"}`, 422, "validation_error", "name", akPatternMessage},
				{"name null", "application/json", `{"name":null}`, 422, "validation_error", "name", "must not be null"},
				{"name a number", "application/json", `{"name":5}`, 422, "validation_error", "name", "must be a string"},
				{"unknown field", "application/json", `{"name":"CRM","scopes":["leads"]}`, 422, "validation_error", "scopes", "is not a known field"},
				{"key given", "application/json", `{"name":"CRM","key":"sk_live_0000000000000000000000000000000000000000000"}`, 422, "validation_error", "key", "is not a known field"},
				{"array body", "application/json", `[]`, 422, "validation_error", "", ""},
				{"null body", "application/json", `null`, 422, "validation_error", "", ""},
				{"malformed JSON", "application/json", `{"name":`, 400, "bad_request", "", ""},
				{"trailing garbage", "application/json", `{"name":"CRM"} x`, 400, "bad_request", "", ""},
				{"empty body", "application/json", ``, 400, "bad_request", "", ""},
				{"wrong content type", "text/plain", `{"name":"CRM"}`, 400, "bad_request", "", ""},
				{"form content type", "application/x-www-form-urlencoded", `name=CRM`, 400, "bad_request", "", ""},
				{"no content type", "", `{"name":"CRM"}`, 400, "bad_request", "", ""},
				{"over 1 MiB", "application/json", `{"name":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "payload_too_large", "", ""},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					res, body := tg.raw(t, mainKey, http.MethodPost, "/api-keys", tc.contentType, []byte(tc.body))
					if tc.field == "" {
						wantError(t, res, body, tc.status, tc.code)
					} else if e := wantError(t, res, body, tc.status, tc.code, tc.field); res.StatusCode == tc.status && !strings.Contains(e.detail(tc.field), tc.message) {
						t.Errorf("details[%q] = %q, want %q", tc.field, e.detail(tc.field), tc.message)
					}
					if bytes.Contains(body, []byte("sk_live_")) {
						t.Errorf("the error shows a key: %s", body)
					}
				})
			}
			after, _ := akPage(t, tg, mainKey, client.ListApiKeysParams{})
			if after.Meta.Total != before.Meta.Total {
				t.Errorf("%d keys before the invalid creates, %d after", before.Meta.Total, after.Meta.Total)
			}
		})

		t.Run("list is oldest first, paged, and filtered by status", func(t *testing.T) {
			key := tg.freshOrg(t)
			own, _ := akAll(t, tg, key, nil)
			if len(own) != 1 || own[0].Prefix != key[:16] || own[0].Revoked {
				t.Fatalf("a fresh organization lists %+v, want its one key %s", own, key[:16])
			}
			ids := []int64{own[0].Id}
			names := []string{own[0].Name}
			for i := 1; i <= 4; i++ {
				k, _ := akCreate(t, tg, key, fmt.Sprintf("key %d", i))
				ids, names = append(ids, k.Id), append(names, k.Name)
			}
			all, _ := akAll(t, tg, key, nil)
			if !slices.Equal(akIDs(all), ids) {
				t.Fatalf("list %v, want oldest first %v", akIDs(all), ids)
			}
			for i, k := range all {
				if k.Name != names[i] {
					t.Errorf("item %d named %q, want %q", i, k.Name, names[i])
				}
				if i > 0 && k.CreatedAt.Before(all[i-1].CreatedAt) {
					t.Errorf("item %d created %v, before item %d's %v", i, k.CreatedAt, i-1, all[i-1].CreatedAt)
				}
			}

			l, _ := akPage(t, tg, key, client.ListApiKeysParams{})
			if len(l.Data) != 5 || l.Meta != (client.PageMeta{CurrentPage: 1, PerPage: 25, Total: 5, TotalPages: 1}) {
				t.Errorf("default page: %d keys, meta %+v", len(l.Data), l.Meta)
			}
			for page := int32(1); page <= 6; page++ {
				l, _ := akPage(t, tg, key, client.ListApiKeysParams{Page: ptr(page), PerPage: ptr(int32(1))})
				want := client.PageMeta{CurrentPage: page, PerPage: 1, Total: 5, TotalPages: 5}
				if l.Meta != want {
					t.Errorf("per_page=1 page=%d: meta %+v, want %+v", page, l.Meta, want)
				}
				switch {
				case page <= 5 && (len(l.Data) != 1 || l.Data[0].Id != ids[page-1]):
					t.Errorf("per_page=1 page=%d: %v, want [%d]", page, akIDs(l.Data), ids[page-1])
				case page == 6 && len(l.Data) != 0:
					t.Errorf("page past the end: %v, want empty", akIDs(l.Data))
				}
			}
			var seen []int64
			for page := int32(1); page <= 3; page++ {
				l, _ := akPage(t, tg, key, client.ListApiKeysParams{Page: ptr(page), PerPage: ptr(int32(2))})
				if l.Meta.TotalPages != 3 || l.Meta.PerPage != 2 || l.Meta.Total != 5 {
					t.Errorf("per_page=2 page=%d: meta %+v", page, l.Meta)
				}
				seen = append(seen, akIDs(l.Data)...)
			}
			if !slices.Equal(seen, ids) {
				t.Errorf("per_page=2 pages gave %v, want %v", seen, ids)
			}

			// A regenerated key stays listed, revoked; its replacement is the newest.
			lo := time.Now()
			res, body := tg.raw(t, key, http.MethodPost, akPath(ids[2])+"/regenerate", "", nil)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("regenerate: %d %s", res.StatusCode, body)
			}
			hi := time.Now()
			var repl client.ApiKeyCreated
			if err := json.Unmarshal(body, &repl); err != nil {
				t.Fatal(err)
			}
			active, _ := akAll(t, tg, key, ptr(client.Active))
			if want := []int64{ids[0], ids[1], ids[3], ids[4], repl.Id}; !slices.Equal(akIDs(active), want) {
				t.Errorf("status=active: %v, want %v", akIDs(active), want)
			}
			for _, k := range active {
				akCheckActive(t, "status=active", k)
			}
			revoked, _ := akAll(t, tg, key, ptr(client.Revoked))
			if !slices.Equal(akIDs(revoked), []int64{ids[2]}) {
				t.Fatalf("status=revoked: %v, want [%d]", akIDs(revoked), ids[2])
			}
			akCheckRevoked(t, tg, "status=revoked", revoked[0], lo, hi)
			if all, _ := akAll(t, tg, key, nil); !slices.Equal(akIDs(all), append(slices.Clone(ids), repl.Id)) {
				t.Errorf("without a filter, after a regenerate: %v, want %v and %d", akIDs(all), ids, repl.Id)
			}
			l, _ = akPage(t, tg, key, client.ListApiKeysParams{Status: ptr(client.Active), PerPage: ptr(int32(3)), Page: ptr(int32(2))})
			if !slices.Equal(akIDs(l.Data), []int64{ids[4], repl.Id}) || l.Meta != (client.PageMeta{CurrentPage: 2, PerPage: 3, Total: 5, TotalPages: 2}) {
				t.Errorf("status=active per_page=3 page=2: %v meta %+v", akIDs(l.Data), l.Meta)
			}
			l, _ = akPage(t, tg, key, client.ListApiKeysParams{Status: ptr(client.Revoked), Page: ptr(int32(2))})
			if len(l.Data) != 0 || l.Meta != (client.PageMeta{CurrentPage: 2, PerPage: 25, Total: 1, TotalPages: 1}) {
				t.Errorf("status=revoked page=2: %v meta %+v", akIDs(l.Data), l.Meta)
			}

			// A deleted key leaves every list.
			if res, body := tg.raw(t, key, http.MethodDelete, akPath(ids[1]), "", nil); res.StatusCode != http.StatusNoContent {
				t.Fatalf("revoke: %d %s", res.StatusCode, body)
			}
			if all, _ := akAll(t, tg, key, nil); !slices.Equal(akIDs(all), []int64{ids[0], ids[2], ids[3], ids[4], repl.Id}) {
				t.Errorf("after deleting %d: %v", ids[1], akIDs(all))
			}
		})

		t.Run("invalid list parameters are 400", func(t *testing.T) {
			for _, tc := range []struct{ query, param string }{
				{"status=expired", "status"},
				{"status=ACTIVE", "status"},
				{"status=active,revoked", "status"},
				{"per_page=0", "per_page"},
				{"per_page=101", "per_page"},
				{"per_page=x", "per_page"},
				{"page=0", "page"},
				{"page=-1", "page"},
			} {
				res, body := tg.raw(t, mainKey, http.MethodGet, "/api-keys?"+tc.query, "", nil)
				e := wantError(t, res, body, http.StatusBadRequest, "bad_request")
				if res.StatusCode == http.StatusBadRequest && len(e.Error.Details[tc.param]) == 0 {
					t.Errorf("GET /api-keys?%s: details %v, want them about %q", tc.query, e.Error.Details, tc.param)
				}
			}
		})

		t.Run("status filter on the caller's organization", func(t *testing.T) {
			gone, _ := akCreate(t, tg, mainKey, akUniqueName(t, "gone"))
			kept, _ := akCreate(t, tg, mainKey, akUniqueName(t, "kept"))
			res, body := tg.raw(t, mainKey, http.MethodPost, akPath(gone.Id)+"/regenerate", "", nil)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("regenerate: %d %s", res.StatusCode, body)
			}
			var repl client.ApiKeyCreated
			if err := json.Unmarshal(body, &repl); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tg.raw(t, mainKey, http.MethodDelete, akPath(repl.Id), "", nil) })
			active, _ := akAll(t, tg, mainKey, ptr(client.Active))
			revoked, _ := akAll(t, tg, mainKey, ptr(client.Revoked))
			all, _ := akAll(t, tg, mainKey, nil)
			if _, n := akFind(active, kept.Id); n != 1 {
				t.Errorf("status=active has the active key %d times", n)
			}
			if _, n := akFind(active, gone.Id); n != 0 {
				t.Errorf("status=active has the revoked key")
			}
			if _, n := akFind(revoked, gone.Id); n != 1 {
				t.Errorf("status=revoked has the revoked key %d times", n)
			}
			if _, n := akFind(revoked, kept.Id); n != 0 {
				t.Errorf("status=revoked has the active key")
			}
			for _, k := range active {
				akCheckActive(t, fmt.Sprintf("status=active key %d", k.Id), k)
			}
			for _, k := range revoked {
				if !k.Revoked || k.RevokedAt.IsNull() {
					t.Errorf("status=revoked key %d: revoked %v revoked_at %v", k.Id, k.Revoked, k.RevokedAt)
				}
			}
			if len(active)+len(revoked) != len(all) {
				t.Errorf("%d active + %d revoked keys, %d in all", len(active), len(revoked), len(all))
			}
			if !slices.IsSorted(akIDs(all)) || !slices.IsSorted(akIDs(active)) || !slices.IsSorted(akIDs(revoked)) {
				t.Errorf("lists not oldest first: %v / %v / %v", akIDs(all), akIDs(active), akIDs(revoked))
			}
		})

		t.Run("revoke stops the key at once and removes it", func(t *testing.T) {
			k, _ := akCreate(t, tg, mainKey, akUniqueName(t, "revoke me"))
			akWorks(t, tg, "before the revoke", k.Key)
			res, err := c.RevokeApiKeyWithResponse(ctx, k.Id)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode() != http.StatusNoContent || len(res.Body) != 0 {
				t.Fatalf("revoke: %d %q, want 204 without a body", res.StatusCode(), res.Body)
			}
			akRejected(t, tg, "after the revoke", k.Key)
			lr, body := tg.raw(t, k.Key, http.MethodGet, "/api-keys", "", nil)
			wantError(t, lr, body, http.StatusUnauthorized, "unauthorized")
			cr, body := tg.raw(t, k.Key, http.MethodPost, "/api-keys", "application/json", []byte(`{"name":"again"}`))
			wantError(t, cr, body, http.StatusUnauthorized, "unauthorized")

			// The key is gone: not found, not listed, not revocable again.
			gr, raw := tg.raw(t, mainKey, http.MethodGet, akPath(k.Id), "", nil)
			wantError(t, gr, raw, http.StatusNotFound, "not_found")
			again, raw := tg.raw(t, mainKey, http.MethodDelete, akPath(k.Id), "", nil)
			wantError(t, again, raw, http.StatusNotFound, "not_found")
			rr, raw := tg.raw(t, mainKey, http.MethodPost, akPath(k.Id)+"/regenerate", "", nil)
			wantError(t, rr, raw, http.StatusNotFound, "not_found")
			for _, st := range []*client.ListApiKeysParamsStatus{nil, ptr(client.Active), ptr(client.Revoked)} {
				list, _ := akAll(t, tg, mainKey, st)
				if _, n := akFind(list, k.Id); n != 0 {
					t.Errorf("the revoked key is still listed (status filter %v)", st)
				}
			}
			akRejected(t, tg, "after revoking twice", k.Key)
			akWorks(t, tg, "the caller's key after revoking another", mainKey)
		})

		t.Run("a key cannot revoke or regenerate itself", func(t *testing.T) {
			// A key of its own, so that a server that got this wrong does
			// not lock the suite out of a remote organization.
			k, _ := akCreate(t, tg, mainKey, akUniqueName(t, "self"))
			for _, style := range []authStyle{bearer, xAPIKey} {
				self := tg.client(t, k.Key, style)
				del, err := self.RevokeApiKeyWithResponse(ctx, k.Id)
				if err != nil {
					t.Fatal(err)
				}
				wantError(t, del.HTTPResponse, del.Body, http.StatusConflict, "conflict")
				akWorks(t, tg, "the key after it tried to revoke itself", k.Key)
				reg, err := self.RegenerateApiKeyWithResponse(ctx, k.Id, nil)
				if err != nil {
					t.Fatal(err)
				}
				wantError(t, reg.HTTPResponse, reg.Body, http.StatusConflict, "conflict")
				if bytes.Contains(reg.Body, []byte("sk_live_")) {
					t.Errorf("the refused regenerate shows a key: %s", reg.Body)
				}
				akWorks(t, tg, "the key after it tried to regenerate itself", k.Key)
			}
			got, _ := akGet(t, tg, mainKey, k.Id)
			akCheckActive(t, "the key after refusing itself", got)
			all, _ := akAll(t, tg, mainKey, nil)
			if n := akCountNamed(all, k.Name); n != 1 {
				t.Errorf("%d keys named %q after refused regenerates, want 1", n, k.Name)
			}

			// The caller's own key too, through the typed client.
			mine := slices.IndexFunc(all, func(x client.ApiKey) bool { return x.Prefix == mainKey[:16] && !x.Revoked })
			if mine < 0 {
				t.Fatalf("the caller's key %s is not listed", mainKey[:16])
			}
			del, err := c.RevokeApiKeyWithResponse(ctx, all[mine].Id)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, del.HTTPResponse, del.Body, http.StatusConflict, "conflict")
			reg, err := c.RegenerateApiKeyWithResponse(ctx, all[mine].Id, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, reg.HTTPResponse, reg.Body, http.StatusConflict, "conflict")
			akWorks(t, tg, "the suite's key after refusing itself", mainKey)

			// Another key of the organization may revoke it: the refusal was
			// about the caller, not the key.
			if res, body := tg.raw(t, mainKey, http.MethodDelete, akPath(k.Id), "", nil); res.StatusCode != http.StatusNoContent {
				t.Fatalf("revoke by another key: %d %s", res.StatusCode, body)
			}
			akRejected(t, tg, "after another key revoked it", k.Key)
		})

		t.Run("regenerate replaces the key", func(t *testing.T) {
			old, _ := akCreate(t, tg, mainKey, akUniqueName(t, "regen"))
			akWorks(t, tg, "the key before regenerating", old.Key)
			lo := time.Now()
			res, err := c.RegenerateApiKeyWithResponse(ctx, old.Id, nil)
			if err != nil {
				t.Fatal(err)
			}
			hi := time.Now()
			if res.StatusCode() != http.StatusCreated || res.JSON201 == nil {
				t.Fatalf("regenerate: %d %s", res.StatusCode(), res.Body)
			}
			nu := *res.JSON201
			if tg.remote() {
				t.Cleanup(func() { akRevokeQuietly(t, tg, mainKey, nu.Id) })
			}
			akCheckCreated(t, tg, "regenerate", nu, old.Name, lo, hi)
			akCheckLocation(t, "regenerate", res.HTTPResponse, nu.Id)
			if nu.Id == old.Id || nu.Id < old.Id {
				t.Errorf("the new key's id %d, the old one's %d: want a new, later id", nu.Id, old.Id)
			}
			if nu.Key == old.Key || nu.Prefix == old.Prefix {
				t.Errorf("regenerate gave the same key or prefix: %s", nu.Prefix)
			}
			if nu.CreatedAt.Before(old.CreatedAt) {
				t.Errorf("new key created %v, before the old %v", nu.CreatedAt, old.CreatedAt)
			}

			akRejected(t, tg, "the old key right after regenerating", old.Key)
			akWorks(t, tg, "the new key", nu.Key)

			was, raw := akGet(t, tg, mainKey, old.Id)
			akNoSecret(t, "GET of the regenerated key", raw, old.Key, nu.Key)
			akCheckRevoked(t, tg, "the old key", was, lo, hi)
			if was.Name != old.Name || was.Prefix != old.Prefix {
				t.Errorf("the old key became %+v, was %+v", was, old)
			}
			now, raw := akGet(t, tg, mainKey, nu.Id)
			akNoSecret(t, "GET of the new key", raw, old.Key, nu.Key)
			akCheckActive(t, "the new key", now)
			if now.Name != old.Name || now.Prefix != nu.Prefix {
				t.Errorf("GET of the new key: %+v", now)
			}
			all, _ := akAll(t, tg, mainKey, nil)
			if i, j := slices.Index(akIDs(all), old.Id), slices.Index(akIDs(all), nu.Id); i < 0 || j < 0 || j < i {
				t.Errorf("the list has the old key at %d and the new at %d, want both, oldest first", i, j)
			}
			if n := akCountNamed(all, old.Name); n != 2 {
				t.Errorf("%d keys named %q, want the old and the new", n, old.Name)
			}

			again, err := c.RegenerateApiKeyWithResponse(ctx, old.Id, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, again.HTTPResponse, again.Body, http.StatusConflict, "conflict")
			if bytes.Contains(again.Body, []byte("sk_live_")) {
				t.Errorf("the refused regenerate shows a key: %s", again.Body)
			}
			if all, _ := akAll(t, tg, mainKey, nil); akCountNamed(all, old.Name) != 2 {
				t.Errorf("the refused regenerate made a key: %d named %q", akCountNamed(all, old.Name), old.Name)
			}
			akWorks(t, tg, "the new key after a refused regenerate of the old", nu.Key)

			if del, body := tg.raw(t, mainKey, http.MethodDelete, akPath(old.Id), "", nil); del.StatusCode != http.StatusNoContent {
				t.Errorf("revoking the regenerated key: %d %s, want 204", del.StatusCode, body)
			}

			// The new key can be regenerated in turn.
			third, err := c.RegenerateApiKeyWithResponse(ctx, nu.Id, nil)
			if err != nil {
				t.Fatal(err)
			}
			if third.StatusCode() != http.StatusCreated || third.JSON201 == nil {
				t.Fatalf("regenerating the new key: %d %s", third.StatusCode(), third.Body)
			}
			if tg.remote() {
				t.Cleanup(func() { akRevokeQuietly(t, tg, mainKey, third.JSON201.Id) })
			}
			if third.JSON201.Name != old.Name {
				t.Errorf("the third key is named %q, want %q", third.JSON201.Name, old.Name)
			}
			akRejected(t, tg, "the second key after regenerating it", nu.Key)
			akWorks(t, tg, "the third key", third.JSON201.Key)
		})

		t.Run("concurrent regenerates of one key make one new key", func(t *testing.T) {
			old, _ := akCreate(t, tg, mainKey, akUniqueName(t, "race"))
			const n = 6
			answers := make([]*client.RegenerateApiKeyResponse, n)
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := tg.client(t, mainKey, bearer).RegenerateApiKeyWithResponse(ctx, old.Id, nil)
					if err != nil {
						t.Error(err)
						return
					}
					answers[i], statuses[i] = res, res.StatusCode()
				}()
			}
			wg.Wait()
			created := 0
			for _, res := range answers {
				switch {
				case res == nil: // the call failed, reported above
				case res.StatusCode() == http.StatusCreated:
					created++
					var k client.ApiKeyCreated
					if err := json.Unmarshal(res.Body, &k); err != nil {
						t.Fatal(err)
					}
					if tg.remote() {
						t.Cleanup(func() { akRevokeQuietly(t, tg, mainKey, k.Id) })
					}
					akWorks(t, tg, "the winner's key", k.Key)
				default:
					wantError(t, res.HTTPResponse, res.Body, http.StatusConflict, "conflict")
				}
			}
			if created != 1 {
				t.Errorf("%d of %d concurrent regenerates succeeded, want 1: %v", created, n, statuses)
			}
			active, _ := akAll(t, tg, mainKey, ptr(client.Active))
			if got := akCountNamed(active, old.Name); got != 1 {
				t.Errorf("%d active keys named %q, want 1", got, old.Name)
			}
			akRejected(t, tg, "the regenerated key", old.Key)
		})

		t.Run("last_used_at records use", func(t *testing.T) {
			k, _ := akCreate(t, tg, mainKey, akUniqueName(t, "used"))
			if got, _ := akGet(t, tg, mainKey, k.Id); !got.LastUsedAt.IsNull() {
				t.Errorf("an unused key has last_used_at %v", got.LastUsedAt)
			}
			lo := time.Now()
			akWorks(t, tg, "the key", k.Key)
			hi := time.Now()
			got, _ := akGet(t, tg, mainKey, k.Id)
			at, err := got.LastUsedAt.Get()
			if err != nil {
				t.Fatalf("after a call, last_used_at is %v, want a time", got.LastUsedAt)
			}
			akCheckTime(t, tg, "last_used_at", at, lo, hi)
			if at.Before(got.CreatedAt) {
				t.Errorf("last_used_at %v before created_at %v", at, got.CreatedAt)
			}
			all, _ := akAll(t, tg, mainKey, nil)
			if listed, _ := akFind(all, k.Id); listed.LastUsedAt.IsNull() || !listed.LastUsedAt.MustGet().Equal(at) {
				t.Errorf("listed with last_used_at %v, GET says %v", listed.LastUsedAt, at)
			}
			mine := slices.IndexFunc(all, func(x client.ApiKey) bool { return x.Prefix == mainKey[:16] && !x.Revoked })
			if mine < 0 || all[mine].LastUsedAt.IsNull() {
				t.Errorf("the suite's own key, just used, is not listed with last_used_at")
			}
		})

		t.Run("other organizations' keys are not found", func(t *testing.T) {
			other := tg.newOrg(t, "Org B "+t.Name())
			k, _ := akCreate(t, tg, mainKey, akUniqueName(t, "mine"))
			theirs, _ := akCreate(t, tg, other, akUniqueName(t, "theirs"))
			for _, tc := range []struct {
				who, key string
				id       int64
			}{{"B on A's key", other, k.Id}, {"A on B's key", mainKey, theirs.Id}} {
				for _, op := range []struct{ method, path string }{
					{http.MethodGet, akPath(tc.id)},
					{http.MethodDelete, akPath(tc.id)},
					{http.MethodPost, akPath(tc.id) + "/regenerate"},
				} {
					res, body := tg.raw(t, tc.key, op.method, op.path, "", nil)
					wantError(t, res, body, http.StatusNotFound, "not_found")
					if bytes.Contains(body, []byte("sk_live_")) {
						t.Errorf("%s: %s %s shows a key: %s", tc.who, op.method, op.path, body)
					}
				}
			}
			akWorks(t, tg, "A's key after B's attempts", k.Key)
			akWorks(t, tg, "B's key after A's attempts", theirs.Key)
			if got, _ := akGet(t, tg, mainKey, k.Id); got.Revoked {
				t.Errorf("B revoked A's key")
			}
			if got, _ := akGet(t, tg, other, theirs.Id); got.Revoked {
				t.Errorf("A revoked B's key")
			}

			bList, bPages := akAll(t, tg, other, nil)
			aList, aPages := akAll(t, tg, mainKey, nil)
			if _, n := akFind(bList, k.Id); n != 0 {
				t.Errorf("B's list has A's key %d", k.Id)
			}
			if _, n := akFind(aList, theirs.Id); n != 0 {
				t.Errorf("A's list has B's key %d", theirs.Id)
			}
			for _, x := range bList {
				if x.Prefix == mainKey[:16] || x.Prefix == k.Prefix {
					t.Errorf("B's list has A's key %s", x.Prefix)
				}
			}
			for _, x := range aList {
				if x.Prefix == other[:16] || x.Prefix == theirs.Prefix {
					t.Errorf("A's list has B's key %s", x.Prefix)
				}
			}
			for _, p := range bPages {
				akNoSecret(t, "B's list", p, k.Key, mainKey)
			}
			for _, p := range aPages {
				akNoSecret(t, "A's list", p, theirs.Key, other)
			}
			for _, status := range []client.ListApiKeysParamsStatus{client.Active, client.Revoked} {
				l, _ := akAll(t, tg, other, ptr(status))
				if _, n := akFind(l, k.Id); n != 0 {
					t.Errorf("B's status=%s list has A's key", status)
				}
			}
		})

		t.Run("unknown and malformed ids", func(t *testing.T) {
			for _, op := range []struct{ method, suffix string }{
				{http.MethodGet, ""}, {http.MethodDelete, ""}, {http.MethodPost, "/regenerate"},
			} {
				res, body := tg.raw(t, mainKey, op.method, "/api-keys/"+akHugeID+op.suffix, "", nil)
				wantError(t, res, body, http.StatusNotFound, "not_found")
				for _, id := range []string{"abc", "0", "-1", "1.5", "99999999999999999999"} {
					res, body := tg.raw(t, mainKey, op.method, "/api-keys/"+id+op.suffix, "", nil)
					e := wantError(t, res, body, http.StatusBadRequest, "bad_request")
					if res.StatusCode == http.StatusBadRequest && len(e.Error.Details["id"]) == 0 {
						t.Errorf("%s /api-keys/%s%s: details %v, want them about id", op.method, id, op.suffix, e.Error.Details)
					}
				}
			}
		})

		t.Run("every operation needs a working key", func(t *testing.T) {
			k, _ := akCreate(t, tg, mainKey, akUniqueName(t, "target"))
			revoked := tg.revokedKey(t)
			ops := []struct{ method, path, body string }{
				{http.MethodGet, "/api-keys", ""},
				{http.MethodPost, "/api-keys", `{"name":"intruder"}`},
				{http.MethodGet, akPath(k.Id), ""},
				{http.MethodDelete, akPath(k.Id), ""},
				{http.MethodPost, akPath(k.Id) + "/regenerate", ""},
			}
			for _, who := range []struct{ name, key string }{
				{"no key", ""},
				{"a revoked key", revoked},
				{"a made-up key", "sk_live_" + strings.Repeat("0", 43)},
			} {
				for _, op := range ops {
					ct := ""
					if op.body != "" {
						ct = "application/json"
					}
					res, body := tg.raw(t, who.key, op.method, op.path, ct, []byte(op.body))
					if e := wantError(t, res, body, http.StatusUnauthorized, "unauthorized"); e.Error.Code != "unauthorized" {
						t.Logf("that was with %s", who.name)
					}
				}
			}
			got, _ := akGet(t, tg, mainKey, k.Id)
			akCheckActive(t, "the key after unauthenticated attempts", got)
			akWorks(t, tg, "the key after unauthenticated attempts", k.Key)
			all, _ := akAll(t, tg, mainKey, nil)
			if n := akCountNamed(all, "intruder"); n != 0 {
				t.Errorf("an unauthenticated create made %d keys", n)
			}
		})
	})
}

// TestApiKeyActiveCap fills an organization to its 100 active keys. It
// needs an organization of its own, which only in-process targets give.
func TestApiKeyActiveCap(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.freshOrg(t) // one active key already
		ctx := context.Background()
		c := tg.client(t, key, bearer)

		activeTotal := func(t *testing.T) int64 {
			t.Helper()
			l, _ := akPage(t, tg, key, client.ListApiKeysParams{Status: ptr(client.Active), PerPage: ptr(int32(1))})
			return l.Meta.Total
		}
		create := func(t *testing.T, name string) *client.CreateApiKeyResponse {
			t.Helper()
			res, err := c.CreateApiKeyWithResponse(ctx, nil, client.ApiKeyCreate{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}

		var made []client.ApiKeyCreated
		for i := 2; i <= akMaxActive; i++ {
			k, _ := akCreate(t, tg, key, fmt.Sprintf("cap %d", i))
			made = append(made, k)
		}
		if n := activeTotal(t); n != akMaxActive {
			t.Fatalf("%d active keys, want %d", n, akMaxActive)
		}

		res := create(t, "one too many")
		wantError(t, res.HTTPResponse, res.Body, http.StatusConflict, "conflict")
		if bytes.Contains(res.Body, []byte("sk_live_")) {
			t.Errorf("the refused create shows a key: %s", res.Body)
		}
		if n := activeTotal(t); n != akMaxActive {
			t.Errorf("after the refused create: %d active keys, want %d", n, akMaxActive)
		}
		if l, _ := akPage(t, tg, key, client.ListApiKeysParams{PerPage: ptr(int32(1))}); l.Meta.Total != akMaxActive {
			t.Errorf("after the refused create: %d keys in all, want %d", l.Meta.Total, akMaxActive)
		}
		akWorks(t, tg, "the last key under the cap", made[len(made)-1].Key)

		// Regenerating replaces a key, so it is allowed at the cap.
		reg, err := c.RegenerateApiKeyWithResponse(ctx, made[0].Id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if reg.StatusCode() != http.StatusCreated || reg.JSON201 == nil {
			t.Errorf("regenerate at the cap: %d %s, want 201", reg.StatusCode(), reg.Body)
		} else {
			akWorks(t, tg, "the key regenerated at the cap", reg.JSON201.Key)
		}
		if n := activeTotal(t); n != akMaxActive {
			t.Errorf("after regenerating at the cap: %d active keys, want %d", n, akMaxActive)
		}
		res = create(t, "still too many")
		wantError(t, res.HTTPResponse, res.Body, http.StatusConflict, "conflict")

		// Revoked keys do not count.
		if res, body := tg.raw(t, key, http.MethodDelete, akPath(made[1].Id), "", nil); res.StatusCode != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", res.StatusCode, body)
		}
		if n := activeTotal(t); n != akMaxActive-1 {
			t.Errorf("after a revoke: %d active keys, want %d", n, akMaxActive-1)
		}
		res = create(t, "room again")
		if res.StatusCode() != http.StatusCreated || res.JSON201 == nil {
			t.Fatalf("create after a revoke: %d %s, want 201", res.StatusCode(), res.Body)
		}
		akWorks(t, tg, "the key made after a revoke", res.JSON201.Key)
		res = create(t, "full again")
		wantError(t, res.HTTPResponse, res.Body, http.StatusConflict, "conflict")

		t.Run("concurrent creates do not pass the cap", func(t *testing.T) {
			// A few rounds, because a race shows only now and then.
			const free, tries, rounds = 3, 16, 3
			for round := range rounds {
				for _, m := range made[2+free*round : 2+free*(round+1)] {
					if res, body := tg.raw(t, key, http.MethodDelete, akPath(m.Id), "", nil); res.StatusCode != http.StatusNoContent {
						t.Fatalf("revoke: %d %s", res.StatusCode, body)
					}
				}
				if n := activeTotal(t); n != akMaxActive-free {
					t.Fatalf("round %d: %d active keys, want %d", round, n, akMaxActive-free)
				}
				answers := make([]*client.CreateApiKeyResponse, tries)
				statuses := make([]int, tries)
				var wg sync.WaitGroup
				for i := range tries {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := tg.client(t, key, bearer).CreateApiKeyWithResponse(ctx, nil, client.ApiKeyCreate{Name: fmt.Sprintf("race %d.%d", round, i)})
						if err != nil {
							t.Error(err)
							return
						}
						answers[i], statuses[i] = res, res.StatusCode()
					}()
				}
				wg.Wait()
				created := 0
				for _, res := range answers {
					switch {
					case res == nil: // the call failed, reported above
					case res.StatusCode() == http.StatusCreated:
						created++
					default:
						wantError(t, res.HTTPResponse, res.Body, http.StatusConflict, "conflict")
					}
				}
				if created != free {
					t.Errorf("round %d: %d of %d concurrent creates succeeded with room for %d: %v", round, created, tries, free, statuses)
				}
				if n := activeTotal(t); n != akMaxActive {
					t.Fatalf("round %d: after concurrent creates, %d active keys, want %d", round, n, akMaxActive)
				}
			}
		})
	})
}
