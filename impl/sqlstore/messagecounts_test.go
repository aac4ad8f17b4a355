package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

// wantMessageTotalsExact compares meta.total of GET /messages, for every
// combination of the channel, direction and status filters and for a
// lead, with the messages counted, in both organizations.
func (f *fixture) wantMessageTotalsExact(t *testing.T, after string, lead *int64) {
	t.Helper()
	ctx := context.Background()
	channels := []*string{nil, ptr(impl.ChannelWhatsApp), ptr(impl.ChannelRCS)}
	directions := []*string{nil, ptr(impl.DirectionInbound), ptr(impl.DirectionOutbound)}
	statuses := []*string{nil, ptr(impl.StatusQueued), ptr(impl.StatusSent), ptr(impl.StatusDelivered),
		ptr(impl.StatusRead), ptr(impl.StatusFailed), ptr(impl.StatusReceived)}
	leads := []*int64{nil}
	if lead != nil {
		leads = append(leads, lead)
	}
	wrong := 0
	for _, org := range []int64{f.org, f.other} {
		for _, ch := range channels {
			for _, dir := range directions {
				for _, st := range statuses {
					for _, ld := range leads {
						cond, args := []string{"organization_id = ?"}, []any{org}
						filter := impl.MessageFilter{Channel: ch, Direction: dir, Status: st, LeadID: ld, Limit: 1}
						for col, v := range map[string]*string{"channel": ch, "direction": dir, "status": st} {
							if v != nil {
								cond, args = append(cond, col+" = ?"), append(args, *v)
							}
						}
						if ld != nil {
							cond, args = append(cond, "lead_id = ?"), append(args, *ld)
						}
						var n int64
						if err := f.db.pool.GetContext(ctx, &n, f.db.rebind(`SELECT COUNT(*) FROM messages WHERE `+strings.Join(cond, " AND ")), args...); err != nil {
							t.Fatal(err)
						}
						var total int64
						var page []*impl.Message
						p, err := f.s.Messages.FindMessages(ctx, org, filter)
						if err == nil {
							total, page = p.Total, p.Messages
						}
						if err != nil || total != n || (n > 0) != (len(page) == 1) {
							if wrong++; wrong <= 5 {
								t.Errorf("after %s, organization %d, %s %v: total %d (page of %d), %v; %d messages counted",
									after, org, strings.Join(cond[1:], " AND "), args[1:], total, len(page), err, n)
							}
						}
					}
				}
			}
		}
	}
}

