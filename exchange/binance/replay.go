package binance

import (
	"slices"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/tap"
)

// Replay drives this adapter's sessions from a recording (exchange/tap
// events, exchange/recording files): the frames go to the same Session
// code Feed.Run's readers run, in the same order of calls, with no socket.
// What a reader does after each frame — apply the snapshots that arrived
// (recorded as they were applied), hand out snapshot requests, take
// ownership in a handover, republish quiet books — happens in the same
// order here; what the supervisor does (promote the handover connection
// when the owner drops, publish stale on a drop) follows the recorded
// opens and closes. Time is the recorded receive times: no clock is read.
//
// The deferred step: after a frame the reader applies the snapshots the
// fetcher delivered, recorded right after the frame by the same goroutine.
// Replay keeps the frame's remaining steps pending until a record that is
// not one of those replies arrives (Settle runs them when the caller
// switches to another venue). Records of other connections that the
// recorder interleaved between the frame and its replies would make that
// order differ; the window is the few microseconds of one HandleFrame.
//
// A Replay is used by one goroutine; it publishes into Config.Ring.
type Replay struct {
	cfg     Config
	stats   exchange.FeedStats
	owner   feed.Owner
	conns   []*replayConn
	pending *replayConn // its frame's post-poll steps are not run yet
	pendTS  int64
	open    int

	// Orphans counts records of connections never opened or already
	// closed (a recording that starts or was cut mid-connection).
	Orphans uint64
	// RequestMismatch counts connections whose replayed session asked for
	// a different number of snapshots than the recorded one did: the
	// replay diverged from what was recorded (a different adapter build).
	RequestMismatch uint64
}

type replayConn struct {
	id        uint64
	sess      *Session
	pub       *feed.Publisher
	owner     *feed.Owner
	candidate bool
	takeNow   bool
	announced bool
	dead      bool
	deadline  int64
	requested int // snapshot requests the replayed session made
	recorded  int // snapshot requests the recording holds
}

// NewReplay validates cfg (Ring is required) and returns a replay with no
// connection open.
func NewReplay(cfg Config) (*Replay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Replay{cfg: cfg.withDefaults()}
	r.cfg.Instruments = slices.Clone(cfg.Instruments)
	r.cfg.stats = &r.stats
	return r, nil
}

// Stats returns the replay's feed counters.
func (r *Replay) Stats() *exchange.FeedStats { return &r.stats }

func (r *Replay) conn(id uint64) *replayConn {
	for i := len(r.conns) - 1; i >= 0; i-- {
		if r.conns[i].id == id {
			if r.conns[i].dead {
				return nil
			}
			return r.conns[i]
		}
	}
	return nil
}

// Open starts connection id at ts (a recorded tap.KindOpen); handover says
// it is a handover candidate.
func (r *Replay) Open(id uint64, handover bool, ts int64) {
	r.Settle()
	if r.conn(id) != nil {
		r.Orphans++
		return
	}
	pub := feed.New(r.cfg.Ring, &r.stats, &r.owner, id, len(r.cfg.Instruments), int64(r.cfg.AgeMax/3))
	c := &replayConn{id: id, pub: pub, owner: &r.owner, sess: NewSession(&r.cfg, pub)}
	if handover {
		c.candidate, c.deadline = true, ts+int64(r.cfg.HandoverMax)
	} else {
		r.owner.Take(id)
	}
	if len(r.conns) > 0 {
		r.stats.Reconnects.Add(1)
	}
	r.conns = append(r.live(), c)
	r.open++
	r.stats.Connected.Store(1)
	c.ownership(ts)
	c.request()
}

// live returns the connections not closed.
func (r *Replay) live() []*replayConn {
	out := r.conns[:0:0]
	for _, c := range r.conns {
		if !c.dead {
			out = append(out, c)
		}
	}
	return out
}

// Frame hands a recorded frame to its connection's session.
func (r *Replay) Frame(id uint64, b []byte, ts int64) {
	r.Settle()
	c := r.conn(id)
	if c == nil {
		r.Orphans++
		return
	}
	c.sess.HandleFrame(b, ts)
	r.pending, r.pendTS = c, ts
}

// SnapshotRequest notes a recorded snapshot request (the replayed session
// makes its own; the counts are compared when the connection ends).
func (r *Replay) SnapshotRequest(id uint64) {
	if c := r.conn(id); c != nil {
		c.recorded++
	}
}

// SnapshotReply applies a recorded snapshot reply (failed: the fetch was
// given up) for the book of symbol, as the reader's poll did at ts.
func (r *Replay) SnapshotReply(id uint64, symbol []byte, body []byte, failed bool, ts int64) {
	c := r.conn(id)
	if c == nil {
		r.Settle()
		r.Orphans++
		return
	}
	if r.pending != c {
		r.Settle()
	}
	i := -1
	for k := range r.cfg.Instruments {
		if r.cfg.Instruments[k].Symbol == string(symbol) {
			i = k
			break
		}
	}
	if i < 0 {
		r.Orphans++
		return
	}
	if failed {
		c.sess.SnapshotFailed(i)
	} else {
		c.sess.ApplySnapshot(i, body, ts)
	}
	r.pending, r.pendTS = c, ts
}

// Settle runs the pending frame's remaining reader steps (snapshot
// requests, ownership, refresh of quiet books). The caller calls it before
// handing a record of another venue to its replay, and at the end.
func (r *Replay) Settle() {
	c := r.pending
	if c == nil {
		return
	}
	r.pending = nil
	c.request()
	c.ownership(r.pendTS)
	c.sess.Refresh(r.pendTS)
}

// Close ends connection id as its reader did (tap.KindClose, with the
// recorded cause) and, as the supervisor does, lets a handover connection
// take over at its next frame when the owner dropped.
func (r *Replay) Close(id uint64, cause tap.Cause, ts int64) {
	r.Settle()
	c := r.conn(id)
	if c == nil {
		r.Orphans++
		return
	}
	c.dead = true
	r.open--
	if r.open == 0 {
		r.stats.Connected.Store(0)
	}
	if c.requested != c.recorded {
		r.RequestMismatch++
	}
	wasOwner := r.owner.Is(id)
	st := exchange.CauseDisconnect
	switch cause {
	case tap.CauseTooLarge:
		r.stats.Reject(exchange.RejectTooLarge)
		st = exchange.CauseBadData
	case tap.CauseIdle:
		st = exchange.CauseAge
	}
	if !(cause == tap.CauseByOwner && !c.pub.Active()) {
		c.sess.Disconnected(st, ts)
	}
	if wasOwner {
		for _, o := range r.conns {
			if !o.dead && o.candidate {
				o.takeNow = true
			}
		}
	}
}

// End settles the last frame; the replay's books stay as they are.
func (r *Replay) End() { r.Settle() }

func (c *replayConn) request() {
	for {
		if _, ok := c.sess.NeedSnapshot(); !ok {
			return
		}
		c.requested++
	}
}

// ownership is conn.ownership on the recorded time.
func (c *replayConn) ownership(now int64) {
	if c.candidate && (c.takeNow || c.sess.Synced() || now >= c.deadline) {
		c.owner.Take(c.id)
		c.candidate = false
	}
	if !c.announced && c.pub.Active() {
		c.announced = true
		c.sess.Republish(now)
	}
}
