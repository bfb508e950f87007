package uniswap_test

import (
	"context"
	"flag"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"arb/exchange/uniswap"
	"arb/exchange/uniswap/unisim"
)

var seed = flag.Uint64("uniswap.propseed", 0, "seed of the property test (0 = from the clock)")

// TestFormulaMatchesDeployedPair: for random reserves (pools of random
// size and decimals) and random amounts, the Go AmountOut equals what the
// deployed pair actually pays out in a swap through the router, and
// AmountIn is exactly what swapTokensForExactTokens takes; the reserves
// after each swap are the reserves before plus the input minus the output.
func TestFormulaMatchesDeployedPair(t *testing.T) {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -uniswap.propseed %d)", s, s)
	rng := rand.New(rand.NewPCG(s, s+1))
	ctx := context.Background()
	swapper := unisim.TestKey("swapper")
	for pool := 0; pool < 3; pool++ {
		bd, qd := uint8(6+rng.IntN(13)), uint8(6+rng.IntN(13))
		rb := new(big.Int).Lsh(big.NewInt(1+rng.Int64N(1<<20)), uint(rng.IntN(60)))
		rq := new(big.Int).Lsh(big.NewInt(1+rng.Int64N(1<<20)), uint(rng.IntN(60)))
		c, err := unisim.New(unisim.Config{BaseSymbol: "B", QuoteSymbol: "Q", BaseDecimals: bd, QuoteDecimals: qd,
			BaseReserve: rb.Add(rb, big.NewInt(1e6)), QuoteReserve: rq.Add(rq, big.NewInt(1e6)), Accounts: []common.Address{addr(swapper)}})
		must(t, err)
		lots := new(big.Int).Lsh(big.NewInt(1), 120)
		must(t, c.Mint(ctx, c.Base, addr(swapper), lots))
		must(t, c.Mint(ctx, c.Quote, addr(swapper), lots))
		must(t, c.Approve(ctx, swapper, c.Base, c.Router))
		must(t, c.Approve(ctx, swapper, c.Quote, c.Router))
		for i := 0; i < 12; i++ {
			r0, r1, err := c.Reserves(ctx)
			must(t, err)
			inTok, outTok := c.Base, c.Quote
			if rng.IntN(2) == 0 {
				inTok, outTok = c.Quote, c.Base
			}
			rIn, rOut := r0, r1
			if inTok.Cmp(outTok) > 0 {
				rIn, rOut = r1, r0
			}
			// A log-uniform amount from 1 unit to about the reserve.
			amt := new(big.Int).Rsh(new(big.Int).Set(rIn), uint(rng.IntN(rIn.BitLen())))
			amt.Add(amt, big.NewInt(1))
			before, _ := c.BalanceOf(ctx, outTok, addr(swapper))
			exactOut := rng.IntN(2) == 0
			var want uint256.Int
			if exactOut {
				// swapTokensForExactTokens: a random output below the reserve.
				out := new(big.Int).Rsh(new(big.Int).Set(rOut), uint(1+rng.IntN(rOut.BitLen())))
				out.Add(out, big.NewInt(1))
				need, err := uniswap.AmountIn(uint256.MustFromBig(out), uint256.MustFromBig(rIn), uint256.MustFromBig(rOut))
				must(t, err)
				inBefore, _ := c.BalanceOf(ctx, inTok, addr(swapper))
				_, err = c.Send(ctx, swapper, c.Router, c.SwapExactOutData(inTok, out, addr(swapper)))
				must(t, err)
				inAfter, _ := c.BalanceOf(ctx, inTok, addr(swapper))
				if paid := new(big.Int).Sub(inBefore, inAfter); paid.Cmp(need.ToBig()) != 0 {
					t.Fatalf("pool %d swap %d: exact output %s took %s, Go AmountIn %s (reserves %s/%s)", pool, i, out, paid, need.ToBig(), rIn, rOut)
				}
				want.SetFromBig(out)
			} else {
				got, err := uniswap.AmountOut(uint256.MustFromBig(amt), uint256.MustFromBig(rIn), uint256.MustFromBig(rOut))
				must(t, err)
				if got.IsZero() {
					continue
				}
				_, err = c.Swap(ctx, swapper, inTok, amt)
				must(t, err)
				want = got
			}
			after, _ := c.BalanceOf(ctx, outTok, addr(swapper))
			if recv := new(big.Int).Sub(after, before); recv.Cmp(want.ToBig()) != 0 {
				t.Fatalf("pool %d swap %d: the pair paid %s, Go formula %s (in %s, reserves %s/%s, exact out %v)", pool, i, recv, want.ToBig(), amt, rIn, rOut, exactOut)
			}
		}
		c.Close()
	}
}
