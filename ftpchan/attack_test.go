package ftpchan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/termgate/termgate/emulator"
)

// rawSession is a control channel driven line by line, as a hostile client would.
type rawSession struct {
	t      testing.TB
	opts   emulator.DialOptions
	conn   *emulator.Conn
	br     *bufio.Reader
	ticket string
}

func openRaw(t testing.TB, opts emulator.DialOptions) *rawSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := emulator.DialProxy(ctx, opts)
	if err != nil {
		t.Fatalf("control CONNECT: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawSession{t: t, opts: opts, conn: c, br: bufio.NewReader(c), ticket: c.Header().Get(emulator.HeaderTicket)}
	if r.ticket == "" {
		t.Fatal("no Termgate-Ticket in the control channel's response")
	}
	r.expect(220)
	r.send("USER anonymous\r\n")
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rep, err := ReadReply(r.br, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	switch rep.Code {
	case 230:
	case 331:
		r.cmd("PASS x@", 230)
	default:
		t.Fatalf("USER: %q", rep.Lines)
	}
	return r
}

func (r *rawSession) send(line string) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(r.conn, line); err != nil {
		r.t.Fatalf("send: %v", err)
	}
}

func (r *rawSession) expect(code int) *Reply {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rep, err := ReadReply(r.br, 0, 0)
	if err != nil {
		r.t.Fatalf("reading a reply (want %d): %v", code, err)
	}
	if rep.Code != code {
		r.t.Fatalf("reply %q, want code %d", rep.Lines, code)
	}
	return rep
}

func (r *rawSession) cmd(line string, code int) *Reply {
	r.t.Helper()
	r.send(line + "\r\n")
	return r.expect(code)
}

// epsv asks for a data port and returns it.
func (r *rawSession) epsv() int {
	r.t.Helper()
	rep := r.cmd("EPSV", 229)
	p, err := ParseEPSV(rep.Text())
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// dataConn opens a data channel with ticket to host:port.
func (r *rawSession) dataConn(ticket, host string, port int) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialChannel(ctx, r.opts, ChannelData, ticket, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// wantRefused checks that err is a proxy refusal with code.
func wantRefused(t testing.TB, what string, c net.Conn, err error, code Code) {
	t.Helper()
	if err == nil {
		c.Close()
		t.Fatalf("%s: data channel accepted, want refusal %s", what, code)
	}
	var pe *emulator.ProxyError
	if !errors.As(err, &pe) || pe.Code != string(code) {
		t.Fatalf("%s: %v, want a refusal with code %s", what, err, code)
	}
}

// dialRecorder records the gateway's data dials.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (d *dialRecorder) all() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// slowReader reads a download in small steps, so that the attacks below
// run while it is in progress.
func slowDownload(c *Client, path string, done chan<- [32]byte, errc chan<- error) {
	r, err := c.Retr(path)
	if err != nil {
		errc <- err
		return
	}
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			r.Close()
			errc <- err
			return
		}
		time.Sleep(15 * time.Millisecond)
	}
	if err := r.Close(); err != nil {
		errc <- err
		return
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	done <- sum
}

func TestAttacksRefusedWhileTransferCompletes(t *testing.T) {
	// The server announces a link-local metadata address in its 227 replies:
	// the gateway must ignore it.
	v := startVsftpd(t, vsftpdOptions{pasvAddress: "169.254.169.254"})
	rec := &dialRecorder{}
	f := newFront(t, Config{Dial: rec.dial}, frontOptions{}, identity)
	opts := dialOpts(t, v.addr, f.addr())
	host, _, _ := net.SplitHostPort(v.addr)

	// A legitimate client with a 4 MiB file, downloaded slowly.
	legit := dialClient(t, opts, ClientConfig{})
	data := randomBytes(rand.New(rand.NewPCG(9, 9)), 4<<20)
	if err := legit.Stor("big.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.root, "keep.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	done, errc := make(chan [32]byte, 1), make(chan error, 1)
	go slowDownload(legit, "big.bin", done, errc)

	// A third party that a bounce attack would aim the server at.
	third, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	bounced := make(chan struct{}, 1)
	go func() {
		if c, err := third.Accept(); err == nil {
			c.Close()
			bounced <- struct{}{}
		}
	}()
	tp := third.Addr().(*net.TCPAddr).Port

	a := openRaw(t, opts)
	b := openRaw(t, opts)

	t.Run("PORT and EPRT to a third party", func(t *testing.T) {
		a.cmd("PORT 127,0,0,1,"+strconv.Itoa(tp>>8)+","+strconv.Itoa(tp&0xff), 502)
		a.cmd("EPRT |1|127.0.0.1|"+strconv.Itoa(tp)+"|", 502)
		a.cmd("EPRT |2|::1|"+strconv.Itoa(tp)+"|", 502)
		a.cmd("LPRT 4,4,127,0,0,1,2,1,1", 502)
		a.send("NLST\r\n")
		a.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if rep, err := ReadReply(a.br, 0, 0); err != nil || rep.Code < 400 {
			t.Fatalf("NLST without a data connection: %v %v", rep, err)
		}
		select {
		case <-bounced:
			t.Fatal("the server connected to the third party")
		case <-time.After(300 * time.Millisecond):
		}
	})

	t.Run("227 address ignored", func(t *testing.T) {
		// The server itself announces the metadata address.
		dc, err := net.DialTimeout("tcp", v.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		dbr := bufio.NewReader(dc)
		dc.SetDeadline(time.Now().Add(5 * time.Second))
		ReadReply(dbr, 0, 0)
		io.WriteString(dc, "USER anonymous\r\nPASV\r\n")
		ReadReply(dbr, 0, 0)
		srep, err := ReadReply(dbr, 0, 0)
		dc.Close()
		if err != nil || srep.Code != 227 || !strings.Contains(srep.Text(), "169,254,169,254") {
			t.Fatalf("vsftpd's own 227 = %v, %v; want it to name 169.254.169.254", srep, err)
		}
		rep := a.cmd("PASV", 227)
		ip, port, err := ParsePASV(rep.Text())
		if err != nil {
			t.Fatal(err)
		}
		if ip.String() != "127.0.0.1" {
			t.Fatalf("227 to the client names %s, want the gateway's address 127.0.0.1", ip)
		}
		dc, err = a.dataConn(a.ticket, host, port)
		if err != nil {
			t.Fatalf("data channel for the PASV port: %v", err)
		}
		a.send("NLST\r\n")
		a.expect(150)
		dc.SetReadDeadline(time.Now().Add(5 * time.Second))
		list, _ := io.ReadAll(dc)
		dc.Close()
		a.expect(226)
		if !strings.Contains(string(list), "keep.txt") {
			t.Fatalf("NLST over the PASV port = %q", list)
		}
	})

	t.Run("over-long and injected lines", func(t *testing.T) {
		a.cmd(strings.Repeat("A", 5000), 500)
		a.cmd("NOOP\rDELE keep.txt", 500)
		a.cmd("NOOP\x00DELE keep.txt", 500)
		a.cmd("DELE keep.txt\rNOOP", 500)
		a.cmd("AUTH TLS", 502)
		a.cmd("NOOP", 200)
		if _, err := os.Stat(filepath.Join(v.root, "keep.txt")); err != nil {
			t.Fatalf("keep.txt was deleted by an injected command: %v", err)
		}
	})

	t.Run("data connection before any announcement", func(t *testing.T) {
		c, err := b.dataConn(b.ticket, host, 1)
		wantRefused(t, "never announced port", c, err, CodeChannelDenied)
	})

	pb := b.epsv()
	t.Run("another session's ticket", func(t *testing.T) {
		c, err := b.dataConn(a.ticket, host, pb)
		wantRefused(t, "session A's ticket for session B's port", c, err, CodeChannelDenied)
	})

	t.Run("forged ticket", func(t *testing.T) {
		forged := []byte(b.ticket)
		i := len(forged) - 5
		if forged[i] == 'A' {
			forged[i] = 'B'
		} else {
			forged[i] = 'A'
		}
		c, err := b.dataConn(string(forged), host, pb)
		wantRefused(t, "forged ticket", c, err, CodeTicketInvalid)
	})

	t.Run("wrong host", func(t *testing.T) {
		c, err := b.dataConn(b.ticket, "127.0.0.9", pb)
		wantRefused(t, "another host", c, err, CodeChannelDenied)
	})

	t.Run("reused ticket and port", func(t *testing.T) {
		dc, err := b.dataConn(b.ticket, host, pb)
		if err != nil {
			t.Fatalf("the announced port with the session's ticket: %v", err)
		}
		b.send("NLST\r\n")
		b.expect(150)
		dc.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(dc)
		dc.Close()
		b.expect(226)
		c, err := b.dataConn(b.ticket, host, pb)
		wantRefused(t, "second use", c, err, CodeChannelDenied)
	})

	t.Run("second notification channel", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if legit.notify == nil {
			// The client treats notifications as advice and goes on without
			// them if the channel could not be opened in time (a loaded
			// machine); hold the session's one channel here instead.
			first, err := dialChannel(ctx, opts, ChannelNotify, legit.ticket, v.addr)
			if err != nil {
				t.Fatalf("first notification channel: %v", err)
			}
			defer first.Close()
		}
		c, err := dialChannel(ctx, opts, ChannelNotify, legit.ticket, v.addr)
		wantRefused(t, "second notify", c, err, CodeChannelDenied)
	})

	b.cmd("NOOP", 200)
	select {
	case sum := <-done:
		if sum != sha256.Sum256(data) {
			t.Fatal("the download completed with different content")
		}
	case err := <-errc:
		t.Fatalf("the legitimate download failed: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the legitimate download did not complete")
	}
	for _, addr := range rec.all() {
		if h, _, _ := net.SplitHostPort(addr); h != "127.0.0.1" {
			t.Fatalf("the gateway dialled %s; every data connection must go to the control connection's peer 127.0.0.1", addr)
		}
	}
	if len(rec.all()) < 3 {
		t.Fatalf("only %d data dials recorded", len(rec.all()))
	}
}
