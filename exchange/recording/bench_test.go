package recording

import (
	"io"
	"os"
	"testing"
)

// benchRecording is the backtest's test recording: 30 s of three
// simulated venues (29 chunks of about 30 KB).
const benchRecording = "../../cmd/internal/backtest/testdata/sim3.arbrec"

// BenchmarkNextChunk reads and decompresses every chunk of a recording,
// passing each chunk's buffer back for the next, as a replay's source
// does. Metric: raw bytes decompressed per second.
func BenchmarkNextChunk(b *testing.B) {
	if _, err := os.Stat(benchRecording); err != nil {
		b.Skip(err)
	}
	var raw uint64
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(benchRecording)
		if err != nil {
			b.Fatal(err)
		}
		var buf []byte
		for {
			blk, err := r.NextChunk(buf, nil)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			buf = blk.Raw
			raw += uint64(len(blk.Raw))
		}
		r.Close()
	}
	b.SetBytes(int64(raw) / int64(b.N))
}
