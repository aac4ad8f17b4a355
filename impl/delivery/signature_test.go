package delivery_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/delivery"
)

const (
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testBody   = `{"event":"lead.created","id":"evt_123"}`
)

func TestSignatureKnownAnswer(t *testing.T) {
	// Computed outside Go with
	//   printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret"
	// so it pins the documented key choice (the whole string, prefix included).
	const fromOpenSSL = "sha256=6adbab126d80673d2144402dea6dc285ab0dfbad54bf316aaff78687b018b56e"
	if got := delivery.Signature(testSecret, []byte(testBody)); got != fromOpenSSL {
		t.Errorf("Signature = %s, want %s", got, fromOpenSSL)
	}

	for _, tc := range []struct{ secret, body string }{
		{testSecret, testBody},
		{testSecret, ""},
		{"whsec_c2hvcnQ=", "plain text, not JSON"},
		{"whsec_" + strings.Repeat("A", 200), strings.Repeat("x", 10_000)},
	} {
		mac := hmac.New(sha256.New, []byte(tc.secret))
		mac.Write([]byte(tc.body))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if got := delivery.Signature(tc.secret, []byte(tc.body)); got != want {
			t.Errorf("Signature(%.20q, %.20q) = %s, want %s", tc.secret, tc.body, got, want)
		}
	}
}

func standardHeaders(id string, ts int64, signature string) http.Header {
	h := http.Header{}
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, signature)
	return h
}

func officialVerifier(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("official library rejects secret: %v", err)
	}
	return wh
}

func TestStandardSignatureVerifiedByOfficialLibrary(t *testing.T) {
	oldSecret, newSecret, otherSecret := mustSecret(t), mustSecret(t), mustSecret(t)
	const id = "msg_2b7c1e"
	now := time.Now()
	body := []byte(testBody)

	sig, err := delivery.StandardSignature(id, now.Unix(), body, oldSecret, newSecret)
	if err != nil {
		t.Fatalf("StandardSignature: %v", err)
	}
	headers := standardHeaders(id, now.Unix(), sig)

	parts := strings.Split(sig, " ")
	if len(parts) != 2 {
		t.Fatalf("signature header %q: want 2 space-separated signatures", sig)
	}
	for i, secret := range []string{oldSecret, newSecret} {
		wh := officialVerifier(t, secret)
		if err := wh.Verify(body, headers); err != nil {
			t.Errorf("secret #%d: official Verify: %v", i, err)
		}
		// Order matters to partners reading the header by position.
		want, err := wh.Sign(id, now, body)
		if err != nil {
			t.Fatal(err)
		}
		if parts[i] != want {
			t.Errorf("signature #%d = %s, want %s", i, parts[i], want)
		}
	}

	if err := officialVerifier(t, otherSecret).Verify(body, headers); err == nil {
		t.Error("official Verify accepted a secret that did not sign")
	}
	tampered := []byte(strings.Replace(testBody, "evt_123", "evt_124", 1))
	if err := officialVerifier(t, oldSecret).Verify(tampered, headers); err == nil {
		t.Error("official Verify accepted a tampered body")
	}
}

func TestStandardSignatureRejectsBadSecrets(t *testing.T) {
	good := mustSecret(t)
	for name, secrets := range map[string][]string{
		"none":            nil,
		"no prefix":       {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		"bad base64":      {"whsec_not*base64!"},
		"empty key":       {"whsec_"},
		"bad second":      {good, "whsec_%%%"},
		"url-safe base64": {"whsec_-_-_"},
	} {
		if sig, err := delivery.StandardSignature("id", 1, []byte("x"), secrets...); err == nil {
			t.Errorf("%s: StandardSignature = %q, want error", name, sig)
		} else {
			// Errors reach logs, so they must not quote the secret.
			for _, s := range secrets {
				if k := strings.TrimPrefix(s, "whsec_"); len(k) >= 4 && strings.Contains(err.Error(), k) {
					t.Errorf("%s: error %q leaks a secret", name, err)
				}
			}
		}
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(testBody)
	valid := delivery.Signature(testSecret, body)
	if !delivery.VerifySignature(testSecret, body, valid) {
		t.Fatalf("VerifySignature rejects its own signature %s", valid)
	}

	for name, tc := range map[string]struct {
		secret string
		body   []byte
		header string
	}{
		"tampered body":  {testSecret, []byte(strings.Replace(testBody, "123", "124", 1)), valid},
		"wrong secret":   {"whsec_c2hvcnQ=", body, valid},
		"no prefix":      {testSecret, body, strings.TrimPrefix(valid, "sha256=")},
		"upper-case hex": {testSecret, body, "sha256=" + strings.ToUpper(strings.TrimPrefix(valid, "sha256="))},
		"empty header":   {testSecret, body, ""},
		"truncated":      {testSecret, body, valid[:len(valid)-2]},
		"other scheme":   {testSecret, body, "sha1=" + strings.TrimPrefix(valid, "sha256=")},
	} {
		if delivery.VerifySignature(tc.secret, tc.body, tc.header) {
			t.Errorf("%s: VerifySignature accepted %q", name, tc.header)
		}
	}
}

func mustSecret(t *testing.T) string {
	t.Helper()
	return impl.NewWebhookSecret()
}

// TestNewSecret proves that the secrets the domain mints work with the
// signer here and with the official Standard Webhooks verifier.
func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 16 {
		s := mustSecret(t)
		if seen[s] {
			t.Fatalf("NewSecret repeated %s", s)
		}
		seen[s] = true

		encoded, ok := strings.CutPrefix(s, impl.WebhookSecretPrefix)
		if !ok {
			t.Fatalf("secret %q lacks %q", s, impl.WebhookSecretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(key) != 32 {
			t.Fatalf("secret %q: want std base64 of 32 bytes, got %d bytes, err %v", s, len(key), err)
		}

		// Accepted means usable end to end, not merely parsed.
		now := time.Now().Unix()
		sig, err := delivery.StandardSignature("msg_1", now, []byte(testBody), s)
		if err != nil {
			t.Fatalf("StandardSignature with new secret: %v", err)
		}
		if err := officialVerifier(t, s).Verify([]byte(testBody), standardHeaders("msg_1", now, sig)); err != nil {
			t.Fatalf("official library rejects signature made with new secret: %v", err)
		}
	}
}

// BenchmarkSignatures signs one delivery as the dispatcher does: both
// headers, with the secret of a webhook not in rotation.
func BenchmarkSignatures(b *testing.B) {
	secret := impl.NewWebhookSecret()
	body := []byte(`{"id":"evt_01JABCDEFGHJKMNPQRSTVWXYZ","type":"lead.created","created_at":"2026-12-03T17:45:00Z",` +
		`"data":{"id":123456,"name":"Maria Souza","phone":"5511987654321","email":"maria@example.com.br",` +
		`"temperature":"warm","lead_score":72,"deal_value":15000.5,"status":"new","source":"api"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := delivery.StandardSignature("msg_2Kx9Pq7LmN3vR8sT1wY4zA", 1764783900, body, secret); err != nil {
			b.Fatal(err)
		}
		_ = delivery.Signature(secret, body)
	}
}
