package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/contract"
)

// TemplateSync implements impl.TemplateSyncer: it reads an integration's
// templates from the provider, whole, and hands the listing to the store.
// Every field but Logger is required.
type TemplateSync struct {
	Integrations impl.IntegrationStore
	Templates    impl.TemplateStore
	// Listers map an integration's Provider to what lists its templates.
	Listers map[string]impl.TemplateLister
	// Timeout bounds one integration's listing, every page included, so a
	// provider that stalls or pages without end cannot hold a sync forever.
	Timeout time.Duration
	Logger  *slog.Logger
}

var _ impl.TemplateSyncer = (*TemplateSync)(nil)

// SyncTemplates implements impl.TemplateSyncer.
func (s *TemplateSync) SyncTemplates(ctx context.Context, orgID int64, integrationID *int64) (*impl.TemplateSyncResult, error) {
	integ, err := s.source(ctx, orgID, integrationID)
	if err != nil {
		return nil, err
	}
	return s.sync(ctx, integ)
}

// SyncAll syncs every integration that has templates at a provider, of
// every organization, one after the other, and reports each failure to
// the log: one account's outage must not stop the others' sync.
func (s *TemplateSync) SyncAll(ctx context.Context) error {
	all, err := s.Integrations.FindTemplateSources(ctx)
	if err != nil {
		return err
	}
	for _, integ := range all {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r, err := s.sync(ctx, integ)
		if err != nil {
			s.logger().Warn("template sync failed", "organization_id", integ.OrganizationID,
				"integration_id", integ.ID, "err", err.Error())
			continue
		}
		s.logger().Info("templates synced", "organization_id", integ.OrganizationID, "integration_id", integ.ID,
			"listed", r.Listed, "created", r.Created, "updated", r.Updated, "removed", r.Removed, "skipped", r.Skipped)
	}
	return nil
}

// RunEvery calls SyncAll every interval until ctx is done, the first time
// one interval after it starts.
func (s *TemplateSync) RunEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.SyncAll(ctx); err != nil && ctx.Err() == nil {
				s.logger().Warn("template sync round failed", "err", err.Error())
			}
		}
	}
}

func (s *TemplateSync) sync(ctx context.Context, integ *impl.Integration) (*impl.TemplateSyncResult, error) {
	lister, ok := s.Listers[integ.Provider]
	if !ok {
		return nil, fmt.Errorf("integration %d: no template lister for provider %q", integ.ID, integ.Provider)
	}
	listCtx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	listing, err := lister.ListTemplates(listCtx, integ)
	if err != nil {
		var pe *impl.ProviderError
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("list templates of integration %d: %w", integ.ID, err)
		}
		return nil, impl.Errorf(impl.ESyncFailed, "The templates could not be read from Meta (%s); the templates stored are unchanged.",
			pe.Message).WithDetail("integration_id", strconv.FormatInt(integ.ID, 10))
	}
	for i := range listing.Templates {
		lt := &listing.Templates[i]
		if lt.Skip == "" {
			lt.Skip = unusable(lt)
		}
		if lt.Skip != "" {
			s.logger().Info("template skipped", "integration_id", integ.ID, "name", lt.Name, "language", lt.Language, "why", lt.Skip)
		}
	}
	r, err := s.Templates.ApplyTemplateListing(ctx, integ.OrganizationID, integ.WABAID, listing)
	if err != nil {
		return nil, err
	}
	r.IntegrationID = integ.ID
	return r, nil
}

// unusable says why a listed template cannot be stored as the spec's
// Template (a category or status the spec does not know, a name outside
// its pattern), or "".
func unusable(lt *impl.ListedTemplate) string {
	if lt.Language == "" {
		return "no language"
	}
	for _, c := range []struct{ schema, value string }{
		{"TemplateName", lt.Name}, {"TemplateLanguage", lt.Language}, {"TemplateCategory", lt.Category}, {"TemplateStatus", lt.Status},
	} {
		if err := contract.CheckSchema(c.schema, c.value); err != nil {
			return err.Error()
		}
	}
	return ""
}

// source is the integration whose templates to sync: the one named, which
// must be an active WhatsApp Cloud API integration with an account id, or
// the oldest such.
func (s *TemplateSync) source(ctx context.Context, orgID int64, id *int64) (*impl.Integration, error) {
	if id == nil {
		all, err := s.Integrations.ListIntegrations(ctx, orgID, impl.ChannelWhatsApp)
		if err != nil {
			return nil, err
		}
		for _, in := range all {
			if in.Active && in.Provider == impl.ProviderWhatsAppCloud && in.WABAID != "" {
				return in, nil
			}
		}
		return nil, impl.Errorf(impl.EIntegrationNotFound,
			"Your organization has no active WhatsApp Cloud API integration with a WhatsApp Business Account id.")
	}
	in, err := s.Integrations.FindIntegrationByID(ctx, orgID, *id)
	if impl.ErrorCode(err) == impl.ENotFound || err == nil && (!in.Active || in.Channel != impl.ChannelWhatsApp) {
		return nil, impl.Errorf(impl.EIntegrationNotFound, "WhatsApp integration %d not found or inactive.", *id)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case in.Provider != impl.ProviderWhatsAppCloud:
		return nil, validation("integration_id", impl.Text{
			En: fmt.Sprintf("is a %s integration, whose templates are not synced from Meta: create them with `iagente-sdr templates create`",
				in.Provider),
			PtBR: fmt.Sprintf("A integração de integration_id é do provedor %s, cujos templates não vêm da Meta: crie-os com `iagente-sdr templates create`.",
				in.Provider),
		})
	case in.WABAID == "":
		return nil, validation("integration_id", impl.Text{
			En: "has no WhatsApp Business Account id to read templates from: set it with `iagente-sdr integrations create ... --waba-id`",
			PtBR: "A integração de integration_id não tem o id da conta do WhatsApp Business de onde ler os templates: " +
				"defina-o com `iagente-sdr integrations create ... --waba-id`.",
		})
	}
	return in, nil
}

func (s *TemplateSync) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
