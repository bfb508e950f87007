package sim

import (
	"fmt"
	"math/big"
	"strconv"
	"time"
)

// FaultKind is one kind of injected fault.
type FaultKind uint8

// Fault kinds. Stream faults (Gap, Checksum, Malformed, Crossed, HugeFrame)
// act on the next step in which the symbol's book publishes a new state and
// is not stale; the others act at once, or arm a condition that lasts or
// waits for a request (Stale, RateLimit, the order and acknowledgement
// faults, StreamSilent).
const (
	// FaultGap skips one update on the wire: the book state exists (BookAt
	// has it) but no incremental channel sends it, so the next Binance U,
	// OKX prevSeqId or Bybit delta does not link (on Bybit each depth topic
	// skips one push: its next delta's u is the previous one + 2).
	FaultGap FaultKind = iota + 1
	// FaultChecksum sends one OKX books update with a wrong checksum (the
	// levels are right). Not available with ChecksumZero.
	FaultChecksum
	// FaultDisconnect drops every websocket connection of the venue, public
	// and private.
	FaultDisconnect
	// FaultMalformed corrupts the frames of one update (see Malform).
	FaultMalformed
	// FaultStale stops market data of the venue (or of Symbol) for Duration;
	// connections stay up and pings are answered. The book keeps moving, and
	// the first update after the pause covers everything it missed.
	FaultStale
	// FaultCrossed adds to one update a bid above the best ask (on the wire
	// only: the venue's book is never crossed). OKX checksums are computed
	// over the crossed book the client would hold, so only the crossed-book
	// check can catch it.
	FaultCrossed
	// FaultUnknownSymbol sends, to every subscribed connection, one
	// incremental message for Symbol (default "FOO-USDT"), which the venue
	// does not list.
	FaultUnknownSymbol
	// FaultRejectOrder makes the venue refuse the next Count orders (default
	// 1) with its insufficient-balance error (Binance -2010 "Account has
	// insufficient balance for requested action.", OKX sCode 51008, Bybit
	// 170131). A refused order does not exist.
	FaultRejectOrder
	// FaultPartialFill fills only Fraction (default 0.5) of the quantity of
	// each of the next Count orders (default 1): at most floor(qty ×
	// Fraction) on the step grid, and no more than the book offers. An IOC
	// remainder then expires as usual (Binance EXPIRED, OKX canceled, Bybit
	// PartiallyFilledCanceled); a GTC remainder rests; a FOK order, which
	// cannot fill in part, expires unfilled.
	FaultPartialFill
	// FaultRateLimit refuses the next Count requests (default 1; REST
	// requests and requests on the WebSocket API or order-entry
	// connections, not public streams) with the venue's rate-limit answer,
	// each announcing RetryAfter (default 1 s): Binance HTTP 429 (or 418
	// with Status 418), code -1003, Retry-After in seconds (WebSocket API:
	// status 429/418 with error.data.retryAfter, the end as Unix ms); OKX
	// HTTP 429 code 50011 (WebSocket order entry: 60014); Bybit retCode
	// 10006 with X-Bapi-Limit-Reset-Timestamp at the end, or with Status
	// 403 the IP limit's bare HTTP 403 "access too frequent". The venue then
	// stays limited until RetryAfter has passed since the last refusal, and
	// refuses every request that arrives before: Binance, as documented for
	// clients that do not back off after a 429, escalates to an IP ban —
	// HTTP 418 with Retry-After = Ban (default 2 min, the documented
	// minimum) — and answers 418 until the ban ends; OKX and Bybit refuse
	// again the same way.
	FaultRateLimit
	// FaultServerShutdown sends Binance's serverShutdown event (on the
	// WebSocket API as {"event":{…}}); with Duration > 0 the connections are
	// closed that long after.
	FaultServerShutdown
	// FaultNotice sends OKX's 64008 service-upgrade notice; with Duration > 0
	// the connections are closed that long after.
	FaultNotice
	// FaultSnapshot sends a Bybit snapshot of the current state mid-stream
	// on every depth-50/200 topic of Symbol (or of every symbol), each with
	// the topic's next u; deltas continue from it.
	FaultSnapshot
	// FaultRestart simulates a Bybit service restart: every orderbook topic
	// of Symbol (or of every symbol) starts its update id again at u=1,
	// announced by a snapshot with u=1 (the documented restart signal);
	// deltas continue with u=2, 3, … The cross sequence seq does not restart
	// (the book did not change), so BookAt is unaffected.
	FaultRestart
	// FaultHugeFrame pads one update with deletes of levels that do not
	// exist (harmless to a client that applies it) up to Size bytes.
	FaultHugeFrame
	// FaultDelayAck holds the answer to each of the next Count order
	// placements (default 1; REST or WebSocket) for Duration: the order is
	// accepted, matched and pushed on the private streams at once, only its
	// acknowledgement comes late.
	FaultDelayAck
	// FaultLoseAck loses the answer to each of the next Count order
	// placements (default 1): the order executes (and is pushed on the
	// private streams) but no answer ever comes — a REST connection is
	// closed once the request has been processed, a WebSocket reply is
	// withheld while the connection stays open.
	FaultLoseAck
	// FaultStreamDrop cuts every private-stream connection of the venue
	// (Binance WebSocket API connections with a user data subscription, OKX
	// /ws/v5/private, Bybit /v5/private) — at once, or with NextOrder when
	// the next order is accepted, before any of its events is pushed, so
	// they never reach the old connection. Nothing is replayed to a new
	// connection, as on the venues.
	FaultStreamDrop
	// FaultStreamSilent makes the private-stream connections open now go
	// silent for Duration (0: for the rest of their life): they stay open
	// but the venue sends nothing on them — no events, no replies, no pongs,
	// no pings — and what it would have sent is lost. Connections opened
	// later are not affected.
	FaultStreamSilent
	numFaultKinds
)

