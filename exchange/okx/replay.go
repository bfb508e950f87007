package okx

import (
	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/tap"
)

// Replay drives this adapter's sessions from a recording (exchange/tap
// events, exchange/recording files): each recorded frame goes through the
// same calls Feed's runConn makes after reading it — HandleFrame, Tick,
// resubscription, the reconnect check, ownership once synced — on the
// recorded receive times, with no socket and no clock. What the session
// would send is produced and dropped (the recording holds what the venue
// answered). Opens and closes follow the recording, with the supervisor's
// rules: an owner connection publishes at once, a handover connection
// takes over when its books are synced or when the owner drops.
//
// A Replay is used by one goroutine; it publishes into Config.Ring.
type Replay struct {
	cfg   Config
	stats *exchange.FeedStats
	owner feed.Owner
	conns []*replayConn
	open  int

	// spare is the last retired connection's session, whose buffers the
	// next connection's session takes (newSession).
	spare *Session

	// Orphans counts records of connections never opened or already
	// closed (a recording that starts or was cut mid-connection).
	Orphans uint64
}

type replayConn struct {
	id      uint64
	sess    *Session
	healthy bool
	dead    bool
}

// NewReplay validates cfg (Ring is required) and returns a replay with no
// connection open.
func NewReplay(cfg Config) (*Replay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	if c.Stats == nil {
		c.Stats = new(exchange.FeedStats)
	}
	return &Replay{cfg: c, stats: c.Stats}, nil
}

// Stats returns the replay's feed counters.
func (r *Replay) Stats() *exchange.FeedStats { return r.stats }

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

// Open starts connection id at ts; handover says it is a handover
// candidate (it publishes once its books are synced).
func (r *Replay) Open(id uint64, handover bool, ts int64) {
	if r.conn(id) != nil {
		r.Orphans++
		return
	}
	if !handover {
		r.owner.Take(id)
	}
	if len(r.conns) > 0 {
		r.stats.Reconnects.Add(1)
	}
	if r.owner.Is(id) {
		r.stats.Connected.Store(1)
	}
	pub := feed.New(r.cfg.Ring, r.stats, &r.owner, id, len(r.cfg.Instruments), int64(r.cfg.AgeMax/3))
	c := &replayConn{id: id, sess: newSession(&r.cfg, pub, r.spare)}
	r.spare = nil
	c.sess.SubscribeRequests(ts)
	live := r.conns[:0]
	for _, o := range r.conns {
		if !o.dead {
			live = append(live, o)
		}
	}
	r.conns = append(live, c)
	r.open++
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
	s.Tick(ts)
	if s.NeedResubscribe() {
		s.Resubscribe(ts)
	}
	if cause, ok := s.NeedReconnect(); ok {
		s.Disconnected(cause, ts)
		r.end(c)
		return
	}
	if !c.healthy && s.Synced() {
		c.healthy = true
		if !r.owner.Is(id) {
			r.owner.Take(id)
			s.Tick(ts)
		}
	}
}

// Close ends connection id as runConn does on a read error with the
// recorded cause; if it was the owner, a handover connection takes over.
func (r *Replay) Close(id uint64, cause tap.Cause, ts int64) {
	c := r.conn(id)
	if c == nil {
		r.Orphans++
		return
	}
	switch cause {
	case tap.CauseByOwner:
	case tap.CauseTooLarge:
		r.stats.Reject(exchange.RejectTooLarge)
		c.sess.Disconnected(exchange.CauseBadData, ts)
	case tap.CauseIdle:
		c.sess.Disconnected(exchange.CauseAge, ts)
	default:
		c.sess.Disconnected(exchange.CauseDisconnect, ts)
	}
	r.end(c)
}

// end retires c; if it owned the venue, the newest live connection (a
// handover candidate) takes over at once, as serve does.
func (r *Replay) end(c *replayConn) {
	c.dead = true
	r.open--
	r.spare = c.sess // finished: nothing calls it again
	if !r.owner.Is(c.id) {
		return
	}
	for i := len(r.conns) - 1; i >= 0; i-- {
		if o := r.conns[i]; !o.dead {
			r.owner.Take(o.id)
			return
		}
	}
	r.stats.Connected.Store(0)
}

// End does nothing for OKX (every step of a frame runs with it); it is
// here so every adapter's replay ends the same way.
func (r *Replay) End() {}

// Settle does nothing for OKX (see End).
func (r *Replay) Settle() {}
