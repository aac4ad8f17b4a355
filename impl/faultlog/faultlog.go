// Package faultlog keeps a background loop's log readable while something
// it depends on fails at every round.
//
// The webhook dispatcher polls four times a second, and the listener of
// PostgreSQL notifications retries its connection every few seconds; while
// the database is down, each of them used to log every failed round: more
// than 10,000 identical lines an hour of outage, among which the first one
// and the moment it ended were hard to find. A Log writes the first failure
// of a run at once, then at most one line per interval saying how many
// rounds have failed since the run began, and one line when a round
// succeeds again.
package faultlog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is how often a Log repeats a run of failures that goes on.
const DefaultEvery = 30 * time.Second

// Log follows the failures of one kind of round. Its zero value, with a
// Logger and a Msg, is ready; it is safe for concurrent use.
type Log struct {
	Logger *slog.Logger
	// Msg is the message of the failures' lines (the round's name, as
	// "claim webhook deliveries").
	Msg string
	// Recovered is the message of the line that ends a run; empty means
	// Msg + ": working again".
	Recovered string
	// Level is the failures' level; the zero value is slog.LevelInfo, so
	// set it.
	Level slog.Level
	Every time.Duration    // 0 means DefaultEvery
	Now   func() time.Time // nil means time.Now

	mu       sync.Mutex
	failures int64     // in this run; 0 when the last round succeeded
	since    time.Time // the run's first failure
	logged   time.Time // the run's last line
}

// Failed counts a failed round and logs it if it is the first of a run, or
// if the run's last line is Every old. attrs are added to the line.
func (l *Log) Failed(err error, attrs ...any) {
	now := l.now()
	l.mu.Lock()
	l.failures++
	if l.failures == 1 {
		l.since = now
	}
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	logIt := l.failures == 1 || now.Sub(l.logged) >= every
	if logIt {
		l.logged = now
	}
	failures, since := l.failures, l.since
	l.mu.Unlock()
	if !logIt || l.Logger == nil {
		return
	}
	line := append([]any{"err", err.Error()}, attrs...)
	if failures > 1 {
		line = append(line, "failures", failures, "failing_for_s", seconds(now.Sub(since)),
			"note", "the same round has failed since failing_for_s; this line repeats at most every "+every.String())
	}
	l.Logger.Log(context.Background(), l.Level, l.Msg, line...)
}

// Succeeded ends a run of failures, if one is going on, with a line at
// info saying how long it lasted and how many rounds failed. It reports
// whether a run ended.
func (l *Log) Succeeded() bool {
	l.mu.Lock()
	failures, since := l.failures, l.since
	l.failures = 0
	l.mu.Unlock()
	if failures == 0 {
		return false
	}
	if l.Logger != nil {
		msg := l.Recovered
		if msg == "" {
			msg = l.Msg + ": working again"
		}
		l.Logger.Info(msg, "failures", failures, "failed_for_s", seconds(l.now().Sub(since)))
	}
	return true
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	return float64(d.Milliseconds()) / 1000
}
