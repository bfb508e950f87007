package bybit

import (
	"log/slog"
	"math"
	"sort"
	"strconv"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/l2"
	"arb/exchange/num"
)

// bookState is where one book is in Bybit's sync procedure.
type bookState uint8

const (
	// stSubscribing: the first subscribe of this connection is queued or
	// sent; the first snapshot makes the book live.
	stSubscribing bookState = iota + 1
	// stLive: the book is the venue's, as of u.
	stLive
	// stBroken: the book is stale and waits until deadline to resubscribe
	// (resubscribes of one book are spaced by resubEvery). A snapshot the
	// venue sends meanwhile is still authoritative and makes it live.
	stBroken
	// stResubscribing: unsubscribe + subscribe are queued or sent. Frames of
	// the old subscription (deltas, and snapshots before the unsubscribe is
	// acknowledged) are dropped; the first snapshot after the acknowledgement
	// makes the book live.
	stResubscribing
)

// Session operation codes of outgoing requests.
const (
	opSubscribe uint8 = iota + 1
	opUnsubscribe
)

// maxRetryShift caps the exponential spacing of snapshot-timeout retries
// (SnapshotTimeout << 5 = 32×).
const maxRetryShift = 5

// giveUpAttempts is the number of failed attempts after which a book no
// longer holds back Synced (it keeps retrying, spaced out).
const giveUpAttempts = 3

// reqRing is the number of recent requests remembered to match replies.
const reqRing = 64

// book is one instrument's state on one connection.
type book struct {
	id     exchange.InstrumentID
	sym    string
	topic  string
	pxDec  uint8
	qtyDec uint8
	l2     *l2.Book

	state bookState
	fresh bool                // the last event published for it was fresh
	cause exchange.StaleCause // why it is stale (when not fresh)
	// u is the topic's update id of the book's state (continuity is checked
	// on it, per topic); seq is the state's cross sequence, shared by all
	// depths, which events carry as BookTop.Seq.
	u, seq   uint64
	exchTS   int64
	lastData int64 // receive time of the last message applied (or re-sent)

	deadline   int64 // non-live states: act when now reaches it (0 = none)
	lastResub  int64 // when the last resubscribe was queued
	attempts   int   // failed attempts since the last snapshot
	unsubReq   uint32
	unsubAcked bool
	solo       bool // subscribe it in a request of its own (its batch failed)
	inSubQ     bool
	inUnsubQ   bool
}

// request is one sent subscribe/unsubscribe, kept to match its reply.
type request struct {
	id    uint32
	op    uint8
	acked bool
	n     uint8
	books [maxArgsPerRequest]uint16
}

// frame holds what the top level of one message said. Its slices alias the
// frame bytes.
type frame struct {
	topic, typ, op, reqID, retMsg []byte
	ts                            int64
	success, hasSuccess           bool
	book                          int // index of the book the topic names, -1 if none
	dataStart, dataEnd            int // raw "data" value when parsed after the object
	dataParsed                    bool
	data                          data
}

// data is the parsed "data" object of a book message.
type data struct {
	sym        []byte
	u, seq     uint64
	hasU       bool
	hasSeq     bool
	nb, na     int
	reject     exchange.RejectReason // first semantic error (numbers, level cap)
	hasB, hasA bool
}

// Session is the pure per-connection state machine of the Bybit spot feed:
// it turns frames into book states and BookTop events, decides which books
// must be resubscribed, and produces the requests to send. It does no I/O,
// starts no goroutines and reads no clock: time comes in as arguments (the
// receive stamps of frames). It is owned by one goroutine.
//
// Lifecycle: NewSession → Start → (HandleFrame, NextRequest)* →
// Disconnected. Run drives it from the websocket; tests and benchmarks drive
// it with frames from testdata.
type Session struct {
	cfg        Config
	pub        *feed.Publisher
	stats      *exchange.FeedStats
	log        feed.LogLimiter
	books      []book
	order      []uint16 // book indexes sorted by symbol
	prefix     string   // "orderbook.<depth>."
	depth      int
	contiguous bool

	sc         jsonscan.Scanner
	bids, asks []exchange.Level // scratch of one message's levels (cap = level cap)
	ev         exchange.BookTop
	// tokenLevels makes parseLevels always take the token-by-token path
	// (tests: the reference the fused path is compared with).
	tokenLevels bool

	subQ, unsubQ []uint16
	reqs         [reqRing]request
	nextID       uint32

	snapTimeout int64
	resubEvery  int64
	ageMax      int64
	nextCheck   int64
	nextAge     int64
	events      uint64
	jumps       uint64
	reconnect   bool
}

