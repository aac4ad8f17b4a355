package dashboard_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/dashboard"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
	"github.com/iagente/iagente-sdr/internal/teststores"
)

// These tests drive the dashboard over real HTTP, on both databases, the way
// a browser without JavaScript would: every rule the page's script applies
// must hold on the server too. The browser itself is tested in browsertest/.

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	db    *sqlstore.Stores
	srv   *httptest.Server
	clock *clock
	logs  *syncbuf.Buffer
	auth  *auth.Authenticator
	// leads numbers the leads failDeliveries makes, for their phones.
	leads int
}

const testPassword = "correct horse battery"

// testPasswordHash is testPassword as an argon2id PHC string at the lowest
// cost (64 KiB, one pass), made once. CheckPassword reads the cost from
// the string, so the fixtures' users sign in without the production cost
// (19 MiB, two passes), which the race detector multiplies for every
// sign-in; these tests are about the sign-in, and impl/auth tests the
// hashing at its real parameters.
var testPasswordHash = sync.OnceValue(func() string {
	salt := []byte("dashboard-tests!")
	key := argon2.IDKey([]byte(testPassword), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
})

func forEachDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, d := range sqlstoretest.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			st := teststores.Open(t, d.URL)
			f := &fixture{db: st, clock: &clock{t: time.Now().UTC()}, logs: &syncbuf.Buffer{}}
			// As behind the load balancer of docs/deployment.md: the test's
			// loopback client is the trusted proxy, and a browser with
			// forwardedFor is a client behind it.
			proxies, err := httpapi.ParseTrustedProxies("127.0.0.1/32,::1/128")
			if err != nil {
				t.Fatal(err)
			}
			h, err := dashboard.New(dashboard.Config{Organizations: st.Organizations, Users: st.Users, Sessions: st.Sessions,
				Throttle: st.LoginFailures, Keys: st.APIKeys, Webhooks: st.Webhooks, Deliveries: st.Deliveries, Now: f.clock.now, ClientIP: proxies.ClientIP,
				Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			f.srv = httptest.NewServer(h)
			t.Cleanup(f.srv.Close)
			f.auth = &auth.Authenticator{Keys: st.APIKeys, Now: f.clock.now}
			fn(t, f)
		})
	}
}

// org makes an organization with one user and, when withKey, one API key.
func (f *fixture) org(t *testing.T, name, email string, withKey bool) (orgID int64, key string) {
	t.Helper()
	ctx := context.Background()
	o := &impl.Organization{Name: name}
	if err := f.db.Organizations.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Users.CreateUser(ctx, &impl.User{OrganizationID: o.ID, Email: email, Name: name, PasswordHash: testPasswordHash()}); err != nil {
		t.Fatal(err)
	}
	if withKey {
		var err error
		if _, key, err = auth.Issue(ctx, f.db.APIKeys, o.ID, "first"); err != nil {
			t.Fatal(err)
		}
	}
	return o.ID, key
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each answer.
type browser struct {
	t      *testing.T
	f      *fixture
	client *http.Client
	// forwardedFor, when set, is sent as X-Forwarded-For: the browser is a
	// client behind the trusted proxy. Without it the throttle counts the
	// loopback address.
	forwardedFor string
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, f: f, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.f.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", b.forwardedFor)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil, nil) }
func (b *browser) post(path string, form url.Values) page {
	return b.do(http.MethodPost, path, form, nil)
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf_token in the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.f.srv.URL + "/dashboard/api-webhook")
	if name == "iagente_login_csrf" {
		u, _ = url.Parse(b.f.srv.URL + "/dashboard/login")
	}
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// login signs in and returns the page's CSRF token.
func (b *browser) login(email, password string) page {
	b.t.Helper()
	lp := b.get("/dashboard/login")
	return b.post("/dashboard/login", url.Values{"csrf_token": {csrf(b.t, lp)}, "email": {email}, "password": {password}})
}

func (b *browser) mustLogin(email string) string {
	b.t.Helper()
	p := b.login(email, testPassword)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/api-webhook" {
		b.t.Fatalf("login: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	pg := b.get("/dashboard/api-webhook")
	if pg.status != http.StatusOK {
		b.t.Fatalf("page after login: %d", pg.status)
	}
	return csrf(b.t, pg)
}

// submit posts a form of the page: the answer must send the browser back to
// the page (post/redirect/get), whose next view says what happened.
func (b *browser) submit(path string, form url.Values) page {
	b.t.Helper()
	p := b.post(path, form)
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/dashboard/api-webhook#") {
		b.t.Fatalf("POST %s: %d %q, want 303 back to the page\n%s", path, p.status, loc, p.body)
	}
	return b.get(loc)
}

func messageOf(t *testing.T, p page, id string) string {
	t.Helper()
	re := regexp.MustCompile(`id="` + id + `"[^>]*>([^<]*)<`)
	m := re.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no #%s in the page (status %d):\n%s", id, p.status, p.body)
	}
	return strings.TrimSpace(m[1])
}

var tokenRe = regexp.MustCompile(`data-token="(sk_live_[0-9A-Za-z]{43})"`)

func TestSignIn(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.org(t, "Acme", "ana@acme.test", true)
		b := f.browser(t)

		if p := b.get("/dashboard/api-webhook"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/login" {
			t.Fatalf("the page without a session: %d %q, want 303 to the sign-in page", p.status, p.header.Get("Location"))
		}
		lp := b.get("/dashboard/login")
		if lp.status != 200 || !strings.Contains(lp.body, `<label for="email">E-mail</label>`) || !strings.Contains(lp.body, `<label for="password">Senha</label>`) {
			t.Fatalf("sign-in page: %d\n%s", lp.status, lp.body)
		}
		if c := b.cookie("iagente_login_csrf"); c == nil {
			t.Fatal("the sign-in page set no CSRF cookie")
		}

		bad := b.login("ana@acme.test", "wrong password")
		if bad.status != http.StatusUnauthorized || messageOf(t, bad, "login-error") != "E-mail ou senha inválidos." {
			t.Fatalf("bad password: %d %q", bad.status, messageOf(t, bad, "login-error"))
		}
		unknown := b.login("nobody@acme.test", testPassword)
		if unknown.status != http.StatusUnauthorized || messageOf(t, unknown, "login-error") != "E-mail ou senha inválidos." {
			t.Fatalf("unknown e-mail must read exactly like a bad password: %d", unknown.status)
		}
		if b.cookie("iagente_session") != nil {
			t.Fatal("a failed sign-in set a session cookie")
		}

		ok := b.login("  ANA@acme.test ", testPassword)
		if ok.status != http.StatusSeeOther || ok.header.Get("Location") != "/dashboard/api-webhook" {
			t.Fatalf("good sign-in: %d %q", ok.status, ok.header.Get("Location"))
		}
		var set string
		for _, c := range ok.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "iagente_session=") {
				set = c
			}
		}
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/dashboard"} {
			if !strings.Contains(set, want) {
				t.Errorf("session cookie %q lacks %s", set, want)
			}
		}
		if strings.Contains(set, "Secure") {
			t.Errorf("session cookie %q is Secure on a plain-HTTP request without SecureCookies", set)
		}
		p := b.get("/dashboard/api-webhook")
		if p.status != 200 || !strings.Contains(p.body, "<b>Acme</b><small>ana@acme.test</small>") {
			t.Fatalf("page: %d\n%s", p.status, p.body)
		}
		for h, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
			if got := p.header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("Content-Security-Policy = %q", csp)
		}
		// The cookie holds a token the database never sees in clear.
		c := b.cookie("iagente_session")
		if _, _, err := f.db.Sessions.FindSession(context.Background(), []byte(c.Value)); impl.ErrorCode(err) != impl.ENotFound {
			t.Errorf("the session was found by the cookie's clear value: %v", err)
		}
		sum := sha256.Sum256([]byte(c.Value))
		if _, _, err := f.db.Sessions.FindSession(context.Background(), sum[:]); err != nil {
			t.Errorf("the session is not stored under the token's SHA-256: %v", err)
		}
		if logs := f.logs.String(); strings.Contains(logs, testPassword) || strings.Contains(logs, "wrong password") || strings.Contains(logs, c.Value) {
			t.Errorf("a password or the session token reached the log:\n%s", logs)
		}
	})
}

