package whatsappcloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/iagente/iagente-sdr/impl"
)

// ValidSignature reports whether header (X-Hub-Signature-256) is
// "sha256=" and the hex HMAC-SHA256 of the raw body under the app secret, as
// Meta signs every webhook it sends.
func ValidSignature(secret string, body []byte, header string) bool {
	if secret == "" {
		return false
	}
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// metaWebhook is the part of Meta's WhatsApp webhook payload we read.
type metaWebhook struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
					WaID string `json:"wa_id"`
				} `json:"contacts"`
				Messages []metaMessage `json:"messages"`
				Statuses []metaStatus  `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type metaMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

// metaStatus is a status update about a message the business sent.
type metaStatus struct {
	ID                    string          `json:"id"`
	Status                string          `json:"status"`
	Timestamp             json.RawMessage `json:"timestamp"`
	BizOpaqueCallbackData string          `json:"biz_opaque_callback_data"`
	Errors                []struct {
		Code      json.RawMessage `json:"code"`
		Title     string          `json:"title"`
		Message   string          `json:"message"`
		ErrorData json.RawMessage `json:"error_data"`
	} `json:"errors"`
}

type metaMessage struct {
	From      string          `json:"from"`
	ID        string          `json:"id"`
	Timestamp json.RawMessage `json:"timestamp"`
	Type      string          `json:"type"`
	Text      *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image    *metaMedia `json:"image"`
	Video    *metaMedia `json:"video"`
	Audio    *metaMedia `json:"audio"`
	Document *metaMedia `json:"document"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
	} `json:"location"`
	Button *struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	} `json:"button"`
	Interactive *struct {
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"list_reply"`
	} `json:"interactive"`
}

// Webhook is what one of Meta's WhatsApp webhooks says to an integration.
type Webhook struct {
	// Messages are the messages contacts sent.
	Messages []impl.InboundMessage
	// Statuses are reports on messages the business sent: sent, delivered,
	// read or failed.
	Statuses []impl.StatusReport
	// Ignored counts the entries skipped: another phone number's, a message
	// without a usable id or a phone, a status this API does not follow
	// (Meta adds kinds over time; refusing them would make Meta retry the
	// whole payload for days).
	Ignored int
}

// ParseWebhook reads a WhatsApp webhook payload for integ. It fails only
// when body is not such a payload. Skipped entries are counted and reported
// to warn; contact names are made to fit a lead's name of at most maxName
// characters.
func ParseWebhook(body []byte, integ *impl.Integration, maxName int, warn func(msg string, args ...any)) (*Webhook, error) {
	var p metaWebhook
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("whatsapp webhook payload: %w", err)
	}
	w := &Webhook{}
	for _, e := range p.Entry {
		for _, ch := range e.Changes {
			// One Meta app can serve several numbers, all signed with the
			// same app secret: only this integration's number is its own.
			if got := ch.Value.Metadata.PhoneNumberID; integ.PhoneNumberID != "" && got != "" && got != integ.PhoneNumberID {
				warn("inbound WhatsApp change skipped: it is for another phone number id", "integration_id", integ.ID)
				w.Ignored += len(ch.Value.Messages) + len(ch.Value.Statuses)
				continue
			}
			names := map[string]string{}
			for _, ct := range ch.Value.Contacts {
				names[ct.WaID] = ct.Profile.Name
			}
			for _, m := range ch.Value.Messages {
				from := impl.NormalizePhone(m.From)
				if m.ID == "" || !impl.ProviderIDOK(m.ID) ||
					len(from) < 10 || len(from) > 15 || from != m.From {
					warn("inbound WhatsApp message skipped: no usable id or not a phone number", "type", m.Type)
					w.Ignored++
					continue
				}
				typ, content := m.content()
				// What a contact wrote is kept, not refused: only the control
				// characters no text may hold are dropped (impl.HasControlChars).
				for k, v := range content {
					if str, ok := v.(string); ok {
						content[k] = impl.StripControlChars(str)
					}
				}
				w.Messages = append(w.Messages, impl.InboundMessage{
					ProviderMessageID: m.ID,
					From:              from,
					ContactName:       cleanName(names[m.From], maxName),
					SentAt:            unixTime(m.Timestamp),
					Type:              typ,
					Content:           content,
				})
			}
			for _, st := range ch.Value.Statuses {
				r, ok := st.report()
				if !ok {
					warn("WhatsApp status skipped: no message id, or a status not followed", "status", impl.ProviderText(st.Status))
					w.Ignored++
					continue
				}
				w.Statuses = append(w.Statuses, r)
			}
		}
	}
	return w, nil
}

// report is the status in our terms, or false when it names no message or
// is not one of the statuses a message's life is made of.
func (st *metaStatus) report() (impl.StatusReport, bool) {
	if st.ID == "" && st.BizOpaqueCallbackData == "" {
		return impl.StatusReport{}, false
	}
	for _, id := range []string{st.ID, st.BizOpaqueCallbackData} {
		if !impl.ProviderIDOK(id) {
			return impl.StatusReport{}, false
		}
	}
	switch st.Status {
	case impl.StatusSent, impl.StatusDelivered, impl.StatusRead, impl.StatusFailed:
	default:
		return impl.StatusReport{}, false
	}
	r := impl.StatusReport{Reference: st.BizOpaqueCallbackData,
		StatusUpdate: impl.StatusUpdate{Status: st.Status, At: unixTime(st.Timestamp), ProviderMessageID: st.ID}}
	if st.Status == impl.StatusFailed && len(st.Errors) > 0 {
		e := st.Errors[0]
		if code := strings.Trim(string(e.Code), `"`); code != "" && strings.Trim(code, "0123456789") == "" {
			r.ErrorCode = code
		}
		r.ErrorTitle = impl.ProviderText(e.Title)
		r.Error = impl.ProviderText(e.Message)
		if details := errorDetails(e.ErrorData); details != "" && details != r.Error {
			r.Error = strings.TrimSpace(r.Error + " (" + details + ")")
		}
		if r.Error == "" {
			r.Error = r.ErrorTitle
		}
	}
	if st.Status == impl.StatusFailed && r.Error == "" {
		r.Error = "the provider reported the message failed without a reason"
	}
	return r, true
}

