package benchmarks

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/benchmarks/internal/proccpu"
)

// profileDrain starts a CPU profile of the timed part alone when
// BENCH_DRAIN_CPUPROFILE names a file (go test's -cpuprofile also covers
// writing the backlog, which costs more than draining it), and returns the
// function that stops it. Each drain after the first writes FILE.2, FILE.3
// and so on (go tool pprof merges the files it is given).
func profileDrain(b *testing.B) func() {
	b.Helper()
	path := os.Getenv("BENCH_DRAIN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	if drains++; drains > 1 {
		path = fmt.Sprintf("%s.%d", path, drains)
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

// drains counts the drains profileDrain has profiled.
var drains int

// cpuMeter reads how much CPU time this process, and the throwaway
// PostgreSQL cluster's processes when there is one (PG_THROWAWAY_DIR, set by
// scripts/postgres.sh), have used. On these shared two-core machines the
// wall-clock rate of a run depends on what else runs; the CPU a delivery
// costs much less so, and on a machine that is all busy it is what bounds
// the rate.
type cpuMeter struct {
	postmaster int // 0: no cluster of ours to measure
}

func newCPUMeter() cpuMeter { return cpuMeter{postmaster: proccpu.Postmaster()} }

// read returns the CPU time used so far by this process and by the
// cluster's postmaster and its children.
func (m cpuMeter) read() (self, db time.Duration) {
	self = selfCPU()
	if m.postmaster == 0 {
		return self, 0
	}
	return self, proccpu.Cluster(m.postmaster)
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

// selfCPU is the CPU time this process has used so far: one system call,
// cheap enough to read around each step of a loop, where reading the
// cluster's processes from /proc would cost more than the steps.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapUse is what the process allocated and how many times the collector
// ran, from runtime.MemStats.
type heapUse struct{ bytes, cycles uint64 }

// readHeapUse reads it now (runtime.ReadMemStats stops the world briefly:
// call it around a measured phase, not inside one).
func readHeapUse() heapUse {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return heapUse{bytes: m.TotalAlloc, cycles: uint64(m.NumGC)}
}

func (h heapUse) minus(o heapUse) heapUse { return heapUse{h.bytes - o.bytes, h.cycles - o.cycles} }
func (h heapUse) plus(o heapUse) heapUse  { return heapUse{h.bytes + o.bytes, h.cycles + o.cycles} }
