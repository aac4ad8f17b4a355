package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// EnsureDevWindow keeps the API reference's contact writing to integration
// 1, so that its WhatsApp text example works under the 24-hour rule: again
// when the window is about to close, not again while it has hours left, and
// never on an integration 1 that is not an active WhatsApp sandbox.
func TestEnsureDevWindow(t *testing.T) {
	for _, db := range sqlstoretest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := app.Defaults()
			cfg.DatabaseURL, cfg.TemplateSyncInterval, cfg.WebhookDispatchOff = db.URL, 0, true
			cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
			a, err := app.Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			org := &impl.Organization{Name: "Development"}
			if err := a.Stores.Organizations.CreateOrganization(ctx, org); err != nil {
				t.Fatal(err)
			}
			if err := a.EnsureDevWindow(ctx); err != nil {
				t.Fatalf("without integration 1: %v", err)
			}
			wa, _, err := app.SeedMessaging(ctx, a.Stores, org.ID)
			if err != nil || wa.ID != 1 {
				t.Fatalf("SeedMessaging: %v, integration %d", err, wa.ID)
			}
			inbound := func() []*impl.Message {
				page, err := a.Stores.Messages.FindMessages(ctx, org.ID, impl.MessageFilter{Direction: ptr(impl.DirectionInbound), Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				return page.Messages
			}
			// Integration 1 switched off is left alone.
			if err := a.Stores.Integrations.SetIntegrationActive(ctx, org.ID, 1, false); err != nil {
				t.Fatal(err)
			}
			if err := a.EnsureDevWindow(ctx); err != nil || len(inbound()) != 0 {
				t.Errorf("a disabled integration 1 got the contact's message: %v, %d inbound", err, len(inbound()))
			}
			if err := a.Stores.Integrations.SetIntegrationActive(ctx, org.ID, 1, true); err != nil {
				t.Fatal(err)
			}
			// The contact last wrote 23h30m ago: less than an hour left, so
			// the contact writes again, once.
			old := time.Now().Add(-23*time.Hour - 30*time.Minute)
			pid := "old-message"
			if _, err := a.Stores.Messages.ReceiveMessage(ctx, &impl.Message{OrganizationID: org.ID, IntegrationID: 1,
				Channel: impl.ChannelWhatsApp, Direction: impl.DirectionInbound, Type: "text", Status: impl.StatusReceived,
				Phone: app.DevContact, ProviderMessageID: &pid, SentAt: &old, Content: json.RawMessage(`{}`)}, nil); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := a.EnsureDevWindow(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ms := inbound()
			if len(ms) != 2 || ms[0].Phone != app.DevContact || ms[0].IntegrationID != 1 || ms[0].LeadID == nil {
				t.Fatalf("after two checks: %d inbound messages, want the old one and one new: %+v", len(ms), ms)
			}
			var content map[string]any
			if json.Unmarshal(ms[0].Content, &content); content["text"] != "Ola!" {
				t.Errorf("content %s", ms[0].Content)
			}
			last, _ := a.Stores.Messages.LastInbound(ctx, org.ID, 1, app.DevContact)
			if last == nil || time.Since(*last) > time.Minute {
				t.Fatalf("the contact's last message is %v", last)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
