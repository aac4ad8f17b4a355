// Package impl holds the domain of iagente-sdr: its types, the application
// error codes, and the service interfaces that the store implements and the
// HTTP layer calls. Subpackages are named after what they depend on.
package impl

import (
	"errors"
	"fmt"
)

// Application error codes. Each maps to exactly one HTTP status, in one place
// (impl/httpapi); the codes are the `error.code` values the spec enumerates.
const (
	EBadRequest       = "bad_request"
	EUnauthorized     = "unauthorized"
	ENotFound         = "not_found"
	EMethodNotAllowed = "method_not_allowed"
	EConflict         = "conflict"
	EPayloadTooLarge  = "payload_too_large"
	EValidation       = "validation_error"
	ERateLimited      = "rate_limit_exceeded"
	EInternal         = "internal_error"

	EUnsupportedMediaType = "unsupported_media_type"          // 415: a charset other than utf-8
	EHeaderTooLarge       = "request_header_fields_too_large" // 431
	EUnavailable          = "service_unavailable"             // 503: the database is down or too slow

	// Idempotency-Key: the key was used for another request, or the first
	// request with it is still running.
	EIdempotencyKeyReused  = "idempotency_key_reused"  // 422
	EIdempotencyInProgress = "idempotency_in_progress" // 409
)

// Error is an application error: a code, a message safe to show to the
// caller, and optional per-field details keyed by field path.
type Error struct {
	Code    string
	Message string
	Details map[string][]string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an application error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail adds a message about one field and returns the error.
func (e *Error) WithDetail(field, message string) *Error {
	if e.Details == nil {
		e.Details = map[string][]string{}
	}
	e.Details[field] = append(e.Details[field], message)
	return e
}

// ErrorCode returns the code of the application error in err's chain, or
// EInternal for any other non-nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
