package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"arb/exchange/num"
)

// diffDepth is Binance's documented diff-depth payload.
const diffDepth = `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}`

type depth struct {
	e, s       string
	E, U, u    int64
	bids, asks [][2]string
}

func readDepth(t *testing.T, in string) (depth, error) {
	var s Scanner
	var d depth
	s.Reset([]byte(in))
	if !s.Object() {
		return d, s.Err()
	}
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "e":
			d.e = string(s.Str())
		case "E":
			d.E = s.Int()
		case "s":
			d.s = string(s.Str())
		case "U":
			d.U = s.Int()
		case "u":
			d.u = s.Int()
		case "b", "a":
			var side [][2]string
			if s.Array() {
				for s.More() {
					var lv [2]string
					if s.Array() {
						n := 0
						for s.More() {
							if n < 2 {
								lv[n] = string(s.Str())
							} else {
								s.Skip()
							}
							n++
						}
					}
					side = append(side, lv)
				}
			}
			if k[0] == 'b' {
				d.bids = side
			} else {
				d.asks = side
			}
		default:
			s.Skip()
		}
	}
	if !s.End() && s.Err() == nil {
		s.Fail(ErrSyntax)
	}
	return d, s.Err()
}

func TestDocumentedDiffDepth(t *testing.T) {
	d, err := readDepth(t, diffDepth)
	if err != nil {
		t.Fatal(err)
	}
	// "e" and "E" are distinct keys: exact matching keeps them apart.
	if d.e != "depthUpdate" || d.E != 1672515782136 || d.s != "BNBBTC" || d.U != 157 || d.u != 160 {
		t.Fatalf("%+v", d)
	}
	if len(d.bids) != 1 || d.bids[0] != [2]string{"0.0024", "10"} || d.asks[0] != [2]string{"0.0026", "100"} {
		t.Fatalf("levels %+v %+v", d.bids, d.asks)
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name, in string
		err      error
	}{
		{"truncated", diffDepth[:40], ErrSyntax},
		{"trailing comma", `{"e":"x",}`, ErrSyntax},
		{"missing comma", `{"e":"x" "s":"y"}`, ErrSyntax},
		{"int as string", `{"E":"123"}`, ErrType},
		{"string as int", `{"e":5}`, ErrType},
		{"escaped value", `{"e":"a\"b"}`, ErrEscape},
		{"escaped key", `{"\u0065":"x"}`, ErrEscape},
		{"fraction int", `{"U":1.5}`, ErrSyntax},
		{"leading zero", `{"U":01}`, ErrSyntax},
		{"overflow", `{"U":99999999999999999999}`, ErrRange},
		{"deep", strings.Repeat(`{"x":`, 40) + "1" + strings.Repeat("}", 40), ErrDepth},
		{"control char", "{\"e\":\"a\x01\"}", ErrSyntax},
		{"not object", `[1]`, ErrType},
		{"bad literal", `{"x":nul}`, ErrSyntax},
		{"trailing garbage", diffDepth + "x", ErrSyntax},
	}
	for _, tt := range tests {
		_, err := readDepth(t, tt.in)
		if err != tt.err {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
	}
}

func TestSkipAcceptsValidJSON(t *testing.T) {
	for _, in := range []string{
		`{"a":[1,-2.5e+10,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"],"b":{},"c":[]}`,
		` 0 `, `-0`, `[[[]]]`, `"plain"`, `{"\b":0,"x\"y":{"\u0041":[]}}`, `{"subscriptionId":0,"event":{"N":null}}`,
	} {
		var s Scanner
		s.Reset([]byte(in))
		s.Skip()
		if !s.End() {
			t.Errorf("%q: %v at %d", in, s.Err(), s.Pos())
		}
	}
}

func TestNoAllocs(t *testing.T) {
	b := []byte(diffDepth)
	var s Scanner
	n := testing.AllocsPerRun(100, func() {
		s.Reset(b)
		s.Object()
		for {
			k, ok := s.Key()
			if !ok {
				break
			}
			switch string(k) {
			case "E", "U", "u":
				_ = s.Int()
			default:
				s.Skip()
			}
		}
	})
	if n != 0 {
		t.Fatalf("allocs = %v", n)
	}
}

// FuzzSkip: the scanner accepts a document exactly when encoding/json does
// (within the nesting limit), and never panics.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{diffDepth, `{"a":[1,2,{"b":null}]}`, `[`, `{"a":1,}`, `"\u12"`, `1e`, `-`, `{"e":"x","E":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Scanner
		s.Reset(b)
		s.Skip()
		ok := s.End()
		if s.Err() == ErrDepth {
			return
		}
		if ok != json.Valid(b) {
			t.Fatalf("scanner=%v json.Valid=%v err=%v for %q", ok, json.Valid(b), s.Err(), b)
		}
	})
}

