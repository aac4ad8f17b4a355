package contracttests

// Safe retries and the input policy: Idempotency-Key, unambiguous
// credentials, strict JSON, the charset, control characters, the header
// limit. Every response is still validated against the spec by the suite's
// transport.

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

// safetyRequest sends method path with body and the given headers (a
// header given twice is sent twice) through the validating transport.
func safetyRequest(t *testing.T, tg *target, method, path string, body []byte, headers ...[2]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, tg.baseURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		req.Header.Add(h[0], h[1])
	}
	res, err := (&http.Client{Transport: newValidatingTransport(t, tg.baseURL)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	return res, b.Bytes()
}

func bearerH(key string) [2]string { return [2]string{"Authorization", "Bearer " + key} }

func idemKey(key string) [2]string { return [2]string{"Idempotency-Key", key} }

func newIdemKey(t *testing.T) string { return "test-" + uniquePhone(t) + "-" + t.Name() }

func TestIdempotencyKey(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		t.Run("a repeat replays the first answer and creates nothing", func(t *testing.T) {
			key, phone := newIdemKey(t), uniquePhone(t)
			body := []byte(fmt.Sprintf(`{"phone":%q,"name":"Maria Santos"}`, phone))
			first, firstBody := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key), idemKey(key))
			if first.StatusCode != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("first: %d %s (replayed %q)", first.StatusCode, firstBody, first.Header.Get("Idempotent-Replayed"))
			}
			for i := range 2 {
				if i == 1 {
					// The lead changes; the replay is still the first answer,
					// its body and its ETag.
					res, out := safetyRequest(t, tg, "PATCH", strings.TrimPrefix(first.Header.Get("Location"), "/api/v1"),
						[]byte(`{"lead_score":7}`), bearerH(tg.key))
					if res.StatusCode != http.StatusOK || res.Header.Get("ETag") == first.Header.Get("ETag") {
						t.Fatalf("change the lead: %d %s, ETag %q", res.StatusCode, out, res.Header.Get("ETag"))
					}
				}
				again, againBody := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key), idemKey(key))
				if again.StatusCode != http.StatusCreated || !bytes.Equal(againBody, firstBody) ||
					again.Header.Get("Idempotent-Replayed") != "true" || again.Header.Get("Location") != first.Header.Get("Location") ||
					again.Header.Get("ETag") == "" || again.Header.Get("ETag") != first.Header.Get("ETag") {
					t.Fatalf("repeat: %d %s replayed=%q location=%q etag=%q; want the first answer %s (etag %q)",
						again.StatusCode, againBody, again.Header.Get("Idempotent-Replayed"), again.Header.Get("Location"),
						again.Header.Get("ETag"), firstBody, first.Header.Get("ETag"))
				}
			}
			res, list := safetyRequest(t, tg, "GET", "/leads?phone="+phone, nil, bearerH(tg.key))
			if res.StatusCode != http.StatusOK || !strings.Contains(string(list), `"total":1`) {
				t.Fatalf("leads with the phone: %d %s; want exactly one", res.StatusCode, list)
			}
			// Without the header a retry runs again, as before.
			res, out := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key))
			wantError(t, res, out, http.StatusConflict, impl.EConflict)
		})

		t.Run("the same key for another request is refused", func(t *testing.T) {
			key := newIdemKey(t)
			if res, out := safetyRequest(t, tg, "POST", "/leads", []byte(fmt.Sprintf(`{"phone":%q}`, uniquePhone(t))),
				bearerH(tg.key), idemKey(key)); res.StatusCode != http.StatusCreated {
				t.Fatalf("first: %d %s", res.StatusCode, out)
			}
			res, out := safetyRequest(t, tg, "POST", "/leads", []byte(fmt.Sprintf(`{"phone":%q}`, uniquePhone(t))),
				bearerH(tg.key), idemKey(key))
			wantError(t, res, out, http.StatusUnprocessableEntity, impl.EIdempotencyKeyReused, "Idempotency-Key")
			// Another path with the same key is another request too.
			res, out = safetyRequest(t, tg, "POST", "/webhooks/999999999/rotate-secret", nil, bearerH(tg.key), idemKey(key))
			wantError(t, res, out, http.StatusUnprocessableEntity, impl.EIdempotencyKeyReused)
		})

		t.Run("a bad key is a bad request", func(t *testing.T) {
			body := []byte(fmt.Sprintf(`{"phone":%q}`, uniquePhone(t)))
			for name, headers := range map[string][][2]string{
				"empty":          {idemKey("")},
				"256 characters": {idemKey(strings.Repeat("k", 256))},
				"sent twice":     {idemKey("one"), idemKey("two")},
				"not ASCII":      {idemKey("chave-ç")},
			} {
				res, out := safetyRequest(t, tg, "POST", "/leads", body, append(headers, bearerH(tg.key))...)
				if res.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: %d %s, want 400", name, res.StatusCode, out)
				}
			}
			res, out := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key), idemKey(strings.Repeat("k", 255)))
			if res.StatusCode != http.StatusCreated {
				t.Errorf("255 characters: %d %s, want 201", res.StatusCode, out)
			}
		})

		t.Run("concurrent repeats run once", func(t *testing.T) {
			key, phone := newIdemKey(t), uniquePhone(t)
			body := []byte(fmt.Sprintf(`{"phone":%q}`, phone))
			const n = 8
			var wg sync.WaitGroup
			statuses := make([]int, n)
			replayed := make([]bool, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, _ := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key), idemKey(key))
					statuses[i], replayed[i] = res.StatusCode, res.Header.Get("Idempotent-Replayed") == "true"
					if res.StatusCode == http.StatusConflict && res.Header.Get("Retry-After") == "" {
						t.Errorf("409 in progress without Retry-After")
					}
				}()
			}
			wg.Wait()
			ran := 0
			for i, s := range statuses {
				switch {
				case s == http.StatusCreated && !replayed[i]:
					ran++
				case s == http.StatusCreated, s == http.StatusConflict:
				default:
					t.Errorf("answer %d", s)
				}
			}
			if ran != 1 {
				t.Errorf("%d of %d concurrent requests ran (statuses %v); want exactly 1", ran, n, statuses)
			}
			_, list := safetyRequest(t, tg, "GET", "/leads?phone="+phone, nil, bearerH(tg.key))
			if !strings.Contains(string(list), `"total":1`) {
				t.Errorf("leads: %s; want one", list)
			}
		})

		t.Run("keys belong to an organization", func(t *testing.T) {
			keyB := tg.newOrg(t, "Org Idempotency")
			key := newIdemKey(t)
			for _, k := range []string{tg.key, keyB} {
				res, out := safetyRequest(t, tg, "POST", "/leads", []byte(fmt.Sprintf(`{"phone":%q}`, uniquePhone(t))),
					bearerH(k), idemKey(key))
				if res.StatusCode != http.StatusCreated || res.Header.Get("Idempotent-Replayed") != "" {
					t.Fatalf("%d %s: another organization's key must not be replayed nor refused", res.StatusCode, out)
				}
			}
		})

		t.Run("failures are replayed too", func(t *testing.T) {
			key := newIdemKey(t)
			res, first := safetyRequest(t, tg, "POST", "/handoffs", []byte(`{"lead_id":999999999,"reason":"x"}`), bearerH(tg.key), idemKey(key))
			wantError(t, res, first, http.StatusNotFound, impl.ENotFound)
			res, again := safetyRequest(t, tg, "POST", "/handoffs", []byte(`{"lead_id":999999999,"reason":"x"}`), bearerH(tg.key), idemKey(key))
			if res.StatusCode != http.StatusNotFound || !bytes.Equal(again, first) || res.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("repeat: %d %s", res.StatusCode, again)
			}
		})
	})
}

