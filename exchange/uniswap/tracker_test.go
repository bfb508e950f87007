package uniswap

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata scripts")

// memChain is an in-memory block tree: the Source of the tracker tests.
type memChain struct {
	blocks map[common.Hash]Block
	logs   map[common.Hash][]SyncLog
	fail   bool
}

func newMemChain() *memChain {
	return &memChain{blocks: map[common.Hash]Block{}, logs: map[common.Hash][]SyncLog{}}
}

var errMem = errors.New("memchain: unavailable")

func (m *memChain) Header(h common.Hash) (Block, error) {
	if m.fail {
		return Block{}, errMem
	}
	b, ok := m.blocks[h]
	if !ok {
		return Block{}, errors.New("memchain: unknown block")
	}
	return b, nil
}

func (m *memChain) Logs(b *Block) ([]SyncLog, error) {
	if m.fail {
		return nil, errMem
	}
	return m.logs[b.Hash], nil
}

func hashOf(name string) common.Hash {
	if name == "-" {
		return common.Hash{}
	}
	return common.BytesToHash([]byte(name))
}

func nameOf(h common.Hash) string {
	return strings.TrimLeft(string(h[:]), "\x00")
}

// TestTrackerScripts runs testdata/tracker*.txt. Each line is a command
// and, after "=>", the expected state it leaves:
//
//	block NUM NAME PARENT [sync R0 R1]...   add a block to the in-memory chain
//	reset NAME R0 R1                        snapshot at block NAME
//	follow NAME                             a new head
//	removed NAME INDEX                      a removed log of block NAME
//	rollback NUM
//	fail on|off                             the source errors
//
// The state printed is: change, tip number and name, reserves, logs kept.
// -update rewrites the expectations.
func TestTrackerScripts(t *testing.T) {
	files, _ := os.ReadDir("testdata")
	for _, f := range files {
		if !strings.HasPrefix(f.Name(), "tracker") {
			continue
		}
		t.Run(f.Name(), func(t *testing.T) { runTrackerScript(t, "testdata/"+f.Name()) })
	}
}

func runTrackerScript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	chain := newMemChain()
	tr := NewTracker(4)
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		cmd, want, has := strings.Cut(raw, "=>")
		cmd = strings.TrimSpace(cmd)
		if cmd == "" || strings.HasPrefix(cmd, "#") {
			out.WriteString(raw + "\n")
			continue
		}
		got, err := trackerCmd(tr, chain, strings.Fields(cmd))
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		out.WriteString(cmd + " => " + got + "\n")
		if !*update && (!has || strings.TrimSpace(want) != got) {
			t.Errorf("%s:%d: %s\n got: %s\nwant: %s", path, line, cmd, got, strings.TrimSpace(want))
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func atoi(s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return v
}

func trackerCmd(tr *Tracker, chain *memChain, f []string) (string, error) {
	var ch Change
	extra := ""
	switch f[0] {
	case "block":
		b := Block{Num: atoi(f[1]), Hash: hashOf(f[2]), Parent: hashOf(f[3])}
		chain.blocks[b.Hash] = b
		var logs []SyncLog
		for i := 4; i+2 < len(f); i += 3 {
			if f[i] != "sync" {
				return "", fmt.Errorf("want sync, got %s", f[i])
			}
			l := SyncLog{Block: b.Num, BlockHash: b.Hash, Index: uint(len(logs))}
			l.R0.SetUint64(atoi(f[i+1]))
			l.R1.SetUint64(atoi(f[i+2]))
			logs = append(logs, l)
		}
		chain.logs[b.Hash] = logs
		return "ok", nil
	case "reset":
		b := chain.blocks[hashOf(f[1])]
		var r0, r1 uint256.Int
		r0.SetUint64(atoi(f[2]))
		r1.SetUint64(atoi(f[3]))
		tr.Reset(b, r0, r1)
		ch = Changed
	case "follow":
		b, ok := chain.blocks[hashOf(f[1])]
		if !ok {
			return "", fmt.Errorf("unknown block %s", f[1])
		}
		var n int
		var err error
		ch, n, err = tr.Follow(b, chain)
		if n > 0 {
			extra = fmt.Sprintf(" reorged=%d", n)
		}
		if err != nil {
			extra += " err=" + err.Error()
		}
	case "removed":
		b := chain.blocks[hashOf(f[1])]
		l := SyncLog{Block: b.Num, BlockHash: b.Hash, Index: uint(atoi(f[2]))}
		ch = tr.Removed(&l)
	case "rollback":
		ch = tr.RollbackTo(atoi(f[1]))
	case "fail":
		chain.fail = f[1] == "on"
		return "ok", nil
	default:
		return "", fmt.Errorf("unknown command %s", f[0])
	}
	names := [...]string{"unchanged", "changed", "resync"}
	if !tr.Ready() {
		return names[ch] + extra + " (no state)", nil
	}
	r0, r1 := tr.Reserves()
	tip := tr.Tip()
	return fmt.Sprintf("%s%s tip=%d/%s base=%d reserves=%s/%s logs=%d", names[ch], extra, tip.Num, nameOf(tip.Hash),
		tr.Base().Num, r0.Dec(), r1.Dec(), tr.Logs()), nil
}
