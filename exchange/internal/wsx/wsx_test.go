package wsx

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// server runs handler on every accepted websocket and returns its ws:// URL.
func server(t testing.TB, handler func(*websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		handler(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestReadFrameReusesBufferAndCaps(t *testing.T) {
	url := server(t, func(c *websocket.Conn) {
		c.WriteMessage(websocket.TextMessage, []byte("first"))
		c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 200000)))
		c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("y", 300)))
		time.Sleep(time.Second)
	})
	c, err := Dial(context.Background(), url, DialConfig{MaxFrame: 250000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, ts, err := c.ReadFrame()
	if err != nil || string(b) != "first" || ts == 0 {
		t.Fatalf("%q %d %v", b, ts, err)
	}
	b, _, err = c.ReadFrame()
	if err != nil || len(b) != 200000 {
		t.Fatalf("big frame: %d %v", len(b), err)
	}
	b, _, err = c.ReadFrame()
	if err != nil || len(b) != 300 {
		t.Fatalf("after big: %d %v", len(b), err)
	}
}

func TestReadFrameTooLarge(t *testing.T) {
	url := server(t, func(c *websocket.Conn) {
		c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 5000)))
		time.Sleep(time.Second)
	})
	c, err := Dial(context.Background(), url, DialConfig{MaxFrame: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadFrame(); err != ErrTooLarge {
		t.Fatalf("err = %v", err)
	}
}

func TestServerPingIsAnsweredWithSamePayload(t *testing.T) {
	got := make(chan string, 1)
	url := server(t, func(c *websocket.Conn) {
		c.SetPongHandler(func(s string) error { got <- s; return nil })
		c.WriteControl(websocket.PingMessage, []byte("abc123"), time.Now().Add(time.Second))
		c.WriteMessage(websocket.TextMessage, []byte("data"))
		c.ReadMessage() // runs the pong handler
	})
	c, err := Dial(context.Background(), url, DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "abc123" {
			t.Fatalf("pong payload %q", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no pong")
	}
}

func TestWatchdogClosesIdleConnection(t *testing.T) {
	url := server(t, func(c *websocket.Conn) { c.ReadMessage() })
	c, err := Dial(context.Background(), url, DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	go c.Watchdog(context.Background(), 100*time.Millisecond)
	start := time.Now()
	if _, _, err := c.ReadFrame(); err == nil {
		t.Fatal("read on idle connection succeeded")
	}
	if c.Cause() != ClosedIdle {
		t.Fatalf("cause %v", c.Cause())
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("watchdog took %v", d)
	}
}

func TestKeepAlive(t *testing.T) {
	pings := make(chan string, 10)
	url := server(t, func(c *websocket.Conn) {
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			pings <- string(b)
		}
	})
	c, err := Dial(context.Background(), url, DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.KeepAlive(ctx, 50*time.Millisecond, []byte("ping"), true)
	for i := 0; i < 2; i++ {
		select {
		case p := <-pings:
			if p != "ping" {
				t.Fatal(p)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no keep-alive ping")
		}
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Rand: rand.New(rand.NewPCG(1, 2))}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		d := b.Next()
		if d < w/2 || d > w {
			t.Fatalf("attempt %d: %v not in [%v, %v]", i, d, w/2, w)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after reset %v", d)
	}
}

// BenchmarkReadFrame measures ReadFrame over a real loopback websocket with
// a 640-byte text frame. gorilla/websocket allocates one 8-byte reader per
// message inside NextReader; everything else is reused, so allocs/op is 1
// and B/op 8 (documented in BENCHMARKS.md).
func BenchmarkReadFrame(b *testing.B) {
	msg := []byte(strings.Repeat("x", 640))
	prepared, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	url := server(b, func(c *websocket.Conn) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c.WritePreparedMessage(prepared) != nil {
				return
			}
		}
	})
	c, err := Dial(context.Background(), url, DialConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	defer close(stop)
	for i := 0; i < 100; i++ { // warm the buffer
		c.ReadFrame()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
}
