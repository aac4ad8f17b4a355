package impl

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var tl = time.Date(2026, 3, 13, 14, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return tl.Add(time.Duration(minutes) * time.Minute) }

func outbound(status string) *Message {
	return &Message{Direction: DirectionOutbound, Status: status}
}

func update(status string, minutes int) StatusUpdate {
	return StatusUpdate{Status: status, At: at(minutes)}
}

func TestAdvance(t *testing.T) {
	type step struct {
		u      StatusUpdate
		events []string
	}
	for _, tt := range []struct {
		what  string
		from  string
		steps []step
		want  string
	}{
		{"in order", StatusQueued, []step{
			{update(StatusSent, 1), []string{EventMessageSent}},
			{update(StatusDelivered, 2), []string{EventMessageDelivered}},
			{update(StatusRead, 3), []string{EventMessageRead}},
		}, StatusRead},
		{"read before delivered passes through delivered; the late delivered changes nothing", StatusSent, []step{
			{update(StatusRead, 3), []string{EventMessageDelivered, EventMessageRead}},
			{update(StatusDelivered, 2), nil},
		}, StatusRead},
		{"every report twice", StatusSent, []step{
			{update(StatusDelivered, 2), []string{EventMessageDelivered}},
			{update(StatusDelivered, 2), nil},
			{update(StatusRead, 3), []string{EventMessageRead}},
			{update(StatusRead, 3), nil},
		}, StatusRead},
		{"a report that beats the send's answer", StatusQueued, []step{
			{update(StatusDelivered, 2), []string{EventMessageSent, EventMessageDelivered}},
			{update(StatusSent, 1), nil},
		}, StatusDelivered},
		{"failed from sent", StatusSent, []step{{update(StatusFailed, 2), []string{EventMessageFailed}}}, StatusFailed},
		{"failed from delivered", StatusDelivered, []step{{update(StatusFailed, 2), []string{EventMessageFailed}}}, StatusFailed},
		{"failed from queued", StatusQueued, []step{{update(StatusFailed, 0), []string{EventMessageFailed}}}, StatusFailed},
		{"no failure after read", StatusRead, []step{{update(StatusFailed, 4), nil}}, StatusRead},
		{"failed is final", StatusFailed, []step{
			{update(StatusDelivered, 2), nil}, {update(StatusRead, 3), nil}, {update(StatusFailed, 4), nil},
		}, StatusFailed},
		{"a status no one reports", StatusSent, []step{{update("deleted", 2), nil}, {update(StatusQueued, 2), nil}}, StatusSent},
	} {
		t.Run(tt.what, func(t *testing.T) {
			m := outbound(tt.from)
			for i, s := range tt.steps {
				events, changed := m.Advance(s.u)
				if !slices.Equal(events, s.events) || changed != (len(s.events) > 0) {
					t.Errorf("step %d (%s): events %v changed %t, want %v", i, s.u.Status, events, changed, s.events)
				}
			}
			if m.Status != tt.want {
				t.Errorf("status %s, want %s", m.Status, tt.want)
			}
		})
	}
}

func TestAdvanceTimestamps(t *testing.T) {
	m := outbound(StatusSent)
	sent := at(1)
	m.SentAt = &sent
	m.Advance(update(StatusRead, 5))
	if m.DeliveredAt == nil || !m.DeliveredAt.Equal(at(5)) || m.ReadAt == nil || !m.ReadAt.Equal(at(5)) || !m.SentAt.Equal(at(1)) {
		t.Errorf("read without delivered: sent %v delivered %v read %v; want delivered and read at the read time", m.SentAt, m.DeliveredAt, m.ReadAt)
	}
	m.Advance(update(StatusDelivered, 3))
	if !m.DeliveredAt.Equal(at(5)) {
		t.Errorf("a late delivered moved delivered_at to %v", m.DeliveredAt)
	}

	f := outbound(StatusDelivered)
	f.Advance(StatusUpdate{Status: StatusFailed, At: at(7), Error: "Message failed to send because more than 24 hours have passed",
		ErrorCode: "131047", ErrorTitle: "Re-engagement message"})
	if f.FailedAt == nil || !f.FailedAt.Equal(at(7)) || *f.ErrorCode != "131047" || *f.ErrorTitle != "Re-engagement message" ||
		!strings.Contains(*f.Error, "24 hours") {
		t.Errorf("failed message %+v", f)
	}
	n := outbound(StatusQueued)
	n.Advance(StatusUpdate{Status: StatusFailed, At: at(0), Error: "refused"})
	if n.ErrorCode != nil || n.ErrorTitle != nil {
		t.Errorf("empty code and title stored as %v %v, want nil", n.ErrorCode, n.ErrorTitle)
	}
}

