package uniswap

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// Block is one block header as the tracker needs it.
type Block struct {
	Num    uint64
	Hash   common.Hash
	Parent common.Hash
	Time   uint64 // block timestamp, Unix s
}

// SyncLog is one Sync event of the pair: the reserves after a swap, mint
// or sync, and where it was emitted.
type SyncLog struct {
	Block     uint64
	BlockHash common.Hash
	Index     uint // log index in the block
	R0, R1    uint256.Int
}

// Change is what a tracker step did.
type Change uint8

// Changes reported by the tracker.
const (
	Unchanged Change = iota // nothing new (a duplicate, or an unknown removal)
	Changed                 // the state or its head moved: publish
	Resync                  // the step contradicts a state below the kept window: take a new snapshot
)

// Tracker is the pool's reserves as of the chain head, kept reorg-safe: it
// is the pure state machine of the feed (no I/O, no clock). It holds the
// last Depth blocks of the canonical chain as it knows it (number, hash,
// parent) and the Sync logs of those blocks in order; the reserves are
// those of the last Sync log, or, when none is kept, of the base snapshot
// (getReserves at the oldest kept block). Sync carries absolute reserves,
// so rolling back is dropping the logs of the blocks that left the chain.
//
// The feed drives it: Reset with a snapshot; Extend with each next block
// and its Sync logs (fetched by block hash, so they are exactly that
// block's); on a head that does not extend the tip, Knows finds the
// common ancestor, RollbackTo drops everything above it, and the new
// branch is extended block by block; a log delivered with Removed=true
// rolls back to before its block. Anything that would need a block older
// than the window asks for a Resync. A Tracker is owned by one goroutine.
type Tracker struct {
	depth  int
	blocks []Block // contiguous, ascending; blocks[0] is the base
	logs   []SyncLog
	r0, r1 uint256.Int // reserves as of blocks[0] (the base snapshot)
	ready  bool
}

// NewTracker returns a tracker keeping depth blocks (≥ 2).
func NewTracker(depth int) *Tracker {
	if depth < 2 {
		depth = 2
	}
	return &Tracker{depth: depth, blocks: make([]Block, 0, depth+1), logs: make([]SyncLog, 0, 4*depth)}
}

// Reset starts from a snapshot: reserves (r0, r1) as of block b.
func (t *Tracker) Reset(b Block, r0, r1 uint256.Int) {
	t.blocks = append(t.blocks[:0], b)
	t.logs = t.logs[:0]
	t.r0, t.r1 = r0, r1
	t.ready = true
}

// Invalidate forgets the state until the next Reset.
func (t *Tracker) Invalidate() {
	t.ready = false
	t.blocks = t.blocks[:0]
	t.logs = t.logs[:0]
}

// Ready reports whether the tracker holds a state.
func (t *Tracker) Ready() bool { return t.ready }

// Tip returns the newest block the state is as of.
func (t *Tracker) Tip() Block {
	if len(t.blocks) == 0 {
		return Block{}
	}
	return t.blocks[len(t.blocks)-1]
}

// Base returns the oldest kept block: nothing below it can be rolled back.
func (t *Tracker) Base() Block {
	if len(t.blocks) == 0 {
		return Block{}
	}
	return t.blocks[0]
}

// Reserves returns the reserves as of the tip.
func (t *Tracker) Reserves() (r0, r1 uint256.Int) {
	if n := len(t.logs); n > 0 {
		return t.logs[n-1].R0, t.logs[n-1].R1
	}
	return t.r0, t.r1
}

// Logs returns the number of Sync logs kept.
func (t *Tracker) Logs() int { return len(t.logs) }

// Extends reports whether b is the next block on the tip.
func (t *Tracker) Extends(b *Block) bool {
	if !t.ready {
		return false
	}
	tip := t.Tip()
	return b.Num == tip.Num+1 && b.Parent == tip.Hash
}

// Knows returns the number of the kept block with this hash.
func (t *Tracker) Knows(hash common.Hash) (uint64, bool) {
	for i := len(t.blocks) - 1; i >= 0; i-- {
		if t.blocks[i].Hash == hash {
			return t.blocks[i].Num, true
		}
	}
	return 0, false
}

// Extend appends block b, which must extend the tip, with its Sync logs
// (in log order; logs of other blocks are refused). It returns Changed,
// or Resync if b does not extend the tip or a log does not belong to it.
func (t *Tracker) Extend(b Block, logs []SyncLog) Change {
	if !t.Extends(&b) {
		return Resync
	}
	for i := range logs {
		l := &logs[i]
		if l.Block != b.Num || l.BlockHash != b.Hash || i > 0 && l.Index <= logs[i-1].Index {
			return Resync
		}
	}
	t.blocks = append(t.blocks, b)
	t.logs = append(t.logs, logs...)
	t.compact()
	return Changed
}