// NewSession returns a session for cfg's instruments (book i is
// cfg.Instruments[i], which is also its Publisher index). cfg is expected to
// be valid (see Config.Validate); zero fields take their defaults. pub may be
// nil, in which case the session publishes to cfg.Ring without an Owner (as
// tests and benchmarks want).
func NewSession(cfg *Config, pub *feed.Publisher) *Session {
	d := cfg.withDefaults()
	st := d.stats
	if st == nil {
		st = new(exchange.FeedStats)
	}
	n := len(d.Instruments)
	if pub == nil {
		pub = feed.New(d.Ring, st, nil, 0, n, int64(d.AgeMax)/3)
	}
	maxLevels := max(2*d.Depth, 4)
	s := &Session{
		cfg:         d,
		pub:         pub,
		stats:       st,
		log:         feed.LogLimiter{Logger: d.Logger},
		books:       make([]book, n),
		order:       make([]uint16, n),
		prefix:      topicPrefix(d.Depth),
		depth:       d.Depth,
		contiguous:  d.Continuity == ContinuityContiguous,
		bids:        make([]exchange.Level, maxLevels),
		asks:        make([]exchange.Level, maxLevels),
		subQ:        make([]uint16, 0, n),
		unsubQ:      make([]uint16, 0, n),
		snapTimeout: int64(d.SnapshotTimeout),
		resubEvery:  min(int64(500*time.Millisecond), int64(d.SnapshotTimeout)/2),
		ageMax:      int64(d.AgeMax),
	}
	for i, in := range d.Instruments {
		s.books[i] = book{
			id: in.ID, sym: in.Symbol, topic: s.prefix + in.Symbol,
			pxDec: in.Scale.Px, qtyDec: in.Scale.Qty,
			// depth + the per-message level cap: one message can never push
			// a side past capacity, so nothing is truncated before trimming.
			l2:    l2.New(d.Depth+maxLevels, false),
			state: stSubscribing, cause: exchange.CauseConnecting,
		}
		s.order[i] = uint16(i)
	}
	sort.Slice(s.order, func(a, b int) bool { return s.books[s.order[a]].sym < s.books[s.order[b]].sym })
	s.ev.Venue = d.Venue
	return s
}

// Stats returns the counters the session writes (the Feed's, or its own).
func (s *Session) Stats() *exchange.FeedStats { return s.stats }

// Events returns the number of BookTop events the session handed to its
// Publisher (fresh and stale; whether they went out depends on ownership).
func (s *Session) Events() uint64 { return s.events }

// UJumps returns how many applied deltas had u > previous u + 1 (only under
// ContinuityMonotonic; under ContinuityContiguous they are gaps).
func (s *Session) UJumps() uint64 { return s.jumps }

// NeedReconnect reports that the session saw input it could not attribute to
// a book; every book is stale and the connection should be replaced.
func (s *Session) NeedReconnect() bool { return s.reconnect }

// Synced reports whether every book is live, or has failed often enough
// that it should not hold back a handover (it keeps retrying).
func (s *Session) Synced() bool {
	for i := range s.books {
		if bk := &s.books[i]; bk.state != stLive && bk.attempts < giveUpAttempts {
			return false
		}
	}
	return true
}

// Live reports whether book i is live (in sync with the venue).
func (s *Session) Live(i int) bool { return s.books[i].state == stLive }

// Start begins the connection: every book is announced stale
// (CauseConnecting) and its subscription queued; see NextRequest.
func (s *Session) Start(now int64) {
	for i := range s.books {
		bk := &s.books[i]
		bk.state, bk.deadline = stSubscribing, now+s.snapTimeout
		s.queueSub(i)
		s.publishStale(i, exchange.CauseConnecting, now)
	}
	s.arm(now + s.snapTimeout)
}

// Disconnected publishes a stale event with cause for every book: the
// connection is gone and nothing on it is known right any more.
func (s *Session) Disconnected(cause exchange.StaleCause, now int64) {
	for i := range s.books {
		s.books[i].state = stSubscribing
		s.publishStale(i, cause, now)
	}
	s.subQ, s.unsubQ = s.subQ[:0], s.unsubQ[:0]
}

