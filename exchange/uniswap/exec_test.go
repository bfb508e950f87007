package uniswap_test

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/uniswap"
	"arb/exchange/uniswap/unisim"
	"arb/strategy/book"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

const (
	uniV exchange.VenueID      = 1
	cexV exchange.VenueID      = 2
	ethI exchange.InstrumentID = 1
)

func registry() *exchange.Registry {
	return &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: uniV, Name: "uni", Kind: "uniswap"}, {ID: cexV, Name: "cex", Kind: "test"}},
		Assets: []exchange.Asset{{}, {ID: ethI, Symbol: "ETH-USDT", Base: "ETH", Quote: "USDT", Scale: scale}},
	}
}

func listings() []exchange.Instrument {
	return []exchange.Instrument{
		{ID: ethI, Venue: uniV, Symbol: "WETH/USDT", Canonical: "ETH-USDT", Base: "ETH", Quote: "USDT", Scale: scale, Tick: 1, Step: 1},
		{ID: ethI, Venue: cexV, Symbol: "ETHUSDT", Canonical: "ETH-USDT", Base: "ETH", Quote: "USDT", Scale: scale, Tick: 1, Step: 1},
	}
}

// cexVenue is a simple in-test CEX: IOC orders fill in full at their
// limit, with a 10 bps fee in the quote.
type cexVenue struct {
	mu     sync.Mutex
	orders map[exchange.ID]exchange.OrderState
	fills  []exchange.Fill
	n      int
}

func newCEX() *cexVenue { return &cexVenue{orders: map[exchange.ID]exchange.OrderState{}} }

func (c *cexVenue) PlaceOrder(_ context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	st := exchange.OrderState{Venue: req.Venue, Inst: req.Inst, Side: req.Side, TIF: req.TIF, Status: exchange.StatusFilled,
		ClientID: req.ClientID, VenueOrderID: exchange.MustID("c" + req.ClientID.String()), Px: req.Px, Qty: req.Qty, FilledQty: req.Qty,
		TS: time.Now().UnixNano()}
	c.orders[req.ClientID] = st
	notional, _ := num.Notional(req.Px, req.Qty, scale)
	c.fills = append(c.fills, exchange.Fill{Venue: req.Venue, Inst: req.Inst, Side: req.Side, TradeID: exchange.MustID("t" + req.ClientID.String()),
		ClientID: req.ClientID, VenueOrderID: st.VenueOrderID, Px: req.Px, Qty: req.Qty,
		Fee: num.Amount{V: int64(notional) * 10 / 10000, Dec: scale.Px}, FeeAsset: exchange.MustID("USDT"), TS: time.Now().UnixNano()})
	return st, nil
}

func (c *cexVenue) CancelOrder(ctx context.Context, inst exchange.InstrumentID, id exchange.ID) (exchange.OrderState, error) {
	return c.QueryOrder(ctx, inst, id)
}

func (c *cexVenue) QueryOrder(_ context.Context, _ exchange.InstrumentID, id exchange.ID) (exchange.OrderState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.orders[id]
	if !ok {
		return st, &exchange.Error{Kind: exchange.KindNotFound, Venue: "cex"}
	}
	return st, nil
}

func (c *cexVenue) FillsSince(_ context.Context, _ exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []exchange.Fill
	for _, f := range c.fills {
		if f.TS >= since {
			out = append(out, f)
		}
	}
	return out, nil
}

func (c *cexVenue) placed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// newTrader is the trading client of traderKey on the chain.
func newTrader(t *testing.T, c *unisim.Chain, clk *clock) *uniswap.Trader {
	t.Helper()
	tr, err := uniswap.NewTrader(context.Background(), uniswap.TraderConfig{
		Venue: uniV, Name: "uni", Inst: listings()[0], Client: c.Client,
		Pair: c.Pair, Router: c.Router, BaseToken: c.Base, QuoteToken: c.Quote,
		Signer: uniswap.NewSigner(traderKey), Journal: &uniswap.MemTxJournal{},
		MaxBaseFee: big.NewInt(500e9), MaxPriorityFee: big.NewInt(50e9), Now: clk.Now,
	})
	must(t, err)
	return tr
}

// cexBook is the CEX's book: one level each side around px.
func cexBook(bid, ask num.Price, now int64) exchange.BookTop {
	b := exchange.BookTop{Venue: cexV, Inst: ethI, Seq: 1, RecvTS: now, NBids: 1, NAsks: 1}
	b.Bids[0] = exchange.Level{Px: bid, Qty: 100000}
	b.Asks[0] = exchange.Level{Px: ask, Qty: 100000}
	return b
}

