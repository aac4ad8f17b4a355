package contracttests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/iagente/iagente-sdr/impl/app"
	whsig "github.com/iagente/iagente-sdr/impl/delivery"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// The REST contract of webhooks and handoffs: CRUD and validation run on
// every target; everything that needs a delivery runs on in-process servers
// whose dispatcher may reach this machine's loopback receivers.

var (
	whSecretRe    = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)
	whMessageIDRe = regexp.MustCompile(`^msg_`)
	whEventIDRe   = regexp.MustCompile(`^evt_`)
)

const (
	whURLMessage   = "must be a valid http:// or https:// URL"
	whExampleBody  = `{"name":"Meu Webhook","url":"https://meusite.com/webhook","events":["lead.created","lead.qualified","message.received"]}`
	whPollInterval = 20 * time.Millisecond
	whWait         = 10 * time.Second
)

// whJSON is a request body sent exactly as written.
type whJSON string

type whHook struct {
	ID                      int64      `json:"id"`
	Name                    string     `json:"name"`
	URL                     string     `json:"url"`
	Events                  []string   `json:"events"`
	Active                  bool       `json:"active"`
	MaxAttempts             int        `json:"max_attempts"`
	DisabledReason          *string    `json:"disabled_reason"`
	DisabledAt              *time.Time `json:"disabled_at"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	SigningSecret           string     `json:"signing_secret"`
}

type whMeta struct {
	CurrentPage int32 `json:"current_page"`
	PerPage     int32 `json:"per_page"`
	Total       int64 `json:"total"`
	TotalPages  int64 `json:"total_pages"`
}

type whHookPage struct {
	Data []whHook `json:"data"`
	Meta whMeta   `json:"meta"`
}

type whAttempt struct {
	AttemptedAt time.Time `json:"attempted_at"`
	StatusCode  *int      `json:"status_code"`
	DurationMS  int64     `json:"duration_ms"`
	Error       *string   `json:"error"`
}

type whDelivery struct {
	ID            int64       `json:"id"`
	WebhookID     int64       `json:"webhook_id"`
	EventID       string      `json:"event_id"`
	Event         string      `json:"event"`
	MessageID     string      `json:"webhook_message_id"`
	Status        string      `json:"status"`
	Attempts      []whAttempt `json:"attempts"`
	NextAttemptAt *time.Time  `json:"next_attempt_at"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}

type whDeliveryPage struct {
	Data []whDelivery `json:"data"`
	Meta whMeta       `json:"meta"`
}

type whTestResult struct {
	Delivered  bool    `json:"delivered"`
	StatusCode *int    `json:"status_code"`
	DurationMS int64   `json:"duration_ms"`
	Error      *string `json:"error"`
	DeliveryID int64   `json:"delivery_id"`
}

type whSecretResult struct {
	SigningSecret           string     `json:"signing_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

type whHandoff struct {
	ID        int64      `json:"id"`
	LeadID    int64      `json:"lead_id"`
	Reason    string     `json:"reason"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

type whHandoffPage struct {
	Data []whHandoff `json:"data"`
	Meta whMeta      `json:"meta"`
}

type whErrorBody struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Details map[string][]string `json:"details"`
	} `json:"error"`
}

// whDo sends a request through the validating transport. body is nil (no
// body), a whJSON (sent verbatim) or a value to marshal.
func whDo(t testing.TB, tg *target, key, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var raw []byte
	contentType := ""
	switch b := body.(type) {
	case nil:
	case whJSON:
		raw, contentType = []byte(b), "application/json"
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
		contentType = "application/json"
	}
	res, got := tg.raw(t, key, method, path, contentType, raw)
	return res.StatusCode, res.Header, got
}

// whExpect is whDo that fails the test unless the status is want, and
// decodes the answer into out when out is not nil.
func whExpect(t testing.TB, tg *target, key, method, path string, body any, want int, out any) []byte {
	t.Helper()
	status, _, got := whDo(t, tg, key, method, path, body)
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, got)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, got, err)
		}
	}
	return got
}

// whCheckError reports (without stopping) a response that is not the given
// error, and returns the decoded envelope.
func whCheckError(t testing.TB, what string, status int, body []byte, wantStatus int, wantCode string) whErrorBody {
	t.Helper()
	var e whErrorBody
	if status != wantStatus {
		t.Errorf("%s: %d, want %d: %s", what, status, wantStatus, body)
		return e
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s: not an error envelope: %v: %s", what, err, body)
		return e
	}
	if e.Error.Code != wantCode {
		t.Errorf("%s: code %q, want %q: %s", what, e.Error.Code, wantCode, body)
	}
	return e
}

// whCheckField reports a 422 whose details are not about field only (the
// field itself, or an element of it such as events[0]).
func whCheckField(t testing.TB, what string, status int, body []byte, field string) whErrorBody {
	t.Helper()
	e := whCheckError(t, what, status, body, http.StatusUnprocessableEntity, "validation_error")
	if status != http.StatusUnprocessableEntity {
		return e
	}
	if len(e.Error.Details) == 0 {
		t.Errorf("%s: no details, want them about %q: %s", what, field, body)
	}
	for k, msgs := range e.Error.Details {
		if k != field && !strings.HasPrefix(k, field+"[") {
			t.Errorf("%s: details about %q, want only %q: %s", what, k, field, body)
		}
		if len(msgs) == 0 {
			t.Errorf("%s: details[%q] has no message: %s", what, k, body)
		}
	}
	return e
}

func whHookPath(id int64) string { return fmt.Sprintf("/webhooks/%d", id) }

// whCreateHook creates a webhook and deletes it when the test ends.
func whCreateHook(t testing.TB, tg *target, key string, body any) whHook {
	t.Helper()
	var h whHook
	whExpect(t, tg, key, http.MethodPost, "/webhooks", body, http.StatusCreated, &h)
	if h.ID == 0 || !whSecretRe.MatchString(h.SigningSecret) {
		t.Fatalf("created webhook without id or a valid signing secret: %+v", h)
	}
	t.Cleanup(func() {
		status, _, got := whDo(t, tg, key, http.MethodDelete, whHookPath(h.ID), nil)
		if status != http.StatusNoContent && status != http.StatusNotFound {
			t.Errorf("clean up webhook %d: %d %s", h.ID, status, got)
		}
	})
	return h
}

func whGetHook(t testing.TB, tg *target, key string, id int64) (whHook, []byte) {
	t.Helper()
	var h whHook
	raw := whExpect(t, tg, key, http.MethodGet, whHookPath(id), nil, http.StatusOK, &h)
	return h, raw
}

// whListHooks returns every webhook of the organization, following pages.
func whListHooks(t testing.TB, tg *target, key string) ([]whHook, int64, [][]byte) {
	t.Helper()
	var all []whHook
	var bodies [][]byte
	var total int64
	for page := 1; ; page++ {
		var p whHookPage
		bodies = append(bodies, whExpect(t, tg, key, http.MethodGet, fmt.Sprintf("/webhooks?per_page=100&page=%d", page), nil, http.StatusOK, &p))
		all, total = append(all, p.Data...), p.Meta.Total
		if len(p.Data) == 0 || int64(page) >= p.Meta.TotalPages {
			return all, total, bodies
		}
	}
}

func whDeliveries(t testing.TB, tg *target, key string, hookID int64, query string) (whDeliveryPage, []byte) {
	t.Helper()
	var p whDeliveryPage
	path := fmt.Sprintf("/webhooks/%d/deliveries", hookID)
	if query != "" {
		path += "?" + query
	}
	raw := whExpect(t, tg, key, http.MethodGet, path, nil, http.StatusOK, &p)
	return p, raw
}

// whWaitDeliveries polls the webhook's delivery log until done accepts it.
func whWaitDeliveries(t testing.TB, tg *target, key string, hookID int64, what string, done func([]whDelivery) bool) []whDelivery {
	t.Helper()
	deadline := time.Now().Add(whWait)
	for {
		p, raw := whDeliveries(t, tg, key, hookID, "per_page=100")
		if done(p.Data) {
			return p.Data
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, webhook %d's deliveries are still not %s: %s", whWait, hookID, what, raw)
		}
		time.Sleep(whPollInterval)
	}
}

// whWaitOne waits for the webhook's only delivery to reach status with n
// attempts.
func whWaitOne(t testing.TB, tg *target, key string, hookID int64, status string, n int) whDelivery {
	t.Helper()
	list := whWaitDeliveries(t, tg, key, hookID, fmt.Sprintf("one %s delivery with %d attempts", status, n), func(ds []whDelivery) bool {
		return len(ds) == 1 && ds[0].Status == status && len(ds[0].Attempts) == n
	})
	return list[0]
}

// whWaitDelivery waits for one delivery to reach status with n attempts.
func whWaitDelivery(t testing.TB, tg *target, key string, hookID, id int64, status string, n int) whDelivery {
	t.Helper()
	var out whDelivery
	whWaitDeliveries(t, tg, key, hookID, fmt.Sprintf("with delivery %d %s after %d attempts", id, status, n), func(ds []whDelivery) bool {
		for _, d := range ds {
			if d.ID == id && d.Status == status && len(d.Attempts) == n {
				out = d
				return true
			}
		}
		return false
	})
	return out
}

