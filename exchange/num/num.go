package num

import (
	"errors"
	"math"
	"math/bits"
	"strings"
)

// Price is a price in units of 10^-Scale.Px of the quote asset.
// It is an integer so that books compare and sum exactly on the hot path.
type Price int64

// Qty is a quantity in units of 10^-Scale.Qty of the base asset.
type Qty int64

// Quote is an amount of the quote asset in the same units as Price
// (10^-Scale.Px), e.g. a notional price × quantity.
type Quote int64

// MaxDecimals is the largest decimal exponent a Scale may use: 10^18 still
// fits in an int64.
const MaxDecimals = 18

// Scale holds the decimal exponents of one canonical instrument's fixed-point
// prices and quantities. Every venue quoting the instrument shares it, so books
// of different venues compare as plain integers.
type Scale struct {
	Px  uint8 // decimals of Price and Quote
	Qty uint8 // decimals of Qty
}

// Valid reports whether both exponents are at most MaxDecimals.
func (s Scale) Valid() bool { return s.Px <= MaxDecimals && s.Qty <= MaxDecimals }

// Errors returned by the parsers. They are preallocated so the data plane can
// return them without allocating.
var (
	ErrSyntax    = errors.New("num: not a decimal number")
	ErrRange     = errors.New("num: number out of range")
	ErrPrecision = errors.New("num: more decimals than the scale holds")
	ErrNegative  = errors.New("num: negative number")
)

var pow10 = [MaxDecimals + 1]int64{
	1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
	1000000000, 10000000000, 100000000000, 1000000000000, 10000000000000,
	100000000000000, 1000000000000000, 10000000000000000, 100000000000000000,
	1000000000000000000,
}

// Pow10 returns 10^d for d ≤ MaxDecimals; it panics past that, which is a
// programming error caught by Scale.Valid at start-up.
func Pow10(d uint8) int64 { return pow10[d] }

// ParseUnsigned parses a plain decimal string ("123", "0.0024", "25.35190000")
// into an integer of 10^-dec units. It accepts no sign, exponent, spaces,
// "NaN" or "Inf"; a '.' must have digits on both sides. Digits past dec are
// allowed only when they are zeros (a venue may pad), otherwise ErrPrecision:
// silently truncating would make a wrong book. It never allocates.
func ParseUnsigned(b []byte, dec uint8) (int64, error) {
	if v, err, ok := parseShort(b, dec); ok {
		return v, err
	}
	return parseChecked(b, dec)
}

// parseShort is ParseUnsigned for the common case where the integer digits
// plus dec fit in 18 decimal digits, so the result is below 10^18 and no
// per-digit overflow check is needed. ok is false when the input is not in
// that case (the caller then takes the checked path).
func parseShort(b []byte, dec uint8) (v int64, err error, ok bool) {
	n := len(b)
	if n > 18 || dec > MaxDecimals {
		return 0, nil, false
	}
	i := 0
	var u uint64
	for i < n {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		u = u*10 + uint64(c)
		i++
	}
	if i == 0 {
		return 0, ErrSyntax, true
	}
	if i+int(dec) > 18 {
		return 0, nil, false
	}
	frac := uint8(0)
	if i < n {
		if b[i] != '.' || i+1 == n {
			return 0, ErrSyntax, true
		}
		for i++; i < n; i++ {
			c := b[i] - '0'
			if c > 9 {
				return 0, ErrSyntax, true
			}
			if frac < dec {
				u = u*10 + uint64(c)
				frac++
			} else if c != 0 {
				return 0, ErrPrecision, true
			}
		}
	}
	return int64(u) * pow10[dec-frac], nil, true
}

// parseChecked is ParseUnsigned with an overflow check on every digit.
func parseChecked(b []byte, dec uint8) (int64, error) {
	if len(b) == 0 || dec > MaxDecimals {
		return 0, ErrSyntax
	}
	var v uint64
	i := 0
	intDigits := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c == '.' {
			break
		}
		if c < '0' || c > '9' {
			return 0, ErrSyntax
		}
		if !mulAdd10(&v, c) {
			return 0, ErrRange
		}
		intDigits++
	}
	if intDigits == 0 {
		return 0, ErrSyntax
	}
	frac := 0
	if i < len(b) { // at '.'
		i++
		if i == len(b) {
			return 0, ErrSyntax
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, ErrSyntax
			}
			if frac < int(dec) {
				if !mulAdd10(&v, c) {
					return 0, ErrRange
				}
				frac++
			} else if c != '0' {
				return 0, ErrPrecision
			}
		}
	}
	for ; frac < int(dec); frac++ {
		if !mulAdd10(&v, '0') {
			return 0, ErrRange
		}
	}
	return int64(v), nil
}

