// Package wire is the one mapping from domain values (package impl) to the
// types generated from the spec (gen/api, gen/webhooks). REST responses and
// the outbox's event payloads both go through it, so a resource reads the
// same in an API answer and in a webhook delivery, and renaming a field in
// the spec is a compile error here rather than a silent drift.
package wire

import (
	"math"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

// Nullable turns a pointer into the spec's nullable: nil is JSON null.
func Nullable[T any](p *T) nullable.Nullable[T] {
	if p == nil {
		return nullable.NewNullNullable[T]()
	}
	return nullable.NewNullableWithValue(*p)
}

// Lead is a lead as the API returns it everywhere.
func Lead(l *impl.Lead) api.Lead {
	return api.Lead{
		Id:          l.ID,
		Phone:       l.Phone,
		Name:        Nullable(l.Name),
		Email:       Nullable(l.Email),
		CompanyName: Nullable(l.CompanyName),
		Temperature: api.Temperature(l.Temperature),
		LeadScore:   l.LeadScore,
		DealValue:   Nullable(l.DealValue),
		CreatedAt:   l.CreatedAt.UTC(),
		UpdatedAt:   l.UpdatedAt.UTC(),
	}
}

// Handoff is a handoff as the API returns it.
func Handoff(h *impl.Handoff) api.Handoff {
	return api.Handoff{Id: h.ID, LeadId: h.LeadID, Reason: h.Reason, Status: api.HandoffStatus(h.Status),
		CreatedAt: h.CreatedAt.UTC(), ClosedAt: Nullable(utcPtr(h.ClosedAt)), UpdatedAt: h.UpdatedAt.UTC()}
}

// Template is a WhatsApp template as the API lists it.
func Template(t *impl.Template) api.Template {
	return api.Template{
		Id: t.ID, Name: t.Name, Language: t.Language, Category: api.TemplateCategory(t.Category),
		Context: Nullable(t.Context), Status: api.TemplateStatus(t.Status), MetaApproved: t.MetaApproved,
		Source: api.TemplateSource(t.Source), Body: t.Body, VariablesCount: int32(t.VariablesCount),
		SyncedAt: Nullable(utcPtr(t.SyncedAt)), RemovedAt: Nullable(utcPtr(t.RemovedAt)), CreatedAt: t.CreatedAt.UTC(),
	}
}

// TemplateSyncResult is what a template sync reports.
func TemplateSyncResult(r *impl.TemplateSyncResult) api.TemplateSyncResult {
	return api.TemplateSyncResult{IntegrationId: r.IntegrationID, Listed: int32(r.Listed), Created: int32(r.Created),
		Updated: int32(r.Updated), Unchanged: int32(r.Unchanged), Removed: int32(r.Removed), Skipped: int32(r.Skipped),
		Pages: int32(r.Pages), SyncedAt: r.SyncedAt.UTC()}
}

// Integration is an integration as the API lists it: never its secrets.
func Integration(in *impl.Integration) api.Integration {
	phone := nullable.NewNullNullable[string]()
	if in.PhoneNumber != "" {
		phone = nullable.NewNullableWithValue(in.PhoneNumber)
	}
	return api.Integration{Id: in.ID, Name: in.Name, Channel: api.Channel(in.Channel),
		Provider: api.IntegrationProvider(in.Provider), Active: in.Active, PhoneNumber: phone,
		CreatedAt: in.CreatedAt.UTC()}
}

// APIKey is a key as listings show it: its prefix, never the key.
func APIKey(k *impl.APIKey) api.ApiKey {
	return api.ApiKey{Id: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt.UTC(),
		LastUsedAt: Nullable(utcPtr(k.LastUsedAt)), Revoked: k.RevokedAt != nil, RevokedAt: Nullable(utcPtr(k.RevokedAt))}
}

// APIKeyCreated is a key with the key itself, the one time it is shown.
func APIKeyCreated(k *impl.APIKey, plain string) api.ApiKeyCreated {
	v := APIKey(k)
	return api.ApiKeyCreated{Id: v.Id, Name: v.Name, Prefix: v.Prefix, CreatedAt: v.CreatedAt,
		LastUsedAt: v.LastUsedAt, Revoked: v.Revoked, RevokedAt: v.RevokedAt, Key: plain}
}

// Webhook is a webhook as the API returns it: never its secret.
func Webhook(w *impl.Webhook) api.Webhook {
	events := make(api.WebhookEvents, len(w.Events))
	for i, e := range w.Events {
		events[i] = api.EventType(e)
	}
	return api.Webhook{Id: w.ID, Name: w.Name, Url: w.URL, Events: events, Active: w.Active, MaxAttempts: w.MaxAttempts,
		IsDefault: w.IsDefault, DisabledReason: Nullable(w.DisabledReason), DisabledAt: Nullable(utcPtr(w.DisabledAt)),
		PreviousSecretExpiresAt: Nullable(utcPtr(w.PreviousSecretExpiresAt)), Backlog: WebhookBacklog(w.Backlog),
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
}

// WebhookBacklog is what waits for a webhook.
func WebhookBacklog(b impl.WebhookBacklog) api.WebhookBacklog {
	return api.WebhookBacklog{Pending: b.Pending, OldestPendingAt: Nullable(utcPtr(b.OldestPendingAt))}
}

// WebhookCreated is a new webhook with its signing secret, the one time it
// is shown.
func WebhookCreated(w *impl.Webhook) api.WebhookCreated {
	v := Webhook(w)
	return api.WebhookCreated{Id: v.Id, Name: v.Name, Url: v.Url, Events: v.Events, Active: v.Active,
		MaxAttempts: v.MaxAttempts, DisabledReason: v.DisabledReason, DisabledAt: v.DisabledAt,
		PreviousSecretExpiresAt: v.PreviousSecretExpiresAt, Backlog: v.Backlog, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
		SigningSecret: w.Secret}
}

// WebhookEvents turns the spec's event names into the domain's.
func WebhookEvents(in api.WebhookEvents) []string {
	out := make([]string, len(in))
	for i, e := range in {
		out[i] = string(e)
	}
	return out
}

// Delivery is a delivery with its attempts, as the delivery log shows it.
func Delivery(d *impl.Delivery) api.Delivery {
	attempts := make([]api.DeliveryAttempt, len(d.Attempts))
	for i, a := range d.Attempts {
		attempts[i] = api.DeliveryAttempt{AttemptedAt: a.AttemptedAt.UTC(), StatusCode: Nullable(a.StatusCode),
			DurationMs: a.DurationMS, Error: Nullable(a.Error), ResponseBody: Nullable(a.ResponseBody)}
	}
	return api.Delivery{Id: d.ID, WebhookId: d.WebhookID, EventId: d.EventID, Event: api.DeliveredEventType(d.Event),
		WebhookMessageId: d.MessageID, Status: api.DeliveryStatus(d.Status), Attempts: attempts,
		NextAttemptAt: Nullable(utcPtr(d.NextAttemptAt)), CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

// WebhookTestResult is the outcome of a test delivery.
func WebhookTestResult(r *impl.WebhookTestResult) api.WebhookTestResult {
	return api.WebhookTestResult{Delivered: r.Delivered, StatusCode: Nullable(r.StatusCode), DurationMs: r.DurationMS,
		Error: Nullable(r.Error), ResponseBody: Nullable(r.ResponseBody), DeliveryId: r.DeliveryID}
}

// PageMeta is the meta of a page of a list.
func PageMeta(page, perPage int32, total int64) api.PageMeta {
	return api.PageMeta{CurrentPage: page, PerPage: perPage, Total: total,
		TotalPages: (total + int64(perPage) - 1) / int64(perPage)}
}

// LeadPageMeta is the meta of a page of leads of perPage. Its current_page
// is the page the page's first lead is on, so in a walk by cursor it counts
// the pages of the walk.
func LeadPageMeta(p *impl.LeadPage, perPage int32) api.LeadPageMeta {
	return walkPageMeta(p.Offset, perPage, p.Total, p.Next)
}

// MessagePageMeta is the meta of a page of messages, counted as
// LeadPageMeta counts. The lists' metas are the same fields under the
// spec's names for each list, so one converts to the other: a field that
// one list's meta gained alone would stop this compiling.
func MessagePageMeta(p *impl.MessagePage, perPage int32) api.MessagePageMeta {
	return api.MessagePageMeta(walkPageMeta(p.Offset, perPage, p.Total, p.Next))
}

// DeliveryPageMeta is the meta of a page of a delivery log, counted as
// LeadPageMeta counts.
func DeliveryPageMeta(p *impl.DeliveryPage, perPage int32) api.DeliveryPageMeta {
	return api.DeliveryPageMeta(walkPageMeta(p.Offset, perPage, p.Total, p.Next))
}

// walkPageMeta is the meta of a page whose first item comes after offset
// others (the page it is on, at perPage), and next, the cursor after it
// ("": none).
func walkPageMeta(offset int64, perPage int32, total int64, next string) api.LeadPageMeta {
	page := offset/int64(perPage) + 1
	if page > math.MaxInt32 {
		page = math.MaxInt32 // unreachable: page is an int32, a walk returns fewer items
	}
	m := PageMeta(int32(page), perPage, total)
	meta := api.LeadPageMeta{CurrentPage: m.CurrentPage, PerPage: m.PerPage, Total: m.Total, TotalPages: m.TotalPages}
	if next != "" {
		meta.NextCursor = &next
	}
	return meta
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
