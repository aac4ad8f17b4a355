// Command loadtest measures the server the way the request-path goals are
// stated: GET /api/v1/leads/{id} through the whole stack, against a bare
// net/http handler that answers the same bytes, driven by one load
// generator (vegeta, as a library pinned in go.mod) and alternated in one
// run, because these shared machines drift and ratios do not. It also
// measures the server's memory under many connections and its start-up
// time on an existing database.
//
//	go run ./benchmarks/loadtest [-db sqlite,postgres] [-duration 10s] [-rounds 3] [-workers 32]
//
// PostgreSQL needs PG_ADMIN_URL (scripts/postgres.sh run -- ... sets it);
// make loadtest does all of it.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/lib/pq"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/iagente/iagente-sdr/benchmarks/internal/proccpu"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bare" {
		bare(os.Args[2:])
		return
	}
	dbs := flag.String("db", "sqlite,postgres", "databases to run on")
	duration := flag.Duration("duration", 10*time.Second, "length of each attack")
	rounds := flag.Int("rounds", 3, "alternations of server and bare handler")
	workers := flag.Uint64("workers", 32, "concurrent connections of the load generator")
	conns := flag.Int("conns", 1000, "connections held open for the memory measurement")
	flag.StringVar(&profileDir, "profile", "", "write the server's CPU and heap profiles (pprof) of the first round to this folder")
	flag.Func("server-env", "KEY=VALUE given to the server only (repeatable), e.g. GOMEMLIMIT=48MiB", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		serverEnv = append(serverEnv, v)
		return nil
	})
	flag.Parse()
	if err := run(strings.Split(*dbs, ","), *duration, *rounds, *workers, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// bare serves body at every path with the same headers the server sends:
// the anchor of the ratio.
func bare(args []string) {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address")
	bodyFile := fs.String("body", "", "file with the response body")
	_ = fs.Parse(args)
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		panic(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "59")
		w.Header().Set("X-RateLimit-Reset", "1767225600")
		w.Header().Set("X-Request-Id", "0123456789abcdef01234567")
		_, _ = w.Write(body)
	})
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}

// profileDir, when set, receives <db>-cpu.pprof and <db>-heap.pprof of the
// server under the first round's load, through its PPROF_ADDR listener.
var profileDir string

// serverEnv is added to the server's environment (-server-env), for
// runtime settings such as GOMEMLIMIT that the load generator must not get.
var serverEnv []string

type result struct {
	rps, p50, p99 float64 // req/s, ms
	errors        uint64
	answered      uint64 // 200s
	// cpu and db are the CPU time per answered request, in µs, of the
	// process that answered and of the PostgreSQL cluster behind it.
	cpu, db float64
}

func run(dbs []string, duration time.Duration, rounds int, workers uint64, conns int) error {
	tmp, err := os.MkdirTemp("", "iagente-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "iagente-sdr")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/iagente-sdr").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d cores; load generator: vegeta %d workers, keep-alive; %d rounds of %s, alternated\n",
		cpus(), workers, rounds, duration)
	if len(serverEnv) > 0 {
		fmt.Printf("server environment: %s\n", strings.Join(serverEnv, " "))
	}
	fmt.Println()
	for _, db := range dbs {
		dbURL, err := database(db, tmp)
		if err != nil {
			return err
		}
		if err := measure(db, dbURL, bin, self, tmp, duration, rounds, workers, conns); err != nil {
			return fmt.Errorf("%s: %w", db, err)
		}
	}
	return nil
}

func cpus() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

// database returns a fresh database URL of the dialect.
func database(db, tmp string) (string, error) {
	switch db {
	case "sqlite":
		return "sqlite:" + filepath.Join(tmp, "load.db"), nil
	case "postgres":
		admin := os.Getenv("PG_ADMIN_URL")
		if admin == "" {
			return "", errors.New("postgres needs PG_ADMIN_URL: run under scripts/postgres.sh run --")
		}
		c, err := sql.Open("postgres", admin)
		if err != nil {
			return "", err
		}
		defer c.Close()
		name := fmt.Sprintf("loadtest_%d", time.Now().UnixNano())
		if _, err := c.Exec("CREATE DATABASE " + name); err != nil {
			return "", err
		}
		u, err := url.Parse(admin)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	return "", fmt.Errorf("unknown database %q", db)
}

type proc struct {
	cmd  *exec.Cmd
	base string
}

func start(name string, args []string, env []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), append(env, "LISTEN_ADDR="+addr)...)
	for i, a := range cmd.Args {
		cmd.Args[i] = strings.ReplaceAll(a, "{addr}", addr)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, base: "http://" + addr}
	return p, nil
}

