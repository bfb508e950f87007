package exchangetest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProxy checks that the proxy forwards both ways, tells websocket
// upgrades from other requests, and passes a server-side close on to the
// client (how a dropped venue connection reaches the adapter).
func TestProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drop" {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		fmt.Fprintf(w, "path=%s upgrade=%s", r.URL.Path, r.Header.Get("Upgrade"))
	}))
	defer srv.Close()
	p, err := newProxy(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	for _, tc := range []struct {
		path, header, want string
	}{
		{"/api/v3/depth", "", "path=/api/v3/depth upgrade="},
		{"/ws/v5/public", "Upgrade: websocket\r\nConnection: Upgrade\r\n", "path=/ws/v5/public upgrade=websocket"},
		{"/stream", "UPGRADE:  WebSocket\r\n", "path=/stream upgrade=WebSocket"},
	} {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", tc.path, tc.header)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(bufio.NewReader(c))
		c.Close()
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: response %q lacks %q", tc.path, b, tc.want)
		}
	}
	if ws, rest := p.wsDials.Load(), p.restConns.Load(); ws != 2 || rest != 1 {
		t.Fatalf("counted %d websocket and %d other connections, want 2 and 1", ws, rest)
	}

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /drop HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("server closed the connection, client read %v", err)
	}

	// A head that never ends is cut, not buffered without bound.
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	fmt.Fprintf(c2, "GET / HTTP/1.1\r\n%s", strings.Repeat("X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 300))
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("oversized head: client read %v, want the connection closed", err)
	}
}

func TestIsUpgradeWebsocket(t *testing.T) {
	for line, want := range map[string]bool{
		"Upgrade: websocket\r\n":          true,
		"upgrade:WebSocket\r\n":           true,
		"Upgrade: h2c\r\n":                false,
		"X-Upgrade: websocket\r\n":        false,
		"Sec-WebSocket-Version: 13\r\n":   false,
		"GET /upgrade:websocket HTTP/1.1": false,
	} {
		if got := isUpgradeWebsocket([]byte(line)); got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}

// FuzzReadHead feeds arbitrary bytes to the proxy's head reader: it must
// not panic, must stop within its caps, and must report a websocket
// upgrade only when a header line says so.
func FuzzReadHead(f *testing.F) {
	f.Add([]byte("GET /ws/v5/public HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	f.Add([]byte("GET /api/v3/depth?symbol=BTCUSDT&limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nUpgrade websocket\r\n\n"))
	f.Add([]byte("\r\n"))
	f.Add([]byte("Upgrade: websocket\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		head, ws, err := readHead(bufio.NewReaderSize(strings.NewReader(string(b)), 4096))
		if err != nil {
			return
		}
		if len(head) > maxRequestHead || !strings.HasPrefix(string(b), string(head)) {
			t.Fatalf("head of %d bytes is not a bounded prefix of the input", len(head))
		}
		lines := strings.SplitAfter(string(head), "\n")
		want := false
		for _, l := range lines[1:] {
			want = want || isUpgradeWebsocket([]byte(l))
		}
		if ws != want {
			t.Fatalf("ws = %v for head %q", ws, head)
		}
	})
}