// mulAdd10 sets *v = *v*10 + digit c, reporting false if that exceeds MaxInt64.
func mulAdd10(v *uint64, c byte) bool {
	d := uint64(c - '0')
	if *v > (math.MaxInt64-d)/10 {
		return false
	}
	*v = *v*10 + d
	return true
}

// Parse is ParseUnsigned with an optional leading '-'.
func Parse(b []byte, dec uint8) (int64, error) {
	if len(b) > 0 && b[0] == '-' {
		v, err := ParseUnsigned(b[1:], dec)
		return -v, err
	}
	return ParseUnsigned(b, dec)
}

// ParseString is Parse for a string (configuration, tests); it does not allocate.
func ParseString(s string, dec uint8) (int64, error) {
	return Parse(stringBytes(s), dec)
}

// AppendFixed appends v (10^-dec units) as a decimal with exactly dec
// fraction digits, e.g. AppendFixed(nil, 12345, 2) = "123.45".
func AppendFixed(dst []byte, v int64, dec uint8) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = uint64(-v) // MinInt64 wraps to itself, which is its magnitude as uint64
	}
	var buf [40]byte
	i := len(buf)
	for d := uint8(0); d < dec; d++ {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	if dec > 0 {
		i--
		buf[i] = '.'
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}

// AppendTrim is AppendFixed without trailing fraction zeros (and without a
// bare '.'): "123.40" becomes "123.4", "5.00" becomes "5".
func AppendTrim(dst []byte, v int64, dec uint8) []byte {
	start := len(dst)
	dst = AppendFixed(dst, v, dec)
	if dec == 0 {
		return dst
	}
	end := len(dst)
	for end > start && dst[end-1] == '0' {
		end--
	}
	if dst[end-1] == '.' {
		end--
	}
	return dst[:end]
}

// Format returns AppendTrim as a string (edges only: it allocates).
func Format(v int64, dec uint8) string { return string(AppendTrim(nil, v, dec)) }

// Float converts v (10^-dec units) to float64, for ratios, metrics and display
// only — never for money that is kept.
func Float(v int64, dec uint8) float64 { return float64(v) / float64(pow10[dec]) }

// MulDiv returns floor(a*b/c) computed in 128 bits, and false if c ≤ 0, a or
// b is negative, or the result does not fit an int64.
func MulDiv(a, b, c int64) (int64, bool) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}

// MulDivCeil is MulDiv rounded up.
func MulDivCeil(a, b, c int64) (int64, bool) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}

// Notional returns px × qty in Quote units (floor), and false on overflow or
// negative input.
func Notional(px Price, qty Qty, s Scale) (Quote, bool) {
	v, ok := MulDiv(int64(px), int64(qty), pow10[s.Qty])
	return Quote(v), ok
}

// NotionalCeil is Notional rounded up (a cost that must not be understated).
func NotionalCeil(px Price, qty Qty, s Scale) (Quote, bool) {
	v, ok := MulDivCeil(int64(px), int64(qty), pow10[s.Qty])
	return Quote(v), ok
}

// FloorTo rounds v down to a multiple of step (step ≤ 0 leaves v unchanged).
func FloorTo(v, step int64) int64 {
	if step <= 0 {
		return v
	}
	r := v % step
	if r < 0 {
		r += step
	}
	return v - r
}

// CeilTo rounds v up to a multiple of step (step ≤ 0 leaves v unchanged).
func CeilTo(v, step int64) int64 {
	f := FloorTo(v, step)
	if f == v || step <= 0 {
		return v
	}
	return f + step
}

// Rescale converts v from 10^-from units to 10^-to units; narrowing requires
// the dropped digits to be zero. It returns false when precision would be lost
// or the result overflows.
func Rescale(v int64, from, to uint8) (int64, bool) {
	if from > MaxDecimals || to > MaxDecimals {
		return 0, false
	}
	if to >= from {
		m := pow10[to-from]
		if v > math.MaxInt64/m || v < math.MinInt64/m {
			return 0, false
		}
		return v * m, true
	}
	d := pow10[from-to]
	if v%d != 0 {
		return 0, false
	}
	return v / d, true
}

func mulFull(a, b uint64) (hi, lo uint64) { return bits.Mul64(a, b) }

// FracDigits is the number of significant fraction digits of a plain
// decimal string as a venue writes its filters ("0.010" → 2); anything
// else gives 0 (its parse fails on its own). It saturates above
// MaxDecimals so a caller can refuse it.
func FracDigits(s string) uint8 {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0
	}
	f := strings.TrimRight(s[i+1:], "0")
	for _, c := range []byte(f) {
		if c < '0' || c > '9' {
			return 0
		}
	}
	return uint8(min(len(f), MaxDecimals+1))
}