func TestAdvanceProviderID(t *testing.T) {
	m := outbound(StatusDelivered)
	events, changed := m.Advance(StatusUpdate{Status: StatusSent, At: at(1), ProviderMessageID: "wamid.A"})
	if len(events) != 0 || !changed || m.ProviderMessageID == nil || *m.ProviderMessageID != "wamid.A" || m.Status != StatusDelivered {
		t.Errorf("the send's late answer: events %v changed %t id %v status %s; want only the id recorded", events, changed, m.ProviderMessageID, m.Status)
	}
	if _, changed := m.Advance(StatusUpdate{Status: StatusSent, At: at(1), ProviderMessageID: "wamid.B"}); changed || *m.ProviderMessageID != "wamid.A" {
		t.Errorf("a second provider id replaced the first: %s", *m.ProviderMessageID)
	}
	in := &Message{Direction: DirectionInbound, Status: StatusReceived}
	if events, changed := in.Advance(update(StatusRead, 1)); events != nil || changed || in.Status != StatusReceived {
		t.Errorf("an inbound message advanced to %s", in.Status)
	}
}

// Whatever adapter read them, a provider's words reach the store as text
// both databases keep, and an id that is no id is not kept.
func TestAdvanceKeepsProviderWordsPlain(t *testing.T) {
	m := outbound(StatusQueued)
	m.Advance(StatusUpdate{Status: StatusSent, At: at(1), ProviderMessageID: "wamid.A\x00B"})
	if m.ProviderMessageID != nil {
		t.Errorf("provider id %q kept", *m.ProviderMessageID)
	}
	m.Advance(StatusUpdate{Status: StatusSent, At: at(1), ProviderMessageID: strings.Repeat("w", MaxProviderID+1)})
	if m.ProviderMessageID != nil {
		t.Errorf("a provider id of %d bytes kept", len(*m.ProviderMessageID))
	}
	m.Advance(StatusUpdate{Status: StatusFailed, At: at(2), Error: "bad\x00\nthing", ErrorCode: "13\x001", ErrorTitle: " Title\r\n"})
	if m.Status != StatusFailed || *m.Error != "bad  thing" || m.ErrorCode != nil || *m.ErrorTitle != "Title" {
		t.Errorf("failed with error %q, code %v, title %q", *m.Error, m.ErrorCode, *m.ErrorTitle)
	}
}

func TestMessageReference(t *testing.T) {
	if got := MessageReference(42); got != "iagente-42" {
		t.Errorf("MessageReference(42) = %q", got)
	}
	for ref, want := range map[string]int64{
		"iagente-42": 42, "iagente-9223372036854775807": 9223372036854775807,
		"iagente-0": 0, "iagente-042": 0, "iagente--1": 0, "iagente-": 0, "iagente-1x": 0, "other-42": 0, "": 0,
		"iagente-9223372036854775808": 0,
	} {
		if got := ParseMessageReference(ref); got != want {
			t.Errorf("ParseMessageReference(%q) = %d, want %d", ref, got, want)
		}
	}
}

func TestReportedTime(t *testing.T) {
	now := at(10)
	if got := ReportedTime(at(3), now); !got.Equal(at(3)) {
		t.Errorf("past time = %v", got)
	}
	if got := ReportedTime(at(30), now); !got.Equal(now) {
		t.Errorf("a time in the future = %v, want now", got)
	}
	if got := ReportedTime(time.Time{}, now); !got.Equal(now) {
		t.Errorf("no time = %v, want now", got)
	}
}

