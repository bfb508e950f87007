package binance

import (
	"errors"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/jsonscan"
	"arb/exchange/internal/l2"
	"arb/exchange/num"
)

// Caps of the diff-depth buffer kept while a snapshot is fetched. Past a cap
// the buffer is dropped and restarted from the current event (the snapshot
// is taking too long to be useful).
const (
	maxBufEvents      = 1024    // per book
	maxBufLevels      = 1 << 17 // per book (2 MiB)
	maxBufLevelsTotal = 1 << 21 // per session (32 MiB)
)

var (
	errSequence = errors.New("binance: first update id U above final update id u")
	errMissing  = errors.New("binance: required field missing or negative")
	errUnsorted = errors.New("binance: snapshot levels not strictly sorted best first")
	errSymbol   = errors.New("binance: symbol does not match the stream")
	errShape    = errors.New("binance: message does not match its stream")
)

// refetchStable is how long a book must stay right after a snapshot for
// its run of refusals to be forgotten, however long the next wait would be
// (see wantSnapshot).
const refetchStable = 10 * time.Second

// maxEventMs bounds event times (ms) so that ExchTS in ns cannot overflow.
const maxEventMs = 1 << 43

// Session is the pure per-connection state machine: frames and REST
// snapshots in, BookTop events out through the Publisher. It does no I/O,
// starts no goroutine and reads no clock (time comes in as arguments), so
// tests and benchmarks drive it directly. It is owned by one goroutine.
//
// Inputs: HandleFrame, ApplySnapshot, SnapshotFailed, Disconnected,
// Republish, Refresh. Outputs: events through the Publisher, and
// NeedSnapshot, Synced, ShutdownRequested, Events for the driver.
type Session struct {
	cfg     *Config
	pub     *feed.Publisher
	stats   *exchange.FeedStats
	kind    chanKind
	want    kind // the message kind the channel carries
	depth   int  // levels kept per side
	books   []book
	streams []route // by lower-case stream name
	symbols []route // by exact venue symbol
	p       parser
	lb, la  []exchange.Level // levels of the current message (the parser's scratch)
	ev      exchange.BookTop
	log     feed.LogLimiter

	frames   uint64 // frames handled; the ordinal of the current one
	snaps    uint64 // snapshots handled
	events   uint64 // events accepted by the publisher
	cursor   int    // round-robin start of NeedSnapshot
	buffered int    // diff levels buffered over all books
	nFresh   int    // books fresh (Synced in O(1) per frame)
	wantAny  bool   // some book may want a snapshot (NeedSnapshot scans only then)
	shutdown bool

	// Refetch pacing (see wantSnapshot): the latest time seen in any input,
	// the backoff bounds and how long a book must stay right for its run of
	// refusals to be forgotten.
	now                    int64
	backoffMin, backoffMax int64
	stable                 int64 // min(refetchStable, BackoffMax)

	hook func(hookRec) // tests: what was applied to which book
}

// book is one instrument's state on this connection.
type book struct {
	inst   *exchange.Instrument
	l2     *l2.Book
	fresh  bool                // known right and published as such
	cause  exchange.StaleCause // why not fresh
	id     uint64              // update id of the state held (depth: last u; bbo: u; partial: lastUpdateId)
	seen   bool                // bbo/partial: a message was accepted, so id orders the next ones
	exchTS int64

	// Diff-depth sync (ChannelDepth only).
	snapLoaded bool // l2 holds a snapshot at id, waiting for the first event after it
	wantSnap   bool // a snapshot should be requested
	inflight   bool // a snapshot request is out
	// fails counts the snapshot requests in a row that did not pay off
	// (refused, failed, or the book broken again sooner than the next wait);
	// retryAt is when the next request may go (see wantSnapshot).
	fails   int
	retryAt int64
	freshAt int64 // when the book last became fresh
	buf     []bufEvent
	lv      []exchange.Level // levels of buf, bids then asks per event
	// floorBid/floorAsk: levels at or better than the floor are known
	// completely; beyond it the side may miss levels (snapshot depth reached,
	// or l2 dropped levels for lack of room), so they are not published.
	floorBid, floorAsk num.Price
}