// compact folds the oldest blocks into the base while more than depth are
// kept: their last Sync log becomes the base reserves.
func (t *Tracker) compact() {
	drop := len(t.blocks) - t.depth
	if drop <= 0 {
		return
	}
	newBase := t.blocks[drop].Num
	k := 0
	for k < len(t.logs) && t.logs[k].Block <= newBase {
		t.r0, t.r1 = t.logs[k].R0, t.logs[k].R1
		k++
	}
	t.logs = append(t.logs[:0], t.logs[k:]...)
	t.blocks = append(t.blocks[:0], t.blocks[drop:]...)
}

// RollbackTo drops every block above num and its logs: the state is again
// as of block num. num below the base asks for a Resync (the state there is
// no longer known); num at or above the tip changes nothing.
func (t *Tracker) RollbackTo(num uint64) Change {
	if !t.ready {
		return Unchanged
	}
	if num < t.blocks[0].Num {
		t.Invalidate()
		return Resync
	}
	if num >= t.Tip().Num {
		return Unchanged
	}
	n := len(t.blocks)
	for n > 0 && t.blocks[n-1].Num > num {
		n--
	}
	t.blocks = t.blocks[:n]
	m := len(t.logs)
	for m > 0 && t.logs[m-1].Block > num {
		m--
	}
	t.logs = t.logs[:m]
	return Changed
}

// Removed applies a log the node reports as removed (Removed=true: its
// block left the canonical chain): if it is one of the kept logs, the
// state rolls back to before its block; a removed log at or below the
// base means the snapshot itself was on the abandoned branch (Resync);
// an unknown one changes nothing.
func (t *Tracker) Removed(l *SyncLog) Change {
	if !t.ready {
		return Unchanged
	}
	base := t.blocks[0]
	if l.Block < base.Num || l.Block == base.Num && l.BlockHash == base.Hash {
		t.Invalidate()
		return Resync
	}
	for i := range t.logs {
		k := &t.logs[i]
		if k.Block == l.Block && k.BlockHash == l.BlockHash && k.Index == l.Index {
			return t.RollbackTo(l.Block - 1)
		}
	}
	return Unchanged
}

// Source is where Follow reads the blocks and logs it needs: the chain
// through JSON-RPC in the feed, an in-memory chain in tests.
type Source interface {
	// Header returns the block with this hash.
	Header(hash common.Hash) (Block, error)
	// Logs returns the pair's Sync logs of exactly block b, in log order.
	Logs(b *Block) ([]SyncLog, error)
}

// Follow moves the tracker to head. A head that extends the tip is applied
// with its logs; any other (a reorg, or heads missed) is traced back
// through its parents to a kept block, everything above that block is
// rolled back, and the new branch is applied oldest first. It returns
// Changed (reorged reports how many kept blocks were rolled back),
// Unchanged for the tip itself or an older kept block, or Resync when the
// branch does not meet the kept window (the caller snapshots at head). A
// Source error is returned as it is, the tracker unchanged or left on a
// consistent prefix of the branch.
func (t *Tracker) Follow(head Block, src Source) (ch Change, reorged int, err error) {
	if !t.ready {
		return Resync, 0, nil
	}
	tip := t.Tip()
	if head.Hash == tip.Hash {
		return Unchanged, 0, nil
	}
	if _, ok := t.Knows(head.Hash); ok {
		return Unchanged, 0, nil // an older head announced late
	}
	branch := []Block{head}
	if !t.Extends(&head) {
		parent := head.Parent
		for {
			if n, ok := t.Knows(parent); ok {
				if n < tip.Num {
					reorged = int(tip.Num - n)
					t.RollbackTo(n)
				}
				break
			}
			last := branch[len(branch)-1]
			if len(branch) > t.depth || last.Num <= t.Base().Num+1 {
				return Resync, 0, nil
			}
			b, err := src.Header(parent)
			if err != nil {
				return Unchanged, 0, err
			}
			if b.Hash != parent || b.Num+1 != last.Num {
				return Resync, 0, nil
			}
			branch = append(branch, b)
			parent = b.Parent
		}
	}
	for i := len(branch) - 1; i >= 0; i-- {
		logs, err := src.Logs(&branch[i])
		if err != nil {
			return Changed, reorged, err
		}
		if t.Extend(branch[i], logs) != Changed {
			return Resync, reorged, nil
		}
	}
	return Changed, reorged, nil
}
