package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

const deliveryColumns = `d.id, d.organization_id, d.webhook_id, e.public_id, e.type, d.message_id, d.status,
	d.due_ms, d.created_at, d.updated_at`

// deliveryListColumns is deliveryColumns as each dialect's delivery log
// selects them, and attemptReadColumns an attempt's, in the order of the
// rows' fields. dialect: on SQLite the timestamps as expressions, for
// storedTime to read their text once (see selectList).
var (
	deliveryListColumns = map[Dialect]string{
		Postgres: deliveryColumns,
		SQLite:   selectList(SQLite, deliveryColumns, "", "d.created_at", "d.updated_at"),
	}
	attemptReadColumns = map[Dialect]string{
		Postgres: attemptRead,
		SQLite:   selectList(SQLite, attemptRead, "", "attempted_at"),
	}
)

const attemptRead = `delivery_id, attempted_at, status_code, duration_ms, error, response_body`

// fields are the destinations of deliveryColumns, in their order. Scanning
// into them skips sqlx's reflection, as messageRow.fields does.
func (r *deliveryRow) fields() []any {
	return []any{&r.ID, &r.OrganizationID, &r.WebhookID, &r.EventID, &r.Event, &r.MessageID, &r.Status,
		&r.DueMS, storedTime{&r.CreatedAt}, storedTime{&r.UpdatedAt}}
}

// attemptRow is an attempt as the log reads it, with its delivery.
type attemptRow struct {
	deliveryID int64
	impl.DeliveryAttempt
}

// fields are the destinations of attemptRead, in their order.
func (a *attemptRow) fields() []any {
	return []any{&a.deliveryID, storedTime{&a.AttemptedAt}, &a.StatusCode, &a.DurationMS, &a.Error, &a.ResponseBody}
}

