package benchmarks

import (
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// profileDrain starts a CPU profile of the timed part alone when
// BENCH_DRAIN_CPUPROFILE names a file (go test's -cpuprofile also covers
// writing the backlog, which costs more than draining it), and returns the
// function that stops it.
func profileDrain(b *testing.B) func() {
	b.Helper()
	path := os.Getenv("BENCH_DRAIN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatalf("BENCH_DRAIN_CPUPROFILE: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatalf("start the CPU profile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// cpuMeter reads how much CPU time this process, and the throwaway
// PostgreSQL cluster's processes when there is one (PG_THROWAWAY_DIR, set by
// scripts/postgres.sh), have used. On these shared two-core machines the
// wall-clock rate of a run depends on what else runs; the CPU a delivery
// costs much less so, and on a machine that is all busy it is what bounds
// the rate.
type cpuMeter struct {
	postmaster int // 0: no cluster of ours to measure
}

func newCPUMeter() cpuMeter {
	dir := os.Getenv("PG_THROWAWAY_DIR")
	if dir == "" {
		return cpuMeter{}
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return cpuMeter{}
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return cpuMeter{}
	}
	return cpuMeter{postmaster: pid}
}

// read returns the CPU time used so far by this process and by the
// cluster's postmaster and its children (the backends, the WAL writer...).
// A backend that exits takes its time with it; the pool's connections stay.
func (m cpuMeter) read() (self, db time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if m.postmaster == 0 {
		return self, 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return self, 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, ticks, ok := procCPU(pid)
		if ok && (pid == m.postmaster || ppid == m.postmaster) {
			db += ticks
		}
	}
	return self, db
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTick = 10 * time.Millisecond

// procCPU reads a process's parent and user+system time from /proc.
func procCPU(pid int) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, time.Duration(ut+st) * clockTick, true
}

// reportCPUPerOp starts counting CPU time and returns the function that
// reports it per operation, after the benchmark's loop: cpu-µs/op of this
// process, and db-cpu-µs/op of the throwaway PostgreSQL cluster when there
// is one. On a shared machine wall-clock time per operation moves with the
// other sessions' load; CPU time much less, so on/off ratios of the
// validation benchmarks are steadier read from it.
func reportCPUPerOp(b *testing.B) func() {
	meter := newCPUMeter()
	self0, db0 := meter.read()
	return func() {
		self1, db1 := meter.read()
		n := float64(b.N)
		b.ReportMetric(float64(self1-self0)/n/1e3, "cpu-µs/op")
		if meter.postmaster != 0 {
			b.ReportMetric(float64(db1-db0)/n/1e3, "db-cpu-µs/op")
		}
	}
}
