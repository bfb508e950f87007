package okx

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
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

// fakeOKX is a local OKX public websocket: it answers "ping" with "pong",
// acks subscribe/unsubscribe, sends a snapshot for each new subscription and
// then updates chained by seqId/prevSeqId with checksums computed by the
// reference model. Its market moves when the test calls step; faults are
// injected through its methods. It records every published state by seqId
// so tests can check the adapter's books against it.
type fakeOKX struct {
	t      *testing.T
	srv    *httptest.Server
	rnd    *rand.Rand
	ck0    bool // send checksum 0
	mu     sync.Mutex
	books  map[string]*fakeBook
	conns  map[*fakeConn]bool
	nConns atomic.Int64 // connections accepted
	frozen atomic.Bool  // no data and no pongs
	mute   atomic.Bool  // no data, pongs answered
	// one-shot faults, applied at the next step
	gap, badCK map[string]bool
}

type fakeBook struct {
	sym  string
	sc   num.Scale
	book *refBook
	seq  int64
	hist map[int64][2][]exchange.Level
}

type fakeConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	subs map[string]bool // guarded by fakeOKX.mu
}

func (c *fakeConn) write(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(testWait)) // a stalled client is not a dead one
	_ = c.ws.WriteMessage(websocket.TextMessage, b)
}

func newFakeOKX(t *testing.T, ck0 bool, insts ...exchange.Instrument) *fakeOKX {
	f := &fakeOKX{t: t, rnd: rand.New(rand.NewPCG(7, 11)), ck0: ck0, books: map[string]*fakeBook{},
		conns: map[*fakeConn]bool{}, gap: map[string]bool{}, badCK: map[string]bool{}}
	for k, in := range insts {
		fb := &fakeBook{sym: in.Symbol, sc: in.Scale, book: newRefBook(), seq: 1000 * int64(k+1), hist: map[int64][2][]exchange.Level{}}
		mid := int64(60000 / (k + 1))
		for i := int64(1); i <= 30; i++ {
			f.setLevel(fb, true, fmt.Sprintf("%d.%d", mid-1-i/10, 9-i%10), fmt.Sprintf("0.%d", 1+f.rnd.IntN(9)))
			f.setLevel(fb, false, fmt.Sprintf("%d.%d", mid+i/10, i%10), fmt.Sprintf("%d.5", f.rnd.IntN(9)))
		}
		fb.record()
		f.books[in.Symbol] = fb
	}
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc(PublicPath, func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		f.serve(&fakeConn{ws: ws, subs: map[string]bool{}})
	})
	mux.HandleFunc(InstrumentsPath, func(w http.ResponseWriter, r *http.Request) {
		w.Write(docMember(t, "rest_account_instruments_spot_response.json", "payload"))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.close)
	return f
}

func (f *fakeOKX) wsURL() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

func (f *fakeOKX) close() {
	f.dropAll()
	f.srv.Close()
}

func (f *fakeOKX) setLevel(b *fakeBook, bid bool, px, sz string) {
	p, ok1 := refParse(px, b.sc.Px)
	s, ok2 := refParse(sz, b.sc.Qty)
	if !ok1 || !ok2 {
		f.t.Fatalf("bad level %s %s", px, sz)
	}
	b.book.set(bid, refLevel{p, s, px, sz})
}

func (b *fakeBook) record() {
	bids, asks := b.book.top(exchange.TopK)
	b.hist[b.seq] = [2][]exchange.Level{bids, asks}
}

func (b *fakeBook) frame(action string, prev int64, bids, asks []refLevel, checksum int32) []byte {
	lv := func(in []refLevel) [][]string {
		out := [][]string{}
		for _, l := range in {
			out = append(out, []string{l.pxRaw, l.szRaw, "0", "1"})
		}
		return out
	}
	v := map[string]any{
		"arg":    map[string]string{"channel": "books", "instId": b.sym},
		"action": action,
		"data": []map[string]any{{"asks": lv(asks), "bids": lv(bids), "ts": fmt.Sprint(time.Now().UnixMilli()),
			"checksum": checksum, "prevSeqId": prev, "seqId": b.seq}},
	}
	out, _ := json.Marshal(v)
	return out
}

func (f *fakeOKX) checksum(b *fakeBook) int32 {
	if f.ck0 {
		return 0
	}
	return b.book.checksum()
}

