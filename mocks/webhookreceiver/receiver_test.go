package webhookreceiver_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/internal/testctx"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

const path = "/webhook"

// tolerance is the window the receiver allows webhook-timestamp, restated
// here so that a change to it fails a test.
const tolerance = 5 * time.Minute

// leadCreated is a lead.created envelope as the API sends it: every field
// of the generated LeadCreatedEvent and of api.Lead, nothing more.
const leadCreated = `{"id":"evt_2b7c5e0f9d4a4c1e8f3a6b5d","event":"lead.created","created_at":"2026-03-13T14:02:11Z",` +
	`"data":{"id":123,"phone":"5511999999999","name":"Maria","email":"maria@empresa.com","company_name":null,` +
	`"temperature":"hot","lead_score":85,"deal_value":15000,"created_at":"2026-03-13T14:02:11Z","updated_at":"2026-03-13T14:02:11Z"}}`

const webhookTest = `{"id":"evt_0123456789abcdef01234567","event":"webhook.test","created_at":"2026-03-13T14:02:11Z",` +
	`"data":{"webhook_id":7,"message":"This is a test event from IAGENTE SDR."}}`

// newSecret makes a secret shaped like the API's: whsec_ + base64 of 32
// random bytes.
func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

func newMsgID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "msg_" + hex.EncodeToString(b)
}

// delivery is one signed POST. Its Standard Webhooks signature comes from
// the official library, which the receiver does not use, and its
// X-Webhook-Signature from the API reference's recipe written out here; the
// known-answer tests below pin both to signatures computed with openssl, so
// a mistake shared by this signer and the receiver cannot hide.
type delivery struct {
	event string
	id    string
	at    time.Time
	body  string
	// signWith signs X-Webhook-Signature with the first secret and
	// webhook-signature with all of them, as the API does mid-rotation.
	signWith []string
}

func (d delivery) request(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	d.sign(t, req.Header, []byte(d.body))
	return req
}

func (d delivery) sign(t *testing.T, h http.Header, body []byte) {
	t.Helper()
	if d.id == "" {
		d.id = newMsgID()
	}
	if d.at.IsZero() {
		d.at = time.Now()
	}
	ts := strconv.FormatInt(d.at.Unix(), 10)
	var std []string
	for _, s := range d.signWith {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := wh.Sign(d.id, d.at, body)
		if err != nil {
			t.Fatal(err)
		}
		std = append(std, sig)
	}
	mac := hmac.New(sha256.New, []byte(d.signWith[0]))
	mac.Write(body)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "IAGENTE-Webhooks/1.0")
	h.Set("X-Webhook-Event", d.event)
	h.Set("X-Webhook-Id", d.id)
	h.Set("X-Webhook-Timestamp", ts)
	h.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	h.Set("webhook-id", d.id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", strings.Join(std, " "))
}

type answer struct {
	status int
	header http.Header
	json   map[string]any
	raw    string
}

// serve hands req straight to the receiver, without a network.
func serve(h http.Handler, req *http.Request) answer {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	json.Unmarshal(rec.Body.Bytes(), &a.json)
	return a
}

func deliver(t *testing.T, h http.Handler, d delivery) answer {
	t.Helper()
	return serve(h, d.request(t, "http://receiver.test"+path))
}

