// Package httpapi is the HTTP face of iagente-sdr: it implements the
// generated strict server interface (gen/api) and wraps it in the request
// pipeline
//
//	request id + access log -> recover -> body limit (1 MiB)
//	  -> admission (a bounded number at once, on pooled goroutines)
//	  -> response validation -> auth -> rate limit -> request validation
//	  -> recover -> strict handler -> impl services
//
// Response validation is outermost among the API layers so that every
// response, errors from auth and rate limiting included, is checked against
// the spec.
package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
	"github.com/iagente/iagente-sdr/impl/ratelimit"
)

// BasePath is where the REST API is mounted, as in the spec's servers.
const BasePath = "/api/v1"

// MaxBodyBytes is the largest request body accepted (1 MiB).
const MaxBodyBytes = 1 << 20

// MaxHeaderBytes is the documented limit on a request's URL and headers
// together (431 above it). ListenerMaxHeaderBytes is what the listener lets
// through to this server's own check; past it net/http answers by itself,
// in plain text, before any of our code runs.
const (
	MaxHeaderBytes         = 16 << 10
	ListenerMaxHeaderBytes = 2 << 20
)

// DefaultQueueTimeout is how long a request waits for a place under
// Config.MaxConcurrentRequests when Config.QueueTimeout is not set.
const DefaultQueueTimeout = 5 * time.Second

// Response validation modes.
const (
	ValidateStrict = "strict" // a violating response becomes a 500
	ValidateLog    = "log"    // a violating response is logged, counted and sent
	ValidateOff    = "off"
)

// Authenticator resolves a presented API key.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*impl.APIKey, error)
}

// Config holds a Server's dependencies; all but Ready, Backlog and Dashboard are
// required. Each is the narrow interface of what the server needs.
type Config struct {
	APIKeys      impl.APIKeyStore
	Leads        impl.LeadStore
	Handoffs     impl.HandoffStore
	Messenger    impl.Messenger
	Messages     impl.MessageStore
	Templates    impl.TemplateStore
	Integrations impl.IntegrationStore
	Webhooks     impl.WebhookStore
	Deliveries   impl.DeliveryStore
	// TemplateSync reads templates from Meta for the sync endpoint.
	TemplateSync impl.TemplateSyncer
	// WebhookTester makes the test endpoint's delivery.
	WebhookTester impl.WebhookTester
	Auth          Authenticator
	Limiter       ratelimit.Limiter
	Logger        *slog.Logger
	// ResponseValidation is ValidateStrict, ValidateLog or ValidateOff.
	ResponseValidation string
	// RequestValidation can be switched off for benchmarks only.
	DisableRequestValidation bool
	// Ready reports whether the server can take traffic (the database answers).
	Ready func(ctx context.Context) error
	// Backlog, if set, reads the webhooks' backlogs for /metrics.
	Backlog impl.BacklogReader
	// MetricsToken, if set, is the bearer token /metrics asks for. Without
	// it /metrics answers whoever reaches the listener, each request
	// counted against the address's limit as the docs are.
	MetricsToken string
	// DeepPages, if set, counts the deep numbered pages of GET /leads read
	// after a mark, after a mended mark and walked to, for /metrics.
	DeepPages func() (afterMark, mended, walked int64)
	// MetricsWriters write more of /metrics, in Prometheus' text format:
	// the dispatcher's series, the database pool's, the rate limiter's.
	MetricsWriters []func(io.Writer)
	// DBTimeout is each request's deadline for its database work (0: none).
	DBTimeout time.Duration
	// MaxConcurrentRequests bounds the API requests that run at once (0: no
	// bound); the rest wait, at most QueueTimeout, and are then answered 503
	// with Retry-After. Calls to providers and partners' servers run
	// outside the bound. See admission.
	MaxConcurrentRequests int
	QueueTimeout          time.Duration
	// Connections counts the listener's open connections (nil: not
	// known). Past twice MaxConcurrentRequests of them, every request runs
	// on a pooled goroutine. See admission.
	Connections *Connections
	// Unavailable reports an error that means the database could not do the
	// work in time or at all; such errors are answered 503 with Retry-After.
	Unavailable func(error) bool
	// Idempotency keeps the answers of POSTs sent with an Idempotency-Key
	// (nil: the header is ignored). IdempotencyLease is how long a request
	// may run before a retry presumes its process dead and runs it again: it
	// must outlast the slowest request.
	Idempotency      impl.IdempotencyStore
	IdempotencyLease time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// AddressLimiter limits, per client address, what needs no API key: the
	// docs, failed authentications, failed provider callbacks (nil: no
	// limit). TrustedProxies says whose X-Forwarded-For names the client.
	AddressLimiter ratelimit.Gate
	TrustedProxies TrustedProxies
	// Dashboard serves the pages under /dashboard/; it answers its own errors
	// (as HTML) and gets only the outer layers: request id, access log,
	// panic recovery and the body limit.
	Dashboard http.Handler
}