func TestSignInNeedsTheFormToken(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.org(t, "Acme", "ana@acme.test", true)
		b := f.browser(t)
		lp := b.get("/dashboard/login")
		token := csrf(t, lp)
		for name, form := range map[string]url.Values{
			"no token":    {"email": {"ana@acme.test"}, "password": {testPassword}},
			"wrong token": {"csrf_token": {"x" + token}, "email": {"ana@acme.test"}, "password": {testPassword}},
		} {
			if p := b.post("/dashboard/login", form); p.status != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", name, p.status)
			}
		}
		// A form posted from another site, even with a valid token pair.
		p := b.do(http.MethodPost, "/dashboard/login", url.Values{"csrf_token": {csrf(t, b.get("/dashboard/login"))},
			"email": {"ana@acme.test"}, "password": {testPassword}}, map[string]string{"Origin": "https://evil.example"})
		if p.status != http.StatusForbidden {
			t.Errorf("cross-origin sign-in: %d, want 403", p.status)
		}
		if b.cookie("iagente_session") != nil {
			t.Error("a refused sign-in set a session cookie")
		}
		// A fresh browser with a token but not the cookie it pairs with.
		other := f.browser(t)
		if p := other.post("/dashboard/login", url.Values{"csrf_token": {token}, "email": {"ana@acme.test"}, "password": {testPassword}}); p.status != http.StatusForbidden {
			t.Errorf("token without its cookie: %d, want 403", p.status)
		}
	})
}

func TestSignInThrottle(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.org(t, "Acme", "ana@acme.test", true)
		f.org(t, "Beta", "bia@beta.test", true)
		b := f.browser(t)
		for i := range dashboard.LoginLimitPair {
			if p := b.login("ana@acme.test", "wrong password"); p.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, p.status)
			}
			f.clock.advance(time.Minute)
		}
		// Now even the right password is refused, without being checked.
		p := b.login("ana@acme.test", testPassword)
		if p.status != http.StatusTooManyRequests {
			t.Fatalf("after %d failures: %d, want 429", dashboard.LoginLimitPair, p.status)
		}
		// The first failure was 5 minutes ago: it leaves the window in 10.
		if got, want := messageOf(t, p, "login-error"), "Muitas tentativas de login sem sucesso. Tente novamente em 10 minuto(s)."; got != want {
			t.Errorf("message %q, want %q", got, want)
		}
		if ra := p.header.Get("Retry-After"); ra != "600" {
			t.Errorf("Retry-After %q, want 600", ra)
		}
		if b.cookie("iagente_session") != nil {
			t.Fatal("a throttled sign-in set a session cookie")
		}
		// Another user from the same address is not locked out.
		if p := f.browser(t).login("bia@beta.test", testPassword); p.status != http.StatusSeeOther {
			t.Errorf("another user from the same address: %d, want 303", p.status)
		}
		// Once the oldest failure leaves the window, one more try is allowed.
		f.clock.advance(10*time.Minute + time.Second)
		if p := b.login("ana@acme.test", testPassword); p.status != http.StatusSeeOther {
			t.Fatalf("after the window: %d, want 303", p.status)
		}
		// Success forgets the failures of this e-mail.
		b2 := f.browser(t)
		for range dashboard.LoginLimitPair - 1 {
			b2.login("ana@acme.test", "wrong password")
		}
		if p := b2.login("ana@acme.test", testPassword); p.status != http.StatusSeeOther {
			t.Fatalf("4 failures after a success: %d, want 303 (the count was reset)", p.status)
		}
	})
}

// An e-mail no account can have (a NUL or another control character in
// it, more than 254 bytes) is a failed sign-in like any other, on both
// databases: a NUL made PostgreSQL refuse the lookup, a 500. It is not
// shown back, and it counts against the address alone.
func TestSignInWithAnEmailNoAccountHas(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.org(t, "Acme", "ana@acme.test", true)
		b := f.browser(t)
		bad := []string{"ana\x00@acme.test", "ana@acme.test\x1b[31m", strings.Repeat("a", 250) + "@acme.test"}
		for _, email := range bad {
			p := b.login(email, testPassword)
			if p.status != http.StatusUnauthorized || messageOf(t, p, "login-error") != "E-mail ou senha inválidos." {
				t.Fatalf("%.20q: %d %q", email, p.status, messageOf(t, p, "login-error"))
			}
			if strings.Contains(p.body, "ana\x00") || strings.Contains(p.body, "[31m") || strings.Contains(p.body, strings.Repeat("a", 250)) {
				t.Errorf("%.20q was shown back", email)
			}
		}
		for i := len(bad); i < dashboard.LoginLimitAddress; i++ {
			b.login(bad[i%len(bad)], testPassword)
		}
		if p := b.login("ana@acme.test", testPassword); p.status != http.StatusTooManyRequests {
			t.Errorf("after %d failures from one address: %d, want 429", dashboard.LoginLimitAddress, p.status)
		}
	})
}

