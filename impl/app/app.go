// Package app assembles the service from its configuration: the store, the
// authenticator, the rate limiter and the HTTP server. The binary and the
// contract suite both start the service through it, so they run the same
// wiring.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/messaging"
	"github.com/iagente/iagente-sdr/impl/rbm"
	"github.com/iagente/iagente-sdr/impl/sandbox"
	"github.com/iagente/iagente-sdr/impl/whatsappcloud"

	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/dashboard"
	"github.com/iagente/iagente-sdr/impl/delivery"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/ratelimit"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// Config is the service's whole configuration. Defaults holds every
// default, FromEnv documents each variable; nothing below this package
// fills in a default of its own.
type Config struct {
	DatabaseURL        string
	ListenAddr         string
	ResponseValidation string
	RatePerMinute      int
	RatePerDay         int
	// AddressRatePerMinute limits, per client address, what needs no key:
	// the docs, failed authentications, failed provider callbacks.
	AddressRatePerMinute int
	// TrustedProxies are the proxies whose X-Forwarded-For names the client.
	TrustedProxies httpapi.TrustedProxies
	// MetricsToken, if set, is the bearer token /metrics asks for.
	MetricsToken string
	// RedisURL, when set, keeps the rate-limit counters in Redis, shared by
	// every replica; otherwise they are in this process's memory.
	RedisURL string
	// APIKeyCacheTTL is how long a verified API key is trusted without the
	// database (0: never). Revocations reach every replica's cache at once
	// through notifications; the TTL bounds what a lost one can cost.
	APIKeyCacheTTL time.Duration
	// ShutdownDrain is how long a stopping server keeps serving, with
	// /readyz already answering 503, before it closes its listener: time for
	// a load balancer to take it out of rotation.
	ShutdownDrain time.Duration
	// RedisTimeout bounds each limiter call to Redis: a slow Redis must not
	// slow the API (past it the request is allowed uncounted).
	RedisTimeout             time.Duration
	DisableRequestValidation bool
	Logger                   *slog.Logger
	// DBTimeout bounds each request's database work (and every statement).
	DBTimeout time.Duration
	// MaxConcurrentRequests bounds the API requests that run at once (0: no
	// bound); past it requests wait up to RequestQueueTimeout, then get 503.
	MaxConcurrentRequests int
	RequestQueueTimeout   time.Duration
	// Connections counts the listener's open connections, for the bound
	// (nil: not known); serve gives it to http.Server.ConnState.
	Connections *httpapi.Connections
	// SecretsKey seals webhook signing secrets and provider credentials at
	// rest (AES-256-GCM, 32 bytes); PreviousSecretsKey only opens, for a
	// rotation. Without SecretsKey, a SQLite database gets a key file of
	// its own (StoreOptions) and PostgreSQL stores them as they are.
	SecretsKey         []byte
	PreviousSecretsKey []byte

	// Messaging providers.
	WhatsAppBaseURL    string
	WhatsAppAPIVersion string
	RBMBaseURL         string
	RBMToken           string
	SendTimeout        time.Duration
	// TemplateSyncInterval is how often every WhatsApp Cloud API
	// integration's templates are read from Meta; zero switches the
	// periodic sync off (the on-demand one stays).
	TemplateSyncInterval time.Duration
	// TemplateSyncTimeout bounds one integration's listing, every page
	// included.
	TemplateSyncTimeout time.Duration

	// Webhook delivery.
	WebhookAllowPrivateTargets bool
	WebhookTimeout             time.Duration
	WebhookPollInterval        time.Duration
	WebhookRetrySchedule       []time.Duration
	WebhookDisableAfter        int
	WebhookWorkers             int
	// WebhookWorkersPerWebhook is how many of the workers one webhook may
	// hold at once; zero means a quarter of WebhookWorkers (at least one),
	// so that a slow or failing endpoint leaves most of them to the others.
	// A webhook whose last attempt succeeded quickly may borrow idle
	// workers beyond it, leaving this many free (see delivery.fairShare).
	WebhookWorkersPerWebhook int
	// WebhookLease is how long a claim lasts; zero means WebhookTimeout plus
	// LeaseMargin, so that a lease always outlives its attempt.
	WebhookLease time.Duration
	// WebhookRetention is how long a finished delivery's log (the
	// delivery, its attempts, its event) is kept after its last change.
	WebhookRetention time.Duration
	// DashboardSecureCookies marks the dashboard's cookies Secure although
	// requests arrive over plain HTTP (TLS ends at a proxy in front).
	DashboardSecureCookies bool
	// WebhookDispatchOff stops this process from delivering (an API-only
	// replica); events are still written and other replicas deliver them.
	WebhookDispatchOff bool
	// Clock is the clock of the 24-hour window; nil means time.Now. Tests
	// set it to stand at the window's boundary.
	Clock func() time.Time
}

