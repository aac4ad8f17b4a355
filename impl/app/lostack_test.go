package app_test

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/iagente/iagente-sdr/impl/app"
	"github.com/iagente/iagente-sdr/impl/sqlstore/sqlstoretest"
)

// commitCutter is a TCP proxy in front of PostgreSQL that, once armed with
// a marker, loses the acknowledgement of the next transaction whose
// statements carry the marker's bytes: it forwards that transaction's
// COMMIT, waits for PostgreSQL's answer (so the commit has happened), and
// instead of passing the answer on, closes the connection. The service sees
// what it sees when a connection dies at that instant: a COMMIT whose fate
// it cannot know.
type commitCutter struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	marker []byte // armed while not nil
	cuts   atomic.Int64
}

func startCommitCutter(t *testing.T, target string) *commitCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &commitCutter{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *commitCutter) arm(marker string) {
	p.mu.Lock()
	p.marker = []byte(marker)
	p.mu.Unlock()
}

// armedFor says whether payload carries the armed marker.
func (p *commitCutter) armedFor(payload []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.marker != nil && bytes.Contains(payload, p.marker)
}

// take disarms the cutter, and reports whether it was armed for marker.
func (p *commitCutter) take(marker []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.marker == nil || !bytes.Equal(p.marker, marker) {
		return false
	}
	p.marker = nil
	return true
}

func (p *commitCutter) pipe(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	var swallow atomic.Bool // the next answer from the server is the lost one
	go func() {
		defer client.Close()
		defer server.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				if swallow.Load() {
					p.cuts.Add(1)
					return // COMMIT's answer: never delivered
				}
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer server.Close()
	defer client.Close()
	// The startup message: a length, then the rest (no type byte).
	var size [4]byte
	if _, err := io.ReadFull(client, size[:]); err != nil {
		return
	}
	startup := make([]byte, binary.BigEndian.Uint32(size[:])-4)
	if _, err := io.ReadFull(client, startup); err != nil {
		return
	}
	if _, err := server.Write(append(size[:], startup...)); err != nil {
		return
	}
	var seen []byte // the marker this transaction carried
	for {
		var head [5]byte
		if _, err := io.ReadFull(client, head[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[1:])-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		if seen == nil && p.armedFor(body) {
			p.mu.Lock()
			seen = p.marker
			p.mu.Unlock()
		}
		query := head[0] == 'Q'
		commit := query && bytes.HasPrefix(bytes.ToUpper(body), []byte("COMMIT"))
		if commit && seen != nil && p.take(seen) {
			swallow.Store(true)
		}
		if _, err := server.Write(append(head[:], body...)); err != nil {
			return
		}
		if query && (commit || bytes.HasPrefix(bytes.ToUpper(body), []byte("ROLLBACK"))) {
			seen = nil
		}
	}
}

// TestLostCommitAcknowledgement: a create whose COMMIT reached PostgreSQL
// but whose acknowledgement was lost on the way back (commitCutter) is
// answered 503, its Idempotency-Key given back; the row is in the
// database all the same. Its retry with the key answers what the commit
// stored, marked Idempotent-Replayed, and stores nothing twice. This is the
// fault itself, end to end, where the contract tests give the key back by
// hand.
func TestLostCommitAcknowledgement(t *testing.T) {
	d, ok := sqlstoretest.Postgres(t)
	if !ok {
		t.Skip("needs PostgreSQL (TEST_POSTGRES_URL)")
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	cutter := startCommitCutter(t, u.Host)
	through := *u
	through.Host = cutter.ln.Addr().String()
	e := startOutageApp(t, through.String(), func(c *app.Config) { c.RatePerMinute, c.RatePerDay = 10000, 100000 })
	db, err := sql.Open("postgres", d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rows := func(q, arg string) int {
		t.Helper()
		var n int
		if err := db.QueryRow(q, arg).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	var leadID float64
	for _, c := range []struct {
		name, path, marker string
		body               func() string
		want               int
		count              string // how many rows the marker's create stored
	}{
		{name: "POST /leads", path: "/api/v1/leads", marker: "5511976540001", want: http.StatusCreated,
			body:  func() string { return `{"phone":"5511976540001","name":"Lost Ack"}` },
			count: `SELECT COUNT(*) FROM leads WHERE phone = $1`},
		{name: "POST /webhooks", path: "/api/v1/webhooks", marker: "https://crm.example.com/lost-ack", want: http.StatusCreated,
			body: func() string {
				return `{"name":"CRM","url":"https://crm.example.com/lost-ack","events":["lead.created"]}`
			},
			count: `SELECT COUNT(*) FROM webhooks WHERE url = $1`},
		{name: "POST /api-keys", path: "/api/v1/api-keys", marker: "lost-ack-erp", want: http.StatusCreated,
			body:  func() string { return `{"name":"lost-ack-erp"}` },
			count: `SELECT COUNT(*) FROM api_keys WHERE name = $1`},
		{name: "POST /handoffs", path: "/api/v1/handoffs", marker: "lost-ack reason", want: http.StatusCreated,
			body: func() string {
				b, _ := json.Marshal(map[string]any{"lead_id": leadID, "reason": "lost-ack reason"})
				return string(b)
			},
			count: `SELECT COUNT(*) FROM handoffs WHERE reason = $1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			idem := "lost-ack-" + strings.NewReplacer(" ", "-", "/", "").Replace(c.name)
			cuts := cutter.cuts.Load()
			cutter.arm(c.marker)
			res, body, _ := e.do(t, "POST", c.path, c.body(), "Idempotency-Key", idem)
			if cutter.cuts.Load() != cuts+1 {
				t.Fatalf("the proxy cut nothing; the request answered %d %s", res.StatusCode, body)
			}
			wantUnavailable(t, "the request whose COMMIT's answer was lost", res, body)
			if n := rows(c.count, c.marker); n != 1 {
				t.Fatalf("%d rows stored by the lost COMMIT, want 1 (it reached the database)", n)
			}
			res, body, _ = e.do(t, "POST", c.path, c.body(), "Idempotency-Key", idem)
			if res.StatusCode != c.want || res.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("the retry: %d replayed=%q %s, want %d replayed", res.StatusCode, res.Header.Get("Idempotent-Replayed"), body, c.want)
			}
			if n := rows(c.count, c.marker); n != 1 {
				t.Errorf("%d rows after the retry, want still 1", n)
			}
			var got map[string]any
			_ = json.Unmarshal(body, &got)
			if c.name == "POST /leads" {
				leadID, _ = got["id"].(float64)
			}
			if c.name == "POST /api-keys" {
				key, _ := got["key"].(string)
				saved := e.key
				e.key = key
				if res, b, _ := e.do(t, "GET", "/api/v1/leads?per_page=1", ""); res.StatusCode != http.StatusOK {
					t.Errorf("the retry's key: %d %s", res.StatusCode, b)
				}
				e.key = saved
			}
		})
	}
}
