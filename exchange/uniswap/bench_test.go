package uniswap

import (
	"math/big"
	"testing"

	"arb/exchange"
)

// BenchmarkAmountOut: the uint256 formula against the same formula in
// math/big (the baseline).
func BenchmarkAmountOut(b *testing.B) {
	in, r0, r1 := u(e18(1)), u(e18(5000)), u("15000000000000")
	b.Run("uint256", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			AmountOut(in, r0, r1)
		}
	})
	b.Run("math_big", func(b *testing.B) {
		bi, b0, b1 := in.ToBig(), r0.ToBig(), r1.ToBig()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			wf := new(big.Int).Mul(bi, big.NewInt(997))
			n := new(big.Int).Mul(wf, b1)
			d := new(big.Int).Add(new(big.Int).Mul(b0, big.NewInt(1000)), wf)
			n.Div(n, d)
		}
	})
}

// BenchmarkBook: one block's synthetic depth (ten levels a side, 40
// formula evaluations).
func BenchmarkBook(b *testing.B) {
	p := pool100()
	var ev exchange.BookTop
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Book(DefaultDepth, &ev)
	}
}
