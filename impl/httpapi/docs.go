package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl/brand"
	"github.com/iagente/iagente-sdr/impl/reference"
	"github.com/iagente/iagente-sdr/openapi"
)

// registerDocs serves the spec files and the interactive reference
// (impl/reference), with every asset embedded in the binary: the docs work
// with no network and load nothing from another host.
func (s *Server) registerDocs(e *echo.Echo) error {
	specJSON, err := json.Marshal(s.specForServe())
	if err != nil {
		return fmt.Errorf("render spec as JSON: %w", err)
	}
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.YAML)
	})
	e.GET("/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, specJSON)
	})
	// asyncapi.yaml's $refs to ./webhooks.yaml resolve against this server,
	// and webhooks.yaml's to ./openapi.yaml likewise.
	e.GET("/webhooks.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.WebhooksYAML)
	})
	e.GET("/asyncapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openapi.AsyncAPIYAML)
	})
	ref, err := reference.New(openapi.YAML, openapi.WebhooksYAML, BasePath)
	if err != nil {
		return fmt.Errorf("build the API reference: %w", err)
	}
	e.GET("/docs", func(c echo.Context) error { return c.Redirect(http.StatusMovedPermanently, "/docs/") })
	e.Any("/docs/*", echo.WrapHandler(ref))
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

// specForServe returns the spec as written, JSON-ready. It is read from
// openapi.yaml itself, not from gen/api's copy, in which the generator
// capitalised every operationId.
func (s *Server) specForServe() *openapi3.T {
	spec, err := openapi3.NewLoader().LoadFromData(openapi.YAML)
	if err != nil {
		// The build embeds the file that generated gen/api.
		panic(err)
	}
	return spec
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

// metrics exposes counters in the Prometheus text format.
func (s *Server) metrics(c echo.Context) error {
	var b strings.Builder
	b.WriteString("# HELP iagente_response_validation_failures_total Responses that did not match the OpenAPI spec.\n")
	b.WriteString("# TYPE iagente_response_validation_failures_total counter\n")
	b.WriteString("iagente_response_validation_failures_total " + strconv.FormatInt(s.ResponseViolations(), 10) + "\n")
	return c.Blob(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}
