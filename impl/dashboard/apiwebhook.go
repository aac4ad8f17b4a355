package dashboard

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/auth"
)

// pageData is what the "Configurar API/Webhook" template shows.
type pageData struct {
	Title        string
	CSRF         string
	Organization string
	UserEmail    string

	// The token block. CurrentKey is the organization's newest active key,
	// the one "Regerar Token" replaces; NewToken is set only in the answer
	// that created it, the one time it is shown.
	CurrentKey   *impl.APIKey
	NewToken     string
	OtherActive  int
	TokenMessage string
	TokenError   string

	// The webhook block.
	Webhook        *impl.Webhook
	WebhookURL     string
	WebhookMessage string
	WebhookError   string
	SigningSecret  string
	URLPattern     string
	EventCount     int
}

// pageData loads what every answer of the page shows.
func (h *Handler) pageData(r *http.Request) (*pageData, error) {
	s := current(r)
	org, err := h.cfg.Organizations.FindOrganizationByID(r.Context(), s.user.OrganizationID)
	if err != nil {
		return nil, err
	}
	d := &pageData{Title: "Configurar API/Webhook", CSRF: s.session.CSRFToken, Organization: org.Name,
		UserEmail: s.user.Email, URLPattern: h.urlPattern, EventCount: len(impl.EventTypes)}
	if err := h.loadToken(r, d); err != nil {
		return nil, err
	}
	wh, err := h.cfg.Webhooks.FindDefaultWebhook(r.Context(), s.user.OrganizationID)
	switch {
	case err == nil:
		d.Webhook, d.WebhookURL = wh, wh.URL
	case impl.ErrorCode(err) != impl.ENotFound:
		return nil, err
	}
	return d, nil
}

func (h *Handler) loadToken(r *http.Request, d *pageData) error {
	keys, err := h.cfg.Keys.ListAPIKeys(r.Context(), current(r).user.OrganizationID)
	if err != nil {
		return err
	}
	d.CurrentKey, d.OtherActive = nil, 0
	for _, k := range keys {
		if k.RevokedAt == nil {
			if d.CurrentKey != nil {
				d.OtherActive++
			}
			d.CurrentKey = k
		}
	}
	return nil
}

func (h *Handler) apiWebhookPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.pageData(r)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "api_webhook.html", d)
}

// generateToken is "Gerar Token" and "Regerar Token". The form names the key
// it was showing (key_id), so a second click, or a stale tab, cannot revoke
// a token it never saw.
func (h *Handler) generateToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	orgID := current(r).user.OrganizationID
	var (
		plain    string
		err      error
		tokenErr string
	)
	if raw := r.PostFormValue("key_id"); raw != "" {
		id, perr := strconv.ParseInt(raw, 10, 64)
		if perr != nil || id < 1 {
			h.errorPage(w, r, http.StatusBadRequest, msgBadForm)
			return
		}
		_, plain, err = auth.Regenerate(ctx, h.cfg.Keys, orgID, id)
		if c := impl.ErrorCode(err); c == impl.EConflict || c == impl.ENotFound {
			tokenErr = msgTokenReplaced
		}
	} else {
		_, plain, err = auth.Issue(ctx, h.cfg.Keys, orgID, dashboardKeyName)
		if impl.ErrorCode(err) == impl.EConflict {
			tokenErr = msgTooManyKeys
		}
	}
	status := http.StatusOK
	switch {
	case tokenErr != "":
		status = http.StatusConflict
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	d, err := h.pageData(r)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	if tokenErr != "" {
		d.TokenError = tokenErr
	} else {
		d.NewToken, d.TokenMessage = plain, MsgTokenGenerated
		h.cfg.Logger.InfoContext(ctx, "dashboard token generated", "organization_id", orgID,
			"key_id", d.CurrentKey.ID, "user_id", current(r).user.ID)
	}
	h.render(w, r, status, "api_webhook.html", d)
}

// webhookURLMessage applies the page's rules to a submitted URL: the
// message to show, or "" when the URL can be saved. The rule for "valid" is
// the API's own WebhookURL schema.
func (h *Handler) webhookURLMessage(raw string) string {
	if raw == "" {
		return MsgURLRequired
	}
	if h.urlSchema.VisitJSON(raw) != nil || !impl.ParsesAsWebhookURL(raw) {
		return MsgURLInvalid
	}
	return ""
}

func (h *Handler) saveWebhook(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw := strings.TrimSpace(r.PostFormValue("url"))
	if msg := h.webhookURLMessage(raw); msg != "" {
		d, err := h.pageData(r)
		if err != nil {
			h.internalError(w, r, err)
			return
		}
		d.WebhookURL, d.WebhookError = raw, msg
		h.render(w, r, http.StatusUnprocessableEntity, "api_webhook.html", d)
		return
	}
	orgID := current(r).user.OrganizationID
	wh, created, err := h.cfg.Webhooks.SaveDefaultWebhook(ctx, orgID, raw)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	d, err := h.pageData(r)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	d.WebhookMessage = MsgWebhookSaved
	if created {
		d.SigningSecret = wh.Secret
	}
	h.cfg.Logger.InfoContext(ctx, "dashboard webhook saved", "organization_id", orgID, "webhook_id", wh.ID,
		"created", created, "user_id", current(r).user.ID)
	h.render(w, r, http.StatusOK, "api_webhook.html", d)
}