func TestCheckServiceWindow(t *testing.T) {
	last := at(0)
	closes := last.Add(24 * time.Hour)
	for _, tt := range []struct {
		what     string
		typ      string
		last     *time.Time
		now      time.Time
		open     bool
		closedAt string
	}{
		{"just written", "text", &last, at(1), true, ""},
		{"a nanosecond before 24 hours", "image", &last, closes.Add(-time.Nanosecond), true, ""},
		{"at 24 hours exactly", "text", &last, closes, false, "2026-03-14T14:00:00Z"},
		{"a day and a second", "document", &last, closes.Add(time.Second), false, "2026-03-14T14:00:00Z"},
		{"never wrote", "text", nil, at(1), false, ""},
		{"a template, never wrote", "template", nil, at(1), true, ""},
		{"a template, long after", "template", &last, closes.Add(90 * 24 * time.Hour), true, ""},
	} {
		err := CheckServiceWindow(tt.typ, "5511999999999", tt.last, tt.now)
		if (err == nil) != tt.open {
			t.Errorf("%s: err %v, want open %t", tt.what, err, tt.open)
			continue
		}
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != EOutsideWindow || !strings.Contains(e.Message, "template is required") {
			t.Errorf("%s: error %v", tt.what, err)
		}
		got := strings.Join(e.Details["window_closed_at"], "")
		if got != tt.closedAt || (tt.closedAt != "" && !strings.Contains(e.Message, tt.closedAt)) {
			t.Errorf("%s: window_closed_at %q, message %q; want %q", tt.what, got, e.Message, tt.closedAt)
		}
	}
}

func TestPlanTemplateSync(t *testing.T) {
	ctxOnb := "onboarding"
	removedBefore := at(-60)
	stored := []*Template{
		{ID: 1, Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY", Status: TemplateApproved, MetaApproved: true,
			Source: TemplateSourceLocal, Body: "Ola {{1}}", VariablesCount: 1, Context: &ctxOnb},
		{ID: 2, Name: "promo", Language: "pt_BR", Category: "MARKETING", Status: TemplateApproved, MetaApproved: true,
			Source: TemplateSourceMeta, WABAID: "111", Body: "Oferta!"},
		{ID: 3, Name: "velho", Language: "pt_BR", Category: "UTILITY", Status: TemplateApproved, MetaApproved: true,
			Source: TemplateSourceMeta, WABAID: "111", Body: "Ja era"},
		{ID: 4, Name: "outra_conta", Language: "pt_BR", Category: "UTILITY", Status: TemplateApproved, MetaApproved: true,
			Source: TemplateSourceMeta, WABAID: "222", Body: "De outra conta"},
		{ID: 5, Name: "volta", Language: "en_US", Category: "UTILITY", Status: TemplateApproved, MetaApproved: false,
			Source: TemplateSourceMeta, WABAID: "111", Body: "Back", RemovedAt: &removedBefore},
		{ID: 6, Name: "estranho", Language: "pt_BR", Category: "UTILITY", Status: TemplateApproved, MetaApproved: true,
			Source: TemplateSourceMeta, WABAID: "111", Body: "?"},
	}
	listing := &TemplateListing{Pages: 2, Templates: []ListedTemplate{
		{Name: "boas_vindas", Language: "pt_BR", Category: "UTILITY", Status: TemplateApproved, Body: "Ola {{1}}, seja bem-vindo!", VariablesCount: 1},
		{Name: "promo", Language: "pt_BR", Category: "MARKETING", Status: TemplateApproved, Body: "Oferta!"},
		{Name: "nova", Language: "es", Category: "MARKETING", Status: "PAUSED", Body: "Hola {{1}} {{2}}", VariablesCount: 2},
		{Name: "volta", Language: "en_US", Category: "UTILITY", Status: TemplateApproved, Body: "Back"},
		{Name: "estranho", Language: "pt_BR", Category: "UTILITY", Status: "LIMIT_EXCEEDED", Skip: "unknown status"},
		{Name: "promo", Language: "pt_BR", Category: "MARKETING", Status: "REJECTED", Body: "again"},
	}}
	plan := PlanTemplateSync(9, "111", stored, listing, at(0))
	r := plan.Result
	if r.Listed != 6 || r.Created != 1 || r.Updated != 2 || r.Unchanged != 1 || r.Removed != 1 || r.Skipped != 2 || r.Pages != 2 {
		t.Errorf("result %+v, want listed 6 created 1 updated 2 unchanged 1 removed 1 skipped 2 pages 2", r)
	}
	if len(plan.Insert) != 1 || plan.Insert[0].Name != "nova" || plan.Insert[0].MetaApproved || plan.Insert[0].OrganizationID != 9 ||
		plan.Insert[0].Source != TemplateSourceMeta || plan.Insert[0].WABAID != "111" || plan.Insert[0].VariablesCount != 2 {
		t.Errorf("insert %+v", plan.Insert)
	}
	byID := map[int64]*Template{}
	for _, u := range plan.Update {
		byID[u.ID] = u
	}
	if u := byID[1]; u == nil || u.Source != TemplateSourceMeta || u.WABAID != "111" || u.Context != &ctxOnb || u.Body != "Ola {{1}}, seja bem-vindo!" {
		t.Errorf("the local boas_vindas was not taken over as it should: %+v", u)
	}
	if u := byID[3]; u == nil || u.RemovedAt == nil || u.MetaApproved || u.Status != TemplateApproved {
		t.Errorf("velho, gone from Meta, not marked removed: %+v", u)
	}
	if u := byID[5]; u == nil || u.RemovedAt != nil || !u.MetaApproved {
		t.Errorf("volta, back at Meta, not restored: %+v", u)
	}
	if _, touched := byID[4]; touched {
		t.Error("another account's template was touched")
	}
	if _, touched := byID[6]; touched {
		t.Error("a skipped template was changed")
	}
	if u := byID[2]; u == nil || u.Status != TemplateApproved || u.SyncedAt == nil {
		t.Errorf("promo: the first listing of it should win and be touched: %+v", u)
	}
	for _, u := range plan.Update {
		if u.ID == 0 {
			t.Errorf("update without an id: %+v", u)
		}
	}
}

