package paper

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// Compile-time checks: the roles a trading client offers.
var (
	_ exchange.Trader          = (*Venue)(nil)
	_ exchange.Reconciler      = (*Venue)(nil)
	_ exchange.Accounts        = (*Venue)(nil)
	_ exchange.PrivateStream   = (*Venue)(nil)
	_ exchange.CircuitReporter = (*Venue)(nil)
)

// Books returns the latest book of an instrument on the venue (its feed's
// newest BookTop), and false when there is none. It is called from the
// goroutines of PlaceOrder and must be safe for concurrent use.
type Books func(inst exchange.InstrumentID) (exchange.BookTop, bool)

// Config parameterizes a paper Venue.
type Config struct {
	Venue exchange.VenueID
	Name  string // the operator's venue name (errors)
	// Instruments are the venue's listings with their filters, in each
	// instrument's Scale (the same the real client would get).
	Instruments []exchange.Instrument
	// FeeBps is the taker fee, in basis points (kept to 0.01 bp).
	FeeBps float64
	// FeeInBase charges the fee in the base asset instead of the quote.
	FeeInBase bool
	// Balances are the starting amounts per asset code. An asset no
	// instrument uses is an error.
	Balances map[string]num.Amount
	// Latency is how long an order takes from the call to its fill.
	Latency time.Duration
	// MaxBookAge is the oldest book (by its receive time) an order fills
	// against; default 5 s.
	MaxBookAge time.Duration
	// Books is the venue's live book (required).
	Books Books
	// Now is the wall clock, Unix ns (default time.Now).
	Now func() int64
	// MaxOrders bounds the orders remembered (default 65536).
	MaxOrders int
}

// Venue is a paper venue for one venue's listings. Lifecycle: New; Run and
// RunPrivate may be run (they only wait for ctx, the second keeping the
// sink); every method is safe for concurrent use.
type Venue struct {
	cfg    Config
	feeE2  int64 // fee in hundredths of a basis point
	insts  map[exchange.InstrumentID]*exchange.Instrument
	assets map[string]*asset

	mu     sync.Mutex
	orders map[exchange.ID]*order
	fifo   []exchange.ID
	fills  []exchange.Fill
	used   map[levelKey]num.Qty
	usedAt map[exchange.InstrumentID]uint64 // book seq the used levels belong to
	seq    uint64                           // venue order and trade ids

	sink atomic.Pointer[sinkBox]
	// Orders and Fills count what the venue did, for metrics.
	stats Stats
}

// Stats are the venue's counters (any goroutine may read them).
type Stats struct {
	Orders  atomic.Uint64 // accepted
	Refused atomic.Uint64 // refused: filters, balance, duplicate id, no instrument
	Fills   atomic.Uint64
	NoBook  atomic.Uint64 // orders that found no usable book and expired unfilled
}

type sinkBox struct{ s exchange.PrivateSink }

type asset struct {
	dec    uint8    // the asset's scale: exact for every notional
	total  *big.Int // what the account holds, 10^-dec units
	locked *big.Int // reserved by orders not yet done
}

// reportDec is the most decimals an amount is reported with (balances,
// fees, filled quote): what the venues print. Balances are kept exactly
// in the asset's own scale (a quote asset's price + quantity decimals,
// which can be 16) and floored to this when reported; a fee is rounded up
// to it when charged.
const reportDec = 8

type order struct {
	st          exchange.OrderState
	filledQuote *big.Int // Σ price × quantity, px+qty decimals
	lockA       string   // asset reserved
	lockV       *big.Int
	fills       int
	finish      sync.Once
}

type levelKey struct {
	inst exchange.InstrumentID
	side exchange.Side // the book side taken from
	px   num.Price
}