// detect runs the real detector over the pool's published book and the
// CEX book and returns its one plan.
func detect(t *testing.T, dex, cex exchange.BookTop, now int64) spread.Plan {
	t.Helper()
	reg := registry()
	cfg := spread.DefaultConfig()
	cfg.Instruments = listings()
	cfg.MaxNotional = []spread.Amount{{Asset: "USDT", Value: "5000"}}
	cfg.Cooldown = 0
	for _, v := range []exchange.VenueID{uniV, cexV} {
		vc := spread.DefaultVenueConfig(v)
		if v == cexV {
			vc.TakerFeeBps = 10
		}
		vc.Withdraw = []spread.Amount{{Asset: "ETH", Value: "0"}, {Asset: "USDT", Value: "0"}}
		cfg.Venues = append(cfg.Venues, vc)
	}
	d, err := spread.New(reg, book.New(reg), cfg)
	must(t, err)
	inv := d.Inventory()
	for _, v := range []exchange.VenueID{uniV, cexV} {
		must(t, inv.SetDecimal(v, "ETH", "50"))
		must(t, inv.SetDecimal(v, "USDT", "150000"))
	}
	d.OnBook(&cex, now)
	plans := d.OnBook(&dex, now)
	if len(plans) != 1 {
		t.Fatalf("%d plans (stats %+v)", len(plans), d.PairStats(0))
	}
	return plans[0]
}

// rig is a driver over the DEX trader and the CEX with the sequential
// policy, DEX leg first, on a test clock.
type rig struct {
	d     *execute.Driver
	j     *execute.MemJournal
	clk   *clock
	cex   *cexVenue
	trade execute.TradeID
}

func newRig(t *testing.T, dex *uniswap.Trader, cex *cexVenue, clk *clock) *rig {
	cfg := execute.DefaultConfig()
	cfg.Registry = registry()
	cfg.Instruments = listings()
	cfg.Quotes = func(v exchange.VenueID, _ exchange.InstrumentID) (num.Price, num.Price, bool) { return 0, 0, false }
	seq := execute.DefaultPolicy()
	seq.Mode = execute.Sequential
	// On-chain: a swap stays "new" until it is mined; it is cancelled only
	// well after a block (FinalTimeout), and the trade lives long enough.
	seq.FinalTimeout = 30 * time.Second
	seq.Deadline = 3 * time.Minute
	buyDEX, sellDEX := seq, seq
	buyDEX.First, sellDEX.First = exchange.Buy, exchange.Sell
	cfg.Pairs = []execute.PairPolicy{
		{BuyVenue: uniV, SellVenue: cexV, Policy: buyDEX},
		{BuyVenue: cexV, SellVenue: uniV, Policy: sellDEX},
	}
	in := &execute.Inline{Venues: []execute.Venue{nil, dex, cex}}
	j := &execute.MemJournal{}
	d, err := execute.NewDriver(execute.DriverConfig{Executor: cfg, Journal: j, Clock: clk, Caller: in})
	must(t, err)
	in.Driver = d
	must(t, d.Start(context.Background()))
	return &rig{d: d, j: j, clk: clk, cex: cex}
}

// run ticks the driver a second at a time (committing a block each time
// when mine is set) until the trade closes.
func (r *rig) run(t *testing.T, mine func()) execute.TradeView {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 120; i++ {
		if v := r.d.Executor().Views(1); len(v) == 1 && strings.HasPrefix(v[0].State, "closed") && r.d.Executor().Trade(r.trade).Settled() {
			return v[0]
		}
		if mine != nil {
			mine()
		}
		r.clk.Add(time.Second)
		r.d.Tick(ctx)
	}
	t.Fatalf("trade not closed: %+v", r.d.Executor().Views(1))
	return execute.TradeView{}
}

// fillRecords returns the fill records of the journal.
func (r *rig) fillRecords(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, e := range r.j.Entries() {
		var m map[string]any
		must(t, json.Unmarshal(e, &m))
		if m["kind"] == "fill" {
			out = append(out, m)
		}
	}
	return out
}

