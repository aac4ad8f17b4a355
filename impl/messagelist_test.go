package impl

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"reflect"
	"testing"
)

func TestMessageCursorRoundTrip(t *testing.T) {
	lead, wa, out, read := int64(77), ChannelWhatsApp, DirectionOutbound, StatusRead
	for _, q := range []MessageQuery{
		{Limit: 25},
		{Limit: 25, Offset: 50},
		{LeadID: &lead, Limit: 10},
		{Channel: &wa, Direction: &out, Status: &read, Limit: 10, Before: 900, Seen: 30},
		{LeadID: &lead, Channel: &wa, Status: ptrTo(StatusReceived), Limit: 1},
	} {
		cursor := q.Next(cursorKey, 9, 4521, 10)
		got, err := MessageFilter{Cursor: cursor, Limit: 3}.Resolve(cursorKey, 9)
		if err != nil {
			t.Fatalf("%+v: a cursor the query made does not resolve: %v", q, err)
		}
		want := q
		want.Limit, want.Offset, want.Before, want.Seen = 3, 0, 4521, q.Start()+10
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: resolves to %+v, want %+v", q, got, want)
		}
		if got.Start() != want.Seen {
			t.Errorf("%+v: a walk's page starts at %d, want %d", q, got.Start(), want.Seen)
		}
	}
}

func TestMessageCursorRules(t *testing.T) {
	lead, other, wa, rcs, in := int64(77), int64(78), ChannelWhatsApp, ChannelRCS, DirectionInbound
	q := MessageQuery{LeadID: &lead, Channel: &wa, Limit: 25}
	cursor := q.Next(cursorKey, 9, 4521, 25)

	ok := func(what string, f MessageFilter) {
		t.Helper()
		f.Cursor, f.Limit = cursor, 25
		if _, err := f.Resolve(cursorKey, 9); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	bad := func(what string, f MessageFilter, detail string) {
		t.Helper()
		f.Limit = 25
		if f.Cursor == "" {
			f.Cursor = cursor
		}
		_, err := f.Resolve(cursorKey, 9)
		wantCursorError(t, what, err, detail)
	}
	ok("nothing repeated", MessageFilter{})
	ok("the filters repeated", MessageFilter{LeadID: &lead, Channel: &wa})

	bad("another lead", MessageFilter{LeadID: &other}, "lead_id")
	bad("another channel", MessageFilter{Channel: &rcs}, "channel")
	bad("a filter the cursor did not have", MessageFilter{Direction: &in}, "direction")
	bad("a status the cursor did not have", MessageFilter{Status: ptrTo(StatusFailed)}, "status")
	bad("with an offset", MessageFilter{Offset: 25}, "page")
	bad("another organization's", MessageFilter{Cursor: q.Next(cursorKey, 10, 4521, 25)}, "not a cursor")
	bad("another server key's", MessageFilter{Cursor: q.Next([]byte("another key, as long as the first"), 9, 4521, 25)}, "not a cursor")
	// The lists' cursors are signed apart: a cursor of the lead list with
	// the same key and organization is not a message cursor, and back.
	leadCursor := LeadQuery{Sort: LeadSort{Field: "id"}, Limit: 25}.Next(cursorKey, 9, &Lead{ID: 4521}, 25)
	bad("a cursor of the lead list", MessageFilter{Cursor: leadCursor}, "not a cursor")
	if _, err := (LeadFilter{Cursor: cursor, Limit: 25}).Resolve(cursorKey, 9); ErrorCode(err) != EBadRequest {
		t.Errorf("a message cursor given to the lead list: %v, want bad_request", err)
	}

	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	flippedBits(raw, func(what, c string) { bad(what, MessageFilter{Cursor: c}, "not a cursor") })
	for what, c := range map[string]string{
		"cut short":     cursor[:len(cursor)-3],
		"one byte more": base64.RawURLEncoding.EncodeToString(append(raw, 0)),
		"not base64":    "!!!!",
		"padded":        cursor + "=",
		"empty body":    base64.RawURLEncoding.EncodeToString(raw[:17]),
	} {
		bad(what, MessageFilter{Cursor: c}, "not a cursor")
	}
}

// TestMessageCursorBodies checks the parse of bodies that carry a valid
// tag, as a leaked key would allow: none may resolve to a query the store
// cannot run.
func TestMessageCursorBodies(t *testing.T) {
	sign := func(body []byte) string { return sealCursor(cursorKey, messageCursorDomain, 9, body) }
	uv := binary.AppendUvarint
	good := uv(uv([]byte{messageCursorChannel | messageCursorStatus, 1, 5}, 42), 0)
	if q, err := (MessageFilter{Cursor: sign(good), Limit: 1}).Resolve(cursorKey, 9); err != nil ||
		*q.Channel != ChannelRCS || *q.Status != StatusReceived || q.Before != 42 {
		t.Fatalf("a well-formed body resolves to %+v, %v", q, err)
	}
	for what, body := range map[string][]byte{
		"an unknown flag":       uv(uv([]byte{1 << 4}, 42), 0),
		"an unknown channel":    uv(uv([]byte{messageCursorChannel, 2}, 42), 0),
		"an unknown direction":  uv(uv([]byte{messageCursorDirection, 2}, 42), 0),
		"an unknown status":     uv(uv([]byte{messageCursorStatus, 6}, 42), 0),
		"lead 0":                uv(uv(uv([]byte{messageCursorLead}, 0), 42), 0),
		"a lead beyond int64":   uv(uv(uv([]byte{messageCursorLead}, math.MaxUint64), 42), 0),
		"before 0":              uv(uv([]byte{0}, 0), 0),
		"before beyond int64":   uv(uv([]byte{0}, math.MaxUint64), 0),
		"seen beyond int64":     uv(uv([]byte{0}, 42), math.MaxUint64),
		"no channel byte":       {messageCursorChannel},
		"trailing bytes":        append(append([]byte(nil), good...), 0),
		"no seen count":         uv([]byte{0}, 42),
		"nothing after the tag": {},
	} {
		_, err := (MessageFilter{Cursor: sign(body), Limit: 1}).Resolve(cursorKey, 9)
		if ErrorCode(err) != EBadRequest {
			t.Errorf("%s: %v, want bad_request", what, err)
		}
	}
}
