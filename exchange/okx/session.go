package okx

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"math"
	"slices"
	"time"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/exchange/internal/l2"
	"arb/exchange/num"
)

// Book states.
const (
	stIdle      uint8 = iota // not subscribed yet
	stWaiting                // subscription sent, waiting for the snapshot / first push
	stSynced                 // known right: published fresh
	stNeedResub              // known wrong; an unsubscribe+subscribe must be sent
	stStale                  // bbo/books5: known wrong until the next acceptable push
	stDown                   // the connection is gone
)

// Timing rules of the sync state machine (see doc.go for their sources).
const (
	// bookSilenceMax: OKX sends an empty keep-alive update on "books" after
	// about 60 s without change; a synced book that received nothing at all
	// for this long has lost its subscription and is rebuilt.
	bookSilenceMax = 90 * time.Second
	// maxResubTries: consecutive resubscriptions of one book that did not
	// bring it back in sync before the session asks for a reconnect.
	maxResubTries = 3
	// checkEvery bounds how often Tick scans the books.
	checkEvery = 250 * time.Millisecond
	// checksumLevels is the depth per side OKX's checksum covers.
	checksumLevels = 25
)

// book is one instrument's state on one connection.
type book struct {
	id        exchange.InstrumentID
	scale     num.Scale
	sym       string
	l2        *l2.Book
	state     uint8
	cause     exchange.StaleCause
	subbed    bool  // a subscription is (believed to be) live on the venue
	haveSeq   bool  // seq holds an anchor (bbo/books5) or the chain head (books)
	seq       int64 // books: last seqId applied; bbo/books5: last seqId seen
	exchTS    int64 // ns
	lastPush  int64 // recvTS of the last push for this book
	waitSince int64 // when the current subscription was sent
	tries     int   // resubscriptions since the book was last synced
}

// Session is the per-connection OKX sync state machine. It does no I/O,
// starts no goroutines and reads no clock for decisions: frames and times
// come in as arguments, and what the connection must do (send requests,
// reconnect, hand over) comes out through plain methods. It is owned by one
// goroutine (the connection's reader); only Stats is safe elsewhere.
//
// Lifecycle: NewSession → SubscribeRequests (send them) → for every frame
// HandleFrame then Tick, then act on NeedResubscribe/Resubscribe,
// NeedReconnect and NeedHandover → Disconnected when the connection ends.
type Session struct {
	venue    exchange.VenueID
	name     string
	kind     chanKind
	wireChan string
	pub      *feed.Publisher
	stats    *exchange.FeedStats
	now      func() int64 // latency metric only
	lim      feed.LogLimiter
	logger   *slog.Logger

	books []book
	syms  []string // sorted venue symbols
	symIx []int    // syms[i] is books[symIx[i]]
	p     *parser
	ev    exchange.BookTop
	ck    checkBuf

	down         bool // Disconnected was called: frames change nothing
	active       bool // the publisher was the owner when last checked
	subscribed   bool // SubscribeRequests was called
	handover     bool // notice 64008 received
	reconnect    bool
	reconnCause  exchange.StaleCause
	nextCheck    int64
	snapshotWait int64
	ageMax       int64
	lastData     int64 // receive time of the last frame other than "pong"
	budget       opBudget
	req          requests
}

// NewSession returns the state machine for one connection publishing
// through pub (whose instrument indexes are cfg.Instruments' indexes). cfg
// must be valid: NewSession panics with Validate's error otherwise, a
// programming error since New validates first. Defaults are applied to a
// copy; cfg.Stats (or a private FeedStats) receives the counters. A nil pub
// publishes straight to cfg.Ring (a session driven on its own, as in
// benchmarks).
func NewSession(cfg *Config, pub *feed.Publisher) *Session { return newSession(cfg, pub, nil) }

