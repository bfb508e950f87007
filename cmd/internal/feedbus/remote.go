package feedbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// RemoteBuffer is the default number of messages a Remote's subscription
// holds before NATS drops (counted in RemoteStats.Dropped): seconds of the
// busiest venue. Dropping is conflation — every message is a full top-K
// book, and the next one for the book supersedes it.
const RemoteBuffer = 4096

// remoteTick is how often a Remote retries parked events and refreshes
// its connection state when no message arrives.
const remoteTick = 100 * time.Millisecond

// RemoteConfig configures the engine side of one venue's books.
type RemoteConfig struct {
	Venue exchange.VenueID // this engine's id of the venue
	Name  string           // the venue's name: arb.book.<Name>.*
	// Instruments are this engine's listings of the venue: ids, canonical
	// symbols (the subjects' last token) and scales.
	Instruments []exchange.Instrument
	Ring        *ringbuf.MPSC[exchange.BookTop]
	Conn        *nats.Conn
	// AgeMax is the venue's age limit. A term silent this long may be
	// superseded by a lower one (a new KV bucket numbers from 1 again);
	// its books are stale by age by then anyway.
	AgeMax time.Duration
	Buffer int          // subscription capacity; 0 = RemoteBuffer
	Logger *slog.Logger // nil = discard
	Now    func() int64 // Unix ns; nil = time.Now
}

// RemoteStats are a Remote's counters beyond exchange.FeedStats. Safe to
// read from any goroutine.
type RemoteStats struct {
	Fenced     atomic.Uint64 // events of a superseded leadership term, dropped
	Duplicates atomic.Uint64 // a venue state already delivered by the previous term, dropped
	Dropped    atomic.Uint64 // messages NATS dropped because the subscription was full
	TermChange atomic.Uint64 // leadership terms taken over
	Future     atomic.Uint64 // events received "before" they were received at the feed (its clock ahead): RecvTS clamped to now
	Term       atomic.Uint64 // the term in force
	Hop        exchange.Hist // publish (feed clock) to receipt here, ns
}

// Remote is one venue's market data as an engine receives it from feed
// processes: an exchange.MarketData whose Run subscribes to the venue's
// book subjects and hands every accepted event to the ring, with the
// venue's sequence and timestamps as the feed's adapter produced them and
// the engine's own venue and instrument ids. Run is called once; Stats and
// RemoteStats are safe to read from any goroutine; everything else belongs
// to Run's goroutine.
type Remote struct {
	cfg        RemoteConfig
	stats      exchange.FeedStats
	rs         RemoteStats
	subscribed chan struct{} // closed once the subscription is in place

	books  []rbook
	term   uint64 // the term in force (the highest accepted)
	termAt int64  // local time of the last event accepted from it
	lastAt int64  // local time of the last message of any kind
	nDirty int
	ev     exchange.BookTop // decode scratch
	hdr    Header
	logAt  int64 // rate limit of the rejection log
}

// rbook is the Remote's state of one book.
type rbook struct {
	symbol  string
	inst    exchange.InstrumentID
	scale   num.Scale
	has     bool   // an event was delivered
	seq     uint64 // of the last delivered event
	term    uint64 // of the last delivered event
	stale   bool   // the last delivered event was a stale marker
	pending exchange.BookTop
	dirty   bool // pending waits for room in the ring
}

var _ exchange.MarketData = (*Remote)(nil)

// NewRemote checks cfg and returns a Remote that has not subscribed yet.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	if cfg.Ring == nil || cfg.Conn == nil {
		return nil, errors.New("feedbus: remote needs a ring and a NATS connection")
	}
	if cfg.Venue == 0 || len(cfg.Instruments) == 0 {
		return nil, fmt.Errorf("feedbus: remote venue %q needs an id and instruments", cfg.Name)
	}
	if _, err := VenueSubjects(cfg.Name); err != nil {
		return nil, err
	}
	if cfg.AgeMax <= 0 {
		return nil, fmt.Errorf("feedbus: remote venue %q needs an age limit", cfg.Name)
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = RemoteBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = func() int64 { return time.Now().UnixNano() }
	}
	r := &Remote{cfg: cfg, subscribed: make(chan struct{})}
	for _, in := range cfg.Instruments {
		if _, err := Subject(cfg.Name, in.Canonical); err != nil {
			return nil, err
		}
		r.books = append(r.books, rbook{symbol: in.Canonical, inst: in.ID, scale: in.Scale})
	}
	return r, nil
}