func whFindDelivery(t testing.TB, tg *target, key string, hookID, id int64) whDelivery {
	t.Helper()
	p, raw := whDeliveries(t, tg, key, hookID, "per_page=100")
	for _, d := range p.Data {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("delivery %d is not in webhook %d's log: %s", id, hookID, raw)
	return whDelivery{}
}

func whTest(t testing.TB, tg *target, key string, hookID int64) (whTestResult, []byte) {
	t.Helper()
	var r whTestResult
	raw := whExpect(t, tg, key, http.MethodPost, whHookPath(hookID)+"/test", nil, http.StatusOK, &r)
	return r, raw
}

func whRotate(t testing.TB, tg *target, key string, hookID int64) whSecretResult {
	t.Helper()
	var s whSecretResult
	whExpect(t, tg, key, http.MethodPost, whHookPath(hookID)+"/rotate-secret", nil, http.StatusOK, &s)
	if !whSecretRe.MatchString(s.SigningSecret) {
		t.Fatalf("rotated secret %q does not match %s", s.SigningSecret, whSecretRe)
	}
	return s
}

func whCreateLead(t testing.TB, tg *target, key, name string) int64 {
	t.Helper()
	var l struct {
		ID int64 `json:"id"`
	}
	whExpect(t, tg, key, http.MethodPost, "/leads", map[string]any{"phone": uniquePhone(t), "name": name}, http.StatusCreated, &l)
	return l.ID
}

func whDeref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// whDeliveryTargets runs fn per database, for tests that need the
// in-process dispatcher.
func whDeliveryTargets(t *testing.T, fn func(t *testing.T, db sqlstoretest.Database)) {
	t.Helper()
	if os.Getenv("CONTRACT_BASE_URL") != "" {
		t.Skip("needs the in-process server: a remote server cannot deliver to this machine's loopback receivers")
	}
	for _, db := range sqlstoretest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) { fn(t, db) })
	}
}

// whDeliveryServer starts a server that delivers quickly to loopback
// receivers; tweak adjusts the configuration further.
func whDeliveryServer(t *testing.T, db sqlstoretest.Database, tweak func(*app.Config)) *target {
	t.Helper()
	return startInProcessWith(t, db.URL, func(c *app.Config) {
		c.WebhookAllowPrivateTargets = true
		c.WebhookPollInterval = whPollInterval
		c.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond}
		c.WebhookTimeout = 2 * time.Second
		if tweak != nil {
			tweak(c)
		}
	})
}

// whReceived is one request as a receiver saw it.
type whReceived struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// whReceiver is a webhook receiver whose answer depends on the path:
//
//	/ok          200
//	/fail        500
//	/redirect    302 to /target
//	/target      200
//	/fail-twice  500 to the first two attempts of each X-Webhook-Id, then 200
type whReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []whReceived
	seen map[string]int
}

func whNewReceiver(t testing.TB) *whReceiver {
	t.Helper()
	r := &whReceiver{seen: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *whReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, whReceived{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	n := r.seen[req.URL.Path+" "+req.Header.Get("X-Webhook-Id")]
	r.seen[req.URL.Path+" "+req.Header.Get("X-Webhook-Id")] = n + 1
	r.mu.Unlock()
	switch req.URL.Path {
	case "/ok", "/target":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	case "/fail":
		http.Error(w, "boom", http.StatusInternalServerError)
	case "/redirect":
		http.Redirect(w, req, "/target", http.StatusFound)
	case "/fail-twice":
		if n < 2 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	default:
		http.NotFound(w, req)
	}
}

func (r *whReceiver) url(path string) string { return r.srv.URL + path }

func (r *whReceiver) port() string {
	u, _ := url.Parse(r.srv.URL)
	return u.Port()
}

// requests returns what arrived at path, or everything when path is "".
func (r *whReceiver) requests(path string) []whReceived {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []whReceived
	for _, g := range r.got {
		if path == "" || g.Path == path {
			out = append(out, g)
		}
	}
	return out
}

func (r *whReceiver) waitN(t testing.TB, path string, n int) []whReceived {
	t.Helper()
	deadline := time.Now().Add(whWait)
	for {
		got := r.requests(path)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got %d requests at %q in %s, want %d", len(got), path, whWait, n)
		}
		time.Sleep(whPollInterval)
	}
}

// whVerifyStandard reports whether the Standard Webhooks headers of req
// verify with secret, using the official library.
func whVerifyStandard(t testing.TB, secret string, req whReceived) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook: %v", err)
	}
	return wh.Verify(req.Body, req.Header)
}