var faultNames = [...]string{"", "gap", "checksum", "disconnect", "malformed", "stale", "crossed", "unknown_symbol",
	"reject_order", "partial_fill", "rate_limit", "server_shutdown", "notice", "snapshot", "restart", "huge_frame",
	"delay_ack", "lose_ack", "stream_drop", "stream_silent"}

// String returns the fault's name.
func (k FaultKind) String() string {
	if k > 0 && k < numFaultKinds {
		return faultNames[k]
	}
	return "invalid"
}

// Malform is how FaultMalformed corrupts a frame.
type Malform uint8

// Corruptions. All but Truncated change the first level of the update.
const (
	MalformTruncated  Malform = iota + 1 // the frame is cut in half: invalid JSON
	MalformWrongType                     // the first price is a JSON number, not a string
	MalformNaN                           // the first price is "NaN"
	MalformNegative                      // the first quantity is negative
	MalformEmptyPrice                    // the first price is ""
)

// Fault is one fault to inject; only the fields of its Kind matter.
type Fault struct {
	Kind       FaultKind
	Symbol     string        // canonical symbol; "" = the first (stream faults) or all (Stale, Snapshot, Restart)
	Malform    Malform       // FaultMalformed; default MalformTruncated
	Count      int           // RateLimit: requests refused; RejectOrder, PartialFill, DelayAck, LoseAck: orders affected; default 1
	Status     int           // FaultRateLimit: HTTP status (see FaultRateLimit); default 429
	RetryAfter time.Duration // FaultRateLimit; default 1 s (rounded up to seconds on the wire)
	Ban        time.Duration // FaultRateLimit on Binance: the 418 ban after a request ignored a Retry-After; default 2 min
	Duration   time.Duration // Stale: pause; ServerShutdown/Notice: delay before closing; DelayAck: delay; StreamSilent: how long (0 = forever)
	Fraction   float64       // FaultPartialFill: share of each order's quantity filled, in (0, 1); default 0.5
	NextOrder  bool          // FaultStreamDrop: cut when the next order is accepted instead of at once
	Size       int           // FaultHugeFrame: frame bytes; default 1 MiB

	applied bool
}

// FaultRecord is one fault as it happened, for tests to reason about.
type FaultRecord struct {
	Kind   FaultKind
	Venue  string
	Symbol string // canonical ("" when it concerned no single symbol)
	// Seq is the sequence field (as BookAt keys it: Binance u, OKX seqId,
	// Bybit seq) of the state the fault concerns: the state whose update was
	// skipped, corrupted, crossed or padded; the book's seq when a snapshot,
	// restart or stale pause began; 0 otherwise.
	Seq  uint64
	At   time.Time
	Note string
}

const maxFaultLog = 4096

