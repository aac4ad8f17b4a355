// Package rbm sends RCS messages through Google's RCS Business Messaging
// (RBM) REST API, v1:
//
//	POST https://rcsbusinessmessaging.googleapis.com/v1/phones/{E.164}/agentMessages?messageId=..&agentId=..
//
// with an AgentMessage ({"contentMessage": AgentContentMessage}) as the body.
// RBM deduplicates on messageId, so a retried send with the same id cannot
// reach the user twice: the retry answers 409 ALREADY_EXISTS instead.
package rbm

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
	"strings"
	"syscall"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// DefaultBaseURL is Google's RBM API endpoint.
const DefaultBaseURL = "https://rcsbusinessmessaging.googleapis.com"

const (
	// DefaultTimeout bounds a send when Client.HTTP is nil.
	DefaultTimeout = 15 * time.Second
	// maxBody caps how much of an answer is read.
	maxBody = 1 << 20
)

// Postback data of the suggestions this package synthesizes or of buttons
// that came without a payload. RBM sends postbackData back in the user
// event when the chip is tapped, so they must be stable.
const (
	postbackOpenURL      = "open_url"
	postbackDial         = "dial"
	postbackViewLocation = "view_location"
)

// Client is an RBM API client. Its zero value, given a Token, talks to
// Google with a 15s timeout.
type Client struct {
	// BaseURL is the API's scheme and host, with no trailing path;
	// DefaultBaseURL when empty. Point it at mocks/rbmapi to test.
	BaseURL string
	// Token is the OAuth 2 bearer token of the service account that owns
	// the agents (from configuration), for integrations without a token of
	// their own.
	Token string
	// HTTP is the client to send with; nil means one with a 15s timeout.
	// Redirects are never followed, whatever its CheckRedirect says.
	HTTP *http.Client
}

var _ impl.RCSProvider = (*Client)(nil)

var defaultHTTP = &http.Client{Timeout: DefaultTimeout, CheckRedirect: noRedirect}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// SendRCS sends msg to phone (digits only, with country code) as the
// integration's agent, with messageID as RBM's messageId, authenticated
// with the integration's access token or else Token. It returns RBM's name
// for the message ("phones/+5511999999999/agentMessages/{messageID}"), or a
// *impl.ProviderError.
func (c *Client) SendRCS(ctx context.Context, integ *impl.Integration, phone, messageID string, msg *impl.RCSContent) (string, error) {
	if integ == nil || integ.AgentID == "" {
		return "", fail(0, "", "integration misconfigured: no RBM agent id")
	}
	token := integ.AccessToken
	if token == "" {
		token = c.Token
	}
	if token == "" {
		return "", fail(0, "", "integration misconfigured: no RBM access token, neither the integration's nor the server's")
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fail(0, "", "integration misconfigured: the RBM access token contains spaces or control characters")
	}
	if messageID == "" {
		return "", fail(0, "", "no message id")
	}
	msisdn, ok := toMSISDN(phone)
	if !ok {
		return "", fail(0, "", "invalid phone number: expected digits with country code")
	}
	if msg == nil {
		return "", fail(0, "", "no message content")
	}
	content, err := buildContent(msg)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(agentMessage{ContentMessage: content})
	if err != nil {
		return "", fail(0, "", "could not encode message: "+err.Error())
	}

	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	q := url.Values{"messageId": {messageID}, "agentId": {integ.AgentID}}
	u := strings.TrimRight(base, "/") + "/v1/phones/" + url.PathEscape(msisdn) + "/agentMessages?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", fail(0, "", "integration misconfigured: invalid RBM base URL")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.httpClient().Do(req)
	if err != nil {
		return "", transportError(ctx, err)
	}
	defer resp.Body.Close()
	// The rest of an oversized answer is left unread; the connection is
	// then not reused, which is fine for an answer that should not exist.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", fail(resp.StatusCode, "", "could not read the answer of Google RBM")
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var echoed struct {
			Name string `json:"name"`
		}
		// RBM names the message after the messageId we chose; a name that
		// cannot be an id (a proxy's answer, say) is not kept.
		if json.Unmarshal(raw, &echoed) == nil && echoed.Name != "" && impl.ProviderIDOK(echoed.Name) {
			return echoed.Name, nil
		}
		return messageID, nil
	}
	return "", answerError(resp.StatusCode, raw, token)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP == nil {
		return defaultHTTP
	}
	hc := *c.HTTP
	hc.CheckRedirect = noRedirect
	return &hc
}

func fail(status int, code, message string) *impl.ProviderError {
	return &impl.ProviderError{Provider: impl.ProviderGoogleRBM, Status: status, Code: code, Message: message}
}

