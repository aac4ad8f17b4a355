package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var _ Limiter = (*Memory)(nil)

// clock is a settable time source for Memory.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func utc(h, m, s, ns int) time.Time { return time.Date(2026, 3, 13, h, m, s, ns, time.UTC) }

var (
	nextMinute   = utc(14, 3, 0, 0)
	nextMidnight = time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
)

func newLimiter(perMinute, perDay int, c *clock) *Memory {
	m := NewMemory(perMinute, perDay)
	m.Now = c.Now
	return m
}

func allow(t *testing.T, m *Memory, key string) Decision {
	t.Helper()
	d, err := m.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

func TestAllowUpToTheMinuteLimit(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(3, 100, c)
	for i, wantRemaining := range []int{2, 1, 0} {
		d := allow(t, m, "k")
		want := Decision{Allowed: true, Limit: 3, Remaining: wantRemaining, Reset: nextMinute}
		if d != want {
			t.Fatalf("request %d: %+v, want %+v", i+1, d, want)
		}
	}
	d := allow(t, m, "k")
	want := Decision{Allowed: false, Limit: 3, Remaining: 0, Reset: nextMinute, RetryAfter: 49 * time.Second}
	if d != want {
		t.Fatalf("request 4: %+v, want %+v", d, want)
	}
}

func TestRetryAfterIsAtLeastOneSecond(t *testing.T) {
	c := newClock(utc(14, 2, 59, 900_000_000))
	m := newLimiter(1, 100, c)
	allow(t, m, "k")
	d := allow(t, m, "k")
	if d.Allowed {
		t.Fatal("second request allowed, want refused")
	}
	if d.RetryAfter != time.Second {
		t.Errorf("RetryAfter = %v 100ms before the window ends, want 1s", d.RetryAfter)
	}
	if !d.Reset.Equal(nextMinute) {
		t.Errorf("Reset = %v, want %v", d.Reset, nextMinute)
	}
}

func TestRetryAfterIsWholeWindowAtItsStart(t *testing.T) {
	c := newClock(utc(14, 2, 0, 0))
	m := newLimiter(1, 100, c)
	allow(t, m, "k")
	if d := allow(t, m, "k"); d.Allowed || d.RetryAfter != time.Minute {
		t.Errorf("refused at the window's first instant: %+v, want RetryAfter 1m", d)
	}
}

func TestMinuteWindowRollsOver(t *testing.T) {
	c := newClock(utc(14, 2, 30, 0))
	m := newLimiter(2, 100, c)
	allow(t, m, "k")
	allow(t, m, "k")
	c.Set(utc(14, 2, 59, 999_999_999))
	if d := allow(t, m, "k"); d.Allowed {
		t.Fatalf("last nanosecond of the minute: %+v, want refused", d)
	}
	c.Set(nextMinute)
	d := allow(t, m, "k")
	want := Decision{Allowed: true, Limit: 2, Remaining: 1, Reset: utc(14, 4, 0, 0)}
	if d != want {
		t.Fatalf("first instant of the next minute: %+v, want %+v", d, want)
	}
	// Skipping minutes altogether also starts afresh.
	c.Set(utc(14, 40, 1, 0))
	d = allow(t, m, "k")
	want = Decision{Allowed: true, Limit: 2, Remaining: 1, Reset: utc(14, 41, 0, 0)}
	if d != want {
		t.Fatalf("half an hour later: %+v, want %+v", d, want)
	}
}

func TestRefusedRequestsAreNotCounted(t *testing.T) {
	c := newClock(utc(14, 2, 0, 0))
	m := newLimiter(3, 5, c)
	for range 3 {
		if d := allow(t, m, "k"); !d.Allowed {
			t.Fatalf("refused early: %+v", d)
		}
	}
	for range 50 {
		if d := allow(t, m, "k"); d.Allowed {
			t.Fatalf("allowed over the minute limit: %+v", d)
		}
	}
	// The day has used 3 of 5: the 50 refusals did not eat into it.
	c.Set(nextMinute)
	for i, wantRemaining := range []int{1, 0} {
		d := allow(t, m, "k")
		want := Decision{Allowed: true, Limit: 5, Remaining: wantRemaining, Reset: nextMidnight}
		if d != want {
			t.Fatalf("next minute, request %d: %+v, want %+v", i+1, d, want)
		}
	}
	if d := allow(t, m, "k"); d.Allowed || d.Limit != 5 {
		t.Fatalf("day exhausted: %+v, want refused by the day limit", d)
	}
}

func TestDayLimitBindsBeforeMinuteLimit(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(60, 5, c)
	for i := range 5 {
		d := allow(t, m, "k")
		want := Decision{Allowed: true, Limit: 5, Remaining: 4 - i, Reset: nextMidnight}
		if d != want {
			t.Fatalf("request %d: %+v, want %+v (the day window is closer to running out)", i+1, d, want)
		}
		c.Advance(time.Minute) // never near the minute limit
	}
	d := allow(t, m, "k")
	wantRetry := nextMidnight.Sub(c.Now())
	want := Decision{Allowed: false, Limit: 5, Remaining: 0, Reset: nextMidnight, RetryAfter: wantRetry}
	if d != want {
		t.Fatalf("over the day limit: %+v, want %+v", d, want)
	}
	// A new minute does not help; a new day does.
	c.Set(utc(23, 59, 59, 500_000_000))
	if d := allow(t, m, "k"); d.Allowed || d.RetryAfter != time.Second || !d.Reset.Equal(nextMidnight) {
		t.Fatalf("half a second before midnight: %+v, want refused with RetryAfter 1s", d)
	}
	c.Set(nextMidnight)
	d = allow(t, m, "k")
	want = Decision{Allowed: true, Limit: 5, Remaining: 4, Reset: nextMidnight.Add(24 * time.Hour)}
	if d != want {
		t.Fatalf("next day: %+v, want %+v", d, want)
	}
}

// The report switches from the minute window to the day window once the
// day has fewer requests left.
func TestReportedWindowIsTheCloserOne(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(3, 5, c)
	var got []Decision
	for range 3 {
		got = append(got, allow(t, m, "k"))
	}
	c.Set(nextMinute)
	for range 2 {
		got = append(got, allow(t, m, "k"))
	}
	want := []Decision{
		{Allowed: true, Limit: 3, Remaining: 2, Reset: nextMinute},   // day: 4 left
		{Allowed: true, Limit: 3, Remaining: 1, Reset: nextMinute},   // day: 3 left
		{Allowed: true, Limit: 3, Remaining: 0, Reset: nextMinute},   // day: 2 left
		{Allowed: true, Limit: 5, Remaining: 1, Reset: nextMidnight}, // minute: 2 left
		{Allowed: true, Limit: 5, Remaining: 0, Reset: nextMidnight}, // minute: 1 left
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
}

// When one request uses up both windows at once, the headers must announce
// the day's reset: that is when the next request can succeed, and it is what
// the refusal that follows reports.
func TestBothWindowsExhaustedReportsTheDay(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(2, 2, c)
	allow(t, m, "k")
	last := allow(t, m, "k")
	refused := allow(t, m, "k")
	if refused.Allowed || !refused.Reset.Equal(nextMidnight) {
		t.Fatalf("third request: %+v, want refused until midnight", refused)
	}
	if !last.Allowed || last.Remaining != 0 || last.Limit != refused.Limit || !last.Reset.Equal(refused.Reset) {
		t.Errorf("last allowed request reports Limit %d Remaining %d Reset %v; the refusal right after it reports Limit %d Reset %v",
			last.Limit, last.Remaining, last.Reset, refused.Limit, refused.Reset)
	}
}

func TestKeysAreIndependent(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(2, 100, c)
	allow(t, m, "a")
	allow(t, m, "a")
	if d := allow(t, m, "a"); d.Allowed {
		t.Fatal("key a over its limit was allowed")
	}
	for _, key := range []string{"b", "A", "a ", ""} {
		if d := allow(t, m, key); !d.Allowed || d.Remaining != 1 {
			t.Errorf("key %q after a's requests: %+v, want allowed with 1 remaining", key, d)
		}
	}
}

// Windows are UTC whatever the clock's location.
func TestWindowsAreUTC(t *testing.T) {
	saoPaulo := time.FixedZone("BRT", -3*60*60)
	// 22:30 on the 13th in São Paulo is 01:30 on the 14th in UTC.
	c := newClock(time.Date(2026, 3, 13, 22, 30, 15, 0, saoPaulo))
	m := newLimiter(60, 1, c)
	d := allow(t, m, "k")
	wantReset := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	if !d.Reset.Equal(wantReset) {
		t.Errorf("Reset = %v, want the next UTC midnight %v", d.Reset, wantReset)
	}
	if d.Reset.Location() != time.UTC {
		t.Errorf("Reset is in %v, want UTC", d.Reset.Location())
	}
}

func TestZeroLimitRefusesEverything(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(0, 100, c)
	d := allow(t, m, "k")
	if d.Allowed || d.RetryAfter < time.Second {
		t.Errorf("%+v, want refused with a RetryAfter", d)
	}
}

func TestDefaultClockIsTimeNow(t *testing.T) {
	m := NewMemory(1, 10)
	before := time.Now().UTC()
	d := allow(t, m, "k")
	if !d.Allowed {
		t.Fatalf("%+v", d)
	}
	if d.Reset.Before(before) || d.Reset.After(before.Add(time.Minute+time.Second)) {
		t.Errorf("Reset = %v, want within a minute of %v", d.Reset, before)
	}
}

// Keys that stopped calling are forgotten once their day is over.
func TestIdleKeysAreSwept(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(10, 100, c)
	for i := range 100 {
		allow(t, m, fmt.Sprintf("key-%d", i))
	}
	if n := len(m.counters); n != 100 {
		t.Fatalf("%d counters, want 100", n)
	}
	c.Set(nextMidnight.Add(time.Hour))
	allow(t, m, "fresh")
	if n := len(m.counters); n != 1 {
		t.Errorf("%d counters the next day, want 1 (only the key that called today)", n)
	}
	// A swept key starts afresh rather than inheriting anything.
	if d := allow(t, m, "key-1"); !d.Allowed || d.Remaining != 9 {
		t.Errorf("swept key: %+v, want allowed with 9 remaining", d)
	}
}

// Many goroutines on one key: exactly the limit gets through. Run with -race.
func TestConcurrentRequestsAreCountedExactly(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	const perMinute, goroutines, each = 1000, 32, 100
	m := newLimiter(perMinute, 1_000_000, c)
	var allowed, refused atomic.Int64
	perKey := map[string]*atomic.Int64{"shared": {}, "other": {}}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "shared"
			if g%4 == 0 {
				key = "other"
			}
			for range each {
				d, err := m.Allow(context.Background(), key)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
					perKey[key].Add(1)
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// 24 goroutines on "shared" make 2400 requests, 8 on "other" make 800.
	if got := perKey["shared"].Load(); got != perMinute {
		t.Errorf("shared key: %d allowed, want exactly %d", got, perMinute)
	}
	if got := perKey["other"].Load(); got != 800 {
		t.Errorf("other key: %d allowed, want all 800", got)
	}
	if allowed.Load()+refused.Load() != goroutines*each {
		t.Errorf("%d decisions, want %d", allowed.Load()+refused.Load(), goroutines*each)
	}
}

// The clock may also move while goroutines call; the total allowed over two
// minutes is exactly twice the per-minute limit.
func TestConcurrentAcrossAMinuteBoundary(t *testing.T) {
	c := newClock(utc(14, 2, 11, 0))
	m := newLimiter(50, 1_000_000, c)
	var allowed atomic.Int64
	run := func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if d, _ := m.Allow(context.Background(), "k"); d.Allowed {
						allowed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	run()
	c.Set(nextMinute)
	run()
	if got := allowed.Load(); got != 100 {
		t.Errorf("%d allowed over two minutes, want 100", got)
	}
}
