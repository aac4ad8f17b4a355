package contracttests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iagente/iagente-sdr/gen/samples"
)

// The code samples of the reference (gen/samples, generated from the spec's
// examples) are run as a partner would paste them: curl in bash, Python
// with requests, Node with fetch, PHP with its curl extension, each against
// a live server on both databases, after swapping the production URL, the
// placeholder key and the example ids for real ones (see
// examples_runner_test.go). Each must get the status the spec documents.
//
// curl and node are needed (the rest of the suite needs them too). Python
// needs requests (SAMPLES_PYTHON) and PHP its curl extension (SAMPLES_PHP):
// scripts/samples-env.sh installs both, pinned, and `make test` sets
// REQUIRE_SAMPLES=1, which makes a missing one fail instead of skip. The C#
// samples are generated the same way but not run: no .NET SDK here.

// sampleRunners runs one language's sample and returns the HTTP status it
// got and its output.
type sampleRunner func(ctx context.Context, dir, code string) (int, string, error)

func sampleRunners(t *testing.T) (map[string]sampleRunner, []string) {
	t.Helper()
	var missing []string
	runners := map[string]sampleRunner{}
	tool := func(env, name string) string {
		if p := os.Getenv(env); p != "" {
			return p
		}
		p, err := exec.LookPath(name)
		if err != nil {
			return ""
		}
		return p
	}
	if curl := tool("", "curl"); curl != "" {
		runners["curl"] = func(ctx context.Context, dir, code string) (int, string, error) {
			// The sample prints the body; the status is asked for after it.
			return runStatus(exec.CommandContext(ctx, "bash", "-c", code+` -sS -w '\n%{http_code}'`), dir)
		}
	} else {
		missing = append(missing, "curl")
	}
	if node := tool("", "node"); node != "" {
		runners["node"] = func(ctx context.Context, dir, code string) (int, string, error) {
			// An ES module: the sample awaits at the top level.
			f := filepath.Join(dir, "sample.mjs")
			if err := os.WriteFile(f, []byte(code+"\nconsole.log(response.status);\n// fetch keeps the connection open for a while; the sample is done.\nprocess.exit(0);\n"), 0o600); err != nil {
				return 0, "", err
			}
			return runStatus(exec.CommandContext(ctx, node, f), dir)
		}
	} else {
		missing = append(missing, "node")
	}
	if py := os.Getenv("SAMPLES_PYTHON"); py != "" {
		runners["python"] = func(ctx context.Context, dir, code string) (int, string, error) {
			f := filepath.Join(dir, "sample.py")
			if err := os.WriteFile(f, []byte(code+"\nprint(response.status_code)\n"), 0o600); err != nil {
				return 0, "", err
			}
			return runStatus(exec.CommandContext(ctx, py, f), dir)
		}
	} else {
		missing = append(missing, "python (SAMPLES_PYTHON, a Python with requests: eval \"$(scripts/samples-env.sh)\")")
	}
	if php := tool("SAMPLES_PHP", "php"); php != "" && exec.Command(php, "-r", `exit(function_exists("curl_init") ? 0 : 1);`).Run() == nil {
		runners["php"] = func(ctx context.Context, dir, code string) (int, string, error) {
			f := filepath.Join(dir, "sample.php")
			src := "<?php\n" + code + "\necho curl_getinfo($ch, CURLINFO_RESPONSE_CODE), \"\\n\";\n"
			if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
				return 0, "", err
			}
			return runStatus(exec.CommandContext(ctx, php, f), dir)
		}
	} else {
		missing = append(missing, "php with its curl extension (scripts/samples-env.sh installs Debian's)")
	}
	return runners, missing
}

// runStatus runs cmd and reads the status from the last line of its output.
func runStatus(cmd *exec.Cmd, dir string) (int, string, error) {
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	text := strings.TrimRight(string(out), "\n")
	if err != nil {
		return 0, text, err
	}
	last := text[strings.LastIndexByte(text, '\n')+1:]
	status, err := strconv.Atoi(strings.TrimSpace(last))
	if err != nil {
		return 0, text, fmt.Errorf("no status on the last line of the output")
	}
	return status, text, nil
}