// bybitDelta is Bybit's documented orderbook delta, compact as sent.
const bybitDelta = `{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1687940967466,"data":{"s":"BTCUSDT","b":[["30247.20","30.028"],["30245.40","0.224"],["30242.10","1.593"],["30240.30","1.305"],["30240.00","0"]],"a":[["30248.70","0"],["30249.30","0.892"],["30249.50","1.778"],["30249.60","0"],["30251.90","2.947"],["30252.20","0.659"],["30252.50","4.591"]],"u":177400507,"seq":66544703342},"cts":1687940967464}`

// walk reads every value of a book frame the way an adapter does.
func walk(s *Scanner, b []byte) (n int) {
	s.Reset(b)
	s.Object()
	for {
		k, ok := s.Key()
		if !ok {
			break
		}
		switch string(k) {
		case "data":
			s.Object()
			for {
				k, ok := s.Key()
				if !ok {
					break
				}
				switch string(k) {
				case "b", "a":
					s.Array()
					for s.More() {
						s.Array()
						for s.More() {
							n += len(s.Str())
						}
					}
				case "u", "seq":
					n += int(s.Int())
				default:
					s.Skip()
				}
			}
		case "ts", "cts":
			n += int(s.Int())
		default:
			s.Skip()
		}
	}
	return n
}

func BenchmarkWalkBookFrame(b *testing.B) {
	in := []byte(bybitDelta)
	var s Scanner
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		walk(&s, in)
	}
}

func TestPair(t *testing.T) {
	tests := []struct {
		in     string
		a, b   string
		err    error
		prefix bool // PairPrefix instead of Pair
	}{
		{in: `["30247.20","30.028"]`, a: "30247.20", b: "30.028"},
		{in: `["111.06","55154","0","2"]`, err: ErrType},
		{in: `["111.06","55154","0","2"]`, a: "111.06", b: "55154", prefix: true},
		{in: ` [ "1" , "2" , [3,{"x":null}] ] `, a: "1", b: "2", prefix: true},
		{in: `["1","2",]`, err: ErrSyntax, prefix: true},
		{in: `["1"]`, err: ErrType},
		{in: `["1",2]`, err: ErrType},
		{in: `[1,"2"]`, err: ErrType},
		{in: `"1"`, err: ErrType},
		{in: `["1","2",]`, err: ErrType},
		{in: `["1","2"`, err: ErrType},
		{in: `["1","2"`, err: ErrSyntax, prefix: true},
		{in: `["1","2" "3"]`, err: ErrSyntax, prefix: true},
		{in: `["1\"","2"]`, err: ErrEscape},
	}
	for _, tt := range tests {
		var s Scanner
		s.Reset([]byte(tt.in))
		pair := s.Pair
		if tt.prefix {
			pair = s.PairPrefix
		}
		a, b, ok := pair()
		if ok != (tt.err == nil) || s.Err() != tt.err || string(a) != tt.a || string(b) != tt.b {
			t.Errorf("Pair(%s) = %q %q %v err %v; want %q %q err %v", tt.in, a, b, ok, s.Err(), tt.a, tt.b, tt.err)
		}
		if ok && !s.End() {
			t.Errorf("Pair(%s) left input: pos %d", tt.in, s.Pos())
		}
	}
}

