package strategy

import (
	"arb/exchange"
	"arb/exchange/num"
)

// Snapshot is an immutable view of every configured book at one instant,
// for the HTTP API and for whatever prices orders off the loop goroutine
// (the executor's retries and unwinds, paper venues). Readers must not
// modify it.
type Snapshot struct {
	TS    int64     // the loop's clock when taken, Unix ns
	Rows  []BookRow // one per configured listing, in configuration order
	Ready bool      // every row fresh (and at least one row)
	// Tops holds each row's book as the loop had it (Tops[i] is Rows[i]'s,
	// with its top TopK levels per side; zero before the first event).
	Tops []exchange.BookTop
}

// BookRow is one book's top of book, the /api/v1/books row. Prices and
// quantities are in Scale (format them with num.AppendTrim).
type BookRow struct {
	Venue       string // configured venue name
	VenueID     exchange.VenueID
	Symbol      string // canonical, e.g. BTC-USDT
	VenueSymbol string // the venue's own
	Inst        exchange.InstrumentID
	Scale       num.Scale
	Bid         num.Price // 0 when the side is empty
	BidQty      num.Qty
	Ask         num.Price
	AskQty      num.Qty
	ExchTS      int64  // venue timestamp, Unix ns (0 if none)
	RecvTS      int64  // local receive time, Unix ns (0 if never received)
	Seq         uint64 // the venue's update id
	Updates     uint64 // events applied to this book
	// Stale: the adapter flagged the book, it is older than its venue's
	// stale age at TS, or no book has arrived yet.
	Stale bool
	Cause exchange.StaleCause // why (CauseAge for age, CauseConnecting for none yet)
}

// maybePublish publishes a snapshot if the interval has passed.
func (l *Loop) maybePublish(now int64) {
	if now-l.lastSnap >= int64(l.cfg.SnapshotInterval) {
		l.publish(now)
	}
}

// publish builds and publishes a snapshot at now (loop goroutine only).
func (l *Loop) publish(now int64) {
	s := &Snapshot{TS: now, Rows: make([]BookRow, len(l.listings)), Ready: len(l.listings) > 0,
		Tops: make([]exchange.BookTop, len(l.listings))}
	for i, li := range l.listings {
		b := l.store.At(li.Slot)
		r := &s.Rows[i]
		*r = BookRow{
			Venue: l.reg.VenueName(li.Venue), VenueID: li.Venue,
			Symbol: li.Canonical, VenueSymbol: li.Symbol, Inst: li.Inst, Scale: li.Scale,
			Updates: l.store.Updates(li.Slot),
		}
		if r.Updates == 0 {
			r.Stale, r.Cause = true, exchange.CauseConnecting
			s.Ready = false
			continue
		}
		s.Tops[i] = *b
		r.ExchTS, r.RecvTS, r.Seq = b.ExchTS, b.RecvTS, b.Seq
		if lv, ok := b.BestBid(); ok {
			r.Bid, r.BidQty = lv.Px, lv.Qty
		}
		if lv, ok := b.BestAsk(); ok {
			r.Ask, r.AskQty = lv.Px, lv.Qty
		}
		switch {
		case b.Stale():
			r.Stale, r.Cause = true, b.Cause
		case now-b.RecvTS > li.StaleAge:
			r.Stale, r.Cause = true, exchange.CauseAge
		}
		if r.Stale {
			s.Ready = false
		}
	}
	l.snap.Store(s)
	l.lastSnap = now
	l.stats.Snapshots.Add(1)
}
