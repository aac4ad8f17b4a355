package proccpu

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// rusage is this process's CPU time as the kernel reports it to
// getrusage, the reading Of is held to.
func rusage(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOfThisProcess reads this process's own line: its parent, and CPU time
// that agrees with getrusage's after a busy loop, within the clock ticks
// each reading rounds to. The loop runs until getrusage counts 200 ms of
// CPU, however long a loaded machine takes to give them.
func TestOfThisProcess(t *testing.T) {
	ppid, _, ok := Of(os.Getpid())
	if !ok || ppid != os.Getppid() {
		t.Fatalf("Of(self) = ppid %d, ok %v; want ppid %d", ppid, ok, os.Getppid())
	}
	start := rusage(t)
	for deadline := time.Now().Add(time.Minute); rusage(t)-start < 200*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Skip("the machine gave this process less than 200 ms of CPU in a minute")
		}
	}
	_, read, _ := Of(os.Getpid())
	want := rusage(t)
	// /proc counts whole ticks of every thread; getrusage, taken after,
	// is finer and may include a tick more.
	if d := want - read; d < -2*clockTick || d > 5*clockTick {
		t.Errorf("/proc reads %s of CPU, getrusage %s", read, want)
	}
	if _, _, ok := Of(-1); ok {
		t.Error("a pid that cannot exist was read")
	}
	if Postmaster() == 0 && os.Getenv("PG_THROWAWAY_DIR") != "" {
		t.Error("PG_THROWAWAY_DIR is set but its postmaster.pid was not read")
	}
}

// TestIdleWhileAsleep: while this process sleeps for 300 ms, the machine's
// idle time grows, by no more than that much a CPU (not at all if other
// work kept every CPU busy).
func TestIdleWhileAsleep(t *testing.T) {
	before, ok := Idle()
	if !ok {
		t.Fatal("/proc/stat's idle time was not read")
	}
	const nap = 300 * time.Millisecond
	start := time.Now()
	time.Sleep(nap)
	after, _ := Idle()
	wall := time.Since(start)
	cpus := time.Duration(runtime.NumCPU())
	if d := after - before; d < 0 || d > cpus*(wall+2*clockTick) {
		t.Errorf("idle grew by %s over %s on %d CPUs", d, wall, cpus)
	}
}