// Behind a trusted proxy the throttle counts each client's own address,
// read from the right of X-Forwarded-For: one client's failures do not lock
// out another behind the same proxy, and a client cannot pick its address
// by writing the header itself.
func TestSignInThrottleBehindAProxy(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.org(t, "Acme", "ana@acme.test", true)
		attacker := f.browser(t)
		attacker.forwardedFor = "203.0.113.7"
		for i := range dashboard.LoginLimitPair {
			if p := attacker.login("ana@acme.test", "wrong password"); p.status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, p.status)
			}
		}
		if p := attacker.login("ana@acme.test", testPassword); p.status != http.StatusTooManyRequests {
			t.Fatalf("the same client after %d failures: %d, want 429", dashboard.LoginLimitPair, p.status)
		}
		// Forged on the left, appended to by the proxy on the right.
		forger := f.browser(t)
		forger.forwardedFor = "198.51.100.9, 203.0.113.7"
		if p := forger.login("ana@acme.test", testPassword); p.status != http.StatusTooManyRequests {
			t.Errorf("a forged X-Forwarded-For: %d, want 429 (the address the proxy saw)", p.status)
		}
		ana := f.browser(t)
		ana.forwardedFor = "198.51.100.9"
		if p := ana.login("ana@acme.test", testPassword); p.status != http.StatusSeeOther {
			t.Errorf("another client behind the same proxy: %d, want 303", p.status)
		}
	})
}

func TestSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.org(t, "Acme", "ana@acme.test", true)
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")
		old := *b.cookie("iagente_session")

		// Logout needs the form token too.
		if p := b.post("/dashboard/logout", url.Values{}); p.status != http.StatusForbidden {
			t.Fatalf("logout without the token: %d, want 403", p.status)
		}
		if p := b.post("/dashboard/logout", url.Values{"csrf_token": {token}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/login?saiu=1" {
			t.Fatalf("logout: %d %q", p.status, p.header.Get("Location"))
		}
		if p := b.get("/dashboard/login?saiu=1"); messageOf(t, p, "login-notice") != "Você saiu do painel." {
			t.Errorf("after logout the sign-in page does not say so")
		}
		// The old cookie, replayed, is worth nothing: the session is gone.
		replay := f.browser(t)
		u, _ := url.Parse(f.srv.URL + "/dashboard/")
		replay.client.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/dashboard"}})
		if p := replay.get("/dashboard/api-webhook"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/login" {
			t.Fatalf("replayed cookie after logout: %d %q", p.status, p.header.Get("Location"))
		}

		// Idle for SessionIdle ends a session; activity keeps it.
		b = f.browser(t)
		b.mustLogin("ana@acme.test")
		f.clock.advance(dashboard.SessionIdle - time.Minute)
		if p := b.get("/dashboard/api-webhook"); p.status != 200 {
			t.Fatalf("active session: %d", p.status)
		}
		f.clock.advance(dashboard.SessionIdle - time.Minute)
		if p := b.get("/dashboard/api-webhook"); p.status != 200 {
			t.Fatalf("session used %v ago: %d", dashboard.SessionIdle-time.Minute, p.status)
		}
		f.clock.advance(dashboard.SessionIdle)
		if p := b.get("/dashboard/api-webhook"); p.status != http.StatusSeeOther {
			t.Fatalf("idle session: %d, want 303", p.status)
		}

		// However active, a session ends after SessionLifetime.
		b = f.browser(t)
		b.mustLogin("ana@acme.test")
		for elapsed := time.Duration(0); elapsed < dashboard.SessionLifetime-time.Hour; elapsed += time.Hour {
			f.clock.advance(time.Hour)
			if p := b.get("/dashboard/api-webhook"); p.status != 200 {
				t.Fatalf("after %v: %d", elapsed+time.Hour, p.status)
			}
		}
		f.clock.advance(time.Hour)
		if p := b.get("/dashboard/api-webhook"); p.status != http.StatusSeeOther {
			t.Fatalf("after %v: %d, want 303", dashboard.SessionLifetime, p.status)
		}
	})
}

