package wire

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/num"
	"arb/ledger"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

// TestLedgerBackfill: a daemon that crashed after its journal stored a
// trade's fills and its close, but before it published them to the
// ledger, publishes them once the ledger has caught up: the ledger ends
// with every fill once and the trade closed with the executor's realized
// net; a second backfill publishes nothing new.
func TestLedgerBackfill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, jr, codec, id, op := backfillRig(ctx, t)
	now := time.Now().UnixNano()
	fill := func(venue exchange.VenueID, side exchange.Side, tid string, px, qty int64, fee int64) execute.Record {
		cid := execute.ClientID("arb", id, int(venue)-1, execute.PurposeEntry, side)
		return execute.Record{Kind: execute.RecFill, Trade: id, TS: now, Order: uint8(venue - 1), ClientID: cid,
			Fill: exchange.Fill{Venue: venue, Inst: 1, Side: side, TradeID: exchange.MustID(tid), ClientID: cid,
				Px: num.Price(px), Qty: num.Qty(qty), Fee: num.AmountOf(fee, 8), FeeAsset: exchange.MustID("USDT"), TS: now},
			FeeRate: num.AmountOf(1, 0)}
	}
	recs := []execute.Record{
		{Kind: execute.RecOpen, Trade: id, TS: now, Open: op},
		fill(1, exchange.Buy, "b1", 6_000_000, 10_000_000, 600_000_000),
		fill(2, exchange.Sell, "o1", 6_010_000, 4_000_000, 240_400_000),
		fill(2, exchange.Sell, "o2", 6_010_000, 6_000_000, 360_600_000),
		{Kind: execute.RecTransition, Trade: id, TS: now, To: execute.StateClosedFlat, QtyDecimals: 8},
	}
	appendRecords(ctx, t, jr, codec, recs)

	lk := startLedgerLink(ctx, t, d, jr)
	feed := lk.feed.Load()
	var fills int
	var tr *ledger.TradeRecord
	waitFor(t, "three fills and the closed trade in the ledger", 30*time.Second, func() bool {
		feed.View(func(l *ledger.Ledger) { fills, tr = l.FillCount(), l.Trade(id.String()) })
		return fills == 3 && tr != nil && tr.Seen() && ledger.Closed(tr.Trade.State)
	})
	// 0.1 × (60100 − 60000) − 6 − 2.404 − 3.606 = −2.01
	if want := decimal.RequireFromString("-2.01"); !tr.Trade.RealizedNetQuote.Equal(want) || !tr.PnL.Net.Equal(want) {
		t.Errorf("realized %s (ledger %s), want %s", tr.Trade.RealizedNetQuote, tr.PnL.Net, want)
	}
	n := lk.filled.Load()
	if n != 4 {
		t.Errorf("backfill published %d events, want 4 (3 fills, 1 trade)", n)
	}
	if err := lk.backfill(ctx); err != nil {
		t.Fatal(err)
	}
	if lk.filled.Load() != n {
		t.Errorf("a second backfill published %d more events", lk.filled.Load()-n)
	}
	if h := lk.holdings(); !h[posKey{"binance", "BTC"}].Equal(decimal.RequireFromString("0.1")) ||
		!h[posKey{"okx", "BTC"}].Equal(decimal.RequireFromString("-0.1")) {
		t.Errorf("holdings %v", h)
	}
}