// A WhatsApp send repeated with its key reaches the provider once.
func TestIdempotentWhatsAppSend(t *testing.T) {
	forEachCloudTarget(t, func(t *testing.T, env *cloudEnv) {
		tg := env.tg
		key := newIdemKey(t)
		tg.seed(t).ContactWrote(t, env.integ.ID, "5511988887777") // a text needs the 24-hour window open
		body := []byte(fmt.Sprintf(`{"integration_id":%d,"phone":"5511988887777","type":"text","text":"Ola!"}`, env.integ.ID))
		before := len(env.fake.Requests())
		first, firstBody := safetyRequest(t, tg, "POST", "/whatsapp/messages", body, bearerH(tg.key), idemKey(key))
		if first.StatusCode != http.StatusCreated {
			t.Fatalf("first send: %d %s", first.StatusCode, firstBody)
		}
		again, againBody := safetyRequest(t, tg, "POST", "/whatsapp/messages", body, bearerH(tg.key), idemKey(key))
		if again.StatusCode != http.StatusCreated || !bytes.Equal(againBody, firstBody) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("repeat: %d %s", again.StatusCode, againBody)
		}
		if got := len(env.fake.Requests()) - before; got != 1 {
			t.Fatalf("the fake Graph API got %d sends, want 1", got)
		}
	})
}

