// Package tap is the hook through which a recorder sees what the venue
// adapters receive: websocket connections opening and closing, every frame
// exactly as read, what the adapters send, and the REST snapshots they
// apply. The adapters call it where they read (exchange/internal/wsx) and
// where they apply snapshots; exchange/recording writes what it sees to
// files, and the backtest feeds those records back through the same
// adapters' sessions (each adapter's Replay).
//
// Off costs nothing: a Venue or Conn is a pointer, nil when no recorder is
// attached, and every hook is a nil check on a concrete type — no
// interface call and no allocation per frame (the adapters' AllocsPerRun
// tests run with the tap off). On, each event is one call of Sink.Tap with
// scalar arguments and the caller's byte slices (no allocation on the
// adapter's side); the sink copies what it keeps before returning.
//
// Record kinds are persisted in recordings: only ever appended to.
package tap

import (
	"sync/atomic"

	"arb/exchange"
)

// Kind is the type of a tapped event.
type Kind uint8

// Kinds of events. Persisted: only ever appended to.
const (
	// KindOpen: a websocket connection opened. Aux: 1 if it is a handover
	// connection (it builds its books silently and takes over when they
	// are in sync), 0 if it publishes at once. Meta: the URL.
	KindOpen Kind = iota + 1
	// KindFrame: a message received, Data exactly as read; TS is the
	// receive time the adapter uses.
	KindFrame
	// KindSent: a message the adapter sent (subscriptions, pings). Data.
	KindSent
	// KindClose: the connection ended. Aux: the Cause. Meta: the error.
	KindClose
	// KindSnapshotRequest: the adapter asked for a REST snapshot of a
	// book. Meta: the venue symbol. Data: the request URL.
	KindSnapshotRequest
	// KindSnapshotReply: a REST snapshot applied to a book (Aux 0) or the
	// request given up (Aux 1). Meta: the venue symbol. Data: the body
	// (or the error text). TS is the time the adapter applied it with.
	KindSnapshotReply
	// KindREST: a REST reply outside any connection (the instruments
	// endpoint at start-up). Conn 0. Aux: the HTTP status. Meta: the URL.
	// Data: the body.
	KindREST
	numKinds
)

// NumKinds is one more than the largest Kind.
const NumKinds = int(numKinds)

var kindNames = [...]string{"", "open", "frame", "sent", "close", "snapshot_request", "snapshot_reply", "rest"}

// String returns the kind's name.
func (k Kind) String() string {
	if k != 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// Cause says why a connection closed (KindClose's Aux). Persisted.
type Cause uint32

// Causes of a close; the values match wsx's CloseCause plus TooLarge.
const (
	CauseByPeer   Cause = 0 // the socket failed or the venue closed it
	CauseIdle     Cause = 1 // the idle watchdog fired
	CauseByOwner  Cause = 2 // the adapter closed it (shutdown, rotation, handover, reconnect)
	CauseTooLarge Cause = 3 // a message over the size cap ended it
)

// Snapshot reply outcomes (KindSnapshotReply's Aux).
const (
	SnapshotApplied uint32 = 0
	SnapshotFailed  uint32 = 1
)

// Sink receives tapped events, from any goroutine (one per connection
// reader, plus writers). meta and data are valid only during the call: the
// sink copies what it keeps. It must not keep the adapter waiting for long
// (a recorder buffers and writes on its own goroutine).
type Sink interface {
	Tap(kind Kind, venue exchange.VenueID, conn uint64, ts int64, aux uint32, meta, data []byte)
}

// Venue is one venue's tap. A nil *Venue is off.
type Venue struct {
	sink  Sink
	venue exchange.VenueID
}

// New returns the tap of venue v into sink (nil if sink is nil).
func New(sink Sink, v exchange.VenueID) *Venue {
	if sink == nil {
		return nil
	}
	return &Venue{sink: sink, venue: v}
}

// Conn returns the tap of connection gen (the adapter's connection
// generation, unique per venue), or nil when v is nil. handover says
// whether the connection starts as a handover candidate.
func (v *Venue) Conn(gen uint64, handover bool) *Conn {
	if v == nil {
		return nil
	}
	return &Conn{v: v, id: gen, handover: handover}
}

// REST records a REST reply outside a connection (the instruments fetch).
func (v *Venue) REST(ts int64, status int, url string, body []byte) {
	if v == nil {
		return
	}
	v.sink.Tap(KindREST, v.venue, 0, ts, uint32(status), []byte(url), body)
}

// Conn is one connection's tap. A nil *Conn is off. Frame, the snapshot
// hooks and Open are called from the connection's reader; Sent and Close
// from any goroutine.
type Conn struct {
	v        *Venue
	id       uint64
	handover bool
	closed   atomic.Bool
}

// ID returns the connection id recorded with its events.
func (c *Conn) ID() uint64 { return c.id }

// Open records that the connection opened to url.
func (c *Conn) Open(ts int64, url string) {
	if c == nil {
		return
	}
	var aux uint32
	if c.handover {
		aux = 1
	}
	c.v.sink.Tap(KindOpen, c.v.venue, c.id, ts, aux, []byte(url), nil)
}

// Frame records a received message.
func (c *Conn) Frame(ts int64, b []byte) {
	if c == nil {
		return
	}
	c.v.sink.Tap(KindFrame, c.v.venue, c.id, ts, 0, nil, b)
}

// Sent records a message sent.
func (c *Conn) Sent(ts int64, b []byte) {
	if c == nil {
		return
	}
	c.v.sink.Tap(KindSent, c.v.venue, c.id, ts, 0, nil, b)
}

// Close records the end of the connection, once (later calls do nothing).
func (c *Conn) Close(ts int64, cause Cause, err error) {
	if c == nil || !c.closed.CompareAndSwap(false, true) {
		return
	}
	var msg []byte
	if err != nil {
		msg = []byte(err.Error())
	}
	c.v.sink.Tap(KindClose, c.v.venue, c.id, ts, uint32(cause), msg, nil)
}

// SnapshotRequest records that the adapter asked for a REST snapshot of
// symbol's book at url.
func (c *Conn) SnapshotRequest(ts int64, symbol, url string) {
	if c == nil {
		return
	}
	c.v.sink.Tap(KindSnapshotRequest, c.v.venue, c.id, ts, 0, []byte(symbol), []byte(url))
}

// SnapshotReply records a REST snapshot of symbol's book applied at ts
// (err nil), or given up (err set).
func (c *Conn) SnapshotReply(ts int64, symbol string, body []byte, err error) {
	if c == nil {
		return
	}
	aux := SnapshotApplied
	if err != nil {
		aux, body = SnapshotFailed, []byte(err.Error())
	}
	c.v.sink.Tap(KindSnapshotReply, c.v.venue, c.id, ts, aux, []byte(symbol), body)
}
