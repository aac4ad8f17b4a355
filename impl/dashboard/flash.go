package dashboard

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
)

// flash is what a POST of the page hands to the GET it redirects to
// (post/redirect/get): its messages, the refused URL to show again, and the
// secret created, which is shown this once.
type flash struct {
	TokenMessage   string `json:"tm,omitempty"`
	TokenError     string `json:"te,omitempty"`
	NewToken       string `json:"nt,omitempty"`
	WebhookMessage string `json:"wm,omitempty"`
	WebhookError   string `json:"we,omitempty"`
	WebhookURL     string `json:"wu,omitempty"`
	SigningSecret  string `json:"ss,omitempty"`
}

const flashCookie = "iagente_flash"

// flashKey is the key that seals a session's flash: derived from the
// session's token, which only the browser holds (the database keeps its
// hash), so the flash can be opened by any replica the next request reaches
// and by no other session, and a new token or secret is never stored
// anywhere in the clear.
func flashKey(sessionToken string) []byte {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("iagente-sdr dashboard flash v1"))
	return m.Sum(nil)
}

// setFlash seals f into a short-lived cookie for the page the browser is
// sent to next.
func (h *Handler) setFlash(w http.ResponseWriter, r *http.Request, sessionToken string, f flash) error {
	plain, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode flash: %w", err)
	}
	gcm, err := newGCM(sessionToken)
	if err != nil {
		return err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("read random bytes: %w", err)
	}
	sealed := gcm.Seal(nonce, nonce, plain, []byte(flashCookie))
	h.setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString(sealed), "/dashboard/api-webhook", 120,
		http.SameSiteLaxMode)
	return nil
}

// takeFlash opens and clears the flash; a missing, expired or foreign one
// is no flash.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request, sessionToken string) flash {
	var f flash
	c, err := r.Cookie(flashCookie)
	if err != nil || c.Value == "" {
		return f
	}
	h.setCookie(w, r, flashCookie, "", "/dashboard/api-webhook", -1, http.SameSiteLaxMode)
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return f
	}
	gcm, err := newGCM(sessionToken)
	if err != nil || len(sealed) < gcm.NonceSize() {
		return f
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(flashCookie))
	if err != nil {
		return flash{}
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return flash{}
	}
	return f
}

func newGCM(sessionToken string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(flashKey(sessionToken))
	if err != nil {
		return nil, fmt.Errorf("flash cipher: %w", err)
	}
	return cipher.NewGCM(block)
}
