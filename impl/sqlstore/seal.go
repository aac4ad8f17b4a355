package sqlstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Secrets at rest. The secrets the service must use, not only check (a
// webhook's signing secrets, a provider's access token, app secret and
// client token, the key that signs the lead list's cursors), cannot be hashed like API keys and passwords. With a
// secrets key (Options.SecretsKey) they are sealed with AES-256-GCM before
// they reach the database and opened only where they are used, so a copy
// of the database, a backup or a read of the tables gives nothing away.
//
// A sealed value is sealPrefix followed by the base64 of nonce and
// ciphertext; the column it belongs to is the additional data, so a value
// moved to another column does not open. A value without the prefix is
// plaintext, written before sealing was configured: it is read as it is,
// and SealSecrets seals it.

const sealPrefix = "sealed:v1:"

// The purposes (the additional data) of the sealed columns. A webhook's
// secret and previous_secret share one: a rotation moves the one into the
// other in SQL.
const (
	purposeWebhookSecret = "webhooks.secret"
	purposeAccessToken   = "integrations.access_token"
	purposeAppSecret     = "integrations.app_secret"
	purposeClientToken   = "integrations.client_token"
	// An answer kept for an Idempotency-Key; see answerPurpose.
	purposeIdempotentAnswer = "idempotency_keys.body"
)

// sealer holds the current key, which seals and opens, and the previous
// ones, which only open (a key rotation re-seals what they sealed).
type sealer struct {
	current  cipher.AEAD
	previous []cipher.AEAD
}

// SecretsKeySize is the length of a secrets key: AES-256.
const SecretsKeySize = 32

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != SecretsKeySize {
		return nil, fmt.Errorf("a secrets key is %d bytes, not %d", SecretsKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func newSealer(current []byte, previous [][]byte) (*sealer, error) {
	if len(current) == 0 {
		if len(previous) > 0 {
			return nil, errors.New("a previous secrets key without a current one")
		}
		return nil, nil
	}
	s := &sealer{}
	var err error
	if s.current, err = newAEAD(current); err != nil {
		return nil, err
	}
	for _, k := range previous {
		a, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("previous key: %w", err)
		}
		s.previous = append(s.previous, a)
	}
	return s, nil
}

// Sealing reports whether secrets are sealed at rest.
func (s *DB) Sealing() bool { return s.sealer != nil }

// seal seals plain for a column (purpose); without a secrets key, or for
// an empty value, it returns plain.
func (s *DB) seal(purpose, plain string) string {
	if s.sealer == nil || plain == "" {
		return plain
	}
	aead := s.sealer.current
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand panics rather)
	return sealPrefix + base64.RawStdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plain), []byte(purpose)))
}

// errSecretsKey is wrapped by every failure to open a sealed value.
var errSecretsKey = errors.New("a sealed secret does not open")

// open returns the plaintext of a value of a column (purpose), and whether
// it was sealed with the current key (false for plaintext, and for a
// previous key's).
func (s *DB) open(purpose, stored string) (string, bool, error) {
	rest, sealed := strings.CutPrefix(stored, sealPrefix)
	if !sealed {
		return stored, false, nil
	}
	if s.sealer == nil {
		return "", false, fmt.Errorf("%w: %s is sealed and SECRETS_KEY is not set", errSecretsKey, purpose)
	}
	raw, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", false, fmt.Errorf("%w: %s is not valid base64", errSecretsKey, purpose)
	}
	for i, aead := range append([]cipher.AEAD{s.sealer.current}, s.sealer.previous...) {
		if len(raw) < aead.NonceSize() {
			break
		}
		plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(purpose))
		if err == nil {
			return string(plain), i == 0, nil
		}
	}
	return "", false, fmt.Errorf("%w: %s was sealed with a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS", errSecretsKey, purpose)
}

// opened is open without the key's age, for readers.
func (s *DB) opened(purpose, stored string) (string, error) {
	plain, _, err := s.open(purpose, stored)
	return plain, err
}

