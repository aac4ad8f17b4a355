package contracttests

import (
	"os"
	"testing"
)

// TestMain only removes the server binary the delivery-guarantee tests
// build (once per test binary, on first use) when the package's tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	guaranteesRemoveBinary()
	os.Exit(code)
}
