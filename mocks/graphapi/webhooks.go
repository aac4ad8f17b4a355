package graphapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// BusinessAccountID is the WhatsApp Business Account id the payload
// builders put in entry[].id; receivers route on the phone number id in
// metadata, so a fixed one is enough.
const BusinessAccountID = "100000000000001"

// pushClient does not follow redirects, as Meta does not: a callback URL
// that redirects is a misconfigured callback URL.
var pushClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Sign returns the X-Hub-Signature-256 value Meta sends with a webhook:
// "sha256=" and the hex HMAC-SHA256 of the exact payload bytes, keyed with
// the app secret.
func Sign(appSecret string, payload []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(payload)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// PushInbound delivers a webhook as Meta does: POST payload to targetURL,
// JSON, signed with appSecret in X-Hub-Signature-256. The caller closes the
// response body.
func PushInbound(ctx context.Context, targetURL, appSecret string, payload []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, targetURL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set("X-Hub-Signature-256", Sign(appSecret, payload))
	return pushClient.Do(req)
}

// VerifySubscription performs Meta's subscription handshake against
// callbackURL: GET with hub.mode=subscribe, hub.verify_token and
// hub.challenge. A callback that accepts the token answers 200 with the
// challenge as its whole body. The caller closes the response body.
func VerifySubscription(ctx context.Context, callbackURL, verifyToken, challenge string) (*http.Response, error) {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.verify_token", verifyToken)
	q.Set("hub.challenge", challenge)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "facebookplatform/1.0 (+http://developers.facebook.com)")
	return pushClient.Do(req)
}

// The webhook envelope, in Meta's field order.
type notification struct {
	Object string  `json:"object"`
	Entry  []entry `json:"entry"`
}

type entry struct {
	ID      string   `json:"id"`
	Changes []change `json:"changes"`
}

type change struct {
	Value value  `json:"value"`
	Field string `json:"field"`
}

type value struct {
	MessagingProduct string           `json:"messaging_product"`
	Metadata         metadata         `json:"metadata"`
	Contacts         []contact        `json:"contacts,omitempty"`
	Messages         []inboundMessage `json:"messages,omitempty"`
	Statuses         []status         `json:"statuses,omitempty"`
}

type metadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

type contact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WaID string `json:"wa_id"`
}

type inboundMessage struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Text      *struct {
		Body string `json:"body"`
	} `json:"text,omitempty"`
	Image *Image `json:"image,omitempty"`
}

// Image is an inbound image as Meta describes it: the media id to fetch
// it with (GET /{media-id}), its type and hash, and the sender's caption.
type Image struct {
	Caption  string `json:"caption,omitempty"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	ID       string `json:"id"`
}

type status struct {
	ID                    string        `json:"id"`
	Status                string        `json:"status"`
	Timestamp             string        `json:"timestamp"`
	RecipientID           string        `json:"recipient_id"`
	BizOpaqueCallbackData string        `json:"biz_opaque_callback_data,omitempty"`
	Conversation          *conversation `json:"conversation,omitempty"`
	Pricing               *pricing      `json:"pricing,omitempty"`
	Errors                []statusError `json:"errors,omitempty"`
}

// conversation and pricing are what Meta adds to sent and delivered
// statuses: the billed conversation the message opened or belongs to.
type conversation struct {
	ID     string `json:"id"`
	Origin struct {
		Type string `json:"type"`
	} `json:"origin"`
	ExpirationTimestamp string `json:"expiration_timestamp,omitempty"`
}

type pricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model"`
	Category     string `json:"category"`
}

type statusError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
	Href string `json:"href"`
}

// Status is one status of a message the business sent, as a webhook
// reports it.
type Status struct {
	// WAMID is the message's id; State "sent", "delivered", "read" or
	// "failed" (or anything else, to test a receiver).
	WAMID     string
	State     string
	Recipient string
	// Reference is the send's biz_opaque_callback_data, echoed.
	Reference string
	Time      time.Time
	// Error is a failed status's error.
	Error *Error
}