// TestCEXDEXPlanExecutes: the pool is 2 % under the CEX; the detector,
// fed the pool's published book (with its gas), plans buy-on-DEX,
// sell-on-CEX with the gas netted; the executor sends the DEX leg first,
// the swap is mined, and the CEX leg is sized to its receipt. Both legs
// fill, the trade closes flat, and the DEX fill carries the gas as its fee
// in ETH, exactly gas used × effective gas price.
func TestCEXDEXPlanExecutes(t *testing.T) {
	c := newChain(t)
	r := startFeed(t, c, c.Client, nil)
	dexBook := r.await(t, "pool book", fresh)
	clk := newClock()
	plan := detect(t, dexBook, cexBook(306000, 306100, clk.Now()), clk.Now())
	if plan.Buy.Venue != uniV || plan.Sell.Venue != cexV {
		t.Fatalf("plan buys on %d, sells on %d", plan.Buy.Venue, plan.Sell.Venue)
	}
	if plan.GasQuote != dexBook.Gas || dexBook.Gas <= 0 {
		t.Fatalf("plan gas %d, book gas %d", plan.GasQuote, dexBook.Gas)
	}
	t.Logf("plan: qty %s at ≤ %s, net %s USDT after gas %s",
		num.Format(int64(plan.Qty), 4), num.Format(int64(plan.Buy.LimitPx), 2), num.Format(int64(plan.NetQuote), 2), num.Format(int64(plan.GasQuote), 2))

	ctx := context.Background()
	dex := newTrader(t, c, clk)
	cex := newCEX()
	rg := newRig(t, dex, cex, clk)
	ethBefore, _ := c.BalanceOf(ctx, c.Base, addr(traderKey))
	id, err := rg.d.Submit(ctx, &plan, 0)
	must(t, err)
	rg.trade = id
	if cex.placed() != 0 {
		t.Fatal("the CEX leg went out before the DEX leg resolved")
	}
	v := rg.run(t, func() { c.Commit() })
	if v.State != "closed_flat" || len(v.Legs) != 2 {
		t.Fatalf("trade %+v", v)
	}
	dexLeg, cexLeg := v.Legs[0], v.Legs[1]
	if dexLeg.Venue != "uni" || dexLeg.Status != "filled" || cexLeg.Venue != "cex" || cexLeg.Status != "filled" || cexLeg.FilledQty != dexLeg.FilledQty {
		t.Fatalf("legs %+v", v.Legs)
	}
	// The chain moved exactly the planned quantity of WETH to the trader.
	ethAfter, _ := c.BalanceOf(ctx, c.Base, addr(traderKey))
	got := new(big.Int).Sub(ethAfter, ethBefore)
	want := new(big.Int).Mul(big.NewInt(int64(plan.Qty)), big.NewInt(1e14))
	if got.Cmp(want) != 0 {
		t.Fatalf("WETH received %s, want %s", got, want)
	}
	// The DEX fill's fee is the gas: gas used × effective gas price, in ETH.
	fills := rg.fillRecords(t)
	var dexFill map[string]any
	for _, f := range fills {
		if f["fill"].(map[string]any)["venue"] == "uni" {
			dexFill = f["fill"].(map[string]any)
		}
	}
	if dexFill == nil {
		t.Fatalf("no DEX fill recorded: %v", fills)
	}
	st, err := dex.QueryOrder(ctx, ethI, exchange.MustID(dexLeg.ClientOrderID))
	must(t, err)
	rcpt := receiptOf(t, c, dex, st)
	wei := new(big.Int).Mul(new(big.Int).SetUint64(rcpt.GasUsed), rcpt.EffectiveGasPrice)
	a, _ := amountString(wei, 18)
	if dexFill["fee"] != a || dexFill["fee_asset"] != "ETH" {
		t.Fatalf("DEX fill fee %v %v, want %s ETH (gas used %d × %s wei)", dexFill["fee"], dexFill["fee_asset"], a, rcpt.GasUsed, rcpt.EffectiveGasPrice)
	}
	if dexLeg.Fee != a || dexLeg.FeeAsset != "ETH" {
		t.Fatalf("leg fee %s %s", dexLeg.Fee, dexLeg.FeeAsset)
	}
	t.Logf("DEX leg: %s ETH at %s, gas fee %s ETH; CEX leg: %s at %s; realized %s USDT", dexLeg.FilledQty, dexLeg.AvgPrice, dexLeg.Fee,
		cexLeg.FilledQty, cexLeg.AvgPrice, v.RealizedNetQuote)
}

