package recording

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"arb/exchange/tap"
)

func testMeta() Meta {
	return Meta{Venues: []VenueMeta{
		{ID: 1, Name: "binance", Kind: "binance", Instruments: []InstrumentMeta{{Canonical: "BTC-USDT", Symbol: "BTCUSDT", PxDecimals: 2, QtyDecimals: 8}}},
		{ID: 2, Name: "okx", Kind: "okx", Instruments: []InstrumentMeta{{Canonical: "BTC-USDT", Symbol: "BTC-USDT", PxDecimals: 2, QtyDecimals: 8}}},
	}}
}

type rec struct {
	kind  tap.Kind
	venue uint8
	conn  uint64
	ts    int64
	aux   uint32
	meta  string
	data  string
}

// script writes n records across two venues with opens and closes, in
// times that go slightly backwards across venues as real taps do.
func script(n int) []rec {
	var out []rec
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC).UnixNano()
	out = append(out, rec{tap.KindOpen, 1, 1, base, 0, "wss://a", ""}, rec{tap.KindOpen, 2, 1, base + 5, 1, "wss://b", ""})
	for i := 0; i < n; i++ {
		v := uint8(1 + i%2)
		ts := base + int64(i)*int64(time.Millisecond) - int64(i%3)*1000
		out = append(out, rec{tap.KindFrame, v, 1, ts, 0, "", fmt.Sprintf(`{"i":%d,"pad":"%x"}`, i, uint64(i)*0x9e3779b97f4a7c15^uint64(i*i)*0xff51afd7ed558ccd)})
		if i == n/2 {
			out = append(out, rec{tap.KindSnapshotReply, 1, 1, ts, 1, "BTCUSDT", "boom"})
		}
	}
	out = append(out, rec{tap.KindClose, 1, 1, base + int64(n)*int64(time.Millisecond), uint32(tap.CauseByOwner), "", ""})
	return out
}