func TestAcceptsAValidDelivery(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	id := newMsgID()
	if a := deliver(t, rcv, delivery{event: "lead.created", id: id, body: leadCreated, signWith: []string{secret}}); a.status != http.StatusOK {
		t.Fatalf("%d %s", a.status, a.raw)
	}

	evs := rcv.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Event != "lead.created" || ev.WebhookID != id || ev.EventID != "evt_2b7c5e0f9d4a4c1e8f3a6b5d" || ev.Duplicate ||
		string(ev.Body) != leadCreated || ev.Header.Get("User-Agent") != "IAGENTE-Webhooks/1.0" || ev.At.IsZero() {
		t.Errorf("recorded %+v", ev)
	}
	typed, ok := ev.Typed.(webhooks.LeadCreatedEvent)
	if !ok {
		t.Fatalf("Typed is %T, want webhooks.LeadCreatedEvent", ev.Typed)
	}
	name, _ := typed.Data.Name.Get()
	if typed.Event != webhooks.LeadCreated || typed.Data.Id != 123 || typed.Data.Phone != "5511999999999" || name != "Maria" ||
		typed.Data.Temperature != api.Hot || !typed.Data.CompanyName.IsNull() || !typed.CreatedAt.Equal(time.Date(2026, 3, 13, 14, 2, 11, 0, time.UTC)) {
		t.Errorf("typed %+v", typed)
	}
	if rcv.Attempts() != 1 || rcv.Rejected() != 0 || rcv.Count("lead.created") != 1 || rcv.Count("lead.updated") != 0 {
		t.Errorf("attempts %d rejected %d", rcv.Attempts(), rcv.Rejected())
	}
}

func TestRoutesByEventHeader(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	if a := deliver(t, rcv, delivery{event: "webhook.test", body: webhookTest, signWith: []string{secret}}); a.status != http.StatusOK {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	typed, ok := rcv.Events()[0].Typed.(webhooks.WebhookTestEvent)
	if !ok || typed.Data.WebhookId != 7 {
		t.Errorf("Typed = %#v", rcv.Events()[0].Typed)
	}
}

// rejected checks a refusal and that it left no event behind.
func rejected(t *testing.T, rcv *webhookreceiver.Receiver, a answer, status int, check string) {
	t.Helper()
	if a.status != status || a.json["check"] != check || a.json["error"] == "" {
		t.Errorf("answer %d %s, want %d with check %q", a.status, a.raw, status, check)
	}
	if n := len(rcv.Events()); n != 0 {
		t.Errorf("%d events recorded after a refusal", n)
	}
	if rcv.Rejected() != 1 || rcv.Attempts() != 1 {
		t.Errorf("rejected %d attempts %d, want 1 and 1", rcv.Rejected(), rcv.Attempts())
	}
}

func TestRefusesTamperedBody(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	d := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}
	req := d.request(t, "http://receiver.test"+path)
	tampered := strings.Replace(leadCreated, `"lead_score":85`, `"lead_score":99`, 1)
	req.Body = io.NopCloser(strings.NewReader(tampered))
	req.ContentLength = int64(len(tampered))
	rejected(t, rcv, serve(rcv, req), http.StatusUnauthorized, "X-Webhook-Signature")
}

func TestRefusesWrongSecret(t *testing.T) {
	rcv := webhookreceiver.New(path, newSecret(t))
	a := deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{newSecret(t)}})
	rejected(t, rcv, a, http.StatusUnauthorized, "X-Webhook-Signature")
}

func TestRefusesWrongStandardSignature(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	d := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}
	req := d.request(t, "http://receiver.test"+path)
	other := delivery{event: "lead.created", id: req.Header.Get("webhook-id"), body: leadCreated, signWith: []string{newSecret(t)}}
	h := http.Header{}
	other.sign(t, h, []byte(leadCreated))
	req.Header.Set("webhook-signature", h.Get("webhook-signature"))
	rejected(t, rcv, serve(rcv, req), http.StatusUnauthorized, "webhook-signature")
}

func TestRefusesStaleTimestamp(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	a := deliver(t, rcv, delivery{event: "lead.created", at: time.Now().Add(-10 * time.Minute), body: leadCreated, signWith: []string{secret}})
	rejected(t, rcv, a, http.StatusUnauthorized, "webhook-timestamp")
	if msg, _ := a.json["error"].(string); !strings.Contains(msg, "5 minutes old") {
		t.Errorf("error %q does not say the timestamp is too old", msg)
	}
}

