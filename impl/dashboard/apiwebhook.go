package dashboard

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the page's times are Brasília's on any host
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

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
	// ConfirmRegenerate shows the question "Regerar Token" asks first.
	ConfirmRegenerate bool

	// The webhook block.
	Webhook        *impl.Webhook
	WebhookURL     string
	WebhookMessage string
	WebhookError   string
	SigningSecret  string
	URLPattern     string
	EventCount     int
	// The webhook's "Entregas" block: its queue, how many deliveries
	// failed within the log's period, and the latest of them.
	Queue         string
	FailedSummary string
	Failed        []failedRow

	// The help links of the page: the guide's two parts and the reference.
	HelpHowItWorks string
	HelpHowTo      string
	DocsURL        string
}

// pageData loads what every answer of the page shows.
func (h *Handler) pageData(r *http.Request) (*pageData, error) {
	s := current(r)
	org, err := h.cfg.Organizations.FindOrganizationByID(r.Context(), s.user.OrganizationID)
	if err != nil {
		return nil, err
	}
	d := &pageData{Title: "Configurar API/Webhook", CSRF: s.session.CSRFToken, Organization: org.Name,
		UserEmail: s.user.Email, URLPattern: h.urlPattern, EventCount: len(impl.EventTypes),
		HelpHowItWorks: guidePath + "#como-funciona", HelpHowTo: guidePath + "#como-integrar", DocsURL: "/docs/"}
	if err := h.loadToken(r, d); err != nil {
		return nil, err
	}
	wh, err := h.cfg.Webhooks.FindDefaultWebhook(r.Context(), s.user.OrganizationID)
	switch {
	case err == nil:
		d.Webhook, d.WebhookURL = wh, wh.URL
		if err := h.loadDeliveries(r, d); err != nil {
			return nil, err
		}
	case impl.ErrorCode(err) != impl.ENotFound:
		return nil, err
	}
	return d, nil
}

// retentionDays is the delivery log's period in whole days, rounded up: a
// log kept 36 hours holds failures of the last 2 days, and one kept 12 hours
// never reads "0 dias".
func retentionDays(keep time.Duration) int {
	const day = 24 * time.Hour
	return int((keep + day - 1) / day)
}

// failedRow is one failed delivery in the "Entregas" block's table.
type failedRow struct {
	ID           int64
	When         string // its last attempt, in Brasília's time
	Event        string
	AttemptsText string // "1 tentativa", "8 tentativas"
	Reason       string // the last attempt's HTTP status, or why there was none
	Answer       string // the start of the receiver's answer to it (AnswerShown), if any
	MessageID    string // X-Webhook-Id, what the partner's own logs show
}

// answerShownRunes is how much of a receiver's answer a row of failures
// shows; the API's delivery log has all it keeps.
const answerShownRunes = 160

// AnswerShown is the start of a receiver's answer as a row of failures
// shows it: its runs of spaces, tabs and line breaks as one space, at most
// answerShownRunes characters, "…" when there was more.
func AnswerShown(body string) string {
	s := strings.Join(strings.Fields(body), " ")
	if utf8.RuneCountInString(s) <= answerShownRunes {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:answerShownRunes-1]), " ") + "…"
}

// brasilia is the time the page shows, as its readers keep it. The zone
// comes from the tz database embedded in the binary (time/tzdata), so a
// host without one shows the same.
var brasilia = func() *time.Location {
	loc, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		panic("dashboard: " + err.Error()) // time/tzdata is linked in
	}
	return loc
}()

// pageTime writes t as the page's readers do: 03/12/2026 às 14:05.
func pageTime(t time.Time) string {
	return t.In(brasilia).Format("02/01/2006 às 15:04")
}