func TestToken(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		orgA, _ := f.org(t, "Acme", "ana@acme.test", false)
		_, keyB := f.org(t, "Beta", "bia@beta.test", true)
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")

		p := b.get("/dashboard/api-webhook")
		if !strings.Contains(p.body, `id="generate-token" class="primary">Gerar Token<`) || strings.Contains(p.body, "Regerar Token<") {
			t.Fatalf("with no key the button must read Gerar Token:\n%s", p.body)
		}
		if !regexp.MustCompile(`id="copy-token"[^>]*disabled`).MatchString(p.body) {
			t.Error("Copiar is enabled with no token to copy")
		}

		// Without the form token nothing is generated.
		if p := b.post("/dashboard/api-webhook/token", url.Values{}); p.status != http.StatusForbidden {
			t.Fatalf("generate without the form token: %d, want 403", p.status)
		}
		if keys, _ := f.db.APIKeys.ListAPIKeys(ctx, orgA); len(keys) != 0 {
			t.Fatalf("a refused form created %d keys", len(keys))
		}

		p = b.submit("/dashboard/api-webhook/token", url.Values{"csrf_token": {token}})
		if messageOf(t, p, "token-message") != "Token gerado com sucesso" {
			t.Fatalf("generate: %q", messageOf(t, p, "token-message"))
		}
		m := tokenRe.FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("the new token is not shown:\n%s", p.body)
		}
		first := m[1]
		k, err := f.auth.Authenticate(ctx, first)
		if err != nil || k.OrganizationID != orgA {
			t.Fatalf("the generated token does not authenticate for the organization: %v", err)
		}
		if strings.Contains(f.logs.String(), first) {
			t.Error("the token reached the log")
		}

		// Afterwards (a reload) only the prefix is shown, and the button
		// asks before it regenerates.
		p = b.get("/dashboard/api-webhook")
		if strings.Contains(p.body, first) || !strings.Contains(p.body, `value="`+first[:16]+`…"`) {
			t.Fatalf("the page must show only the prefix %s… after the answer that created it", first[:16])
		}
		if !strings.Contains(p.body, "Regerar Token<") || !strings.Contains(p.body, `name="regerar" value="1"`) ||
			strings.Contains(p.body, "key_id") {
			t.Fatal("with a key the button must read Regerar Token and ask first, without a form that revokes")
		}
		p = b.get("/dashboard/api-webhook?regerar=1")
		if !strings.Contains(p.body, `id="regenerate-confirm"`) || !strings.Contains(p.body, first[:16]+"…") ||
			!strings.Contains(p.body, "deixa de funcionar na mesma hora") ||
			!strings.Contains(p.body, `name="key_id" value="`+itoa(k.ID)+`"`) {
			t.Fatalf("the question of Regerar Token must name the current token and say it stops working:\n%s", p.body)
		}
		if _, err := f.auth.Authenticate(ctx, first); err != nil {
			t.Fatalf("asking replaced the token: %v", err)
		}

		p = b.submit("/dashboard/api-webhook/token", url.Values{"csrf_token": {token}, "key_id": {itoa(k.ID)}})
		if messageOf(t, p, "token-message") != "Token gerado com sucesso" {
			t.Fatalf("regenerate: %q", messageOf(t, p, "token-message"))
		}
		second := tokenRe.FindStringSubmatch(p.body)[1]
		if _, err := f.auth.Authenticate(ctx, first); impl.ErrorCode(err) != impl.EUnauthorized {
			t.Errorf("the replaced token still authenticates: %v", err)
		}
		if _, err := f.auth.Authenticate(ctx, second); err != nil {
			t.Errorf("the new token does not authenticate: %v", err)
		}

		// A second click on the old form (or a stale tab) revokes nothing.
		p = b.submit("/dashboard/api-webhook/token", url.Values{"csrf_token": {token}, "key_id": {itoa(k.ID)}})
		if tokenRe.MatchString(p.body) ||
			messageOf(t, p, "token-message") != "Este token já foi substituído. Recarregue a página para ver o token atual." {
			t.Fatalf("stale regenerate: %q", messageOf(t, p, "token-message"))
		}
		if _, err := f.auth.Authenticate(ctx, second); err != nil {
			t.Errorf("a stale form revoked the current token: %v", err)
		}

		// Another organization's key cannot be reached from this session.
		kb, err := f.auth.Authenticate(ctx, keyB)
		if err != nil {
			t.Fatal(err)
		}
		p = b.submit("/dashboard/api-webhook/token", url.Values{"csrf_token": {token}, "key_id": {itoa(kb.ID)}})
		if tokenRe.MatchString(p.body) || messageOf(t, p, "token-message") == "Token gerado com sucesso" {
			t.Fatalf("regenerating another organization's key: %q", messageOf(t, p, "token-message"))
		}
		if _, err := f.auth.Authenticate(ctx, keyB); err != nil {
			t.Errorf("another organization's key was revoked from this dashboard: %v", err)
		}
		if p := b.post("/dashboard/api-webhook/token", url.Values{"csrf_token": {token}, "key_id": {"abc"}}); p.status != http.StatusBadRequest {
			t.Errorf("key_id=abc: %d, want 400", p.status)
		}
	})
}

// The new token crosses the redirect sealed with the session's own token:
// the flash cookie holds no token in the clear, shows it once, and means
// nothing to another session.
func TestFlashIsSealedToTheSession(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		f.org(t, "Acme", "ana@acme.test", false)
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")
		p := b.post("/dashboard/api-webhook/token", url.Values{"csrf_token": {token}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("generate: %d", p.status)
		}
		var sealed string
		for _, c := range strings.Split(strings.Join(p.header.Values("Set-Cookie"), "\n"), "\n") {
			if strings.HasPrefix(c, "iagente_flash=") {
				sealed = strings.TrimPrefix(strings.SplitN(c, ";", 2)[0], "iagente_flash=")
				if !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "Path=/dashboard/api-webhook") {
					t.Errorf("flash cookie %q", c)
				}
			}
		}
		if sealed == "" || strings.Contains(sealed, "sk_live_") {
			t.Fatalf("flash cookie %q", sealed)
		}
		// Another signed-in user, handed the cookie, sees no token.
		f.org(t, "Beta", "bia@beta.test", false)
		other := f.browser(t)
		other.mustLogin("bia@beta.test")
		u, _ := url.Parse(f.srv.URL + "/dashboard/api-webhook")
		other.client.Jar.SetCookies(u, []*http.Cookie{{Name: "iagente_flash", Value: sealed, Path: "/dashboard/api-webhook"}})
		if p := other.get("/dashboard/api-webhook"); tokenRe.MatchString(p.body) {
			t.Fatal("another session opened the flash")
		}
		// Its owner sees the token once; a reload, no more.
		if p := b.get("/dashboard/api-webhook"); !tokenRe.MatchString(p.body) {
			t.Fatal("the flash did not reach its own session")
		}
		if p := b.get("/dashboard/api-webhook"); tokenRe.MatchString(p.body) {
			t.Fatal("the token was shown twice")
		}
	})
}

