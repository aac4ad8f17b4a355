package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/messaging"
)

// InboundWhatsAppPath is where Meta delivers a WhatsApp integration's
// webhooks. It is Meta's contract, not ours, so it lives outside /api/v1 and
// the OpenAPI spec, and authenticates Meta by signature instead of API key.
const InboundWhatsAppPath = "/inbound/whatsapp/:integration_id"

const eForbidden = "forbidden"

func (s *Server) registerInbound(e *echo.Echo) {
	e.GET(InboundWhatsAppPath, s.verifyWhatsAppSubscription)
	e.POST(InboundWhatsAppPath, s.receiveWhatsApp)
}

// inboundIntegration finds the active WhatsApp integration the URL names.
func (s *Server) inboundIntegration(c echo.Context) (*impl.Integration, error) {
	id, err := strconv.ParseInt(c.Param("integration_id"), 10, 64)
	notFound := impl.Errorf(impl.EIntegrationNotFound, "WhatsApp integration not found or inactive.")
	if err != nil || id < 1 {
		return nil, notFound
	}
	integ, err := s.cfg.Messaging.Integrations.FindIntegrationForInbound(c.Request().Context(), id)
	if impl.ErrorCode(err) == impl.ENotFound || err == nil && (!integ.Active || integ.Channel != impl.ChannelWhatsApp) {
		return nil, notFound
	}
	return integ, err
}

// verifyWhatsAppSubscription answers Meta's handshake: echo hub.challenge
// when hub.verify_token is the integration's verify token.
func (s *Server) verifyWhatsAppSubscription(c echo.Context) error {
	integ, err := s.inboundIntegration(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	token := q.Get("hub.verify_token")
	sum := sha256.Sum256([]byte(token))
	if q.Get("hub.mode") != "subscribe" || token == "" || len(integ.VerifyTokenHash) == 0 ||
		subtle.ConstantTimeCompare(sum[:], integ.VerifyTokenHash) != 1 {
		s.writeError(c, impl.Errorf(eForbidden, "The verify token does not match this integration's."))
		return nil
	}
	challenge := q.Get("hub.challenge")
	if challenge == "" || len(challenge) > 256 || !utf8.ValidString(challenge) {
		return impl.Errorf(impl.EBadRequest, "hub.challenge is missing or invalid.")
	}
	return c.String(http.StatusOK, challenge)
}

// receiveWhatsApp stores the messages of a signed Meta webhook. Nothing is
// stored unless X-Hub-Signature-256 is the HMAC-SHA256 of the raw body with
// the integration's app secret.
func (s *Server) receiveWhatsApp(c echo.Context) error {
	integ, err := s.inboundIntegration(c)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	if !validMetaSignature(integ.AppSecret, body, c.Request().Header.Get("X-Hub-Signature-256")) {
		return impl.Errorf(impl.EUnauthorized, "Missing or invalid X-Hub-Signature-256.")
	}
	var p metaWebhook
	if err := json.Unmarshal(body, &p); err != nil {
		return impl.Errorf(impl.EBadRequest, "The request body is not a WhatsApp webhook payload.")
	}
	msgs := p.messages(integ, s.leadNameMax, logger(c.Request().Context()).Warn)
	if err := s.cfg.Messaging.Receive(c.Request().Context(), integ, msgs); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"received": len(msgs)})
}

func validMetaSignature(secret string, body []byte, header string) bool {
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

// messages turns the payload's messages for integ into inbound messages.
// Status updates (delivered, read) carry no messages and are acknowledged as
// such.
// A message without an id or with a sender that is not a phone number is
// skipped and reported to warn.
func (p *metaWebhook) messages(integ *impl.Integration, maxName int, warn func(msg string, args ...any)) []messaging.InboundMessage {
	var out []messaging.InboundMessage
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
				if m.ID == "" || len(from) < 10 || len(from) > 15 || from != m.From {
					warn("inbound WhatsApp message skipped: no id or not a phone number", "type", m.Type)
					continue
				}
				typ, content := m.content()
				out = append(out, messaging.InboundMessage{
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
