package benchmarks

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
)

// The dashboard's costs. A sign-in is dominated by the argon2id check (19 MiB
// and two passes by design), which is what makes guessing passwords
// expensive; BenchmarkPassword shows that cost alone, and
// BenchmarkDashboardSignIn the whole POST: the throttle's three counts, the
// user lookup, the check, the new session and the redirect.
// BenchmarkDashboardPage is one signed-in GET of "Configurar API/Webhook":
// the session lookup, the organization, its keys and its default webhook,
// and the template.

const benchPassword = "a benchmark passphrase"

func BenchmarkPassword(b *testing.B) {
	hash, err := auth.HashPassword(benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := auth.HashPassword(benchPassword); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !auth.CheckPassword(hash, benchPassword) {
				b.Fatal("the password does not check")
			}
		}
	})
}

// dashboardUser makes an organization with a key, a default webhook and a
// user who signs in with benchPassword.
func dashboardUser(b *testing.B, dbURL string) (http.Handler, string) {
	b.Helper()
	a := start(b, dbURL, validations[0])
	org, _ := newOrganization(b, a)
	hash, err := auth.HashPassword(benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Stores.Users.CreateUser(ctx, &impl.User{OrganizationID: org.ID, Email: "bench@example.com", Name: "bench", PasswordHash: hash}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := a.Stores.Webhooks.SaveDefaultWebhook(ctx, org.ID, "https://crm.example.com/webhook"); err != nil {
		b.Fatal(err)
	}
	return a.Server, "bench@example.com"
}

// signIn posts the sign-in form; the form's double-submit token is any
// value equal to its cookie's.
func signIn(b *testing.B, h http.Handler, email string) *http.Cookie {
	form := url.Values{"csrf_token": {"bench-token"}, "email": {email}, "password": {benchPassword}}
	req, _ := http.NewRequest(http.MethodPost, "/dashboard/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "iagente_login_csrf", Value: "bench-token"})
	rec := serve(b, h, req, http.StatusSeeOther)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "iagente_session" && c.Value != "" {
			return c
		}
	}
	b.Fatal("no session cookie")
	return nil
}

func BenchmarkDashboardSignIn(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			h, email := dashboardUser(b, freshDatabase(b, db))
			b.ReportAllocs()
			for b.Loop() {
				signIn(b, h, email)
			}
		})
	}
}

func BenchmarkDashboardPage(b *testing.B) {
	for _, db := range databases {
		b.Run(db.name, func(b *testing.B) {
			h, email := dashboardUser(b, freshDatabase(b, db))
			session := signIn(b, h, email)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, "/dashboard/api-webhook", nil)
				req.AddCookie(session)
				rec := serve(b, h, req, http.StatusOK)
				if !strings.Contains(rec.Body.String(), "crm.example.com") {
					b.Fatal("the page lacks the default webhook")
				}
			}
		})
	}
}
