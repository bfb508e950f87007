package okx

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/sim"
)

// The Must-show tests of the trading client against exchange/sim: the
// simulator's OKX venue written from the documentation independently of
// this adapter, over loopback, counting at the venue.

// tradeSim is one simulator OKX venue and a trading client on it.
type tradeSim struct {
	s     *sim.Sim
	c     *Client
	urls  sim.URLs
	insts []exchange.Instrument
}

const simVenue = "okx"

func startTradeSim(t *testing.T, simMod func(*sim.Config), mod func(*ClientConfig)) *tradeSim {
	t.Helper()
	cfg := sim.DefaultConfig()
	for _, v := range cfg.Venues {
		if v.Kind == sim.KindOKX {
			cfg.Venues = []sim.VenueConfig{v}
			break
		}
	}
	cfg.StepInterval = 20 * time.Millisecond
	if simMod != nil {
		simMod(&cfg)
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	urls, _ := s.URLs(simVenue)
	var want []exchange.Instrument
	for i, sc := range cfg.Symbols {
		want = append(want, exchange.Instrument{ID: exchange.InstrumentID(i + 1), Venue: testVenue, Symbol: sc.Symbol, Canonical: sc.Symbol, Scale: sc.Scale})
	}
	insts, err := FetchInstruments(context.Background(), http.DefaultClient, urls.REST, simVenue, want)
	if err != nil {
		t.Fatal(err)
	}
	for i, sc := range cfg.Symbols { // the simulator's minimum notional is not on OKX's wire
		mn, _ := num.ParseString(sc.MinNotional, sc.Scale.Px)
		insts[i].MinNotional = num.Quote(mn)
	}
	ccfg := ClientConfig{Venue: testVenue, Name: simVenue, RESTURL: urls.REST, PrivateWSURL: urls.WSBase,
		Credentials: NewCredentials(sim.TestOKXKey, sim.TestOKXSecret, sim.TestOKXPassphrase),
		Instruments: insts, OrderEntry: OrderEntryREST, Logger: testTradeLogger(t),
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, PollEvery: 50 * time.Millisecond}
	if mod != nil {
		mod(&ccfg)
	}
	c, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &tradeSim{s: s, c: c, urls: urls, insts: insts}
}

// takeAsk returns a buy limit 0.5 % through the best ask of BTC-USDT: the
// market moves every step, and an IOC buy fills at the book's prices (best
// first) whatever its limit, so the margin only makes sure it fills.
func (ts *tradeSim) takeAsk(t *testing.T) num.Price {
	_, asks, _, ok := ts.s.Book(simVenue, "BTC-USDT")
	if !ok || len(asks) == 0 {
		t.Fatal("no book")
	}
	return asks[0].Px + asks[0].Px/200
}

func dec(a num.Amount) decimal.Decimal { return decimal.RequireFromString(a.String()) }
func decFixed(v int64, d uint8) decimal.Decimal {
	return decimal.New(v, -int32(d))
}

// Place → fill → query → balances, with exact quantities and fees checked
// against the simulator's own record of the fills and the account.
func TestSimRoundTrip(t *testing.T) {
	ts := startTradeSim(t, nil, nil)
	ctx := runCtx(t)
	bal0 := balancesOf(t, ts.c)
	since := time.Now().Add(-time.Second).UnixNano()
	qty := num.Qty(1_000_000) // 0.01 BTC
	req := exchange.OrderRequest{ClientID: exchange.MustID("rt1"), Venue: testVenue, Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: qty, TIF: exchange.IOC}
	ack, err := ts.c.PlaceOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ts.c.QueryOrder(ctx, 1, req.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if st.VenueOrderID != ack.VenueOrderID || st.Status != exchange.StatusFilled || st.FilledQty != qty || st.Qty != qty {
		t.Fatalf("ack %+v state %+v", ack, st)
	}
	fills, err := ts.c.FillsSince(ctx, 1, since)
	if err != nil {
		t.Fatal(err)
	}
	venueFills := ts.s.Fills(simVenue)
	if len(fills) == 0 || len(fills) != len(venueFills) {
		t.Fatalf("%d fills, venue has %d", len(fills), len(venueFills))
	}
	var filled num.Qty
	cost, fee := decimal.Zero, decimal.Zero
	for i, f := range fills {
		v := venueFills[i]
		if f.TradeID.String() != v.TradeID || f.Px != v.Px || f.Qty != v.Qty || f.ClientID != req.ClientID ||
			f.VenueOrderID.String() != v.OrderID || !dec(f.Fee).Equal(decFixed(v.Fee, v.FeeDec)) || f.FeeAsset.String() != v.FeeAsset ||
			f.FeeAsset.String() != "BTC" || f.Maker != v.Maker || f.Side != exchange.Buy {
			t.Fatalf("fill %d: %+v\nvenue %+v", i, f, v)
		}
		filled += f.Qty
		cost = cost.Add(decFixed(int64(f.Px), 2).Mul(decFixed(int64(f.Qty), 8)))
		fee = fee.Add(dec(f.Fee))
	}
	if filled != qty {
		t.Fatalf("fills sum to %d, order %d", filled, qty)
	}
	// Taker 0.10 % of the base received, charged in BTC.
	if want := decFixed(int64(qty), 8).Mul(decimal.RequireFromString("0.001")); !fee.Equal(want) {
		t.Fatalf("fee %s, want %s", fee, want)
	}
	bal1 := balancesOf(t, ts.c)
	if d := bal0["USDT"].Sub(bal1["USDT"]); !d.Equal(cost) {
		t.Fatalf("USDT paid %s, fills cost %s", d, cost)
	}
	if d := bal1["BTC"].Sub(bal0["BTC"]); !d.Equal(decFixed(int64(qty), 8).Sub(fee)) {
		t.Fatalf("BTC received %s, want %s", d, decFixed(int64(qty), 8).Sub(fee))
	}
	// And the venue agrees with what the client reports.
	free, locked, _ := ts.s.Balance(simVenue, "BTC")
	if !dec(free).Add(dec(locked)).Equal(bal1["BTC"]) {
		t.Fatalf("venue BTC %s+%s, client %s", free, locked, bal1["BTC"])
	}
}

func balancesOf(t *testing.T, c *Client) map[string]decimal.Decimal {
	t.Helper()
	bs, err := c.Balances(runCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]decimal.Decimal{}
	for _, b := range bs {
		out[b.Asset] = dec(b.Total)
	}
	return out
}

// A lost acknowledgement: the order executes, the answer never comes. The
// client reports an unknown outcome and does not resend; a query by the
// client order id resolves it; the venue holds one order.
func TestSimLostAck(t *testing.T) {
	ts := startTradeSim(t, nil, nil)
	ctx := runCtx(t)
	if err := ts.s.Inject(simVenue, sim.Fault{Kind: sim.FaultLoseAck}); err != nil {
		t.Fatal(err)
	}
	req := exchange.OrderRequest{ClientID: exchange.MustID("lost1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 100_000, TIF: exchange.IOC}
	_, err := ts.c.PlaceOrder(ctx, req)
	mustKind(t, err, exchange.KindUnknownOutcome)
	st, err := ts.c.QueryOrder(ctx, 1, req.ClientID)
	if err != nil || st.Status != exchange.StatusFilled || st.FilledQty != req.Qty {
		t.Fatalf("%+v %v", st, err)
	}
	// A blind resubmission would double it: the client refuses.
	_, err = ts.c.PlaceOrder(ctx, req)
	mustKind(t, err, exchange.KindDuplicate)
	if n := len(ts.s.OrdersByClientID(simVenue, "lost1")); n != 1 {
		t.Fatalf("venue holds %d orders for one intent", n)
	}
	if n := countEndpoint(ts.s.Requests(simVenue), "POST /api/v5/trade/order"); n != 1 {
		t.Fatalf("%d placements reached the venue", n)
	}
}

// A resubmission with the same client order id creates no second order:
// while the first rests, the venue refuses it (51016, seen by a new client
// process with no memory); once it is done — when OKX itself would accept
// the id again — the client refuses it.
func TestSimResubmission(t *testing.T) {
	ts := startTradeSim(t, nil, nil)
	ctx := runCtx(t)
	bids, _, _, _ := ts.s.Book(simVenue, "BTC-USDT")
	rest := exchange.OrderRequest{ClientID: exchange.MustID("gtc1"), Inst: 1, Side: exchange.Buy, Px: bids[0].Px / 2 / ts.insts[0].Tick * ts.insts[0].Tick,
		Qty: 100_000, TIF: exchange.GTC}
	if _, err := ts.c.PlaceOrder(ctx, rest); err != nil {
		t.Fatal(err)
	}
	fresh, err := NewClient(ts.c.cfg) // a restarted process: no memory of ids
	if err != nil {
		t.Fatal(err)
	}
	_, err = fresh.PlaceOrder(ctx, rest)
	if e := mustKind(t, err, exchange.KindDuplicate); e.Code != "51016" {
		t.Fatalf("%+v", e)
	}
	open, err := fresh.OpenOrders(ctx, 1)
	if err != nil || len(open) != 1 || open[0].ClientID != rest.ClientID || open[0].Status != exchange.StatusNew {
		t.Fatalf("%+v %v", open, err)
	}
	st, err := fresh.CancelOrder(ctx, 1, rest.ClientID)
	if err != nil || st.Status != exchange.StatusCanceled {
		t.Fatalf("%+v %v", st, err)
	}
	// Done: OKX would take the id again; the client that sent it does not.
	_, err = ts.c.PlaceOrder(ctx, rest)
	mustKind(t, err, exchange.KindDuplicate)
	ioc := exchange.OrderRequest{ClientID: exchange.MustID("ioc1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 100_000, TIF: exchange.IOC}
	if _, err := ts.c.PlaceOrder(ctx, ioc); err != nil {
		t.Fatal(err)
	}
	_, err = ts.c.PlaceOrder(ctx, ioc)
	mustKind(t, err, exchange.KindDuplicate)
	for _, id := range []string{"gtc1", "ioc1"} {
		if n := len(ts.s.OrdersByClientID(simVenue, id)); n != 1 {
			t.Fatalf("%s: %d orders at the venue", id, n)
		}
	}
	if d := ts.s.DuplicateClientIDs(simVenue); len(d) != 0 {
		t.Fatalf("venue saw duplicate ids %v", d)
	}
}

// A 30 % partial fill of an IOC order is reported exactly: the order's
// filled quantity, its status, and fills that sum to it.
func TestSimPartialFill(t *testing.T) {
	ts := startTradeSim(t, nil, nil)
	ctx := runCtx(t)
	if err := ts.s.Inject(simVenue, sim.Fault{Kind: sim.FaultPartialFill, Fraction: 0.3}); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Second).UnixNano()
	req := exchange.OrderRequest{ClientID: exchange.MustID("part1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 1_000_000, TIF: exchange.IOC}
	if _, err := ts.c.PlaceOrder(ctx, req); err != nil {
		t.Fatal(err)
	}
	st, err := ts.c.QueryOrder(ctx, 1, req.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if st.FilledQty != 300_000 || st.Status != exchange.StatusCanceled || st.Qty != 1_000_000 {
		t.Fatalf("%+v", st)
	}
	fills, err := ts.c.FillsSince(ctx, 1, since)
	if err != nil {
		t.Fatal(err)
	}
	var sum num.Qty
	for _, f := range fills {
		sum += f.Qty
	}
	if sum != 300_000 {
		t.Fatalf("fills sum to %d", sum)
	}
}

// After HTTP 429 no request reaches the venue before Retry-After has
// passed — counted at the simulator. OKX documents no Retry-After header,
// so the client waits OKX's 2 s window; the simulator's OKX has no 418
// (OKX documents none; the ban path is TestBan418 against the fake venue).
func TestSimRateLimit(t *testing.T) {
	ts := startTradeSim(t, nil, nil)
	ctx := runCtx(t)
	const retry = time.Second
	if err := ts.s.Inject(simVenue, sim.Fault{Kind: sim.FaultRateLimit, RetryAfter: retry}); err != nil {
		t.Fatal(err)
	}
	req := exchange.OrderRequest{ClientID: exchange.MustID("rl1"), Inst: 1, Side: exchange.Buy, Px: ts.takeAsk(t), Qty: 100_000, TIF: exchange.IOC}
	_, err := ts.c.PlaceOrder(ctx, req)
	e := mustKind(t, err, exchange.KindRateLimited)
	if e.Code != "50011" || e.RetryAfter < retry {
		t.Fatalf("%+v", e)
	}
	// Keep trying, as an impatient caller would: the client holds every
	// attempt until the wait it announced is over.
	attempts := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		attempts++
		_, err := ts.c.PlaceOrder(ctx, req)
		if err == nil {
			break
		}
		e := mustKind(t, err, exchange.KindRateLimited)
		if time.Now().After(deadline) {
			t.Fatal("never admitted again")
		}
		<-time.After(min(e.RetryAfter, 100*time.Millisecond))
	}
	reqs := ts.s.Requests(simVenue)
	var limitedAt time.Time
	for _, r := range reqs {
		switch {
		case r.Limited:
			if !limitedAt.IsZero() {
				t.Fatalf("a second request was refused: %+v", r)
			}
			limitedAt = r.At
		case !limitedAt.IsZero() && r.At.Before(limitedAt.Add(retry)):
			t.Fatalf("request %s %v after the 429, before Retry-After", r.Endpoint, r.At.Sub(limitedAt))
		}
	}
	if limitedAt.IsZero() || attempts < 2 {
		t.Fatalf("limited at %v, %d attempts", limitedAt, attempts)
	}
}

func countEndpoint(reqs []sim.Request, endpoint string) int {
	n := 0
	for _, r := range reqs {
		if r.Endpoint == endpoint {
			n++
		}
	}
	return n
}