// New returns a paper venue for cfg.
func New(cfg Config) (*Venue, error) {
	if cfg.Books == nil {
		return nil, errors.New("paper: Books is required")
	}
	if cfg.Venue == 0 {
		return nil, errors.New("paper: Venue must be set")
	}
	if cfg.FeeBps < 0 || cfg.FeeBps > 1000 || math.IsNaN(cfg.FeeBps) {
		return nil, fmt.Errorf("paper: fee %v bps outside 0..1000", cfg.FeeBps)
	}
	if cfg.Latency < 0 {
		return nil, errors.New("paper: negative latency")
	}
	if cfg.MaxBookAge <= 0 {
		cfg.MaxBookAge = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = func() int64 { return time.Now().UnixNano() }
	}
	if cfg.MaxOrders <= 0 {
		cfg.MaxOrders = 1 << 16
	}
	v := &Venue{cfg: cfg, feeE2: int64(math.Round(cfg.FeeBps * 100)),
		insts: map[exchange.InstrumentID]*exchange.Instrument{}, assets: map[string]*asset{},
		orders: map[exchange.ID]*order{}, used: map[levelKey]num.Qty{}, usedAt: map[exchange.InstrumentID]uint64{}}
	need := func(name string, dec uint8) {
		a := v.assets[name]
		if a == nil {
			a = &asset{total: new(big.Int), locked: new(big.Int)}
			v.assets[name] = a
		}
		a.dec = max(a.dec, dec)
	}
	for i := range cfg.Instruments {
		in := &cfg.Instruments[i]
		if !in.Scale.Valid() || in.Scale.Px+in.Scale.Qty > num.MaxDecimals {
			return nil, fmt.Errorf("paper: %s: scale %d+%d decimals is too fine for exact notionals", in.Canonical, in.Scale.Px, in.Scale.Qty)
		}
		v.insts[in.ID] = in
		need(in.Base, in.Scale.Qty)
		need(in.Quote, in.Scale.Px+in.Scale.Qty)
	}
	for name, amt := range cfg.Balances {
		a := v.assets[name]
		if a == nil {
			return nil, fmt.Errorf("paper: balance of %s: no instrument of venue %s uses it", name, cfg.Name)
		}
		if amt.V < 0 || amt.Dec > a.dec {
			return nil, fmt.Errorf("paper: balance of %s %s: negative or finer than the asset's %d decimals", name, amt, a.dec)
		}
		a.total = rescale(big.NewInt(amt.V), amt.Dec, a.dec)
	}
	return v, nil
}

// Stats returns the venue's counters.
func (v *Venue) Stats() *Stats { return &v.stats }

