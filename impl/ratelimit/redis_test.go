package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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
	return c, "test:" + t.Name() + ":"
}

func TestRedisLimits(t *testing.T) {
	c, prefix := testRedis(t)
	ctx := context.Background()
	l := ratelimit.NewRedis(c, prefix, 3, 100, nil)
	for i := range 3 {
		d, err := l.Allow(ctx, "k1")
		if err != nil || !d.Allowed || d.Limit != 3 || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v %v", i+1, d, err)
		}
	}
	d, _ := l.Allow(ctx, "k1")
	if d.Allowed || d.RetryAfter <= 0 || d.Remaining != 0 {
		t.Fatalf("request 4: %+v; want refused with RetryAfter", d)
	}
	if out, _ := l.Exhausted(ctx, "k1"); !out {
		t.Error("Exhausted(k1) = false after the limit")
	}
	// Another key has its own windows, and peeking counts nothing.
	if out, _ := l.Exhausted(ctx, "k2"); out {
		t.Error("Exhausted(k2) = true")
	}
	if d, _ := l.Allow(ctx, "k2"); !d.Allowed || d.Remaining != 2 {
		t.Errorf("k2: %+v", d)
	}
	// A refused request is not counted: the day still has 97 left.
	day := ratelimit.NewRedis(c, prefix, 100, 5, nil)
	for range 5 {
		day.Allow(ctx, "k3")
	}
	for range 3 {
		if d, _ := day.Allow(ctx, "k3"); d.Allowed {
			t.Fatal("day limit passed")
		}
	}
	n, err := c.Get(ctx, firstKey(t, c, prefix+"k3:d:")).Int()
	if err != nil || n != 5 {
		t.Errorf("the day counter is %d (%v), want 5: refused requests must not count", n, err)
	}
}

func firstKey(t *testing.T, c *redis.Client, prefix string) string {
	t.Helper()
	keys, err := c.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %s*: %v %v", prefix, keys, err)
	}
	return keys[0]
}

// Many requests at once, as from several replicas, allow exactly the limit.
func TestRedisConcurrent(t *testing.T) {
	c, prefix := testRedis(t)
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
		t.Fatalf("%d of 200 concurrent requests allowed, want exactly 60", got)
	}
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
