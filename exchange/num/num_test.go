package num

import (
	"math"
	"math/big"
	"strings"
	"testing"
)

func TestParseUnsigned(t *testing.T) {
	tests := []struct {
		in   string
		dec  uint8
		want int64
		err  error
	}{
		{"25.35190000", 8, 2535190000, nil},
		{"0.0024", 4, 24, nil},
		{"0.0024", 6, 2400, nil},
		{"123", 2, 12300, nil},
		{"8477", 0, 8477, nil},
		{"3366.10", 1, 33661, nil}, // padding zero past the scale is fine
		{"3366.11", 1, 0, ErrPrecision},
		{"0", 8, 0, nil},
		{"00012.5", 1, 125, nil},
		{"", 2, 0, ErrSyntax},
		{".5", 2, 0, ErrSyntax},
		{"5.", 2, 0, ErrSyntax},
		{"-1", 2, 0, ErrSyntax},
		{"+1", 2, 0, ErrSyntax},
		{"NaN", 2, 0, ErrSyntax},
		{"Inf", 2, 0, ErrSyntax},
		{"1e5", 2, 0, ErrSyntax},
		{"1.2.3", 2, 0, ErrSyntax},
		{" 1", 2, 0, ErrSyntax},
		{"9223372036854775807", 0, math.MaxInt64, nil},
		{"9223372036854775808", 0, 0, ErrRange},
		{"92233720368547758.07", 2, math.MaxInt64, nil},
		{"92233720368547758.08", 2, 0, ErrRange},
		{"99999999999", 9, 0, ErrRange},
	}
	for _, tt := range tests {
		got, err := ParseUnsigned([]byte(tt.in), tt.dec)
		if err != tt.err || (err == nil && got != tt.want) {
			t.Errorf("ParseUnsigned(%q, %d) = %d, %v; want %d, %v", tt.in, tt.dec, got, err, tt.want, tt.err)
		}
	}
}

func TestParseSigned(t *testing.T) {
	v, err := ParseString("-12.5", 2)
	if err != nil || v != -1250 {
		t.Fatalf("got %d %v", v, err)
	}
	if _, err := ParseString("--1", 2); err != ErrSyntax {
		t.Fatalf("--1: %v", err)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v           int64
		dec         uint8
		fixed, trim string
	}{
		{12345, 2, "123.45", "123.45"},
		{12340, 2, "123.40", "123.4"},
		{500, 2, "5.00", "5"},
		{5, 3, "0.005", "0.005"},
		{0, 2, "0.00", "0"},
		{-1250, 2, "-12.50", "-12.5"},
		{7, 0, "7", "7"},
		{math.MinInt64, 0, "-9223372036854775808", "-9223372036854775808"},
	}
	for _, tt := range tests {
		if got := string(AppendFixed(nil, tt.v, tt.dec)); got != tt.fixed {
			t.Errorf("AppendFixed(%d,%d) = %q want %q", tt.v, tt.dec, got, tt.fixed)
		}
		if got := Format(tt.v, tt.dec); got != tt.trim {
			t.Errorf("Format(%d,%d) = %q want %q", tt.v, tt.dec, got, tt.trim)
		}
	}
}

func TestMulDiv(t *testing.T) {
	// 100000.00 USDT × 1.23456789 BTC at scale {2, 8}
	q, ok := Notional(10000000, 123456789, Scale{Px: 2, Qty: 8})
	if !ok || q != 12345678 { // 123456.789 -> floor to 123456.78
		t.Fatalf("Notional = %d %v", q, ok)
	}
	qc, ok := NotionalCeil(10000000, 123456789, Scale{Px: 2, Qty: 8})
	if !ok || qc != 12345679 {
		t.Fatalf("NotionalCeil = %d %v", qc, ok)
	}
	if _, ok := MulDiv(math.MaxInt64, math.MaxInt64, 1); ok {
		t.Fatal("overflow not detected")
	}
	if _, ok := MulDiv(-1, 2, 3); ok {
		t.Fatal("negative accepted")
	}
	if v, ok := MulDiv(math.MaxInt64, math.MaxInt64, math.MaxInt64); !ok || v != math.MaxInt64 {
		t.Fatalf("128-bit intermediate lost: %d %v", v, ok)
	}
}

func TestRounding(t *testing.T) {
	if FloorTo(1234, 100) != 1200 || CeilTo(1234, 100) != 1300 || CeilTo(1200, 100) != 1200 {
		t.Fatal("FloorTo/CeilTo")
	}
	if FloorTo(-5, 10) != -10 {
		t.Fatal("FloorTo negative")
	}
	if v, ok := Rescale(123, 2, 4); !ok || v != 12300 {
		t.Fatal("Rescale up")
	}
	if _, ok := Rescale(123, 4, 2); ok {
		t.Fatal("Rescale lost precision silently")
	}
	if v, ok := Rescale(12300, 4, 2); !ok || v != 123 {
		t.Fatal("Rescale down")
	}
}

func TestParseAllocs(t *testing.T) {
	b := []byte("25.35190000")
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseUnsigned(b, 8) }); n != 0 {
		t.Fatalf("ParseUnsigned allocates %v", n)
	}
}

// FuzzParse checks the parser against math/big on arbitrary input: whatever
// it accepts must equal the exact rational value times 10^dec, and it must
// never panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"25.35190000", "0.0024", "1", "", ".", "1e9", "-3.5", "99999999999999999999", "0.000000001"} {
		f.Add(s, uint8(8))
	}
	f.Fuzz(func(t *testing.T, s string, dec uint8) {
		dec %= MaxDecimals + 1
		// The short fast path and the checked path agree on every input.
		if u, err := ParseUnsigned([]byte(s), dec); true {
			c, cerr := parseChecked([]byte(s), dec)
			if u != c || err != cerr {
				t.Fatalf("ParseUnsigned(%q,%d) = %d %v; checked path %d %v", s, dec, u, err, c, cerr)
			}
		}
		v, err := Parse([]byte(s), dec)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "eE+_xXpP ") || strings.HasPrefix(strings.TrimPrefix(s, "-"), ".") {
			t.Fatalf("accepted %q", s)
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("accepted %q that big.Rat rejects", s)
		}
		r.Mul(r, new(big.Rat).SetInt64(pow10[dec]))
		if !r.IsInt() || r.Num().Cmp(big.NewInt(v)) != 0 {
			t.Fatalf("Parse(%q,%d) = %d, exact %s", s, dec, v, r.RatString())
		}
		// Round trip through the formatter.
		back, err := Parse(AppendTrim(nil, v, dec), dec)
		if err != nil || back != v {
			t.Fatalf("round trip %d -> %q -> %d %v", v, AppendTrim(nil, v, dec), back, err)
		}
	})
}

func BenchmarkParseUnsigned(b *testing.B) {
	in := []byte("25.35190000")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = ParseUnsigned(in, 8)
	}
}

func TestFracDigits(t *testing.T) {
	for s, want := range map[string]uint8{"0.010": 2, "1": 0, "10.": 0, "0.00000001": 8, "1e-5": 0, "0.1x": 0,
		"0.0000000000000000001": MaxDecimals + 1} {
		if got := FracDigits(s); got != want {
			t.Errorf("FracDigits(%q) = %d, want %d", s, got, want)
		}
	}
}
