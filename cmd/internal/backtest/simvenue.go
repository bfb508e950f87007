package backtest

import (
	"context"
	"fmt"
	"math/big"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/book"
)

// simVenue is one recorded venue as a trading venue: it fills IOC (and
// FOK) limit orders against the recorded book at the moment the order
// arrives, level by level, best first, one fill per level, at the taker
// fee. Liquidity an order takes is gone for the next order until the book
// refreshes that level: a taken amount is remembered per price with the
// level's quantity when it was taken, and forgotten once the recorded book
// shows that level with another quantity (the venue's own update replaced
// it) or no longer shows it. Only the top exchange.TopK levels the
// adapters publish are known; nothing fills beyond them. A book that is
// stale or missing fills nothing (the venue's real state is not known).
//
// The account is exact, in each asset's decimals: an order needs its
// worst case free (a buy its limit × quantity plus the fee in quote, a
// sell its quantity) or is rejected, as a venue does.
type simVenue struct {
	id      exchange.VenueID
	name    string
	store   *book.Store
	reg     *exchange.Registry
	feeBps  *big.Rat // taker fee rate as a fraction
	feeBase bool     // fee charged in the base asset (fee_asset: base), else in quote
	// feeRecv: the fee is charged in the asset the order receives (a
	// buy's in base, a sell's in quote), rounded half up to 8 decimals,
	// as exchange/sim (and the spot venues it imitates) charge it; set for
	// venues recorded from the simulator, whatever fee_asset says.
	feeRecv bool
	latency int64 // one-way, ns
	now     func() int64

	orders   map[exchange.ID]*simOrder
	order    []exchange.ID // FIFO of order ids, to bound the map
	fills    []exchange.Fill
	taken    map[takeKey]taken
	bal      map[string]*big.Rat
	nextOID  uint64
	nextFill uint64

	// Counters for the report.
	Orders, Rejected, Unfilled, NoBook uint64
}

// Orders are kept for the executor's queries while their trade is open:
// the engine forgets a trade's orders when it closes (forget), so what is
// kept is bounded by the open trades, not the recording's length;
// keepOrders only caps what abandoned trades leave. Fills are kept for
// FillsSince (the executor's recovery of an order whose outcome is
// unknown, which asks for the last moments), the newest keepFills.
const keepOrders = 1 << 12
const keepFills = 256

type simOrder struct {
	st    exchange.OrderState
	fills []exchange.Fill
}

type takeKey struct {
	inst exchange.InstrumentID
	side exchange.Side // the book side taken from: Sell = asks
	px   num.Price
}

type taken struct {
	levelQty num.Qty // the level's quantity when it was (last) taken from
	qty      num.Qty // taken since
}

func newSimVenue(id exchange.VenueID, name string, reg *exchange.Registry, store *book.Store, feeBps float64, feeAsset string, feeRecv bool, latency int64, now func() int64) *simVenue {
	r := new(big.Rat).SetFloat64(feeBps)
	r.Quo(r, big.NewRat(10000, 1))
	return &simVenue{id: id, name: name, reg: reg, store: store, feeBps: r, feeBase: feeAsset == "base", feeRecv: feeRecv, latency: latency, now: now,
		orders: map[exchange.ID]*simOrder{}, taken: map[takeKey]taken{}, bal: map[string]*big.Rat{}}
}

// deposit credits an asset (the starting balances).
func (v *simVenue) deposit(asset string, amount *big.Rat) {
	b := v.bal[asset]
	if b == nil {
		b = new(big.Rat)
		v.bal[asset] = b
	}
	b.Add(b, amount)
}

func rat(v int64, dec uint8) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(v), big.NewInt(num.Pow10(dec)))
}

