package main

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
)

var passwordRe = regexp.MustCompile(`password \(shown once, keep it\): (\S+)`)

func userHash(t *testing.T, e env, email string) string {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), e["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := sqlstore.NewStores(db).Users.FindUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("find %s: %v", email, err)
	}
	return u.PasswordHash
}

func TestUsersCreate(t *testing.T) {
	e := sqliteEnv(t)
	if _, err := runCmd(t, e, "orgs", "create", "Acme"); err != nil {
		t.Fatal(err)
	}

	out, err := runCmd(t, e, "users", "create", "--org", "1", "--email", "Ana@Acme.test", "--name", "Ana")
	if err != nil {
		t.Fatal(err)
	}
	m := passwordRe.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "<ana@acme.test>") {
		t.Fatalf("users create printed %q: want the lower-cased e-mail and a password", out)
	}
	hash := userHash(t, e, "ana@acme.test")
	if !auth.CheckPassword(hash, m[1]) || strings.Contains(hash, m[1]) {
		t.Fatal("the printed password does not match the stored hash, or is stored in clear")
	}

	saved := stdin
	t.Cleanup(func() { stdin = saved })
	stdin = strings.NewReader("a chosen passphrase\n")
	out, err = runCmd(t, e, "users", "create", "--org", "1", "--email", "bia@acme.test", "--password-stdin", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec["email"] != "bia@acme.test" || rec["name"] != "bia" {
		t.Fatalf("--json printed %q (%v)", out, err)
	}
	if _, shown := rec["password"]; shown {
		t.Error("a password read from stdin was printed back")
	}
	if !auth.CheckPassword(userHash(t, e, "bia@acme.test"), "a chosen passphrase") {
		t.Error("the password from stdin was not the one stored")
	}

	stdin = strings.NewReader("short\n")
	_, err = runCmd(t, e, "users", "create", "--org", "1", "--email", "cai@acme.test", "--password-stdin")
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "10") {
		t.Errorf("a 5-character password: %v, want a usage error naming the minimum", err)
	}
	for _, args := range [][]string{
		{"users", "create", "--email", "x@acme.test"},
		{"users", "create", "--org", "1", "--email", "not an e-mail"},
		{"users", "create", "--org", "1"},
		{"users", "delete", "--org", "1"},
		// Text no database keeps alike (a NUL: PostgreSQL refuses it).
		{"users", "create", "--org", "1", "--email", "dan@acme.test", "--name", "Dan\x00"},
		{"users", "create", "--org", "1", "--email", "dan@acme.test", "--name", "Dan\nSilva"},
		{"users", "create", "--org", "1", "--email", strings.Repeat("d", 250) + "@acme.test"},
	} {
		if _, err := runCmd(t, e, args...); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := runCmd(t, e, "users", "create", "--org", "1", "--email", "ANA@acme.test"); impl.ErrorCode(err) != impl.EConflict {
		t.Errorf("a taken e-mail: %v, want a conflict", err)
	}
	if _, err := runCmd(t, e, "users", "create", "--org", "9", "--email", "dan@acme.test"); impl.ErrorCode(err) != impl.ENotFound {
		t.Errorf("an unknown organization: %v, want not found", err)
	}

	out, err = runCmd(t, e, "users", "list", "--org", "1")
	if err != nil || !strings.Contains(out, "ana@acme.test") || !strings.Contains(out, "bia@acme.test") || strings.Contains(out, "argon2") {
		t.Fatalf("users list: %v %q", err, out)
	}
}

func TestServeDevPrintsADashboardUser(t *testing.T) {
	e := sqliteEnv(t)
	e["LISTEN_ADDR"] = freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--dev"}, e.get, &out, &logs) }()
	var m []string
	for deadline := time.Now().Add(60 * time.Second); m == nil && time.Now().Before(deadline); {
		m = passwordRe.FindStringSubmatch(out.String())
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if m == nil || !strings.Contains(out.String(), "e-mail: "+devUserEmail) || !strings.Contains(out.String(), "/dashboard/") {
		t.Fatalf("the banner lacks the dashboard user: %s", out.String())
	}
	if !auth.CheckPassword(userHash(t, e, devUserEmail), m[1]) {
		t.Error("the printed dev password does not sign in")
	}
	if strings.Contains(logs.String(), m[1]) {
		t.Error("the dev password reached the logs")
	}
}
