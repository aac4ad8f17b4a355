package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// signingKeys caches the keys of the signing_keys table. A key never
// changes while a server runs (to rotate one, delete its row and restart
// every server), so each is read once.
type signingKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

// leadCursorKey names the key that signs the cursors of the lead list.
const leadCursorKey = "lead_cursor"

// messageCursorKey names the key that signs the cursors of the message
// history.
const messageCursorKey = "message_cursor"

// deliveryCursorKey names the key that signs the cursors of webhooks'
// delivery logs.
const deliveryCursorKey = "delivery_cursor"

// purposeSigningKey is the additional data of the sealed key called name:
// its column and its name, so that a key does not open under another name.
func purposeSigningKey(name string) string { return "signing_keys.secret:" + name }

// signingKey returns the key called name, making it on first use. The row
// is shared, so every replica, and every restart, uses the same key: the
// first to insert it wins, and the others read its key back.
func (s *DB) signingKey(ctx context.Context, name string) ([]byte, error) {
	s.signing.mu.Lock()
	defer s.signing.mu.Unlock()
	if k, ok := s.signing.keys[name]; ok {
		return k, nil
	}
	// Sealed like the other secrets at rest (seal.go), when there is a
	// secrets key: whoever reads the table cannot forge a cursor.
	purpose := purposeSigningKey(name)
	read := func() ([]byte, error) {
		var stored []byte
		if err := s.pool.GetContext(ctx, &stored, s.rebind(`SELECT secret FROM signing_keys WHERE name = ?`), name); err != nil {
			return nil, err
		}
		plain, err := s.opened(purpose, string(stored))
		return []byte(plain), err
	}
	key, err := read()
	if errors.Is(err, sql.ErrNoRows) {
		fresh := make([]byte, 32)
		_, _ = rand.Read(fresh) // never fails (crypto/rand panics rather)
		_, err = s.pool.ExecContext(ctx, s.rebind(
			`INSERT INTO signing_keys (name, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
			name, []byte(s.seal(purpose, string(fresh))), s.timestamp())
		if err == nil {
			key, err = read()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", name, err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("signing key %s: %d bytes, want at least 32", name, len(key))
	}
	if s.signing.keys == nil {
		s.signing.keys = map[string][]byte{}
	}
	s.signing.keys[name] = key
	return key, nil
}