// whCheckHeaders checks the headers every delivery carries.
func whCheckHeaders(t testing.TB, req whReceived, event string) {
	t.Helper()
	h := req.Header
	if req.Method != http.MethodPost {
		t.Errorf("method %s, want POST", req.Method)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
	if got := h.Get("User-Agent"); got != "IAGENTE-Webhooks/1.0" {
		t.Errorf("User-Agent %q, want IAGENTE-Webhooks/1.0", got)
	}
	if got := h.Get("X-Webhook-Event"); got != event {
		t.Errorf("X-Webhook-Event %q, want %q", got, event)
	}
	id := h.Get("X-Webhook-Id")
	if !whMessageIDRe.MatchString(id) {
		t.Errorf("X-Webhook-Id %q does not match %s", id, whMessageIDRe)
	}
	if got := h.Get("Webhook-Id"); got != id {
		t.Errorf("webhook-id %q, want X-Webhook-Id %q", got, id)
	}
	ts := h.Get("X-Webhook-Timestamp")
	if got := h.Get("Webhook-Timestamp"); got != ts {
		t.Errorf("webhook-timestamp %q, want X-Webhook-Timestamp %q", got, ts)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Errorf("X-Webhook-Timestamp %q is not Unix seconds", ts)
	} else if d := time.Since(time.Unix(n, 0)); d < -time.Minute || d > time.Minute {
		t.Errorf("X-Webhook-Timestamp %q is %s away from now", ts, d)
	}
	if !strings.HasPrefix(h.Get("X-Webhook-Signature"), "sha256=") {
		t.Errorf("X-Webhook-Signature %q, want sha256=<hex>", h.Get("X-Webhook-Signature"))
	}
	if !strings.HasPrefix(h.Get("Webhook-Signature"), "v1,") {
		t.Errorf("webhook-signature %q, want v1,<base64>", h.Get("Webhook-Signature"))
	}
}

func whSameEvents(got, want []string) bool {
	a, b := append([]string(nil), got...), append([]string(nil), want...)
	sort.Strings(a)
	sort.Strings(b)
	return reflect.DeepEqual(a, b)
}

func TestWebhookAPI(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key

		t.Run("the API reference's example", func(t *testing.T) {
			status, header, raw := whDo(t, tg, key, http.MethodPost, "/webhooks", whJSON(whExampleBody))
			if status != http.StatusCreated {
				t.Fatalf("create: %d, want 201: %s", status, raw)
			}
			var h whHook
			if err := json.Unmarshal(raw, &h); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { whDo(t, tg, key, http.MethodDelete, whHookPath(h.ID), nil) })
			if loc := header.Get("Location"); loc != fmt.Sprintf("/api/v1/webhooks/%d", h.ID) {
				t.Errorf("Location %q, want /api/v1/webhooks/%d", loc, h.ID)
			}
			if !whSecretRe.MatchString(h.SigningSecret) {
				t.Errorf("signing_secret %q does not match %s", h.SigningSecret, whSecretRe)
			}
			if h.MaxAttempts != 8 || !h.Active {
				t.Errorf("max_attempts %d active %v, want 8 and true", h.MaxAttempts, h.Active)
			}
			if h.Name != "Meu Webhook" || h.URL != "https://meusite.com/webhook" ||
				!whSameEvents(h.Events, []string{"lead.created", "lead.qualified", "message.received"}) {
				t.Errorf("fields not stored as sent: %s", raw)
			}
			if h.DisabledReason != nil || h.DisabledAt != nil || h.PreviousSecretExpiresAt != nil {
				t.Errorf("a new webhook has disabled_reason, disabled_at or previous_secret_expires_at: %s", raw)
			}
			if h.CreatedAt.IsZero() || !h.CreatedAt.Equal(h.UpdatedAt) {
				t.Errorf("created_at %v updated_at %v, want equal", h.CreatedAt, h.UpdatedAt)
			}
			b64 := strings.TrimPrefix(h.SigningSecret, "whsec_")
			noSecret := func(what string, body []byte) {
				t.Helper()
				for _, s := range []string{h.SigningSecret, b64, "signing_secret"} {
					if bytes.Contains(body, []byte(s)) {
						t.Errorf("%s contains %q: %s", what, s, body)
					}
				}
			}

			got, getRaw := whGetHook(t, tg, key, h.ID)
			noSecret("GET /webhooks/{id}", getRaw)
			want := h
			want.SigningSecret = ""
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GET after create:\n got %+v\nwant %+v", got, want)
			}

			list, _, bodies := whListHooks(t, tg, key)
			for _, b := range bodies {
				noSecret("GET /webhooks", b)
			}
			found := false
			for _, x := range list {
				found = found || x.ID == h.ID
			}
			if !found {
				t.Errorf("webhook %d is not listed", h.ID)
			}
		})

		t.Run("the URL rule", func(t *testing.T) {
			victim := whCreateHook(t, tg, key, map[string]any{"name": "url rule", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			_, before := whGetHook(t, tg, key, victim.ID)
			_, total, _ := whListHooks(t, tg, key)
			for _, bad := range []string{"ftp://x.com/a", "meusite.com/webhook", "http://", "javascript:alert(1)", "https://exa mple.com", ""} {
				wantDetails := map[string][]string{"url": {whURLMessage}}
				status, _, raw := whDo(t, tg, key, http.MethodPost, "/webhooks",
					map[string]any{"name": "bad url", "url": bad, "events": []string{"lead.created"}})
				if e := whCheckError(t, fmt.Sprintf("create with url %q", bad), status, raw, 422, "validation_error"); status == 422 &&
					!reflect.DeepEqual(e.Error.Details, wantDetails) {
					t.Errorf("create with url %q: details %v, want %v", bad, e.Error.Details, wantDetails)
				}
				status, _, raw = whDo(t, tg, key, http.MethodPatch, whHookPath(victim.ID), map[string]any{"url": bad})
				if e := whCheckError(t, fmt.Sprintf("PATCH url %q", bad), status, raw, 422, "validation_error"); status == 422 &&
					!reflect.DeepEqual(e.Error.Details, wantDetails) {
					t.Errorf("PATCH url %q: details %v, want %v", bad, e.Error.Details, wantDetails)
				}
			}
			if _, after, _ := whListHooks(t, tg, key); after != total {
				t.Errorf("%d webhooks before the invalid creates, %d after", total, after)
			}
			if _, after := whGetHook(t, tg, key, victim.ID); !bytes.Equal(after, before) {
				t.Errorf("invalid PATCHes changed the webhook:\nbefore %s\n after %s", before, after)
			}

			for _, good := range []string{"http://exemplo.com:8080/webhook/receber", "HTTPS://MEUSITE.COM/webhook"} {
				h := whCreateHook(t, tg, key, map[string]any{"name": "good url", "url": good, "events": []string{"lead.created"}})
				if h.URL != good {
					t.Errorf("created with url %q, stored %q", good, h.URL)
				}
				var p whHook
				whExpect(t, tg, key, http.MethodPatch, whHookPath(victim.ID), map[string]any{"url": good}, http.StatusOK, &p)
				if p.URL != good {
					t.Errorf("PATCH url %q, stored %q", good, p.URL)
				}
			}
		})

		t.Run("other validation", func(t *testing.T) {
			victim := whCreateHook(t, tg, key, map[string]any{"name": "validation", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			_, before := whGetHook(t, tg, key, victim.ID)
			_, total, _ := whListHooks(t, tg, key)
			const u = `"url":"https://meusite.com/webhook"`
			creates := []struct{ name, body, field string }{
				{"events empty", `{"name":"x",` + u + `,"events":[]}`, "events"},
				{"events missing", `{"name":"x",` + u + `}`, "events"},
				{"unknown event", `{"name":"x",` + u + `,"events":["lead.deleted"]}`, "events"},
				{"max_attempts 0", `{"name":"x",` + u + `,"events":["lead.created"],"max_attempts":0}`, "max_attempts"},
				{"max_attempts 16", `{"name":"x",` + u + `,"events":["lead.created"],"max_attempts":16}`, "max_attempts"},
				{"unknown field", `{"name":"x",` + u + `,"events":["lead.created"],"secret":"whsec_x"}`, "secret"},
				{"name blank", `{"name":"   ",` + u + `,"events":["lead.created"]}`, "name"},
				{"name empty", `{"name":"",` + u + `,"events":["lead.created"]}`, "name"},
				{"name missing", `{` + u + `,"events":["lead.created"]}`, "name"},
			}
			for _, tc := range creates {
				status, _, raw := whDo(t, tg, key, http.MethodPost, "/webhooks", whJSON(tc.body))
				e := whCheckField(t, "create with "+tc.name, status, raw, tc.field)
				if tc.name == "unknown field" && status == 422 && strings.Join(e.Error.Details["secret"], "") != "is not a known field" {
					t.Errorf("unknown field: details %v, want secret: is not a known field", e.Error.Details)
				}
			}
			patches := []struct{ name, body, field string }{
				{"events empty", `{"events":[]}`, "events"},
				{"unknown event", `{"events":["lead.deleted"]}`, "events"},
				{"max_attempts 0", `{"max_attempts":0}`, "max_attempts"},
				{"max_attempts 16", `{"max_attempts":16}`, "max_attempts"},
				{"unknown field", `{"secret":"whsec_x"}`, "secret"},
				{"name blank", `{"name":"   "}`, "name"},
				{"name null", `{"name":null}`, "name"},
				{"active null", `{"active":null}`, "active"},
			}
			for _, tc := range patches {
				status, _, raw := whDo(t, tg, key, http.MethodPatch, whHookPath(victim.ID), whJSON(tc.body))
				whCheckField(t, "PATCH "+tc.name, status, raw, tc.field)
			}
			if _, after, _ := whListHooks(t, tg, key); after != total {
				t.Errorf("%d webhooks before the invalid creates, %d after", total, after)
			}
			if _, after := whGetHook(t, tg, key, victim.ID); !bytes.Equal(after, before) {
				t.Errorf("invalid PATCHes changed the webhook:\nbefore %s\n after %s", before, after)
			}
		})

		t.Run("PATCH", func(t *testing.T) {
			h := whCreateHook(t, tg, key, map[string]any{"name": "patch me", "url": "https://meusite.com/webhook",
				"events": []string{"lead.created"}, "max_attempts": 3})
			orig, origRaw := whGetHook(t, tg, key, h.ID)

			var p whHook
			whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(`{}`), http.StatusOK, &p)
			if !reflect.DeepEqual(p, orig) {
				t.Errorf("PATCH {} changed the webhook:\n got %+v\nwant %+v", p, orig)
			}
			if _, raw := whGetHook(t, tg, key, h.ID); !bytes.Equal(raw, origRaw) {
				t.Errorf("after PATCH {}, GET is %s, was %s", raw, origRaw)
			}

			// Each PATCH changes what it names and nothing else but
			// updated_at (and, with active, disabled_reason/disabled_at).
			for _, st := range []struct {
				body  string
				apply func(w *whHook)
			}{
				{`{"name":"renamed"}`, func(w *whHook) { w.Name = "renamed" }},
				{`{"events":["handoff.created","lead.updated"]}`, func(w *whHook) { w.Events = []string{"handoff.created", "lead.updated"} }},
				{`{"max_attempts":15}`, func(w *whHook) { w.MaxAttempts = 15 }},
				{`{"url":"https://meusite.com/outro"}`, func(w *whHook) { w.URL = "https://meusite.com/outro" }},
				{`{"active":false}`, func(w *whHook) { w.Active = false }},
				{`{"active":true}`, func(w *whHook) { w.Active, w.DisabledReason, w.DisabledAt = true, nil, nil }},
			} {
				before, _ := whGetHook(t, tg, key, h.ID)
				var after whHook
				whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(st.body), http.StatusOK, &after)
				got, _ := whGetHook(t, tg, key, h.ID)
				if !reflect.DeepEqual(got, after) {
					t.Errorf("PATCH %s answered %+v, GET then shows %+v", st.body, after, got)
				}
				want := before
				st.apply(&want)
				if !want.Active {
					if after.DisabledReason == nil || *after.DisabledReason == "" || after.DisabledAt == nil {
						t.Errorf("PATCH %s: disabled_reason %v disabled_at %v, want both set",
							st.body, whDeref(after.DisabledReason), whDeref(after.DisabledAt))
					}
					want.DisabledReason, want.DisabledAt = after.DisabledReason, after.DisabledAt
				}
				if after.UpdatedAt.Before(before.UpdatedAt) {
					t.Errorf("PATCH %s: updated_at went back from %v to %v", st.body, before.UpdatedAt, after.UpdatedAt)
				}
				want.UpdatedAt = after.UpdatedAt
				sort.Strings(want.Events)
				sort.Strings(after.Events)
				if !reflect.DeepEqual(after, want) {
					t.Errorf("PATCH %s:\n got %+v\nwant %+v", st.body, after, want)
				}
			}

			_, beforeNull := whGetHook(t, tg, key, h.ID)
			status, _, raw := whDo(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(`{"name":null}`))
			whCheckField(t, "PATCH name null", status, raw, "name")
			if _, after := whGetHook(t, tg, key, h.ID); !bytes.Equal(after, beforeNull) {
				t.Errorf("PATCH name null changed the webhook: %s, was %s", after, beforeNull)
			}

			var unchanged whHook
			_, beforeEmpty := whGetHook(t, tg, key, h.ID)
			whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(`{}`), http.StatusOK, &unchanged)
			if _, after := whGetHook(t, tg, key, h.ID); !bytes.Equal(after, beforeEmpty) {
				t.Errorf("a second PATCH {} changed the webhook: %s, was %s", after, beforeEmpty)
			}
		})

		t.Run("DELETE", func(t *testing.T) {
			h := whCreateHook(t, tg, key, map[string]any{"name": "delete me", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			status, _, raw := whDo(t, tg, key, http.MethodDelete, whHookPath(h.ID), nil)
			if status != http.StatusNoContent || len(raw) != 0 {
				t.Fatalf("DELETE: %d %q, want 204 without a body", status, raw)
			}
			for _, op := range []struct{ method, path string }{
				{http.MethodGet, whHookPath(h.ID)},
				{http.MethodDelete, whHookPath(h.ID)},
				{http.MethodPatch, whHookPath(h.ID)},
				{http.MethodPost, whHookPath(h.ID) + "/rotate-secret"},
				{http.MethodPost, whHookPath(h.ID) + "/test"},
				{http.MethodGet, whHookPath(h.ID) + "/deliveries"},
				{http.MethodPost, whHookPath(h.ID) + "/deliveries/1/redeliver"},
			} {
				var body any
				if op.method == http.MethodPatch {
					body = whJSON(`{"name":"ghost"}`)
				}
				status, _, raw := whDo(t, tg, key, op.method, op.path, body)
				whCheckError(t, "after DELETE, "+op.method+" "+op.path, status, raw, http.StatusNotFound, "not_found")
			}
			list, _, _ := whListHooks(t, tg, key)
			for _, x := range list {
				if x.ID == h.ID {
					t.Errorf("deleted webhook %d is still listed", h.ID)
				}
			}
		})

		t.Run("list is oldest first and paginated", func(t *testing.T) {
			k := tg.freshOrg(t)
			var ids []int64
			for i := range 3 {
				ids = append(ids, whCreateHook(t, tg, k, map[string]any{"name": fmt.Sprintf("hook %d", i),
					"url": "https://meusite.com/webhook", "events": []string{"lead.created"}}).ID)
			}
			for _, tc := range []struct {
				query string
				meta  whMeta
				ids   []int64
			}{
				{"", whMeta{1, 25, 3, 1}, ids},
				{"per_page=2", whMeta{1, 2, 3, 2}, ids[:2]},
				{"per_page=2&page=2", whMeta{2, 2, 3, 2}, ids[2:]},
				{"per_page=2&page=3", whMeta{3, 2, 3, 2}, []int64{}},
			} {
				var p whHookPage
				raw := whExpect(t, tg, k, http.MethodGet, "/webhooks?"+tc.query, nil, http.StatusOK, &p)
				got := []int64{}
				for _, x := range p.Data {
					got = append(got, x.ID)
				}
				if p.Meta != tc.meta || !reflect.DeepEqual(got, tc.ids) {
					t.Errorf("?%s: meta %+v ids %v, want %+v %v: %s", tc.query, p.Meta, got, tc.meta, tc.ids, raw)
				}
			}
		})

		t.Run("rotate-secret", func(t *testing.T) {
			h := whCreateHook(t, tg, key, map[string]any{"name": "rotate me", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}})
			s := whRotate(t, tg, key, h.ID)
			now := time.Now()
			if s.SigningSecret == h.SigningSecret {
				t.Errorf("rotate returned the same secret")
			}
			if s.PreviousSecretExpiresAt == nil {
				t.Fatalf("previous_secret_expires_at is null")
			}
			if d := s.PreviousSecretExpiresAt.Sub(now); d < 23*time.Hour || d > 25*time.Hour {
				t.Errorf("previous_secret_expires_at %v is %s from now, want about 24h", *s.PreviousSecretExpiresAt, d)
			}
			got, raw := whGetHook(t, tg, key, h.ID)
			if got.PreviousSecretExpiresAt == nil || !got.PreviousSecretExpiresAt.Equal(*s.PreviousSecretExpiresAt) {
				t.Errorf("GET previous_secret_expires_at %v, want %v", whDeref(got.PreviousSecretExpiresAt), *s.PreviousSecretExpiresAt)
			}
			for _, secret := range []string{h.SigningSecret, s.SigningSecret, "signing_secret"} {
				if bytes.Contains(raw, []byte(secret)) {
					t.Errorf("GET after rotate contains %q: %s", secret, raw)
				}
			}
			status, _, body := whDo(t, tg, key, http.MethodPost, "/webhooks/999999999/rotate-secret", nil)
			whCheckError(t, "rotate an unknown webhook", status, body, http.StatusNotFound, "not_found")
		})
	})
}

