package contracttests

// Three replicas behind haproxy, on one PostgreSQL and one Redis, behave as
// one server. Run through scripts/replicas.sh (make test does):
//
//	scripts/replicas.sh run -- go test -run TestReplicas ./contracttests/

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type replicaSet struct {
	dir, lb, key string
	urls         []string
}

func replicas(t *testing.T) *replicaSet {
	t.Helper()
	dir := os.Getenv("REPLICAS_DIR")
	if dir == "" {
		if os.Getenv("REQUIRE_REPLICAS") == "1" {
			t.Fatal("REQUIRE_REPLICAS=1 but REPLICAS_DIR is not set; run through scripts/replicas.sh")
		}
		t.Skip("needs the replica set of scripts/replicas.sh")
	}
	return &replicaSet{dir: dir, lb: os.Getenv("REPLICAS_LB_URL"), key: os.Getenv("REPLICAS_API_KEY"),
		urls: strings.Split(os.Getenv("REPLICAS_URLS"), ",")}
}

func (r *replicaSet) do(t *testing.T, method, base, path, key string, body []byte, header ...string) (int, []byte) {
	t.Helper()
	status, b, _ := r.doHeader(t, method, base, path, key, body, header...)
	return status, b
}

// doHeader is do that also returns the answer's headers.
func (r *replicaSet) doHeader(t *testing.T, method, base, path, key string, body []byte, header ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+"/api/v1"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// uncounted returns the replicas' log lines saying a request was allowed
// uncounted because Redis did not answer in REDIS_TIMEOUT: the one way the
// limiter lets more through than its limit.
func (r *replicaSet) uncounted(t *testing.T) string {
	t.Helper()
	var found []string
	for n := 1; n <= len(r.urls); n++ {
		b, err := os.ReadFile(fmt.Sprintf("%s/r%d.log", r.dir, n))
		if err != nil {
			t.Logf("replica %d's log: %v", n, err)
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "allowing requests uncounted") {
				found = append(found, fmt.Sprintf("replica %d: %s", n, line))
			}
		}
	}
	if len(found) == 0 {
		return "; no replica logged a request allowed uncounted"
	}
	return "; Redis did not answer in time:\n" + strings.Join(found, "\n")
}

// newKey creates an API key through the load balancer and returns it and
// its id: each test counts its own key's requests.
func (r *replicaSet) newKey(t *testing.T, name string) (string, int64) {
	t.Helper()
	status, body := r.do(t, "POST", r.lb, "/api-keys", r.key, []byte(fmt.Sprintf(`{"name":%q}`, name)))
	var k struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &k); err != nil || status != http.StatusCreated {
		t.Fatalf("create key: %d %s", status, body)
	}
	return k.Key, k.ID
}

// 200 concurrent requests with one key, spread over the three replicas by
// haproxy, against 60 per minute: exactly 60 succeed.
func TestReplicasShareRateLimit(t *testing.T) {
	r := replicas(t)
	// The burst must fall in one minute window.
	if s := time.Now().UTC().Second(); s > 45 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	key, _ := r.newKey(t, "burst")
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch status, _ := r.do(t, "GET", r.lb, "/leads?per_page=1", key, nil); status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 60 || limited.Load() != 140 || other.Load() != 0 {
		t.Fatalf("of 200 requests: %d succeeded, %d were limited, %d failed otherwise; want 60, 140, 0%s",
			ok.Load(), limited.Load(), other.Load(), r.uncounted(t))
	}
	guaranteesReport(t, fmt.Sprintf("replicas: 200 concurrent requests over 3 replicas, limit 60/min: %d allowed, %d refused", ok.Load(), limited.Load()))
}

