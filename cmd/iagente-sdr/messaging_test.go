package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/mocks/graphapi"
)

func TestIntegrationsAndTemplates(t *testing.T) {
	e := sqliteEnv(t)
	if _, err := runCmd(t, e, "orgs", "create", "Acme"); err != nil {
		t.Fatal(err)
	}

	// A WhatsApp integration gets a verify token, shown once.
	out, err := runCmd(t, e, "integrations", "create", "--org", "1", "--channel", "whatsapp", "--phone-number", "+55 11 4004-0000", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var wa map[string]any
	if err := json.Unmarshal([]byte(out), &wa); err != nil || wa["provider"] != "sandbox" || wa["phone_number"] != "551140040000" {
		t.Fatalf("integrations create: %v %s", err, out)
	}
	token, _ := wa["verify_token"].(string)
	if len(token) < 32 {
		t.Fatalf("verify token %q", token)
	}

	// Cloud API credentials come from the environment, and are never listed.
	if _, err := runCmd(t, e, "integrations", "create", "--org", "1", "--channel", "whatsapp", "--provider", "whatsapp_cloud", "--phone-number-id", "123"); !isUsage(err) {
		t.Errorf("whatsapp_cloud without credentials: %v", err)
	}
	e["INTEGRATION_ACCESS_TOKEN"], e["INTEGRATION_APP_SECRET"] = "EAAG-secret-token", "app-secret-value"
	if _, err := runCmd(t, e, "integrations", "create", "--org", "1", "--channel", "whatsapp", "--provider", "whatsapp_cloud", "--phone-number-id", "123"); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, e, "integrations", "list", "--org", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"EAAG-secret-token", "app-secret-value", token} {
		if strings.Contains(out, secret) {
			t.Errorf("integrations list shows a secret: %s", out)
		}
	}
	db, err := openStore(t.Context(), e.get)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored, err := db.Integrations.FindIntegrationByID(t.Context(), 1, 1)
	if sum := sha256.Sum256([]byte(token)); err != nil || string(stored.VerifyTokenHash) != string(sum[:]) {
		t.Errorf("the verify token is not stored as its SHA-256: %v", err)
	}

	for _, bad := range [][]string{
		{"integrations", "create", "--org", "1", "--channel", "sms"},
		{"integrations", "create", "--org", "1", "--channel", "rcs", "--provider", "whatsapp_cloud"},
		{"integrations", "create", "--org", "1", "--channel", "rcs", "--provider", "google_rbm"},
		{"integrations", "create", "--org", "1", "--channel", "whatsapp", "--phone-number", "123"},
		{"integrations", "create", "--org", "1", "--channel", "whatsapp", "--name", "Zap\x00"},
		{"integrations", "create", "--org", "1", "--channel", "rcs", "--provider", "google_rbm", "--agent-id", "a b@rbm.goog"},
		{"templates", "create", "--org", "1", "--name", "x", "--body", "Oi", "--context", "on\x00boarding"},
		{"integrations", "disable", "--org", "1"},
		{"templates", "create", "--org", "1", "--name", "Boas Vindas", "--body", "Oi"},
		{"templates", "create", "--org", "1", "--name", "x", "--category", "PROMO", "--body", "Oi"},
		{"templates", "create", "--org", "1", "--name", "x", "--body", "Oi {{1}} e {{3}}"},
	} {
		if _, err := runCmd(t, e, bad...); !isUsage(err) {
			t.Errorf("%v: err %v, want a usage error", bad, err)
		}
	}

	if out, err = runCmd(t, e, "integrations", "disable", "--org", "1", "1"); err != nil || !strings.Contains(out, "disabled") {
		t.Errorf("disable: %v %q", err, out)
	}
	if in, _ := db.Integrations.FindIntegrationByID(t.Context(), 1, 1); in.Active {
		t.Error("integration 1 still active")
	}
	if _, err := runCmd(t, e, "integrations", "disable", "--org", "1", "99"); err == nil {
		t.Error("disabling a missing integration succeeded")
	}

	out, err = runCmd(t, e, "templates", "create", "--org", "1", "--name", "lembrete", "--approved", "--body", "Oi {{1}}, sua visita e {{2}} as {{1}}h", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var tpl map[string]any
	if err := json.Unmarshal([]byte(out), &tpl); err != nil || tpl["variables_count"] != float64(2) || tpl["meta_approved"] != true {
		t.Fatalf("templates create: %v %s", err, out)
	}
	if _, err := runCmd(t, e, "templates", "create", "--org", "1", "--name", "lembrete", "--body", "x"); err == nil {
		t.Error("a duplicate template was created")
	}
	for _, bad := range [][]string{
		{"--language", "pt BR", "--body", "Oi"},
		{"--language", "pt\x00BR", "--body", "Oi"},
		{"--language", "", "--body", "Oi"},
		{"--body", "Oi\x00 {{1}}"},
		{"--body", "Oi \xff"},
	} {
		args := append([]string{"templates", "create", "--org", "1", "--name", "outro"}, bad...)
		if _, err := runCmd(t, e, args...); !isUsage(err) {
			t.Errorf("%q: err %v, want a usage error", bad, err)
		}
	}
	if out, err = runCmd(t, e, "templates", "list", "--org", "1"); err != nil || !strings.Contains(out, "lembrete") {
		t.Errorf("templates list: %v %q", err, out)
	}
}

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

// templates sync reads the organization's templates from Meta, here the
// fake Graph API over real HTTP, and reports a failure without losing any.
func TestTemplatesSync(t *testing.T) {
	fake := graphapi.New()
	ts := httptest.NewServer(fake)
	defer ts.Close()
	e := sqliteEnv(t)
	e["WHATSAPP_API_BASE_URL"] = ts.URL
	if _, err := runCmd(t, e, "orgs", "create", "Acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, e, "templates", "sync", "--org", "1"); err == nil || !strings.Contains(err.Error(), "--waba-id") {
		t.Errorf("sync without an integration: %v", err)
	}
	e["INTEGRATION_ACCESS_TOKEN"], e["INTEGRATION_APP_SECRET"] = "EAAG-sync", "app-secret"
	for _, bad := range [][]string{
		{"integrations", "create", "--org", "1", "--channel", "whatsapp", "--waba-id", "111"},
		{"integrations", "create", "--org", "1", "--channel", "whatsapp", "--provider", "whatsapp_cloud", "--phone-number-id", "1", "--waba-id", "abc"},
		{"templates", "sync", "--org", "1", "extra"},
		{"templates", "sync"},
	} {
		if _, err := runCmd(t, e, bad...); !isUsage(err) {
			t.Errorf("%v: %v, want a usage error", bad, err)
		}
	}
	if _, err := runCmd(t, e, "integrations", "create", "--org", "1", "--channel", "whatsapp", "--provider", "whatsapp_cloud",
		"--phone-number-id", "106540352242922", "--waba-id", "102290129340398"); err != nil {
		t.Fatal(err)
	}
	fake.SetToken("102290129340398", "EAAG-sync")
	fake.SetTemplates("102290129340398", graphapi.SampleTemplates())
	out, err := runCmd(t, e, "templates", "sync", "--org", "1")
	if err != nil || !strings.Contains(out, "integration 1: 10 listed in 1 pages: 9 created, 0 updated, 0 unchanged, 0 removed, 1 skipped") {
		t.Fatalf("templates sync: %v %q", err, out)
	}
	out, err = runCmd(t, e, "templates", "list", "--org", "1")
	if err != nil || !strings.Contains(out, "oferta_black_friday") || !strings.Contains(out, "PAUSED") {
		t.Errorf("templates list after the sync: %v %q", err, out)
	}
	fake.FailNext(1, 500, graphapi.MetaError(2, "OAuthException", "(#2) Service temporarily unavailable", ""))
	out, err = runCmd(t, e, "templates", "sync", "--org", "1", "--integration", "1")
	if err == nil || !strings.Contains(out, "Service temporarily unavailable") || !strings.Contains(out, "unchanged") {
		t.Errorf("a failed sync: %v %q", err, out)
	}
	if after, _ := runCmd(t, e, "templates", "list", "--org", "1"); strings.Count(after, "\n") != 10 {
		t.Errorf("after a failed sync the templates are\n%s", after)
	}
}