func TestCredentialsAreUnambiguous(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		keyB := tg.newOrg(t, "Org Credentials")
		for name, headers := range map[string][][2]string{
			"two keys in the two headers":  {bearerH(tg.key), {"X-API-Key", keyB}},
			"the same header twice":        {{"X-API-Key", tg.key}, {"X-API-Key", keyB}},
			"Authorization twice":          {bearerH(keyB), bearerH(tg.key)},
			"a valid and an invalid key":   {bearerH(tg.key), {"X-API-Key", "sk_live_" + strings.Repeat("Z", 43)}},
			"an invalid and a valid key":   {{"X-API-Key", "sk_live_" + strings.Repeat("Z", 43)}, bearerH(tg.key)},
			"Bearer and a malformed other": {{"Authorization", "Basic abc"}, {"X-API-Key", tg.key}},
		} {
			res, out := safetyRequest(t, tg, "GET", "/leads", nil, headers...)
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %d %s, want 401", name, res.StatusCode, out)
			}
		}
		for name, headers := range map[string][][2]string{
			"the same key in both headers": {bearerH(tg.key), {"X-API-Key", tg.key}},
			"the same key twice":           {{"X-API-Key", tg.key}, {"X-API-Key", tg.key}},
		} {
			if res, out := safetyRequest(t, tg, "GET", "/leads", nil, headers...); res.StatusCode != http.StatusOK {
				t.Errorf("%s: %d %s, want 200", name, res.StatusCode, out)
			}
		}
	})
}

