// Package promtext reads Prometheus' text exposition format strictly
// enough for tests to check /metrics: each sample by its name and labels,
// and an error for what the format does not allow.
package promtext

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var sample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?: ?[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$`)

// Parse returns each sample's value by its name and labels as written
// (`name{a="b"}`). It fails on a line that is neither a comment nor a
// sample, a value that is not a number, a sample written twice, a family
// typed twice or typed after its samples, and a type Prometheus does not
// know.
func Parse(body string) (map[string]float64, error) {
	typed, seen := map[string]bool{}, map[string]bool{}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: %q", n, line)
			}
			switch f[1] {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, fmt.Errorf("line %d: type %q", n, f[1])
			}
			if typed[f[0]] || seen[f[0]] || seen[f[0]+"_bucket"] || seen[f[0]+"_sum"] || seen[f[0]+"_count"] {
				return nil, fmt.Errorf("line %d: family %s typed twice, or after its samples", n, f[0])
			}
			typed[f[0]] = true
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: not a sample: %q", n, line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %v", n, line, err)
		}
		family := m[1]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if f, ok := strings.CutSuffix(family, suffix); ok && typed[f] {
				family = f
			}
		}
		seen[family] = true
		if _, dup := out[m[1]+m[2]]; dup {
			return nil, fmt.Errorf("line %d: %s written twice", n, m[1]+m[2])
		}
		out[m[1]+m[2]] = v
	}
	return out, sc.Err()
}
