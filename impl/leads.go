package impl

import (
	"context"
	"strings"
	"time"
)

// The temperatures of a lead, hottest first.
const (
	TemperatureHot    = "hot"
	TemperatureWarm   = "warm"
	TemperatureCool   = "cool"
	TemperatureCold   = "cold"
	TemperatureFrozen = "frozen"
)

// Temperatures are the temperatures, hottest first.
var Temperatures = []string{TemperatureHot, TemperatureWarm, TemperatureCool, TemperatureCold, TemperatureFrozen}

// Defaults of a lead that is created or replaced without them.
const (
	DefaultTemperature = TemperatureCold
	DefaultLeadScore   = 0
)

// Lead is a contact an organization's sales team works on.
type Lead struct {
	ID             int64     `db:"id"`
	OrganizationID int64     `db:"organization_id"`
	Phone          string    `db:"phone"`
	Name           *string   `db:"name"`
	Email          *string   `db:"email"`
	CompanyName    *string   `db:"company_name"`
	Temperature    string    `db:"temperature"`
	LeadScore      int32     `db:"lead_score"`
	DealValue      *float64  `db:"deal_value"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

// Normalize rewrites Phone and Email into their stored forms and gives a
// lead without a temperature the default one. The spec has already checked
// their shape; this only canonicalises them so that equal numbers and
// addresses compare equal.
func (l *Lead) Normalize() {
	l.Phone = NormalizePhone(l.Phone)
	if l.Email != nil {
		e := NormalizeEmail(*l.Email)
		l.Email = &e
	}
	if l.Temperature == "" {
		l.Temperature = DefaultTemperature
	}
}

// SameFields reports whether o has every editable field of l, so that a
// no-op PUT or PATCH leaves updated_at alone and emits no event.
func (l *Lead) SameFields(o *Lead) bool {
	return l.Phone == o.Phone && eqPtr(l.Name, o.Name) && eqPtr(l.Email, o.Email) &&
		eqPtr(l.CompanyName, o.CompanyName) && l.Temperature == o.Temperature &&
		l.LeadScore == o.LeadScore && eqPtr(l.DealValue, o.DealValue)
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// LeadEvents are the events a change to a lead causes, in order: before is
// nil for a new lead, after is the lead as saved. A change that leaves every
// field as it was causes none.
func LeadEvents(before, after *Lead) []string {
	if before == nil {
		return []string{EventLeadCreated}
	}
	if before.SameFields(after) {
		return nil
	}
	events := []string{EventLeadUpdated}
	// One action, two events: becoming hot is also a qualification.
	if after.Temperature == TemperatureHot && before.Temperature != TemperatureHot {
		events = append(events, EventLeadQualified)
	}
	return events
}

// NewInboundLead is the lead a message from an unknown number creates: that
// number, the name the contact gave the provider (if any), and the defaults
// of any new lead.
func NewInboundLead(orgID int64, phone string, contactName *string) *Lead {
	return &Lead{OrganizationID: orgID, Phone: NormalizePhone(phone), Name: contactName,
		Temperature: DefaultTemperature, LeadScore: DefaultLeadScore}
}

// ErrDuplicatePhone is the conflict of a phone that another lead of the
// organization already has.
func ErrDuplicatePhone() *Error {
	return Errorf(EConflict, "A lead with this phone already exists.").
		WithDetailText("phone", Text{En: "a lead with this phone already exists", PtBR: "Já existe um lead com este telefone."})
}

// NormalizePhone keeps only the digits of a phone number, so that
// "+55 (11) 99999-9999" and "5511999999999" are the same lead. The country
// code is never guessed.
func NormalizePhone(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NormalizeEmail lower-cases an e-mail address. Lower-casing the local part
// is technically lossy, but no mail system in practice treats case there as
// significant, and duplicates by case are a worse problem for a CRM.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// LeadSortColumns maps the sort keys FindLeads accepts to their columns; a
// "-" prefix on a key means descending. The spec enumerates the same keys for
// the `sort` parameter and rejects others before they get here.
var LeadSortColumns = map[string]string{
	"id":         "id",
	"name":       "name",
	"created_at": "created_at",
	"updated_at": "updated_at",
	"lead_score": "lead_score",
	"deal_value": "deal_value",
}

// LeadStore stores leads, each change with the events LeadEvents names.
// Every method is scoped to one organization: a lead of another
// organization is reported as not found.
type LeadStore interface {
	// CreateLead normalises and stores lead in organization orgID, filling in
	// its ID and timestamps. It returns EConflict if another lead of the
	// organization has the same phone, unless a request with ctx's
	// Idempotency-Key created that lead within IdempotencyTTL: then lead is
	// filled in as that lead is now, and the error is ErrDoneEarlier.
	CreateLead(ctx context.Context, orgID int64, lead *Lead) error

	// FindLeadByID returns the lead, or ENotFound.
	FindLeadByID(ctx context.Context, orgID, id int64) (*Lead, error)

	// FindLeads returns one page of leads matching filter, in its order, with
	// the number matching on all pages and the cursor of the next page. A
	// cursor LeadFilter.Resolve refuses is EBadRequest, as is an unknown sort.
	FindLeads(ctx context.Context, orgID int64, filter LeadFilter) (*LeadPage, error)

	// UpdateLead loads the lead, lets update change it, then normalises and
	// saves it, all in one transaction; a change that SameFields calls no
	// change is not saved. It returns ENotFound if there is no
	// such lead, EConflict if the new phone belongs to another lead, and any
	// error update returns (nothing is saved then).
	UpdateLead(ctx context.Context, orgID, id int64, update func(*Lead) error) (*Lead, error)

	// DeleteLead removes the lead, or returns ENotFound.
	DeleteLead(ctx context.Context, orgID, id int64) error

	// DeleteLeadIf removes the lead if check, given the lead as it is in the
	// deleting transaction, returns nil; otherwise it returns check's error
	// and the lead stays. It returns ENotFound if there is no such lead.
	DeleteLeadIf(ctx context.Context, orgID, id int64, check func(*Lead) error) error
}
