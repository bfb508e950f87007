package backtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

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
	var rawNs, repNs time.Duration
	var events uint64
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		n := rawRead(b, files)
		rawNs += time.Since(t0)
		t0 = time.Now()
		r, err := Run(context.Background(), cfg, options(files...))
		if err != nil {
			b.Fatal(err)
		}
		repNs += time.Since(t0)
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
}

// TestMemoryConstant runs the backtest in a child process on a recording
// and on one ten times as long: the peak RSS (getrusage maxrss) of the
// long one is within 20% of the short one's.
func TestMemoryConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Getenv("BT_CHILD") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	short := tile(t, testRecording, filepath.Join(dir, "short"), 4)
	long := tile(t, testRecording, filepath.Join(dir, "long"), 40)
	rss := func(files []string) int64 {
		list := filepath.Join(dir, "list"+strconv.Itoa(len(files)))
		os.WriteFile(list, []byte(joinLines(files)), 0o644)
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "BT_CHILD="+list, "GOGC=100")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
	}
	a, b := rss(short), rss(long)
	t.Logf("peak RSS: %d KiB for %d files, %d KiB for %d files (%.1f%%)", a, len(short), b, len(long), float64(b-a)/float64(a)*100)
	if float64(b) > 1.2*float64(a) {
		t.Fatalf("peak RSS grew from %d KiB to %d KiB for a recording 10x as long", a, b)
	}
}

// TestMemoryChild is the child of TestMemoryConstant.
func TestMemoryChild(t *testing.T) {
	list := os.Getenv("BT_CHILD")
	if list == "" {
		t.Skip("only as TestMemoryConstant's child")
	}
	b, _ := os.ReadFile(list)
	files := splitLines(string(b))
	opt := options(files...)
	opt.Out = t.TempDir()
	if _, err := Run(context.Background(), defaultConfig(t), opt); err != nil {
		t.Fatal(err)
	}
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
