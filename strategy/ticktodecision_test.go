package strategy_test

// The tick-to-decision benchmark: raw websocket frames of the three venues,
// in their real formats, through each adapter's session (parse, sequence
// check, L2 apply, top-10 cut, publish into the MPSC ring), popped by the
// consumer and decided by the detector (plan or no plan), with 3 venues × 20
// instruments loaded. It lives in an external test package so the strategy
// packages keep no production dependency on a concrete venue.

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/binance"
	"arb/exchange/bybit"
	"arb/exchange/num"
	"arb/exchange/okx"
	"arb/ringbuf"
	"arb/strategy/book"
	"arb/strategy/spread"
)

const (
	nInst     = 20
	seqDigits = 12 // sequence fields are patched in place at this fixed width
)

var scale = num.Scale{Px: 2, Qty: 8}

// counter is a fixed-width decimal field inside a frame, advanced in place
// so a frame template can be sent again as the next update (no allocation).
type counter struct{ at []int }

func (c counter) inc(b []byte) {
	for _, at := range c.at {
		d := b[at : at+seqDigits]
		for k := len(d) - 1; k >= 0; k-- {
			if d[k] < '9' {
				d[k]++
				break
			}
			d[k] = '0'
		}
	}
}

// field finds the fixed-width value after key (each occurrence).
func field(tb testing.TB, b []byte, key string) counter {
	var c counter
	off := 0
	for {
		i := bytes.Index(b[off:], []byte(key))
		if i < 0 {
			break
		}
		c.at = append(c.at, off+i+len(key))
		off += i + len(key)
	}
	if len(c.at) == 0 {
		tb.Fatalf("no %s in %s", key, b)
	}
	return c
}

// update is one venue × instrument frame template.
type update struct {
	venue int
	b     []byte
	seqs  []counter
	prev  *counter // OKX: prevSeqId takes the old seqId before it advances
	qty   int      // offset of the toggled best-level quantity digit
}

func (u *update) next() {
	if u.prev != nil {
		for i, at := range u.prev.at {
			copy(u.b[at:at+seqDigits], u.b[u.seqs[0].at[i]:u.seqs[0].at[i]+seqDigits])
		}
	}
	for _, c := range u.seqs {
		c.inc(u.b)
	}
	// Toggle the best ask's quantity between two values of equal width, so
	// every frame changes the top of the book and publishes an event.
	if u.b[u.qty] == '1' {
		u.b[u.qty] = '2'
	} else {
		u.b[u.qty] = '1'
	}
}

// levels returns the instrument's book: 20 levels a side around 100+k USDT;
// okx quotes instruments 0..3 50 bps higher, so updates there are plans.
func levels(venue, k int) (bids, asks [][2]string) {
	mid := int64(10000 + 100*k) // cents
	if venue == 1 && k < 4 {
		mid += mid / 200
	}
	for i := 0; i < 20; i++ {
		bids = append(bids, [2]string{num.Format(mid-int64(5*(i+1)), 2), "2.50000000"})
		asks = append(asks, [2]string{num.Format(mid+int64(5*(i+1)), 2), "1.50000000"})
	}
	return bids, asks
}

func jsonLevels(lv [][2]string, okxShape bool) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, l := range lv {
		if i > 0 {
			sb.WriteByte(',')
		}
		if okxShape {
			fmt.Fprintf(&sb, `["%s","%s","0","1"]`, l[0], l[1])
		} else {
			fmt.Fprintf(&sb, `["%s","%s"]`, l[0], l[1])
		}
	}
	sb.WriteByte(']')
	return sb.String()
}

// world is the loaded engine: three venue sessions, the ring, the detector.
type world struct {
	ring    *ringbuf.MPSC[exchange.BookTop]
	det     *spread.Detector
	handle  [3]func(b []byte, recvTS int64)
	updates []update
	next    int
	plans   int
	now     int64
}

func seq0(k int) string { return strconv.FormatInt(100_000_000_000+int64(k)*1_000_000, 10) }