// RepublishAll publishes every book's current state (fresh if live, stale
// otherwise) with RecvTS now: after this connection took ownership, the
// consumer must see its books, not the previous connection's.
func (s *Session) RepublishAll(now int64) {
	for i := range s.books {
		if s.books[i].state == stLive {
			s.publishBook(i, now)
		} else {
			s.publishStale(i, s.books[i].cause, now)
		}
	}
}

// HandleFrame parses one websocket message, applies it and publishes the
// result. It never panics and never allocates in steady state; every
// rejection is counted in Stats. recvTS is the frame's receive time and
// also drives the session's timers (see Tick).
func (s *Session) HandleFrame(b []byte, recvTS int64) {
	s.stats.Messages.Add(1)
	var f frame
	f.book = -1
	s.parseTop(b, &f)
	switch {
	case s.sc.Err() != nil:
		s.stats.Reject(exchange.RejectSyntax)
		if f.book >= 0 {
			s.logReject(recvTS, "malformed frame", exchange.RejectSyntax, f.book, b)
			s.invalidate(f.book, exchange.CauseBadData, recvTS)
		} else if f.topic != nil {
			// A broken frame of a topic we do not follow touches no book.
			s.logReject(recvTS, "malformed frame of another topic", exchange.RejectSyntax, -1, b)
		} else {
			s.logReject(recvTS, "malformed frame, not attributable: all books stale", exchange.RejectSyntax, -1, b)
			s.failAll(exchange.CauseBadData, recvTS)
		}
	case f.topic != nil:
		s.handleBook(&f, b, recvTS)
	case f.op != nil:
		s.handleOp(&f, b, recvTS)
	default:
		s.stats.Reject(exchange.RejectUnexpected)
		s.logReject(recvTS, "unexpected message", exchange.RejectUnexpected, -1, b)
	}
	s.Tick(recvTS)
}

// parseTop scans the top-level object. The "data" value is parsed in place
// when the topic came first (Bybit's order), otherwise its bytes are kept
// and parsed once the topic is known.
func (s *Session) parseTop(b []byte, f *frame) {
	sc := &s.sc
	sc.Reset(b)
	if !sc.Object() {
		// Valid JSON of another shape is unexpected, not malformed.
		sc.Reset(b)
		sc.Skip()
		if sc.Err() == nil && !sc.End() {
			sc.Fail(jsonscan.ErrSyntax)
		}
		return
	}
	for {
		k, ok := sc.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "topic":
			if f.topic != nil {
				// A second topic could apply levels read in one
				// instrument's scale to another's book.
				sc.Fail(jsonscan.ErrSyntax)
				return
			}
			f.topic = sc.Str()
			if f.topic != nil {
				f.book = s.lookup(f.topic)
			}
		case "type":
			f.typ = sc.Str()
		case "ts":
			v, ok := uintValue(sc)
			if ok && v <= maxTSms {
				f.ts = int64(v) * int64(time.Millisecond)
			} else if ok {
				sc.Fail(jsonscan.ErrRange)
			}
		case "data":
			if f.dataParsed || f.dataEnd > 0 {
				sc.Fail(jsonscan.ErrSyntax) // a second data object
				return
			}
			if f.book >= 0 {
				s.parseData(f.book, &f.data)
				f.dataParsed = true
				if f.data.reject != 0 {
					return // the frame is rejected; the rest does not matter
				}
			} else {
				f.dataStart = sc.Pos()
				sc.Skip()
				f.dataEnd = sc.Pos()
			}
		case "op":
			f.op = sc.Str()
		case "success":
			f.success, f.hasSuccess = sc.Bool(), true
		case "ret_msg":
			f.retMsg = rawString(sc)
		case "req_id":
			f.reqID = rawString(sc)
		default:
			sc.Skip()
		}
		if sc.Err() != nil {
			return
		}
	}
	if sc.Err() == nil && !sc.End() {
		sc.Fail(jsonscan.ErrSyntax)
	}
	if sc.Err() == nil && !f.dataParsed && f.book >= 0 && f.dataEnd > f.dataStart {
		sc.Reset(b[f.dataStart:f.dataEnd])
		s.parseData(f.book, &f.data)
		f.dataParsed = true
		if sc.Err() == nil && f.data.reject == 0 && !sc.End() {
			sc.Fail(jsonscan.ErrSyntax)
		}
	}
}

