package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
)

// statusOf is the one mapping from application error codes to HTTP.
var statusOf = map[string]int{
	impl.EBadRequest:       http.StatusBadRequest,
	impl.EUnauthorized:     http.StatusUnauthorized,
	impl.ENotFound:         http.StatusNotFound,
	impl.EMethodNotAllowed: http.StatusMethodNotAllowed,
	impl.EConflict:         http.StatusConflict,
	impl.EPayloadTooLarge:  http.StatusRequestEntityTooLarge,
	impl.EValidation:       http.StatusUnprocessableEntity,
	impl.ERateLimited:      http.StatusTooManyRequests,
	impl.EInternal:         http.StatusInternalServerError,

	impl.EUnsupportedMediaType:  http.StatusUnsupportedMediaType,
	impl.EHeaderTooLarge:        http.StatusRequestHeaderFieldsTooLarge,
	impl.EUnavailable:           http.StatusServiceUnavailable,
	impl.EIdempotencyKeyReused:  http.StatusUnprocessableEntity,
	impl.EIdempotencyInProgress: http.StatusConflict,
	impl.EPreconditionFailed:    http.StatusPreconditionFailed,

	impl.EIntegrationNotFound: http.StatusNotFound,
	impl.ESendFailed:          http.StatusInternalServerError,
	impl.EOutsideWindow:       http.StatusUnprocessableEntity,
	impl.ESyncFailed:          http.StatusBadGateway,
	eForbidden:                http.StatusForbidden,
}

// envelope is the body of every error response.
type envelope struct {
	Error envelopeError `json:"error"`
}

type envelopeError struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Details map[string][]string `json:"details"`
}

const internalMessage = "Something went wrong on our side."

// appError turns any error into an application error. Errors that are not
// application errors or known transport errors are internal: their text
// stays in the log, never in the response.
func appError(err error) (*impl.Error, bool) {
	var ae *impl.Error
	if errors.As(err, &ae) {
		return ae, true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return tooLargeError(), true
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return impl.Errorf(impl.ENotFound, "No such route. See /docs for the API reference."), true
		case http.StatusMethodNotAllowed:
			return impl.Errorf(impl.EMethodNotAllowed, "This route does not accept this method; see the Allow header."), true
		case http.StatusRequestEntityTooLarge:
			return tooLargeError(), true
		case http.StatusBadRequest, http.StatusUnsupportedMediaType:
			return impl.Errorf(impl.EBadRequest, "The request could not be read."), true
		}
	}
	return impl.Errorf(impl.EInternal, internalMessage), false
}

// retryAfterUnavailable is the Retry-After of a 503, in seconds: long
// enough for a restarting database, short enough not to strand a client.
const retryAfterUnavailable = 2

func unavailableError() *impl.Error {
	return impl.Errorf(impl.EUnavailable, "The service is temporarily unavailable. Retry after %d seconds.", retryAfterUnavailable)
}

// unavailable reports whether err means the database could not do the
// work: the store's verdict, or a request deadline that ran out.
func (s *Server) unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return s.cfg.Unavailable != nil && s.cfg.Unavailable(err)
}

func tooLargeError() *impl.Error {
	return impl.Errorf(impl.EPayloadTooLarge, "The request body is larger than 1 MiB.")
}

// handleError is echo's HTTPErrorHandler: every error, from any layer,
// leaves the server as the JSON envelope.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae, known := appError(err)
	if !known && s.unavailable(err) {
		ae, known = unavailableError(), true
		logger(c.Request().Context()).Warn("database unavailable", "err", err.Error())
	}
	if ae.Code == impl.EUnavailable {
		c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterUnavailable))
	}
	if etag, ok := impl.CurrentETag(err); ok {
		c.Response().Header().Set("ETag", etag)
	}
	if !known {
		logger(c.Request().Context()).Error("internal error", "err", err.Error())
	}
	s.writeError(c, ae)
}

func (s *Server) writeError(c echo.Context, ae *impl.Error) {
	status, ok := statusOf[ae.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	details := ae.DetailsIn(negotiateLanguage(c.Request().Header.Get("Accept-Language")))
	if details == nil {
		details = map[string][]string{}
	}
	body := envelope{Error: envelopeError{Code: ae.Code, Message: ae.Message, Details: details}}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if err := c.JSON(status, body); err != nil {
		logger(c.Request().Context()).Error("write error response", "err", err.Error())
	}
}
