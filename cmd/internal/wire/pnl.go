package wire

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/execute"
)

// pnlBook is PnL and positions from the executor's real fills, kept in
// memory: at start it reads every record of the journal, then it follows
// the records the service persists (Hooks.Persisted). It is deliberately
// small: the double-entry ledger (ledger/, with PostgreSQL or rebuilt from
// the stream) replaces it; until then /api/v1/pnl, /api/v1/positions'
// "filled" amounts and the risk rules' realized_pnl_today come from here.
//
// A trade's realized net is computed as the executor computes it
// (execute.Trade.Realized): sell proceeds − buy cost − fees converted to
// the quote with the rate recorded with each fill, a residual's cost left
// out as inventory. It counts once the trade is closed, and is corrected
// if a late fill arrives. Positions are the net of every fill per venue and
// asset: + base bought, − quote paid, − fees, and the reverse for sells.
// Fills are counted once by (venue, instrument, venue fill id).
type pnlBook struct {
	reg   *exchange.Registry
	codec *execute.Codec
	acct  string
	equiv map[string]bool

	mu       sync.Mutex
	trades   map[execute.TradeID]*pnlTrade
	closedQ  []execute.TradeID // closed trades, oldest first (bounded: maxPnLTrades)
	orphans  map[pnlFill]bool  // fills of trades no longer kept
	orphanQ  []pnlFill
	pos      map[posKey]decimal.Decimal
	pairs    map[pairKey]*pairPnL
	net      decimal.Decimal // Σ realized net of closed trades (account currency)
	fees     decimal.Decimal
	n        uint64
	day      int64   // UTC day of dayNet
	dayNet   float64 // realized net of trades closed that day
	lastFill int64   // newest fill time (venue clock), for reconciliation starts
}

// maxPnLTrades bounds the trades kept with their fills (closed ones are
// kept only to correct their PnL for a late fill); and the orphan fills
// remembered.
const maxPnLTrades = 4096

type pnlFill struct {
	v  exchange.VenueID
	i  exchange.InstrumentID
	id exchange.ID
}

type posKey struct {
	venue exchange.VenueID
	asset string
}

type pairPnL struct {
	n         uint64
	net, fees decimal.Decimal
}

type pnlTrade struct {
	op                        execute.Opening
	fills                     map[pnlFill]bool
	buyN, sellN, bought, sold decimal.Decimal
	feeQ                      decimal.Decimal
	closed, counted           bool
	closedAt                  int64
	net, fee                  decimal.Decimal // what was counted
}

func newPnLBook(reg *exchange.Registry, cfg *config.Config) *pnlBook {
	acct := reg.Assets[1].Quote
	return &pnlBook{reg: reg, codec: execute.NewCodec(reg), acct: acct, equiv: quoteEquivalents(cfg, acct),
		trades: map[execute.TradeID]*pnlTrade{}, orphans: map[pnlFill]bool{}, pos: map[posKey]decimal.Decimal{},
		pairs: map[pairKey]*pairPnL{}}
}

// replay reads every record of the journal into the book.
func (b *pnlBook) replay(ctx context.Context, jr *bus.Journal) error {
	return jr.Replay(ctx, func(data []byte) error {
		rec, err := b.codec.Unmarshal(data)
		if err != nil {
			return err
		}
		b.record(&rec)
		return nil
	})
}

// record folds one persisted record in.
func (b *pnlBook) record(rec *execute.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch rec.Kind {
	case execute.RecOpen:
		if rec.Open != nil && b.trades[rec.Trade] == nil {
			b.trades[rec.Trade] = &pnlTrade{op: *rec.Open, fills: map[pnlFill]bool{}}
		}
	case execute.RecFill:
		b.fill(rec)
	case execute.RecTransition:
		if t := b.trades[rec.Trade]; t != nil && rec.To.Closed() && !t.closed {
			t.closed, t.closedAt = true, rec.TS
			b.closedQ = append(b.closedQ, rec.Trade)
			b.count(t)
			b.trim()
		}
	}
}

func (b *pnlBook) fill(rec *execute.Record) {
	f := &rec.Fill
	k := pnlFill{f.Venue, f.Inst, f.TradeID}
	t := b.trades[rec.Trade]
	switch {
	case t != nil && t.fills[k], t == nil && b.orphans[k]:
		return
	case t != nil:
		t.fills[k] = true
	default:
		b.orphans[k] = true
		b.orphanQ = append(b.orphanQ, k)
		if len(b.orphanQ) > maxPnLTrades {
			delete(b.orphans, b.orphanQ[0])
			b.orphanQ = b.orphanQ[1:]
		}
	}
	b.lastFill = max(b.lastFill, f.TS)
	a := b.reg.Asset(f.Inst)
	if a == nil {
		return
	}
	sc := a.Scale
	q := decimal.New(int64(f.Qty), -int32(sc.Qty))
	n := decimal.New(int64(f.Px), -int32(sc.Px)).Mul(q)
	fee := decimal.New(f.Fee.V, -int32(f.Fee.Dec))
	if f.Side == exchange.Buy {
		b.move(f.Venue, a.Base, q)
		b.move(f.Venue, a.Quote, n.Neg())
	} else {
		b.move(f.Venue, a.Base, q.Neg())
		b.move(f.Venue, a.Quote, n)
	}
	if !f.FeeAsset.IsZero() && !fee.IsZero() {
		b.move(f.Venue, f.FeeAsset.String(), fee.Neg())
	}
	if t == nil {
		return
	}
	if f.Side == exchange.Buy {
		t.buyN, t.bought = t.buyN.Add(n), t.bought.Add(q)
	} else {
		t.sellN, t.sold = t.sellN.Add(n), t.sold.Add(q)
	}
	t.feeQ = t.feeQ.Add(fee.Mul(decimal.New(rec.FeeRate.V, -int32(rec.FeeRate.Dec))))
	if t.closed {
		b.count(t) // a late fill corrects the closed trade's PnL
	}
}

