package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// waitingReads waits until r holds n waiting reads.
func waitingReads[T any](t *testing.T, r *pointReads[T], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.waiting)
		r.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitReads waits for wg, failing the test when reads are still waiting
// after 10 seconds.
func waitReads(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reads still wait for an answer after 10 s")
	}
}

// heldReads are pointReads of one statement at a time over readMany,
// whose first statement waits for release: the reads made meanwhile wait,
// and go together in the next.
type heldReads[T any] struct {
	*pointReads[T]
	started, release chan struct{} // started: the first statement runs
	mu               sync.Mutex
	batches          []int // the number of reads of each statement
}

func holdFirst[T any](readMany func(ctx context.Context, reads []*pointRead[T])) *heldReads[T] {
	h := &heldReads[T]{started: make(chan struct{}), release: make(chan struct{})}
	h.pointReads = newPointReads(1, func(ctx context.Context, reads []*pointRead[T]) {
		h.mu.Lock()
		h.batches = append(h.batches, len(reads))
		first := len(h.batches) == 1
		h.mu.Unlock()
		if first {
			close(h.started)
			<-h.release
		}
		readMany(ctx, reads)
	})
	return h
}

// gathered fails t unless the statements read one, then n reads.
func (h *heldReads[T]) gathered(t *testing.T, n int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if fmt.Sprint(h.batches) != fmt.Sprint([]int{1, n}) {
		t.Fatalf("statements read %v, want [1 %d]: the reads that waited were not gathered", h.batches, n)
	}
}

// TestLeadReadsGatheredStayPerOrganization: reads of single leads that
// arrive while a statement runs go to PostgreSQL in one statement, and
// each still answers as FindLeadByID alone would: its own organization's
// lead, 404 for another organization's id or one that does not exist, and
// a lead of its own when two read the same one. SQLite reads one at a time.
func TestLeadReadsGatheredStayPerOrganization(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.dialect != Postgres {
			if f.s.Leads.reads != nil {
				t.Fatal("SQLite gathers lead reads; it has no round trip to save")
			}
			var metrics strings.Builder
			f.s.WriteMetrics(&metrics)
			if strings.Contains(metrics.String(), "point_read") {
				t.Errorf("SQLite's /metrics counts gathered reads:\n%s", metrics.String())
			}
			return
		}
		var mine, theirs []*impl.Lead
		for i := range 3 {
			mine = append(mine, f.mustCreate(t, f.org, &impl.Lead{Phone: fmt.Sprintf("5511900000%02d", i), Name: ptr(fmt.Sprintf("mine %d", i))}))
			theirs = append(theirs, f.mustCreate(t, f.other, &impl.Lead{Phone: fmt.Sprintf("5511900000%02d", i), Name: ptr(fmt.Sprintf("theirs %d", i))}))
		}

		// One statement at a time, the first held until the others wait.
		store := f.s.Leads
		held := holdFirst(store.readLeads)
		store.reads = held.pointReads

		type ask struct {
			org, id int64
			want    *impl.Lead // nil: not found
		}
		asks := []ask{
			{f.org, mine[1].ID, mine[1]},
			{f.other, theirs[0].ID, theirs[0]},
			{f.org, theirs[2].ID, nil},   // another organization's lead
			{f.other, mine[2].ID, nil},   // and the other way round
			{f.org, mine[2].ID, mine[2]}, // twice, in one batch
			{f.org, mine[2].ID, mine[2]},
			{f.org, mine[0].ID + 1_000_000, nil}, // no such lead
			{f.other, theirs[1].ID, theirs[1]},
		}
		type answer struct {
			lead *impl.Lead
			err  error
		}
		first := make(chan answer, 1)
		go func() {
			l, err := store.FindLeadByID(ctx, f.org, mine[0].ID)
			first <- answer{l, err}
		}()
		<-held.started
		answers := make([]answer, len(asks))
		var wg sync.WaitGroup
		for i, a := range asks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := store.FindLeadByID(ctx, a.org, a.id)
				answers[i] = answer{l, err}
			}()
		}
		waitingReads(t, store.reads, len(asks))
		close(held.release)
		waitReads(t, &wg)

		if a := <-first; a.err != nil || a.lead.ID != mine[0].ID || a.lead.OrganizationID != f.org {
			t.Fatalf("the first read: %+v, %v", a.lead, a.err)
		}
		held.gathered(t, len(asks))
		var metrics strings.Builder
		f.s.WriteMetrics(&metrics)
		for _, line := range []string{
			`iagente_db_point_reads_total{kind="lead",read="alone"} 1`,
			fmt.Sprintf(`iagente_db_point_reads_total{kind="lead",read="gathered"} %d`, len(asks)),
			`iagente_db_point_read_gatherings_total{kind="lead"} 1`,
		} {
			if !strings.Contains(metrics.String(), line+"\n") {
				t.Errorf("/metrics of the store lacks %s:\n%s", line, metrics.String())
			}
		}
		for i, a := range asks {
			got := answers[i]
			if a.want == nil {
				if impl.ErrorCode(got.err) != impl.ENotFound {
					t.Errorf("read %d (org %d, lead %d): %+v, %v; want not found", i, a.org, a.id, got.lead, got.err)
				}
				continue
			}
			if got.err != nil || got.lead.ID != a.want.ID || got.lead.OrganizationID != a.org ||
				*got.lead.Name != *a.want.Name || !got.lead.UpdatedAt.Equal(a.want.UpdatedAt) || got.lead.ETag() != a.want.ETag() {
				t.Errorf("read %d (org %d, lead %d): %+v, %v; want %+v", i, a.org, a.id, got.lead, got.err, a.want)
			}
		}
		if answers[4].lead == answers[5].lead {
			t.Error("two reads of one lead share it: a change by one would show in the other's answer")
		}
		store.reads.mu.Lock()
		running, waiting := store.reads.running, len(store.reads.waiting)
		store.reads.mu.Unlock()
		if running != 0 || waiting != 0 {
			t.Errorf("after the reads: %d statements running, %d reads waiting", running, waiting)
		}

		// Many readers at once, two statements at a time as shipped: each
		// gets its own lead, or 404 for the other organization's.
		store.reads = newPointReads(pointReadsRunning, store.readLeads)
		errs := make(chan error, 64)
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 30 {
					org, lead, other := f.org, mine[(g+i)%3], theirs[(g+i)%3]
					if g%2 == 1 {
						org, lead, other = f.other, theirs[(g+i)%3], mine[(g+i)%3]
					}
					if l, err := store.FindLeadByID(ctx, org, lead.ID); err != nil || l.ID != lead.ID || *l.Name != *lead.Name {
						errs <- fmt.Errorf("org %d lead %d: %+v, %v", org, lead.ID, l, err)
						return
					}
					if l, err := store.FindLeadByID(ctx, org, other.ID); impl.ErrorCode(err) != impl.ENotFound {
						errs <- fmt.Errorf("org %d read the other organization's lead %d: %+v, %v", org, other.ID, l, err)
						return
					}
				}
			}()
		}
		waitReads(t, &wg)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// TestPointReadsHandOnWhatWaits: when a statement ends, the reads that