// TestSwapBelowMinRevertsFlat: the DEX leg is sent; another account's
// larger swap is mined before it in the same block (a higher tip), so the
// exact-output swap needs more than its amountInMax and reverts. The
// executor sees a failed first leg, never sends the CEX leg, and the trade
// closes flat.
func TestSwapBelowMinRevertsFlat(t *testing.T) {
	c := newChain(t)
	r := startFeed(t, c, c.Client, nil)
	dexBook := r.await(t, "pool book", fresh)
	clk := newClock()
	plan := detect(t, dexBook, cexBook(306000, 306100, clk.Now()), clk.Now())
	ctx := context.Background()
	dex := newTrader(t, c, clk)
	cex := newCEX()
	rg := newRig(t, dex, cex, clk)
	ethBefore, _ := c.BalanceOf(ctx, c.Base, addr(traderKey))
	id, err := rg.d.Submit(ctx, &plan, 0)
	must(t, err)
	rg.trade = id
	// The swap is in the pool; the front-runner buys 5 WETH with a high tip.
	if _, err := c.SendPending(ctx, otherKey, c.Router, c.SwapData(c.Quote, e(20000, 6), addr(otherKey)), big.NewInt(100e9)); err != nil {
		t.Fatal(err)
	}
	c.Commit()
	v := rg.run(t, func() { c.Commit() })
	if v.State != "closed_flat" || len(v.Legs) != 1 || v.Legs[0].Status != "rejected" || v.Legs[0].FilledQty != "0" {
		t.Fatalf("trade %+v", v)
	}
	if cex.placed() != 0 {
		t.Fatal("the CEX leg was sent after a failed DEX leg")
	}
	ethAfter, _ := c.BalanceOf(ctx, c.Base, addr(traderKey))
	if ethAfter.Cmp(ethBefore) != 0 {
		t.Fatalf("WETH moved: %s → %s", ethBefore, ethAfter)
	}
	st, err := dex.QueryOrder(ctx, ethI, exchange.MustID(v.Legs[0].ClientOrderID))
	must(t, err)
	rcpt := receiptOf(t, c, dex, st)
	if rcpt.Status != 0 {
		t.Fatal("the swap did not revert on chain")
	}
	if dex.Counters().Reverted.Load() != 1 {
		t.Fatalf("reverted %d", dex.Counters().Reverted.Load())
	}
	// The reverted swap still paid gas: the final state carries it, the
	// leg shows it as its fee and its gas, and the realized net is minus
	// its value at the order's price (the base is ETH).
	wei := new(big.Int).Mul(new(big.Int).SetUint64(rcpt.GasUsed), rcpt.EffectiveGasPrice)
	gas, _ := amountString(wei, 18)
	if st.Fee.String() != gas || st.FeeAsset.String() != "ETH" {
		t.Fatalf("reverted swap's state fee %s %s, want %s ETH (gas used %d × %s wei)", st.Fee, st.FeeAsset, gas, rcpt.GasUsed, rcpt.EffectiveGasPrice)
	}
	l := v.Legs[0]
	if l.Fee != gas || l.FeeAsset != "ETH" || l.Gas != gas || l.GasAsset != "ETH" {
		t.Fatalf("reverted leg fee %s %s, gas %s %s; want %s ETH", l.Fee, l.FeeAsset, l.Gas, l.GasAsset, gas)
	}
	want := decimal.RequireFromString(gas).Mul(decimal.RequireFromString(l.Price))
	if l.GasQuote != want.String() || v.RealizedNetQuote != want.Neg().String() {
		t.Fatalf("gas in the quote %s, realized %s; want %s and its negative", l.GasQuote, v.RealizedNetQuote, want)
	}
}

// amountString is wei as the trimmed decimal the journal writes.
func amountString(v *big.Int, dec int) (string, bool) {
	a, ok := uniswapAmount(v, dec)
	return a, ok
}

func uniswapAmount(v *big.Int, dec int) (string, bool) {
	s := v.String()
	for len(s) <= dec {
		s = "0" + s
	}
	s = s[:len(s)-dec] + "." + s[len(s)-dec:]
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s, true
}

// receiptOf is the receipt of the swap behind an order state.
func receiptOf(t *testing.T, c *unisim.Chain, dex *uniswap.Trader, st exchange.OrderState) *types.Receipt {
	t.Helper()
	h, ok := dex.TxHash(st.ClientID)
	if !ok {
		t.Fatal("no transaction for the order")
	}
	r, err := c.Client.TransactionReceipt(context.Background(), h)
	must(t, err)
	return r
}

func traderConfig(c *unisim.Chain, be uniswap.Backend, j uniswap.TxJournal, clk *clock) uniswap.TraderConfig {
	return uniswap.TraderConfig{
		Venue: uniV, Name: "uni", Inst: listings()[0], Client: be,
		Pair: c.Pair, Router: c.Router, BaseToken: c.Base, QuoteToken: c.Quote,
		Signer: uniswap.NewSigner(traderKey), Journal: j,
		MaxBaseFee: big.NewInt(500e9), MaxPriorityFee: big.NewInt(50e9), Now: clk.Now,
		Retry: uniswap.Retry{Timeout: 5 * time.Second, Attempts: 2, Backoff: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
	}
}

func bigGwei(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e9)) }