// newSession is NewSession taking the books and the parser of spare, a
// finished session of the same config (Replay's last retired connection),
// instead of allocating them: a replay opens a session per recorded
// connection, and a "books" session's buffers are about 400 KiB. The books
// are emptied (l2.Book.Reset) and the parser keeps no state between frames,
// so the session starts exactly as a new one.
func newSession(cfg *Config, pub *feed.Publisher, spare *Session) *Session {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	c := cfg.withDefaults()
	kind, wire, _ := channelKind(c.Channel)
	st := c.Stats
	if st == nil {
		st = new(exchange.FeedStats)
	}
	if pub == nil { // a session driven on its own (benchmarks): publish straight to the ring
		pub = feed.New(c.Ring, st, nil, 0, len(c.Instruments), int64(c.AgeMax)/3)
	}
	s := &Session{
		venue: c.Venue, name: c.Name, kind: kind, wireChan: wire, pub: pub, stats: st,
		now: c.Now, logger: c.Logger, lim: feed.LogLimiter{Logger: c.Logger},
		books:        make([]book, len(c.Instruments)),
		snapshotWait: int64(2 * c.AgeMax), ageMax: int64(c.AgeMax),
	}
	s.budget.init(opsPerHour)
	s.req.limit = maxArgsBytes
	keepRaw := kind == kindBooks // the checksum needs the exact wire strings
	// "books" keeps every level the channel sends, whatever Depth says:
	// see Config.Depth.
	depth := c.Depth
	if kind == kindBooks {
		depth = DefaultDepth
	}
	reuse := spare != nil && spare.kind == kind && len(spare.books) == len(c.Instruments)
	for i := 0; reuse && i < len(spare.books); i++ {
		reuse = spare.books[i].l2.Bids.Cap() == depth
	}
	if reuse {
		s.p = spare.p
		s.p.noFuse = false
	} else {
		s.p = newParser()
	}
	for i, in := range c.Instruments {
		var b *l2.Book
		if reuse {
			b = spare.books[i].l2
			b.Reset()
		} else {
			b = l2.New(depth, keepRaw)
		}
		s.books[i] = book{id: in.ID, scale: in.Scale, sym: in.Symbol, l2: b}
		s.syms = append(s.syms, in.Symbol)
	}
	s.symIx = make([]int, len(s.syms))
	for i := range s.symIx {
		s.symIx[i] = i
	}
	slices.SortFunc(s.symIx, func(a, b int) int {
		if s.syms[a] < s.syms[b] {
			return -1
		}
		return 1
	})
	slices.Sort(s.syms)
	s.p.sess = s
	s.active = pub.Active()
	return s
}

// Stats returns the counters the session writes.
func (s *Session) Stats() *exchange.FeedStats { return s.stats }

// lookup returns the book index of the frame's arg, or -1 if the channel is
// not ours or the symbol unknown. string(b) in a comparison does not allocate.
func (s *Session) lookup(m *msg) int {
	if string(m.channel) != s.wireChan {
		return -1
	}
	lo, hi := 0, len(s.syms)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if s.syms[h] < string(m.instID) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	if lo < len(s.syms) && s.syms[lo] == string(m.instID) {
		return s.symIx[lo]
	}
	return -1
}

// HandleFrame parses one websocket message received at recvTS (Unix ns),
// applies it to the book it belongs to and publishes the result. It never
// panics and never allocates on valid market data; what it refuses is
// counted in Stats and logged through a rate limiter.
func (s *Session) HandleFrame(b []byte, recvTS int64) {
	if s.down {
		return
	}
	if !s.active {
		s.checkActive(recvTS)
	}
	// OKX answers our text "ping" with the text "pong", which is not JSON.
	if len(b) == 4 && string(b) == "pong" {
		return
	}
	s.lastData = recvTS
	s.stats.Messages.Add(1)
	p := s.p
	if !p.parse(b) {
		s.malformed(b, recvTS)
		return
	}
	m := &p.m
	if m.hasEvent {
		s.handleEvent(b, recvTS)
		return
	}
	if !m.hasData {
		s.reject(exchange.RejectUnexpected, -1, b, recvTS)
		return
	}
	if !m.argDone {
		// Data we cannot attribute: any book could be affected.
		s.reject(exchange.RejectSyntax, -1, b, recvTS)
		s.invalidateAll(exchange.CauseBadData, recvTS)
		return
	}
	i := s.lookup(m)
	if i < 0 {
		s.reject(exchange.RejectUnknownSymbol, -1, b, recvTS)
		return
	}
	s.books[i].lastPush = recvTS
	if s.kind == kindBooks {
		s.handleBooks(i, b, recvTS)
	} else {
		s.handleFull(i, b, recvTS)
	}
}

// malformed handles a frame that is not valid JSON or not OKX's shape.
func (s *Session) malformed(b []byte, now int64) {
	m := &s.p.m
	if m.argDone {
		i := s.lookup(m)
		s.reject(exchange.RejectSyntax, i, b, now)
		if i >= 0 {
			s.invalidate(i, exchange.CauseBadData, now)
		}
		// A complete arg naming something we did not subscribe to: not ours.
		return
	}
	s.reject(exchange.RejectSyntax, -1, b, now)
	s.invalidateAll(exchange.CauseBadData, now)
}

