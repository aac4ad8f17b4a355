package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl"
)

func (f *fixture) integration(t *testing.T, org int64, channel string) *impl.Integration {
	t.Helper()
	in := &impl.Integration{OrganizationID: org, Name: channel, Channel: channel, Provider: impl.ProviderSandbox,
		Active: true, AppSecret: "s3cret", VerifyTokenHash: []byte{1, 2, 3}}
	if err := f.s.Integrations.CreateIntegration(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestIntegrations(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		wa := f.integration(t, f.org, impl.ChannelWhatsApp)
		rcs := f.integration(t, f.org, impl.ChannelRCS)
		theirs := f.integration(t, f.other, impl.ChannelWhatsApp)

		got, err := f.s.Integrations.FindIntegrationByID(ctx, f.org, wa.ID)
		if err != nil || got.AppSecret != "s3cret" || string(got.VerifyTokenHash) != "\x01\x02\x03" || !got.Active ||
			!got.CreatedAt.Equal(t0.Truncate(1000)) {
			t.Fatalf("FindIntegrationByID = %+v, %v", got, err)
		}
		_, err = f.s.Integrations.FindIntegrationByID(ctx, f.org, theirs.ID)
		wantCode(t, err, impl.ENotFound)
		if in, err := f.s.Integrations.FindIntegrationForInbound(ctx, theirs.ID); err != nil || in.OrganizationID != f.other {
			t.Errorf("FindIntegrationForInbound = %+v, %v", in, err)
		}

		list, err := f.s.Integrations.ListIntegrations(ctx, f.org, impl.ChannelRCS)
		if err != nil || len(list) != 1 || list[0].ID != rcs.ID {
			t.Errorf("ListIntegrations(rcs) = %v, %v", list, err)
		}
		if list, _ := f.s.Integrations.ListIntegrations(ctx, f.org, ""); len(list) != 2 || list[0].ID != wa.ID {
			t.Errorf("ListIntegrations(all) = %v, want oldest first", list)
		}

		if err := f.s.Integrations.SetIntegrationActive(ctx, f.org, wa.ID, false); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.s.Integrations.FindIntegrationByID(ctx, f.org, wa.ID); got.Active {
			t.Error("still active after SetIntegrationActive(false)")
		}
		wantCode(t, f.s.Integrations.SetIntegrationActive(ctx, f.org, theirs.ID, false), impl.ENotFound)
		wantCode(t, f.s.Integrations.CreateIntegration(ctx, &impl.Integration{OrganizationID: 999, Channel: "rcs", Provider: "sandbox"}), impl.ENotFound)
	})
}

func TestTemplates(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		mk := func(org int64, name, lang, cat string, approved bool, context *string) *impl.Template {
			tp := &impl.Template{OrganizationID: org, Name: name, Language: lang, Category: cat, MetaApproved: approved,
				Context: context, Body: "Ola {{1}}", VariablesCount: 1}
			if err := f.s.Templates.CreateTemplate(ctx, tp); err != nil {
				t.Fatal(err)
			}
			return tp
		}
		onb := ptr("onboarding")
		a := mk(f.org, "boas_vindas", "pt_BR", "UTILITY", true, onb)
		mk(f.org, "boas_vindas", "en_US", "UTILITY", true, onb)
		mk(f.org, "Zeta", "pt_BR", "MARKETING", false, nil)
		mk(f.org, "alfa", "pt_BR", "MARKETING", true, nil)
		mk(f.other, "boas_vindas", "pt_BR", "UTILITY", true, onb)

		err := f.s.Templates.CreateTemplate(ctx, &impl.Template{OrganizationID: f.org, Name: "boas_vindas", Language: "pt_BR",
			Category: "UTILITY", Body: "x"})
		wantCode(t, err, impl.EConflict)

		byName, err := f.s.Templates.FindTemplatesByName(ctx, f.org, "boas_vindas")
		if err != nil || len(byName) != 2 || byName[0].Language != "en_US" {
			t.Errorf("FindTemplatesByName = %v, %v", byName, err)
		}
		if got, err := f.s.Templates.FindTemplateByID(ctx, f.org, a.ID); err != nil || *got.Context != "onboarding" || got.VariablesCount != 1 {
			t.Errorf("FindTemplateByID = %+v, %v", got, err)
		}
		theirs, _ := f.s.Templates.FindTemplatesByName(ctx, f.other, "boas_vindas")
		_, err = f.s.Templates.FindTemplateByID(ctx, f.org, theirs[0].ID)
		wantCode(t, err, impl.ENotFound)

		names := func(fl impl.TemplateFilter) []string {
			fl.Limit = 10
			ts, _, err := f.s.Templates.FindTemplates(ctx, f.org, fl)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, x := range ts {
				out = append(out, x.Name+"/"+x.Language)
			}
			return out
		}
		// Byte order on both databases: upper case first.
		if got := names(impl.TemplateFilter{}); len(got) != 4 || got[0] != "Zeta/pt_BR" || got[1] != "alfa/pt_BR" || got[2] != "boas_vindas/en_US" {
			t.Errorf("all = %v", got)
		}
		if got := names(impl.TemplateFilter{Category: ptr("MARKETING"), MetaApproved: ptr(true)}); len(got) != 1 || got[0] != "alfa/pt_BR" {
			t.Errorf("approved marketing = %v", got)
		}
		if got := names(impl.TemplateFilter{Context: onb}); len(got) != 2 {
			t.Errorf("context onboarding = %v", got)
		}
		if got := names(impl.TemplateFilter{MetaApproved: ptr(false)}); len(got) != 1 || got[0] != "Zeta/pt_BR" {
			t.Errorf("unapproved = %v", got)
		}
	})
}

