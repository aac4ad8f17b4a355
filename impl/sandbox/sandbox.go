// Package sandbox is the provider of new integrations: it accepts every
// message and contacts no one, so partners can build against the API before
// their WhatsApp or RCS account is connected.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/iagente/iagente-sdr/impl"
)

// Provider implements impl.WhatsAppProvider and impl.RCSProvider.
type Provider struct{}

var (
	_ impl.WhatsAppProvider = Provider{}
	_ impl.RCSProvider      = Provider{}
)

// SendWhatsApp records nothing itself (the caller stores the message) and
// answers with a synthetic id shaped like no real provider's.
func (Provider) SendWhatsApp(ctx context.Context, _ *impl.Integration, _, _ string, _ *impl.WhatsAppContent) (string, error) {
	return syntheticID(ctx, "sandbox.wa.")
}

// SendRCS is SendWhatsApp for RCS.
func (Provider) SendRCS(ctx context.Context, _ *impl.Integration, _, _ string, _ *impl.RCSContent) (string, error) {
	return syntheticID(ctx, "sandbox.rcs.")
}

func syntheticID(ctx context.Context, prefix string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", &impl.ProviderError{Provider: impl.ProviderSandbox, Message: "the send was cancelled"}
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b[:]), nil
}
