package jsonscan

import (
	"testing"

	"arb/exchange/num"
)

func TestPairPrefixFixed(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		px, qty      int64
		pxRaw, qtRaw string
		err          error // nil: accepted
	}{
		{"OKX level", `["8476.98","415","0","13"]`, 847698, 41500000000, "8476.98", "415", nil},
		{"two elements", `["59999.99","0.05000000"]`, 5999999, 5000000, "59999.99", "0.05000000", nil},
		{"padding zeros past the scale", `["1.2300","7.000000000"]`, 123, 700000000, "1.2300", "7.000000000", nil},
		{"white space everywhere", ` [ "1" , "2" , "0" , "4" ] `, 100, 200000000, "1", "2", nil},
		{"nested tail", `["1","2",[3,{"x":null}],true]`, 100, 200000000, "1", "2", nil},
		{"escaped tail", `["1","2","\u0030"]`, 100, 200000000, "1", "2", nil},
		{"long integer part (checked path)", `["12345678901234567","1"]`, 1234567890123456700, 100000000, "12345678901234567", "1", nil},
		{"out of range", `["99999999999999999999","1"]`, 0, 0, "", "", num.ErrRange},
		{"too precise", `["0.001","1"]`, 0, 0, "", "", num.ErrPrecision},
		{"too precise size", `["1","0.000000001"]`, 0, 0, "", "", num.ErrPrecision},
		{"negative", `["-1","2"]`, 0, 0, "", "", num.ErrSyntax},
		{"NaN", `["NaN","2"]`, 0, 0, "", "", num.ErrSyntax},
		{"empty", `["","2"]`, 0, 0, "", "", num.ErrSyntax},
		{"trailing dot", `["1.","2"]`, 0, 0, "", "", num.ErrSyntax},
		{"leading dot", `[".5","2"]`, 0, 0, "", "", num.ErrSyntax},
		{"exponent", `["1e2","2"]`, 0, 0, "", "", num.ErrSyntax},
		{"escape in price", `["1\u0030","2"]`, 0, 0, "", "", ErrEscape},
		{"number, not string", `[1,"2"]`, 0, 0, "", "", ErrType},
		{"size number", `["1",2]`, 0, 0, "", "", ErrType},
		{"one element", `["1"]`, 0, 0, "", "", ErrType},
		{"not an array", `"1"`, 0, 0, "", "", ErrType},
		{"trailing comma", `["1","2",]`, 0, 0, "", "", ErrSyntax},
		{"missing comma", `["1","2" "3"]`, 0, 0, "", "", ErrSyntax},
		{"unterminated", `["1","2"`, 0, 0, "", "", ErrSyntax},
		{"unterminated string", `["1","2`, 0, 0, "", "", ErrSyntax},
		{"bad tail", `["1","2",x]`, 0, 0, "", "", ErrSyntax},
		{"control byte", "[\"1\x01\",\"2\"]", 0, 0, "", "", ErrSyntax},
	}
	for _, tt := range tests {
		var s Scanner
		s.Reset([]byte(tt.in))
		px, qty, pr, qr, ok := s.PairPrefixFixed(2, 8)
		if ok != (tt.err == nil) || s.Err() != tt.err || px != tt.px || qty != tt.qty || string(pr) != tt.pxRaw || string(qr) != tt.qtRaw {
			t.Errorf("%s: PairPrefixFixed(%s) = %d %d %q %q %v err %v; want %d %d %q %q err %v",
				tt.name, tt.in, px, qty, pr, qr, ok, s.Err(), tt.px, tt.qty, tt.pxRaw, tt.qtRaw, tt.err)
		}
		if ok && !s.End() {
			t.Errorf("%s: left input at %d", tt.name, s.Pos())
		}
	}
}

