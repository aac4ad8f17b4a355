package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/brand"
	"github.com/iagente/iagente-sdr/impl/reference"
	"github.com/iagente/iagente-sdr/openapi"
)

// registerDocs serves the spec files and the interactive reference
// (impl/reference), with every asset embedded in the binary: the docs work
// with no network and load nothing from another host.
//
// The JSON spec and the reference are built on their first request, not at
// start: each parses the whole spec (the reference with its samples), which
// took a third of app.Open and stayed in memory in every replica, most of
// which never serve a page of docs. A build defect there is caught by the
// tests that fetch them.
func (s *Server) registerDocs(e *echo.Echo) error {
	specJSON := sync.OnceValues(func() ([]byte, error) {
		// Read from openapi.yaml itself, not from gen/api's copy, in which
		// the generator capitalised every operationId.
		spec, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
		if err != nil {
			return nil, fmt.Errorf("load openapi.yaml: %w", err)
		}
		return json.Marshal(spec)
	})
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.YAML)
	})
	e.GET("/openapi.json", func(c echo.Context) error {
		b, err := specJSON()
		if err != nil {
			return fmt.Errorf("render spec as JSON: %w", err)
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
	})
	// asyncapi.yaml's $refs to ./webhooks.yaml resolve against this server,
	// and webhooks.yaml's to ./openapi.yaml likewise.
	e.GET("/webhooks.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.WebhooksYAML)
	})
	e.GET("/asyncapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.AsyncAPIYAML)
	})
	ref := sync.OnceValues(func() (*reference.Handler, error) {
		return reference.New(openapi.YAML, openapi.WebhooksYAML, BasePath)
	})
	docs := func(c echo.Context) error {
		h, err := ref()
		if err != nil {
			// A build defect; the error handler logs it and answers 500.
			return fmt.Errorf("build the API reference: %w", err)
		}
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	e.GET("/docs", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/docs/") })
	e.Any("/docs/*", docs)
	e.GET("/favicon.ico", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		return c.Blob(http.StatusOK, "image/x-icon", brand.FaviconICO())
	})
	e.GET("/favicon.svg", func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		return c.Blob(http.StatusOK, "image/svg+xml", brand.FaviconSVG)
	})
	return nil
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "draining", "reason": "the server is stopping"})
	}
	if s.cfg.Ready != nil {
		if err := s.ready(c.Request().Context()); err != nil {
			logger(c.Request().Context()).Warn("not ready", "err", err.Error())
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database did not answer"})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// readyTimeout is how long /readyz waits for the database.
const readyTimeout = 2 * time.Second

// ready runs the readiness check with its own clock: a frozen database
// may ignore the context, and a probe that hangs is worse than one that
// says no.
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.cfg.Ready(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// metrics exposes counters and gauges in the Prometheus text format: the
// responses that broke the spec, and every webhook's backlog (labelled with
// its organization and id, so /metrics belongs behind the operators' own
// network or METRICS_TOKEN, as it tells customers' volumes apart; see
// allowMetrics).
func (s *Server) metrics(c echo.Context) error {
	if err := s.allowMetrics(c); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# HELP iagente_response_validation_failures_total Responses that did not match the OpenAPI spec.\n")
	b.WriteString("# TYPE iagente_response_validation_failures_total counter\n")
	b.WriteString("iagente_response_validation_failures_total " + strconv.FormatInt(s.ResponseViolations(), 10) + "\n")
	if a := s.admission; a != nil {
		a.writeMetrics(&b)
	}
	if s.cfg.DeepPages != nil {
		afterMark, mended, walked := s.cfg.DeepPages()
		b.WriteString("# HELP iagente_lead_deep_pages_total Numbered pages of GET /leads that start past the 500th lead, by how they were read: after the lead this process last saw just before the page (the list unchanged since), after that lead moved past the leads that arrived since and the leads this process's own writes moved across it (the list changed by those alone), or walked to from the list's start.\n")
		b.WriteString("# TYPE iagente_lead_deep_pages_total counter\n")
		b.WriteString(`iagente_lead_deep_pages_total{read="after_mark"} ` + strconv.FormatInt(afterMark, 10) + "\n")
		b.WriteString(`iagente_lead_deep_pages_total{read="mended"} ` + strconv.FormatInt(mended, 10) + "\n")
		b.WriteString(`iagente_lead_deep_pages_total{read="walked"} ` + strconv.FormatInt(walked, 10) + "\n")
	}
	if s.cfg.Backlog != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 5*time.Second)
		defer cancel()
		backlogs, err := s.backlogs.read(ctx, s.cfg.Backlog, s.now())
		if err != nil {
			// The other metrics still help; the missing series say the rest.
			logger(ctx).Warn("read webhook backlogs for /metrics", "err", err.Error())
		} else {
			writeBacklogMetrics(&b, backlogs, time.Now())
		}
	}
	s.requests.write(&b)
	for _, write := range s.cfg.MetricsWriters {
		write(&b)
	}
	// The Go runtime's (heap, collections, goroutines) and the process's
	// (CPU, resident memory, open files) own.
	metrics.WriteProcessMetrics(&b)
	return c.Blob(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}

// writeBacklogMetrics writes a series per webhook with pending deliveries,
// and the totals.
func writeBacklogMetrics(b *strings.Builder, backlogs []impl.WebhookBacklog, now time.Time) {
	var pending int64
	var oldest time.Duration
	for _, w := range backlogs {
		pending += w.Pending
		if w.OldestPendingAt != nil {
			oldest = max(oldest, now.Sub(*w.OldestPendingAt))
		}
	}
	gauge := func(name, help string) {
		b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n")
	}
	labels := func(w impl.WebhookBacklog) string {
		return `{organization_id="` + strconv.FormatInt(w.OrganizationID, 10) + `",webhook_id="` + strconv.FormatInt(w.WebhookID, 10) + `"}`
	}
	gauge("iagente_webhook_pending_deliveries", "Deliveries waiting to be delivered (due, being attempted or waiting for a retry), per webhook with any.")
	for _, w := range backlogs {
		b.WriteString("iagente_webhook_pending_deliveries" + labels(w) + " " + strconv.FormatInt(w.Pending, 10) + "\n")
	}
	gauge("iagente_webhook_oldest_pending_age_seconds", "Age of the oldest pending delivery, per webhook with any.")
	for _, w := range backlogs {
		if w.OldestPendingAt != nil {
			age := max(0, now.Sub(*w.OldestPendingAt)).Seconds()
			b.WriteString("iagente_webhook_oldest_pending_age_seconds" + labels(w) + " " + strconv.FormatFloat(age, 'f', 3, 64) + "\n")
		}
	}
	gauge("iagente_webhooks_pending_deliveries", "Deliveries waiting to be delivered, all webhooks together.")
	b.WriteString("iagente_webhooks_pending_deliveries " + strconv.FormatInt(pending, 10) + "\n")
	gauge("iagente_webhooks_oldest_pending_age_seconds", "Age of the oldest pending delivery of any webhook; 0 without any.")
	b.WriteString("iagente_webhooks_oldest_pending_age_seconds " + strconv.FormatFloat(max(0, oldest).Seconds(), 'f', 3, 64) + "\n")
}