func (p *proc) waitReady(path string, within time.Duration) (time.Duration, error) {
	start := time.Now()
	c := &http.Client{Timeout: time.Second}
	for time.Since(start) < within {
		if res, err := c.Get(p.base + path); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not answer 200 within %s", path, within)
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func measure(db, dbURL, bin, self, tmp string, duration time.Duration, rounds int, workers uint64, conns int) error {
	env := []string{"DATABASE_URL=" + dbURL, "RESPONSE_VALIDATION=log", "LOG_LEVEL=info",
		"RATE_LIMIT_PER_MINUTE=1000000000", "RATE_LIMIT_PER_DAY=1000000000", "SHUTDOWN_DRAIN=0s"}
	env = append(env, serverEnv...)
	pprofAddr := ""
	if profileDir != "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		env = append(env, "PPROF_ADDR="+pprofAddr)
	}
	orgCmd := exec.Command(bin, "orgs", "create", "Load", "--json")
	orgCmd.Env = append(os.Environ(), env...)
	out, err := orgCmd.Output()
	if err != nil {
		return fmt.Errorf("orgs create: %v", err)
	}
	var org struct {
		Key string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &org); err != nil {
		return err
	}
	srv, err := start(bin, []string{"serve"}, env)
	if err != nil {
		return err
	}
	defer srv.stop()
	if _, err := srv.waitReady("/readyz", 30*time.Second); err != nil {
		return err
	}
	leadURL, body, err := createLead(srv.base, org.Key)
	if err != nil {
		return err
	}
	bodyFile := filepath.Join(tmp, db+"-lead.json")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		return err
	}
	bareProc, err := start(self, []string{"bare", "-addr", "{addr}", "-body", bodyFile}, nil)
	if err != nil {
		return err
	}
	defer bareProc.stop()
	if _, err := bareProc.waitReady("/", 10*time.Second); err != nil {
		return err
	}

	header := http.Header{"Authorization": {"Bearer " + org.Key}}
	var ours, anchor []result
	postmaster := 0
	if db == "postgres" {
		postmaster = proccpu.Postmaster()
	}
	for r := 0; r < rounds; r++ {
		var profiled chan error
		if r == 0 && pprofAddr != "" {
			profiled = make(chan error, 1)
			go func() { profiled <- profile(pprofAddr, db, duration) }()
		}
		ours = append(ours, attackMeasured(srv, postmaster, srv.base+leadURL, header, duration, workers))
		if profiled != nil {
			if err := <-profiled; err != nil {
				return err
			}
		}
		anchor = append(anchor, attackMeasured(bareProc, 0, bareProc.base+leadURL, header, duration, workers))
	}
	fmt.Printf("## %s: GET %s, RESPONSE_VALIDATION=log\n\n", db, leadURL)
	fmt.Println("| round | server req/s | p50 ms | p99 ms | bare req/s | p50 ms | p99 ms | ratio | server CPU µs/req | bare CPU µs/req | CPU ratio |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var ratios, cpuRatios []float64
	for i := range ours {
		ratio := ours[i].rps / anchor[i].rps
		ratios = append(ratios, ratio)
		// The bare handler's CPU per request over ours (with the
		// database's): the throughput ratio a machine with nothing else
		// to do would give, read from what the neighbours disturb least.
		cpuRatio := anchor[i].cpu / (ours[i].cpu + ours[i].db)
		cpuRatios = append(cpuRatios, cpuRatio)
		serverCPU := fmt.Sprintf("%.1f", ours[i].cpu)
		if postmaster != 0 {
			serverCPU += fmt.Sprintf(" + %.1f database", ours[i].db)
		}
		fmt.Printf("| %d | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f | %.3f | %s | %.1f | %.3f |\n", i+1, ours[i].rps, ours[i].p50, ours[i].p99,
			anchor[i].rps, anchor[i].p50, anchor[i].p99, ratio, serverCPU, anchor[i].cpu, cpuRatio)
		if ours[i].errors > 0 || anchor[i].errors > 0 {
			fmt.Printf("| | %d errors | | | %d errors | | | | | | |\n", ours[i].errors, anchor[i].errors)
		}
	}
	slices.Sort(ratios)
	slices.Sort(cpuRatios)
	fmt.Printf("\nmedian ratio server/bare: **%.3f**; by CPU per request: %.3f\n\n", ratios[len(ratios)/2], cpuRatios[len(cpuRatios)/2])

	rss, err := rssUnder(srv, leadURL, header, conns, pprofAddr, db)
	if err != nil {
		return err
	}
	fmt.Printf("server RSS under %d concurrent connections: max %.1f MB (VmHWM %.1f MB; at the max %.1f MB anonymous, %.1f MB file pages), %.0f req/s meanwhile\n",
		conns, rss.rss, rss.hwm, rss.anon, rss.file, rss.rps)
	// The anchor under the same connections: what a net/http server that
	// does nothing but answer the same JSON holds for them.
	bareRSS, err := rssUnder(bareProc, leadURL, header, conns, "", "")
	if err != nil {
		return err
	}
	fmt.Printf("bare handler RSS under %d concurrent connections: max %.1f MB (VmHWM %.1f MB; at the max %.1f MB anonymous, %.1f MB file pages), %.0f req/s meanwhile; server/bare %.2f\n",
		conns, bareRSS.rss, bareRSS.hwm, bareRSS.anon, bareRSS.file, bareRSS.rps, rss.rss/bareRSS.rss)

	srv.stop()
	var live, ready []time.Duration
	for range 5 {
		p, err := start(bin, []string{"serve"}, env)
		if err != nil {
			return err
		}
		began := time.Now()
		_, err = p.waitReady("/healthz", 30*time.Second)
		l := time.Since(began)
		if err == nil {
			_, err = p.waitReady("/readyz", 30*time.Second)
		}
		r := time.Since(began)
		p.stop()
		if err != nil {
			return err
		}
		live, ready = append(live, l), append(ready, r)
	}
	slices.Sort(live)
	slices.Sort(ready)
	fmt.Printf("start to first 200 on the existing database: /healthz median %s, /readyz median %s (5 starts)\n\n",
		live[len(live)/2].Round(time.Millisecond), ready[len(ready)/2].Round(time.Millisecond))
	return nil
}

func createLead(base, key string) (string, []byte, error) {
	req, _ := http.NewRequest("POST", base+"/api/v1/leads", bytes.NewReader([]byte(
		`{"phone":"5511999999999","name":"Maria Santos","email":"maria@empresa.com","company_name":"Tech Corp","deal_value":15000,"temperature":"hot","lead_score":85}`)))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(res.Body)
		return "", nil, fmt.Errorf("create lead: %d %s", res.StatusCode, b)
	}
	loc := res.Header.Get("Location") // /api/v1/leads/{id}
	get, _ := http.NewRequest("GET", base+loc, nil)
	get.Header.Set("Authorization", "Bearer "+key)
	g, err := http.DefaultClient.Do(get)
	if err != nil {
		return "", nil, err
	}
	defer g.Body.Close()
	body, err := io.ReadAll(g.Body)
	return loc, body, err
}

