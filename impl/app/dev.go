package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

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
		Context: &onboarding, Status: impl.TemplateApproved, Body: "Ola {{1}}, seja bem-vindo!"}
	if t.VariablesCount, err = impl.TemplateVariables(t.Body); err != nil {
		return nil, nil, err
	}
	return whatsApp, rcs, st.Templates.CreateTemplate(ctx, t)
}

// DevContact is the phone the API reference's WhatsApp examples write to,
// through integration 1.
const DevContact = "5511999999999"

// devWindowRefresh is how long before the development contact's 24-hour
// window closes EnsureDevWindow opens it again.
const devWindowRefresh = time.Hour

// EnsureDevWindow keeps the API reference's text example working under
// WhatsApp's 24-hour rule, which the sandbox keeps: when integration 1 is
// an active WhatsApp sandbox and DevContact's window on it is closed or
// less than an hour from closing, DevContact writes to it ("Ola!") now, as
// a contact's message arrives (a message.received event, and the contact's
// lead the first time). A --dev server calls it at start and then now and
// then.
func (a *App) EnsureDevWindow(ctx context.Context) error {
	const integrationID = 1
	integ, err := a.Stores.Integrations.FindIntegrationForInbound(ctx, integrationID)
	if impl.ErrorCode(err) == impl.ENotFound || err == nil &&
		(!integ.Active || integ.Provider != impl.ProviderSandbox || integ.Channel != impl.ChannelWhatsApp) {
		return nil
	}
	if err != nil {
		return err
	}
	last, err := a.Stores.Messages.LastInbound(ctx, integ.OrganizationID, integ.ID, DevContact)
	if err != nil {
		return err
	}
	if last != nil && time.Until(last.Add(impl.ServiceWindow)) > devWindowRefresh {
		return nil
	}
	return a.OpenDevWindow(ctx, integ)
}

// OpenDevWindow has DevContact write to the sandbox integration integ now.
func (a *App) OpenDevWindow(ctx context.Context, integ *impl.Integration) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return a.Messenger.Receive(ctx, integ, []impl.InboundMessage{{
		ProviderMessageID: "sandbox.wa.in." + hex.EncodeToString(b[:]), From: DevContact,
		ContactName: "Contato de Teste", SentAt: time.Now(), Type: "text", Content: map[string]any{"text": "Ola!"},
	}})
}
