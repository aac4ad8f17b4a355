package auth

import (
	"context"

	"github.com/iagente/iagente-sdr/impl"
)

// Regenerate replaces the organization's key id with a new key of the same
// name: the old key stops working the moment the new one is stored. It
// returns the new key and its plain text, which the caller shows once.
func Regenerate(ctx context.Context, keys impl.APIKeyService, orgID, id int64) (*impl.APIKey, string, error) {
	plain, err := NewKey()
	if err != nil {
		return nil, "", err
	}
	k := &impl.APIKey{Prefix: Prefix(plain), Hash: Hash(plain)}
	if err := keys.ReplaceAPIKey(ctx, orgID, id, k); err != nil {
		return nil, "", err
	}
	return k, plain, nil
}