// maxTSms bounds a millisecond timestamp so that it converts to ns in int64.
const maxTSms = uint64(math.MaxInt64 / int64(time.Millisecond))

// parseData scans a book message's "data" object into the scratch levels.
func (s *Session) parseData(i int, d *data) {
	sc := &s.sc
	bk := &s.books[i]
	if !sc.Object() {
		return
	}
	for {
		k, ok := sc.Key()
		if !ok {
			return
		}
		switch string(k) {
		case "s":
			d.sym = sc.Str()
		case "b":
			d.nb = s.parseLevels(s.bids, bk, d)
			d.hasB = true
		case "a":
			d.na = s.parseLevels(s.asks, bk, d)
			d.hasA = true
		case "u":
			d.u, d.hasU = uintValue(sc)
		case "seq":
			d.seq, d.hasSeq = uintValue(sc)
		default:
			sc.Skip()
		}
		if sc.Err() != nil || d.reject != 0 {
			return
		}
	}
}

// parseLevels reads [[price, size], ...] into dst in the book's scale and
// returns the count. A number that is not a plain decimal within the scale,
// a zero price, or more levels than dst holds set d.reject and stop.
//
// Each level is read and converted in one pass (jsonscan's PairFixed).
// When that fails in any way, the array is read again from its start by
// parseLevelsTokens, the token-by-token reference, which decides: it checks
// a level's whole shape before its numbers, so a level that is both
// malformed and badly numbered stays a syntax error (PairFixed stops at the
// first bad number), and every rejection is exactly what it always was.
func (s *Session) parseLevels(dst []exchange.Level, bk *book, d *data) int {
	sc := &s.sc
	if sc.IsNull() {
		return 0
	}
	if s.tokenLevels {
		return s.parseLevelsTokens(dst, bk, d)
	}
	start := *sc // at the array, for the reference path
	if !sc.Array() {
		return 0
	}
	n := 0
	for sc.More() {
		if n == len(dst) {
			d.reject = exchange.RejectTooLarge
			return n
		}
		px, qty, ok := sc.PairFixed(bk.pxDec, bk.qtyDec)
		if !ok {
			*sc = start
			return s.parseLevelsTokens(dst, bk, d)
		}
		if px == 0 {
			d.reject = exchange.RejectNumber
			return n
		}
		dst[n] = exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)}
		n++
	}
	return n
}

// parseLevelsTokens is parseLevels token by token: each level's shape is
// read whole ([, string, string, ]) before its numbers are converted.
func (s *Session) parseLevelsTokens(dst []exchange.Level, bk *book, d *data) int {
	sc := &s.sc
	if !sc.Array() {
		return 0
	}
	n := 0
	for sc.More() {
		if n == len(dst) {
			d.reject = exchange.RejectTooLarge
			return n
		}
		if !sc.Array() || !sc.More() {
			sc.Fail(jsonscan.ErrSyntax)
			return n
		}
		p := sc.Str()
		if !sc.More() {
			sc.Fail(jsonscan.ErrSyntax)
			return n
		}
		q := sc.Str()
		if sc.More() { // a third element
			sc.Fail(jsonscan.ErrSyntax)
			return n
		}
		if sc.Err() != nil {
			return n
		}
		px, err := num.ParseUnsigned(p, bk.pxDec)
		if err != nil || px == 0 {
			d.reject = exchange.RejectNumber
			return n
		}
		qty, err := num.ParseUnsigned(q, bk.qtyDec)
		if err != nil {
			d.reject = exchange.RejectNumber
			return n
		}
		dst[n] = exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)}
		n++
	}
	return n
}

