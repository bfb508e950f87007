package pgstore

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"arb/ledger/pgstore/pgtest"
)

// numericCases are the values the fast NUMERIC encoder is checked on:
// edge cases by hand, then seeded random coefficients of 1 to 20 digits
// (past fastDigits, so the fallback is exercised too) at exponents from
// -30 to +12, both signs.
func numericCases(seed uint64) []decimal.Decimal {
	var out []decimal.Decimal
	for _, s := range []string{"0", "0.00000000", "1", "-1", "0.00000001", "-0.00000001", "1.50000000", "10000", "9999", "10000.0001",
		"123456789.12345678", "-98765.4321", "0.0001", "0.001", "0.01", "0.1", "100000000", "1e12", "1e-30", "-1e-29",
		"9999999999999999", "99999999999999999999", "1234567890123456.7", "0.000000000000000001", "4503599627370496"} {
		out = append(out, decimal.RequireFromString(s))
	}
	rnd := rand.New(rand.NewPCG(seed, 17))
	for range 3000 {
		digits := 1 + rnd.IntN(20)
		var b strings.Builder
		if rnd.IntN(2) == 0 {
			b.WriteByte('-')
		}
		for i := range digits {
			c := byte('0' + rnd.IntN(10))
			if i == 0 && c == '0' {
				c = '1'
			}
			b.WriteByte(c)
		}
		coef, _ := new(big.Int).SetString(b.String(), 10)
		out = append(out, decimal.NewFromBigInt(coef, int32(rnd.IntN(43)-30)))
	}
	return out
}

// TestFastNumericRoundTrip: every value sent through the fast encoder is
// the value PostgreSQL stores, the same (as text, scale included) as what
// pgx's own encoder sends, one by one and in numeric[] arrays; and the
// fast path is taken for every coefficient of up to fastDigits digits.
func TestFastNumericRoundTrip(t *testing.T) {
	const seed = 20261207
	t.Logf("seed %d", seed)
	s := open(t, pgtest.NewDB(t))
	ctx := ctxT(t)
	cases := numericCases(seed)
	fast := 0
	for _, d := range cases {
		if _, ok := appendFastNumeric(nil, d); ok {
			fast++
		} else if d.NumDigits() <= fastDigits {
			t.Fatalf("%s (%d digits) not on the fast path", d, d.NumDigits())
		}
		var viaFast, viaPgx string
		err := s.pool.QueryRow(ctx, `SELECT $1::numeric::text, $2::numeric::text`, numeric(d),
			pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}).Scan(&viaFast, &viaPgx)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if viaFast != viaPgx {
			t.Fatalf("%s (coefficient %s, exponent %d): fast encoder stored %s, pgx's %s", d, d.Coefficient(), d.Exponent(), viaFast, viaPgx)
		}
		if back := decimal.RequireFromString(viaFast); !back.Equal(d) {
			t.Fatalf("%s stored as %s", d, viaFast)
		}
	}
	if fast < len(cases)/2 {
		t.Fatalf("only %d of %d values on the fast path", fast, len(cases))
	}
	// Arrays (the batch's unnest parameters), with a NULL among them.
	for i := 0; i+50 <= len(cases); i += 50 {
		fa := make([]fastNum, 0, 51)
		pa := make([]pgtype.Numeric, 0, 51)
		for _, d := range cases[i : i+50] {
			fa = append(fa, numeric(d))
			pa = append(pa, pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true})
		}
		fa, pa = append(fa, fastNum{}), append(pa, pgtype.Numeric{})
		var viaFast, viaPgx string
		if err := s.pool.QueryRow(ctx, `SELECT $1::numeric[]::text, $2::numeric[]::text`, fa, pa).Scan(&viaFast, &viaPgx); err != nil {
			t.Fatal(err)
		}
		if viaFast != viaPgx || !strings.HasSuffix(viaFast, ",NULL}") {
			t.Fatalf("arrays from %d differ:\nfast %s\npgx  %s", i, viaFast, viaPgx)
		}
	}
	t.Logf("%d values, %d on the fast path", len(cases), fast)
}

// TestFastNumericNoAlloc: the fast path allocates nothing.
func TestFastNumericNoAlloc(t *testing.T) {
	d := decimal.RequireFromString("-123456.78901234")
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = appendFastNumeric(buf[:0], d) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// BenchmarkNumericEncode: one NUMERIC in binary, the fast path against
// pgx's encoder, in the same run.
func BenchmarkNumericEncode(b *testing.B) {
	m := pgtype.NewMap()
	d := decimal.RequireFromString("-123456.78901234")
	for _, c := range []struct {
		name string
		v    any
	}{{"fast", fastNum{d: d, valid: true}}, {"pgx", pgtype.Numeric{Int: d.Coefficient(), Exp: d.Exponent(), Valid: true}}} {
		b.Run(c.name, func(b *testing.B) {
			var codec pgtype.Codec = pgtype.NumericCodec{}
			if c.name == "fast" {
				codec = fastNumericCodec{}
			}
			plan := codec.PlanEncode(m, pgtype.NumericOID, pgtype.BinaryFormatCode, c.v)
			if plan == nil {
				b.Fatal(fmt.Sprintf("no plan for %T", c.v))
			}
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = plan.Encode(c.v, buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
