// Package race tells a test whether it runs under the race detector, as the
// standard library's own tests are told: a long, single-goroutine check
// (a property over 200,000 generated strings, say) watches nothing for
// the detector and runs 10-20 times slower under it, so it can check a
// sample there and the whole set in a run without -race.
package race

// Sample is how many of n cases a test checks: n without the race
// detector, a tenth of n (at least 1) under it.
func Sample(n int) int {
	if !Enabled || n < 10 {
		return n
	}
	return n / 10
}