// Defaults.
const (
	DefaultListenAddr    = ":8080"
	DefaultRatePerMinute = 60
	DefaultRatePerDay    = 10000
	// LeaseMargin is how much longer than an attempt's timeout a claimed
	// delivery stays with its process by default.
	LeaseMargin = 20 * time.Second
)

// Defaults returns the configuration with every default set: the one place
// the service's defaults live.
func Defaults() Config {
	return Config{
		DatabaseURL:           "", // sqlstore.DefaultSQLitePath
		ListenAddr:            DefaultListenAddr,
		ResponseValidation:    httpapi.ValidateLog,
		RatePerMinute:         DefaultRatePerMinute,
		RatePerDay:            DefaultRatePerDay,
		AddressRatePerMinute:  300,
		RedisTimeout:          250 * time.Millisecond,
		ShutdownDrain:         time.Second,
		APIKeyCacheTTL:        time.Second,
		WhatsAppBaseURL:       whatsappcloud.DefaultBaseURL,
		WhatsAppAPIVersion:    whatsappcloud.DefaultVersion,
		RBMBaseURL:            rbm.DefaultBaseURL,
		SendTimeout:           15 * time.Second,
		TemplateSyncInterval:  time.Hour,
		TemplateSyncTimeout:   time.Minute,
		DBTimeout:             5 * time.Second,
		MaxConcurrentRequests: DefaultMaxConcurrentRequests(),
		RequestQueueTimeout:   httpapi.DefaultQueueTimeout,
		WebhookTimeout:        10 * time.Second,
		WebhookPollInterval:   250 * time.Millisecond,
		WebhookRetrySchedule:  delivery.DefaultRetrySchedule,
		WebhookDisableAfter:   20,
		WebhookWorkers:        64,
		WebhookRetention:      impl.DefaultDeliveryRetention,
	}
}

// DefaultMaxConcurrentRequests is MAX_CONCURRENT_REQUESTS when it is not
// set: 16 per CPU the process may use, and at least 32. More running at
// once does not answer faster on so many CPUs (a request that waits for a
// provider gives its place back); it holds more memory.
func DefaultMaxConcurrentRequests() int { return max(32, 16*runtime.GOMAXPROCS(0)) }