func TestRefusesUnsignedIDMismatch(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	req := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, "http://receiver.test"+path)
	req.Header.Set("X-Webhook-Id", newMsgID())
	rejected(t, rcv, serve(rcv, req), http.StatusUnauthorized, "X-Webhook-Id")
}

func TestAcceptsAnyConfiguredSecret(t *testing.T) {
	oldSecret, current := newSecret(t), newSecret(t)
	rcv := webhookreceiver.New(path, oldSecret, current)
	if a := deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{current}}); a.status != http.StatusOK {
		t.Fatalf("signed with the second secret: %d %s", a.status, a.raw)
	}
	// Mid-rotation the API sends two standard signatures, one per secret.
	rcv.SetSecrets(current)
	if a := deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{current, oldSecret}}); a.status != http.StatusOK {
		t.Fatalf("two standard signatures: %d %s", a.status, a.raw)
	}
	if a := deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{oldSecret}}); a.status != http.StatusUnauthorized {
		t.Errorf("old secret after SetSecrets: %d %s", a.status, a.raw)
	}
}

// Known answers: signatures computed outside Go, with openssl, so that the
// receiver is pinned to the documented recipes and not merely to agreeing
// with this file's signer.
//
//	printf %s "$body" | openssl dgst -sha256 -hmac "$secret"                     # X-Webhook-Signature
//	key=$(printf %s "${secret#whsec_}" | base64 -d | xxd -p -c 256)
//	printf %s "$id.$ts.$body" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64
const (
	// The secret, id and timestamp are the Standard Webhooks
	// specification's own example.
	kaSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	kaID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	// 2026-03-13T14:02:11Z, the envelope's created_at.
	kaTimestamp = 1773410531
	kaLegacy    = "sha256=dfb0739338dc48333ae20c9939a64f7e44748d95a08f41224355eb67b6c2a0d8"
	kaStandard  = "v1,JXpOeMV1kJcLR1jyN4ZqaGFTEKBpxInXB0IXvgJofSg="
)

func knownAnswerRequest(t *testing.T, body, ts, legacy, standard string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://receiver.test"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "IAGENTE-Webhooks/1.0")
	h.Set("X-Webhook-Event", "lead.created")
	h.Set("X-Webhook-Id", kaID)
	h.Set("X-Webhook-Timestamp", ts)
	h.Set("X-Webhook-Signature", legacy)
	h.Set("webhook-id", kaID)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", standard)
	return req
}

