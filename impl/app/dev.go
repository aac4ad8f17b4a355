package app

import (
	"context"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// SeedMessaging gives an organization what the API reference's messaging
// examples expect, all on the sandbox provider so that nothing leaves the
// machine: a WhatsApp integration (id 1 in a new database), an RCS
// integration, and the approved template boas_vindas with one placeholder.
// `serve --dev` and the contract suite use it.
func SeedMessaging(ctx context.Context, st *sqlstore.Stores, orgID int64) (whatsApp, rcs *impl.Integration, err error) {
	whatsApp = &impl.Integration{OrganizationID: orgID, Name: "WhatsApp sandbox", Channel: impl.ChannelWhatsApp,
		Provider: impl.ProviderSandbox, Active: true, PhoneNumber: "551140040000"}
	rcs = &impl.Integration{OrganizationID: orgID, Name: "RCS sandbox", Channel: impl.ChannelRCS,
		Provider: impl.ProviderSandbox, Active: true, PhoneNumber: "551140040000"}
	for _, in := range []*impl.Integration{whatsApp, rcs} {
		if err := st.Integrations.CreateIntegration(ctx, in); err != nil {
			return nil, nil, err
		}
	}
	onboarding := "onboarding"
	t := &impl.Template{OrganizationID: orgID, Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY",
		Context: &onboarding, MetaApproved: true, Body: "Ola {{1}}, seja bem-vindo!"}
	if t.VariablesCount, err = impl.TemplateVariables(t.Body); err != nil {
		return nil, nil, err
	}
	return whatsApp, rcs, st.Templates.CreateTemplate(ctx, t)
}
