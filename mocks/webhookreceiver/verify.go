package webhookreceiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The two signature schemes are checked here with the receiver's own few
// lines, written from the API reference and the Standard Webhooks
// specification, and never with the server's signing code: a receiver that
// shares the signer's code agrees with the signer's bugs.

// secretPrefix starts every signing secret the API issues.
const secretPrefix = "whsec_"

// tolerance is how far webhook-timestamp may be from the receiver's clock,
// the window the Standard Webhooks specification recommends. Outside it a
// captured delivery could be replayed later.
const tolerance = 5 * time.Minute

// legacySignatureOK reports whether header is X-Webhook-Signature for body
// as the API reference documents it: "sha256=" + lowercase hex HMAC-SHA256,
// keyed with the whole secret string, prefix included, because that is what
// the published PHP, Python, Node and C# snippets feed to their HMAC.
func legacySignatureOK(secret string, body []byte, header string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	// Constant time, so that timing does not tell a forger how much of a
	// guess was right.
	return hmac.Equal([]byte(header), []byte(want))
}

// standardKey is the Standard Webhooks HMAC key of secret: the base64 after
// the prefix, decoded. A secret without the prefix is refused rather than
// decoded anyway: the API never issues one, so it is a configuration
// mistake worth hearing about.
func standardKey(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("does not start with %q", secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("is not %q followed by base64", secretPrefix)
	}
	return key, nil
}

// parseTimestamp reads webhook-timestamp. Only the canonical form of Unix
// seconds is accepted, because those exact characters are part of what
// was signed.
func parseTimestamp(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != v {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// standardSignatureOK reports whether any "v1,<base64>" entry of the
// space-separated header is the HMAC-SHA256 of id + "." + timestamp + "." +
// body under any of keys. Entries of other versions are skipped, as the
// specification asks, so that a sender can add a new scheme beside v1.
func standardSignatureOK(keys [][]byte, id, timestamp string, body []byte, header string) bool {
	entries := strings.Fields(header)
	for _, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(timestamp))
		mac.Write([]byte{'.'})
		mac.Write(body)
		want := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
		for _, e := range entries {
			version, sig, ok := strings.Cut(e, ",")
			if ok && version == "v1" && hmac.Equal([]byte(sig), want) {
				return true
			}
		}
	}
	return false
}

// verify checks both signature schemes before anything in the body is
// believed. It returns status 0 when the delivery is authentic.
func verify(secrets []string, keys [][]byte, now time.Time, raw []byte, p deliveryHeaders) (status int, check, msg string) {
	if len(secrets) == 0 {
		return http.StatusUnauthorized, "secrets", "no secret is configured, so nothing can verify"
	}

	if !slices.ContainsFunc(secrets, func(s string) bool { return legacySignatureOK(s, raw, p.XWebhookSignature) }) {
		return http.StatusUnauthorized, "X-Webhook-Signature", "X-Webhook-Signature matches none of the configured secrets (is the body exactly as received?)"
	}

	usable := slices.DeleteFunc(slices.Clone(keys), func(k []byte) bool { return k == nil })
	if len(usable) == 0 {
		return http.StatusUnauthorized, "webhook-signature", "no configured secret is whsec_ followed by base64, so webhook-signature cannot verify"
	}
	// The timestamp is judged before the signature: a stale delivery fails
	// the same way for every secret, and "too old" says more than "no
	// matching signature".
	at, ok := parseTimestamp(p.WebhookTimestamp)
	switch {
	case !ok:
		return http.StatusUnauthorized, "webhook-timestamp", "webhook-timestamp is not Unix seconds"
	case now.Sub(at) > tolerance:
		return http.StatusUnauthorized, "webhook-timestamp", "webhook-timestamp is more than 5 minutes old (a replay, or a clock off)"
	case at.Sub(now) > tolerance:
		return http.StatusUnauthorized, "webhook-timestamp", "webhook-timestamp is more than 5 minutes in the future (a clock off)"
	}
	if !standardSignatureOK(usable, p.WebhookId, p.WebhookTimestamp, raw, p.WebhookSignature) {
		return http.StatusUnauthorized, "webhook-signature", "webhook-signature matches none of the configured secrets"
	}

	// X-Webhook-Id and X-Webhook-Timestamp are covered by no signature; their
	// signed twins are. Deduplicating on an unsigned id would let anyone
	// replaying a body suppress a later real delivery.
	if p.XWebhookId != p.WebhookId {
		return http.StatusUnauthorized, "X-Webhook-Id", "X-Webhook-Id differs from the signed webhook-id"
	}
	if p.XWebhookTimestamp != p.WebhookTimestamp {
		return http.StatusUnauthorized, "X-Webhook-Timestamp", "X-Webhook-Timestamp differs from the signed webhook-timestamp"
	}
	return 0, "", ""
}
