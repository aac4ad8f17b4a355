package impl

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var cursorKey = []byte("0123456789abcdef0123456789abcdef")

func TestParseLeadSort(t *testing.T) {
	for in, want := range map[string]LeadSort{
		"":            DefaultLeadSort,
		"id":          {Field: "id"},
		"-name":       {Field: "name", Desc: true},
		"deal_value":  {Field: "deal_value"},
		"-created_at": {Field: "created_at", Desc: true},
	} {
		got, err := ParseLeadSort(in)
		if err != nil || got != want {
			t.Errorf("ParseLeadSort(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"phone", "-", "--id", "name; DROP TABLE leads", "Name"} {
		if _, err := ParseLeadSort(in); ErrorCode(err) != EBadRequest {
			t.Errorf("ParseLeadSort(%q): %v, want bad_request", in, err)
		}
	}
	if DefaultLeadSort.String() != "-created_at" {
		t.Errorf("the default sort is %s, want -created_at as the spec says", DefaultLeadSort)
	}
}

// walkFrom is a query that continues after a lead, made the way the store
// makes next cursors, and resolved again from that cursor.
func walkFrom(t *testing.T, org int64, q LeadQuery, last *Lead, returned int) (string, LeadQuery) {
	t.Helper()
	cursor := q.Next(cursorKey, org, last, returned)
	got, err := LeadFilter{Cursor: cursor, Limit: 10}.Resolve(cursorKey, org)
	if err != nil {
		t.Fatalf("a cursor the query made does not resolve: %v", err)
	}
	return cursor, got
}

func TestLeadCursorRoundTrip(t *testing.T) {
	name, empty := "João Ångström", ""
	deal, zero := 15000.5, 0.0
	at := time.Date(2026, 3, 13, 14, 2, 11, 123456000, time.UTC)
	lead := &Lead{ID: 42, Name: &name, DealValue: &deal, LeadScore: 85, CreatedAt: at, UpdatedAt: at.Add(time.Hour)}
	hot, phone, email := "hot", "5511999999999", "maria@empresa.com"
	for _, tt := range []struct {
		what  string
		sort  string
		lead  *Lead
		value any
	}{
		{"by id", "id", lead, nil},
		{"by -id", "-id", lead, nil},
		{"by name", "name", lead, name},
		{"an empty name is a value", "-name", &Lead{ID: 7, Name: &empty}, ""},
		{"no name", "name", &Lead{ID: 7}, nil},
		{"by deal value", "-deal_value", lead, deal},
		{"a zero deal value is a value", "deal_value", &Lead{ID: 7, DealValue: &zero}, 0.0},
		{"no deal value", "-deal_value", &Lead{ID: 7}, nil},
		{"by score", "lead_score", lead, int32(85)},
		{"by created_at", "-created_at", lead, at},
		{"by updated_at", "updated_at", lead, at.Add(time.Hour)},
	} {
		t.Run(tt.what, func(t *testing.T) {
			sort, _ := ParseLeadSort(tt.sort)
			q := LeadQuery{Sort: sort, Temperature: &hot, Phone: &phone, Email: &email, Limit: 25, Offset: 75}
			cursor, got := walkFrom(t, 9, q, tt.lead, 25)
			if strings.Trim(cursor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				t.Errorf("cursor %q has characters outside the spec's pattern", cursor)
			}
			want := LeadQuery{Sort: sort, Temperature: &hot, Phone: &phone, Email: &email, Limit: 10,
				After: &LeadKey{Value: tt.value, ID: tt.lead.ID}, Seen: 100}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("resolved\n %s\nwant\n %s", dump(got), dump(want))
			}
			if got.Start() != 100 {
				t.Errorf("a page after 75 + 25 leads starts at %d", got.Start())
			}
		})
	}
	t.Run("a walk counts on", func(t *testing.T) {
		q := LeadQuery{Sort: DefaultLeadSort, Limit: 25}
		_, q = walkFrom(t, 9, q, lead, 25)
		_, q = walkFrom(t, 9, q, lead, 10)
		if q.Seen != 35 || q.Start() != 35 {
			t.Errorf("after 25 and 10 leads the walk has seen %d", q.Seen)
		}
	})
	t.Run("filters left out stay out", func(t *testing.T) {
		_, got := walkFrom(t, 9, LeadQuery{Sort: DefaultLeadSort, Limit: 1}, lead, 1)
		if got.Phone != nil || got.Email != nil || got.Temperature != nil {
			t.Errorf("a cursor of an unfiltered list resolves with filters: %s", dump(got))
		}
	})
}

func dump(q LeadQuery) string {
	s := func(p *string) string {
		if p == nil {
			return "nil"
		}
		return *p
	}
	after := "nil"
	if q.After != nil {
		after = fmt.Sprintf("%T(%v)/%d", q.After.Value, q.After.Value, q.After.ID)
	}
	return fmt.Sprintf("sort=%s phone=%s email=%s temperature=%s after=%s seen=%d offset=%d limit=%d",
		q.Sort, s(q.Phone), s(q.Email), s(q.Temperature), after, q.Seen, q.Offset, q.Limit)
}

func TestLeadCursorRules(t *testing.T) {
	hot, cold, email := "hot", "cold", "maria@empresa.com"
	lead := &Lead{ID: 42, LeadScore: 85}
	byScore := LeadQuery{Sort: LeadSort{Field: "lead_score", Desc: true}, Temperature: &hot, Email: &email, Limit: 25}
	cursor := byScore.Next(cursorKey, 9, lead, 25)

	ok := func(what string, f LeadFilter) {
		t.Helper()
		f.Cursor, f.Limit = cursor, 25
		if _, err := f.Resolve(cursorKey, 9); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	bad := func(what string, f LeadFilter, detail string) {
		t.Helper()
		f.Limit = 25
		if f.Cursor == "" {
			f.Cursor = cursor
		}
		_, err := f.Resolve(cursorKey, 9)
		wantCursorError(t, what, err, detail)
	}
	ok("nothing repeated", LeadFilter{})
	ok("sort and filters repeated", LeadFilter{Sort: "-lead_score", Temperature: &hot, Email: &email})
	ok("the e-mail repeated in another case", LeadFilter{Email: ptrTo(" Maria@Empresa.COM")})

	bad("another sort", LeadFilter{Sort: "lead_score"}, "sort=-lead_score")
	bad("the default sort named", LeadFilter{Sort: "-created_at"}, "sort=-lead_score")
	bad("another temperature", LeadFilter{Temperature: &cold}, "temperature")
	bad("another e-mail", LeadFilter{Email: ptrTo("joao@empresa.com")}, "email")
	bad("a filter the cursor did not have", LeadFilter{Phone: ptrTo("5511999999999")}, "phone")
	bad("with an offset", LeadFilter{Offset: 25}, "page")
	bad("another organization's", LeadFilter{Cursor: byScore.Next(cursorKey, 10, lead, 25)}, "not a cursor")
	bad("another server key's", LeadFilter{Cursor: byScore.Next([]byte("another key, as long as the first"), 9, lead, 25)}, "not a cursor")

	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	// Every single changed bit, anywhere, is caught.
	flippedBits(raw, func(what, c string) { bad(what, LeadFilter{Cursor: c}, "not a cursor") })
	for what, c := range map[string]string{
		"cut short":          cursor[:len(cursor)-3],
		"one byte more":      base64.RawURLEncoding.EncodeToString(append(raw, 0)),
		"not base64":         "!!!!",
		"padded":             cursor + "=",
		"only the version":   "AQ",
		"an unknown version": base64.RawURLEncoding.EncodeToString(append([]byte{2}, raw[1:]...)),
		"empty body":         base64.RawURLEncoding.EncodeToString(raw[:17]),
	} {
		bad(what, LeadFilter{Cursor: c}, "not a cursor")
	}
}

// flippedBits calls try with raw, base64url-encoded, once for every
// single bit flipped, anywhere in it.
func flippedBits(raw []byte, try func(what, cursor string)) {
	for i := range raw {
		for bit := range 8 {
			altered := append([]byte(nil), raw...)
			altered[i] ^= 1 << bit
			try(fmt.Sprintf("bit %d of byte %d flipped", bit, i), base64.RawURLEncoding.EncodeToString(altered))
		}
	}
}

// wantCursorError checks that err is bad_request with details on cursor
// alone, saying detail.
func wantCursorError(t *testing.T, what string, err error, detail string) {
	t.Helper()
	e, isErr := err.(*Error)
	if !isErr || e.Code != EBadRequest || len(e.Details["cursor"]) != 1 || len(e.Details) != 1 {
		t.Errorf("%s: %v, want bad_request with details on cursor alone", what, err)
		return
	}
	if !strings.Contains(e.Details["cursor"][0], detail) {
		t.Errorf("%s: details %q, want them to say %q", what, e.Details["cursor"][0], detail)
	}
}

// TestLeadCursorBodies checks the parse of bodies that carry a valid tag,
// as a leaked key would allow: none may resolve to a query the store
// cannot run.
func TestLeadCursorBodies(t *testing.T) {
	sign := func(body []byte) string {
		return base64.RawURLEncoding.EncodeToString(append(append([]byte{cursorVersion}, cursorTag(cursorKey, leadCursorDomain, 9, body)...), body...))
	}
	uv := binary.AppendUvarint
	f64 := func(v float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(v)) }
	sortIndex := func(key string) byte {
		for i, k := range leadSortKeys {
			if k == key {
				return byte(i)
			}
		}
		panic(key)
	}
	good := uv(uv([]byte{sortIndex("id"), 0}, 42), 0)
	if _, err := (LeadFilter{Cursor: sign(good), Limit: 1}).Resolve(cursorKey, 9); err != nil {
		t.Fatalf("a well-formed body does not resolve: %v", err)
	}
	for what, body := range map[string][]byte{
		"an unknown sort":              uv(uv([]byte{byte(len(leadSortKeys)), 0}, 42), 0),
		"an unknown flag":              uv(uv([]byte{sortIndex("id"), 1 << 4}, 42), 0),
		"a value in the order by id":   uv(uv([]byte{sortIndex("id"), cursorValue}, 42), 0),
		"no value for a score":         uv(uv([]byte{sortIndex("lead_score"), 0}, 42), 0),
		"id 0":                         uv(uv([]byte{sortIndex("id"), 0}, 0), 0),
		"an id beyond int64":           uv(uv([]byte{sortIndex("id"), 0}, math.MaxUint64), 0),
		"a temperature that is none":   uv(uv(append(uv([]byte{sortIndex("id"), cursorTemperature}, 6), "warmer"...), 42), 0),
		"a string longer than the end": uv(uv(uv([]byte{sortIndex("id"), cursorPhone}, 200), 42), 0),
		"a huge string length":         uv(uv(uv([]byte{sortIndex("id"), cursorEmail}, 1<<40), 42), 0),
		"a NaN deal value":             uv(uv(append([]byte{sortIndex("deal_value"), cursorValue}, f64(math.NaN())...), 42), 0),
		"an infinite deal value":       uv(uv(append([]byte{sortIndex("deal_value"), cursorValue}, f64(math.Inf(1))...), 42), 0),
		"a score beyond int32":         uv(uv(binary.AppendVarint([]byte{sortIndex("lead_score"), cursorValue}, math.MaxInt32+1), 42), 0),
		"trailing bytes":               append(good, 0),
		"no seen count":                uv([]byte{sortIndex("id"), 0}, 42),
	} {
		_, err := (LeadFilter{Cursor: sign(body), Limit: 1}).Resolve(cursorKey, 9)
		if ErrorCode(err) != EBadRequest {
			t.Errorf("%s: %v, want bad_request", what, err)
		}
	}
}
