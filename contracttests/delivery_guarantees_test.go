package contracttests

// The product's two webhook delivery guarantees, checked against real server
// processes on one PostgreSQL database:
//
//   - at least once: a server killed with SIGKILL mid-delivery loses no
//     event; a server started on the same database delivers the rest once
//     the dead process's leases run out (duplicates are allowed);
//   - no double delivery between replicas: two servers dispatching from the
//     same outbox never deliver one delivery twice, and both take a share.
//
//   - a commit on any replica wakes every replica's dispatcher at once: a
//     server that only writes events (WEBHOOK_DISPATCH=off) and one that
//     only delivers them, polling hourly, deliver each event as it comes.
//
// They need PostgreSQL (TEST_POSTGRES_URL; REQUIRE_POSTGRES=1 turns its
// absence into a failure) and are skipped under -short. The helpers are in
// guarantees_*_test.go.

import (
	"database/sql"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/api"
	"github.com/iagente/iagente-sdr/impl/app"
)

func TestDeliveryCrashRecovery(t *testing.T) {
	// Most of its time is spent waiting on child processes: it runs beside
	// the other tests that do (each has its own database and ports).
	t.Parallel()
	// 4 workers against a receiver that takes 30ms: about 130 deliveries a
	// second, so delivering 1,000 takes several seconds and the kill lands
	// mid-delivery.
	deliveryCrashRecovery(t, 4, 30*time.Millisecond, 100)
}

// TestDeliveryCrashRecoveryDefaultWorkers is the same kill with the
// service's default workers (64, WEBHOOK_WORKERS unset), half-way through
// the drain. The receiver takes 500ms, which still counts as quick, so the
// one webhook borrows idle workers, up to 48 attempts at once (about 100
// deliveries a second): what is in flight when the process dies is what is
// sent again.
func TestDeliveryCrashRecoveryDefaultWorkers(t *testing.T) {
	t.Parallel()
	deliveryCrashRecovery(t, 0, 500*time.Millisecond, 500)
}