// The guide answers without a session, with the reference's own, tested
// samples.
func TestGuide(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		b := f.browser(t)
		p := b.get("/dashboard/como-integrar")
		if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			t.Fatalf("guide: %d", p.status)
		}
		for _, want := range []string{`id="como-funciona"`, `id="como-integrar"`, `id="assinatura"`,
			`curl -X GET &#34;https://lp.webpro.com.br/api/v1/leads&#34;`, "Maria Santos", "Entrar no painel"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("the guide lacks %s", want)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWebhookURL(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		orgA, _ := f.org(t, "Acme", "ana@acme.test", true)
		orgB, _ := f.org(t, "Beta", "bia@beta.test", true)
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")
		save := func(u string) page {
			return b.submit("/dashboard/api-webhook/webhook", url.Values{"csrf_token": {token}, "url": {u}})
		}
		for _, c := range []struct{ url, msg string }{
			{"", "Favor inserir a Url do webhook!"},
			{"   ", "Favor inserir a Url do webhook!"},
			{"ftp://x", "Favor inserir uma Url válida!"},
			{"meusite.com", "Favor inserir uma Url válida!"},
			{"http://", "Favor inserir uma Url válida!"},
			{"javascript:alert(1)", "Favor inserir uma Url válida!"},
			{"https://exa mple.com/", "Favor inserir uma Url válida!"},
			{"https://[::1]/hook", "Favor inserir uma Url válida!"},
			{"https://user:pw@meusite.com/", "Favor inserir uma Url válida!"},
			{"https://meusite.com:99999/webhook", "Favor inserir uma Url válida!"},
			{"https://meusite.com:0/webhook", "Favor inserir uma Url válida!"},
			{"https://" + strings.Repeat("a", 64) + ".com/", "Favor inserir uma Url válida!"},
			{"https://meusite.com/" + strings.Repeat("a", 2048), "Favor inserir uma Url válida!"},
		} {
			p := save(c.url)
			if messageOf(t, p, "webhook-message") != c.msg {
				t.Errorf("%q: %q, want %q", c.url, messageOf(t, p, "webhook-message"), c.msg)
			}
			if !strings.Contains(p.body, `aria-invalid="true"`) {
				t.Errorf("%q: the field is not marked invalid", c.url)
			}
			if shown := strings.TrimSpace(c.url); len(shown) < 100 && !strings.Contains(p.body, `value="`+html.EscapeString(shown)+`"`) {
				t.Errorf("%q: the refused URL is not shown back to be corrected", c.url)
			}
		}
		if _, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA); impl.ErrorCode(err) != impl.ENotFound {
			t.Fatalf("an invalid URL stored a webhook: %v", err)
		}
		if p := b.post("/dashboard/api-webhook/webhook", url.Values{"url": {"https://meusite.com/webhook"}}); p.status != http.StatusForbidden {
			t.Fatalf("save without the form token: %d, want 403", p.status)
		}

		p := save(" https://meusite.com/webhook ")
		if messageOf(t, p, "webhook-message") != "Dados do usuário salvo com sucesso!" {
			t.Fatalf("save: %q", messageOf(t, p, "webhook-message"))
		}
		if !strings.Contains(p.body, `id="copy-secret"`) {
			t.Error("the signing secret has no copy button")
		}
		secret := regexp.MustCompile(`id="signing-secret"[^>]*value="(whsec_[^"]+)"`).FindStringSubmatch(p.body)
		if secret == nil {
			t.Fatal("the new webhook's signing secret is not shown")
		}
		w, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA)
		if err != nil {
			t.Fatal(err)
		}
		if w.URL != "https://meusite.com/webhook" || !w.Active || !w.IsDefault || strings.Join(w.Events, ",") != strings.Join(impl.EventTypes, ",") {
			t.Fatalf("stored %+v, want the trimmed URL, active, default, every event", w)
		}
		if strings.Contains(f.logs.String(), "whsec_") {
			t.Error("the signing secret reached the log")
		}

		// Saving again changes the same webhook, shows no secret, and
		// turns a disabled webhook back on.
		off := false
		if _, err := f.db.Webhooks.UpdateWebhook(ctx, orgA, w.ID, impl.WebhookPatch{Active: &off, Events: []string{impl.EventTypes[0]}}); err != nil {
			t.Fatal(err)
		}
		if p := b.get("/dashboard/api-webhook"); !strings.Contains(p.body, "Clique em Salvar para reativar") {
			t.Error("the page does not say the webhook is disabled")
		}
		p = save("http://crm.acme.test:8080/webhook/receber")
		if strings.Contains(p.body, `id="signing-secret"`) {
			t.Fatal("second save: a secret must not be shown again")
		}
		w2, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA)
		if err != nil {
			t.Fatal(err)
		}
		if w2.ID != w.ID || w2.URL != "http://crm.acme.test:8080/webhook/receber" || !w2.Active || len(w2.Events) != len(impl.EventTypes) {
			t.Fatalf("second save stored %+v", w2)
		}
		if _, n, _ := f.db.Webhooks.FindWebhooks(ctx, orgA, 0, 10); n != 1 {
			t.Errorf("the organization has %d webhooks, want 1", n)
		}
		if _, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgB); impl.ErrorCode(err) != impl.ENotFound {
			t.Errorf("another organization got a default webhook: %v", err)
		}
		// Another organization's user sees none of it.
		pb := f.browser(t)
		pb.mustLogin("bia@beta.test")
		if p := pb.get("/dashboard/api-webhook"); strings.Contains(p.body, "crm.acme.test") || !strings.Contains(p.body, "<b>Beta</b><small>bia@beta.test</small>") {
			t.Error("one organization's page shows another's webhook")
		}
	})
}

// failTestPing records a failed webhook.test ping of the organization's
// webhook, as POST /webhooks/{id}/test does when the receiver refuses it.
func (f *fixture) failTestPing(t *testing.T, orgID int64) {
	t.Helper()
	ctx := context.Background()
	w, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := f.db.Queue.CreateTestDelivery(ctx, orgID, w.ID, "test", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	code := int32(500)
	rec := impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: now, StatusCode: &code}, Outcome: impl.OutcomeFailed}
	if err := f.db.Queue.RecordAttempts(ctx, "test", []impl.Attempted{{Delivery: c, Record: rec}}, 0); err != nil {
		t.Fatal(err)
	}
}

