package uniswap

import (
	"errors"
	"math/big"
	"testing"

	"github.com/holiman/uint256"

	"arb/exchange"
	"arb/exchange/num"
)

func u(s string) *uint256.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return uint256.MustFromBig(v)
}

// e18 returns n × 10^18 as a decimal string.
func e18(n int64) string {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)).String()
}

// Uniswap V2's published cases: v2-periphery UniswapV2Library.spec.ts
// (getAmountOut(2, 100, 100) = 1, getAmountIn(1, 100, 100) = 2 and the
// reverts) and v2-core UniswapV2Pair.spec.ts swapTestCases ("getInputPrice":
// the largest output the pair accepts for swapAmount against reserves, in
// 18-decimal units).
func TestAmountOutPublishedCases(t *testing.T) {
	for _, tc := range []struct {
		in, rIn, rOut string
		want          string
		err           error
	}{
		{"2", "100", "100", "1", nil},
		{"0", "100", "100", "", ErrInsufficientInput},
		{"2", "0", "100", "", ErrInsufficientLiquidity},
		{"2", "100", "0", "", ErrInsufficientLiquidity},
		{e18(1), e18(5), e18(10), "1662497915624478906", nil},
		{e18(1), e18(10), e18(5), "453305446940074565", nil},
		{e18(2), e18(5), e18(10), "2851015155847869602", nil},
		{e18(2), e18(10), e18(5), "831248957812239453", nil},
		{e18(1), e18(10), e18(10), "906610893880149131", nil},
		{e18(1), e18(100), e18(100), "987158034397061298", nil},
		{e18(1), e18(1000), e18(1000), "996006981039903216", nil},
	} {
		got, err := AmountOut(u(tc.in), u(tc.rIn), u(tc.rOut))
		if !errors.Is(err, tc.err) {
			t.Errorf("AmountOut(%s, %s, %s): error %v, want %v", tc.in, tc.rIn, tc.rOut, err, tc.err)
			continue
		}
		if tc.err == nil && got.Cmp(u(tc.want)) != 0 {
			t.Errorf("AmountOut(%s, %s, %s) = %s, want %s", tc.in, tc.rIn, tc.rOut, got.Dec(), tc.want)
		}
	}
}

func TestAmountInPublishedCases(t *testing.T) {
	for _, tc := range []struct {
		out, rIn, rOut string
		want           string
		err            error
	}{
		{"1", "100", "100", "2", nil},
		{"0", "100", "100", "", ErrInsufficientOutput},
		{"1", "0", "100", "", ErrInsufficientLiquidity},
		{"1", "100", "0", "", ErrInsufficientLiquidity},
		{"100", "100", "100", "", ErrOverflow}, // the whole reserve: division by zero
		{"101", "100", "100", "", ErrOverflow}, // more than the reserve: underflow
	} {
		got, err := AmountIn(u(tc.out), u(tc.rIn), u(tc.rOut))
		if !errors.Is(err, tc.err) {
			t.Errorf("AmountIn(%s, %s, %s): error %v, want %v", tc.out, tc.rIn, tc.rOut, err, tc.err)
			continue
		}
		if tc.err == nil && got.Cmp(u(tc.want)) != 0 {
			t.Errorf("AmountIn(%s, %s, %s) = %s, want %s", tc.out, tc.rIn, tc.rOut, got.Dec(), tc.want)
		}
	}
	// Checked arithmetic: a product past 2^256 reverts in Solidity 0.8.
	huge := new(uint256.Int).Lsh(uint256.NewInt(1), 200)
	if _, err := AmountOut(huge, huge, huge); !errors.Is(err, ErrOverflow) {
		t.Fatalf("overflow: %v", err)
	}
}

// TestAmountsAgainstBig checks both formulas against math/big on random
// inputs, and that AmountIn is the least input AmountOut turns into the
// output (the contract's +1 rounding).
func TestAmountsAgainstBig(t *testing.T) {
	rng := newRand(t)
	for i := 0; i < 5000; i++ {
		rIn := randU(rng, 112)
		rOut := randU(rng, 112)
		in := randU(rng, 100)
		if rIn.IsZero() || rOut.IsZero() || in.IsZero() {
			continue
		}
		got, err := AmountOut(in, rIn, rOut)
		bi, bIn, bOut := in.ToBig(), rIn.ToBig(), rOut.ToBig()
		wf := new(big.Int).Mul(bi, big.NewInt(997))
		want := new(big.Int).Div(new(big.Int).Mul(wf, bOut), new(big.Int).Add(new(big.Int).Mul(bIn, big.NewInt(1000)), wf))
		if err != nil || got.ToBig().Cmp(want) != 0 {
			t.Fatalf("AmountOut(%v,%v,%v) = %v %v, want %v", bi, bIn, bOut, got.ToBig(), err, want)
		}
		if got.IsZero() || !got.Lt(rOut) {
			continue
		}
		need, err := AmountIn(&got, rIn, rOut)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := AmountOut(&need, rIn, rOut); o.Lt(&got) {
			t.Fatalf("AmountIn(%v) = %v buys only %v", got.ToBig(), need.ToBig(), o.ToBig())
		}
		if need.Gt(in) {
			t.Fatalf("AmountIn(%v) = %v > the input %v that bought it", got.ToBig(), need.ToBig(), bi)
		}
	}
}

