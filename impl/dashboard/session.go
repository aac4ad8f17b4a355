package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
)

const (
	sessionCookie = "iagente_session"
	// loginCSRFCookie guards the sign-in form, which has no session yet
	// (a double-submit token: the form field must match the cookie).
	loginCSRFCookie = "iagente_login_csrf"
	csrfField       = "csrf_token"
)

type ctxKey int

const ctxSession ctxKey = iota

// signedIn is the session and user of a request that passed requireSession.
type signedIn struct {
	session *impl.Session
	user    *impl.User
	// token is the session's own token, from the cookie: the database has
	// only its hash. It seals the page's flash.
	token string
}

func current(r *http.Request) *signedIn {
	s, _ := r.Context().Value(ctxSession).(*signedIn)
	return s
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func (h *Handler) secure(r *http.Request) bool { return r.TLS != nil || h.cfg.SecureCookies }

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: sameSite})
}

// requireSession lets the request through with its session, or sends the
// browser to the sign-in page. A POST must also carry the session's CSRF
// token and, when the browser says where it comes from, come from here.
func (h *Handler) requireSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := h.loadSession(r)
		if err != nil {
			h.internalError(w, r, err)
			return
		}
		if s == nil {
			h.setCookie(w, r, sessionCookie, "", "/dashboard", -1, http.SameSiteLaxMode)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/dashboard/login", http.StatusSeeOther)
				return
			}
			http.Redirect(w, r, "/dashboard/login?expirou=1", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || !equalTokens(r.PostFormValue(csrfField), s.session.CSRFToken) {
				h.errorPage(w, r, http.StatusForbidden, msgBadForm)
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxSession, s)))
	}
}

// loadSession returns the request's live session, or nil. An expired or
// idle session is deleted on the way.
func (h *Handler) loadSession(r *http.Request) (*signedIn, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	hash := tokenHash(c.Value)
	sess, user, err := h.cfg.Sessions.FindSession(r.Context(), hash)
	if impl.ErrorCode(err) == impl.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := h.cfg.Now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= SessionIdle {
		if err := h.cfg.Sessions.DeleteSession(r.Context(), hash); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if now.Sub(sess.LastSeenAt) >= sessionTouchInterval {
		if err := h.cfg.Sessions.TouchSession(r.Context(), sess.ID, now); err != nil {
			return nil, err
		}
	}
	return &signedIn{session: sess, user: user, token: c.Value}, nil
}

func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sameOrigin refuses a POST whose Origin (or, without one, Referer) names
// another site. Browsers send Origin on every form POST; a request with
// neither comes from a tool, which the CSRF token alone then guards.
func sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return true
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := h.loadSession(r); err == nil && s != nil {
		http.Redirect(w, r, "/dashboard/api-webhook", http.StatusSeeOther)
		return
	}
	data := map[string]any{}
	switch {
	case r.URL.Query().Has("saiu"):
		data["Notice"] = msgLoggedOut
	case r.URL.Query().Has("expirou"):
		data["Notice"] = msgExpired
	}
	h.renderLogin(w, r, http.StatusOK, data)
}

// renderLogin renders the sign-in form with a fresh double-submit token.
func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, data map[string]any) {
	token, err := randomToken()
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	h.setCookie(w, r, loginCSRFCookie, token, "/dashboard/login", int(time.Hour/time.Second), http.SameSiteStrictMode)
	data["Title"] = "Entrar"
	data["CSRF"] = token
	h.render(w, r, status, "login.html", data)
}

