package bybit

import (
	"bytes"
	"encoding/json"
	"testing"

	"arb/exchange"
	"arb/ringbuf"
)

// jsonBook is how a typical client decodes a Bybit book message with
// encoding/json: string fields, nested slices.
type jsonBook struct {
	Topic string `json:"topic"`
	Type  string `json:"type"`
	Ts    int64  `json:"ts"`
	Data  struct {
		S   string     `json:"s"`
		B   [][]string `json:"b"`
		A   [][]string `json:"a"`
		U   int64      `json:"u"`
		Seq int64      `json:"seq"`
	} `json:"data"`
	Cts int64 `json:"cts"`
}

// benchStream is one message type, in the compact form Bybit sends.
type benchStream struct {
	name  string
	bbo   bool
	frame []byte
}

func benchStreams(b *testing.B) []benchStream {
	var delta bytes.Buffer
	if err := json.Compact(&delta, readTestdata(b, "docs/ws_orderbook50_delta.json")); err != nil {
		b.Fatal(err)
	}
	return []benchStream{
		{name: "depth_delta", frame: delta.Bytes()},         // the docs' delta
		{name: "depth_snapshot50", frame: snapshot50(1e11)}, // 50 levels a side
		{name: "bbo", bbo: true, frame: []byte(bboFrame)},   // orderbook.1
	}
}

func benchSession(b *testing.B, st benchStream, ring *ringbuf.MPSC[exchange.BookTop]) *Session {
	cfg := testConfig(ring)
	if st.bbo {
		cfg.Channel, cfg.Depth = ChannelBBO, 1
		s := NewSession(&cfg, nil)
		s.Start(0)
		return s
	}
	return liveSession(b, &cfg)
}

// BenchmarkParse compares decoding the same message: the session's scanner
// (jsonscan, every price and size parsed into the instrument's fixed-point
// scale) against encoding/json into a struct of strings.
//
//	go test ./exchange/bybit -run '^$' -bench 'BenchmarkParse|BenchmarkHandleFrame' -benchmem -count 5 -benchtime 200ms
func BenchmarkParse(b *testing.B) {
	for _, st := range benchStreams(b) {
		b.Run(st.name+"/scanner", func(b *testing.B) {
			s := benchSession(b, st, ringbuf.NewMPSC[exchange.BookTop](64))
			var f frame
			b.SetBytes(int64(len(st.frame)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f = frame{book: -1}
				s.parseTop(st.frame, &f)
			}
			b.StopTimer()
			if s.sc.Err() != nil || !f.dataParsed || f.data.reject != 0 || f.data.nb+f.data.na == 0 {
				b.Fatalf("parse failed: %v %+v", s.sc.Err(), f.data)
			}
		})
		b.Run(st.name+"/encoding_json", func(b *testing.B) {
			b.SetBytes(int64(len(st.frame)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var m jsonBook
				if err := json.Unmarshal(st.frame, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandleFrame is the whole hot path of one frame: parse, sequence
// checks, apply to the book, trim, cut the top 10, publish into the ring
// (and the consumer's pop, to keep the ring from filling).
func BenchmarkHandleFrame(b *testing.B) {
	for _, st := range benchStreams(b) {
		b.Run(st.name, func(b *testing.B) {
			ring := ringbuf.NewMPSC[exchange.BookTop](64)
			s := benchSession(b, st, ring)
			next := func() []byte { return st.frame }
			if !st.bbo { // every delta and snapshot needs a new u
				next = newUPatcher(b, st.frame, 177400506).next
			}
			var ev exchange.BookTop
			drainRing(ring)
			b.SetBytes(int64(len(st.frame)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.HandleFrame(next(), int64(i+2))
				ring.TryPop(&ev)
			}
			b.StopTimer()
			if !s.Live(0) || ev.Stale() || ev.NBids == 0 {
				b.Fatal("frames were rejected")
			}
		})
	}
}