func TestFinishMessage(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		in := f.integration(t, f.org, impl.ChannelWhatsApp)
		send := func(u impl.StatusUpdate) *impl.Message {
			m := &impl.Message{OrganizationID: f.org, IntegrationID: in.ID, Channel: in.Channel,
				Direction: impl.DirectionOutbound, Type: "text", Status: impl.StatusQueued, Phone: "5511999999999",
				Content: json.RawMessage(`{"text":"oi"}`)}
			if err := f.s.Messages.CreateMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			got, err := f.s.Messages.FinishMessage(ctx, f.org, m.ID, u)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		sent := send(impl.StatusUpdate{Status: impl.StatusSent, At: f.clock.now(), ProviderMessageID: "wamid.1"})
		failed := send(impl.StatusUpdate{Status: impl.StatusFailed, At: f.clock.now(), Error: "refused", ErrorCode: "131030"})
		if sent.Status != impl.StatusSent || sent.SentAt == nil || !sent.SentAt.Equal(t0.Truncate(time.Microsecond)) {
			t.Errorf("sent message = %+v", sent)
		}

		got, err := f.s.Messages.FindMessageByID(ctx, f.org, failed.ID)
		if err != nil || got.Status != impl.StatusFailed || *got.Error != "refused" || *got.ErrorCode != "131030" ||
			got.FailedAt == nil || got.SentAt != nil || string(got.Content) != `{"text":"oi"}` {
			t.Fatalf("failed message = %+v, %v", got, err)
		}
		_, err = f.s.Messages.FindMessageByID(ctx, f.other, sent.ID)
		wantCode(t, err, impl.ENotFound)

		events, err := f.s.Events.FindEvents(ctx, f.org, 0)
		if err != nil || len(events) != 2 || events[0].Type != impl.EventMessageSent || events[1].Type != impl.EventMessageFailed {
			t.Fatalf("events = %v, %v; want message.sent and message.failed", events, err)
		}
		// The payload is the message as the API returns it (gen/api).
		var payload api.Message
		if err := json.Unmarshal(events[0].Payload, &payload); err != nil || payload.Id != sent.ID ||
			string(payload.Status) != impl.StatusSent || providerID(payload) != "wamid.1" {
			t.Errorf("payload %s: %v", events[0].Payload, err)
		}
		if ev, _ := f.s.Events.FindEvents(ctx, f.other, 0); len(ev) != 0 {
			t.Errorf("another organization sees %d events", len(ev))
		}
		_, err = f.s.Messages.FinishMessage(ctx, f.other, sent.ID, impl.StatusUpdate{Status: impl.StatusFailed})
		wantCode(t, err, impl.ENotFound)
	})
}

func TestReceiveMessage(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		in := f.integration(t, f.org, impl.ChannelWhatsApp)
		inbound := func(wamid, phone string) *impl.Message {
			return &impl.Message{OrganizationID: f.org, IntegrationID: in.ID, Channel: in.Channel,
				Direction: impl.DirectionInbound, Type: "text", Status: impl.StatusReceived, Phone: phone,
				Content: json.RawMessage(`{"text":"oi"}`), ProviderMessageID: ptr(wamid)}
		}
		known := f.mustCreate(t, f.org, &impl.Lead{Phone: "5511911112222"})

		m := inbound("wamid.A", known.Phone)
		if dup, err := f.s.Messages.ReceiveMessage(ctx, m, ptr("Ana")); err != nil || dup {
			t.Fatalf("ReceiveMessage = %v, %v", dup, err)
		}
		if m.LeadID == nil || *m.LeadID != known.ID {
			t.Errorf("linked to lead %v, want %d", m.LeadID, known.ID)
		}
		if l := f.mustFind(t, f.org, known.ID); l.Name != nil {
			t.Errorf("an existing lead was renamed to %q", *l.Name)
		}

		// A new number creates its lead, named after the contact.
		n := inbound("wamid.B", "5511933334444")
		if _, err := f.s.Messages.ReceiveMessage(ctx, n, ptr("Bruno")); err != nil {
			t.Fatal(err)
		}
		created := f.mustFind(t, f.org, *n.LeadID)
		if created.Phone != "5511933334444" || created.Name == nil || *created.Name != "Bruno" || created.Temperature != impl.DefaultTemperature {
			t.Errorf("created lead %s", leadString(created))
		}

		// Meta redelivers: stored once.
		if dup, err := f.s.Messages.ReceiveMessage(ctx, inbound("wamid.A", known.Phone), nil); err != nil || !dup {
			t.Errorf("redelivery: duplicate=%v err=%v", dup, err)
		}
		page, err := f.s.Messages.FindMessages(ctx, f.org, impl.MessageFilter{Direction: ptr(impl.DirectionInbound), Limit: 10})
		if err != nil || page.Total != 2 || page.Messages[0].ID != n.ID {
			t.Fatalf("inbound messages: %+v (%v), want 2, newest first", page, err)
		}

		var types []string
		events, _ := f.s.Events.FindEvents(ctx, f.org, 0)
		for _, e := range events {
			types = append(types, e.Type)
		}
		// The known lead's creation, then each inbound message with the new
		// lead it created; the redelivery adds nothing.
		want := []string{impl.EventLeadCreated, impl.EventMessageReceived, impl.EventLeadCreated, impl.EventMessageReceived}
		if strings.Join(types, " ") != strings.Join(want, " ") {
			t.Errorf("events %v, want %v", types, want)
		}

		// Deleting the lead keeps its history, unlinked.
		if err := f.s.Leads.DeleteLead(ctx, f.org, known.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.s.Messages.FindMessageByID(ctx, f.org, m.ID); got.LeadID != nil {
			t.Errorf("message still linked to deleted lead %d", *got.LeadID)
		}
	})
}

