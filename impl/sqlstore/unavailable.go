package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// pgConnector connects with lib/pq; with a timeout it sets the session's
// statement_timeout and wraps every connection so that a read or write
// that waits longer than the timeout (and a little) fails. A context
// cannot do that: lib/pq reacts to a done context by asking the server to
// cancel, and a frozen server answers neither the cancel nor the query, so
// the call would hang until TCP gives up, hours later.
func pgConnector(dsn string, timeout time.Duration, settings map[string]string) (*pq.Connector, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, err
	}
	for k, v := range settings {
		if cfg.Runtime == nil {
			cfg.Runtime = map[string]string{}
		}
		cfg.Runtime[k] = v
	}
	if timeout > 0 {
		if cfg.Runtime == nil {
			cfg.Runtime = map[string]string{}
		}
		if _, set := cfg.Runtime["statement_timeout"]; !set {
			cfg.Runtime["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
		}
		if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > timeout {
			cfg.ConnectTimeout = timeout
		}
	}
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		// The server's own timeout fires first and says why; the socket's
		// is for a server that says nothing at all.
		c.Dialer(silenceDialer{limit: timeout + 500*time.Millisecond})
	}
	return c, nil
}

// silenceDialer dials connections that give up on a peer silent for longer
// than limit.
type silenceDialer struct{ limit time.Duration }

func (d silenceDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d silenceDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d silenceDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return silenceConn{Conn: c, limit: d.limit}, nil
}

// silenceConn sets a deadline before each read and write, so only a single
// silence longer than limit fails: a long result that keeps arriving does not.
type silenceConn struct {
	net.Conn
	limit time.Duration
}

func (c silenceConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.limit))
	return c.Conn.Read(b)
}

func (c silenceConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.limit))
	return c.Conn.Write(b)
}

// IsUnavailable reports whether err means the database could not do the
// work in time or at all (unreachable, frozen, shutting down, too slow,
// locked, out of disk or memory), as opposed to a defect: the caller may retry later. The HTTP
// layer answers these with 503 and Retry-After.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch {
		case pqErr.Code == "57014": // query_canceled: statement_timeout
			return true
		case pqErr.Code == "55P03": // lock_not_available
			return true
		case pqErr.Code.Class() == "53": // insufficient resources: disk full, out of memory, too many connections
			return true
		case pqErr.Code == "58030": // io_error: the disk failed a read or write
			return true
		case pqErr.Code.Class() == "57": // operator intervention: shutdown, cannot connect now
			return true
		case pqErr.Code.Class() == "08": // connection exception
			return true
		}
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT:
			return true
		// The disk is full or failed a read or write, or memory ran out:
		// SQLite rolled the transaction back, and the same write succeeds
		// once there is room again.
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOMEM:
			return true
		}
	}
	return false
}
