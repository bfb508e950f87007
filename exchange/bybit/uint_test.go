package bybit

import (
	"math"
	"testing"
)

// parseUintDigits is the digit loop parseUint replaced: the reference it is
// fuzzed against.
func parseUintDigits(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, v <= math.MaxInt64
}

func TestParseUint(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"66544703342", 66544703342, true}, {"1687940967466", 1687940967466, true},
		{"9223372036854775807", math.MaxInt64, true}, {"9223372036854775808", 0, false},
		{"", 0, false}, {"-1", 0, false}, {"-0", 0, false}, {"01", 0, false}, {"1.0", 0, false}, {"1e3", 0, false}, {"+1", 0, false},
	} {
		if v, ok := parseUint([]byte(tt.in)); v != tt.want || ok != tt.ok {
			t.Errorf("parseUint(%q) = %d, %v; want %d, %v", tt.in, v, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0", "66544703342", "9223372036854775808", "-0", "01", "12345678a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseUint(b)
		wv, wok := parseUintDigits(b)
		if ok != wok || (ok && v != wv) {
			t.Fatalf("parseUint(%q) = %d, %v; digit loop %d, %v", b, v, ok, wv, wok)
		}
	})
}
