package spread

import (
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/book"
)

// Instrument ids and the scale of the test registry.
const (
	btcUSDT exchange.InstrumentID = 1
	btcUSDC exchange.InstrumentID = 2
	ethUSDT exchange.InstrumentID = 3
)

var testScale = num.Scale{Px: 2, Qty: 4}

func testRegistry() *exchange.Registry {
	return &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: "a"}, {ID: 2, Name: "b"}, {ID: 3, Name: "c"}},
		Assets: []exchange.Asset{{},
			{ID: btcUSDT, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: testScale},
			{ID: btcUSDC, Symbol: "BTC-USDC", Base: "BTC", Quote: "USDC", Scale: testScale},
			{ID: ethUSDT, Symbol: "ETH-USDT", Base: "ETH", Quote: "USDT", Scale: num.Scale{Px: 2, Qty: 3}},
		},
	}
}

func listingOf(reg *exchange.Registry, v exchange.VenueID, id exchange.InstrumentID) exchange.Instrument {
	a := reg.Assets[id]
	return exchange.Instrument{ID: id, Venue: v, Symbol: a.Base + a.Quote, Canonical: a.Symbol, Base: a.Base, Quote: a.Quote, Scale: a.Scale, Tick: 1, Step: 1}
}

// zeroCostConfig lists BTC-USDT on venues 1 and 2 with no cost of any kind;
// table tests add exactly the costs they check.
func zeroCostConfig(reg *exchange.Registry) Config {
	c := DefaultConfig()
	c.MinEdgeBps, c.SlippageBps, c.Cooldown, c.RebalanceTrades = 0, 0, 0, 1
	c.MaxNotional = []Amount{{"USDT", "100000000"}, {"USDC", "100000000"}}
	for v := exchange.VenueID(1); v <= 3; v++ {
		vc := DefaultVenueConfig(v)
		vc.Withdraw = []Amount{{"BTC", "0"}, {"USDT", "0"}, {"USDC", "0"}, {"ETH", "0"}}
		c.Venues = append(c.Venues, vc)
	}
	c.Instruments = []exchange.Instrument{listingOf(reg, 1, btcUSDT), listingOf(reg, 2, btcUSDT)}
	return c
}

type env struct {
	reg *exchange.Registry
	d   *Detector
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	reg := testRegistry()
	d, err := New(reg, book.New(reg), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, d: d}
}

// fund sets a balance from decimal text.
func (e *env) fund(t testing.TB, v exchange.VenueID, asset, value string) {
	t.Helper()
	if err := e.d.Inventory().SetDecimal(v, asset, value); err != nil {
		t.Fatal(err)
	}
}

// lv is a level in decimal text, e.g. lv("100.00", "1.5").
type lvl struct{ px, qty string }

func mkBook(t testing.TB, v exchange.VenueID, inst exchange.InstrumentID, recvTS int64, bids, asks []lvl) *exchange.BookTop {
	t.Helper()
	s := testRegistry().Assets[inst].Scale
	b := &exchange.BookTop{Venue: v, Inst: inst, Seq: uint64(recvTS), RecvTS: recvTS, ExchTS: recvTS - 1000}
	parse := func(x string, dec uint8) int64 {
		n, err := num.ParseString(x, dec)
		if err != nil {
			t.Fatalf("%q: %v", x, err)
		}
		return n
	}
	for i, l := range bids {
		b.Bids[i] = exchange.Level{Px: num.Price(parse(l.px, s.Px)), Qty: num.Qty(parse(l.qty, s.Qty))}
	}
	for i, l := range asks {
		b.Asks[i] = exchange.Level{Px: num.Price(parse(l.px, s.Px)), Qty: num.Qty(parse(l.qty, s.Qty))}
	}
	b.NBids, b.NAsks = uint8(len(bids)), uint8(len(asks))
	return b
}

const t0 = int64(1_700_000_000_000_000_000)

var ms = int64(time.Millisecond)

func bookStore(reg *exchange.Registry) *book.Store { return book.New(reg) }