// Stats returns the venue's feed counters (Messages, Published,
// Conflated, rejects by reason; Connected is 1 while NATS is connected and
// a message arrived within the age limit).
func (r *Remote) Stats() *exchange.FeedStats { return &r.stats }

// RemoteStats returns the counters particular to a remote feed.
func (r *Remote) RemoteStats() *RemoteStats { return &r.rs }

// Subscribed is closed once Run's subscription is in place on the server.
func (r *Remote) Subscribed() <-chan struct{} { return r.subscribed }

// Run subscribes to arb.book.<venue>.* and delivers until ctx ends; it
// returns ctx's error, or the subscription's error at start.
func (r *Remote) Run(ctx context.Context) error {
	subj, _ := VenueSubjects(r.cfg.Name)
	ch := make(chan *nats.Msg, r.cfg.Buffer)
	sub, err := r.cfg.Conn.ChanSubscribe(subj, ch)
	if err != nil {
		return fmt.Errorf("feedbus: subscribe %s: %w", subj, err)
	}
	defer sub.Unsubscribe()
	// The server has the interest once a flush returns: from then on no
	// published book is missed (tests and the engine's start wait on it).
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = r.cfg.Conn.FlushWithContext(fctx)
	cancel()
	close(r.subscribed)
	t := time.NewTicker(remoteTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-ch:
			r.deliver(m.Subject, m.Data)
		case <-t.C:
			r.flush()
			if n, err := sub.Dropped(); err == nil {
				r.rs.Dropped.Store(uint64(n))
			}
			up := r.cfg.Conn.IsConnected() && r.cfg.Now()-r.lastAt <= int64(r.cfg.AgeMax)
			if up {
				r.stats.Connected.Store(1)
			} else {
				r.stats.Connected.Store(0)
			}
		}
	}
}

// deliver handles one message (Run's goroutine). Accepted events go to the
// ring; what is refused is counted, and a message that cannot be decoded
// for a known book marks that book stale (bad data), since the engine no
// longer knows its state. It does not allocate.
func (r *Remote) deliver(subject string, data []byte) {
	now := r.cfg.Now()
	r.lastAt = now
	r.stats.Messages.Add(1)
	sym, ok := symbolOf(subject, r.cfg.Name)
	bi := -1
	if ok {
		for i := range r.books {
			if r.books[i].symbol == sym {
				bi = i
				break
			}
		}
	}
	if bi < 0 {
		r.reject(exchange.RejectUnknownSymbol, subject, now)
		return
	}
	b := &r.books[bi]
	ev := &r.ev
	if err := Decode(data, ev, &r.hdr); err != nil {
		r.reject(Reason(err), subject, now)
		r.publishStale(b, exchange.CauseBadData, now)
		return
	}
	h := &r.hdr
	if pub := h.PubTS; pub > 0 && now >= pub {
		r.rs.Hop.Observe(now - pub)
	}
	// Fencing: only the newest leadership term publishes. A lower term is
	// a deposed leader that has not noticed yet, unless the term in force
	// has been silent for the age limit (the lease bucket was recreated).
	switch {
	case h.Term > r.term:
		if r.term != 0 {
			r.rs.TermChange.Add(1)
			r.cfg.Logger.Info("feed leadership changed", "venue", r.cfg.Name, "term", h.Term, "previous", r.term)
		}
		r.term = h.Term
		r.rs.Term.Store(h.Term)
	case h.Term < r.term:
		if now-r.termAt <= int64(r.cfg.AgeMax) {
			r.rs.Fenced.Add(1)
			return
		}
		r.rs.TermChange.Add(1)
		r.cfg.Logger.Warn("feed leadership term went back after the term in force fell silent; accepting it",
			"venue", r.cfg.Name, "term", h.Term, "previous", r.term)
		r.term = h.Term
		r.rs.Term.Store(h.Term)
	}
	r.termAt = now
	// A new leader republishes its books when it takes over; a state the
	// previous leader already delivered is not delivered twice.
	if b.has && b.term != h.Term && !ev.Stale() && !b.stale && ev.Seq != 0 && ev.Seq == b.seq {
		b.term = h.Term
		r.rs.Duplicates.Add(1)
		return
	}
	if h.Scale != b.scale && !ev.Stale() {
		if !rescale(ev, h.Scale, b.scale) {
			r.reject(exchange.RejectNumber, subject, now)
			r.publishStale(b, exchange.CauseBadData, now)
			return
		}
	}
	// A receive time in this host's future means the feed's clock is
	// ahead: the book would look fresher than it is, and stay "fresh"
	// after its feed died. Clamp it to now, so a book's age is never less
	// than the time since it reached this engine. (A feed clock behind
	// only makes books stale early: safe, and visible in the hop metric.)
	if ev.RecvTS > now {
		ev.RecvTS = now
		r.rs.Future.Add(1)
	}
	ev.Venue, ev.Inst = r.cfg.Venue, b.inst
	b.has, b.seq, b.term, b.stale = true, ev.Seq, h.Term, ev.Stale()
	r.push(b, ev)
}

