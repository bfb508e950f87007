package bybit

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// A small scripted Bybit for what exchange/sim does not do on purpose: stay
// silent (no pongs), send garbage, refuse topics.

type fakeBybit struct {
	srv   *httptest.Server
	conns atomic.Int32
	mu    sync.Mutex
	recv  []string // every client message, in order
	serve func(c *websocket.Conn, n int32)
}

func newFakeBybit(t *testing.T, serve func(c *websocket.Conn, n int32)) *fakeBybit {
	t.Helper()
	fb := &fakeBybit{serve: serve}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/v5/public/spot", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		fb.serve(c, fb.conns.Add(1))
	})
	fb.srv = httptest.NewServer(mux)
	t.Cleanup(fb.srv.Close)
	return fb
}

func (fb *fakeBybit) wsURL() string { return "ws" + strings.TrimPrefix(fb.srv.URL, "http") }

// read returns the next client message, recording it.
func (fb *fakeBybit) read(c *websocket.Conn) (map[string]any, error) {
	_, b, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	fb.mu.Lock()
	fb.recv = append(fb.recv, string(b))
	fb.mu.Unlock()
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func (fb *fakeBybit) received() []string {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]string(nil), fb.recv...)
}

// runFeed starts a feed on url and returns its ring and a stop function.
func runFeed(t *testing.T, url string, mutate func(*Config)) (*Feed, *ringbuf.MPSC[exchange.BookTop]) {
	t.Helper()
	ring := ringbuf.NewMPSC[exchange.BookTop](1024)
	cfg := Config{Venue: 5, Name: "fake", WSURL: url, Ring: ring,
		Instruments: []exchange.Instrument{{ID: 1, Venue: 5, Symbol: "BTCUSDT", Scale: num.Scale{Px: 2, Qty: 6}}},
		AgeMax:      400 * time.Millisecond, PingEvery: 100 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Rand: rand.New(rand.NewPCG(3, 4))}
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	})
	return f, ring
}

// nextEvent waits for the next event matching pred.
func nextEvent(t *testing.T, ring *ringbuf.MPSC[exchange.BookTop], d time.Duration, what string, pred func(*exchange.BookTop) bool) exchange.BookTop {
	t.Helper()
	deadline := time.Now().Add(d)
	var ev exchange.BookTop
	for time.Now().Before(deadline) {
		if ring.TryPop(&ev) {
			if pred(&ev) {
				return ev
			}
			continue
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no %s within %v", what, d)
	return ev
}

func isFresh(ev *exchange.BookTop) bool { return !ev.Stale() }

func staleWith(c exchange.StaleCause) func(*exchange.BookTop) bool {
	return func(ev *exchange.BookTop) bool { return ev.Stale() && ev.Cause == c }
}

const fakeSnap = `{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["100.00","1"]],"a":[["101.00","1"]],"u":%d,"seq":%d},"cts":1}`

// serveBook answers the subscribe and pings like Bybit, sends a snapshot,
// then calls more (if any) and keeps answering pings.
func (fb *fakeBybit) serveBook(c *websocket.Conn, n int32, more func(c *websocket.Conn)) {
	for {
		m, err := fb.read(c)
		if err != nil {
			return
		}
		switch m["op"] {
		case "subscribe":
			c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"success":true,"ret_msg":"","conn_id":"c%d","req_id":%q,"op":"subscribe"}`, n, m["req_id"]))
			c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, fakeSnap, 10*n, 1000*n))
			if more != nil {
				more(c)
			}
		case "ping":
			c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"success":true,"ret_msg":"pong","conn_id":"c%d","req_id":%q,"op":"ping"}`, n, m["req_id"]))
		}
	}
}