func TestTemplateSendable(t *testing.T) {
	gone := at(0)
	for _, tt := range []struct {
		status  string
		removed *time.Time
		want    bool
	}{
		{TemplateApproved, nil, true}, {TemplateApproved, &gone, false}, {TemplatePending, nil, false},
		{"REJECTED", nil, false}, {"PAUSED", nil, false}, {"DISABLED", nil, false},
	} {
		if got := TemplateSendable(tt.status, tt.removed); got != tt.want {
			t.Errorf("TemplateSendable(%s, removed %t) = %t", tt.status, tt.removed != nil, got)
		}
	}
}

func TestSettle(t *testing.T) {
	// The send timed out, but Meta's delivered report came first: the
	// report stands.
	m := outbound(StatusDelivered)
	if events, changed := m.Settle(StatusUpdate{Status: StatusFailed, At: at(1), Error: "no answer within the timeout"}); changed ||
		events != nil || m.Status != StatusDelivered || m.Error != nil {
		t.Errorf("a failed verdict after a report: %s, %v", m.Status, events)
	}
	q := outbound(StatusQueued)
	if events, _ := q.Settle(StatusUpdate{Status: StatusFailed, At: at(1), Error: "refused"}); q.Status != StatusFailed ||
		!slices.Equal(events, []string{EventMessageFailed}) {
		t.Errorf("a failed verdict on a queued message: %s, %v", q.Status, events)
	}
	s := outbound(StatusRead)
	if _, changed := s.Settle(StatusUpdate{Status: StatusSent, At: at(1), ProviderMessageID: "wamid.late"}); !changed ||
		*s.ProviderMessageID != "wamid.late" || s.Status != StatusRead {
		t.Errorf("a sent verdict after read: %s %v", s.Status, s.ProviderMessageID)
	}
}