// Server is the HTTP handler of the whole service.
type Server struct {
	cfg    Config
	echo   *echo.Echo
	router routers.Router
	routes specRoutes // the router's answers, found from echo's route
	spec   *openapi3.T
	// Validation options never change; built once, read by every request.
	// validator checks requests and responses against the spec.
	validator *contract.Validator

	// leadNameMax is the spec's limit on a lead's name, which inbound
	// contact names are cut to.
	leadNameMax int

	// responseViolations counts responses that broke the spec.
	responseViolations atomic.Int64
	// draining is set when the process is stopping: /readyz answers 503
	// while requests are still served, so a load balancer moves away first.
	draining atomic.Bool
	// admission bounds the requests that run at once; nil when unbounded.
	admission *admission
	// backlogs is /metrics' last read of the webhooks' backlogs.
	backlogs backlogRead
	// requests counts and times the requests, for /metrics.
	requests *httpMetrics
	// keeps are the Idempotency-Key writes that failed, for RetryKeeps.
	keeps chan pendingKeep
}

// NewServer wires the service. It returns an error if the embedded spec
// cannot be loaded, which would be a build defect.
func NewServer(cfg Config) (*Server, error) {
	switch cfg.ResponseValidation {
	case ValidateStrict, ValidateLog, ValidateOff:
	default:
		return nil, fmt.Errorf("RESPONSE_VALIDATION must be strict, log or off, not %q", cfg.ResponseValidation)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	shared, err := contract.Spec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	// The router matches paths only: requests arrive under BasePath whatever
	// host the server is reached by. A shallow copy: the parsed spec is the
	// process's, shared with every server and the dashboard.
	copied := *shared
	spec := &copied
	spec.Servers = openapi3.Servers{{URL: BasePath}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		return nil, fmt.Errorf("build spec router: %w", err)
	}

	s := &Server{cfg: cfg, router: router, routes: newSpecRoutes(spec), spec: spec,
		validator: contract.NewValidator(spec), keeps: make(chan pendingKeep, keepQueueSize), requests: newHTTPMetrics()}
	text := spec.Components.Schemas["Text"]
	if text == nil || text.Value == nil || text.Value.MaxLength == nil {
		return nil, fmt.Errorf("the embedded spec has no maxLength on schema Text")
	}
	s.leadNameMax = int(*text.Value.MaxLength)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.JSONSerializer = jsonBinding{}
	// The layers, outermost first, applied to each route's handler once
	// (see chains) rather than by echo on every request.
	layers := []echo.MiddlewareFunc{s.requestLog, s.recoverPanics, s.limitHeaders, s.limitBody}
	if cfg.MaxConcurrentRequests > 0 {
		// Before the deadline: waiting for a place does not eat into the
		// time the request's database work may take.
		timeout := cfg.QueueTimeout
		if timeout <= 0 {
			timeout = DefaultQueueTimeout
		}
		s.admission = newAdmission(cfg.MaxConcurrentRequests, timeout, cfg.Connections, cfg.Logger)
		layers = append(layers, apiOnly(s.admission.middleware))
	}
	layers = append(layers, s.deadline, s.limitDocs)
	layers = append(layers, apiOnly(s.validateResponse), apiOnly(s.authenticate), apiOnly(s.rateLimit))
	if !cfg.DisableRequestValidation {
		layers = append(layers, apiOnly(s.validateRequest))
	}
	layers = append(layers, apiOnly(s.idempotency))
	// Innermost too: a panic in a handler becomes an ordinary error while the
	// response-validation layer is still in place to write it.
	layers = append(layers, s.recoverPanics)
	e.Use(newChains(layers...).middleware)
	h, err := newHandlers(cfg, spec)
	if err != nil {
		return nil, err
	}
	api.RegisterHandlersWithBaseURL(oneSegmentRouter{e}, api.NewStrictHandler(h, nil), BasePath)
	if err := s.registerDocs(e); err != nil {
		return nil, err
	}
	s.registerInbound(e)
	if cfg.Dashboard != nil {
		dash := echo.WrapHandler(cfg.Dashboard)
		e.Any("/dashboard", dash)
		e.Any("/dashboard/*", dash)
	}
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metrics)
	s.echo = e
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Drain makes /readyz answer 503 from now on: the process is stopping and
// a load balancer should send its traffic elsewhere. Requests are still
// served.
func (s *Server) Drain() { s.draining.Store(true) }

// ResponseViolations returns how many responses have broken the spec.
func (s *Server) ResponseViolations() int64 { return s.responseViolations.Load() }

// apiOnly applies mw to the REST API and skips it for docs and probes.
func apiOnly(mw echo.MiddlewareFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		wrapped := mw(next)
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			if p == BasePath || strings.HasPrefix(p, BasePath+"/") {
				return wrapped(c)
			}
			return next(c)
		}
	}
}
