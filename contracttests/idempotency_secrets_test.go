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
	driver, dsn := "postgres", dbURL
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		driver, dsn = "sqlite", path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
