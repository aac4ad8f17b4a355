package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/httpapi"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dev := fs.Bool("dev", false, "on an empty embedded database, create a development organization and print its API key")
	if err := fs.Parse(args); err != nil {
		return usagef("serve: %v", err)
	}
	cfg, err := app.FromEnv(getenv)
	if err != nil {
		return err
	}
	cfg.Logger = log

	// The listener comes first: while the service opens (database,
	// migrations, the spec) the process already answers /healthz ("up") and
	// every other path 503 with Retry-After, /readyz included, so neither a
	// person nor a load balancer meets a refused connection.
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	handler := &swappable{}
	handler.h.Store(&startingHandler)
	// Counted from the first connection, so that the bound's count is
	// right once the API serves.
	conns := &httpapi.Connections{}
	cfg.Connections = conns
	srv := &http.Server{
		Handler:           handler,
		ConnState:         conns.Track,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    httpapi.ListenerMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	// A request net/http cannot read is answered with the JSON envelope too.
	go func() { errc <- srv.Serve(httpapi.EnvelopeProtocolErrors(ln)) }()
	closeEarly := func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}
	// failEarly stops the listener on a start-up error; a stop signal during
	// start-up is a clean stop, not a failure of the step it interrupted.
	failEarly := func(err error) error {
		closeEarly()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	if addr := getenv("PPROF_ADDR"); addr != "" {
		pln, err := pprofListen(addr)
		if err != nil {
			return failEarly(err)
		}
		defer pln.Close()
		servePprof(pln, log)
	}
	a, err := app.Open(ctx, cfg)
	if err != nil {
		return failEarly(err)
	}
	defer a.Close()
	base := baseURL(ln.Addr())
	// The dev banner (with its key and curl line) is printed only once the
	// API answers, so whoever copies the line never meets the starting 503.
	var banner bytes.Buffer
	if *dev {
		if err := devBootstrap(ctx, a.Stores, base, &banner); err != nil {
			return failEarly(err)
		}
		if a.Stores.DB.Dialect() == sqlstore.SQLite {
			// The API reference's WhatsApp text example writes freely to a
			// contact; under the 24-hour rule, that contact must have
			// written first (see app.EnsureDevWindow).
			if err := a.EnsureDevWindow(ctx); err != nil {
				return failEarly(err)
			}
			devCtx, stopDev := context.WithCancel(ctx)
			defer stopDev()
			go keepDevWindowOpen(devCtx, a, log)
		}
	}
	var h http.Handler = a.Server
	handler.h.Store(&h)
	if _, err := banner.WriteTo(stdout); err != nil {
		return failEarly(err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "database", string(a.Stores.DB.Dialect()),
		"response_validation", orDefault(cfg.ResponseValidation, "log"),
		"rate_limit_per_minute", cfg.RatePerMinute, "rate_limit_per_day", cfg.RatePerDay)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Leave the load balancer's rotation before closing the listener: /readyz
	// says 503 at once, new requests are still served for the drain period
	// (a balancer that has not yet seen the 503 may send some), connections
	// stop being kept alive, and only then does the listener close and the
	// requests in flight finish.
	log.Info("draining", "for", cfg.ShutdownDrain.String())
	a.Server.Drain()
	srv.SetKeepAlivesEnabled(false)
	time.Sleep(cfg.ShutdownDrain)
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startPprof serves net/http/pprof on addr, a listener of its own that
// must never be the public one (say 127.0.0.1:6060): profiles show a
// running server's costs, and nothing of the API is reachable there.
// pprofListen listens on addr for net/http/pprof, which shows the process's
// memory, goroutines and command line to whoever reaches it: addr must be
// bound to a loopback address, and is refused (with the start) otherwise.
// The address is checked where it was bound, so that a name resolving
// elsewhere, or a host left out (":6060", every interface), is refused too.
func pprofListen(addr string) (net.Listener, error) {
	refuse := func(why string) error {
		return fmt.Errorf("PPROF_ADDR %q %s: net/http/pprof must never be reachable from outside, "+
			"so it listens only on loopback, e.g. PPROF_ADDR=127.0.0.1:6060 (reach it through an SSH tunnel)", addr, why)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, refuse("is not host:port")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("PPROF_ADDR: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, refuse("is not a loopback address")
	}
	return ln, nil
}

// servePprof serves net/http/pprof on ln until ln is closed.
func servePprof(ln net.Listener, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		log.Info("pprof listening", "addr", ln.Addr().String())
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("pprof", "err", err.Error())
		}
	}()
}

// swappable serves with whichever handler it holds now: the starting
// handler, then the service.
type swappable struct{ h atomic.Pointer[http.Handler] }

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

// startingHandler answers while the service opens.
var startingHandler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/healthz" {
		_, _ = io.WriteString(w, `{"status":"starting"}`)
		return
	}
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `{"error":{"code":"service_unavailable","message":"The server is starting. Retry after 1 second.","details":{}}}`)
})

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// baseURL is how a person on this machine reaches the listener.
func baseURL(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("http://%s:%s", host, port)
}