// bufEvent is a diff event buffered until a snapshot arrives.
type bufEvent struct {
	U, u        uint64
	E           int64
	frame       uint64
	off, nb, na int32
}

type route struct {
	key string
	i   int
}

// hookRec tells a test what the session applied: a diff event, a bookTicker
// or partial-depth message (ord = frame ordinal) or a snapshot (ord =
// snapshot ordinal) to book i.
type hookRec struct {
	what hookKind
	i    int
	ord  uint64
}

type hookKind uint8

const (
	hookEvent hookKind = iota + 1
	hookMessage
	hookSnapshot
)

// NewSession returns the state machine of one connection, publishing
// through pub (whose instrument indexes are those of cfg.Instruments). cfg
// should have passed Validate; an empty Channel means ChannelDepth and a
// zero Depth the default. cfg is read, never written, and must outlive the
// session. All books start stale (CauseConnecting); with ChannelDepth each
// wants a snapshot (NeedSnapshot).
func NewSession(cfg *Config, pub *feed.Publisher) *Session {
	k, n, _ := channel(cfg.Channel)
	s := &Session{cfg: cfg, pub: pub, kind: k, p: newParser()}
	s.stats = cfg.stats
	if s.stats == nil {
		s.stats = new(exchange.FeedStats)
	}
	if s.pub == nil { // a session driven on its own (benchmarks): publish straight to the ring
		d := cfg.withDefaults()
		s.pub = feed.New(cfg.Ring, s.stats, nil, 0, len(cfg.Instruments), int64(d.AgeMax)/3)
	}
	s.log = feed.LogLimiter{Logger: cfg.Logger}
	d := cfg.withDefaults()
	s.backoffMin, s.backoffMax = int64(d.BackoffMin), int64(d.BackoffMax)
	s.stable = min(int64(refetchStable), s.backoffMax)
	switch k {
	case chDepth:
		s.want, s.depth = kindDepth, cfg.Depth
		if s.depth <= 0 {
			s.depth = DefaultDepth
		}
	case chBBO:
		s.want, s.depth = kindTicker, 1
	case chPartial:
		s.want, s.depth = kindPartial, n
	}
	s.books = make([]book, len(cfg.Instruments))
	for i := range s.books {
		b := &s.books[i]
		b.inst = &cfg.Instruments[i]
		b.l2 = l2.New(s.depth, false)
		b.cause = exchange.CauseConnecting
		b.floorAsk = math.MaxInt64
		b.wantSnap = k == chDepth
		if b.wantSnap {
			b.fails = 1 // the first request goes at once
		}
		s.wantAny = b.wantSnap
		s.streams = append(s.streams, route{strings.ToLower(cfg.streamName(b.inst.Symbol)), i})
		s.symbols = append(s.symbols, route{b.inst.Symbol, i})
	}
	sort.Slice(s.streams, func(a, b int) bool { return s.streams[a].key < s.streams[b].key })
	sort.Slice(s.symbols, func(a, b int) bool { return s.symbols[a].key < s.symbols[b].key })
	scales := make([]num.Scale, len(s.books))
	for i := range s.books {
		scales[i] = s.books[i].inst.Scale
	}
	s.p.setBooks(s.streams, scales)
	s.p.tickers = k == chBBO
	return s
}

// Stats returns the counters the session updates: the Feed's when the
// session belongs to a Feed, otherwise its own (feed.Publisher does not
// expose the stats it was built with).
func (s *Session) Stats() *exchange.FeedStats { return s.stats }

