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
}

// inboundIntegration finds the active WhatsApp integration the URL names.
// An address that keeps naming integrations that do not exist, or failing
// their signatures, is limited like failed API keys.
func (s *Server) inboundIntegration(c echo.Context) (*impl.Integration, error) {
	if err := s.addressGate(c); err != nil {
		return nil, err
	}
	integ, err := s.findInboundIntegration(c)
	if impl.ErrorCode(err) == impl.EIntegrationNotFound {
		if limited := s.countAddress(c); limited != nil {
			return nil, limited
		}
	}
	return integ, err
}

func (s *Server) findInboundIntegration(c echo.Context) (*impl.Integration, error) {
	id, err := strconv.ParseInt(c.Param("integration_id"), 10, 64)
	notFound := impl.Errorf(impl.EIntegrationNotFound, "WhatsApp integration not found or inactive.")
	if err != nil || id < 1 {
		return nil, notFound
	}
	integ, err := s.cfg.Integrations.FindIntegrationForInbound(c.Request().Context(), id)
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
	if !whatsappcloud.ValidSignature(integ.AppSecret, body, c.Request().Header.Get("X-Hub-Signature-256")) {
		if limited := s.countAddress(c); limited != nil {
			return limited
		}
		return impl.Errorf(impl.EUnauthorized, "Missing or invalid X-Hub-Signature-256.")
	}
	msgs, err := whatsappcloud.InboundMessages(body, integ, s.leadNameMax, logger(c.Request().Context()).Warn)
	if err != nil {
		return impl.Errorf(impl.EBadRequest, "The request body is not a WhatsApp webhook payload.")
	}
	if err := s.cfg.Messenger.Receive(c.Request().Context(), integ, msgs); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"received": len(msgs)})
}
