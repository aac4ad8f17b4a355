package contracttests

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// TestIdempotentAnswersHoldNoSecretAtRest: the answers that show a new API
// key or signing secret once (a key's creation and regeneration, a
// webhook's creation and its secret's rotation) are kept for an
// Idempotency-Key's replay like any other, and a replay shows them again;
// but with a secrets key the database holds them sealed, so a copy of it
// does not give away the key or secret that the database otherwise keeps
// only hashed or sealed.
func TestIdempotentAnswersHoldNoSecretAtRest(t *testing.T) {
	forEachDatabase(t, "reads the server's database", func(t *testing.T, db sqlstoretest.Database) {
		secretsKey := make([]byte, 32)
		_, _ = rand.Read(secretsKey)
		tg := startInProcessWith(t, db.URL, func(c *app.Config) { c.SecretsKey = secretsKey })

		// send posts body (nil: none) with a new Idempotency-Key twice and
		// returns the first answer's secret, read from field; the second
		// must be the first, replayed.
		send := func(path string, body []byte, want int, field string) (idem, secret string, answer map[string]any) {
			t.Helper()
			idem = newIdemKey(t) + "-" + strings.ReplaceAll(path, "/", "_")
			first, firstBody := safetyRequest(t, tg, "POST", path, body, bearerH(tg.key), idemKey(idem))
			if first.StatusCode != want {
				t.Fatalf("POST %s: %d %s, want %d", path, first.StatusCode, firstBody, want)
			}
			if err := json.Unmarshal(firstBody, &answer); err != nil {
				t.Fatalf("POST %s: %v", path, err)
			}
			secret, _ = answer[field].(string)
			if len(secret) < 20 {
				t.Fatalf("POST %s answered %s: no %s", path, firstBody, field)
			}
			again, againBody := safetyRequest(t, tg, "POST", path, body, bearerH(tg.key), idemKey(idem))
			if again.StatusCode != want || !bytes.Equal(againBody, firstBody) || again.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("POST %s again: %d %s replayed=%q; want the first answer replayed", path, again.StatusCode, againBody,
					again.Header.Get("Idempotent-Replayed"))
			}
			return idem, secret, answer
		}

		shown := map[string]string{} // Idempotency-Key -> the secret its answer showed
		idem, secret, created := send("/api-keys", []byte(`{"name":"ERP sync"}`), http.StatusCreated, "key")
		shown[idem] = secret
		idem, secret, _ = send(fmt.Sprintf("/api-keys/%v/regenerate", created["id"]), nil, http.StatusCreated, "key")
		shown[idem] = secret
		idem, secret, hook := send("/webhooks", []byte(`{"name":"CRM","url":"https://crm.example.com/hooks/iagente","events":["lead.created"]}`),
			http.StatusCreated, "signing_secret")
		shown[idem] = secret
		idem, secret, _ = send(fmt.Sprintf("/webhooks/%v/rotate-secret", hook["id"]), nil, http.StatusOK, "signing_secret")
		shown[idem] = secret

		stored := idempotentAnswers(t, db.URL)
		for idem, secret := range shown {
			body, ok := stored[idem]
			switch {
			case !ok:
				t.Errorf("no answer kept for %s", idem)
			case strings.Contains(body, secret) || strings.Contains(body, "sk_live_") || strings.Contains(body, "whsec_"):
				t.Errorf("the answer kept for %s holds its secret in the clear", idem)
			}
		}
	})
}

