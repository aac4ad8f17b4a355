package contracttests

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/auth"
	"github.com/iagente/iagente-sdr/impl/delivery"
	"github.com/iagente/iagente-sdr/impl/sqlstore"
)

// seeder is the suite's only way into a target's database. The REST API
// cannot create organizations, integrations or templates, disable an
// integration or show the outbox, so the tests that need one of those go
// through here, by name, and nowhere else: reading a test's seeder calls is
// reading everything it does behind the API's back. A remote target has no
// seeder, and those tests skip there (see doc.go).
type seeder struct {
	stores *sqlstore.Stores
	// app receives what a provider's webhook would bring (ContactWrote).
	app *app.App
}

// seed returns the target's seeder, or skips the test on a remote target.
func (tg *target) seed(t testing.TB) *seeder {
	t.Helper()
	if tg.seeder == nil {
		t.Skip("grey-box: needs the in-process database")
	}
	return tg.seeder
}

// seededOrg is an organization the seeder created, with one API key.
type seededOrg struct {
	ID    int64
	KeyID int64
	Key   string // the key in plain text, as its creator is shown it once
}

// Organization creates an organization and one API key for it.
func (s *seeder) Organization(t testing.TB, name string) seededOrg {
	t.Helper()
	ctx := context.Background()
	org := &impl.Organization{Name: name}
	if err := s.stores.Organizations.CreateOrganization(ctx, org); err != nil {
		t.Fatalf("seed organization %q: %v", name, err)
	}
	k, plain, err := auth.Issue(ctx, s.stores.APIKeys, org.ID, "contract")
	if err != nil {
		t.Fatalf("seed a key for organization %q: %v", name, err)
	}
	return seededOrg{ID: org.ID, KeyID: k.ID, Key: plain}
}

// RevokeKey revokes the organization's key.
func (s *seeder) RevokeKey(t testing.TB, org seededOrg) {
	t.Helper()
	if err := s.stores.APIKeys.RevokeAPIKey(context.Background(), org.ID, org.KeyID); err != nil {
		t.Fatalf("revoke key %d: %v", org.KeyID, err)
	}
}

// Messaging gives an organization what `serve --dev` gives a new
// installation: a sandbox WhatsApp integration with the boas_vindas
// template, and a sandbox RCS integration.
func (s *seeder) Messaging(t testing.TB, orgID int64) (whatsApp, rcs *impl.Integration) {
	t.Helper()
	whatsApp, rcs, err := app.SeedMessaging(context.Background(), s.stores, orgID)
	if err != nil {
		t.Fatalf("seed messaging for organization %d: %v", orgID, err)
	}
	return whatsApp, rcs
}

// ContactWrote has phone write to the integration now, as the provider's
// inbound webhook would bring it (a message.received, and the contact's
// lead if there was none), so that WhatsApp's 24-hour window is open for
// messages that are not templates. The sandbox has no inbound webhook to
// push to; a Cloud API integration's tests push Meta's instead.
func (s *seeder) ContactWrote(t testing.TB, integrationID int64, phone string) {
	t.Helper()
	s.ContactWroteAt(t, integrationID, phone, time.Now())
}