// handleBook applies one parsed book message.
func (s *Session) handleBook(f *frame, b []byte, now int64) {
	i := f.book
	if i < 0 {
		s.stats.Reject(exchange.RejectUnknownSymbol)
		s.logReject(now, "topic not subscribed", exchange.RejectUnknownSymbol, -1, b)
		return
	}
	bk := &s.books[i]
	d := &f.data
	snapshot := string(f.typ) == "snapshot"
	switch {
	case d.reject != 0:
		s.rejectBook(i, d.reject, exchange.CauseBadData, "bad level data", b, now)
		return
	case !snapshot && string(f.typ) != "delta":
		s.rejectBook(i, exchange.RejectUnexpected, exchange.CauseBadData, "unknown message type", b, now)
		return
	case !f.dataParsed || !d.hasU || !d.hasSeq || !d.hasB || !d.hasA:
		// seq is required: it is what the published event names the state
		// by (BookTop.Seq), and Bybit documents it on every book message.
		s.rejectBook(i, exchange.RejectSyntax, exchange.CauseBadData, "book message without data, u, seq, b or a", b, now)
		return
	case d.sym != nil && string(d.sym) != bk.sym:
		s.rejectBook(i, exchange.RejectUnexpected, exchange.CauseBadData, "data.s does not match the topic", b, now)
		return
	}

	if snapshot {
		if bk.state == stResubscribing && !bk.unsubAcked {
			return // the old subscription's, in flight before our unsubscribe
		}
		for _, lv := range s.bids[:d.nb] {
			if lv.Qty == 0 {
				s.rejectBook(i, exchange.RejectNumber, exchange.CauseBadData, "zero size in a snapshot", b, now)
				return
			}
		}
		for _, lv := range s.asks[:d.na] {
			if lv.Qty == 0 {
				s.rejectBook(i, exchange.RejectNumber, exchange.CauseBadData, "zero size in a snapshot", b, now)
				return
			}
		}
		if bk.state == stLive && d.u != 1 && d.u < bk.u && d.seq < bk.seq {
			// Older than the book by both ids and not a restart (u = 1):
			// the stream contradicts itself, so rebuild rather than guess.
			s.rejectBook(i, exchange.RejectSequence, exchange.CauseGap, "snapshot older than the book", b, now)
			return
		}
		if bk.state == stLive && s.depth > 1 {
			// A snapshot mid-stream is the venue resetting the book (u = 1:
			// service restart); it is authoritative, so apply it.
			s.stats.Resyncs.Add(1)
		}
		bk.l2.Reset()
		s.apply(bk, d)
		if bk.l2.Crossed() {
			s.rejectBook(i, exchange.RejectCrossed, exchange.CauseBadData, "snapshot is crossed", b, now)
			return
		}
		bk.state, bk.attempts, bk.deadline = stLive, 0, 0
		bk.u, bk.seq, bk.exchTS, bk.lastData = d.u, d.seq, f.ts, now
		s.publishBook(i, now)
		return
	}

	// Delta.
	switch bk.state {
	case stResubscribing, stBroken:
		return // expected while recovering: the book is stale already
	case stSubscribing:
		s.rejectBook(i, exchange.RejectSequence, exchange.CauseGap, "delta before the snapshot", b, now)
		return
	}
	if d.u <= bk.u {
		// A duplicate or older update. On one TCP stream this means the
		// venue's sequence broke (a restart that did not announce itself
		// with u = 1 would look the same, and ignoring it would freeze a
		// fresh-looking book), so rebuild.
		s.rejectBook(i, exchange.RejectSequence, exchange.CauseGap, "delta u not above the book's u", b, now)
		return
	}
	if d.seq < bk.seq {
		s.rejectBook(i, exchange.RejectSequence, exchange.CauseGap, "cross sequence went backwards", b, now)
		return
	}
	if d.u != bk.u+1 {
		if s.contiguous {
			s.stats.Gaps.Add(1)
			s.rejectBook(i, exchange.RejectSequence, exchange.CauseGap, "update id gap", b, now)
			return
		}
		s.jumps++
	}
	s.apply(bk, d)
	if bk.l2.Crossed() {
		s.rejectBook(i, exchange.RejectCrossed, exchange.CauseBadData, "book crossed after delta", b, now)
		return
	}
	bk.u, bk.seq, bk.exchTS, bk.lastData = d.u, d.seq, f.ts, now
	s.publishBook(i, now)
}

// apply sets the message's levels (size 0 deletes) and trims each side to
// the subscribed depth: Bybit maintains a window of Depth levels, so a level
// pushed out of it is no longer known.
func (s *Session) apply(bk *book, d *data) {
	for _, lv := range s.bids[:d.nb] {
		bk.l2.Bids.Set(lv.Px, lv.Qty)
	}
	for _, lv := range s.asks[:d.na] {
		bk.l2.Asks.Set(lv.Px, lv.Qty)
	}
	trim(&bk.l2.Bids, s.depth)
	trim(&bk.l2.Asks, s.depth)
}

func trim(sd *l2.Side, depth int) {
	for sd.Len() > depth {
		sd.Set(sd.Level(sd.Len()-1).Px, 0)
	}
}

