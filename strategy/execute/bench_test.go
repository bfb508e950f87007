package execute

import (
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// lifecycle drives whole trades through a bare executor, as the driver
// would, without I/O: plan → Ready (open, two intents, two places) →
// both acknowledgements → both fills → closed flat.
type lifecycle struct {
	ex   *Executor
	now  int64
	plan spread.Plan
	evs  [4]Event
}

func newLifecycle(tb testing.TB) *lifecycle {
	cfg := DefaultConfig()
	cfg.Registry = testRegistry()
	cfg.Instruments = testInstruments()
	cfg.Quotes = testQuotes
	cfg.KeepClosed = 64
	ex, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l := &lifecycle{ex: ex, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	ex.Recover(l.now)
	ex.Step(l.now, &Event{Kind: EvStream, Venue: venueA, Up: true})
	ex.Step(l.now, &Event{Kind: EvStream, Venue: venueB, Up: true})
	ex.Advance()
	l.plan = testPlan(1, 1000)
	for i := range l.evs {
		l.evs[i].Fill.TradeID = exchange.MustID("x0000000000")
	}
	return l
}

// open is the path from an approved plan to the orders to send.
func (l *lifecycle) open(tb testing.TB) TradeID {
	l.now += int64(time.Millisecond)
	l.plan.ID++
	id, err := l.ex.Open(l.now, &l.plan, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if rd := l.ex.Ready(); len(rd.Calls) != 2 || len(rd.Records) != 3 {
		tb.Fatalf("ready: %d records, %d calls", len(rd.Records), len(rd.Calls))
	}
	l.ex.Advance()
	return id
}

// finish acknowledges and fills both legs.
func (l *lifecycle) finish(tb testing.TB, id TradeID) {
	t := l.ex.Trade(id)
	for i := 0; i < 2; i++ {
		req := t.Order(i)
		ev := &l.evs[i]
		*ev = Event{Kind: EvPlaced, Trade: id, Order: uint8(i), Attempt: 0, CallAt: t.orders[i].callAt,
			State: exchange.OrderState{Venue: req.Venue, Inst: req.Inst, Side: req.Side, TIF: req.TIF, Status: exchange.StatusFilled,
				ClientID: req.ClientID, Px: req.Px, Qty: req.Qty, FilledQty: req.Qty, TS: l.now}}
		l.ex.Step(l.now, ev)
		l.ex.Advance()
		fv := &l.evs[2+i]
		tid := fv.Fill.TradeID
		b := tid.Bytes() // a fresh venue fill id per fill, in place
		for k := len(b) - 1; k >= 1; k-- {
			if b[k]++; b[k] <= '9' {
				break
			}
			b[k] = '0'
		}
		*fv = Event{Kind: EvFill, Fill: exchange.Fill{Venue: req.Venue, Inst: req.Inst, Side: req.Side, TradeID: tid,
			ClientID: req.ClientID, Px: req.Px, Qty: req.Qty, TS: l.now}}
		l.ex.Step(l.now, fv)
		l.ex.Advance()
	}
	if t.State() != StateClosedFlat {
		tb.Fatalf("trade %s is %s", id, t.State())
	}
}

// TestTradeDoesNotAllocate: in steady state (trades recycled from the
// closed ring), a whole trade — plan to orders, acknowledgements, fills,
// close — allocates nothing.
func TestTradeDoesNotAllocate(t *testing.T) {
	l := newLifecycle(t)
	for i := 0; i < 500; i++ { // fill the closed ring and the maps
		l.finish(t, l.open(t))
	}
	if n := testing.AllocsPerRun(200, func() { l.finish(t, l.open(t)) }); n != 0 {
		t.Fatalf("%.1f allocations per trade", n)
	}
	if n := testing.AllocsPerRun(200, func() { l.ex.Tick(l.now) }); n != 0 {
		t.Fatalf("%.1f allocations per tick", n)
	}
}

// BenchmarkPlanToOrders is the executor's share of the path from an
// approved plan to both legs on the wire: Open and its Ready (the open
// record, two intents, two place calls). The trade is then finished
// outside the timer.
func BenchmarkPlanToOrders(b *testing.B) {
	l := newLifecycle(b)
	for i := 0; i < 500; i++ {
		l.finish(b, l.open(b))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := l.open(b)
		b.StopTimer()
		l.finish(b, id)
		b.StartTimer()
	}
}

// BenchmarkTrade is a whole trade through the executor: Open and its
// Ready, two acknowledgements, two fills, the close (5 steps, 7 records).
func BenchmarkTrade(b *testing.B) {
	l := newLifecycle(b)
	for i := 0; i < 500; i++ {
		l.finish(b, l.open(b))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.finish(b, l.open(b))
	}
}

// BenchmarkTick is one timer pass over 64 open trades with nothing due.
func BenchmarkTick(b *testing.B) {
	l := newLifecycle(b)
	l.ex.cfg.MaxOpen = 64
	for i := 0; i < 64; i++ {
		l.open(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.ex.Tick(l.now)
	}
}

// BenchmarkRecordJSON is the journal encoding of a fill record and its
// decoding (the driver's and the replay's per-record cost).
func BenchmarkRecordJSON(b *testing.B) {
	c := NewCodec(testRegistry())
	rec := Record{Kind: RecFill, Trade: 1<<32 | 7, TS: 1, ClientID: ClientID("arb", 1<<32|7, 0, PurposeEntry, exchange.Buy),
		Fill: exchange.Fill{Venue: venueA, Inst: btc, Side: exchange.Buy, TradeID: exchange.MustID("123456789"),
			ClientID: ClientID("arb", 1<<32|7, 0, PurposeEntry, exchange.Buy), VenueOrderID: exchange.MustID("987654321"),
			Px: 10000, Qty: 1000, Fee: num.Amount{V: 1, Dec: 3}, FeeAsset: exchange.MustID("USDT"), TS: 1}, FeeRate: num.Amount{V: 1}}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.Entry(&rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	e, _ := c.Entry(&rec)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.Unmarshal(e.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