// TestFeedPingsAndSubscribes: the feed subscribes as documented (at most 10
// topics per request) and pings with {"req_id":..,"op":"ping"}.
func TestFeedPingsAndSubscribes(t *testing.T) {
	fb := newFakeBybit(t, nil)
	fb.serve = func(c *websocket.Conn, n int32) { fb.serveBook(c, n, nil) }
	var ins []exchange.Instrument
	for i := 0; i < 12; i++ {
		ins = append(ins, exchange.Instrument{ID: exchange.InstrumentID(i + 1), Venue: 5, Symbol: fmt.Sprintf("C%02dUSDT", i), Scale: num.Scale{Px: 2, Qty: 6}})
	}
	ins[0].Symbol = "BTCUSDT"
	f, ring := runFeed(t, fb.wsURL(), func(c *Config) { c.Instruments = ins; c.AgeMax = 2 * time.Second })
	nextEvent(t, ring, 2*time.Second, "fresh BTCUSDT", isFresh)
	time.Sleep(700 * time.Millisecond) // pings every 100 ms
	var subs, pings int
	for _, m := range fb.received() {
		switch {
		case strings.Contains(m, `"op":"subscribe"`):
			subs++
			var r struct{ Args []string }
			json.Unmarshal([]byte(m), &r)
			if len(r.Args) > maxArgsPerRequest {
				t.Errorf("subscribe with %d args: %s", len(r.Args), m)
			}
		case m == `{"req_id":"ping","op":"ping"}`:
			pings++
		default:
			t.Errorf("unexpected client message %s", m)
		}
	}
	if subs != 2 || pings < 3 {
		t.Errorf("%d subscribe requests (want 2 for 12 topics), %d pings", subs, pings)
	}
	if f.Stats().Connected.Load() != 1 {
		t.Error("Connected gauge not set")
	}
}

// TestFeedSilentConnection: a connection that delivers nothing at all, not
// even pongs, trips the AgeMax watchdog: books stale with cause age, and the
// feed reconnects.
func TestFeedSilentConnection(t *testing.T) {
	fb := newFakeBybit(t, nil)
	fb.serve = func(c *websocket.Conn, n int32) {
		if n == 1 {
			fb.serveBook(c, n, func(c *websocket.Conn) {
				for { // swallow everything, answer nothing
					if _, err := fb.read(c); err != nil {
						return
					}
				}
			})
			return
		}
		fb.serveBook(c, n, nil)
	}
	f, ring := runFeed(t, fb.wsURL(), nil)
	first := nextEvent(t, ring, 2*time.Second, "fresh book", isFresh)
	nextEvent(t, ring, 2*time.Second, "stale (age)", staleWith(exchange.CauseAge))
	ev := nextEvent(t, ring, 2*time.Second, "fresh after reconnect", isFresh)
	if ev.Seq == first.Seq || f.Stats().Reconnects.Load() != 1 {
		t.Fatalf("fresh seq %d after %d; reconnects %d", ev.Seq, first.Seq, f.Stats().Reconnects.Load())
	}
}

// TestFeedUnattributableFrame: garbage that names no book makes every book
// stale and the feed reconnect.
func TestFeedUnattributableFrame(t *testing.T) {
	fb := newFakeBybit(t, nil)
	fb.serve = func(c *websocket.Conn, n int32) {
		fb.serveBook(c, n, func(c *websocket.Conn) {
			if n == 1 {
				c.WriteMessage(websocket.TextMessage, []byte(`{"topic":"orderbook.5`))
			}
		})
	}
	f, ring := runFeed(t, fb.wsURL(), nil)
	nextEvent(t, ring, 2*time.Second, "fresh book", isFresh)
	nextEvent(t, ring, 2*time.Second, "stale (bad data)", staleWith(exchange.CauseBadData))
	nextEvent(t, ring, 2*time.Second, "fresh after reconnect", isFresh)
	if f.Stats().Rejects(exchange.RejectSyntax) != 1 || fb.conns.Load() < 2 {
		t.Fatalf("syntax rejects %d, connections %d", f.Stats().Rejects(exchange.RejectSyntax), fb.conns.Load())
	}
}

