package graphapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"time"
)

// What the fake does after it accepts a message: like Meta, it posts the
// message's statuses to the callback URL (the app's webhook), signed with
// the app secret, echoing the biz_opaque_callback_data the send carried.
// Which statuses, in which order and how often is a StatusScript, so tests
// can have them arrive as Meta sometimes sends them: out of order, with
// delivered skipped, or twice.

// StatusScript is what the fake reports after each message it accepts.
type StatusScript struct {
	// Steps are the statuses posted, in this order, one webhook each:
	// "sent", "delivered", "read" or "failed", repeats allowed.
	Steps []string
	// Delay is the wait before each step.
	Delay time.Duration
	// Error is what a "failed" step reports; the zero value means
	// Undeliverable.
	Error Error
}

// Error is a WhatsApp error as a failed status carries it.
type Error struct {
	Code    int
	Title   string
	Message string
	Details string
}

// Errors Meta reports in failed statuses.
var (
	// Undeliverable is Meta's catch-all for a message it could not deliver.
	Undeliverable = Error{Code: 131026, Title: "Message undeliverable", Message: "Message undeliverable",
		Details: "Unable to deliver message. Reasons can include: the recipient phone number is not a WhatsApp phone number; the recipient has not accepted the new Terms of Service and Privacy Policy; the recipient is using an old WhatsApp version."}
	// ReEngagement is the 24-hour window: a free-form message to a contact
	// who has not written in 24 hours.
	ReEngagement = Error{Code: 131047, Title: "Re-engagement message", Message: "Re-engagement message",
		Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}
)

// DefaultStatusScript is a message's life when all goes well: sent,
// delivered, read.
func DefaultStatusScript() StatusScript {
	return StatusScript{Steps: []string{"sent", "delivered", "read"}}
}

// Callback is a webhook the fake posted.
type Callback struct {
	// Kind is "status" or "inbound"; State the status posted, for a status.
	Kind  string
	State string
	// WAMID is the message's id; Reference the biz_opaque_callback_data.
	WAMID     string
	Reference string
	URL       string
	Body      []byte
	At        time.Time
	// Status is the callback URL's answer, 0 when it gave none; Err why.
	Status int
	Err    string
}

// SetCallback makes the fake post its webhooks to url, signed with
// appSecret as Meta signs them (X-Hub-Signature-256). An empty url stops
// the posting.
func (s *Server) SetCallback(url, appSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbackURL, s.appSecret = url, appSecret
}

// SetStatusScript sets what the fake reports after each message it accepts
// from now on.
func (s *Server) SetStatusScript(sc StatusScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc.Steps = slices.Clone(sc.Steps)
	s.script = sc
}

// SetWindowEnforced switches the 24-hour customer service window on (the
// default) or off. On, a message that is not a template to a contact who
// has not written in 24 hours is accepted, as Meta does, and then reported
// failed with error 131047.
func (s *Server) SetWindowEnforced(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enforceWindow = on
}

// ContactWrote records that waID wrote to phoneNumberID at when, which
// opens the contact's 24-hour window. PushInboundText records it too.
func (s *Server) ContactWrote(phoneNumberID, waID string, when time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := phoneNumberID + "\x00" + waID
	if when.After(s.windows[key]) {
		s.windows[key] = when
	}
}

// Callbacks returns copies of the webhooks posted so far, oldest first.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Callback, len(s.callbacks))
	for i, c := range s.callbacks {
		out[i] = *c
	}
	return out
}

// PushInboundText has from (digits, as wa_id), named name, write text to
// phoneNumberID at when: the fake records the contact's window and posts
// Meta's inbound webhook to the callback URL, returning the callback's
// answer status. It fails without a callback URL.
func (s *Server) PushInboundText(ctx context.Context, phoneNumberID, from, name, wamid, text string, when time.Time) (int, error) {
	s.ContactWrote(phoneNumberID, from, when)
	s.mu.Lock()
	url, secret := s.callbackURL, s.appSecret
	s.mu.Unlock()
	if url == "" {
		return 0, errNoCallback
	}
	payload := InboundText(phoneNumberID, displayPhone, from, name, wamid, text, when)
	cb := &Callback{Kind: "inbound", WAMID: wamid, URL: url, Body: payload, At: s.now()}
	s.post(ctx, cb, secret)
	return cb.Status, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoCallback = constError("graphapi: no callback URL set (SetCallback)")

// displayPhone is the business number the fake's webhooks show.
const displayPhone = "15550001111"

// afterSend reports, in the background, what becomes of a message the fake
// accepted: the script's statuses, or a 131047 failure when the message
// broke the 24-hour window.
func (s *Server) afterSend(phoneNumberID, to, wamid, ref, typ string) {
	s.mu.Lock()
	url, secret, sc := s.callbackURL, s.appSecret, s.script
	last, wrote := s.windows[phoneNumberID+"\x00"+to]
	outside := s.enforceWindow && typ != "template" && (!wrote || s.now().Sub(last) >= 24*time.Hour)
	s.mu.Unlock()
	if url == "" {
		return
	}
	steps := sc.Steps
	if outside {
		steps, sc.Error = []string{"failed"}, ReEngagement
	}
	if sc.Error == (Error{}) {
		sc.Error = Undeliverable
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		for _, state := range steps {
			if sc.Delay > 0 {
				t := time.NewTimer(sc.Delay)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
			st := Status{WAMID: wamid, State: state, Recipient: to, Reference: ref, Time: s.now()}
			if state == "failed" {
				e := sc.Error
				st.Error = &e
			}
			payload := StatusesPayload(phoneNumberID, displayPhone, st)
			s.post(ctx, &Callback{Kind: "status", State: state, WAMID: wamid, Reference: ref, URL: url, Body: payload, At: s.now()}, secret)
		}
	}()
}

// post sends one webhook as Meta does, once (Meta retries failures for
// days; a fake that retried would hide the answers a test asserts on), and
// records it with the answer.
func (s *Server) post(ctx context.Context, cb *Callback, secret string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.mu.Lock()
	s.callbacks = append(s.callbacks, cb)
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.URL, bytes.NewReader(cb.Body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "facebookexternalua")
		req.Header.Set("X-Hub-Signature-256", Sign(secret, cb.Body))
		var resp *http.Response
		if resp, err = pushClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			s.mu.Lock()
			cb.Status = resp.StatusCode
			s.mu.Unlock()
			return
		}
	}
	s.mu.Lock()
	cb.Err = err.Error()
	s.mu.Unlock()
}
