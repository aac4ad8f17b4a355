package contracttests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/webhooks"
	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/mocks/graphapi"
	"github.com/iagente/iagente-sdr/mocks/webhookreceiver"
)

// Each event, caused for real (the API call or the inbound message that
// emits it), delivered to the reference receiver (mocks/webhookreceiver)
// and checked against the event catalog more strictly than the catalog
// itself says (see catalog_test.go); its data is compared with the REST
// resource the API returns for the same object.

// The fast dispatcher settings every test here starts from.
const (
	evPollInterval = 20 * time.Millisecond
	evRetryWait    = 30 * time.Millisecond
	evDeadline     = 15 * time.Second
)

var evEnvelopeID = regexp.MustCompile(`^evt_[0-9a-f]{24}$`)

// evConfig returns a configure func for startInProcessWith: the fast
// settings, then whatever more adjusts.
func evConfig(more func(c *app.Config)) func(c *app.Config) {
	return func(c *app.Config) {
		c.WebhookAllowPrivateTargets = true
		c.WebhookPollInterval = evPollInterval
		c.WebhookRetrySchedule = []time.Duration{evRetryWait}
		c.WebhookTimeout = 2 * time.Second
		if more != nil {
			more(c)
		}
	}
}

// evEachDatabase runs fn on an in-process server per database, configured
// by evConfig(more). A remote target cannot deliver to this machine's
// loopback receivers, so under CONTRACT_BASE_URL the test is skipped.
func evEachDatabase(t *testing.T, more func(c *app.Config), fn func(t *testing.T, tg *target)) {
	t.Helper()
	forEachDatabase(t, needsLoopback, func(t *testing.T, db sqlstoretest.Database) {
		fn(t, startInProcessWith(t, db.URL, evConfig(more)))
	})
}

// evNewReceiver starts a reference receiver at /hook. It accepts nothing
// until given a webhook's secret (evCreateHook does it). When the test
// ends, every request it got is checked: headers against the catalog, body
// against the strict schema, and none may have been refused as invalid.
func evNewReceiver(t *testing.T) *receiver {
	t.Helper()
	r := startReceiver(t, "/hook")
	t.Cleanup(func() {
		r.close()
		for i, a := range r.AttemptLog() {
			event := a.Header.Get("X-Webhook-Event")
			if _, ok := evCatalog(t).Webhooks[event]; !ok {
				t.Errorf("request %d to the receiver: X-Webhook-Event %q is no event of the catalog", i+1, event)
				continue
			}
			for _, p := range evValidateHeaders(t, event, a.Header) {
				t.Errorf("request %d to the receiver (%s): %s", i+1, event, p)
			}
			if err := evValidateBody(t, event, a.Body); err != nil {
				t.Errorf("request %d to the receiver (%s): the body violates the strict catalog: %v\nbody: %s", i+1, event, err, a.Body)
			}
			evCompareExample(t, event, a.Body)
		}
		if n := r.Rejected(); n != 0 {
			t.Errorf("the reference receiver refused %d deliveries as invalid (signature, headers or body)", n)
		}
	})
	return r
}

type evHook struct {
	ID     int64
	Secret string
}

// evDecode decodes b into a new T, failing the test if it cannot.
func evDecode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// evCreateHook registers a webhook pointing at r and gives r its secret.
// maxAttempts 0 leaves the default.
func evCreateHook(t *testing.T, tg *target, key, name string, r *receiver, events []string, maxAttempts int) evHook {
	t.Helper()
	in := map[string]any{"name": name, "url": r.url("/hook"), "events": events}
	if maxAttempts > 0 {
		in["max_attempts"] = maxAttempts
	}
	w := evDecode[struct {
		ID            int64  `json:"id"`
		SigningSecret string `json:"signing_secret"`
	}](t, expectJSON(t, tg, key, http.MethodPost, "/webhooks", in, http.StatusCreated, nil))
	if w.ID == 0 || w.SigningSecret == "" {
		t.Fatalf("created webhook without id or secret: %+v", w)
	}
	r.SetSecrets(w.SigningSecret)
	return evHook{ID: w.ID, Secret: w.SigningSecret}
}

func evGetHook(t *testing.T, tg *target, key string, id int64) whHook {
	t.Helper()
	h, _ := whGetHook(t, tg, key, id)
	return h
}

