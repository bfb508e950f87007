package sim

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// balDec is the precision of every balance the simulator keeps: 8 decimals,
// as Binance prints them. Config.Validate guarantees that every fill's quote
// amount (tick grid × step grid) and every fee (rounded to feeDec = 8) is
// exact at this precision, so balances move exactly.
const balDec = 8

// maxBalance caps a starting balance (10^10 of an asset) so that no sum of
// fills can overflow an int64 of 10^-8 units.
const maxBalance = 10_000_000_000 * 100_000_000

// holding is one asset of an account, in 10^-8 units: free to trade, and
// locked by open orders.
type holding struct{ free, locked int64 }

// account is a venue's one simulated account: what it holds, and which
// assets changed since the venue last pushed an account update on its
// private streams. Guarded by Sim.mu.
type account struct {
	assets  map[string]*holding
	names   []string // every asset ever held, sorted (the order of REST answers)
	changed map[string]bool
	updated time.Time // last change (Binance "u", OKX/Bybit uTime)
}

func newAccount(start map[string]string, syms []*symbol, now time.Time) *account {
	a := &account{assets: map[string]*holding{}, changed: map[string]bool{}, updated: now}
	for _, s := range syms {
		a.get(s.base)
		a.get(s.quote)
	}
	for asset, amt := range start {
		a.get(asset).free = mustParse(amt, balDec)
	}
	return a
}

func (a *account) get(asset string) *holding {
	h := a.assets[asset]
	if h == nil {
		h = &holding{}
		a.assets[asset] = h
		i, _ := slices.BinarySearch(a.names, asset)
		a.names = slices.Insert(a.names, i, asset)
	}
	return h
}

func (a *account) touch(asset string, now time.Time) {
	a.changed[asset] = true
	a.updated = now
}

// takeChanged returns the assets changed since the last call, sorted.
func (a *account) takeChanged() []string {
	if len(a.changed) == 0 {
		return nil
	}
	out := make([]string, 0, len(a.changed))
	for k := range a.changed {
		out = append(out, k)
	}
	slices.Sort(out)
	clear(a.changed)
	return out
}

// baseUnits converts a quantity in the symbol's scale to balance units.
func baseUnits(sym *symbol, qty int64) int64 {
	return qty * num.Pow10(balDec-sym.scale.Qty)
}

// quoteUnits is px·qty in balance units, and false if it does not fit an
// int64 (an absurd order, refused as unaffordable). Exact by Validate's
// tick+step rule.
func quoteUnits(sym *symbol, px, qty int64) (int64, bool) {
	n := new(big.Int).Mul(big.NewInt(px), big.NewInt(qty))
	dec := int(sym.scale.Px) + int(sym.scale.Qty)
	if dec > balDec {
		n.Quo(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec-balDec)), nil))
	} else {
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(balDec-dec)), nil))
	}
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// reserve locks what an order needs for its whole quantity: a buy locks
// limit price × quantity of the quote asset, a sell the quantity of the
// base asset (fees are taken from what the order receives, so they need no
// reserve). It reports false, changing nothing, when the free balance does
// not cover it.
func (a *account) reserve(ord *order, now time.Time) bool {
	sym := ord.vb.sym
	asset, need := sym.base, baseUnits(sym, ord.qty)
	if ord.side == exchange.Buy {
		var ok bool
		asset = sym.quote
		if need, ok = quoteUnits(sym, ord.px, ord.qty); !ok {
			return false
		}
	}
	h := a.get(asset)
	if h.free < need {
		return false
	}
	h.free -= need
	h.locked += need
	a.touch(asset, now)
	return true
}

// settle books one fill: the reserved part for its quantity leaves the
// locked balance (a buy filled below its limit gets the difference back as
// free), the received asset is credited net of the fee.
func (a *account) settle(ord *order, f *Fill, now time.Time) {
	sym := ord.vb.sym
	q := int64(f.Qty)
	value, _ := quoteUnits(sym, int64(f.Px), q) // ≤ the reserved amount, which fitted
	base, quote := a.get(sym.base), a.get(sym.quote)
	if ord.side == exchange.Buy {
		reserved, _ := quoteUnits(sym, ord.px, q)
		quote.locked -= reserved
		quote.free += reserved - value
		base.free += baseUnits(sym, q) - f.Fee
	} else {
		base.locked -= baseUnits(sym, q)
		quote.free += value - f.Fee
	}
	a.touch(sym.base, now)
	a.touch(sym.quote, now)
}

// release returns the reserve of an order's unfilled remainder when it
// ends (expired, cancelled).
func (a *account) release(ord *order, now time.Time) {
	rem := ord.qty - ord.filled
	if rem <= 0 {
		return
	}
	sym := ord.vb.sym
	asset, amt := sym.base, baseUnits(sym, rem)
	if ord.side == exchange.Buy {
		asset = sym.quote
		amt, _ = quoteUnits(sym, ord.px, rem)
	}
	h := a.get(asset)
	h.locked -= amt
	h.free += amt
	a.touch(asset, now)
}

// Balance returns the venue account's holding of asset — free to trade and
// locked by open orders — as exact amounts with 8 decimals; false for an
// unknown venue or an asset the account never held.
func (s *Sim) Balance(venue, asset string) (free, locked num.Amount, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.byName[venue]
	if v == nil {
		return num.Amount{}, num.Amount{}, false
	}
	h := v.acct.assets[asset]
	if h == nil {
		return num.Amount{}, num.Amount{}, false
	}
	return num.AmountOf(h.free, balDec), num.AmountOf(h.locked, balDec), true
}

// Deposit credits amount (a decimal with at most 8 decimals, positive or
// negative) to the venue account's free balance of asset, as an operator
// topping up a test account would. The change is pushed on the private
// streams like any other. It fails for an unknown venue, a bad amount or a
// withdrawal larger than the free balance.
func (s *Sim) Deposit(venue, asset, amount string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.byName[venue]
	if v == nil {
		return errors.New("sim: deposit: unknown venue " + venue)
	}
	if !isAlnumUpper(asset) {
		return errors.New("sim: deposit: bad asset " + asset)
	}
	neg := len(amount) > 0 && amount[0] == '-'
	if neg {
		amount = amount[1:]
	}
	x, err := num.ParseString(amount, balDec)
	if err != nil || x > maxBalance {
		return errors.New("sim: deposit: bad amount " + amount)
	}
	if neg {
		x = -x
	}
	h := v.acct.get(asset)
	if h.free+x < 0 {
		return errors.New("sim: deposit: withdrawal over the free balance")
	}
	h.free += x
	now := s.now()
	v.acct.touch(asset, now)
	v.flushAccount(now)
	return nil
}

// parseEd25519Public reads a PEM "PUBLIC KEY" holding an Ed25519 key.
func parseEd25519Public(p string) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode([]byte(p))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ek, nil
}
