package sim

import (
	"encoding/json"
	"hash/crc32"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// stepUntilApplied steps until the venue's fault log holds a record of kind
// k beyond the first n records, and returns it.
func stepUntilApplied(t testing.TB, s *Sim, venue string, k FaultKind, n int) FaultRecord {
	t.Helper()
	for range 50 {
		s.Step()
		for _, r := range s.FaultLog(venue)[n:] {
			if r.Kind == k {
				return r
			}
		}
	}
	t.Fatalf("%s fault never applied on %s", k, venue)
	return FaultRecord{}
}

func TestInjectRejectsWhatTheVenueLacks(t *testing.T) {
	s := newSim(t, nil)
	for _, tc := range []struct {
		venue string
		f     Fault
	}{
		{"binance", Fault{Kind: FaultChecksum}},
		{"okx", Fault{Kind: FaultServerShutdown}},
		{"bybit", Fault{Kind: FaultNotice}},
		{"binance", Fault{Kind: FaultRestart}},
		{"kraken", Fault{Kind: FaultGap}},
		{"okx", Fault{Kind: FaultGap, Symbol: "XRP-USDT"}},
		{"okx", Fault{Kind: 0}},
		{"okx", Fault{Kind: FaultStale}},
		{"okx", Fault{Kind: FaultRateLimit, Status: 418}},
		{"okx", Fault{Kind: FaultUnknownSymbol, Symbol: "BTC-USDT"}},
		{"okx", Fault{Kind: FaultPartialFill, Fraction: 1.5}},
	} {
		if err := s.Inject(tc.venue, tc.f); err == nil {
			t.Errorf("%s %v: accepted", tc.venue, tc.f.Kind)
		}
	}
}

func TestFaultGap(t *testing.T) {
	s := newSim(t, nil)
	sc := scaleOf(s, "BTC-USDT")
	bn := dial(t, mustURLs(t, s, "binance").WSBase+"/ws/btcusdt@depth@100ms")
	ok := dial(t, mustURLs(t, s, "okx").WS)
	ok.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`)
	by := dial(t, mustURLs(t, s, "bybit").WS)
	by.sendText(`{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}`)
	bn.flush(KindBinance) // every subscription handled
	ok.flush(KindOKX)
	by.flush(KindBybit)
	steps(s, 3)
	bn.flush(KindBinance)
	okMsgs := ok.flush(KindOKX)
	lastOK := okxPushOf(t, okMsgs[len(okMsgs)-1]).Data[0].SeqID
	byBefore := by.flush(KindBybit)
	if len(byBefore) == 0 {
		t.Fatal("bybit: nothing before the gap")
	}
	lastBN, _ := s.Seq("binance", "BTC-USDT")
	for _, v := range []string{"binance", "okx", "bybit"} {
		if err := s.Inject(v, Fault{Kind: FaultGap, Symbol: "BTC-USDT"}); err != nil {
			t.Fatal(err)
		}
	}
	recs := map[string]FaultRecord{}
	for _, v := range []string{"binance", "okx", "bybit"} {
		recs[v] = stepUntilApplied(t, s, v, FaultGap, 0)
	}
	s.Step()
	// The skipped state is in the history: the gap is on the wire only.
	for v, r := range recs {
		if _, _, ok := s.BookAt(v, "BTC-USDT", r.Seq); !ok || r.Symbol != "BTC-USDT" {
			t.Fatalf("%s: skipped state %d not in history", v, r.Seq)
		}
	}
	d := binanceDiffOf(t, bn.next(time.Second))
	if d.U <= lastBN+1 || d.U != recs["binance"].Seq+1 {
		t.Fatalf("binance: U=%d after u=%d, skipped %d: gap not visible", d.U, lastBN, recs["binance"].Seq)
	}
	p := okxPushOf(t, ok.next(time.Second)).Data[0]
	if p.PrevSeqID == lastOK || uint64(p.PrevSeqID) != recs["okx"].Seq {
		t.Fatalf("okx: prevSeqId %d, last sent %d, skipped %d", p.PrevSeqID, lastOK, recs["okx"].Seq)
	}
	// Bybit: the topic's u jumps by exactly 2 once (the skipped push used up
	// one u), around the skipped state's seq, which is never sent.
	var us, seqs []uint64
	for _, m := range append(byBefore[len(byBefore)-1:], by.flush(KindBybit)...) {
		p := bybitPushOf(t, m)
		us, seqs = append(us, p.Data.U), append(seqs, p.Data.Seq)
	}
	jumps := 0
	for k := 1; k < len(us); k++ {
		switch us[k] - us[k-1] {
		case 1:
		case 2:
			jumps++
			if skipped := recs["bybit"].Seq; !(seqs[k-1] < skipped && skipped < seqs[k]) {
				t.Fatalf("bybit: u jumped between seq %d and %d, the skipped state is %d", seqs[k-1], seqs[k], skipped)
			}
		default:
			t.Fatalf("bybit: u %d after %d", us[k], us[k-1])
		}
		if seqs[k] == recs["bybit"].Seq {
			t.Fatal("bybit: the skipped state was sent")
		}
	}
	if jumps != 1 {
		t.Fatalf("bybit: %d gaps in u %v", jumps, us)
	}
	_ = sc
}

func TestFaultChecksumAndCrossed(t *testing.T) {
	s := newSim(t, nil)
	sc := scaleOf(s, "ETH-USDT")
	c := dial(t, mustURLs(t, s, "okx").WS)
	c.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"ETH-USDT"}]}`)
	c.next(time.Second)
	r := newRef()
	snap := okxPushOf(t, c.next(time.Second)).Data[0]
	r.apply(t, sc, snap.Bids, snap.Asks)
	s.Inject("okx", Fault{Kind: FaultChecksum, Symbol: "ETH-USDT"})
	bad, crossed := 0, 0
	for i := range 30 {
		if i == 10 {
			s.Inject("okx", Fault{Kind: FaultCrossed, Symbol: "ETH-USDT"})
		}
		s.Step()
		for _, m := range c.flush(KindOKX) {
			d := okxPushOf(t, m).Data[0]
			r.apply(t, sc, d.Bids, d.Asks)
			if int64(int32(crc32.ChecksumIEEE([]byte(r.checkString())))) != d.Checksum {
				bad++
			}
			if r.crossed(t, sc) {
				crossed++
				// A correct client resyncs: start again from the sim's state
				// (the whole book: no order has changed it since this push).
				r = newRef()
				bids, asks, seq, _ := s.Book("okx", "ETH-USDT")
				if seq != uint64(d.SeqID) {
					t.Fatal("crossed push is not the latest state")
				}
				for _, l := range bids {
					r.bids[int64(l.Px)] = [2]string{num.Format(int64(l.Px), sc.Px), num.Format(int64(l.Qty), sc.Qty)}
				}
				for _, l := range asks {
					r.asks[int64(l.Px)] = [2]string{num.Format(int64(l.Px), sc.Px), num.Format(int64(l.Qty), sc.Qty)}
				}
			}
		}
	}
	if bad != 1 || crossed != 1 {
		t.Fatalf("wrong checksums %d, crossed updates %d; want 1 and 1 (the crossed update's checksum matches the crossed book)", bad, crossed)
	}
	kinds := map[FaultKind]bool{}
	for _, rec := range s.FaultLog("okx") {
		kinds[rec.Kind] = true
		if b, a, ok := s.BookAt("okx", "ETH-USDT", rec.Seq); !ok || (len(b) > 0 && len(a) > 0 && b[0].Px >= a[0].Px) {
			t.Fatal("the simulator's own book must never cross")
		}
	}
	if !kinds[FaultChecksum] || !kinds[FaultCrossed] {
		t.Fatalf("fault log %v", s.FaultLog("okx"))
	}
}

