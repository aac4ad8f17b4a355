package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

type idempotencyRow struct {
	OrganizationID int64          `db:"organization_id"`
	Key            string         `db:"key"`
	Fingerprint    []byte         `db:"fingerprint"`
	Status         sql.NullInt64  `db:"status"`
	ContentType    sql.NullString `db:"content_type"`
	Location       sql.NullString `db:"location"`
	ETag           sql.NullString `db:"etag"`
	Body           []byte         `db:"body"`
	LockedUntil    time.Time      `db:"locked_until"`
	CreatedAt      time.Time      `db:"created_at"`
}

// record is the row as the service reads it, its kept answer opened.
func (s *IdempotencyStore) record(r *idempotencyRow) (*impl.IdempotencyRecord, error) {
	body, err := s.db.openAnswer(r.OrganizationID, r.Key, r.Body)
	if err != nil {
		return nil, err
	}
	return &impl.IdempotencyRecord{OrganizationID: r.OrganizationID, Key: r.Key, Fingerprint: r.Fingerprint,
		Status: int(r.Status.Int64), ContentType: r.ContentType.String, Location: r.Location.String, ETag: r.ETag.String, Body: body,
		LockedUntil: r.LockedUntil.UTC(), CreatedAt: r.CreatedAt.UTC()}, nil
}

// A kept answer is sealed like the other secrets (seal.go): the answer to
// POST /api-keys, to its regeneration, to POST /webhooks and to a secret's
// rotation holds the one copy of a new API key or signing secret, which
// the database otherwise keeps only hashed or sealed. Its additional data
// names the organization and the key as well as the column, so an answer
// moved to another key's row does not open.
func answerPurpose(orgID int64, key string) string {
	return purposeIdempotentAnswer + ":" + strconv.FormatInt(orgID, 10) + ":" + key
}

// sealAnswer is body as it is stored for the organization's key.
func (s *DB) sealAnswer(orgID int64, key string, body []byte) []byte {
	if s.sealer == nil || len(body) == 0 {
		return body
	}
	return []byte(s.seal(answerPurpose(orgID, key), string(body)))
}

// openAnswer is a stored answer's body; one kept before sealing was
// configured reads as it is.
func (s *DB) openAnswer(orgID int64, key string, stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, []byte(sealPrefix)) {
		return stored, nil
	}
	plain, err := s.opened(answerPurpose(orgID, key), string(stored))
	if err != nil {
		// open's error names the purpose, which holds the key: a client's
		// identifier, kept out of the log.
		return nil, fmt.Errorf("%w: an answer kept for an Idempotency-Key does not open with SECRETS_KEY or SECRETS_KEY_PREVIOUS", errSecretsKey)
	}
	return []byte(plain), nil
}

// BeginIdempotent implements impl.IdempotencyStore.
func (s *IdempotencyStore) BeginIdempotent(ctx context.Context, orgID int64, key string, fingerprint []byte, now, leaseUntil time.Time) (*impl.IdempotencyRecord, bool, error) {
	now = now.UTC().Truncate(time.Microsecond)
	leaseUntil = leaseUntil.UTC().Truncate(time.Microsecond)
	// Two first requests with a new key both find nothing; the primary key
	// lets one insert, and the other's second try finds the claim.
	for attempt := 1; ; attempt++ {
		rec, claimed, err := s.begin(ctx, orgID, key, fingerprint, now, leaseUntil)
		if err != nil && isUniqueViolation(err) && attempt < 3 {
			continue
		}
		return rec, claimed, err
	}
}