// StatusesPayload is the webhook Meta sends about messages the business
// sent from phoneNumberID: one entry per status, with the conversation and
// pricing Meta adds to sent and delivered ones and the error of a failed
// one.
func StatusesPayload(phoneNumberID, displayPhone string, sts ...Status) []byte {
	out := make([]status, len(sts))
	for i, st := range sts {
		s := status{ID: st.WAMID, Status: st.State, Timestamp: unix(st.Time), RecipientID: st.Recipient,
			BizOpaqueCallbackData: st.Reference}
		switch {
		case st.State == "sent" || st.State == "delivered":
			c := &conversation{ID: "CONVERSATION_" + st.Recipient}
			c.Origin.Type = "service"
			if st.State == "sent" {
				c.ExpirationTimestamp = unix(st.Time.Add(24 * time.Hour))
			}
			s.Conversation = c
			s.Pricing = &pricing{Billable: true, PricingModel: "PMP", Category: "service"}
		case st.Error != nil:
			e := statusError{Code: st.Error.Code, Title: st.Error.Title, Message: st.Error.Message,
				Href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}
			e.ErrorData.Details = st.Error.Details
			s.Errors = []statusError{e}
		}
		out[i] = s
	}
	return envelope(phoneNumberID, displayPhone, value{Statuses: out})
}

func envelope(phoneNumberID, displayPhone string, v value) []byte {
	v.MessagingProduct = "whatsapp"
	v.Metadata = metadata{DisplayPhoneNumber: displayPhone, PhoneNumberID: phoneNumberID}
	b, err := json.Marshal(notification{
		Object: "whatsapp_business_account",
		Entry: []entry{{
			ID:      BusinessAccountID,
			Changes: []change{{Value: v, Field: "messages"}},
		}},
	})
	if err != nil {
		panic(err) // only strings inside; cannot happen
	}
	return b
}

func unix(ts time.Time) string { return strconv.FormatInt(ts.Unix(), 10) }

func sender(from, name string) []contact {
	c := contact{WaID: from}
	c.Profile.Name = name
	return []contact{c}
}

// InboundText is the webhook Meta sends when from (digits, as wa_id) writes
// text to the business number phoneNumberID (displayed as displayPhone).
func InboundText(phoneNumberID, displayPhone, from, name, wamid, text string, ts time.Time) []byte {
	m := inboundMessage{From: from, ID: wamid, Timestamp: unix(ts), Type: "text"}
	m.Text = &struct {
		Body string `json:"body"`
	}{Body: text}
	return envelope(phoneNumberID, displayPhone, value{Contacts: sender(from, name), Messages: []inboundMessage{m}})
}

// InboundImage is the webhook Meta sends when from sends an image. Meta
// sends no URL: the receiver fetches the media by img.ID with its token.
func InboundImage(phoneNumberID, displayPhone, from, name, wamid string, img Image, ts time.Time) []byte {
	m := inboundMessage{From: from, ID: wamid, Timestamp: unix(ts), Type: "image", Image: &img}
	return envelope(phoneNumberID, displayPhone, value{Contacts: sender(from, name), Messages: []inboundMessage{m}})
}

// StatusUpdate is the webhook Meta sends, to the same callback as inbound
// messages, when a message the business sent (wamid, to recipient) changes
// state: "sent", "delivered", "read" or "failed". It carries only the
// fields every status has; Meta adds conversation, pricing and, for
// failed, errors, which a receiver must tolerate but not require.
func StatusUpdate(phoneNumberID, displayPhone, recipient, wamid, state string, ts time.Time) []byte {
	s := status{ID: wamid, Status: state, Timestamp: unix(ts), RecipientID: recipient}
	return envelope(phoneNumberID, displayPhone, value{Statuses: []status{s}})
}
