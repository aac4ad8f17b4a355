// Package proccpu reads the CPU time of processes from Linux's /proc, for
// the benchmarks' per-request and per-delivery CPU figures: on a shared
// machine, wall-clock rates move with the neighbours' load, CPU time per
// operation much less.
package proccpu

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTick = 10 * time.Millisecond

// Of reads a process's parent and its user+system time.
func Of(pid int) (ppid int, cpu time.Duration, ok bool) {
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

// Postmaster is the pid of the throwaway PostgreSQL cluster that
// scripts/postgres.sh started (PG_THROWAWAY_DIR), or 0 when there is none.
func Postmaster() int {
	dir := os.Getenv("PG_THROWAWAY_DIR")
	if dir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return 0
	}
	return pid
}

// Cluster is the CPU time used so far by the postmaster and its children
// (the backends, the WAL writer...). A backend that exits takes its time
// with it; a pool's connections stay.
func Cluster(postmaster int) time.Duration {
	var total time.Duration
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, ok := Of(pid); ok && (pid == postmaster || ppid == postmaster) {
			total += cpu
		}
	}
	return total
}

// Idle is the time the machine's CPUs have spent idle or waiting for I/O
// since boot, summed over the CPUs (/proc/stat's first line). Read around
// a run and divided by its wall time, it is how many cores the run left
// unused: what a pipeline that waits on itself leaves, which the CPU a
// request costs does not show.
func Idle() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	// cpu user nice system idle iowait ...
	if len(f) < 6 || f[0] != "cpu" {
		return 0, false
	}
	idle, err1 := strconv.ParseInt(f[4], 10, 64)
	iowait, err2 := strconv.ParseInt(f[5], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(idle+iowait) * clockTick, true
}
