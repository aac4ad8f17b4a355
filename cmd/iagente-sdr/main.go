// Command iagente-sdr is the IAGENTE SDR API server and its admin tool.
//
//	iagente-sdr [serve] [--dev]        run the server (the default)
//	iagente-sdr migrate                apply database migrations
//	iagente-sdr orgs create NAME       create an organization and its first API key
//	iagente-sdr keys create|list|revoke
//	iagente-sdr users create|list      dashboard users
//	iagente-sdr integrations create|list|enable|disable
//	iagente-sdr templates create|list|sync
//
// Configuration comes from the environment; see impl/app.FromEnv. The fakes
// of the providers and a reference webhook receiver are another binary,
// cmd/iagente-mock, so that this one links none of them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "iagente-sdr:", err)
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "iagente-sdr:", err)
		os.Exit(1)
	}
}

const usage = `Usage:
  iagente-sdr [serve] [--dev]                       run the API server (default)
  iagente-sdr migrate                               apply pending database migrations
  iagente-sdr orgs create NAME [--json]             create an organization; prints its first API key once
  iagente-sdr keys create --org ID [--name N] [--json]
                                                    create an API key; prints it once
  iagente-sdr keys list --org ID [--json]           list an organization's keys (prefixes only)
  iagente-sdr keys revoke --org ID KEY_ID           revoke a key; it answers 401 from then on
  iagente-sdr users create --org ID --email E [--name N] [--password-stdin] [--json]
                                                    create a dashboard user; the password is generated and
                                                    printed once, or read from the first line of stdin
  iagente-sdr users list --org ID [--json]          list an organization's dashboard users
  iagente-sdr integrations create --org ID --channel whatsapp|rcs [--provider sandbox|whatsapp_cloud|google_rbm]
              [--name N] [--phone-number N] [--phone-number-id ID] [--waba-id ID] [--agent-id ID] [--json]
                                                    connect a messaging provider; secrets come from
                                                    INTEGRATION_ACCESS_TOKEN (Meta's or RBM's token),
                                                    INTEGRATION_APP_SECRET (Meta) and INTEGRATION_CLIENT_TOKEN
                                                    (RBM's webhook), and WhatsApp's inbound verify token is
                                                    printed once
  iagente-sdr integrations list --org ID [--json]   list an organization's integrations (no secrets)
  iagente-sdr integrations enable|disable --org ID INTEGRATION_ID
  iagente-sdr templates create --org ID --name N --body "Ola {{1}}" [--language pt_BR]
              [--category MARKETING|UTILITY|AUTHENTICATION] [--context C] [--approved] [--json]
  iagente-sdr templates list --org ID [--json]
  iagente-sdr templates sync --org ID [--integration ID] [--json]
                                                    read the templates of the organization's WhatsApp Cloud
                                                    API integrations from Meta (as POST /whatsapp/templates/sync)

Environment:
  DATABASE_URL           postgres://... or sqlite:PATH (default: sqlite file ./iagente-sdr.db)
  LISTEN_ADDR            address to listen on (default :8080; PORT=n also works)
  RESPONSE_VALIDATION    strict | log | off (default log)
  RATE_LIMIT_PER_MINUTE  per API key (default 60)
  RATE_LIMIT_PER_DAY     per API key (default 10000)
  UNAUTHENTICATED_RATE_LIMIT_PER_MINUTE  per client address: docs, failed auth, failed callbacks (default 300)
  TRUSTED_PROXIES        proxies (addresses or CIDRs) whose X-Forwarded-For names the client
  DB_TIMEOUT             a request's database work before the answer is 503 (default 5s)
  MAX_CONCURRENT_REQUESTS  API requests that run at once (default 16 per CPU, at least 32; 0: no bound)
  REQUEST_QUEUE_TIMEOUT  how long a request past that bound waits before a 503 (default 5s)
  LOG_LEVEL              debug | info | warn | error (default info)
  WHATSAPP_API_BASE_URL  Meta Graph API base URL (default https://graph.facebook.com)
  WHATSAPP_API_VERSION   Graph API version (default v24.0)
  RBM_API_BASE_URL       Google RBM API base URL (default https://rcsbusinessmessaging.googleapis.com)
  RBM_ACCESS_TOKEN       bearer token for the RBM API
  SEND_TIMEOUT           how long a provider may take to accept a message (default 15s)
  TEMPLATE_SYNC_INTERVAL how often templates are read from Meta (default 1h; off: never)
  TEMPLATE_SYNC_TIMEOUT  how long one account's template listing may take (default 1m)
  DASHBOARD_SECURE_COOKIES  true when TLS ends at a proxy: marks the dashboard's cookies Secure
  WEBHOOK_*              webhook delivery settings; see docs/webhooks.md
`

// stdin is where `users create --password-stdin` reads; tests replace it.
var stdin io.Reader = os.Stdin

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run is the whole program, parameterised so that tests can start and stop
// it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	log := newLogger(getenv("LOG_LEVEL"), stderr)
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout, log)
	case "migrate":
		return migrate(ctx, args, getenv, stdout)
	case "orgs":
		return orgs(ctx, args, getenv, stdout)
	case "keys":
		return keys(ctx, args, getenv, stdout)
	case "users":
		return users(ctx, args, getenv, stdin, stdout)
	case "integrations":
		return integrations(ctx, args, getenv, stdout)
	case "templates":
		return templates(ctx, args, getenv, stdout)
	case "mock":
		// Scripts written before the fakes moved say how to run them now.
		return usagef("the fakes are a binary of their own: iagente-mock %s (go run ./cmd/iagente-mock)", strings.Join(args, " "))
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