// backfillRig is a daemon with the default config on an embedded NATS
// server, its journal and codec, and the opening of one trade: buy 0.1
// BTC on binance at ≤ 60000, sell it on okx at ≥ 60100.
func backfillRig(ctx context.Context, t *testing.T) (*Daemon, *bus.Journal, *execute.Codec, execute.TradeID, *execute.Opening) {
	t.Helper()
	emb, err := bus.StartEmbedded(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	b, err := bus.Connect(ctx, emb.ClientURL(), nil, emb.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(config.DefaultName, config.Default(), config.Known{Kinds: Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{cfg: cfg, reg: registry(cfg), bus: b, log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	id := execute.TradeID(7<<32 | 1)
	sc := num.Scale{Px: 2, Qty: 8}
	op := &execute.Opening{Plan: spread.PlanID(42), Symbol: "BTC-USDT", Scale: sc, Qty: 10_000_000, ExpectedNet: 500,
		PlanTS: time.Now().UnixNano(), Prefix: "arb", Policy: execute.DefaultPolicy()}
	op.Legs[execute.LegBuy] = execute.LegPlan{Venue: 1, Inst: 1, Side: exchange.Buy, Limit: 6_000_000, Qty: 10_000_000, Base: "BTC", Quote: "USDT"}
	op.Legs[execute.LegSell] = execute.LegPlan{Venue: 2, Inst: 1, Side: exchange.Sell, Limit: 6_010_000, Qty: 10_000_000, Base: "BTC", Quote: "USDT"}
	return d, b.Journal(), execute.NewCodec(d.reg), id, op
}

// appendRecords stores recs in the journal.
func appendRecords(ctx context.Context, t *testing.T, jr *bus.Journal, codec *execute.Codec, recs []execute.Record) {
	t.Helper()
	var ents []execute.Entry
	for i := range recs {
		e, err := codec.Entry(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		ents = append(ents, e)
	}
	if err := jr.Append(ctx, ents); err != nil {
		t.Fatal(err)
	}
}

// startLedgerLink starts d's ledger link on jr until the test ends and
// waits until its ledger holds one trade (the backfill's).
func startLedgerLink(ctx context.Context, t *testing.T, d *Daemon, jr *bus.Journal) *ledgerLink {
	t.Helper()
	lk := newLedgerLink(d, jr)
	rctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	lk.start(rctx, func(name string, f func(context.Context) error) { go f(rctx) })
	waitFor(t, "the ledger backfilled", 30*time.Second, func() bool {
		rep, ok := lk.report()
		return ok && rep.Trades == 1
	})
	return lk
}

// TestLedgerBackfillGas: the backfill books an order's cost without a fill
// (the gas of a reverted swap, carried by its final state) as its leg's
// gas, as the live trade event does: a sequential trade whose first leg
// was rejected after paying 0.001 BTC, valued at its price (60100), ends
// with that fee on the venue and a realized net of −60.1.
func TestLedgerBackfillGas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, jr, codec, id, op := backfillRig(ctx, t)
	now := time.Now().UnixNano()
	cid := execute.ClientID("arb", id, 0, execute.PurposeEntry, exchange.Sell)
	req := exchange.OrderRequest{Venue: 2, Inst: 1, Side: exchange.Sell, TIF: exchange.IOC, ClientID: cid, Px: 6_010_000, Qty: 10_000_000}
	appendRecords(ctx, t, jr, codec, []execute.Record{
		{Kind: execute.RecOpen, Trade: id, TS: now, Open: op},
		{Kind: execute.RecIntent, Trade: id, TS: now, ClientID: cid, Purpose: execute.PurposeEntry, Leg: execute.LegSell, Req: req},
		{Kind: execute.RecState, Trade: id, TS: now, ClientID: cid, Order: 0,
			State: exchange.OrderState{Venue: 2, Inst: 1, Side: exchange.Sell, TIF: exchange.IOC, Status: exchange.StatusRejected, ClientID: cid,
				Px: 6_010_000, Qty: 10_000_000, Fee: num.AmountOf(1, 3), FeeAsset: exchange.MustID("BTC")},
			FeeRate: num.AmountOf(6_010_000, 2)},
		{Kind: execute.RecTransition, Trade: id, TS: now, To: execute.StateClosedFlat, QtyDecimals: 8},
	})
	lk := startLedgerLink(ctx, t, d, jr)
	feed := lk.feed.Load()
	var tr *ledger.TradeRecord
	var fee decimal.Decimal
	waitFor(t, "the closed trade in the ledger", 30*time.Second, func() bool {
		feed.View(func(l *ledger.Ledger) {
			tr = l.Trade(id.String())
			fee = l.Balance(ledger.Account{Kind: ledger.Fees, Venue: "okx", Asset: "BTC"})
		})
		return tr != nil && tr.Seen() && ledger.Closed(tr.Trade.State)
	})
	want := decimal.RequireFromString("-60.1")
	if !fee.Equal(decimal.RequireFromString("0.001")) || !tr.PnL.Net.Equal(want) || !tr.Trade.RealizedNetQuote.Equal(want) {
		t.Errorf("okx BTC fees %s, trade net %s (realized %s); want 0.001 and %s", fee, tr.PnL.Net, tr.Trade.RealizedNetQuote, want)
	}
}

// TestPaperVenuesTrade: with paper: true every venue trades on paper: a
// dislocation becomes a trade filled from the live books, the paper
// accounts move, the ledger has its fills, and not one order reaches the
// simulated venues.
func TestPaperVenuesTrade(t *testing.T) {
	d, base := startDaemon(t, "\npaper: false", "\npaper: true")
	waitFor(t, "executor ready", 20*time.Second, func() bool { ok, _ := d.exec.ready(); return ok })
	if m := d.mode(); m != modePaper {
		t.Fatalf("mode %s", m)
	}
	if err := d.Sim().Dislocate("bybit", "ETH-USDT", 80, 30); err != nil {
		t.Fatal(err)
	}
	var closed execute.TradeView
	waitFor(t, "a closed paper trade", 20*time.Second, func() bool {
		ts, err := d.exec.service().Trades(context.Background(), 10)
		if err != nil {
			return false
		}
		for _, tr := range ts {
			if tr.ClosedAt != nil {
				closed = tr
				return true
			}
		}
		return false
	})
	filled := false
	for _, l := range closed.Legs {
		if l.FilledQty != "0" {
			filled = true
		}
	}
	if !filled {
		t.Fatalf("the paper trade filled nothing: %+v", closed)
	}
	for _, v := range []string{"binance", "okx", "bybit"} {
		if n := len(d.Sim().Orders(v)); n != 0 {
			t.Errorf("%d orders reached simulated %s", n, v)
		}
	}
	waitFor(t, "the paper fills in the ledger", 20*time.Second, func() bool {
		rep, ok := d.exec.ledger.report()
		return ok && rep.Trades > 0
	})
	if st := venueStatus(t, base, "okx"); st["trading"] != "paper" {
		t.Errorf("okx status %v", st)
	}
}

// TestKillHaltsExecutor: the kill switch reaches the executor (no plan
// taken, open orders cancelled, trades closed as they stand) and resume
// lifts it there too.
func TestKillHaltsExecutor(t *testing.T) {
	d, _ := startDaemon(t)
	waitFor(t, "executor ready", 20*time.Second, func() bool { ok, _ := d.exec.ready(); return ok })
	api := &apiProvider{d: d}
	if _, err := api.Kill(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if st := d.exec.service().Stats(); !st.Halted {
		t.Fatal("the executor is not halted after a kill")
	}
	if err := d.exec.service().Submit(&spread.Plan{}, 1, nil); err != execute.ErrHalted {
		t.Errorf("Submit after a kill: %v", err)
	}
	if _, err := api.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.exec.service().Stats(); st.Halted {
		t.Fatal("the executor is still halted after a resume")
	}
}

// TestLedgerFeedDurablePerInstance: a daemon named by fleet.instance
// consumes the ledger events through a durable consumer of its own, so two
// named daemons sharing a server do not delete each other's; an unnamed one
// keeps the default.
func TestLedgerFeedDurablePerInstance(t *testing.T) {
	cfg, err := config.Parse(config.DefaultName, config.Default(), config.Known{Kinds: Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	if got := ledgerFeedConfig(cfg).Durable; got != "" {
		t.Errorf("unnamed daemon's durable %q, want the default", got)
	}
	cfg.Fleet.Instance = "engine-a"
	if got := ledgerFeedConfig(cfg).Durable; got != "arb-ledger-engine-a" {
		t.Errorf("engine-a's durable %q", got)
	}
}