func TestKnownAnswers(t *testing.T) {
	at := time.Unix(kaTimestamp, 0)
	ts := strconv.Itoa(kaTimestamp)
	flip := func(sig string) string { // changes the last hex or base64 digit before any padding
		b := []byte(strings.TrimRight(sig, "="))
		if b[len(b)-1] == 'A' || b[len(b)-1] == '0' {
			b[len(b)-1] = 'B'
		} else {
			b[len(b)-1] = '0'
		}
		return string(b) + sig[len(strings.TrimRight(sig, "=")):]
	}
	for _, tc := range []struct {
		name             string
		clock            time.Time
		ts               string
		legacy, standard string
		status           int
		check            string
	}{
		{"as computed", at.Add(30 * time.Second), ts, kaLegacy, kaStandard, http.StatusOK, ""},
		{"an unknown version beside v1", at, ts, kaLegacy, "v2,bm90IGEgc2lnbmF0dXJl " + kaStandard, http.StatusOK, ""},
		{"legacy digit changed", at, ts, flip(kaLegacy), kaStandard, http.StatusUnauthorized, "X-Webhook-Signature"},
		{"legacy in upper case", at, ts, strings.ToUpper(kaLegacy), kaStandard, http.StatusUnauthorized, "X-Webhook-Signature"},
		{"standard digit changed", at, ts, kaLegacy, flip(kaStandard), http.StatusUnauthorized, "webhook-signature"},
		{"standard without v1,", at, ts, kaLegacy, strings.TrimPrefix(kaStandard, "v1,"), http.StatusUnauthorized, "webhook-signature"},
		{"signed a second later", at, strconv.Itoa(kaTimestamp + 1), kaLegacy, kaStandard, http.StatusUnauthorized, "webhook-signature"},
		{"timestamp with a leading zero", at, "0" + ts, kaLegacy, kaStandard, http.StatusUnauthorized, "webhook-timestamp"},
		{"clock 5 minutes and a second later", at.Add(tolerance + time.Second), ts, kaLegacy, kaStandard, http.StatusUnauthorized, "webhook-timestamp"},
		{"clock 5 minutes later", at.Add(tolerance), ts, kaLegacy, kaStandard, http.StatusOK, ""},
		{"clock 5 minutes and a second earlier", at.Add(-tolerance - time.Second), ts, kaLegacy, kaStandard, http.StatusUnauthorized, "webhook-timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := webhookreceiver.New(path, kaSecret)
			webhookreceiver.SetClock(rcv, func() time.Time { return tc.clock })
			a := serve(rcv, knownAnswerRequest(t, leadCreated, tc.ts, tc.legacy, tc.standard))
			if a.status != tc.status || (tc.check != "" && a.json["check"] != tc.check) {
				t.Errorf("%d %s, want %d %s", a.status, a.raw, tc.status, tc.check)
			}
		})
	}

	// The specification's published example, body and signature included:
	// the body is no event of ours, so it is refused, but only after both
	// signatures verified.
	rcv := webhookreceiver.New(path, kaSecret)
	webhookreceiver.SetClock(rcv, func() time.Time { return time.Unix(1614265330, 0) })
	a := serve(rcv, knownAnswerRequest(t, `{"test": 2432232314}`, "1614265330",
		"sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="))
	if a.status != http.StatusBadRequest || a.json["check"] != "body" {
		t.Errorf("the specification's example: %d %s, want 400 on the body check", a.status, a.raw)
	}
	if log := rcv.AttemptLog(); len(log) != 1 || !log[0].Verified || !strings.HasPrefix(log[0].Problem, "body: ") {
		t.Errorf("the specification's example was recorded as %+v, want verified with a body problem", log)
	}
}

func TestFailNext(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	rcv.FailNext(3, http.StatusServiceUnavailable)
	id := newMsgID()
	d := delivery{event: "lead.created", id: id, body: leadCreated, signWith: []string{secret}}
	for i := range 3 {
		if a := deliver(t, rcv, d); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "" {
			t.Fatalf("attempt %d: %d %v %s", i+1, a.status, a.header, a.raw)
		}
	}
	if n := len(rcv.Events()); n != 0 {
		t.Fatalf("%d events recorded from failed attempts", n)
	}
	// The retry of a delivery that was failed is its first receipt.
	if a := deliver(t, rcv, d); a.status != http.StatusOK {
		t.Fatalf("attempt 4: %d %s", a.status, a.raw)
	}
	if evs := rcv.Events(); len(evs) != 1 || evs[0].Duplicate || evs[0].WebhookID != id {
		t.Errorf("events %+v", evs)
	}
	if rcv.Attempts() != 4 || rcv.Rejected() != 0 {
		t.Errorf("attempts %d rejected %d, want 4 and 0", rcv.Attempts(), rcv.Rejected())
	}

	rcv.FailNextWithRetryAfter(1, http.StatusTooManyRequests, "2")
	if a := deliver(t, rcv, d); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "2" {
		t.Errorf("with Retry-After: %d %v", a.status, a.header)
	}
}

func TestInvalidDeliveriesDoNotUseUpFailures(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	rcv.FailNext(1, http.StatusInternalServerError)
	if a := deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{newSecret(t)}}); a.status != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", a.status)
	}
	if a := deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}); a.status != http.StatusInternalServerError {
		t.Errorf("programmed failure: %d", a.status)
	}
}