// attackMeasured is attack, with the CPU time p (and the cluster of
// postmaster, when not 0) used per answered request.
func attackMeasured(p *proc, postmaster int, target string, header http.Header, duration time.Duration, workers uint64) result {
	cpu := func() (self, db time.Duration) {
		_, self, _ = proccpu.Of(p.cmd.Process.Pid)
		if postmaster != 0 {
			db = proccpu.Cluster(postmaster)
		}
		return self, db
	}
	self0, db0 := cpu()
	r := attack(target, header, duration, workers)
	self1, db1 := cpu()
	if r.answered > 0 {
		r.cpu = float64((self1 - self0).Microseconds()) / float64(r.answered)
		r.db = float64((db1 - db0).Microseconds()) / float64(r.answered)
	}
	return r
}

func attack(target string, header http.Header, duration time.Duration, workers uint64) result {
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: target, Header: header})
	a := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(workers), vegeta.Connections(int(workers)),
		vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second))
	var m vegeta.Metrics
	for res := range a.Attack(tr, vegeta.Rate{Freq: 0}, duration, "load") {
		m.Add(res)
	}
	m.Close()
	var errs uint64
	for code, n := range m.StatusCodes {
		if code != "200" {
			errs += uint64(n)
		}
	}
	return result{rps: m.Throughput, p50: ms(m.Latencies.P50), p99: ms(m.Latencies.P99), errors: errs,
		answered: uint64(m.StatusCodes["200"])}
}

