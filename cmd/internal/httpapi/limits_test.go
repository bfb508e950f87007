package httpapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveTCP runs s on a loopback socket until the test ends and returns its
// address: the limits below live in net/http's connection handling, which
// a ResponseRecorder never reaches.
func serveTCP(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

// TestSlowHeadersCut: a slowloris client that trickles its request headers
// one byte at a time, each well inside any per-read timeout, is cut when
// ReadHeaderTimeout has passed since the request began; the handler never
// runs. ReadTimeout is an hour here, so it is the header
// bound that cuts.
func TestSlowHeadersCut(t *testing.T) {
	f := &fake{}
	s := New(Config{AdminToken: token, ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Hour,
		IdleTimeout: time.Hour}, deps(f, nil), nil)
	addr := serveTCP(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "POST /api/v1/kill HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n" +
		strings.Repeat("X-Slow: drip\r\n", 1000) + "\r\n"
	// The writer drips until the server has closed the connection (a
	// write fails) or the test ends.
	stop := make(chan struct{})
	defer close(stop)
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for ; n < len(req); n++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // the drip's pace, not a wait for a condition
			}
			if _, err := c.Write([]byte{req[n]}); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a slow-header client held the connection for 30 s (%d bytes sent)", <-sent)
	}
	// net/http closes the connection, with a bare 400 (or 408) on it
	// when part of a request line had arrived; never the handler's answer.
	if len(b) != 0 && !strings.HasPrefix(string(b), "HTTP/1.1 400 ") && !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
		t.Errorf("the server answered a request whose headers never finished: %q", b)
	}
	if f.killed {
		t.Error("the handler ran on a request whose headers never finished")
	}
	t.Logf("cut after %v", time.Since(start).Round(time.Millisecond))
	// The server still serves others.
	if r, err := http.Get("http://" + addr + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz after the slow client: %v %v", r, err)
	}
}

// TestHeaderSizeBound: request headers larger than MaxHeaderBytes are
// refused with 431 before any handler runs, admin routes included.
func TestHeaderSizeBound(t *testing.T) {
	f := &fake{}
	s := New(Config{AdminToken: token}, deps(f, nil), nil)
	addr := serveTCP(t, s)
	send := func(extra int) (int, string) {
		t.Helper()
		req := "POST /api/v1/kill HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
			"\r\nX-Pad: " + strings.Repeat("a", extra) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
		// The server answers 431 before it has read the whole request and
		// then closes; the unread rest can make the kernel reset the
		// connection before the answer is read (net/http delays the close
		// to avoid it, but a loaded machine may outwait that). A reset is
		// the transport losing the answer, not the answer: ask again.
		for attempt := 1; ; attempt++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			go c.Write([]byte(req))
			r, err := http.ReadResponse(bufio.NewReader(c), nil)
			if errors.Is(err, syscall.ECONNRESET) && attempt < 5 {
				c.Close()
				continue
			}
			if err != nil {
				c.Close()
				t.Fatalf("%d-byte header: %v", extra, err)
			}
			b, _ := io.ReadAll(r.Body)
			c.Close()
			return r.StatusCode, string(b)
		}
	}
	max := DefaultConfig().MaxHeaderBytes
	if code, body := send(2 * max); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte header: %d %s; want 431", 2*max, code, body)
	}
	if f.killed {
		t.Error("the kill handler ran on an oversized request")
	}
	if code, body := send(max / 2); code != 200 || !f.killed {
		t.Errorf("a %d-byte header: %d %s; want the kill done", max/2, code, body)
	}
}

// TestOversizedBody: an authorized admin request whose body exceeds
// MaxBodyBytes is answered 413 and does nothing, except kill, which by
// design always engages and says it read only the beginning (doc.go); an
// unauthenticated one is answered 401 without its body being read.
func TestOversizedBody(t *testing.T) {
	f := &fake{killed: true, killReason: "before"}
	s := New(Config{AdminToken: token, MaxBodyBytes: 1 << 10}, deps(f, nil), nil)
	addr := serveTCP(t, s)
	big := `{"x":"` + strings.Repeat("y", 4<<10) + `"}`
	post := func(path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(big))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		r0 := req.Header
		r, err := http.DefaultClient.Do(req)
		for attempt := 1; errors.Is(err, syscall.ECONNRESET) && attempt < 5; attempt++ {
			// The answer comes before the body is read; the unread rest
			// may reset the connection first (see TestHeaderSizeBound).
			req, _ = http.NewRequest("POST", "http://"+addr+path, strings.NewReader(big))
			req.Header = r0.Clone()
			r, err = http.DefaultClient.Do(req)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, strings.TrimSpace(string(b))
	}
	for _, p := range []string{"/api/v1/resume", "/api/v1/rules/reload"} {
		if code, body := post(p, "Bearer "+token); code != 413 || body != `{"error":"request body larger than 1024 bytes"}` {
			t.Errorf("%s with a 4 KiB body: %d %s; want 413", p, code, body)
		}
		if code, _ := post(p, ""); code != 401 {
			t.Errorf("%s with a 4 KiB body and no token: %d; want 401", p, code)
		}
	}
	if !f.killed {
		t.Error("an oversized resume released the kill switch")
	}
	f.killed = false
	if code, body := post("/api/v1/kill", "Bearer "+token); code != 200 || !f.killed ||
		!strings.Contains(body, "request body larger than 1024 bytes; only its beginning was read") {
		t.Errorf("kill with a 4 KiB body: %d %s; want engaged with a warning", code, body)
	}
}
