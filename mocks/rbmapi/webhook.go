package rbmapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The agent's webhook, as RBM calls it: a Cloud Pub/Sub push,
//
//	{"message": {"data": "<base64 of the event JSON>", "messageId": "...", "publishTime": "..."}, "subscription": "..."}
//
// signed in X-Goog-Signature with the base64 HMAC-SHA512 of the decoded
// event under the agent's client token. Users' messages (a text, a tapped
// suggestion) and the receipts of agent messages (DELIVERED, READ) arrive
// this way.

// Push is a webhook post the fake made.
type Push struct {
	// Event is the decoded event, as signed; Body the whole push.
	Event []byte
	Body  []byte
	URL   string
	At    time.Time
	// Status is the webhook's answer, 0 when none came; Err why.
	Status int
	Err    string
}

// Sign is the X-Goog-Signature of event under clientToken.
func Sign(clientToken string, event []byte) string {
	mac := hmac.New(sha512.New, []byte(clientToken))
	mac.Write(event)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SetWebhook makes the fake post the agent's events to url, signed with
// clientToken. An empty url stops the posting.
func (s *Server) SetWebhook(url, clientToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL, s.clientToken = url, clientToken
}

// SetReceipts sets the events posted after each message the fake accepts,
// in order: "DELIVERED", "READ", or any other eventType (IS_TYPING, ...).
// The default is DELIVERED then READ; nil posts none.
func (s *Server) SetReceipts(events []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receipts = slices.Clone(events)
}

// SetRateLimit caps each agent's sends per second, as RBM's quota does;
// more within a second answer 429 RESOURCE_EXHAUSTED. Zero: no cap.
func (s *Server) SetRateLimit(perSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perSecond = perSecond
}

// Pushes returns copies of the webhook posts so far, oldest first.
func (s *Server) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Push, len(s.pushes))
	for i, p := range s.pushes {
		out[i] = *p
	}
	return out
}

// takeQuota counts a send of agentID, or reports the agent over its rate;
// called with s.mu held.
func (s *Server) takeQuota(agentID string) bool {
	if s.perSecond <= 0 {
		return true
	}
	now := time.Now()
	recent := s.sent[agentID][:0]
	for _, t := range s.sent[agentID] {
		if now.Sub(t) < time.Second {
			recent = append(recent, t)
		}
	}
	if len(recent) >= s.perSecond {
		s.sent[agentID] = recent
		return false
	}
	s.sent[agentID] = append(recent, now)
	return true
}

func randomID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// UserText has the user at msisdn ("+" and digits) write text to agentID;
// it returns the webhook's answer status.
func (s *Server) UserText(ctx context.Context, agentID, msisdn, text string) (int, error) {
	return s.PushEvent(ctx, map[string]any{"senderPhoneNumber": msisdn, "messageId": randomID("MsUser"),
		"sendTime": time.Now().UTC().Format(time.RFC3339Nano), "agentId": agentID, "text": text})
}

// UserTaps has the user at msisdn tap a suggestion of agentID: a reply chip
// (kind "REPLY") or an action (kind "ACTION"), showing text, whose postback
// data RBM sends back.
func (s *Server) UserTaps(ctx context.Context, agentID, msisdn, kind, text, postbackData string) (int, error) {
	return s.PushEvent(ctx, map[string]any{"senderPhoneNumber": msisdn, "messageId": randomID("MsUser"),
		"sendTime": time.Now().UTC().Format(time.RFC3339Nano), "agentId": agentID,
		"suggestionResponse": map[string]any{"postbackData": postbackData, "text": text, "type": kind}})
}

// Receipt posts eventType ("DELIVERED", "READ", ...) about the agent
// message messageID sent to msisdn.
func (s *Server) Receipt(ctx context.Context, agentID, msisdn, messageID, eventType string) (int, error) {
	return s.PushEvent(ctx, map[string]any{"senderPhoneNumber": msisdn, "eventType": eventType,
		"eventId": randomID("Ev"), "messageId": messageID, "sendTime": time.Now().UTC().Format(time.RFC3339Nano),
		"agentId": agentID})
}

// ErrNoWebhook is returned by the pushes without a webhook URL (SetWebhook).
var ErrNoWebhook = errors.New("rbmapi: no webhook URL set (SetWebhook)")

// PushEvent posts any event, as RBM would, and returns the answer status.
func (s *Server) PushEvent(ctx context.Context, event map[string]any) (int, error) {
	data, err := json.Marshal(event)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	url, token := s.webhookURL, s.clientToken
	s.mu.Unlock()
	if url == "" {
		return 0, ErrNoWebhook
	}
	p := s.push(ctx, url, token, data)
	if p.Err != "" {
		return 0, errors.New(p.Err)
	}
	return p.Status, nil
}

// VerifyWebhook does RBM's webhook verification against url: a POST of the
// client token and a secret, which the webhook must answer 200 with the
// secret as its body. It returns the answer's status and body.
func VerifyWebhook(ctx context.Context, url, clientToken, secret string) (int, string, error) {
	body, _ := json.Marshal(map[string]string{"clientToken": clientToken, "secret": secret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := pushClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

// pushClient does not follow redirects: a webhook that redirects is
// misconfigured.
var pushClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// push posts one event once (Pub/Sub retries for days; a fake that
// retried would hide the answers a test asserts on) and records it.
func (s *Server) push(ctx context.Context, url, token string, event []byte) *Push {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]any{
		"message": map[string]any{
			"attributes":  map[string]string{"message_type": "USER_EVENT"},
			"data":        base64.StdEncoding.EncodeToString(event),
			"messageId":   randomID(""),
			"publishTime": time.Now().UTC().Format(time.RFC3339Nano),
		},
		"subscription": "projects/rbm-fake/subscriptions/rbm-agent-subscription",
	})
	p := &Push{Event: event, Body: body, URL: url, At: time.Now()}
	s.mu.Lock()
	s.pushes = append(s.pushes, p)
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)")
		req.Header.Set("X-Goog-Signature", Sign(token, event))
		var resp *http.Response
		if resp, err = pushClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			s.mu.Lock()
			p.Status = resp.StatusCode
			s.mu.Unlock()
			return p
		}
	}
	s.mu.Lock()
	p.Err = err.Error()
	s.mu.Unlock()
	return p
}

// afterSend posts the receipts of a message the fake accepted, in the
// background, in order.
func (s *Server) afterSend(agentID, msisdn, messageID string) {
	s.mu.Lock()
	url, token, receipts := s.webhookURL, s.clientToken, slices.Clone(s.receipts)
	s.mu.Unlock()
	if url == "" || len(receipts) == 0 {
		return
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
		for _, ev := range receipts {
			if ctx.Err() != nil {
				return
			}
			data, _ := json.Marshal(map[string]any{"senderPhoneNumber": msisdn, "eventType": ev, "eventId": randomID("Ev"),
				"messageId": messageID, "sendTime": time.Now().UTC().Format(time.RFC3339Nano), "agentId": agentID})
			s.push(ctx, url, token, data)
		}
	}()
}
