// Package tlsend tells how a TLS peer ended a connection. crypto/tls
// reports io.EOF both after the peer's closing alert (close_notify) and
// when the connection just ends at a record boundary; the second is a
// peer that died or a network that failed, and data may be missing.
//
//	raw := tlsend.New(tcp)
//	tc := tls.Client(raw, cfg)
//	...
//	n, err := tc.Read(p)
//	if raw.Abrupt(err) { // no close_notify came before the end
package tlsend

import (
	"io"
	"net"
	"sync/atomic"
)

// Conn is a connection to put under a TLS connection. It notes that a Read
// reached the end of the stream, which TLS does only when no closing alert
// came first (after the alert it stops reading).
type Conn struct {
	net.Conn
	eof atomic.Bool
}

// New wraps c.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Read reads from the connection under c.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
	}
	return n, err
}

// CloseWrite half-closes the connection under c, if it can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn returns the connection under c.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Abrupt reports whether err, returned by a Read of the TLS connection
// over c, is an end of stream that no closing alert announced.
func (c *Conn) Abrupt(err error) bool { return err == io.EOF && c.eof.Load() }
