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

// InterruptedSend is the error of a message whose request was cut off (the
// server stopped) after it was stored and before the provider's verdict was:
// it may or may not have reached the contact, and it is not sent again.
const InterruptedSend = "the send was interrupted before the provider's answer was recorded; it may not have reached the contact, and it was not sent again"

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
	ID             int64     `db:"id"`
	OrganizationID int64     `db:"organization_id"`
	Name           string    `db:"name"`
	Language       string    `db:"language"`
	Category       string    `db:"category"`
	Context        *string   `db:"context"`
	MetaApproved   bool      `db:"meta_approved"`
	Body           string    `db:"body"`
	VariablesCount int       `db:"variables_count"`
	CreatedAt      time.Time `db:"created_at"`
}

// WhatsAppContent is what an outbound WhatsApp message says. Type is one of
// text, template, image, video, document, audio; only that type's fields are
// set.
type WhatsAppContent struct {
	Type string
	// text
	Text string
	// template: the resolved template and the values of its placeholders.
	TemplateName     string
	TemplateLanguage string
	Variables        []string
	// image, video, document, audio
	MediaURL string
	Caption  string
	Filename string
}

// RCSContent is what an outbound RCS message says. Type is one of text, file,
// card, carousel, replyable_text, location; only that type's fields are set.
// The limits on these fields live in the spec, which has been enforced
// before a value of this type exists.
type RCSContent struct {
	Type string
	// text, replyable_text; location (optional)
	Text string
	// file
	FileURL  string
	MimeType string
	// card
	Card *RCSCard
	// carousel: CardWidth is SMALL or MEDIUM.
	Cards     []RCSCard
	CardWidth string
	// replyable_text
	QuickReplies []RCSQuickReply
	// location
	Latitude  *float64
	Longitude *float64
	Label     string
}

// RCSCard is a rich card, standalone or in a carousel.
type RCSCard struct {
	Title       string
	Description string
	MediaURL    string
	Buttons     []RCSButton
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
	Type        string
	Text        string
	URL         string
	PhoneNumber string
	Payload     string
}

// RCSQuickReply is a suggested reply under a text.
type RCSQuickReply struct {
	Text    string
	Payload string
}

