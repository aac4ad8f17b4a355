package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Retention walks a table by id, a window of rows at a time, from the
// oldest. Ids grow as rows are created, so the walk can stop at the first
// row created after the cutoff without an index on creation time, and each
// window is a range of the primary key. Rows that must stay (pending
// deliveries, the events they belong to) are stepped over again on each run;
// there are few of them, since a delivery is pending for at most a day and a
// half of retries.

// expiredWindow returns the last id of the next window of at most limit rows
// of table after the id after that were created before cutoff, and whether
// the walk is done: it met a row created at or after cutoff, or the end of
// the table.
func expiredWindow(ctx context.Context, db *DB, table string, cutoff time.Time, after int64, limit int) (upto int64, done bool, err error) {
	var rows []struct {
		ID        int64     `db:"id"`
		CreatedAt time.Time `db:"created_at"`
	}
	err = db.pool.SelectContext(ctx, &rows, db.rebind(`SELECT id, created_at FROM `+table+` WHERE id > ? ORDER BY id LIMIT ?`), after, limit)
	if err != nil {
		return after, false, fmt.Errorf("read %s to expire: %w", table, err)
	}
	upto = after
	for _, r := range rows {
		if !r.CreatedAt.Before(cutoff) {
			return upto, true, nil
		}
		upto = r.ID
	}
	return upto, len(rows) < limit, nil
}

// DeleteExpiredDeliveries implements impl.ExpiredLogs.
func (s *DeliveryLogRetention) DeleteExpiredDeliveries(ctx context.Context, cutoff time.Time, after int64, limit int) (int, int64, bool, error) {
	upto, done, err := expiredWindow(ctx, s.db, "deliveries", cutoff, after, limit)
	if err != nil || upto == after {
		return 0, upto, done, err
	}
	cutoff = cutoff.UTC()
	deleted := 0
	err = s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		pick := `SELECT id FROM deliveries WHERE id > ? AND id <= ? AND status <> 'pending' AND updated_at < ?`
		if s.db.dialect == Postgres {
			// dialect: a delivery another transaction holds (being
			// redelivered, say) is left for the next run rather than waited
			// for, so the job never makes the dispatcher wait. Locked here,
			// the picked deliveries cannot turn pending before they go.
			pick += ` FOR UPDATE SKIP LOCKED`
		}
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, s.db.rebind(pick), after, upto, cutoff); err != nil {
			return fmt.Errorf("pick expired deliveries: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		// Children first, as DeleteWebhook does.
		for _, q := range []string{
			`DELETE FROM delivery_attempts WHERE ` + s.db.oneOf("delivery_id"),
			`DELETE FROM deliveries WHERE ` + s.db.oneOf("id"),
		} {
			if _, err := tx.ExecContext(ctx, s.db.rebind(q), s.db.idsArg(ids)); err != nil {
				return fmt.Errorf("delete expired deliveries: %w", err)
			}
		}
		deleted = len(ids)
		return nil
	})
	return deleted, upto, done, err
}

// DeleteExpiredEvents implements impl.ExpiredLogs.
func (s *DeliveryLogRetention) DeleteExpiredEvents(ctx context.Context, cutoff time.Time, after int64, limit int) (int, int64, bool, error) {
	upto, done, err := expiredWindow(ctx, s.db, "events", cutoff, after, limit)
	if err != nil || upto == after {
		return 0, upto, done, err
	}
	release, err := s.db.exclusive(ctx)
	if err != nil {
		return 0, after, false, err
	}
	defer release()
	// An event's deliveries are written in its own transaction, long
	// committed by now, so none can appear after the NOT EXISTS has looked.
	res, err := s.db.pool.ExecContext(ctx, s.db.rebind(`DELETE FROM events WHERE id > ? AND id <= ? AND created_at < ?
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`), after, upto, cutoff.UTC())
	if err != nil {
		return 0, after, false, fmt.Errorf("delete expired events: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), upto, done, nil
}
