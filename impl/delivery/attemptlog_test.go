package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/iagente/iagente-sdr/impl"
)

// TestAttemptLog checks the "webhook attempt" line that docs/webhooks.md
// describes: its level, its fields and their JSON types, and that the body
// and secrets stay out of it.
func TestAttemptLog(t *testing.T) {
	var buf bytes.Buffer
	d := &Dispatcher{cfg: Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}}
	c := &impl.ClaimedDelivery{ID: 9_000_000_001, WebhookID: 7_000_000_002, OrganizationID: 5_000_000_003,
		Secrets: []string{"whsec_c2VjcmV0LXNpZ25pbmcta2V5"}, Event: impl.EventLeadCreated,
		MessageID: "msg_1", Body: []byte(`{"body":"not logged"}`), AttemptCount: 2, AttemptLimit: 8}
	answered := int32(204)
	unavailable := int32(503)
	problem := "the receiver answered 503"
	for _, tc := range []struct {
		name      string
		rec       impl.AttemptRecord
		wantLevel string
		want      map[string]any
	}{
		{"succeeded", impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{StatusCode: &answered, DurationMS: 12}, Outcome: impl.OutcomeSucceeded},
			"INFO", map[string]any{"status": 204.0, "outcome": "succeeded", "duration_ms": 12.0}},
		{"retry", impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{StatusCode: &unavailable, DurationMS: 30, Error: &problem}, Outcome: impl.OutcomeRetry},
			"WARN", map[string]any{"status": 503.0, "outcome": "retry", "duration_ms": 30.0, "error": problem}},
		{"no answer", impl.AttemptRecord{DeliveryAttempt: impl.DeliveryAttempt{DurationMS: 10_000, Error: &problem}, Outcome: impl.OutcomeFailed},
			"WARN", map[string]any{"outcome": "failed", "duration_ms": 10000.0, "error": problem}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			d.logAttempt(context.Background(), c, tc.rec)
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("not one JSON line: %v: %s", err, buf.Bytes())
			}
			want := map[string]any{"level": tc.wantLevel, "msg": "webhook attempt",
				"delivery_id": 9_000_000_001.0, "webhook_id": 7_000_000_002.0, "organization_id": 5_000_000_003.0,
				"event": impl.EventLeadCreated, "attempt": 3.0}
			for k, v := range tc.want {
				want[k] = v
			}
			delete(line, "time")
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			for k := range line {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected field %s = %#v", k, line[k])
				}
			}
			if bytes.Contains(buf.Bytes(), []byte("not logged")) || bytes.Contains(buf.Bytes(), []byte("whsec_")) {
				t.Errorf("the body or a secret is in the line: %s", buf.Bytes())
			}
		})
	}
}
