package binance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// refModel is the slow, obviously-right reference for the session. It
// decodes every frame and snapshot itself with encoding/json (through maps,
// so keys match exactly, unlike struct decoding), keeps each book as two
// maps, and follows what the session reports it applied (the session's test
// hook). It checks that every applied input is valid by its own reading,
// that the applied diff events chain from a snapshot without a gap
// (U ≤ id+1 ≤ u for the first event after it, then U ≤ id+1 < u+1), that
// bookTicker ids increase, and that every fresh event the session publishes
// equals its book (Seq, ExchTS, top levels) and is not crossed.
type refModel struct {
	insts  []exchange.Instrument
	kind   chanKind
	depth  int
	frames [][]byte // by ordinal-1
	snaps  [][]byte
	books  []refBook
	err    error // first violation
}

type refBook struct {
	known      bool // a snapshot (depth) or a message (bbo, partial) was applied
	first      bool // depth: the next event is the first after the snapshot
	seen       bool
	id         uint64
	exch       int64
	bids, asks map[int64]int64
}

func newRefModel(cfg *Config) *refModel {
	k, n, _ := channel(cfg.Channel)
	m := &refModel{insts: cfg.Instruments, kind: k, depth: cfg.Depth}
	switch k {
	case chBBO:
		m.depth = 1
	case chPartial:
		m.depth = n
	}
	m.books = make([]refBook, len(cfg.Instruments))
	return m
}

func (m *refModel) failf(format string, a ...any) {
	if m.err == nil {
		m.err = fmt.Errorf(format, a...)
	}
}

// hook receives the session's report of what it applied.
func (m *refModel) hook(r hookRec) {
	switch r.what {
	case hookSnapshot:
		m.snapshot(r.i, m.snaps[r.ord-1])
	case hookEvent:
		m.event(r.i, m.frames[r.ord-1])
	case hookMessage:
		m.message(r.i, m.frames[r.ord-1])
	}
}

var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// fixed converts a decimal string to an integer of 10^-dec units, exactly.
func fixed(s string, dec uint8) (int64, bool) {
	if !plainDecimal.MatchString(s) {
		return 0, false
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, false
	}
	d = d.Shift(int32(dec))
	if !d.IsInteger() || d.GreaterThan(decimal.NewFromInt(math.MaxInt64)) {
		return 0, false
	}
	return d.IntPart(), true
}

// object decodes a JSON object with exact keys.
func object(b []byte) (map[string]json.RawMessage, bool) {
	var o map[string]json.RawMessage
	if json.Unmarshal(b, &o) != nil || o == nil {
		return nil, false
	}
	return o, true
}

// plainString decodes a JSON string that has no escapes.
func plainString(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil || bytes.IndexByte(raw, '\\') >= 0 {
		return "", false
	}
	return s, true
}

// integer decodes a non-negative JSON integer (no fraction or exponent).
func integer(raw json.RawMessage) (int64, bool) {
	v, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	return v, err == nil && v >= 0
}

// levels decodes [["price","qty"],…] in scale sc; prices must be positive.
func levels(raw json.RawMessage, sc num.Scale) ([]exchange.Level, bool) {
	var arr [][]json.RawMessage
	if json.Unmarshal(raw, &arr) != nil {
		return nil, false
	}
	out := make([]exchange.Level, 0, len(arr))
	for _, l := range arr {
		if len(l) != 2 {
			return nil, false
		}
		ps, ok1 := plainString(l[0])
		qs, ok2 := plainString(l[1])
		px, ok3 := fixed(ps, sc.Px)
		qty, ok4 := fixed(qs, sc.Qty)
		if !(ok1 && ok2 && ok3 && ok4) || px == 0 {
			return nil, false
		}
		out = append(out, exchange.Level{Px: num.Price(px), Qty: num.Qty(qty)})
	}
	return out, true
}

// event returns the event object of a frame (the envelope's data or the raw
// frame itself).
func eventObject(frame []byte) (map[string]json.RawMessage, bool) {
	top, ok := object(frame)
	if !ok {
		return nil, false
	}
	_, hasStream := top["stream"]
	data, hasData := top["data"]
	if !hasStream && !hasData {
		return top, true
	}
	if !hasData {
		return nil, false
	}
	return object(data)
}