// wantMessagePagesExact pages through org's messages, three at a time,
// under a few filters, and compares each page with the messages' ids,
// newest first: a page past the first, read by its ids from an index,
// holds exactly the organization's rows it should.
func (f *fixture) wantMessagePagesExact(t *testing.T, org int64) {
	t.Helper()
	ctx := context.Background()
	for _, filter := range []impl.MessageFilter{{}, {Status: ptr(impl.StatusSent)}, {Channel: ptr(impl.ChannelWhatsApp), Direction: ptr(impl.DirectionOutbound)}} {
		cond, args := "organization_id = ?", []any{org}
		if filter.Status != nil {
			cond, args = cond+" AND status = ?", append(args, *filter.Status)
		}
		if filter.Channel != nil {
			cond, args = cond+" AND channel = ? AND direction = ?", append(args, *filter.Channel, *filter.Direction)
		}
		var want []int64
		if err := f.db.pool.SelectContext(ctx, &want, f.db.rebind(`SELECT id FROM messages WHERE `+cond+` ORDER BY id DESC`), args...); err != nil {
			t.Fatal(err)
		}
		var got []int64
		var next string // the cursor after page 2
		for offset := int64(0); offset < int64(len(want))+3; offset += 3 {
			filter.Offset, filter.Limit = offset, 3
			page, err := f.s.Messages.FindMessages(ctx, org, filter)
			if err != nil {
				t.Fatal(err)
			}
			if more := offset+3 < int64(len(want)); (page.Next != "") != more {
				t.Errorf("organization %d, %s %v, offset %d of %d: next cursor %q", org, cond, args[1:], offset, len(want), page.Next)
			}
			if offset == 3 {
				next = page.Next
			}
			for _, m := range page.Messages {
				got = append(got, m.ID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("organization %d, %s %v: pages hold %v, want %v", org, cond, args[1:], got, want)
		}
		// A walk by cursor from page 2 on, two at a time, holds the rest.
		walked := append([]int64(nil), got[:min(6, len(got))]...)
		for next != "" {
			page, err := f.s.Messages.FindMessages(ctx, org, impl.MessageFilter{Cursor: next, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != int64(len(want)) || page.Offset != int64(len(walked)) {
				t.Errorf("organization %d, %s %v: a walk's page after %d says total %d, offset %d", org, cond, args[1:], len(walked), page.Total, page.Offset)
			}
			for _, m := range page.Messages {
				walked = append(walked, m.ID)
			}
			next = page.Next
		}
		if fmt.Sprint(walked) != fmt.Sprint(want) {
			t.Errorf("organization %d, %s %v: the walk from page 2 holds %v, want %v", org, cond, args[1:], walked, want)
		}
	}
}

// TestMessageCountsFollowEveryWrite: the counters behind meta.total of GET
// /messages stay exact through the store's writes and through SQL written by
// hand (a bulk import, a bulk fix, a move, a bulk delete, an organization's
// deletion, TRUNCATE), because the database keeps them.
func TestMessageCountsFollowEveryWrite(t *testing.T) {
	forEachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.wantMessageTotalsExact(t, "nothing", nil)
		wa := f.integration(t, f.org, impl.ChannelWhatsApp)
		rcs := f.integration(t, f.org, impl.ChannelRCS)
		theirs := f.integration(t, f.other, impl.ChannelWhatsApp)
		lead := &impl.Lead{Phone: "5511977770000"}
		if err := f.s.Leads.CreateLead(ctx, f.org, lead); err != nil {
			t.Fatal(err)
		}

		send := func(in *impl.Integration, i int, leadID *int64) *impl.Message {
			m := &impl.Message{OrganizationID: in.OrganizationID, IntegrationID: in.ID, Channel: in.Channel, LeadID: leadID,
				Direction: impl.DirectionOutbound, Type: "text", Status: impl.StatusQueued, Phone: fmt.Sprintf("55119777%05d", i),
				Content: json.RawMessage(`{"text":"oi"}`)}
			if err := f.s.Messages.CreateMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		var sent []*impl.Message
		for i := range 12 {
			in := []*impl.Integration{wa, rcs, theirs}[i%3]
			var l *int64
			if in == wa && i%2 == 0 {
				l = &lead.ID
			}
			sent = append(sent, send(in, i, l))
		}
		for i := range 4 {
			in := []*impl.Integration{wa, rcs}[i%2]
			m := &impl.Message{OrganizationID: f.org, IntegrationID: in.ID, Channel: in.Channel, Direction: impl.DirectionInbound,
				Type: "text", Status: impl.StatusReceived, Phone: fmt.Sprintf("55119888%05d", i),
				ProviderMessageID: ptr(fmt.Sprintf("wamid.in.%d", i)), Content: json.RawMessage(`{"text":"ola"}`)}
			if _, err := f.s.Messages.ReceiveMessage(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
		f.wantMessageTotalsExact(t, "sending and receiving", &lead.ID)

		for i, m := range sent[:8] {
			u := impl.StatusUpdate{Status: impl.StatusSent, At: f.clock.now(), ProviderMessageID: fmt.Sprintf("wamid.%d", i)}
			if i%4 == 3 {
				u = impl.StatusUpdate{Status: impl.StatusFailed, At: f.clock.now(), Error: "refused"}
			}
			if _, err := f.s.Messages.FinishMessage(ctx, m.OrganizationID, m.ID, u); err != nil {
				t.Fatal(err)
			}
		}
		f.wantMessageTotalsExact(t, "the sends' outcomes", &lead.ID)
		f.wantMessagePagesExact(t, f.org)
		f.wantMessagePagesExact(t, f.other)

		for _, step := range []struct{ what, sql string }{
			{"a bulk import", `INSERT INTO messages (organization_id, integration_id, channel, direction, type, status, phone, content, created_at, updated_at)
				SELECT organization_id, integration_id, channel, direction, type, 'delivered', phone, content, created_at, updated_at FROM messages`},
			{"a bulk fix of statuses", `UPDATE messages SET status = 'read' WHERE status = 'delivered' AND id % 2 = 0`},
			{"an update that moves no counter", `UPDATE messages SET content = '{"text":"x"}', updated_at = updated_at`},
			{"a change of direction", `UPDATE messages SET direction = 'inbound' WHERE status = 'queued'`},
			{"a move to another organization", fmt.Sprintf(`UPDATE messages SET organization_id = %d, integration_id = %d WHERE status = 'failed'`, f.other, theirs.ID)},
			{"a bulk delete", `DELETE FROM messages WHERE status = 'sent' AND id % 3 = 0`},
			{"a lead's deletion", fmt.Sprintf(`DELETE FROM leads WHERE id = %d`, lead.ID)},
		} {
			if _, err := f.db.pool.ExecContext(ctx, step.sql); err != nil {
				t.Fatalf("%s: %v", step.what, err)
			}
			f.wantMessageTotalsExact(t, step.what, &lead.ID)
		}

		// An organization's deletion takes its counters with it.
		if _, err := f.db.pool.ExecContext(ctx, f.db.rebind(`DELETE FROM organizations WHERE id = ?`), f.other); err != nil {
			t.Fatal(err)
		}
		var left int64
		if err := f.db.pool.GetContext(ctx, &left, f.db.rebind(`SELECT COUNT(*) FROM message_counts WHERE organization_id = ?`), f.other); err != nil || left != 0 {
			t.Errorf("counters of a deleted organization: %d, %v", left, err)
		}
		f.wantMessageTotalsExact(t, "another organization's deletion", nil)

		wipe := `DELETE FROM messages`
		if f.db.Dialect() == Postgres {
			wipe = `TRUNCATE messages`
		}
		if _, err := f.db.pool.ExecContext(ctx, wipe); err != nil {
			t.Fatal(err)
		}
		f.wantMessageTotalsExact(t, wipe, nil)
		send(wa, 99, nil)
		f.wantMessageTotalsExact(t, "a send after "+wipe, nil)
	})
}