func TestAmountsDoNotAllocate(t *testing.T) {
	a, r0, r1 := u(e18(1)), u(e18(5)), u(e18(10))
	if n := testing.AllocsPerRun(1000, func() {
		AmountOut(a, r0, r1)
		AmountIn(a, r0, r1)
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// pool100 is a WETH/USDT-like pool: 100 WETH (18 decimals) against
// 300,000 USDT (6 decimals), price 3000, instrument scale 2/4.
func pool100() Pool {
	return Pool{Base: *u(e18(100)), Quote: *u("300000000000"), BaseDec: 18, QuoteDec: 6, Scale: num.Scale{Px: 2, Qty: 4}}
}

func TestBookWalkIsConservative(t *testing.T) {
	p := pool100()
	var b exchange.BookTop
	if !p.Book(DefaultDepth, &b) {
		t.Fatal("no book")
	}
	if b.NAsks != exchange.TopK || b.NBids != exchange.TopK {
		t.Fatalf("levels %d/%d", b.NBids, b.NAsks)
	}
	mid, _ := p.Mid()
	if mid != 300000 {
		t.Fatalf("mid %d", mid)
	}
	if !(b.Bids[0].Px < mid && mid < b.Asks[0].Px) {
		t.Fatalf("best bid %d, mid %d, best ask %d", b.Bids[0].Px, mid, b.Asks[0].Px)
	}
	// The deepest level is 10 % of the base reserve.
	var qa, qb int64
	for i := 0; i < int(b.NAsks); i++ {
		qa += int64(b.Asks[i].Qty)
		if i > 0 && b.Asks[i].Px <= b.Asks[i-1].Px {
			t.Fatalf("asks not increasing at %d", i)
		}
	}
	for i := 0; i < int(b.NBids); i++ {
		qb += int64(b.Bids[i].Qty)
		if i > 0 && b.Bids[i].Px >= b.Bids[i-1].Px {
			t.Fatalf("bids not decreasing at %d", i)
		}
	}
	if qa != 10*10000 || qb != 10*10000 {
		t.Fatalf("depth %d/%d, want 10 WETH", qa, qb)
	}
	// At every level boundary the walk's cost is at least the pool's
	// getAmountIn, and the walk's proceeds at most getAmountOut.
	unit := p.baseUnit()
	var cost, proceeds, cum big.Int
	for i := 0; i < int(b.NAsks); i++ {
		cost.Add(&cost, new(big.Int).Mul(big.NewInt(int64(b.Asks[i].Px)), big.NewInt(int64(b.Asks[i].Qty))))
		proceeds.Add(&proceeds, new(big.Int).Mul(big.NewInt(int64(b.Bids[i].Px)), big.NewInt(int64(b.Bids[i].Qty))))
		cum.Add(&cum, big.NewInt(int64(b.Asks[i].Qty)))
		q := new(uint256.Int).Mul(uint256.MustFromBig(&cum), &unit)
		in, _ := AmountIn(q, &p.Quote, &p.Base)
		out, _ := AmountOut(q, &p.Base, &p.Quote)
		// PQ units → quote token units: /10^(2+4) × 10^6.
		if cost.Cmp(in.ToBig()) < 0 {
			t.Fatalf("level %d: walk cost %v < getAmountIn %v", i, &cost, in.ToBig())
		}
		if proceeds.Cmp(out.ToBig()) > 0 {
			t.Fatalf("level %d: walk proceeds %v > getAmountOut %v", i, &proceeds, out.ToBig())
		}
	}
}

func TestBookTinyAndEmptyPools(t *testing.T) {
	var b exchange.BookTop
	p := pool100()
	p.Base.Clear()
	if p.Book(DefaultDepth, &b) || b.NBids != 0 {
		t.Fatal("empty pool gave a book")
	}
	// A pool whose whole 10 % is below one Qty unit gives no book.
	p = pool100()
	p.Base.SetUint64(1e13) // 0.00001 WETH: 10 % is 0.000001 < 0.0001
	if p.Book(DefaultDepth, &b) {
		t.Fatalf("dust pool gave a book: %+v", b)
	}
	// A pool just big enough for a few levels merges and drops repeats.
	p = pool100()
	p.Base.SetUint64(5e15) // 0.005 WETH: 10 % = 5 Qty units
	p.Quote.SetUint64(15e6)
	if !p.Book(DefaultDepth, &b) {
		t.Fatal("small pool gave no book")
	}
	for i := 1; i < int(b.NAsks); i++ {
		if b.Asks[i].Px <= b.Asks[i-1].Px {
			t.Fatalf("asks not increasing: %+v", b.Asks[:b.NAsks])
		}
	}
}

func TestBookDoesNotAllocate(t *testing.T) {
	p := pool100()
	var b exchange.BookTop
	if n := testing.AllocsPerRun(200, func() { p.Book(DefaultDepth, &b) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func TestGasQuote(t *testing.T) {
	p := pool100()
	// 150,000 gas × 20 gwei = 0.003 ETH = 9 USDT at 3000: 900 cents.
	wei := new(uint256.Int).Mul(uint256.NewInt(150000), uint256.NewInt(20e9))
	g, ok := p.GasQuote(wei, NativeBase)
	if !ok || g != 900 {
		t.Fatalf("gas %d %v, want 900", g, ok)
	}
	// One wei more rounds up to a cent.
	wei.AddUint64(wei, 1)
	if g, _ = p.GasQuote(wei, NativeBase); g != 901 {
		t.Fatalf("gas %d, want 901", g)
	}
	// Native quote: 0.003 ETH at Px=2 is 0.31 (rounded up from 0.003? no: 0.003 → 1 cent-unit)
	w2 := new(uint256.Int).Mul(uint256.NewInt(150000), uint256.NewInt(20e9))
	if g, _ = p.GasQuote(w2, NativeQuote); g != 1 {
		t.Fatalf("native quote gas %d, want 1 (0.003 rounded up at 2 decimals)", g)
	}
}
