package impl

import (
	"encoding/binary"
	"math"
	"slices"
)

// MessagePage is one page of the message history, newest first.
type MessagePage struct {
	Messages []*Message
	// Total is the number of messages matching the filters, on all pages.
	Total int64
	// Offset is how many messages come before this page's first: the
	// offset asked for, or, in a walk by cursor, how many messages the
	// walk returned before this page.
	Offset int64
	// Next is the cursor of the messages after this page, or "" when this
	// page is the last.
	Next string
}

// MessageQuery is a MessageFilter resolved for the store: the filters (a
// cursor's, in a walk) and where the page starts.
type MessageQuery struct {
	LeadID                     *int64
	Channel, Direction, Status *string
	Limit                      int
	// Offset is the number of messages to skip (numbered pages).
	Offset int64
	// Before, in a walk by cursor, is the id of the last message returned:
	// the page holds the messages older than it (ids are given in order).
	// 0 outside a walk. Seen is how many messages the walk returned.
	Before int64
	Seen   int64
}

// Resolve turns f into the query the store runs for organization orgID,
// reading f.Cursor with key (the server's message cursor key). A cursor
// that is malformed, altered, made for another organization or another
// list, a cursor with an Offset, and a filter that differs from the
// cursor's are EBadRequest; a filter left out takes the cursor's.
func (f MessageFilter) Resolve(key []byte, orgID int64) (MessageQuery, error) {
	q := MessageQuery{LeadID: f.LeadID, Channel: f.Channel, Direction: f.Direction, Status: f.Status,
		Limit: f.Limit, Offset: f.Offset}
	if f.Cursor == "" {
		return q, nil
	}
	if f.Offset != 0 {
		return MessageQuery{}, ErrCursorWithPage()
	}
	c, err := decodeMessageCursor(key, orgID, f.Cursor)
	if err != nil {
		return MessageQuery{}, err
	}
	if f.LeadID != nil && (c.LeadID == nil || *f.LeadID != *c.LeadID) {
		return MessageQuery{}, errCursorFilter("lead_id")
	}
	for _, filter := range []struct {
		name        string
		given, made *string
	}{{"channel", f.Channel, c.Channel}, {"direction", f.Direction, c.Direction}, {"status", f.Status, c.Status}} {
		if filter.given != nil && (filter.made == nil || *filter.given != *filter.made) {
			return MessageQuery{}, errCursorFilter(filter.name)
		}
	}
	q.LeadID, q.Channel, q.Direction, q.Status = c.LeadID, c.Channel, c.Direction, c.Status
	q.Before, q.Seen = c.Before, c.Seen
	return q, nil
}

// Start is how many messages come before the page: its offset, or in a
// walk how many messages the walk returned so far.
func (q MessageQuery) Start() int64 {
	if q.Before != 0 {
		return q.Seen
	}
	return q.Offset
}

// Next is the cursor that continues after lastID, the last message of a
// page of this query holding returned messages, for organization orgID.
func (q MessageQuery) Next(key []byte, orgID int64, lastID int64, returned int) string {
	return encodeMessageCursor(key, orgID, messageCursor{LeadID: q.LeadID, Channel: q.Channel,
		Direction: q.Direction, Status: q.Status, Before: lastID, Seen: q.Start() + int64(returned)})
}

// messageCursor is what a cursor of the message history says: its
// filters, the last message it returned, and how many it returned.
type messageCursor struct {
	LeadID                     *int64
	Channel, Direction, Status *string
	Before                     int64
	Seen                       int64
}

// A message cursor is sealed as a lead cursor is (sealCursor: version,
// tag, body; its own domain in the tag, so neither list takes the other's
// cursors). Its body:
//
//	flags (1 byte: messageCursorLead | …Channel | …Direction | …Status)
//	lead_id, when present: uvarint
//	channel, direction, status, each when present: 1 byte, its index in
//	  Channels, Directions, MessageStatuses
//	before (the last id returned): uvarint | seen: uvarint
const (
	messageCursorDomain = "iagente-sdr message cursor\x00"

	messageCursorLead      = 1 << 0
	messageCursorChannel   = 1 << 1
	messageCursorDirection = 1 << 2
	messageCursorStatus    = 1 << 3
	messageCursorFlags     = messageCursorLead | messageCursorChannel | messageCursorDirection | messageCursorStatus
)

// messageCursorEnums are the values a cursor's channel, direction and
// status are indexes in. New values are appended, so that old cursors
// keep their meaning.
var messageCursorEnums = []struct {
	flag   byte
	values []string
}{
	{messageCursorChannel, []string{ChannelWhatsApp, ChannelRCS}},
	{messageCursorDirection, []string{DirectionOutbound, DirectionInbound}},
	{messageCursorStatus, []string{StatusQueued, StatusSent, StatusDelivered, StatusRead, StatusFailed, StatusReceived}},
}

func encodeMessageCursor(key []byte, orgID int64, c messageCursor) string {
	var flags byte
	var fields []byte
	if c.LeadID != nil {
		flags |= messageCursorLead
		fields = binary.AppendUvarint(fields, uint64(*c.LeadID))
	}
	for i, v := range []*string{c.Channel, c.Direction, c.Status} {
		if v != nil {
			e := messageCursorEnums[i]
			flags |= e.flag
			fields = append(fields, byte(slices.Index(e.values, *v)))
		}
	}
	body := append([]byte{flags}, fields...)
	body = binary.AppendUvarint(body, uint64(c.Before))
	body = binary.AppendUvarint(body, uint64(c.Seen))
	return sealCursor(key, messageCursorDomain, orgID, body)
}

// decodeMessageCursor reads a cursor made by encodeMessageCursor with the
// same key for the same organization; anything else is errBadCursor.
func decodeMessageCursor(key []byte, orgID int64, s string) (messageCursor, error) {
	body, err := openCursor(key, messageCursorDomain, orgID, s)
	if err != nil {
		return messageCursor{}, err
	}
	r := cursorReader{b: body}
	var c messageCursor
	flags := r.byte()
	if r.bad || flags&^messageCursorFlags != 0 {
		return messageCursor{}, errBadCursor()
	}
	if flags&messageCursorLead != 0 {
		id := r.uvarint()
		if id == 0 || id > math.MaxInt64 {
			return messageCursor{}, errBadCursor()
		}
		c.LeadID = ptrTo(int64(id))
	}
	for i, dst := range []**string{&c.Channel, &c.Direction, &c.Status} {
		e := messageCursorEnums[i]
		if flags&e.flag == 0 {
			continue
		}
		if v := int(r.byte()); !r.bad && v < len(e.values) {
			*dst = ptrTo(e.values[v])
		} else {
			return messageCursor{}, errBadCursor()
		}
	}
	before, seen := r.uvarint(), r.uvarint()
	if r.bad || len(r.b) != 0 || before == 0 || before > math.MaxInt64 || seen > math.MaxInt64 {
		return messageCursor{}, errBadCursor()
	}
	c.Before, c.Seen = int64(before), int64(seen)
	return c, nil
}
