package app_test

import (
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
