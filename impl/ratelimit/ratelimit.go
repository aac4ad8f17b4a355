// Package ratelimit counts requests per API key in fixed windows of one
// minute and one day (UTC).
//
// Memory keeps the counters in the process. It is exact for one replica;
// several replicas need a shared Limiter (for example on PostgreSQL or
// Redis) behind the same interface.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Decision is the outcome of one request against the limits.
type Decision struct {
	Allowed bool
	// Limit, Remaining and Reset describe whichever window is closer to
	// running out; they become the X-RateLimit-* headers.
	Limit     int
	Remaining int
	Reset     time.Time
	// RetryAfter is set when the request is refused.
	RetryAfter time.Duration
}

// Limiter decides whether the holder of key may make one more request.
type Limiter interface {
	Allow(ctx context.Context, key string) (Decision, error)
}

// Gate is a Limiter that can also say, without counting a request, that a
// key is out of requests: to refuse work before doing it.
type Gate interface {
	Limiter
	Exhausted(ctx context.Context, key string) (bool, error)
}

// Memory is an in-process Limiter.
type Memory struct {
	PerMinute int
	PerDay    int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	counters  map[string]*counter
	lastSweep time.Time
}

type counter struct {
	minuteStart time.Time
	minute      int
	dayStart    time.Time
	day         int
}

// NewMemory returns a Limiter allowing perMinute and perDay requests per key.
func NewMemory(perMinute, perDay int) *Memory {
	return &Memory{PerMinute: perMinute, PerDay: perDay}
}

type window struct {
	limit, used int
	reset       time.Time
}

func (w window) remaining() int { return max(w.limit-w.used, 0) }

// Allow implements Limiter. A refused request is not counted.
func (m *Memory) Allow(_ context.Context, key string) (Decision, error) {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	now = now.UTC()
	minuteStart := now.Truncate(time.Minute)
	dayStart := now.Truncate(24 * time.Hour)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counters == nil {
		m.counters = map[string]*counter{}
	}
	m.sweep(now, dayStart)
	c := m.counters[key]
	if c == nil {
		c = &counter{}
		m.counters[key] = c
	}
	if !c.minuteStart.Equal(minuteStart) {
		c.minuteStart, c.minute = minuteStart, 0
	}
	if !c.dayStart.Equal(dayStart) {
		c.dayStart, c.day = dayStart, 0
	}
	minute := window{m.PerMinute, c.minute, minuteStart.Add(time.Minute)}
	day := window{m.PerDay, c.day, dayStart.Add(24 * time.Hour)}

	if minute.remaining() == 0 || day.remaining() == 0 {
		// Of the exhausted windows, the one that resets last decides when a
		// retry can succeed.
		w := minute
		if day.remaining() == 0 {
			w = day
		}
		retry := w.reset.Sub(now)
		if retry < time.Second {
			retry = time.Second
		}
		return Decision{Allowed: false, Limit: w.limit, Remaining: 0, Reset: w.reset, RetryAfter: retry}, nil
	}
	c.minute++
	c.day++
	minute.used, day.used = c.minute, c.day
	w := minute
	// When this request used up the day too, the day's reset is when the
	// next request can succeed, as the refusal that follows will say.
	if day.remaining() < minute.remaining() || day.remaining() == 0 {
		w = day
	}
	return Decision{Allowed: true, Limit: w.limit, Remaining: w.remaining(), Reset: w.reset}, nil
}

// Exhausted reports whether key has no request left in a window now,
// without counting one: for refusing work before doing it.
func (m *Memory) Exhausted(_ context.Context, key string) (bool, error) {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	now = now.UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counters[key]
	if c == nil {
		return false, nil
	}
	return (c.minuteStart.Equal(now.Truncate(time.Minute)) && c.minute >= m.PerMinute) ||
		(c.dayStart.Equal(now.Truncate(24*time.Hour)) && c.day >= m.PerDay), nil
}

// sweep forgets keys idle since before today, at most once a minute, so the
// map does not grow with keys that stopped calling.
func (m *Memory) sweep(now, dayStart time.Time) {
	if now.Sub(m.lastSweep) < time.Minute {
		return
	}
	m.lastSweep = now
	for k, c := range m.counters {
		if c.dayStart.Before(dayStart) {
			delete(m.counters, k)
		}
	}
}
