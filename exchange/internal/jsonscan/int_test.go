package jsonscan

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"-0", 0, nil},
		{"7", 7, nil},
		{"-1", -1, nil},
		{"12345678", 12345678, nil},
		{"1597026383085", 1597026383085, nil},               // OKX "ts"
		{"-855196043", -855196043, nil},                     // a checksum
		{"123456789012345678", 123456789012345678, nil},     // 18 digits: fast path
		{"9223372036854775807", 9223372036854775807, nil},   // 19: checked path
		{"-9223372036854775808", -9223372036854775808, nil}, // 19: checked path
		{"9223372036854775808", 0, ErrRange},
		{"99999999999999999999", 0, ErrRange},
		{"", 0, ErrSyntax},
		{"-", 0, ErrSyntax},
		{"00", 0, ErrSyntax}, // leading zero
		{"01", 0, ErrSyntax},
		{"-01", 0, ErrSyntax},
		{"+1", 0, ErrSyntax},
		{"1a", 0, ErrSyntax},
		{"1234567a", 0, ErrSyntax},  // bad byte in a SWAR word
		{"12345678:", 0, ErrSyntax}, // bad byte after one
		{"1.5", 0, ErrSyntax},
		{"1e3", 0, ErrSyntax},
		{"123456789012345/78", 0, ErrSyntax}, // '/' is '0'-1
	}
	for _, tt := range tests {
		v, err := ParseInt([]byte(tt.in))
		if v != tt.want || err != tt.err {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tt.in, v, err, tt.want, tt.err)
		}
	}
}

// TestEightDigits checks the word test and conversion against a byte loop,
// for every byte value in every position and for random digit strings.
func TestEightDigits(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			w := []byte("12345678")
			w[pos] = byte(c)
			want := c >= '0' && c <= '9'
			if got := eightDigits(binary.LittleEndian.Uint64(w)); got != want {
				t.Fatalf("%q: eightDigits %v, want %v", w, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		v := rng.Uint64N(100000000)
		w := []byte(strconv.FormatUint(100000000+v, 10)[1:]) // eight digits, leading zeros kept
		if got := eightValue(binary.LittleEndian.Uint64(w)); got != v {
			t.Fatalf("eightValue(%q) = %d", w, got)
		}
	}
}

// FuzzParseInt: the eight-at-a-time fast path agrees with the checked
// digit loop on every input, and both agree with strconv on what JSON
// allows.
func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "-855196043", "1597026383085", "123456789012345678", "9223372036854775808", "0123", "1234567a9", "-"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := ParseInt(in)
		wv, werr := parseIntChecked(in)
		if v != wv || err != werr {
			t.Fatalf("ParseInt(%q) = %d, %v; parseIntChecked %d, %v", in, v, err, wv, werr)
		}
		if err == nil {
			if sv, serr := strconv.ParseInt(string(in), 10, 64); serr != nil || sv != v {
				t.Fatalf("ParseInt(%q) = %d; strconv %d, %v", in, v, sv, serr)
			}
		}
	})
}
