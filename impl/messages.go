package impl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Messaging error codes, on top of the generic ones.
const (
	EIntegrationNotFound = "integration_not_found"  // 404: missing, inactive or of another channel
	ESendFailed          = "send_failed"            // 500: the provider refused or failed
	EOutsideWindow       = "outside_service_window" // 422: free-form WhatsApp outside the 24-hour window
	ESyncFailed          = "sync_failed"            // 502: the provider failed to list the templates
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
// than nothing; the provider's reports then move it forward (see
// Message.Advance).
const (
	StatusQueued    = "queued"
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
	StatusReceived  = "received"
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
	// the SHA-256 of the verify token of Meta's subscription handshake, and
	// the WhatsApp Business Account whose templates the number sends.
	PhoneNumberID   string `db:"phone_number_id"`
	AccessToken     string `db:"access_token"`
	AppSecret       string `db:"app_secret"`
	VerifyTokenHash []byte `db:"verify_token_hash"`
	WABAID          string `db:"waba_id"`

	// Google RBM: the agent to send as, with AccessToken as its bearer
	// token (empty: the server-wide one), and the client token RBM signs
	// its webhooks with. Both tokens are secrets, kept beside the others.
	AgentID     string `db:"agent_id"`
	ClientToken string `db:"client_token"`

	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
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
	// Error, ErrorCode and ErrorTitle are the provider's reason, code and
	// short name for a failure.
	Error      *string `db:"error"`
	ErrorCode  *string `db:"error_code"`
	ErrorTitle *string `db:"error_title"`
	// SentAt is when the provider accepted an outbound message, or when the
	// contact sent an inbound one; the others are set as the provider
	// reports the outbound message's progress.
	SentAt      *time.Time `db:"sent_at"`
	DeliveredAt *time.Time `db:"delivered_at"`
	ReadAt      *time.Time `db:"read_at"`
	FailedAt    *time.Time `db:"failed_at"`
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
// returns the provider's id for the message, or a *ProviderError. messageID
// is ours, for providers that echo a caller's reference in their status
// reports (Meta does), so that a report racing the send's answer still
// finds its message. It gives up when ctx is done.
type WhatsAppProvider interface {
	SendWhatsApp(ctx context.Context, integ *Integration, phone, messageID string, msg *WhatsAppContent) (providerID string, err error)
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
	// Cursor, when not "", continues a walk after the last message of an
	// earlier page: that page's MessagePage.Next. The page then holds the
	// messages older than that one, not those at Offset.
	Cursor string
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
	// FindTemplateSources returns every active WhatsApp Cloud API
	// integration with a WhatsApp Business Account id, of every
	// organization, for the periodic template sync.
	FindTemplateSources(ctx context.Context) ([]*Integration, error)
}

// MessageStore stores the message history and the events it causes.
type MessageStore interface {
	// CreateMessage stores an outbound message (normally queued) and fills
	// in its ID and timestamps.
	CreateMessage(ctx context.Context, m *Message) error
	// FinishMessage records the send's verdict on a queued message, u
	// (sent with the provider's id, or failed with the reason), as
	// Message.Settle decides, writes the events it causes in the same
	// transaction, and returns the message as stored. A status report that
	// came first may have moved the message on already; the verdict then
	// only adds the provider's id.
	FinishMessage(ctx context.Context, orgID, id int64, u StatusUpdate) (*Message, error)
	// UpdateMessageStatus applies a provider's status report to the
	// outbound message of the integration it names (by the provider's id,
	// or by ours), as Message.Advance decides, and writes the events it
	// causes in the same transaction. It returns the message and whether
	// the report changed it, or ENotFound when the integration sent no such
	// message.
	UpdateMessageStatus(ctx context.Context, integrationID int64, r StatusReport) (*Message, bool, error)
	// LastInbound returns when the contact at phone last wrote to the
	// integration (the latest SentAt of its inbound messages), or nil.
	LastInbound(ctx context.Context, orgID, integrationID int64, phone string) (*time.Time, error)
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
	// FindMessages returns one page of messages, newest first, with the
	// number on all pages and the cursor of the next page. A cursor that
	// MessageFilter.Resolve refuses is EBadRequest.
	FindMessages(ctx context.Context, orgID int64, f MessageFilter) (*MessagePage, error)
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
	// SentAt is when the contact sent it, by the provider's clock; zero
	// when the provider did not say.
	SentAt time.Time
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
	// ApplyStatusReports applies the provider's reports on messages sent
	// through integ. Reports on messages the integration did not send
	// (another tool on the same number, another integration's message) are
	// ignored; it returns how many changed a message.
	ApplyStatusReports(ctx context.Context, integ *Integration, reports []StatusReport) (applied int, err error)
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
	if !PlainLineOK(in.Name) {
		return invalid("name", "must be one line of text without control characters")
	}
	// Ids and credentials go into URLs and headers as they are.
	for _, f := range []struct{ name, value string }{
		{"phone_number_id", in.PhoneNumberID}, {"agent_id", in.AgentID}, {"waba_id", in.WABAID},
		{"access_token", in.AccessToken}, {"app_secret", in.AppSecret}, {"client_token", in.ClientToken},
	} {
		if !PlainLineOK(f.value) || strings.ContainsFunc(f.value, unicode.IsSpace) {
			return invalid(f.name, "must not hold spaces or control characters")
		}
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
	if in.WABAID != "" && in.Provider != ProviderWhatsAppCloud {
		return invalid("waba_id", "is only for whatsapp_cloud, whose templates come from Meta")
	}
	if in.ClientToken != "" && in.Provider != ProviderGoogleRBM {
		return invalid("client_token", "is only for google_rbm")
	}
	if in.WABAID != "" && strings.ContainsFunc(in.WABAID, func(r rune) bool { return r < '0' || r > '9' }) {
		return invalid("waba_id", "must be the account's numeric id")
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