func (b *pnlBook) move(v exchange.VenueID, asset string, d decimal.Decimal) {
	k := posKey{v, asset}
	b.pos[k] = b.pos[k].Add(d)
}

// count (re)counts a closed trade's realized net into the totals.
func (b *pnlBook) count(t *pnlTrade) {
	net, fee := t.realized(), t.feeQ
	dn, df := net.Sub(t.net), fee.Sub(t.fee)
	first := !t.counted
	t.counted = true
	t.net, t.fee = net, fee
	if !b.equiv[t.op.Legs[execute.LegBuy].Quote] {
		return // another currency: not summed into the account's PnL
	}
	b.net, b.fees = b.net.Add(dn), b.fees.Add(df)
	pk := pairKey{t.op.Symbol, b.reg.VenueName(t.op.Legs[execute.LegBuy].Venue), b.reg.VenueName(t.op.Legs[execute.LegSell].Venue)}
	p := b.pairs[pk]
	if p == nil {
		p = &pairPnL{}
		b.pairs[pk] = p
	}
	p.net, p.fees = p.net.Add(dn), p.fees.Add(df)
	if first {
		b.n++
		p.n++
	}
	day := t.closedAt / int64(24*time.Hour)
	if day > b.day {
		b.day, b.dayNet = day, 0
	}
	if day == b.day {
		f, _ := dn.Float64()
		b.dayNet += f
	}
}

// realized is execute.Trade.Realized over the book's aggregates.
func (t *pnlTrade) realized() decimal.Decimal {
	sc := t.op.Scale
	r := t.sellN.Sub(t.buyN).Sub(t.feeQ)
	places := int32(sc.Px) + int32(sc.Qty)
	switch c := t.bought.Cmp(t.sold); {
	case c > 0:
		r = r.Add(t.buyN.Mul(t.bought.Sub(t.sold)).Div(t.bought).Truncate(places))
	case c < 0:
		owed := t.sellN.Mul(t.sold.Sub(t.bought)).Div(t.sold)
		if !owed.Equal(owed.Truncate(places)) {
			owed = owed.Truncate(places).Add(decimal.New(1, -places))
		}
		r = r.Sub(owed)
	}
	return r
}

// trim forgets the oldest closed trades beyond maxPnLTrades (their totals
// stay counted; a late fill of theirs counts in positions only).
func (b *pnlBook) trim() {
	for len(b.closedQ) > maxPnLTrades {
		id := b.closedQ[0]
		b.closedQ = b.closedQ[1:]
		if t := b.trades[id]; t != nil {
			for k := range t.fills {
				b.orphans[k] = true
				b.orphanQ = append(b.orphanQ, k)
			}
			delete(b.trades, id)
		}
	}
	for len(b.orphanQ) > maxPnLTrades {
		delete(b.orphans, b.orphanQ[0])
		b.orphanQ = b.orphanQ[1:]
	}
}

// report is /api/v1/pnl.
func (b *pnlBook) report() httpapi.PnLReport {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := httpapi.PnLReport{Currency: b.acct, Realized: b.net.Add(b.fees).String(), Fees: b.fees.String(),
		Net: b.net.String(), Trades: b.n, AsOf: time.Now().UTC()}
	for k, p := range b.pairs {
		r.Pairs = append(r.Pairs, httpapi.PairPnL{Symbol: k.symbol, BuyVenue: k.buy, SellVenue: k.sell, Trades: p.n,
			Realized: p.net.Add(p.fees).String(), Fees: p.fees.String()})
	}
	sort.Slice(r.Pairs, func(i, j int) bool {
		a, c := r.Pairs[i], r.Pairs[j]
		if a.Symbol != c.Symbol {
			return a.Symbol < c.Symbol
		}
		if a.BuyVenue != c.BuyVenue {
			return a.BuyVenue < c.BuyVenue
		}
		return a.SellVenue < c.SellVenue
	})
	return r
}

// position returns the net amount of asset moved on venue v by arb's
// fills.
func (b *pnlBook) position(v exchange.VenueID, asset string) (decimal.Decimal, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.pos[posKey{v, asset}]
	return d, ok
}

// realizedToday returns the realized net of the trades closed on the UTC
// day of now (the risk rules' account.realized_pnl_today).
func (b *pnlBook) realizedToday(now int64) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now/int64(24*time.Hour) != b.day {
		return 0
	}
	return b.dayNet
}

// formatAmount renders an exact amount as decimal text.
func formatAmount(a num.Amount) string { return decimal.New(a.V, -int32(a.Dec)).String() }