// loadDeliveries fills the "Entregas" block of d.Webhook: its backlog, read
// with it, and its newest failed deliveries with their count, through the
// delivery log's own query (GET /webhooks/{id}/deliveries?status=failed).
func (h *Handler) loadDeliveries(r *http.Request, d *pageData) error {
	wh := d.Webhook
	switch b := wh.Backlog; {
	case b.Pending == 0 || b.OldestPendingAt == nil:
		d.Queue = MsgQueueEmpty
	case b.Pending == 1:
		d.Queue = ptBR.Sprintf(MsgQueueOne, pageTime(*b.OldestPendingAt))
	default:
		d.Queue = ptBR.Sprintf(MsgQueueSome, b.Pending, pageTime(*b.OldestPendingAt))
	}
	// Failed webhook.test pings are left out, as Reenviar leaves them: a
	// test's answer went to whoever sent it, and counting pings here would
	// offer to send again what Reenviar then says did not fail.
	failed := impl.DeliveryFailed
	page, err := h.cfg.Deliveries.FindDeliveries(r.Context(), wh.OrganizationID, wh.ID,
		impl.DeliveryFilter{Status: &failed, ExcludeTests: true, Limit: FailedShown})
	if err != nil {
		return err
	}
	list, total := page.Deliveries, page.Total
	days := retentionDays(h.cfg.DeliveryRetention)
	switch {
	case total == 0:
		d.FailedSummary = ptBR.Sprintf(MsgFailedNone, days)
	case total == 1:
		d.FailedSummary = ptBR.Sprintf(MsgFailedOne, days)
	default:
		d.FailedSummary = ptBR.Sprintf(MsgFailedSome, total, days)
	}
	d.Failed = make([]failedRow, 0, len(list))
	for _, dl := range list {
		row := failedRow{ID: dl.ID, When: pageTime(dl.UpdatedAt), Event: dl.Event, MessageID: dl.MessageID,
			Reason: "—"}
		if n := len(dl.Attempts); n > 0 {
			last := dl.Attempts[n-1]
			row.When = pageTime(last.AttemptedAt)
			switch {
			case last.StatusCode != nil:
				row.Reason = fmt.Sprintf("HTTP %d", *last.StatusCode)
				if last.ResponseBody != nil {
					row.Answer = AnswerShown(*last.ResponseBody)
				}
			case last.Error != nil:
				row.Reason = *last.Error
			}
		} else {
			// Failed without an attempt: the webhook was disabled while
			// the delivery waited.
			row.Reason = MsgFailedUnsent
		}
		row.AttemptsText = ptBR.Sprintf(MsgAttempts, len(dl.Attempts))
		if len(dl.Attempts) == 1 {
			row.AttemptsText = MsgAttemptOne
		}
		d.Failed = append(d.Failed, row)
	}
	return nil
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

// apiWebhookPage is the page, with what the POST before it said (its
// flash), and with the question of "Regerar Token" when ?regerar=1.
func (h *Handler) apiWebhookPage(w http.ResponseWriter, r *http.Request) {
	d, err := h.pageData(r)
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	f := h.takeFlash(w, r, current(r).token)
	d.TokenMessage, d.TokenError, d.NewToken = f.TokenMessage, f.TokenError, f.NewToken
	d.WebhookMessage, d.WebhookError, d.SigningSecret = f.WebhookMessage, f.WebhookError, f.SigningSecret
	if f.WebhookError != "" {
		d.WebhookURL = f.WebhookURL
	}
	d.ConfirmRegenerate = r.URL.Query().Get("regerar") == "1" && d.CurrentKey != nil && d.NewToken == ""
	h.render(w, r, http.StatusOK, "api_webhook.html", d)
}

// redirectWith ends a POST of the page: the flash for the next page, and a
// 303 to it, so that reloading the page sends nothing again.
func (h *Handler) redirectWith(w http.ResponseWriter, r *http.Request, f flash, anchor string) {
	if err := h.setFlash(w, r, current(r).token, f); err != nil {
		h.internalError(w, r, err)
		return
	}
	http.Redirect(w, r, "/dashboard/api-webhook#"+anchor, http.StatusSeeOther)
}

// generateToken is "Gerar Token" and, once confirmed, "Regerar Token". The
// form names the key it was showing (key_id), so a second click, or a stale
// tab, cannot revoke a token it never saw.
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
	switch {
	case tokenErr != "":
		h.redirectWith(w, r, flash{TokenError: tokenErr}, "token")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	h.cfg.Logger.InfoContext(ctx, "dashboard token generated", "organization_id", orgID, "user_id", current(r).user.ID)
	h.redirectWith(w, r, flash{NewToken: plain, TokenMessage: MsgTokenGenerated}, "token")
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
		// The refused URL comes back to be corrected; a cookie holds at
		// most about 4 KB, and the longest URL the page takes is 2048.
		if len(raw) > 2100 {
			raw = raw[:2100]
		}
		h.redirectWith(w, r, flash{WebhookError: msg, WebhookURL: raw}, "webhook")
		return
	}
	orgID := current(r).user.OrganizationID
	wh, created, err := h.cfg.Webhooks.SaveDefaultWebhook(ctx, orgID, raw)
	switch {
	case impl.ErrorCode(err) == impl.EConflict:
		// Only a new default webhook can conflict: the organization has
		// impl.MaxWebhooks made through the API.
		h.redirectWith(w, r, flash{WebhookError: msgTooManyHooks, WebhookURL: raw}, "webhook")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	f := flash{WebhookMessage: MsgWebhookSaved}
	if created {
		f.SigningSecret = wh.Secret
	}
	h.cfg.Logger.InfoContext(ctx, "dashboard webhook saved", "organization_id", orgID, "webhook_id", wh.ID,
		"created", created, "user_id", current(r).user.ID)
	h.redirectWith(w, r, f, "webhook")
}

// ptBR writes numbers as the page's readers do: 1.000, not 1000.
var ptBR = message.NewPrinter(language.BrazilianPortuguese)

// redeliverPeriods are the periods "Reenviar" offers, by the form's value:
// a day, a week, and the 30 days the delivery log keeps.
var redeliverPeriods = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// redeliverFailed is "Reenviar": the default webhook's failed deliveries of
// the period chosen are queued again, as POST
// /webhooks/{id}/deliveries/redeliver does, up to its 1,000 a click.
func (h *Handler) redeliverFailed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	orgID := current(r).user.OrganizationID
	period, ok := redeliverPeriods[r.PostFormValue("period")]
	if !ok {
		h.redirectWith(w, r, flash{WebhookError: MsgRedeliverBadPeriod}, "webhook")
		return
	}
	wh, ok := h.redeliveryWebhook(w, r)
	if !ok {
		return
	}
	n, more, err := h.cfg.Deliveries.RedeliverFailed(ctx, orgID, wh.ID, h.cfg.Now().Add(-period), time.Time{}, impl.RedeliverFailedMax)
	switch {
	case impl.ErrorCode(err) == impl.EConflict:
		h.redirectWith(w, r, flash{WebhookError: MsgRedeliverDisabled}, "webhook")
		return
	case err != nil:
		h.internalError(w, r, err)
		return
	}
	msg := redeliveredMessage(n, more)
	h.cfg.Logger.InfoContext(ctx, "dashboard failed deliveries redelivered", "organization_id", orgID, "webhook_id", wh.ID,
		"queued", n, "more", more, "user_id", current(r).user.ID)
	h.redirectWith(w, r, flash{WebhookMessage: msg}, "webhook")
}