func (s *IdempotencyStore) begin(ctx context.Context, orgID int64, key string, fingerprint []byte, now, leaseUntil time.Time) (*impl.IdempotencyRecord, bool, error) {
	var out *impl.IdempotencyRecord
	claimed := false
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var row idempotencyRow
		err := s.db.getStmt(ctx, tx, &row, `SELECT organization_id, key, fingerprint, status, content_type,
			location, etag, body, locked_until, created_at FROM idempotency_keys WHERE organization_id = ? AND key = ?`+s.db.forUpdate(),
			orgID, key)
		var existing *impl.IdempotencyRecord
		switch {
		case err == nil:
			if existing, err = s.record(&row); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("find idempotency key: %w", err)
		}
		if existing.Decide(fingerprint, now) != impl.IdempotencyRun {
			out = existing
			return nil
		}
		claim := &impl.IdempotencyRecord{OrganizationID: orgID, Key: key, Fingerprint: fingerprint,
			LockedUntil: leaseUntil, CreatedAt: now}
		if existing == nil {
			_, err = s.db.execStmt(ctx, tx, `INSERT INTO idempotency_keys
				(organization_id, key, fingerprint, locked_until, created_at) VALUES (?, ?, ?, ?, ?)`,
				orgID, key, fingerprint, leaseUntil, now)
			if err != nil {
				return fmt.Errorf("claim idempotency key: %w", err)
			}
		} else {
			// Expired, or abandoned by a process that died: start afresh.
			if existing.Status == 0 && now.Sub(existing.CreatedAt) < impl.IdempotencyTTL {
				claim.CreatedAt = existing.CreatedAt // a take-over keeps the key's day
			}
			_, err = s.db.execStmt(ctx, tx, `UPDATE idempotency_keys SET fingerprint = ?, status = NULL,
				content_type = NULL, location = NULL, etag = NULL, body = NULL, locked_until = ?, created_at = ?
				WHERE organization_id = ? AND key = ?`,
				fingerprint, leaseUntil, claim.CreatedAt, orgID, key)
			if err != nil {
				return fmt.Errorf("take over idempotency key: %w", err)
			}
		}
		out, claimed = claim, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, claimed, nil
}

// FinishIdempotent implements impl.IdempotencyStore.
func (s *IdempotencyStore) FinishIdempotent(ctx context.Context, r *impl.IdempotencyRecord) error {
	_, err := s.db.execStmt(ctx, nil, `UPDATE idempotency_keys SET status = ?, content_type = ?,
		location = ?, etag = ?, body = ? WHERE organization_id = ? AND key = ?`,
		r.Status, nullString(r.ContentType), nullString(r.Location), nullString(r.ETag), s.db.sealAnswer(r.OrganizationID, r.Key, r.Body),
		r.OrganizationID, r.Key)
	if err != nil {
		return fmt.Errorf("store idempotent response: %w", err)
	}
	return nil
}

// SweepIdempotent implements impl.IdempotencyStore. It deletes at most 100
// keys, read through the (organization_id, created_at) index.
func (s *IdempotencyStore) SweepIdempotent(ctx context.Context, orgID int64, before time.Time) (int, error) {
	res, err := s.db.execStmt(ctx, nil, `DELETE FROM idempotency_keys WHERE organization_id = ? AND key IN
		(SELECT key FROM idempotency_keys WHERE organization_id = ? AND created_at < ? LIMIT 100)`,
		orgID, orgID, before.UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("sweep idempotency keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sweep idempotency keys: %w", err)
	}
	return int(n), nil
}

// ReleaseIdempotent implements impl.IdempotencyStore: the claim's lease
// ends at once (it is set back to when the claim was made), and the record
// stays, so the key still names its request.
func (s *IdempotencyStore) ReleaseIdempotent(ctx context.Context, orgID int64, key string) error {
	_, err := s.db.execStmt(ctx, nil, `UPDATE idempotency_keys SET locked_until = created_at
		WHERE organization_id = ? AND key = ? AND status IS NULL`, orgID, key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// createdUnderKey is the id of the organization's newest row of table that
// a request with the Idempotency-Key created within impl.IdempotencyTTL of
// now, or 0. The age is checked here, not in SQL, so that both databases
// compare times alike.
func createdUnderKey(ctx context.Context, db *DB, tx *sqlx.Tx, table string, orgID int64, key string, now time.Time, conds ...string) (int64, error) {
	var row struct {
		ID        int64     `db:"id"`
		CreatedAt time.Time `db:"created_at"`
	}
	where := ``
	for _, c := range conds {
		where += ` AND ` + c
	}
	err := tx.GetContext(ctx, &row, db.rebind(`SELECT id, created_at FROM `+table+`
		WHERE organization_id = ? AND idempotency_key = ?`+where+` ORDER BY id DESC LIMIT 1`), orgID, key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("find %s by idempotency key: %w", table, err)
	case now.Sub(row.CreatedAt) > impl.IdempotencyTTL:
		return 0, nil
	}
	return row.ID, nil
}

// doneUnder reports whether a change recorded with stored, the
// Idempotency-Key of the request that made it, at time at, was made by a
// request with key within impl.IdempotencyTTL of now.
func doneUnder(stored *string, key string, at *time.Time, now time.Time) bool {
	return stored != nil && *stored == key && at != nil && now.Sub(*at) <= impl.IdempotencyTTL
}
