// Package exchange is the vocabulary every venue adapter and every consumer of
// market data shares, with no I/O: interned ids (VenueID, InstrumentID), the
// per-venue Instrument with its filters, the fixed-size BookTop event that
// crosses the ring buffer, orders, fills, classified errors, feed counters,
// and the small role interfaces a venue implements (MarketData, Trader).
//
// Prices and quantities are exchange/num fixed-point integers in the
// instrument's shared Scale; the package imports nothing but the standard
// library and exchange/num.
//
// Adapters live in sub-packages, one per venue (exchange/binance, okx, bybit),
// together with exchange/sim (local venues that speak the real protocols) and
// exchange/exchangetest (the conformance suite every adapter runs).
package exchange
