package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
	"arb/exchange/recording"
	"arb/exchange/tap"
)

const recordUsage = `usage:
  arb record --config FILE --out DIR [--duration D] [--rotate-size BYTES] [--rotate-every D]
      connect to the config's venues (real or sim://) and record what they send
  arb record cut --from TIME --to TIME --out FILE FILE...
      cut a recording by time range (RFC 3339 times, or Unix ns)
  arb record info FILE...
      show a recording's venues, time range, chunks and records
`

func runRecord(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "cut":
			return recordCut(args[1:], stdout, stderr)
		case "info":
			return recordInfo(args[1:], stdout, stderr)
		case "-h", "--help", "help":
			fmt.Fprint(stdout, recordUsage)
			return 0
		}
	}
	fs := flag.NewFlagSet("arb record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config naming the venues to record (default: the embedded default, simulated venues)")
	out := fs.String("out", "", "directory for the recording's files (required)")
	duration := fs.Duration("duration", 0, "stop after this long (default: until interrupted)")
	rotSize := fs.Int64("rotate-size", 256<<20, "start a new file after this many bytes")
	rotEvery := fs.Duration("rotate-every", time.Hour, "start a new file after this much time")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, recordUsage)
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	meta := wire.RecordMeta(cfg)
	meta.Note = "arb record " + strings.Join(args, " ")
	w, err := recording.NewWriter(recording.WriterConfig{Dir: *out, Meta: meta, RotateBytes: *rotSize, RotateEvery: *rotEvery})
	if err != nil {
		fmt.Fprintln(stderr, "arb record:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	feeds, err := wire.StartFeeds(ctx, cfg, w, nil, nil)
	if err != nil {
		w.Close()
		fmt.Fprintln(stderr, "arb record:", err)
		return 1
	}
	defer feeds.Close()
	done := make(chan struct{})
	go func() { defer close(done); _ = feeds.Run(ctx) }()
	tty := isTerminal(stderr)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start := time.Now()
	lastLine := time.Time{}
loop:
	for {
		select {
		case <-done:
			break loop
		case <-t.C:
			if tty || time.Since(lastLine) >= 10*time.Second {
				lastLine = time.Now()
				line := recordLine(w, feeds, time.Since(start))
				if tty {
					fmt.Fprintf(stderr, "\r%s   ", line)
				} else {
					fmt.Fprintln(stderr, line)
				}
			}
			if w.Stats().WriteError.Load() {
				stop()
			}
		}
	}
	err = w.Close()
	if tty {
		fmt.Fprintln(stderr)
	}
	st := w.Stats()
	fmt.Fprintf(stdout, "recorded %d records (%d frames), %s → %s compressed, %d files:\n", st.Records.Load(),
		st.PerKind[tap.KindFrame].Load(), size(st.RawBytes.Load()), size(st.Bytes.Load()), st.Files.Load())
	for _, f := range w.Files() {
		fmt.Fprintln(stdout, "  "+f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "arb record:", err)
		return 1
	}
	return 0
}

func recordLine(w *recording.Writer, f *wire.Feeds, el time.Duration) string {
	st := w.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %d records  %s", el.Round(time.Second), st.Records.Load(), size(st.Bytes.Load()))
	for _, s := range f.Status() {
		fmt.Fprintf(&b, "  %s: %d msgs, %d/%d books fresh", s.Name, s.Messages, s.Fresh, s.Books)
	}
	if n := st.Stalls.Load(); n > 0 {
		fmt.Fprintf(&b, "  stalls %d", n)
	}
	return b.String()
}

func size(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// loadConfig loads the config file, or the embedded default.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse(config.DefaultName, config.Default(), wire.Known())
	}
	return config.Load(path, wire.Known())
}

// parseTime reads an RFC 3339 time or Unix nanoseconds.
func parseTime(s string) (int64, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixNano(), nil
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err == nil && n > 0 {
		return n, nil
	}
	return 0, fmt.Errorf("%q is neither an RFC 3339 time nor Unix nanoseconds", s)
}

func recordCut(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arb record cut", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "start of the range")
	to := fs.String("to", "", "end of the range")
	out := fs.String("out", "", "the output file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" || *to == "" || *out == "" || fs.NArg() == 0 {
		fmt.Fprint(stderr, recordUsage)
		return 2
	}
	f, err1 := parseTime(*from)
	t, err2 := parseTime(*to)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(stderr, "arb record cut:", err)
		return 2
	}
	st, err := recording.Cut(*out, f, t, fs.Args()...)
	if err != nil {
		fmt.Fprintln(stderr, "arb record cut:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d records from %s (books warm up from %s), %d chunks copied, %d rewritten, %d skipped\n",
		*out, st.Records, time.Unix(0, f).UTC().Format(time.RFC3339), time.Unix(0, st.WarmFrom).UTC().Format(time.RFC3339Nano),
		st.ChunksCopied, st.ChunksRewritten, st.ChunksSkipped)
	return 0
}

func recordInfo(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, recordUsage)
		return 2
	}
	r, err := recording.Open(args...)
	if err != nil {
		fmt.Fprintln(stderr, "arb record info:", err)
		return 1
	}
	defer r.Close()
	var kinds [tap.NumKinds]uint64
	var first, last int64
	var meta *recording.Meta
	var buf []byte
	for {
		b, err := r.NextChunk(buf, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(stderr, "arb record info:", err)
			if errors.Is(err, recording.ErrTruncated) {
				continue
			}
			return 1
		}
		buf = b.Raw
		if meta == nil {
			meta, first = b.Meta, b.Hdr.MinTS
		}
		first, last = min(first, b.Hdr.MinTS), max(last, b.Hdr.MaxTS)
		if err := b.Records(func(x *recording.Record) bool { kinds[x.Kind]++; return true }); err != nil {
			fmt.Fprintln(stderr, "arb record info:", err)
			return 1
		}
	}
	if meta == nil {
		fmt.Fprintln(stderr, "arb record info: no chunks")
		return 1
	}
	st := r.Stats()
	fmt.Fprintf(stdout, "recording %s (format v%d), %d files, %d chunks, %s compressed, %s raw\n", meta.Recording, meta.Version,
		st.Files, st.Chunks, size(st.Bytes), size(st.RawBytes))
	fmt.Fprintf(stdout, "time      %s → %s (%s)\n", time.Unix(0, first).UTC().Format(time.RFC3339Nano),
		time.Unix(0, last).UTC().Format(time.RFC3339Nano), time.Duration(last-first).Round(time.Millisecond))
	if meta.TradeFrom != 0 {
		fmt.Fprintf(stdout, "cut from  %s\n", time.Unix(0, meta.TradeFrom).UTC().Format(time.RFC3339Nano))
	}
	for _, v := range meta.Venues {
		var syms []string
		for _, in := range v.Instruments {
			syms = append(syms, in.Canonical+"="+in.Symbol)
		}
		fmt.Fprintf(stdout, "venue %d   %s (%s, channel %q) %s\n", v.ID, v.Name, v.Kind, v.Channel, strings.Join(syms, " "))
	}
	for k := 1; k < tap.NumKinds; k++ {
		fmt.Fprintf(stdout, "%-17s %d\n", tap.Kind(k).String(), kinds[k])
	}
	_ = filepath.Base
	return 0
}
