package ftpchan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/rs/zerolog"

	"github.com/termgate/termgate/emulator"
)

// DefaultClientTimeout bounds every single read or write of the client on
// the control and data connections when ClientConfig.Timeout is zero.
const DefaultClientTimeout = 60 * time.Second

// ClientConfig configures a Client. The zero value logs in anonymously and
// opens the notification channel.
type ClientConfig struct {
	// User is the FTP user; "" logs in as "anonymous".
	User string
	// Password is the FTP password ("" with anonymous: "anonymous@").
	Password string
	// Timeout bounds each read and write (so a stalled transfer fails and
	// a moving one never does); zero means DefaultClientTimeout.
	Timeout time.Duration
	// NoNotify skips the notification channel.
	NoNotify bool
	// NoDirect sends every channel to the proxy address of the dial
	// options even when the proxy names its own address for them
	// (Termgate-Owner-Address; see DirectAddress): for clients that can
	// reach the load balancer but not the nodes behind it.
	NoDirect bool
	// OnEvent, if set, is called (from one goroutine, in order) for every
	// notification but keep-alives.
	OnEvent func(Event)
	// Logger receives events at debug level; the zero value logs nothing.
	Logger zerolog.Logger
	// FTPOptions are more options for ftp.Dial, e.g.
	// ftp.DialWithDisabledEPSV(true). Do not pass DialWithDialFunc (the
	// client sets it), DialWithTLS or DialWithExplicitTLS (the tunnel is
	// already TLS; FTPS to the host is the proxy's job).
	FTPOptions []ftp.DialOption
}

// Client is an FTP client whose control, data and notification
// connections are tunnels through the termgate proxy. It embeds the
// *ftp.ServerConn of github.com/jlaffaye/ftp: List, Retr, RetrFrom, Stor,
// StorFrom, MakeDir, RemoveDir, Delete, Rename, FileSize, ChangeDir… work
// unchanged, each data connection becoming a ticketed CONNECT. Like
// ftp.ServerConn it is not safe for concurrent use, except Close.
type Client struct {
	*ftp.ServerConn

	opts      emulator.DialOptions
	chanOpts  emulator.DialOptions // for data and notification channels
	direct    string               // the owner node's own address, when used
	host      string
	ticket    string
	sessionID string
	cfg       ClientConfig
	log       zerolog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	notify net.Conn
	wg     sync.WaitGroup

	mu       sync.Mutex
	aborted  map[int]string // port → reason of a transfer-aborted event
	draining time.Time

	closeOnce sync.Once
}

// Dial opens the FTP session that l (a launch of an ftp session) names
// and logs in.
func Dial(ctx context.Context, l *emulator.Launch, cfg ClientConfig) (*Client, error) {
	if l == nil {
		return nil, errors.New("ftpchan: nil launch")
	}
	return DialProxy(ctx, emulator.DialOptions{
		ProxyAddr:                  l.Proxy.Address,
		ServerName:                 l.Proxy.ServerName,
		InsecureSkipServerIdentity: !l.Proxy.VerifyServerIdentity,
		Trust:                      l.Trust,
		Token:                      l.Token,
		ProofKey:                   l.ProofKey,
		Target:                     l.Session.Target(),
	}, cfg)
}

// DialProxy opens the control channel with opts (a token for an ftp
// destination), reads the channel ticket from the proxy's answer, opens
// the notification channel and logs in.
func DialProxy(ctx context.Context, opts emulator.DialOptions, cfg ClientConfig) (*Client, error) {
	host, _, err := net.SplitHostPort(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("ftpchan: target %q: %w", opts.Target, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultClientTimeout
	}
	ctrl, err := emulator.DialProxy(ctx, opts)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, host: host, cfg: cfg, log: cfg.Logger, sessionID: ctrl.SessionID(),
		ticket: ctrl.Header().Get(emulator.HeaderTicket), aborted: map[int]string{}}
	if c.ticket == "" {
		ctrl.Close()
		return nil, errors.New("ftpchan: the proxy sent no Termgate-Ticket: is the session an ftp session, and does this proxy support FTP?")
	}
	c.chanOpts = opts
	if a := ctrl.Header().Get(emulator.HeaderOwnerAddress); a != "" && !cfg.NoDirect {
		if host, err := OwnerAddressHost(a); err != nil {
			c.log.Warn().Err(err).Msg("ignoring the owner node's address from the proxy: channels go through the proxy address")
		} else {
			// The owner node is dialled by its own name, which its
			// certificate must carry, and trusted as the proxy is.
			c.chanOpts.ProxyAddr, c.chanOpts.ServerName, c.direct = a, host, a
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if !cfg.NoNotify {
		if err := c.openNotify(ctx); err != nil {
			// Notifications are advice: the session works without them.
			c.log.Warn().Err(err).Msg("FTP notification channel unavailable")
		}
	}
	first := true
	dialFunc := func(network, addr string) (net.Conn, error) {
		if first {
			first = false
			return &deadlineConn{Conn: ctrl, timeout: cfg.Timeout}, nil
		}
		return c.dialData(addr)
	}
	sc, err := ftp.Dial(opts.ProxyAddr, append(append([]ftp.DialOption(nil), cfg.FTPOptions...), ftp.DialWithDialFunc(dialFunc))...)
	if err != nil {
		ctrl.Close()
		c.Close()
		return nil, fmt.Errorf("ftpchan: FTP greeting: %w", err)
	}
	c.ServerConn = sc
	user, pass := cfg.User, cfg.Password
	if user == "" {
		user = "anonymous"
		if pass == "" {
			pass = "anonymous@"
		}
	}
	if err := sc.Login(user, pass); err != nil {
		c.Close()
		return nil, fmt.Errorf("ftpchan: FTP login as %s: %w", user, err)
	}
	return c, nil
}

// SessionID is the proxy's id of the session.
func (c *Client) SessionID() string { return c.sessionID }

// dialData turns the FTP library's data dial (the proxy's address and the
// announced port) into a ticketed CONNECT to the session's host and port.
func (c *Client) dialData(addr string) (net.Conn, error) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if p, err := strconv.Atoi(portStr); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("ftpchan: bad data port %q", portStr)
	}
	target := net.JoinHostPort(c.host, portStr)
	conn, err := dialChannel(c.ctx, c.chanOpts, ChannelData, c.ticket, target)
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: conn, timeout: c.cfg.Timeout}, nil
}