func (f *fakeOKX) serve(c *fakeConn) {
	f.nConns.Add(1)
	f.mu.Lock()
	f.conns[c] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.ws.Close()
	}()
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if string(msg) == "ping" {
			if !f.frozen.Load() {
				c.write([]byte("pong"))
			}
			continue
		}
		var req struct {
			Op   string
			Args []map[string]string
		}
		if json.Unmarshal(msg, &req) != nil {
			c.write([]byte(`{"event":"error","code":"60012","msg":"Invalid request","connId":"fake"}`))
			continue
		}
		for _, a := range req.Args {
			ack, _ := json.Marshal(map[string]any{"event": req.Op, "arg": a, "connId": "fake"})
			c.write(ack)
			// The snapshot goes out under f.mu, as step's updates do: written
			// after the unlock, an update built meanwhile could overtake it,
			// and the client would see the snapshot's successor first and
			// then a gap after the snapshot.
			f.mu.Lock()
			b := f.books[a["instId"]]
			if req.Op == "subscribe" && b != nil && a["channel"] == "books" {
				c.subs[b.sym] = true
				c.write(b.frame("snapshot", -1, b.book.sorted(true), b.book.sorted(false), f.checksum(b)))
			} else {
				delete(c.subs, a["instId"])
			}
			f.mu.Unlock()
		}
	}
}

// step moves every book by one update and sends it to the subscribers.
func (f *fakeOKX) step() {
	if f.frozen.Load() || f.mute.Load() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.books {
		prev := b.seq
		var bids, asks []refLevel
		for n := 1 + f.rnd.IntN(3); n > 0; n-- {
			bid := f.rnd.IntN(2) == 0
			side := b.book.sorted(bid)
			l := side[f.rnd.IntN(min(len(side), 12))]
			switch {
			case f.rnd.IntN(3) == 0 && len(side) > 15:
				l.sz, l.szRaw = 0, "0"
			default:
				l.szRaw = fmt.Sprintf("%d.%02d", f.rnd.IntN(5), 1+f.rnd.IntN(99))
				l.sz, _ = refParse(l.szRaw, b.sc.Qty)
			}
			b.book.set(bid, l)
			if bid {
				bids = append(bids, l)
			} else {
				asks = append(asks, l)
			}
		}
		b.seq += 1 + int64(f.rnd.IntN(3)) // OKX seqIds are not consecutive
		b.record()
		if f.gap[b.sym] {
			delete(f.gap, b.sym) // this update is lost
			continue
		}
		ck := f.checksum(b)
		if f.badCK[b.sym] {
			delete(f.badCK, b.sym)
			ck ^= 0x5a5a
		}
		frame := b.frame("update", prev, bids, asks, ck)
		for c := range f.conns {
			if c.subs[b.sym] {
				c.write(frame)
			}
		}
	}
}

func (f *fakeOKX) sendAll(frame string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.write([]byte(frame))
	}
}

func (f *fakeOKX) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.ws.Close()
	}
}

func (f *fakeOKX) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

func (f *fakeOKX) histAt(sym string, seq uint64) ([2][]exchange.Level, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.books[sym].hist[int64(seq)]
	return h, ok
}

// consumer drains the ring and records every event.
type consumer struct {
	mu     sync.Mutex
	events []exchange.BookTop
}