// TestPairPrefixFixedInArray: levels read one after another inside an array
// leave the scanner where More expects it.
func TestPairPrefixFixedInArray(t *testing.T) {
	var s Scanner
	s.Reset([]byte(`[["8476.98","415","0","13"],["8477","7","0","2"], ["8477.34" ,"85"]]`))
	s.Array()
	var got []string
	for s.More() {
		px, qty, pr, qr, ok := s.PairPrefixFixed(2, 0)
		if !ok {
			t.Fatal(s.Err())
		}
		got = append(got, string(pr)+"="+string(qr), string(num.AppendFixed(nil, px, 2))+"="+string(num.AppendFixed(nil, qty, 0)))
	}
	want := []string{"8476.98=415", "8476.98=415", "8477=7", "8477.00=7", "8477.34=85", "8477.34=85"}
	if !s.End() || len(got) != len(want) {
		t.Fatalf("got %q (end %v, err %v)", got, s.End(), s.Err())
	}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// FuzzPairPrefixFixed: the fused read agrees with PairPrefix followed by
// num.ParseUnsigned on both strings — the same acceptance, the same values,
// the same raw slices and the same position — on every input and scale.
func FuzzPairPrefixFixed(f *testing.F) {
	for _, s := range []string{
		`["8476.98","415","0","13"]`, `["59999.99","0.05000000"]`, `["1","2",[3,{"x":null}]]`,
		`["0.001","1"]`, `["1.","2"]`, `["123456789012345678","1"]`, `["1","2",]`, `["1\u0030","2"]`,
		`["1","2" ,"0"  ,"4"]`, `["00.5","1"]`, `["1.50000000000000000000","1"]`,
	} {
		f.Add([]byte(s), uint8(2), uint8(8))
	}
	f.Fuzz(func(t *testing.T, in []byte, pd, qd uint8) {
		pd, qd = pd%(num.MaxDecimals+1), qd%(num.MaxDecimals+1)
		var s1, s2 Scanner
		s1.Reset(in)
		px, qty, pr, qr, ok := s1.PairPrefixFixed(pd, qd)
		s2.Reset(in)
		a, b, ok2 := s2.PairPrefix()
		wpx, wqty, err := parseLevel(ok2, a, b, pd, qd)
		want := ok2 && err == nil
		if ok != want {
			t.Fatalf("PairPrefixFixed(%q,%d,%d) ok %v (%v); reference ok %v (%v, %v)", in, pd, qd, ok, s1.Err(), want, s2.Err(), err)
		}
		if !ok {
			if px != 0 || qty != 0 || pr != nil || qr != nil || s1.Err() == nil {
				t.Fatalf("failed read returned %d %d %q %q, err %v", px, qty, pr, qr, s1.Err())
			}
			return
		}
		switch {
		case px != wpx || qty != wqty:
			t.Fatalf("PairPrefixFixed(%q,%d,%d) = %d %d; reference %d %d", in, pd, qd, px, qty, wpx, wqty)
		case string(pr) != string(a) || string(qr) != string(b):
			t.Fatalf("raw %q %q; reference %q %q", pr, qr, a, b)
		case &pr[0] != &a[0] || &qr[0] != &b[0]:
			t.Fatalf("raw strings do not alias the input where PairPrefix's do")
		case s1.Pos() != s2.Pos() || s1.End() != s2.End():
			t.Fatalf("position %d, reference %d", s1.Pos(), s2.Pos())
		}
	})
}

func TestPairPrefixFixedNoAllocs(t *testing.T) {
	b := []byte(`[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"]]`)
	var s Scanner
	var sum int64
	n := testing.AllocsPerRun(100, func() {
		s.Reset(b)
		s.Array()
		for s.More() {
			px, qty, pr, qr, _ := s.PairPrefixFixed(2, 0)
			sum += px + qty + int64(len(pr)+len(qr))
		}
	})
	if n != 0 || s.Err() != nil {
		t.Fatalf("allocs = %v, err %v", n, s.Err())
	}
}

// BenchmarkPrefixLevels compares reading OKX levels as strings then
// converting them with reading and converting in one pass.
func BenchmarkPrefixLevels(b *testing.B) {
	frame := []byte(`[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"],["8477.56","1","0","1"],["8505.84","8","0","1"],["8506.37","85","0","1"],["8506.49","2","0","1"],["8506.96","100","0","2"]]`)
	var s Scanner
	var sum int64
	b.Run("pairprefix+parse", func(b *testing.B) {
		for b.Loop() {
			s.Reset(frame)
			s.Array()
			for s.More() {
				p, q, _ := s.PairPrefix()
				x, _ := num.ParseUnsigned(p, 2)
				y, _ := num.ParseUnsigned(q, 0)
				sum += x + y + int64(len(p)+len(q))
			}
		}
	})
	b.Run("pairprefixfixed", func(b *testing.B) {
		for b.Loop() {
			s.Reset(frame)
			s.Array()
			for s.More() {
				x, y, p, q, _ := s.PairPrefixFixed(2, 0)
				sum += x + y + int64(len(p)+len(q))
			}
		}
	})
}