// A key revoked through replica 1 is refused by replicas 2 and 3 within a
// second, although they had just accepted (and may have cached) it.
func TestReplicasRevokeEverywhere(t *testing.T) {
	r := replicas(t)
	key, id := r.newKey(t, "revoked")
	for _, u := range r.urls[1:] {
		if status, body := r.do(t, "GET", u, "/leads?per_page=1", key, nil); status != http.StatusOK {
			t.Fatalf("%s before the revocation: %d %s", u, status, body)
		}
	}
	if status, body := r.do(t, "DELETE", r.urls[0], fmt.Sprintf("/api-keys/%d", id), r.key, nil); status != http.StatusNoContent {
		t.Fatalf("revoke through replica 1: %d %s", status, body)
	}
	revoked := time.Now()
	for _, u := range r.urls[1:] {
		deadline := revoked.Add(time.Second)
		for {
			status, _ := r.do(t, "GET", u, "/leads?per_page=1", key, nil)
			if status == http.StatusUnauthorized {
				t.Logf("%s refused the revoked key %s after the revocation", u, time.Since(revoked).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still answers %d with the key revoked %s ago", u, status, time.Since(revoked).Round(time.Millisecond))
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
}

// A tag one replica gave is the tag on the others: a lead read through
// replica 1 is 304 on replica 2 and changed with If-Match on replica 3,
// after which replica 1 refuses the old tag with the new one; and a page
// tagged by one replica is 304 on another.
func TestReplicasShareETags(t *testing.T) {
	r := replicas(t)
	key, _ := r.newKey(t, "etags")
	phone := fmt.Sprintf("55119%08d", time.Now().UnixNano()%100_000_000)
	status, body, h := r.doHeader(t, "POST", r.urls[0], "/leads", key, []byte(fmt.Sprintf(`{"phone":%q,"name":"Ana"}`, phone)))
	if status != http.StatusCreated || h.Get("ETag") == "" {
		t.Fatalf("create through replica 1: %d %s, ETag %q", status, body, h.Get("ETag"))
	}
	var lead struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &lead); err != nil {
		t.Fatal(err)
	}
	path, tag := fmt.Sprintf("/leads/%d", lead.ID), h.Get("ETag")
	if status, body, _ := r.doHeader(t, "GET", r.urls[1], path, key, nil, "If-None-Match", tag); status != http.StatusNotModified {
		t.Fatalf("replica 2 with replica 1's tag: %d %s, want 304", status, body)
	}
	status, body, h = r.doHeader(t, "PATCH", r.urls[2], path, key, []byte(`{"lead_score":40}`), "If-Match", tag)
	if status != http.StatusOK || h.Get("ETag") == "" || h.Get("ETag") == tag {
		t.Fatalf("replica 3 with replica 1's tag: %d %s, ETag %q", status, body, h.Get("ETag"))
	}
	now := h.Get("ETag")
	status, body, h = r.doHeader(t, "PATCH", r.urls[0], path, key, []byte(`{"lead_score":41}`), "If-Match", tag)
	if status != http.StatusPreconditionFailed || h.Get("ETag") != now {
		t.Fatalf("replica 1 with the old tag: %d %s, ETag %q; want 412 with replica 3's %s", status, body, h.Get("ETag"), now)
	}
	list := "/leads?phone=" + phone
	status, body, h = r.doHeader(t, "GET", r.urls[1], list, key, nil)
	if status != http.StatusOK || h.Get("ETag") == "" {
		t.Fatalf("the page through replica 2: %d %s", status, body)
	}
	if status, body, _ := r.doHeader(t, "GET", r.urls[2], list, key, nil, "If-None-Match", h.Get("ETag")); status != http.StatusNotModified {
		t.Fatalf("replica 3 with replica 2's page tag: %d %s, want 304", status, body)
	}
}

// A rolling restart of all three replicas (SIGTERM, wait until ready, next)
// under steady load fails no request.
func TestReplicasRollingRestart(t *testing.T) {
	r := replicas(t)
	// The load goes round the keys, and each key's rate stays well under
	// the replicas' 60 requests a minute (scripts/replicas.sh): 20 requests
	// a second over 30 keys is 40 a minute each. At 60 a minute each (20
	// keys), a restart slow enough to keep the load up for a whole minute
	// would see a key's 61st request of a minute rightly refused.
	keys := make([]string, 30)
	for i := range keys {
		keys[i], _ = r.newKey(t, fmt.Sprintf("load %d", i))
	}
	var sent, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond) // 20 requests a second, one key every 1.5 s
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := keys[i%len(keys)]
				var status int
				var body []byte
				if i%4 == 0 { // a write among the reads, retried safely as a client should
					status, body = r.do(t, "POST", r.lb, "/leads", key, []byte(fmt.Sprintf(`{"phone":"5511%09d"}`, 100000000+i)),
						"Idempotency-Key", fmt.Sprintf("rolling-%d-%d", time.Now().UnixNano(), i))
				} else {
					status, body = r.do(t, "GET", r.lb, "/leads?per_page=1", key, nil)
				}
				sent.Add(1)
				if status != http.StatusOK && status != http.StatusCreated {
					failed.Add(1)
					failures.Store(i, fmt.Sprintf("%d %s", status, body))
				}
			}()
		}
	}()
	time.Sleep(time.Second) // steady before the first restart
	start := time.Now()
	out, err := exec.Command("../scripts/replicas.sh", "rolling-restart", r.dir).CombinedOutput()
	took := time.Since(start)
	time.Sleep(time.Second) // and after the last
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("rolling restart: %v\n%s", err, out)
	}
	failures.Range(func(k, v any) bool {
		t.Errorf("request %v failed: %.300v", k, v)
		return true
	})
	if failed.Load() != 0 {
		if log, err := os.ReadFile(r.dir + "/haproxy.log"); err == nil {
			t.Logf("haproxy's log:\n%s", tail(string(log), 60))
		}
		t.Fatalf("%d of %d requests failed during the rolling restart", failed.Load(), sent.Load())
	}
	guaranteesReport(t, fmt.Sprintf("replicas: rolling restart of 3 replicas in %s under 20 req/s: %d requests, %d failed",
		took.Round(100*time.Millisecond), sent.Load(), failed.Load()))
}
