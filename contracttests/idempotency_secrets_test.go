package contracttests

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
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

// giveBack deletes an Idempotency-Key's row, as the server does when a
// request's answer was 503.
func giveBack(t *testing.T, dbURL, key string) {
	t.Helper()
	db, param := rawDB(t, dbURL)
	res, err := db.Exec(`DELETE FROM idempotency_keys WHERE key = `+param, key)
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
		driver, dsn, param = "sqlite", path, "?"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, param
}