func TestFaultMalformed(t *testing.T) {
	s := newSim(t, nil)
	for _, tc := range []struct {
		m     Malform
		venue string
		check func(b []byte) bool
	}{
		{MalformTruncated, "binance", func(b []byte) bool { return !json.Valid(b) }},
		{MalformWrongType, "okx", func(b []byte) bool {
			var p struct {
				Data []struct{ Asks, Bids [][]any }
			}
			if json.Unmarshal(b, &p) != nil {
				return false
			}
			ls := append(p.Data[0].Asks, p.Data[0].Bids...)
			_, isNum := ls[0][0].(float64)
			return isNum
		}},
		{MalformNaN, "bybit", func(b []byte) bool { return strings.Contains(string(b), `[["NaN","`) }},
		{MalformNegative, "binance", func(b []byte) bool { return strings.Contains(string(b), `","-`) && json.Valid(b) }},
		{MalformEmptyPrice, "okx", func(b []byte) bool { return strings.Contains(string(b), `[["",`) && json.Valid(b) }},
	} {
		var c *wsClient
		switch tc.venue {
		case "binance":
			c = dial(t, mustURLs(t, s, "binance").WSBase+"/ws/solusdt@depth@100ms")
		case "okx":
			c = dial(t, mustURLs(t, s, "okx").WS)
			c.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"SOL-USDT"}]}`)
		default:
			c = dial(t, mustURLs(t, s, "bybit").WS)
			c.sendText(`{"op":"subscribe","args":["orderbook.50.SOLUSDT"]}`)
		}
		c.flush(tc.venue)
		n := len(s.FaultLog(tc.venue))
		s.Inject(tc.venue, Fault{Kind: FaultMalformed, Symbol: "SOL-USDT", Malform: tc.m})
		stepUntilApplied(t, s, tc.venue, FaultMalformed, n)
		found := 0
		for _, m := range c.flush(tc.venue) {
			if tc.check(m) {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%v on %s: %d corrupted frames, want 1", tc.m, tc.venue, found)
		}
	}
}

func TestFaultStale(t *testing.T) {
	s := newSim(t, nil)
	c := dial(t, mustURLs(t, s, "okx").WS)
	c.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`)
	c.next(time.Second)
	last := okxPushOf(t, c.next(time.Second)).Data[0].SeqID
	if err := s.Inject("okx", Fault{Kind: FaultStale, Duration: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	steps(s, 5)
	c.sendText("ping")
	if m := c.next(time.Second); string(m) != "pong" {
		t.Fatalf("during stale: %s", m)
	}
	time.Sleep(320 * time.Millisecond)
	s.Step()
	p := okxPushOf(t, c.next(time.Second)).Data[0]
	if p.PrevSeqID != last {
		t.Fatalf("after stale: prevSeqId %d, last %d: the first update must cover the pause", p.PrevSeqID, last)
	}
	if recs := s.FaultLog("okx"); len(recs) != 3 || recs[0].Kind != FaultStale {
		t.Fatalf("stale log %+v", recs)
	}
}

func TestFaultConnectionEvents(t *testing.T) {
	s := newSim(t, nil)
	bn := dial(t, mustURLs(t, s, "binance").WSBase+"/stream?streams=btcusdt@depth@100ms")
	ok := dial(t, mustURLs(t, s, "okx").WS)
	ok.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`)
	by := dial(t, mustURLs(t, s, "bybit").WS)
	by.sendText(`{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}`)
	bn.flush(KindBinance)
	ok.flush(KindOKX)
	by.flush(KindBybit)

	s.Inject("binance", Fault{Kind: FaultUnknownSymbol})
	s.Inject("okx", Fault{Kind: FaultUnknownSymbol, Symbol: "DOGE-USDT"})
	s.Inject("bybit", Fault{Kind: FaultUnknownSymbol})
	if m := bn.next(time.Second); !strings.Contains(string(m), `"stream":"foousdt@depth@100ms"`) || !strings.Contains(string(m), `"s":"FOOUSDT"`) {
		t.Fatalf("binance unknown symbol: %s", m)
	}
	if m := ok.next(time.Second); !strings.Contains(string(m), `"instId":"DOGE-USDT"`) {
		t.Fatalf("okx unknown symbol: %s", m)
	}
	if m := by.next(time.Second); !strings.Contains(string(m), `"topic":"orderbook.50.FOOUSDT"`) {
		t.Fatalf("bybit unknown symbol: %s", m)
	}

	s.Inject("binance", Fault{Kind: FaultServerShutdown, Duration: 50 * time.Millisecond})
	m := bn.next(time.Second)
	if err := shapeDiff(m, loadPayload(t, "binance/ws_server_shutdown_event_raw.json")); err != nil {
		t.Fatalf("serverShutdown %s: %v", m, err)
	}
	if !bn.waitClosed(patience) {
		t.Fatal("binance not closed after serverShutdown")
	}
	var sub struct {
		Notice json.RawMessage `json:"service_upgrade_notice"`
	}
	loadJSON(t, "okx/ws_subscribe_tickers.json", &sub)
	s.Inject("okx", Fault{Kind: FaultNotice, Duration: 50 * time.Millisecond})
	m = ok.next(time.Second)
	if err := shapeDiff(m, sub.Notice); err != nil || !strings.Contains(string(m), `"code":"64008"`) {
		t.Fatalf("notice %s: %v", m, err)
	}
	if !ok.waitClosed(patience) {
		t.Fatal("okx not closed after notice")
	}
	s.Inject("bybit", Fault{Kind: FaultDisconnect})
	if !by.waitClosed(patience) {
		t.Fatal("bybit not disconnected")
	}
	deadline := time.Now().Add(patience)
	for s.Conns("bybit")+s.Conns("okx")+s.Conns("binance") > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.Conns("bybit") + s.Conns("okx") + s.Conns("binance"); n != 0 {
		t.Fatalf("%d connections left", n)
	}
}

// TestFaultBybitSnapshotAndRestart: a mid-stream snapshot takes the topic's
// next u; a restart starts every topic again at u=1 with a snapshot, and
// deltas continue with u=2, 3, … Every push equals BookAt at its seq, which
// a restart does not reset.
func TestFaultBybitSnapshotAndRestart(t *testing.T) {
	s := newSim(t, nil)
	c := dial(t, mustURLs(t, s, "bybit").WS)
	c.sendText(`{"op":"subscribe","args":["orderbook.50.BTCUSDT","orderbook.1.BTCUSDT"]}`)
	c.next(time.Second)
	topics := map[string]*bybitTopic{"orderbook.50.BTCUSDT": {n: 50}, "orderbook.1.BTCUSDT": {n: 1}}
	follow := func(m []byte) bybitPush {
		p := bybitPushOf(t, m)
		topics[p.Topic].follow(t, s, "BTC-USDT", p)
		return p
	}
	steps(s, 3)
	for _, m := range c.flush(KindBybit) {
		follow(m)
	}
	u50 := topics["orderbook.50.BTCUSDT"].u
	s.Inject("bybit", Fault{Kind: FaultSnapshot, Symbol: "BTC-USDT"})
	tp := topics["orderbook.50.BTCUSDT"]
	tp.pushes = 0 // a snapshot is expected
	p := follow(c.next(time.Second))
	if p.Type != "snapshot" || p.Topic != "orderbook.50.BTCUSDT" || p.Data.U != u50+1 {
		t.Fatalf("mid-stream snapshot after u=%d: %+v", u50, p)
	}
	steps(s, 3)
	for _, m := range c.flush(KindBybit) {
		follow(m)
	}

	seqBefore, _ := s.Seq("bybit", "BTC-USDT")
	s.Inject("bybit", Fault{Kind: FaultRestart, Symbol: "BTC-USDT"})
	got := map[string]bybitPush{}
	for _, tp := range topics {
		tp.pushes = 0
	}
	for _, m := range c.flush(KindBybit) {
		p := follow(m)
		got[p.Topic] = p
	}
	for _, topic := range []string{"orderbook.50.BTCUSDT", "orderbook.1.BTCUSDT"} {
		if p := got[topic]; p.Type != "snapshot" || p.Data.U != 1 || p.Data.Seq != seqBefore {
			t.Fatalf("%s after restart at seq %d: %+v", topic, seqBefore, p)
		}
	}
	if recs := s.FaultLog("bybit"); recs[len(recs)-1].Kind != FaultRestart || recs[len(recs)-1].Seq != seqBefore {
		t.Fatalf("restart record %+v, want seq %d", recs[len(recs)-1], seqBefore)
	}
	for range 5 {
		s.Step()
		for _, m := range c.flush(KindBybit) {
			follow(m) // deltas u=2, 3, …: contiguous from the restart
		}
	}
	if tp := topics["orderbook.50.BTCUSDT"]; tp.u < 4 || tp.u > 6 {
		t.Fatalf("orderbook.50 at u=%d after the restart and 5 steps", tp.u)
	}
}

// TestFaultBybitStaleSnapshot: while market data is paused the book keeps
// moving, but a new subscriber's snapshot is the topic as last pushed —
// levels, u and seq of one state — and the first delta after the pause
// continues it with u + 1.
func TestFaultBybitStaleSnapshot(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	s := newSim(t, func(c *Config) {
		c.Clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	u := mustURLs(t, s, "bybit").WS
	c1 := dial(t, u)
	c1.sendText(`{"op":"subscribe","args":["orderbook.50.BTCUSDT","orderbook.1.BTCUSDT"]}`)
	c1.next(time.Second)
	topics := map[string]*bybitTopic{"orderbook.50.BTCUSDT": {n: 50}, "orderbook.1.BTCUSDT": {n: 1}}
	steps(s, 3)
	for _, m := range bybitFlush(c1) {
		p := bybitPushOf(t, m)
		topics[p.Topic].follow(t, s, "BTC-USDT", p)
	}
	if err := s.Inject("bybit", Fault{Kind: FaultStale, Duration: time.Second}); err != nil {
		t.Fatal(err)
	}
	steps(s, 5)
	if m := bybitFlush(c1); len(m) != 0 {
		t.Fatalf("%d pushes during the pause", len(m))
	}
	cur, _ := s.Seq("bybit", "BTC-USDT")
	c2 := dial(t, u)
	c2.sendText(`{"op":"subscribe","args":["orderbook.50.BTCUSDT","orderbook.1.BTCUSDT"]}`)
	c2.next(time.Second)
	t2 := map[string]*bybitTopic{"orderbook.50.BTCUSDT": {n: 50}, "orderbook.1.BTCUSDT": {n: 1}}
	for range 2 {
		p := bybitPushOf(t, c2.next(time.Second))
		t1 := topics[p.Topic]
		if p.Data.U != t1.u || p.Data.Seq != t1.seq || p.Data.Seq >= cur {
			t.Fatalf("%s snapshot during the pause: u=%d seq=%d; last pushed u=%d seq=%d; book now at seq %d", p.Topic, p.Data.U, p.Data.Seq, t1.u, t1.seq, cur)
		}
		t2[p.Topic].follow(t, s, "BTC-USDT", p) // levels = BookAt(seq)
	}
	advance(1100 * time.Millisecond)
	steps(s, 2)
	for _, c := range []struct {
		w  *wsClient
		tp map[string]*bybitTopic
	}{{c1, topics}, {c2, t2}} {
		n := 0
		for _, m := range c.w.flush(KindBybit) {
			p := bybitPushOf(t, m)
			c.tp[p.Topic].follow(t, s, "BTC-USDT", p) // u + 1 from the snapshot
			n++
		}
		if n == 0 {
			t.Fatal("nothing pushed after the pause")
		}
	}
}

func TestFaultHugeFrame(t *testing.T) {
	s := newSim(t, nil)
	sc := scaleOf(s, "BTC-USDT")
	c := dial(t, mustURLs(t, s, "binance").WSBase+"/ws/btcusdt@depth@100ms")
	waitSubscribed(t, s, "binance", "btcusdt@depth@100ms", 1)
	_, _, body := httpGet(t, mustURLs(t, s, "binance").REST+"/api/v3/depth?symbol=BTCUSDT&limit=5000")
	var snap struct {
		LastUpdateID uint64     `json:"lastUpdateId"`
		Bids         [][]string `json:"bids"`
		Asks         [][]string `json:"asks"`
	}
	json.Unmarshal(body, &snap)
	r := newRef()
	r.apply(t, sc, snap.Bids, snap.Asks)
	s.Inject("binance", Fault{Kind: FaultHugeFrame, Size: 1 << 20})
	stepUntilApplied(t, s, "binance", FaultHugeFrame, 0)
	// Every frame up to the huge one applies cleanly (padding deletes are
	// harmless); frames are read until it arrives, however slowly.
	for big := false; !big; {
		m := c.next(10 * time.Second)
		big = len(m) >= 1<<20
		d := binanceDiffOf(t, m)
		r.apply(t, sc, d.B, d.A)
		checkAt(t, s, "binance", "BTC-USDT", d.LU, r, sc)
	}
}

func TestFaultOrders(t *testing.T) {
	for _, venue := range []string{"binance", "okx", "bybit"} {
		s := newSim(t, nil)
		sc := scaleOf(s, "BTC-USDT")
		_, asks, _, _ := s.Book(venue, "BTC-USDT")
		px := num.Format(int64(asks[1].Px), sc.Px)
		qty := num.Format(num.FloorTo(int64(asks[0].Qty+asks[1].Qty), s.syms[0].step), sc.Qty)
		s.Inject(venue, Fault{Kind: FaultRejectOrder})
		if id, raw := placeIOC(t, s, venue, exchange.Buy, px, qty, "rej1", "IOC"); id != "" {
			t.Fatalf("%s: rejected order accepted: %s", venue, raw)
		}
		if len(s.Fills(venue)) != 0 {
			t.Fatal("fills from a rejected order")
		}
		s.Inject(venue, Fault{Kind: FaultPartialFill, Fraction: 0.5})
		id, raw := placeIOC(t, s, venue, exchange.Buy, px, qty, "part1", "IOC")
		if id == "" {
			t.Fatalf("%s: %s", venue, raw)
		}
		var got num.Qty
		for _, f := range s.Fills(venue) {
			got += f.Qty
		}
		want, _ := num.ParseString(qty, sc.Qty)
		if got <= 0 || int64(got) >= want {
			t.Fatalf("%s: partial fill filled %d of %d", venue, got, want)
		}
		checkVenueAnswer(t, s, venue, id, raw, got, num.Qty(want))
		// The next order is normal again.
		if id, _ := placeIOC(t, s, venue, exchange.Buy, px, num.Format(int64(s.syms[0].step)*10, sc.Qty), "norm1", "IOC"); id == "" {
			t.Fatal("order after faults refused")
		}
		kinds := []FaultKind{}
		for _, r := range s.FaultLog(venue) {
			kinds = append(kinds, r.Kind)
		}
		if len(kinds) != 4 { // armed ×2, acted ×2
			t.Fatalf("%s: log %v", venue, kinds)
		}
	}
}

// fakeClock is a settable clock for the simulator (Config.Clock).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestFaultRateLimit: each venue's refusal, the window it announces, and
// Binance's escalation to a 418 ban for a request inside a Retry-After;
// every refusal is in the request log with the wait it announced.
func TestFaultRateLimit(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	s := newSim(t, func(c *Config) { c.Clock = clk.Now })
	bu, ou, yu := mustURLs(t, s, "binance").REST, mustURLs(t, s, "okx").REST, mustURLs(t, s, "bybit").REST
	expect := func(name, url string, status int, retryAfter, bodyHas string) {
		t.Helper()
		code, hdr, body := httpGet(t, url)
		if code != status || hdr.Get("Retry-After") != retryAfter || !strings.Contains(string(body), bodyHas) {
			t.Fatalf("%s: HTTP %d Retry-After %q %s, want %d %q %q", name, code, hdr.Get("Retry-After"), body, status, retryAfter, bodyHas)
		}
	}
	s.Inject("binance", Fault{Kind: FaultRateLimit, RetryAfter: 1500 * time.Millisecond, Ban: 3 * time.Minute})
	expect("429", bu+"/api/v3/time", 429, "2", `"code":-1003`)
	clk.Add(time.Second) // inside the Retry-After: the ban
	expect("418 ban", bu+"/api/v3/time", 418, "180", "IP banned until")
	clk.Add(179 * time.Second)
	expect("still banned", bu+"/api/v3/time", 418, "1", "IP banned until")
	clk.Add(time.Second)
	expect("after the ban", bu+"/api/v3/time", 200, "", "serverTime")
	if v := s.RetryAfterViolations("binance"); len(v) != 2 || v[0].Status != 418 || v[1].Status != 418 {
		t.Fatalf("violations %+v", v) // the request 1 s into a 1.5 s wait, and the one 179 s into the ban
	}
	reqs := s.Requests("binance")
	if n := len(reqs); n != 4 || !reqs[0].Limited || reqs[0].RetryAfter != 1500*time.Millisecond || reqs[0].Status != 429 ||
		reqs[1].Status != 418 || reqs[1].RetryAfter != 3*time.Minute || reqs[3].Limited || reqs[3].Endpoint != "GET /api/v3/time" {
		t.Fatalf("request log %+v", reqs)
	}
	// A client that waits out the Retry-After is not banned.
	s.Inject("binance", Fault{Kind: FaultRateLimit, Count: 2, RetryAfter: time.Second})
	expect("429 #1", bu+"/api/v3/time", 429, "1", `"code":-1003`)
	expect("429 #2 (counted refusal)", bu+"/api/v3/time", 429, "1", `"code":-1003`)
	clk.Add(time.Second)
	expect("waited", bu+"/api/v3/time", 200, "", "serverTime")
	s.Inject("binance", Fault{Kind: FaultRateLimit, Status: 418, RetryAfter: 2 * time.Minute})
	expect("418", bu+"/api/v3/time", 418, "120", "IP banned until")
	clk.Add(2 * time.Minute)
	expect("after 418", bu+"/api/v3/time", 200, "", "serverTime")

	s.Inject("okx", Fault{Kind: FaultRateLimit, RetryAfter: 2 * time.Second})
	expect("okx 429", ou+"/api/v5/public/time", 429, "", `"code":"50011"`)
	expect("okx inside the window", ou+"/api/v5/public/time", 429, "", `"code":"50011"`)
	clk.Add(2 * time.Second)
	expect("okx after", ou+"/api/v5/public/time", 200, "", `"ts"`)

	s.Inject("bybit", Fault{Kind: FaultRateLimit, RetryAfter: 3 * time.Second})
	code, hdr, body := httpGet(t, yu+"/v5/market/instruments-info?category=spot")
	reset, _ := strconv.ParseInt(hdr.Get("X-Bapi-Limit-Reset-Timestamp"), 10, 64)
	if code != 200 || !strings.Contains(string(body), `"retCode":10006`) || reset != clk.Now().Add(3*time.Second).UnixMilli() {
		t.Fatalf("bybit 10006: %d %v %s", code, hdr, body)
	}
	clk.Add(3 * time.Second)
	s.Inject("bybit", Fault{Kind: FaultRateLimit, Status: 403, RetryAfter: 10 * time.Minute})
	if code, _, body := httpGet(t, yu+"/v5/market/instruments-info?category=spot"); code != 403 || string(body) != "access too frequent" {
		t.Fatalf("bybit 403: %d %s", code, body)
	}
	if code, _, _ := httpGet(t, yu+"/v5/market/time"); code != 403 {
		t.Fatalf("bybit inside the 403 window: %d", code)
	}
	clk.Add(10 * time.Minute)
	if code, _, body := httpGet(t, yu+"/v5/market/time"); code != 200 || !strings.Contains(string(body), "timeNano") {
		t.Fatalf("bybit after: %d %s", code, body)
	}
}

// TestCrossedBidSurvivesItsUpdate: the crossing bid of FaultCrossed (best
// ask + one tick) is often a bid the same update deletes, when the market
// just moved down. Applied in order, the update must still leave the book
// crossed: the crossing bid replaces the update's own change at its price.
func TestCrossedBidSurvivesItsUpdate(t *testing.T) {
	vb := &vbook{sym: &symbol{tick: 10, step: 1}, pub: newBook()}
	vb.pub.asks.l = []lvl{{1000, 5}, {1010, 5}}
	vb.pub.bids.l = []lvl{{990, 5}}
	// The market moved down: the bid at 1010 (= best ask + tick) and at
	// 1000 are deleted, an ask appears at 1000.
	d := &delta{bids: []lvl{{1010, 0}, {1000, 0}, {990, 5}}, asks: []lvl{{1000, 5}}}
	out := wireDelta(vb, d, &stepFaults{crossed: true})
	bids := map[int64]int64{1010: 3, 1000: 2} // the client's book before the update
	for _, l := range out.bids {
		if l.qty == 0 {
			delete(bids, l.px)
		} else {
			bids[l.px] = l.qty
		}
	}
	if bids[1010] != 1 {
		t.Fatalf("crossing bid lost: update bids %v leave %v", out.bids, bids)
	}
	if len(d.bids) != 3 || d.bids[0] != (lvl{1010, 0}) {
		t.Fatalf("the venue's own delta changed: %v", d.bids)
	}
}
