// Package delivery delivers outbox events to partners' webhook endpoints: signing, the
// SSRF-guarded HTTP client and the dispatcher.
package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/iagente/iagente-sdr/impl"
)

// signaturePrefix names the algorithm in X-Webhook-Signature so the scheme can
// change later without partners mistaking a new digest for the old one.
const signaturePrefix = "sha256="

// Signature returns the X-Webhook-Signature value for body.
//
// The HMAC key is the whole secret string, prefix included, because that is
// what the published partner snippets feed to hash_hmac and friends; decoding
// it here would break every integration already written against the docs.
func Signature(secret string, body []byte) string {
	return (*signer)(nil).legacy(secret, body)
}

// StandardSignature returns the webhook-signature header value: one
// "v1,<b64>" per secret, space-separated, in the order given. It errors if a
// secret is not "whsec_"+valid base64.
//
// Several secrets exist during rotation: signing with all of them lets a
// partner verify with either the old or the new secret until it switches.
func StandardSignature(msgID string, timestamp int64, body []byte, secrets ...string) (string, error) {
	return (*signer)(nil).standard(msgID, timestamp, body, secrets)
}

// signer makes both signatures of a delivery. One worker owns it, and it
// keeps the keyed HMAC of each secret it signed with last: a worker mostly
// signs one webhook's deliveries in a row, and keying an HMAC anew (the
// key decoded, two SHA-256 blocks, five allocations) was about half of
// what signing a delivery cost (BenchmarkSigner). A keyed HMAC is Reset to its keyed state,
// which it keeps after its first Reset. The nil signer keys every HMAC
// anew and keeps nothing.
type signer struct {
	legacyMAC keyedMAC
	std       []keyedMAC // by the secret's position in a delivery's secrets
}

// keyedMAC is an HMAC keyed with secret.
type keyedMAC struct {
	secret string
	mac    hash.Hash
}

// keyed returns an HMAC in its keyed state for secret: k's when k holds
// it, a new one (then kept in k) when it does not. k is nil for the nil
// signer. The key is the secret's bytes, or for a standard signature the
// key the secret encodes.
func keyed(k *keyedMAC, secret string, standard bool) (hash.Hash, error) {
	if k != nil && k.mac != nil && k.secret == secret {
		k.mac.Reset()
		return k.mac, nil
	}
	raw := []byte(secret)
	if standard {
		var err error
		if raw, err = standardKey(secret); err != nil {
			return nil, err
		}
	}
	mac := hmac.New(sha256.New, raw)
	if k != nil {
		*k = keyedMAC{secret: secret, mac: mac}
	}
	return mac, nil
}

// legacy is Signature.
func (s *signer) legacy(secret string, body []byte) string {
	var k *keyedMAC
	if s != nil {
		k = &s.legacyMAC
	}
	mac, _ := keyed(k, secret, false)
	mac.Write(body)
	var sum [sha256.Size]byte
	out := make([]byte, 0, len(signaturePrefix)+hex.EncodedLen(sha256.Size))
	out = append(out, signaturePrefix...)
	return string(hex.AppendEncode(out, mac.Sum(sum[:0])))
}

// standard is StandardSignature.
func (s *signer) standard(msgID string, timestamp int64, body []byte, secrets []string) (string, error) {
	if len(secrets) == 0 {
		// An empty header would fail verification at every partner; better to
		// surface the misconfiguration before sending.
		return "", errors.New("delivery: no signing secret")
	}
	if s != nil && len(s.std) < len(secrets) {
		s.std = append(s.std, make([]keyedMAC, len(secrets)-len(s.std))...)
	}

	// The signed content is msgID.timestamp.body, written to each HMAC in
	// its parts rather than copied into one buffer with the body.
	var prefix [64]byte
	head := append(append(prefix[:0], msgID...), '.')
	head = append(strconv.AppendInt(head, timestamp, 10), '.')

	const each = len("v1,") + (sha256.Size+2)/3*4 // base64 of a digest
	header := make([]byte, 0, len(secrets)*(each+1))
	var sum [sha256.Size]byte
	for i, secret := range secrets {
		var k *keyedMAC
		if s != nil {
			k = &s.std[i]
		}
		mac, err := keyed(k, secret, true)
		if err != nil {
			// The index, not the secret, identifies it: errors end up in logs.
			return "", fmt.Errorf("delivery: signing secret #%d: %w", i, err)
		}
		mac.Write(head)
		mac.Write(body)
		if i > 0 {
			header = append(header, ' ')
		}
		header = append(header, "v1,"...)
		header = base64.StdEncoding.AppendEncode(header, mac.Sum(sum[:0]))
	}
	return string(header), nil
}

// standardKey extracts the Standard Webhooks HMAC key. The prefix is required
// rather than optional so a raw key pasted by mistake is caught here instead
// of producing signatures no partner can verify.
func standardKey(secret string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(secret, impl.WebhookSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("missing %q prefix", impl.WebhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New("not valid base64 after the prefix")
	}
	if len(key) == 0 {
		return nil, errors.New("empty key after the prefix")
	}
	return key, nil
}

// VerifySignature reports whether header equals Signature(secret, body), in
// constant time so the comparison does not leak how much of a forged
// signature was right. Only the exact lowercase form is accepted: it is the
// only one we document, and a single canonical form keeps partners' and our
// own checks in agreement.
func VerifySignature(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Signature(secret, body)))
}