// ContactWroteAt is ContactWrote at another time: before the last 24 hours,
// the window is closed again.
func (s *seeder) ContactWroteAt(t testing.TB, integrationID int64, phone string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	integ, err := s.stores.Integrations.FindIntegrationForInbound(ctx, integrationID)
	if err != nil {
		t.Fatalf("find integration %d: %v", integrationID, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	if err := s.app.Messenger.Receive(ctx, integ, []impl.InboundMessage{{ProviderMessageID: fmt.Sprintf("contract.%x", b),
		From: impl.NormalizePhone(phone), SentAt: at, Type: "text", Content: map[string]any{"text": "Oi"}}}); err != nil {
		t.Fatalf("%s writes to integration %d: %v", phone, integrationID, err)
	}
}

// DevContactWrote does what `serve --dev` does for the API reference's
// WhatsApp examples: their contact writes to integration 1.
func (s *seeder) DevContactWrote(t testing.TB) {
	t.Helper()
	if err := s.app.EnsureDevWindow(context.Background()); err != nil {
		t.Fatalf("the examples' contact writes: %v", err)
	}
}

// Integration stores in (its OrganizationID set) and returns it with its id.
func (s *seeder) Integration(t testing.TB, in *impl.Integration) *impl.Integration {
	t.Helper()
	if err := s.stores.Integrations.CreateIntegration(context.Background(), in); err != nil {
		t.Fatalf("seed integration %q: %v", in.Name, err)
	}
	return in
}

// DisableIntegration turns an integration off, as its owner would in the
// dashboard.
func (s *seeder) DisableIntegration(t testing.TB, orgID, id int64) {
	t.Helper()
	s.setIntegrationActive(t, orgID, id, false)
}

// EnableIntegration turns an integration back on.
func (s *seeder) EnableIntegration(t testing.TB, orgID, id int64) {
	t.Helper()
	s.setIntegrationActive(t, orgID, id, true)
}

func (s *seeder) setIntegrationActive(t testing.TB, orgID, id int64, active bool) {
	t.Helper()
	if err := s.stores.Integrations.SetIntegrationActive(context.Background(), orgID, id, active); err != nil {
		t.Fatalf("set integration %d active=%v: %v", id, active, err)
	}
}

// Template stores tpl (its OrganizationID set) and returns it with its id.
func (s *seeder) Template(t testing.TB, tpl *impl.Template) *impl.Template {
	t.Helper()
	if err := s.stores.Templates.CreateTemplate(context.Background(), tpl); err != nil {
		t.Fatalf("seed template %s/%s: %v", tpl.Name, tpl.Language, err)
	}
	return tpl
}

// TemplatesNamed returns the organization's templates called name, in
// every language.
func (s *seeder) TemplatesNamed(t testing.TB, orgID int64, name string) []*impl.Template {
	t.Helper()
	tpls, err := s.stores.Templates.FindTemplatesByName(context.Background(), orgID, name)
	if err != nil {
		t.Fatalf("find templates named %q: %v", name, err)
	}
	return tpls
}

// Events returns the organization's events in the outbox after afterID
// (0: all of them), oldest first.
func (s *seeder) Events(t testing.TB, orgID, afterID int64) []*impl.Event {
	t.Helper()
	events, err := s.stores.Events.FindEvents(context.Background(), orgID, afterID)
	if err != nil {
		t.Fatalf("read the events of organization %d: %v", orgID, err)
	}
	return events
}

// EventCount is how many events the organization has in the outbox.
func (s *seeder) EventCount(t testing.TB, orgID int64) int {
	t.Helper()
	return len(s.Events(t, orgID, 0))
}

// EventPayloads returns the decoded payloads of the organization's events
// of type typ.
func (s *seeder) EventPayloads(t testing.TB, orgID int64, typ string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range s.Events(t, orgID, 0) {
		if e.Type != typ {
			continue
		}
		var p map[string]any
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatalf("event %d (%s): payload is not a JSON object: %v: %s", e.ID, e.Type, err, e.Payload)
		}
		out = append(out, p)
	}
	return out
}

// SweepDeliveryLogs runs one sweep of the retention job with a retention
// of keep, as the server runs it every hour, and returns what it deleted.
func (s *seeder) SweepDeliveryLogs(t testing.TB, keep time.Duration) (deliveries, events int) {
	t.Helper()
	job := &delivery.Retention{Store: s.stores.Retention, Keep: keep, Batch: 20}
	deliveries, events, err := job.Sweep(context.Background())
	if err != nil {
		t.Errorf("sweep expired delivery logs: %v", err)
	}
	return deliveries, events
}

// hasEventFor reports whether one of payloads has "id" id.
func hasEventFor(payloads []map[string]any, id int64) bool {
	for _, p := range payloads {
		if n, ok := p["id"].(float64); ok && int64(n) == id {
			return true
		}
	}
	return false
}
