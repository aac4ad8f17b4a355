package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTheSplitHolds guards the two rules this binary exists for: the
// production binary links no fake, and the fakes, tests included, import
// nothing of the server, since an oracle that shares the server's code
// cannot catch the server's bugs.
func TestTheSplitHolds(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	for _, tc := range []struct {
		pkgs      []string
		forbidden string
	}{
		{[]string{"-deps", "../iagente-sdr"}, "github.com/iagente/iagente-sdr/mocks"},
		{[]string{"-deps", "-test", "../../mocks/..."}, "github.com/iagente/iagente-sdr/impl"},
	} {
		out, err := exec.Command(goTool, append([]string{"list"}, tc.pkgs...)...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", tc.pkgs, err)
		}
		if !strings.Contains(string(out), "github.com/labstack/echo/v4") {
			t.Fatalf("go list %v listed too little to judge:\n%s", tc.pkgs, out)
		}
		for dep := range strings.FieldsSeq(string(out)) {
			if dep == tc.forbidden || strings.HasPrefix(dep, tc.forbidden+"/") {
				t.Errorf("go list %v includes %s", tc.pkgs, dep)
			}
		}
	}
}
