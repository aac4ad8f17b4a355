package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps the counters in Redis, so that every replica of the service
// counts against the same limits. The windows are Redis's own clock's (TIME
// inside the script), so replicas whose clocks disagree still agree on when
// a minute starts.
//
// When Redis cannot be reached the limiter fails open: the request is
// allowed and the outage is logged at most once per LogEvery. Rate limits
// share capacity fairly; they are not what keeps anyone out (the API key
// is), and an outage of the counter store should not become an outage of
// the API.
type Redis struct {
	Client    redis.UniversalClient
	PerMinute int
	PerDay    int
	// Prefix namespaces the keys, so that several limiters share a server.
	Prefix string
	Logger *slog.Logger
	// LogEvery bounds how often an unreachable Redis is logged (default 30s).
	LogEvery time.Duration

	mu      sync.Mutex
	lastLog time.Time
	// uncounted counts the requests allowed because Redis could not answer.
	uncounted int64
}

// Uncounted returns how many requests were allowed without being counted
// because Redis could not be reached.
func (r *Redis) Uncounted() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uncounted
}

// NewRedis returns a Redis limiter of perMinute and perDay requests per key.
func NewRedis(client redis.UniversalClient, prefix string, perMinute, perDay int, log *slog.Logger) *Redis {
	return &Redis{Client: client, PerMinute: perMinute, PerDay: perDay, Prefix: prefix, Logger: log}
}

// allowScript counts one request in the minute and the day windows that
// contain Redis's now, unless either is used up (a refused request is not
// counted, as in Memory). It returns {allowed, minute used, day used, now in
// ms}. Keys expire with their window, so nothing needs sweeping.
var allowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minuteStart = now - now % 60000
local dayStart = now - now % 86400000
local mk = KEYS[1] .. ':m:' .. minuteStart
local dk = KEYS[1] .. ':d:' .. dayStart
local m = tonumber(redis.call('GET', mk) or '0')
local d = tonumber(redis.call('GET', dk) or '0')
if ARGV[3] == 'peek' then
  return {0, m, d, now}
end
if m >= tonumber(ARGV[1]) or d >= tonumber(ARGV[2]) then
  return {0, m, d, now}
end
m = redis.call('INCR', mk)
if m == 1 then redis.call('PEXPIREAT', mk, minuteStart + 60000 + 1000) end
d = redis.call('INCR', dk)
if d == 1 then redis.call('PEXPIREAT', dk, dayStart + 86400000 + 1000) end
return {1, m, d, now}
`)

func (r *Redis) run(ctx context.Context, key, mode string) (allowed bool, minute, day int, now time.Time, err error) {
	res, err := allowScript.Run(ctx, r.Client, []string{r.Prefix + key}, r.PerMinute, r.PerDay, mode).Int64Slice()
	if err != nil {
		return false, 0, 0, time.Time{}, err
	}
	if len(res) != 4 {
		return false, 0, 0, time.Time{}, fmt.Errorf("ratelimit: unexpected script answer %v", res)
	}
	return res[0] == 1, int(res[1]), int(res[2]), time.UnixMilli(res[3]).UTC(), nil
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string) (Decision, error) {
	allowed, minute, day, now, err := r.run(ctx, key, "count")
	if err != nil {
		return r.failOpen(err), nil
	}
	minuteStart := now.Truncate(time.Minute)
	dayStart := now.Truncate(24 * time.Hour)
	mw := window{r.PerMinute, minute, minuteStart.Add(time.Minute)}
	dw := window{r.PerDay, day, dayStart.Add(24 * time.Hour)}
	if !allowed {
		w := mw
		if dw.remaining() == 0 {
			w = dw
		}
		return Decision{Allowed: false, Limit: w.limit, Remaining: 0, Reset: w.reset,
			RetryAfter: max(w.reset.Sub(now), time.Second)}, nil
	}
	w := mw
	if dw.remaining() < mw.remaining() || dw.remaining() == 0 {
		w = dw
	}
	return Decision{Allowed: true, Limit: w.limit, Remaining: w.remaining(), Reset: w.reset}, nil
}

// Exhausted implements Gate.
func (r *Redis) Exhausted(ctx context.Context, key string) (bool, error) {
	_, minute, day, _, err := r.run(ctx, key, "peek")
	if err != nil {
		r.failOpen(err)
		return false, nil
	}
	return minute >= r.PerMinute || day >= r.PerDay, nil
}

// failOpen allows the request Redis could not count, and says so in the
// log now and then.
func (r *Redis) failOpen(err error) Decision {
	now := time.Now()
	r.mu.Lock()
	r.uncounted++
	every := r.LogEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	logIt := now.Sub(r.lastLog) >= every
	if logIt {
		r.lastLog = now
	}
	n := r.uncounted
	r.mu.Unlock()
	if logIt && r.Logger != nil && !errors.Is(err, context.Canceled) {
		r.Logger.Warn("rate limiter: Redis unreachable; allowing requests uncounted",
			"err", err.Error(), "allowed_uncounted_total", strconv.FormatInt(n, 10))
	}
	reset := now.UTC().Truncate(time.Minute).Add(time.Minute)
	return Decision{Allowed: true, Limit: r.PerMinute, Remaining: r.PerMinute, Reset: reset}
}
