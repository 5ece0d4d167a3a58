package qmqpd

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// halfConn is the server's end of a connection whose client can half-close:
// reads come from an io.Pipe the client writes and closes, writes are
// collected. (net.Pipe has no half-close, so a client that sent everything
// could only wait for a timeout or close both directions.)
type halfConn struct {
	r   *io.PipeReader
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *halfConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *halfConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}
func (c *halfConn) Close() error                     { return c.r.Close() }
func (c *halfConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *halfConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *halfConn) SetDeadline(time.Time) error      { return nil }
func (c *halfConn) SetReadDeadline(time.Time) error  { return nil }
func (c *halfConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzSession feeds arbitrary client bytes, in arbitrary chunks, to a
// session. The server must not panic, must answer with at most one
// well-formed status netstring, and must answer K only for a message that
// was handed to the queue and finished, naming its queue ID.
func FuzzSession(f *testing.F) {
	f.Add([]byte(packet("Subject: x\n\nbody\n", "a@example.org", "b@example.net")), uint8(7))
	f.Add([]byte(packet("", "", "")), uint8(1))
	f.Add([]byte(packet("x", "s+@x-@[]", "r")), uint8(3))
	f.Add([]byte("0:,"), uint8(0))
	f.Add([]byte("00010:3:abc,0:,,"), uint8(2))
	f.Add([]byte("12:3:abc,0:,,,"), uint8(5))
	f.Add([]byte("99999999999999999999:"), uint8(4))
	f.Add([]byte(":,"), uint8(1))
	f.Add([]byte("1:x"), uint8(9))
	f.Fuzz(func(t *testing.T, input []byte, chunk uint8) {
		cfg := testConfig()
		cfg.MessageSizeLimit = 1000
		cfg.LineLengthLimit = 16
		q := &memQueuer{}
		srv := NewServer(cfg, q, &memLog{})
		srv.SpoolMemory = 64
		srv.SpoolDir = t.TempDir()
		pr, pw := io.Pipe()
		conn := &halfConn{r: pr}
		go func() {
			size := int(chunk)%16 + 1
			for rest := input; len(rest) > 0; {
				n := min(size, len(rest))
				if _, err := pw.Write(rest[:n]); err != nil {
					break
				}
				rest = rest[n:]
			}
			pw.Close()
		}()
		if err := srv.ServeConn(conn); err != nil {
			t.Fatalf("ServeConn: %v", err)
		}
		reply := conn.out.String()
		if reply == "" {
			if len(q.finished) != 0 {
				t.Fatalf("no reply, but %d messages finished", len(q.finished))
			}
			return
		}
		colon := strings.IndexByte(reply, ':')
		n, err := strconv.Atoi(reply[:max(colon, 0)])
		if colon < 0 || err != nil || len(reply) != colon+1+n+1 || reply[len(reply)-1] != ',' || n == 0 {
			t.Fatalf("reply %q is not one netstring", reply)
		}
		code, text := reply[colon+1], reply[colon+2:len(reply)-1]
		switch code {
		case 'K':
			if len(q.finished) != 1 {
				t.Fatalf("K reply %q with %d finished messages", reply, len(q.finished))
			}
			if want := "Ok: queued as " + q.finished[0].id; text != want {
				t.Fatalf("K reply %q, want %q", text, want)
			}
			var sawEnd bool
			for _, r := range q.finished[0].records {
				sawEnd = sawEnd || r == "E "
			}
			if !sawEnd {
				t.Fatalf("K for a message without its E record: %q", q.finished[0].records)
			}
		case 'Z', 'D':
			if len(q.finished) != 0 {
				t.Fatalf("%c reply %q, but the message was finished (queued)", code, reply)
			}
		default:
			t.Fatalf("reply %q has status %q", reply, code)
		}
	})
}