// rescale converts ev's prices, quantities and gas from one scale to
// another; false if a value does not convert exactly or overflows.
func rescale(ev *exchange.BookTop, from, to num.Scale) bool {
	conv := func(v int64, f, t uint8) (int64, bool) { return num.Rescale(v, f, t) }
	g, ok := conv(int64(ev.Gas), from.Px, to.Px)
	if !ok {
		return false
	}
	ev.Gas = num.Quote(g)
	for _, side := range [2][]exchange.Level{ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks]} {
		for i := range side {
			px, ok1 := conv(int64(side[i].Px), from.Px, to.Px)
			qty, ok2 := conv(int64(side[i].Qty), from.Qty, to.Qty)
			if !ok1 || !ok2 {
				return false
			}
			side[i] = exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)}
		}
	}
	return true
}

// publishStale marks book b stale in the engine.
func (r *Remote) publishStale(b *rbook, cause exchange.StaleCause, now int64) {
	ev := &r.ev
	*ev = exchange.BookTop{Venue: r.cfg.Venue, Inst: b.inst, Seq: b.seq}
	ev.SetStale(cause, now)
	b.has, b.stale = true, true
	r.push(b, ev)
}

// push hands ev to the ring, or parks it as b's pending event while the
// ring is full (a newer one replaces it: conflation, as the adapters do).
func (r *Remote) push(b *rbook, ev *exchange.BookTop) {
	if r.nDirty > 0 {
		r.flush()
	}
	if b.dirty {
		b.dirty = false
		r.nDirty--
		r.stats.Conflated.Add(1)
	}
	if r.cfg.Ring.TryPush(ev) {
		r.stats.Published.Add(1)
		return
	}
	b.pending = *ev
	b.dirty = true
	r.nDirty++
}

// flush retries parked events, stopping at the first that does not fit.
func (r *Remote) flush() {
	for i := range r.books {
		if r.nDirty == 0 {
			return
		}
		b := &r.books[i]
		if !b.dirty {
			continue
		}
		if !r.cfg.Ring.TryPush(&b.pending) {
			return
		}
		b.dirty = false
		r.nDirty--
		r.stats.Published.Add(1)
	}
}

// reject counts a refused message and logs it at most once a second.
func (r *Remote) reject(reason exchange.RejectReason, subject string, now int64) {
	r.stats.Reject(reason)
	if now-r.logAt >= int64(time.Second) {
		r.logAt = now
		r.cfg.Logger.Warn("book message refused", "venue", r.cfg.Name, "subject", subject, "reason", reason.String())
	}
}
