package rbm

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// RBM's webhook is a Cloud Pub/Sub push: a POST of
//
//	{"message": {"data": "<base64 of the event JSON>", "messageId": "...", "publishTime": "..."}, "subscription": "..."}
//
// signed in X-Goog-Signature with the base64 HMAC-SHA512 of the decoded
// event under the agent's client token. Before it sends anything, RBM
// verifies the webhook with a POST of {"clientToken": "...", "secret": "..."}
// that must be answered 200 with the secret.

// Verification is RBM's webhook verification request.
type Verification struct {
	ClientToken string
	Secret      string
}

type pushEnvelope struct {
	Message *struct {
		Data        string `json:"data"`
		MessageID   string `json:"messageId"`
		PublishTime string `json:"publishTime"`
	} `json:"message"`
	ClientToken *string `json:"clientToken"`
	Secret      *string `json:"secret"`
}

// ErrNotAPush is returned for a body that is neither a push nor a
// verification, or whose data is not base64.
var ErrNotAPush = errors.New("not an RBM webhook push")

// ParsePush reads a webhook body: a verification request, or the decoded
// event of a push (the bytes the signature covers).
func ParsePush(body []byte) (v *Verification, event []byte, err error) {
	var env pushEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, nil, ErrNotAPush
	}
	if env.Message == nil {
		if env.ClientToken != nil && env.Secret != nil {
			return &Verification{ClientToken: *env.ClientToken, Secret: *env.Secret}, nil, nil
		}
		return nil, nil, ErrNotAPush
	}
	data, err := base64.StdEncoding.DecodeString(env.Message.Data)
	if err != nil || len(data) == 0 {
		return nil, nil, ErrNotAPush
	}
	return nil, data, nil
}

// Sign is the X-Goog-Signature of event under clientToken: the base64
// HMAC-SHA512 of the decoded event.
func Sign(clientToken string, event []byte) string {
	mac := hmac.New(sha512.New, []byte(clientToken))
	mac.Write(event)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidSignature reports whether header is Sign(clientToken, event). An
// empty client token verifies nothing.
func ValidSignature(clientToken string, event []byte, header string) bool {
	if clientToken == "" || header == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header))
	if err != nil {
		return false
	}
	mac := hmac.New(sha512.New, []byte(clientToken))
	mac.Write(event)
	return hmac.Equal(got, mac.Sum(nil))
}

// userEvent is RBM's event: a user's message (text, a suggestion tapped, a
// location or a file) or an event about an agent message (DELIVERED, READ,
// IS_TYPING, ...).
type userEvent struct {
	SenderPhoneNumber string `json:"senderPhoneNumber"`
	MessageID         string `json:"messageId"`
	SendTime          string `json:"sendTime"`
	AgentID           string `json:"agentId"`
	EventType         string `json:"eventType"`
	EventID           string `json:"eventId"`

	Text               *string `json:"text"`
	SuggestionResponse *struct {
		PostbackData string `json:"postbackData"`
		Text         string `json:"text"`
		Type         string `json:"type"`
	} `json:"suggestionResponse"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
	} `json:"location"`
	UserFile *struct {
		Payload struct {
			MimeType      string `json:"mimeType"`
			FileSizeBytes int64  `json:"fileSizeBytes"`
			FileURI       string `json:"fileUri"`
			FileName      string `json:"fileName"`
		} `json:"payload"`
	} `json:"userFile"`
}

// Event is what one RBM event says to an integration: a message, a status
// report, or nothing this API follows (Ignored, with why).
type Event struct {
	Message *impl.InboundMessage
	Status  *impl.StatusReport
	Ignored string
}

// ParseEvent reads a verified event for integ. It fails when event is not
// JSON; an event of a kind this API does not follow (IS_TYPING, a new kind)
// or for another agent is returned Ignored, since RBM would otherwise
// redeliver it for days.
func ParseEvent(event []byte, integ *impl.Integration) (*Event, error) {
	var e userEvent
	if err := json.Unmarshal(event, &e); err != nil {
		return nil, err
	}
	if e.AgentID != "" && integ.AgentID != "" && e.AgentID != integ.AgentID {
		return &Event{Ignored: "for another agent"}, nil
	}
	at, _ := time.Parse(time.RFC3339Nano, e.SendTime)
	if !impl.ProviderIDOK(e.MessageID) {
		return &Event{Ignored: "a message id that is no RBM id"}, nil
	}
	if e.EventType != "" {
		var status string
		switch e.EventType {
		case "DELIVERED":
			status = impl.StatusDelivered
		case "READ":
			status = impl.StatusRead
		default:
			return &Event{Ignored: "event " + e.EventType}, nil
		}
		if e.MessageID == "" {
			return &Event{Ignored: "an event without a message id"}, nil
		}
		// The messageId is the one the send chose: our reference.
		return &Event{Status: &impl.StatusReport{Reference: e.MessageID,
			StatusUpdate: impl.StatusUpdate{Status: status, At: at}}}, nil
	}
	from := impl.NormalizePhone(e.SenderPhoneNumber)
	if e.MessageID == "" || len(from) < 10 || len(from) > 15 || "+"+from != e.SenderPhoneNumber {
		return &Event{Ignored: "a message without an id or a sender's phone number"}, nil
	}
	typ, content := e.content()
	// What a user wrote is kept, not refused: only the control characters
	// no text may hold are dropped (impl.HasControlChars).
	for k, v := range content {
		if str, ok := v.(string); ok {
			content[k] = impl.StripControlChars(str)
		}
	}
	return &Event{Message: &impl.InboundMessage{ProviderMessageID: e.MessageID, From: from, SentAt: at,
		Type: typ, Content: content}}, nil
}

// content maps RBM's user message kinds onto the API's message types. A
// tapped suggestion is a text with the suggestion's postback data as its
// payload, as WhatsApp's button replies are.
func (e *userEvent) content() (string, map[string]any) {
	switch {
	case e.Text != nil:
		return "text", map[string]any{"text": *e.Text}
	case e.SuggestionResponse != nil:
		c := map[string]any{"text": e.SuggestionResponse.Text, "payload": e.SuggestionResponse.PostbackData}
		if e.SuggestionResponse.Type != "" {
			c["suggestion_type"] = strings.ToLower(e.SuggestionResponse.Type)
		}
		return "text", c
	case e.Location != nil:
		return "location", map[string]any{"latitude": e.Location.Latitude, "longitude": e.Location.Longitude}
	case e.UserFile != nil:
		p := e.UserFile.Payload
		c := map[string]any{"file_url": p.FileURI}
		for k, v := range map[string]string{"mime_type": p.MimeType, "filename": p.FileName} {
			if v != "" {
				c[k] = v
			}
		}
		if p.FileSizeBytes > 0 {
			c["size_bytes"] = p.FileSizeBytes
		}
		return "file", c
	}
	return "unsupported", map[string]any{"provider_type": "unknown"}
}