func TestWebhookAPIDelivery(t *testing.T) {
	whDeliveryTargets(t, func(t *testing.T, db sqlstoretest.Database) {
		tg := whDeliveryServer(t, db, nil)

		t.Run("test endpoint delivers a signed webhook.test", func(t *testing.T) {
			key := tg.newOrg(t, "wh test ok")
			rec := whNewReceiver(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "test ok", "url": rec.url("/ok"), "events": []string{"lead.created"}})
			r, raw := whTest(t, tg, key, h.ID)
			if !r.Delivered || r.StatusCode == nil || *r.StatusCode != 200 || r.Error != nil || r.DurationMS < 0 || r.DeliveryID < 1 {
				t.Errorf("test result %s, want delivered with 200 and error null", raw)
			}
			got := rec.requests("")
			if len(got) != 1 || got[0].Path != "/ok" {
				t.Fatalf("the receiver got %d requests, want 1 at /ok: %+v", len(got), got)
			}
			req := got[0]
			whCheckHeaders(t, req, "webhook.test")
			if !whsig.VerifySignature(h.SigningSecret, req.Body, req.Header.Get("X-Webhook-Signature")) {
				t.Errorf("X-Webhook-Signature %q does not verify", req.Header.Get("X-Webhook-Signature"))
			}
			if err := whVerifyStandard(t, h.SigningSecret, req); err != nil {
				t.Errorf("the Standard Webhooks headers do not verify: %v", err)
			}

			var env map[string]json.RawMessage
			if err := json.Unmarshal(req.Body, &env); err != nil {
				t.Fatalf("body is not a JSON object: %v: %s", err, req.Body)
			}
			var keys []string
			for k := range env {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "created_at,data,event,id" {
				t.Errorf("envelope keys %v, want id, event, created_at, data: %s", keys, req.Body)
			}
			var e struct {
				ID        string    `json:"id"`
				Event     string    `json:"event"`
				CreatedAt time.Time `json:"created_at"`
				Data      struct {
					WebhookID int64  `json:"webhook_id"`
					Message   string `json:"message"`
				} `json:"data"`
			}
			if err := json.Unmarshal(req.Body, &e); err != nil {
				t.Fatalf("envelope: %v: %s", err, req.Body)
			}
			if !whEventIDRe.MatchString(e.ID) || e.Event != "webhook.test" || e.CreatedAt.IsZero() ||
				e.Data.WebhookID != h.ID || e.Data.Message == "" {
				t.Errorf("envelope %s, want id evt_..., event webhook.test, created_at and data {webhook_id: %d, message}", req.Body, h.ID)
			}

			d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID)
			if d.Event != "webhook.test" || d.Status != "succeeded" || len(d.Attempts) != 1 || d.WebhookID != h.ID || d.NextAttemptAt != nil {
				t.Errorf("the test delivery in the log: %+v, want webhook.test succeeded with one attempt", d)
			} else if a := d.Attempts[0]; a.StatusCode == nil || *a.StatusCode != 200 || a.Error != nil || a.DurationMS < 0 {
				t.Errorf("the test attempt: status %v error %v duration %d", whDeref(a.StatusCode), whDeref(a.Error), a.DurationMS)
			}
			if d.EventID != e.ID || d.MessageID != req.Header.Get("X-Webhook-Id") {
				t.Errorf("delivery event_id %q webhook_message_id %q, the receiver saw id %q X-Webhook-Id %q",
					d.EventID, d.MessageID, e.ID, req.Header.Get("X-Webhook-Id"))
			}
		})

		t.Run("test endpoint reports a failure and does not retry", func(t *testing.T) {
			key := tg.newOrg(t, "wh test fail")
			rec := whNewReceiver(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "test fail", "url": rec.url("/fail"), "events": []string{"lead.created"}})
			r, raw := whTest(t, tg, key, h.ID)
			if r.Delivered || r.StatusCode == nil || *r.StatusCode != 500 || r.Error == nil || !strings.Contains(*r.Error, "500") {
				t.Errorf("test result %s, want not delivered, status_code 500 and an error about 500", raw)
			}
			d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID)
			if d.Event != "webhook.test" || d.Status != "failed" || len(d.Attempts) != 1 || d.NextAttemptAt != nil {
				t.Errorf("the failed test delivery: %+v, want webhook.test failed with one attempt and no next attempt", d)
			} else if a := d.Attempts[0]; a.StatusCode == nil || *a.StatusCode != 500 || !reflect.DeepEqual(a.Error, r.Error) {
				t.Errorf("the attempt: status %v error %v, want 500 and %v", whDeref(a.StatusCode), whDeref(a.Error), whDeref(r.Error))
			}
			// Several poll intervals, with a retry schedule of 50ms: a retry
			// would show up.
			end := time.Now().Add(15 * whPollInterval)
			for time.Now().Before(end) {
				time.Sleep(whPollInterval)
				if n := len(rec.requests("")); n != 1 {
					t.Fatalf("the receiver got %d requests, want 1: the test delivery was retried", n)
				}
			}
			if d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID); len(d.Attempts) != 1 || d.Status != "failed" {
				t.Errorf("after a while the test delivery is %s with %d attempts, want failed with 1", d.Status, len(d.Attempts))
			}
		})

		t.Run("redirects are not followed", func(t *testing.T) {
			key := tg.newOrg(t, "wh redirect")
			rec := whNewReceiver(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "redirect", "url": rec.url("/redirect"), "events": []string{"lead.created"}})
			r, raw := whTest(t, tg, key, h.ID)
			if r.Delivered || r.StatusCode == nil || *r.StatusCode != 302 || r.Error == nil || !strings.Contains(strings.ToLower(*r.Error), "redirect") {
				t.Errorf("test result %s, want not delivered, status_code 302 and an error about redirects", raw)
			}
			if n := len(rec.requests("/redirect")); n != 1 {
				t.Errorf("/redirect got %d requests, want 1", n)
			}
			if n := len(rec.requests("/target")); n != 0 {
				t.Errorf("the redirect was followed: /target got %d requests", n)
			}
		})

		t.Run("rotate-secret signs with both secrets", func(t *testing.T) {
			key := tg.newOrg(t, "wh rotate")
			rec := whNewReceiver(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "rotate", "url": rec.url("/ok"), "events": []string{"lead.created"}})
			s0 := h.SigningSecret
			other := whCreateHook(t, tg, key, map[string]any{"name": "unrelated", "url": "https://meusite.com/webhook", "events": []string{"lead.created"}}).SigningSecret

			sigs := func(req whReceived) int { return len(strings.Fields(req.Header.Get("Webhook-Signature"))) }
			check := func(label string, req whReceived, xsig string, std, notStd []string) {
				t.Helper()
				for _, s := range append([]string{xsig}, append(std, notStd...)...) {
					if ok := whsig.VerifySignature(s, req.Body, req.Header.Get("X-Webhook-Signature")); ok != (s == xsig) {
						t.Errorf("%s: X-Webhook-Signature verifies with secret #%d: %v, want %v", label, whSecretIndex(s, s0, other, h.SigningSecret), ok, s == xsig)
					}
				}
				for _, s := range std {
					if err := whVerifyStandard(t, s, req); err != nil {
						t.Errorf("%s: the Standard Webhooks headers do not verify with a current secret: %v (webhook-signature %q)", label, err, req.Header.Get("Webhook-Signature"))
					}
				}
				for _, s := range notStd {
					if err := whVerifyStandard(t, s, req); err == nil {
						t.Errorf("%s: the Standard Webhooks headers verify with a secret they should not", label)
					}
				}
				if sigs(req) != len(std) {
					t.Errorf("%s: webhook-signature has %d signatures, want %d: %q", label, sigs(req), len(std), req.Header.Get("Webhook-Signature"))
				}
			}

			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test before rotation: %s", raw)
			}
			check("before rotation", rec.requests("")[0], s0, []string{s0}, []string{other})

			s1 := whRotate(t, tg, key, h.ID).SigningSecret
			if s1 == s0 {
				t.Fatal("rotation returned the same secret")
			}
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test after rotation: %s", raw)
			}
			got := rec.requests("")
			check("after rotation", got[len(got)-1], s1, []string{s0, s1}, []string{other})

			s2 := whRotate(t, tg, key, h.ID).SigningSecret
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test after the second rotation: %s", raw)
			}
			got = rec.requests("")
			check("after the second rotation", got[len(got)-1], s2, []string{s1, s2}, []string{s0, other})
		})

		t.Run("redeliver", func(t *testing.T) {
			key := tg.newOrg(t, "wh redeliver")
			rec, rec2 := whNewReceiver(t), whNewReceiver(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "redeliver", "url": rec.url("/ok"), "events": []string{"lead.created"}})
			h2 := whCreateHook(t, tg, key, map[string]any{"name": "sibling", "url": rec2.url("/ok"), "events": []string{"lead.created"}})
			leadID := whCreateLead(t, tg, key, "Redeliver")
			d := whWaitOne(t, tg, key, h.ID, "succeeded", 1)
			d2 := whWaitOne(t, tg, key, h2.ID, "succeeded", 1)
			if d.Event != "lead.created" {
				t.Fatalf("delivery %+v, want lead.created", d)
			}
			first := rec.waitN(t, "/ok", 1)
			whCheckHeaders(t, first[0], "lead.created")
			// The envelope's data is the lead exactly as the API returns it.
			var env struct {
				ID    string         `json:"id"`
				Event string         `json:"event"`
				Data  map[string]any `json:"data"`
			}
			if err := json.Unmarshal(first[0].Body, &env); err != nil {
				t.Fatalf("lead.created body: %v: %s", err, first[0].Body)
			}
			var lead map[string]any
			whExpect(t, tg, key, http.MethodGet, fmt.Sprintf("/leads/%d", leadID), nil, http.StatusOK, &lead)
			if env.Event != "lead.created" || env.ID != d.EventID || !reflect.DeepEqual(env.Data, lead) {
				t.Errorf("lead.created envelope %s, want event lead.created, id %s and data equal to GET /leads/%d: %v", first[0].Body, d.EventID, leadID, lead)
			}

			redeliver := func(hook, delivery int64) (int, []byte) {
				status, _, raw := whDo(t, tg, key, http.MethodPost, fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", hook, delivery), nil)
				return status, raw
			}
			status, raw := redeliver(h.ID, d.ID)
			if status != http.StatusAccepted {
				t.Fatalf("redeliver: %d, want 202: %s", status, raw)
			}
			var q whDelivery
			if err := json.Unmarshal(raw, &q); err != nil {
				t.Fatal(err)
			}
			if q.ID != d.ID || q.Status != "pending" || q.MessageID != d.MessageID || q.EventID != d.EventID || q.NextAttemptAt == nil {
				t.Errorf("redeliver answered %s, want delivery %d pending with the same ids and a next attempt", raw, d.ID)
			}
			got := rec.waitN(t, "/ok", 2)
			if len(got) != 2 {
				t.Fatalf("the receiver got %d requests, want 2", len(got))
			}
			if a, b := got[0].Header.Get("X-Webhook-Id"), got[1].Header.Get("X-Webhook-Id"); a != b || a != d.MessageID {
				t.Errorf("X-Webhook-Id %q then %q, want %q twice", a, b, d.MessageID)
			}
			if a, b := got[0].Header.Get("Webhook-Id"), got[1].Header.Get("Webhook-Id"); a != b {
				t.Errorf("webhook-id %q then %q, want the same", a, b)
			}
			if !bytes.Equal(got[0].Body, got[1].Body) {
				t.Errorf("the redelivered body differs:\n%s\n%s", got[0].Body, got[1].Body)
			}
			whCheckHeaders(t, got[1], "lead.created")
			whWaitDelivery(t, tg, key, h.ID, d.ID, "succeeded", 2)

			status, raw = redeliver(h.ID, 999999999)
			whCheckError(t, "redeliver an unknown delivery", status, raw, http.StatusNotFound, "not_found")
			status, raw = redeliver(h.ID, d2.ID)
			whCheckError(t, "redeliver another webhook's delivery", status, raw, http.StatusNotFound, "not_found")
			status, raw = redeliver(999999999, d.ID)
			whCheckError(t, "redeliver through an unknown webhook", status, raw, http.StatusNotFound, "not_found")
			if after := whFindDelivery(t, tg, key, h2.ID, d2.ID); after.Status != "succeeded" || len(after.Attempts) != 1 {
				t.Errorf("the sibling's delivery changed: %+v", after)
			}

			whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(`{"active":false}`), http.StatusOK, nil)
			status, raw = redeliver(h.ID, d.ID)
			whCheckError(t, "redeliver on a disabled webhook", status, raw, http.StatusConflict, "conflict")
			// The test endpoint works on a disabled webhook too.
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Errorf("test of a disabled webhook: %s, want delivered", raw)
			}
			whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(`{"active":true}`), http.StatusOK, nil)
			if status, raw = redeliver(h.ID, d.ID); status != http.StatusAccepted {
				t.Errorf("redeliver once enabled again: %d, want 202: %s", status, raw)
			} else {
				whWaitDelivery(t, tg, key, h.ID, d.ID, "succeeded", 3)
			}
		})

		t.Run("deliveries list", func(t *testing.T) {
			key := tg.newOrg(t, "wh deliveries")
			rec := whNewReceiver(t)
			h := whCreateHook(t, tg, key, map[string]any{"name": "flaky", "url": rec.url("/fail-twice"),
				"events": []string{"lead.created"}, "max_attempts": 3})
			whCreateLead(t, tg, key, "Flaky")
			d1 := whWaitOne(t, tg, key, h.ID, "succeeded", 3)
			wantCodes := []int{500, 500, 200}
			for i, a := range d1.Attempts {
				if a.StatusCode == nil || *a.StatusCode != wantCodes[i] {
					t.Errorf("attempt %d: status_code %v, want %d", i, whDeref(a.StatusCode), wantCodes[i])
				}
				if (a.Error == nil) != (i == 2) || (a.Error != nil && !strings.Contains(*a.Error, "500")) {
					t.Errorf("attempt %d: error %v", i, whDeref(a.Error))
				}
				if a.DurationMS < 0 || a.AttemptedAt.IsZero() {
					t.Errorf("attempt %d: duration_ms %d attempted_at %v", i, a.DurationMS, a.AttemptedAt)
				}
				if i > 0 && !a.AttemptedAt.After(d1.Attempts[i-1].AttemptedAt) {
					t.Errorf("attempts not oldest first: %v then %v", d1.Attempts[i-1].AttemptedAt, a.AttemptedAt)
				}
			}
			if d1.NextAttemptAt != nil {
				t.Errorf("a succeeded delivery has next_attempt_at %v", *d1.NextAttemptAt)
			}

			whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), map[string]any{"url": rec.url("/fail")}, http.StatusOK, nil)
			r2, _ := whTest(t, tg, key, h.ID)
			whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), map[string]any{"url": rec.url("/ok")}, http.StatusOK, nil)
			r3, _ := whTest(t, tg, key, h.ID)
			if r2.Delivered || !r3.Delivered {
				t.Fatalf("test deliveries: %+v then %+v, want failed then delivered", r2, r3)
			}

			ids := func(p whDeliveryPage) []int64 {
				out := []int64{}
				for _, d := range p.Data {
					out = append(out, d.ID)
				}
				return out
			}
			cases := []struct {
				query string
				meta  whMeta
				ids   []int64
			}{
				{"", whMeta{1, 25, 3, 1}, []int64{r3.DeliveryID, r2.DeliveryID, d1.ID}},
				{"per_page=2", whMeta{1, 2, 3, 2}, []int64{r3.DeliveryID, r2.DeliveryID}},
				{"per_page=2&page=2", whMeta{2, 2, 3, 2}, []int64{d1.ID}},
				{"per_page=2&page=3", whMeta{3, 2, 3, 2}, []int64{}},
				{"status=failed", whMeta{1, 25, 1, 1}, []int64{r2.DeliveryID}},
				{"status=succeeded", whMeta{1, 25, 2, 1}, []int64{r3.DeliveryID, d1.ID}},
				{"status=pending", whMeta{1, 25, 0, 0}, []int64{}},
				{"status=succeeded&per_page=1&page=2", whMeta{2, 1, 2, 2}, []int64{d1.ID}},
			}
			for _, tc := range cases {
				p, raw := whDeliveries(t, tg, key, h.ID, tc.query)
				if p.Meta != tc.meta || !reflect.DeepEqual(ids(p), tc.ids) {
					t.Errorf("?%s: meta %+v ids %v, want %+v %v: %s", tc.query, p.Meta, ids(p), tc.meta, tc.ids, raw)
				}
				for i := 1; i < len(p.Data); i++ {
					if p.Data[i].CreatedAt.After(p.Data[i-1].CreatedAt) {
						t.Errorf("?%s: not newest first: %v before %v", tc.query, p.Data[i-1].CreatedAt, p.Data[i].CreatedAt)
					}
				}
			}
			status, _, raw := whDo(t, tg, key, http.MethodGet, whHookPath(h.ID)+"/deliveries?status=lost", nil)
			whCheckError(t, "?status=lost", status, raw, http.StatusBadRequest, "bad_request")
		})

		t.Run("tenant isolation", func(t *testing.T) {
			keyA, keyB := tg.newOrg(t, "wh tenant A"), tg.newOrg(t, "wh tenant B")
			recA, recB := whNewReceiver(t), whNewReceiver(t)
			hA := whCreateHook(t, tg, keyA, map[string]any{"name": "A", "url": recA.url("/ok"), "events": []string{"lead.created", "handoff.created"}})
			hB := whCreateHook(t, tg, keyB, map[string]any{"name": "B", "url": recB.url("/ok"), "events": []string{"lead.created"}})
			whCreateLead(t, tg, keyA, "Tenant A")
			dA := whWaitOne(t, tg, keyA, hA.ID, "succeeded", 1)
			_, hookBefore := whGetHook(t, tg, keyA, hA.ID)
			_, deliveriesBefore := whDeliveries(t, tg, keyA, hA.ID, "")

			for _, op := range []struct {
				method, path string
				body         any
			}{
				{http.MethodGet, whHookPath(hA.ID), nil},
				{http.MethodPatch, whHookPath(hA.ID), whJSON(`{"name":"hacked","active":false,"url":"https://evil.example/x"}`)},
				{http.MethodDelete, whHookPath(hA.ID), nil},
				{http.MethodPost, whHookPath(hA.ID) + "/test", nil},
				{http.MethodPost, whHookPath(hA.ID) + "/rotate-secret", nil},
				{http.MethodGet, whHookPath(hA.ID) + "/deliveries", nil},
				{http.MethodPost, fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", hA.ID, dA.ID), nil},
				{http.MethodPost, fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", hB.ID, dA.ID), nil},
			} {
				status, _, raw := whDo(t, tg, keyB, op.method, op.path, op.body)
				whCheckError(t, "org B: "+op.method+" "+op.path, status, raw, http.StatusNotFound, "not_found")
				if bytes.Contains(raw, []byte(`"A"`)) || bytes.Contains(raw, []byte(hA.SigningSecret)) {
					t.Errorf("org B: %s %s leaks org A's webhook: %s", op.method, op.path, raw)
				}
			}
			list, total, _ := whListHooks(t, tg, keyB)
			if total != 1 || len(list) != 1 || list[0].ID != hB.ID {
				t.Errorf("org B lists %+v (total %d), want only its own webhook %d", list, total, hB.ID)
			}

			if _, after := whGetHook(t, tg, keyA, hA.ID); !bytes.Equal(after, hookBefore) {
				t.Errorf("org A's webhook changed:\nbefore %s\n after %s", hookBefore, after)
			}
			if _, after := whDeliveries(t, tg, keyA, hA.ID, ""); !bytes.Equal(after, deliveriesBefore) {
				t.Errorf("org A's deliveries changed:\nbefore %s\n after %s", deliveriesBefore, after)
			}

			// B's event is delivered to B; deliveries are queued with the
			// event, so A's log is final once B's delivery exists.
			whCreateLead(t, tg, keyB, "Tenant B")
			whWaitOne(t, tg, keyB, hB.ID, "succeeded", 1)
			if p, raw := whDeliveries(t, tg, keyA, hA.ID, ""); p.Meta.Total != 1 {
				t.Errorf("org A's webhook has %d deliveries after org B's event, want 1: %s", p.Meta.Total, raw)
			}
			if n := len(recA.requests("")); n != 1 {
				t.Errorf("org A's receiver got %d requests, want 1 (its own lead.created)", n)
			}

			// A's secret was not rotated: a test still verifies with it, with
			// one signature only.
			if r, raw := whTest(t, tg, keyA, hA.ID); !r.Delivered {
				t.Fatalf("org A's test: %s", raw)
			}
			got := recA.requests("")
			last := got[len(got)-1]
			if !whsig.VerifySignature(hA.SigningSecret, last.Body, last.Header.Get("X-Webhook-Signature")) {
				t.Errorf("org A's secret no longer signs its deliveries")
			}
			if n := len(strings.Fields(last.Header.Get("Webhook-Signature"))); n != 1 {
				t.Errorf("org A's delivery carries %d Standard Webhooks signatures, want 1 (no rotation)", n)
			}
		})
	})
}