// FromEnv reads the configuration:
//
//	DATABASE_URL           postgres://... or sqlite:PATH; unset: ./iagente-sdr.db
//	LISTEN_ADDR            host:port to listen on (default :8080); PORT=n also works
//	RESPONSE_VALIDATION    strict | log (default) | off
//	RATE_LIMIT_PER_MINUTE  requests per API key per minute (default 60)
//	RATE_LIMIT_PER_DAY     requests per API key per day (default 10000)
//	UNAUTHENTICATED_RATE_LIMIT_PER_MINUTE  per client address: docs, failed authentications,
//	                       failed provider callbacks (default 300)
//	API_KEY_CACHE_TTL      how long a verified API key is trusted without the database
//	                       (default 1s; 0 turns the cache off)
//	MAX_CONCURRENT_REQUESTS  API requests that run at once (default 16 per CPU, at least 32;
//	                       0: no bound); the rest wait, and past REQUEST_QUEUE_TIMEOUT
//	                       (default 5s) are answered 503 with Retry-After
//	SHUTDOWN_DRAIN         how long a stopping server keeps serving with /readyz at 503,
//	                       before it closes its listener (default 1s)
//	REDIS_URL              redis://host:port/db: rate-limit counters shared by every replica
//	                       (default: none; counters in memory, exact for one process)
//	REDIS_TIMEOUT          how long one rate-limit call to Redis may take before the request
//	                       is allowed uncounted (default 250ms)
//	TRUSTED_PROXIES        comma-separated addresses or CIDRs whose X-Forwarded-For names the
//	                       client (default: none; the connection's address counts)
//	METRICS_TOKEN          bearer token /metrics asks for, 16 characters or more (default:
//	                       none; /metrics answers anyone, within the address's limit)
//	WHATSAPP_API_BASE_URL  Meta Graph API (default https://graph.facebook.com)
//	WHATSAPP_API_VERSION   Graph API version (default v24.0)
//	RBM_API_BASE_URL       Google RBM API (default https://rcsbusinessmessaging.googleapis.com)
//	RBM_ACCESS_TOKEN       bearer token for the RBM API
//	SEND_TIMEOUT           how long a provider may take to accept a message (default 15s)
//	TEMPLATE_SYNC_INTERVAL how often templates are read from Meta (default 1h; 0 or off: never)
//	TEMPLATE_SYNC_TIMEOUT  how long one account's template listing may take (default 1m)
//	DB_TIMEOUT             how long a request's database work may take before the answer is
//	                       503 service_unavailable (default 5s; also PostgreSQL's statement_timeout)
//	WEBHOOK_ALLOW_PRIVATE_TARGETS  true lets webhooks reach loopback and private
//	                       addresses (development and tests only; default false)
//	WEBHOOK_TIMEOUT        how long a receiver may take to answer (default 10s)
//	WEBHOOK_POLL_INTERVAL  how often to look for due deliveries (default 250ms)
//	WEBHOOK_RETRY_SCHEDULE comma-separated waits after each failed attempt; the
//	                       last repeats (default 5s,30s,2m,10m,30m,1h,2h,4h)
//	WEBHOOK_DISABLE_AFTER  failed deliveries in a row that disable a webhook (default 20)
//	WEBHOOK_WORKERS        concurrent delivery attempts per process (default 64)
//	WEBHOOK_WORKERS_PER_WEBHOOK  how many of them one webhook may hold at once
//	                       (default a quarter of WEBHOOK_WORKERS); a quick
//	                       webhook may borrow idle ones but leaves this many
//	                       free
//	WEBHOOK_LEASE          how long a claimed delivery stays with its process
//	                       before another may take it (default timeout + 20s)
//	WEBHOOK_RETENTION      how long finished deliveries, their attempts and
//	                       events are kept, e.g. 30d or 720h (default 30d)
//	WEBHOOK_DISPATCH       off: this process writes events but does not deliver
//	DASHBOARD_SECURE_COOKIES  true marks the dashboard's cookies Secure when TLS
//	                       ends at a proxy (they always are on a TLS connection)
//	SECRETS_KEY            32 bytes in base64 (openssl rand -base64 32): seals webhook
//	                       signing secrets, provider credentials and the answers kept
//	                       for Idempotency-Key replays in the database.
//	                       Unset: SQLite keeps a key file beside the database
//	                       (PATH.secrets-key); PostgreSQL stores them unsealed, with a
//	                       warning. Every replica needs the same key.
//	SECRETS_KEY_PREVIOUS   the key before a rotation: it only opens, and what it
//	                       sealed is sealed again with SECRETS_KEY at start-up
func FromEnv(getenv func(string) string) (Config, error) {
	c := Defaults()
	c.DatabaseURL = getenv("DATABASE_URL")
	c.RedisURL = getenv("REDIS_URL")
	if c.RedisURL != "" {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return c, fmt.Errorf("REDIS_URL must be a redis:// or rediss:// URL: %w", err)
		}
	}
	c.RBMToken = getenv("RBM_ACCESS_TOKEN")
	for name, dst := range map[string]*string{
		"LISTEN_ADDR": &c.ListenAddr, "RESPONSE_VALIDATION": &c.ResponseValidation,
		"WHATSAPP_API_BASE_URL": &c.WhatsAppBaseURL, "WHATSAPP_API_VERSION": &c.WhatsAppAPIVersion,
		"RBM_API_BASE_URL": &c.RBMBaseURL,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	if v := getenv("SEND_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("SEND_TIMEOUT must be a positive duration such as 15s, not %q", v)
		}
		c.SendTimeout = d
	}
	if err := templateSyncFromEnv(getenv, &c); err != nil {
		return c, err
	}
	if err := webhookFromEnv(getenv, &c); err != nil {
		return c, err
	}
	switch v := getenv("DASHBOARD_SECURE_COOKIES"); v {
	case "", "false", "0":
	case "true", "1":
		c.DashboardSecureCookies = true
	default:
		return c, fmt.Errorf("DASHBOARD_SECURE_COOKIES must be true or false, not %q", v)
	}
	for _, name := range []string{"WHATSAPP_API_BASE_URL", "RBM_API_BASE_URL"} {
		if v := getenv(name); v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return c, fmt.Errorf("%s must be an http:// or https:// URL, not %q", name, v)
			}
		}
	}
	if p := getenv("PORT"); p != "" && getenv("LISTEN_ADDR") == "" {
		c.ListenAddr = ":" + p
	}
	var err error
	if c.RatePerMinute, err = positiveInt(getenv, "RATE_LIMIT_PER_MINUTE", c.RatePerMinute); err != nil {
		return c, err
	}
	if c.RatePerDay, err = positiveInt(getenv, "RATE_LIMIT_PER_DAY", c.RatePerDay); err != nil {
		return c, err
	}
	if c.AddressRatePerMinute, err = positiveInt(getenv, "UNAUTHENTICATED_RATE_LIMIT_PER_MINUTE", c.AddressRatePerMinute); err != nil {
		return c, err
	}
	if v := getenv("API_KEY_CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("API_KEY_CACHE_TTL must be a duration such as 1s (0 turns the cache off), not %q", v)
		}
		c.APIKeyCacheTTL = d
	}
	if v := getenv("MAX_CONCURRENT_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("MAX_CONCURRENT_REQUESTS must be a whole number (0: no bound), not %q", v)
		}
		c.MaxConcurrentRequests = n
	}
	if v := getenv("REQUEST_QUEUE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("REQUEST_QUEUE_TIMEOUT must be a positive duration such as 5s, not %q", v)
		}
		c.RequestQueueTimeout = d
	}
	if v := getenv("SHUTDOWN_DRAIN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("SHUTDOWN_DRAIN must be a duration such as 1s (0 to skip), not %q", v)
		}
		c.ShutdownDrain = d
	}
	if c.SecretsKey, err = secretsKey(getenv, "SECRETS_KEY"); err != nil {
		return c, err
	}
	if c.PreviousSecretsKey, err = secretsKey(getenv, "SECRETS_KEY_PREVIOUS"); err != nil {
		return c, err
	}
	if c.PreviousSecretsKey != nil && c.SecretsKey == nil {
		return c, errors.New("SECRETS_KEY_PREVIOUS needs SECRETS_KEY: the key it is rotated to")
	}
	if c.TrustedProxies, err = httpapi.ParseTrustedProxies(getenv("TRUSTED_PROXIES")); err != nil {
		return c, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	if c.MetricsToken, err = metricsToken(getenv("METRICS_TOKEN")); err != nil {
		return c, err
	}
	switch c.ResponseValidation {
	case httpapi.ValidateStrict, httpapi.ValidateLog, httpapi.ValidateOff:
	default:
		return c, fmt.Errorf("RESPONSE_VALIDATION must be strict, log or off, not %q", c.ResponseValidation)
	}
	return c, nil
}