type deliveryRow struct {
	ID             int64     `db:"id"`
	OrganizationID int64     `db:"organization_id"`
	WebhookID      int64     `db:"webhook_id"`
	EventID        string    `db:"public_id"`
	Event          string    `db:"type"`
	MessageID      string    `db:"message_id"`
	Status         string    `db:"status"`
	DueMS          *int64    `db:"due_ms"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

// FindDeliveries implements impl.WebhookStore.
func (s *DeliveryStore) FindDeliveries(ctx context.Context, orgID, webhookID int64, f impl.DeliveryFilter) (*impl.DeliveryPage, error) {
	var key []byte
	if f.Cursor != "" {
		var err error
		if key, err = s.db.signingKey(ctx, deliveryCursorKey); err != nil {
			return nil, err
		}
	}
	q, err := f.Resolve(key, orgID, webhookID)
	if err != nil {
		return nil, err
	}
	page := &impl.DeliveryPage{Deliveries: []*impl.Delivery{}, Offset: q.Start()}
	var more bool
	// One snapshot: an attempt recorded between reading the deliveries and
	// their attempts would otherwise show a pending delivery next to the
	// attempt that finished it.
	err = s.db.readTx(ctx, func(tx *sqlx.Tx) error {
		// Its statements prepared once on SQLite: parsing them again was
		// a third of a page's time (BenchmarkListDeliveries profile).
		rq := s.db.listQueryer(tx)
		if _, err := findWebhook(ctx, s.db, rq, orgID, webhookID, ""); err != nil {
			return err
		}
		// The webhook is the organization's (findWebhook, in this
		// snapshot), and so are its deliveries: counted and skipped by
		// webhook alone, in its indexes without the table's rows; the
		// page's rows are read with the organization checked again.
		cond, args := "d.webhook_id = ?", []any{webhookID}
		// The API's pending page is chosen in the webhook's lane alone.
		lane := q.Status != nil && *q.Status == impl.DeliveryPending && !q.ExcludeTests
		switch st := q.Status; {
		case st == nil:
		case *st == impl.DeliveryFailed:
			// deliveries_failed's predicate (00023): a trigger keeps
			// failed_at set on the failed deliveries alone, so the
			// count and the skip read that index without the rows.
			cond += " AND " + failedOnly("d")
		case *st == impl.DeliveryPending:
			// The webhook's lane (delivery_queue, 00023), which a
			// trigger keeps to the pending deliveries.
			cond, args = cond+" AND d.id IN (SELECT delivery_id FROM delivery_queue WHERE webhook_id = ?)", append(args, webhookID)
		case *st == impl.DeliverySucceeded:
			cond += " AND d.status = '" + *st + "'"
		default:
			cond, args = cond+" AND d.status = ?", append(args, *st)
		}
		if q.ExcludeTests {
			cond += " AND e.type <> '" + impl.EventWebhookTest + "'"
		}
		// Only the dashboard's list, which leaves test pings out, needs the
		// events to count or to choose a page's rows: every delivery has
		// its event, and the API's list counts and skips in the deliveries'
		// own indexes, then reads the events of the page's rows alone.
		from := "deliveries d"
		if q.ExcludeTests {
			from = "deliveries d JOIN events e ON e.id = d.event_id"
		}
		count, countArgs := `SELECT COUNT(*) FROM `+from+` WHERE `+cond, args
		if !q.ExcludeTests {
			count, countArgs = deliveryCount(q.Status, webhookID)
		}
		if err := sqlx.GetContext(ctx, rq, &page.Total, s.db.rebind(count), countArgs...); err != nil {
			return fmt.Errorf("count deliveries: %w", err)
		}
		if q.Limit <= 0 || page.Total == 0 || (q.Before == 0 && q.Offset >= page.Total) {
			return nil
		}
		// The page's ids, and one more to tell whether another page
		// follows: below the walk's last id, or past the offset.
		order := "d.id DESC"
		idsFrom, idsCond, idsCol := from, cond, "d.id"
		if lane {
			// In proportion to the backlog, whatever the log's size, and
			// without a row of deliveries but the page's.
			idsFrom, idsCond, idsCol, order = "delivery_queue q", "q.webhook_id = ?", "q.delivery_id", "q.delivery_id DESC"
			args = args[:1]
		} else if q.Status != nil && *q.Status == impl.DeliveryPending && s.db.dialect == SQLite {
			// dialect: the dashboard's pending page, which needs the
			// events, is chosen from the lane and sorted: SQLite, which
			// keeps no statistics here, would walk the log in the order
			// of deliveries_webhook and probe the lane for each row, in
			// proportion to the log (13 ms at a million deliveries, one
			// in a thousand pending). PostgreSQL's statistics choose.
			order = "d.id + 0 DESC"
		}
		ids := `SELECT ` + idsCol + ` FROM ` + idsFrom + ` WHERE ` + idsCond + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
		pageArgs := append(append([]any{orgID}, args...), q.Limit+1, q.Offset)
		if q.Before != 0 {
			ids = `SELECT ` + idsCol + ` FROM ` + idsFrom + ` WHERE ` + idsCond + ` AND ` + idsCol + ` < ? ORDER BY ` + order + ` LIMIT ?`
			pageArgs = append(append([]any{orgID}, args...), q.Before, q.Limit+1)
		}
		query := `SELECT ` + deliveryListColumns[s.db.dialect] + ` FROM deliveries d JOIN events e ON e.id = d.event_id
			WHERE d.organization_id = ? AND d.id IN (` + ids + `) ORDER BY d.id DESC`
		read, err := rq.QueryContext(ctx, s.db.rebind(query), pageArgs...)
		rows, err := scanEach(read, err, (*deliveryRow).fields)
		if err != nil {
			return fmt.Errorf("find deliveries: %w", err)
		}
		if more = len(rows) > q.Limit; more {
			rows = rows[:q.Limit]
		}
		page.Deliveries, err = withAttempts(ctx, s.db, rq, rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The dashboard's list (ExcludeTests) is never walked.
	if more && !q.ExcludeTests {
		if key == nil {
			if key, err = s.db.signingKey(ctx, deliveryCursorKey); err != nil {
				return nil, err
			}
		}
		page.Next = q.Next(key, orgID, webhookID, page.Deliveries[len(page.Deliveries)-1].ID, len(page.Deliveries))
	}
	return page, nil
}

// deliveryCount is the statement that counts a webhook's deliveries of
// status (nil: all) for the API's list, and its arguments. The webhook's
// counters (delivery_counts, 00021) hold how many it has; pending and
// failed, which stay few (a backlog, an outage's failures), are counted
// through the lanes (delivery_queue) and deliveries_failed, and succeeded
// is the rest, so no count reads more than those.
func deliveryCount(status *string, webhookID int64) (string, []any) {
	const (
		all     = `(SELECT COALESCE(SUM(total), 0) FROM delivery_counts WHERE webhook_id = ?)`
		pending = `(SELECT COUNT(*) FROM delivery_queue WHERE webhook_id = ?)`
	)
	failed := `(SELECT COUNT(*) FROM deliveries d WHERE d.webhook_id = ? AND ` + failedOnly("d") + `)`
	switch {
	case status == nil:
		return `SELECT ` + all, []any{webhookID}
	case *status == impl.DeliverySucceeded:
		return `SELECT ` + all + ` - ` + pending + ` - ` + failed, []any{webhookID, webhookID, webhookID}
	case *status == impl.DeliveryPending:
		return `SELECT ` + pending, []any{webhookID}
	case *status == impl.DeliveryFailed:
		return `SELECT ` + failed, []any{webhookID}
	default: // Resolve admits no other status; counted as it asks
		return `SELECT COUNT(*) FROM deliveries WHERE webhook_id = ? AND status = ?`, []any{webhookID, *status}
	}
}

func withAttempts(ctx context.Context, db *DB, q sqlx.QueryerContext, rows []*deliveryRow) ([]*impl.Delivery, error) {
	out := make([]*impl.Delivery, len(rows))
	byID := map[int64]*impl.Delivery{}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		d := &impl.Delivery{ID: r.ID, OrganizationID: r.OrganizationID, WebhookID: r.WebhookID, EventID: r.EventID,
			Event: r.Event, MessageID: r.MessageID, Status: r.Status, Attempts: []impl.DeliveryAttempt{},
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
		if r.DueMS != nil && r.Status == impl.DeliveryPending {
			t := time.UnixMilli(*r.DueMS).UTC()
			d.NextAttemptAt = &t
		}
		out[i], byID[r.ID], ids[i] = d, d, r.ID
	}
	if len(ids) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT `+attemptReadColumns[db.dialect]+` FROM delivery_attempts
		WHERE delivery_id IN (?) ORDER BY id`, ids)
	if err != nil {
		return nil, err
	}
	read, err := q.QueryContext(ctx, db.rebind(query), args...)
	attempts, err := scanEach(read, err, (*attemptRow).fields)
	if err != nil {
		return nil, fmt.Errorf("find delivery attempts: %w", err)
	}
	for _, a := range attempts {
		a.AttemptedAt = a.AttemptedAt.UTC()
		d := byID[a.deliveryID]
		d.Attempts = append(d.Attempts, a.DeliveryAttempt)
	}
	return out, nil
}