// redeliveryWebhook is the default webhook a Reenviar acts on. Without
// one, or when it cannot be read, it answers the request itself and
// returns false.
func (h *Handler) redeliveryWebhook(w http.ResponseWriter, r *http.Request) (*impl.Webhook, bool) {
	wh, err := h.cfg.Webhooks.FindDefaultWebhook(r.Context(), current(r).user.OrganizationID)
	switch {
	case impl.ErrorCode(err) == impl.ENotFound:
		h.redirectWith(w, r, flash{WebhookError: MsgRedeliverNoWebhook}, "webhook")
		return nil, false
	case err != nil:
		h.internalError(w, r, err)
		return nil, false
	}
	return wh, true
}

// redeliverOne is a failed delivery's own "Reenviar" in the Entregas
// table: that delivery alone is queued again, as POST
// /webhooks/{id}/deliveries/{delivery_id}/redeliver does.
func (h *Handler) redeliverOne(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	orgID := current(r).user.OrganizationID
	id, err := strconv.ParseInt(r.PostFormValue("delivery_id"), 10, 64)
	if err != nil || id < 1 {
		h.errorPage(w, r, http.StatusBadRequest, msgBadForm)
		return
	}
	wh, ok := h.redeliveryWebhook(w, r)
	if !ok {
		return
	}
	if !wh.Active {
		h.redirectWith(w, r, flash{WebhookError: MsgRedeliverDisabled}, "webhook")
		return
	}
	_, err = h.cfg.Deliveries.RedeliverDelivery(ctx, orgID, wh.ID, id)
	switch impl.ErrorCode(err) {
	case "":
	case impl.ENotFound:
		// Another webhook's, another organization's, or gone with the
		// log's period: the same answer for each.
		h.redirectWith(w, r, flash{WebhookError: MsgRedeliverOneGone}, "webhook")
		return
	case impl.EConflict:
		// Pending again (a second click, another tab), or the webhook was
		// disabled since it was read.
		msg := MsgRedeliverOnePending
		if wh, err := h.cfg.Webhooks.FindDefaultWebhook(ctx, orgID); err == nil && !wh.Active {
			msg = MsgRedeliverDisabled
		}
		h.redirectWith(w, r, flash{WebhookError: msg}, "webhook")
		return
	default:
		h.internalError(w, r, err)
		return
	}
	h.cfg.Logger.InfoContext(ctx, "dashboard delivery redelivered", "organization_id", orgID, "webhook_id", wh.ID,
		"delivery_id", id, "user_id", current(r).user.ID)
	h.redirectWith(w, r, flash{WebhookMessage: MsgRedeliveredOne}, "webhook")
}

// redeliveredMessage is what "Reenviar" says after queueing n deliveries,
// with more failed ones of the period left or not.
func redeliveredMessage(n int, more bool) string {
	switch {
	case more:
		return ptBR.Sprintf(MsgRedeliveredMore, n)
	case n == 1:
		return MsgRedeliveredOne
	case n > 1:
		return ptBR.Sprintf(MsgRedeliveredSome, n)
	}
	return MsgRedeliveredNone
}