func newWorld(tb testing.TB) *world {
	tb.Helper()
	w := &world{ring: ringbuf.NewMPSC[exchange.BookTop](4096), now: 1_700_000_000_000_000_000}
	reg := &exchange.Registry{Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "binance", Kind: "binance"}, {ID: 2, Name: "okx", Kind: "okx"}, {ID: 3, Name: "bybit", Kind: "bybit"}}}
	reg.Assets = append(reg.Assets, exchange.Asset{})
	var listings [3][]exchange.Instrument
	for k := 0; k < nInst; k++ {
		base := fmt.Sprintf("C%02d", k)
		reg.Assets = append(reg.Assets, exchange.Asset{ID: exchange.InstrumentID(k + 1), Symbol: base + "-USDT", Base: base, Quote: "USDT", Scale: scale})
		for v := 0; v < 3; v++ {
			sym := base + "USDT"
			if v == 1 {
				sym = base + "-USDT"
			}
			listings[v] = append(listings[v], exchange.Instrument{ID: exchange.InstrumentID(k + 1), Venue: exchange.VenueID(v + 1),
				Symbol: sym, Canonical: base + "-USDT", Base: base, Quote: "USDT", Scale: scale, Tick: 1, Step: 1000})
		}
	}
	fixed := func() int64 { return w.now }

	// Binance: REST snapshot, first diff, then diff updates.
	bcfg := binance.Config{Venue: 1, Name: "binance", WSURL: "ws://127.0.0.1:1", RESTURL: "http://127.0.0.1:1",
		Instruments: listings[0], AgeMax: time.Hour, Ring: w.ring, Now: fixed}
	if err := bcfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	bs := binance.NewSession(&bcfg, nil)
	w.handle[0] = bs.HandleFrame
	for {
		i, ok := bs.NeedSnapshot()
		if !ok {
			break
		}
		bids, asks := levels(0, i)
		body := fmt.Sprintf(`{"lastUpdateId":%s,"bids":%s,"asks":%s}`, seq0(i), jsonLevels(bids, false), jsonLevels(asks, false))
		bs.ApplySnapshot(i, []byte(body), w.now)
	}
	// OKX: subscribe, snapshot, updates.
	ocfg := okx.Config{Venue: 2, Name: "okx", WSURL: "ws://127.0.0.1:1", RESTURL: "http://127.0.0.1:1",
		Instruments: listings[1], AgeMax: time.Hour, Ring: w.ring, Now: fixed}
	os := okx.NewSession(&ocfg, nil)
	os.SubscribeRequests(w.now)
	w.handle[1] = os.HandleFrame
	// Bybit: subscribe, snapshot, deltas.
	ycfg := bybit.Config{Venue: 3, Name: "bybit", WSURL: "ws://127.0.0.1:1", RESTURL: "http://127.0.0.1:1",
		Instruments: listings[2], AgeMax: time.Hour, Ring: w.ring, Now: fixed}
	ys := bybit.NewSession(&ycfg, nil)
	ys.Start(w.now)
	for _, ok := ys.NextRequest(nil); ok; _, ok = ys.NextRequest(nil) {
	}
	w.handle[2] = ys.HandleFrame

	for k := 0; k < nInst; k++ {
		bids, asks := levels(1, k)
		os.HandleFrame([]byte(fmt.Sprintf(`{"arg":{"channel":"books","instId":"C%02d-USDT"},"action":"snapshot","data":[{"asks":%s,"bids":%s,"ts":"1700000000000","checksum":0,"prevSeqId":-1,"seqId":%s}]}`,
			k, jsonLevels(asks, true), jsonLevels(bids, true), seq0(k))), w.now)
		bids, asks = levels(2, k)
		ys.HandleFrame([]byte(fmt.Sprintf(`{"topic":"orderbook.50.C%02dUSDT","type":"snapshot","ts":1700000000000,"data":{"s":"C%02dUSDT","b":%s,"a":%s,"u":%s,"seq":%s},"cts":1700000000000}`,
			k, k, jsonLevels(bids, false), jsonLevels(asks, false), seq0(k), seq0(k))), w.now)
	}

	// The update templates, one per venue × instrument, interleaved.
	for k := 0; k < nInst; k++ {
		for v := 0; v < 3; v++ {
			bids, asks := levels(v, k)
			var u update
			u.venue = v
			switch v {
			case 0:
				u.b = []byte(fmt.Sprintf(`{"stream":"c%02dusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000000,"s":"C%02dUSDT","U":%s,"u":%s,"b":[["%s","2.50000000"]],"a":[["%s","1.50000000"]]}}`,
					k, k, seq0(k), seq0(k), bids[0][0], asks[0][0]))
				u.seqs = []counter{field(tb, u.b, `"U":`), field(tb, u.b, `"u":`)}
			case 1:
				u.b = []byte(fmt.Sprintf(`{"arg":{"channel":"books","instId":"C%02d-USDT"},"action":"update","data":[{"asks":[["%s","1.50000000","0","1"]],"bids":[["%s","2.50000000","0","1"]],"ts":"1700000000000","checksum":0,"prevSeqId":%s,"seqId":%s}]}`,
					k, asks[0][0], bids[0][0], seq0(k), seq0(k)))
				prev := field(tb, u.b, `"prevSeqId":`)
				u.prev = &prev
				u.seqs = []counter{field(tb, u.b, `"seqId":`)}
			case 2:
				u.b = []byte(fmt.Sprintf(`{"topic":"orderbook.50.C%02dUSDT","type":"delta","ts":1700000000000,"data":{"s":"C%02dUSDT","b":[["%s","2.50000000"]],"a":[["%s","1.50000000"]],"u":%s,"seq":%s},"cts":1700000000000}`,
					k, k, bids[0][0], asks[0][0], seq0(k), seq0(k)))
				u.seqs = []counter{field(tb, u.b, `"u":`), field(tb, u.b, `"seq":`)}
			}
			u.qty = bytes.Index(u.b, []byte(`"1.50000000"`)) + 1
			w.updates = append(w.updates, u)
		}
	}

	store := book.New(reg)
	cfg := spread.DefaultConfig()
	cfg.Instruments = append(append(append([]exchange.Instrument(nil), listings[0]...), listings[1]...), listings[2]...)
	cfg.Cooldown, cfg.RebalanceTrades = 0, 1
	cfg.MaxNotional = []spread.Amount{{Asset: "USDT", Value: "1000000"}}
	for v := 1; v <= 3; v++ {
		vc := spread.DefaultVenueConfig(exchange.VenueID(v))
		vc.TakerFeeBps, vc.StaleAge = 10, time.Hour
		vc.Withdraw = []spread.Amount{{Asset: "USDT", Value: "0"}}
		for k := 0; k < nInst; k++ {
			vc.Withdraw = append(vc.Withdraw, spread.Amount{Asset: fmt.Sprintf("C%02d", k), Value: "0"})
		}
		cfg.Venues = append(cfg.Venues, vc)
	}
	det, err := spread.New(reg, store, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	w.det = det
	inv := det.Inventory()
	for v := 1; v <= 3; v++ {
		if err := inv.SetDecimal(exchange.VenueID(v), "USDT", "1000000000"); err != nil {
			tb.Fatal(err)
		}
		for k := 0; k < nInst; k++ {
			inv.SetDecimal(exchange.VenueID(v), fmt.Sprintf("C%02d", k), "1000000")
		}
	}
	// One pass of updates makes every Binance book live and warms scratch.
	for range w.updates {
		w.tick()
	}
	for _, v := range []string{"binance", "okx", "bybit"} {
		for k := 0; k < nInst; k++ {
			vid := exchange.VenueID(slices.Index([]string{"", "binance", "okx", "bybit"}, v))
			if b := store.Book(vid, exchange.InstrumentID(k+1)); b == nil || b.Stale() {
				tb.Fatalf("%s C%02d not live after warm-up", v, k)
			}
		}
	}
	w.plans = 0
	return w
}

