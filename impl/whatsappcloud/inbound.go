package whatsappcloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
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

type metaMessage struct {
	From string `json:"from"`
	ID   string `json:"id"`
	Type string `json:"type"`
	Text *struct {
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

// maxMessageID bounds the provider ids we keep. Meta's wamid values are
// around 60 characters; anything far longer is not one of them.
const maxMessageID = 512

// InboundMessages reads the messages of a WhatsApp webhook payload that are
// for integ. It fails only when body is not such a payload. Status updates
// (delivered, read) carry no messages. A message without an id or with a
// sender that is not a phone number is skipped and reported to warn;
// contact names are made to fit a lead's name of at most maxName
// characters.
func InboundMessages(body []byte, integ *impl.Integration, maxName int, warn func(msg string, args ...any)) ([]impl.InboundMessage, error) {
	var p metaWebhook
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("whatsapp webhook payload: %w", err)
	}
	return p.messages(integ, maxName, warn), nil
}

func (p *metaWebhook) messages(integ *impl.Integration, maxName int, warn func(msg string, args ...any)) []impl.InboundMessage {
	var out []impl.InboundMessage
	for _, e := range p.Entry {
		for _, ch := range e.Changes {
			// One Meta app can serve several numbers, all signed with the
			// same app secret: only this integration's number is its own.
			if got := ch.Value.Metadata.PhoneNumberID; integ.PhoneNumberID != "" && got != "" && got != integ.PhoneNumberID {
				warn("inbound WhatsApp change skipped: it is for another phone number id", "integration_id", integ.ID)
				continue
			}
			names := map[string]string{}
			for _, ct := range ch.Value.Contacts {
				names[ct.WaID] = ct.Profile.Name
			}
			for _, m := range ch.Value.Messages {
				from := impl.NormalizePhone(m.From)
				if m.ID == "" || len(m.ID) > maxMessageID || impl.HasControlChars(m.ID) ||
					len(from) < 10 || len(from) > 15 || from != m.From {
					warn("inbound WhatsApp message skipped: no usable id or not a phone number", "type", m.Type)
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
				out = append(out, impl.InboundMessage{
					ProviderMessageID: m.ID,
					From:              from,
					ContactName:       cleanName(names[m.From], maxName),
					Type:              typ,
					Content:           content,
				})
			}
		}
	}
	return out
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
