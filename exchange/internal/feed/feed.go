// Package feed is the publishing side every venue adapter shares: it hands
// BookTop events to the daemon's ring without ever blocking the websocket
// reader, and arbitrates which of a venue's connections may publish.
//
// Overflow policy (conflation): a BookTop is a full top-K snapshot, so only
// the newest event per instrument matters. When the ring is full the event is
// parked in a per-instrument pending slot; a newer event for the same
// instrument replaces it (counted as Conflated), and parked events are retried
// before every publish and on Flush. So a slow consumer sees fewer, newer
// events — never a blocked reader and never an older state after a newer one
// from the same connection.
//
// Ownership: during a scheduled reconnect a venue briefly has two
// connections. Each connection has a generation number; only the generation
// held by the venue's Owner publishes. The new connection builds its books
// silently, takes ownership once they are all in sync, republishes them, and
// the old connection is closed. At the switch, at most one event already in
// flight from the old connection may land after the new one's first event;
// both are states the venue really had, and the next event supersedes it.
package feed

import (
	"sync/atomic"

	"arb/exchange"
	"arb/ringbuf"
)

// Owner records which connection generation of one venue publishes. Safe for
// concurrent use.
type Owner struct{ gen atomic.Uint64 }

// Take makes gen the publishing generation.
func (o *Owner) Take(gen uint64) { o.gen.Store(gen) }

// Is reports whether gen publishes.
func (o *Owner) Is(gen uint64) bool { return o.gen.Load() == gen }

// Publisher publishes one connection's events. It is owned by that
// connection's read goroutine.
type Publisher struct {
	ring    *ringbuf.MPSC[exchange.BookTop]
	stats   *exchange.FeedStats
	owner   *Owner
	gen     uint64
	pending []exchange.BookTop
	dirty   []bool
	nDirty  int
	lastPub []int64

	refreshEvery int64
	nextRefresh  int64
}

// New returns a publisher for n instruments (adapter-local indexes 0..n-1)
// of connection generation gen. refreshEvery (ns, 0 = never) is how long a
// synced book may go unpublished before the adapter republishes it (see
// Quiet), so consumers that age books by RecvTS keep quiet-but-right books.
func New(ring *ringbuf.MPSC[exchange.BookTop], stats *exchange.FeedStats, owner *Owner, gen uint64, n int, refreshEvery int64) *Publisher {
	return &Publisher{
		ring: ring, stats: stats, owner: owner, gen: gen,
		pending: make([]exchange.BookTop, n), dirty: make([]bool, n), lastPub: make([]int64, n),
		refreshEvery: refreshEvery,
	}
}

// Active reports whether this connection is the venue's publishing one.
func (p *Publisher) Active() bool { return p.owner == nil || p.owner.Is(p.gen) }

// Publish hands ev (the new state of instrument i) to the ring, or parks it
// if the ring is full. It reports false if this connection does not publish
// (not the owner). It never blocks and never allocates.
func (p *Publisher) Publish(i int, ev *exchange.BookTop) bool {
	if !p.Active() {
		return false
	}
	if p.nDirty > 0 {
		p.Flush()
	}
	if p.dirty[i] { // the parked event is superseded by ev
		p.dirty[i] = false
		p.nDirty--
		p.stats.Conflated.Add(1)
	}
	p.lastPub[i] = ev.RecvTS
	if p.ring.TryPush(ev) {
		p.stats.Published.Add(1)
		return true
	}
	p.pending[i] = *ev
	p.dirty[i] = true
	p.nDirty++
	return true
}

// Flush retries parked events, stopping at the first that does not fit.
func (p *Publisher) Flush() {
	for i := range p.dirty {
		if p.nDirty == 0 {
			return
		}
		if !p.dirty[i] {
			continue
		}
		if !p.ring.TryPush(&p.pending[i]) {
			return
		}
		p.dirty[i] = false
		p.nDirty--
		p.stats.Published.Add(1)
	}
}

// Pending returns the number of parked events.
func (p *Publisher) Pending() int { return p.nDirty }

// DueForRefresh reports, cheaply and at most four times per refresh
// interval, whether the adapter should look for quiet books with Quiet.
func (p *Publisher) DueForRefresh(now int64) bool {
	if p.refreshEvery <= 0 || now < p.nextRefresh {
		return false
	}
	p.nextRefresh = now + p.refreshEvery/4
	return true
}

// Quiet reports whether instrument i was not published for the refresh
// interval.
func (p *Publisher) Quiet(i int, now int64) bool {
	return p.refreshEvery > 0 && now-p.lastPub[i] >= p.refreshEvery
}