// Inject arms or performs one fault on a venue (see FaultKind). It fails for
// an unknown venue or symbol and for a fault the venue's protocol does not
// have (a checksum fault on Binance, a serverShutdown on OKX, …).
func (s *Sim) Inject(venue string, f Fault) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.byName[venue]
	if v == nil {
		return fmt.Errorf("sim: inject: unknown venue %q", venue)
	}
	if f.Kind == 0 || f.Kind >= numFaultKinds {
		return fmt.Errorf("sim: inject: invalid fault kind %d", f.Kind)
	}
	if f.Symbol != "" && f.Kind != FaultUnknownSymbol {
		if _, ok := s.symIdx[f.Symbol]; !ok {
			return fmt.Errorf("sim: inject %s: unknown symbol %q", f.Kind, f.Symbol)
		}
	}
	only := func(kind string) error {
		if v.cfg.Kind != kind {
			return fmt.Errorf("sim: inject %s: only %s venues have it, %s is %s", f.Kind, kind, venue, v.cfg.Kind)
		}
		return nil
	}
	now := s.now()
	switch f.Kind {
	case FaultChecksum:
		if err := only(KindOKX); err != nil {
			return err
		}
		if v.cfg.ChecksumZero {
			return fmt.Errorf("sim: inject checksum: venue %s sends checksum 0", venue)
		}
		v.faults = append(v.faults, f)
	case FaultGap, FaultCrossed:
		v.faults = append(v.faults, f)
	case FaultMalformed:
		if f.Malform == 0 {
			f.Malform = MalformTruncated
		}
		if f.Malform > MalformEmptyPrice {
			return fmt.Errorf("sim: inject malformed: invalid malform %d", f.Malform)
		}
		v.faults = append(v.faults, f)
	case FaultHugeFrame:
		if f.Size <= 0 {
			f.Size = 1 << 20
		}
		if f.Size > 64<<20 {
			return fmt.Errorf("sim: inject huge_frame: size %d over 64 MiB", f.Size)
		}
		v.faults = append(v.faults, f)
	case FaultDisconnect:
		n := len(v.conns)
		for c := range v.conns {
			c.kill()
		}
		v.record(f.Kind, "", 0, now, fmt.Sprintf("%d connections", n))
	case FaultStale:
		if f.Duration <= 0 {
			return fmt.Errorf("sim: inject stale: duration must be positive")
		}
		for _, vb := range v.books {
			if f.Symbol == "" || f.Symbol == vb.sym.cfg.Symbol {
				vb.staleUntil = now.Add(f.Duration)
				v.record(f.Kind, vb.sym.cfg.Symbol, vb.seq, now, f.Duration.String())
			}
		}
	case FaultUnknownSymbol:
		if f.Symbol == "" {
			f.Symbol = "FOO-USDT"
		}
		base, quote, ok := splitCanonical(f.Symbol)
		if !ok {
			return fmt.Errorf("sim: inject unknown_symbol: %q is not BASE-QUOTE", f.Symbol)
		}
		if _, listed := s.symIdx[f.Symbol]; listed {
			return fmt.Errorf("sim: inject unknown_symbol: %q is listed", f.Symbol)
		}
		n := v.sendUnknownSymbol(base, quote, now)
		v.record(f.Kind, f.Symbol, 0, now, fmt.Sprintf("%d connections", n))
	case FaultRejectOrder, FaultPartialFill, FaultDelayAck, FaultLoseAck:
		if f.Count <= 0 {
			f.Count = 1
		}
		switch f.Kind {
		case FaultRejectOrder:
			v.ofx.reject += f.Count
		case FaultPartialFill:
			if f.Fraction == 0 {
				f.Fraction = 0.5
			}
			if !(f.Fraction > 0 && f.Fraction < 1) {
				return fmt.Errorf("sim: inject partial_fill: fraction must be in (0, 1)")
			}
			// The fraction as written (0.3 is 3/10, not the nearest double),
			// so 30 % of a quantity is exact.
			r, _ := new(big.Rat).SetString(strconv.FormatFloat(f.Fraction, 'f', -1, 64))
			v.ofx.partial = append(v.ofx.partial, partialFault{frac: r, left: f.Count})
		case FaultDelayAck:
			if f.Duration <= 0 {
				return fmt.Errorf("sim: inject delay_ack: duration must be positive")
			}
			v.ofx.ack = append(v.ofx.ack, ackFault{kind: f.Kind, delay: f.Duration, left: f.Count})
		case FaultLoseAck:
			v.ofx.ack = append(v.ofx.ack, ackFault{kind: f.Kind, left: f.Count})
		}
		v.record(f.Kind, f.Symbol, 0, now, fmt.Sprintf("armed for %d orders", f.Count))
	case FaultRateLimit:
		if f.Count <= 0 {
			f.Count = 1
		}
		if f.RetryAfter <= 0 {
			f.RetryAfter = time.Second
		}
		if f.Ban <= 0 {
			f.Ban = 2 * time.Minute
		}
		if f.Status == 0 {
			f.Status = 429
		}
		switch {
		case f.Status == 429:
		case f.Status == 418 && v.cfg.Kind == KindBinance:
		case f.Status == 403 && v.cfg.Kind == KindBybit:
		default:
			return fmt.Errorf("sim: inject rate_limit: status %d not used by %s", f.Status, v.cfg.Kind)
		}
		v.rl = limitState{left: f.Count, status: f.Status, retryAfter: f.RetryAfter, ban: f.Ban}
		v.record(f.Kind, "", 0, now, fmt.Sprintf("%d requests, HTTP %d", f.Count, f.Status))
	case FaultStreamDrop:
		if f.NextOrder {
			v.ofx.drop++
			v.record(f.Kind, "", 0, now, "armed for the next order")
			break
		}
		n := v.dropPrivate()
		v.record(f.Kind, "", 0, now, fmt.Sprintf("%d connections", n))
	case FaultStreamSilent:
		if f.Duration < 0 {
			return fmt.Errorf("sim: inject stream_silent: negative duration")
		}
		n := v.silencePrivate(now, f.Duration)
		v.record(f.Kind, "", 0, now, fmt.Sprintf("%d connections", n))
	case FaultServerShutdown:
		if err := only(KindBinance); err != nil {
			return err
		}
		v.broadcastShutdown(now, f.Duration)
		v.record(f.Kind, "", 0, now, "")
	case FaultNotice:
		if err := only(KindOKX); err != nil {
			return err
		}
		for c := range v.conns {
			c.send(okxNotice(c.id))
		}
		v.closeLater(f.Duration)
		v.record(f.Kind, "", 0, now, "")
	case FaultSnapshot, FaultRestart:
		if err := only(KindBybit); err != nil {
			return err
		}
		for _, vb := range v.books {
			if f.Symbol == "" || f.Symbol == vb.sym.cfg.Symbol {
				v.bybitResnapshot(vb, f.Kind == FaultRestart, now)
				v.record(f.Kind, vb.sym.cfg.Symbol, vb.seq, now, "")
			}
		}
	}
	return nil
}

