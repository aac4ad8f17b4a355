package httpapi

import (
	"crypto/subtle"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/rbm"
)

// InboundRCSPath is where Google RBM delivers an RCS integration's webhook
// (the agent's webhook URL in the RBM console). Like the WhatsApp one, it is
// Google's contract, outside /api/v1 and the OpenAPI spec, authenticated by
// signature.
const InboundRCSPath = "/inbound/rcs/:integration_id"

// receiveRCS answers RBM's webhook: the verification request (200 with the
// secret, when the client token is the integration's; 403 otherwise), and
// signed events: user messages are stored, DELIVERED and READ drive the
// lifecycle of the message they name. A body that is not RBM's envelope is
// 400 (nothing could be verified); a missing or wrong X-Goog-Signature is
// 401 and nothing is read. A verified event this API does not follow
// (IS_TYPING, a new kind, another agent's, unreadable) is answered 200 and
// ignored, since RBM would redeliver it for days.
func (s *Server) receiveRCS(c echo.Context) error {
	integ, err := s.inboundIntegration(c, impl.ChannelRCS)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, event, err := rbm.ParsePush(body)
	if err != nil {
		return impl.Errorf(impl.EBadRequest, "The request body is not an RBM webhook push.")
	}
	if v != nil {
		if integ.ClientToken == "" || subtle.ConstantTimeCompare([]byte(v.ClientToken), []byte(integ.ClientToken)) != 1 {
			if limited := s.countAddress(c); limited != nil {
				return limited
			}
			s.writeError(c, impl.Errorf(eForbidden, "The client token does not match this integration's."))
			return nil
		}
		return c.String(http.StatusOK, v.Secret)
	}
	if !rbm.ValidSignature(integ.ClientToken, event, c.Request().Header.Get("X-Goog-Signature")) {
		if limited := s.countAddress(c); limited != nil {
			return limited
		}
		return impl.Errorf(impl.EUnauthorized, "Missing or invalid X-Goog-Signature.")
	}
	ev, err := rbm.ParseEvent(event, integ)
	if err != nil {
		logger(ctx).Warn("RBM event ignored: not JSON", "integration_id", integ.ID)
		return c.JSON(http.StatusOK, inboundResult{Ignored: 1})
	}
	switch {
	case ev.Message != nil:
		if err := s.cfg.Messenger.Receive(ctx, integ, []impl.InboundMessage{*ev.Message}); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, inboundResult{Received: 1})
	case ev.Status != nil:
		applied, err := s.cfg.Messenger.ApplyStatusReports(ctx, integ, []impl.StatusReport{*ev.Status})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, inboundResult{Statuses: applied, Ignored: 1 - applied})
	default:
		logger(ctx).Info("RBM event ignored", "integration_id", integ.ID, "why", ev.Ignored)
		return c.JSON(http.StatusOK, inboundResult{Ignored: 1})
	}
}
