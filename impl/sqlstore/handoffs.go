package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/iagente/iagente-sdr/impl"
)

const handoffColumns = `id, organization_id, lead_id, reason, status, created_at, closed_at, updated_at`

func utcHandoff(h *impl.Handoff) {
	h.CreatedAt, h.UpdatedAt = h.CreatedAt.UTC(), h.UpdatedAt.UTC()
	if h.ClosedAt != nil {
		t := h.ClosedAt.UTC()
		h.ClosedAt = &t
	}
}

// CreateHandoff implements impl.HandoffStore. A handoff opened under an
// Idempotency-Key keeps it, and a retry that finds the lead's open handoff
// opened by its key within impl.IdempotencyTTL gets impl.ErrDoneEarlier,
// with h filled in as that handoff is now, instead of the conflict.
func (s *HandoffStore) CreateHandoff(ctx context.Context, orgID int64, h *impl.Handoff) error {
	h.OrganizationID = orgID
	h.Status = impl.HandoffOpen
	h.CreatedAt = s.db.timestamp()
	h.UpdatedAt = h.CreatedAt
	h.ClosedAt = nil
	key := impl.IdempotencyKey(ctx)
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		var n int
		err := tx.GetContext(ctx, &n, s.db.rebind(`SELECT COUNT(*) FROM leads WHERE organization_id = ? AND id = ?`), orgID, h.LeadID)
		if err != nil {
			return fmt.Errorf("find lead for handoff: %w", err)
		}
		if n == 0 {
			return impl.Errorf(impl.ENotFound, "Lead not found.").WithDetailText("lead_id", impl.Text{En: "no lead with this id", PtBR: "Nenhum lead tem este id."})
		}
		err = tx.QueryRowxContext(ctx, s.db.rebind(`INSERT INTO handoffs
			(organization_id, lead_id, reason, status, idempotency_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			orgID, h.LeadID, h.Reason, h.Status, nullString(key), h.CreatedAt, h.UpdatedAt).Scan(&h.ID)
		if isUniqueViolation(err) {
			return impl.ErrOpenHandoff()
		}
		if err != nil {
			return fmt.Errorf("create handoff: %w", err)
		}
		return s.db.appendEvent(ctx, tx, orgID, impl.EventHandoffCreated, h.CreatedAt, h)
	})
	if key == "" || impl.ErrorCode(err) != impl.EConflict {
		return err
	}
	// After the failed insert: on PostgreSQL its transaction is over.
	var open struct {
		impl.Handoff
		Key *string `db:"idempotency_key"`
	}
	ferr := s.db.get(ctx, &open, `SELECT `+handoffColumns+`, idempotency_key FROM handoffs
		WHERE organization_id = ? AND lead_id = ? AND status = ?`, orgID, h.LeadID, impl.HandoffOpen)
	switch {
	case errors.Is(ferr, sql.ErrNoRows):
		return err // closed since the insert failed
	case ferr != nil:
		return fmt.Errorf("find open handoff: %w", ferr)
	case !doneUnder(open.Key, key, &open.CreatedAt, h.CreatedAt):
		return err
	}
	*h = open.Handoff
	utcHandoff(h)
	return impl.ErrDoneEarlier
}

// FindHandoffByID implements impl.HandoffStore.
func (s *HandoffStore) FindHandoffByID(ctx context.Context, orgID, id int64) (*impl.Handoff, error) {
	var h impl.Handoff
	err := s.db.get(ctx, &h, `SELECT `+handoffColumns+` FROM handoffs WHERE organization_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return nil, notFound(err, "Handoff")
	}
	utcHandoff(&h)
	return &h, nil
}

// FindHandoffs implements impl.HandoffStore.
func (s *HandoffStore) FindHandoffs(ctx context.Context, orgID int64, f impl.HandoffFilter) ([]*impl.Handoff, int64, error) {
	where, args := []string{"organization_id = ?"}, []any{orgID}
	if f.Status != nil {
		where, args = append(where, "status = ?"), append(args, *f.Status)
	}
	if f.LeadID != nil {
		where, args = append(where, "lead_id = ?"), append(args, *f.LeadID)
	}
	out := []*impl.Handoff{}
	total, err := s.db.page(ctx, &out, "handoffs", handoffColumns, strings.Join(where, " AND "), "id DESC", args, f.Offset, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find handoffs: %w", err)
	}
	for _, h := range out {
		utcHandoff(h)
	}
	return out, total, nil
}

// CloseHandoff implements impl.HandoffStore. A close under an
// Idempotency-Key keeps it, and a retry that finds the handoff closed by
// its key within impl.IdempotencyTTL gets the handoff and
// impl.ErrDoneEarlier instead of the conflict.
func (s *HandoffStore) CloseHandoff(ctx context.Context, orgID, id int64) (*impl.Handoff, error) {
	var h *impl.Handoff
	key := impl.IdempotencyKey(ctx)
	var done bool
	err := s.db.inTx(ctx, func(tx *sqlx.Tx) error {
		now := s.db.timestamp()
		// The status condition makes the close atomic: of two concurrent
		// closes, one updates the row and emits the event, the other is told
		// it is already closed.
		res, err := tx.ExecContext(ctx, s.db.rebind(`UPDATE handoffs SET status = ?, closed_at = ?, close_idempotency_key = ?, updated_at = ?
			WHERE organization_id = ? AND id = ? AND status = ?`),
			impl.HandoffClosed, now, nullString(key), now, orgID, id, impl.HandoffOpen)
		if err != nil {
			return fmt.Errorf("close handoff: %w", err)
		}
		var found impl.Handoff
		if err := tx.GetContext(ctx, &found, s.db.rebind(`SELECT `+handoffColumns+` FROM handoffs WHERE organization_id = ? AND id = ?`), orgID, id); err != nil {
			return notFound(err, "Handoff")
		}
		utcHandoff(&found)
		h = &found
		if n, _ := res.RowsAffected(); n == 0 {
			if key != "" {
				var closedUnder *string
				if err := tx.GetContext(ctx, &closedUnder, s.db.rebind(`SELECT close_idempotency_key FROM handoffs WHERE id = ?`), id); err != nil {
					return fmt.Errorf("find handoff close: %w", err)
				}
				if done = doneUnder(closedUnder, key, h.ClosedAt, now); done {
					return nil
				}
			}
			return impl.Errorf(impl.EConflict, "This handoff is already closed.")
		}
		return s.db.appendEvent(ctx, tx, orgID, impl.EventHandoffClosed, now, h)
	})
	switch {
	case err != nil:
		return nil, err
	case done:
		return h, impl.ErrDoneEarlier
	}
	return h, nil
}
