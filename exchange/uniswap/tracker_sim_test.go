package uniswap

import (
	"encoding/binary"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// TestTrackerSimulation drives a tracker along a random block tree — new
// blocks with Sync logs, forks of random depth (some deeper than the kept
// window), removed logs of orphaned blocks delivered before the new head,
// source outages — and after every step checks it against the obviously
// right model: the reserves of the head are those of the last Sync log on
// the path from genesis to it. A Resync is answered with a snapshot at the
// head, as the feed does. The seed is printed.
func TestTrackerSimulation(t *testing.T) {
	rng := newRand(t)
	for run := 0; run < 40; run++ {
		chain := newMemChain()
		next := uint64(1)
		mk := func(parent Block, nlogs int) Block {
			var h common.Hash
			binary.BigEndian.PutUint64(h[24:], next)
			next++
			b := Block{Num: parent.Num + 1, Hash: h, Parent: parent.Hash}
			if parent.Hash == (common.Hash{}) {
				b.Num = 0
			}
			chain.blocks[h] = b
			var logs []SyncLog
			for i := 0; i < nlogs; i++ {
				l := SyncLog{Block: b.Num, BlockHash: h, Index: uint(i*3 + rng.IntN(3))}
				l.R0.SetUint64(rng.Uint64() >> 12)
				l.R1.SetUint64(rng.Uint64() >> 12)
				logs = append(logs, l)
			}
			chain.logs[h] = logs
			return b
		}
		model := func(b Block) (uint256.Int, uint256.Int) {
			for {
				if ls := chain.logs[b.Hash]; len(ls) > 0 {
					return ls[len(ls)-1].R0, ls[len(ls)-1].R1
				}
				if b.Num == 0 {
					return *uint256.NewInt(1000), *uint256.NewInt(2000)
				}
				b = chain.blocks[b.Parent]
			}
		}
		genesis := mk(Block{}, 0)
		depth := 2 + rng.IntN(6)
		tr := NewTracker(depth)
		r0, r1 := model(genesis)
		tr.Reset(genesis, r0, r1)
		head := genesis
		for step := 0; step < 300; step++ {
			switch x := rng.IntN(100); {
			case x < 70:
				head = mk(head, rng.IntN(3))
			default:
				// Fork k blocks back, with a branch one or two longer.
				k := 1 + rng.IntN(depth+3)
				anc := head
				var orphans []Block
				for i := 0; i < k && anc.Num > 0; i++ {
					orphans = append(orphans, anc)
					anc = chain.blocks[anc.Parent]
				}
				nb := anc
				for i := 0; i < len(orphans)+1+rng.IntN(2); i++ {
					nb = mk(nb, rng.IntN(3))
				}
				// Deliver some removed logs of the orphans first.
				for _, o := range orphans {
					for _, l := range chain.logs[o.Hash] {
						if rng.IntN(2) == 0 {
							if tr.Removed(&l) == Resync {
								r0, r1 := model(anc)
								tr.Reset(anc, r0, r1)
							}
						}
					}
				}
				head = nb
			}
			chain.fail = rng.IntN(20) == 0
			ch, _, err := tr.Follow(head, chain)
			chain.fail = false
			if err != nil {
				ch, _, err = tr.Follow(head, chain)
				if err != nil {
					t.Fatalf("run %d step %d: %v", run, step, err)
				}
			}
			if ch == Resync {
				r0, r1 := model(head)
				tr.Reset(head, r0, r1)
			}
			if tip := tr.Tip(); tip.Hash != head.Hash {
				t.Fatalf("run %d step %d: tip %d, head %d", run, step, tip.Num, head.Num)
			}
			g0, g1 := tr.Reserves()
			w0, w1 := model(head)
			if g0 != w0 || g1 != w1 {
				t.Fatalf("run %d step %d (depth %d): reserves %s/%s, model %s/%s", run, step, depth, g0.Dec(), g1.Dec(), w0.Dec(), w1.Dec())
			}
		}
	}
}