// metricsMinToken is the shortest METRICS_TOKEN taken: a guessable one
// would be a lock left open.
const metricsMinToken = 16

// metricsToken checks METRICS_TOKEN: empty (none), or at least
// metricsMinToken printable ASCII characters without spaces, as an
// Authorization header carries it.
func metricsToken(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if len(v) < metricsMinToken {
		return "", fmt.Errorf("METRICS_TOKEN must be at least %d characters (openssl rand -hex 32 makes one)", metricsMinToken)
	}
	for _, r := range v {
		if r <= ' ' || r > '~' {
			return "", errors.New("METRICS_TOKEN must be printable ASCII without spaces (openssl rand -hex 32 makes one)")
		}
	}
	return v, nil
}

func templateSyncFromEnv(getenv func(string) string, c *Config) error {
	switch v := getenv("TEMPLATE_SYNC_INTERVAL"); v {
	case "":
	case "0", "off":
		c.TemplateSyncInterval = 0
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return fmt.Errorf("TEMPLATE_SYNC_INTERVAL must be a duration of a minute or more such as 1h, or off, not %q", v)
		}
		c.TemplateSyncInterval = d
	}
	if v := getenv("TEMPLATE_SYNC_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("TEMPLATE_SYNC_TIMEOUT must be a positive duration such as 1m, not %q", v)
		}
		c.TemplateSyncTimeout = d
	}
	return nil
}

func webhookFromEnv(getenv func(string) string, c *Config) error {
	switch v := getenv("WEBHOOK_ALLOW_PRIVATE_TARGETS"); v {
	case "", "false", "0":
	case "true", "1":
		c.WebhookAllowPrivateTargets = true
	default:
		return fmt.Errorf("WEBHOOK_ALLOW_PRIVATE_TARGETS must be true or false, not %q", v)
	}
	switch v := getenv("WEBHOOK_DISPATCH"); v {
	case "", "on":
	case "off":
		c.WebhookDispatchOff = true
	default:
		return fmt.Errorf("WEBHOOK_DISPATCH must be on or off, not %q", v)
	}
	for name, dst := range map[string]*time.Duration{
		"DB_TIMEOUT": &c.DBTimeout, "REDIS_TIMEOUT": &c.RedisTimeout,
		"WEBHOOK_TIMEOUT": &c.WebhookTimeout, "WEBHOOK_POLL_INTERVAL": &c.WebhookPollInterval, "WEBHOOK_LEASE": &c.WebhookLease,
	} {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%s must be a positive duration such as 10s, not %q", name, v)
			}
			*dst = d
		}
	}
	if v := getenv("WEBHOOK_RETENTION"); v != "" {
		d, err := parseDays(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("WEBHOOK_RETENTION must be a positive duration such as 30d or 720h, not %q", v)
		}
		c.WebhookRetention = d
	}
	if v := getenv("WEBHOOK_RETRY_SCHEDULE"); v != "" {
		c.WebhookRetrySchedule = nil
		for _, part := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(part))
			if err != nil || d <= 0 {
				return fmt.Errorf("WEBHOOK_RETRY_SCHEDULE must be comma-separated positive durations such as 5s,30s,2m, not %q", v)
			}
			c.WebhookRetrySchedule = append(c.WebhookRetrySchedule, d)
		}
	}
	var err error
	if c.WebhookDisableAfter, err = positiveInt(getenv, "WEBHOOK_DISABLE_AFTER", c.WebhookDisableAfter); err != nil {
		return err
	}
	if c.WebhookWorkers, err = positiveInt(getenv, "WEBHOOK_WORKERS", c.WebhookWorkers); err != nil {
		return err
	}
	if c.WebhookWorkersPerWebhook, err = positiveInt(getenv, "WEBHOOK_WORKERS_PER_WEBHOOK", c.WebhookWorkersPerWebhook); err != nil {
		return err
	}
	return nil
}