// Message is one message in an organization's history, either direction.
type Message struct {
	ID             int64  `db:"id"`
	OrganizationID int64  `db:"organization_id"`
	IntegrationID  int64  `db:"integration_id"`
	Channel        string `db:"channel"`
	Direction      string `db:"direction"`
	Type           string `db:"type"`
	Status         string `db:"status"`
	LeadID         *int64 `db:"lead_id"`
	// Phone is the other party's number, digits only.
	Phone string `db:"phone"`
	// Content is the type's fields, as JSON: a WhatsAppContent or RCSContent
	// for outbound messages, the received fields for inbound ones.
	Content           json.RawMessage `db:"content"`
	ProviderMessageID *string         `db:"provider_message_id"`
	Error             *string         `db:"error"`
	// IdempotencyKey is the Idempotency-Key of the request that sent it.
	IdempotencyKey *string   `db:"idempotency_key"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
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

// IntegrationStore stores integrations.
type IntegrationStore interface {
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

// TemplateStore stores WhatsApp templates.
type TemplateStore interface {
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

// MessageStore stores the message history and the events it causes.
type MessageStore interface {
	// CreateMessage stores an outbound message (normally queued) and fills
	// in its ID and timestamps.
	CreateMessage(ctx context.Context, m *Message) error
	// FinishMessage records the provider's verdict on a queued message:
	// status sent with the provider's id, or failed with the reason. A sent
	// message writes a message.sent event in the same transaction.
	FinishMessage(ctx context.Context, m *Message) error
	// ReceiveMessage stores an inbound message: it links it to the lead with
	// its phone, creating NewInboundLead (named contactName, if given) when
	// there is none, and writes message.received (and lead.created) events in
	// the same transaction. A message whose provider id the integration has
	// already received is not stored again; duplicate reports that.
	ReceiveMessage(ctx context.Context, m *Message, contactName *string) (duplicate bool, err error)
	// FindMessageByID returns the message, or ENotFound.
	FindMessageByID(ctx context.Context, orgID, id int64) (*Message, error)
	// FindMessageByIdempotencyKey returns the message sent under that
	// Idempotency-Key, or ENotFound.
	FindMessageByIdempotencyKey(ctx context.Context, orgID int64, key string) (*Message, error)
	// FindMessages returns one page of messages, newest first, and the number
	// on all pages.
	FindMessages(ctx context.Context, orgID int64, f MessageFilter) ([]*Message, int64, error)
}

// Recipient says who a message is for: exactly one of LeadID and Phone (the
// spec requires that; LeadID wins if a caller gives both anyway).
type Recipient struct {
	LeadID *int64
	Phone  *string
}

// WhatsAppRequest is a WhatsApp message to send. For templates, one of
// TemplateID and TemplateName names the template (the spec requires exactly
// one), and Content.Variables holds the values of its placeholders.
type WhatsAppRequest struct {
	IntegrationID int64
	Recipient
	Content      WhatsAppContent
	TemplateID   *int64
	TemplateName *string
}

// RCSRequest is an RCS message to send. A nil IntegrationID means the
// organization's oldest active RCS integration.
type RCSRequest struct {
	IntegrationID *int64
	Recipient
	Content RCSContent
}

// InboundMessage is a message a contact sent, as a provider reported it.
type InboundMessage struct {
	ProviderMessageID string
	// From is the contact's number, digits only.
	From        string
	ContactName string
	// Type is one of the API's message types, or "unsupported".
	Type    string
	Content map[string]any
}

// Messenger sends and receives messages: it resolves the integration, the
// recipient and the template, keeps the history, and hands each message to
// the integration's provider.
type Messenger interface {
	// SendWhatsApp sends a WhatsApp message and returns it as stored. It
	// returns EValidation for a broken recipient or template rule,
	// EIntegrationNotFound, ENotFound for a missing lead, and ESendFailed
	// (with the message stored as failed) when the provider refuses.
	SendWhatsApp(ctx context.Context, orgID int64, req *WhatsAppRequest) (*Message, error)
	// SendRCS sends an RCS message; its errors are SendWhatsApp's.
	SendRCS(ctx context.Context, orgID int64, req *RCSRequest) (*Message, error)
	// Receive stores messages that arrived through integ. A message already
	// stored (the provider redelivered it) is skipped.
	Receive(ctx context.Context, integ *Integration, msgs []InboundMessage) error
}

// ProviderChannels says which channels each provider serves.
var ProviderChannels = map[string][]string{
	ProviderSandbox:       {ChannelWhatsApp, ChannelRCS},
	ProviderWhatsAppCloud: {ChannelWhatsApp},
	ProviderGoogleRBM:     {ChannelRCS},
}

// ChannelNames are the channels as people write them.
var ChannelNames = map[string]string{ChannelWhatsApp: "WhatsApp", ChannelRCS: "RCS"}

// Serves reports whether the provider serves channel.
func Serves(provider, channel string) bool {
	for _, c := range ProviderChannels[provider] {
		if c == channel {
			return true
		}
	}
	return false
}

// Validate checks an integration about to be created: a known channel, a
// provider that serves it, and what that provider needs to send. It names
// an integration without a name after its channel and provider. The error
// is EValidation with details keyed by the field at fault.
func (in *Integration) Validate() error {
	invalid := func(field, msg string) error {
		return Errorf(EValidation, "The integration is not valid.").WithDetail(field, msg)
	}
	if _, ok := ChannelNames[in.Channel]; !ok {
		return invalid("channel", "must be whatsapp or rcs")
	}
	if _, ok := ProviderChannels[in.Provider]; !ok {
		return invalid("provider", "must be sandbox, whatsapp_cloud or google_rbm")
	}
	if !Serves(in.Provider, in.Channel) {
		return invalid("provider", fmt.Sprintf("%s does not serve %s", in.Provider, in.Channel))
	}
	if in.Name == "" {
		in.Name = ChannelNames[in.Channel] + " " + in.Provider
	}
	switch in.Provider {
	case ProviderWhatsAppCloud:
		for _, f := range []struct{ name, value string }{
			{"phone_number_id", in.PhoneNumberID}, {"access_token", in.AccessToken}, {"app_secret", in.AppSecret},
		} {
			if f.value == "" {
				return invalid(f.name, "is required by whatsapp_cloud")
			}
		}
	case ProviderGoogleRBM:
		if in.AgentID == "" {
			return invalid("agent_id", "is required by google_rbm")
		}
	}
	return nil
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