// FuzzPair: Pair never panics, and whenever it accepts, the input is valid
// JSON whose first two elements are exactly the strings it returned.
func FuzzPair(f *testing.F) {
	for _, s := range []string{`["1","2"]`, `["1","2","0","3"]`, `["1"]`, `[`, `["1","2",[]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Scanner
		s.Reset(in)
		a, b, ok := s.PairPrefix()
		if ok {
			var s2 Scanner
			s2.Reset(in)
			if a2, b2, ok2 := s2.Pair(); ok2 && (string(a2) != string(a) || string(b2) != string(b)) {
				t.Fatalf("Pair and PairPrefix disagree on %q", in)
			}
		}
		if !ok || !s.End() || !utf8.Valid(in) {
			return // encoding/json rewrites invalid UTF-8; the scanner keeps raw bytes
		}
		var v []any
		if err := json.Unmarshal(in, &v); err != nil {
			t.Fatalf("Pair accepted invalid JSON %q", in)
		}
		if len(v) < 2 || v[0] != string(a) || v[1] != string(b) {
			t.Fatalf("Pair(%q) = %q %q, json says %v", in, a, b, v)
		}
	})
}

// TestStopMask checks the word test against the byte table for every byte
// value in every position.
func TestStopMask(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			var w [8]byte
			for i := range w {
				w[i] = 'a'
			}
			w[pos] = byte(c)
			got := stopMask(binary.LittleEndian.Uint64(w[:])) != 0
			if got != strStop[c] {
				t.Fatalf("byte %#x at %d: stopMask %v, table %v", c, pos, got, strStop[c])
			}
		}
	}
	// The lowest flagged byte is exactly the first stop byte (what
	// plainString relies on), for words mixing stops and non-stops.
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		var w [8]byte
		for i := range w {
			switch rng.IntN(4) {
			case 0:
				w[i] = byte(rng.IntN(0x20))
			case 1:
				w[i] = []byte{'"', '\\', 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff}[rng.IntN(10)]
			default:
				w[i] = byte(rng.IntN(256))
			}
		}
		first := 8
		for i, c := range w {
			if strStop[c] {
				first = i
				break
			}
		}
		m := stopMask(binary.LittleEndian.Uint64(w[:]))
		got := 8
		if m != 0 {
			got = bits.TrailingZeros64(m) >> 3
		}
		if got != first {
			t.Fatalf("%q: lowest flagged byte %d, first stop byte %d", w, got, first)
		}
	}
}

func TestPairFixed(t *testing.T) {
	tests := []struct {
		in      string
		px, qty int64
		err     error
	}{
		{`["59999.99","0.05000000"]`, 5999999, 5000000, nil},
		{`["8477","7"]`, 847700, 700000000, nil},
		{`["0.0024","10"]`, 0, 0, num.ErrPrecision}, // 4 decimals into a scale of 2
		{`["1.","2"]`, 0, 0, num.ErrSyntax},
		{`["-1","2"]`, 0, 0, num.ErrSyntax},
		{`["NaN","2"]`, 0, 0, num.ErrSyntax},
		{`["","2"]`, 0, 0, num.ErrSyntax},
		{`["1","2","3"]`, 0, 0, ErrType},
		{`[1,"2"]`, 0, 0, ErrType},
		{`["99999999999999999999","1"]`, 0, 0, num.ErrRange},
	}
	for _, tt := range tests {
		var s Scanner
		s.Reset([]byte(tt.in))
		px, qty, ok := s.PairFixed(2, 8)
		if ok != (tt.err == nil) || s.Err() != tt.err || px != tt.px || qty != tt.qty {
			t.Errorf("PairFixed(%s) = %d %d %v err %v; want %d %d err %v", tt.in, px, qty, ok, s.Err(), tt.px, tt.qty, tt.err)
		}
	}
}

// parseLevel is the reference the fused readers are checked against: the
// two strings a level reader returned (if it succeeded) converted by
// num.ParseUnsigned, price first.
func parseLevel(read bool, px, qty []byte, pd, qd uint8) (int64, int64, error) {
	if !read {
		return 0, 0, nil
	}
	p, err := num.ParseUnsigned(px, pd)
	if err != nil {
		return 0, 0, err
	}
	q, err := num.ParseUnsigned(qty, qd)
	return p, q, err
}

// FuzzPairFixed: the fused conversion agrees exactly with Pair followed by
// num.ParseUnsigned on every input.
func FuzzPairFixed(f *testing.F) {
	for _, s := range []string{`["59999.99","0.05000000"]`, `["1","2"]`, `["0.001","1e5"]`, `["1.","2"]`, `["123456789012345678","1"]`} {
		f.Add([]byte(s), uint8(2), uint8(8))
	}
	f.Fuzz(func(t *testing.T, in []byte, pd, qd uint8) {
		pd, qd = pd%19, qd%19
		var s1, s2 Scanner
		s1.Reset(in)
		px, qty, ok := s1.PairFixed(pd, qd)
		s2.Reset(in)
		a, b, ok2 := s2.Pair()
		wpx, wqty, err := parseLevel(ok2, a, b, pd, qd)
		want := ok2 && err == nil
		if ok != want || (ok && (px != wpx || qty != wqty)) {
			t.Fatalf("PairFixed(%q,%d,%d) = %d %d %v (%v); reference %d %d %v (%v %v)", in, pd, qd, px, qty, ok, s1.Err(), wpx, wqty, want, s2.Err(), err)
		}
		if ok && s1.Pos() != s2.Pos() {
			t.Fatalf("positions differ: %d vs %d", s1.Pos(), s2.Pos())
		}
	})
}

func BenchmarkLevels(b *testing.B) {
	frame := []byte(`[["59999.99","0.05000000"],["59999.98","0.06000000"],["59999.97","0.07000000"],["59999.96","0.01000000"],["59999.95","0.02000000"],["59999.94","0.03000000"],["59999.93","0.04000000"],["59999.92","0.05000000"],["59999.87","0.00000000"],["59999.86","0.00000000"]]`)
	var s Scanner
	var sum int64
	b.Run("pair+parse", func(b *testing.B) {
		for b.Loop() {
			s.Reset(frame)
			s.Array()
			for s.More() {
				p, q, _ := s.Pair()
				x, _ := num.ParseUnsigned(p, 2)
				y, _ := num.ParseUnsigned(q, 8)
				sum += x + y
			}
		}
	})
	b.Run("pairfixed", func(b *testing.B) {
		for b.Loop() {
			s.Reset(frame)
			s.Array()
			for s.More() {
				x, y, _ := s.PairFixed(2, 8)
				sum += x + y
			}
		}
	})
}

// FuzzKeys walks an object with Key (fast and general paths) and Skip and
// checks it against encoding/json: whatever the scanner accepts is valid
// JSON with exactly these keys in this order, and a valid object is refused
// only for an escaped key or the nesting limit.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{diffDepth, bybitDelta, `{}`, `{"a":1 , "b" :2}`, `{"a":1,}`, `{,"a":1}`, `{"a"1}`, `{"a\"":1}`, `{"a":{"b":[1,{"c":2}]}}`, ` { "x" : [ ] } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Scanner
		s.Reset(in)
		var keys []string
		if s.Object() {
			for {
				k, ok := s.Key()
				if !ok {
					break
				}
				keys = append(keys, string(k))
				s.Skip()
			}
		}
		accepted := s.End()
		valid := json.Valid(in) && bytes.HasPrefix(bytes.TrimLeft(in, " \t\r\n"), []byte("{"))
		if accepted && !valid {
			t.Fatalf("accepted invalid object %q", in)
		}
		if !valid {
			return
		}
		if !accepted {
			if s.Err() != ErrEscape && s.Err() != ErrDepth {
				t.Fatalf("refused valid object %q: %v at %d", in, s.Err(), s.Pos())
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(in))
		dec.Token() // {
		var want []string
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, tok.(string))
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
		}
		if utf8.Valid(in) && !slices.Equal(keys, want) {
			t.Fatalf("%q: keys %q, encoding/json %q", in, keys, want)
		}
	})
}

func TestLit(t *testing.T) {
	var s Scanner
	s.Reset([]byte(`{"u":1,"s":"X"}`))
	if s.Lit(`{"s":`) || s.Pos() != 0 || s.Err() != nil {
		t.Fatalf("a mismatch consumed or failed: pos %d err %v", s.Pos(), s.Err())
	}
	if !s.Lit(`{"u":`) || s.Int() != 1 || !s.Lit(`,"s":`) || string(s.Str()) != "X" || !s.Lit(`}`) || !s.End() {
		t.Fatalf("layout not read: pos %d err %v", s.Pos(), s.Err())
	}
	if s.Lit(`}`) {
		t.Fatal("Lit past the end")
	}
	s.Reset([]byte(`"a\\b"x`))
	s.Str() // an escape: ErrEscape
	if s.Err() == nil || s.Lit(`x`) {
		t.Fatal("Lit after an error")
	}
}