// deliveryCrashRecovery kills (-9) a server once the receiver, which takes
// receiverDelay to answer, has seen killAt of 1,000 events; starts another
// on the same database; and checks that every event arrives, each lead's
// once as an event, and that no more was sent again than the dead process
// could have had unrecorded. workers 0 leaves WEBHOOK_WORKERS to its
// default.
func deliveryCrashRecovery(t *testing.T, workers int, receiverDelay time.Duration, killAt int) {
	dbURL := guaranteesPostgres(t)
	bin := guaranteesBinary(t)
	const n = 1000

	extra := map[string]string{}
	if workers == 0 {
		workers = app.Defaults().WebhookWorkers
	} else {
		extra["WEBHOOK_WORKERS"] = fmt.Sprint(workers)
	}
	env := guaranteesEnv(dbURL, extra)
	key := guaranteesCreateOrg(t, bin, env, "Crash recovery")
	rcv := newGuaranteesReceiver(t, receiverDelay)

	first := startGuaranteesServer(t, bin, env, "first")
	apiFirst := newGuaranteesAPI(first, key)
	hook := apiFirst.createWebhook(t, rcv.url(guaranteesPath))
	rcv.SetSecrets(hook.SigningSecret)

	start := time.Now()
	leadIDs, err := apiFirst.createLeads(guaranteesPhones("55119", 0, n), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d leads in %s; %d events received meanwhile", n, time.Since(start).Round(time.Millisecond), guaranteesTally(rcv).events)

	if !guaranteesWait(30*time.Second, 10*time.Millisecond, func() bool { return guaranteesTally(rcv).events >= killAt }) {
		t.Fatalf("the receiver saw only %d events within 30s of the leads being created, want %d", guaranteesTally(rcv).events, killAt)
	}
	first.kill9(t)
	killedAfter := guaranteesTally(rcv).events
	if killedAfter >= n {
		t.Fatalf("all %d events were delivered before the kill: the test did not crash the server mid-delivery", n)
	}
	firstAttempts := len(first.attemptLogs(t))
	t.Logf("killed the first server (SIGKILL) after %d distinct events received (%d deliveries, %d attempts logged)",
		killedAfter, guaranteesTally(rcv).total, firstAttempts)

	second := startGuaranteesServer(t, bin, env, "second")
	apiSecond := newGuaranteesAPI(second, key)
	restarted := time.Now()
	// Each look tallies the whole attempt log, so it looks less often
	// than it did before the kill.
	if !guaranteesWait(90*time.Second, 100*time.Millisecond, func() bool { return guaranteesTally(rcv).events >= n }) {
		t.Fatalf("after the restart the receiver saw %d of %d events within 90s", guaranteesTally(rcv).events, n)
	}
	t.Logf("the second server finished delivering %s after it started", time.Since(restarted).Round(time.Millisecond))

	// The receiver has everything; the last attempts' records may still be
	// being written.
	var ds []api.Delivery
	settled := guaranteesWait(30*time.Second, 200*time.Millisecond, func() bool {
		ds = apiSecond.deliveries(t, hook.Id)
		return len(ds) == n && guaranteesStatuses(ds)["succeeded"] == n
	})
	got := guaranteesTally(rcv)

	for _, p := range got.problems {
		t.Errorf("receiver: %s", p)
	}
	if got.events != n {
		t.Errorf("the receiver saw %d distinct events, want %d", got.events, n)
	}
	missing := 0
	for _, id := range leadIDs {
		if _, ok := got.leads[id]; !ok {
			if missing++; missing <= 10 {
				t.Errorf("lead %d: its lead.created event was never delivered", id)
			}
		} else if got.eventsPerLead[id] != 1 {
			t.Errorf("lead %d: %d different lead.created events were delivered, want 1", id, got.eventsPerLead[id])
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d leads never had their event delivered", missing, n)
	}
	if len(got.leads) != n {
		t.Errorf("events were delivered for %d leads, want exactly the %d created", len(got.leads), n)
	}

	if !settled {
		t.Errorf("after 30s the deliveries API lists %d deliveries with statuses %v, want %d succeeded",
			len(ds), guaranteesStatuses(ds), n)
	}
	attempts := 0
	final := guaranteesTally(rcv)
	for _, d := range ds {
		attempts += len(d.Attempts)
		if _, ok := final.byEvent[d.EventId]; !ok {
			t.Errorf("delivery %d (event %s) is %s but the receiver never saw its event", d.Id, d.EventId, d.Status)
		}
	}
	secondAttempts := len(second.attemptLogs(t))

	for _, s := range []*guaranteesServer{first, second} {
		for i, line := range s.logProblems(t) {
			if i < 10 {
				t.Logf("server %s logged: %s", s.name, line)
			}
		}
	}
	// Only what the dead process had sent and not yet recorded is sent
	// again: its attempts running (at most one per worker), the outcomes
	// waiting for the recorder (at most a worker's worth) and the batch
	// being recorded (as many). More means a recorded attempt was sent
	// again, or a lease ran out while its holder was alive.
	if got.dupEvents > 3*workers {
		t.Errorf("%d events were delivered more than once after the kill, want at most %d (three times the %d workers)",
			got.dupEvents, 3*workers, workers)
	}
	guaranteesReport(t, fmt.Sprintf("crash test, %d workers, %s receiver: %d events, %d delivered, %d duplicates (%.1f %%), killed after %d",
		workers, receiverDelay, n, got.events, got.dupEvents, 100*float64(got.dupEvents)/n, killedAfter))
	t.Logf("crash test details: %d requests received in total (%d more than events), most repeats of one event %d; "+
		"attempts recorded %d (logged: first server %d, second server %d)",
		got.total, got.total-got.events, got.maxEventRepeats, attempts, firstAttempts, secondAttempts)
}

func TestDeliveryTwoReplicas(t *testing.T) {
	// Not in parallel with the other child-process tests, unlike them: it
	// asserts no duplicate at all, and its replicas' leases must not run
	// out on a machine the other tests starve. What it proves is that two
	// replicas never claim one delivery together, which needs no lease to
	// run out: the lease is 15 s rather than the crash test's 3 s, so that
	// a replica stalled for a second between an attempt and its record (a
	// lease lost, rightly sent again) is not taken for a double claim.
	dbURL := guaranteesPostgres(t)
	bin := guaranteesBinary(t)
	const n = 2000

	env := guaranteesEnv(dbURL, map[string]string{"WEBHOOK_LEASE": "15s"})
	// Creating the organization migrates the database, so the replicas do
	// not race to migrate it.
	key := guaranteesCreateOrg(t, bin, env, "Two replicas")
	rcv := newGuaranteesReceiver(t, 0)

	a := startGuaranteesServer(t, bin, env, "A")
	b := startGuaranteesServer(t, bin, env, "B")
	apiA, apiB := newGuaranteesAPI(a, key), newGuaranteesAPI(b, key)
	hook := apiA.createWebhook(t, rcv.url(guaranteesPath))
	rcv.SetSecrets(hook.SigningSecret)

	start := time.Now()
	phones := guaranteesPhones("55119", 0, n)
	type result struct {
		ids []int64
		err error
	}
	results := make(chan result, 2)
	for i, c := range []*guaranteesAPI{apiA, apiB} {
		half := phones[i*n/2 : (i+1)*n/2]
		go func() {
			ids, err := c.createLeads(half, 4)
			results <- result{ids, err}
		}()
	}
	var leadIDs []int64
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		leadIDs = append(leadIDs, r.ids...)
	}
	t.Logf("created %d leads, half through each replica, in %s", n, time.Since(start).Round(time.Millisecond))

	// Each look tallies the whole attempt log: not too often.
	if !guaranteesWait(60*time.Second, 100*time.Millisecond, func() bool { return guaranteesTally(rcv).events >= n }) {
		t.Fatalf("the receiver saw %d of %d events within 60s", guaranteesTally(rcv).events, n)
	}
	t.Logf("all %d events received %s after the first lead was created", n, time.Since(start).Round(time.Millisecond))

	var ds []api.Delivery
	settled := guaranteesWait(30*time.Second, 200*time.Millisecond, func() bool {
		ds = apiB.deliveries(t, hook.Id)
		return len(ds) == n && guaranteesStatuses(ds)["succeeded"] == n
	})
	// A delivery claimed twice would be attempted twice at about the same
	// time; give any such second request a moment to arrive.
	time.Sleep(time.Second)
	got := guaranteesTally(rcv)

	for _, p := range got.problems {
		t.Errorf("receiver: %s", p)
	}
	if got.events != n || got.messages != n {
		t.Errorf("the receiver saw %d distinct events and %d distinct X-Webhook-Ids, want %d of each", got.events, got.messages, n)
	}
	if got.total != n || got.dupMessages != 0 || got.dupEvents != 0 {
		t.Errorf("the receiver got %d requests for %d deliveries: %d X-Webhook-Ids and %d events were delivered more than once",
			got.total, n, got.dupMessages, got.dupEvents)
	}
	for _, id := range leadIDs {
		if _, ok := got.leads[id]; !ok {
			t.Errorf("lead %d: its lead.created event was never delivered", id)
		}
	}

	if !settled {
		t.Errorf("after 30s the deliveries API lists %d deliveries with statuses %v, want %d succeeded",
			len(ds), guaranteesStatuses(ds), n)
	}
	deliveryIDs := map[int64]bool{}
	multi := 0
	for _, d := range ds {
		deliveryIDs[d.Id] = true
		if d.Status != "succeeded" || len(d.Attempts) != 1 {
			if multi++; multi <= 10 {
				t.Errorf("delivery %d (event %s): status %s with %d attempts, want succeeded with exactly 1",
					d.Id, d.EventId, d.Status, len(d.Attempts))
			}
		}
	}
	if multi > 0 {
		t.Errorf("%d of %d deliveries did not succeed with exactly one attempt", multi, len(ds))
	}

	// Who made each attempt: every attempt is logged ("webhook attempt",
	// delivery_id) by the process that made it, after it is recorded.
	var byA, byB []int64
	guaranteesWait(5*time.Second, 100*time.Millisecond, func() bool {
		byA, byB = a.attemptLogs(t), b.attemptLogs(t)
		return len(byA)+len(byB) >= n
	})
	seen := map[int64]string{}
	again, unknown := 0, 0
	for _, side := range []struct {
		name string
		ids  []int64
	}{{"A", byA}, {"B", byB}} {
		for _, id := range side.ids {
			if prev, ok := seen[id]; ok {
				if again++; again <= 10 {
					t.Errorf("delivery %d was attempted by replica %s and again by replica %s", id, prev, side.name)
				}
			}
			seen[id] = side.name
			if !deliveryIDs[id] {
				if unknown++; unknown <= 10 {
					t.Errorf("replica %s logged an attempt of delivery %d, which the API does not list", side.name, id)
				}
			}
		}
	}
	if again > 0 {
		t.Errorf("%d attempts were of deliveries already attempted (by either replica)", again)
	}
	if len(byA)+len(byB) != n {
		t.Errorf("the replicas logged %d + %d = %d attempts, want %d", len(byA), len(byB), len(byA)+len(byB), n)
	}
	for _, side := range []struct {
		name string
		n    int
	}{{"A", len(byA)}, {"B", len(byB)}} {
		if side.n*10 < n {
			t.Errorf("replica %s made %d of %d attempts, want at least 10%%", side.name, side.n, n)
		}
	}

	for _, s := range []*guaranteesServer{a, b} {
		for i, line := range s.logProblems(t) {
			if i < 10 {
				t.Logf("replica %s logged: %s", s.name, line)
			}
		}
	}
	guaranteesReport(t, fmt.Sprintf("two replicas: %d events, replica A %d, replica B %d, duplicates %d",
		n, len(byA), len(byB), got.total-got.messages))
	if t.Failed() {
		var dups []string
		for id, c := range got.byMessage {
			if c > 1 && len(dups) < 20 {
				dups = append(dups, fmt.Sprintf("%s x%d", id, c))
			}
		}
		sort.Strings(dups)
		if len(dups) > 0 {
			t.Logf("X-Webhook-Ids received more than once (up to 20): %v", dups)
		}
	}
}

// TestDeliveryWakeUpAcrossReplicas: the API replica writes the events and
// delivers nothing; the dispatching replica polls once an hour, so only the
// API replica's notification can make it deliver within the test. Each
// event is written once the previous one has arrived, so no poll or
// start-up claim can have picked it up, and the third is written after the
// dispatching replica's listening connection was cut and made again.
func TestDeliveryWakeUpAcrossReplicas(t *testing.T) {
	// Most of its time is spent waiting on child processes: it runs beside
	// the other tests that do (each has its own database and ports).
	t.Parallel()
	dbURL := guaranteesPostgres(t)
	bin := guaranteesBinary(t)
	key := guaranteesCreateOrg(t, bin, guaranteesEnv(dbURL, nil), "Wake-up")
	rcv := newGuaranteesReceiver(t, 0)

	dispatcher := startGuaranteesServer(t, bin, guaranteesEnv(dbURL, map[string]string{"WEBHOOK_POLL_INTERVAL": "1h"}), "dispatcher")
	apiOnly := startGuaranteesServer(t, bin, guaranteesEnv(dbURL, map[string]string{"WEBHOOK_DISPATCH": "off"}), "api")
	api := newGuaranteesAPI(apiOnly, key)
	hook := api.createWebhook(t, rcv.url(guaranteesPath))
	rcv.SetSecrets(hook.SigningSecret)

	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	listeners := func() int {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Each replica has one listening connection (the API replica's hears of
	// revoked API keys).
	listening := listeners()
	if listening != 2 {
		t.Fatalf("%d connections listen for notifications, want one per replica", listening)
	}

	deliver := func(round int) {
		t.Helper()
		if _, err := api.createLeads(guaranteesPhones("55119", round, 1), 1); err != nil {
			t.Fatal(err)
		}
		if !guaranteesWait(20*time.Second, 10*time.Millisecond, func() bool { return guaranteesTally(rcv).events >= round+1 }) {
			t.Fatalf("round %d: the event written by the API replica did not reach the receiver within 20s; "+
				"the dispatching replica polls hourly and was not woken", round+1)
		}
	}
	deliver(0)
	deliver(1)

	var cut int
	if err := db.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&cut); err != nil || cut != listening {
		t.Fatalf("terminated %d listening connections (%v), want %d", cut, err, listening)
	}
	if !guaranteesWait(20*time.Second, 20*time.Millisecond, func() bool { return listeners() == listening }) {
		t.Fatal("the replicas did not listen again within 20s of losing their connections")
	}
	deliver(2)

	got := guaranteesTally(rcv)
	for _, p := range got.problems {
		t.Errorf("receiver: %s", p)
	}
	if got.events != 3 || got.total != 3 {
		t.Errorf("the receiver got %d requests for %d distinct events, want 3 and 3", got.total, got.events)
	}
	// An attempt is logged once it is recorded, a moment after the
	// receiver has it.
	var logged int
	guaranteesWait(5*time.Second, 20*time.Millisecond, func() bool { logged = len(dispatcher.attemptLogs(t)); return logged >= 3 })
	if logged != 3 {
		t.Errorf("the dispatching replica logged %d attempts, want 3", logged)
	}
	if n := len(apiOnly.attemptLogs(t)); n != 0 {
		t.Errorf("the API replica, with WEBHOOK_DISPATCH=off, logged %d attempts", n)
	}
}
