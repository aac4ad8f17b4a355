// Package app assembles the service from its configuration: the store, the
// authenticator, the rate limiter and the HTTP server. The binary and the
// contract suite both start the service through it, so they run the same
// wiring.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/messaging"
	"github.com/iagente/iagente-sdr/impl/rbm"
	"github.com/iagente/iagente-sdr/impl/sandbox"
	"github.com/iagente/iagente-sdr/impl/whatsappcloud"

	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/ratelimit"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// Config is the service's configuration; FromEnv documents each variable.
type Config struct {
	DatabaseURL              string
	ListenAddr               string
	ResponseValidation       string
	RatePerMinute            int
	RatePerDay               int
	DisableRequestValidation bool
	Logger                   *slog.Logger

	// Messaging providers.
	WhatsAppBaseURL    string
	WhatsAppAPIVersion string
	RBMBaseURL         string
	RBMToken           string
	SendTimeout        time.Duration
}

// Defaults.
const (
	DefaultListenAddr    = ":8080"
	DefaultRatePerMinute = 60
	DefaultRatePerDay    = 10000
)

// FromEnv reads the configuration:
//
//	DATABASE_URL           postgres://... or sqlite:PATH; unset: ./iagente-sdr.db
//	LISTEN_ADDR            host:port to listen on (default :8080); PORT=n also works
//	RESPONSE_VALIDATION    strict | log (default) | off
//	RATE_LIMIT_PER_MINUTE  requests per API key per minute (default 60)
//	RATE_LIMIT_PER_DAY     requests per API key per day (default 10000)
//	WHATSAPP_API_BASE_URL  Meta Graph API (default https://graph.facebook.com)
//	WHATSAPP_API_VERSION   Graph API version (default v24.0)
//	RBM_API_BASE_URL       Google RBM API (default https://rcsbusinessmessaging.googleapis.com)
//	RBM_ACCESS_TOKEN       bearer token for the RBM API
//	SEND_TIMEOUT           how long a provider may take to accept a message (default 15s)
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:        getenv("DATABASE_URL"),
		ListenAddr:         getenv("LISTEN_ADDR"),
		ResponseValidation: getenv("RESPONSE_VALIDATION"),
		RatePerMinute:      DefaultRatePerMinute,
		RatePerDay:         DefaultRatePerDay,
		WhatsAppBaseURL:    getenv("WHATSAPP_API_BASE_URL"),
		WhatsAppAPIVersion: getenv("WHATSAPP_API_VERSION"),
		RBMBaseURL:         getenv("RBM_API_BASE_URL"),
		RBMToken:           getenv("RBM_ACCESS_TOKEN"),
	}
	if v := getenv("SEND_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("SEND_TIMEOUT must be a positive duration such as 15s, not %q", v)
		}
		c.SendTimeout = d
	}
	for _, name := range []string{"WHATSAPP_API_BASE_URL", "RBM_API_BASE_URL"} {
		if v := getenv(name); v != "" {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return c, fmt.Errorf("%s must be an http:// or https:// URL, not %q", name, v)
			}
		}
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
		if p := getenv("PORT"); p != "" {
			c.ListenAddr = ":" + p
		}
	}
	var err error
	if c.RatePerMinute, err = positiveInt(getenv, "RATE_LIMIT_PER_MINUTE", DefaultRatePerMinute); err != nil {
		return c, err
	}
	if c.RatePerDay, err = positiveInt(getenv, "RATE_LIMIT_PER_DAY", DefaultRatePerDay); err != nil {
		return c, err
	}
	switch c.ResponseValidation {
	case "", httpapi.ValidateStrict, httpapi.ValidateLog, httpapi.ValidateOff:
	default:
		return c, fmt.Errorf("RESPONSE_VALIDATION must be strict, log or off, not %q", c.ResponseValidation)
	}
	return c, nil
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
	DB     *sqlstore.DB
	Server *httpapi.Server
}

// Open connects to the database, applies pending migrations and builds the
// HTTP server.
func Open(ctx context.Context, cfg Config) (*App, error) {
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.RatePerMinute == 0 {
		cfg.RatePerMinute = DefaultRatePerMinute
	}
	if cfg.RatePerDay == 0 {
		cfg.RatePerDay = DefaultRatePerDay
	}
	msg := &messaging.Service{
		Leads: db, Integrations: db, Templates: db, Messages: db,
		WhatsApp: map[string]impl.WhatsAppProvider{
			impl.ProviderSandbox:       sandbox.Provider{},
			impl.ProviderWhatsAppCloud: &whatsappcloud.Client{BaseURL: cfg.WhatsAppBaseURL, Version: cfg.WhatsAppAPIVersion},
		},
		RCS: map[string]impl.RCSProvider{
			impl.ProviderSandbox:   sandbox.Provider{},
			impl.ProviderGoogleRBM: &rbm.Client{BaseURL: cfg.RBMBaseURL, Token: cfg.RBMToken},
		},
		SendTimeout: cfg.SendTimeout,
		Logger:      cfg.Logger,
	}
	srv, err := httpapi.NewServer(httpapi.Config{
		Leads:                    db,
		Messaging:                msg,
		Auth:                     &auth.Authenticator{Keys: db, Now: time.Now},
		Limiter:                  ratelimit.NewMemory(cfg.RatePerMinute, cfg.RatePerDay),
		Logger:                   cfg.Logger,
		ResponseValidation:       cfg.ResponseValidation,
		DisableRequestValidation: cfg.DisableRequestValidation,
		Ready:                    db.Ping,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &App{DB: db, Server: srv}, nil
}

// Close releases the database.
func (a *App) Close() error { return a.DB.Close() }
