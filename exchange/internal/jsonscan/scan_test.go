package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
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
		` 0 `, `-0`, `[[[]]]`, `"plain"`, `{"subscriptionId":0,"event":{"N":null}}`,
	} {
		var s Scanner
		s.Reset([]byte(in))
		s.Skip()
		if !s.End() {
			t.Errorf("%q: %v at %d", in, s.Err(), s.Pos())
		}
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		v    int64
		fail bool
	}{{"0", 0, false}, {"-1", -1, false}, {"1597026383085", 1597026383085, false},
		{"9223372036854775807", 1<<63 - 1, false}, {"-9223372036854775808", -1 << 63, false},
		{"9223372036854775808", 0, true}, {"", 0, true}, {"-", 0, true}, {"+1", 0, true}, {"00", 0, true}, {"1a", 0, true}} {
		v, err := ParseInt([]byte(tc.in))
		if (err != nil) != tc.fail || v != tc.v {
			t.Errorf("ParseInt(%q) = %d, %v", tc.in, v, err)
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