// toMSISDN turns digits (optionally already prefixed with "+") into E.164.
func toMSISDN(phone string) (string, bool) {
	digits := strings.TrimPrefix(phone, "+")
	if digits == "" || len(digits) > 15 {
		return "", false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return "+" + digits, true
}

// answerError maps a non-2xx answer. Google APIs answer errors as
//
//	{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}
//
// Notably RBM answers 404 NOT_FOUND when the user's device is not
// RCS-capable (or not reachable for this agent): the "entity" is the
// phone, not anything of ours.
func answerError(status int, raw []byte, token string) *impl.ProviderError {
	var ge struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &ge) == nil && (ge.Error.Message != "" || ge.Error.Status != "") {
		// Google's words are kept and shown to the partner, so they get
		// the same treatment as Meta's: the token redacted (Google does not
		// echo it, but a proxy might), then one line of bounded length.
		msg := ge.Error.Message
		if msg == "" {
			msg = ge.Error.Status
		}
		if token != "" {
			msg = strings.ReplaceAll(msg, token, "[redacted]")
		}
		return fail(status, impl.ProviderCode(ge.Error.Status), impl.ProviderText(msg))
	}
	// Not Google's error JSON: an HTML page from a proxy or load balancer,
	// say. The body is not echoed: it is noise at best.
	switch {
	case status >= 300 && status < 400:
		return fail(status, "", "unexpected redirect from Google RBM")
	case status >= 500:
		return fail(status, "", "Google RBM is unavailable (unexpected non-JSON error answer)")
	default:
		return fail(status, "", "Google RBM refused the message (unexpected non-JSON error answer)")
	}
}

// transportError maps a failure to get any answer. The messages never
// include the request (its URL, let alone its Authorization header).
func transportError(ctx context.Context, err error) *impl.ProviderError {
	var ne net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return fail(0, "", "request to Google RBM timed out")
	case errors.Is(ctx.Err(), context.Canceled), errors.Is(err, context.Canceled):
		return fail(0, "", "request to Google RBM was canceled")
	case errors.As(err, &dnsErr):
		return fail(0, "", "could not resolve the Google RBM host")
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(0, "", "could not connect to Google RBM: connection refused")
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fail(0, "", "could not connect to Google RBM")
	default:
		return fail(0, "", "no answer from Google RBM (connection failed)")
	}
}

// RBM's JSON (google.rcs.businessmessaging.v1), the parts this package
// sends.

type agentMessage struct {
	ContentMessage *contentMessage `json:"contentMessage"`
}

// contentMessage is an AgentContentMessage: exactly one of Text, RichCard,
// ContentInfo, with Suggestions (chips) only alongside Text here.
type contentMessage struct {
	Text        string       `json:"text,omitempty"`
	RichCard    *richCard    `json:"richCard,omitempty"`
	ContentInfo *contentInfo `json:"contentInfo,omitempty"`
	Suggestions []suggestion `json:"suggestions,omitempty"`
}

type contentInfo struct {
	FileURL string `json:"fileUrl"`
	// ForceRefresh is sent (as false) for files so RBM may serve its cached
	// copy of a URL it fetched before; nil leaves it out.
	ForceRefresh *bool `json:"forceRefresh,omitempty"`
}

type richCard struct {
	StandaloneCard *standaloneCard `json:"standaloneCard,omitempty"`
	CarouselCard   *carouselCard   `json:"carouselCard,omitempty"`
}

type standaloneCard struct {
	CardOrientation string       `json:"cardOrientation"`
	CardContent     *cardContent `json:"cardContent"`
}

type carouselCard struct {
	CardWidth    string        `json:"cardWidth"`
	CardContents []cardContent `json:"cardContents"`
}

type cardContent struct {
	Title       string       `json:"title,omitempty"`
	Description string       `json:"description,omitempty"`
	Media       *media       `json:"media,omitempty"`
	Suggestions []suggestion `json:"suggestions,omitempty"`
}

type media struct {
	Height      string       `json:"height"`
	ContentInfo *contentInfo `json:"contentInfo"`
}

// suggestion is exactly one of Reply and Action.
type suggestion struct {
	Reply  *suggestedReply  `json:"reply,omitempty"`
	Action *suggestedAction `json:"action,omitempty"`
}

type suggestedReply struct {
	Text         string `json:"text"`
	PostbackData string `json:"postbackData"`
}

type suggestedAction struct {
	Text               string              `json:"text"`
	PostbackData       string              `json:"postbackData"`
	OpenURLAction      *openURLAction      `json:"openUrlAction,omitempty"`
	DialAction         *dialAction         `json:"dialAction,omitempty"`
	ViewLocationAction *viewLocationAction `json:"viewLocationAction,omitempty"`
}

type openURLAction struct {
	URL string `json:"url"`
}

type dialAction struct {
	PhoneNumber string `json:"phoneNumber"`
}

