package backtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/recording"
)

// tile writes n copies of the recording at src, one after the other in
// time (each copy its own recording, so its connections are new ones:
// every copy syncs its books from its own snapshots), into dir, and
// returns the files. Together they are a recording n times as long.
func tile(t testing.TB, src, dir string, n int) []string {
	t.Helper()
	r, err := recording.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		r    recording.Record
		meta []byte
		data []byte
	}
	var recs []rec
	var meta recording.Meta
	var first, last int64
	for {
		b, err := r.NextChunk(nil, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if meta.Recording == "" {
			meta, first = *b.Meta, b.Hdr.MinTS
		}
		last = max(last, b.Hdr.MaxTS)
		b.Records(func(x *recording.Record) bool {
			recs = append(recs, rec{*x, append([]byte(nil), x.Meta...), append([]byte(nil), x.Data...)})
			return true
		})
	}
	r.Close()
	span := last - first + int64(time.Second)
	var files []string
	for k := 0; k < n; k++ {
		m := meta
		m.Recording = fmt.Sprintf("%s-tile%03d", meta.Recording, k)
		w, err := recording.NewWriter(recording.WriterConfig{Dir: dir, Prefix: fmt.Sprintf("tile%03d", k), Meta: m})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range recs {
			w.Tap(x.r.Kind, exchange.VenueID(x.r.Venue), x.r.Conn, x.r.TS+int64(k)*span, x.r.Aux, x.meta, x.data)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		files = append(files, w.Files()...)
	}
	return files
}

// rawRead reads and decompresses the files and walks every record: the
// baseline a replay is compared with.
func rawRead(t testing.TB, files []string) uint64 {
	r, err := recording.Open(files...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n uint64
	var buf []byte
	for {
		b, err := r.NextChunk(buf, nil)
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		buf = b.Raw
		b.Records(func(*recording.Record) bool { n++; return true })
	}
}

// BenchmarkReplay measures the replay of a 3-venue recording (the test
// recording tiled 40 times: 20 minutes of the three simulated venues)
// against merely reading and decompressing the same files in the same
// run. Metrics: events/s of each and their ratio.
func BenchmarkReplay(b *testing.B) {
	files := tile(b, testRecording, b.TempDir(), 40)
	cfg := defaultConfig(b)
	b.ResetTimer()
	var rawNs, repNs, repCPU time.Duration
	var events uint64
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		n := rawRead(b, files)
		rawNs += time.Since(t0)
		t0 = time.Now()
		c0 := cpuTime()
		r, err := Run(context.Background(), cfg, options(files...))
		if err != nil {
			b.Fatal(err)
		}
		repNs += time.Since(t0)
		repCPU += cpuTime() - c0
		if r.Events != n {
			b.Fatalf("replayed %d events, read %d", r.Events, n)
		}
		events += n
	}
	raw := float64(events) / rawNs.Seconds()
	rep := float64(events) / repNs.Seconds()
	b.ReportMetric(rep, "replay_events/s")
	b.ReportMetric(raw, "read_events/s")
	b.ReportMetric(rep/raw*100, "replay_%_of_read")
	b.ReportMetric(float64(events)/float64(b.N), "events/run")
	// The CPU time of the replay (every goroutine, the GC's too) per event:
	// the work done, which the load of a shared machine changes much less
	// than the wall time.
	b.ReportMetric(float64(repCPU.Nanoseconds())/float64(events), "replay_cpu_ns/event")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMemoryConstant runs the backtest in a child process on a recording
// and on one ten times as long (the test recording tiled 10 and 100 times,
// each tile a recording of its own with new connections, so every tile
// rebuilds its books and trades again): the long run replays ten times the
// records and makes ten times the trades, and its peak RSS (the child's
// VmHWM) and the heap the engine holds at the end of the replay (live
// bytes after a GC, runtime/metrics) are within 20% of the short run's. The report keeps aggregates
// (per pair, per venue, per rule, per edge bucket) and series thinned to a
// fixed number of points; trades go to trades.csv as they close, and the
// journal only counts: nothing grows with the recording's length.
func TestMemoryConstant(t *testing.T) {
	if os.Getenv("BT_CHILD") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	short := tile(t, testRecording, filepath.Join(dir, "short"), 10)
	long := tile(t, testRecording, filepath.Join(dir, "long"), 100)
	type result struct{ events, trades, hwm, heap uint64 }
	run := func(files []string) result {
		list := filepath.Join(dir, "list"+strconv.Itoa(len(files)))
		if err := os.WriteFile(list, []byte(joinLines(files)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "BT_CHILD="+list, "GOGC=100")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var r result
		i := strings.Index(string(out), "MEMORY ")
		if i < 0 {
			t.Fatalf("child printed no result:\n%s", out)
		}
		if _, err := fmt.Sscanf(string(out[i:]), "MEMORY events=%d trades=%d hwm=%d heap=%d", &r.events, &r.trades, &r.hwm, &r.heap); err != nil {
			t.Fatalf("child result: %v\n%s", err, out)
		}
		return r
	}
	a, b := run(short), run(long)
	t.Logf("short: %d events, %d trades, VmHWM %d KiB, heap held %d KiB", a.events, a.trades, a.hwm>>10, a.heap>>10)
	t.Logf("long:  %d events, %d trades, VmHWM %d KiB, heap held %d KiB (%+.1f%%, %+.1f%%)", b.events, b.trades, b.hwm>>10, b.heap>>10,
		(float64(b.hwm)/float64(a.hwm)-1)*100, (float64(b.heap)/float64(a.heap)-1)*100)
	if b.events < 9*a.events || b.trades < 9*a.trades || a.trades == 0 {
		t.Fatalf("the long run is not ten times the short one: %+v vs %+v", b, a)
	}
	if float64(b.hwm) > 1.2*float64(a.hwm) {
		t.Errorf("peak RSS grew from %d KiB to %d KiB for a recording 10x as long", a.hwm>>10, b.hwm>>10)
	}
	if float64(b.heap) > 1.2*float64(a.heap) {
		t.Errorf("the heap held grew from %d KiB to %d KiB for a recording 10x as long", a.heap>>10, b.heap>>10)
	}
}

// TestMemoryChild is the child of TestMemoryConstant: it runs the backtest
// and prints what it measured.
func TestMemoryChild(t *testing.T) {
	list := os.Getenv("BT_CHILD")
	if list == "" {
		t.Skip("only as TestMemoryConstant's child")
	}
	b, _ := os.ReadFile(list)
	files := splitLines(string(b))
	opt := options(files...)
	opt.Out = t.TempDir()
	// What the engine holds at the end of the replay, before the report
	// is built: the live heap after a GC (the final progress call).
	var held uint64
	opt.Progress = func(done, total int64, _ uint64) {
		if done == total {
			runtime.GC()
			s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			metrics.Read(s)
			held = s[0].Value.Uint64()
		}
	}
	r, err := Run(context.Background(), memConfig(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("MEMORY events=%d trades=%d hwm=%d heap=%d\n", r.Events, r.Trades, vmHWM(t), held)
}

// memConfig is the default config with balances a thousand times as large
// and the position and asset-share limits of the rules lifted, so that
// every tile of a tiled recording trades as the first did (with the
// default's, the repeated opportunities soon find no balance): a longer
// recording then means proportionally more trades, fills and report rows.
func memConfig(t testing.TB) *config.Config {
	cfg := defaultConfig(t)
	for i := range cfg.Venues {
		for a, v := range cfg.Venues[i].Balances {
			cfg.Venues[i].Balances[a] = v.Mul(decimal.NewFromInt(1000))
		}
	}
	rules, err := os.ReadFile(cfg.Risk.RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{"max_position_value: 50000 ", "max_position_value: 1e12 "}, {"max_asset_share: 0.30 ", "max_asset_share: 1.0 "}} {
		if !bytes.Contains(rules, []byte(r[0])) {
			t.Fatalf("rules file has no %q", r[0])
		}
		rules = bytes.Replace(rules, []byte(r[0]), []byte(r[1]), 1)
	}
	cfg.Risk.RulesFile = filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(cfg.Risk.RulesFile, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// vmHWM is the process's peak resident set size in bytes (Linux).
func vmHWM(t testing.TB) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

func joinLines(s []string) string {
	out := ""
	for _, x := range s {
		out += x + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