func TestInputPolicy(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		post := func(path string, body string, ct string) (*http.Response, []byte) {
			req, _ := http.NewRequest("POST", tg.baseURL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+tg.key)
			res, err := (&http.Client{Transport: newValidatingTransport(t, tg.baseURL)}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b bytes.Buffer
			_, _ = b.ReadFrom(res.Body)
			return res, b.Bytes()
		}
		phone := uniquePhone(t)
		for _, tt := range []struct {
			name, body, ct string
			status         int
			code           string
		}{
			{"a lone surrogate", `{"phone":"` + phone + `","name":"\ud800"}`, "application/json", 400, impl.EBadRequest},
			{"a duplicate key", `{"phone":"` + phone + `","phone":"` + uniquePhone(t) + `"}`, "application/json", 400, impl.EBadRequest},
			{"latin1", `{"phone":"` + phone + `","name":"Jo\u00e3o"}`, "application/json; charset=latin1", 415, impl.EUnsupportedMediaType},
			{"utf-16", `{"phone":"` + phone + `"}`, "application/json; charset=utf-16", 415, impl.EUnsupportedMediaType},
			{"NUL in a name", `{"phone":"` + phone + `","name":"Ana\u0000"}`, "application/json", 422, impl.EValidation},
		} {
			res, out := post("/leads", tt.body, tt.ct)
			if res.StatusCode != tt.status || !strings.Contains(string(out), `"`+tt.code+`"`) {
				t.Errorf("%s: %d %s, want %d %s", tt.name, res.StatusCode, out, tt.status, tt.code)
			}
		}
		// Nothing of the above was stored.
		if _, list := safetyRequest(t, tg, "GET", "/leads?phone="+phone, nil, bearerH(tg.key)); !strings.Contains(string(list), `"total":0`) {
			t.Errorf("a refused lead was stored: %s", list)
		}
		// utf-8 spelled either way is fine.
		if res, out := post("/leads", `{"phone":"`+phone+`"}`, "application/json; charset=UTF-8"); res.StatusCode != http.StatusCreated {
			t.Errorf("charset=UTF-8: %d %s", res.StatusCode, out)
		}

		// The places that answered 500 on PostgreSQL and stored NUL on SQLite.
		res, out := post("/handoffs", `{"lead_id":1,"reason":"urgente\u0000"}`, "application/json")
		wantError(t, res, out, 422, impl.EValidation, "reason")
		res, out = safetyRequest(t, tg, "GET", "/whatsapp/templates?context=onboarding%00", nil, bearerH(tg.key))
		wantError(t, res, out, 400, impl.EBadRequest, "context")
		for path, body := range map[string]string{
			"/whatsapp/messages": `{"integration_id":1,"phone":"5511999999999","type":"image","media_url":"https://x.example/a.png\u0000"}`,
			"/rcs/messages":      `{"phone":"5511999999999","type":"file","file_url":"https://x.example/a.pdf\u0000","mime_type":"application/pdf"}`,
		} {
			res, out := post(path, body, "application/json")
			wantError(t, res, out, 422, impl.EValidation)
		}
		res, out = post("/rcs/messages", `{"phone":"5511999999999","type":"card","title":"Oferta","buttons":[{"type":"url","text":"Ver","url":"https://x.example/\u0000"}]}`, "application/json")
		if e := wantError(t, res, out, 422, impl.EValidation); len(e.Error.Details["buttons[0].url"]) == 0 {
			t.Errorf("button url: details %v", e.Error.Details)
		}
	})
}

func TestHeaderLimit(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		res, out := safetyRequest(t, tg, "GET", "/leads?email="+strings.Repeat("a", 20<<10)+"%40x.com", nil, bearerH(tg.key))
		wantError(t, res, out, http.StatusRequestHeaderFieldsTooLarge, impl.EHeaderTooLarge)
		res, out = safetyRequest(t, tg, "GET", "/leads", nil, bearerH(tg.key), [2]string{"X-Padding", strings.Repeat("p", 20<<10)})
		wantError(t, res, out, http.StatusRequestHeaderFieldsTooLarge, impl.EHeaderTooLarge)
	})
}

// A signed Meta webhook with NUL where a database refuses it: never a 500
// (Meta would redeliver forever). A message id with control characters is
// not an id, so the message is skipped; a text keeps everything but the
// control characters.
func TestInboundControlCharacters(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		tg.seed(t) // the integration's app secret is set behind the API
		const secret = "segredo-controle"
		env := newInboundEnv(t, tg, tg.orgID, tg.key, secret, "token-controle")
		pnid := env.integ.PhoneNumberID

		badID := wamid(t) + "\x00"
		status, body := env.push(t, secret, graphapi.InboundText(pnid, "551130030000", uniquePhone(t), "Ana", badID, "oi", time.Now()))
		if status != http.StatusOK {
			t.Fatalf("NUL in the id: %d %s", status, body)
		}
		if got := byProviderID(inboundMessages(t, tg, tg.key), badID); len(got) != 0 {
			t.Errorf("a message with a NUL id was stored: %+v", got)
		}

		id := wamid(t)
		status, body = env.push(t, secret, graphapi.InboundText(pnid, "551130030000", uniquePhone(t), "Ana\x00", id, "Oi\x00, tudo\x07 bem?\n", time.Now()))
		if status != http.StatusOK {
			t.Fatalf("NUL in the text: %d %s", status, body)
		}
		got := byProviderID(inboundMessages(t, tg, tg.key), id)
		if len(got) != 1 || got[0].Content["text"] != "Oi, tudo bem?\n" {
			t.Fatalf("stored %+v, want the text without its control characters", got)
		}
	})
}