// handleOp handles control replies: pongs, subscribe/unsubscribe results.
func (s *Session) handleOp(f *frame, b []byte, now int64) {
	switch string(f.op) {
	case "pong":
		return
	case "ping":
		if string(f.retMsg) == "pong" || (f.hasSuccess && f.success) {
			return
		}
	case "subscribe", "unsubscribe":
		if !f.hasSuccess {
			break
		}
		op := opSubscribe
		if string(f.op) == "unsubscribe" {
			op = opUnsubscribe
		}
		s.onReply(op, f, b, now)
		return
	}
	s.stats.Reject(exchange.RejectUnexpected)
	s.logReject(now, "unexpected control message", exchange.RejectUnexpected, -1, b)
}

// onReply matches a subscribe/unsubscribe reply to its request: by req_id,
// or, when the venue does not echo it, to the oldest unanswered request of
// that op (Bybit answers requests in order).
func (s *Session) onReply(op uint8, f *frame, b []byte, now int64) {
	r := s.findRequest(op, f.reqID)
	if !f.success {
		s.stats.Reject(exchange.RejectUnexpected)
		s.logReject(now, "subscription request failed", exchange.RejectUnexpected, -1, b)
	}
	if r == nil {
		return
	}
	r.acked = true
	for _, bi := range r.books[:r.n] {
		bk := &s.books[bi]
		if op == opUnsubscribe {
			if bk.state == stResubscribing && bk.unsubReq == r.id {
				bk.unsubAcked = true // done, even if it failed: nothing to unsubscribe
			}
			continue
		}
		if f.success || bk.state == stLive {
			continue
		}
		// A failed batch fails every topic in it (one bad symbol is
		// enough): retry each topic alone, so that only the bad one stays
		// stale. A topic that failed alone is retried later, spaced out.
		if r.n > 1 {
			bk.solo = true
			s.queueSub(int(bi))
			continue
		}
		bk.attempts++
		bk.state = stBroken
		bk.deadline = now + s.snapTimeout<<min(bk.attempts, maxRetryShift)
		s.arm(bk.deadline)
	}
}

func (s *Session) findRequest(op uint8, reqID []byte) *request {
	if id, err := jsonscan.ParseInt(reqID); err == nil && id > 0 && id <= int64(^uint32(0)) {
		if r := &s.reqs[uint32(id)%reqRing]; r.id == uint32(id) && r.op == op {
			return r
		}
		return nil
	}
	var best *request
	for k := range s.reqs {
		r := &s.reqs[k]
		if r.id != 0 && r.op == op && !r.acked && (best == nil || r.id < best.id) {
			best = r
		}
	}
	return best
}

// Tick runs the session's timers at time now: resubscribing books whose
// snapshot is overdue; marking stale (and resubscribing) live books that
// received nothing for AgeMax, since Bybit sends nothing for a book that does
// not change and a quiet book cannot be told from a frozen one; and
// republishing live books that were quiet for the refresh interval.
// HandleFrame calls it with each frame's receive time, which is what makes
// a republished quiet book right: the connection was demonstrably alive at
// now (Bybit's pongs guarantee a frame at least every PingEvery). Call it
// directly only with such a time.
func (s *Session) Tick(now int64) {
	if s.nextCheck != 0 && now >= s.nextCheck {
		s.checkDeadlines(now)
	}
	if now >= s.nextAge {
		s.nextAge = now + s.ageMax/4
		for i := range s.books {
			if bk := &s.books[i]; bk.state == stLive && now-bk.lastData >= s.ageMax {
				s.logReject(now, "no data for the age limit: resubscribing", 0, i, nil)
				s.invalidate(i, exchange.CauseAge, now)
			}
		}
	}
	if s.pub.DueForRefresh(now) {
		for i := range s.books {
			if bk := &s.books[i]; bk.state == stLive && bk.fresh && s.pub.Quiet(i, now) {
				s.publishBook(i, now)
			}
		}
	}
}

func (s *Session) checkDeadlines(now int64) {
	s.nextCheck = 0
	for i := range s.books {
		bk := &s.books[i]
		if bk.state == stLive || bk.deadline == 0 {
			continue
		}
		if now >= bk.deadline {
			if bk.state != stBroken {
				bk.attempts++
				s.logReject(now, "no snapshot in time: resubscribing", 0, i, nil)
			}
			s.resubscribe(i, now)
		}
		s.arm(bk.deadline)
	}
}