// failDeliveries has the org's default webhook fail n fresh deliveries, as
// an endpoint that is down would: a lead each, every attempt used up.
func (f *fixture) failDeliveries(t *testing.T, orgID int64, n int) {
	t.Helper()
	ctx := context.Background()
	for range n {
		f.leads++
		if err := f.db.Leads.CreateLead(ctx, orgID, &impl.Lead{Phone: fmt.Sprintf("55119%08d", f.leads)}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	claimed, err := f.db.Queue.ClaimDeliveries(ctx, impl.ClaimRequest{Worker: "test", Now: now, LeaseUntil: now.Add(time.Minute),
		PerWebhook: 100, Candidates: 100, Pick: func(cs []impl.ClaimCandidate) []int64 {
			ids := make([]int64, len(cs))
			for i, c := range cs {
				ids[i] = c.ID
			}
			return ids
		}})
	if err != nil || len(claimed) != n {
		t.Fatalf("claimed %d deliveries (%v), want %d", len(claimed), err, n)
	}
	batch := make([]impl.Attempted, len(claimed))
	for i, c := range claimed {
		code := int32(503)
		batch[i] = impl.Attempted{Delivery: c, Record: impl.AttemptRecord{
			DeliveryAttempt: impl.DeliveryAttempt{AttemptedAt: now, StatusCode: &code}, Outcome: impl.OutcomeFailed}}
		if i%2 == 0 { // half of them explain themselves, at length and in markup
			batch[i].Record.ResponseBody = impl.ResponseExcerpt([]byte(`<h1>Manutenção</h1> <script>alert(1)</script>` +
				"\n\t" + strings.Repeat("volte em breve ", 40)))
		}
	}
	if err := f.db.Queue.RecordAttempts(ctx, "test", batch, 0); err != nil {
		t.Fatal(err)
	}
}

// disableWebhook turns the webhook off, as the failures or the API may.
func (f *fixture) disableWebhook(t *testing.T, orgID, id int64) {
	t.Helper()
	off := false
	if _, err := f.db.Webhooks.UpdateWebhook(context.Background(), orgID, id, impl.WebhookPatch{Active: &off}); err != nil {
		t.Fatal(err)
	}
}

// leadsWebhook gives the organization a webhook of lead.created, besides
// any default one.
func (f *fixture) leadsWebhook(t *testing.T, orgID int64) *impl.Webhook {
	t.Helper()
	w := &impl.Webhook{Name: "leads", URL: "https://b.example/hook", Events: []string{impl.EventLeadCreated}}
	if err := f.db.Webhooks.CreateWebhook(context.Background(), orgID, w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestRedeliverFailedFromThePage: "Reenviar" queues the default webhook's
// failed deliveries of the period chosen, says how many, and refuses what
// it cannot do with the page's own words.
func TestRedeliverFailedFromThePage(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		orgA, _ := f.org(t, "Acme", "ana@acme.test", true)
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")
		redeliver := func(period string) page {
			return b.submit("/dashboard/api-webhook/redeliver", url.Values{"csrf_token": {token}, "period": {period}})
		}
		if p := redeliver("24h"); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliverNoWebhook {
			t.Errorf("without a webhook: %q", messageOf(t, p, "webhook-message"))
		}
		if p := b.get("/dashboard/api-webhook"); strings.Contains(p.body, `id="redeliver-form"`) {
			t.Error("the page offers to redeliver without a webhook")
		}
		b.submit("/dashboard/api-webhook/webhook", url.Values{"csrf_token": {token}, "url": {"https://meusite.com/webhook"}})
		w, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA)
		if err != nil {
			t.Fatal(err)
		}
		if p := b.get("/dashboard/api-webhook"); !strings.Contains(p.body, `id="redeliver-form"`) {
			t.Fatal("an active webhook's page has no Reenviar")
		}
		status := func() map[string]int {
			t.Helper()
			page, err := f.db.Deliveries.FindDeliveries(ctx, orgA, w.ID, impl.DeliveryFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]int{}
			for _, d := range page.Deliveries {
				out[d.Status]++
			}
			return out
		}
		f.failDeliveries(t, orgA, 3)

		if p := redeliver("1h"); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliverBadPeriod {
			t.Errorf("a period the list does not offer: %q", messageOf(t, p, "webhook-message"))
		}
		if p := b.post("/dashboard/api-webhook/redeliver", url.Values{"period": {"24h"}}); p.status != http.StatusForbidden {
			t.Errorf("without the form token: %d, want 403", p.status)
		}
		if got := status(); got[impl.DeliveryFailed] != 3 {
			t.Fatalf("refused clicks moved deliveries: %v", got)
		}
		if p := redeliver("24h"); messageOf(t, p, "webhook-message") != "3 entregas reenviadas." {
			t.Errorf("Reenviar: %q", messageOf(t, p, "webhook-message"))
		}
		if got := status(); got[impl.DeliveryPending] != 3 {
			t.Errorf("after Reenviar: %v, want 3 pending", got)
		}
		if p := redeliver("30d"); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliveredNone {
			t.Errorf("nothing left: %q", messageOf(t, p, "webhook-message"))
		}
		if !strings.Contains(f.logs.String(), `"msg":"dashboard failed deliveries redelivered"`) {
			t.Error("the redelivery is not in the log")
		}

		f.disableWebhook(t, orgA, w.ID)
		if p := b.get("/dashboard/api-webhook"); strings.Contains(p.body, `id="redeliver-form"`) {
			t.Error("a disabled webhook's page offers to redeliver")
		}
		if p := redeliver("24h"); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliverDisabled {
			t.Errorf("a disabled webhook: %q", messageOf(t, p, "webhook-message"))
		}
	})
}

func TestPagesAnswerHTML(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		b := f.browser(t)
		for _, c := range []struct {
			method, path string
			status       int
			allow        string
		}{
			{http.MethodGet, "/dashboard/nope", 404, ""},
			{http.MethodPut, "/dashboard/login", 405, "GET, POST"},
			{http.MethodDelete, "/dashboard", 405, "GET"},
			{http.MethodGet, "/dashboard/api-webhook/token", 405, "POST"},
		} {
			p := b.do(c.method, c.path, nil, nil)
			if p.status != c.status || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || p.header.Get("Allow") != c.allow {
				t.Errorf("%s %s: %d %q Allow %q, want %d text/html Allow %q", c.method, c.path, p.status,
					p.header.Get("Content-Type"), p.header.Get("Allow"), c.status, c.allow)
			}
		}
		if p := b.get("/dashboard/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/api-webhook" {
			t.Errorf("/dashboard/: %d %q", p.status, p.header.Get("Location"))
		}
		if p := b.get("/dashboard/static/dashboard.js"); p.status != 200 || !strings.Contains(p.body, "navigator.clipboard.writeText") {
			t.Errorf("dashboard.js: %d", p.status)
		}
	})
}