func (c *Client) openNotify(ctx context.Context) error {
	conn, err := dialChannel(ctx, c.chanOpts, ChannelNotify, c.ticket, c.opts.Target)
	if err != nil {
		return err
	}
	c.notify = conn
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.readNotify(conn)
	}()
	return nil
}

// readNotify reads events until the channel ends; a silence of three
// keep-alive intervals ends it.
func (c *Client) readNotify(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(3 * DefaultKeepAlive))
		line, err := ReadLine(br, MaxEventLine)
		if err != nil {
			if c.ctx.Err() == nil && !errors.Is(err, io.EOF) {
				c.log.Debug().Err(err).Msg("FTP notification channel ended")
			}
			return
		}
		e, err := ParseEvent(line)
		if err != nil {
			c.log.Debug().Err(err).Msg("bad FTP notification ignored")
			continue
		}
		switch e.Type {
		case EventKeepAlive:
			continue
		case EventTransferAborted:
			c.mu.Lock()
			c.aborted[e.Port] = e.Reason
			c.mu.Unlock()
		case EventDraining:
			c.mu.Lock()
			c.draining = e.Deadline
			c.mu.Unlock()
		}
		if c.cfg.OnEvent != nil {
			c.cfg.OnEvent(e)
		}
	}
}

// Draining returns the deadline announced by a draining proxy node: the
// session will be closed then, and a new one should be opened.
func (c *Client) Draining() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining, !c.draining.IsZero()
}

// TransferError is a failed transfer for which the proxy reported why.
type TransferError struct {
	Port   int
	Reason string
	Err    error
}

func (e *TransferError) Error() string {
	return fmt.Sprintf("%v (proxy: transfer on data port %d aborted: %s)", e.Err, e.Port, e.Reason)
}

func (e *TransferError) Unwrap() error { return e.Err }

// explain adds the proxy's abort reason, if one arrived, to err.
func (c *Client) explain(err error) error {
	if err == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for port, reason := range c.aborted {
		delete(c.aborted, port)
		return &TransferError{Port: port, Reason: reason, Err: err}
	}
	return err
}

// Retr is ftp.ServerConn.Retr, with the proxy's abort reason on failure.
func (c *Client) Retr(path string) (*ftp.Response, error) {
	r, err := c.ServerConn.Retr(path)
	return r, c.explain(err)
}

// RetrFrom is ftp.ServerConn.RetrFrom, with the proxy's abort reason on failure.
func (c *Client) RetrFrom(path string, offset uint64) (*ftp.Response, error) {
	r, err := c.ServerConn.RetrFrom(path, offset)
	return r, c.explain(err)
}

// Stor is ftp.ServerConn.Stor, with the proxy's abort reason on failure.
func (c *Client) Stor(path string, r io.Reader) error {
	return c.explain(c.ServerConn.Stor(path, r))
}

// StorFrom is ftp.ServerConn.StorFrom, with the proxy's abort reason on failure.
func (c *Client) StorFrom(path string, r io.Reader, offset uint64) error {
	return c.explain(c.ServerConn.StorFrom(path, r, offset))
}

// List is ftp.ServerConn.List, with the proxy's abort reason on failure.
func (c *Client) List(path string) ([]*ftp.Entry, error) {
	e, err := c.ServerConn.List(path)
	return e, c.explain(err)
}

// Close ends the session: QUIT (bounded by Timeout), then the control and
// notification channels. It is idempotent.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if c.ServerConn != nil {
			err = c.ServerConn.Quit()
		}
		if c.cancel != nil {
			c.cancel()
		}
		if c.notify != nil {
			c.notify.Close()
		}
		c.wg.Wait()
	})
	return err
}

// DirectAddress is the owner node's own address that the data and
// notification channels go to, or "" when they go through the proxy
// address (the proxy named none, or ClientConfig.NoDirect).
func (c *Client) DirectAddress() string { return c.direct }

// OwnerAddressHost checks an owner node's own address (host:port, as in
// Termgate-Owner-Address and the proxy's --ftp-direct-address) and
// returns its host.
func OwnerAddressHost(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || strings.ContainsAny(a, " \t\r\n\x00") {
		return "", fmt.Errorf("%q is not host:port", clip(a))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q: the port must be a number from 1 to 65535", clip(a))
	}
	return host, nil
}
