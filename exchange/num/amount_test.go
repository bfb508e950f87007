package num

import (
	"math/big"
	"testing"
)

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in  string
		v   int64
		dec uint8
		err error
	}{
		{"0", 0, 0, nil},
		{"0.00000000", 0, 0, nil},
		{"25.35190000", 253519, 4, nil},
		{"-0.0012", -12, 4, nil},
		{"100", 100, 0, nil},
		{"1.000000000000000001", 1000000000000000001, 18, nil},
		{"0.0000000000000000001", 0, 0, ErrRange},
		{"9223372036854775808", 0, 0, ErrRange},
		{"", 0, 0, ErrSyntax},
		{"-", 0, 0, ErrSyntax},
		{".5", 0, 0, ErrSyntax},
		{"5.", 0, 0, ErrSyntax},
		{"1e5", 0, 0, ErrSyntax},
		{"1.2.3", 0, 0, ErrSyntax},
		{"--1", 0, 0, ErrSyntax},
	} {
		a, err := ParseAmountString(tc.in)
		if err != tc.err || err == nil && (a.V != tc.v || a.Dec != tc.dec) {
			t.Errorf("ParseAmount(%q) = %+v, %v; want {%d %d}, %v", tc.in, a, err, tc.v, tc.dec, tc.err)
		}
	}
}

func TestAmountCmp(t *testing.T) {
	for _, tc := range []struct {
		a, b Amount
		want int
	}{
		{Amount{15, 1}, Amount{150, 2}, 0},
		{Amount{-1, 0}, Amount{1, 18}, -1},
		{Amount{9_000_000_000_000_000_000, 0}, Amount{1, 18}, 1}, // overflows at the common exponent
		{Amount{-9_000_000_000_000_000_000, 0}, Amount{-1, 18}, -1},
		{Amount{9_000_000_000_000_000_000, 0}, Amount{9_000_000_000_000_000_000, 0}, 0},
	} {
		if got := tc.a.Cmp(tc.b); got != tc.want {
			t.Errorf("%v.Cmp(%v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Cmp(tc.a); got != -tc.want {
			t.Errorf("%v.Cmp(%v) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

// FuzzParseAmount checks ParseAmount against math/big: whatever it accepts
// is exactly the input's value, and its text form parses back to itself.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"0", "1.50", "-0.000123", "99999999999.99999999", "1e3", ".1", "00012.3400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmountString(s)
		if err != nil {
			return
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("accepted %q, which is not a number", s)
		}
		got := new(big.Rat).SetFrac(big.NewInt(a.V), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(a.Dec)), nil))
		if got.Cmp(want) != 0 {
			t.Fatalf("ParseAmount(%q) = %v (%s), want %s", s, a, got.RatString(), want.RatString())
		}
		b, err := ParseAmountString(a.String())
		if err != nil || b != a {
			t.Fatalf("round trip of %q: %v, %v", a.String(), b, err)
		}
		if n := testing.AllocsPerRun(10, func() { _, _ = ParseAmountString(s) }); n != 0 {
			t.Fatalf("allocates %v", n)
		}
	})
}