func consume(ctx context.Context, r *ringbuf.MPSC[exchange.BookTop]) *consumer {
	c := &consumer{}
	go func() {
		var ev exchange.BookTop
		for ctx.Err() == nil {
			if !r.TryPop(&ev) {
				time.Sleep(time.Millisecond)
				continue
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *consumer) snapshot() []exchange.BookTop {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]exchange.BookTop(nil), c.events...)
}

// latest returns the last event of inst at or after index from.
func (c *consumer) latest(inst exchange.InstrumentID, from int) (exchange.BookTop, bool) {
	evs := c.snapshot()
	for i := len(evs) - 1; i >= from; i-- {
		if evs[i].Inst == inst {
			return evs[i], true
		}
	}
	return exchange.BookTop{}, false
}

// testWait bounds every wait for something a feed must do. It is a deadline
// for a hang, not a performance bound: a loaded 2-core CI machine running
// the race detector can stall a goroutine for seconds, so the tests wait on
// the event itself.
const testWait = 30 * time.Second

// testAgeMax is the age limit of the test feeds whose subject is not the age
// limit: far above any scheduling stall, so that a stalled reader never makes
// a book stale (a stall reads queued frames late, and the books not in the
// first of them look silent for the stall's length).
const testAgeMax = 20 * time.Second

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type e2e struct {
	t     *testing.T
	srv   *fakeOKX
	feed  *Feed
	cons  *consumer
	insts []exchange.Instrument
	done  chan error
	stop  context.CancelFunc
}

func startE2E(t *testing.T, ck0 bool, mod func(*Config)) *e2e {
	insts := []exchange.Instrument{testInst(1, "BTC-USDT", 2, 8), testInst(2, "ETH-USDT", 2, 8)}
	srv := newFakeOKX(t, ck0, insts...)
	ring := ringbuf.NewMPSC[exchange.BookTop](1 << 14)
	cfg := Config{Venue: testVenue, Name: "okx-e2e", WSURL: srv.wsURL(), RESTURL: srv.srv.URL, Instruments: insts, Ring: ring,
		AgeMax: testAgeMax, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Logger: testLogger(), Rand: rand.New(rand.NewPCG(1, 2))}
	if mod != nil {
		mod(&cfg)
	}
	fd, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &e2e{t: t, srv: srv, feed: fd, cons: consume(ctx, ring), insts: insts, done: make(chan error, 1), stop: cancel}
	go func() { e.done <- fd.Run(ctx) }()
	go func() { // the market moves every 10 ms
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for ctx.Err() == nil {
			<-tk.C
			srv.step()
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.done:
			if err != context.Canceled {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(testWait):
			t.Error("Run did not return after cancel")
		}
	})
	return e
}

// allFresh waits until the newest event of every book since index from is
// fresh.
func (e *e2e) allFresh(from int, within time.Duration) {
	e.t.Helper()
	waitFor(e.t, within, "every book fresh", func() bool {
		for _, in := range e.insts {
			ev, ok := e.cons.latest(in.ID, from)
			if !ok || ev.Stale() {
				return false
			}
		}
		return true
	})
}

// checkAgainstServer verifies every fresh event against the server's book
// at the same seqId.
func (e *e2e) checkAgainstServer() int {
	e.t.Helper()
	n := 0
	for _, ev := range e.cons.snapshot() {
		if ev.Stale() {
			continue
		}
		in := e.insts[ev.Inst-1]
		h, ok := e.srv.histAt(in.Symbol, ev.Seq)
		if !ok {
			e.t.Fatalf("%s: published seqId %d the server never had", in.Symbol, ev.Seq)
		}
		if ev.Crossed() || fmt.Sprint(ev.Bids[:ev.NBids]) != fmt.Sprint(h[0]) || fmt.Sprint(ev.Asks[:ev.NAsks]) != fmt.Sprint(h[1]) {
			e.t.Fatalf("%s seq %d:\nadapter %v %v\nserver  %v %v", in.Symbol, ev.Seq, ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], h[0], h[1])
		}
		n++
	}
	return n
}

// TestFeedMatchesServer: books become fresh and every event equals the
// server's book at that seqId, with checksums verified or absent.
func TestFeedMatchesServer(t *testing.T) {
	for _, ck0 := range []bool{false, true} {
		t.Run(fmt.Sprintf("checksum0=%v", ck0), func(t *testing.T) {
			e := startE2E(t, ck0, nil)
			e.allFresh(0, testWait)
			waitFor(t, testWait, "20 fresh events verified", func() bool { return e.checkAgainstServer() >= 20 })
			st := e.feed.Stats()
			if st.Gaps.Load()+st.ChecksumFailures.Load()+st.Reconnects.Load() != 0 || st.Connected.Load() != 1 {
				t.Fatalf("gaps %d checksum %d reconnects %d", st.Gaps.Load(), st.ChecksumFailures.Load(), st.Reconnects.Load())
			}
			if st.ParseLatency.Quantile(0.5) == 0 {
				t.Fatal("no latency observed")
			}
		})
	}
}

