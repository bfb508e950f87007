package feedbus

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// PublisherConfig configures a feed process's publisher.
type PublisherConfig struct {
	Registry *exchange.Registry // venue names and canonical symbols by id
	Ring     *ringbuf.MPSC[exchange.BookTop]
	Conn     *nats.Conn
	Source   uint64 // this process's instance id (nonzero)
	// Term returns the venue's leadership term while this process
	// publishes it, 0 while it is a standby (Lease.Term); nil = always
	// term 1 (a single feed per venue, no election).
	Term   func(exchange.VenueID) uint64
	Logger *slog.Logger
	Now    func() int64 // Unix ns; nil = time.Now
}

// PublisherStats are a publisher's counters. Safe to read from any
// goroutine.
type PublisherStats struct {
	Events    atomic.Uint64 // events taken from the ring
	Published atomic.Uint64 // messages published
	Standby   atomic.Uint64 // events not published: this process is the venue's standby
	Errors    atomic.Uint64 // publishes that failed (NATS buffer full, connection closed)
	Unknown   atomic.Uint64 // events of a venue or instrument not in the registry
	Takeovers atomic.Uint64 // books republished on taking a venue over
}

// Publisher drains a feed process's ring, keeps the newest event of every
// book, and publishes each event of a venue this process leads to
// arb.book.<venue>.<symbol>. On taking a venue over it first republishes
// that venue's newest books, so the engine is current without waiting for
// the venue's next change. Run owns everything but the stats.
type Publisher struct {
	cfg   PublisherConfig
	stats PublisherStats

	nInst    int
	subjects []string           // [venue*nInst+inst]
	last     []exchange.BookTop // newest event per book
	has      []bool
	terms    []uint64       // per venue: the term this process last published with
	fresh    []atomic.Int32 // per venue: books whose newest event is not stale
	buf      []byte
}

// NewPublisher precomputes every book's subject; a venue name or symbol
// that is not a valid subject token is an error.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if cfg.Registry == nil || cfg.Ring == nil || cfg.Conn == nil || cfg.Source == 0 {
		return nil, errors.New("feedbus: a publisher needs a registry, a ring, a NATS connection and a source id")
	}
	if cfg.Term == nil {
		cfg.Term = func(exchange.VenueID) uint64 { return 1 }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = func() int64 { return time.Now().UnixNano() }
	}
	nv, ni := len(cfg.Registry.Venues), len(cfg.Registry.Assets)
	p := &Publisher{cfg: cfg, nInst: ni, subjects: make([]string, nv*ni), last: make([]exchange.BookTop, nv*ni),
		has: make([]bool, nv*ni), terms: make([]uint64, nv), fresh: make([]atomic.Int32, nv), buf: make([]byte, 0, MaxSize)}
	for v := 1; v < nv; v++ {
		for i := 1; i < ni; i++ {
			s, err := Subject(cfg.Registry.Venues[v].Name, cfg.Registry.Assets[i].Symbol)
			if err != nil {
				return nil, err
			}
			p.subjects[v*ni+i] = s
		}
	}
	return p, nil
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() *PublisherStats { return &p.stats }

// FreshBooks returns how many of venue v's books are fresh as of their
// newest event: a feed process may lead a venue only with some (a lease's
// Ready). Safe from any goroutine.
func (p *Publisher) FreshBooks(v exchange.VenueID) int {
	if int(v) >= len(p.fresh) {
		return 0
	}
	return int(p.fresh[v].Load())
}

// pollEvery bounds how long a takeover waits for its republish when the
// ring is quiet.
const pollEvery = 20 * time.Millisecond

// Run drains the ring until ctx ends, then flushes the connection and
// returns nil.
func (p *Publisher) Run(ctx context.Context) error {
	r := p.cfg.Ring
	for {
		if r.Wait(ctx, pollEvery) {
			from, to := r.Batch(256)
			for s := from; s < to; s++ {
				p.handle(r.At(s))
			}
			r.Release(to)
		}
		p.takeovers()
		if ctx.Err() != nil {
			fctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = p.cfg.Conn.FlushWithContext(fctx)
			cancel()
			return nil
		}
	}
}

// handle keeps ev as its book's newest and publishes it if this process
// leads the venue. It does not allocate.
func (p *Publisher) handle(ev *exchange.BookTop) {
	p.stats.Events.Add(1)
	k := int(ev.Venue)*p.nInst + int(ev.Inst)
	if ev.Venue == 0 || ev.Inst == 0 || int(ev.Venue) >= len(p.terms) || int(ev.Inst) >= p.nInst {
		p.stats.Unknown.Add(1)
		return
	}
	switch was := p.has[k] && !p.last[k].Stale(); {
	case was && ev.Stale():
		p.fresh[ev.Venue].Add(-1)
	case !was && !ev.Stale():
		p.fresh[ev.Venue].Add(1)
	}
	p.last[k] = *ev
	p.has[k] = true
	term := p.cfg.Term(ev.Venue)
	if term == 0 {
		p.terms[ev.Venue] = 0
		p.stats.Standby.Add(1)
		return
	}
	if term != p.terms[ev.Venue] {
		p.takeover(ev.Venue, term) // republishes this book too
		return
	}
	p.publish(k, term)
}

// takeovers republishes the books of every venue whose term changed
// since the last event (a lease won while the venue was quiet).
func (p *Publisher) takeovers() {
	for v := 1; v < len(p.terms); v++ {
		term := p.cfg.Term(exchange.VenueID(v))
		if term != p.terms[v] {
			if term == 0 {
				p.terms[v] = 0
				continue
			}
			p.takeover(exchange.VenueID(v), term)
		}
	}
}

// takeover starts publishing venue v under term with its newest books.
func (p *Publisher) takeover(v exchange.VenueID, term uint64) {
	p.terms[v] = term
	n := 0
	for i := 1; i < p.nInst; i++ {
		k := int(v)*p.nInst + i
		if p.has[k] {
			p.publish(k, term)
			n++
		}
	}
	p.stats.Takeovers.Add(uint64(n))
	p.cfg.Logger.Info("publishing venue books", "venue", p.cfg.Registry.VenueName(v), "term", term, "books", n)
}

// publish sends book k under term.
func (p *Publisher) publish(k int, term uint64) {
	h := Header{Source: p.cfg.Source, Term: term, PubTS: p.cfg.Now(), Scale: p.scale(k)}
	p.buf = Append(p.buf[:0], &p.last[k], &h)
	if err := p.cfg.Conn.Publish(p.subjects[k], p.buf); err != nil {
		if n := p.stats.Errors.Add(1); n&(n-1) == 0 { // logged at powers of two
			p.cfg.Logger.Warn("book publish failed", "subject", p.subjects[k], "errors", n, "err", err)
		}
		return
	}
	p.stats.Published.Add(1)
}

// scale returns the scale of book k's instrument.
func (p *Publisher) scale(k int) num.Scale {
	return p.cfg.Registry.Assets[k%p.nInst].Scale
}
