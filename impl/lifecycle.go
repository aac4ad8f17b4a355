package impl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StatusUpdate is a step in an outbound message's life: the provider
// accepted it (sent), delivered it, the contact read it, or it failed.
type StatusUpdate struct {
	// Status is StatusSent, StatusDelivered, StatusRead or StatusFailed.
	Status string
	// At is when it happened.
	At time.Time
	// ProviderMessageID is the provider's id for the message, when this
	// update brings it (the send's answer).
	ProviderMessageID string
	// Error, ErrorCode and ErrorTitle describe a failure; empty otherwise.
	Error, ErrorCode, ErrorTitle string
}

// StatusReport is a provider's report about a message it accepted, as its
// status webhook says it: which message (the update's ProviderMessageID,
// or Reference), and what happened to it.
type StatusReport struct {
	// Reference is the reference we sent with the message, when the
	// provider echoes it (Meta's biz_opaque_callback_data, RBM's
	// messageId): see MessageReference.
	Reference string
	StatusUpdate
}

// referencePrefix starts the reference each outbound message is sent with.
const referencePrefix = "iagente-"

// MessageReference is the reference a message is sent with, unique per
// message and stable across retries, so that a provider's report can name
// the message before its answer to the send has been stored.
func MessageReference(id int64) string { return referencePrefix + strconv.FormatInt(id, 10) }

// ParseMessageReference returns the message id in a reference made by
// MessageReference, or 0 when ref is not one.
func ParseMessageReference(ref string) int64 {
	digits, ok := strings.CutPrefix(ref, referencePrefix)
	if !ok || digits == "" || digits[0] == '0' {
		return 0
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id < 1 {
		return 0
	}
	return id
}

// progress orders the statuses an outbound message moves through; failed
// is off this line, reachable from any status before read.
var progress = []string{StatusQueued, StatusSent, StatusDelivered, StatusRead}

// progressEvents are the events of reaching each status of progress.
var progressEvents = map[string]string{
	StatusSent: EventMessageSent, StatusDelivered: EventMessageDelivered, StatusRead: EventMessageRead,
}

func rank(status string) int {
	for i, s := range progress {
		if s == status {
			return i
		}
	}
	return -1
}

// KnownStatusUpdate reports whether status is one a provider's report can
// move a message to.
func KnownStatusUpdate(status string) bool {
	return status == StatusFailed || rank(status) > 0
}

// Advance applies u to an outbound message and returns the events it
// causes, in order, and whether it changed anything. A message only moves
// forward: queued → sent → delivered → read, or to failed from any status
// before read. A report of a status already reached or passed (a late
// delivered after read, a provider's repeat) changes nothing. Reaching a
// status past one that was never reported passes through it, as it must
// have happened: read without delivered also sets delivered_at (to the
// read time) and emits message.delivered before message.read. The
// provider's id is recorded whenever the update brings one and the message
// has none, even when the status does not change.
func (m *Message) Advance(u StatusUpdate) (events []string, changed bool) {
	if m.Direction != DirectionOutbound {
		return nil, false
	}
	// An id no provider gives (the adapters refuse them) is never kept:
	// PostgreSQL would refuse a NUL in it after the message went out.
	if u.ProviderMessageID != "" && ProviderIDOK(u.ProviderMessageID) && (m.ProviderMessageID == nil || *m.ProviderMessageID == "") {
		pid := u.ProviderMessageID
		m.ProviderMessageID, changed = &pid, true
	}
	at := u.At.UTC()
	cur := rank(m.Status)
	if u.Status == StatusFailed {
		if cur < 0 || m.Status == StatusRead {
			return nil, changed
		}
		m.Status, m.FailedAt = StatusFailed, &at
		// Every provider's words pass here, whichever adapter read them.
		m.Error, m.ErrorCode, m.ErrorTitle = optional(ProviderText(u.Error)), optional(ProviderCode(u.ErrorCode)), optional(ProviderText(u.ErrorTitle))
		return []string{EventMessageFailed}, true
	}
	target := rank(u.Status)
	if cur < 0 || target <= cur {
		return nil, changed
	}
	for r := cur + 1; r <= target; r++ {
		s := progress[r]
		if ts := m.progressTime(s); *ts == nil {
			t := at
			*ts = &t
		}
		events = append(events, progressEvents[s])
	}
	m.Status = u.Status
	return events, true
}

// Settle applies the send's own verdict, u: sent with the provider's id,
// or failed. A provider's report that came first (found by our reference)
// has already moved the message on, and the provider knows better than a
// send that timed out or was cut off: a failed verdict applies only to a
// message still queued. Otherwise it is Advance.
func (m *Message) Settle(u StatusUpdate) (events []string, changed bool) {
	if u.Status == StatusFailed && m.Status != StatusQueued {
		return nil, false
	}
	return m.Advance(u)
}

// progressTime is the field that records when m reached status.
func (m *Message) progressTime(status string) **time.Time {
	switch status {
	case StatusSent:
		return &m.SentAt
	case StatusDelivered:
		return &m.DeliveredAt
	default:
		return &m.ReadAt
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ReportedTime is when a provider says something happened, made safe to
// store: a provider's clock ahead of ours (or a forged timestamp) must not
// date an event in the future, so a time after now, or none, is now.
func ReportedTime(reported, now time.Time) time.Time {
	if reported.IsZero() || reported.After(now) {
		return now.UTC()
	}
	return reported.UTC()
}

// ServiceWindow is how long after a contact's last message a WhatsApp
// business may write to them freely; after it, only a template may.
const ServiceWindow = 24 * time.Hour

// CheckServiceWindow refuses a WhatsApp message that is not a template to
// phone when the contact's last message to the integration (lastInbound;
// nil when they never wrote) is ServiceWindow old or older at now. The
// error is EOutsideWindow, saying that a template is required and, when
// there was a window, when it closed (also in details.window_closed_at).
func CheckServiceWindow(messageType, phone string, lastInbound *time.Time, now time.Time) error {
	if messageType == "template" {
		return nil
	}
	if lastInbound == nil {
		return Errorf(EOutsideWindow,
			"A template is required: %s has not written to this WhatsApp number, so no 24-hour customer service window is open.", phone)
	}
	closed := lastInbound.UTC().Add(ServiceWindow)
	if now.Before(closed) {
		return nil
	}
	at := closed.Format(time.RFC3339)
	return Errorf(EOutsideWindow, "A template is required: the 24-hour customer service window with %s closed at %s.", phone, at).
		WithDetail("window_closed_at", at)
}

// String describes the report for logs: which message, what status, never
// the provider's error text (it may quote the message).
func (r StatusReport) String() string {
	return fmt.Sprintf("%s of %q (ref %q)", r.Status, r.ProviderMessageID, r.Reference)
}
