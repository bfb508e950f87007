package pgstore

import (
	"context"
	"encoding/binary"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// Writing NUMERIC fast. pgx encodes a NUMERIC parameter or COPY value in
// PostgreSQL's binary format through math/big: a copy of the coefficient,
// a divisor 10^-exp, and a DivMod per base-10000 digit, with allocations
// for each. A ledger batch sends ~30 numbers per fill, and a profile of
// Store.Write put ~80% of its Go CPU in that encoder. Nearly every amount
// the ledger holds has a coefficient of at most 16 digits, whose digits
// come from uint64 arithmetic with no allocation; fastNum takes that path
// and leaves any other value (and the text format) to pgx's own encoder,
// so what reaches PostgreSQL is the same value either way
// (TestFastNumericRoundTrip stores both and compares them as text).

// fastNum is an exact decimal, or NULL, as a NUMERIC parameter or COPY
// value (registered on every connection by registerFastNumeric).
type fastNum struct {
	d     decimal.Decimal
	valid bool // false: NULL
}

// NumericValue implements pgtype.NumericValuer: pgx's own encoder (the
// text format, and the binary format for coefficients too long for the
// fast path) takes the value through it.
func (n fastNum) NumericValue() (pgtype.Numeric, error) {
	if !n.valid {
		return pgtype.Numeric{}, nil
	}
	return pgtype.Numeric{Int: n.d.Coefficient(), Exp: n.d.Exponent(), Valid: true}, nil
}

// fastDigits is the longest coefficient the fast path encodes: scaled by
// up to 10^3 to align the exponent on base-10000 digits it stays below
// 10^19 < 2^64.
const fastDigits = 16

// appendFastNumeric appends d in PostgreSQL's binary NUMERIC format
// (ndigits, weight, sign, dscale as 16-bit big-endian integers, then the
// base-10000 digits, most significant first), or reports that d is not
// for the fast path. The layout is pgx's encodeNumericBinary's: the
// exponent rounded down to a multiple of 4 by scaling the coefficient,
// dscale the number of decimals the value carries.
func appendFastNumeric(buf []byte, d decimal.Decimal) ([]byte, bool) {
	if d.NumDigits() > fastDigits {
		return buf, false
	}
	exp := d.Exponent()
	if exp < -(1<<15-1) || exp > 1<<15-1 {
		return buf, false
	}
	c := d.CoefficientInt64()
	var sign uint16
	mag := uint64(c)
	if c < 0 {
		sign, mag = 0x4000, uint64(-c)
	}
	pad := ((exp % 4) + 4) % 4 // exp - pad is a multiple of 4
	for range pad {
		mag *= 10
	}
	e4 := (exp - pad) / 4 // the value is mag × 10000^e4
	var digits [6]uint16  // 10^19 has 5 base-10000 digits
	n := 0
	for m := mag; m != 0; m /= 10000 {
		digits[n] = uint16(m % 10000)
		n++
	}
	// digits[n-1] is the most significant; trailing zero digits carry
	// nothing (dscale keeps the displayed scale).
	lo := 0
	for lo < n && digits[lo] == 0 {
		lo++
	}
	weight := int32(n-1) + e4
	if n == 0 {
		weight = 0
	}
	if weight > 1<<15-1 || weight < -(1<<15) {
		return buf, false
	}
	var dscale uint16
	if exp < 0 {
		dscale = uint16(-exp)
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(n-lo))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, dscale)
	for i := n - 1; i >= lo; i-- {
		buf = binary.BigEndian.AppendUint16(buf, digits[i])
	}
	return buf, true
}

// fastNumericCodec is pgx's NumericCodec with a binary encode plan for
// fastNum; everything else (scanning, other Go types, text) is the
// embedded codec's.
type fastNumericCodec struct{ pgtype.NumericCodec }

// PlanEncode implements pgtype.Codec.
func (c fastNumericCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(fastNum); ok && format == pgtype.BinaryFormatCode {
		return fastNumPlan{slow: c.NumericCodec.PlanEncode(m, oid, format, value)}
	}
	return c.NumericCodec.PlanEncode(m, oid, format, value)
}

// fastNumPlan encodes a fastNum, through slow when the fast path declines.
type fastNumPlan struct{ slow pgtype.EncodePlan }

// Encode implements pgtype.EncodePlan.
func (p fastNumPlan) Encode(value any, buf []byte) ([]byte, error) {
	n := value.(fastNum)
	if !n.valid {
		return nil, nil // NULL
	}
	if out, ok := appendFastNumeric(buf, n.d); ok {
		return out, nil
	}
	return p.slow.Encode(value, buf)
}

// registerFastNumeric replaces a connection's numeric and numeric[] types
// by ones whose codec encodes fastNum on the fast path.
func registerFastNumeric(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	num := &pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: fastNumericCodec{}}
	m.RegisterType(num)
	m.RegisterType(&pgtype.Type{Name: "_numeric", OID: pgtype.NumericArrayOID, Codec: &pgtype.ArrayCodec{ElementType: num}})
	return nil
}