// waited meanwhile are read by one of them, a statement's error reaches
// each of its reads, and no read is left waiting.
func TestPointReadsHandOnWhatWaits(t *testing.T) {
	ctx := context.Background()
	failing := errors.New("connection lost")
	var mu sync.Mutex
	var batches [][]int64
	started, release := make(chan struct{}), make(chan struct{})
	r := newPointReads(1, func(_ context.Context, reads []*pointRead[impl.Lead]) {
		mu.Lock()
		ids := []int64{}
		for _, x := range reads {
			ids = append(ids, x.id)
		}
		batches = append(batches, ids)
		n := len(batches)
		mu.Unlock()
		if n == 1 {
			close(started)
			<-release
		}
		for _, x := range reads {
			if n == 2 {
				x.err = failing
			} else {
				x.got = &impl.Lead{ID: x.id, OrganizationID: x.org}
			}
		}
	})
	go func() { _, _ = r.find(ctx, 1, 100) }()
	<-started
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.find(ctx, 1, int64(i+1))
		}()
	}
	waitingReads(t, r, 5)
	close(release)
	waitReads(t, &wg)
	for i, err := range errs {
		if !errors.Is(err, failing) {
			t.Errorf("read %d of the failed statement: %v, want its error", i, err)
		}
	}
	if l, err := r.find(ctx, 2, 7); err != nil || l.ID != 7 || l.OrganizationID != 2 {
		t.Errorf("a read after the failed statement: %+v, %v", l, err)
	}
	if len(batches) != 3 || len(batches[1]) != 5 || len(batches[2]) != 1 {
		t.Errorf("statements read %v", batches)
	}
	if r.running != 0 || len(r.waiting) != 0 {
		t.Errorf("%d statements running, %d reads waiting", r.running, len(r.waiting))
	}
}

