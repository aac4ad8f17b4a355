package proccpu

import (
	"os"
	"testing"
	"time"
)

// TestOfThisProcess reads this process's own line: its parent, and CPU
// time that grows by about what a busy loop burns.
func TestOfThisProcess(t *testing.T) {
	ppid, before, ok := Of(os.Getpid())
	if !ok || ppid != os.Getppid() {
		t.Fatalf("Of(self) = ppid %d, ok %v; want ppid %d", ppid, ok, os.Getppid())
	}
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
	}
	_, after, _ := Of(os.Getpid())
	if d := after - before; d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("300 ms of busy loop read as %s of CPU", d)
	}
	if _, _, ok := Of(-1); ok {
		t.Error("a pid that cannot exist was read")
	}
	if Postmaster() == 0 && os.Getenv("PG_THROWAWAY_DIR") != "" {
		t.Error("PG_THROWAWAY_DIR is set but its postmaster.pid was not read")
	}
}