// TestFeedFaults injects each fault after the books are fresh: the affected
// books go stale with the right cause (the first stale event after the
// fault has it; the age cases run with a 1 s age limit, the others with one
// no stall reaches), the fault is counted, the books are fresh again, and
// every fresh event still matches the server.
func TestFeedFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*fakeOKX)
		inst   exchange.InstrumentID // 0: every book
		cause  exchange.StaleCause
		stat   func(*exchange.FeedStats) uint64
		ageMax time.Duration // 0: testAgeMax
	}{
		{"gap", func(f *fakeOKX) { f.mu.Lock(); f.gap["BTC-USDT"] = true; f.mu.Unlock() }, 1, exchange.CauseGap,
			func(s *exchange.FeedStats) uint64 { return s.Gaps.Load() }, 0},
		{"checksum", func(f *fakeOKX) { f.mu.Lock(); f.badCK["ETH-USDT"] = true; f.mu.Unlock() }, 2, exchange.CauseChecksum,
			func(s *exchange.FeedStats) uint64 { return s.ChecksumFailures.Load() }, 0},
		{"malformed frame", func(f *fakeOKX) {
			f.sendAll(`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[[`)
		}, 1, exchange.CauseBadData,
			func(s *exchange.FeedStats) uint64 { return s.Rejects(exchange.RejectSyntax) }, 0},
		{"unattributable garbage", func(f *fakeOKX) { f.sendAll(`{"data":[}`) }, 0, exchange.CauseBadData,
			func(s *exchange.FeedStats) uint64 { return s.Rejects(exchange.RejectSyntax) }, 0},
		{"subscription error", func(f *fakeOKX) {
			f.sendAll(`{"event":"error","arg":{"channel":"books","instId":"ETH-USDT"},"code":"60018","msg":"x","connId":"fake"}`)
		}, 2, exchange.CauseConnecting, func(s *exchange.FeedStats) uint64 { return s.Resyncs.Load() }, 0},
		{"disconnect", func(f *fakeOKX) { f.dropAll() }, 0, exchange.CauseDisconnect,
			func(s *exchange.FeedStats) uint64 { return s.Reconnects.Load() }, 0},
		{"frozen feed", func(f *fakeOKX) {
			f.frozen.Store(true)
			time.AfterFunc(3*time.Second, func() { f.frozen.Store(false); f.dropAll() })
		}, 0, exchange.CauseAge, func(s *exchange.FeedStats) uint64 { return s.Reconnects.Load() }, time.Second},
		{"data stops, pongs answered", func(f *fakeOKX) {
			f.mute.Store(true)
			time.AfterFunc(3*time.Second, func() { f.mute.Store(false) })
		}, 0, exchange.CauseAge, func(s *exchange.FeedStats) uint64 { return s.Reconnects.Load() }, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startE2E(t, false, func(c *Config) {
				if tc.ageMax != 0 {
					c.AgeMax = tc.ageMax
				}
			})
			e.allFresh(0, testWait)
			mark := len(e.cons.snapshot())
			before := tc.stat(e.feed.Stats())
			tc.inject(e.srv)
			waitFor(t, testWait, "stale", func() bool {
				for _, ev := range e.cons.snapshot()[mark:] {
					if ev.Stale() && (tc.inst == 0 || ev.Inst == tc.inst) {
						if ev.Cause != tc.cause {
							t.Fatalf("stale cause %v, want %v", ev.Cause, tc.cause)
						}
						return true
					}
				}
				return false
			})
			e.allFresh(len(e.cons.snapshot()), testWait)
			waitFor(t, testWait, "the fault counted", func() bool { return tc.stat(e.feed.Stats()) > before })
			e.checkAgainstServer()
		})
	}
}

// TestFeedHandover: with a short Lifetime the feed replaces its connection
// again and again without ever publishing a stale book, and closes the old
// connections; a 64008 notice triggers a handover at once.
func TestFeedHandover(t *testing.T) {
	e := startE2E(t, false, func(c *Config) { c.Lifetime = 600 * time.Millisecond })
	e.allFresh(0, testWait)
	waitFor(t, testWait, "three handovers", func() bool { return e.feed.Stats().Reconnects.Load() >= 3 })
	waitFor(t, testWait, "old connections closed", func() bool { return e.srv.open() == 1 })
	for _, ev := range e.cons.snapshot() {
		if ev.Stale() {
			t.Fatalf("stale event during scheduled handovers: %+v", ev)
		}
	}
	if e.checkAgainstServer() < 20 {
		t.Fatal("too few events")
	}
	if uint64(e.srv.nConns.Load()) > e.feed.Stats().Reconnects.Load()+1+1 { // at most one handover attempt in flight
		t.Fatalf("%d connections for %d reconnects", e.srv.nConns.Load(), e.feed.Stats().Reconnects.Load())
	}
}

func TestFeedNoticeHandsOver(t *testing.T) {
	e := startE2E(t, false, nil)
	e.allFresh(0, testWait)
	e.srv.sendAll(`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}`)
	waitFor(t, testWait, "handover", func() bool { return e.feed.Stats().Reconnects.Load() == 1 && e.srv.open() == 1 })
	// The venue then closes the old connection: it is already gone.
	e.srv.dropAll()
	e.allFresh(len(e.cons.snapshot()), testWait)
	for _, ev := range e.cons.snapshot() {
		if ev.Stale() && ev.Cause != exchange.CauseDisconnect {
			t.Fatalf("unexpected stale: %+v", ev)
		}
	}
	e.checkAgainstServer()
}

func TestRunTwiceAndInstruments(t *testing.T) {
	e := startE2E(t, false, nil)
	e.allFresh(0, testWait)
	if err := e.feed.Run(context.Background()); err != errRunTwice {
		t.Fatalf("second Run: %v", err)
	}
	// The fake lists BTC-EUR (the docs' example): a configured instrument it
	// does not list is an error naming it.
	_, err := e.feed.Instruments(context.Background())
	if err == nil || !strings.Contains(err.Error(), "BTC-USDT") {
		t.Fatalf("%v", err)
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
