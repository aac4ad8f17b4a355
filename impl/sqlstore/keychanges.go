package sqlstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
)

// APIKeysChannel is the PostgreSQL notification channel of API keys that
// stopped being valid (revoked, regenerated, deleted); the payload is the
// key's id. Every replica listens, so that a key cached anywhere is
// forgotten at once.
const APIKeysChannel = "iagente_api_keys"

// KeyChangePurge stands, on KeyChanges, for "forget every key": changes
// came faster than they were read, and some were dropped.
const KeyChangePurge int64 = -1

// keyChanged records, in tx, that key id stopped being valid: on
// PostgreSQL a notification sent when tx commits, and in this process a
// signal on KeyChanges once it has.
func (s *DB) keyChanged(ctx context.Context, tx *sqlx.Tx, id int64) error {
	if s.dialect == Postgres {
		// dialect: NOTIFY is delivered on commit and dropped on rollback,
		// which is exactly when the others must hear of it.
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, APIKeysChannel, strconv.FormatInt(id, 10)); err != nil {
			return fmt.Errorf("notify api key change: %w", err)
		}
	}
	s.changedKeys.Store(tx, append(s.pendingKeys(tx), id))
	return nil
}

func (s *DB) pendingKeys(tx *sqlx.Tx) []int64 {
	v, _ := s.changedKeys.Load(tx)
	ids, _ := v.([]int64)
	return ids
}

// KeyChanges receives, after each commit, the ids of API keys that stopped
// being valid in this process's transactions, or KeyChangePurge when some
// could not be queued. It never blocks a writer. Other processes' changes
// arrive through APIKeysChannel instead (PostgreSQL only).
func (s *DB) KeyChanges() <-chan int64 { return s.keySignal }

// KeysChanged counts this process's commits that invalidated API keys. It
// moves before the commit's caller hears back, so a cache that compares it
// with what it saw when it verified a key can never answer for a key this
// process has just revoked, however the KeyChanges signal is scheduled.
func (s *APIKeyStore) KeysChanged() uint64 { return s.db.keyGen.Load() }

// signalKeys hands the committed transaction's key changes on.
func (s *DB) signalKeys(tx *sqlx.Tx) {
	v, ok := s.changedKeys.LoadAndDelete(tx)
	if !ok {
		return
	}
	s.keyGen.Add(1)
	for _, id := range v.([]int64) {
		select {
		case s.keySignal <- id:
		default:
			select {
			case s.keySignal <- KeyChangePurge:
			default: // a purge or enough changes are queued already
			}
			return
		}
	}
}
