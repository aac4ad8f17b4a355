package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
	"github.com/iagente/iagente-sdr/internal/syncbuf"
	"github.com/iagente/iagente-sdr/internal/teststores"
)

// TestRetryKeepsWithinTheLease: a claim's write that failed is done by
// RetryKeeps while the claim's lease has more than DBTimeout left, and
// dropped (logged) otherwise, so that it can never touch a key that a
// retry took over once the lease ended. On a real database.
func TestRetryKeepsWithinTheLease(t *testing.T) {
	ctx := context.Background()
	st := teststores.Open(t, sqlstoretest.SQLite(t).URL)
	org := &impl.Organization{Name: "Keeps"}
	if err := st.Organizations.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	s := &Server{cfg: Config{Idempotency: st.Idempotency, DBTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		keeps: make(chan pendingKeep, keepQueueSize)}
	claim := func(key string, lease time.Duration) *impl.IdempotencyRecord {
		t.Helper()
		now := time.Now()
		rec, claimed, err := st.Idempotency.BeginIdempotent(ctx, org.ID, key, []byte("fp"), now, now.Add(lease))
		if err != nil || !claimed {
			t.Fatalf("claim %s: %v %v", key, claimed, err)
		}
		return rec
	}
	// held is true while the key's claim stands at, a time within its lease.
	held := func(key string, at time.Time) bool {
		_, claimed, err := st.Idempotency.BeginIdempotent(ctx, org.ID, key, []byte("fp"), at, at)
		if err != nil {
			t.Fatal(err)
		}
		return !claimed
	}

	released, late := claim("give-back", time.Minute), claim("too-late", 500*time.Millisecond)
	answered := claim("answered", time.Minute)
	answered.Status, answered.ContentType, answered.Body = 201, "application/json", []byte(`{"id":1}`)
	for _, p := range []pendingKeep{{rec: released, release: true}, {rec: late, release: true}, {rec: answered}} {
		s.queueKeep(ctx, p)
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.RetryKeeps(run); close(done) }()
	defer func() { stop(); <-done }()

	// The answer, as a retry of its request would find it now. Asking
	// changes nothing while the claim stands or once the answer is kept.
	answer := func() (*impl.IdempotencyRecord, bool, error) {
		return st.Idempotency.BeginIdempotent(ctx, org.ID, "answered", []byte("fp"), time.Now(), time.Now())
	}
	kept := func() bool {
		rec, claimed, err := answer()
		return err == nil && !claimed && rec.Status == 201
	}
	// RetryKeeps writes the batch in turn: wait for both writes, not the
	// first alone (under -race on a loaded machine the second came later).
	deadline := time.Now().Add(10 * time.Second)
	for (held("give-back", released.CreatedAt) || !kept()) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if held("give-back", released.CreatedAt) {
		t.Error("the 503's key was not given back")
	}
	if rec, claimed, err := answer(); err != nil || claimed || rec.Status != 201 || string(rec.Body) != `{"id":1}` {
		t.Errorf("the answer kept: claimed=%v %v %+v", claimed, err, rec)
	}
	if !held("too-late", late.CreatedAt) {
		t.Error("a claim with less than DBTimeout of its lease left was given back")
	}
	if !strings.Contains(logs.String(), "did not recover in time") {
		t.Errorf("the dropped write was not logged: %s", logs.String())
	}
}

// TestRetryKeepsIsBounded: RetryKeeps holds keepQueueSize writes at most,
// and the queue as many again; past that queueKeep drops a write (the key
// then waits for its lease, as before the retries) and logs it. The
// database here fails every write: it is closed.
func TestRetryKeepsIsBounded(t *testing.T) {
	st := teststores.Open(t, sqlstoretest.SQLite(t).URL)
	st.Close()
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	s := &Server{cfg: Config{Idempotency: st.Idempotency, DBTimeout: time.Second, Logger: log},
		keeps: make(chan pendingKeep, keepQueueSize)}
	// As a request's: queueKeep logs with the request's logger.
	ctx := context.WithValue(context.Background(), ctxLogger, &requestLogger{base: log, id: "req"})
	lease := time.Now().Add(time.Hour)
	queue := func(n int) {
		for i := range n {
			s.queueKeep(ctx, pendingKeep{rec: &impl.IdempotencyRecord{OrganizationID: 1, Key: fmt.Sprint(i), LockedUntil: lease}, release: true})
		}
	}
	dropped := func() int { return strings.Count(logs.String(), "too many writes waiting") }

	queue(keepQueueSize + 3)
	if dropped() != 3 {
		t.Fatalf("with nothing retrying, %d writes dropped, want the 3 past the queue", dropped())
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.RetryKeeps(run); close(done) }()
	defer func() { stop(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.keeps) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(s.keeps) > 0 {
		t.Fatal("RetryKeeps did not take the queued writes")
	}
	// It holds keepQueueSize now: the queue fills again, and one more goes.
	queue(keepQueueSize + 1)
	if dropped() != 4 {
		t.Errorf("%d writes dropped in all, want 4: RetryKeeps holds more than %d", dropped(), keepQueueSize)
	}
}