// tick sends the next frame and decides every event it produced; it
// returns the number of plans.
func (w *world) tick() int {
	u := &w.updates[w.next]
	w.next++
	if w.next == len(w.updates) {
		w.next = 0
	}
	u.next()
	w.now += 1000
	w.handle[u.venue](u.b, w.now)
	n := 0
	for {
		from, to := w.ring.Batch(16)
		if from == to {
			break
		}
		for s := from; s < to; s++ {
			plans := w.det.OnBook(w.ring.At(s), w.now)
			for i := range plans {
				w.det.Inventory().Release(&plans[i]) // decided; nothing is sent
			}
			n += len(plans)
		}
		w.ring.Release(to)
	}
	w.plans += n
	return n
}

// TestTickToDecisionAllocs: from raw frame to decision, steady state
// allocates nothing, on the plan path and the no-plan path.
func TestTickToDecisionAllocs(t *testing.T) {
	w := newWorld(t)
	if n := testing.AllocsPerRun(len(w.updates)*5, func() { w.tick() }); n != 0 {
		t.Fatalf("%v allocs per frame", n)
	}
	if w.plans == 0 {
		t.Fatal("no plan was made: the plan path was not exercised")
	}
	if w.plans == len(w.updates)*5+1 {
		t.Fatal("every frame made a plan: the no-plan path was not exercised")
	}
}

// BenchmarkTickToDecision reports per-frame latency percentiles measured
// around each frame (p50-ns, p99-ns; they include ~20-40 ns of clock reads)
// and the share of frames that produced a plan.
func BenchmarkTickToDecision(b *testing.B) {
	w := newWorld(b)
	samples := make([]int64, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		w.tick()
		samples[i] = int64(time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2]), "p50-ns")
	b.ReportMetric(float64(samples[len(samples)*99/100]), "p99-ns")
	b.ReportMetric(float64(w.plans)/float64(b.N), "plans/op")
}
