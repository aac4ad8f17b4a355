package impl

import (
	"context"
	"net/url"
	"strings"
	"time"
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

// WebhookPatch lists the fields to change; nil fields stay as they are.
type WebhookPatch struct {
	Name        *string
	URL         *string
	Events      []string
	Active      *bool
	MaxAttempts *int32
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// DeliveryAttempt is one HTTP request of a delivery.
type DeliveryAttempt struct {
	AttemptedAt time.Time
	StatusCode  *int32 // nil when the receiver did not answer
	DurationMS  int64
	Error       *string // nil when the attempt succeeded
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
	Offset int64
	Limit  int
}

// WebhookTestResult is the outcome of a test delivery.
type WebhookTestResult struct {
	Delivered  bool
	StatusCode *int32
	DurationMS int64
	Error      *string
	DeliveryID int64
}

// WebhookService stores webhooks and their delivery logs. Every method is
// scoped to one organization: another organization's webhook is not found.
type WebhookService interface {
	// CreateWebhook stores w with a new signing secret, which it sets in
	// w.Secret.
	CreateWebhook(ctx context.Context, orgID int64, w *Webhook) error
	// FindWebhookByID returns the webhook without its secret, or ENotFound.
	FindWebhookByID(ctx context.Context, orgID, id int64) (*Webhook, error)
	// FindWebhooks returns one page, oldest first, and the total.
	FindWebhooks(ctx context.Context, orgID int64, offset int64, limit int) ([]*Webhook, int64, error)
	// UpdateWebhook applies patch. Activating a webhook clears its disabled
	// state and failure count. It returns ENotFound.
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
	// SecretGrace; the result carries the new secret.
	RotateWebhookSecret(ctx context.Context, orgID, id int64) (*Webhook, error)
	// FindDeliveries returns one page of the webhook's deliveries and the
	// total, or ENotFound for the webhook.
	FindDeliveries(ctx context.Context, orgID, webhookID int64, f DeliveryFilter) ([]*Delivery, int64, error)
	// RedeliverDelivery queues a finished delivery for a new series of
	// attempts. It returns ENotFound, or EConflict if the delivery is still
	// pending or the webhook is inactive.
	RedeliverDelivery(ctx context.Context, orgID, webhookID, deliveryID int64) (*Delivery, error)
}

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
	// while its grace period lasts.
	Secrets      []string
	Event        string
	EventID      string
	MessageID    string
	Body         []byte
	AttemptCount int // attempts made before this one
	AttemptLimit int
	Test         bool // a webhook.test delivery: one attempt, no effect on the webhook
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
	// ClaimDeliveries leases up to limit due deliveries to worker until
	// leaseUntil. Concurrent callers never get the same delivery.
	ClaimDeliveries(ctx context.Context, worker string, now, leaseUntil time.Time, limit int) ([]*ClaimedDelivery, error)
	// RecordAttempt stores the attempt and its consequences for the delivery
	// and the webhook: the webhook is disabled on OutcomeGone, and when its
	// last disableAfter deliveries all failed.
	RecordAttempt(ctx context.Context, worker string, d *ClaimedDelivery, r AttemptRecord, disableAfter int) error
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
