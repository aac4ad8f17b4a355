package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iagente/iagente-sdr/impl"
)

// EnvelopeProtocolErrors wraps the listener the API is served on so that a
// request net/http cannot read as HTTP/1.1 (a broken request line, no or a
// malformed Host, a header name or value that is not HTTP, headers past
// ListenerMaxHeaderBytes, an unknown Transfer-Encoding, another major
// version) is answered with the JSON error envelope like every other bad
// request, instead of the plain text net/http writes before any handler
// runs.
//
// net/http writes those answers itself, in one write straight to the
// connection, in a form no handler's response can take (its headers come
// unsorted and without Date); the connection rewrites exactly that form
// and passes every other write through untouched.
func EnvelopeProtocolErrors(ln net.Listener) net.Listener {
	return protocolErrorListener{ln}
}

type protocolErrorListener struct{ net.Listener }

func (l protocolErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &protocolErrorConn{c}, nil
}

type protocolErrorConn struct{ net.Conn }

func (c *protocolErrorConn) Write(p []byte) (int, error) {
	if b, ok := envelopeProtocolError(p, time.Now()); ok {
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// CloseWrite keeps net/http's half-close before it hangs up on a client
// whose headers were too large (so that the client reads the answer).
func (c *protocolErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps the connection's own copy (sendfile on TCP) for bodies
// copied into a response.
func (c *protocolErrorConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// netHTTPErrorHeaders is what net/http puts between the status line and
// the body of the answers it writes itself (net/http's server.go).
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// envelopeProtocolError returns the answer to send instead of p when p is
// one of net/http's own plain-text error answers.
func envelopeProtocolError(p []byte, now time.Time) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) {
		return nil, false
	}
	// The headers follow the status line at once: a look at the first
	// line's end, not a scan of every response.
	i := bytes.IndexByte(p, '\r')
	if i < 0 || !bytes.HasPrefix(p[i:], []byte(netHTTPErrorHeaders)) {
		return nil, false
	}
	status := string(p[len(proto):i])
	if len(status) < 4 || status[3] != ' ' || strings.IndexByte(status, '\n') >= 0 {
		return nil, false
	}
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	var ae *impl.Error
	switch {
	case code == http.StatusRequestHeaderFieldsTooLarge:
		ae = headerTooLargeError()
	case code == http.StatusNotImplemented:
		ae = impl.Errorf(impl.EBadRequest,
			"The request's Transfer-Encoding is not supported; send its body with Content-Length or chunked.")
	case code == http.StatusHTTPVersionNotSupported:
		ae = impl.Errorf(impl.EBadRequest, "The request is not HTTP/1.1; this server speaks HTTP/1.1 and HTTP/1.0.")
	default:
		// "400 Bad Request" or "400 Bad Request: <what>", where what is
		// one of net/http's fixed phrases ("missing required Host
		// header"), never the client's bytes.
		msg := "The request is not valid HTTP/1.1"
		if _, what, ok := strings.Cut(status, ": "); ok {
			msg += ": " + what
		}
		ae = impl.Errorf(impl.EBadRequest, "%s.", msg)
	}
	st := statusOf[ae.Code]
	body, err := json.Marshal(envelope{Error: envelopeError{Code: ae.Code, Message: ae.Message, Details: map[string][]string{}}})
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	b.Grow(256 + len(body))
	b.WriteString(proto)
	b.WriteString(strconv.Itoa(st))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(st))
	b.WriteString("\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\nContent-Type: application/json\r\nDate: ")
	b.WriteString(now.UTC().Format(http.TimeFormat))
	b.WriteString("\r\nX-Content-Type-Options: nosniff\r\n\r\n")
	b.Write(body)
	return b.Bytes(), true
}
