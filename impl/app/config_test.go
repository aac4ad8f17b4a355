package app_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/impl/app"
)

// The timeouts read from the environment: a positive duration is taken, and
// anything else stops the start with the variable's name.
func TestTimeoutsFromEnv(t *testing.T) {
	def := app.Defaults()
	if def.RedisTimeout != 250*time.Millisecond || def.DBTimeout != 5*time.Second {
		t.Fatalf("defaults: REDIS_TIMEOUT %s, DB_TIMEOUT %s", def.RedisTimeout, def.DBTimeout)
	}
	cfg, err := app.FromEnv(envOf(map[string]string{"REDIS_TIMEOUT": "2s", "DB_TIMEOUT": "750ms"}))
	if err != nil || cfg.RedisTimeout != 2*time.Second || cfg.DBTimeout != 750*time.Millisecond {
		t.Fatalf("REDIS_TIMEOUT=2s DB_TIMEOUT=750ms: %s, %s, %v", cfg.RedisTimeout, cfg.DBTimeout, err)
	}
	for _, name := range []string{"REDIS_TIMEOUT", "DB_TIMEOUT"} {
		for _, v := range []string{"0", "-1s", "5", "soon"} {
			if _, err := app.FromEnv(envOf(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v, want an error naming %s", name, v, err, name)
			}
		}
	}
}

// The admission bound: 16 per CPU by default and at least 32, 0 for none,
// and a positive queue timeout.
func TestAdmissionFromEnv(t *testing.T) {
	def := app.Defaults()
	if def.MaxConcurrentRequests != max(32, 16*runtime.GOMAXPROCS(0)) || def.RequestQueueTimeout != 5*time.Second {
		t.Fatalf("defaults: MAX_CONCURRENT_REQUESTS %d, REQUEST_QUEUE_TIMEOUT %s", def.MaxConcurrentRequests, def.RequestQueueTimeout)
	}
	for v, want := range map[string]int{"0": 0, "1": 1, "500": 500} {
		cfg, err := app.FromEnv(envOf(map[string]string{"MAX_CONCURRENT_REQUESTS": v, "REQUEST_QUEUE_TIMEOUT": "250ms"}))
		if err != nil || cfg.MaxConcurrentRequests != want || cfg.RequestQueueTimeout != 250*time.Millisecond {
			t.Errorf("MAX_CONCURRENT_REQUESTS=%s: %d, %s, %v", v, cfg.MaxConcurrentRequests, cfg.RequestQueueTimeout, err)
		}
	}
	for name, bad := range map[string][]string{"MAX_CONCURRENT_REQUESTS": {"-1", "many", "1.5"}, "REQUEST_QUEUE_TIMEOUT": {"0", "-1s", "5"}} {
		for _, v := range bad {
			if _, err := app.FromEnv(envOf(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%q: %v, want an error naming %s", name, v, err, name)
			}
		}
	}
}
