package impl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"time"
)

// IdempotencyTTL is how long a key's outcome is kept and replayed.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyRecord is what is kept of a request made with an
// Idempotency-Key: which request it was (Fingerprint) and, once it has
// finished, its answer.
type IdempotencyRecord struct {
	OrganizationID int64
	Key            string
	Fingerprint    []byte
	// Status is the answer's HTTP status; 0 while the request runs.
	Status      int
	ContentType string
	Location    string
	ETag        string
	Body        []byte
	// LockedUntil is the running request's lease: past it, the process that
	// ran it is presumed dead and a retry may take the key over.
	LockedUntil time.Time
	CreatedAt   time.Time
}

// IdempotencyFingerprint identifies a request: its method, its path with the
// query, and its body byte for byte. The same key with another fingerprint
// is another request.
func IdempotencyFingerprint(method, pathAndQuery string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(pathAndQuery))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// What to do with a request whose key is already known.
const (
	IdempotencyRun        = "run"         // new, expired or abandoned: run it
	IdempotencyReplay     = "replay"      // finished: answer what it answered
	IdempotencyInProgress = "in_progress" // still running elsewhere: 409, retry later
	IdempotencyReused     = "reused"      // another request had this key: 422
)

// Decide says what a request with fingerprint, arriving at now, does with
// r, the record its key already has (nil when it has none).
func (r *IdempotencyRecord) Decide(fingerprint []byte, now time.Time) string {
	switch {
	case r == nil, now.Sub(r.CreatedAt) >= IdempotencyTTL:
		return IdempotencyRun
	case !bytes.Equal(r.Fingerprint, fingerprint):
		return IdempotencyReused
	case r.Status != 0:
		return IdempotencyReplay
	case now.Before(r.LockedUntil):
		return IdempotencyInProgress
	default:
		// The request started but its process never finished it: run it
		// again. Work it did that must not be repeated (a message sent)
		// finds itself through IdempotencyKey and is not done twice.
		return IdempotencyRun
	}
}

// IdempotencyStore keeps the records of requests made with an
// Idempotency-Key, scoped to an organization.
type IdempotencyStore interface {
	// BeginIdempotent claims key for a request with fingerprint, leased
	// until leaseUntil, when Decide says IdempotencyRun; it then returns the
	// claim and true. Otherwise it returns the existing record and false.
	// Of concurrent requests with the same key, exactly one claims it.
	BeginIdempotent(ctx context.Context, orgID int64, key string, fingerprint []byte, now, leaseUntil time.Time) (*IdempotencyRecord, bool, error)
	// FinishIdempotent stores the answer of the request that claimed key.
	FinishIdempotent(ctx context.Context, r *IdempotencyRecord) error
	// ReleaseIdempotent ends at once the claim of a key whose request could
	// not run (the database was unavailable), so that a retry of the same
	// request runs it; the key still names that request, and another
	// request with it is IdempotencyReused.
	ReleaseIdempotent(ctx context.Context, orgID int64, key string) error
	// SweepIdempotent deletes a bounded batch of the organization's keys
	// created before before, and returns how many it deleted. Each claimed
	// key sweeps a batch once its answer is kept, so the table stays the
	// size of a day's traffic without a job of its own, and a slow sweep
	// never fails the request.
	SweepIdempotent(ctx context.Context, orgID int64, before time.Time) (int, error)
}

// ErrDoneEarlier is what a store returns when what it was asked to do (create
// a webhook or an API key, rotate a secret, regenerate a key) was already
// done, within IdempotencyTTL, by a request with the same Idempotency-Key
// whose answer was lost after the commit: its key was given back, as in any
// outage, and this is its retry. The store has filled in what that request
// stored, for the retry to answer with, marked Idempotent-Replayed, instead
// of doing it a second time.
var ErrDoneEarlier = errors.New("done earlier under this Idempotency-Key")

type ctxIdempotencyKey struct{}

// WithIdempotencyKey returns ctx carrying the request's Idempotency-Key, for
// work that must not be done twice across a crash (a message sent).
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, ctxIdempotencyKey{}, key)
}

// IdempotencyKey returns the Idempotency-Key of the request ctx belongs to,
// or "".
func IdempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(ctxIdempotencyKey{}).(string)
	return k
}
