package promtext

import "testing"

func TestParse(t *testing.T) {
	good := "# HELP a_total What a counts.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"uote\"} 3\na_total{x=\"2\"} 4.5\n" +
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\ngo_info_ext{compiler=\"gc\", GOOS=\"linux\"} 1\n"
	m, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if m[`a_total{x="1",y="q\"uote"}`] != 3 || m[`a_total{x="2"}`] != 4.5 || m["h_count"] != 2 || m[`go_info_ext{compiler="gc", GOOS="linux"}`] != 1 {
		t.Errorf("parsed %v", m)
	}
	for what, body := range map[string]string{
		"typed twice":                          "# TYPE a counter\n# TYPE a counter\na 1\n",
		"typed after samples":                  "a 1\n# TYPE a counter\n",
		"a histogram's sample before its type": "h_count 1\n# TYPE h histogram\n",
		"an unknown type":                      "# TYPE a counters\na 1\n",
		"no value":                             "a\n",
		"a value not a number":                 "a one\n",
		"a bad name":                           "1a 1\n",
		"an unquoted label":                    "a{x=1} 1\n",
		"a sample written twice":               "a{x=\"1\"} 1\na{x=\"1\"} 2\n",
	} {
		if _, err := Parse(body); err == nil {
			t.Errorf("%s: parsed without an error", what)
		}
	}
}