// TestPointReadsSurviveAPanic: when reading a batch panics, the panic
// reaches the reader that ran it (for the server's recovery to answer its
// request), each other read of the batch gets an error, and the reads after
// it still run.
func TestPointReadsSurviveAPanic(t *testing.T) {
	ctx := context.Background()
	var calls int
	var mu sync.Mutex
	started, release := make(chan struct{}), make(chan struct{})
	r := newPointReads(1, func(_ context.Context, reads []*pointRead[impl.Lead]) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			close(started)
			<-release
		}
		if n == 2 {
			reads[0].got = &impl.Lead{ID: reads[0].id} // answered, then the panic
			panic("a driver's bug")
		}
		for _, x := range reads {
			x.got = &impl.Lead{ID: x.id, OrganizationID: x.org}
		}
	})
	go func() { _, _ = r.find(ctx, 1, 1) }()
	<-started
	type outcome struct {
		err      error
		panicked any
	}
	var wg sync.WaitGroup
	outcomes := make([]outcome, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { outcomes[i].panicked = recover() }()
			_, outcomes[i].err = r.find(ctx, 1, int64(10+i))
		}()
	}
	waitingReads(t, r, 3)
	close(release)
	waitReads(t, &wg)
	panics, failed := 0, 0
	for _, o := range outcomes {
		switch {
		case o.panicked == "a driver's bug":
			panics++
		case errors.Is(o.err, errPointReadFailed):
			failed++
		}
	}
	if panics != 1 || failed != 2 {
		t.Errorf("the batch that panicked: %+v; want the panic in the reader that ran it and errors for the other two", outcomes)
	}
	if l, err := r.find(ctx, 2, 5); err != nil || l.ID != 5 {
		t.Errorf("a read after the panic: %+v, %v", l, err)
	}
	if r.running != 0 || len(r.waiting) != 0 {
		t.Errorf("%d statements running, %d reads waiting", r.running, len(r.waiting))
	}
}

// TestMessageReadsGatheredStayPerOrganization: reads of single messages
// gathered into one statement on PostgreSQL answer each as the one-message
// statement does, field for field, and never with another organization's
// message.
func TestMessageReadsGatheredStayPerOrganization(t *testing.T) {
	ctx := context.Background()
	forEachDB(t, func(t *testing.T, f *fixture) {
		if f.db.dialect != Postgres {
			if f.s.Messages.reads != nil {
				t.Fatal("SQLite gathers message reads; it has no round trip to save")
			}
			return
		}
		mine, theirs := f.integration(t, f.org, impl.ChannelWhatsApp), f.integration(t, f.other, impl.ChannelWhatsApp)
		m1, m2, o1 := f.queued(t, mine), f.queued(t, mine), f.queued(t, theirs)
		wamid := "wamid.HBgN"
		if _, err := f.s.Messages.FinishMessage(ctx, f.org, m2.ID, impl.StatusUpdate{Status: impl.StatusSent,
			At: f.clock.now(), ProviderMessageID: wamid}); err != nil {
			t.Fatal(err)
		}

		store := f.s.Messages
		held := holdFirst(store.readMessages)
		store.reads = held.pointReads
		asks := [][2]int64{{f.org, m1.ID}, {f.org, m2.ID}, {f.other, o1.ID}, {f.org, o1.ID}, {f.other, m1.ID}, {f.org, m2.ID}}
		go func() { _, _ = store.FindMessageByID(ctx, f.org, m1.ID) }()
		<-held.started
		got := make([]*impl.Message, len(asks))
		errs := make([]error, len(asks))
		var wg sync.WaitGroup
		for i, a := range asks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = store.FindMessageByID(ctx, a[0], a[1])
			}()
		}
		waitingReads(t, store.reads, len(asks))
		close(held.release)
		waitReads(t, &wg)
		held.gathered(t, len(asks))
		for i, a := range asks {
			want, wantErr := store.findOne(ctx, a[0], a[1])
			if impl.ErrorCode(errs[i]) != impl.ErrorCode(wantErr) || !reflect.DeepEqual(got[i], want) {
				t.Errorf("read %d (org %d, message %d): %+v, %v; alone: %+v, %v", i, a[0], a[1], got[i], errs[i], want, wantErr)
			}
		}
		if got[1].ProviderMessageID == nil || *got[1].ProviderMessageID != wamid || got[1].SentAt == nil {
			t.Errorf("the sent message read in a batch: %+v", got[1])
		}
		if got[1] == got[5] {
			t.Error("two reads of one message share it")
		}
	})
}
