package sqlstore

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

// queued stores an outbound WhatsApp message of integ as the Messenger does
// before calling the provider.
func (f *fixture) queued(t *testing.T, integ *impl.Integration) *impl.Message {
	t.Helper()
	m := &impl.Message{OrganizationID: integ.OrganizationID, IntegrationID: integ.ID, Channel: integ.Channel,
		Direction: impl.DirectionOutbound, Type: "text", Status: impl.StatusQueued, Phone: "5511988887777",
		Content: json.RawMessage(`{"text":"oi"}`)}
	if err := f.s.Messages.CreateMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return m
}

// eventTypes are the types of the organization's events after afterID.
func (f *fixture) eventTypes(t *testing.T, org, afterID int64) ([]string, []*impl.Event) {
	t.Helper()
	events, err := f.s.Events.FindEvents(context.Background(), org, afterID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	return types, events
}

func lastEventID(events []*impl.Event) int64 {
	if len(events) == 0 {
		return 0
	}
	return events[len(events)-1].ID
}

func TestUpdateMessageStatus(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		in := f.integration(t, f.org, impl.ChannelWhatsApp)
		other := f.integration(t, f.org, impl.ChannelWhatsApp)
		m := f.queued(t, in)
		if _, err := f.s.Messages.FinishMessage(ctx, f.org, m.ID, impl.StatusUpdate{Status: impl.StatusSent,
			At: f.clock.now(), ProviderMessageID: "wamid.1"}); err != nil {
			t.Fatal(err)
		}
		_, evs := f.eventTypes(t, f.org, 0)
		mark := lastEventID(evs)

		report := func(status, pid, ref string, minutes int) (*impl.Message, bool, error) {
			return f.s.Messages.UpdateMessageStatus(ctx, in.ID, impl.StatusReport{Reference: ref,
				StatusUpdate: impl.StatusUpdate{Status: status, At: t0.Add(time.Duration(minutes) * time.Minute), ProviderMessageID: pid}})
		}
		// read before delivered, then both again: read, with both times,
		// message.delivered and message.read once each.
		if got, changed, err := report(impl.StatusRead, "wamid.1", "", 3); err != nil || !changed || got.Status != impl.StatusRead {
			t.Fatalf("read = %+v %t %v", got, changed, err)
		}
		for _, st := range []string{impl.StatusDelivered, impl.StatusRead, impl.StatusSent} {
			if _, changed, err := report(st, "wamid.1", "", 2); err != nil || changed {
				t.Errorf("a late %s changed the message (%v)", st, err)
			}
		}
		got, err := f.s.Messages.FindMessageByID(ctx, f.org, m.ID)
		want := t0.Add(3 * time.Minute).Truncate(time.Microsecond)
		if err != nil || got.Status != impl.StatusRead || got.ReadAt == nil || !got.ReadAt.Equal(want) ||
			got.DeliveredAt == nil || !got.DeliveredAt.Equal(want) || got.SentAt == nil {
			t.Errorf("stored %+v, %v", got, err)
		}
		types, evs := f.eventTypes(t, f.org, mark)
		if !slices.Equal(types, []string{impl.EventMessageDelivered, impl.EventMessageRead}) {
			t.Errorf("events %v, want message.delivered, message.read", types)
		}
		for _, e := range evs {
			var p api.Message
			if err := json.Unmarshal(e.Payload, &p); err != nil || p.Id != m.ID || p.Status != api.MessageStatus(impl.StatusRead) ||
				!p.ReadAt.IsSpecified() || p.ReadAt.IsNull() {
				t.Errorf("%s payload %s", e.Type, e.Payload)
			}
		}

		// Reports that name no message of this integration.
		for what, r := range map[string]func() error{
			"unknown id": func() error { _, _, err := report(impl.StatusDelivered, "wamid.unknown", "", 1); return err },
			"another integration's message": func() error {
				_, _, err := f.s.Messages.UpdateMessageStatus(ctx, other.ID, impl.StatusReport{
					StatusUpdate: impl.StatusUpdate{Status: impl.StatusFailed, At: t0, ProviderMessageID: "wamid.1"}})
				return err
			},
			"a reference whose message has another provider id": func() error {
				_, _, err := report(impl.StatusFailed, "wamid.other", impl.MessageReference(m.ID), 1)
				return err
			},
			"a reference to another integration's message": func() error {
				_, _, err := f.s.Messages.UpdateMessageStatus(ctx, other.ID, impl.StatusReport{
					Reference: impl.MessageReference(m.ID), StatusUpdate: impl.StatusUpdate{Status: impl.StatusFailed, At: t0}})
				return err
			},
		} {
			if err := r(); impl.ErrorCode(err) != impl.ENotFound {
				t.Errorf("%s: %v, want ENotFound", what, err)
			}
		}
		if got, _ := f.s.Messages.FindMessageByID(ctx, f.org, m.ID); got.Status != impl.StatusRead {
			t.Errorf("a report for another message changed this one: %s", got.Status)
		}
	})
}

