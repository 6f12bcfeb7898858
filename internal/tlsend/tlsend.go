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
//
// Armed (Arm), the Conn reports such an end as ErrAbrupt, which the TLS
// connection over it passes on instead of io.EOF: whatever reads from it,
// such as a relay, sees a failure rather than an end of stream.
package tlsend

import (
	"fmt"
	"io"
	"net"
	"sync/atomic"
)

// ErrAbrupt is what an armed Conn, and so the TLS connection over it,
// returns when the connection ends without TLS's closing alert. It matches
// io.ErrUnexpectedEOF.
var ErrAbrupt = fmt.Errorf("the connection ended without TLS's closing alert: %w", io.ErrUnexpectedEOF)

// Conn is a connection to put under a TLS connection. It notes that a Read
// reached the end of the stream, which TLS does only when no closing alert
// came first (after the alert it stops reading).
type Conn struct {
	net.Conn
	eof   atomic.Bool
	armed atomic.Bool
}

// New wraps c.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Read reads from the connection under c.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
		if c.armed.Load() {
			err = ErrAbrupt
		}
	}
	return n, err
}

// Arm makes the end of the stream an error (ErrAbrupt) from now on. Arm
// after the TLS handshake, so that a failed handshake reads as before.
func (c *Conn) Arm() { c.armed.Store(true) }

// Arm arms the Conn found under c, through *tls.Conn and other layers
// with a NetConn method, and reports whether there was one.
func Arm(c net.Conn) bool {
	for depth := 0; depth < 8 && c != nil; depth++ {
		switch v := c.(type) {
		case *Conn:
			v.Arm()
			return true
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return false
		}
	}
	return false
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
func (c *Conn) Abrupt(err error) bool {
	return err == io.EOF && c.eof.Load() || err == ErrAbrupt
}
