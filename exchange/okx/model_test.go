package okx

// The reference model: a slow, obviously-right OKX book keeper built only on
// encoding/json, maps, sort, math/big and a bit-by-bit CRC32. It shares no
// code with the adapter, so agreement between the two is evidence, not
// tautology. It is used to
//   - compute the checksums written into testdata frames (sync scripts),
//   - generate multi-step frame streams (fake server, benchmarks),
//   - check the fuzz invariant: every book the adapter publishes as fresh
//     equals the model's book rebuilt from the same messages.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"sort"
	"strings"

	"arb/exchange"
	"arb/exchange/num"
)

var refNumRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// refParse converts a plain decimal string to an integer of 10^-dec units,
// exactly, or reports false.
func refParse(s string, dec uint8) (int64, bool) {
	if !refNumRE.MatchString(s) {
		return 0, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec)), nil)))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// refCRC32 is CRC-32/IEEE computed bit by bit (reflected, polynomial
// 0xEDB88320), independent of hash/crc32.
func refCRC32(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for k := 0; k < 8; k++ {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xEDB88320
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

type refLevel struct {
	px, sz       int64
	pxRaw, szRaw string
}

// refBook is a two-sided book in maps keyed by price units.
type refBook struct {
	bids, asks map[int64]refLevel
}

func newRefBook() *refBook {
	return &refBook{bids: map[int64]refLevel{}, asks: map[int64]refLevel{}}
}

func (b *refBook) side(bid bool) map[int64]refLevel {
	if bid {
		return b.bids
	}
	return b.asks
}

// set applies one level: size 0 deletes, anything else replaces.
func (b *refBook) set(bid bool, l refLevel) {
	if l.sz == 0 {
		delete(b.side(bid), l.px)
		return
	}
	b.side(bid)[l.px] = l
}

// sorted returns a side best first.
func (b *refBook) sorted(bid bool) []refLevel {
	m := b.side(bid)
	out := make([]refLevel, 0, len(m))
	for _, l := range m {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if bid {
			return out[i].px > out[j].px
		}
		return out[i].px < out[j].px
	})
	return out
}

func (b *refBook) crossed() bool {
	bs, as := b.sorted(true), b.sorted(false)
	return len(bs) > 0 && len(as) > 0 && bs[0].px >= as[0].px
}

// refCheckString is OKX's checksum string from sides given best first.
func refCheckString(bids, asks []refLevel) string {
	var parts []string
	for k := 0; k < 25; k++ {
		if k < len(bids) {
			parts = append(parts, bids[k].pxRaw, bids[k].szRaw)
		}
		if k < len(asks) {
			parts = append(parts, asks[k].pxRaw, asks[k].szRaw)
		}
	}
	return strings.Join(parts, ":")
}

func (b *refBook) checksum() int32 {
	return int32(refCRC32([]byte(refCheckString(b.sorted(true), b.sorted(false)))))
}

// top returns the best k levels per side as exchange levels.
func (b *refBook) top(k int) (bids, asks []exchange.Level) {
	for _, l := range b.sorted(true) {
		if len(bids) == k {
			break
		}
		bids = append(bids, exchange.Level{Px: num.Price(l.px), Qty: num.Qty(l.sz)})
	}
	for _, l := range b.sorted(false) {
		if len(asks) == k {
			break
		}
		asks = append(asks, exchange.Level{Px: num.Price(l.px), Qty: num.Qty(l.sz)})
	}
	return bids, asks
}

// refState is the model's view of one instrument on the "books" channel.
type refState struct {
	valid bool
	seq   int64
	book  *refBook
}

// refModel applies frames of the "books" channel by OKX's documented rules.
// Its validity rules are deliberately no stricter than the adapter's: the
// adapter may be more conservative (stale where the model is valid), never
// the reverse.
type refModel struct {
	wire  string
	index map[string]int
	scale []num.Scale
	st    []refState
}

func newRefModel(wire string, insts []exchange.Instrument) *refModel {
	m := &refModel{wire: wire, index: map[string]int{}}
	for i, in := range insts {
		m.index[in.Symbol] = i
		m.scale = append(m.scale, in.Scale)
		m.st = append(m.st, refState{book: newRefBook()})
	}
	return m
}

func (m *refModel) invalidateAll() {
	for i := range m.st {
		m.st[i].valid = false
	}
}

// decodeStrict decodes exactly one JSON value with nothing after it.
func decodeStrict(frame []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// apply processes one frame.
func (m *refModel) apply(frame []byte) {
	if string(frame) == "pong" {
		return
	}
	var v map[string]any
	if err := decodeStrict(frame, &v); err != nil {
		m.malformed(frame)
		return
	}
	if _, ok := v["event"]; ok {
		return // control messages never change a book
	}
	data, ok := v["data"]
	if !ok {
		return
	}
	arg, ok := v["arg"].(map[string]any)
	if !ok {
		m.invalidateAll()
		return
	}
	i, mine, ok := m.attribute(arg)
	if !ok {
		m.invalidateAll()
		return
	}
	if !mine {
		return
	}
	if !m.push(i, v["action"], data) {
		m.st[i].valid = false
	}
}

// attribute resolves an arg: ok false if its fields have the wrong types.
func (m *refModel) attribute(arg map[string]any) (i int, mine, ok bool) {
	ch, chOK := arg["channel"].(string)
	id, idOK := arg["instId"].(string)
	if (arg["channel"] != nil && !chOK) || (arg["instId"] != nil && !idOK) {
		return 0, false, false
	}
	i, known := m.index[id]
	return i, known && ch == m.wire, true
}

// malformed attributes a frame encoding/json rejects: to the instrument of
// its arg if that could be read completely before the error, else to all.
func (m *refModel) malformed(frame []byte) {
	dec := json.NewDecoder(bytes.NewReader(frame))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		m.invalidateAll()
		return
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			break
		}
		if kt == "arg" {
			var a map[string]any
			if err := dec.Decode(&a); err != nil {
				break
			}
			i, mine, ok := m.attribute(a)
			if !ok {
				break
			}
			if mine {
				m.st[i].valid = false
			}
			return
		}
		var skip any
		if err := dec.Decode(&skip); err != nil {
			break
		}
	}
	m.invalidateAll()
}

func refInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil && !strings.ContainsAny(string(n), ".eE")
}

// refLevels parses a side; snapshot forbids zero sizes.
func refLevels(v any, sc num.Scale, snapshot bool) ([]refLevel, bool) {
	if v == nil {
		return nil, true
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	var out []refLevel
	for _, e := range arr {
		l, ok := e.([]any)
		if !ok || len(l) < 2 {
			return nil, false
		}
		pxs, ok1 := l[0].(string)
		szs, ok2 := l[1].(string)
		if !ok1 || !ok2 {
			return nil, false
		}
		px, ok1 := refParse(pxs, sc.Px)
		sz, ok2 := refParse(szs, sc.Qty)
		if !ok1 || !ok2 || (snapshot && sz == 0) {
			return nil, false
		}
		out = append(out, refLevel{px, sz, pxs, szs})
	}
	return out, true
}

// push applies one push to instrument i, reporting false if the book is no
// longer known right.
func (m *refModel) push(i int, action, data any) bool {
	st := &m.st[i]
	arr, ok := data.([]any)
	if !ok || len(arr) != 1 {
		return false
	}
	d, ok := arr[0].(map[string]any)
	if !ok {
		return false
	}
	var snapshot bool
	switch action {
	case "snapshot":
		snapshot = true
	case "update":
		if !st.valid {
			return false // only a snapshot restarts a chain
		}
	default:
		return false
	}
	seq, ok := refInt(d["seqId"])
	if !ok {
		return false
	}
	bids, ok1 := refLevels(d["bids"], m.scale[i], snapshot)
	asks, ok2 := refLevels(d["asks"], m.scale[i], snapshot)
	if !ok1 || !ok2 {
		return false
	}
	if !snapshot {
		prev, ok := refInt(d["prevSeqId"])
		if !ok || prev != st.seq {
			return false
		}
	} else {
		st.book = newRefBook()
	}
	for _, l := range bids {
		st.book.set(true, l)
	}
	for _, l := range asks {
		st.book.set(false, l)
	}
	st.seq = seq
	if d["checksum"] != nil {
		ck, ok := refInt(d["checksum"])
		if !ok || (ck != 0 && ck != int64(st.book.checksum())) {
			return false
		}
	}
	if st.book.crossed() {
		return false
	}
	st.valid = true
	return true
}

// refFullPush parses a full-state push (bbo-tbt, books5) for the fuzz
// invariant: ok is false unless the frame is a well-formed push on wire for
// sym; bids/asks are the best k levels of the push (last entry wins for a
// repeated price).
func refFullPush(frame []byte, wire, sym string, sc num.Scale, k int) (seq int64, bids, asks []exchange.Level, ok bool) {
	var v map[string]any
	if decodeStrict(frame, &v) != nil {
		return 0, nil, nil, false
	}
	arg, _ := v["arg"].(map[string]any)
	if arg == nil || arg["channel"] != wire || arg["instId"] != sym {
		return 0, nil, nil, false
	}
	arr, _ := v["data"].([]any)
	if len(arr) != 1 {
		return 0, nil, nil, false
	}
	d, _ := arr[0].(map[string]any)
	if d == nil {
		return 0, nil, nil, false
	}
	seq, ok = refInt(d["seqId"])
	bl, ok1 := refLevels(d["bids"], sc, true)
	al, ok2 := refLevels(d["asks"], sc, true)
	if !ok || !ok1 || !ok2 {
		return 0, nil, nil, false
	}
	b := newRefBook()
	for _, l := range bl {
		b.set(true, l)
	}
	for _, l := range al {
		b.set(false, l)
	}
	bids, asks = b.top(k)
	return seq, bids, asks, true
}
