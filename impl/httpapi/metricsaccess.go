package httpapi

import (
	"context"
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/iagente/iagente-sdr/impl"
)

// allowMetrics lets a request read /metrics. With a MetricsToken it must
// present it as a bearer token; without one anyone may, as for the docs,
// within the address's limit. A wrong or missing token counts against the
// address as a failed API authentication does, and is answered 401 with
// the error envelope.
func (s *Server) allowMetrics(c echo.Context) error {
	if s.cfg.MetricsToken == "" {
		return s.countAddress(c)
	}
	if err := s.addressGate(c); err != nil {
		return err
	}
	got, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.MetricsToken)) == 1 {
		return nil
	}
	if err := s.countAddress(c); err != nil {
		return err
	}
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="iagente-sdr metrics"`)
	return impl.Errorf(impl.EUnauthorized, "/metrics needs the operators' token: 'Authorization: Bearer <METRICS_TOKEN>'.")
}

// backlogMaxAge is how long /metrics reuses a read of the backlogs. A read
// counts every webhook's pending deliveries, which costs the database more
// the longer the backlogs; scrapes come every 15 s or so, and a request
// for /metrics that comes sooner, from a second scraper or a flood, gets
// the last read instead of another.
const backlogMaxAge = time.Second

// backlogRead is the last read of the backlogs. Requests that arrive while
// a read runs wait for it and share what it returns, error included
// (golang.org/x/sync/singleflight): a frozen database sees one read at a
// time from /metrics, however many requests wait.
type backlogRead struct {
	flight singleflight.Group
	mu     sync.Mutex
	at     time.Time
	last   []impl.WebhookBacklog
}

// read returns a read of the backlogs no older than backlogMaxAge.
func (r *backlogRead) read(ctx context.Context, from impl.BacklogReader, now time.Time) ([]impl.WebhookBacklog, error) {
	r.mu.Lock()
	at, last := r.at, r.last
	r.mu.Unlock()
	if age := now.Sub(at); !at.IsZero() && age >= 0 && age < backlogMaxAge {
		return last, nil
	}
	v, err, _ := r.flight.Do("backlogs", func() (any, error) {
		backlogs, err := from.WebhookBacklogs(ctx)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.at, r.last = now, backlogs
		r.mu.Unlock()
		return backlogs, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]impl.WebhookBacklog), nil
}
