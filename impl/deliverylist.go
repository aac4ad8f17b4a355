package impl

import (
	"encoding/binary"
	"math"
	"slices"
)

// DeliveryPage is one page of a webhook's delivery log, newest first.
type DeliveryPage struct {
	Deliveries []*Delivery
	// Total is the number of deliveries matching the filter, on all pages.
	Total int64
	// Offset is how many deliveries come before this page's first: the
	// offset asked for, or, in a walk by cursor, how many deliveries the
	// walk returned before this page.
	Offset int64
	// Next is the cursor of the deliveries after this page, or "" when
	// this page is the last (and always "" for ExcludeTests).
	Next string
}

// DeliveryQuery is a DeliveryFilter resolved for the store: the filter (a
// cursor's, in a walk) and where the page starts.
type DeliveryQuery struct {
	Status       *string
	ExcludeTests bool
	Limit        int
	// Offset is the number of deliveries to skip (numbered pages).
	Offset int64
	// Before, in a walk by cursor, is the id of the last delivery
	// returned: the page holds the older ones. 0 outside a walk. Seen is
	// how many deliveries the walk returned.
	Before int64
	Seen   int64
}

// Resolve turns f into the query the store runs for webhook webhookID of
// organization orgID, reading f.Cursor with key (the server's delivery
// cursor key). A cursor that is malformed, altered, made for another
// organization, webhook or list, a cursor with an Offset or with
// ExcludeTests, and a status that differs from the cursor's are
// EBadRequest; a status left out takes the cursor's.
func (f DeliveryFilter) Resolve(key []byte, orgID, webhookID int64) (DeliveryQuery, error) {
	q := DeliveryQuery{Status: f.Status, ExcludeTests: f.ExcludeTests, Limit: f.Limit, Offset: f.Offset}
	if f.Cursor == "" {
		return q, nil
	}
	if f.Offset != 0 {
		return DeliveryQuery{}, ErrCursorWithPage()
	}
	if f.ExcludeTests {
		return DeliveryQuery{}, errBadCursor() // the dashboard's list is never walked
	}
	c, err := decodeDeliveryCursor(key, orgID, f.Cursor)
	if err != nil {
		return DeliveryQuery{}, err
	}
	if c.WebhookID != webhookID {
		return DeliveryQuery{}, Errorf(EBadRequest, "The request has invalid parameters.").
			WithDetailText("cursor", Text{
				En:   "was made for another webhook's deliveries",
				PtBR: "O campo cursor foi gerado para as entregas de outro webhook.",
			})
	}
	if f.Status != nil && (c.Status == nil || *f.Status != *c.Status) {
		return DeliveryQuery{}, errCursorFilter("status")
	}
	q.Status, q.Before, q.Seen = c.Status, c.Before, c.Seen
	return q, nil
}

// Start is how many deliveries come before the page: its offset, or in a
// walk how many deliveries the walk returned so far.
func (q DeliveryQuery) Start() int64 {
	if q.Before != 0 {
		return q.Seen
	}
	return q.Offset
}

// Next is the cursor that continues after lastID, the last delivery of a
// page of this query holding returned deliveries, for webhook webhookID of
// organization orgID.
func (q DeliveryQuery) Next(key []byte, orgID, webhookID, lastID int64, returned int) string {
	return encodeDeliveryCursor(key, orgID, deliveryCursor{WebhookID: webhookID, Status: q.Status,
		Before: lastID, Seen: q.Start() + int64(returned)})
}

// deliveryCursor is what a cursor of a delivery log says: the webhook and
// the status filter, the last delivery it returned, and how many it
// returned.
type deliveryCursor struct {
	WebhookID int64
	Status    *string
	Before    int64
	Seen      int64
}

// A delivery cursor is sealed as the other lists' are (sealCursor; its own
// domain in the tag). Its body:
//
//	flags (1 byte: deliveryCursorStatus)
//	webhook id: uvarint
//	status, when present: 1 byte, its index in deliveryCursorStatuses
//	before (the last id returned): uvarint | seen: uvarint
const (
	deliveryCursorDomain = "iagente-sdr delivery cursor\x00"
	deliveryCursorStatus = 1 << 0
)

// deliveryCursorStatuses are the statuses a cursor's index points into;
// new ones are appended, so that old cursors keep their meaning.
var deliveryCursorStatuses = []string{DeliveryPending, DeliverySucceeded, DeliveryFailed}

func encodeDeliveryCursor(key []byte, orgID int64, c deliveryCursor) string {
	var flags byte
	if c.Status != nil {
		flags |= deliveryCursorStatus
	}
	body := binary.AppendUvarint([]byte{flags}, uint64(c.WebhookID))
	if c.Status != nil {
		body = append(body, byte(slices.Index(deliveryCursorStatuses, *c.Status)))
	}
	body = binary.AppendUvarint(body, uint64(c.Before))
	body = binary.AppendUvarint(body, uint64(c.Seen))
	return sealCursor(key, deliveryCursorDomain, orgID, body)
}

// decodeDeliveryCursor reads a cursor made by encodeDeliveryCursor with the
// same key for the same organization; anything else is errBadCursor.
func decodeDeliveryCursor(key []byte, orgID int64, s string) (deliveryCursor, error) {
	body, err := openCursor(key, deliveryCursorDomain, orgID, s)
	if err != nil {
		return deliveryCursor{}, err
	}
	r := cursorReader{b: body}
	var c deliveryCursor
	flags := r.byte()
	webhook := r.uvarint()
	if r.bad || flags&^deliveryCursorStatus != 0 || webhook == 0 || webhook > math.MaxInt64 {
		return deliveryCursor{}, errBadCursor()
	}
	c.WebhookID = int64(webhook)
	if flags&deliveryCursorStatus != 0 {
		v := int(r.byte())
		if r.bad || v >= len(deliveryCursorStatuses) {
			return deliveryCursor{}, errBadCursor()
		}
		c.Status = ptrTo(deliveryCursorStatuses[v])
	}
	before, seen := r.uvarint(), r.uvarint()
	if r.bad || len(r.b) != 0 || before == 0 || before > math.MaxInt64 || seen > math.MaxInt64 {
		return deliveryCursor{}, errBadCursor()
	}
	c.Before, c.Seen = int64(before), int64(seen)
	return c, nil
}