// parseNumbers converts the staged levels into the instrument's scale (for
// levels staged without conversion; see parser.numbersOK). In a full-state
// push (snapshot) a zero size is malformed: it can only mean a deletion,
// which a snapshot has nothing to delete from.
func parseNumbers(lv []level, sc num.Scale, full bool) bool {
	for k := range lv {
		l := &lv[k]
		if len(l.pxRaw) > l2.RawMax || len(l.szRaw) > l2.RawMax {
			return false
		}
		px, err := num.ParseUnsigned(l.pxRaw, sc.Px)
		if err != nil {
			return false
		}
		sz, err := num.ParseUnsigned(l.szRaw, sc.Qty)
		if err != nil || (full && sz == 0) {
			return false
		}
		l.px, l.sz = px, sz
	}
	return true
}

// handleBooks applies one push of the "books" channel to book i.
func (s *Session) handleBooks(i int, b []byte, now int64) {
	m, p, bk := &s.p.m, s.p, &s.books[i]
	var snapshot bool
	switch string(m.action) {
	case "snapshot":
		snapshot = true
	case "update":
	default:
		s.reject(exchange.RejectSyntax, i, b, now)
		s.invalidate(i, exchange.CauseBadData, now)
		return
	}
	// Reported whatever the book's state: every such push, not only the
	// first of a subscription.
	if s.obsolete(i, b, now) {
		return
	}
	if !snapshot && bk.state != stSynced {
		// Updates of a subscription being replaced, still in flight: the
		// book waits for the next snapshot.
		return
	}
	switch {
	case m.nData != 1 || !m.haveSeq || (!snapshot && !m.havePrev):
		s.reject(exchange.RejectSyntax, i, b, now)
	case m.tooMany:
		s.reject(exchange.RejectTooLarge, i, b, now)
	case m.seq < 0 || (m.havePrev && m.prev < -1):
		s.reject(exchange.RejectSequence, i, b, now)
	case !p.numbersOK(bk.scale, snapshot):
		s.reject(exchange.RejectNumber, i, b, now)
	case !snapshot && m.prev != bk.seq:
		s.stats.Gaps.Add(1)
		s.reject(exchange.RejectSequence, i, b, now)
		s.invalidate(i, exchange.CauseGap, now)
		return
	default:
		s.applyBooks(i, b, snapshot, now)
		return
	}
	s.invalidate(i, exchange.CauseBadData, now)
}

// applyBooks merges a validated books push into book i, verifies the
// checksum and crossing, and publishes.
func (s *Session) applyBooks(i int, b []byte, snapshot bool, now int64) {
	m, p, bk := &s.p.m, s.p, &s.books[i]
	if snapshot {
		bk.l2.Reset()
	}
	for k := range p.bids {
		l := &p.bids[k]
		_ = bk.l2.Bids.SetRaw(num.Price(l.px), num.Qty(l.sz), l.pxRaw, l.szRaw) // lengths checked by parseNumbers
	}
	for k := range p.asks {
		l := &p.asks[k]
		_ = bk.l2.Asks.SetRaw(num.Price(l.px), num.Qty(l.sz), l.pxRaw, l.szRaw)
	}
	bk.seq, bk.haveSeq = m.seq, true
	if m.haveTS {
		bk.exchTS = m.tsMillis * 1_000_000
	}
	// 0 means "not provided" (OKX stopped sending checksums in June 2026).
	if m.checksum != 0 && (m.checksum < math.MinInt32 || m.checksum > math.MaxInt32 || s.checksum(bk.l2) != int32(m.checksum)) {
		s.stats.ChecksumFailures.Add(1)
		s.warn(now, "okx: checksum mismatch", i, b)
		s.invalidate(i, exchange.CauseChecksum, now)
		return
	}
	if bk.l2.Crossed() {
		s.reject(exchange.RejectCrossed, i, b, now)
		s.invalidate(i, exchange.CauseBadData, now)
		return
	}
	wasSynced := bk.state == stSynced
	bk.state, bk.cause, bk.tries, bk.subbed = stSynced, exchange.CauseNone, 0, true
	if wasSynced && !snapshot && len(p.bids) == 0 && len(p.asks) == 0 {
		return // keep-alive: nothing changed; Tick republishes quiet books
	}
	s.publishFresh(i, now, true)
}

