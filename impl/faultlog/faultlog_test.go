package faultlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/faultlog"
)

type line struct {
	Level      string
	Msg        string
	Err        string
	Failures   int64   `json:"failures"`
	FailingFor float64 `json:"failing_for_s"`
	FailedFor  float64 `json:"failed_for_s"`
	WebhookID  int64   `json:"webhook_id"`
}

func lines(t *testing.T, buf *bytes.Buffer) []line {
	t.Helper()
	var out []line
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if s == "" {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		out = append(out, l)
	}
	buf.Reset()
	return out
}

// TestRunsOfFailures: a run's first failure is logged at once, the rest at
// most once per Every with the run's count, and the first success after
// them once; successes outside a run log nothing.
func TestRunsOfFailures(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	l := &faultlog.Log{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Msg: "claim webhook deliveries",
		Level: slog.LevelError, Every: 30 * time.Second, Now: func() time.Time { return now }}
	down := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

	if l.Succeeded() {
		t.Error("Succeeded outside a run reported the end of one")
	}
	if got := lines(t, &buf); len(got) != 0 {
		t.Fatalf("a success outside a run logged %+v", got)
	}

	// Four rounds a second for 70 s.
	for i := 0; i < 280; i++ {
		l.Failed(down, "webhook_id", int64(7))
		now = now.Add(250 * time.Millisecond)
	}
	got := lines(t, &buf)
	if len(got) != 3 {
		t.Fatalf("280 failures over 70 s logged %d lines, want 3 (at 0, 30 and 60 s): %+v", len(got), got)
	}
	if g := got[0]; g.Level != "ERROR" || g.Msg != "claim webhook deliveries" || g.Err != down.Error() || g.Failures != 0 || g.WebhookID != 7 {
		t.Errorf("first line %+v", g)
	}
	if g := got[1]; g.Failures != 121 || g.FailingFor != 30 || g.Level != "ERROR" || g.WebhookID != 7 {
		t.Errorf("second line %+v, want 121 failures over 30 s", g)
	}
	if g := got[2]; g.Failures != 241 || g.FailingFor != 60 {
		t.Errorf("third line %+v, want 241 failures over 60 s", g)
	}

	if !l.Succeeded() || l.Succeeded() {
		t.Error("Succeeded did not report the end of the run once")
	}
	got = lines(t, &buf)
	if len(got) != 1 || got[0].Msg != "claim webhook deliveries: working again" || got[0].Level != "INFO" ||
		got[0].Failures != 280 || got[0].FailedFor != 70 {
		t.Fatalf("the end of the run: %+v, want one line with 280 failures over 70 s", got)
	}

	// A new run starts over: its first failure is logged at once.
	l.Failed(down)
	if got := lines(t, &buf); len(got) != 1 || got[0].Failures != 0 {
		t.Fatalf("a new run's first failure: %+v", got)
	}
	l.Recovered = "notification listener reconnected"
	l.Succeeded()
	if got := lines(t, &buf); len(got) != 1 || got[0].Msg != l.Recovered || got[0].Failures != 1 {
		t.Fatalf("the end of a run with its own message: %+v", got)
	}
}