// TestReceiveMessageRace delivers the same first message from a new contact
// concurrently, as Meta's retries can: one message, one lead, no error.
func TestReceiveMessageRace(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		in := f.integration(t, f.org, impl.ChannelWhatsApp)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := &impl.Message{OrganizationID: f.org, IntegrationID: in.ID, Channel: in.Channel,
					Direction: impl.DirectionInbound, Type: "text", Status: impl.StatusReceived, Phone: "5511955556666",
					Content: json.RawMessage(`{}`), ProviderMessageID: ptr("wamid.race")}
				_, err := f.s.Messages.ReceiveMessage(ctx, m, nil)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("ReceiveMessage: %v", err)
			}
		}
		page, err := f.s.Messages.FindMessages(ctx, f.org, impl.MessageFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		_, leads, _ := f.findLeads(ctx, f.org, impl.LeadFilter{Limit: 10})
		if page.Total != 1 || leads != 1 {
			t.Errorf("%d messages and %d leads, want 1 and 1", page.Total, leads)
		}
	})
}

func providerID(m api.Message) string {
	v, _ := m.ProviderMessageId.Get()
	return v
}

// On both databases the message list's count and page are prepared once
// and kept (listGet, listRows): their text must hold no value, or every
// filter value or cursor would prepare and keep one more. Walks with every
// combination of filters, by number and by cursor, then again with other
// values, prepare nothing new the second time.
func TestMessageListStatementsAreBounded(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) { messageListStatementsAreBounded(t, f) })
}

func messageListStatementsAreBounded(t *testing.T, f *fixture) {
	ctx := context.Background()
	in := f.integration(t, f.org, impl.ChannelWhatsApp)
	leads := [2]int64{}
	for i := range leads {
		l := &impl.Lead{Phone: fmt.Sprintf("55119000000%02d", i), Temperature: "warm"}
		f.mustCreate(t, f.org, l)
		leads[i] = l.ID
	}
	for i := range 12 {
		m := &impl.Message{OrganizationID: f.org, IntegrationID: in.ID, Channel: []string{"whatsapp", "rcs"}[i%2],
			Direction: []string{"outbound", "inbound"}[i%3/2], Type: "text", Status: []string{"queued", "sent", "failed"}[i%3],
			LeadID: &leads[i%2], Phone: "5511999999999", Content: json.RawMessage(`{"text":"oi"}`)}
		if err := f.s.Messages.CreateMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(lead int64, channel, direction, status string) {
		t.Helper()
		for mask := range 16 {
			var filter impl.MessageFilter
			if mask&1 != 0 {
				filter.LeadID = &lead
			}
			if mask&2 != 0 {
				filter.Channel = &channel
			}
			if mask&4 != 0 {
				filter.Direction = &direction
			}
			if mask&8 != 0 {
				filter.Status = &status
			}
			for _, offset := range []int64{0, 1} {
				filter.Limit, filter.Offset, filter.Cursor = 1, offset, ""
				for range 3 { // the page, then two by cursor
					page, err := f.s.Messages.FindMessages(ctx, f.org, filter)
					if err != nil {
						t.Fatalf("%+v: %v", filter, err)
					}
					if page.Next == "" {
						break
					}
					filter.Cursor, filter.Offset = page.Next, 0
				}
			}
		}
	}
	f.statementsBounded(t, 40, func() { walk(leads[0], "whatsapp", "outbound", "queued") },
		func() { walk(leads[1], "rcs", "inbound", "failed") })
}
