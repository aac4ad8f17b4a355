package impl

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"reflect"
	"testing"
)

func TestDeliveryCursorRoundTrip(t *testing.T) {
	failed := DeliveryFailed
	for _, q := range []DeliveryQuery{
		{Limit: 25},
		{Limit: 25, Offset: 50, Status: &failed},
		{Limit: 10, Before: 900, Seen: 30, Status: ptrTo(DeliveryPending)},
	} {
		cursor := q.Next(cursorKey, 9, 7, 4521, 10)
		got, err := DeliveryFilter{Cursor: cursor, Limit: 3}.Resolve(cursorKey, 9, 7)
		if err != nil {
			t.Fatalf("%+v: a cursor the query made does not resolve: %v", q, err)
		}
		want := DeliveryQuery{Status: q.Status, Limit: 3, Before: 4521, Seen: q.Start() + 10}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: resolves to %+v, want %+v", q, got, want)
		}
	}
}

func TestDeliveryCursorRules(t *testing.T) {
	succeeded, failed := DeliverySucceeded, DeliveryFailed
	q := DeliveryQuery{Status: &succeeded, Limit: 25}
	cursor := q.Next(cursorKey, 9, 7, 4521, 25)
	resolve := func(f DeliveryFilter, webhook int64) error {
		f.Limit = 25
		if f.Cursor == "" {
			f.Cursor = cursor
		}
		_, err := f.Resolve(cursorKey, 9, webhook)
		return err
	}
	for what, f := range map[string]DeliveryFilter{"nothing repeated": {}, "the status repeated": {Status: &succeeded}} {
		if err := resolve(f, 7); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	wantCursorError(t, "another webhook's", resolve(DeliveryFilter{}, 8), "another webhook")
	wantCursorError(t, "another status", resolve(DeliveryFilter{Status: &failed}, 7), "status")
	wantCursorError(t, "with an offset", resolve(DeliveryFilter{Offset: 25}, 7), "page")
	wantCursorError(t, "the dashboard's list", resolve(DeliveryFilter{ExcludeTests: true}, 7), "not a cursor")
	wantCursorError(t, "another organization's", resolve(DeliveryFilter{Cursor: q.Next(cursorKey, 10, 7, 4521, 25)}, 7), "not a cursor")
	wantCursorError(t, "a message cursor", resolve(DeliveryFilter{Cursor: MessageQuery{Limit: 25}.Next(cursorKey, 9, 4521, 25)}, 7), "not a cursor")
	if _, err := (MessageFilter{Cursor: cursor, Limit: 25}).Resolve(cursorKey, 9); ErrorCode(err) != EBadRequest {
		t.Errorf("a delivery cursor given to the message list: %v, want bad_request", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	flippedBits(raw, func(what, c string) { wantCursorError(t, what, resolve(DeliveryFilter{Cursor: c}, 7), "not a cursor") })
}

// TestDeliveryCursorBodies: bodies with a valid tag, as a leaked key
// would allow, never resolve to a query the store cannot run.
func TestDeliveryCursorBodies(t *testing.T) {
	sign := func(body []byte) string { return sealCursor(cursorKey, deliveryCursorDomain, 9, body) }
	uv := binary.AppendUvarint
	good := uv(uv(append(uv([]byte{deliveryCursorStatus}, 7), 2), 42), 0)
	if q, err := (DeliveryFilter{Cursor: sign(good), Limit: 1}).Resolve(cursorKey, 9, 7); err != nil || *q.Status != DeliveryFailed || q.Before != 42 {
		t.Fatalf("a well-formed body resolves to %+v, %v", q, err)
	}
	for what, body := range map[string][]byte{
		"an unknown flag":        uv(uv(uv([]byte{1 << 1}, 7), 42), 0),
		"an unknown status":      uv(uv(append(uv([]byte{deliveryCursorStatus}, 7), 3), 42), 0),
		"webhook 0":              uv(uv(uv([]byte{0}, 0), 42), 0),
		"a webhook beyond int64": uv(uv(uv([]byte{0}, math.MaxUint64), 42), 0),
		"before 0":               uv(uv(uv([]byte{0}, 7), 0), 0),
		"seen beyond int64":      uv(uv(uv([]byte{0}, 7), 42), math.MaxUint64),
		"no status byte":         uv([]byte{deliveryCursorStatus}, 7),
		"trailing bytes":         append(append([]byte(nil), good...), 0),
		"no seen count":          uv(uv([]byte{0}, 7), 42),
		"nothing":                {},
	} {
		if _, err := (DeliveryFilter{Cursor: sign(body), Limit: 1}).Resolve(cursorKey, 9, 7); ErrorCode(err) != EBadRequest {
			t.Errorf("%s: %v, want bad_request", what, err)
		}
	}
}
