package wire

import (
	"fmt"
	"log/slog"

	"arb/exchange"
	"arb/exchange/num"
)

// unifyScales gives every listing of one canonical instrument the same
// scale, and records it in the registry. The configured price_decimals and
// qty_decimals are the least the engine keeps; each venue's instruments
// fetch widens them to what that venue sends (Binance: the symbol's
// quoteAssetPrecision and baseAssetPrecision, so that book levels off
// today's tick are held exactly; OKX and Bybit: their tick and step), so
// the listings of one instrument may come back with different scales. Books
// of all venues must compare as plain integers, so the instrument's scale
// is the widest of them, and every listing's filters are converted to it
// (widening only multiplies, so it is exact unless a value overflows, which
// is an error). Widened instruments are logged once.
func unifyScales(reg *exchange.Registry, listings [][]exchange.Instrument, log *slog.Logger) error {
	for id := 1; id < len(reg.Assets); id++ {
		a := &reg.Assets[id]
		sc := a.Scale
		for _, ls := range listings {
			for _, l := range ls {
				if l.ID == a.ID {
					sc.Px, sc.Qty = max(sc.Px, l.Scale.Px), max(sc.Qty, l.Scale.Qty)
				}
			}
		}
		if !sc.Valid() {
			return fmt.Errorf("instrument %s: the venues need %+v decimals, more than %d", a.Symbol, sc, num.MaxDecimals)
		}
		for _, ls := range listings {
			for i := range ls {
				l := &ls[i]
				if l.ID != a.ID {
					continue
				}
				if err := rescaleListing(l, sc); err != nil {
					return fmt.Errorf("venue %s: instrument %s: %w", reg.VenueName(l.Venue), a.Symbol, err)
				}
			}
		}
		if sc != a.Scale && log != nil {
			log.Info("instrument scale widened to what the venues send",
				slog.String("instrument", a.Symbol),
				slog.Int("price_decimals", int(sc.Px)), slog.Int("qty_decimals", int(sc.Qty)),
				slog.Int("configured_price_decimals", int(a.Scale.Px)), slog.Int("configured_qty_decimals", int(a.Scale.Qty)))
		}
		a.Scale = sc
	}
	return nil
}

// fitScales converts the listings of a venue that joins a running engine to
// the scales the engine already uses. The running books, plans and orders
// are in those scales, so they cannot widen now: a venue that sends more
// decimals than they hold is refused (and retried), with the configuration
// that lets it in at the next start.
func fitScales(reg *exchange.Registry, listings []exchange.Instrument) error {
	for i := range listings {
		l := &listings[i]
		a := reg.Asset(l.ID)
		if a == nil {
			return fmt.Errorf("instrument id %d is not registered", l.ID)
		}
		if l.Scale.Px > a.Scale.Px || l.Scale.Qty > a.Scale.Qty {
			return fmt.Errorf("venue %s sends %s with %d price and %d quantity decimals, more than the running engine's %d and %d; "+
				"set the instrument's price_decimals/qty_decimals to at least that, or restart arbd while the venue answers",
				reg.VenueName(l.Venue), a.Symbol, l.Scale.Px, l.Scale.Qty, a.Scale.Px, a.Scale.Qty)
		}
		if err := rescaleListing(l, a.Scale); err != nil {
			return fmt.Errorf("venue %s: instrument %s: %w", reg.VenueName(l.Venue), a.Symbol, err)
		}
	}
	return nil
}

// rescaleListing converts l's filters from l.Scale to sc (at least as wide).
func rescaleListing(l *exchange.Instrument, sc num.Scale) error {
	conv := func(v *int64, from, to uint8, what string) error {
		x, ok := num.Rescale(*v, from, to)
		if !ok {
			return fmt.Errorf("%s %d does not fit %d decimals", what, *v, to)
		}
		*v = x
		return nil
	}
	if err := conv((*int64)(&l.Tick), l.Scale.Px, sc.Px, "tick"); err != nil {
		return err
	}
	if err := conv((*int64)(&l.MinNotional), l.Scale.Px, sc.Px, "min notional"); err != nil {
		return err
	}
	if err := conv((*int64)(&l.Step), l.Scale.Qty, sc.Qty, "step"); err != nil {
		return err
	}
	if err := conv((*int64)(&l.MinQty), l.Scale.Qty, sc.Qty, "min qty"); err != nil {
		return err
	}
	l.Scale = sc
	return nil
}
