package contracttests

import (
	"database/sql"
	"net/http"
	"testing"
	"time"
)

// TestRevocationLostWithTheListener: a replica trusts a verified key from
// its cache until a notification says otherwise. A revocation whose NOTIFY
// is lost (here: made by SQL that sends none, as a revocation committed
// while the replica's listening connection is down would be) must still
// reach the replica: when the listener reconnects, the cache is purged and
// every key is verified again.
//
// The cache TTL is an hour, so nothing but the reconnection can explain the
// 401; and before the connection is cut, the same stale 200 shows that the
// cache really holds the key (the test could fail).
func TestRevocationLostWithTheListener(t *testing.T) {
	// Most of its time is spent waiting on child processes: it runs beside
	// the other tests that do (each has its own database and ports).
	t.Parallel()
	dbURL := guaranteesPostgres(t)
	bin := guaranteesBinary(t)
	env := guaranteesEnv(dbURL, map[string]string{"API_KEY_CACHE_TTL": "1h", "WEBHOOK_DISPATCH": "off"})
	key := guaranteesCreateOrg(t, bin, env, "Lost notify")
	srv := startGuaranteesServer(t, bin, env, "replica")
	api := newGuaranteesAPI(srv, key)
	status := func() int {
		t.Helper()
		code, body, err := api.do(http.MethodGet, "/leads?per_page=1", nil, nil)
		if err != nil {
			t.Fatalf("GET /leads: %v", err)
		}
		if code != http.StatusOK && code != http.StatusUnauthorized {
			t.Fatalf("GET /leads: %d %s", code, body)
		}
		return code
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("a fresh key answers %d, want 200", got)
	}

	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The revocation, without its notification.
	if _, err := db.Exec(`UPDATE api_keys SET revoked_at = now() WHERE revoked_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("with no notification and an hour's TTL the cached key answers %d; the test cannot tell a purge from a miss", got)
	}

	var cut int
	if err := db.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&cut); err != nil || cut != 1 {
		t.Fatalf("terminated %d listening connections (%v), want the replica's one", cut, err)
	}
	start := time.Now()
	if !guaranteesWait(20*time.Second, 20*time.Millisecond, func() bool { return status() == http.StatusUnauthorized }) {
		t.Fatal("the revoked key still answered 200 20s after the listener lost its connection")
	}
	t.Logf("the revoked key answered 401 %v after the listener's connection was cut", time.Since(start).Round(time.Millisecond))
}