// parseDays reads a Go duration, or a whole number of days such as "30d",
// the unit retention periods are thought in.
func parseDays(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100*365 {
			return 0, fmt.Errorf("not a number of days: %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func positiveInt(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s must be a positive integer, not %q", name, v)
	}
	return n, nil
}

// App is a running service's parts.
type App struct {
	// Stores are the database and every store over it.
	Stores     *sqlstore.Stores
	Server     *httpapi.Server
	Dispatcher *delivery.Dispatcher
	// Notifier carries notifications between the replicas that share the
	// database (LISTEN/NOTIFY on PostgreSQL).
	Notifier *sqlstore.Notifier
	// Messenger sends and receives; TemplateSync reads templates from Meta.
	Messenger    *messaging.Messenger
	TemplateSync *messaging.TemplateSync

	logger     *slog.Logger
	stop       context.CancelFunc
	background sync.WaitGroup

	auth *auth.Authenticator
}

// IdempotencyLease is how long a request with an Idempotency-Key may run
// before a retry presumes its process dead: longer than the slowest request,
// a provider call or a test delivery between two stretches of database work.
func (cfg Config) IdempotencyLease() time.Duration {
	return max(cfg.SendTimeout, cfg.WebhookTimeout) + 2*cfg.DBTimeout + time.Second
}

// DispatcherConfig is the dispatcher's part of cfg.
func (cfg Config) DispatcherConfig() delivery.Config {
	lease := cfg.WebhookLease
	if lease <= 0 {
		lease = cfg.WebhookTimeout + LeaseMargin
	}
	perWebhook := cfg.WebhookWorkersPerWebhook
	if perWebhook <= 0 {
		perWebhook = max(1, cfg.WebhookWorkers/4)
	}
	return delivery.Config{
		Timeout:       cfg.WebhookTimeout,
		PollInterval:  cfg.WebhookPollInterval,
		RetrySchedule: cfg.WebhookRetrySchedule,
		DisableAfter:  cfg.WebhookDisableAfter,
		Workers:       cfg.WebhookWorkers,
		PerWebhook:    min(perWebhook, cfg.WebhookWorkers),
		Lease:         lease,
		AllowPrivate:  cfg.WebhookAllowPrivateTargets,
		Logger:        cfg.Logger,
	}
}

// Open connects to the database, applies pending migrations and builds the
// HTTP server and the dispatcher from cfg, which Defaults or FromEnv made.
// Unless cfg.WebhookDispatchOff, it starts delivering, and deleting expired
// delivery logs, until Close.
func Open(ctx context.Context, cfg Config) (*App, error) {
	opts, err := cfg.StoreOptions()
	if err != nil {
		return nil, err
	}
	db, err := sqlstore.OpenWith(ctx, cfg.DatabaseURL, opts)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := sealSecrets(ctx, db, cfg.Logger); err != nil {
		db.Close()
		return nil, err
	}
	warnReadableDatabase(cfg.DatabaseURL, cfg.Logger)
	st := sqlstore.NewStores(db)
	a, err := build(cfg, st)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.Notifier = db.NewNotifier(cfg.Logger)
	dispatch := !cfg.WebhookDispatchOff
	var others, keys <-chan sqlstore.Notification
	if a.Notifier.Shared() {
		if dispatch {
			others, _, err = a.Notifier.Subscribe(ctx, sqlstore.DeliveriesChannel)
		}
		if err == nil && a.auth.Cache != nil {
			keys, _, err = a.Notifier.Subscribe(ctx, sqlstore.APIKeysChannel)
		}
		if err != nil {
			a.Notifier.Close()
			db.Close()
			return nil, err
		}
	}
	var bg context.Context
	bg, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	if cfg.TemplateSyncInterval > 0 {
		a.background.Go(func() { a.TemplateSync.RunEvery(bg, cfg.TemplateSyncInterval) })
	}
	a.startKeyCache(bg, keys)
	a.background.Go(func() { a.Server.RetryKeeps(bg) })
	a.background.Go(func() { a.relayDeliveries(bg, dispatch, others) })
	if dispatch {
		a.background.Go(func() { a.Dispatcher.Run(bg) })
		retention := &delivery.Retention{Store: st.Retention, Keep: cfg.WebhookRetention,
			Every: delivery.DefaultRetentionEvery, Batch: delivery.DefaultRetentionBatch,
			Pause: delivery.DefaultRetentionPause, Logger: cfg.Logger}
		a.background.Go(func() { retention.Run(bg) })
	}
	return a, nil
}