// whSecretIndex names a secret in failure messages without printing it.
func whSecretIndex(s string, secrets ...string) int {
	for i, x := range secrets {
		if x == s {
			return i
		}
	}
	return -1
}

func TestWebhookAPISSRF(t *testing.T) {
	whDeliveryTargets(t, func(t *testing.T, db sqlstoretest.Database) {
		tg := startInProcessWith(t, db.URL, func(c *app.Config) {
			c.WebhookPollInterval = whPollInterval
			c.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond}
			c.WebhookTimeout = 2 * time.Second
		})
		key := tg.freshOrg(t)
		rec := whNewReceiver(t)
		port := rec.port()
		for _, tc := range []struct {
			url   string
			addrs []string
		}{
			{"http://127.0.0.1:" + port + "/ok", []string{"127.0.0.1"}},
			{"http://10.0.0.1/", []string{"10.0.0.1"}},
			{"http://169.254.169.254/latest/meta-data/", []string{"169.254.169.254"}},
			{"http://localhost:" + port + "/ok", []string{"127.0.0.1", "::1"}},
		} {
			t.Run(tc.url, func(t *testing.T) {
				h := whCreateHook(t, tg, key, map[string]any{"name": "ssrf", "url": tc.url, "events": []string{"lead.created"}, "max_attempts": 1})
				r, raw := whTest(t, tg, key, h.ID)
				if r.Delivered || r.StatusCode != nil || r.Error == nil || !strings.Contains(*r.Error, "refused") {
					t.Fatalf("test of %s: %s, want not delivered, status_code null and a refusal", tc.url, raw)
				}
				named := false
				for _, a := range tc.addrs {
					named = named || strings.Contains(*r.Error, a)
				}
				if !named {
					t.Errorf("the error %q names none of %v", *r.Error, tc.addrs)
				}
				d := whFindDelivery(t, tg, key, h.ID, r.DeliveryID)
				if len(d.Attempts) != 1 || d.Attempts[0].StatusCode != nil || !reflect.DeepEqual(d.Attempts[0].Error, r.Error) {
					t.Errorf("the logged attempt %+v, want the same refusal", d.Attempts)
				}
			})
		}
		if got := rec.requests(""); len(got) != 0 {
			t.Errorf("the loopback receiver got %d requests, want none", len(got))
		}
	})
}