// What needs no key is limited per address: failed authentications, the
// docs, failed provider callbacks. Behind a trusted proxy the address is
// the client's, from X-Forwarded-For; from anyone else the header is
// ignored.
func TestAddressLimit(t *testing.T) {
	forEachDatabase(t, "lowers the per-address limit", func(t *testing.T, db sqlstoretest.Database) {
		const limit = 5
		tg := startInProcessWith(t, db.URL, func(c *app.Config) {
			c.AddressRatePerMinute = limit
			c.TrustedProxies, _ = httpapi.ParseTrustedProxies("127.0.0.1, ::1")
		})
		wrong := "sk_live_" + strings.Repeat("Z", 43)
		from := func(addr string) [2]string { return [2]string{"X-Forwarded-For", addr} }
		// The minute window is real time: when it rolls over during an
		// attempt, a request is rightly allowed again. Such an attempt is
		// told apart by the clock (the server is in this process) and run
		// again from fresh addresses.
		for attempt := 1; ; attempt++ {
			started := time.Now().Truncate(time.Minute)
			errs := addressLimitAttempt(t, tg, limit, wrong, from, attempt)
			if len(errs) > 0 && !time.Now().Truncate(time.Minute).Equal(started) && attempt < 3 {
				t.Logf("the minute window rolled over during attempt %d; again", attempt)
				continue
			}
			for _, e := range errs {
				t.Error(e)
			}
			return
		}
	})
}

// addressLimitAttempt runs TestAddressLimit's requests from addresses of
// its own, and returns what went wrong.
func addressLimitAttempt(t *testing.T, tg *target, limit int, wrong string, from func(string) [2]string, attempt int) []string {
	rec := &errorRecorder{TB: t}
	addr := func(n int) string { return fmt.Sprintf("198.51.%d.%d", 100+attempt, n) }
	for range limit {
		res, out := safetyRequest(t, tg, "GET", "/leads", nil, bearerH(wrong), from(addr(1)))
		wantError(rec, res, out, http.StatusUnauthorized, impl.EUnauthorized)
	}
	res, out := safetyRequest(t, tg, "GET", "/leads", nil, bearerH(wrong), from(addr(1)))
	wantError(rec, res, out, http.StatusTooManyRequests, impl.ERateLimited)
	if res.Header.Get("Retry-After") == "" {
		rec.Error("429 without Retry-After")
	}
	// Out of failures, the address is refused before its key is looked at.
	res, out = safetyRequest(t, tg, "GET", "/leads", nil, bearerH(tg.key), from(addr(1)))
	wantError(rec, res, out, http.StatusTooManyRequests, impl.ERateLimited)
	// Another client behind the same proxy is not affected, and a good
	// key never counts.
	for range limit + 2 {
		if res, out := safetyRequest(t, tg, "GET", "/leads", nil, bearerH(tg.key), from(addr(2))); res.StatusCode != http.StatusOK {
			rec.Errorf("another address with a good key: %d %s", res.StatusCode, out)
			break
		}
	}
	// The docs count every request.
	root := rootURL(tg)
	status := 0
	for range limit + 1 {
		req, _ := http.NewRequest("GET", root+"/openapi.json", nil)
		req.Header.Set("X-Forwarded-For", addr(3))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		status = res.StatusCode
	}
	if status != http.StatusTooManyRequests {
		rec.Errorf("request %d for the docs from one address: %d, want 429", limit+1, status)
	}
	return rec.errs
}
