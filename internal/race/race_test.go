package race

import "testing"

func TestSample(t *testing.T) {
	for _, c := range []struct{ n, off, on int }{{200000, 200000, 20000}, {25, 25, 2}, {9, 9, 9}, {0, 0, 0}} {
		want := c.off
		if Enabled {
			want = c.on
		}
		if got := Sample(c.n); got != want {
			t.Errorf("Sample(%d) = %d with Enabled=%v, want %d", c.n, got, Enabled, want)
		}
	}
}