// Run waits for ctx: a paper venue has no connection to keep.
func (v *Venue) Run(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// RunPrivate delivers every order state and fill to sink until ctx ends;
// the stream is up at once and never drops.
func (v *Venue) RunPrivate(ctx context.Context, sink exchange.PrivateSink) error {
	if sink == nil {
		return errors.New("paper: RunPrivate needs a sink")
	}
	if !v.sink.CompareAndSwap(nil, &sinkBox{sink}) {
		return errors.New("paper: RunPrivate is already running")
	}
	defer v.sink.Store(nil)
	sink.OnStream(true)
	<-ctx.Done()
	return ctx.Err()
}

// Circuit implements exchange.CircuitReporter: a paper venue is never
// closed.
func (v *Venue) Circuit() exchange.Circuit { return exchange.Circuit{} }

func (v *Venue) errorf(kind exchange.ErrorKind, format string, a ...any) *exchange.Error {
	return &exchange.Error{Kind: kind, Venue: v.cfg.Name, Msg: fmt.Sprintf(format, a...)}
}

func (v *Venue) refuse(format string, a ...any) (exchange.OrderState, error) {
	v.stats.Refused.Add(1)
	return exchange.OrderState{}, v.errorf(exchange.KindRejected, format, a...)
}

// PlaceOrder implements exchange.Trader (see the package doc).
func (v *Venue) PlaceOrder(ctx context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	in := v.insts[req.Inst]
	switch {
	case in == nil:
		return v.refuse("instrument %d is not listed", req.Inst)
	case !exchange.ValidClientID(req.ClientID):
		return v.refuse("client order id %q is not 1–%d letters and digits", req.ClientID.String(), exchange.ClientIDMax)
	case req.Side != exchange.Buy && req.Side != exchange.Sell:
		return v.refuse("invalid side")
	case req.TIF != exchange.IOC && req.TIF != exchange.FOK:
		return v.refuse("a paper venue fills IOC and FOK orders only")
	}
	px, qty := req.Px, req.Qty
	if in.Tick > 0 {
		if req.Side == exchange.Buy {
			px = num.Price(num.FloorTo(int64(px), int64(in.Tick)))
		} else {
			px = num.Price(num.CeilTo(int64(px), int64(in.Tick)))
		}
	}
	if in.Step > 0 {
		qty = num.Qty(num.FloorTo(int64(qty), int64(in.Step)))
	}
	if px <= 0 || qty <= 0 {
		return v.refuse("price %d or quantity %d not positive on the grid", px, qty)
	}
	if in.MinQty > 0 && qty < in.MinQty {
		return v.refuse("quantity %s below the minimum %s", num.Format(int64(qty), in.Scale.Qty), num.Format(int64(in.MinQty), in.Scale.Qty))
	}
	notional, ok := num.Notional(px, qty, in.Scale)
	if !ok {
		return v.refuse("notional overflows")
	}
	if in.MinNotional > 0 && notional < in.MinNotional {
		return v.refuse("notional %s below the minimum %s", num.Format(int64(notional), in.Scale.Px), num.Format(int64(in.MinNotional), in.Scale.Px))
	}

	now := v.cfg.Now()
	v.mu.Lock()
	if o := v.orders[req.ClientID]; o != nil {
		st := o.st
		v.mu.Unlock()
		v.stats.Refused.Add(1)
		return st, v.errorf(exchange.KindDuplicate, "client order id %s was used before", req.ClientID.String())
	}
	lockA, lockV, err := v.reserve(in, req.Side, px, qty)
	if err != nil {
		v.mu.Unlock()
		v.stats.Refused.Add(1)
		return exchange.OrderState{}, err
	}
	v.seq++
	o := &order{lockA: lockA, lockV: lockV, filledQuote: new(big.Int), st: exchange.OrderState{
		Venue: v.cfg.Venue, Inst: in.ID, Side: req.Side, TIF: req.TIF, Status: exchange.StatusNew,
		ClientID: req.ClientID, VenueOrderID: exchange.MustID("p" + strconv.FormatUint(v.seq, 10)),
		Px: px, Qty: qty, FilledQuote: num.AmountOf(0, in.Scale.Px+in.Scale.Qty), TS: now,
	}}
	v.remember(o)
	accepted := o.st
	v.mu.Unlock()
	v.stats.Orders.Add(1)
	v.deliver(&accepted, nil)

	if v.cfg.Latency > 0 {
		t := time.NewTimer(v.cfg.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			// The venue has the order: it executes when it would have,
			// and the caller, who gave up, resolves it by a query.
			rest := time.Duration(now + int64(v.cfg.Latency) - v.cfg.Now())
			go func() {
				time.Sleep(rest)
				v.finish(o)
			}()
			return exchange.OrderState{}, &exchange.Error{Kind: exchange.KindUnknownOutcome, Venue: v.cfg.Name, Err: ctx.Err()}
		}
	}
	return v.finish(o), nil
}

// reserve checks and locks what an order may spend (mu held).
func (v *Venue) reserve(in *exchange.Instrument, side exchange.Side, px num.Price, qty num.Qty) (string, *big.Int, error) {
	var name string
	var need *big.Int
	sc := in.Scale
	if side == exchange.Buy {
		name = in.Quote
		n := mul(int64(px), int64(qty)) // px+qty decimals
		if !v.cfg.FeeInBase {
			n.Add(n, v.feeOf(n))
		}
		need = n
		need = rescale(need, sc.Px+sc.Qty, v.assets[name].dec)
	} else {
		name = in.Base
		n := big.NewInt(int64(qty))
		if v.cfg.FeeInBase {
			n.Add(n, v.feeOf(n))
		}
		need = rescale(n, sc.Qty, v.assets[name].dec)
	}
	a := v.assets[name]
	free := new(big.Int).Sub(a.total, a.locked)
	if free.Cmp(need) < 0 {
		return "", nil, v.errorf(exchange.KindRejected, "insufficient balance: %s free %s, needed %s", name,
			formatBig(free, a.dec), formatBig(need, a.dec))
	}
	a.locked.Add(a.locked, need)
	return name, need, nil
}

// finish matches o against the book once and returns its state (later
// calls only return the state).
func (v *Venue) finish(o *order) exchange.OrderState {
	o.finish.Do(func() {
		v.mu.Lock()
		fills := v.match(o)
		st := o.st
		v.mu.Unlock()
		v.deliver(&st, fills)
	})
	v.mu.Lock()
	defer v.mu.Unlock()
	return o.st
}

// match fills o from the book (mu held) and returns its fills.
func (v *Venue) match(o *order) []exchange.Fill {
	st := &o.st
	in := v.insts[st.Inst]
	now := v.cfg.Now()
	defer func() {
		if o.lockV != nil {
			a := v.assets[o.lockA]
			a.locked.Sub(a.locked, o.lockV)
			o.lockV = nil
		}
	}()
	if st.Status != exchange.StatusNew { // cancelled during the latency
		return nil
	}
	st.TS = now
	book, ok := v.cfg.Books(st.Inst)
	if !ok || book.Stale() || now-book.RecvTS > int64(v.cfg.MaxBookAge) {
		v.stats.NoBook.Add(1)
		st.Status = exchange.StatusExpired
		return nil
	}
	if v.usedAt[st.Inst] != book.Seq {
		for k := range v.used {
			if k.inst == st.Inst {
				delete(v.used, k)
			}
		}
		v.usedAt[st.Inst] = book.Seq
	}
	levels, n, from := book.Asks[:], int(book.NAsks), exchange.Sell
	if st.Side == exchange.Sell {
		levels, n, from = book.Bids[:], int(book.NBids), exchange.Buy
	}
	type take struct {
		px  num.Price
		qty num.Qty
	}
	var takes []take
	left := st.Qty
	for i := 0; i < n && left > 0; i++ {
		lv := levels[i]
		if st.Side == exchange.Buy && lv.Px > st.Px || st.Side == exchange.Sell && lv.Px < st.Px {
			break
		}
		k := levelKey{st.Inst, from, lv.Px}
		q := min(lv.Qty-v.used[k], left)
		if in.Step > 0 {
			q = num.Qty(num.FloorTo(int64(q), int64(in.Step)))
		}
		if q <= 0 {
			continue
		}
		takes = append(takes, take{lv.Px, q})
		left -= q
	}
	if st.TIF == exchange.FOK && left > 0 {
		st.Status = exchange.StatusExpired
		return nil
	}
	fills := make([]exchange.Fill, 0, len(takes))
	for _, tk := range takes {
		v.used[levelKey{st.Inst, from, tk.px}] += tk.qty
		f, ok := v.fill(o, in, tk.px, tk.qty, now)
		if !ok {
			break
		}
		fills = append(fills, f)
	}
	switch {
	case st.FilledQty == st.Qty:
		st.Status = exchange.StatusFilled
	default:
		st.Status = exchange.StatusExpired
	}
	return fills
}

// fill books one execution (mu held).
func (v *Venue) fill(o *order, in *exchange.Instrument, px num.Price, qty num.Qty, now int64) (exchange.Fill, bool) {
	st := &o.st
	sc := in.Scale
	base, quote := v.assets[in.Base], v.assets[in.Quote]
	notional := mul(int64(px), int64(qty)) // px+qty decimals, exact
	nq := rescale(notional, sc.Px+sc.Qty, quote.dec)
	bq := rescale(big.NewInt(int64(qty)), sc.Qty, base.dec)
	// The fee, rounded up to what a venue prints (reportDec).
	feeAsset, fa := in.Quote, quote
	raw, rawDec := v.feeOf(notional), sc.Px+sc.Qty
	if v.cfg.FeeInBase {
		feeAsset, fa = in.Base, base
		raw, rawDec = v.feeOf(big.NewInt(int64(qty))), sc.Qty
	}
	feeDec := min(fa.dec, reportDec)
	fee := ceilTo(raw, rawDec, feeDec)
	if !fee.IsInt64() {
		return exchange.Fill{}, false
	}
	if st.Side == exchange.Buy {
		quote.total.Sub(quote.total, nq)
		base.total.Add(base.total, bq)
	} else {
		base.total.Sub(base.total, bq)
		quote.total.Add(quote.total, nq)
	}
	fa.total.Sub(fa.total, rescale(fee, feeDec, fa.dec))
	st.FilledQty += qty
	o.filledQuote.Add(o.filledQuote, notional)
	st.FilledQuote = amountOf(o.filledQuote, sc.Px+sc.Qty)
	v.seq++
	o.fills++
	f := exchange.Fill{Venue: v.cfg.Venue, Inst: in.ID, Side: st.Side, TradeID: exchange.MustID("t" + strconv.FormatUint(v.seq, 10)),
		ClientID: st.ClientID, VenueOrderID: st.VenueOrderID, Px: px, Qty: qty,
		Fee: num.AmountOf(fee.Int64(), feeDec), FeeAsset: exchange.MustID(feeAsset), TS: now}
	v.fills = append(v.fills, f)
	if len(v.fills) > v.cfg.MaxOrders {
		v.fills = append(v.fills[:0], v.fills[len(v.fills)-v.cfg.MaxOrders:]...)
	}
	v.stats.Fills.Add(1)
	return f, true
}

// amountOf returns x (in dec decimals) as an Amount, floored to reportDec
// decimals if it does not fit otherwise.
func amountOf(x *big.Int, dec uint8) num.Amount {
	if x.IsInt64() && dec <= reportDec {
		return num.AmountOf(x.Int64(), dec)
	}
	f := floorTo(x, dec, min(dec, reportDec))
	if !f.IsInt64() {
		return num.AmountOf(math.MaxInt64, min(dec, reportDec))
	}
	return num.AmountOf(f.Int64(), min(dec, reportDec))
}

// floorTo returns x (from decimals) in to ≤ from decimals, rounded toward
// zero.
func floorTo(x *big.Int, from, to uint8) *big.Int {
	if to >= from {
		return rescale(x, from, to)
	}
	return new(big.Int).Quo(x, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(from-to)), nil))
}

