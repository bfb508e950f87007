package bybit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
	"arb/ringbuf"
)

// fuzzInstruments are the books every fuzz session follows (the symbols of
// the testdata scripts, with their scales).
var fuzzInstruments = []exchange.Instrument{
	{ID: 1, Venue: 4, Symbol: "BTCUSDT", Scale: num.Scale{Px: 2, Qty: 6}},
	{ID: 2, Venue: 4, Symbol: "ETHUSDT", Scale: num.Scale{Px: 2, Qty: 5}},
	{ID: 3, Venue: 4, Symbol: "SOLUSDT", Scale: num.Scale{Px: 3, Qty: 3}},
}

// seedFrames returns every frame of testdata: the docs' messages and each
// frame line of the sync scripts.
func seedFrames(t testing.TB) [][]byte {
	var out [][]byte
	docs, _ := filepath.Glob("testdata/docs/*.json")
	docs = append(docs, "testdata/own_snapshot_before_doc_delta.json")
	for _, f := range docs {
		if strings.Contains(f, "auth_sign") || strings.Contains(f, "rest_") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			out = append(out, c.Bytes())
		}
	}
	scripts, _ := filepath.Glob("testdata/sync/*.txt")
	for _, f := range scripts {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "frame ") {
				continue
			}
			if i := strings.Index(line, " {"); i >= 0 {
				out = append(out, []byte(line[i+1:]))
			}
		}
		fh.Close()
	}
	return out
}

// FuzzHandleFrame feeds a sequence of frames (newline-separated; the first
// byte picks the channel (bit 0: bbo) and continuity (bit 1: monotonic)) to a session. It asserts that
// nothing panics and, after every frame, that every fresh event is not
// crossed and equals a reference book rebuilt by refModel — maps and
// encoding/json — from the same messages the session accepted.
func FuzzHandleFrame(f *testing.F) {
	frames := seedFrames(f)
	for _, fr := range frames {
		f.Add(append([]byte{0}, fr...))
	}
	// Multi-frame seeds: each script's frames in order, on both channels.
	scripts, _ := filepath.Glob("testdata/sync/*.txt")
	for _, s := range scripts {
		b, _ := os.ReadFile(s)
		var seq [][]byte
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, " {"); strings.HasPrefix(line, "frame ") && i >= 0 {
				seq = append(seq, []byte(line[i+1:]))
			}
		}
		mode := byte(0)
		if strings.Contains(s, "bbo") {
			mode = 1
		}
		if strings.Contains(s, "continuity.txt") {
			mode |= 2 // monotonic
		}
		f.Add(append([]byte{mode}, bytes.Join(seq, []byte("\n"))...))
	}
	f.Fuzz(runFuzzOne)
}

func runFuzzOne(t *testing.T, in []byte) {
	{
		if len(in) == 0 {
			return
		}
		mode := in[0]
		ring := ringbuf.NewMPSC[exchange.BookTop](256)
		cfg := Config{Venue: 4, WSURL: "ws://127.0.0.1:1", Ring: ring, Instruments: fuzzInstruments}
		if mode&1 != 0 {
			cfg.Channel = ChannelBBO
		}
		cfg.Continuity = ContinuityContiguous
		if mode&2 != 0 {
			cfg.Continuity = ContinuityMonotonic
		}
		s := NewSession(&cfg, nil)
		ref := newRefModel(s.depth)
		s.Start(0)
		drainRing(ring)
		now := int64(0)
		for _, fr := range bytes.Split(in[1:], []byte("\n")) {
			now += 50 * msec
			s.HandleFrame(fr, now)
			for _, ok := s.NextRequest(nil); ok; _, ok = s.NextRequest(nil) {
			}
			ref.check(t, s, ring, fr)
		}
	}
}

// refModel rebuilds books from accepted messages with maps, decoding with
// encoding/json (exact keys, via a map) and shopspring/decimal.
type refModel struct {
	depth int
	books map[exchange.InstrumentID]*refBook
}

type refBook struct {
	valid      bool
	bids, asks refLevels
}

func newRefModel(depth int) *refModel {
	return &refModel{depth: depth, books: map[exchange.InstrumentID]*refBook{}}
}

// refMessage decodes a book message the slow way.
type refMessage struct {
	topic    string
	sym      string
	snapshot bool
	seq      uint64 // the cross sequence, which events carry as Seq
	b, a     [][]string
}

func decodeRef(fr []byte) (*refMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(fr, &top); err != nil {
		return nil, err
	}
	var m refMessage
	var typ string
	if err := json.Unmarshal(top["type"], &typ); err != nil {
		return nil, err
	}
	m.snapshot = typ == "snapshot"
	var data map[string]json.RawMessage
	if err := json.Unmarshal(top["data"], &data); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data["b"], &m.b); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data["a"], &m.a); err != nil {
		return nil, err
	}
	var topic string
	if err := json.Unmarshal(top["topic"], &topic); err != nil {
		return nil, err
	}
	m.topic, m.sym = topic, topic[strings.LastIndexByte(topic, '.')+1:]
	var seq json.Number
	if err := json.Unmarshal(bytes.Trim(data["seq"], `"`), &seq); err != nil {
		return nil, err
	}
	n, err := seq.Int64()
	m.seq = uint64(n)
	return &m, err
}

