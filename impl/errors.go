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

	// If-Match names none of the resource's current entity tags: it
	// changed since the caller read it (ChangedError).
	EPreconditionFailed = "precondition_failed" // 412
)

// Error is an application error: a code, a message safe to show to the
// caller, and optional per-field details keyed by field path.
//
// The details are kept in the two languages the API answers in: English in
// Details, and Brazilian Portuguese, the API's default, in DetailsPtBR. A
// detail added with WithDetail alone has no translation and is filed under
// both in English. Message is English in both languages, as the API
// reference shows it ("The given data was invalid.").
type Error struct {
	Code        string
	Message     string
	Details     map[string][]string
	DetailsPtBR map[string][]string
}

// Text is one message in the languages the API answers in.
type Text struct {
	En   string
	PtBR string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an application error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetail adds a message about one field, in English only, and returns
// the error.
func (e *Error) WithDetail(field, message string) *Error {
	return e.WithDetailText(field, Text{En: message, PtBR: message})
}

// WithDetailText adds a message about one field in each language and
// returns the error.
func (e *Error) WithDetailText(field string, t Text) *Error {
	if e.Details == nil {
		e.Details = map[string][]string{}
	}
	if e.DetailsPtBR == nil {
		e.DetailsPtBR = map[string][]string{}
	}
	e.Details[field] = append(e.Details[field], t.En)
	e.DetailsPtBR[field] = append(e.DetailsPtBR[field], t.PtBR)
	return e
}

// DetailsIn returns the details in the given language: LangEn, or LangPtBR
// (anything else). Details never translated fall back to English.
func (e *Error) DetailsIn(lang string) map[string][]string {
	if lang != LangEn && e.DetailsPtBR != nil {
		return e.DetailsPtBR
	}
	return e.Details
}

// The languages the API answers in; pt-BR is the default.
const (
	LangPtBR = "pt-BR"
	LangEn   = "en"
)

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
