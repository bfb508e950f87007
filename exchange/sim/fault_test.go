package sim

import (
	"encoding/json"
	"hash/crc32"
	"strings"
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
	time.Sleep(30 * time.Millisecond)
	steps(s, 3)
	bn.drain(30 * time.Millisecond)
	okMsgs := ok.drain(10 * time.Millisecond)
	lastOK := okxPushOf(t, okMsgs[len(okMsgs)-1]).Data[0].SeqID
	by.drain(10 * time.Millisecond)
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
	for _, m := range by.drain(20 * time.Millisecond) {
		if bybitPushOf(t, m).Data.U == recs["bybit"].Seq {
			t.Fatal("bybit: the skipped state was sent")
		}
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
		for _, m := range c.drain(5 * time.Millisecond) {
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
		time.Sleep(20 * time.Millisecond)
		c.drain(20 * time.Millisecond)
		n := len(s.FaultLog(tc.venue))
		s.Inject(tc.venue, Fault{Kind: FaultMalformed, Symbol: "SOL-USDT", Malform: tc.m})
		stepUntilApplied(t, s, tc.venue, FaultMalformed, n)
		found := 0
		for _, m := range c.drain(30 * time.Millisecond) {
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
	time.Sleep(30 * time.Millisecond)
	ok.drain(10 * time.Millisecond)
	by.drain(10 * time.Millisecond)

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
	if !bn.waitClosed(time.Second) {
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
	if !ok.waitClosed(time.Second) {
		t.Fatal("okx not closed after notice")
	}
	s.Inject("bybit", Fault{Kind: FaultDisconnect})
	if !by.waitClosed(time.Second) {
		t.Fatal("bybit not disconnected")
	}
	deadline := time.Now().Add(time.Second)
	for s.Conns("bybit")+s.Conns("okx")+s.Conns("binance") > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := s.Conns("bybit") + s.Conns("okx") + s.Conns("binance"); n != 0 {
		t.Fatalf("%d connections left", n)
	}
}

func TestFaultBybitSnapshotAndRestart(t *testing.T) {
	s := newSim(t, nil)
	sc := scaleOf(s, "BTC-USDT")
	c := dial(t, mustURLs(t, s, "bybit").WS)
	c.sendText(`{"op":"subscribe","args":["orderbook.50.BTCUSDT","orderbook.1.BTCUSDT"]}`)
	c.next(time.Second)
	steps(s, 3)
	c.drain(20 * time.Millisecond)
	s.Inject("bybit", Fault{Kind: FaultSnapshot, Symbol: "BTC-USDT"})
	p := bybitPushOf(t, c.next(time.Second))
	if p.Type != "snapshot" || p.Topic != "orderbook.50.BTCUSDT" {
		t.Fatalf("mid-stream snapshot: %+v", p)
	}
	r := newRef()
	r.apply(t, sc, p.Data.B, p.Data.A)
	checkAt(t, s, "bybit", "BTC-USDT", p.Data.U, r, sc)

	s.Inject("bybit", Fault{Kind: FaultRestart, Symbol: "BTC-USDT"})
	got := map[string]bybitPush{}
	for _, m := range c.drain(30 * time.Millisecond) {
		p := bybitPushOf(t, m)
		got[p.Topic] = p
	}
	for _, topic := range []string{"orderbook.50.BTCUSDT", "orderbook.1.BTCUSDT"} {
		if p := got[topic]; p.Type != "snapshot" || p.Data.U != 1 {
			t.Fatalf("%s after restart: %+v", topic, p)
		}
	}
	r = newRef()
	r.apply(t, sc, got["orderbook.50.BTCUSDT"].Data.B, got["orderbook.50.BTCUSDT"].Data.A)
	checkAt(t, s, "bybit", "BTC-USDT", 1, r, sc)
	for range 5 {
		s.Step()
		for _, m := range c.drain(5 * time.Millisecond) {
			p := bybitPushOf(t, m)
			if p.Topic != "orderbook.50.BTCUSDT" {
				continue
			}
			if p.Type != "delta" || p.Data.U < 2 || p.Data.U > 6 {
				t.Fatalf("after restart: %+v", p)
			}
			r.apply(t, sc, p.Data.B, p.Data.A)
			checkAt(t, s, "bybit", "BTC-USDT", p.Data.U, r, sc)
		}
	}
}

func TestFaultHugeFrame(t *testing.T) {
	s := newSim(t, nil)
	sc := scaleOf(s, "BTC-USDT")
	c := dial(t, mustURLs(t, s, "binance").WSBase+"/ws/btcusdt@depth@100ms")
	time.Sleep(20 * time.Millisecond)
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
	big := 0
	for _, m := range c.drain(100 * time.Millisecond) {
		if len(m) >= 1<<20 {
			big++
		}
		d := binanceDiffOf(t, m)
		r.apply(t, sc, d.B, d.A)
		checkAt(t, s, "binance", "BTC-USDT", d.LU, r, sc) // padding deletes are harmless
	}
	if big != 1 {
		t.Fatalf("%d huge frames", big)
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

func TestFaultRateLimit(t *testing.T) {
	s := newSim(t, nil)
	bu, ou, yu := mustURLs(t, s, "binance").REST, mustURLs(t, s, "okx").REST, mustURLs(t, s, "bybit").REST
	s.Inject("binance", Fault{Kind: FaultRateLimit, Count: 2, RetryAfter: 1500 * time.Millisecond})
	for range 2 {
		code, hdr, body := httpGet(t, bu+"/api/v3/time")
		if code != 429 || hdr.Get("Retry-After") != "2" || !strings.Contains(string(body), `"code":-1003`) {
			t.Fatalf("binance 429: %d %v %s", code, hdr, body)
		}
	}
	if code, _, _ := httpGet(t, bu+"/api/v3/time"); code != 200 {
		t.Fatal("binance still limited")
	}
	s.Inject("binance", Fault{Kind: FaultRateLimit, Status: 418, RetryAfter: 2 * time.Minute})
	if code, hdr, _ := httpGet(t, bu+"/api/v3/time"); code != 418 || hdr.Get("Retry-After") != "120" {
		t.Fatalf("binance 418: %d", code)
	}
	s.Inject("okx", Fault{Kind: FaultRateLimit})
	if code, _, body := httpGet(t, ou+"/api/v5/public/instruments?instType=SPOT"); code != 429 || !strings.Contains(string(body), `"code":"50011"`) {
		t.Fatalf("okx: %d %s", code, body)
	}
	s.Inject("bybit", Fault{Kind: FaultRateLimit})
	if code, hdr, body := httpGet(t, yu+"/v5/market/instruments-info?category=spot"); code != 200 || !strings.Contains(string(body), `"retCode":10006`) || hdr.Get("X-Bapi-Limit-Reset-Timestamp") == "" {
		t.Fatalf("bybit 10006: %d %s", code, body)
	}
	s.Inject("bybit", Fault{Kind: FaultRateLimit, Status: 403})
	if code, _, body := httpGet(t, yu+"/v5/market/instruments-info?category=spot"); code != 403 || string(body) != "access too frequent" {
		t.Fatalf("bybit 403: %d %s", code, body)
	}
}