// failedOnly is the condition that a delivery (of table alias t) failed,
// as deliveries_failed's predicate says it (00023): a planner serves a
// condition from a partial index only when it can see that the condition
// implies the index's, and a trigger keeps failed_at set on the failed
// deliveries alone. Naming status as well would read every row the index
// finds.
func failedOnly(t string) string { return t + ".failed_at IS NOT NULL" }

// failedPick selects the ids of a webhook's failed deliveries created from
// a time on (and before another, with until), oldest first, up to a limit:
// the arguments are the organization, the webhook, the times and the limit.
// Failed webhook.test pings are left out: a test answers when it is sent,
// and sending an old one again after an outage would only be noise at the
// receiver. The pick reads deliveries_failed (see failedOnly).
func failedPick(until bool) string {
	q := `SELECT id FROM deliveries WHERE organization_id = ? AND webhook_id = ? AND ` + failedOnly("deliveries") + `
		AND created_at >= ?
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = deliveries.event_id AND e.type = '` + impl.EventWebhookTest + `')`
	if until {
		q += ` AND created_at < ?`
	}
	return q + ` ORDER BY id LIMIT ?`
}

// RedeliverFailed implements impl.DeliveryStore. The webhook's row is
// locked first, as RedeliverDelivery and a change of the webhook lock it,
// so a webhook disabled meanwhile queues nothing. The picked deliveries are
// locked too: retention skips what another transaction holds, and none of
// them can go between the pick and the update. The deliveries queued carry
// ctx's Idempotency-Key: the retry of a request whose answer was lost after
// the commit counts them (deliveries_redeliver_key, 00019) and answers that
// count, with impl.ErrDoneEarlier, instead of queueing what failed again.
func (s *DeliveryStore) RedeliverFailed(ctx context.Context, orgID, webhookID int64, since, until time.Time, limit int) (int, bool, error) {
	key := impl.IdempotencyKey(ctx)
	queued, more, done := 0, false, false
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		w, err := findWebhook(ctx, s.db, tx, orgID, webhookID, s.db.forUpdate())
		if err != nil {
			return err
		}
		now := s.db.timestamp()
		args := []any{orgID, webhookID, since.UTC()}
		if !until.IsZero() {
			args = append(args, until.UTC())
		}
		if key != "" {
			err := tx.GetContext(ctx, &queued, s.db.rebind(`SELECT COUNT(*) FROM deliveries
				WHERE webhook_id = ? AND redeliver_idempotency_key = ? AND redelivered_at >= ?`),
				webhookID, key, now.Add(-impl.IdempotencyTTL))
			if err != nil {
				return fmt.Errorf("find an earlier redelivery: %w", err)
			}
			if done = queued > 0; done {
				// What the first try would have said of the rest: whether
				// failed deliveries of the period are left now.
				var left []int64
				if err := tx.SelectContext(ctx, &left, s.db.rebind(failedPick(!until.IsZero())), append(args, 1)...); err != nil {
					return fmt.Errorf("pick failed deliveries: %w", err)
				}
				more = len(left) > 0
				return nil
			}
		}
		if err := w.CanReceive(); err != nil {
			return err
		}
		// One more than the limit says whether any are left.
		args = append(args, limit+1)
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, s.db.rebind(failedPick(!until.IsZero())+s.db.forUpdate()), args...); err != nil {
			return fmt.Errorf("pick failed deliveries: %w", err)
		}
		if more = len(ids) > limit; more {
			ids = ids[:limit]
		}
		if len(ids) == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE deliveries SET status = ?, attempt_limit = attempt_count + ?, due_ms = ?,
			redeliver_idempotency_key = ?, redelivered_at = ?, updated_at = ?
			WHERE `+s.db.oneOf("id")+` AND status = ?`),
			impl.DeliveryPending, w.MaxAttempts, now.UnixMilli(), nullString(key), now, now, s.db.idsArg(ids), impl.DeliveryFailed)
		if err != nil {
			return fmt.Errorf("redeliver failed deliveries: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("redeliver failed deliveries: %w", err)
		}
		queued = int(n)
		s.db.queued.Store(tx, struct{}{})
		return nil
	})
	switch {
	case err != nil:
		return 0, false, err
	case done:
		return queued, more, impl.ErrDoneEarlier
	}
	return queued, more, nil
}

// RedeliverDelivery implements impl.WebhookStore.
func (s *DeliveryStore) RedeliverDelivery(ctx context.Context, orgID, webhookID, deliveryID int64) (*impl.Delivery, error) {
	var out *impl.Delivery
	key := impl.IdempotencyKey(ctx)
	var done bool
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		w, err := findWebhook(ctx, s.db, tx, orgID, webhookID, s.db.forUpdate())
		if err != nil {
			return err
		}
		var d struct {
			Status        string     `db:"status"`
			RedeliveredBy *string    `db:"redeliver_idempotency_key"`
			RedeliveredAt *time.Time `db:"redelivered_at"`
		}
		err = tx.GetContext(ctx, &d, s.db.rebind(`SELECT status, redeliver_idempotency_key, redelivered_at
			FROM deliveries WHERE organization_id = ? AND webhook_id = ? AND id = ?`), orgID, webhookID, deliveryID)
		if err != nil {
			return notFound(err, "Delivery")
		}
		now := s.db.timestamp()
		// The retry of a redelivery whose answer was lost answers it as it
		// is now; it does not queue the delivery once more.
		if done = key != "" && doneUnder(d.RedeliveredBy, key, d.RedeliveredAt, now); !done {
			if err := w.CanRedeliver(d.Status); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, s.db.rebind(`UPDATE deliveries SET status = ?, attempt_limit = attempt_count + ?, due_ms = ?,
				redeliver_idempotency_key = ?, redelivered_at = ?, updated_at = ? WHERE id = ?`),
				impl.DeliveryPending, w.MaxAttempts, now.UnixMilli(), nullString(key), now, now, deliveryID)
			if err != nil {
				return fmt.Errorf("redeliver: %w", err)
			}
			s.db.queued.Store(tx, struct{}{})
		}
		var rows []*deliveryRow
		err = tx.SelectContext(ctx, &rows, s.db.rebind(`SELECT `+deliveryColumns+` FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?`), deliveryID)
		if err != nil || len(rows) != 1 {
			return fmt.Errorf("read redelivered delivery: %w", err)
		}
		list, err := withAttempts(ctx, s.db, tx, rows)
		if err != nil {
			return err
		}
		out = list[0]
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case done:
		return out, impl.ErrDoneEarlier
	}
	return out, nil
}