// A status report can arrive before the send's answer is stored: it finds
// the message by our reference, and the answer then only adds the id.
func TestStatusReportBeatsTheSendsAnswer(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		in := f.integration(t, f.org, impl.ChannelWhatsApp)
		m := f.queued(t, in)
		got, changed, err := f.s.Messages.UpdateMessageStatus(ctx, in.ID, impl.StatusReport{Reference: impl.MessageReference(m.ID),
			StatusUpdate: impl.StatusUpdate{Status: impl.StatusDelivered, At: t0, ProviderMessageID: "wamid.fast"}})
		if err != nil || !changed || got.Status != impl.StatusDelivered || got.SentAt == nil || *got.ProviderMessageID != "wamid.fast" {
			t.Fatalf("early delivered = %+v %t %v", got, changed, err)
		}
		fin, err := f.s.Messages.FinishMessage(ctx, f.org, m.ID, impl.StatusUpdate{Status: impl.StatusSent, At: t0, ProviderMessageID: "wamid.fast"})
		if err != nil || fin.Status != impl.StatusDelivered {
			t.Errorf("the send's answer after the report = %+v, %v; want still delivered", fin, err)
		}
		types, _ := f.eventTypes(t, f.org, 0)
		if !slices.Equal(types, []string{impl.EventMessageSent, impl.EventMessageDelivered}) {
			t.Errorf("events %v, want message.sent then message.delivered, once", types)
		}

		// A send that timed out, which Meta delivered all the same: the
		// report stands over the send's failed verdict.
		late := f.queued(t, in)
		if _, _, err := f.s.Messages.UpdateMessageStatus(ctx, in.ID, impl.StatusReport{Reference: impl.MessageReference(late.ID),
			StatusUpdate: impl.StatusUpdate{Status: impl.StatusDelivered, At: t0, ProviderMessageID: "wamid.slow"}}); err != nil {
			t.Fatal(err)
		}
		got, err = f.s.Messages.FinishMessage(ctx, f.org, late.ID, impl.StatusUpdate{Status: impl.StatusFailed, At: t0,
			Error: "no answer within the timeout"})
		if err != nil || got.Status != impl.StatusDelivered || got.Error != nil {
			t.Errorf("a failed verdict after the delivered report = %+v, %v", got, err)
		}
	})
}

// Meta may report the same status twice at once (two deliveries of one
// webhook): it is applied once.
func TestStatusReportConcurrentDuplicates(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		in := f.integration(t, f.org, impl.ChannelWhatsApp)
		m := f.queued(t, in)
		if _, err := f.s.Messages.FinishMessage(ctx, f.org, m.ID, impl.StatusUpdate{Status: impl.StatusSent, At: t0, ProviderMessageID: "wamid.dup"}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		changes := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, changed, err := f.s.Messages.UpdateMessageStatus(ctx, in.ID, impl.StatusReport{
					StatusUpdate: impl.StatusUpdate{Status: impl.StatusDelivered, At: t0, ProviderMessageID: "wamid.dup"}})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if changed {
					changes++
				}
			}()
		}
		wg.Wait()
		types, _ := f.eventTypes(t, f.org, 0)
		if changes != 1 || !slices.Equal(types, []string{impl.EventMessageSent, impl.EventMessageDelivered}) {
			t.Errorf("%d reports changed the message; events %v", changes, types)
		}
	})
}

