package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/whatsappcloud"
)

// InboundWhatsAppPath is where Meta delivers a WhatsApp integration's
// webhooks. It is Meta's contract, not ours, so it lives outside /api/v1 and
// the OpenAPI spec, and authenticates Meta by signature instead of API key.
const InboundWhatsAppPath = "/inbound/whatsapp/:integration_id"

const eForbidden = "forbidden"

func (s *Server) registerInbound(e *echo.Echo) {
	e.GET(InboundWhatsAppPath, s.verifyWhatsAppSubscription)
	e.POST(InboundWhatsAppPath, s.receiveWhatsApp)
	e.POST(InboundRCSPath, s.receiveRCS)
}

// inboundIntegration finds the active integration of channel the URL names.
// An address that keeps naming integrations that do not exist, or failing
// their signatures, is limited like failed API keys.
func (s *Server) inboundIntegration(c echo.Context, channel string) (*impl.Integration, error) {
	if err := s.addressGate(c); err != nil {
		return nil, err
	}
	integ, err := s.findInboundIntegration(c, channel)
	if impl.ErrorCode(err) == impl.EIntegrationNotFound {
		if limited := s.countAddress(c); limited != nil {
			return nil, limited
		}
	}
	return integ, err
}

func (s *Server) findInboundIntegration(c echo.Context, channel string) (*impl.Integration, error) {
	id, err := strconv.ParseInt(c.Param("integration_id"), 10, 64)
	notFound := impl.Errorf(impl.EIntegrationNotFound, "%s integration not found or inactive.", impl.ChannelNames[channel])
	if err != nil || id < 1 {
		return nil, notFound
	}
	integ, err := s.cfg.Integrations.FindIntegrationForInbound(c.Request().Context(), id)
	if impl.ErrorCode(err) == impl.ENotFound || err == nil && (!integ.Active || integ.Channel != channel) {
		return nil, notFound
	}
	return integ, err
}

// inboundResult is what an inbound endpoint answers a provider: how many
// messages it stored, status reports it applied, and entries it ignored.
type inboundResult struct {
	Received int `json:"received"`
	Statuses int `json:"statuses"`
	Ignored  int `json:"ignored"`
}

// verifyWhatsAppSubscription answers Meta's handshake: echo hub.challenge
// when hub.verify_token is the integration's verify token.
func (s *Server) verifyWhatsAppSubscription(c echo.Context) error {
	integ, err := s.inboundIntegration(c, impl.ChannelWhatsApp)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	token := q.Get("hub.verify_token")
	sum := sha256.Sum256([]byte(token))
	if q.Get("hub.mode") != "subscribe" || token == "" || len(integ.VerifyTokenHash) == 0 ||
		subtle.ConstantTimeCompare(sum[:], integ.VerifyTokenHash) != 1 {
		if limited := s.countAddress(c); limited != nil {
			return limited
		}
		s.writeError(c, impl.Errorf(eForbidden, "The verify token does not match this integration's."))
		return nil
	}
	challenge := q.Get("hub.challenge")
	if challenge == "" || len(challenge) > 256 || !utf8.ValidString(challenge) {
		return impl.Errorf(impl.EBadRequest, "hub.challenge is missing or invalid.")
	}
	return c.String(http.StatusOK, challenge)
}

// receiveWhatsApp stores the messages and applies the status reports of a
// signed Meta webhook. Nothing is read unless X-Hub-Signature-256 is the
// HMAC-SHA256 of the raw body with the integration's app secret (401
// otherwise). A signed body that is not JSON is 400: Meta never sends one.
// Entries this API does not follow (a status of a new kind, a message of
// another number, a report on a message it did not send) are answered 200
// and ignored, since Meta would retry the whole payload for days.
func (s *Server) receiveWhatsApp(c echo.Context) error {
	integ, err := s.inboundIntegration(c, impl.ChannelWhatsApp)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	if !whatsappcloud.ValidSignature(integ.AppSecret, body, c.Request().Header.Get("X-Hub-Signature-256")) {
		if limited := s.countAddress(c); limited != nil {
			return limited
		}
		return impl.Errorf(impl.EUnauthorized, "Missing or invalid X-Hub-Signature-256.")
	}
	ctx := c.Request().Context()
	w, err := whatsappcloud.ParseWebhook(body, integ, s.leadNameMax, logger(ctx).Warn)
	if err != nil {
		return impl.Errorf(impl.EBadRequest, "The request body is not a WhatsApp webhook payload.")
	}
	if err := s.cfg.Messenger.Receive(ctx, integ, w.Messages); err != nil {
		return err
	}
	applied, err := s.cfg.Messenger.ApplyStatusReports(ctx, integ, w.Statuses)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, inboundResult{Received: len(w.Messages), Statuses: applied,
		Ignored: w.Ignored + len(w.Statuses) - applied})
}
