package ratelimit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iagente/iagente-sdr/impl/ratelimit"
)

// testRedis returns a client of the Redis named by TEST_REDIS_URL (started
// by scripts/redis.sh; make test does it), and a key prefix of this test's
// own. Without one the test is skipped, or failed under REQUIRE_REDIS=1.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("REQUIRE_REDIS") == "1" {
			t.Fatal("REQUIRE_REDIS=1 but TEST_REDIS_URL is not set; run through scripts/redis.sh or make test")
		}
		t.Skip("TEST_REDIS_URL is not set")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	// The run's own prefix too: the day's counters outlive the test, and a
	// run again within the day (-count=2, a retry) on the same Redis would
	// find this run's.
	return c, "test:" + t.Name() + ":" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
}

// redisMinute is the minute Redis's clock is in. The limiter's windows are
// fixed minutes and days of that clock (the script reads TIME), not of this
// process's.
func redisMinute(t *testing.T, c *redis.Client) time.Time {
	t.Helper()
	now, err := c.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now.UTC().Truncate(time.Minute)
}

// withinAMinute runs attempt with keys under a prefix of its own until it
// runs within one minute of Redis's clock, three times at most, and reports
// what the last attempt found wrong. The windows are real time: requests
// that straddle the start of a minute (or of a day, which starts one) rightly
// find the counts begun again, and such an attempt proves nothing either way.
func withinAMinute(t *testing.T, c *redis.Client, prefix string, attempt func(prefix string) []string) {
	t.Helper()
	for n := 1; ; n++ {
		started := redisMinute(t, c)
		errs := attempt(fmt.Sprintf("%s%d:", prefix, n))
		if len(errs) > 0 && !redisMinute(t, c).Equal(started) && n < 3 {
			t.Logf("Redis's clock began a new minute during attempt %d; again", n)
			continue
		}
		for _, e := range errs {
			t.Error(e)
		}
		return
	}
}

func TestRedisLimits(t *testing.T) {
	c, prefix := testRedis(t)
	withinAMinute(t, c, prefix, func(prefix string) []string { return redisLimitsAttempt(c, prefix) })
}

// redisLimitsAttempt is one attempt of TestRedisLimits with keys under
// prefix; it returns what went wrong.
func redisLimitsAttempt(c *redis.Client, prefix string) (errs []string) {
	ctx := context.Background()
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	l := ratelimit.NewRedis(c, prefix, 3, 100, nil)
	for i := range 3 {
		d, err := l.Allow(ctx, "k1")
		if err != nil || !d.Allowed || d.Limit != 3 || d.Remaining != 2-i {
			fail("request %d: %+v %v", i+1, d, err)
			return errs
		}
	}
	d, _ := l.Allow(ctx, "k1")
	if d.Allowed || d.RetryAfter <= 0 || d.Remaining != 0 {
		fail("request 4: %+v; want refused with RetryAfter", d)
		return errs
	}
	if out, _ := l.Exhausted(ctx, "k1"); !out {
		fail("Exhausted(k1) = false after the limit")
	}
	// Another key has its own windows, and peeking counts nothing.
	if out, _ := l.Exhausted(ctx, "k2"); out {
		fail("Exhausted(k2) = true")
	}
	if d, _ := l.Allow(ctx, "k2"); !d.Allowed || d.Remaining != 2 {
		fail("k2: %+v", d)
	}
	// A refused request is not counted: the day still has 97 left.
	day := ratelimit.NewRedis(c, prefix, 100, 5, nil)
	for range 5 {
		day.Allow(ctx, "k3")
	}
	for range 3 {
		if d, _ := day.Allow(ctx, "k3"); d.Allowed {
			fail("day limit passed")
			return errs
		}
	}
	keys, err := c.Keys(ctx, prefix+"k3:d:*").Result()
	if err != nil || len(keys) != 1 {
		fail("keys %sk3:d:*: %v %v", prefix, keys, err)
		return errs
	}
	n, err := c.Get(ctx, keys[0]).Int()
	if err != nil || n != 5 {
		fail("the day counter is %d (%v), want 5: refused requests must not count", n, err)
	}
	return errs
}

// Many requests at once, as from several replicas, allow exactly the limit.
func TestRedisConcurrent(t *testing.T) {
	c, prefix := testRedis(t)
	withinAMinute(t, c, prefix, func(prefix string) []string {
		// Two limiters over one Redis stand for two replicas.
		a := ratelimit.NewRedis(c, prefix, 60, 10000, nil)
		b := ratelimit.NewRedis(c, prefix, 60, 10000, nil)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := a
				if i%2 == 1 {
					l = b
				}
				if d, err := l.Allow(context.Background(), "shared"); err == nil && d.Allowed {
					allowed.Add(1)
				}
			}()
		}
		wg.Wait()
		if got := allowed.Load(); got != 60 {
			return []string{fmt.Sprintf("%d of 200 concurrent requests allowed, want exactly 60", got)}
		}
		return nil
	})
}

// Redis down: requests are allowed, counted as uncounted, and the outage is
// logged once per interval, not once per request.
func TestRedisFailsOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	var logs bytes.Buffer
	l := ratelimit.NewRedis(c, "down:", 1, 1, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 5 {
		d, err := l.Allow(context.Background(), "k")
		if err != nil || !d.Allowed {
			t.Fatalf("with Redis down: %+v %v; want allowed", d, err)
		}
	}
	if out, err := l.Exhausted(context.Background(), "k"); out || err != nil {
		t.Errorf("Exhausted with Redis down: %v %v", out, err)
	}
	if l.Uncounted() != 6 {
		t.Errorf("uncounted %d, want 6", l.Uncounted())
	}
	if n := strings.Count(logs.String(), "Redis unreachable"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
}
