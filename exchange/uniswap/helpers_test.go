package uniswap

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/holiman/uint256"
)

var seedFlag = flag.Uint64("uniswap.seed", 0, "seed for the randomized tests (0 = from the clock)")

// newRand returns a seeded generator and logs the seed so a failure can be
// replayed with -uniswap.seed.
func newRand(t testing.TB) *rand.Rand {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -uniswap.seed %d)", s, s)
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// randU returns a random value of up to bits bits, log-uniform in size.
func randU(r *rand.Rand, bits int) *uint256.Int {
	n := r.IntN(bits + 1)
	var z uint256.Int
	for i := 0; i < 4; i++ {
		z[i] = r.Uint64()
	}
	if n == 0 {
		return new(uint256.Int)
	}
	z.Rsh(&z, uint(256-n))
	return &z
}
