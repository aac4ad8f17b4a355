// Package whatsappcloud sends WhatsApp messages through Meta's WhatsApp
// Cloud API, the Graph API endpoint POST /{version}/{phone-number-id}/messages
// (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages),
// authenticated with the integration's own access token.
//
// Every failure comes back as an *impl.ProviderError, because the caller
// stores its message on the message row and shows it to the partner: it is
// Meta's own explanation when Meta gave one, a short description of what
// went wrong otherwise, and never contains the access token.
package whatsappcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// Defaults for a zero Client. The version is pinned rather than left to the
// app's default on Meta's side, so a change in Meta's default cannot change
// what our requests mean.
const (
	DefaultBaseURL = "https://graph.facebook.com"
	DefaultVersion = "v24.0"
	DefaultTimeout = 15 * time.Second
)

// maxResponseBytes caps what is read of an answer: Meta's answers are a few
// hundred bytes, and a misbehaving proxy must not make us buffer gigabytes.
const maxResponseBytes = 1 << 20

// Client is the WhatsApp Cloud API adapter. The zero value talks to Meta;
// tests and sandboxes point BaseURL at a fake (see mocks/graphapi).
type Client struct {
	// BaseURL is the Graph API's origin; empty means DefaultBaseURL.
	BaseURL string
	// Version is the Graph API version in the path; empty means
	// DefaultVersion.
	Version string
	// HTTP is the client to send with; nil means one with DefaultTimeout
	// per request. Whatever its CheckRedirect, redirects are never
	// followed: a redirect would resend the request, token included,
	// somewhere Meta did not choose.
	HTTP *http.Client
	// MaxTemplatePages bounds a template listing; zero means
	// DefaultMaxTemplatePages.
	MaxTemplatePages int
}

var _ impl.WhatsAppProvider = (*Client)(nil)

var (
	defaultHTTP = &http.Client{Timeout: DefaultTimeout, CheckRedirect: refuseRedirect}
	// defaultListHTTP bounds each page of a template listing; the caller's
	// context bounds the whole listing.
	defaultListHTTP = &http.Client{Timeout: 30 * time.Second, CheckRedirect: refuseRedirect}
)