// roundUp rounds a non-negative r up to dec decimals, as an exact amount.
func roundUp(r *big.Rat, dec uint8) num.Amount {
	p := big.NewInt(num.Pow10(dec))
	n := new(big.Int).Mul(r.Num(), p)
	q, m := new(big.Int).QuoRem(n, r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return num.AmountOf(q.Int64(), dec)
}

// simFeeDec is the decimals exchange/sim rounds fees to.
const simFeeDec = 8

// roundHalfUp returns r (≥ 0) at dec decimals, rounded half up.
func roundHalfUp(r *big.Rat, dec uint8) num.Amount {
	n := new(big.Int).Mul(r.Num(), big.NewInt(num.Pow10(dec)))
	q, m := new(big.Int).QuoRem(n, r.Denom(), new(big.Int))
	if m.Lsh(m, 1).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return num.AmountOf(q.Int64(), dec)
}

func (v *simVenue) reject(req *exchange.OrderRequest, msg string) (exchange.OrderState, error) {
	v.Rejected++
	st := exchange.OrderState{Venue: v.id, Inst: req.Inst, Side: req.Side, TIF: req.TIF, Status: exchange.StatusRejected,
		ClientID: req.ClientID, Px: req.Px, Qty: req.Qty}
	v.remember(&simOrder{st: st})
	return st, &exchange.Error{Kind: exchange.KindRejected, Venue: v.name, Msg: msg}
}

// PlaceOrder matches req against the current book (the caller has
// advanced the replay to the order's arrival).
func (v *simVenue) PlaceOrder(_ context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	if o, ok := v.orders[req.ClientID]; ok {
		return o.st, &exchange.Error{Kind: exchange.KindDuplicate, Venue: v.name, Msg: "duplicate client order id"}
	}
	v.Orders++
	a := v.reg.Asset(req.Inst)
	if a == nil || req.Qty <= 0 || req.Px <= 0 {
		return v.reject(&req, "bad order")
	}
	sc := a.Scale
	if req.TIF != exchange.IOC && req.TIF != exchange.FOK {
		return v.reject(&req, "only IOC and FOK orders are simulated")
	}
	// The worst case must be free.
	need, asset := rat(int64(req.Qty), sc.Qty), a.Base
	if req.Side == exchange.Buy {
		need = new(big.Rat).Mul(rat(int64(req.Px), sc.Px), rat(int64(req.Qty), sc.Qty))
		if !v.feeBase && !v.feeRecv {
			need.Add(need, new(big.Rat).Mul(need, v.feeBps))
		}
		asset = a.Quote
	}
	if b := v.bal[asset]; b == nil || b.Cmp(need) < 0 {
		return v.reject(&req, "insufficient balance")
	}
	v.nextOID++
	st := exchange.OrderState{Venue: v.id, Inst: req.Inst, Side: req.Side, TIF: req.TIF, ClientID: req.ClientID,
		VenueOrderID: exchange.MustID(fmt.Sprintf("%d", v.nextOID)), Px: req.Px, Qty: req.Qty}
	o := &simOrder{}
	bk := v.store.Book(v.id, req.Inst)
	if bk == nil || bk.Stale() {
		v.NoBook++
		bk = nil
	}
	var levels []exchange.Level
	side := exchange.Sell // a buy takes the asks
	if bk != nil {
		if req.Side == exchange.Buy {
			levels = bk.Asks[:bk.NAsks]
		} else {
			levels, side = bk.Bids[:bk.NBids], exchange.Buy
		}
	}
	// Available per level, honouring what earlier orders took.
	left := req.Qty
	type take struct {
		px  num.Price
		qty num.Qty
		lvl num.Qty
	}
	var takes [exchange.TopK]take
	n := 0
	for _, l := range levels {
		if left == 0 || (req.Side == exchange.Buy && l.Px > req.Px) || (req.Side == exchange.Sell && l.Px < req.Px) {
			break
		}
		avail := l.Qty
		if t, ok := v.taken[takeKey{req.Inst, side, l.Px}]; ok && t.levelQty == l.Qty {
			avail -= t.qty
		}
		if avail <= 0 {
			continue
		}
		q := min(avail, left)
		takes[n] = take{l.Px, q, l.Qty}
		n++
		left -= q
	}
	if req.TIF == exchange.FOK && left > 0 {
		n, left = 0, req.Qty
	}
	v.prune(req.Inst, side, levels)
	for _, t := range takes[:n] {
		k := takeKey{req.Inst, side, t.px}
		prev := v.taken[k]
		if prev.levelQty != t.lvl {
			prev = taken{levelQty: t.lvl}
		}
		prev.qty += t.qty
		v.taken[k] = prev
		f := v.fill(&req, &st, a, t.px, t.qty)
		o.fills = append(o.fills, f)
	}
	switch {
	case left == 0:
		st.Status = exchange.StatusFilled
	default:
		st.Status = exchange.StatusExpired // the IOC remainder
		if st.FilledQty == 0 {
			v.Unfilled++
		}
	}
	st.TS = v.now()
	o.st = st
	v.remember(o)
	return st, nil
}

// fill books one execution: balances, the order's totals, the fill list.
func (v *simVenue) fill(req *exchange.OrderRequest, st *exchange.OrderState, a *exchange.Asset, px num.Price, qty num.Qty) exchange.Fill {
	sc := a.Scale
	notional := new(big.Rat).Mul(rat(int64(px), sc.Px), rat(int64(qty), sc.Qty))
	base := rat(int64(qty), sc.Qty)
	var fee num.Amount
	feeAsset := a.Quote
	switch {
	case v.feeRecv && req.Side == exchange.Buy:
		fee, feeAsset = roundHalfUp(new(big.Rat).Mul(base, v.feeBps), simFeeDec), a.Base
	case v.feeRecv:
		fee = roundHalfUp(new(big.Rat).Mul(notional, v.feeBps), simFeeDec)
	case v.feeBase:
		fee, feeAsset = roundUp(new(big.Rat).Mul(base, v.feeBps), sc.Qty), a.Base
	default:
		fee = roundUp(new(big.Rat).Mul(notional, v.feeBps), sc.Px+sc.Qty)
	}
	feeR := rat(fee.V, fee.Dec)
	if req.Side == exchange.Buy {
		v.deposit(a.Base, base)
		v.deposit(a.Quote, new(big.Rat).Neg(notional))
	} else {
		v.deposit(a.Base, new(big.Rat).Neg(base))
		v.deposit(a.Quote, notional)
	}
	v.deposit(feeAsset, new(big.Rat).Neg(feeR))
	st.FilledQty += qty
	fq := st.FilledQuote
	sum := new(big.Rat).Add(rat(fq.V, fq.Dec), notional)
	st.FilledQuote = roundUp(sum, sc.Px+sc.Qty)
	v.nextFill++
	f := exchange.Fill{Venue: v.id, Inst: req.Inst, Side: req.Side, TradeID: exchange.MustID(fmt.Sprintf("t%d", v.nextFill)),
		ClientID: req.ClientID, VenueOrderID: st.VenueOrderID, Px: px, Qty: qty, Fee: fee,
		FeeAsset: exchange.MustID(feeAsset), TS: v.now()}
	v.fills = append(v.fills, f)
	if len(v.fills) > keepFills {
		v.fills = append(v.fills[:0], v.fills[len(v.fills)-keepFills/2:]...)
	}
	return f
}

// prune forgets taken amounts at prices the book no longer shows, or
// shows with another quantity.
func (v *simVenue) prune(inst exchange.InstrumentID, side exchange.Side, levels []exchange.Level) {
	for k, t := range v.taken {
		if k.inst != inst || k.side != side {
			continue
		}
		keep := false
		for _, l := range levels {
			if l.Px == k.px {
				keep = l.Qty == t.levelQty
				break
			}
		}
		if !keep {
			delete(v.taken, k)
		}
	}
}

func (v *simVenue) remember(o *simOrder) {
	id := o.st.ClientID
	if _, ok := v.orders[id]; !ok {
		v.order = append(v.order, id)
	}
	v.orders[id] = o
	for len(v.orders) > keepOrders {
		old := v.order[0]
		v.order = v.order[1:]
		delete(v.orders, old)
	}
	if len(v.order) > 2*len(v.orders)+64 {
		// Forgotten ids are dropped from the FIFO now and then.
		kept := v.order[:0:0]
		for _, id := range v.order {
			if _, ok := v.orders[id]; ok {
				kept = append(kept, id)
			}
		}
		v.order = kept
	}
}

// forget drops an order of a closed trade (nothing will query it again).
func (v *simVenue) forget(id exchange.ID) { delete(v.orders, id) }

// CancelOrder answers with the order's state: a simulated IOC is final
// as soon as it is placed.
func (v *simVenue) CancelOrder(_ context.Context, _ exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	if o, ok := v.orders[clientID]; ok {
		return o.st, nil
	}
	return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindNotFound, Venue: v.name, Msg: "unknown order"}
}

// QueryOrder returns the order's state.
func (v *simVenue) QueryOrder(_ context.Context, _ exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	if o, ok := v.orders[clientID]; ok {
		return o.st, nil
	}
	return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindNotFound, Venue: v.name, Msg: "unknown order"}
}

// FillsSince returns the kept fills of inst at or after since.
func (v *simVenue) FillsSince(_ context.Context, inst exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	var out []exchange.Fill
	for _, f := range v.fills {
		if f.Inst == inst && f.TS >= since {
			out = append(out, f)
		}
	}
	return out, nil
}