func TestWebhookAPIRedeliverPending(t *testing.T) {
	whDeliveryTargets(t, func(t *testing.T, db sqlstoretest.Database) {
		tg := whDeliveryServer(t, db, func(c *app.Config) { c.WebhookRetrySchedule = []time.Duration{time.Hour} })
		key := tg.freshOrg(t)
		rec := whNewReceiver(t)
		h := whCreateHook(t, tg, key, map[string]any{"name": "always 500", "url": rec.url("/fail"),
			"events": []string{"lead.created"}, "max_attempts": 15})
		whCreateLead(t, tg, key, "Pending")
		// Waits for a settled read: the log can show the attempt before the
		// delivery's new schedule (TestWebhookAPIDeliveryLogConsistency).
		d := whWaitDeliveries(t, tg, key, h.ID, "one pending delivery after its first attempt", func(ds []whDelivery) bool {
			return len(ds) == 1 && ds[0].Status == "pending" && len(ds[0].Attempts) == 1 && whInconsistency(ds[0]) == ""
		})[0]
		if d.NextAttemptAt == nil || time.Until(*d.NextAttemptAt) < 50*time.Minute {
			t.Errorf("next_attempt_at %v, want about an hour from now", whDeref(d.NextAttemptAt))
		}
		path := fmt.Sprintf("/webhooks/%d/deliveries/%d/redeliver", h.ID, d.ID)
		status, _, raw := whDo(t, tg, key, http.MethodPost, path, nil)
		whCheckError(t, "redeliver a pending delivery", status, raw, http.StatusConflict, "conflict")
		if after := whFindDelivery(t, tg, key, h.ID, d.ID); after.Status != "pending" || len(after.Attempts) != 1 {
			t.Errorf("the refused redelivery changed the delivery: %+v", after)
		}

		// Disabling fails the pending delivery; a disabled webhook refuses
		// redelivery until it is enabled again.
		whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(`{"active":false}`), http.StatusOK, nil)
		if after := whFindDelivery(t, tg, key, h.ID, d.ID); after.Status != "failed" || after.NextAttemptAt != nil {
			t.Errorf("after disabling, the pending delivery is %s (next %v), want failed", after.Status, whDeref(after.NextAttemptAt))
		}
		status, _, raw = whDo(t, tg, key, http.MethodPost, path, nil)
		whCheckError(t, "redeliver on a disabled webhook", status, raw, http.StatusConflict, "conflict")
		whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), whJSON(`{"active":true}`), http.StatusOK, nil)
		whExpect(t, tg, key, http.MethodPost, path, nil, http.StatusAccepted, nil)
		whWaitOne(t, tg, key, h.ID, "pending", 2)
		if n := len(rec.requests("")); n != 2 {
			t.Errorf("the receiver got %d requests, want 2", n)
		}
	})
}