// ceilTo returns x ≥ 0 (from decimals) in to decimals, rounded up.
func ceilTo(x *big.Int, from, to uint8) *big.Int {
	if to >= from {
		return rescale(x, from, to)
	}
	d := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(from-to)), nil)
	q, r := new(big.Int).QuoRem(x, d, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// feeOf returns the fee on an amount: amount × fee rate, rounded up.
func (v *Venue) feeOf(amount *big.Int) *big.Int {
	f := new(big.Int).Mul(amount, big.NewInt(v.feeE2))
	d := big.NewInt(1_000_000) // hundredths of a basis point
	q, r := new(big.Int).QuoRem(f, d, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

func mul(a, b int64) *big.Int { return new(big.Int).Mul(big.NewInt(a), big.NewInt(b)) }

// rescale returns x (in from decimals) in to ≥ from decimals, exactly.
func rescale(x *big.Int, from, to uint8) *big.Int {
	if to <= from {
		return x
	}
	return new(big.Int).Mul(x, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to-from)), nil))
}

func formatBig(x *big.Int, dec uint8) string {
	if x.IsInt64() {
		return num.Format(x.Int64(), dec)
	}
	return x.String() + "e-" + strconv.Itoa(int(dec))
}

// remember keeps o, forgetting the oldest order beyond MaxOrders (mu held).
func (v *Venue) remember(o *order) {
	v.orders[o.st.ClientID] = o
	v.fifo = append(v.fifo, o.st.ClientID)
	if len(v.fifo) > v.cfg.MaxOrders {
		old := v.fifo[0]
		v.fifo = v.fifo[1:]
		if x := v.orders[old]; x != nil && x.st.Status.Final() {
			delete(v.orders, old)
		}
	}
}