// TestFeedSubscribeRefused: a refused topic stays stale and is retried
// spaced out; the connection and the other books are unaffected.
func TestFeedSubscribeRefused(t *testing.T) {
	fb := newFakeBybit(t, nil)
	fb.serve = func(c *websocket.Conn, n int32) {
		for {
			m, err := fb.read(c)
			if err != nil {
				return
			}
			if m["op"] == "ping" {
				c.WriteMessage(websocket.TextMessage, []byte(`{"op":"pong","args":["1"]}`))
				continue
			}
			args := fmt.Sprint(m["args"])
			if m["op"] == "subscribe" && strings.Contains(args, "XYZUSDT") {
				c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"success":false,"ret_msg":"error:handler not found,topic:orderbook.50.XYZUSDT","conn_id":"c","req_id":%q,"op":"subscribe"}`, m["req_id"]))
				continue
			}
			c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"success":true,"ret_msg":"","conn_id":"c","req_id":%q,"op":%q}`, m["req_id"], m["op"]))
			if m["op"] == "subscribe" {
				c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, fakeSnap, 7, 700))
			}
		}
	}
	f, ring := runFeed(t, fb.wsURL(), func(c *Config) {
		c.Instruments = append(c.Instruments, exchange.Instrument{ID: 2, Venue: 5, Symbol: "XYZUSDT", Scale: num.Scale{Px: 2, Qty: 2}})
		c.SnapshotTimeout = 100 * time.Millisecond
	})
	nextEvent(t, ring, 2*time.Second, "fresh BTCUSDT", func(ev *exchange.BookTop) bool { return ev.Inst == 1 && isFresh(ev) })
	time.Sleep(time.Second)
	var xyzSubs int
	for _, m := range fb.received() {
		if strings.Contains(m, `"subscribe","args":["orderbook.50.XYZUSDT"]`) {
			xyzSubs++
		}
	}
	// Retries after 200 ms, then 400 ms more (a batch of two split first).
	if xyzSubs < 2 || xyzSubs > 4 {
		t.Errorf("XYZUSDT subscribed alone %d times in 1 s", xyzSubs)
	}
	if fb.conns.Load() != 1 || f.Stats().Rejects(exchange.RejectUnexpected) < 2 {
		t.Errorf("connections %d, unexpected rejects %d", fb.conns.Load(), f.Stats().Rejects(exchange.RejectUnexpected))
	}
}

// TestRunTwice: Run is called once.
func TestRunTwice(t *testing.T) {
	fb := newFakeBybit(t, nil)
	fb.serve = func(c *websocket.Conn, n int32) { fb.serveBook(c, n, nil) }
	f, _ := runFeed(t, fb.wsURL(), nil)
	time.Sleep(20 * time.Millisecond)
	if err := f.Run(context.Background()); err == nil {
		t.Fatal("second Run did not fail")
	}
}

// TestFeedPromotesHandoverConnection: when the old connection drops while
// a handover connection is still building its books, the new one takes
// over at once (no extra dial) and its books become fresh when synced.
func TestFeedPromotesHandoverConnection(t *testing.T) {
	fb := newFakeBybit(t, nil)
	fb.serve = func(c *websocket.Conn, n int32) {
		switch n {
		case 1: // serves, then drops while connection 2 is syncing
			go func() {
				time.Sleep(450 * time.Millisecond)
				c.Close()
			}()
		case 2: // starts at 300 ms; its snapshot comes after 900 ms
			time.Sleep(600 * time.Millisecond)
		}
		fb.serveBook(c, n, nil)
	}
	f, ring := runFeed(t, fb.wsURL(), func(c *Config) {
		c.Lifetime = 300 * time.Millisecond
		c.AgeMax = 2 * time.Second
		c.PingEvery = 200 * time.Millisecond
	})
	first := nextEvent(t, ring, 2*time.Second, "fresh from connection 1", isFresh)
	nextEvent(t, ring, 2*time.Second, "stale (disconnect)", staleWith(exchange.CauseDisconnect))
	ev := nextEvent(t, ring, 2*time.Second, "fresh from connection 2", isFresh)
	if first.Seq != 1000 || ev.Seq != 2000 { // the snapshots' seq, not their u (10, 20)
		t.Fatalf("fresh seq %d then %d, want 1000 (connection 1) then 2000 (connection 2)", first.Seq, ev.Seq)
	}
	if f.Stats().Reconnects.Load() != 1 || fb.conns.Load() != 2 {
		t.Fatalf("reconnects %d, connections %d", f.Stats().Reconnects.Load(), fb.conns.Load())
	}
}