func writeAll(t *testing.T, cfg WriterConfig, rs []rec) *Writer {
	t.Helper()
	w, err := NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		var meta, data []byte
		if r.meta != "" {
			meta = []byte(r.meta)
		}
		if r.data != "" {
			data = []byte(r.data)
		}
		w.Tap(r.kind, exchangeVenue(r.venue), r.conn, r.ts, r.aux, meta, data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w
}

func readAll(t *testing.T, paths ...string) ([]rec, ReaderStats) {
	t.Helper()
	r, err := Open(paths...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []rec
	var buf []byte
	for {
		b, err := r.NextChunk(buf, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		buf = b.Raw
		if err := b.Records(func(x *Record) bool {
			out = append(out, rec{x.Kind, x.Venue, x.Conn, x.TS, x.Aux, string(x.Meta), string(x.Data)})
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out, r.Stats()
}

func TestRoundTripAndRotation(t *testing.T) {
	dir := t.TempDir()
	rs := script(5000)
	w := writeAll(t, WriterConfig{Dir: dir, Meta: testMeta(), ChunkBytes: 16 << 10, RotateBytes: 16 << 10}, rs)
	files := w.Files()
	if len(files) < 3 {
		t.Fatalf("expected rotation into several files, got %v", files)
	}
	got, st := readAll(t, files...)
	if len(got) != len(rs) {
		t.Fatalf("read %d records, wrote %d", len(got), len(rs))
	}
	for i := range rs {
		if got[i] != rs[i] {
			t.Fatalf("record %d: got %+v want %+v", i, got[i], rs[i])
		}
	}
	if st.Files != uint64(len(files)) || st.Chunks < 10 || w.Stats().Records.Load() != uint64(len(rs)) {
		t.Fatalf("stats %+v, writer records %d", st, w.Stats().Records.Load())
	}
	// Every part carries the meta with its part number.
	for i, f := range files {
		r, _ := Open(f)
		if _, err := r.NextChunk(nil, nil); err != nil {
			t.Fatal(err)
		}
		if r.Meta().Part != i || len(r.Meta().Venues) != 2 || r.Meta().Recording == "" {
			t.Fatalf("part %d meta %+v", i, r.Meta())
		}
		r.Close()
	}
}

func TestTimeRotation(t *testing.T) {
	dir := t.TempDir()
	w := writeAll(t, WriterConfig{Dir: dir, Meta: testMeta(), ChunkEvery: 100 * time.Millisecond, RotateEvery: time.Second}, script(3500))
	if n := len(w.Files()); n != 4 {
		t.Fatalf("3.5 s of records with 1 s rotation: %d files", n)
	}
}

func TestCut(t *testing.T) {
	dir := t.TempDir()
	rs := script(4000)
	w := writeAll(t, WriterConfig{Dir: dir, Meta: testMeta(), ChunkBytes: 8 << 10}, rs)
	base := rs[0].ts
	from, to := base+int64(1500*time.Millisecond), base+int64(2500*time.Millisecond)
	out := filepath.Join(dir, "cut.arbrec")
	st, err := Cut(out, from, to, w.Files()...)
	if err != nil {
		t.Fatal(err)
	}
	// Both connections opened at the start and are open at from: the cut
	// keeps everything from the first open.
	if st.WarmFrom != base {
		t.Fatalf("warm from %d, want %d", st.WarmFrom, base)
	}
	if st.ChunksCopied == 0 {
		t.Fatalf("no chunk copied verbatim: %+v", st)
	}
	got, _ := readAll(t, out)
	var want []rec
	for _, r := range rs {
		if r.ts >= base && r.ts <= to {
			want = append(want, r)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("cut has %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: %+v want %+v", i, got[i], want[i])
		}
	}
	r, _ := Open(out)
	r.NextChunk(nil, nil)
	if r.Meta().TradeFrom != from {
		t.Fatalf("trade_from %d", r.Meta().TradeFrom)
	}
	r.Close()

	// After the connection closes, a cut starts at the survivor's open.
	out2 := filepath.Join(dir, "cut2.arbrec")
	late := rs[len(rs)-1].ts + 1
	if _, err := Cut(out2, late, late+1, w.Files()...); err == nil {
		t.Fatal("a cut after the last record succeeded")
	}
}

func TestSkipByHeader(t *testing.T) {
	dir := t.TempDir()
	rs := script(4000)
	w := writeAll(t, WriterConfig{Dir: dir, Meta: testMeta(), ChunkBytes: 8 << 10}, rs)
	r, _ := Open(w.Files()...)
	defer r.Close()
	cut := rs[0].ts + int64(3*time.Second)
	n := 0
	for {
		b, err := r.NextChunk(nil, func(h *ChunkHeader) bool { return h.MaxTS >= cut })
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if b.Hdr.MaxTS < cut {
			t.Fatal("unwanted chunk returned")
		}
	}
	st := r.Stats()
	if st.ChunksSkipped == 0 || n == 0 || st.Chunks != uint64(n) {
		t.Fatalf("stats %+v, %d returned", st, n)
	}
}

func TestCorruptAndTruncated(t *testing.T) {
	dir := t.TempDir()
	w := writeAll(t, WriterConfig{Dir: dir, Meta: testMeta(), ChunkBytes: 8 << 10}, script(2000))
	b, _ := os.ReadFile(w.Files()[0])
	check := func(name string, data []byte, want error) {
		t.Helper()
		r, _ := NewReader(name, bytes.NewReader(data))
		var err error
		for err == nil {
			_, err = r.NextChunk(nil, nil)
		}
		if !errors.Is(err, want) {
			t.Fatalf("%s: err %v, want %v", name, err, want)
		}
		if r.Stats().Rejected != 1 {
			t.Fatalf("%s: rejected %d", name, r.Stats().Rejected)
		}
	}
	check("truncated", b[:len(b)-10], ErrTruncated)
	flip := append([]byte(nil), b...)
	flip[len(flip)-20] ^= 0xff
	check("flipped", flip, ErrCorrupt)
	v := append([]byte(nil), b...)
	v[7] = 9
	check("version", v, ErrVersion)
	check("magic", []byte("not a recording at all"), ErrFormat)
}

func FuzzReader(f *testing.F) {
	dir := f.TempDir()
	cfg := WriterConfig{Dir: dir, Meta: testMeta(), ChunkBytes: 512}
	w, _ := NewWriter(cfg)
	for _, r := range script(20) {
		w.Tap(r.kind, exchangeVenue(r.venue), r.conn, r.ts, r.aux, []byte(r.meta), []byte(r.data))
	}
	w.Close()
	b, _ := os.ReadFile(w.Files()[0])
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("ARBREC\x1a\x01\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader("fuzz", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for i := 0; i < 64; i++ {
			b, err := r.NextChunk(nil, nil)
			if err != nil {
				return
			}
			n := 0
			err = b.Records(func(x *Record) bool {
				if len(x.Data) > len(b.Raw) || x.Kind == 0 || int(x.Kind) >= tap.NumKinds {
					t.Fatalf("record out of bounds: %+v", x)
				}
				n++
				return true
			})
			if err == nil && n != int(b.Hdr.Count) {
				t.Fatalf("%d records, header says %d", n, b.Hdr.Count)
			}
		}
	})
}
