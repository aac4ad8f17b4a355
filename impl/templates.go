package impl

import (
	"context"
	"time"
)

// Where a template comes from.
const (
	// TemplateSourceMeta: read from a WhatsApp Business Account by a sync.
	TemplateSourceMeta = "meta"
	// TemplateSourceLocal: created by an administrator, for the sandbox.
	TemplateSourceLocal = "local"
)

// Template review statuses, Meta's; the spec's TemplateStatus lists them all.
const (
	TemplateApproved = "APPROVED"
	TemplatePending  = "PENDING"
)

// Template is a WhatsApp message template (Meta calls them HSM). Its Body
// has numbered placeholders {{1}}..{{VariablesCount}}.
type Template struct {
	ID             int64   `db:"id"`
	OrganizationID int64   `db:"organization_id"`
	Name           string  `db:"name"`
	Language       string  `db:"language"`
	Category       string  `db:"category"`
	Context        *string `db:"context"`
	// Status is Meta's review status; MetaApproved is TemplateSendable of
	// it, kept as a column for the listing's filter.
	Status         string `db:"status"`
	MetaApproved   bool   `db:"meta_approved"`
	Source         string `db:"source"`
	Body           string `db:"body"`
	VariablesCount int    `db:"variables_count"`
	// WABAID is the WhatsApp Business Account a synced template was read
	// from; SyncedAt when a sync last found it there, RemovedAt when one
	// found it gone.
	WABAID    string     `db:"waba_id"`
	SyncedAt  *time.Time `db:"synced_at"`
	RemovedAt *time.Time `db:"removed_at"`
	CreatedAt time.Time  `db:"created_at"`
}

// TemplateSendable reports whether a template in status, removed from Meta
// at removedAt (nil: still there), may be sent: only approved templates
// that Meta still has.
func TemplateSendable(status string, removedAt *time.Time) bool {
	return status == TemplateApproved && removedAt == nil
}

// TemplateFilter selects templates, by name. Nil fields do not filter.
type TemplateFilter struct {
	Category     *string
	Context      *string
	MetaApproved *bool
	Offset       int64
	Limit        int
}

// ListedTemplate is a template as a provider lists it, in our terms.
type ListedTemplate struct {
	Name, Language, Category, Status, Body string
	VariablesCount                         int
	// Skip says why the template cannot be used here (named placeholders,
	// a category or status the spec does not know); empty when it can.
	Skip string
}

// TemplateListing is a complete listing of one account's templates: every
// page was read.
type TemplateListing struct {
	Templates []ListedTemplate
	Pages     int
}

// TemplateLister reads an account's templates from the provider.
// ListTemplates returns all of them, having read every page, or an error
// (a *ProviderError): never a partial listing, since a template missing
// from one would be marked removed.
type TemplateLister interface {
	ListTemplates(ctx context.Context, integ *Integration) (*TemplateListing, error)
}

// TemplateSyncResult is what a sync read and what it changed.
type TemplateSyncResult struct {
	IntegrationID                                                int64
	Listed, Created, Updated, Unchanged, Removed, Skipped, Pages int
	SyncedAt                                                     time.Time
}

// TemplateSyncPlan is what a listing changes in the stored templates.
type TemplateSyncPlan struct {
	// Insert are new templates; Update are stored ones with new values
	// (their ID is set), whether or not anything but SyncedAt changed.
	Insert, Update []*Template
	Result         TemplateSyncResult
}

