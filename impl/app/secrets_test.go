package app_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl/app"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// SECRETS_KEY is 32 bytes in base64; a bad one stops the start with a
// message that says how to make one, and a previous key needs a current.
func TestSecretsKeyFromEnv(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for name, env := range map[string]map[string]string{
		"standard base64": {"SECRETS_KEY": base64.StdEncoding.EncodeToString(key)},
		"URL base64":      {"SECRETS_KEY": base64.RawURLEncoding.EncodeToString(key)},
	} {
		cfg, err := app.FromEnv(envOf(env))
		if err != nil || !bytes.Equal(cfg.SecretsKey, key) {
			t.Errorf("%s: key %x, %v", name, cfg.SecretsKey, err)
		}
	}
	for name, env := range map[string]map[string]string{
		"16 bytes":             {"SECRETS_KEY": base64.StdEncoding.EncodeToString(key[:16])},
		"not base64":           {"SECRETS_KEY": "not a key!"},
		"previous, no current": {"SECRETS_KEY_PREVIOUS": base64.StdEncoding.EncodeToString(key)},
	} {
		if _, err := app.FromEnv(envOf(env)); err == nil || !strings.Contains(err.Error(), "SECRETS_KEY") {
			t.Errorf("%s: %v, want an error naming SECRETS_KEY", name, err)
		}
	}
}

// Without SECRETS_KEY, a SQLite database gets a key file of its own, made
// once, readable by its owner only; PostgreSQL gets no key.
func TestSecretsKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.db")
	cfg, err := app.FromEnv(envOf(map[string]string{"DATABASE_URL": "sqlite:" + path}))
	if err != nil {
		t.Fatal(err)
	}
	first, err := cfg.StoreOptions()
	if err != nil || len(first.SecretsKey) != 32 {
		t.Fatalf("first StoreOptions: %d-byte key, %v", len(first.SecretsKey), err)
	}
	info, err := os.Stat(path + ".secrets-key")
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v %v, want mode 0600", info, err)
	}
	again, err := cfg.StoreOptions()
	if err != nil || !bytes.Equal(again.SecretsKey, first.SecretsKey) {
		t.Fatalf("a second start read another key: %v", err)
	}
	pg, err := app.FromEnv(envOf(map[string]string{"DATABASE_URL": "postgres://localhost/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if opts, err := pg.StoreOptions(); err != nil || opts.SecretsKey != nil {
		t.Fatalf("PostgreSQL without SECRETS_KEY: key %x, %v", opts.SecretsKey, err)
	}
}

// METRICS_TOKEN is optional; a short one, or one a header cannot carry,
// stops the start with a message that says how to make one.
func TestMetricsTokenFromEnv(t *testing.T) {
	for token, wantErr := range map[string]string{
		"":                                 "",
		"0123456789abcdef0123456789abcdef": "",
		"short":                            "at least 16 characters",
		"with a space in the middle!!":     "printable ASCII without spaces",
		"ação-ação-ação-ação":              "printable ASCII without spaces",
	} {
		cfg, err := app.FromEnv(envOf(map[string]string{"METRICS_TOKEN": token}))
		switch {
		case wantErr == "" && (err != nil || cfg.MetricsToken != token):
			t.Errorf("%q: %q, %v", token, cfg.MetricsToken, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), "openssl")):
			t.Errorf("%q: %v, want an error saying %q and how to make one", token, err, wantErr)
		}
	}
}