// handleFull applies one push of a full-state channel (bbo-tbt, books5).
// Every push replaces the book; seqId orders them: a push at or below the
// last seqId is dropped, and one below it (a reset after maintenance, or
// a replay) also makes the book stale and becomes the new anchor, so the
// next push above it is accepted whichever of the two it was.
func (s *Session) handleFull(i int, b []byte, now int64) {
	m, p, bk := &s.p.m, s.p, &s.books[i]
	if s.obsolete(i, b, now) {
		return
	}
	switch {
	case m.nData != 1 || !m.haveSeq:
		s.reject(exchange.RejectSyntax, i, b, now)
	case m.tooMany:
		s.reject(exchange.RejectTooLarge, i, b, now)
	case m.seq < 0:
		s.reject(exchange.RejectSequence, i, b, now)
	case !p.numbersOK(bk.scale, true):
		s.reject(exchange.RejectNumber, i, b, now)
	case bk.haveSeq && m.seq == bk.seq:
		s.reject(exchange.RejectSequence, i, b, now) // duplicate: the book already shows it
		return
	case bk.haveSeq && m.seq < bk.seq:
		s.reject(exchange.RejectSequence, i, b, now)
		bk.seq = m.seq
		s.invalidate(i, exchange.CauseReset, now)
		return
	default:
		bk.seq, bk.haveSeq = m.seq, true
		bk.l2.Reset()
		for k := range p.bids {
			bk.l2.Bids.Set(num.Price(p.bids[k].px), num.Qty(p.bids[k].sz))
		}
		for k := range p.asks {
			bk.l2.Asks.Set(num.Price(p.asks[k].px), num.Qty(p.asks[k].sz))
		}
		if m.haveTS {
			bk.exchTS = m.tsMillis * 1_000_000
		}
		if bk.l2.Crossed() {
			s.reject(exchange.RejectCrossed, i, b, now)
			break
		}
		bk.state, bk.cause, bk.tries, bk.subbed = stSynced, exchange.CauseNone, 0, true
		s.publishFresh(i, now, true)
		return
	}
	s.invalidate(i, exchange.CauseBadData, now)
}

// obsolete handles a push in the format OKX sent before it added seqId and
// prevSeqId (2022 and earlier; the captured 2022 sessions are all such):
// one data element carrying neither. It is not malformed — it is what OKX
// once sent — but a book cannot be sequenced from it, so it is counted as
// an obsolete format (RejectObsolete), logged as such, and the book is not
// known right (stale, rebuilt; a venue that kept sending it would cycle
// through resubscriptions and reconnects at their bounded pace).
func (s *Session) obsolete(i int, b []byte, now int64) bool {
	m := &s.p.m
	if m.nData != 1 || m.haveSeq || m.havePrev {
		return false
	}
	s.stats.Reject(exchange.RejectObsolete)
	s.lim.Log(now, "okx: push without seqId (OKX's format before 2023): cannot be sequenced", slog.String("venue", s.name),
		slog.String("reason", exchange.RejectObsolete.String()), slog.String("inst", s.symOf(i)), slog.String("frame", excerpt(b)))
	s.invalidate(i, exchange.CauseBadData, now)
	return true
}

// handleEvent handles subscribe/unsubscribe acks, errors and notices.
func (s *Session) handleEvent(b []byte, now int64) {
	m := &s.p.m
	switch string(m.event) {
	case "subscribe", "unsubscribe":
		// Acks carry nothing the books need; the snapshot is what counts.
	case "error":
		s.stats.Reject(exchange.RejectUnexpected)
		i := -1
		if m.argDone {
			i = s.lookup(m)
		}
		s.lim.Log(now, "okx: venue error", slog.String("venue", s.name), slog.String("code", string(m.code)),
			slog.String("msg", excerpt(m.msgRaw)), slog.String("inst", s.symOf(i)))
		if i >= 0 {
			s.subscriptionFailed(i, now)
			return
		}
		if m.argDone {
			return // names a channel or symbol we do not have
		}
		// OKX's errors usually carry no arg. Every request we send is a
		// subscribe or unsubscribe, so the error concerns a book whose
		// subscription has not produced data yet.
		for k := range s.books {
			if s.books[k].state == stWaiting {
				s.subscriptionFailed(k, now)
			}
		}
	case "notice":
		if string(m.code) == "64008" {
			s.handover = true
			s.logger.LogAttrs(context.Background(), slog.LevelInfo, "okx: service upgrade notice, handing over", slog.String("venue", s.name))
			return
		}
		s.reject(exchange.RejectUnexpected, -1, b, now)
	default: // login, channel-conn-count, ...: not ours to handle
		s.reject(exchange.RejectUnexpected, -1, b, now)
	}
}