func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// plausibleEmail is an e-mail some user may have: at most
// impl.MaxEmailBytes of one line of text, as `users create` requires.
func plausibleEmail(email string) bool {
	return len(email) <= impl.MaxEmailBytes && impl.PlainLineOK(email)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !sameOrigin(r) || !equalTokens(r.PostFormValue(csrfField), c.Value) {
		h.renderLogin(w, r, http.StatusForbidden, map[string]any{"Error": msgBadForm})
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	data := map[string]any{"Email": email}
	if email == "" || password == "" {
		data["Error"] = msgLoginMissing
		h.renderLogin(w, r, http.StatusUnprocessableEntity, data)
		return
	}
	ctx := r.Context()
	now := h.cfg.Now()
	addr := h.cfg.ClientIP(r)
	keys := []string{"pair:" + email + "|" + addr, "email:" + email, "addr:" + addr}
	limits := []int{LoginLimitPair, LoginLimitEmail, LoginLimitAddress}
	plausible := plausibleEmail(email)
	if !plausible {
		// No account has such an e-mail, so it is a failed sign-in like
		// any other, counted for the address only: a NUL in it made
		// PostgreSQL refuse the lookup (a 500), and kilobytes of it would
		// have been kept in the throttle's keys. It is not shown back.
		data["Email"] = ""
		keys, limits = keys[2:], limits[2:]
	}
	for i, k := range keys {
		n, oldest, err := h.cfg.Throttle.CountLoginFailures(ctx, k, now.Add(-LoginWindow))
		if err != nil {
			h.internalError(w, r, err)
			return
		}
		if n >= limits[i] {
			wait := oldest.Add(LoginWindow).Sub(now)
			minutes := int((wait + time.Minute - 1) / time.Minute)
			w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds()+0.999)))
			data["Error"] = fmt.Sprintf(msgTooManyLogins, max(minutes, 1))
			h.renderLogin(w, r, http.StatusTooManyRequests, data)
			return
		}
	}
	var user *impl.User
	if !plausible {
		auth.CheckPasswordAgainstNothing(password)
	} else if user, err = h.cfg.Users.FindUserByEmail(ctx, email); impl.ErrorCode(err) == impl.ENotFound {
		auth.CheckPasswordAgainstNothing(password)
	} else if err != nil {
		h.internalError(w, r, err)
		return
	}
	if user == nil || !auth.CheckPassword(user.PasswordHash, password) {
		if err := h.cfg.Throttle.RecordLoginFailure(ctx, keys, now); err != nil {
			h.internalError(w, r, err)
			return
		}
		h.cfg.Logger.WarnContext(ctx, "dashboard sign-in failed", "address", addr)
		data["Error"] = msgBadLogin
		h.renderLogin(w, r, http.StatusUnauthorized, data)
		return
	}
	if err := h.startSession(w, r, user, now); err != nil {
		h.internalError(w, r, err)
		return
	}
	if err := h.cfg.Throttle.ClearLoginFailures(ctx, keys[:2]); err != nil {
		h.cfg.Logger.WarnContext(ctx, "clear sign-in failures", "err", err.Error())
	}
	h.cfg.Logger.InfoContext(ctx, "dashboard sign-in", "user_id", user.ID, "organization_id", user.OrganizationID)
	h.setCookie(w, r, loginCSRFCookie, "", "/dashboard/login", -1, http.SameSiteStrictMode)
	http.Redirect(w, r, "/dashboard/api-webhook", http.StatusSeeOther)
}

// startSession creates a session under a new token (never one the browser
// brought, so a planted cookie cannot become a signed-in one) and ends the
// session the browser had.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, user *impl.User, now time.Time) error {
	ctx := r.Context()
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" {
		if err := h.cfg.Sessions.DeleteSession(ctx, tokenHash(old.Value)); err != nil {
			return err
		}
	}
	token, err := randomToken()
	if err != nil {
		return err
	}
	csrf, err := randomToken()
	if err != nil {
		return err
	}
	s := &impl.Session{TokenHash: tokenHash(token), UserID: user.ID, OrganizationID: user.OrganizationID,
		CSRFToken: csrf, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionLifetime)}
	if err := h.cfg.Sessions.CreateSession(ctx, s); err != nil {
		return err
	}
	if err := h.cfg.Users.RecordLogin(ctx, user.ID, now); err != nil {
		return err
	}
	if _, err := h.cfg.Sessions.DeleteExpiredSessions(ctx, now); err != nil {
		h.cfg.Logger.WarnContext(ctx, "delete expired sessions", "err", err.Error())
	}
	h.setCookie(w, r, sessionCookie, token, "/dashboard", int(SessionLifetime/time.Second), http.SameSiteLaxMode)
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.cfg.Sessions.DeleteSession(r.Context(), current(r).session.TokenHash); err != nil {
		h.internalError(w, r, err)
		return
	}
	h.setCookie(w, r, sessionCookie, "", "/dashboard", -1, http.SameSiteLaxMode)
	http.Redirect(w, r, "/dashboard/login?saiu=1", http.StatusSeeOther)
}
