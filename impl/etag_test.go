package impl

import (
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"
)

func etagLead() *Lead {
	name, email, company, deal := "Joao Silva", "joao@empresa.com", "Empresa LTDA", 15000.0
	created := time.Date(2026, 3, 13, 14, 2, 11, 123456000, time.UTC)
	return &Lead{ID: 123, OrganizationID: 7, Phone: "5511999999999", Name: &name, Email: &email,
		CompanyName: &company, Temperature: TemperatureHot, LeadScore: 85, DealValue: &deal,
		CreatedAt: created, UpdatedAt: created.Add(time.Hour)}
}

// The tag is a quoted strong entity tag, the same for the same lead in any
// process and any release that keeps the representation: a changed digest
// would answer 412 to every If-Match a client holds, so it is pinned.
func TestLeadETagIsStable(t *testing.T) {
	l := etagLead()
	got := l.ETag()
	if !regexp.MustCompile(`^"[A-Za-z0-9_-]{22}"$`).MatchString(got) {
		t.Fatalf("ETag %s is not a quoted 22-character tag", got)
	}
	if again := etagLead().ETag(); again != got {
		t.Errorf("the same lead gave %s, then %s", got, again)
	}
	const pinned = `"GojDmyqkrSRdO-rOW1z5aA"`
	if got != pinned {
		t.Errorf("ETag of the pinned lead is %s, want %s", got, pinned)
	}
	// The organization is not part of the representation; the zone of a
	// time is not either.
	other := etagLead()
	other.OrganizationID = 8
	other.CreatedAt = other.CreatedAt.In(time.FixedZone("BRT", -3*3600))
	if other.ETag() != got {
		t.Errorf("the organization or a time's zone changed the tag")
	}
}

// Every field the API shows moves the tag, and so do a missing value
// against an empty one and the boundary between two strings.
func TestLeadETagMovesWithEveryField(t *testing.T) {
	empty, x := "", "x"
	zero := 0.0
	changes := map[string]func(*Lead){
		"id":               func(l *Lead) { l.ID++ },
		"phone":            func(l *Lead) { l.Phone += "1" },
		"name":             func(l *Lead) { *l.Name += "!" },
		"name cleared":     func(l *Lead) { l.Name = nil },
		"name empty":       func(l *Lead) { l.Name = &empty },
		"email":            func(l *Lead) { l.Email = &x },
		"email cleared":    func(l *Lead) { l.Email = nil },
		"company":          func(l *Lead) { l.CompanyName = &x },
		"company cleared":  func(l *Lead) { l.CompanyName = nil },
		"temperature":      func(l *Lead) { l.Temperature = TemperatureWarm },
		"lead_score":       func(l *Lead) { l.LeadScore-- },
		"deal_value":       func(l *Lead) { *l.DealValue += 0.01 },
		"deal_value zero":  func(l *Lead) { l.DealValue = &zero },
		"deal_value null":  func(l *Lead) { l.DealValue = nil },
		"created_at":       func(l *Lead) { l.CreatedAt = l.CreatedAt.Add(time.Microsecond) },
		"updated_at":       func(l *Lead) { l.UpdatedAt = l.UpdatedAt.Add(time.Microsecond) },
		"boundary of name": func(l *Lead) { n, e := "Joao Silvaj", "oao@empresa.com"; l.Name, l.Email = &n, &e },
	}
	base := etagLead().ETag()
	seen := map[string]string{base: "the lead"}
	for what, change := range changes {
		l := etagLead()
		change(l)
		tag := l.ETag()
		if prev, dup := seen[tag]; dup {
			t.Errorf("%s gives the tag of %s", what, prev)
		}
		seen[tag] = what
	}
}

func TestMatchingETags(t *testing.T) {
	const cur = `"abc"`
	cases := []struct {
		header        string
		ifMatch, none bool
	}{
		{`"abc"`, true, true},
		{`*`, true, true},
		{` * `, true, true},
		{`W/"abc"`, false, true},
		{`"x", "abc"`, true, true},
		{`"x",W/"abc"`, false, true},
		{"\"x\"\t,\t\"abc\"", true, true},
		{`"x", "y"`, false, false},
		{`"ab"`, false, false},
		{`"abc`, false, false},
		{`abc`, false, false},
		{`"x" "abc"`, false, false},
		{`"a,b", "abc"`, true, true}, // a comma inside a tag is part of it
		{`"a,b"`, false, false},
		{``, false, false},
		{`W/`, false, false},
		{`"x",`, false, false},
		{`, "abc"`, false, false},
	}
	for _, c := range cases {
		if got := MatchesIfMatch(c.header, cur); got != c.ifMatch {
			t.Errorf("If-Match: %s against %s = %v, want %v", c.header, cur, got, c.ifMatch)
		}
		if got := MatchesIfNoneMatch(c.header, cur); got != c.none {
			t.Errorf("If-None-Match: %s against %s = %v, want %v", c.header, cur, got, c.none)
		}
	}
}

func TestChangedError(t *testing.T) {
	var err error = fmt.Errorf("update: %w", ErrLeadChanged(`"now"`))
	if ErrorCode(err) != EPreconditionFailed {
		t.Errorf("code %q, want %q", ErrorCode(err), EPreconditionFailed)
	}
	var ae *Error
	if !errors.As(err, &ae) || ae.Message == "" {
		t.Errorf("no application error in %v", err)
	}
	if tag, ok := CurrentETag(err); !ok || tag != `"now"` {
		t.Errorf("CurrentETag = %q, %v", tag, ok)
	}
	if _, ok := CurrentETag(Errorf(EConflict, "x")); ok {
		t.Error("another error carries a current tag")
	}
}
