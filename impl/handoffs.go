package impl

import (
	"context"
	"time"
)

// Handoff statuses.
const (
	HandoffOpen   = "open"
	HandoffClosed = "closed"
)

// Handoff passes a lead's conversation from automation to a person.
type Handoff struct {
	ID             int64      `db:"id"`
	OrganizationID int64      `db:"organization_id"`
	LeadID         int64      `db:"lead_id"`
	Reason         string     `db:"reason"`
	Status         string     `db:"status"`
	CreatedAt      time.Time  `db:"created_at"`
	ClosedAt       *time.Time `db:"closed_at"`
	UpdatedAt      time.Time  `db:"updated_at"`
}

// HandoffFilter selects handoffs, newest first. Nil fields do not filter.
type HandoffFilter struct {
	Status *string
	LeadID *int64
	Offset int64
	Limit  int
}

// HandoffStore stores handoffs, each change with its event. Every method
// is scoped to one organization.
type HandoffStore interface {
	// CreateHandoff opens h for its lead and writes handoff.created. It
	// returns ENotFound (detail lead_id) if the lead is not the
	// organization's, and ErrOpenHandoff if the lead already has an open
	// handoff (one open handoff per lead), unless a request with ctx's
	// Idempotency-Key opened it within IdempotencyTTL: then h is filled in
	// as that handoff is now, and the error is ErrDoneEarlier.
	CreateHandoff(ctx context.Context, orgID int64, h *Handoff) error
	// FindHandoffByID returns the handoff, or ENotFound.
	FindHandoffByID(ctx context.Context, orgID, id int64) (*Handoff, error)
	// FindHandoffs returns one page and the total on all pages.
	FindHandoffs(ctx context.Context, orgID int64, f HandoffFilter) ([]*Handoff, int64, error)
	// CloseHandoff closes an open handoff and writes handoff.closed. It
	// returns ENotFound, or EConflict if the handoff is already closed,
	// unless a request with ctx's Idempotency-Key closed it within
	// IdempotencyTTL: then it returns the handoff and ErrDoneEarlier.
	CloseHandoff(ctx context.Context, orgID, id int64) (*Handoff, error)
}

// ErrOpenHandoff is the conflict of a lead that already has an open handoff.
func ErrOpenHandoff() *Error {
	return Errorf(EConflict, "This lead already has an open handoff.").
		WithDetailText("lead_id", Text{En: "the lead already has an open handoff", PtBR: "O lead já tem um handoff aberto."})
}
