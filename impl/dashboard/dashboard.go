// Package dashboard serves the pages under /dashboard/: sign-in, the
// "Configurar API/Webhook" page where a customer gets the API token and sets
// the webhook URL, and the "Como integrar" guide it links to. The pages are
// in Portuguese (pt-BR), rendered on the server with html/template; every
// form posts and redirects (post/redirect/get). The only script copies the
// token and the signing secret and runs the webhook URL rules before the
// form is sent. Every rule the script runs, the server runs again, with the
// same messages.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// The page's messages, word for word as the product documents them.
const (
	MsgTokenGenerated = "Token gerado com sucesso"
	MsgTokenCopied    = "Token copiado para a área de transferência!"
	MsgCopyFailed     = "Falha ao copiar o token."
	MsgURLRequired    = "Favor inserir a Url do webhook!"
	MsgURLInvalid     = "Favor inserir uma Url válida!"
	MsgWebhookSaved   = "Dados do usuário salvo com sucesso!"
)

// What "Reenviar" answers: the deliveries it queued again, whether more are
// left, or why it queued none.
const (
	MsgRedeliveredNone    = "Nenhuma entrega falhou nesse período."
	MsgRedeliveredOne     = "1 entrega reenviada."
	MsgRedeliveredSome    = "%d entregas reenviadas."
	MsgRedeliveredMore    = "%d entregas reenviadas; ainda há outras: clique em Reenviar de novo para continuar."
	MsgRedeliverDisabled  = "O webhook está desativado: clique em Salvar para reativá-lo antes de reenviar."
	MsgRedeliverNoWebhook = "Salve a URL do webhook antes de reenviar."
	MsgRedeliverBadPeriod = "Escolha um dos períodos da lista."
	// A failed delivery's own Reenviar, when it cannot be sent again.
	MsgRedeliverOneGone    = "Essa entrega não está mais no registro."
	MsgRedeliverOnePending = "Essa entrega já está na fila."
)

// What the webhook's "Entregas" block says: its queue, and the failed
// deliveries the log still holds.
const (
	MsgQueueEmpty = "Nenhuma entrega na fila."
	MsgQueueOne   = "1 entrega na fila, esperando desde %s."
	MsgQueueSome  = "%d entregas na fila; a mais antiga espera desde %s."
	MsgFailedNone = "Nenhuma entrega falhou nos últimos %d dias."
	MsgFailedOne  = "1 entrega falhou nos últimos %d dias:"
	MsgFailedSome = "%d entregas falharam nos últimos %d dias. As mais recentes:"
	// MsgFailedUnsent is the reason of a delivery failed without an
	// attempt: the webhook was disabled while it waited.
	MsgFailedUnsent = "não enviada: o webhook foi desativado"
	// A failed delivery's attempts, under its reason.
	MsgAttemptOne = "1 tentativa"
	MsgAttempts   = "%d tentativas"
)

// FailedShown is how many of the failed deliveries the "Entregas" block
// lists, newest first.
const FailedShown = 5

// The signing secret's copy button answers like the token's, about the
// secret.
const (
	MsgSecretCopied     = "Segredo copiado para a área de transferência!"
	MsgSecretCopyFailed = "Falha ao copiar o segredo."
)

// Messages of the dashboard's own (sign-in, sessions, CSRF).
const (
	msgBadLogin      = "E-mail ou senha inválidos."
	msgLoginMissing  = "Informe o e-mail e a senha."
	msgTooManyLogins = "Muitas tentativas de login sem sucesso. Tente novamente em %d minuto(s)."
	msgLoggedOut     = "Você saiu do painel."
	msgExpired       = "Sua sessão terminou. Entre novamente."
	msgBadForm       = "O formulário expirou ou não veio desta página. Recarregue a página e tente novamente."
	msgTokenReplaced = "Este token já foi substituído. Recarregue a página para ver o token atual."
	msgTooManyKeys   = "Esta organização já tem o máximo de chaves de API ativas. Revogue uma pela API antes de gerar outra."
	msgTooManyHooks  = "Esta organização já tem o máximo de webhooks. Apague um pela API antes de salvar este."
	msgNotFound      = "Página não encontrada."
	msgMethod        = "Esta página não aceita este tipo de pedido."
	msgInternal      = "Algo deu errado do nosso lado. Tente novamente em instantes."
	msgUnavailable   = "O serviço está temporariamente indisponível. Tente novamente em alguns segundos."
)

// Session and sign-in limits.
const (
	// SessionLifetime is the most a session lasts, however active.
	SessionLifetime = 12 * time.Hour
	// SessionIdle ends a session nobody used for this long.
	SessionIdle = 2 * time.Hour
	// sessionTouchInterval bounds how often activity is written.
	sessionTouchInterval = time.Minute

	// LoginWindow is the sliding window failed sign-ins are counted over.
	LoginWindow = 15 * time.Minute
	// Failures allowed within LoginWindow, per e-mail and address together,
	// per e-mail from anywhere, and per address for any e-mail.
	LoginLimitPair    = 5
	LoginLimitEmail   = 20
	LoginLimitAddress = 100
)

// Name of the key the dashboard's "Gerar Token" creates.
const dashboardKeyName = "Token da API"

