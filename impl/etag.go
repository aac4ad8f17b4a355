package impl

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
)

// ETag returns the lead's entity tag: a strong validator of its
// representation, quoted as the ETag header carries it. It is a digest of
// every field the API shows, so it changes whenever one of them does, and
// every replica computes the same tag from the same row. The digest is
// SHA-256 cut to 128 bits: an organization's leads cannot be made to share
// a tag by chance.
func (l *Lead) ETag() string {
	var buf [256]byte
	b := append(buf[:0], "lead/1"...)
	b = binary.AppendVarint(b, l.ID)
	b = appendField(b, &l.Phone)
	b = appendField(b, l.Name)
	b = appendField(b, l.Email)
	b = appendField(b, l.CompanyName)
	b = appendField(b, &l.Temperature)
	b = binary.AppendVarint(b, int64(l.LeadScore))
	if l.DealValue == nil {
		b = append(b, 0)
	} else {
		b = binary.BigEndian.AppendUint64(append(b, 1), math.Float64bits(*l.DealValue))
	}
	b = binary.AppendVarint(b, l.CreatedAt.UnixMicro())
	b = binary.AppendVarint(b, l.UpdatedAt.UnixMicro())
	return DigestETag(b)
}

// DigestETag is the strong entity tag of a representation whose bytes (or
// canonical input) are b: SHA-256 cut to 128 bits, in URL-safe base64,
// quoted as the ETag header carries it. A page of a list is tagged by its
// body's bytes.
func DigestETag(b []byte) string {
	sum := sha256.Sum256(b)
	var tag [24]byte
	tag[0], tag[23] = '"', '"'
	base64.RawURLEncoding.Encode(tag[1:23], sum[:16])
	return string(tag[:])
}

// appendField appends an optional string: whether it is there, then its
// length and bytes, so that no two different leads give the same input.
func appendField(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(append(b, 1), uint64(len(*s)))
	return append(b, *s...)
}

// MatchesIfMatch reports whether an If-Match header's value lets a change
// go ahead on a resource whose entity tag is current (RFC 9110, 13.1.1):
// "*", or a list with current in it, compared strongly (a weak tag never
// matches).
func MatchesIfMatch(header, current string) bool {
	return matchETags(header, current, false)
}

// MatchesIfNoneMatch reports whether an If-None-Match header's value names
// the resource's current entity tag (RFC 9110, 13.1.2): "*", or a list
// with current in it, compared weakly (W/"x" matches "x").
func MatchesIfNoneMatch(header, current string) bool {
	return matchETags(header, current, true)
}

// matchETags scans a list of entity tags (`"x"`, `W/"x"`, separated by
// commas and optional white space) for current. A tag's opaque part may
// itself hold a comma, so the list is scanned, not split. Anything that is
// not an entity tag ends the scan: it matches nothing. The spec's pattern
// refuses such a header before it gets here.
func matchETags(header, current string, weak bool) bool {
	s := trimOWS(header)
	if s == "*" {
		return true
	}
	for s != "" {
		isWeak := false
		if len(s) >= 2 && s[0] == 'W' && s[1] == '/' {
			isWeak, s = true, s[2:]
		}
		if len(s) < 2 || s[0] != '"' {
			return false
		}
		end := 1
		for end < len(s) && s[end] != '"' {
			end++
		}
		if end == len(s) {
			return false
		}
		tag := s[:end+1]
		if tag == current && (weak || !isWeak) {
			return true
		}
		s = trimOWS(s[end+1:])
		if s == "" {
			break
		}
		if s[0] != ',' {
			return false
		}
		s = trimOWS(s[1:])
	}
	return false
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// ChangedError is the refusal of a change made on the condition that the
// resource is still as its caller read it, when it no longer is. It is an
// EPreconditionFailed application error that also carries the resource's
// current entity tag, which the answer's ETag header gives back.
type ChangedError struct {
	App     *Error
	Current string
}

func (e *ChangedError) Error() string { return e.App.Error() }

// Unwrap gives the application error, for ErrorCode and errors.As.
func (e *ChangedError) Unwrap() error { return e.App }

// ErrLeadChanged is the refusal of a change to a lead whose entity tag is
// now current, not one If-Match named.
func ErrLeadChanged(current string) *ChangedError {
	return &ChangedError{App: Errorf(EPreconditionFailed, "The lead changed since you read it."), Current: current}
}

// CurrentETag returns the current entity tag carried by a ChangedError in
// err's chain.
func CurrentETag(err error) (string, bool) {
	var ce *ChangedError
	if errors.As(err, &ce) {
		return ce.Current, true
	}
	return "", false
}