// SealSecrets seals, with the current secrets key, every secret stored in
// plaintext or under a previous key, and returns how many values it sealed.
// It runs at start-up; the tables it reads hold a row per webhook and per
// integration. Without a secrets key it does nothing.
func (s *DB) SealSecrets(ctx context.Context) (int, error) {
	if s.sealer == nil {
		return 0, nil
	}
	type column struct{ table, name, purpose string }
	columns := []column{
		{"webhooks", "secret", purposeWebhookSecret},
		{"webhooks", "previous_secret", purposeWebhookSecret},
		{"integrations", "access_token", purposeAccessToken},
		{"integrations", "app_secret", purposeAppSecret},
		{"integrations", "client_token", purposeClientToken},
	}
	sealed := 0
	for _, c := range columns {
		var rows []struct {
			ID    int64   `db:"id"`
			Value *string `db:"value"`
		}
		if err := s.pool.SelectContext(ctx, &rows, `SELECT id, `+c.name+` AS value FROM `+c.table); err != nil {
			return sealed, fmt.Errorf("read %s.%s: %w", c.table, c.name, err)
		}
		for _, r := range rows {
			if r.Value == nil || *r.Value == "" {
				continue
			}
			plain, current, err := s.open(c.purpose, *r.Value)
			if err != nil {
				return sealed, fmt.Errorf("%s %d: %w", c.table, r.ID, err)
			}
			if current {
				continue
			}
			// Only if the value is still the one read: a rotation or an
			// edit in between keeps its own.
			res, err := s.pool.ExecContext(ctx, s.rebind(`UPDATE `+c.table+` SET `+c.name+` = ? WHERE id = ? AND `+c.name+` = ?`),
				s.seal(c.purpose, plain), r.ID, *r.Value)
			if err != nil {
				return sealed, fmt.Errorf("seal %s.%s: %w", c.table, c.name, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				sealed++
			}
		}
	}
	n, err := s.sealSigningKeys(ctx)
	if sealed += n; err != nil || len(s.sealer.previous) == 0 {
		return sealed, err
	}
	n, err = s.resealAnswers(ctx)
	return sealed + n, err
}

// resealAnswers seals again, with the current key, the answers kept for
// idempotency keys under a previous one, so that they still replay once
// the previous key is gone, and those kept unsealed. It runs only during a
// key rotation: a kept answer lives a day (impl.IdempotencyTTL), and there
// may be many, so unlike the other secrets they are not read at every
// start (one kept before a key was configured stays unsealed until it
// expires or a rotation). The rows are read in pages, by primary key.
func (s *DB) resealAnswers(ctx context.Context) (int, error) {
	type answer struct {
		OrganizationID int64  `db:"organization_id"`
		Key            string `db:"key"`
		Body           []byte `db:"body"`
	}
	const page = 500
	sealed := 0
	var lastOrg int64
	lastKey := ""
	for {
		var rows []answer
		if err := s.pool.SelectContext(ctx, &rows, s.rebind(`SELECT organization_id, key, body FROM idempotency_keys
			WHERE (organization_id > ? OR organization_id = ? AND key > ?) AND body IS NOT NULL
			ORDER BY organization_id, key LIMIT ?`), lastOrg, lastOrg, lastKey, page); err != nil {
			return sealed, fmt.Errorf("read idempotency_keys: %w", err)
		}
		for _, a := range rows {
			purpose := answerPurpose(a.OrganizationID, a.Key)
			plain, current, err := s.open(purpose, string(a.Body))
			if err != nil || current || len(a.Body) == 0 {
				// One that opens with neither key is left as it is: its
				// replay fails as it would have, and it expires within a
				// day. A wrong key has already stopped the start at the
				// webhooks' and integrations' secrets, read first.
				continue
			}
			res, err := s.pool.ExecContext(ctx, s.rebind(`UPDATE idempotency_keys SET body = ?
				WHERE organization_id = ? AND key = ? AND body = ?`),
				[]byte(s.seal(purpose, plain)), a.OrganizationID, a.Key, a.Body)
			if err != nil {
				return sealed, fmt.Errorf("seal idempotency_keys.body: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				sealed++
			}
		}
		if len(rows) < page {
			return sealed, nil
		}
		lastOrg, lastKey = rows[len(rows)-1].OrganizationID, rows[len(rows)-1].Key
	}
}

// sealSigningKeys is SealSecrets for the signing keys, which are bytes
// named rather than numbered. The key itself does not change, so what it
// signed (a cursor a partner holds) still verifies.
func (s *DB) sealSigningKeys(ctx context.Context) (int, error) {
	var keys []struct {
		Name   string `db:"name"`
		Secret []byte `db:"secret"`
	}
	if err := s.pool.SelectContext(ctx, &keys, `SELECT name, secret FROM signing_keys`); err != nil {
		return 0, fmt.Errorf("read signing_keys: %w", err)
	}
	sealed := 0
	for _, k := range keys {
		plain, current, err := s.open(purposeSigningKey(k.Name), string(k.Secret))
		if err != nil {
			return sealed, fmt.Errorf("signing key %s: %w", k.Name, err)
		}
		if current {
			continue
		}
		res, err := s.pool.ExecContext(ctx, s.rebind(`UPDATE signing_keys SET secret = ? WHERE name = ? AND secret = ?`),
			[]byte(s.seal(purposeSigningKey(k.Name), plain)), k.Name, k.Secret)
		if err != nil {
			return sealed, fmt.Errorf("seal signing key %s: %w", k.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			sealed++
		}
	}
	return sealed, nil
}