func TestLastInbound(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		in := f.integration(t, f.org, impl.ChannelWhatsApp)
		second := f.integration(t, f.org, impl.ChannelWhatsApp)
		theirs := f.integration(t, f.other, impl.ChannelWhatsApp)
		receive := func(integ *impl.Integration, wamid, phone string, sent time.Time) {
			t.Helper()
			m := &impl.Message{OrganizationID: integ.OrganizationID, IntegrationID: integ.ID, Channel: integ.Channel,
				Direction: impl.DirectionInbound, Type: "text", Status: impl.StatusReceived, Phone: phone,
				Content: json.RawMessage(`{"text":"oi"}`), ProviderMessageID: &wamid, SentAt: &sent}
			if _, err := f.s.Messages.ReceiveMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
		const phone = "5511977776666"
		if last, err := f.s.Messages.LastInbound(ctx, f.org, in.ID, phone); err != nil || last != nil {
			t.Fatalf("before any message: %v, %v", last, err)
		}
		receive(in, "w1", phone, t0.Add(-2*time.Hour))
		receive(in, "w2", phone, t0.Add(-5*time.Hour)) // arrived later, written earlier
		receive(second, "w3", phone, t0.Add(-time.Minute))
		receive(in, "w4", "5511900000000", t0)
		receive(theirs, "w5", phone, t0)
		// An outbound message is not the contact writing.
		f.queued(t, in)

		last, err := f.s.Messages.LastInbound(ctx, f.org, in.ID, phone)
		if err != nil || last == nil || !last.Equal(t0.Add(-2*time.Hour).Truncate(time.Microsecond)) {
			t.Errorf("LastInbound = %v, %v; want the latest the contact wrote on this integration", last, err)
		}
		if last, _ := f.s.Messages.LastInbound(ctx, f.org, theirs.ID, phone); last != nil {
			t.Errorf("another organization's integration: %v", last)
		}
	})
}