// substitute turns a sample written for production into one for this run:
// the server's URL, the run's key, and the bound ids and URLs. It fails the
// test when a binding does not appear in the sample, so that a sample can
// never quietly run against the wrong resource.
func (r *exampleRun) substitute(req *samples.Request, op *specOp, b *bindings, lang string) string {
	r.t.Helper()
	code := req.Code[lang]
	replace := func(what, old, new string) {
		if !strings.Contains(code, old) {
			r.t.Fatalf("%s sample: %s %q not found in:\n%s", lang, what, old, code)
		}
		code = strings.ReplaceAll(code, old, new)
	}
	query := ""
	if i := strings.IndexByte(req.Path, '?'); i >= 0 {
		query = req.Path[i:]
	}
	replace("URL", req.URL, r.s.tg.baseURL+fillPath(op.path, b.params)+query)
	replace("API key", r.set.Key, r.key)
	var example map[string]any
	if len(req.Body) > 0 {
		if err := json.Unmarshal(req.Body, &example); err != nil {
			r.t.Fatal(err)
		}
	}
	fields := make([]string, 0, len(b.fields))
	for f := range b.fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		switch v := b.fields[f].(type) {
		case string:
			old, _ := example[f].(string)
			replace(f, strconv.Quote(old), strconv.Quote(v))
		default:
			// "lead_id": 123 in JSON and Python, lead_id: 123 in Node,
			// "lead_id" => 123 in PHP, lead_id = 123 in C#.
			re := regexp.MustCompile(`(\b` + regexp.QuoteMeta(f) + `["']?\s*(?::|=>|=)\s*)` +
				regexp.QuoteMeta(fmt.Sprint(example[f])) + `\b`)
			if !re.MatchString(code) {
				r.t.Fatalf("%s sample: no %s = %v in:\n%s", lang, f, example[f], code)
			}
			code = re.ReplaceAllString(code, "${1}"+fmt.Sprint(v))
		}
	}
	return code
}

func TestCodeSamples(t *testing.T) {
	set, err := samples.Load()
	if err != nil {
		t.Fatal(err)
	}
	ops := specOps(t)
	for id := range ops {
		if len(set.Operations[id]) == 0 {
			t.Errorf("operation %s has no code samples: run make generate", id)
		}
	}
	for id := range set.Operations {
		if ops[id] == nil {
			t.Errorf("gen/samples has samples of %s, which the spec no longer has: run make generate", id)
		}
	}
	runners, missing := sampleRunners(t)
	if len(missing) > 0 {
		msg := "cannot run the samples in: " + strings.Join(missing, "; ")
		if os.Getenv("REQUIRE_SAMPLES") == "1" {
			t.Fatal("REQUIRE_SAMPLES=1 but " + msg)
		}
		t.Log(msg + " (skipped)")
	}
	ids := make([]string, 0, len(set.Operations))
	for id := range set.Operations {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	forEachExampleServer(t, func(t *testing.T, s *exampleServer) {
		var mu sync.Mutex
		ran := map[string]int{}
		// Each sample has an organization of its own, so they run in
		// parallel (as many at once as -parallel allows): most of a run is
		// an interpreter starting.
		t.Run("samples", func(t *testing.T) {
			for _, id := range ids {
				for _, req := range set.Operations[id] {
					name := id
					if req.Example != "" {
						name += "/" + req.Example
					}
					for _, lang := range samples.Languages {
						run := runners[lang]
						if run == nil {
							continue
						}
						t.Run(name+"/"+lang, func(t *testing.T) {
							t.Parallel()
							r := s.newExampleRun(t, set)
							b := r.prepare(ops[id], req.Body)
							code := r.substitute(req, ops[id], b, lang)
							ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
							defer cancel()
							status, out, err := run(ctx, t.TempDir(), code)
							if err != nil || status != req.Status {
								t.Fatalf("got %d (%v), want %d\nsample:\n%s\noutput:\n%s", status, err, req.Status, code, out)
							}
							mu.Lock()
							ran[lang]++
							mu.Unlock()
						})
					}
				}
			}
		})
		var counts []string
		for _, lang := range samples.Languages {
			counts = append(counts, fmt.Sprintf("%s %d", lang, ran[lang]))
		}
		t.Logf("samples run against %s: %s (csharp is generated, not run)", s.tg.dbURL[:strings.IndexByte(s.tg.dbURL, ':')],
			strings.Join(counts, ", "))
	})
}