func refUnits(s string, dec uint8) (int64, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, err
	}
	v := d.Shift(int32(dec))
	if !v.Equal(v.Truncate(0)) {
		return 0, fmt.Errorf("%s: too precise", s)
	}
	return v.IntPart(), nil
}

func (r *refModel) apply(t *testing.T, bk *refBook, m *refMessage, in exchange.Instrument) {
	if m.snapshot {
		bk.bids, bk.asks = refLevels{}, refLevels{}
	}
	for _, side := range []struct {
		lv  [][]string
		m   refLevels
		bid bool
	}{{m.b, bk.bids, true}, {m.a, bk.asks, false}} {
		for _, l := range side.lv {
			px, err1 := refUnits(l[0], in.Scale.Px)
			qty, err2 := refUnits(l[1], in.Scale.Qty)
			if err1 != nil || err2 != nil {
				t.Fatalf("session accepted a level the reference cannot read: %q (%v, %v)", l, err1, err2)
			}
			if qty == 0 {
				delete(side.m, px)
			} else {
				side.m[px] = qty
			}
		}
		// Keep the best depth levels, as the venue's window does.
		for _, l := range side.m.sorted(side.bid)[min(r.depth, len(side.m)):] {
			delete(side.m, int64(l.Px))
		}
	}
	bk.valid = true
}

func (r *refModel) check(t *testing.T, s *Session, ring *ringbuf.MPSC[exchange.BookTop], fr []byte) {
	var ev exchange.BookTop
	for ring.TryPop(&ev) {
		k := slices.IndexFunc(fuzzInstruments, func(in exchange.Instrument) bool { return in.ID == ev.Inst })
		if k < 0 {
			t.Fatalf("event for unknown instrument %d", ev.Inst)
		}
		in := fuzzInstruments[k]
		bk := r.books[ev.Inst]
		if bk == nil {
			bk = &refBook{}
			r.books[ev.Inst] = bk
		}
		if ev.Stale() {
			bk.valid = false
			continue
		}
		if ev.Crossed() {
			t.Fatalf("fresh crossed book after %q: %s", fr, fmtEvent(&ev))
		}
		// A fresh event either applies this frame (it names the book and
		// carries its seq) or republishes an unchanged book.
		if m, err := decodeRef(fr); err == nil && m.topic == s.prefix+in.Symbol && m.seq == ev.Seq && (m.snapshot || bk.valid) {
			r.apply(t, bk, m, in)
		} else if !bk.valid {
			t.Fatalf("fresh event the reference cannot explain after %q (decode: %v): %s", fr, err, fmtEvent(&ev))
		}
		want := refTop{topN(bk.bids.sorted(true), exchange.TopK), topN(bk.asks.sorted(false), exchange.TopK)}
		got := refTop{ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks]}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after %q:\n got %v %v\nwant %v %v", fr, got.bids, got.asks, want.bids, want.asks)
		}
	}
}

// FuzzInstruments checks the REST instruments parser: no panic, and every
// instrument it returns carries exactly the filters a decimal-based reading
// of the same body gives.
func FuzzInstruments(f *testing.F) {
	f.Add(readTestdata(f, "docs/rest_instruments_spot_response.json"))
	f.Add([]byte(`{"retCode":10006,"retMsg":"Too many visits!","result":{},"time":1}`))
	f.Add([]byte(`{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","status":"Trading","lotSizeFilter":{"basePrecision":"0.0001","minOrderQty":"0.0001","minOrderAmt":"5"},"priceFilter":{"tickSize":"0.01"}}]}}`))
	want := []exchange.Instrument{{ID: 1, Symbol: "BTCUSDT", Scale: num.Scale{Px: 2, Qty: 8}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseInstruments(body, "bybit", want)
		if err != nil {
			return
		}
		var p struct {
			Result struct {
				List []map[string]json.RawMessage `json:"list"`
			} `json:"result"`
		}
		if json.Unmarshal(body, &p) != nil {
			t.Fatalf("parsed a body encoding/json rejects: %q", body)
		}
		if len(got) != 1 || got[0].Tick <= 0 || got[0].Step <= 0 || got[0].MinQty < 0 || got[0].MinNotional < 0 {
			t.Fatalf("bad filters %+v from %q", got, body)
		}
		if sc := got[0].Scale; sc.Px < want[0].Scale.Px || sc.Qty < want[0].Scale.Qty || !sc.Valid() {
			t.Fatalf("scale %+v narrower than %+v or invalid", sc, want[0].Scale)
		}
	})
}
