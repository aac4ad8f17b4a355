package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

// The dispatcher's side of the deliveries table. Its statements act on a
// batch of deliveries at a time and are prepared once (batch.go): a claim
// is three statements whatever its size, and recording a batch of attempts
// one transaction of a statement per outcome class.

// attemptColumns are the columns of an attempt's row in a batch that
// records attempts (see rowsArg), and attemptTypes their PostgreSQL types.
var (
	attemptColumns = []string{"delivery_id", "attempted_at", "status_code", "duration_ms", "error", "response_body"}
	attemptTypes   = []string{"bigint", "timestamptz", "integer", "bigint", "text", "text"}
)

// candidatesQuery reads the due, unleased deliveries at the head of every
// lane (a webhook's pending deliveries, by due time): up to ? per lane and ?
// in all, the first of every lane before the second of any. On SQLite it
// reads the lanes only, and sqliteCandidates their heads. The lanes are
// found by walking the distinct webhook ids of the lane index, one probe
// each (a loose index scan), so the cost follows the number of webhooks
// with pending deliveries, not the size of anyone's backlog.
func (s *DB) candidatesQuery() string {
	if s.dialect == Postgres {
		// dialect: LATERAL takes the head of each lane.
		return `WITH RECURSIVE lanes(webhook_id) AS (
		(SELECT webhook_id FROM delivery_queue ORDER BY webhook_id LIMIT 1)
		UNION ALL
		SELECT (SELECT q.webhook_id FROM delivery_queue q WHERE q.webhook_id > l.webhook_id
			ORDER BY q.webhook_id LIMIT 1)
		FROM lanes l WHERE l.webhook_id IS NOT NULL
	), heads AS (
		SELECT h.id, h.organization_id, h.webhook_id, h.due_ms,
			row_number() OVER (PARTITION BY h.webhook_id ORDER BY h.due_ms) AS lane_rank
		FROM lanes l CROSS JOIN LATERAL (
			SELECT q.delivery_id AS id, q.organization_id, q.webhook_id, q.due_ms FROM delivery_queue q
			WHERE q.webhook_id = l.webhook_id AND q.due_ms <= ?
				AND (q.locked_until_ms IS NULL OR q.locked_until_ms < ?)
			ORDER BY q.due_ms LIMIT ?) h
	)
	SELECT id, organization_id, webhook_id, due_ms FROM heads ORDER BY lane_rank, due_ms LIMIT ?`
	}
	// dialect: SQLite reads the lanes, then the head of each (sqliteCandidates).
	return `WITH RECURSIVE lanes(webhook_id) AS (
		SELECT MIN(webhook_id) FROM delivery_queue
		UNION ALL
		SELECT (SELECT MIN(q.webhook_id) FROM delivery_queue q WHERE q.webhook_id > l.webhook_id)
		FROM lanes l WHERE l.webhook_id IS NOT NULL
	)
	SELECT webhook_id FROM lanes WHERE webhook_id IS NOT NULL`
}

// laneHeadQuery reads the due, unleased deliveries at the head of one lane,
// in the lane index's order, as many as the caller reads before it closes
// the rows. dialect: it has no LIMIT because SQLite plans a statement again
// whenever the value bound to its LIMIT differs from the last run's (it
// plans for the value), and a claim's limit changes with the room its
// webhook has: about 70 µs of a claim, 1.3 % of a drain's CPU. The index
// yields the rows one by one in due order, so the walk stops where the
// reading does.
const laneHeadQuery = `SELECT delivery_id AS id, organization_id, webhook_id, due_ms FROM delivery_queue
	WHERE webhook_id = ? AND due_ms <= ?
		AND (locked_until_ms IS NULL OR locked_until_ms < ?)
	ORDER BY due_ms`

// candidateRow is a due delivery as the candidates queries read it.
type candidateRow struct {
	ID             int64 `db:"id"`
	OrganizationID int64 `db:"organization_id"`
	WebhookID      int64 `db:"webhook_id"`
	DueMS          int64 `db:"due_ms"`
	rank           int
}