// FaultLog returns the venue's faults as they happened, oldest first (the
// last 4096).
func (s *Sim) FaultLog(venue string) []FaultRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.byName[venue]; v != nil {
		return append([]FaultRecord(nil), v.faultLog...)
	}
	return nil
}

func (v *venue) record(k FaultKind, sym string, seq uint64, at time.Time, note string) {
	if len(v.faultLog) >= maxFaultLog {
		v.faultLog = append(v.faultLog[:0], v.faultLog[1:]...)
	}
	v.faultLog = append(v.faultLog, FaultRecord{Kind: k, Venue: v.cfg.Name, Symbol: sym, Seq: seq, At: at, Note: note})
}

// stepFaults are the stream faults that act on one book's update.
type stepFaults struct {
	gap, checksum, crossed bool
	malform                Malform
	hugeSize               int
}

// takeFaults claims the pending stream faults for this book's new state.
func (v *venue) takeFaults(vb *vbook, now time.Time) stepFaults {
	var fx stepFaults
	for i := range v.faults {
		f := &v.faults[i]
		if f.applied || f.Symbol != "" && f.Symbol != vb.sym.cfg.Symbol {
			continue
		}
		switch f.Kind {
		case FaultGap:
			if fx.gap {
				continue
			}
			fx.gap = true
		case FaultChecksum:
			if fx.checksum {
				continue
			}
			fx.checksum = true
		case FaultCrossed:
			if fx.crossed {
				continue
			}
			fx.crossed = true
		case FaultMalformed:
			if fx.malform != 0 {
				continue
			}
			fx.malform = f.Malform
		case FaultHugeFrame:
			if fx.hugeSize != 0 {
				continue
			}
			fx.hugeSize = f.Size
		}
		f.applied = true
		v.record(f.Kind, vb.sym.cfg.Symbol, vb.seq, now, "")
	}
	return fx
}

// corrupt applies a Malform to an encoded update whose levels are arrays of
// strings ([["px","qty",…],…]): all three venues' shape.
func corrupt(msg []byte, m Malform) []byte {
	if m == MalformTruncated {
		return append([]byte(nil), msg[:len(msg)/2]...)
	}
	i := indexOf(msg, `[["`)
	if i < 0 {
		return append([]byte(nil), msg[:len(msg)/2]...)
	}
	ps := i + 2 // opening quote of the first price
	pe := ps + 1
	for pe < len(msg) && msg[pe] != '"' {
		pe++
	}
	// msg[ps..pe] is "price"; the quantity string follows after ','.
	qs := pe + 2
	out := make([]byte, 0, len(msg)+8)
	out = append(out, msg[:ps]...)
	switch m {
	case MalformWrongType:
		out = append(out, msg[ps+1:pe]...)
		out = append(out, msg[pe+1:]...)
	case MalformNaN:
		out = append(out, `"NaN"`...)
		out = append(out, msg[pe+1:]...)
	case MalformEmptyPrice:
		out = append(out, `""`...)
		out = append(out, msg[pe+1:]...)
	case MalformNegative:
		out = append(out, msg[ps:qs+1]...)
		out = append(out, '-')
		out = append(out, msg[qs+1:]...)
	}
	return out
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}
