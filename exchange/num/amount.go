package num

import "math"

// Amount is an exact signed decimal with its own exponent: V × 10^-Dec. It
// carries venue-reported values whose precision is not the instrument's
// Scale — fees in whatever asset a venue charged, balances, average prices —
// so they reach the ledger without rounding. Two Amounts are equal in value
// when Cmp says so, not necessarily when == does ("1.50" and "1.5" differ in
// Dec).
type Amount struct {
	V   int64
	Dec uint8
}

// ParseAmount parses a plain decimal with an optional leading '-' ("0.00012",
// "-3.5", "25.35190000") keeping every written fraction digit except trailing
// zeros, so Dec is the least exponent that holds the value exactly. It
// fails with ErrSyntax on anything that is not a plain decimal and with
// ErrRange when more than MaxDecimals fraction digits are significant or the
// value does not fit an int64. It never allocates.
func ParseAmount(b []byte) (Amount, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 {
		return Amount{}, ErrSyntax
	}
	dot := -1
	for i, c := range b {
		if c == '.' {
			if dot >= 0 {
				return Amount{}, ErrSyntax
			}
			dot = i
		} else if c < '0' || c > '9' {
			return Amount{}, ErrSyntax
		}
	}
	dec := 0
	if dot >= 0 {
		if dot == 0 || dot == len(b)-1 {
			return Amount{}, ErrSyntax
		}
		end := len(b)
		for end > dot+1 && b[end-1] == '0' {
			end--
		}
		dec = end - dot - 1
		if dec > MaxDecimals {
			return Amount{}, ErrRange
		}
		b = b[:end]
		if dec == 0 {
			b = b[:dot]
		}
	}
	v, err := parseChecked(b, uint8(dec))
	if err != nil {
		if err == ErrSyntax {
			return Amount{}, ErrSyntax
		}
		return Amount{}, ErrRange
	}
	if neg {
		v = -v
	}
	return Amount{V: v, Dec: uint8(dec)}, nil
}

// ParseAmountString is ParseAmount for a string; it does not allocate.
func ParseAmountString(s string) (Amount, error) { return ParseAmount(stringBytes(s)) }

// AmountOf returns v (10^-dec units) as an Amount.
func AmountOf(v int64, dec uint8) Amount { return Amount{V: v, Dec: dec} }

// IsZero reports whether the value is zero.
func (a Amount) IsZero() bool { return a.V == 0 }

// Neg returns -a (MinInt64 stays as it is; no venue value reaches it).
func (a Amount) Neg() Amount {
	if a.V == math.MinInt64 {
		return a
	}
	return Amount{V: -a.V, Dec: a.Dec}
}

// In returns a in 10^-dec units, and false when that would drop a non-zero
// digit or overflow.
func (a Amount) In(dec uint8) (int64, bool) { return Rescale(a.V, a.Dec, dec) }

// Cmp compares the values of a and b: -1, 0 or +1. Both are brought to the
// larger exponent; if that overflows, the comparison falls back to 128-bit
// arithmetic, so it is always exact.
func (a Amount) Cmp(b Amount) int {
	d := a.Dec
	if b.Dec > d {
		d = b.Dec
	}
	x, okx := Rescale(a.V, a.Dec, d)
	y, oky := Rescale(b.V, b.Dec, d)
	if okx && oky {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	// Out of int64 range at the common exponent: compare signs, then
	// magnitudes as 128-bit products.
	sa, sb := sign(a.V), sign(b.V)
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	ma, mb := mul128(abs64(a.V), uint64(pow10[d-a.Dec])), mul128(abs64(b.V), uint64(pow10[d-b.Dec]))
	c := cmp128(ma, mb)
	if sa < 0 {
		return -c
	}
	return c
}

// String returns the decimal text of a with Dec fraction digits.
func (a Amount) String() string { return string(AppendFixed(nil, a.V, a.Dec)) }

// AppendTo appends the decimal text of a (Dec fraction digits).
func (a Amount) AppendTo(dst []byte) []byte { return AppendFixed(dst, a.V, a.Dec) }

func sign(v int64) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

func abs64(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

type u128 struct{ hi, lo uint64 }

func mul128(a, b uint64) u128 {
	hi, lo := mulFull(a, b)
	return u128{hi, lo}
}

func cmp128(a, b u128) int {
	switch {
	case a.hi < b.hi, a.hi == b.hi && a.lo < b.lo:
		return -1
	case a == b:
		return 0
	}
	return 1
}