// arm makes sure the deadline check runs at t.
func (s *Session) arm(t int64) {
	if s.nextCheck == 0 || t < s.nextCheck {
		s.nextCheck = t
	}
}

// rejectBook counts a rejected frame attributed to book i, which is no
// longer known right: it goes stale and is rebuilt.
func (s *Session) rejectBook(i int, r exchange.RejectReason, cause exchange.StaleCause, msg string, b []byte, now int64) {
	s.stats.Reject(r)
	s.logReject(now, msg, r, i, b)
	s.invalidate(i, cause, now)
}

// invalidate marks book i stale and starts its rebuild: a resubscribe now,
// or, if the last one was less than resubEvery ago, at that time.
func (s *Session) invalidate(i int, cause exchange.StaleCause, now int64) {
	bk := &s.books[i]
	if bk.fresh {
		s.publishStale(i, cause, now)
	}
	bk.cause = cause
	switch {
	case bk.state == stBroken:
		return // a resubscribe is already scheduled
	case bk.state == stResubscribing && !bk.unsubAcked:
		return // from the old subscription; the new one is on its way
	}
	if bk.lastResub == 0 || now-bk.lastResub >= s.resubEvery {
		s.resubscribe(i, now)
		return
	}
	bk.state = stBroken
	bk.deadline = bk.lastResub + s.resubEvery
	s.arm(bk.deadline)
}

// resubscribe queues unsubscribe + subscribe for book i.
func (s *Session) resubscribe(i int, now int64) {
	bk := &s.books[i]
	bk.state = stResubscribing
	bk.unsubAcked = false
	bk.lastResub = now
	bk.deadline = now + s.snapTimeout<<min(bk.attempts, maxRetryShift)
	s.arm(bk.deadline)
	s.stats.Resyncs.Add(1)
	if !bk.inUnsubQ {
		bk.inUnsubQ = true
		s.unsubQ = append(s.unsubQ, uint16(i))
	}
	s.queueSub(i)
}

func (s *Session) queueSub(i int) {
	if bk := &s.books[i]; !bk.inSubQ {
		bk.inSubQ = true
		s.subQ = append(s.subQ, uint16(i))
	}
}

// failAll marks every book stale after input that cannot be attributed to
// one; the connection must be replaced (NeedReconnect).
func (s *Session) failAll(cause exchange.StaleCause, now int64) {
	for i := range s.books {
		bk := &s.books[i]
		if bk.fresh {
			s.publishStale(i, cause, now)
		}
		bk.cause = cause
		bk.state = stBroken
		bk.deadline = 0
	}
	s.reconnect = true
}

// NextRequest appends the next queued request (unsubscribes first, then
// subscribes, at most 10 topics each as Bybit spot allows) to dst and
// reports whether there was one. Run sends each until none is left.
func (s *Session) NextRequest(dst []byte) ([]byte, bool) {
	var op uint8
	var pick [maxArgsPerRequest]uint16
	n := 0
	switch {
	case len(s.unsubQ) > 0:
		op = opUnsubscribe
		n = copy(pick[:], s.unsubQ)
		s.unsubQ = s.unsubQ[:copy(s.unsubQ, s.unsubQ[n:])]
		for _, bi := range pick[:n] {
			s.books[bi].inUnsubQ = false
		}
	case len(s.subQ) > 0:
		op = opSubscribe
		keep := s.subQ[:0]
		for _, bi := range s.subQ {
			bk := &s.books[bi]
			switch {
			case bk.state == stLive:
				bk.inSubQ = false // synced meanwhile (e.g. a retry of a failed batch)
			case n < maxArgsPerRequest && (n == 0 || !bk.solo && !s.books[pick[0]].solo):
				pick[n] = bi
				n++
				bk.inSubQ = false
			default:
				keep = append(keep, bi)
			}
		}
		s.subQ = keep
		if n == 0 {
			return dst, false
		}
	default:
		return dst, false
	}
	s.nextID++
	if s.nextID == 0 {
		s.nextID = 1
	}
	id := s.nextID
	r := &s.reqs[id%reqRing]
	*r = request{id: id, op: op, n: uint8(n)}
	copy(r.books[:], pick[:n])
	dst = append(dst, `{"req_id":"`...)
	dst = strconv.AppendUint(dst, uint64(id), 10)
	if op == opSubscribe {
		dst = append(dst, `","op":"subscribe","args":[`...)
	} else {
		dst = append(dst, `","op":"unsubscribe","args":[`...)
	}
	for k, bi := range pick[:n] {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, s.books[bi].topic...)
		dst = append(dst, '"')
		if op == opUnsubscribe {
			s.books[bi].unsubReq = id
		}
	}
	return append(dst, "]}"...), true
}