func (m *refModel) snapshot(i int, body []byte) {
	b := &m.books[i]
	sc := m.insts[i].Scale
	o, ok := object(body)
	if !ok {
		m.failf("book %d: applied snapshot is not an object: %q", i, body)
		return
	}
	L, ok1 := integer(o["lastUpdateId"])
	bids, ok2 := levels(o["bids"], sc)
	asks, ok3 := levels(o["asks"], sc)
	if !(ok1 && ok2 && ok3) || !sorted(bids, true) || !sorted(asks, false) {
		m.failf("book %d: applied an invalid snapshot %q", i, body)
		return
	}
	*b = refBook{known: true, first: true, id: uint64(L), bids: map[int64]int64{}, asks: map[int64]int64{}}
	for k, l := range bids {
		if k < m.depth && l.Qty != 0 {
			b.bids[int64(l.Px)] = int64(l.Qty)
		}
	}
	for k, l := range asks {
		if k < m.depth && l.Qty != 0 {
			b.asks[int64(l.Px)] = int64(l.Qty)
		}
	}
}

func (m *refModel) event(i int, frame []byte) {
	b := &m.books[i]
	sc := m.insts[i].Scale
	o, ok := eventObject(frame)
	if !ok {
		m.failf("book %d: applied an undecodable frame %q", i, frame)
		return
	}
	e, _ := plainString(o["e"])
	s, hasS := o["s"]
	sym, _ := plainString(s)
	U, ok1 := integer(o["U"])
	u, ok2 := integer(o["u"])
	bids, ok3 := levels(o["b"], sc)
	asks, ok4 := levels(o["a"], sc)
	E := int64(0)
	if raw, has := o["E"]; has {
		var okE bool
		if E, okE = integer(raw); !okE {
			ok1 = false
		}
	}
	if e != "depthUpdate" || (hasS && sym != m.insts[i].Symbol) || !(ok1 && ok2 && ok3 && ok4) || U > u {
		m.failf("book %d: applied an invalid diff event %q", i, frame)
		return
	}
	if !b.known {
		m.failf("book %d: event applied without a snapshot: %q", i, frame)
		return
	}
	if uint64(U) > b.id+1 || uint64(u) <= b.id {
		m.failf("book %d: event %d-%d does not continue id %d", i, U, u, b.id)
		return
	}
	b.first = false
	for _, l := range bids {
		set(b.bids, l)
	}
	for _, l := range asks {
		set(b.asks, l)
	}
	b.id, b.exch = uint64(u), E*1e6
}

// sorted reports whether a snapshot side is strictly best first.
func sorted(l []exchange.Level, bid bool) bool {
	for k := 1; k < len(l); k++ {
		if bid && l[k].Px >= l[k-1].Px || !bid && l[k].Px <= l[k-1].Px {
			return false
		}
	}
	return true
}

func set(side map[int64]int64, l exchange.Level) {
	if l.Qty == 0 {
		delete(side, int64(l.Px))
	} else {
		side[int64(l.Px)] = int64(l.Qty)
	}
}

