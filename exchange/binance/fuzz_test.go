package binance

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"arb/exchange"
)

// fuzzInsts are the instruments of the fuzz harness: every symbol the sync
// scripts use, with the same scales, so the scripts seed the corpus.
var fuzzInsts = []exchange.Instrument{
	testInst("BNBBTC", 1, 8, 8), testInst("ETHBTC", 2, 6, 4), testInst("BTCUSDT", 3, 2, 5),
	testInst("ETHUSDT", 4, 2, 4), testInst("SOLUSDT", 5, 3, 2), testInst("BNBUSDT", 6, 8, 8),
}

// scriptSeed turns a sync script into a fuzz input (see fuzzOps).
func scriptSeed(t testing.TB, file string) []byte {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	idx := func(sym string) int {
		for i, in := range fuzzInsts {
			if in.Symbol == sym {
				return i
			}
		}
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		cmd, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch cmd {
		case "config":
			for _, kv := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(kv, "channel="); ok && out.Len() == 0 {
					out.WriteString("#" + v + "\n")
				}
			}
		case "frame":
			if strings.HasPrefix(rest, "@") {
				name, stream, _ := strings.Cut(rest[1:], " ")
				b, err := os.ReadFile(filepath.Join("testdata", name))
				if err != nil {
					t.Fatal(err)
				}
				b = bytes.ReplaceAll(b, []byte("\n"), nil)
				if stream != "" {
					b = wrap(stream, b)
				}
				rest = string(b)
			}
			out.WriteString(rest + "\n")
		case "snapshot":
			sym, body, _ := strings.Cut(rest, " ")
			if strings.HasPrefix(body, "@") {
				b, err := os.ReadFile(filepath.Join("testdata", body[1:]))
				if err != nil {
					t.Fatal(err)
				}
				body = string(bytes.ReplaceAll(b, []byte("\n"), nil))
			}
			out.WriteString("S" + strconv.Itoa(idx(sym)) + " " + body + "\n")
		case "snapfail":
			out.WriteString("X" + strconv.Itoa(idx(rest)) + "\n")
		case "republish":
			out.WriteString("R\n")
		case "refresh":
			out.WriteString("F\n")
		}
	}
	return out.Bytes()
}

// runFuzzOps drives a session with the operations of one fuzz input and
// checks every published event against the reference model.
func runFuzzOps(t *testing.T, data []byte) {
	ch, ops := fuzzOps(data)
	if _, _, ok := channel(ch); !ok {
		ch = ""
	}
	if len(ops) > 256 {
		ops = ops[:256]
	}
	// Depth 500: far beyond what a fuzz input can fill, so no side ever
	// reaches its floor and the model compares full tops.
	h := newHarness(t, baseConfig(ch, 500, fuzzInsts...), int64(50e6))
	m := newRefModel(&h.cfg)
	h.s.hook = m.hook
	n := len(fuzzInsts)
	for k, op := range ops {
		ts := int64(k+1) * 1e6
		switch {
		case len(op) >= 2 && op[0] == 'S' && op[1] >= '0' && op[1] <= '9':
			body := bytes.TrimPrefix(op[2:], []byte(" "))
			m.snaps = append(m.snaps, bytes.Clone(body))
			h.s.ApplySnapshot(int(op[1]-'0')%n, body, ts)
		case len(op) == 2 && op[0] == 'X' && op[1] >= '0' && op[1] <= '9':
			h.s.SnapshotFailed(int(op[1]-'0') % n)
		case len(op) == 1 && op[0] == 'R':
			h.s.Republish(ts)
		case len(op) == 1 && op[0] == 'F':
			h.s.Refresh(ts)
		default:
			m.frames = append(m.frames, bytes.Clone(op))
			h.s.HandleFrame(op, ts)
		}
		for {
			if _, ok := h.s.NeedSnapshot(); !ok {
				break
			}
		}
		for _, ev := range h.drain() {
			m.check(&ev, h.cfg.Venue)
		}
		if m.err != nil {
			t.Fatalf("after op %d %q: %v", k, op, m.err)
		}
	}
	// The session's own bookkeeping stays consistent.
	fresh := 0
	for i := range h.s.books {
		if h.s.books[i].fresh {
			fresh++
		}
	}
	if fresh != h.s.nFresh || h.s.buffered < 0 {
		t.Fatalf("bookkeeping: fresh %d nFresh %d buffered %d", fresh, h.s.nFresh, h.s.buffered)
	}
}

// FuzzHandleFrame feeds arbitrary frames and snapshots to a session: it must
// never panic, and every book it publishes as fresh must be uncrossed and
// equal to the reference model's book rebuilt from the same accepted inputs.
// Seeded from every sync script and documented payload.
func FuzzHandleFrame(f *testing.F) {
	files, _ := filepath.Glob("testdata/sync/*.txt")
	for _, file := range files {
		f.Add(scriptSeed(f, file))
	}
	docs, _ := filepath.Glob("testdata/docs/ws_*.json")
	for _, d := range docs {
		b, _ := os.ReadFile(d)
		f.Add(b)
		f.Add(append([]byte("#bbo\n"), wrap("bnbusdt@bookTicker", b)...))
		f.Add(append([]byte("#depth5\n"), wrap("bnbbtc@depth5@100ms", b)...))
	}
	f.Fuzz(runFuzzOps)
}

// TestFuzzSeeds runs the seed corpus through the model check in every normal
// test run (go test runs FuzzHandleFrame's seeds too; this names the intent).
func TestScriptsAgainstModel(t *testing.T) {
	files, _ := filepath.Glob("testdata/sync/*.txt")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runFuzzOps(t, scriptSeed(t, file)) })
	}
}