// relayDeliveries passes on the news that deliveries were queued, so that
// neither the store nor the dispatcher knows the other: a commit in this
// process wakes its own dispatcher at once and, through the notifier, the
// dispatchers of the other processes; a notification from another process
// (others) wakes this one's. The poll stays as the safety net for whatever
// a notification misses.
func (a *App) relayDeliveries(ctx context.Context, dispatch bool, others <-chan sqlstore.Notification) {
	publish := make(chan struct{}, 1)
	if a.Notifier.Shared() {
		// One notification at a time: commits during one coalesce into the
		// next, as DeliveriesQueued's signals do, so a burst of writes costs
		// the writers nothing and the database a few notifications.
		a.background.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-publish:
					if err := a.Notifier.Notify(ctx, sqlstore.DeliveriesChannel, a.Notifier.ID()); err != nil && ctx.Err() == nil {
						slogOrDiscard(a).Warn("notify other replicas of queued deliveries", "err", err.Error())
					}
				}
			}
		})
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.Stores.DB.DeliveriesQueued():
			if dispatch {
				a.Dispatcher.Wake()
			}
			select {
			case publish <- struct{}{}:
			default:
			}
		case n := <-others:
			// This process's own notifications come back too; its
			// dispatcher was woken already.
			if n.Resync || n.Payload != a.Notifier.ID() {
				a.Dispatcher.Wake()
			}
		}
	}
}

func (cfg Config) whatsAppClient() *whatsappcloud.Client {
	return &whatsappcloud.Client{BaseURL: cfg.WhatsAppBaseURL, Version: cfg.WhatsAppAPIVersion}
}

// NewTemplateSync is the template sync of cfg over the stores, for the
// server and the admin CLI (templates sync).
func NewTemplateSync(cfg Config, st *sqlstore.Stores) *messaging.TemplateSync {
	return &messaging.TemplateSync{Integrations: st.Integrations, Templates: st.Templates,
		Listers: map[string]impl.TemplateLister{impl.ProviderWhatsAppCloud: cfg.whatsAppClient()},
		Timeout: cfg.TemplateSyncTimeout, Logger: cfg.Logger}
}

