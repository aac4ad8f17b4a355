package webhookreceiver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
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