func (m *refModel) message(i int, frame []byte) {
	b := &m.books[i]
	sc := m.insts[i].Scale
	o, ok := eventObject(frame)
	if !ok {
		m.failf("book %d: applied an undecodable frame %q", i, frame)
		return
	}
	nb := refBook{known: true, seen: true, bids: map[int64]int64{}, asks: map[int64]int64{}}
	switch m.kind {
	case chBBO:
		u, ok1 := integer(o["u"])
		bp, ok2 := plainString(o["b"])
		bq, ok3 := plainString(o["B"])
		ap, ok4 := plainString(o["a"])
		aq, ok5 := plainString(o["A"])
		bpx, ok6 := fixed(bp, sc.Px)
		bqty, ok7 := fixed(bq, sc.Qty)
		apx, ok8 := fixed(ap, sc.Px)
		aqty, ok9 := fixed(aq, sc.Qty)
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8 && ok9) || (bqty > 0 && bpx == 0) || (aqty > 0 && apx == 0) {
			m.failf("book %d: applied an invalid bookTicker %q", i, frame)
			return
		}
		if b.seen && uint64(u) <= b.id {
			m.failf("book %d: bookTicker %d applied after %d", i, u, b.id)
			return
		}
		if bqty > 0 {
			nb.bids[bpx] = bqty
		}
		if aqty > 0 {
			nb.asks[apx] = aqty
		}
		nb.id = uint64(u)
		if raw, has := o["E"]; has {
			E, _ := integer(raw)
			nb.exch = E * 1e6
		}
	case chPartial:
		L, ok1 := integer(o["lastUpdateId"])
		bids, ok2 := levels(o["bids"], sc)
		asks, ok3 := levels(o["asks"], sc)
		if !(ok1 && ok2 && ok3) || !sorted(bids, true) || !sorted(asks, false) {
			m.failf("book %d: applied an invalid partial book %q", i, frame)
			return
		}
		if b.seen && uint64(L) < b.id {
			m.failf("book %d: partial book %d applied after %d", i, L, b.id)
			return
		}
		for k, l := range bids {
			if k < m.depth && l.Qty != 0 {
				nb.bids[int64(l.Px)] = int64(l.Qty)
			}
		}
		for k, l := range asks {
			if k < m.depth && l.Qty != 0 {
				nb.asks[int64(l.Px)] = int64(l.Qty)
			}
		}
		nb.id = uint64(L)
	}
	*b = nb
}

// top returns the best n levels of a side.
func top(side map[int64]int64, bid bool, n int) []exchange.Level {
	px := make([]int64, 0, len(side))
	for p := range side {
		px = append(px, p)
	}
	slices.Sort(px)
	if bid {
		slices.Reverse(px)
	}
	out := []exchange.Level{}
	for k := 0; k < len(px) && k < n; k++ {
		out = append(out, exchange.Level{Px: num.Price(px[k]), Qty: num.Qty(side[px[k]])})
	}
	return out
}

// check compares one published event with the model.
func (m *refModel) check(ev *exchange.BookTop, venue exchange.VenueID) {
	idx := -1
	for k := range m.insts {
		if m.insts[k].ID == ev.Inst {
			idx = k
		}
	}
	if idx < 0 || ev.Venue != venue {
		m.failf("event for unknown venue/instrument %d/%d", ev.Venue, ev.Inst)
		return
	}
	if ev.Stale() {
		if ev.NBids != 0 || ev.NAsks != 0 || ev.Cause == exchange.CauseNone {
			m.failf("malformed stale event %+v", ev)
		}
		return
	}
	b := &m.books[idx]
	if ev.Crossed() {
		m.failf("published a crossed book: %+v", ev)
	}
	if !b.known {
		m.failf("book %d published fresh but the model has no book", idx)
		return
	}
	if m.kind == chDepth && b.first {
		m.failf("book %d published fresh from a snapshot alone", idx)
	}
	if ev.Seq != b.id || ev.ExchTS != b.exch {
		m.failf("book %d: published seq %d exch %d, model %d %d", idx, ev.Seq, ev.ExchTS, b.id, b.exch)
	}
	sc := m.insts[idx].Scale
	wb, wa := top(b.bids, true, exchange.TopK), top(b.asks, false, exchange.TopK)
	gb, ga := ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks]
	if !slices.Equal(gb, wb) || !slices.Equal(ga, wa) {
		m.failf("book %d seq %d:\n published bids %s asks %s\n model     bids %s asks %s", idx, ev.Seq,
			fmtLevels(gb, sc), fmtLevels(ga, sc), fmtLevels(wb, sc), fmtLevels(wa, sc))
	}
}

// fuzzOps splits a fuzz input into operations, one per line: "S<i> <body>"
// applies a snapshot to book i, "X<i>" fails its fetch, "D" disconnects,
// anything else is a frame. A first line "#bbo" or "#depth5" picks the
// channel (default depth).
func fuzzOps(data []byte) (channel string, ops [][]byte) {
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > 0 && bytes.HasPrefix(lines[0], []byte("#")) {
		channel = strings.TrimSpace(string(lines[0][1:]))
		lines = lines[1:]
	}
	return channel, lines
}