// deliver hands a state and its fills to the private sink, if any.
func (v *Venue) deliver(st *exchange.OrderState, fills []exchange.Fill) {
	b := v.sink.Load()
	if b == nil {
		return
	}
	for i := range fills {
		b.s.OnFill(fills[i])
	}
	b.s.OnOrder(*st)
}

// QueryOrder implements exchange.Trader.
func (v *Venue) QueryOrder(_ context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	o := v.orders[clientID]
	if o == nil || o.st.Inst != inst {
		return exchange.OrderState{}, v.errorf(exchange.KindNotFound, "unknown order %s", clientID.String())
	}
	return o.st, nil
}

// CancelOrder implements exchange.Trader: an order still in its latency is
// cancelled unfilled; a done order's final state is returned as it is.
func (v *Venue) CancelOrder(_ context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	v.mu.Lock()
	o := v.orders[clientID]
	if o == nil || o.st.Inst != inst {
		v.mu.Unlock()
		return exchange.OrderState{}, v.errorf(exchange.KindNotFound, "unknown order %s", clientID.String())
	}
	if o.st.Status != exchange.StatusNew {
		st := o.st
		v.mu.Unlock()
		return st, nil
	}
	o.st.Status, o.st.TS = exchange.StatusCanceled, v.cfg.Now()
	st := o.st
	v.mu.Unlock()
	v.finish(o) // releases the reservation; the match sees it cancelled
	return st, nil
}

// OpenOrders implements exchange.Reconciler: orders still in their latency.
func (v *Venue) OpenOrders(_ context.Context, inst exchange.InstrumentID) ([]exchange.OrderState, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []exchange.OrderState
	for _, id := range v.fifo {
		if o := v.orders[id]; o != nil && o.st.Status == exchange.StatusNew && (inst == 0 || o.st.Inst == inst) {
			out = append(out, o.st)
		}
	}
	return out, nil
}

// FillsSince implements exchange.Reconciler.
func (v *Venue) FillsSince(_ context.Context, inst exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []exchange.Fill
	for _, f := range v.fills {
		if f.TS >= since && (inst == 0 || f.Inst == inst) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Balances implements exchange.Accounts: every asset of the venue's
// listings, in its own scale.
func (v *Venue) Balances(context.Context) ([]exchange.Balance, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]exchange.Balance, 0, len(v.assets))
	for name, a := range v.assets {
		out = append(out, exchange.Balance{Venue: v.cfg.Venue, Asset: name, Total: amountOf(a.total, a.dec), Locked: amountOf(a.locked, a.dec)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out, nil
}
