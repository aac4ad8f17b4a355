package webhookreceiver

import "time"

// SetClock moves the clock the timestamp tolerance is judged by, so that
// signatures published for a fixed time can be checked as they are.
func SetClock(r *Receiver, now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}