// whLogBuffer is a log sink safe for concurrent use.
type whLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *whLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *whLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWebhookAPISecretsNotLogged(t *testing.T) {
	whDeliveryTargets(t, func(t *testing.T, db sqlstoretest.Database) {
		logs := &whLogBuffer{}
		tg := whDeliveryServer(t, db, func(c *app.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		key := tg.freshOrg(t)
		rec := whNewReceiver(t)
		h := whCreateHook(t, tg, key, map[string]any{"name": "logged", "url": rec.url("/ok"),
			"events": []string{"lead.created"}, "max_attempts": 2})
		s1 := whRotate(t, tg, key, h.ID).SigningSecret
		if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
			t.Fatalf("test: %s", raw)
		}
		whExpect(t, tg, key, http.MethodPatch, whHookPath(h.ID), map[string]any{"url": rec.url("/fail")}, http.StatusOK, nil)
		if r, raw := whTest(t, tg, key, h.ID); r.Delivered {
			t.Fatalf("test against /fail: %s", raw)
		}
		whCreateLead(t, tg, key, "Logged")
		whWaitDeliveries(t, tg, key, h.ID, "a failed lead.created", func(ds []whDelivery) bool {
			for _, d := range ds {
				if d.Event == "lead.created" && d.Status == "failed" && len(d.Attempts) == 2 {
					return true
				}
			}
			return false
		})

		out := logs.String()
		if !strings.Contains(out, "webhook attempt") {
			t.Fatalf("the logs do not mention the webhook attempts, so the logger is not the one in use:\n%s", out)
		}
		for i, s := range []string{h.SigningSecret, s1} {
			for _, needle := range []string{s, strings.TrimPrefix(s, "whsec_")} {
				if strings.Contains(out, needle) {
					t.Errorf("the logs contain secret #%d (%q)", i, needle)
				}
			}
		}
	})
}

func TestHandoffAPI(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		key := tg.key
		handoffs := func(t *testing.T, k, query string) (whHandoffPage, []byte) {
			t.Helper()
			var p whHandoffPage
			raw := whExpect(t, tg, k, http.MethodGet, "/handoffs?"+query, nil, http.StatusOK, &p)
			return p, raw
		}
		open := func(t *testing.T, k string, lead int64, reason string) (whHandoff, http.Header) {
			t.Helper()
			status, header, raw := whDo(t, tg, k, http.MethodPost, "/handoffs", map[string]any{"lead_id": lead, "reason": reason})
			if status != http.StatusCreated {
				t.Fatalf("open a handoff for lead %d: %d, want 201: %s", lead, status, raw)
			}
			var h whHandoff
			if err := json.Unmarshal(raw, &h); err != nil {
				t.Fatal(err)
			}
			return h, header
		}

		t.Run("open, conflict, close, reopen", func(t *testing.T) {
			lead := whCreateLead(t, tg, key, "Handoff Lead")
			h, header := open(t, key, lead, "Pediu uma proposta comercial")
			if loc := header.Get("Location"); loc != fmt.Sprintf("/api/v1/handoffs/%d", h.ID) {
				t.Errorf("Location %q, want /api/v1/handoffs/%d", loc, h.ID)
			}
			if h.Status != "open" || h.ClosedAt != nil || h.LeadID != lead || h.Reason != "Pediu uma proposta comercial" ||
				h.CreatedAt.IsZero() || !h.UpdatedAt.Equal(h.CreatedAt) {
				t.Errorf("opened handoff %+v, want open for lead %d with closed_at null", h, lead)
			}
			var got whHandoff
			whExpect(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", h.ID), nil, http.StatusOK, &got)
			if !reflect.DeepEqual(got, h) {
				t.Errorf("GET %+v, want %+v", got, h)
			}

			status, _, raw := whDo(t, tg, key, http.MethodPost, "/handoffs", map[string]any{"lead_id": lead, "reason": "De novo"})
			whCheckError(t, "a second open handoff", status, raw, http.StatusConflict, "conflict")

			var closed whHandoff
			whExpect(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", h.ID), nil, http.StatusOK, &closed)
			if closed.Status != "closed" || closed.ClosedAt == nil || closed.ClosedAt.Before(h.CreatedAt) ||
				closed.ID != h.ID || closed.Reason != h.Reason || !closed.CreatedAt.Equal(h.CreatedAt) || closed.UpdatedAt.Before(h.UpdatedAt) {
				t.Errorf("closed handoff %+v", closed)
			}
			whExpect(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", h.ID), nil, http.StatusOK, &got)
			if !reflect.DeepEqual(got, closed) {
				t.Errorf("GET after close %+v, want %+v", got, closed)
			}
			status, _, raw = whDo(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", h.ID), nil)
			whCheckError(t, "close a closed handoff", status, raw, http.StatusConflict, "conflict")

			again, _ := open(t, key, lead, "Voltou a pedir")
			if again.ID == h.ID || again.Status != "open" {
				t.Errorf("reopened handoff %+v", again)
			}

			ids := func(p whHandoffPage) []int64 {
				out := []int64{}
				for _, x := range p.Data {
					out = append(out, x.ID)
				}
				return out
			}
			for _, tc := range []struct {
				query string
				ids   []int64
			}{
				{fmt.Sprintf("lead_id=%d", lead), []int64{again.ID, h.ID}},
				{fmt.Sprintf("lead_id=%d&status=open", lead), []int64{again.ID}},
				{fmt.Sprintf("lead_id=%d&status=closed", lead), []int64{h.ID}},
				{fmt.Sprintf("lead_id=%d&per_page=1&page=2", lead), []int64{h.ID}},
			} {
				p, raw := handoffs(t, key, tc.query)
				if !reflect.DeepEqual(ids(p), tc.ids) {
					t.Errorf("?%s: ids %v, want %v: %s", tc.query, ids(p), tc.ids, raw)
				}
			}
			if p, _ := handoffs(t, key, fmt.Sprintf("lead_id=%d&per_page=1", lead)); p.Meta != (whMeta{1, 1, 2, 2}) {
				t.Errorf("meta %+v, want page 1 of 2", p.Meta)
			}
			for _, st := range []string{"open", "closed"} {
				p, _ := handoffs(t, key, "per_page=100&status="+st)
				for _, x := range p.Data {
					if x.Status != st {
						t.Errorf("?status=%s lists handoff %d with status %s", st, x.ID, x.Status)
					}
				}
				want := map[string]int64{"open": again.ID, "closed": h.ID}[st]
				if !slices.Contains(ids(p), want) {
					t.Errorf("?status=%s does not list handoff %d: %v", st, want, ids(p))
				}
			}
			whExpect(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", again.ID), nil, http.StatusOK, nil)
		})

		t.Run("unknown lead and handoff", func(t *testing.T) {
			status, _, raw := whDo(t, tg, key, http.MethodPost, "/handoffs", map[string]any{"lead_id": 999999999999, "reason": "x"})
			if e := whCheckError(t, "a handoff for a missing lead", status, raw, http.StatusNotFound, "not_found"); len(e.Error.Details["lead_id"]) == 0 && status == 404 {
				t.Errorf("no details.lead_id: %s", raw)
			}
			status, _, raw = whDo(t, tg, key, http.MethodGet, "/handoffs/999999999", nil)
			whCheckError(t, "GET an unknown handoff", status, raw, http.StatusNotFound, "not_found")
			status, _, raw = whDo(t, tg, key, http.MethodPost, "/handoffs/999999999/close", nil)
			whCheckError(t, "close an unknown handoff", status, raw, http.StatusNotFound, "not_found")
		})

		t.Run("validation", func(t *testing.T) {
			lead := whCreateLead(t, tg, key, "Handoff Validation")
			for _, tc := range []struct{ name, body, field string }{
				{"reason blank", fmt.Sprintf(`{"lead_id":%d,"reason":"   "}`, lead), "reason"},
				{"reason empty", fmt.Sprintf(`{"lead_id":%d,"reason":""}`, lead), "reason"},
				{"reason missing", fmt.Sprintf(`{"lead_id":%d}`, lead), "reason"},
				{"reason 1001 chars", fmt.Sprintf(`{"lead_id":%d,"reason":%q}`, lead, strings.Repeat("a", 1001)), "reason"},
				{"reason null", fmt.Sprintf(`{"lead_id":%d,"reason":null}`, lead), "reason"},
				{"lead_id missing", `{"reason":"x"}`, "lead_id"},
				{"lead_id 0", `{"lead_id":0,"reason":"x"}`, "lead_id"},
				{"unknown field", fmt.Sprintf(`{"lead_id":%d,"reason":"x","status":"closed"}`, lead), "status"},
			} {
				status, _, raw := whDo(t, tg, key, http.MethodPost, "/handoffs", whJSON(tc.body))
				e := whCheckField(t, tc.name, status, raw, tc.field)
				if tc.name == "unknown field" && status == 422 && strings.Join(e.Error.Details["status"], "") != "is not a known field" {
					t.Errorf("unknown field: details %v", e.Error.Details)
				}
			}
			if p, raw := handoffs(t, key, fmt.Sprintf("lead_id=%d", lead)); p.Meta.Total != 0 {
				t.Errorf("invalid requests stored handoffs: %s", raw)
			}
			h, _ := open(t, key, lead, strings.Repeat("a", 1000))
			if len(h.Reason) != 1000 {
				t.Errorf("a 1000-character reason was stored as %d characters", len(h.Reason))
			}
			whExpect(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", h.ID), nil, http.StatusOK, nil)
		})

		t.Run("tenant isolation", func(t *testing.T) {
			keyB := tg.newOrg(t, "Handoff B")
			leadA := whCreateLead(t, tg, key, "Handoff Tenant A")
			hA, _ := open(t, key, leadA, "Só para A")
			t.Cleanup(func() { whDo(t, tg, key, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", hA.ID), nil) })
			var before whHandoff
			snapshot := whExpect(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", hA.ID), nil, http.StatusOK, &before)

			status, _, raw := whDo(t, tg, keyB, http.MethodGet, fmt.Sprintf("/handoffs/%d", hA.ID), nil)
			whCheckError(t, "org B gets A's handoff", status, raw, http.StatusNotFound, "not_found")
			status, _, raw = whDo(t, tg, keyB, http.MethodPost, fmt.Sprintf("/handoffs/%d/close", hA.ID), nil)
			whCheckError(t, "org B closes A's handoff", status, raw, http.StatusNotFound, "not_found")
			status, _, raw = whDo(t, tg, keyB, http.MethodPost, "/handoffs", map[string]any{"lead_id": leadA, "reason": "roubando"})
			if e := whCheckError(t, "org B opens a handoff on A's lead", status, raw, http.StatusNotFound, "not_found"); status == 404 && len(e.Error.Details["lead_id"]) == 0 {
				t.Errorf("no details.lead_id: %s", raw)
			}
			if p, raw := handoffs(t, keyB, fmt.Sprintf("lead_id=%d", leadA)); p.Meta.Total != 0 {
				t.Errorf("org B lists handoffs of A's lead: %s", raw)
			}
			p, _ := handoffs(t, keyB, "per_page=100")
			for _, x := range p.Data {
				if x.ID == hA.ID {
					t.Errorf("org B lists A's handoff %d", hA.ID)
				}
			}
			if after := whExpect(t, tg, key, http.MethodGet, fmt.Sprintf("/handoffs/%d", hA.ID), nil, http.StatusOK, nil); !bytes.Equal(after, snapshot) {
				t.Errorf("A's handoff changed:\nbefore %s\n after %s", snapshot, after)
			}
		})
	})
}

// whInconsistency describes how a delivery in the log contradicts its own
// attempts, or returns "" when it does not.
func whInconsistency(d whDelivery) string {
	n := len(d.Attempts)
	ok2xx := func(a whAttempt) bool { return a.StatusCode != nil && *a.StatusCode >= 200 && *a.StatusCode < 300 }
	switch d.Status {
	case "pending":
		for i, a := range d.Attempts {
			if ok2xx(a) {
				return fmt.Sprintf("pending although attempt %d was answered %d", i, *a.StatusCode)
			}
		}
		if d.Event == "webhook.test" && n > 0 {
			return fmt.Sprintf("a test delivery is pending after %d attempts; it is never retried", n)
		}
		if n > 0 && (d.NextAttemptAt == nil || !d.NextAttemptAt.After(d.Attempts[n-1].AttemptedAt)) {
			return fmt.Sprintf("pending with next_attempt_at %v, not after its last attempt at %v", whDeref(d.NextAttemptAt), d.Attempts[n-1].AttemptedAt)
		}
	case "succeeded":
		if n == 0 || !ok2xx(d.Attempts[n-1]) {
			return fmt.Sprintf("succeeded but its last of %d attempts was not answered 2xx", n)
		}
	}
	return ""
}

// The delivery log is read while deliveries are being attempted: every
// delivery in every answer must agree with its own attempts (a delivery is
// never shown pending next to the 200 that finished it).
func TestWebhookAPIDeliveryLogConsistency(t *testing.T) {
	whDeliveryTargets(t, func(t *testing.T, db sqlstoretest.Database) {
		tg := whDeliveryServer(t, db, nil)
		key := tg.freshOrg(t)
		rec := whNewReceiver(t)
		h := whCreateHook(t, tg, key, map[string]any{"name": "consistency", "url": rec.url("/ok"), "events": []string{"lead.created"}})

		// The poller uses a plain client: it runs outside the test goroutine.
		stop := make(chan struct{})
		var (
			mu     sync.Mutex
			bad    []string
			polls  int
			wg     sync.WaitGroup
			client = &http.Client{Timeout: 10 * time.Second}
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/webhooks/%d/deliveries?per_page=100", tg.baseURL, h.ID), nil)
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var p whDeliveryPage
				if res.StatusCode != http.StatusOK || json.Unmarshal(body, &p) != nil {
					continue
				}
				mu.Lock()
				polls++
				for _, d := range p.Data {
					if msg := whInconsistency(d); msg != "" {
						b, _ := json.Marshal(d)
						bad = append(bad, fmt.Sprintf("delivery %d: %s: %s", d.ID, msg, b))
					}
				}
				mu.Unlock()
			}
		}()

		// Test deliveries are created pending and finished by one attempt;
		// real events go through the dispatcher.
		const n = 40
		for i := range n {
			if r, raw := whTest(t, tg, key, h.ID); !r.Delivered {
				t.Fatalf("test %d: %s", i, raw)
			}
			if i%4 == 0 {
				whCreateLead(t, tg, key, fmt.Sprintf("Consistency %d", i))
			}
		}
		whWaitDeliveries(t, tg, key, h.ID, "all finished", func(ds []whDelivery) bool {
			for _, d := range ds {
				if d.Status == "pending" {
					return false
				}
			}
			return len(ds) == n+n/4
		})
		close(stop)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if polls == 0 {
			t.Fatal("the poller never got a page of deliveries")
		}
		if len(bad) > 0 {
			t.Errorf("GET /webhooks/{id}/deliveries contradicted itself %d times in %d polls, e.g. %s", len(bad), polls, bad[0])
		}
	})
}