// build wires the parts over the stores.
func build(cfg Config, st *sqlstore.Stores) (*App, error) {
	cloud := cfg.whatsAppClient()
	messenger := &messaging.Messenger{
		Leads: st.Leads, Integrations: st.Integrations, Templates: st.Templates, Messages: st.Messages,
		WhatsApp: map[string]impl.WhatsAppProvider{
			impl.ProviderSandbox:       sandbox.Provider{},
			impl.ProviderWhatsAppCloud: cloud,
		},
		RCS: map[string]impl.RCSProvider{
			impl.ProviderSandbox:   sandbox.Provider{},
			impl.ProviderGoogleRBM: &rbm.Client{BaseURL: cfg.RBMBaseURL, Token: cfg.RBMToken},
		},
		SendTimeout: cfg.SendTimeout,
		DBTimeout:   cfg.DBTimeout,
		Logger:      cfg.Logger,
		Now:         cfg.Clock,
	}
	templateSync := NewTemplateSync(cfg, st)
	dispatcher, err := delivery.New(st.Queue, cfg.DispatcherConfig())
	if err != nil {
		return nil, err
	}
	authn := &auth.Authenticator{Keys: st.APIKeys, Now: time.Now}
	if cfg.APIKeyCacheTTL > 0 {
		authn.Cache = &auth.KeyCache{TTL: cfg.APIKeyCacheTTL, Size: 10000}
		authn.Usage = &auth.UsageWriter{Keys: st.APIKeys, Logger: cfg.Logger, Timeout: cfg.DBTimeout}
	}
	keyLimiter, addrLimiter, err := limiters(cfg)
	if err != nil {
		return nil, err
	}
	dash, err := dashboard.New(dashboard.Config{
		Organizations: st.Organizations, Users: st.Users, Sessions: st.Sessions, Throttle: st.LoginFailures,
		Keys: st.APIKeys, Webhooks: st.Webhooks, Deliveries: st.Deliveries, Logger: cfg.Logger, SecureCookies: cfg.DashboardSecureCookies,
		ClientIP: cfg.TrustedProxies.ClientIP, DeliveryRetention: cfg.WebhookRetention, Unavailable: sqlstore.IsUnavailable,
	})
	if err != nil {
		return nil, err
	}
	srv, err := httpapi.NewServer(httpapi.Config{
		APIKeys:                  st.APIKeys,
		Leads:                    st.Leads,
		Handoffs:                 st.Handoffs,
		Messenger:                messenger,
		Messages:                 st.Messages,
		Templates:                st.Templates,
		Integrations:             st.Integrations,
		Webhooks:                 st.Webhooks,
		Deliveries:               st.Deliveries,
		TemplateSync:             templateSync,
		WebhookTester:            dispatcher,
		Auth:                     authn,
		Limiter:                  keyLimiter,
		Logger:                   cfg.Logger,
		ResponseValidation:       cfg.ResponseValidation,
		DisableRequestValidation: cfg.DisableRequestValidation,
		Ready:                    st.DB.Ping,
		Backlog:                  st.Queue,
		MetricsToken:             cfg.MetricsToken,
		DeepPages:                st.Leads.DeepPageCounts,
		DBTimeout:                cfg.DBTimeout,
		MaxConcurrentRequests:    cfg.MaxConcurrentRequests,
		QueueTimeout:             cfg.RequestQueueTimeout,
		Connections:              cfg.Connections,
		Unavailable:              sqlstore.IsUnavailable,
		Idempotency:              st.Idempotency,
		AddressLimiter:           addrLimiter,
		TrustedProxies:           cfg.TrustedProxies,
		IdempotencyLease:         cfg.IdempotencyLease(),
		Dashboard:                dash,
		MetricsWriters:           metricsWriters(st, dispatcher, keyLimiter, addrLimiter),
	})
	if err != nil {
		return nil, err
	}
	return &App{Stores: st, Server: srv, Dispatcher: dispatcher, Messenger: messenger, TemplateSync: templateSync,
		logger: cfg.Logger, auth: authn}, nil
}

// metricsWriters are the parts of /metrics beyond the HTTP server's own:
// the dispatcher's attempts, the database pool and the reads gathered on
// PostgreSQL, and, with Redis, the requests the limiters allowed uncounted
// while it was unreachable.
func metricsWriters(st *sqlstore.Stores, dispatcher *delivery.Dispatcher, key, addr any) []func(io.Writer) {
	out := []func(io.Writer){dispatcher.WriteMetrics, st.WriteMetrics}
	k, keyRedis := key.(*ratelimit.Redis)
	a, addrRedis := addr.(*ratelimit.Redis)
	if keyRedis && addrRedis {
		out = append(out, func(w io.Writer) {
			metrics.WriteMetadataIfNeeded(w, "iagente_rate_limit_uncounted_total", "counter")
			_, _ = io.WriteString(w, `iagente_rate_limit_uncounted_total{limit="api_key"} `+strconv.FormatInt(k.Uncounted(), 10)+"\n"+
				`iagente_rate_limit_uncounted_total{limit="address"} `+strconv.FormatInt(a.Uncounted(), 10)+"\n")
		})
	}
	return out
}

func slogOrDiscard(a *App) *slog.Logger {
	if a.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.logger
}

// limiters returns the per-key and per-address limiters: in Redis when
// cfg.RedisURL is set, so that replicas share them, else in memory.
func limiters(cfg Config) (ratelimit.Limiter, ratelimit.Gate, error) {
	if cfg.RedisURL == "" {
		return ratelimit.NewMemory(cfg.RatePerMinute, cfg.RatePerDay),
			ratelimit.NewMemory(cfg.AddressRatePerMinute, math.MaxInt32), nil
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.RedisTimeout, cfg.RedisTimeout, cfg.RedisTimeout
	opt.MaxRetries = -1 // the limiter fails open at once rather than retrying in the request's time
	// go-redis prints its pool's errors to stderr by default; the limiter
	// reports an outage itself, once per interval, in the service's log.
	redis.SetLogger(debugLogger{cfg.Logger})
	client := redis.NewClient(opt)
	log := cfg.Logger
	return ratelimit.NewRedis(client, "iagente:rl:key:", cfg.RatePerMinute, cfg.RatePerDay, log),
		ratelimit.NewRedis(client, "iagente:rl:addr:", cfg.AddressRatePerMinute, math.MaxInt32, log), nil
}

// debugLogger hands go-redis's own messages to the service's log at debug.
type debugLogger struct{ log *slog.Logger }

func (l debugLogger) Printf(ctx context.Context, format string, v ...any) {
	if l.log != nil {
		l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
	}
}

// startKeyCache runs what the key cache needs: the writer of last uses,
// and forgetting the keys that stopped being valid, by this process's own
// commits (KeyChanges) or, on PostgreSQL, another replica's (keys, from the
// notifier; after a reconnection, when some may have been missed, every
// key).
func (a *App) startKeyCache(ctx context.Context, keys <-chan sqlstore.Notification) {
	if a.auth.Cache == nil {
		return
	}
	a.background.Go(func() { a.auth.Usage.Run(ctx) })
	a.background.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case id := <-a.Stores.DB.KeyChanges():
				a.auth.Cache.Forget(id)
			case n := <-keys:
				id, err := strconv.ParseInt(n.Payload, 10, 64)
				if n.Resync || err != nil {
					id = sqlstore.KeyChangePurge
				}
				a.auth.Cache.Forget(id)
			}
		}
	})
}

