package exchange

import "arb/exchange/num"

// TopK is the number of levels per side a BookTop carries. Ten levels cover
// the depth a cross-venue trade walks while keeping the event at 360 bytes.
const TopK = 10

// Level is one price level of a book.
type Level struct {
	Px  num.Price
	Qty num.Qty
}

// BookFlags qualify a BookTop.
type BookFlags uint8

// Book flags.
const (
	// FlagStale marks a book that is not known to be right from RecvTS on
	// (gap, checksum mismatch, disconnect, resync, no data within the age
	// limit). Its levels must not be used; they may be empty.
	FlagStale BookFlags = 1 << iota
)

// StaleCause says why a book is stale (diagnostics and metrics only).
type StaleCause uint8

// Stale causes; persisted in logs, so only ever appended to.
const (
	CauseNone       StaleCause = iota // fresh
	CauseConnecting                   // no book yet: connecting, subscribing or waiting for a snapshot
	CauseGap                          // a sequence gap was detected
	CauseChecksum                     // the venue's checksum did not match the local book
	CauseDisconnect                   // the connection dropped
	CauseAge                          // no data within the configured age limit
	CauseBadData                      // the venue sent data that would make the book wrong (crossed, unparsable)
	CauseReset                        // the venue reset the stream (service restart, new snapshot)
	CauseGasCap                       // on-chain venue: gas is above the configured cap, so the book is not tradable
)

var causeNames = [...]string{"none", "connecting", "gap", "checksum", "disconnect", "age", "bad_data", "reset", "gas_cap"}

// String returns the cause's metric label.
func (c StaleCause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// BookTop is the fixed-size event an adapter publishes whenever one of its
// books changes: the full top TopK levels per side, so a consumer that falls
// behind may skip straight to the newest event for an instrument (conflation).
// It holds no pointers, so rings of BookTop are scanned by nobody and copied
// with one memmove.
type BookTop struct {
	Seq    uint64 // the venue's sequence of this state (Binance u, OKX seqId, Bybit seq: the cross sequence shared across depths)
	ExchTS int64  // venue timestamp, Unix ns (0 when the venue sends none)
	RecvTS int64  // local receive time of the frame that produced this state, Unix ns
	Venue  VenueID
	Flags  BookFlags
	Cause  StaleCause
	NBids  uint8 // valid entries in Bids
	NAsks  uint8 // valid entries in Asks
	Inst   InstrumentID
	// Gas is the fixed cost of one taker order on this book in the
	// instrument's quote, Px units (10^-Scale.Px), as of this state: an
	// on-chain venue's gas (estimated gas × (base fee + priority fee) of
	// the block, valued in the quote). It travels with the book so a
	// consumer prices a trade with the gas of the same block as its
	// levels, and a recording replays it. 0 for venues without per-order
	// costs; never negative.
	Gas  num.Quote
	Bids [TopK]Level // best (highest) first
	Asks [TopK]Level // best (lowest) first
}

// Stale reports whether the book must not be used.
func (b *BookTop) Stale() bool { return b.Flags&FlagStale != 0 }

// BestBid returns the best bid, or false if the side is empty.
func (b *BookTop) BestBid() (Level, bool) {
	if b.NBids == 0 {
		return Level{}, false
	}
	return b.Bids[0], true
}

// BestAsk returns the best ask, or false if the side is empty.
func (b *BookTop) BestAsk() (Level, bool) {
	if b.NAsks == 0 {
		return Level{}, false
	}
	return b.Asks[0], true
}

// Crossed reports whether both sides are present and the best bid is at or
// above the best ask: a book no venue can really have.
func (b *BookTop) Crossed() bool {
	return b.NBids > 0 && b.NAsks > 0 && b.Bids[0].Px >= b.Asks[0].Px
}

// SetStale turns b into a stale marker for its venue and instrument.
func (b *BookTop) SetStale(cause StaleCause, recvTS int64) {
	b.Flags |= FlagStale
	b.Cause = cause
	b.RecvTS = recvTS
	b.NBids, b.NAsks = 0, 0
}