// profile takes a CPU profile over most of an attack, then a heap profile.
func profile(addr, db string, duration time.Duration) error {
	secs := max(1, int((duration-time.Second)/time.Second))
	time.Sleep(500 * time.Millisecond)
	for name, path := range map[string]string{
		"cpu":  fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs),
		"heap": "/debug/pprof/heap",
	} {
		if err := fetchTo("http://"+addr+path, filepath.Join(profileDir, db+"-"+name+".pprof")); err != nil {
			return err
		}
	}
	return nil
}

// fetchTo writes what url answers to the file.
func fetchTo(url, file string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// memory is what rssUnder saw: the largest resident set and the
// high-water mark, in MB, and the requests answered per second meanwhile
// (what a memory limit costs shows there). anon and file split the largest
// set: the process's own memory (heap, stacks), and the pages of its binary
// and libraries, which are clean, shared with the page cache and the first
// the kernel takes back.
type memory struct{ rss, hwm, anon, file, rps float64 }

// rssUnder holds conns connections to the server, each making requests,
// for a few seconds, and returns what it saw. With a pprof address, it also
// writes the server's heap profile and runtime.MemStats (stacks, heap,
// garbage) from the middle of it to profileDir/<db>-memory.txt.
func rssUnder(p *proc, path string, header http.Header, conns int, pprofAddr, db string) (memory, error) {
	const length = 8 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var answered int
	go func() {
		defer close(done)
		tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: p.base + path, Header: header})
		a := vegeta.NewAttacker(vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)),
			vegeta.Connections(conns), vegeta.KeepAlive(true), vegeta.Timeout(30*time.Second))
		for res := range a.Attack(tr, vegeta.Rate{Freq: 0}, length, "rss") {
			if res.Code == http.StatusOK {
				answered++
			}
			if ctx.Err() != nil {
				a.Stop()
			}
		}
	}()
	var maxRSS, anon, file float64
	start := time.Now()
	deadline := start.Add(length)
	sampled := pprofAddr == ""
	for time.Now().Before(deadline) {
		if rss, _ := status(p.cmd.Process.Pid, "VmRSS:"); rss > maxRSS {
			maxRSS = rss
			anon, _ = status(p.cmd.Process.Pid, "RssAnon:")
			file, _ = status(p.cmd.Process.Pid, "RssFile:")
		}
		if !sampled && time.Since(start) > length/2 {
			sampled = true
			if err := fetchTo("http://"+pprofAddr+"/debug/pprof/heap?debug=1", filepath.Join(profileDir, db+"-memory.txt")); err != nil {
				fmt.Fprintln(os.Stderr, "loadtest: memory profile:", err)
			}
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", p.cmd.Process.Pid)); err == nil {
				_ = os.WriteFile(filepath.Join(profileDir, db+"-smaps.txt"), b, 0o644)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	hwm, err := status(p.cmd.Process.Pid, "VmHWM:")
	cancel()
	<-done
	return memory{rss: maxRSS, hwm: hwm, anon: anon, file: file, rps: float64(answered) / time.Since(start).Seconds()}, err
}

// status reads a "kB" field of /proc/PID/status, in MB.
func status(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			kb, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in status", field)
}
