package sim

import (
	"math"
	"net/http"
	"time"
)

// execKind is what happened to an order, as pushed on the private streams.
type execKind uint8

const (
	execNew      execKind = iota + 1 // accepted
	execTrade                        // one fill
	execExpired                      // an IOC/FOK remainder expired
	execCanceled                     // cancelled by request
)

// execEvent is one change of an order. The order's fields hold its state
// right after the change when the event is emitted: every protocol encodes
// at once, under Sim.mu.
type execEvent struct {
	kind           execKind
	ord            *order
	fill           *Fill  // execTrade
	cancelClientID string // execCanceled: the cancel request's own id (Binance newClientOrderId)
	at             time.Time
}

// privEvent is what the private connections are told: an order event, or
// the account's assets that changed.
type privEvent struct {
	exec   *execEvent
	assets []string
	at     time.Time
}

// connRole is what a websocket connection of a venue is for.
type connRole uint8

const (
	rolePublic  connRole = iota // market data
	roleWSAPI                   // Binance /ws-api/v3: requests, order entry and the user data stream
	rolePrivate                 // OKX /ws/v5/private (also order entry), Bybit /v5/private
	roleTrade                   // Bybit /v5/trade: order entry only
)

// emit pushes an order event to every private connection that subscribed
// to it (caller holds Sim.mu). There is no buffer and no replay: a
// connection that is down misses it, as on the venues.
func (v *venue) emit(ev execEvent) {
	for c := range v.private {
		if c.push != nil {
			c.push(privEvent{exec: &ev, at: ev.at})
		}
	}
}

// flushAccount pushes the account's changed assets, once per request or
// step that changed them (caller holds Sim.mu).
func (v *venue) flushAccount(now time.Time) {
	assets := v.acct.takeChanged()
	if len(assets) == 0 {
		return
	}
	for c := range v.private {
		if c.push != nil {
			c.push(privEvent{assets: assets, at: now})
		}
	}
}

// streaming reports whether a connection carries the venue's private
// stream (FaultStreamDrop and FaultStreamSilent act on those): every OKX
// and Bybit private connection, and a Binance WebSocket API connection
// with an active user data subscription.
func (c *conn) streaming() bool {
	switch c.role {
	case rolePrivate:
		return true
	case roleWSAPI:
		return c.streamOn
	}
	return false
}

// dropPrivate cuts every private-stream connection at once and returns how
// many (caller holds Sim.mu).
func (v *venue) dropPrivate() int {
	n := 0
	for c := range v.private {
		if c.streaming() {
			c.kill()
			n++
		}
	}
	return n
}

// silencePrivate makes the private-stream connections open now send nothing
// for d (0: forever) and returns how many (caller holds Sim.mu).
func (v *venue) silencePrivate(now time.Time, d time.Duration) int {
	until := int64(math.MaxInt64)
	if d > 0 {
		until = now.Add(d).UnixNano()
	}
	n := 0
	for c := range v.private {
		if c.streaming() {
			c.silentUntil.Store(until)
			n++
		}
	}
	return n
}

// openSession sets up a new WebSocket API, private or order-entry
// connection (caller holds Sim.mu).
func (v *venue) openSession(c *conn, r *http.Request, now time.Time) {
	switch v.cfg.Kind {
	case KindBinance:
		c.bn = &wsapiSession{connected: now.UnixMilli(), rateLimits: r.URL.Query().Get("returnRateLimits") != "false", sub: -1}
		v.useWeight(2, now) // opening a WebSocket API connection costs 2 weight
	case KindOKX:
		c.ok = &okxSession{}
	case KindBybit:
		c.by = &bybitSession{reqIDs: map[string]struct{}{}}
		// max_active_time (30s..600s, e.g. "45s", "1m") replaces the
		// 10 min idle rule on private and trade connections.
		if d, err := time.ParseDuration(r.URL.Query().Get("max_active_time")); err == nil && d >= 30*time.Second && d <= 600*time.Second {
			c.idle = d
		}
	}
}