// subscriptionFailed marks book i as not subscribed and due for a new
// subscription.
func (s *Session) subscriptionFailed(i int, now int64) {
	bk := &s.books[i]
	bk.subbed = false
	if bk.state == stDown {
		return
	}
	was := bk.state
	bk.state, bk.cause = stNeedResub, exchange.CauseConnecting
	if was == stSynced {
		s.publishStale(i, exchange.CauseConnecting, now)
	}
}

// invalidate makes book i not known right: stale is published if it was
// fresh, and a "books" book is queued for resubscription (a fresh snapshot);
// full-state channels recover with their next acceptable push.
func (s *Session) invalidate(i int, cause exchange.StaleCause, now int64) {
	bk := &s.books[i]
	switch bk.state {
	case stDown:
		return
	case stNeedResub:
		return // already queued
	}
	was := bk.state
	bk.cause = cause
	if s.kind == kindBooks || (was == stWaiting && cause == exchange.CauseConnecting) {
		bk.state = stNeedResub
	} else {
		bk.state = stStale
	}
	if was == stSynced {
		s.publishStale(i, cause, now)
	}
}

func (s *Session) invalidateAll(cause exchange.StaleCause, now int64) {
	for i := range s.books {
		s.invalidate(i, cause, now)
	}
}

// checksum computes OKX's CRC32 of book b: the first 25 bids and asks
// interleaved as "bidPx:bidSz:askPx:askSz:…" (a side that runs out is
// skipped) using the wire strings, read as a signed 32-bit integer. It
// builds the string in the session's fixed buffer and never allocates.
func (s *Session) checksum(b *l2.Book) int32 {
	return int32(crc32.Update(0, crc32.IEEETable, checkString(&s.ck, b)))
}

// checkBuf holds a checksum string: 25 levels per side of at most
// l2.TextMax bytes each.
type checkBuf [checksumLevels * 2 * l2.TextMax]byte

// checkString writes OKX's checksum string of b into buf and returns it.
// Each level's text "px:sz:" is kept ready in the book (l2.RawLevel), so a
// level costs a copy of its text in whole 8-byte words (usually two), of
// which the text's length is kept and the next level overwrites the rest.
func checkString(buf *checkBuf, b *l2.Book) []byte {
	bids, asks := b.Bids.RawTop(checksumLevels), b.Asks.RawTop(checksumLevels) // best last
	pos := 0
	for k := 1; k <= max(len(bids), len(asks)); k++ {
		if k <= len(bids) {
			pos = putText(buf, pos, &bids[len(bids)-k])
		}
		if k <= len(asks) {
			pos = putText(buf, pos, &asks[len(asks)-k])
		}
	}
	if pos > 0 {
		pos-- // the last colon
	}
	return buf[:pos]
}

// putText copies r's text to buf at pos and returns the position after it.
// The words written end within l2.TextMax bytes of pos, and a level starts
// at most 49 texts in: every write fits buf. (A plain copy of the whole
// array would call memmove: the compiler cannot rule out overlap.)
func putText(buf *checkBuf, pos int, r *l2.RawLevel) int {
	t, n := r.Text()
	d := (*[l2.TextMax]byte)(buf[pos:])
	for w := 0; w < n && w <= l2.TextMax-8; w += 8 {
		binary.LittleEndian.PutUint64(d[w:], binary.LittleEndian.Uint64(t[w:]))
	}
	return pos + n
}

// publishFresh publishes book i's top levels; observe adds the frame's
// receive-to-publish latency to ParseLatency.
func (s *Session) publishFresh(i int, recvTS int64, observe bool) {
	bk := &s.books[i]
	ev := &s.ev
	*ev = exchange.BookTop{Seq: uint64(bk.seq), ExchTS: bk.exchTS, RecvTS: recvTS, Venue: s.venue, Inst: bk.id}
	bk.l2.Top(ev)
	if s.pub.Publish(i, ev) && observe {
		s.stats.ParseLatency.Observe(s.now() - recvTS)
	}
}

func (s *Session) publishStale(i int, cause exchange.StaleCause, now int64) {
	bk := &s.books[i]
	ev := &s.ev
	*ev = exchange.BookTop{Seq: uint64(bk.seq), ExchTS: bk.exchTS, Venue: s.venue, Inst: bk.id}
	ev.SetStale(cause, now)
	s.pub.Publish(i, ev)
}

