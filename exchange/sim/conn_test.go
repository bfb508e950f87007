package sim

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialRaw connects without a reader; setup may change handlers first, then
// read starts the reading goroutine (or not, for a client that never reads).
func dialRaw(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func startReading(c *websocket.Conn) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return done
}

func closedWithin(done chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func TestBinancePingPong(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.Binance.PingInterval = 40 * time.Millisecond
		c.Binance.PongTimeout = 2 * time.Second // far above a stall of the good client's reader
	})
	url := mustURLs(t, s, "binance").WS
	good := dialRaw(t, url) // gorilla answers pings with the same payload
	var pings sync.Map
	good.SetPingHandler(func(p string) error {
		pings.Store(p, true)
		return good.WriteControl(websocket.PongMessage, []byte(p), time.Now().Add(time.Second))
	})
	silent := dialRaw(t, url)
	silent.SetPingHandler(func(string) error { return nil })
	wrong := dialRaw(t, url) // answers with unsolicited pongs of another payload
	wrong.SetPingHandler(func(string) error {
		return wrong.WriteControl(websocket.PongMessage, []byte("x"), time.Now().Add(time.Second))
	})
	gd, sd, wd := startReading(good), startReading(silent), startReading(wrong)
	if !closedWithin(sd, patience) {
		t.Fatal("a client that never pongs was not closed")
	}
	if !closedWithin(wd, patience) {
		t.Fatal("unsolicited pongs kept a connection alive")
	}
	if closedWithin(gd, 100*time.Millisecond) {
		t.Fatal("a client that pongs was closed")
	}
	n := 0
	pings.Range(func(any, any) bool { n++; return true })
	if n < 3 {
		t.Fatalf("%d pings", n)
	}
}

func TestBinanceLifetime(t *testing.T) {
	s := newSim(t, func(c *Config) { c.Binance.MaxLifetime = 200 * time.Millisecond })
	c := dial(t, mustURLs(t, s, "binance").WS)
	start := time.Now()
	if !c.waitClosed(patience) {
		t.Fatal("connection outlived MaxLifetime")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v", d)
	}
}

// TestSlowClientIsCut: a client that never reads fills its queue and is cut
// (frames are queued without blocking), other clients keep receiving, and
// steps go on meanwhile.
func TestSlowClientIsCut(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.SendQueue = 4
		c.WriteTimeout = time.Minute // only the full queue can cut it
	})
	const stream = "btcusdt@depth@100ms"
	url := mustURLs(t, s, "binance").WSBase + "/ws/" + stream
	dialRaw(t, url) // never reads
	waitSubscribed(t, s, "binance", stream, 1)
	v := s.byName["binance"]
	s.mu.Lock()
	var slow *conn
	for c := range v.conns {
		slow = c
	}
	s.mu.Unlock()
	fast := dial(t, url)
	waitSubscribed(t, s, "binance", stream, 2)
	big := []byte(`{"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	for i := 0; i < 64 && s.SlowCuts("binance") == 0; i++ {
		s.mu.Lock()
		slow.send(big) // a frame too big for the client to keep up with
		s.mu.Unlock()
		s.Step()
		// The fast client reads each step's update before the next step:
		// its queue holds only 4 frames, and a loaded machine may starve
		// its writer while the steps go on.
		if m := fast.next(patience); !strings.Contains(string(m), `"depthUpdate"`) {
			t.Fatalf("fast client got %s", m)
		}
	}
	if s.SlowCuts("binance") != 1 {
		t.Fatalf("slow cuts %d, want 1", s.SlowCuts("binance"))
	}
	// The market went on meanwhile and the other client kept receiving it
	// (one step at a time: its own queue holds only 4 frames).
	for range 5 {
		s.Step()
		if m := fast.next(10 * time.Second); !strings.Contains(string(m), `"depthUpdate"`) {
			t.Fatalf("fast client got %s", m)
		}
	}
	if n := s.SlowCuts("binance"); n != 1 {
		t.Fatalf("slow cuts %d after the steps", n)
	}
}

func TestManyClientsWithTicker(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.ManualStep = false
		c.StepInterval = 5 * time.Millisecond
	})
	var clients []*wsClient
	for i := range 20 {
		clients = append(clients, dial(t, mustURLs(t, s, "binance").WSBase+fmt.Sprintf("/ws/%s@depth@100ms", []string{"btcusdt", "ethusdt"}[i%2])))
		o := dial(t, mustURLs(t, s, "okx").WS)
		o.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"SOL-USDT"},{"channel":"bbo-tbt","instId":"BTC-USDT"}]}`)
		b := dial(t, mustURLs(t, s, "bybit").WS)
		b.sendText(`{"op":"subscribe","args":["orderbook.200.ETHUSDT","orderbook.1.BTCUSDT"]}`)
		clients = append(clients, o, b)
	}
	for _, c := range clients {
		c.next(patience) // every client gets frames (Binance @100ms: one per 20 steps)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > patience {
		t.Fatalf("Close took %v", d)
	}
	for i, c := range clients {
		if !c.waitClosed(patience) {
			t.Fatalf("client %d still open after Close", i)
		}
	}
}