// candidates reads what candidatesQuery promises.
func (s *DeliveryQueue) candidates(ctx context.Context, r impl.ClaimRequest, now int64) ([]candidateRow, error) {
	st, err := s.db.queueStatement(ctx, s.db.candidatesQuery())
	if err != nil {
		return nil, err
	}
	var rows []candidateRow
	if s.db.dialect == Postgres {
		if err := st.SelectContext(ctx, &rows, now, now, r.PerWebhook, r.Candidates); err != nil {
			return nil, fmt.Errorf("find due deliveries: %w", err)
		}
		return rows, nil
	}
	return s.sqliteCandidates(ctx, st, r, now)
}

// sqliteCandidates walks the lanes in Go: the one statement that did it in
// SQLite (a window function over a correlated IN list, and two sorts) cost
// four times what these simple reads do, about 6 µs for every row it read
// (measured on 33 rows of one lane). Each lane is read only as deep as
// LaneLimit says, the rows are ranked in their lane and ordered by rank,
// then due time, as the statement did.
func (s *DeliveryQueue) sqliteCandidates(ctx context.Context, lanes *sqlx.Stmt, r impl.ClaimRequest, now int64) ([]candidateRow, error) {
	var hooks []int64
	if err := lanes.SelectContext(ctx, &hooks); err != nil {
		return nil, fmt.Errorf("find due deliveries: %w", err)
	}
	head, err := s.db.queueStatement(ctx, laneHeadQuery)
	if err != nil {
		return nil, err
	}
	var out []candidateRow
	for _, hook := range hooks {
		limit := r.PerWebhook
		if r.LaneLimit != nil {
			limit = max(1, min(limit, r.LaneLimit(hook)))
		}
		if out, err = laneHead(ctx, head, out, hook, now, limit); err != nil {
			return nil, fmt.Errorf("find due deliveries: %w", err)
		}
	}
	slices.SortStableFunc(out, func(a, b candidateRow) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return cmp.Compare(a.DueMS, b.DueMS)
	})
	return out[:min(len(out), r.Candidates)], nil
}