// checkActive republishes every synced book when this connection has just
// become the venue's publishing one (handover or promotion after the owner
// dropped). Books not synced need nothing: the previous owner published them
// stale when it dropped, or they were never published.
func (s *Session) checkActive(now int64) {
	if !s.pub.Active() {
		return
	}
	s.active = true
	for i := range s.books {
		if s.books[i].state == stSynced {
			s.publishFresh(i, now, false)
		}
	}
}

// Tick runs the time-driven rules at now (Unix ns): ownership changes,
// parked events, a connection without data (anything but "pong") for
// AgeMax (→ NeedReconnect with CauseAge), subscriptions that produced no
// snapshot within 2×AgeMax, "books" subscriptions silent for 90 s, and the
// republishing of quiet synced books (every AgeMax/3) so consumers that age
// books by RecvTS keep them. Call it after every frame, pongs included; it
// is O(1) between scans.
func (s *Session) Tick(now int64) {
	if s.down {
		return
	}
	if !s.active {
		s.checkActive(now)
	}
	if s.pub.Pending() > 0 {
		s.pub.Flush()
	}
	if s.reconnect {
		return
	}
	if now >= s.nextCheck && s.subscribed {
		s.nextCheck = now + int64(checkEvery)
		if now-s.lastData > s.ageMax {
			// The venue answers pings but sends nothing: a frozen feed is
			// not a quiet market we may keep vouching for.
			s.lim.Log(now, "okx: no data within AgeMax, reconnecting", slog.String("venue", s.name))
			s.reconnect, s.reconnCause = true, exchange.CauseAge
			return
		}
		for i := range s.books {
			bk := &s.books[i]
			switch bk.state {
			case stWaiting:
				if now-bk.waitSince > s.snapshotWait {
					s.lim.Log(now, "okx: no snapshot after subscribing", slog.String("venue", s.name), slog.String("inst", bk.sym))
					s.invalidate(i, exchange.CauseConnecting, now)
				}
			case stSynced:
				if s.kind == kindBooks && now-bk.lastPush > int64(bookSilenceMax) {
					s.lim.Log(now, "okx: books subscription silent", slog.String("venue", s.name), slog.String("inst", bk.sym))
					s.invalidate(i, exchange.CauseAge, now)
				}
			}
		}
	}
	if s.pub.DueForRefresh(now) {
		for i := range s.books {
			if s.books[i].state == stSynced && s.pub.Quiet(i, now) {
				s.publishFresh(i, now, false)
			}
		}
	}
}

// Synced reports whether every book is known right.
func (s *Session) Synced() bool {
	for i := range s.books {
		if s.books[i].state != stSynced {
			return false
		}
	}
	return len(s.books) > 0
}

// NeedHandover reports whether the venue announced a service-upgrade
// disconnect (notice 64008): the connection should be replaced now.
func (s *Session) NeedHandover() bool { return s.handover }

// NeedReconnect reports whether the session cannot recover on this
// connection (subscribe budget exhausted, a book failing to resync
// repeatedly) and the cause to publish.
func (s *Session) NeedReconnect() (exchange.StaleCause, bool) { return s.reconnCause, s.reconnect }

// Disconnected marks every book stale with cause at now and publishes that
// (a no-op unless this connection is the publishing one). The session is
// finished afterwards.
func (s *Session) Disconnected(cause exchange.StaleCause, now int64) {
	s.down = true
	for i := range s.books {
		bk := &s.books[i]
		bk.state, bk.cause = stDown, cause
		s.publishStale(i, cause, now)
	}
}

func (s *Session) symOf(i int) string {
	if i >= 0 {
		return s.books[i].sym
	}
	return ""
}

// reject counts r and logs it (rate limited) with the instrument if known
// and a short excerpt of the frame.
func (s *Session) reject(r exchange.RejectReason, i int, b []byte, now int64) {
	s.stats.Reject(r)
	s.lim.Log(now, "okx: frame rejected", slog.String("venue", s.name), slog.String("reason", r.String()),
		slog.String("inst", s.symOf(i)), slog.String("frame", excerpt(b)))
}

// warn logs (rate limited) a condition that is counted elsewhere.
func (s *Session) warn(now int64, msg string, i int, b []byte) {
	s.lim.Log(now, msg, slog.String("venue", s.name), slog.String("inst", s.symOf(i)), slog.String("frame", excerpt(b)))
}

// excerpt returns at most 160 bytes of b for a log line.
func excerpt(b []byte) string {
	const n = 160
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