// evDeliveries returns every delivery of the webhook, newest first.
func evDeliveries(t *testing.T, tg *target, key string, hookID int64) []whDelivery {
	t.Helper()
	var all []whDelivery
	for page := 1; ; page++ {
		p := evDecode[struct {
			Data []whDelivery `json:"data"`
			Meta struct {
				TotalPages int64 `json:"total_pages"`
			} `json:"meta"`
		}](t, expectJSON(t, tg, key, http.MethodGet, fmt.Sprintf("/webhooks/%d/deliveries?per_page=100&page=%d", hookID, page), nil, http.StatusOK, nil))
		all = append(all, p.Data...)
		if int64(page) >= p.Meta.TotalPages {
			return all
		}
	}
}

// evDeliveryByID returns one delivery of the webhook.
func evDeliveryByID(t *testing.T, tg *target, key string, hookID, id int64) whDelivery {
	t.Helper()
	for _, d := range evDeliveries(t, tg, key, hookID) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("webhook %d has no delivery %d", hookID, id)
	return whDelivery{}
}

// evWaitFor polls cond until it holds, failing the test after evDeadline
// with what describe says.
func evWaitFor(t *testing.T, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(evDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", evDeadline, describe())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// evWaitDelivery polls the delivery until done says it has reached the
// state wanted, and returns it.
func evWaitDelivery(t *testing.T, tg *target, key string, hookID, id int64, what string, done func(whDelivery) bool) whDelivery {
	t.Helper()
	var d whDelivery
	evWaitFor(t, func() bool {
		d = evDeliveryByID(t, tg, key, hookID, id)
		return done(d)
	}, func() string { return fmt.Sprintf("delivery %d is not %s: %s", id, what, d) })
	return d
}

func evFinished(d whDelivery) bool { return d.Status != impl.DeliveryPending }

// evNewDeliveries runs act and returns the deliveries it queued for the
// webhook. Deliveries are written with the change that causes them, so
// once act's request has been answered the list is complete: an event
// that is not in it will never be delivered.
func evNewDeliveries(t *testing.T, tg *target, key string, hookID int64, act func()) []whDelivery {
	t.Helper()
	seen := map[int64]bool{}
	for _, d := range evDeliveries(t, tg, key, hookID) {
		seen[d.ID] = true
	}
	act()
	var out []whDelivery
	for _, d := range evDeliveries(t, tg, key, hookID) {
		if !seen[d.ID] {
			out = append(out, d)
		}
	}
	slices.Reverse(out) // oldest first
	return out
}

func evEvents(ds []whDelivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Event
	}
	slices.Sort(out)
	return out
}

// evCreateLead creates a lead and returns its id and phone.
func evCreateLead(t *testing.T, tg *target, key string, fields map[string]any) (int64, string) {
	t.Helper()
	in := map[string]any{"phone": uniquePhone(t)}
	for k, v := range fields {
		in[k] = v
	}
	l := evDecode[struct {
		ID    int64  `json:"id"`
		Phone string `json:"phone"`
	}](t, expectJSON(t, tg, key, http.MethodPost, "/leads", in, http.StatusCreated, nil))
	return l.ID, l.Phone
}

// evTypedEvent is a delivery decoded into its generated type.
type evTypedEvent struct {
	ID    string
	Event string
	// Data is the generated REST type (api.Lead, api.Message, api.Handoff).
	Data any
}

// evTyped decodes body into E strictly, checks the receiver decoded it into
// the same type, and takes it apart.
func evTyped[E any, D any](body []byte, received any, parts func(E) (string, string, D)) (evTypedEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e E
	if err := dec.Decode(&e); err != nil {
		return evTypedEvent{}, fmt.Errorf("decode into %T: %w", e, err)
	}
	if _, ok := received.(E); !ok {
		return evTypedEvent{}, fmt.Errorf("the receiver decoded it into %T, want %T", received, e)
	}
	id, name, data := parts(e)
	return evTypedEvent{ID: id, Event: name, Data: data}, nil
}

var evTypedDecoders = map[string]func(body []byte, received any) (evTypedEvent, error){
	impl.EventLeadCreated: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.LeadCreatedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventLeadUpdated: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.LeadUpdatedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventLeadQualified: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.LeadQualifiedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventMessageReceived: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.MessageReceivedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventMessageSent: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.MessageSentEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventMessageDelivered: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.MessageDeliveredEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventMessageRead: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.MessageReadEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventMessageFailed: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.MessageFailedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventHandoffCreated: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.HandoffCreatedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
	impl.EventHandoffClosed: func(b []byte, r any) (evTypedEvent, error) {
		return evTyped(b, r, func(e webhooks.HandoffClosedEvent) (string, string, any) { return e.Id, string(e.Event), e.Data })
	},
}

// evJSONObject is v marshalled and decoded again, for comparing JSON
// objects whatever their key order and spacing.
func evJSONObject(t *testing.T, v any) map[string]any {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// evEventsEnv is the TestWebhookEvent setup: webhook A takes every event,
// B only lead.qualified, C every event but is inactive.
type evEventsEnv struct {
	tg                   *target
	key                  string
	recA, recB, recC     *receiver
	hookA, hookB, hookC  evHook
	receivedA, receivedB map[string]webhookreceiver.Received // by X-Webhook-Id
}

// act runs fn and checks the deliveries it caused: exactly want on A (as a
// multiset), the lead.qualified among them on B, nothing on C. It returns
// A's and B's new deliveries.
func (env *evEventsEnv) act(t *testing.T, want []string, fn func()) (a, b []whDelivery) {
	t.Helper()
	var c []whDelivery
	b = evNewDeliveries(t, env.tg, env.key, env.hookB.ID, func() {
		c = evNewDeliveries(t, env.tg, env.key, env.hookC.ID, func() {
			a = evNewDeliveries(t, env.tg, env.key, env.hookA.ID, fn)
		})
	})
	want = slices.Sorted(slices.Values(want))
	if got := evEvents(a); !slices.Equal(got, want) {
		t.Errorf("webhook A (every event) got deliveries of %v, want %v", got, want)
	}
	var wantB []string
	for _, e := range want {
		if e == impl.EventLeadQualified {
			wantB = append(wantB, e)
		}
	}
	if got := evEvents(b); !slices.Equal(got, wantB) {
		t.Errorf("webhook B (lead.qualified only) got deliveries of %v, want %v", got, wantB)
	}
	if len(c) != 0 {
		t.Errorf("the inactive webhook C got deliveries: %v", c)
	}
	return a, b
}

// received waits until r has accepted delivery d and returns it.
func (env *evEventsEnv) received(t *testing.T, r *receiver, d whDelivery) webhookreceiver.Received {
	t.Helper()
	var got webhookreceiver.Received
	evWaitFor(t, func() bool {
		for _, ev := range r.Events() {
			if ev.WebhookID == d.MessageID {
				got = ev
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("the receiver did not accept delivery %s; it got %d requests, the log says %s",
			d.MessageID, len(r.AttemptLog()), evDeliveryByID(t, env.tg, env.key, d.WebhookID, d.ID))
	})
	return got
}

// check waits for A's delivery d, validates it strictly, decodes it into
// its generated type and compares its data with GET path. It returns the
// delivery as received and its data.
func (env *evEventsEnv) check(t *testing.T, d whDelivery, path string) (webhookreceiver.Received, map[string]any) {
	t.Helper()
	rec := env.received(t, env.recA, d)
	if err := evValidateBody(t, d.Event, rec.Body); err != nil {
		t.Errorf("%s: the body violates the strict catalog: %v\nbody: %s", d.Event, err, rec.Body)
	}
	if p := evValidateHeaders(t, d.Event, rec.Header); len(p) != 0 {
		t.Errorf("%s: headers: %v", d.Event, p)
	}
	var env0 struct {
		ID        string          `json:"id"`
		Event     string          `json:"event"`
		CreatedAt string          `json:"created_at"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.Body, &env0); err != nil {
		t.Fatalf("%s: body is not the envelope: %v: %s", d.Event, err, rec.Body)
	}
	if !evEnvelopeID.MatchString(env0.ID) {
		t.Errorf("%s: envelope id %q does not match %s", d.Event, env0.ID, evEnvelopeID)
	}
	if env0.ID != d.EventID || env0.Event != d.Event || rec.Event != d.Event || rec.EventID != env0.ID {
		t.Errorf("envelope id %q event %q (header %q), want the delivery log's %q %q", env0.ID, env0.Event, rec.Event, d.EventID, d.Event)
	}

	decode := evTypedDecoders[d.Event]
	if decode == nil {
		t.Fatalf("no generated type for %q", d.Event)
	}
	typed, err := decode(rec.Body, rec.Typed)
	if err != nil {
		t.Fatalf("%s: %v\nbody: %s", d.Event, err, rec.Body)
	}
	if typed.ID != env0.ID || typed.Event != d.Event {
		t.Errorf("%s: typed event has id %q event %q", d.Event, typed.ID, typed.Event)
	}

	// The same object, from the REST API, now.
	restBody := expectJSON(t, env.tg, env.key, http.MethodGet, path, nil, http.StatusOK, nil)
	data, rest := evJSONObject(t, []byte(env0.Data)), evJSONObject(t, restBody)
	if !reflect.DeepEqual(data, rest) {
		t.Errorf("%s: data differs from GET %s:\n data %s\n  GET %s", d.Event, path, env0.Data, restBody)
	}
	restTyped := reflect.New(reflect.TypeOf(typed.Data))
	if err := json.Unmarshal(restBody, restTyped.Interface()); err != nil {
		t.Fatalf("GET %s into %T: %v", path, typed.Data, err)
	}
	if a, b := evJSONObject(t, typed.Data), evJSONObject(t, restTyped.Elem().Interface()); !reflect.DeepEqual(a, b) {
		t.Errorf("%s: typed data (%T) differs from GET %s decoded the same way:\n data %v\n  GET %v", d.Event, typed.Data, path, a, b)
	}
	return rec, data
}

func TestWebhookEventsFromTheirCauses(t *testing.T) {
	evEachDatabase(t, nil, func(t *testing.T, tg *target) {
		env := &evEventsEnv{tg: tg, key: tg.key}
		env.recA, env.recB, env.recC = evNewReceiver(t), evNewReceiver(t), evNewReceiver(t)
		env.hookA = evCreateHook(t, tg, env.key, "every event", env.recA, impl.EventTypes, 0)
		env.hookB = evCreateHook(t, tg, env.key, "qualified only", env.recB, []string{impl.EventLeadQualified}, 0)
		env.hookC = evCreateHook(t, tg, env.key, "inactive", env.recC, impl.EventTypes, 0)
		if w := evDecode[whHook](t, expectJSON(t, tg, env.key, http.MethodPatch, fmt.Sprintf("/webhooks/%d", env.hookC.ID),
			map[string]any{"active": false}, http.StatusOK, nil)); w.Active {
			t.Fatalf("PATCH active false left webhook C active")
		}

		var leadID int64
		var phone string
		leadPath := func() string { return fmt.Sprintf("/leads/%d", leadID) }
		patch := func(fields map[string]any) func() {
			return func() { expectJSON(t, tg, env.key, http.MethodPatch, leadPath(), fields, http.StatusOK, nil) }
		}

		t.Run("lead.created by POST /leads", func(t *testing.T) {
			a, _ := env.act(t, []string{impl.EventLeadCreated}, func() {
				leadID, phone = evCreateLead(t, tg, env.key, map[string]any{"name": "Ana Souza", "temperature": "cold"})
			})
			if len(a) == 1 {
				env.check(t, a[0], leadPath())
			}
		})
		if leadID == 0 {
			t.Fatal("no lead to go on with")
		}

		t.Run("lead.updated by a PATCH of the name", func(t *testing.T) {
			a, _ := env.act(t, []string{impl.EventLeadUpdated}, patch(map[string]any{"name": "Ana Souza Lima"}))
			if len(a) == 1 {
				_, data := env.check(t, a[0], leadPath())
				if data["name"] != "Ana Souza Lima" {
					t.Errorf("lead.updated data has name %v", data["name"])
				}
			}
		})

		t.Run("a no-op PATCH emits nothing", func(t *testing.T) {
			env.act(t, nil, patch(map[string]any{}))
			env.act(t, nil, patch(map[string]any{"name": "Ana Souza Lima", "temperature": "cold"}))
		})

		var qualifiedA, qualifiedB whDelivery
		t.Run("cold to hot emits lead.updated and lead.qualified", func(t *testing.T) {
			a, b := env.act(t, []string{impl.EventLeadUpdated, impl.EventLeadQualified}, patch(map[string]any{"temperature": "hot"}))
			if len(a) != 2 || len(b) != 1 {
				t.FailNow()
			}
			datas := map[string]map[string]any{}
			for _, d := range a {
				_, data := env.check(t, d, leadPath())
				datas[d.Event] = data
				if d.Event == impl.EventLeadQualified {
					qualifiedA = d
				}
			}
			qualifiedB = b[0]
			if !reflect.DeepEqual(datas[impl.EventLeadUpdated], datas[impl.EventLeadQualified]) {
				t.Errorf("one change, two events, different data:\n lead.updated   %v\n lead.qualified %v",
					datas[impl.EventLeadUpdated], datas[impl.EventLeadQualified])
			}
			if datas[impl.EventLeadQualified]["temperature"] != "hot" {
				t.Errorf("lead.qualified data has temperature %v", datas[impl.EventLeadQualified]["temperature"])
			}
			for _, d := range a {
				if d.EventID == qualifiedA.EventID && d.Event != impl.EventLeadQualified {
					t.Errorf("lead.updated and lead.qualified share the event id %s", d.EventID)
				}
			}
		})

		t.Run("the same event to two webhooks", func(t *testing.T) {
			if qualifiedA.ID == 0 || qualifiedB.ID == 0 {
				t.Skip("no lead.qualified to compare")
			}
			ra := env.received(t, env.recA, qualifiedA)
			rb := env.received(t, env.recB, qualifiedB)
			if qualifiedA.EventID != qualifiedB.EventID || ra.EventID != rb.EventID || ra.EventID != qualifiedA.EventID {
				t.Errorf("envelope ids differ: A log %s got %s, B log %s got %s", qualifiedA.EventID, ra.EventID, qualifiedB.EventID, rb.EventID)
			}
			if ra.WebhookID == rb.WebhookID || qualifiedA.MessageID == qualifiedB.MessageID {
				t.Errorf("both webhooks got X-Webhook-Id %s, want one per delivery", ra.WebhookID)
			}
			if !bytes.Equal(ra.Body, rb.Body) {
				t.Errorf("the same event has different bodies:\n A %s\n B %s", ra.Body, rb.Body)
			}
			if err := evValidateBody(t, impl.EventLeadQualified, rb.Body); err != nil {
				t.Errorf("B's lead.qualified violates the strict catalog: %v", err)
			}
		})

		t.Run("hot again is no qualification", func(t *testing.T) {
			env.act(t, nil, patch(map[string]any{"temperature": "hot"}))
			a, _ := env.act(t, []string{impl.EventLeadUpdated}, patch(map[string]any{"company_name": "Souza Ltda", "temperature": "hot"}))
			if len(a) == 1 {
				env.check(t, a[0], leadPath())
			}
			a, _ = env.act(t, []string{impl.EventLeadUpdated}, patch(map[string]any{"lead_score": 80}))
			if len(a) == 1 {
				env.check(t, a[0], leadPath())
			}
		})

		t.Run("message.sent by POST /whatsapp/messages", func(t *testing.T) {
			var msgID int64
			a, _ := env.act(t, []string{impl.EventMessageSent}, func() {
				m := evDecode[struct {
					ID int64 `json:"id"`
				}](t, expectJSON(t, tg, env.key, http.MethodPost, "/whatsapp/messages", map[string]any{
					"integration_id": seededWhatsAppID, "phone": phone, "type": "template", "template_name": "boas_vindas",
					"variables": []any{"Ana"},
				}, http.StatusCreated, nil))
				msgID = m.ID
			})
			if len(a) == 1 {
				_, data := env.check(t, a[0], fmt.Sprintf("/messages/%d", msgID))
				if data["status"] != "sent" || data["direction"] != "outbound" {
					t.Errorf("message.sent data has status %v direction %v", data["status"], data["direction"])
				}
			}
		})

		const appSecret = "segredo-do-app-eventos"
		inbound := newInboundEnv(t, tg, tg.orgID, env.key, appSecret, "token-eventos")
		push := func(from, name, text string) func() {
			return func() {
				status, body := inbound.push(t, appSecret, graphapi.InboundText(inbound.integ.PhoneNumberID, "551130030000",
					from, name, wamid(t), text, time.Now()))
				if status != http.StatusOK {
					t.Fatalf("inbound push: %d %s", status, body)
				}
			}
		}

		t.Run("message.received from a lead", func(t *testing.T) {
			a, _ := env.act(t, []string{impl.EventMessageReceived}, push(phone, "Ana", "Quero uma proposta"))
			if len(a) == 1 {
				rec := env.received(t, env.recA, a[0])
				id := evJSONObject(t, evJSONObject(t, rec.Body)["data"])["id"]
				_, data := env.check(t, a[0], fmt.Sprintf("/messages/%v", id))
				if data["direction"] != "inbound" || data["lead_id"] != float64(leadID) {
					t.Errorf("message.received data has direction %v lead_id %v, want inbound and %d", data["direction"], data["lead_id"], leadID)
				}
			}
		})

		t.Run("message.received and lead.created from a new phone", func(t *testing.T) {
			newPhone := uniquePhone(t)
			a, _ := env.act(t, []string{impl.EventLeadCreated, impl.EventMessageReceived}, push(newPhone, "Carla Nova", "Oi!"))
			if len(a) != 2 {
				return
			}
			var newLead, msgLead any
			for _, d := range a {
				rec := env.received(t, env.recA, d)
				id := evJSONObject(t, evJSONObject(t, rec.Body)["data"])["id"]
				switch d.Event {
				case impl.EventLeadCreated:
					_, data := env.check(t, d, fmt.Sprintf("/leads/%v", id))
					newLead = data["id"]
					if data["phone"] != newPhone {
						t.Errorf("lead.created for phone %v, want %s", data["phone"], newPhone)
					}
				case impl.EventMessageReceived:
					_, data := env.check(t, d, fmt.Sprintf("/messages/%v", id))
					msgLead = data["lead_id"]
				}
			}
			if newLead == nil || newLead != msgLead {
				t.Errorf("message.received has lead_id %v, want the new lead %v", msgLead, newLead)
			}
		})

		t.Run("handoff.created and handoff.closed", func(t *testing.T) {
			var hID int64
			a, _ := env.act(t, []string{impl.EventHandoffCreated}, func() {
				h := evDecode[struct {
					ID int64 `json:"id"`
				}](t, expectJSON(t, tg, env.key, http.MethodPost, "/handoffs",
					map[string]any{"lead_id": leadID, "reason": "Pediu uma proposta comercial"}, http.StatusCreated, nil))
				hID = h.ID
			})
			path := fmt.Sprintf("/handoffs/%d", hID)
			if len(a) == 1 {
				_, data := env.check(t, a[0], path)
				if data["status"] != "open" || data["closed_at"] != nil {
					t.Errorf("handoff.created data: status %v closed_at %v", data["status"], data["closed_at"])
				}
			}
			a, _ = env.act(t, []string{impl.EventHandoffClosed}, func() {
				expectJSON(t, tg, env.key, http.MethodPost, path+"/close", nil, http.StatusOK, nil)
			})
			if len(a) == 1 {
				_, data := env.check(t, a[0], path)
				if data["status"] != "closed" || data["closed_at"] == nil {
					t.Errorf("handoff.closed data: status %v closed_at %v", data["status"], data["closed_at"])
				}
			}
		})

		t.Run("every delivery arrived once, the filtered and inactive webhooks got only theirs", func(t *testing.T) {
			for _, h := range []struct {
				name string
				hook evHook
				rec  *receiver
			}{{"A", env.hookA, env.recA}, {"B", env.hookB, env.recB}} {
				var ds []whDelivery
				evWaitFor(t, func() bool {
					ds = evDeliveries(t, tg, env.key, h.hook.ID)
					return !slices.ContainsFunc(ds, func(d whDelivery) bool { return !evFinished(d) })
				}, func() string { return fmt.Sprintf("webhook %s still has pending deliveries: %v", h.name, ds) })
				for _, d := range ds {
					if d.Status != impl.DeliverySucceeded || len(d.Attempts) != 1 {
						t.Errorf("webhook %s: delivery %s, want succeeded at the first attempt", h.name, d)
					}
				}
				h.rec.waitAttempts(t, "", len(ds), evDeadline)
				if n := len(h.rec.AttemptLog()); n != len(ds) {
					t.Errorf("receiver %s got %d requests for %d deliveries", h.name, n, len(ds))
				}
				for _, ev := range h.rec.Events() {
					if !evEnvelopeID.MatchString(ev.EventID) {
						t.Errorf("receiver %s: envelope id %q", h.name, ev.EventID)
					}
					if h.name == "B" && ev.Event != impl.EventLeadQualified {
						t.Errorf("webhook B, subscribed to lead.qualified only, got %s", ev.Event)
					}
				}
			}
			if n := len(env.recB.Events()); n != 1 {
				t.Errorf("webhook B got %d lead.qualified, want 1 (one lead became hot once)", n)
			}
			if ds := evDeliveries(t, tg, env.key, env.hookC.ID); len(ds) != 0 {
				t.Errorf("the inactive webhook has deliveries: %v", ds)
			}
			if n := env.recC.Attempts(); n != 0 {
				t.Errorf("the inactive webhook's receiver got %d requests", n)
			}
		})
	})
}
