package bybit

import (
	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/tap"
)

// Replay drives this adapter's sessions from a recording (exchange/tap
// events, exchange/recording files): each recorded frame goes through the
// same calls Feed's runConn makes after reading it — HandleFrame, the
// reconnect check, the requests the session queues (produced and dropped:
// the recording holds what the venue answered), ownership — on the
// recorded receive times, with no socket and no clock. Opens and closes
// follow the recording, with the supervisor's rules: an owner connection
// publishes at once, a handover connection takes over once synced (the old
// one is then retired and publishes nothing) or when the owner drops.
//
// A Replay is used by one goroutine; it publishes into Config.Ring.
type Replay struct {
	cfg   Config
	stats exchange.FeedStats
	owner feed.Owner
	conns []*replayConn

	// Orphans counts records of connections never opened or already
	// closed (a recording that starts or was cut mid-connection).
	Orphans uint64
}

type replayConn struct {
	id      uint64
	sess    *Session
	owned   bool
	retired bool
	dead    bool
	buf     []byte
}

// NewReplay validates cfg (Ring is required) and returns a replay with no
// connection open.
func NewReplay(cfg Config) (*Replay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Replay{cfg: cfg.withDefaults()}
	r.cfg.stats = &r.stats
	return r, nil
}

// Stats returns the replay's feed counters.
func (r *Replay) Stats() *exchange.FeedStats { return &r.stats }

func (r *Replay) conn(id uint64) *replayConn {
	for i := len(r.conns) - 1; i >= 0; i-- {
		if c := r.conns[i]; c.id == id {
			if c.dead {
				return nil
			}
			return c
		}
	}
	return nil
}

// Open starts connection id at ts; handover says it builds its books
// silently and takes ownership once synced.
func (r *Replay) Open(id uint64, handover bool, ts int64) {
	if r.conn(id) != nil {
		r.Orphans++
		return
	}
	own := !handover
	if own {
		r.owner.Take(id)
		r.stats.Connected.Store(1)
	}
	if own && len(r.conns) > 0 {
		r.stats.Reconnects.Add(1)
	}
	pub := feed.New(r.cfg.Ring, &r.stats, &r.owner, id, len(r.cfg.Instruments), int64(r.cfg.AgeMax)/3)
	c := &replayConn{id: id, owned: own, sess: NewSession(&r.cfg, pub)}
	c.sess.Start(ts)
	c.drain()
	live := r.conns[:0]
	for _, o := range r.conns {
		if !o.dead {
			live = append(live, o)
		}
	}
	r.conns = append(live, c)
}

// drain takes the requests the session queued (they were sent live).
func (c *replayConn) drain() {
	for {
		req, ok := c.sess.NextRequest(c.buf[:0])
		if !ok {
			return
		}
		c.buf = req
	}
}

// Frame hands a recorded frame to its connection's session.
func (r *Replay) Frame(id uint64, b []byte, ts int64) {
	c := r.conn(id)
	if c == nil {
		r.Orphans++
		return
	}
	s := c.sess
	s.HandleFrame(b, ts)
	if s.NeedReconnect() {
		return // the reader closed the socket; its close is recorded next
	}
	c.drain()
	if !c.owned {
		switch {
		case r.owner.Is(id):
			c.owned = true
			r.stats.Connected.Store(1)
			s.RepublishAll(ts)
		case s.Synced():
			for _, o := range r.conns {
				if !o.dead && o != c && r.owner.Is(o.id) {
					o.retired = true
				}
			}
			r.owner.Take(id)
			c.owned = true
			s.RepublishAll(ts)
		}
	}
}

// Close ends connection id as runConn does on a read error with the
// recorded cause; if it owned the venue, a handover connection takes over.
func (r *Replay) Close(id uint64, cause tap.Cause, ts int64) {
	c := r.conn(id)
	if c == nil {
		r.Orphans++
		return
	}
	c.dead = true
	wasOwner := r.owner.Is(id)
	if !c.retired {
		st := exchange.CauseDisconnect
		switch cause {
		case tap.CauseTooLarge:
			r.stats.Reject(exchange.RejectTooLarge)
			st = exchange.CauseBadData
		case tap.CauseIdle:
			st = exchange.CauseAge
		}
		if !c.sess.NeedReconnect() {
			c.sess.Disconnected(st, ts)
		}
		if wasOwner {
			r.stats.Connected.Store(0)
		}
	}
	if wasOwner {
		for i := len(r.conns) - 1; i >= 0; i-- {
			if o := r.conns[i]; !o.dead {
				r.owner.Take(o.id)
				r.stats.Reconnects.Add(1)
				return
			}
		}
	}
}

// End does nothing for Bybit (every step of a frame runs with it); it is
// here so every adapter's replay ends the same way.
func (r *Replay) End() {}

// Settle does nothing for Bybit (see End).
func (r *Replay) Settle() {}