// keepDevWindowOpen checks the development contact's window every
// devWindowCheck until ctx ends.
func keepDevWindowOpen(ctx context.Context, a *app.App, log *slog.Logger) {
	t := time.NewTicker(devWindowCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.EnsureDevWindow(ctx); err != nil && ctx.Err() == nil {
				log.Warn("keeping the development contact's window open", "err", err.Error())
			}
		}
	}
}

// devWindowCheck is how often a --dev server checks the development
// contact's 24-hour window.
const devWindowCheck = 10 * time.Minute

// devUserEmail signs in to the development dashboard.
const devUserEmail = "dev@iagente.local"

// devBootstrap gives a new user something to try: on an empty embedded
// database it creates an organization and prints its key once, with a curl
// line that works as it is.
func devBootstrap(ctx context.Context, db *sqlstore.Stores, base string, out io.Writer) error {
	if db.DB.Dialect() != sqlstore.SQLite {
		fmt.Fprintln(out, "iagente-sdr: --dev only bootstraps the embedded SQLite database; create an organization with `iagente-sdr orgs create NAME`.")
		return nil
	}
	n, err := db.Organizations.CountOrganizations(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(out, `
iagente-sdr: the development database already has organizations, and keys are only shown when created.
Make another key with:  go run ./cmd/iagente-sdr keys create --org 1
Another dashboard user: go run ./cmd/iagente-sdr users create --org 1 --email you@example.com
Interactive docs:       %s/docs/
Dashboard:              %s/dashboard/

`, base, base)
		return nil
	}
	org := &impl.Organization{Name: "Development"}
	if err := db.Organizations.CreateOrganization(ctx, org); err != nil {
		return err
	}
	_, key, err := auth.Issue(ctx, db.APIKeys, org.ID, "development")
	if err != nil {
		return err
	}
	wa, rcs, err := app.SeedMessaging(ctx, db, org.ID)
	if err != nil {
		return err
	}
	password, err := auth.NewPassword()
	if err != nil {
		return err
	}
	user, err := createUser(ctx, db.Users, org.ID, devUserEmail, "Desenvolvimento", password)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
================================================================================
 iagente-sdr development server

 Organization: %q (id %d)
 API key (shown once, keep it): %s

 Try it:
   curl -X GET "%s/api/v1/leads" \
     -H "Authorization: Bearer %s" \
     -H "Content-Type: application/json"

 Messaging goes through sandbox integrations (nothing leaves the machine):
   WhatsApp integration_id %d, RCS integration_id %d, template "boas_vindas".

 Interactive docs: %s/docs/

 Dashboard ("Configurar API/Webhook"): %s/dashboard/
   e-mail: %s
   password (shown once, keep it): %s
================================================================================

`, org.Name, org.ID, key, base, key, wa.ID, rcs.ID, base, base, user.Email, password)
	return nil
}