// failedRows are the rows of the Entregas table: when, event, reason,
// attempts, the start of the receiver's answer ("" without one),
// X-Webhook-Id and the delivery id its Reenviar sends ("" without the
// button), each after the whole match.
func failedRows(p page) [][]string {
	return regexp.MustCompile(`(?s)<tr><td class="when">([^<]*)</td><td class="event"><code>([^<]*)</code></td><td class="reason">([^<]*)<br><small>(\d+) tentativas?</small>(?:<br><small class="answer"><code>([^<]*)</code></small>)?</td>\s*<td class="id"><code>([^<]*)</code></td>`+
		`(?:<td><form[^>]*redeliver-one[^>]*>.*?name="delivery_id" value="(\d+)".*?</form></td>)?</tr>`).
		FindAllStringSubmatch(p.body, -1)
}

// TestRedeliverOneFromThePage: a failed delivery's own Reenviar queues that
// delivery alone, and refuses, with the page's words and nothing moved,
// what it cannot send: another organization's, one already queued, a
// disabled webhook's.
func TestRedeliverOneFromThePage(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		orgA, _ := f.org(t, "Acme", "ana@acme.test", true)
		orgB, _ := f.org(t, "Beta", "bia@beta.test", true)
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")
		b.submit("/dashboard/api-webhook/webhook", url.Values{"csrf_token": {token}, "url": {"https://meusite.com/webhook"}})
		w, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA)
		if err != nil {
			t.Fatal(err)
		}
		bw := f.leadsWebhook(t, orgB)
		f.failDeliveries(t, orgB, 1)
		f.failDeliveries(t, orgA, 2)
		failed := impl.DeliveryFailed
		theirsPage, err := f.db.Deliveries.FindDeliveries(ctx, orgB, bw.ID, impl.DeliveryFilter{Status: &failed, Limit: 10})
		if err != nil || len(theirsPage.Deliveries) != 1 {
			t.Fatalf("B's failures: %+v, %v", theirsPage, err)
		}
		theirs := theirsPage.Deliveries
		statusOf := func(org, hook, id int64) string {
			t.Helper()
			page, err := f.db.Deliveries.FindDeliveries(ctx, org, hook, impl.DeliveryFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range page.Deliveries {
				if d.ID == id {
					return d.Status
				}
			}
			return "gone"
		}
		one := func(id string) page {
			return b.submit("/dashboard/api-webhook/redeliver-one", url.Values{"csrf_token": {token}, "delivery_id": {id}})
		}

		rows := failedRows(b.get("/dashboard/api-webhook"))
		if len(rows) != 2 || rows[0][7] == "" || rows[1][7] == "" {
			t.Fatalf("rows %q, want two with a Reenviar each", rows)
		}
		mine, _ := strconv.ParseInt(rows[1][7], 10, 64)
		for _, bad := range []string{"", "0", "-3", "x", "99999999999999999999"} {
			if p := b.post("/dashboard/api-webhook/redeliver-one", url.Values{"csrf_token": {token}, "delivery_id": {bad}}); p.status != http.StatusBadRequest {
				t.Errorf("delivery_id %q: %d, want 400", bad, p.status)
			}
		}
		if p := b.post("/dashboard/api-webhook/redeliver-one", url.Values{"delivery_id": {rows[1][7]}}); p.status != http.StatusForbidden {
			t.Errorf("without the form token: %d, want 403", p.status)
		}
		if p := one(strconv.FormatInt(theirs[0].ID, 10)); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliverOneGone {
			t.Errorf("another organization's delivery: %q", messageOf(t, p, "webhook-message"))
		}
		if got := statusOf(orgB, bw.ID, theirs[0].ID); got != impl.DeliveryFailed {
			t.Errorf("B's delivery is %s after A's click, want failed", got)
		}
		if got := statusOf(orgA, w.ID, mine); got != impl.DeliveryFailed {
			t.Fatalf("refused clicks moved A's delivery: %s", got)
		}

		if p := one(rows[1][7]); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliveredOne {
			t.Errorf("Reenviar of one: %q", messageOf(t, p, "webhook-message"))
		}
		if got := statusOf(orgA, w.ID, mine); got != impl.DeliveryPending {
			t.Errorf("the delivery is %s after its Reenviar, want pending", got)
		}
		if got := statusOf(orgA, w.ID, mustID(t, rows[0][7])); got != impl.DeliveryFailed {
			t.Errorf("the other failure is %s, want failed still", got)
		}
		if p := one(rows[1][7]); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliverOnePending {
			t.Errorf("a second click: %q", messageOf(t, p, "webhook-message"))
		}
		if !strings.Contains(f.logs.String(), `"msg":"dashboard delivery redelivered"`) {
			t.Error("the redelivery is not in the log")
		}

		f.disableWebhook(t, orgA, w.ID)
		if rows := failedRows(b.get("/dashboard/api-webhook")); len(rows) == 0 || rows[0][7] != "" {
			t.Errorf("a disabled webhook's failures offer Reenviar: %q", rows)
		}
		if p := one(rows[0][7]); messageOf(t, p, "webhook-message") != dashboard.MsgRedeliverDisabled {
			t.Errorf("a disabled webhook: %q", messageOf(t, p, "webhook-message"))
		}
	})
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestDeliveriesBlock: the webhook card's "Entregas" says what waits in the
// webhook's queue and since when, how many deliveries failed within the
// log's period, and lists the newest of them with why, in Brasília's time;
// another organization's deliveries never show.
func TestDeliveriesBlock(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		orgA, _ := f.org(t, "Acme", "ana@acme.test", true)
		orgB, _ := f.org(t, "Beta", "bia@beta.test", true)
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")
		if p := b.get("/dashboard/api-webhook"); strings.Contains(p.body, `id="deliveries"`) {
			t.Error("the page shows deliveries without a webhook")
		}
		b.submit("/dashboard/api-webhook/webhook", url.Values{"csrf_token": {token}, "url": {"https://meusite.com/webhook"}})
		p := b.get("/dashboard/api-webhook")
		if got := messageOf(t, p, "deliveries-queue"); got != dashboard.MsgQueueEmpty {
			t.Errorf("queue of a new webhook: %q", got)
		}
		if got := messageOf(t, p, "deliveries-failed"); got != "Nenhuma entrega falhou nos últimos 30 dias." {
			t.Errorf("failures of a new webhook: %q", got)
		}
		if strings.Contains(p.body, `id="failed-deliveries"`) {
			t.Error("a table of failures without any")
		}

		// Organization B's webhook fails too: none of it shows on A's page.
		f.leadsWebhook(t, orgB)
		f.failDeliveries(t, orgB, 2)
		f.failDeliveries(t, orgA, 7)
		// A failed test ping (POST /webhooks/{id}/test) is not among them:
		// Reenviar would not send it again.
		f.failTestPing(t, orgA)
		brasilia := func(t time.Time) string { return t.UTC().Add(-3 * time.Hour).Format("02/01/2006 às 15:04") } // UTC-3
		p = b.get("/dashboard/api-webhook")
		if got := messageOf(t, p, "deliveries-failed"); got != "7 entregas falharam nos últimos 30 dias. As mais recentes:" {
			t.Errorf("failures: %q", got)
		}
		w, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA)
		if err != nil {
			t.Fatal(err)
		}
		failed := impl.DeliveryFailed
		newestPage, err := f.db.Deliveries.FindDeliveries(ctx, orgA, w.ID, impl.DeliveryFilter{Status: &failed, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		newest := newestPage.Deliveries
		rows := failedRows(p)
		if len(rows) != dashboard.FailedShown {
			t.Fatalf("%d rows of failures, want %d:\n%s", len(rows), dashboard.FailedShown, p.body)
		}
		if len(newest) != 7 || newest[0].Event != impl.EventWebhookTest {
			t.Fatalf("the log's newest failure is %+v, want the test ping, then 6 more", newest[0])
		}
		newest = newest[1:] // the page leaves the ping out
		for i, r := range rows {
			wantTime := brasilia(newest[i].Attempts[0].AttemptedAt)
			wantAnswer := ""
			if a := newest[i].Attempts[0].ResponseBody; a != nil {
				wantAnswer = html.EscapeString(dashboard.AnswerShown(*a))
			}
			if r[1] != wantTime || r[2] != impl.EventLeadCreated || r[3] != "HTTP 503" || r[4] != "1" || r[5] != wantAnswer ||
				r[6] != newest[i].MessageID || r[7] != strconv.FormatInt(newest[i].ID, 10) {
				t.Errorf("row %d: %q, want %s, %s, HTTP 503, 1, %q, %s", i, r[1:], wantTime, impl.EventLeadCreated, wantAnswer, newest[i].MessageID)
			}
		}
		if !strings.Contains(p.body, fmt.Sprintf("/api/v1/webhooks/%d/deliveries?status=failed", w.ID)) {
			t.Error("the block does not point to the whole log")
		}

		// Two new leads wait in A's queue; the oldest since its creation.
		for range 2 {
			f.leads++
			if err := f.db.Leads.CreateLead(ctx, orgA, &impl.Lead{Phone: fmt.Sprintf("55119%08d", f.leads)}); err != nil {
				t.Fatal(err)
			}
		}
		p = b.get("/dashboard/api-webhook")
		if w, err = f.db.Webhooks.FindDefaultWebhook(ctx, orgA); err != nil || w.Backlog.OldestPendingAt == nil {
			t.Fatalf("backlog %+v, %v", w.Backlog, err)
		}
		queued := brasilia(*w.Backlog.OldestPendingAt)
		if got, want := messageOf(t, p, "deliveries-queue"), "2 entregas na fila; a mais antiga espera desde "+queued+"."; got != want {
			t.Errorf("queue: %q, want %q", got, want)
		}

		// Reenviar takes the failures back into the queue: the block says so.
		b.submit("/dashboard/api-webhook/redeliver", url.Values{"csrf_token": {token}, "period": {"30d"}})
		p = b.get("/dashboard/api-webhook")
		if got := messageOf(t, p, "deliveries-failed"); got != "Nenhuma entrega falhou nos últimos 30 dias." {
			t.Errorf("failures after Reenviar: %q", got)
		}
		if got := messageOf(t, p, "deliveries-queue"); !strings.HasPrefix(got, "9 entregas na fila") {
			t.Errorf("queue after Reenviar: %q", got)
		}
	})
}