// PlanTemplateSync decides what a complete listing of the account wabaID,
// read at, changes in the organization's stored templates (all of them):
// a listed template is added, or updated in place (keeping its id, context
// and creation time, and taking over a local template of the same name and
// language); a template of this account that the listing lacks is marked
// removed, never deleted, so that messages sent with it keep their
// reference. A listed template that cannot be used here (Skip) counts as
// present but is left as stored. A name and language listed twice counts
// once; the repeat is skipped.
func PlanTemplateSync(orgID int64, wabaID string, stored []*Template, listing *TemplateListing, at time.Time) TemplateSyncPlan {
	at = at.UTC()
	key := func(name, language string) string { return name + "\x00" + language }
	byKey := make(map[string]*Template, len(stored))
	for _, t := range stored {
		byKey[key(t.Name, t.Language)] = t
	}
	plan := TemplateSyncPlan{Result: TemplateSyncResult{Listed: len(listing.Templates), Pages: listing.Pages, SyncedAt: at}}
	seen := map[string]bool{}
	for _, lt := range listing.Templates {
		k := key(lt.Name, lt.Language)
		if seen[k] || lt.Skip != "" {
			seen[k] = true
			plan.Result.Skipped++
			continue
		}
		seen[k] = true
		synced := at
		want := &Template{OrganizationID: orgID, Name: lt.Name, Language: lt.Language, Category: lt.Category,
			Status: lt.Status, MetaApproved: TemplateSendable(lt.Status, nil), Source: TemplateSourceMeta,
			Body: lt.Body, VariablesCount: lt.VariablesCount, WABAID: wabaID, SyncedAt: &synced}
		old := byKey[k]
		if old == nil {
			plan.Insert = append(plan.Insert, want)
			plan.Result.Created++
			continue
		}
		want.ID, want.Context, want.CreatedAt = old.ID, old.Context, old.CreatedAt
		if old.Category == want.Category && old.Status == want.Status && old.Body == want.Body &&
			old.VariablesCount == want.VariablesCount && old.Source == want.Source && old.WABAID == want.WABAID &&
			old.MetaApproved == want.MetaApproved && old.RemovedAt == nil {
			plan.Result.Unchanged++
		} else {
			plan.Result.Updated++
		}
		plan.Update = append(plan.Update, want)
	}
	for _, t := range stored {
		if t.Source != TemplateSourceMeta || t.WABAID != wabaID || t.RemovedAt != nil || seen[key(t.Name, t.Language)] {
			continue
		}
		gone := *t
		removed := at
		gone.RemovedAt, gone.MetaApproved = &removed, false
		plan.Update = append(plan.Update, &gone)
		plan.Result.Removed++
	}
	return plan
}

// TemplateStore stores WhatsApp templates.
type TemplateStore interface {
	// CreateTemplate stores t and fills in its ID. It returns EConflict if the
	// organization has a template with the same name and language.
	CreateTemplate(ctx context.Context, t *Template) error
	// FindTemplateByID returns the template, or ENotFound.
	FindTemplateByID(ctx context.Context, orgID, id int64) (*Template, error)
	// FindTemplatesByName returns the templates with that name, one per language.
	FindTemplatesByName(ctx context.Context, orgID int64, name string) ([]*Template, error)
	// FindTemplates returns one page of templates and the number on all pages.
	FindTemplates(ctx context.Context, orgID int64, f TemplateFilter) ([]*Template, int64, error)
	// ApplyTemplateListing stores what a complete listing of the account
	// wabaID changes, as PlanTemplateSync decides, in one transaction, and
	// returns the counts.
	ApplyTemplateListing(ctx context.Context, orgID int64, wabaID string, listing *TemplateListing) (*TemplateSyncResult, error)
}

// TemplateSyncer brings an organization's templates in line with Meta.
type TemplateSyncer interface {
	// SyncTemplates reads every template of the integration's WhatsApp
	// Business Account and stores them (see PlanTemplateSync). A nil
	// integrationID means the oldest active WhatsApp Cloud API integration
	// with an account id. It returns EIntegrationNotFound when there is no
	// such integration, EValidation when the one named has no account id,
	// and ESyncFailed, with nothing stored changed, when the provider fails.
	SyncTemplates(ctx context.Context, orgID int64, integrationID *int64) (*TemplateSyncResult, error)
}