// Close stops the periodic template sync and delivering (attempts in
// flight finish or are released for a retry), and then releases the
// database.
func (a *App) Close() error {
	a.stop()
	a.background.Wait()
	a.Notifier.Close()
	return a.Stores.Close()
}

// secretsKey reads a secrets key from the environment: 32 bytes in base64
// (standard or URL alphabet, padded or not); unset is nil.
func secretsKey(getenv func(string) string, name string) ([]byte, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return nil, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(v); err == nil {
			if len(k) != sqlstore.SecretsKeySize {
				return nil, fmt.Errorf("%s must be %d bytes in base64 (openssl rand -base64 32), not %d bytes", name, sqlstore.SecretsKeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("%s must be %d bytes in base64 (openssl rand -base64 32)", name, sqlstore.SecretsKeySize)
}

// StoreOptions are the options the service and its admin commands open the
// database with: the statement timeout and the secrets keys. On SQLite
// without SECRETS_KEY the key is a file beside the database file
// (PATH.secrets-key, mode 0600, made on first use), so the embedded default
// seals too, and a copy of the database alone gives no secret away.
func (c Config) StoreOptions() (sqlstore.Options, error) {
	opts := sqlstore.Options{Timeout: c.DBTimeout, SecretsKey: c.SecretsKey}
	if c.PreviousSecretsKey != nil {
		opts.PreviousSecretsKeys = [][]byte{c.PreviousSecretsKey}
	}
	if opts.SecretsKey != nil {
		return opts, nil
	}
	path, ok := sqlstore.SQLiteFile(c.DatabaseURL)
	if !ok {
		return opts, nil
	}
	key, err := keyFile(path + ".secrets-key")
	if err != nil {
		return opts, err
	}
	opts.SecretsKey = key
	return opts, nil
}

// keyFile reads the secrets key kept in path, making it first if there is
// none. O_EXCL makes two processes starting at once agree on one key.
func keyFile(path string) ([]byte, error) {
	read := func() ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != sqlstore.SecretsKeySize {
			return nil, fmt.Errorf("%s does not hold a secrets key (%d bytes in base64)", path, sqlstore.SecretsKeySize)
		}
		return k, nil
	}
	if k, err := read(); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k := make([]byte, sqlstore.SecretsKeySize)
	_, _ = rand.Read(k) // never fails (crypto/rand panics rather)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return read()
	}
	if err != nil {
		return nil, fmt.Errorf("make the secrets key file: %w", err)
	}
	if _, err := fmt.Fprintln(f, base64.StdEncoding.EncodeToString(k)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return k, nil
}

// warnReadableDatabase warns when other users of the host may read the
// SQLite database: it holds the organizations' leads and messages. A new
// one is created for its owner alone (sqlstore.OpenWith); one made by an
// earlier version, or given another mode, keeps it, and this says so.
func warnReadableDatabase(databaseURL string, log *slog.Logger) {
	path, ok := sqlstore.SQLiteFile(databaseURL)
	if !ok {
		return
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm()&0o077 == 0 {
		return
	}
	if log == nil {
		log = slog.Default()
	}
	log.Warn("other users of this host may read the SQLite database: restrict it to its owner (chmod 600)",
		"path", path, "mode", info.Mode().Perm().String())
}

// sealSecrets seals what is stored unsealed or under the previous key, and
// says so; without a key it warns that the secrets are stored as they are.
func sealSecrets(ctx context.Context, db *sqlstore.DB, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if !db.Sealing() {
		log.Warn("SECRETS_KEY is not set: webhook signing secrets, provider credentials and the answers kept for Idempotency-Key replays (a new API key's among them) are stored unsealed in the database")
		return nil
	}
	n, err := db.SealSecrets(ctx)
	if err != nil {
		return fmt.Errorf("seal stored secrets: %w", err)
	}
	if n > 0 {
		log.Info("sealed stored secrets with SECRETS_KEY", "values", n)
	}
	return nil
}
