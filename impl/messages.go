package impl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Messaging error codes, on top of the generic ones.
const (
	EIntegrationNotFound = "integration_not_found" // 404: missing, inactive or of another channel
	ESendFailed          = "send_failed"           // 500: the provider refused or failed
)

// Channels.
const (
	ChannelWhatsApp = "whatsapp"
	ChannelRCS      = "rcs"
)

// Directions.
const (
	DirectionOutbound = "outbound"
	DirectionInbound  = "inbound"
)

// Message statuses. An outbound message is stored as queued before the
// provider is called, so a crash mid-send leaves a visible queued row rather
// than nothing.
const (
	StatusQueued   = "queued"
	StatusSent     = "sent"
	StatusFailed   = "failed"
	StatusReceived = "received"
)

// Providers an integration can use.
const (
	ProviderSandbox       = "sandbox"        // records messages as sent; never leaves the building
	ProviderWhatsAppCloud = "whatsapp_cloud" // Meta's WhatsApp Cloud API (Graph API)
	ProviderGoogleRBM     = "google_rbm"     // Google's RCS Business Messaging API
)

// Integration is an organization's connection to a messaging provider on one
// channel. The secret fields are never returned by the API or logged.
type Integration struct {
	ID             int64  `db:"id"`
	OrganizationID int64  `db:"organization_id"`
	Name           string `db:"name"`
	Channel        string `db:"channel"`
	Provider       string `db:"provider"`
	Active         bool   `db:"active"`
	// PhoneNumber is the business's own number, as shown to partners.
	PhoneNumber string `db:"phone_number"`

	// WhatsApp Cloud API: the Graph API phone number id to send from, the
	// access token to send with, the app secret that signs inbound webhooks,
	// and the SHA-256 of the verify token of Meta's subscription handshake.
	PhoneNumberID   string `db:"phone_number_id"`
	AccessToken     string `db:"access_token"`
	AppSecret       string `db:"app_secret"`
	VerifyTokenHash []byte `db:"verify_token_hash"`

	// Google RBM: the agent to send as.
	AgentID string `db:"agent_id"`

	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// Template is a WhatsApp message template (Meta calls them HSM). Its Body
// has numbered placeholders {{1}}..{{VariablesCount}}.
type Template struct {
	ID             int64     `db:"id" json:"id"`
	OrganizationID int64     `db:"organization_id" json:"organization_id"`
	Name           string    `db:"name" json:"name"`
	Language       string    `db:"language" json:"language"`
	Category       string    `db:"category" json:"category"`
	Context        *string   `db:"context" json:"context"`
	MetaApproved   bool      `db:"meta_approved" json:"meta_approved"`
	Body           string    `db:"body" json:"body"`
	VariablesCount int       `db:"variables_count" json:"variables_count"`
	CreatedAt      time.Time `db:"created_at" json:"created_at"`
}

// WhatsAppContent is what an outbound WhatsApp message says. Type is one of
// text, template, image, video, document, audio; only that type's fields are
// set.
type WhatsAppContent struct {
	Type string `json:"-"`
	// text
	Text string `json:"text,omitempty"`
	// template: the resolved template and the values of its placeholders.
	TemplateName     string   `json:"template_name,omitempty"`
	TemplateLanguage string   `json:"template_language,omitempty"`
	Variables        []string `json:"variables,omitempty"`
	// image, video, document, audio
	MediaURL string `json:"media_url,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// RCSContent is what an outbound RCS message says. Type is one of text, file,
// card, carousel, replyable_text, location; only that type's fields are set.
// The limits on these fields live in the spec, which has been enforced
// before a value of this type exists.
type RCSContent struct {
	Type string `json:"-"`
	// text, replyable_text; location (optional)
	Text string `json:"text,omitempty"`
	// file
	FileURL  string `json:"file_url,omitempty"`
	MimeType string `json:"mime_type,omitempty"`
	// card
	Card *RCSCard `json:"card,omitempty"`
	// carousel: CardWidth is SMALL or MEDIUM.
	Cards     []RCSCard `json:"cards,omitempty"`
	CardWidth string    `json:"card_width,omitempty"`
	// replyable_text
	QuickReplies []RCSQuickReply `json:"quick_replies,omitempty"`
	// location
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	Label     string   `json:"label,omitempty"`
}

// RCSCard is a rich card, standalone or in a carousel.
type RCSCard struct {
	Title       string      `json:"title,omitempty"`
	Description string      `json:"description,omitempty"`
	MediaURL    string      `json:"media_url,omitempty"`
	Buttons     []RCSButton `json:"buttons,omitempty"`
}

// RCS button types.
const (
	ButtonURL   = "url"
	ButtonCall  = "call"
	ButtonReply = "reply"
)

// RCSButton is a suggestion on a card: Type url opens URL, call dials
// PhoneNumber, reply sends Payload back.
type RCSButton struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	Payload     string `json:"payload,omitempty"`
}

// RCSQuickReply is a suggested reply under a text.
type RCSQuickReply struct {
	Text    string `json:"text"`
	Payload string `json:"payload"`
}

// Message is one message in an organization's history, either direction.
type Message struct {
	ID             int64  `db:"id" json:"id"`
	OrganizationID int64  `db:"organization_id" json:"-"`
	IntegrationID  int64  `db:"integration_id" json:"integration_id"`
	Channel        string `db:"channel" json:"channel"`
	Direction      string `db:"direction" json:"direction"`
	Type           string `db:"type" json:"type"`
	Status         string `db:"status" json:"status"`
	LeadID         *int64 `db:"lead_id" json:"lead_id"`
	// Phone is the other party's number, digits only.
	Phone string `db:"phone" json:"phone"`
	// Content is the type's fields, as JSON: a WhatsAppContent or RCSContent
	// for outbound messages, the received fields for inbound ones.
	Content           json.RawMessage `db:"content" json:"content"`
	ProviderMessageID *string         `db:"provider_message_id" json:"provider_message_id"`
	Error             *string         `db:"error" json:"error"`
	CreatedAt         time.Time       `db:"created_at" json:"created_at"`
	UpdatedAt         time.Time       `db:"updated_at" json:"updated_at"`
}

// ProviderError is a provider's refusal or failure, with the provider's own
// message (safe to show the partner: it describes their request or account).
type ProviderError struct {
	Provider string
	// Status is the provider's HTTP status; 0 when no answer came
	// (timeout, connection refused).
	Status int
	// Code is the provider's error code, if it gave one.
	Code    string
	Message string
}

func (e *ProviderError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s", e.Provider, e.Message)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Provider, e.Status, e.Message)
}

// WhatsAppProvider sends WhatsApp messages. SendWhatsApp delivers msg to
// the phone (digits only, with country code) through the integration and
// returns the provider's id for the message, or a *ProviderError. It gives
// up when ctx is done.
type WhatsAppProvider interface {
	SendWhatsApp(ctx context.Context, integ *Integration, phone string, msg *WhatsAppContent) (providerID string, err error)
}

// RCSProvider sends RCS messages. messageID is ours, unique per message,
// for providers that take a caller-chosen id (RBM does, and deduplicates on
// it). It returns the provider's id for the message, or a *ProviderError.
type RCSProvider interface {
	SendRCS(ctx context.Context, integ *Integration, phone, messageID string, msg *RCSContent) (providerID string, err error)
}

// MessageFilter selects messages, newest first. Nil fields do not filter.
type MessageFilter struct {
	LeadID    *int64
	Channel   *string
	Direction *string
	Status    *string
	Offset    int64
	Limit     int
}

// TemplateFilter selects templates, by name. Nil fields do not filter.
type TemplateFilter struct {
	Category     *string
	Context      *string
	MetaApproved *bool
	Offset       int64
	Limit        int
}

// IntegrationService stores integrations.
type IntegrationService interface {
	// CreateIntegration stores integ and fills in its ID and timestamps. It
	// returns ENotFound if the organization does not exist.
	CreateIntegration(ctx context.Context, integ *Integration) error
	// FindIntegrationByID returns the organization's integration, active or
	// not, or ENotFound.
	FindIntegrationByID(ctx context.Context, orgID, id int64) (*Integration, error)
	// FindIntegrationForInbound returns the integration with that id, whatever
	// its organization, for provider callbacks that name it in their URL; or
	// ENotFound.
	FindIntegrationForInbound(ctx context.Context, id int64) (*Integration, error)
	// ListIntegrations returns the organization's integrations on channel
	// ("" for all), oldest first.
	ListIntegrations(ctx context.Context, orgID int64, channel string) ([]*Integration, error)
	// SetIntegrationActive enables or disables the integration, or returns ENotFound.
	SetIntegrationActive(ctx context.Context, orgID, id int64, active bool) error
}

// TemplateService stores WhatsApp templates.
type TemplateService interface {
	// CreateTemplate stores t and fills in its ID. It returns EConflict if the
	// organization has a template with the same name and language.
	CreateTemplate(ctx context.Context, t *Template) error
	// FindTemplateByID returns the template, or ENotFound.
	FindTemplateByID(ctx context.Context, orgID, id int64) (*Template, error)
	// FindTemplatesByName returns the templates with that name, one per language.
	FindTemplatesByName(ctx context.Context, orgID int64, name string) ([]*Template, error)
	// FindTemplates returns one page of templates and the number on all pages.
	FindTemplates(ctx context.Context, orgID int64, f TemplateFilter) ([]*Template, int64, error)
}

// MessageService stores the message history and the events it causes.
type MessageService interface {
	// CreateMessage stores an outbound message (normally queued) and fills
	// in its ID and timestamps.
	CreateMessage(ctx context.Context, m *Message) error
	// FinishMessage records the provider's verdict on a queued message:
	// status sent with the provider's id, or failed with the reason. A sent
	// message writes a message.sent event in the same transaction.
	FinishMessage(ctx context.Context, m *Message) error
	// ReceiveMessage stores an inbound message: it links it to the lead with
	// its phone, creating that lead (named contactName, if given) when there
	// is none, and writes message.received (and lead.created) events in the
	// same transaction. A message whose provider id the integration has
	// already received is not stored again; duplicate reports that.
	ReceiveMessage(ctx context.Context, m *Message, contactName *string) (duplicate bool, err error)
	// FindMessageByID returns the message, or ENotFound.
	FindMessageByID(ctx context.Context, orgID, id int64) (*Message, error)
	// FindMessages returns one page of messages, newest first, and the number
	// on all pages.
	FindMessages(ctx context.Context, orgID int64, f MessageFilter) ([]*Message, int64, error)
	// FindEvents returns the organization's events with an id above afterID,
	// oldest first.
	FindEvents(ctx context.Context, orgID, afterID int64) ([]*Event, error)
}

// TemplateVariables counts the placeholders of a template body: {{1}} to
// {{n}}, each number used at least once and none skipped, as Meta requires.
func TemplateVariables(body string) (int, error) {
	seen := map[int]bool{}
	max := 0
	for rest := body; ; {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(rest[i+2 : i+j]))
		if err != nil || n < 1 {
			return 0, fmt.Errorf("placeholder %q is not a number from 1 up", rest[i:i+j+2])
		}
		seen[n] = true
		if n > max {
			max = n
		}
		rest = rest[i+j+2:]
	}
	for n := 1; n <= max; n++ {
		if !seen[n] {
			return 0, fmt.Errorf("placeholder {{%d}} is missing; placeholders must be numbered 1 to %d", n, max)
		}
	}
	return max, nil
}
