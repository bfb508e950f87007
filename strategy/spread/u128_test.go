package spread

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

func toBig(x u128) *big.Int {
	b := new(big.Int).SetUint64(x.hi)
	b.Lsh(b, 64)
	return b.Add(b, new(big.Int).SetUint64(x.lo))
}

func randU128(r *rand.Rand) u128 {
	// Mix magnitudes so carries, zero halves and near-overflow all occur.
	switch r.IntN(4) {
	case 0:
		return u128{0, r.Uint64()}
	case 1:
		return u128{r.Uint64() >> r.IntN(64), r.Uint64()}
	case 2:
		return u128{r.Uint64(), r.Uint64()}
	}
	return u128{0, uint64(r.IntN(1000))}
}

// TestU128AgainstBigInt checks every operation against math/big.
func TestU128AgainstBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	max := new(big.Int).Lsh(big.NewInt(1), 128)
	for range 20000 {
		x, y := randU128(r), randU128(r)
		bx, by := toBig(x), toBig(y)
		if got, want := x.cmp(y), bx.Cmp(by); got != want {
			t.Fatalf("cmp(%v,%v)=%d want %d", x, y, got, want)
		}
		sum, ok := x.add(y)
		wsum := new(big.Int).Add(bx, by)
		if ok != (wsum.Cmp(max) < 0) || (ok && toBig(sum).Cmp(wsum) != 0) {
			t.Fatalf("add(%v,%v)=%v,%v want %v", x, y, sum, ok, wsum)
		}
		if bx.Cmp(by) >= 0 {
			if toBig(x.sub(y)).Cmp(new(big.Int).Sub(bx, by)) != 0 {
				t.Fatalf("sub(%v,%v)", x, y)
			}
		}
		m := r.Uint64() >> r.IntN(64)
		p, ok := x.mul(m)
		wp := new(big.Int).Mul(bx, new(big.Int).SetUint64(m))
		if ok != (wp.Cmp(max) < 0) || (ok && toBig(p).Cmp(wp) != 0) {
			t.Fatalf("mul(%v,%d)=%v,%v want %v", x, m, p, ok, wp)
		}
		if m != 0 {
			q, rem := x.divSmall(m)
			wq, wr := new(big.Int).QuoRem(bx, new(big.Int).SetUint64(m), new(big.Int))
			if toBig(q).Cmp(wq) != 0 || rem != wr.Uint64() {
				t.Fatalf("divSmall(%v,%d)", x, m)
			}
			c := x.divCeilSmall(m)
			wc := new(big.Int).Set(wq)
			if wr.Sign() != 0 {
				wc.Add(wc, big.NewInt(1))
			}
			if toBig(c).Cmp(wc) != 0 {
				t.Fatalf("divCeilSmall(%v,%d)", x, m)
			}
		}
		if !y.isZero() {
			if toBig(x.div(y)).Cmp(new(big.Int).Quo(bx, by)) != 0 {
				t.Fatalf("div(%v,%v)=%v want %v", x, y, x.div(y), new(big.Int).Quo(bx, by))
			}
		}
	}
}
