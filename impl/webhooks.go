package impl

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhook is a partner URL that receives the organization's events.
type Webhook struct {
	ID             int64
	OrganizationID int64
	Name           string
	URL            string
	Events         []string
	Active         bool
	MaxAttempts    int32
	// IsDefault marks the webhook the dashboard's "Webhook" field saves; an
	// organization has at most one.
	IsDefault bool
	// DisabledReason and DisabledAt are set while Active is false.
	DisabledReason          *string
	DisabledAt              *time.Time
	PreviousSecretExpiresAt *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
	// Backlog is what waits to be delivered to the webhook, as of the read.
	Backlog WebhookBacklog
	// Secret is set only when the webhook is created or its secret rotated,
	// the one time the API shows it.
	Secret string
}

// Webhook defaults and limits beyond what the spec checks.
const (
	DefaultMaxAttempts = 8
	// DefaultWebhookName names the default webhook when the dashboard creates it.
	DefaultWebhookName = "Webhook padrão"
	// SecretGrace is how long deliveries are also signed with the secret
	// before a rotation.
	SecretGrace = 24 * time.Hour
)

// Why a webhook was disabled, as DisabledReason says it.
const (
	DisabledThroughAPI = "disabled through the API"
	DisabledGone       = "the receiver answered 410 Gone"
)

// WebhookSecretPrefix starts every signing secret. Standard Webhooks
// libraries strip it before base64-decoding the key, so the secrets we issue
// work with them as they are.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a new signing secret: WebhookSecretPrefix and the
// standard base64 of 32 random bytes. 32 bytes is the SHA-256 output size,
// the key length RFC 2104 recommends for HMAC-SHA256; more adds nothing.
func NewWebhookSecret() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// PrepareNew gives a webhook about to be created its starting state: active,
// never disabled, DefaultMaxAttempts unless it names its own, and a new
// signing secret in Secret.
func (w *Webhook) PrepareNew(orgID int64, now time.Time) {
	w.OrganizationID = orgID
	w.Active = true
	if w.MaxAttempts == 0 {
		w.MaxAttempts = DefaultMaxAttempts
	}
	w.DisabledReason, w.DisabledAt, w.PreviousSecretExpiresAt = nil, nil, nil
	w.CreatedAt, w.UpdatedAt = now, now
	w.Secret = NewWebhookSecret()
}

// WebhookPatch lists the fields to change; nil fields stay as they are.
type WebhookPatch struct {
	Name        *string
	URL         *string
	Events      []string
	Active      *bool
	MaxAttempts *int32
}

// WebhookChange is what applying a patch did to a webhook.
type WebhookChange struct {
	Changed bool // some field changed; updated_at moves
	// Enabled and Disabled say that Active changed. Enabling clears the
	// disabled state and the count of failed deliveries; disabling fails the
	// pending deliveries, which would otherwise wait forever (they can be
	// redelivered once the webhook is on again).
	Enabled, Disabled bool
}

// Apply changes w as p says, at now, and reports what changed.
func (w *Webhook) Apply(p WebhookPatch, now time.Time) WebhookChange {
	var c WebhookChange
	if p.Name != nil {
		w.Name, c.Changed = *p.Name, true
	}
	if p.URL != nil {
		w.URL, c.Changed = *p.URL, true
	}
	if p.MaxAttempts != nil {
		w.MaxAttempts, c.Changed = *p.MaxAttempts, true
	}
	if p.Events != nil {
		w.Events, c.Changed = SubscribedEvents(p.Events), true
	}
	if p.Active != nil && *p.Active != w.Active {
		c.Changed = true
		if *p.Active {
			c.Enabled = true
			w.Active, w.DisabledReason, w.DisabledAt = true, nil, nil
		} else {
			c.Disabled = true
			reason := DisabledThroughAPI
			w.Active, w.DisabledReason, w.DisabledAt = false, &reason, &now
		}
	}
	if c.Changed {
		w.UpdatedAt = now
	}
	return c
}

