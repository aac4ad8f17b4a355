package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// RecordLoginFailure implements impl.LoginFailureStore. A key repeated in keys
// counts once.
func (s *LoginFailureStore) RecordLoginFailure(ctx context.Context, keys []string, t time.Time) error {
	keys = distinct(keys)
	if len(keys) == 0 {
		return nil
	}
	t = microUTC(t)
	return s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		insert := s.db.rebind(`INSERT INTO login_failures (key, failed_at) VALUES (?, ?)`)
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, insert, k, t); err != nil {
				return fmt.Errorf("record login failure: %w", err)
			}
		}
		// Housekeeping: failures older than loginFailureRetention count in no
		// window, so each new failure sweeps them away; nothing else has to.
		if _, err := tx.ExecContext(ctx, s.db.rebind(`DELETE FROM login_failures WHERE failed_at < ?`),
			t.Add(-loginFailureRetention)); err != nil {
			return fmt.Errorf("forget old login failures: %w", err)
		}
		return nil
	})
}

// CountLoginFailures implements impl.LoginFailureStore. since should be within
// loginFailureRetention of the latest failure, or older failures will have
// been forgotten.
func (s *LoginFailureStore) CountLoginFailures(ctx context.Context, key string, since time.Time) (int, time.Time, error) {
	// dialect: MIN(failed_at) would come back from SQLite as text (an
	// aggregate has no declared type), so take the oldest row itself, which
	// keeps its DATETIME type, and the count as a window over all the rows.
	var row struct {
		FailedAt time.Time `db:"failed_at"`
		N        int       `db:"n"`
	}
	err := s.db.pool.QueryRowxContext(ctx, s.db.rebind(
		`SELECT failed_at, COUNT(*) OVER () AS n FROM login_failures
		WHERE key = ? AND failed_at >= ? ORDER BY failed_at LIMIT 1`), key, microUTC(since)).StructScan(&row)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count login failures: %w", err)
	}
	return row.N, row.FailedAt.UTC(), nil
}

// ClearLoginFailures implements impl.LoginFailureStore.
func (s *LoginFailureStore) ClearLoginFailures(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	query, args, err := sqlx.In(`DELETE FROM login_failures WHERE key IN (?)`, keys)
	if err != nil {
		return err
	}
	if _, err := s.db.pool.ExecContext(ctx, s.db.rebind(query), args...); err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

func distinct(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