func TestGone(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	rcv.SetGone(true)
	d := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}
	if a := deliver(t, rcv, d); a.status != http.StatusGone {
		t.Fatalf("%d %s", a.status, a.raw)
	}
	if len(rcv.Events()) != 0 {
		t.Error("a delivery answered 410 was recorded as received")
	}
	rcv.SetGone(false)
	if a := deliver(t, rcv, d); a.status != http.StatusOK {
		t.Errorf("after SetGone(false): %d", a.status)
	}
}

func TestFlagsDuplicates(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	id := newMsgID()
	for range 2 {
		// A redelivery is signed again, with a new timestamp, same id.
		if a := deliver(t, rcv, delivery{event: "lead.created", id: id, body: leadCreated, signWith: []string{secret}}); a.status != http.StatusOK {
			t.Fatalf("%d %s", a.status, a.raw)
		}
	}
	deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}})
	evs := rcv.Events()
	if len(evs) != 3 || evs[0].Duplicate || !evs[1].Duplicate || evs[2].Duplicate {
		t.Errorf("duplicate flags: %v %v %v", evs[0].Duplicate, evs[1].Duplicate, evs[2].Duplicate)
	}
	if rcv.Count("lead.created") != 3 {
		t.Errorf("Count = %d, want 3 (duplicates included)", rcv.Count("lead.created"))
	}
}

func TestRefusesUnknownEvent(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	a := deliver(t, rcv, delivery{event: "lead.deleted", body: leadCreated, signWith: []string{secret}})
	rejected(t, rcv, a, http.StatusBadRequest, "X-Webhook-Event")
}

func TestGeneratedBindingRefusesMissingHeader(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	req := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, "http://receiver.test"+path)
	req.Header.Del("X-Webhook-Signature")
	a := serve(rcv, req)
	rejected(t, rcv, a, http.StatusBadRequest, "headers")
	if msg, _ := a.json["error"].(string); !strings.Contains(msg, "X-Webhook-Signature") {
		t.Errorf("error %q does not name the header", msg)
	}
}

func TestRefusesBodiesThatAreNotTheEnvelope(t *testing.T) {
	for name, tc := range map[string]struct{ event, body string }{
		"unknown field":    {"lead.created", strings.Replace(leadCreated, `"lead_score":85`, `"lead_score":85,"score":1`, 1)},
		"wrong type":       {"lead.created", strings.Replace(leadCreated, `"id":123`, `"id":"123"`, 1)},
		"trailing data":    {"lead.created", leadCreated + `{}`},
		"event mismatch":   {"lead.updated", leadCreated},
		"not json":         {"lead.created", `<html>`},
		"other event body": {"lead.created", webhookTest},
	} {
		t.Run(name, func(t *testing.T) {
			secret := newSecret(t)
			rcv := webhookreceiver.New(path, secret)
			a := deliver(t, rcv, delivery{event: tc.event, body: tc.body, signWith: []string{secret}})
			rejected(t, rcv, a, http.StatusBadRequest, "body")
		})
	}
}

func TestRefusesOversizedBody(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	big := strings.Replace(leadCreated, `"Maria"`, `"`+strings.Repeat("a", 1<<20)+`"`, 1)
	a := deliver(t, rcv, delivery{event: "lead.created", body: big, signWith: []string{secret}})
	rejected(t, rcv, a, http.StatusRequestEntityTooLarge, "body")
}

func TestNoSecretRefusesEverything(t *testing.T) {
	rcv := webhookreceiver.New(path)
	a := deliver(t, rcv, delivery{event: "lead.created", body: leadCreated, signWith: []string{newSecret(t)}})
	rejected(t, rcv, a, http.StatusUnauthorized, "secrets")
}

func TestNewRefusesControlPaths(t *testing.T) {
	for _, p := range []string{"/_receiver", "/_receiver/events", "webhook", "/hooks/:id"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%q) did not panic", p)
				}
			}()
			webhookreceiver.New(p, newSecret(t))
		}()
	}
}