// unixTime reads Meta's timestamps, Unix seconds as a string (or, to be
// lenient, a number); the zero time when it does not parse.
func unixTime(raw json.RawMessage) time.Time {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// content maps Meta's message kinds onto the API's message types. Button and
// list replies are texts with the tapped option's payload.
func (m *metaMessage) content() (string, map[string]any) {
	media := func(typ string, x *metaMedia) (string, map[string]any) {
		c := map[string]any{"media_id": x.ID}
		for k, v := range map[string]string{"mime_type": x.MimeType, "sha256": x.SHA256, "caption": x.Caption, "filename": x.Filename} {
			if v != "" {
				c[k] = v
			}
		}
		return typ, c
	}
	switch {
	case m.Type == "text" && m.Text != nil:
		return "text", map[string]any{"text": m.Text.Body}
	case m.Type == "image" && m.Image != nil:
		return media("image", m.Image)
	case m.Type == "video" && m.Video != nil:
		return media("video", m.Video)
	case m.Type == "audio" && m.Audio != nil:
		return media("audio", m.Audio)
	case m.Type == "document" && m.Document != nil:
		return media("document", m.Document)
	case m.Type == "location" && m.Location != nil:
		c := map[string]any{"latitude": m.Location.Latitude, "longitude": m.Location.Longitude}
		if m.Location.Name != "" {
			c["label"] = m.Location.Name
		}
		if m.Location.Address != "" {
			c["address"] = m.Location.Address
		}
		return "location", c
	case m.Type == "button" && m.Button != nil:
		return "text", map[string]any{"text": m.Button.Text, "payload": m.Button.Payload}
	case m.Type == "interactive" && m.Interactive != nil && m.Interactive.ButtonReply != nil:
		return "text", map[string]any{"text": m.Interactive.ButtonReply.Title, "payload": m.Interactive.ButtonReply.ID}
	case m.Type == "interactive" && m.Interactive != nil && m.Interactive.ListReply != nil:
		return "text", map[string]any{"text": m.Interactive.ListReply.Title, "payload": m.Interactive.ListReply.ID}
	}
	return "unsupported", map[string]any{"provider_type": m.Type}
}

// cleanName makes a WhatsApp profile name fit a lead's name: one line with
// single spaces where there were control characters or runs of blanks, at
// most max characters (the spec's limit).
func cleanName(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return -1
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}