// An organization with as many webhooks as it can have, all made through
// the API, cannot get a default one from the page: Salvar says why and
// keeps the URL to try again, and nothing is stored. Once it has one,
// saving changes it, whatever the count.
func TestWebhookURLAtTheCap(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		orgA, _ := f.org(t, "Acme", "ana@acme.test", true)
		for i := range impl.MaxWebhooks {
			w := &impl.Webhook{Name: fmt.Sprintf("api %d", i), URL: fmt.Sprintf("https://crm.acme.test/hooks/%d", i), Events: []string{impl.EventLeadCreated}}
			if err := f.db.Webhooks.CreateWebhook(ctx, orgA, w); err != nil {
				t.Fatal(err)
			}
		}
		b := f.browser(t)
		token := b.mustLogin("ana@acme.test")
		p := b.submit("/dashboard/api-webhook/webhook", url.Values{"csrf_token": {token}, "url": {"https://meusite.com/webhook"}})
		if got := messageOf(t, p, "webhook-message"); !strings.Contains(got, "máximo de webhooks") {
			t.Errorf("at the cap, Salvar says %q (status %d)", got, p.status)
		}
		if !strings.Contains(p.body, `value="https://meusite.com/webhook"`) || strings.Contains(p.body, `id="signing-secret"`) {
			t.Error("the refused URL is not shown back, or a secret is shown")
		}
		if _, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA); impl.ErrorCode(err) != impl.ENotFound {
			t.Fatalf("a default webhook was stored past the cap: %v", err)
		}

		// Room for one: the default takes it, and saving again at the cap
		// changes it.
		page, _, err := f.db.Webhooks.FindWebhooks(ctx, orgA, 0, 1)
		if err != nil || len(page) != 1 {
			t.Fatalf("find a webhook: %v", err)
		}
		if err := f.db.Webhooks.DeleteWebhook(ctx, orgA, page[0].ID); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"https://meusite.com/webhook", "https://meusite.com/outro"} {
			p := b.submit("/dashboard/api-webhook/webhook", url.Values{"csrf_token": {token}, "url": {u}})
			if got := messageOf(t, p, "webhook-message"); got != dashboard.MsgWebhookSaved {
				t.Fatalf("saving %s with room for the default: %q", u, got)
			}
		}
		if w, err := f.db.Webhooks.FindDefaultWebhook(ctx, orgA); err != nil || w.URL != "https://meusite.com/outro" {
			t.Fatalf("the default webhook: %+v, %v", w, err)
		}
	})
}