// Config holds the dashboard's dependencies; all but Now, Logger and
// SecureCookies are required.
type Config struct {
	Organizations impl.OrganizationStore
	Users         impl.UserStore
	Sessions      impl.SessionStore
	Throttle      impl.LoginFailureStore
	Keys          impl.APIKeyStore
	Webhooks      impl.WebhookStore
	Deliveries    impl.DeliveryStore
	Logger        *slog.Logger
	Now           func() time.Time
	// SecureCookies marks cookies Secure even when the request did not
	// arrive over TLS itself (TLS ends at a proxy in front of the server).
	SecureCookies bool
	// ClientIP is the address a sign-in is counted against by the
	// throttle; nil means the connection's peer. Behind a load balancer it
	// must read the proxy's X-Forwarded-For (httpapi.TrustedProxies), or
	// every sign-in shares the proxy's address and 100 failures from anyone
	// lock everyone out.
	ClientIP func(*http.Request) string
	// Unavailable reports whether an error means the database could not do
	// the work now (down, too slow, locked, out of disk): the page says so
	// with 503 and Retry-After, as the API does, instead of a 500. A
	// request that ran out of its deadline is unavailable too.
	Unavailable func(error) bool
	// DeliveryRetention is how long the delivery log keeps a delivery
	// (WEBHOOK_RETENTION): the period the page counts failures over. Zero
	// is impl.DefaultDeliveryRetention.
	DeliveryRetention time.Duration
}

// Handler serves /dashboard/.
type Handler struct {
	cfg       Config
	mux       *http.ServeMux
	pages     map[string]*template.Template
	urlSchema *openapi3.Schema
	// urlPattern is the spec's WebhookURL pattern, handed to the page's
	// script so that the browser and the server apply one rule.
	urlPattern string
	guideData  *guideData
}

// New builds the dashboard. It fails only on a build defect (a template that
// does not parse, a spec without the WebhookURL schema).
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeliveryRetention <= 0 {
		cfg.DeliveryRetention = impl.DefaultDeliveryRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = clientAddress
	}
	spec, err := contract.Spec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	ref := spec.Components.Schemas["WebhookURL"]
	if ref == nil || ref.Value == nil || ref.Value.Pattern == "" {
		return nil, fmt.Errorf("the embedded spec has no WebhookURL pattern")
	}
	guide, err := loadGuide()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{},
		urlSchema: ref.Value, urlPattern: ref.Value.Pattern, guideData: guide}
	for _, page := range []string{"login.html", "api_webhook.html", "error.html", "guide.html"} {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+page)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", page, err)
		}
		h.pages[page] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	h.mux.Handle("GET /dashboard/static/", http.StripPrefix("/dashboard/static/", staticFiles(http.FileServerFS(static))))
	h.mux.HandleFunc("GET /dashboard/login", h.loginPage)
	h.mux.HandleFunc("POST /dashboard/login", h.login)
	h.mux.HandleFunc("POST /dashboard/logout", h.requireSession(h.logout))
	h.mux.HandleFunc("GET /dashboard/api-webhook", h.requireSession(h.apiWebhookPage))
	h.mux.HandleFunc("POST /dashboard/api-webhook/token", h.requireSession(h.generateToken))
	h.mux.HandleFunc("POST /dashboard/api-webhook/webhook", h.requireSession(h.saveWebhook))
	h.mux.HandleFunc("POST /dashboard/api-webhook/redeliver", h.requireSession(h.redeliverFailed))
	h.mux.HandleFunc("POST /dashboard/api-webhook/redeliver-one", h.requireSession(h.redeliverOne))
	h.mux.HandleFunc("GET "+guidePath, h.guide)
	h.mux.HandleFunc("GET /dashboard/{$}", h.home)
	h.mux.HandleFunc("GET /dashboard", h.home)
	// Everything else, other methods on known paths included, gets an HTML
	// page rather than the mux's plain-text answers.
	h.mux.HandleFunc("/dashboard/", h.notFound)
	h.mux.HandleFunc("/dashboard", h.notFound)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/dashboard/api-webhook", http.StatusSeeOther)
}

// routes lists each page's methods, for the 405 answer's Allow header.
var routes = map[string]string{
	"/dashboard":                     "GET",
	"/dashboard/":                    "GET",
	"/dashboard/login":               "GET, POST",
	"/dashboard/logout":              "POST",
	"/dashboard/api-webhook":         "GET",
	"/dashboard/api-webhook/token":   "POST",
	"/dashboard/api-webhook/webhook": "POST",
	guidePath:                        "GET",
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	if allow, ok := routes[r.URL.Path]; ok {
		w.Header().Set("Allow", allow)
		h.errorPage(w, r, http.StatusMethodNotAllowed, msgMethod)
		return
	}
	h.errorPage(w, r, http.StatusNotFound, msgNotFound)
}

// errorPage answers with a short page that says what happened.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, message string) {
	h.render(w, r, status, "error.html", map[string]any{"Title": "Painel", "Message": message})
}

// render writes a page. Pages carry per-user data and one-time secrets, so
// nothing is cached.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := h.pages[page].Execute(w, data); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "render dashboard page", "page", page, "err", err.Error())
	}
}

// internalError logs err and answers with the generic page, or with the
// page that asks to come back in a moment when the database could not do
// the work now.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.DeadlineExceeded) || (h.cfg.Unavailable != nil && h.cfg.Unavailable(err)) {
		h.cfg.Logger.WarnContext(r.Context(), "database unavailable", "path", r.URL.Path, "err", err.Error())
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterUnavailable))
		h.errorPage(w, r, http.StatusServiceUnavailable, msgUnavailable)
		return
	}
	h.cfg.Logger.ErrorContext(r.Context(), "dashboard", "path", r.URL.Path, "err", err.Error())
	h.errorPage(w, r, http.StatusInternalServerError, msgInternal)
}

// retryAfterUnavailable is the Retry-After of the unavailable page, in
// seconds: the API's.
const retryAfterUnavailable = 2