type viewLocationAction struct {
	LatLong latLng `json:"latLong"`
	Label   string `json:"label,omitempty"`
}

type latLng struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// buildContent translates our content into an AgentContentMessage. The
// API spec has enforced our limits (lengths, counts) before msg exists;
// only what this package synthesizes is checked here.
func buildContent(msg *impl.RCSContent) (*contentMessage, error) {
	switch msg.Type {
	case "text":
		return &contentMessage{Text: msg.Text}, nil

	case "file":
		// RBM fetches the file and infers its type from the answer's
		// Content-Type; our MimeType is ours only and is not sent.
		noRefresh := false
		return &contentMessage{ContentInfo: &contentInfo{FileURL: msg.FileURL, ForceRefresh: &noRefresh}}, nil

	case "card":
		if msg.Card == nil {
			return nil, fail(0, "", "card message without a card")
		}
		cc, err := buildCard(msg.Card)
		if err != nil {
			return nil, err
		}
		return &contentMessage{RichCard: &richCard{StandaloneCard: &standaloneCard{
			CardOrientation: "VERTICAL",
			CardContent:     cc,
		}}}, nil

	case "carousel":
		width := msg.CardWidth
		if width == "" {
			width = "MEDIUM"
		}
		cards := make([]cardContent, 0, len(msg.Cards))
		for i := range msg.Cards {
			cc, err := buildCard(&msg.Cards[i])
			if err != nil {
				return nil, err
			}
			cards = append(cards, *cc)
		}
		return &contentMessage{RichCard: &richCard{CarouselCard: &carouselCard{
			CardWidth:    width,
			CardContents: cards,
		}}}, nil

	case "replyable_text":
		sugs := make([]suggestion, 0, len(msg.QuickReplies))
		for _, qr := range msg.QuickReplies {
			sugs = append(sugs, suggestion{Reply: &suggestedReply{Text: qr.Text, PostbackData: orDefault(qr.Payload, qr.Text)}})
		}
		return &contentMessage{Text: msg.Text, Suggestions: sugs}, nil

	case "location":
		// RBM has no location message: send a text with a "view location"
		// chip that opens the user's maps app at the point.
		if msg.Latitude == nil || msg.Longitude == nil {
			return nil, fail(0, "", "location message without latitude and longitude")
		}
		text := msg.Text
		if text == "" {
			text = msg.Label
		}
		if text == "" {
			text = "Location"
		}
		return &contentMessage{Text: text, Suggestions: []suggestion{{Action: &suggestedAction{
			// A fixed chip text: the label is already the message's text,
			// and may be longer than a chip allows.
			Text:         "View location",
			PostbackData: postbackViewLocation,
			ViewLocationAction: &viewLocationAction{
				LatLong: latLng{Latitude: *msg.Latitude, Longitude: *msg.Longitude},
				Label:   msg.Label,
			},
		}}}}, nil

	default:
		return nil, fail(0, "", fmt.Sprintf("unsupported RCS message type %q", msg.Type))
	}
}

func buildCard(card *impl.RCSCard) (*cardContent, error) {
	cc := &cardContent{Title: card.Title, Description: card.Description}
	if card.MediaURL != "" {
		cc.Media = &media{Height: "MEDIUM", ContentInfo: &contentInfo{FileURL: card.MediaURL}}
	}
	for _, b := range card.Buttons {
		s, err := buildButton(b)
		if err != nil {
			return nil, err
		}
		cc.Suggestions = append(cc.Suggestions, s)
	}
	return cc, nil
}

func buildButton(b impl.RCSButton) (suggestion, error) {
	switch b.Type {
	case impl.ButtonReply:
		return suggestion{Reply: &suggestedReply{Text: b.Text, PostbackData: orDefault(b.Payload, b.Text)}}, nil
	case impl.ButtonURL:
		return suggestion{Action: &suggestedAction{
			Text:          b.Text,
			PostbackData:  orDefault(b.Payload, postbackOpenURL),
			OpenURLAction: &openURLAction{URL: b.URL},
		}}, nil
	case impl.ButtonCall:
		return suggestion{Action: &suggestedAction{
			Text:         b.Text,
			PostbackData: orDefault(b.Payload, postbackDial),
			DialAction:   &dialAction{PhoneNumber: dialNumber(b.PhoneNumber)},
		}}, nil
	default:
		return suggestion{}, fail(0, "", fmt.Sprintf("unsupported RCS button type %q", b.Type))
	}
}

// dialNumber gives RBM the E.164 it expects: digits-only numbers (our
// convention for phones) get their "+"; anything else is passed as is.
func dialNumber(phone string) string {
	if msisdn, ok := toMSISDN(phone); ok {
		return msisdn
	}
	return phone
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