// lookup finds key in a table sorted by key, whose keys are unique (Validate
// refuses a symbol listed twice, and symbols are upper case, so their
// lower-cased stream names are unique too); with fold, key is compared
// lower-cased (stream names are lower case, but bookTicker is camel case on
// the wire).
func lookup(tab []route, key []byte, fold bool) int {
	lo, hi := 0, len(tab)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := compare(key, tab[m].key, fold); {
		case c == 0:
			return tab[m].i
		case c > 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return -1
}

func compare(a []byte, b string, fold bool) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		c := a[i]
		if fold && c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			if c < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// route returns the book a frame belongs to (-1 if none) and whether the
// frame named a stream or symbol at all (so that a frame of a stream we do
// not hold is told apart from one that names nothing).
func (s *Session) route(m *msg) (int, bool) {
	if m.f&fStream != 0 {
		return s.p.streamBook(), true // in s.streams
	}
	if m.f&fSym != 0 {
		return lookup(s.symbols, m.sym, false), true
	}
	return -1, false
}

// HandleFrame parses one websocket frame and applies it: it never panics,
// counts every refusal in Stats, and publishes the books it changed. It is
// allocation-free in steady state.
func (s *Session) HandleFrame(b []byte, recvTS int64) {
	s.clock(recvTS)
	s.stats.Messages.Add(1)
	s.frames++
	p := &s.p
	p.parseFrame(b)
	m := &p.m
	i, named := s.route(m)
	err := p.sc.Err()
	if err == nil && m.f&fDataNotObject != 0 {
		err = jsonscan.ErrType
	}
	if err != nil {
		reason := exchange.RejectSyntax
		if err == errTooManyLevels {
			reason = exchange.RejectTooLarge
		}
		s.reject(reason, i, b, recvTS, err)
		switch {
		case i >= 0:
			s.bad(i, exchange.CauseBadData, recvTS)
		case named: // a stream or symbol that is not ours
		default: // cannot be attributed: nothing on this connection is known right
			s.badAll(exchange.CauseBadData, recvTS)
		}
		return
	}
	k := m.kind()
	if k == kindShutdown { // raw or wrapped, whatever the stream name
		s.shutdown = true
		return
	}
	if m.f&fStream != 0 {
		if i < 0 {
			s.stats.Reject(exchange.RejectUnknownSymbol)
			return
		}
		if k != s.want {
			s.reject(exchange.RejectUnexpected, i, b, recvTS, errShape)
			s.bad(i, exchange.CauseBadData, recvTS)
			return
		}
	} else {
		switch {
		case k == kindOther || k == kindReply: // this adapter sends no control message
			s.reject(exchange.RejectUnexpected, -1, b, recvTS, nil)
			return
		case i < 0 || k != s.want: // unknown symbol, no symbol, or a channel we did not subscribe
			s.stats.Reject(exchange.RejectUnknownSymbol)
			return
		}
	}
	if m.f&fSym != 0 && string(m.sym) != s.books[i].inst.Symbol {
		s.reject(exchange.RejectUnexpected, i, b, recvTS, errSymbol)
		s.bad(i, exchange.CauseBadData, recvTS)
		return
	}
	switch k {
	case kindDepth:
		s.onDepth(i, recvTS)
	case kindTicker:
		s.onTicker(i, recvTS)
	case kindPartial:
		s.onPartial(i, recvTS)
	}
}

// onDepth handles a depthUpdate for book i.
func (s *Session) onDepth(i int, ts int64) {
	p, m, b := &s.p, &s.p.m, &s.books[i]
	if !m.has(fFirst|fLast|fBArr|fAArr) || m.U < 0 || m.u < 0 || m.E < 0 || m.E >= maxEventMs {
		s.reject(exchange.RejectSyntax, i, p.b, ts, errMissing)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	U, u := uint64(m.U), uint64(m.u)
	if U > u {
		s.reject(exchange.RejectSequence, i, p.b, ts, errSequence)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	var err error
	s.lb, s.la, err = p.levelsIn(i, b.inst.Scale)
	if err != nil {
		s.reject(exchange.RejectNumber, i, p.b, ts, err)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	E := m.E * 1e6
	switch {
	case b.fresh:
		if u <= b.id { // duplicate or older: nothing new, the book is still right
			s.stats.Reject(exchange.RejectSequence)
			return
		}
		if U > b.id+1 {
			s.stats.Gaps.Add(1)
			s.restart(i, exchange.CauseGap, ts)
			s.bufferCurrent(i, U, u, E, ts)
			return
		}
		s.applyDiff(b, s.lb, s.la)
		s.applied(hookEvent, i, s.frames)
		b.id, b.exchTS = u, E
		if b.l2.Crossed() {
			s.reject(exchange.RejectCrossed, i, p.b, ts, nil)
			s.bad(i, exchange.CauseBadData, ts)
			return
		}
		s.publish(i, ts)
	case b.snapLoaded:
		if u <= b.id { // older than the snapshot: documented drop
			return
		}
		if U > b.id+1 { // the snapshot predates the stream: fetch another
			s.restart(i, b.cause, ts)
			s.bufferCurrent(i, U, u, E, ts)
			return
		}
		b.snapLoaded = false
		s.applyDiff(b, s.lb, s.la)
		s.applied(hookEvent, i, s.frames)
		b.id, b.exchTS = u, E
		s.synced(i, ts)
	default:
		if n := len(b.buf); n > 0 {
			last := &b.buf[n-1]
			if u <= last.u {
				s.stats.Reject(exchange.RejectSequence)
				return
			}
			if U > last.u+1 { // events were lost while buffering
				s.stats.Gaps.Add(1)
				s.clearBuf(b)
			}
		}
		s.bufferCurrent(i, U, u, E, ts)
	}
}

// bufferCurrent appends the current diff event (levels in s.lb, s.la) to
// book i's buffer, starting the buffer over if a cap would be exceeded.
func (s *Session) bufferCurrent(i int, U, u uint64, E, ts int64) {
	b := &s.books[i]
	n := len(s.lb) + len(s.la)
	if len(b.buf) >= maxBufEvents || len(b.lv)+n > maxBufLevels || s.buffered+n > maxBufLevelsTotal {
		s.clearBuf(b)
		s.log.Log(ts, "binance: diff buffer full while waiting for a snapshot; restarted",
			slog.String("venue", s.cfg.Name), slog.String("symbol", b.inst.Symbol))
		if s.buffered+n > maxBufLevelsTotal || n > maxBufLevels {
			return // even this event does not fit: the next one starts the buffer
		}
	}
	off := int32(len(b.lv))
	b.lv = append(b.lv, s.lb...)
	b.lv = append(b.lv, s.la...)
	s.buffered += n
	b.buf = append(b.buf, bufEvent{U: U, u: u, E: E, frame: s.frames, off: off, nb: int32(len(s.lb)), na: int32(len(s.la))})
}

func (s *Session) clearBuf(b *book) {
	s.buffered -= len(b.lv)
	b.buf, b.lv = b.buf[:0], b.lv[:0]
}

// applyDiff sets every level (qty 0 deletes), tightening the floor of a full
// side first: inserting into a full side drops (or refuses) its worst level,
// after which levels beyond the worst one held are no longer known.
func (s *Session) applyDiff(b *book, bids, asks []exchange.Level) {
	for _, lv := range bids {
		sd := &b.l2.Bids
		if lv.Qty != 0 && sd.Len() == sd.Cap() {
			if w := sd.Level(sd.Len() - 1).Px; w > b.floorBid {
				b.floorBid = w
			}
		}
		sd.Set(lv.Px, lv.Qty)
	}
	for _, lv := range asks {
		sd := &b.l2.Asks
		if lv.Qty != 0 && sd.Len() == sd.Cap() {
			if w := sd.Level(sd.Len() - 1).Px; w < b.floorAsk {
				b.floorAsk = w
			}
		}
		sd.Set(lv.Px, lv.Qty)
	}
}

// loadSorted fills an empty book with the best n levels per side of a
// snapshot given best first, inserting worst first so that every insert
// appends (the l2 arrays keep the best level last). All levels must be
// strictly sorted best first.
func loadSorted(b *l2.Book, bids, asks []exchange.Level, n int) error {
	for j := 1; j < len(bids); j++ {
		if bids[j].Px >= bids[j-1].Px {
			return errUnsorted
		}
	}
	for j := 1; j < len(asks); j++ {
		if asks[j].Px <= asks[j-1].Px {
			return errUnsorted
		}
	}
	for j := min(len(bids), n) - 1; j >= 0; j-- {
		b.Bids.Set(bids[j].Px, bids[j].Qty)
	}
	for j := min(len(asks), n) - 1; j >= 0; j-- {
		b.Asks.Set(asks[j].Px, asks[j].Qty)
	}
	return nil
}

// onTicker handles a bookTicker: a complete 1-level book, accepted only if
// its update id is newer than the last accepted one.
func (s *Session) onTicker(i int, ts int64) {
	p, m, b := &s.p, &s.p.m, &s.books[i]
	if !m.has(fLast|fBStr|fBQty|fAStr|fAQty) || m.u < 0 || m.E < 0 || m.E >= maxEventMs {
		s.reject(exchange.RejectSyntax, i, p.b, ts, errMissing)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	u := uint64(m.u)
	bid, hasBid, err := bboLevel(m.bPx, m.bQty, b.inst.Scale)
	var ask exchange.Level
	var hasAsk bool
	if err == nil {
		ask, hasAsk, err = bboLevel(m.aPx, m.aQty, b.inst.Scale)
	}
	if err != nil {
		s.reject(exchange.RejectNumber, i, p.b, ts, err)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	if b.seen && u <= b.id { // out of order or repeated
		s.stats.Reject(exchange.RejectSequence)
		return
	}
	if hasBid && hasAsk && bid.Px >= ask.Px {
		s.reject(exchange.RejectCrossed, i, p.b, ts, nil)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	b.l2.Reset()
	if hasBid {
		b.l2.Bids.Set(bid.Px, bid.Qty)
	}
	if hasAsk {
		b.l2.Asks.Set(ask.Px, ask.Qty)
	}
	b.id, b.exchTS, b.seen = u, m.E*1e6, true
	s.applied(hookMessage, i, s.frames)
	s.accept(i, ts)
}

// onPartial handles a partial-depth message: a complete top-N book.
func (s *Session) onPartial(i int, ts int64) {
	p, m, b := &s.p, &s.p.m, &s.books[i]
	if !m.has(fLastID|fBids|fAsks) || m.lastID < 0 {
		s.reject(exchange.RejectSyntax, i, p.b, ts, errMissing)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	var err error
	s.lb, s.la, err = p.levelsIn(i, b.inst.Scale)
	if err != nil {
		s.reject(exchange.RejectNumber, i, p.b, ts, err)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	L := uint64(m.lastID)
	if b.seen && L < b.id { // older than the state held; equal = unchanged, re-sent
		s.stats.Reject(exchange.RejectSequence)
		return
	}
	b.l2.Reset()
	if err := loadSorted(b.l2, s.lb, s.la, s.depth); err != nil {
		s.reject(exchange.RejectSyntax, i, p.b, ts, err)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	if b.l2.Crossed() {
		s.reject(exchange.RejectCrossed, i, p.b, ts, nil)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	b.id, b.exchTS, b.seen = L, 0, true
	s.applied(hookMessage, i, s.frames)
	s.accept(i, ts)
}

// accept publishes a bookTicker or partial book that is now right.
func (s *Session) accept(i int, ts int64) {
	b := &s.books[i]
	if !b.fresh {
		s.setFresh(b, true)
		s.stats.Resyncs.Add(1)
	}
	s.publish(i, ts)
}

// setFresh records whether book b is known right.
func (s *Session) setFresh(b *book, fresh bool) {
	if b.fresh == fresh {
		return
	}
	b.fresh = fresh
	if fresh {
		b.cause = exchange.CauseNone
		b.freshAt = s.now
		s.nFresh++
	} else {
		if s.now-b.freshAt >= min(s.stable, s.backoff(b.fails+1)) {
			b.fails = 0 // its snapshot paid off: whatever broke it is a new cause
		}
		s.nFresh--
	}
}

// clock advances the session's notion of time (the latest input time).
func (s *Session) clock(now int64) {
	if now > s.now {
		s.now = now
	}
}

// wantSnapshot asks for a REST snapshot of book b unless one is in flight
// (whose answer the procedure checks anyway) or already wanted.
//
// Whatever the cause — a snapshot refused (malformed, numbers the scale
// cannot hold, unsorted, crossed, older than the stream), a failed fetch, a
// gap or bad data soon after syncing — the requests of one book back off:
// the first goes at once, each further one in a row waits BackoffMin,
// 2×BackoffMin, … up to BackoffMax after the cause was seen. The run ends
// when a snapshot paid off: the book it synced stayed right at least as
// long as the next wait would be (and always after refetchStable, 10 s). A
// snapshot that lets the book sync only to break again at once (a level
// the scale cannot hold in the very next update, a crossing) was no more
// use than a refused one, and the waits keep growing; a book that broke
// after a good run, however short against the waits it would pay, is
// refetched at once. So a book refused forever, or broken by every next
// update, settles at one request per BackoffMax (30 s by default) instead
// of one per weight-budget slot, while independent faults each get a
// prompt rebuild. Above this, the Feed spends request weight from a
// per-feed budget (SnapshotWeightPerMin) that no cause can exceed.
func (s *Session) wantSnapshot(b *book) {
	if s.kind != chDepth || b.inflight || b.wantSnap {
		return
	}
	b.fails++
	b.retryAt = s.now + s.backoff(b.fails)
	b.wantSnap = true
	s.wantAny = true
}

// backoff is the wait before the n-th request in a row (n ≥ 1).
func (s *Session) backoff(n int) int64 {
	if n <= 1 {
		return 0
	}
	d := s.backoffMin
	for k := 2; k < n && d < s.backoffMax; k++ {
		d *= 2
	}
	return min(d, s.backoffMax)
}

// NeedSnapshot returns a book whose REST snapshot should be fetched now and
// marks its request as in flight; false when none is due. A book backing
// off after refusals (see wantSnapshot) is due once the session's clock —
// the latest input time — reaches its retry time, so the driver asks again
// after every frame. The driver fetches
// GET /api/v3/depth?symbol=<Instruments[i].Symbol>&limit=<Depth> and answers
// with ApplySnapshot or SnapshotFailed.
func (s *Session) NeedSnapshot() (int, bool) {
	if !s.wantAny {
		return 0, false
	}
	n := len(s.books)
	waiting := false
	for k := 0; k < n; k++ {
		i := (s.cursor + k) % n
		b := &s.books[i]
		if b.wantSnap && !b.inflight {
			if b.retryAt > s.now {
				waiting = true
				continue
			}
			b.wantSnap, b.inflight = false, true
			s.cursor = (i + 1) % n
			return i, true
		}
	}
	s.wantAny = waiting
	return 0, false
}

// SnapshotFailed re-arms book i's snapshot after a failed fetch.
func (s *Session) SnapshotFailed(i int) {
	if i < 0 || i >= len(s.books) {
		return
	}
	b := &s.books[i]
	b.inflight = false
	if !b.fresh {
		s.wantSnapshot(b)
	}
}

// ApplySnapshot applies a REST depth snapshot (the response body) to book i
// following the documented procedure: a snapshot older than the first
// buffered event is refetched; buffered events up to lastUpdateId are
// dropped; the first remaining one must satisfy U ≤ lastUpdateId+1 ≤ u; the
// rest are applied in order. With nothing buffered the snapshot is held until
// the first event proves it current. Malformed snapshots are counted and
// refetched.
func (s *Session) ApplySnapshot(i int, body []byte, recvTS int64) {
	s.clock(recvTS)
	s.snaps++
	if i < 0 || i >= len(s.books) {
		return
	}
	b := &s.books[i]
	b.inflight = false
	if s.kind != chDepth || b.fresh {
		return
	}
	p := &s.p
	p.parseBook(body, i)
	err := p.sc.Err()
	if err == nil && (!p.m.has(fLastID|fBids|fAsks) || p.m.lastID < 0) {
		err = errMissing
	}
	if err != nil {
		reason := exchange.RejectSyntax
		if err == errTooManyLevels {
			reason = exchange.RejectTooLarge
		}
		s.reject(reason, i, body, recvTS, err)
		s.wantSnapshot(b)
		return
	}
	L := uint64(p.m.lastID)
	s.lb, s.la, err = p.levelsIn(i, b.inst.Scale)
	if err != nil {
		s.reject(exchange.RejectNumber, i, body, recvTS, err)
		s.wantSnapshot(b)
		return
	}
	b.l2.Reset()
	b.snapLoaded = false
	b.floorBid, b.floorAsk = 0, math.MaxInt64
	if err := loadSorted(b.l2, s.lb, s.la, s.depth); err != nil {
		s.reject(exchange.RejectSyntax, i, body, recvTS, err)
		b.l2.Reset()
		s.wantSnapshot(b)
		return
	}
	if b.l2.Crossed() {
		s.reject(exchange.RejectCrossed, i, body, recvTS, nil)
		b.l2.Reset()
		s.wantSnapshot(b)
		return
	}
	// A side that filled the requested depth may go on beyond it.
	if len(s.lb) >= s.depth {
		b.floorBid = s.lb[s.depth-1].Px
	}
	if len(s.la) >= s.depth {
		b.floorAsk = s.la[s.depth-1].Px
	}
	if len(b.buf) > 0 && L+1 < b.buf[0].U {
		// Older than the first buffered event (documented step 3): the
		// updates between them are in neither. Fetch again.
		b.l2.Reset()
		s.wantSnapshot(b)
		return
	}
	s.applied(hookSnapshot, i, s.snaps)
	b.id, b.exchTS = L, 0
	k := 0
	for k < len(b.buf) && b.buf[k].u <= L {
		k++
	}
	if k == len(b.buf) { // nothing newer buffered: wait for the first event
		s.clearBuf(b)
		b.snapLoaded = true
		return
	}
	for ; k < len(b.buf); k++ {
		e := b.buf[k]
		if e.U > b.id+1 { // cannot happen with a contiguous buffer; restart if it does
			s.stats.Gaps.Add(1)
			s.dropBufBefore(b, k)
			b.l2.Reset()
			s.wantSnapshot(b)
			return
		}
		lv := b.lv[e.off : e.off+e.nb+e.na]
		s.applyDiff(b, lv[:e.nb], lv[e.nb:])
		s.applied(hookEvent, i, e.frame)
		b.id, b.exchTS = e.u, e.E
	}
	s.clearBuf(b)
	s.synced(i, recvTS)
}

// dropBufBefore removes the first k buffered events, keeping the rest.
func (s *Session) dropBufBefore(b *book, k int) {
	if k == 0 {
		return
	}
	off := b.buf[k].off
	for j := k; j < len(b.buf); j++ {
		b.buf[j].off -= off
	}
	n := copy(b.buf, b.buf[k:])
	b.buf = b.buf[:n]
	m := copy(b.lv, b.lv[off:])
	s.buffered -= len(b.lv) - m
	b.lv = b.lv[:m]
}

// synced finishes a snapshot-based rebuild of book i: unless the result is
// crossed, the book is fresh and published.
func (s *Session) synced(i int, ts int64) {
	b := &s.books[i]
	if b.l2.Crossed() {
		s.reject(exchange.RejectCrossed, i, nil, ts, nil)
		s.bad(i, exchange.CauseBadData, ts)
		return
	}
	s.setFresh(b, true)
	s.stats.Resyncs.Add(1)
	s.publish(i, ts)
}

// restart discards book i and starts the documented procedure again: it is
// published stale (if it was fresh) and, for depth, a snapshot is wanted.
func (s *Session) restart(i int, cause exchange.StaleCause, ts int64) {
	b := &s.books[i]
	if b.fresh {
		s.setFresh(b, false)
		s.publishStale(i, cause, ts)
	}
	b.cause = cause
	b.l2.Reset()
	b.snapLoaded = false
	b.floorBid, b.floorAsk = 0, math.MaxInt64
	s.clearBuf(b)
	s.wantSnapshot(b)
}

// bad handles input that would make book i wrong: stale now, rebuilt from
// scratch. For bookTicker and partial depth the next good message rebuilds
// it; the last accepted update id is kept so older messages stay refused.
func (s *Session) bad(i int, cause exchange.StaleCause, ts int64) {
	s.restart(i, cause, ts)
}

// badAll marks every book bad (input that cannot be attributed).
func (s *Session) badAll(cause exchange.StaleCause, ts int64) {
	for i := range s.books {
		s.bad(i, cause, ts)
	}
}

// Disconnected publishes every book stale with cause (the connection is
// gone) and forgets all sync state; the session is not used afterwards.
func (s *Session) Disconnected(cause exchange.StaleCause, now int64) {
	s.clock(now)
	for i := range s.books {
		b := &s.books[i]
		s.setFresh(b, false)
		b.cause = cause
		b.l2.Reset()
		b.snapLoaded, b.wantSnap, b.inflight = false, false, false
		s.clearBuf(b)
		s.publishStale(i, cause, now)
	}
}

// Republish publishes every book's current state (fresh top or stale
// marker) stamped now: after this connection took over as the venue's
// publisher, consumers learn its view at once.
func (s *Session) Republish(now int64) {
	s.clock(now)
	for i := range s.books {
		if s.books[i].fresh {
			s.publish(i, now)
		} else {
			s.publishStale(i, s.books[i].cause, now)
		}
	}
}

// Refresh republishes fresh books that were not published for the refresh
// interval, stamped now, so consumers that age books by RecvTS keep books
// that are quiet but known right on a live connection. Cheap when not due.
// Like every input it advances the session's clock, so a snapshot request
// backing off falls due (NeedSnapshot) as time passes.
func (s *Session) Refresh(now int64) {
	s.clock(now)
	if !s.pub.DueForRefresh(now) {
		return
	}
	for i := range s.books {
		if s.books[i].fresh && s.pub.Quiet(i, now) {
			s.publish(i, now)
		}
	}
}

// Synced reports whether every book is fresh.
func (s *Session) Synced() bool { return s.nFresh == len(s.books) }

// ShutdownRequested reports whether the venue announced serverShutdown on
// this connection.
func (s *Session) ShutdownRequested() bool { return s.shutdown }

// Events returns how many events the publisher accepted from this session
// (the driver observes ParseLatency for frames that produced one).
func (s *Session) Events() uint64 { return s.events }

// publish hands book i's current top to the publisher.
func (s *Session) publish(i int, recvTS int64) {
	b := &s.books[i]
	ev := &s.ev
	ev.Seq, ev.ExchTS, ev.RecvTS = b.id, b.exchTS, recvTS
	ev.Venue, ev.Inst = s.cfg.Venue, b.inst.ID
	ev.Flags, ev.Cause = 0, exchange.CauseNone
	b.l2.Top(ev)
	for ev.NBids > 0 && ev.Bids[ev.NBids-1].Px < b.floorBid {
		ev.NBids--
	}
	for ev.NAsks > 0 && ev.Asks[ev.NAsks-1].Px > b.floorAsk {
		ev.NAsks--
	}
	if s.pub.Publish(i, ev) {
		s.events++
	}
}

// publishStale hands a stale marker for book i to the publisher.
func (s *Session) publishStale(i int, cause exchange.StaleCause, ts int64) {
	ev := &s.ev
	ev.Seq, ev.ExchTS = 0, 0
	ev.Venue, ev.Inst = s.cfg.Venue, s.books[i].inst.ID
	ev.Flags = 0
	ev.SetStale(cause, ts)
	if s.pub.Publish(i, ev) {
		s.events++
	}
}

func (s *Session) applied(what hookKind, i int, ord uint64) {
	if s.hook != nil {
		s.hook(hookRec{what, i, ord})
	}
}

// reject counts a refusal and logs it, rate-limited, with a short excerpt.
func (s *Session) reject(r exchange.RejectReason, i int, frame []byte, ts int64, err error) {
	s.stats.Reject(r)
	attrs := make([]slog.Attr, 0, 5)
	attrs = append(attrs, slog.String("venue", s.cfg.Name), slog.String("reason", r.String()))
	if i >= 0 {
		attrs = append(attrs, slog.String("symbol", s.books[i].inst.Symbol))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	if len(frame) > 0 {
		attrs = append(attrs, slog.String("excerpt", excerpt(frame)))
	}
	s.log.Log(ts, "binance: input rejected", attrs...)
}

// excerpt is the start of a frame for a log line (public market data only).
func excerpt(b []byte) string {
	const n = 160
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
