package impl

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLeadEvents(t *testing.T) {
	name := "Maria"
	base := Lead{Phone: "5511999999999", Name: &name, Temperature: TemperatureWarm}
	with := func(f func(*Lead)) *Lead { l := base; f(&l); return &l }
	for _, tt := range []struct {
		what          string
		before, after *Lead
		want          []string
	}{
		{"a new lead", nil, &base, []string{EventLeadCreated}},
		{"no change", &base, with(func(*Lead) {}), nil},
		{"the same name in another pointer", &base, with(func(l *Lead) { n := "Maria"; l.Name = &n }), nil},
		{"a new score", &base, with(func(l *Lead) { l.LeadScore = 10 }), []string{EventLeadUpdated}},
		{"becoming hot", &base, with(func(l *Lead) { l.Temperature = TemperatureHot }), []string{EventLeadUpdated, EventLeadQualified}},
		{"staying hot", with(func(l *Lead) { l.Temperature = TemperatureHot }),
			with(func(l *Lead) { l.Temperature = TemperatureHot; l.LeadScore = 99 }), []string{EventLeadUpdated}},
		{"cooling down", with(func(l *Lead) { l.Temperature = TemperatureHot }), &base, []string{EventLeadUpdated}},
		{"clearing the name", &base, with(func(l *Lead) { l.Name = nil }), []string{EventLeadUpdated}},
	} {
		if got := LeadEvents(tt.before, tt.after); !slices.Equal(got, tt.want) {
			t.Errorf("%s: LeadEvents = %v, want %v", tt.what, got, tt.want)
		}
	}
}

func TestNewInboundLead(t *testing.T) {
	name := "Ana"
	l := NewInboundLead(7, "+55 (11) 98888-7777", &name)
	if l.OrganizationID != 7 || l.Phone != "5511988887777" || l.Name != &name ||
		l.Temperature != DefaultTemperature || l.LeadScore != DefaultLeadScore {
		t.Fatalf("NewInboundLead = %+v", l)
	}
}

func TestCheckAPIKeyCap(t *testing.T) {
	if err := CheckAPIKeyCap(MaxActiveAPIKeys - 1); err != nil {
		t.Errorf("one below the cap: %v", err)
	}
	if err := CheckAPIKeyCap(MaxActiveAPIKeys); ErrorCode(err) != EConflict {
		t.Errorf("at the cap: %v, want %s", err, EConflict)
	}
}

func TestWebhookApply(t *testing.T) {
	now := time.Date(2026, 3, 13, 14, 0, 0, 0, time.UTC)
	reason := DisabledGone
	disabled := Webhook{Name: "a", Active: false, DisabledReason: &reason, DisabledAt: &now}
	on, off := true, false

	w := disabled
	if c := w.Apply(WebhookPatch{Active: &on}, now); !c.Changed || !c.Enabled || c.Disabled ||
		!w.Active || w.DisabledReason != nil || w.DisabledAt != nil || !w.UpdatedAt.Equal(now) {
		t.Errorf("enabling: %+v, webhook %+v", c, w)
	}
	w = Webhook{Name: "a", Active: true}
	if c := w.Apply(WebhookPatch{Active: &off}, now); !c.Disabled || w.Active || w.DisabledReason == nil ||
		*w.DisabledReason != DisabledThroughAPI || w.DisabledAt == nil {
		t.Errorf("disabling: %+v, webhook %+v", c, w)
	}
	w = Webhook{Name: "a", Active: true}
	if c := w.Apply(WebhookPatch{Active: &on}, now); c.Changed || !w.UpdatedAt.IsZero() {
		t.Errorf("enabling an active webhook changed it: %+v", c)
	}
	w = Webhook{Name: "a", Active: true}
	c := w.Apply(WebhookPatch{Events: []string{EventHandoffClosed, EventLeadCreated, EventHandoffClosed}}, now)
	if !c.Changed || !slices.Equal(w.Events, []string{EventLeadCreated, EventHandoffClosed}) {
		t.Errorf("events: %+v %v; want deduplicated in the catalog's order", c, w.Events)
	}
}

func TestCanRedeliver(t *testing.T) {
	active, inactive := &Webhook{Active: true}, &Webhook{Active: false}
	if err := active.CanRedeliver(DeliveryFailed); err != nil {
		t.Errorf("a failed delivery of an active webhook: %v", err)
	}
	if err := active.CanRedeliver(DeliveryPending); ErrorCode(err) != EConflict {
		t.Errorf("a pending delivery: %v", err)
	}
	err := inactive.CanRedeliver(DeliverySucceeded)
	if ErrorCode(err) != EConflict {
		t.Fatalf("a disabled webhook: %v", err)
	}
	// The rule is the domain's, whatever the transport: it names no HTTP verb.
	for _, verb := range []string{"PATCH", "POST", "PUT"} {
		if strings.Contains(err.Error(), verb) {
			t.Errorf("message %q names %s", err, verb)
		}
	}
}

func TestDisableAfterFailures(t *testing.T) {
	if _, disable := DisableAfterFailures(19, 20); disable {
		t.Error("disabled one failure early")
	}
	if reason, disable := DisableAfterFailures(20, 20); !disable || !strings.Contains(reason, "20") {
		t.Errorf("at the limit: %q %v", reason, disable)
	}
	if _, disable := DisableAfterFailures(1000, 0); disable {
		t.Error("0 must never disable")
	}
}

