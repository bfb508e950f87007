package okx

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"

	"arb/exchange/internal/jsonscan"
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
		{"12345678", 12345678, nil},
		{"1597026383085", 1597026383085, nil},
		{"-855196043", -855196043, nil},
		{"123456789012345678", 123456789012345678, nil},     // 18 digits: fast path
		{"9223372036854775807", 9223372036854775807, nil},   // 19: ParseInt
		{"-9223372036854775808", -9223372036854775808, nil}, // 19: ParseInt
		{"9223372036854775808", 0, jsonscan.ErrRange},
		{"99999999999999999999", 0, jsonscan.ErrRange},
		{"", 0, jsonscan.ErrSyntax},
		{"-", 0, jsonscan.ErrSyntax},
		{"01", 0, jsonscan.ErrSyntax}, // leading zero
		{"-01", 0, jsonscan.ErrSyntax},
		{"+1", 0, jsonscan.ErrSyntax},
		{"1234567a", 0, jsonscan.ErrSyntax},  // bad byte in a SWAR word
		{"12345678:", 0, jsonscan.ErrSyntax}, // bad byte after one
		{"1.5", 0, jsonscan.ErrSyntax},
		{"1e3", 0, jsonscan.ErrSyntax},
		{"123456789012345/78", 0, jsonscan.ErrSyntax}, // '/' is '0'-1
	}
	for _, tt := range tests {
		v, err := parseInt([]byte(tt.in))
		if v != tt.want || err != tt.err {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, v, err, tt.want, tt.err)
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
	for n := 0; n < 100000; n++ {
		v := rng.Uint64N(100000000)
		w := []byte(strconv.FormatUint(100000000+v, 10)[1:]) // eight digits, leading zeros kept
		if got := eightValue(binary.LittleEndian.Uint64(w)); got != v {
			t.Fatalf("eightValue(%q) = %d", w, got)
		}
	}
}

// FuzzParseInt: the fast path agrees with jsonscan.ParseInt on every input.
func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "-855196043", "1597026383085", "123456789012345678", "9223372036854775808", "0123", "1234567a9", "-"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := parseInt(in)
		wv, werr := jsonscan.ParseInt(in)
		if v != wv || err != werr {
			t.Fatalf("parseInt(%q) = %d, %v; jsonscan.ParseInt %d, %v", in, v, err, wv, werr)
		}
	})
}

// TestIntMatchesScanner: parser.int reads exactly what jsonscan's Int reads,
// with the same error and position.
func TestIntMatchesScanner(t *testing.T) {
	for _, in := range []string{"123457", " -855196043 ", "1.5", "1e3", `"1"`, "-", "01", "9223372036854775808", "12345678901234567890", "null", ""} {
		p := newParser()
		p.sc.Reset([]byte(in))
		v := p.int()
		var s jsonscan.Scanner
		s.Reset([]byte(in))
		w := s.Int()
		if v != w || p.sc.Err() != s.Err() || p.sc.Pos() != s.Pos() {
			t.Errorf("%q: int %d %v at %d; Int %d %v at %d", in, v, p.sc.Err(), p.sc.Pos(), w, s.Err(), s.Pos())
		}
	}
}