// idempotentAnswers reads the kept answers' bodies as the database holds
// them, by Idempotency-Key.
func idempotentAnswers(t *testing.T, dbURL string) map[string]string {
	t.Helper()
	db, _ := rawDB(t, dbURL)
	rows, err := db.Query(`SELECT key, body FROM idempotency_keys WHERE body IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var key string
		var body []byte
		if err := rows.Scan(&key, &body); err != nil {
			t.Fatal(err)
		}
		out[key] = string(body)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIdempotentCreateLeadAfterALostAnswer: a POST /leads whose lead was
// stored but whose answer never arrived (a commit whose acknowledgement was
// lost: the server answers 503 and gives the key back, as in any outage)
// is retried with its Idempotency-Key: the retry answers 201 with that
// lead, marked replayed, instead of 409 for its own phone; another key, or
// none, still gets the conflict. The lost answer is made by deleting the
// key's row, which is what giving it back does.
func TestIdempotentCreateLeadAfterALostAnswer(t *testing.T) {
	forEachDatabase(t, "reads and writes the server's database", func(t *testing.T, db sqlstoretest.Database) {
		tg := startInProcess(t, db.URL, app.DefaultRatePerMinute*1000, app.DefaultRatePerDay*1000)
		idem, phone := newIdemKey(t), uniquePhone(t)
		body := []byte(fmt.Sprintf(`{"phone":%q,"name":"Maria Santos"}`, phone))
		first, firstBody := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key), idemKey(idem))
		if first.StatusCode != http.StatusCreated {
			t.Fatalf("first: %d %s", first.StatusCode, firstBody)
		}
		giveBack(t, db.URL, idem)

		again, againBody := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key), idemKey(idem))
		if again.StatusCode != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" ||
			again.Header.Get("Location") != first.Header.Get("Location") || !bytes.Equal(againBody, firstBody) {
			t.Fatalf("the retry after a lost answer: %d %s replayed=%q location=%q; want the lead %s again",
				again.StatusCode, againBody, again.Header.Get("Idempotent-Replayed"), again.Header.Get("Location"), firstBody)
		}
		// Its answer is kept for the key from now on, as any other.
		third, thirdBody := safetyRequest(t, tg, "POST", "/leads", body, bearerH(tg.key), idemKey(idem))
		if third.StatusCode != http.StatusCreated || third.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(thirdBody, firstBody) {
			t.Errorf("a third try: %d %s", third.StatusCode, thirdBody)
		}
		for name, headers := range map[string][][2]string{
			"another key": {bearerH(tg.key), idemKey(idem + "-other")},
			"no key":      {bearerH(tg.key)},
		} {
			t.Run(name, func(t *testing.T) {
				res, raw := safetyRequest(t, tg, "POST", "/leads", body, headers...)
				wantError(t, res, raw, http.StatusConflict, "conflict", "phone")
			})
		}
		res, list := safetyRequest(t, tg, "GET", "/leads?phone="+phone, nil, bearerH(tg.key))
		if res.StatusCode != http.StatusOK || !strings.Contains(string(list), `"total":1`) {
			t.Fatalf("leads with the phone: %d %s; want exactly one", res.StatusCode, list)
		}
	})
}

// giveBack leaves an Idempotency-Key's row as the server leaves it when the
// request's answer was 503: no answer kept, and the claim's lease over.
func giveBack(t *testing.T, dbURL, key string) {
	t.Helper()
	db, param := rawDB(t, dbURL)
	res, err := db.Exec(`UPDATE idempotency_keys SET status = NULL, content_type = NULL, location = NULL, body = NULL,
		locked_until = created_at WHERE key = `+param, key)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("gave back %d keys named %s, want 1", n, key)
	}
}

// rawDB opens the server's database itself, closed when the test ends, and
// says how its statements mark the first parameter.
func rawDB(t *testing.T, dbURL string) (db *sql.DB, param string) {
	t.Helper()
	driver, dsn, param := "postgres", dbURL, "$1"
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		// Waits its turn while the server writes, as the server's own
		// connections do.
		driver, dsn, param = "sqlite", "file:"+path+"?_pragma="+url.QueryEscape("busy_timeout(10000)"), "?"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, param
}

// TestIdempotentSecretsAfterALostAnswer: a request that shows a secret once
// and whose answer was lost after its commit (answered 503, its
// Idempotency-Key given back, as the server does when the database's
// acknowledgement never came) is retried with the same key. The retry must
// not make a second webhook or key, nor rotate a second time (which would
// drop the secret receivers still check): a webhook's creation and rotation
// answer what the first try stored; an API key's creation and regeneration
// answer the key the first try stored, under a new text that replaces the
// one nobody saw.
func TestIdempotentSecretsAfterALostAnswer(t *testing.T) {
	forEachDatabase(t, "reads and writes the server's database", func(t *testing.T, db sqlstoretest.Database) {
		tg := startInProcess(t, db.URL, app.DefaultRatePerMinute*1000, app.DefaultRatePerDay*1000)
		lost := func(path, body string, want int) (first, retry map[string]any, location, idem string) {
			t.Helper()
			return lostAnswer(t, tg, db.URL, tg.key, path, body, want)
		}
		total := func(path string) float64 {
			t.Helper()
			res, raw := safetyRequest(t, tg, "GET", path, nil, bearerH(tg.key))
			var page struct{ Meta struct{ Total float64 } }
			decodeInto(t, raw, &page)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, res.StatusCode, raw)
			}
			return page.Meta.Total
		}
		status := func(key string) int {
			t.Helper()
			res, _ := safetyRequest(t, tg, "GET", "/leads?per_page=1", nil, bearerH(key))
			return res.StatusCode
		}

		t.Run("POST /webhooks", func(t *testing.T) {
			before := total("/webhooks")
			first, retry, _, _ := lost("/webhooks",
				`{"name":"CRM","url":"https://crm.example.com/hooks/lost","events":["lead.created"]}`, http.StatusCreated)
			if retry["id"] != first["id"] || retry["signing_secret"] != first["signing_secret"] || retry["name"] != "CRM" {
				t.Errorf("the retry answered webhook %v with secret %.12v…, want webhook %v with its secret %.12v…",
					retry["id"], retry["signing_secret"], first["id"], first["signing_secret"])
			}
			if n := total("/webhooks"); n != before+1 {
				t.Errorf("%v webhooks after the create and its retry, want %v", n, before+1)
			}
		})

		t.Run("POST /webhooks/{id}/rotate-secret", func(t *testing.T) {
			_, hook, _, _ := lost("/webhooks", `{"name":"ERP","url":"https://erp.example.com/hooks/lost","events":["lead.updated"]}`,
				http.StatusCreated)
			path := fmt.Sprintf("/webhooks/%v/rotate-secret", hook["id"])
			first, retry, _, idem := lost(path, ``, http.StatusOK)
			if retry["signing_secret"] != first["signing_secret"] || retry["previous_secret_expires_at"] != first["previous_secret_expires_at"] {
				t.Errorf("the retry answered %v, want the first rotation's %v: it rotated again", retry, first)
			}
			if first["signing_secret"] == hook["signing_secret"] {
				t.Fatal("the rotation kept the secret")
			}
			// After a rotation without a key, the key's retry is a new
			// rotation: the secret the key's made is no longer the one to
			// show.
			res, raw := safetyRequest(t, tg, "POST", path, nil, bearerH(tg.key))
			var keyless, late map[string]any
			decodeInto(t, raw, &keyless)
			if res.StatusCode != http.StatusOK || keyless["signing_secret"] == first["signing_secret"] {
				t.Fatalf("a rotation without a key: %d %s", res.StatusCode, raw)
			}
			giveBack(t, db.URL, idem)
			res, raw = safetyRequest(t, tg, "POST", path, nil, bearerH(tg.key), idemKey(idem))
			decodeInto(t, raw, &late)
			if res.StatusCode != http.StatusOK || res.Header.Get("Idempotent-Replayed") != "" ||
				late["signing_secret"] == first["signing_secret"] || late["signing_secret"] == keyless["signing_secret"] {
				t.Errorf("the key's retry after a rotation without one: %d replayed=%q %s, want a new rotation",
					res.StatusCode, res.Header.Get("Idempotent-Replayed"), raw)
			}
		})

		t.Run("POST /api-keys", func(t *testing.T) {
			before := total("/api-keys?status=active")
			first, retry, _, _ := lost("/api-keys", `{"name":"ERP sync"}`, http.StatusCreated)
			oldText, newText := first["key"].(string), retry["key"].(string)
			if retry["id"] != first["id"] || retry["name"] != "ERP sync" || retry["created_at"] != first["created_at"] {
				t.Errorf("the retry answered key %v %v %v, want key %v as created", retry["id"], retry["name"], retry["created_at"], first["id"])
			}
			if !strings.HasPrefix(newText, "sk_live_") || newText == oldText {
				t.Fatalf("the retry's key text %.12q…, want a new one", newText)
			}
			if got := status(newText); got != http.StatusOK {
				t.Errorf("the retry's key: %d, want 200", got)
			}
			if got := status(oldText); got != http.StatusUnauthorized {
				t.Errorf("the unseen first text: %d, want 401", got)
			}
			if n := total("/api-keys?status=active"); n != before+1 {
				t.Errorf("%v active keys after the create and its retry, want %v", n, before+1)
			}
		})

		t.Run("POST /api-keys/{id}/regenerate", func(t *testing.T) {
			_, made, _, _ := lost("/api-keys", `{"name":"Automation"}`, http.StatusCreated)
			path := fmt.Sprintf("/api-keys/%v/regenerate", made["id"])
			first, retry, location, _ := lost(path, ``, http.StatusCreated)
			if retry["id"] != first["id"] || first["id"] == made["id"] || location != fmt.Sprintf("/api/v1/api-keys/%v", first["id"]) {
				t.Errorf("the retry answered key %v at %s, want the replacement %v (of %v)", retry["id"], location, first["id"], made["id"])
			}
			if got := status(retry["key"].(string)); got != http.StatusOK || retry["key"] == first["key"] {
				t.Errorf("the retry's key: %d, new text %v; want 200 and a new text", got, retry["key"] != first["key"])
			}
			for name, text := range map[string]any{"the replaced key": made["key"], "the unseen first text": first["key"]} {
				if got := status(text.(string)); got != http.StatusUnauthorized {
					t.Errorf("%s: %d, want 401", name, got)
				}
			}
		})
	})
}

func decodeInto(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
}

// lostAnswer sends body to path with apiKey under a new Idempotency-Key,
// gives the key back as the server does when a request's answer was 503,
// and sends it again: it returns both answers, the second checked to be a
// replay with the first's status and Location, and the key.
func lostAnswer(t *testing.T, tg *target, dbURL, apiKey, path, body string, want int) (first, retry map[string]any, location, idem string) {
	t.Helper()
	idem = newIdemKey(t)
	res, raw := safetyRequest(t, tg, "POST", path, []byte(body), bearerH(apiKey), idemKey(idem))
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", path, res.StatusCode, raw, want)
	}
	location = res.Header.Get("Location")
	decodeInto(t, raw, &first)
	giveBack(t, dbURL, idem)
	res, raw = safetyRequest(t, tg, "POST", path, []byte(body), bearerH(apiKey), idemKey(idem))
	if res.StatusCode != want || res.Header.Get("Idempotent-Replayed") != "true" || res.Header.Get("Location") != location {
		t.Fatalf("POST %s retried after a lost answer: %d %s replayed=%q location=%q, want %d replayed at %q",
			path, res.StatusCode, raw, res.Header.Get("Idempotent-Replayed"), res.Header.Get("Location"), want, location)
	}
	decodeInto(t, raw, &retry)
	return first, retry, location, idem
}

// TestIdempotentTransitionsAfterALostAnswer: the requests that move a
// handoff or a delivery from one state to another, retried with their
// Idempotency-Key after their answer was lost (the key given back), answer
// what their first try did: the handoff it opened or closed, not 409; the
// delivery it queued again, as it is now, without queueing it once more.
func TestIdempotentTransitionsAfterALostAnswer(t *testing.T) {
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		tg := whDeliveryServer(t, db, nil)
		key := tg.freshOrg(t)

		t.Run("handoffs", func(t *testing.T) {
			lead := whCreateLead(t, tg, key, "Handoff")
			opened, retry, location, _ := lostAnswer(t, tg, db.URL, key, "/handoffs",
				fmt.Sprintf(`{"lead_id":%d,"reason":"Pediu para falar com um humano"}`, lead), http.StatusCreated)
			if retry["id"] != opened["id"] || retry["status"] != "open" || location == "" {
				t.Errorf("the retry opened %v (%v), want handoff %v", retry["id"], retry["status"], opened["id"])
			}
			res, raw := safetyRequest(t, tg, "GET", fmt.Sprintf("/handoffs?lead_id=%d", lead), nil, bearerH(key))
			if res.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"total":1`) {
				t.Errorf("the lead's handoffs: %d %s, want one", res.StatusCode, raw)
			}
			path := fmt.Sprintf("/handoffs/%v/close", opened["id"])
			closed, again, _, _ := lostAnswer(t, tg, db.URL, key, path, ``, http.StatusOK)
			if again["status"] != "closed" || again["closed_at"] != closed["closed_at"] {
				t.Errorf("the close's retry answered %v closed at %v, want it closed at %v", again["status"], again["closed_at"], closed["closed_at"])
			}
			for name, headers := range map[string][][2]string{
				"another key": {bearerH(key), idemKey(newIdemKey(t) + "-other")},
				"no key":      {bearerH(key)},
			} {
				t.Run("closed again with "+name, func(t *testing.T) {
					res, raw := safetyRequest(t, tg, "POST", path, nil, headers...)
					wantError(t, res, raw, http.StatusConflict, "conflict")
				})
			}
		})

		t.Run("redelivery", func(t *testing.T) {
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "lost answers", "url": rec.url("/ok"), "events": []string{"lead.created"}})
			whCreateLead(t, tg, key, "Redelivered")
			d := whWaitOne(t, tg, key, h.ID, "succeeded", 1)
			path := fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", h.ID, d.ID)
			first, _, _, idem := lostAnswer(t, tg, db.URL, key, path, ``, http.StatusAccepted)
			if first["status"] != "pending" {
				t.Fatalf("the redelivery answered %v, want pending", first["status"])
			}
			whWaitOne(t, tg, key, h.ID, "succeeded", 2)
			// Its answer lost once more, after the second delivery: the
			// retry answers the delivery as it is now and queues nothing.
			giveBack(t, db.URL, idem)
			res, raw := safetyRequest(t, tg, "POST", path, nil, bearerH(key), idemKey(idem))
			var now map[string]any
			decodeInto(t, raw, &now)
			if res.StatusCode != http.StatusAccepted || res.Header.Get("Idempotent-Replayed") != "true" || now["status"] != "succeeded" {
				t.Fatalf("the retry after the second delivery: %d replayed=%q %s, want the delivery as it succeeded",
					res.StatusCode, res.Header.Get("Idempotent-Replayed"), raw)
			}
			if after := whFindDelivery(t, tg, key, h.ID, d.ID); after.Status != "succeeded" || len(after.Attempts) != 2 {
				t.Errorf("after the retry the delivery is %s with %d attempts, want succeeded with 2", after.Status, len(after.Attempts))
			}
			// Without a key, a redelivery queues it again.
			if res, raw := safetyRequest(t, tg, "POST", path, nil, bearerH(key)); res.StatusCode != http.StatusAccepted || !strings.Contains(string(raw), `"pending"`) {
				t.Errorf("a redelivery without a key: %d %s, want it queued", res.StatusCode, raw)
			}
		})

		t.Run("bulk redelivery", func(t *testing.T) {
			rec := startEndpoints(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "lost bulk", "url": rec.url("/fail"), "events": []string{"lead.created"},
				"max_attempts": 1})
			for i := range 3 {
				whCreateLead(t, tg, key, fmt.Sprintf("Bulk %d", i))
			}
			failed := func(attempts int) {
				t.Helper()
				whWaitDeliveries(t, tg, key, h.ID, fmt.Sprintf("3 failed after %d attempts", attempts), func(ds []whDelivery) bool {
					n := 0
					for _, d := range ds {
						if d.Status == "failed" && len(d.Attempts) == attempts {
							n++
						}
					}
					return n == 3
				})
			}
			failed(1)
			path := fmt.Sprintf("/webhooks/%d/deliveries/redeliver", h.ID)
			first, retry, _, idem := lostAnswer(t, tg, db.URL, key, path, `{"since":"2000-01-01T00:00:00Z"}`, http.StatusAccepted)
			// (has_more is what is failed now: the three may have failed
			// again already.)
			if first["queued"] != float64(3) || first["has_more"] != false || retry["queued"] != float64(3) {
				t.Errorf("the bulk redelivery answered %v, its retry %v; want 3 queued both times", first, retry)
			}
			// Sent once more each, and failed again. The retry of the same
			// request, its answer lost once more, answers what it queued and
			// does not queue them a third time.
			failed(2)
			giveBack(t, db.URL, idem)
			res, raw := safetyRequest(t, tg, "POST", path, []byte(`{"since":"2000-01-01T00:00:00Z"}`), bearerH(key), idemKey(idem))
			var again map[string]any
			decodeInto(t, raw, &again)
			if res.StatusCode != http.StatusAccepted || res.Header.Get("Idempotent-Replayed") != "true" || again["queued"] != float64(3) ||
				again["has_more"] != true {
				t.Errorf("the retry after they failed again: %d replayed=%q %s, want 3 queued, replayed, and failed ones left",
					res.StatusCode, res.Header.Get("Idempotent-Replayed"), raw)
			}
			for _, d := range whWaitDeliveries(t, tg, key, h.ID, "listed", func([]whDelivery) bool { return true }) {
				if d.Status != "failed" || len(d.Attempts) != 2 {
					t.Errorf("after the retries, delivery %d is %s with %d attempts, want failed with 2", d.ID, d.Status, len(d.Attempts))
				}
			}
			// A new request (a new key) queues them again.
			res, raw = safetyRequest(t, tg, "POST", path, []byte(`{"since":"2000-01-01T00:00:00Z"}`), bearerH(key), idemKey(newIdemKey(t)))
			if res.StatusCode != http.StatusAccepted || !strings.Contains(string(raw), `"queued":3`) || res.Header.Get("Idempotent-Replayed") != "" {
				t.Errorf("a new bulk redelivery: %d %s, want 3 queued", res.StatusCode, raw)
			}
		})
	})
}