// laneHead appends to out the first limit rows of laneHeadQuery for the
// webhook hook, ranked in their lane. The rows are scanned by hand, as
// scanClaims does.
func laneHead(ctx context.Context, head *sqlx.Stmt, out []candidateRow, hook, now int64, limit int) ([]candidateRow, error) {
	rows, err := head.QueryContext(ctx, hook, now, now)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rank := 0; rank < limit && rows.Next(); rank++ {
		c := candidateRow{rank: rank}
		if err := rows.Scan(&c.ID, &c.OrganizationID, &c.WebhookID, &c.DueMS); err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// leaseQuery leases the chosen deliveries that are still due and unleased,
// in their lane rows (delivery_queue, 00023), and returns their ids.
func (s *DB) leaseQuery() string {
	pick := `SELECT delivery_id FROM delivery_queue WHERE ` + s.oneOf("delivery_id") + ` AND due_ms <= ?
		AND (locked_until_ms IS NULL OR locked_until_ms < ?)`
	if s.dialect == Postgres {
		// dialect: replicas skip each other's claims instead of waiting on
		// them. SQLite has one writer, which already serializes claims.
		pick += ` FOR UPDATE SKIP LOCKED`
	}
	return `UPDATE delivery_queue SET locked_by = ?, locked_until_ms = ? WHERE delivery_id IN (` + pick + `) RETURNING delivery_id`
}

// ClaimDeliveries implements impl.DeliveryQueue.
func (s *DeliveryQueue) ClaimDeliveries(ctx context.Context, r impl.ClaimRequest) ([]*impl.ClaimedDelivery, error) {
	now := r.Now.UnixMilli()
	rows, err := s.candidates(ctx, r, now)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	cands := make([]impl.ClaimCandidate, len(rows))
	for i, row := range rows {
		cands[i] = impl.ClaimCandidate{ID: row.ID, OrganizationID: row.OrganizationID, WebhookID: row.WebhookID,
			Due: time.UnixMilli(row.DueMS).UTC()}
	}
	picked := r.Pick(cands)
	if len(picked) == 0 {
		return nil, nil
	}

	var claims map[int64]*impl.ClaimedDelivery
	if s.db.dialect == Postgres {
		claims, err = s.leaseAndRead(ctx, r, picked)
	} else {
		claims, err = s.leaseThenRead(ctx, r, picked)
	}
	if err != nil {
		return nil, err
	}
	out := make([]*impl.ClaimedDelivery, 0, len(claims))
	for _, id := range picked {
		if c, ok := claims[id]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// leaseThenRead leases the picked deliveries that are still free, then
// reads what their attempts need. The leases are the worker's by then, so
// the read needs no transaction.
func (s *DeliveryQueue) leaseThenRead(ctx context.Context, r impl.ClaimRequest, picked []int64) (map[int64]*impl.ClaimedDelivery, error) {
	lease, err := s.db.queueStatement(ctx, s.db.leaseQuery())
	if err != nil {
		return nil, err
	}
	done, err := s.db.exclusive(ctx)
	if err != nil {
		return nil, err
	}
	var leased []int64
	now := r.Now.UnixMilli()
	err = lease.SelectContext(ctx, &leased, r.Worker, r.LeaseUntil.UnixMilli(), s.db.idsArg(picked), now, now)
	done()
	if err != nil {
		return nil, fmt.Errorf("lease deliveries: %w", err)
	}
	if len(leased) == 0 {
		return nil, nil
	}
	return s.db.readClaims(ctx, nil, leased, r.Now)
}

// leaseAndRead is leaseThenRead in one statement, a round trip less on
// every claim. dialect: SQLite has no UPDATE in a WITH clause.
func (s *DeliveryQueue) leaseAndRead(ctx context.Context, r impl.ClaimRequest, picked []int64) (map[int64]*impl.ClaimedDelivery, error) {
	st, err := s.db.queueStatement(ctx, `WITH q AS (`+s.db.leaseQuery()+`)
		SELECT `+claimColumns+` FROM q JOIN deliveries d ON d.id = q.delivery_id
			JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id`)
	if err != nil {
		return nil, err
	}
	now := r.Now.UnixMilli()
	rows, err := scanClaims(st.QueryContext(ctx, r.Worker, r.LeaseUntil.UnixMilli(), s.db.idsArg(picked), now, now))
	if err != nil {
		return nil, fmt.Errorf("lease deliveries: %w", err)
	}
	return s.db.claimedFrom(rows, r.Now)
}

// claimColumns are what an attempt needs, of a delivery d, its webhook w and
// its event e.
const claimColumns = `d.id, d.organization_id, d.webhook_id, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at,
	e.type, e.public_id, d.message_id, e.body, d.attempt_count, d.attempt_limit, d.due_ms`

type claimRow struct {
	ID             int64
	OrganizationID int64
	WebhookID      int64
	URL            string
	Secret         string
	PreviousSecret *string
	PreviousUntil  *time.Time
	Event          string
	EventID        string
	MessageID      string
	Body           []byte
	AttemptCount   int
	AttemptLimit   int
	DueMS          *int64
}

// readClaims reads what the attempts of leased deliveries need: the URL,
// the event and its body, and the webhook's signing secrets, in tx (or on
// the pool when tx is nil).
func (s *DB) readClaims(ctx context.Context, tx *sqlx.Tx, ids []int64, now time.Time) (map[int64]*impl.ClaimedDelivery, error) {
	query := `SELECT ` + claimColumns + `
		FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id
		WHERE ` + s.oneOf("d.id")
	var st *sqlx.Stmt
	var err error
	if tx != nil {
		st, err = s.inTxStmt(ctx, tx, query)
	} else {
		st, err = s.prepared(ctx, query)
	}
	if err != nil {
		return nil, err
	}
	rows, err := scanClaims(st.QueryContext(ctx, s.idsArg(ids)))
	if err != nil {
		return nil, fmt.Errorf("read claimed deliveries: %w", err)
	}
	return s.claimedFrom(rows, now)
}

// scanClaims reads the rows of claimColumns. Scanning into the fields
// directly skips sqlx's reflection, which finds the fields by their tags for
// every row (sqlx's scan was 8 % of a SQLite drain's profile, the driver's
// reading included).
func scanClaims(rows *sql.Rows, err error) ([]*claimRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*claimRow
	for rows.Next() {
		r := new(claimRow)
		if err := rows.Scan(&r.ID, &r.OrganizationID, &r.WebhookID, &r.URL, &r.Secret, &r.PreviousSecret, &r.PreviousUntil,
			&r.Event, &r.EventID, &r.MessageID, &r.Body, &r.AttemptCount, &r.AttemptLimit, &r.DueMS); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// claimedFrom turns the rows of claimColumns into claimed deliveries. It is
// the one place the secrets a delivery is signed with pass through, so that
// secrets sealed at rest are opened here: once per webhook of the batch,
// whose deliveries then share the one slice of opened secrets (they only
// read it). A batch is mostly one webhook's deliveries, and opening a
// sealed secret (AES-GCM) for each of them cost about 1 µs a delivery.
func (s *DB) claimedFrom(rows []*claimRow, now time.Time) (map[int64]*impl.ClaimedDelivery, error) {
	out := make(map[int64]*impl.ClaimedDelivery, len(rows))
	// By webhook: the rows come from one statement, which reads one
	// version of each webhook.
	secrets := map[int64][]string{}
	for _, r := range rows {
		webhookSecrets, ok := secrets[r.WebhookID]
		if !ok {
			var err error
			if webhookSecrets, err = s.signingSecrets(r, now); err != nil {
				return nil, fmt.Errorf("webhook %d: %w", r.WebhookID, err)
			}
			secrets[r.WebhookID] = webhookSecrets
		}
		out[r.ID] = &impl.ClaimedDelivery{ID: r.ID, OrganizationID: r.OrganizationID, WebhookID: r.WebhookID, URL: r.URL,
			Secrets: webhookSecrets, Event: r.Event, EventID: r.EventID, MessageID: r.MessageID, Body: r.Body,
			AttemptCount: r.AttemptCount, AttemptLimit: r.AttemptLimit, Test: r.Event == impl.EventWebhookTest}
		if r.DueMS != nil {
			out[r.ID].Due = time.UnixMilli(*r.DueMS)
		}
	}
	return out, nil
}

// signingSecrets opens the secrets a delivery of r's webhook is signed
// with: the current one, and the previous one while it is still honoured.
func (s *DB) signingSecrets(r *claimRow, now time.Time) ([]string, error) {
	secret, err := s.opened(purposeWebhookSecret, r.Secret)
	if err != nil {
		return nil, err
	}
	if r.PreviousSecret == nil || r.PreviousUntil == nil || !now.Before(*r.PreviousUntil) {
		return []string{secret}, nil
	}
	previous, err := s.opened(purposeWebhookSecret, *r.PreviousSecret)
	if err != nil {
		return nil, err
	}
	return []string{secret, previous}, nil
}

// recordTries bounds how often a batch is recorded again after losing a
// deadlock to another transaction (say, a partner disabling the webhook
// while its deliveries are being recorded).
const recordTries = 3

// recordBatchMax bounds the attempts recorded in one transaction. A
// dispatcher's batch is at most WEBHOOK_WORKERS, which has no upper bound;
// SQLite binds at most 32,766 parameters in a statement, and a batch's rows
// take five each (see rowsArg). Larger batches are recorded in turn, as if
// the recorder had received them apart. A variable for the tests.
var recordBatchMax = 2048

// RecordAttempts implements impl.DeliveryQueue.
func (s *DeliveryQueue) RecordAttempts(ctx context.Context, worker string, attempts []impl.Attempted, disableAfter int) error {
	for len(attempts) > recordBatchMax {
		if err := s.RecordAttempts(ctx, worker, attempts[:recordBatchMax], disableAfter); err != nil {
			return err
		}
		attempts = attempts[recordBatchMax:]
	}
	if len(attempts) == 0 {
		return nil
	}
	// Successes and retries only restart failure counts; a failure may
	// disable its webhook, which needs to know what is left (see record).
	fast := true
	for _, a := range attempts {
		if o := a.Record.Outcome; o != impl.OutcomeSucceeded && o != impl.OutcomeRetry {
			fast = false
		}
	}
	var err error
	for range recordTries {
		if fast && s.db.dialect == Postgres {
			err = s.recordInOneStatement(ctx, worker, attempts)
		} else {
			err = s.db.inQueueTx(ctx, func(tx *sqlx.Tx) error { return s.record(ctx, tx, worker, attempts, disableAfter, !fast) })
		}
		if !isRetryable(err) {
			break
		}
	}
	return err
}

// recordInOneStatement is record for a batch of successes and retries,
// the common case, in one statement: a round trip where record's
// transaction takes six. They touch a webhook only to restart its failure
// count. dialect: SQLite has no UPDATE in a WITH clause, and its
// statements cost no round trip anyway.
func (s *DeliveryQueue) recordInOneStatement(ctx context.Context, worker string, attempts []impl.Attempted) error {
	db := s.db
	ids := make([]int64, 0, len(attempts))
	var succeeded, resets []int64
	retries, rows := db.newRows(2), db.newRows(len(attemptColumns))
	for _, a := range attempts {
		id, r := a.Delivery.ID, a.Record
		ids = append(ids, id)
		rows.add(id, r.AttemptedAt.UTC().Truncate(time.Microsecond), r.StatusCode, r.DurationMS, r.Error, r.ResponseBody)
		if r.Outcome == impl.OutcomeRetry {
			retries.add(id, r.NextAt.UnixMilli())
			continue
		}
		succeeded = append(succeeded, id)
	}
	for id, st := range impl.FailureStreaks(attempts) {
		if st.Reset {
			resets = append(resets, id)
		}
	}
	slices.Sort(resets)
	rowArgs, retryArgs := rows.args(), retries.args()
	// As in record: lock what still exists, in id order; its attempts are
	// kept, and the lease holder's deliveries move on.
	//
	// locked is one array, which the others read as a parameter of an
	// index scan: joined as rows, the planner guessed 10 of them and
	// compared every updated row with every locked one (64 x 64 for a
	// batch of 64: a third of the statement's time).
	st, err := db.queueStatement(ctx, `WITH locked AS (
			SELECT array_agg(id) AS ids FROM (
				SELECT id FROM deliveries WHERE id = ANY(?::bigint[]) ORDER BY id FOR UPDATE) l
		), attempts AS (
			INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error, response_body)
			SELECT a.delivery_id, a.attempted_at, a.status_code, a.duration_ms, a.error, a.response_body
			FROM `+rows.source("a", attemptColumns, attemptTypes)+`
			WHERE a.delivery_id = ANY((SELECT ids FROM locked)::bigint[])
		), held AS (
			-- The lane rows hold the leases: locked, as the deliveries
			-- are, so that no claim re-leases one before the commit.
			SELECT array_agg(delivery_id) AS ids FROM (
				SELECT delivery_id FROM delivery_queue
				WHERE delivery_id = ANY((SELECT ids FROM locked)::bigint[]) AND locked_by = ?
				ORDER BY delivery_id FOR UPDATE) h
		), succeeded AS (
			UPDATE deliveries d SET status = 'succeeded', attempt_count = d.attempt_count + 1, due_ms = NULL,
				updated_at = ?
			WHERE d.id = ANY(?::bigint[]) AND d.id = ANY((SELECT ids FROM held)::bigint[])
		), retried AS (
			UPDATE deliveries d SET status = 'pending', attempt_count = d.attempt_count + 1, due_ms = r.due_ms,
				updated_at = ?
			FROM `+retries.source("r", []string{"id", "due_ms"}, []string{"bigint", "bigint"})+`
			WHERE d.id = r.id AND r.id = ANY((SELECT ids FROM held)::bigint[])
		)
		UPDATE webhooks SET consecutive_failures = 0 WHERE id = ANY(?::bigint[]) AND consecutive_failures <> 0`)
	if err != nil {
		return err
	}
	now := db.timestamp()
	args := append([]any{db.idsArg(ids)}, rowArgs...)
	args = append(args, worker, now, db.idsArg(succeeded), now)
	args = append(args, retryArgs...)
	args = append(args, db.idsArg(resets))
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("record attempts: %w", err)
	}
	return nil
}

// record writes a batch of attempts in tx. With lock, it first locks the
// deliveries that still exist, in id order: a webhook deleted meanwhile
// took its deliveries with it, and their attempts have nothing left to
// belong to (locked, the others cannot go before the commit), and only
// what is left moves failure counts. Without it (a batch of successes and
// retries on SQLite, whose one writer needs no lock) every statement skips
// the deliveries that are gone by itself: a read and a statement less for
// the common batch.
func (s *DeliveryQueue) record(ctx context.Context, tx *sqlx.Tx, worker string, attempts []impl.Attempted, disableAfter int, lock bool) error {
	db := s.db
	var exists map[int64]bool // nil: taken to exist
	if lock {
		ids := make([]int64, len(attempts))
		for i, a := range attempts {
			ids[i] = a.Delivery.ID
		}
		st, err := db.inTxStmt(ctx, tx, `SELECT id FROM deliveries WHERE `+db.oneOf("id")+` ORDER BY id`+db.forUpdate())
		if err != nil {
			return err
		}
		var existing []int64
		if err := st.SelectContext(ctx, &existing, db.idsArg(ids)); err != nil {
			return fmt.Errorf("lock attempted deliveries: %w", err)
		}
		exists = make(map[int64]bool, len(existing))
		for _, id := range existing {
			exists[id] = true
		}
		if db.dialect == Postgres {
			// dialect: their lane rows too, which hold the leases, so no
			// claim re-leases one between the check of its holder below
			// and the commit. SQLite's one writer already excludes it.
			lanes, err := db.inTxStmt(ctx, tx, `SELECT delivery_id FROM delivery_queue WHERE `+db.oneOf("delivery_id")+` ORDER BY delivery_id FOR UPDATE`)
			if err != nil {
				return err
			}
			var held []int64
			if err := lanes.SelectContext(ctx, &held, db.idsArg(ids)); err != nil {
				return fmt.Errorf("lock attempted deliveries' lanes: %w", err)
			}
		}
	}

	var succeeded, failed []int64
	retries := db.newRows(2)
	rows := db.newRows(len(attemptColumns))
	kept := attempts[:0:0]
	for _, a := range attempts {
		id, r := a.Delivery.ID, a.Record
		if exists != nil && !exists[id] {
			continue
		}
		kept = append(kept, a)
		rows.add(id, r.AttemptedAt.UTC().Truncate(time.Microsecond), r.StatusCode, r.DurationMS, r.Error, r.ResponseBody)
		switch r.Outcome {
		case impl.OutcomeSucceeded:
			succeeded = append(succeeded, id)
		case impl.OutcomeRetry:
			retries.add(id, r.NextAt.UnixMilli())
		default:
			failed = append(failed, id)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	now := db.timestamp()
	// Only the lease holder moves a delivery on: a worker whose lease ran
	// out keeps its attempt in the log but not the last word.
	held := `EXISTS (SELECT 1 FROM delivery_queue q WHERE q.delivery_id = deliveries.id AND q.locked_by = ?)`
	finish := `UPDATE deliveries SET status = ?, attempt_count = attempt_count + 1, due_ms = NULL,
		updated_at = ? WHERE ` + db.oneOf("id") + ` AND ` + held
	for _, class := range []struct {
		status string
		ids    []int64
	}{{impl.DeliverySucceeded, succeeded}, {impl.DeliveryFailed, failed}} {
		if len(class.ids) == 0 {
			continue
		}
		if err := db.execIn(ctx, tx, finish, class.status, now, db.idsArg(class.ids), worker); err != nil {
			return fmt.Errorf("finish deliveries: %w", err)
		}
	}
	if retries.len() > 0 {
		args := retries.args()
		retry := `UPDATE deliveries SET status = ?, attempt_count = attempt_count + 1, due_ms = r.due_ms,
			updated_at = ?
			FROM ` + retries.source("r", []string{"id", "due_ms"}, []string{"bigint", "bigint"}) + `
			WHERE deliveries.id = r.id AND ` + held
		if err := db.execIn(ctx, tx, retry, append(append([]any{impl.DeliveryPending, now}, args...), worker)...); err != nil {
			return fmt.Errorf("schedule retries: %w", err)
		}
	}
	args := rows.args()
	insert := `INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, duration_ms, error, response_body)
		SELECT a.delivery_id, a.attempted_at, a.status_code, a.duration_ms, a.error, a.response_body FROM ` +
		rows.source("a", attemptColumns, attemptTypes) + `
		WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)`
	if err := db.execIn(ctx, tx, insert, args...); err != nil {
		return fmt.Errorf("record attempts: %w", err)
	}
	return s.applyToWebhooks(ctx, tx, kept, disableAfter)
}

// applyToWebhooks moves the webhooks' failure counts as impl.FailureStreaks
// says and disables the webhooks that a 410 or impl.DisableAfterFailures
// turns off. Webhooks are locked in id order, as everywhere.
func (s *DeliveryQueue) applyToWebhooks(ctx context.Context, tx *sqlx.Tx, attempts []impl.Attempted, disableAfter int) error {
	db := s.db
	streaks := impl.FailureStreaks(attempts)
	var resetOnly, counted []int64
	for id, st := range streaks {
		if st.Failed == 0 {
			resetOnly = append(resetOnly, id)
		} else {
			counted = append(counted, id)
		}
	}
	slices.Sort(resetOnly)
	slices.Sort(counted)
	if len(resetOnly) > 0 {
		err := db.execIn(ctx, tx, `UPDATE webhooks SET consecutive_failures = 0 WHERE `+db.oneOf("id")+` AND consecutive_failures <> 0`,
			db.idsArg(resetOnly))
		if err != nil {
			return fmt.Errorf("reset webhook failures: %w", err)
		}
	}
	for _, id := range counted {
		st := streaks[id]
		q, arg := `UPDATE webhooks SET consecutive_failures = consecutive_failures + ? WHERE id = ? RETURNING consecutive_failures`, st.Failed
		if st.Reset {
			q = `UPDATE webhooks SET consecutive_failures = ? WHERE id = ? RETURNING consecutive_failures`
		}
		stmt, err := db.inTxStmt(ctx, tx, q)
		if err != nil {
			return err
		}
		var failures int
		err = stmt.GetContext(ctx, &failures, arg, id)
		if errors.Is(err, sql.ErrNoRows) {
			continue // the webhook was deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("count webhook failures: %w", err)
		}
		if reason, disable := impl.DisableAfterFailures(failures, disableAfter); disable {
			if err := disableWebhook(ctx, db, tx, id, reason); err != nil {
				return err
			}
		}
	}
	var gone []int64
	for _, a := range attempts {
		if a.Record.Outcome == impl.OutcomeGone && !a.Delivery.Test && !slices.Contains(gone, a.Delivery.WebhookID) {
			gone = append(gone, a.Delivery.WebhookID)
		}
	}
	slices.Sort(gone)
	for _, id := range gone {
		if err := disableWebhook(ctx, db, tx, id, impl.DisabledGone); err != nil {
			return err
		}
	}
	return nil
}

// execIn runs the prepared query in tx.
func (s *DB) execIn(ctx context.Context, tx *sqlx.Tx, query string, args ...any) error {
	st, err := s.inTxStmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// ReleaseDeliveries implements impl.DeliveryQueue.
func (s *DeliveryQueue) ReleaseDeliveries(ctx context.Context, worker string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	st, err := s.db.queueStatement(ctx, `UPDATE delivery_queue SET locked_by = NULL, locked_until_ms = NULL
		WHERE locked_by = ? AND `+s.db.oneOf("delivery_id"))
	if err != nil {
		return err
	}
	done, err := s.db.exclusive(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := st.ExecContext(ctx, worker, s.db.idsArg(ids)); err != nil {
		return fmt.Errorf("release deliveries: %w", err)
	}
	return nil
}

// CreateTestDelivery implements impl.DeliveryQueue.
func (s *DeliveryQueue) CreateTestDelivery(ctx context.Context, orgID, webhookID int64, worker string, leaseUntil time.Time) (*impl.ClaimedDelivery, error) {
	var out *impl.ClaimedDelivery
	err := s.db.inQueueTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := findWebhook(ctx, s.db, tx, orgID, webhookID, ""); err != nil {
			return err
		}
		now := s.db.timestamp()
		data := impl.TestEvent{WebhookID: webhookID, Message: impl.TestEventMessage}
		eventID, err := s.db.writeEvent(ctx, tx, orgID, impl.EventWebhookTest, now, data)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowxContext(ctx, s.db.rebind(`INSERT INTO deliveries
			(organization_id, webhook_id, event_id, message_id, status, attempt_count, attempt_limit, due_ms, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 0, 1, ?, ?, ?) RETURNING id`),
			orgID, webhookID, eventID, randomID("msg_"), impl.DeliveryPending, now.UnixMilli(), now, now).Scan(&id)
		if err != nil {
			return fmt.Errorf("create test delivery: %w", err)
		}
		// Its lane row is the insert trigger's (00023); leased at once.
		if _, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE delivery_queue SET locked_by = ?, locked_until_ms = ? WHERE delivery_id = ?`),
			worker, leaseUntil.UnixMilli(), id); err != nil {
			return fmt.Errorf("lease test delivery: %w", err)
		}
		claims, err := s.db.readClaims(ctx, tx, []int64{id}, now)
		if err != nil {
			return err
		}
		if out = claims[id]; out == nil {
			return fmt.Errorf("read test delivery %d: not found", id)
		}
		return nil
	})
	return out, err
}

// WebhookBacklogs implements impl.BacklogReader.
func (s *DeliveryQueue) WebhookBacklogs(ctx context.Context) ([]impl.WebhookBacklog, error) {
	return webhookBacklogs(ctx, s.db, s.db.pool, nil)
}

// webhookBacklogs reads the backlog of the webhooks ids (of every webhook
// with one when ids is nil) from the lane index. The oldest pending
// delivery is the one with the lowest id, since ids grow as they are
// created.
func webhookBacklogs(ctx context.Context, db *DB, q sqlx.QueryerContext, ids []int64) ([]impl.WebhookBacklog, error) {
	cond, args := "TRUE", []any{}
	if ids != nil {
		if len(ids) == 0 {
			return nil, nil
		}
		cond, args = cond+" AND "+db.oneOf("webhook_id"), append(args, db.idsArg(ids))
	}
	var rows []struct {
		WebhookID      int64     `db:"webhook_id"`
		OrganizationID int64     `db:"organization_id"`
		Pending        int64     `db:"pending"`
		Oldest         time.Time `db:"created_at"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, db.rebind(`SELECT b.webhook_id, d.organization_id, b.pending, d.created_at
		FROM (SELECT webhook_id, COUNT(*) AS pending, MIN(delivery_id) AS oldest_id FROM delivery_queue WHERE `+cond+` GROUP BY webhook_id) b
		JOIN deliveries d ON d.id = b.oldest_id ORDER BY b.webhook_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("read webhook backlogs: %w", err)
	}
	out := make([]impl.WebhookBacklog, len(rows))
	for i, r := range rows {
		oldest := r.Oldest.UTC()
		out[i] = impl.WebhookBacklog{WebhookID: r.WebhookID, OrganizationID: r.OrganizationID, Pending: r.Pending, OldestPendingAt: &oldest}
	}
	return out, nil
}
