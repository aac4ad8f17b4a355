package webhookreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Run serves a new receiver for path on addr until ctx is done, accepting
// deliveries signed with any of secrets. It writes a line when it listens
// and one per request to log (nil: no log): time, path, event, X-Webhook-Id
// and the verdict. It returns an error before listening if path or a secret is
// unusable, and nil after a clean shutdown.
func Run(ctx context.Context, addr, path string, secrets []string, log io.Writer) error {
	if err := checkPath(path); err != nil {
		return fmt.Errorf("webhookreceiver: %w", err)
	}
	if len(secrets) == 0 {
		return errors.New("webhookreceiver: no signing secret")
	}
	for i, s := range secrets {
		if err := checkSecret(s); err != nil {
			// The position, never the value, names the secret: this error
			// is printed to a terminal and may end up in CI logs.
			return fmt.Errorf("webhookreceiver: secret #%d %w", i+1, err)
		}
	}
	if log == nil {
		log = io.Discard
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	lw := &lineWriter{w: log}
	r := New(path, secrets...)
	// Set before serving: handlers only read it.
	r.report = func(v verdict) {
		lw.printf("%s %s %s %s %s\n", v.at.UTC().Format(time.RFC3339), orDash(v.path), orDash(v.event), orDash(v.webhookID), v.text)
	}
	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests inherit ctx, so a programmed delay ends with the server
		// instead of holding up the shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	lw.printf("webhook receiver listening on http://%s%s (%d secret(s); control API under %s/)\n", ln.Addr(), path, len(secrets), controlPrefix)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}

// orDash keeps the columns of a log line aligned when a header is missing.
// Header values come from the sender, hence the cap and the quoting of
// anything unusual: a log line must stay one line and readable.
func orDash(s string) string {
	const maxLen = 64
	switch {
	case s == "":
		return "-"
	case len(s) > maxLen:
		return fmt.Sprintf("%q...", s[:maxLen])
	}
	for _, c := range s {
		if c <= ' ' || c > '~' {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

// lineWriter serializes log lines from concurrent requests.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}