func TestApplyTemplateListing(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		local := &impl.Template{OrganizationID: f.org, Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY",
			MetaApproved: true, Body: "Ola {{1}}", VariablesCount: 1, Context: ptr("onboarding")}
		if err := f.s.Templates.CreateTemplate(ctx, local); err != nil {
			t.Fatal(err)
		}
		if local.Status != impl.TemplateApproved || local.Source != impl.TemplateSourceLocal {
			t.Errorf("a local approved template: status %s source %s", local.Status, local.Source)
		}
		listing := &impl.TemplateListing{Pages: 1, Templates: []impl.ListedTemplate{
			{Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY", Status: impl.TemplateApproved, Body: "Ola {{1}}!", VariablesCount: 1},
			{Name: "oferta", Language: "pt_BR", Category: "MARKETING", Status: "PAUSED", Body: "Oferta"},
			{Name: "lembrete", Language: "en_US", Category: "UTILITY", Status: impl.TemplateApproved, Body: "Hi {{1}}", VariablesCount: 1},
		}}
		r, err := f.s.Templates.ApplyTemplateListing(ctx, f.org, "111", listing)
		if err != nil || r.Created != 2 || r.Updated != 1 || r.Removed != 0 {
			t.Fatalf("first sync = %+v, %v", r, err)
		}
		got, err := f.s.Templates.FindTemplateByID(ctx, f.org, local.ID)
		if err != nil || got.Source != impl.TemplateSourceMeta || got.Body != "Ola {{1}}!" || got.Context == nil ||
			*got.Context != "onboarding" || got.SyncedAt == nil || got.WABAID != "111" {
			t.Errorf("boas_vindas after the sync = %+v, %v", got, err)
		}
		approved, total, err := f.s.Templates.FindTemplates(ctx, f.org, impl.TemplateFilter{MetaApproved: ptr(true), Limit: 10})
		if err != nil || total != 2 {
			t.Errorf("approved = %v (%d), %v", approved, total, err)
		}

		// The same listing again changes nothing; one without lembrete
		// marks it removed, and it is no longer approved.
		if r, err := f.s.Templates.ApplyTemplateListing(ctx, f.org, "111", listing); err != nil || r.Unchanged != 3 || r.Created+r.Updated+r.Removed != 0 {
			t.Errorf("the same listing again = %+v, %v", r, err)
		}
		f.clock.advance(time.Hour)
		listing.Templates = listing.Templates[:2]
		if r, err := f.s.Templates.ApplyTemplateListing(ctx, f.org, "111", listing); err != nil || r.Removed != 1 || r.Unchanged != 2 {
			t.Errorf("without lembrete = %+v, %v", r, err)
		}
		gone, err := f.s.Templates.FindTemplatesByName(ctx, f.org, "lembrete")
		if err != nil || len(gone) != 1 || gone[0].RemovedAt == nil || gone[0].MetaApproved || gone[0].Status != impl.TemplateApproved ||
			!gone[0].RemovedAt.Equal(t0.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Errorf("lembrete after it disappeared = %+v, %v", gone, err)
		}
		if _, total, _ := f.s.Templates.FindTemplates(ctx, f.org, impl.TemplateFilter{MetaApproved: ptr(true), Limit: 10}); total != 1 {
			t.Errorf("%d approved after lembrete went, want 1", total)
		}
		// Another organization sees none of it.
		if _, total, _ := f.s.Templates.FindTemplates(ctx, f.other, impl.TemplateFilter{Limit: 10}); total != 0 {
			t.Errorf("another organization sees %d templates", total)
		}
	})
}

// Two first syncs of one organization at once must not both insert.
func TestApplyTemplateListingConcurrently(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		listing := &impl.TemplateListing{Pages: 1, Templates: []impl.ListedTemplate{
			{Name: "a", Language: "pt_BR", Category: "UTILITY", Status: impl.TemplateApproved, Body: "A"},
			{Name: "b", Language: "pt_BR", Category: "UTILITY", Status: impl.TemplateApproved, Body: "B"},
		}}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.s.Templates.ApplyTemplateListing(ctx, f.org, "111", listing); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if _, total, _ := f.s.Templates.FindTemplates(ctx, f.org, impl.TemplateFilter{Limit: 10}); total != 2 {
			t.Errorf("%d templates after concurrent syncs, want 2", total)
		}
	})
}

func TestFindTemplateSources(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		mk := func(org int64, waba string, active bool, provider string) *impl.Integration {
			in := &impl.Integration{OrganizationID: org, Name: "x", Channel: impl.ChannelWhatsApp, Provider: provider,
				Active: active, WABAID: waba, PhoneNumberID: "1", AccessToken: "t", AppSecret: "s"}
			if err := f.s.Integrations.CreateIntegration(ctx, in); err != nil {
				t.Fatal(err)
			}
			return in
		}
		a := mk(f.org, "111", true, impl.ProviderWhatsAppCloud)
		mk(f.org, "", true, impl.ProviderWhatsAppCloud)
		mk(f.org, "222", false, impl.ProviderWhatsAppCloud)
		b := mk(f.other, "333", true, impl.ProviderWhatsAppCloud)
		got, err := f.s.Integrations.FindTemplateSources(ctx)
		if err != nil || len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID || got[0].WABAID != "111" || got[0].AccessToken != "t" {
			t.Errorf("FindTemplateSources = %v, %v", got, err)
		}
	})
}