// SubscribedEvents returns events without repeats, in the catalog's order.
func SubscribedEvents(events []string) []string {
	set := make(map[string]bool, len(events))
	for _, e := range events {
		set[e] = true
	}
	out := make([]string, 0, len(set))
	for _, e := range EventTypes {
		if set[e] {
			out = append(out, e)
		}
	}
	return out
}

// CanRedeliver returns EConflict when a delivery in status may not be sent
// again to w: a pending delivery is still being attempted on its own, and a
// disabled webhook receives nothing until it is enabled.
func (w *Webhook) CanRedeliver(status string) error {
	if status == DeliveryPending {
		return Errorf(EConflict, "This delivery is still pending; it will be attempted again on its own.")
	}
	return w.CanReceive()
}

// CanReceive returns EConflict when w is disabled: it receives nothing,
// redeliveries included, until it is enabled.
func (w *Webhook) CanReceive() error {
	if !w.Active {
		return Errorf(EConflict, "This webhook is disabled; set it active again before redelivering.")
	}
	return nil
}

// DisableAfterFailures says whether a webhook whose last failures
// deliveries in a row all failed every attempt is disabled, and why:
// disableAfter of them do it (0 never does).
func DisableAfterFailures(failures, disableAfter int) (reason string, disable bool) {
	if disableAfter > 0 && failures >= disableAfter {
		return fmt.Sprintf("the last %d deliveries failed every attempt", failures), true
	}
	return "", false
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// ResponseExcerptBytes is how much of a non-2xx answer's body an attempt
// keeps (the spec's ResponseBodyExcerpt): enough for the error a receiver
// explains itself with, little enough for a log kept 30 days.
const ResponseExcerptBytes = 1024

// ResponseExcerpt is the text an attempt keeps of the start of an answer's
// body: at most ResponseExcerptBytes of it, a character cut at the end left
// out, each run of bytes that are not UTF-8 and each NUL (which
// PostgreSQL's text refuses) read as U+FFFD; nil when nothing is left.
func ResponseExcerpt(b []byte) *string {
	if len(b) > ResponseExcerptBytes {
		b = b[:ResponseExcerptBytes]
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	if len(b) == 0 {
		return nil
	}
	s := PlainText(string(b))
	return &s
}

// PlainText is s as text every store keeps and every JSON encoder writes
// as it is: each run of bytes that are not UTF-8, and each NUL (which
// PostgreSQL's text refuses), as U+FFFD. What a receiver sends, or an error
// that quotes it, goes through it before it is stored, so that no answer
// can make the record of a batch of attempts fail.
func PlainText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// DeliveryAttempt is one HTTP request of a delivery.
type DeliveryAttempt struct {
	AttemptedAt time.Time
	StatusCode  *int32 // nil when the receiver did not answer
	DurationMS  int64
	Error       *string // nil when the attempt succeeded
	// ResponseBody is the start of a non-2xx answer's body (see
	// ResponseExcerpt); nil for a 2xx, no answer or an empty body.
	ResponseBody *string
}

// Delivery is one event sent to one webhook, with its attempts.
type Delivery struct {
	ID             int64
	OrganizationID int64
	WebhookID      int64
	EventID        string // the envelope's "evt_..." id
	Event          string
	MessageID      string // X-Webhook-Id / webhook-id, "msg_..."
	Status         string
	Attempts       []DeliveryAttempt
	NextAttemptAt  *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// DeliveryFilter selects a webhook's deliveries, newest first.
type DeliveryFilter struct {
	Status *string
	// ExcludeTests leaves out webhook.test pings: the dashboard's
	// Entregas counts what Reenviar would send again, which they are not
	// (RedeliverFailed). The API lists them.
	ExcludeTests bool
	Offset       int64
	Limit        int
	// Cursor, when not "", continues a walk after the last delivery of an
	// earlier page: that page's DeliveryPage.Next. The page then holds the
	// deliveries older than that one, not those at Offset.
	Cursor string
}

// WebhookTestResult is the outcome of a test delivery.
type WebhookTestResult struct {
	Delivered  bool
	StatusCode *int32
	DurationMS int64
	Error      *string
	// ResponseBody is as DeliveryAttempt's.
	ResponseBody *string
	DeliveryID   int64
}

// WebhookStore stores webhooks. Every method is scoped to one
// organization: another organization's webhook is not found.
type WebhookStore interface {
	// CreateWebhook stores w as PrepareNew leaves it; w.Secret then holds
	// the signing secret, the one time it is shown. If a request with ctx's
	// Idempotency-Key created a webhook within IdempotencyTTL, w is filled
	// in as that webhook is now, with its current secret, and the error is
	// ErrDoneEarlier.
	CreateWebhook(ctx context.Context, orgID int64, w *Webhook) error
	// FindWebhookByID returns the webhook without its secret, or ENotFound.
	FindWebhookByID(ctx context.Context, orgID, id int64) (*Webhook, error)
	// FindWebhooks returns one page, oldest first, and the total.
	FindWebhooks(ctx context.Context, orgID int64, offset int64, limit int) ([]*Webhook, int64, error)
	// UpdateWebhook applies patch with Webhook.Apply and stores what it
	// changed, with its consequences. It returns ENotFound.
	UpdateWebhook(ctx context.Context, orgID, id int64, patch WebhookPatch) (*Webhook, error)
	// SaveDefaultWebhook points the organization's default webhook at url,
	// subscribed to every event and active: it updates the webhook, or creates
	// it (with a new signing secret in Secret) when there is none. created
	// says which.
	SaveDefaultWebhook(ctx context.Context, orgID int64, url string) (w *Webhook, created bool, err error)
	// FindDefaultWebhook returns the organization's default webhook, or ENotFound.
	FindDefaultWebhook(ctx context.Context, orgID int64) (*Webhook, error)
	// DeleteWebhook removes the webhook and its deliveries, or returns ENotFound.
	DeleteWebhook(ctx context.Context, orgID, id int64) error
	// RotateWebhookSecret replaces the secret and keeps the old one for
	// SecretGrace; the result carries the new secret. If the webhook's last
	// rotation was made within IdempotencyTTL by a request with ctx's
	// Idempotency-Key, it does not rotate again: the result carries that
	// rotation's secret, and the error is ErrDoneEarlier.
	RotateWebhookSecret(ctx context.Context, orgID, id int64) (*Webhook, error)
}

// DeliveryStore is the delivery log of a webhook, as partners read it.
type DeliveryStore interface {
	// FindDeliveries returns one page of the webhook's deliveries, newest
	// first, with the total and the cursor of the next page; ENotFound for
	// the webhook; EBadRequest for a cursor DeliveryFilter.Resolve refuses.
	FindDeliveries(ctx context.Context, orgID, webhookID int64, f DeliveryFilter) (*DeliveryPage, error)
	// RedeliverDelivery queues a finished delivery for a new series of
	// attempts. It returns ENotFound, or Webhook.CanRedeliver's error. If a
	// request with ctx's Idempotency-Key queued it again within
	// IdempotencyTTL, it queues nothing and returns the delivery as it is
	// now with ErrDoneEarlier.
	RedeliverDelivery(ctx context.Context, orgID, webhookID, deliveryID int64) (*Delivery, error)
	// RedeliverFailed queues again, oldest first, up to limit of the
	// webhook's failed deliveries created in [since, until), for a new
	// series of attempts each, and reports how many it queued and whether
	// failed ones of the period are left. It returns ENotFound for the
	// webhook, or EConflict when the webhook is disabled.
	RedeliverFailed(ctx context.Context, orgID, webhookID int64, since, until time.Time, limit int) (queued int, more bool, err error)
}

// RedeliverFailedMax is how many failed deliveries one call of
// POST /webhooks/{id}/deliveries/redeliver queues at most: enough to
// recover from an outage in a few calls, few enough that one call's
// transaction stays short (on SQLite it holds the one writer).
const RedeliverFailedMax = 1000

// WebhookTester sends a webhook.test event to one webhook and waits for the
// outcome. It returns ENotFound for another organization's webhook; a
// receiver's failure is an outcome, not an error.
type WebhookTester interface {
	TestWebhook(ctx context.Context, orgID, webhookID int64) (*WebhookTestResult, error)
}

// ClaimedDelivery is a delivery a worker holds the lease of, with what it
// needs to make the attempt.
type ClaimedDelivery struct {
	ID             int64
	OrganizationID int64
	WebhookID      int64
	URL            string
	// Secrets sign the attempt: the current one first, then the previous one
	// while its grace period lasts. The deliveries of one webhook in a claim
	// share the slice: read it, never change it.
	Secrets      []string
	Event        string
	EventID      string
	MessageID    string
	Body         []byte
	AttemptCount int // attempts made before this one
	AttemptLimit int
	Test         bool // a webhook.test delivery: one attempt, no effect on the webhook
	// Due is when the delivery fell due: for a first attempt, when its
	// event was committed; for a retry, when its wait ended. Zero if not
	// known.
	Due time.Time
}

// Attempt outcomes, as the dispatcher decides them.
const (
	OutcomeSucceeded = "succeeded" // 2xx
	OutcomeRetry     = "retry"     // failed; try again at NextAt
	OutcomeFailed    = "failed"    // failed; no attempts left
	OutcomeGone      = "gone"      // 410: fail and disable the webhook
)

// AttemptRecord is the result of one attempt.
type AttemptRecord struct {
	DeliveryAttempt
	Outcome string
	NextAt  time.Time // for OutcomeRetry
}

// DeliveryQueue is the store side of the dispatcher. Claims are leases: a
// worker that dies loses its deliveries to another when the lease ends.
type DeliveryQueue interface {
	// ClaimDeliveries reads the due, unleased deliveries at the head of
	// every webhook's lane (see ClaimRequest), lets r.Pick choose among them,
	// and leases the chosen ones that are still due and unleased to r.Worker
	// until r.LeaseUntil. It returns them in the order Pick chose them.
	// Concurrent callers never get the same delivery.
	ClaimDeliveries(ctx context.Context, r ClaimRequest) ([]*ClaimedDelivery, error)
	// RecordAttempts stores a batch of attempts, in the order they ended,
	// and their consequences, in one transaction. A delivery moves on only
	// while the worker still holds its lease; an attempt whose lease ran out
	// is kept in the log without the last word. The webhooks' failure
	// counts follow FailureStreaks; a webhook is disabled on OutcomeGone,
	// and when DisableAfterFailures says so. The attempt of a delivery that
	// no longer exists (its webhook was deleted meanwhile) is dropped.
	RecordAttempts(ctx context.Context, worker string, attempts []Attempted, disableAfter int) error
	// ReleaseDeliveries gives up worker's leases on deliveries it has not
	// attempted, for another worker to take at once.
	ReleaseDeliveries(ctx context.Context, worker string, ids []int64) error
	// CreateTestDelivery writes a webhook.test event and a delivery of it to
	// the webhook (active or not), leased to worker. ENotFound if the webhook
	// is not the organization's.
	CreateTestDelivery(ctx context.Context, orgID, webhookID int64, worker string, leaseUntil time.Time) (*ClaimedDelivery, error)
}

// ParsesAsWebhookURL reports whether raw parses as an http:// or https:// URL
// with a host, as the dispatcher needs it to. It is the safety net behind the
// spec's WebhookURL pattern, which admits only URLs that pass it.
func ParsesAsWebhookURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https"))
}