func TestNewWebhookSecret(t *testing.T) {
	a, b := NewWebhookSecret(), NewWebhookSecret()
	if a == b || !strings.HasPrefix(a, WebhookSecretPrefix) || len(a) != len(WebhookSecretPrefix)+44 {
		t.Fatalf("secrets %q %q", a, b)
	}
}

func TestIntegrationValidate(t *testing.T) {
	for _, tt := range []struct {
		in    Integration
		field string // "" when valid
	}{
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderSandbox}, ""},
		{Integration{Channel: ChannelRCS, Provider: ProviderSandbox}, ""},
		{Integration{Channel: "sms", Provider: ProviderSandbox}, "channel"},
		{Integration{Channel: ChannelWhatsApp, Provider: "twilio"}, "provider"},
		{Integration{Channel: ChannelRCS, Provider: ProviderWhatsAppCloud}, "provider"},
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderGoogleRBM}, "provider"},
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderWhatsAppCloud, AccessToken: "t", AppSecret: "s"}, "phone_number_id"},
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderWhatsAppCloud, PhoneNumberID: "1", AppSecret: "s"}, "access_token"},
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderWhatsAppCloud, PhoneNumberID: "1", AccessToken: "t"}, "app_secret"},
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderWhatsAppCloud, PhoneNumberID: "1", AccessToken: "t", AppSecret: "s"}, ""},
		{Integration{Channel: ChannelRCS, Provider: ProviderGoogleRBM}, "agent_id"},
		{Integration{Channel: ChannelRCS, Provider: ProviderGoogleRBM, AgentID: "a"}, ""},
		{Integration{Channel: ChannelRCS, Provider: ProviderGoogleRBM, AgentID: "a", Name: "RCS\x00"}, "name"},
		{Integration{Channel: ChannelRCS, Provider: ProviderGoogleRBM, AgentID: "a", Name: "two\nlines"}, "name"},
		{Integration{Channel: ChannelRCS, Provider: ProviderGoogleRBM, AgentID: "a\x00b"}, "agent_id"},
		{Integration{Channel: ChannelRCS, Provider: ProviderGoogleRBM, AgentID: "a", ClientToken: "to ken"}, "client_token"},
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderWhatsAppCloud, PhoneNumberID: "1\t", AccessToken: "t", AppSecret: "s"}, "phone_number_id"},
		{Integration{Channel: ChannelWhatsApp, Provider: ProviderWhatsAppCloud, PhoneNumberID: "1", AccessToken: "t\xff", AppSecret: "s"}, "access_token"},
	} {
		in := tt.in
		err := in.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.in, err)
			} else if in.Name == "" {
				t.Errorf("%+v: no name given", tt.in)
			}
			continue
		}
		var ae *Error
		if !asError(err, &ae) || ae.Code != EValidation || len(ae.Details[tt.field]) == 0 {
			t.Errorf("%+v: %v, want a validation error on %s", tt.in, err, tt.field)
		}
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func TestFailureStreaks(t *testing.T) {
	att := func(webhook int64, outcome string) Attempted {
		return Attempted{Delivery: &ClaimedDelivery{WebhookID: webhook}, Record: AttemptRecord{Outcome: outcome}}
	}
	test := att(1, OutcomeFailed)
	test.Delivery.Test = true
	for _, tt := range []struct {
		what     string
		attempts []Attempted
		want     map[int64]FailureStreak
	}{
		{"nothing", nil, map[int64]FailureStreak{}},
		{"a success restarts the count", []Attempted{att(1, OutcomeSucceeded)}, map[int64]FailureStreak{1: {Reset: true}}},
		{"failures add up", []Attempted{att(1, OutcomeFailed), att(1, OutcomeFailed)}, map[int64]FailureStreak{1: {Failed: 2}}},
		{"only the failures after the last success count",
			[]Attempted{att(1, OutcomeFailed), att(1, OutcomeSucceeded), att(1, OutcomeFailed)},
			map[int64]FailureStreak{1: {Reset: true, Failed: 1}}},
		{"a success after failures wipes them",
			[]Attempted{att(1, OutcomeFailed), att(1, OutcomeFailed), att(1, OutcomeSucceeded)},
			map[int64]FailureStreak{1: {Reset: true}}},
		{"retries and 410s do not count", []Attempted{att(1, OutcomeRetry), att(1, OutcomeGone)}, map[int64]FailureStreak{}},
		{"test deliveries do not count", []Attempted{test}, map[int64]FailureStreak{}},
		{"each webhook its own", []Attempted{att(1, OutcomeFailed), att(2, OutcomeSucceeded), att(1, OutcomeFailed)},
			map[int64]FailureStreak{1: {Failed: 2}, 2: {Reset: true}}},
	} {
		if got := FailureStreaks(tt.attempts); !maps.Equal(got, tt.want) {
			t.Errorf("%s: FailureStreaks = %v, want %v", tt.what, got, tt.want)
		}
	}
}

func TestRetentionCutoff(t *testing.T) {
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	if got, want := RetentionCutoff(now, DefaultDeliveryRetention), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("RetentionCutoff(30 days) = %v, want %v", got, want)
	}
}

func TestCheckWebhookCap(t *testing.T) {
	if err := CheckWebhookCap(MaxWebhooks - 1); err != nil {
		t.Errorf("one below the cap: %v", err)
	}
	if err := CheckWebhookCap(MaxWebhooks); ErrorCode(err) != EConflict {
		t.Errorf("at the cap: %v, want %s", err, EConflict)
	}
}