// lookup returns the index of the book a topic names, or -1.
func (s *Session) lookup(topic []byte) int {
	if !s.ourPrefix(topic) {
		return -1
	}
	sym := topic[len(s.prefix):]
	lo, hi := 0, len(s.order)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if string(sym) > s.books[s.order[m]].sym {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s.order) && s.books[s.order[lo]].sym == string(sym) {
		return int(s.order[lo])
	}
	return -1
}

func (s *Session) ourPrefix(topic []byte) bool {
	return len(topic) >= len(s.prefix) && string(topic[:len(s.prefix)]) == s.prefix
}

// publishBook publishes book i's top levels as fresh. Seq is the state's
// cross sequence (data.seq), not u: u counts the pushes of one topic, so the
// same state has different u on orderbook.50 and orderbook.200 while seq
// names it on every depth (and orders states across depths).
func (s *Session) publishBook(i int, recvTS int64) {
	bk := &s.books[i]
	ev := &s.ev
	ev.Seq, ev.ExchTS, ev.RecvTS = bk.seq, bk.exchTS, recvTS
	ev.Flags, ev.Cause, ev.Inst = 0, exchange.CauseNone, bk.id
	bk.l2.Top(ev)
	s.pub.Publish(i, ev)
	s.events++
	bk.fresh = true
}

// publishStale publishes a stale marker for book i.
func (s *Session) publishStale(i int, cause exchange.StaleCause, now int64) {
	bk := &s.books[i]
	ev := &s.ev
	ev.Seq, ev.ExchTS, ev.Flags, ev.Inst = bk.seq, bk.exchTS, 0, bk.id
	ev.SetStale(cause, now)
	s.pub.Publish(i, ev)
	s.events++
	bk.fresh = false
	bk.cause = cause
}

// logReject writes a rate-limited line about a rejected or notable frame:
// venue, reason, instrument if known and a short excerpt (public market
// data only; this stream carries no secrets).
func (s *Session) logReject(now int64, msg string, r exchange.RejectReason, i int, b []byte) {
	attrs := make([]slog.Attr, 0, 4)
	attrs = append(attrs, slog.String("venue", s.cfg.Name))
	if r != 0 {
		attrs = append(attrs, slog.String("reason", r.String()))
	}
	if i >= 0 {
		attrs = append(attrs, slog.String("symbol", s.books[i].sym))
	}
	if b != nil {
		attrs = append(attrs, slog.String("frame", excerpt(b)))
	}
	s.log.Log(now, "bybit: "+msg, attrs...)
}

const excerptMax = 160

func excerpt(b []byte) string {
	if len(b) > excerptMax {
		return string(b[:excerptMax]) + "…"
	}
	return string(b)
}

// uintValue reads a non-negative integer given as a JSON number or string.
// The scanner validates the token; the digits are converted here without
// per-digit overflow checks for up to 19 digits (which cannot overflow).
func uintValue(sc *jsonscan.Scanner) (uint64, bool) {
	var raw []byte
	if sc.Peek() == '"' {
		raw = sc.Str()
	} else {
		raw = sc.Number()
	}
	if sc.Err() != nil {
		return 0, false
	}
	v, ok := parseUint(raw)
	if !ok {
		sc.Fail(jsonscan.ErrType)
	}
	return v, ok
}

// parseUint parses decimal digits (no sign, no leading zeros) into a value
// that fits an int64: jsonscan.ParseInt (eight digits at a time) without
// its sign.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || b[0] == '-' {
		return 0, false
	}
	v, err := jsonscan.ParseInt(b)
	return uint64(v), err == nil
}

// rawString reads a string value without escapes. One with escapes (a
// venue's free-text message may have them) is skipped and yields nil: the
// values read this way only feed logs and req_id matching, and our req_ids
// never contain escapes.
func rawString(sc *jsonscan.Scanner) []byte {
	if sc.Peek() != '"' {
		sc.Skip()
		return nil
	}
	sub := *sc
	if v := sub.Str(); sub.Err() == nil {
		*sc = sub
		return v
	}
	sc.Skip()
	return nil
}
