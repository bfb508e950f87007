package spread

import (
	"fmt"
	"math"

	"arb/exchange"
	"arb/exchange/num"
)

// AssetID identifies an asset (BTC, USDT, ...) interned at start-up from the
// configured listings (1-based; 0 is "none").
type AssetID uint16

// Inventory is the detector's view of available balances: a dense
// [venue][asset] table of int64 amounts in 10^-Decimals(asset) units. An
// asset's decimals are the finest scale it has in any listing (as a base its
// Qty decimals, as a quote its Px decimals), so converting a balance to any
// listing's scale is an exact or flooring division.
//
// It is owned by the detector goroutine and is not safe for concurrent use:
// the wiring sets it up before the loop runs and adjusts it afterwards only
// on that goroutine (strategy.Loop.Do). "Available" means free to commit: the
// detector reserves the buy leg's quote and the sell leg's base when it
// emits a plan (Plan legs' Reserve); when the plan is done (filled,
// cancelled or refused by risk) the wiring calls Release and applies the
// fills' real balance changes with Adjust.
type Inventory struct {
	names []string // by AssetID; [0] = ""
	dec   []uint8
	nv    int
	bal   []int64 // available, [venue*len(names) + asset]
	res   []int64 // reserved by plans in flight, same layout
}

func newInventory(nVenues int) *Inventory {
	return &Inventory{names: []string{""}, dec: []uint8{0}, nv: nVenues}
}

// intern returns name's id, adding it with at least dec decimals.
func (inv *Inventory) intern(name string, dec uint8) AssetID {
	for i, n := range inv.names {
		if i > 0 && n == name {
			if dec > inv.dec[i] {
				inv.dec[i] = dec
			}
			return AssetID(i)
		}
	}
	inv.names = append(inv.names, name)
	inv.dec = append(inv.dec, dec)
	return AssetID(len(inv.names) - 1)
}

func (inv *Inventory) freeze() {
	inv.bal = make([]int64, inv.nv*len(inv.names))
	inv.res = make([]int64, inv.nv*len(inv.names))
}

// Asset returns the id of the named asset, or false if no listing uses it.
// It scans the (short) asset list: a start-up and control-path call.
func (inv *Inventory) Asset(name string) (AssetID, bool) {
	for i, n := range inv.names {
		if i > 0 && n == name {
			return AssetID(i), true
		}
	}
	return 0, false
}

// NumAssets returns the number of interned assets plus one (ids run 1..n-1).
func (inv *Inventory) NumAssets() int { return len(inv.names) }

// AssetName returns a's name, or "".
func (inv *Inventory) AssetName(a AssetID) string {
	if int(a) < len(inv.names) {
		return inv.names[a]
	}
	return ""
}

// Decimals returns the decimals of a's amounts.
func (inv *Inventory) Decimals(a AssetID) uint8 {
	if int(a) < len(inv.dec) {
		return inv.dec[a]
	}
	return 0
}

func (inv *Inventory) slot(v exchange.VenueID, a AssetID) (int, bool) {
	if a == 0 || int(a) >= len(inv.names) || int(v) >= inv.nv || v == 0 {
		return 0, false
	}
	return int(v)*len(inv.names) + int(a), true
}

// Balance returns the available amount of a on v (0 for unknown ids).
func (inv *Inventory) Balance(v exchange.VenueID, a AssetID) int64 {
	if i, ok := inv.slot(v, a); ok {
		return inv.bal[i]
	}
	return 0
}

// Reserved returns the amount of a on v held by plans in flight (taken by
// the detector when it emitted them, returned by Release).
func (inv *Inventory) Reserved(v exchange.VenueID, a AssetID) int64 {
	if i, ok := inv.slot(v, a); ok {
		return inv.res[i]
	}
	return 0
}

// Total returns available plus reserved: what the venue account holds, the
// amount to value for equity.
func (inv *Inventory) Total(v exchange.VenueID, a AssetID) int64 {
	if i, ok := inv.slot(v, a); ok {
		return inv.bal[i] + inv.res[i]
	}
	return 0
}

// Set sets the available amount of a on v; false for unknown ids.
func (inv *Inventory) Set(v exchange.VenueID, a AssetID, amount int64) bool {
	i, ok := inv.slot(v, a)
	if ok {
		inv.bal[i] = amount
	}
	return ok
}

// Adjust adds delta (may be negative) to the amount of a on v, saturating
// at the int64 range; false for unknown ids. A negative balance simply
// leaves nothing to trade.
func (inv *Inventory) Adjust(v exchange.VenueID, a AssetID, delta int64) bool {
	i, ok := inv.slot(v, a)
	if !ok {
		return false
	}
	s := inv.bal[i] + delta
	switch {
	case delta > 0 && s < inv.bal[i]:
		s = math.MaxInt64
	case delta < 0 && s > inv.bal[i]:
		s = math.MinInt64
	}
	inv.bal[i] = s
	return true
}

// SetDecimal sets the amount of the named asset on v from decimal text, as
// configured paper balances are written ("1.5"). Digits finer than the
// asset's decimals are an error, not a silent rounding.
func (inv *Inventory) SetDecimal(v exchange.VenueID, asset, value string) error {
	a, ok := inv.Asset(asset)
	if !ok {
		return fmt.Errorf("spread: balance of %s: no listing uses this asset", asset)
	}
	n, err := num.Parse([]byte(value), inv.dec[a])
	if err != nil {
		return fmt.Errorf("spread: balance of %s %q: %w", asset, value, err)
	}
	if !inv.Set(v, a, n) {
		return fmt.Errorf("spread: balance of %s: unknown venue %d", asset, v)
	}
	return nil
}

// Release returns a plan's reservations (see Plan legs' Reserve) to the
// available balances.
func (inv *Inventory) Release(p *Plan) {
	inv.move(p.Buy.Venue, p.Buy.ReserveAsset, p.Buy.Reserve)
	inv.move(p.Sell.Venue, p.Sell.ReserveAsset, p.Sell.Reserve)
}

// reserve takes a new plan's reservations.
func (inv *Inventory) reserve(p *Plan) {
	inv.move(p.Buy.Venue, p.Buy.ReserveAsset, -p.Buy.Reserve)
	inv.move(p.Sell.Venue, p.Sell.ReserveAsset, -p.Sell.Reserve)
}

// move shifts amount from reserved to available (negative: the reverse).
func (inv *Inventory) move(v exchange.VenueID, a AssetID, amount int64) {
	if i, ok := inv.slot(v, a); ok {
		inv.Adjust(v, a, amount)
		inv.res[i] -= amount
	}
}