func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// SendWhatsApp sends msg to phone from the integration's phone number and
// returns Meta's message id (a "wamid."), which is what Meta's status
// webhooks refer to later. messageID goes as biz_opaque_callback_data,
// which Meta echoes in those webhooks, so that a status that arrives before
// this answer has been stored still finds its message.
func (c *Client) SendWhatsApp(ctx context.Context, integ *impl.Integration, phone, messageID string, msg *impl.WhatsAppContent) (string, error) {
	if pe := checkIntegration(integ); pe != nil {
		return "", pe
	}
	body, pe := buildMessage(phone, msg)
	if pe != nil {
		return "", pe
	}
	body.BizOpaqueCallbackData = messageID
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // message text is not HTML; keep it readable in logs and fakes
	if err := enc.Encode(body); err != nil {
		return "", providerError(0, "", "could not encode the message: "+err.Error())
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(integ.PhoneNumberID), &buf)
	if err != nil {
		return "", providerError(0, "", "integration misconfigured: invalid WhatsApp Cloud API base URL")
	}
	req.Header.Set("Authorization", "Bearer "+integ.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.client(defaultHTTP).Do(req)
	if err != nil {
		return "", transportError(err, integ.AccessToken)
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A partial body still usually holds Meta's error; apiError falls
		// back to a generic message when it does not parse.
		return "", apiError(resp.StatusCode, data, integ.AccessToken)
	}
	if readErr != nil {
		pe := transportError(readErr, integ.AccessToken)
		pe.Status = resp.StatusCode
		return "", pe
	}
	var ok struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(data, &ok); err != nil || len(ok.Messages) == 0 || ok.Messages[0].ID == "" || !impl.ProviderIDOK(ok.Messages[0].ID) {
		// Meta may or may not have accepted the message; without an id we
		// cannot follow it, so it must not be recorded as sent. An id
		// that is no wamid (kilobytes of it, a NUL) counts as none.
		return "", providerError(resp.StatusCode, "",
			fmt.Sprintf("HTTP %d from the WhatsApp Cloud API without a message id", resp.StatusCode))
	}
	return ok.Messages[0].ID, nil
}

func (c *Client) endpoint(phoneNumberID string) string {
	return c.graphURL(phoneNumberID, "messages")
}

// graphURL is the Graph API URL of node's edge, in the pinned version.
func (c *Client) graphURL(node, edge string) string {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	version := c.Version
	if version == "" {
		version = DefaultVersion
	}
	return strings.TrimRight(base, "/") + "/" + url.PathEscape(version) + "/" + url.PathEscape(node) + "/" + edge
}

// client is c.HTTP, or def when it is nil, never following redirects.
func (c *Client) client(def *http.Client) *http.Client {
	if c.HTTP == nil {
		return def
	}
	hc := *c.HTTP
	hc.CheckRedirect = refuseRedirect
	return &hc
}

func providerError(status int, code, message string) *impl.ProviderError {
	return &impl.ProviderError{Provider: impl.ProviderWhatsAppCloud, Status: status, Code: code, Message: message}
}

// checkIntegration refuses integrations that could only produce a request
// Meta rejects with a confusing message (or, for a token with a newline, one
// Go refuses to send), so the partner learns what to fix on their side.
func checkIntegration(integ *impl.Integration) *impl.ProviderError {
	switch {
	case integ == nil:
		return providerError(0, "", "integration misconfigured: no WhatsApp Cloud API integration")
	case strings.TrimSpace(integ.PhoneNumberID) == "":
		return providerError(0, "", "integration misconfigured: the WhatsApp Cloud API phone number id is missing")
	case integ.AccessToken == "":
		return providerError(0, "", "integration misconfigured: the WhatsApp Cloud API access token is missing")
	case strings.ContainsFunc(integ.AccessToken, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return providerError(0, "", "integration misconfigured: the WhatsApp Cloud API access token contains spaces or control characters")
	}
	return nil
}

// Meta's request body, as documented for the messages endpoint. Optional
// fields are omitted rather than sent empty: Meta rejects an empty caption
// or filename on some media types.
type outMessage struct {
	MessagingProduct      string       `json:"messaging_product"`
	RecipientType         string       `json:"recipient_type"`
	To                    string       `json:"to"`
	BizOpaqueCallbackData string       `json:"biz_opaque_callback_data,omitempty"`
	Type                  string       `json:"type"`
	Text                  *outText     `json:"text,omitempty"`
	Template              *outTemplate `json:"template,omitempty"`
	Image                 *outMedia    `json:"image,omitempty"`
	Video                 *outMedia    `json:"video,omitempty"`
	Document              *outMedia    `json:"document,omitempty"`
	Audio                 *outMedia    `json:"audio,omitempty"`
}

type outText struct {
	// PreviewURL is sent explicitly false: a link preview fetches the URL
	// from Meta's side, which the partner did not ask for.
	PreviewURL bool   `json:"preview_url"`
	Body       string `json:"body"`
}

type outTemplate struct {
	Name       string         `json:"name"`
	Language   outLanguage    `json:"language"`
	Components []outComponent `json:"components,omitempty"`
}

type outLanguage struct {
	Code string `json:"code"`
}

type outComponent struct {
	Type       string         `json:"type"`
	Parameters []outParameter `json:"parameters"`
}

type outParameter struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type outMedia struct {
	Link     string `json:"link"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// buildMessage maps our content onto Meta's body. It checks only what
// would make the request malformed; the limits of the content itself are
// the spec's business and have been enforced before.
func buildMessage(phone string, msg *impl.WhatsAppContent) (*outMessage, *impl.ProviderError) {
	if phone == "" || strings.ContainsFunc(phone, func(r rune) bool { return r < '0' || r > '9' }) {
		return nil, providerError(0, "", "the recipient phone must be digits only, with country code")
	}
	if msg == nil {
		return nil, providerError(0, "", "no message content to send")
	}
	m := &outMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: phone, Type: msg.Type}
	switch msg.Type {
	case "text":
		if msg.Text == "" {
			return nil, providerError(0, "", "a text message needs a text")
		}
		m.Text = &outText{Body: msg.Text}
	case "template":
		if msg.TemplateName == "" || msg.TemplateLanguage == "" {
			return nil, providerError(0, "", "a template message needs the template's name and language")
		}
		t := &outTemplate{Name: msg.TemplateName, Language: outLanguage{Code: msg.TemplateLanguage}}
		if len(msg.Variables) > 0 {
			params := make([]outParameter, len(msg.Variables))
			for i, v := range msg.Variables {
				params[i] = outParameter{Type: "text", Text: v}
			}
			t.Components = []outComponent{{Type: "body", Parameters: params}}
		}
		m.Template = t
	case "image", "video", "document", "audio":
		if msg.MediaURL == "" {
			return nil, providerError(0, "", "a "+msg.Type+" message needs a media URL")
		}
		media := &outMedia{Link: msg.MediaURL}
		switch msg.Type {
		case "image":
			media.Caption = msg.Caption
			m.Image = media
		case "video":
			media.Caption = msg.Caption
			m.Video = media
		case "document":
			media.Caption = msg.Caption
			media.Filename = msg.Filename
			m.Document = media
		case "audio":
			// Meta rejects a caption on audio, so one given is dropped
			// rather than failing the whole message.
			m.Audio = media
		}
	default:
		return nil, providerError(0, "", fmt.Sprintf("unsupported WhatsApp message type %q", msg.Type))
	}
	return m, nil
}

// metaError is the Graph API's error envelope.
type metaError struct {
	Error *struct {
		Message   string          `json:"message"`
		Code      json.RawMessage `json:"code"`
		ErrorData json.RawMessage `json:"error_data"`
	} `json:"error"`
}

// apiError turns a non-2xx answer into a ProviderError. Meta's message is
// kept because it tells the partner what to fix (a template not approved, a
// number outside the test list); anything else is reduced to the status,
// because an HTML page from a proxy is neither useful nor safe to store.
func apiError(status int, body []byte, token string) *impl.ProviderError {
	generic := fmt.Sprintf("HTTP %d from the WhatsApp Cloud API", status)
	var me metaError
	if err := json.Unmarshal(body, &me); err != nil || me.Error == nil {
		return providerError(status, "", generic)
	}
	// Meta's code is a JSON number; a quoted one is tolerated, anything
	// else is no code rather than a reason to lose Meta's message.
	code := strings.Trim(string(me.Error.Code), `"`)
	if _, err := strconv.ParseInt(code, 10, 64); err != nil {
		code = ""
	}
	message := impl.OneLine(me.Error.Message)
	if details := errorDetails(me.Error.ErrorData); details != "" && details != message {
		if message == "" {
			message = details
		} else {
			message += " (" + details + ")"
		}
	}
	if message == "" {
		message = generic
	}
	return providerError(status, code, impl.ProviderText(redact(message, token)))
}

// errorDetails reads error_data.details, where Meta puts the actionable
// part of WhatsApp errors. error_data is sometimes a string in older Graph
// errors, so a decoding failure just means no details.
func errorDetails(raw json.RawMessage) string {
	var data struct {
		Details string `json:"details"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &data) != nil {
		return ""
	}
	return impl.OneLine(data.Details)
}

// transportError describes a request that got no answer. The *url.Error
// wrapper is dropped so the message never carries the request URL.
func transportError(err error, token string) *impl.ProviderError {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return providerError(0, "", "no answer from the WhatsApp Cloud API within the timeout")
	case errors.Is(err, context.Canceled):
		return providerError(0, "", "the request to the WhatsApp Cloud API was canceled")
	}
	inner := err
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		inner = urlErr.Err
	}
	return providerError(0, "", impl.ProviderText(redact("could not reach the WhatsApp Cloud API: "+impl.OneLine(inner.Error()), token)))
}

// redact removes the token from text that did not come from us. Meta does
// not echo tokens today, but nothing guarantees a proxy or a future error
// message will not, and the message is stored and shown.
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}