func TestDelayEndsWhenTheSenderLeaves(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	rcv.SetDelay(time.Hour) // were the delay not cut short, ts.Close would hang the test
	rcv.FailNext(1, http.StatusBadGateway)

	// The sender's deadline passes once the receiver is in the delay.
	ctx := testctx.DeadlineWhen(func() bool { return rcv.Delaying() > 0 })
	req := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, ts.URL+path).WithContext(ctx)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer %d despite the delay", resp.StatusCode)
	}
	rcv.SetDelay(time.Millisecond)
	// The abandoned attempt got no answer, so the failure is still pending.
	req = delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, ts.URL+path)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || rcv.Attempts() != 2 || len(rcv.Events()) != 0 || rcv.Delaying() != 0 {
		t.Errorf("status %d attempts %d events %d", resp.StatusCode, rcv.Attempts(), len(rcv.Events()))
	}
}

func TestConcurrentDeliveriesAndWait(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	rcv.FailNext(5, http.StatusServiceUnavailable)

	reqs := make([]*http.Request, 20)
	for i := range reqs {
		reqs[i] = delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}.request(t, ts.URL+path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- rcv.WaitForEvents(ctx, 15) }()

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for _, req := range reqs {
		wg.Go(func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if statuses[200] != 15 || statuses[503] != 5 || rcv.Attempts() != 20 || len(rcv.Events()) != 15 {
		t.Errorf("statuses %v attempts %d events %d", statuses, rcv.Attempts(), len(rcv.Events()))
	}

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := rcv.WaitForEvents(short, 16); err == nil || !strings.Contains(err.Error(), "15 of 16") {
		t.Errorf("WaitForEvents past the deadline = %v", err)
	}
}

func TestReset(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	d := delivery{event: "lead.created", body: leadCreated, signWith: []string{secret}}
	deliver(t, rcv, d)
	rcv.SetSecrets(newSecret(t))
	rcv.FailNext(2, 500)
	rcv.SetGone(true)
	rcv.Reset()
	if rcv.Attempts() != 0 || len(rcv.Events()) != 0 {
		t.Fatal("Reset kept history")
	}
	if a := deliver(t, rcv, d); a.status != http.StatusOK {
		t.Errorf("after Reset: %d %s (secrets, failures or gone survived)", a.status, a.raw)
	}
}

func controlCall(t *testing.T, method, url, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.json)
	return a
}

func TestControlAPI(t *testing.T) {
	secret := newSecret(t)
	rcv := webhookreceiver.New(path, secret)
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	post := func(id string) *http.Response {
		t.Helper()
		req := delivery{event: "lead.created", id: id, body: leadCreated, signWith: []string{secret}}.request(t, ts.URL+path)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	a := controlCall(t, "POST", ts.URL+"/_receiver/program", `{"fail_next":1,"status":503,"retry_after":"2","delay_ms":1}`)
	if a.status != 200 || a.json["fail_next"] != float64(1) || a.json["delay_ms"] != float64(1) {
		t.Fatalf("program: %d %s", a.status, a.raw)
	}
	if resp := post(newMsgID()); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("programmed failure: %d %v", resp.StatusCode, resp.Header)
	}
	id := newMsgID()
	post(id)
	post(id)

	a = controlCall(t, "GET", ts.URL+"/_receiver/events", "")
	var evs []struct {
		Event     string    `json:"event"`
		WebhookID string    `json:"webhook_id"`
		EventID   string    `json:"event_id"`
		Duplicate bool      `json:"duplicate"`
		At        time.Time `json:"at"`
	}
	if err := json.Unmarshal([]byte(a.raw), &evs); err != nil || a.status != 200 {
		t.Fatalf("events: %d %s %v", a.status, a.raw, err)
	}
	if len(evs) != 2 || evs[0].Event != "lead.created" || evs[0].WebhookID != id || evs[0].EventID != "evt_2b7c5e0f9d4a4c1e8f3a6b5d" ||
		evs[0].Duplicate || !evs[1].Duplicate || evs[0].At.IsZero() {
		t.Errorf("events %s", a.raw)
	}

	a = controlCall(t, "POST", ts.URL+"/_receiver/program", `{"gone":true}`)
	if a.status != 200 || a.json["gone"] != true || a.json["attempts"] != float64(3) {
		t.Errorf("program gone: %d %s", a.status, a.raw)
	}
	if resp := post(newMsgID()); resp.StatusCode != http.StatusGone {
		t.Errorf("gone: %d", resp.StatusCode)
	}

	for _, bad := range []string{`{"status":500}`, `{"fail_next":1,"status":200}`, `{"fail_next":-1}`, `{"delay_ms":-5}`, `{"gone":"yes"}`, `{"fial_next":1}`} {
		if a := controlCall(t, "POST", ts.URL+"/_receiver/program", bad); a.status != 400 {
			t.Errorf("program %s: %d, want 400", bad, a.status)
		}
	}

	if a := controlCall(t, "POST", ts.URL+"/_receiver/reset", ""); a.status != http.StatusNoContent {
		t.Errorf("reset: %d %s", a.status, a.raw)
	}
	if a := controlCall(t, "GET", ts.URL+"/_receiver/events", ""); a.status != 200 || strings.TrimSpace(a.raw) != "[]" {
		t.Errorf("events after reset: %d %s", a.status, a.raw)
	}
	if a := controlCall(t, "GET", ts.URL+"/_receiver/program", ""); a.json["gone"] != false || a.json["attempts"] != float64(0) {
		t.Errorf("program after reset: %s", a.raw)
	}
	if resp := post(newMsgID()); resp.StatusCode != http.StatusOK {
		t.Errorf("delivery after reset: %d", resp.StatusCode)
	}
}

func TestRun(t *testing.T) {
	secret := newSecret(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	lines := make(chan string, 10)
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	done := make(chan error, 1)
	go func() { done <- webhookreceiver.Run(ctx, "127.0.0.1:0", path, []string{secret}, pw) }()

	first := <-lines
	rest, ok := strings.CutPrefix(first, "webhook receiver listening on ")
	url, _, _ := strings.Cut(rest, " ")
	if !ok || !strings.HasSuffix(url, path) {
		t.Fatalf("first line %q", first)
	}

	id := newMsgID()
	for _, d := range []delivery{
		{event: "lead.created", id: id, body: leadCreated, signWith: []string{secret}},
		{event: "lead.created", id: id, body: leadCreated, signWith: []string{secret}},
		{event: "lead.created", id: id, body: leadCreated, signWith: []string{newSecret(t)}},
	} {
		resp, err := http.DefaultClient.Do(d.request(t, url))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, want := range []string{"accepted", "duplicate", "rejected: X-Webhook-Signature"} {
		line := <-lines
		if !strings.Contains(line, " "+path+" lead.created "+id+" "+want) {
			t.Errorf("log line %q, want verdict %q", line, want)
		}
		if strings.Contains(line, secret) || strings.Contains(line, "sha256=") || strings.Contains(line, "v1,") {
			t.Errorf("log line %q leaks a secret or a signature", line)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	pw.Close()
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		path    string
		secrets []string
	}{
		{path, nil},
		{path, []string{"not-a-secret"}},
		{path, []string{"whsec_%%%"}},
		{"/_receiver/events", []string{newSecret(t)}},
	} {
		err := webhookreceiver.Run(context.Background(), "127.0.0.1:0", tc.path, tc.secrets, io.Discard)
		if err == nil {
			t.Errorf("Run(%q, %q) = nil", tc.path, tc.secrets)
			continue
		}
		for _, s := range tc.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q repeats the secret", err)
			}
		}
	}
}
