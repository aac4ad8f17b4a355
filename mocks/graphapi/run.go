package graphapi

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

// Run serves a new fake on addr until ctx is done, writing a line when it
// listens and one per request to log (nil: no log). It returns nil after a
// clean shutdown.
func Run(ctx context.Context, addr string, log io.Writer) error {
	return serve(ctx, addr, log, New())
}

func serve(ctx context.Context, addr string, log io.Writer, s *Server) error {
	if log == nil {
		log = io.Discard
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	lw := &lineWriter{w: log}
	srv := &http.Server{
		Handler:           logRequests(s, lw),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests inherit ctx, so a delayed answer ends with the server
		// instead of holding up the shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	lw.printf("fake Meta Graph API listening on http://%s\n", ln.Addr())

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
	s.Close()
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
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

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests logs method, path and answer. Headers and the query are left
// out because they carry the access token (Authorization, access_token=).
func logRequests(h http.Handler, log *lineWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		answer := "no answer (client gone)"
		if rec.status != 0 {
			answer = fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status))
		}
		log.printf("%s %s %s -> %s in %s\n", start.UTC().Format(time.RFC3339), r.Method, r.URL.EscapedPath(), answer,
			time.Since(start).Round(time.Millisecond))
	})
}
