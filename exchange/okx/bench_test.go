package okx

import (
	"bytes"
	"encoding/json"
	"testing"

	"arb/exchange"
)

// jsonPush is how a typical client decodes an OKX push: encoding/json into
// a struct with string fields.
type jsonPush struct {
	Arg struct {
		Channel string `json:"channel"`
		InstID  string `json:"instId"`
	} `json:"arg"`
	Action string `json:"action"`
	Data   []struct {
		Asks      [][]string `json:"asks"`
		Bids      [][]string `json:"bids"`
		TS        string     `json:"ts"`
		Checksum  int64      `json:"checksum"`
		PrevSeqID int64      `json:"prevSeqId"`
		SeqID     int64      `json:"seqId"`
	} `json:"data"`
}

// BenchmarkParse compares, per stream, three things on the same frame:
//
//   - scanner: the adapter's parse — the frame scanned into typed values,
//     the book looked up from "arg", prices and sizes converted to
//     fixed-point integers in the instrument's scale while the levels are
//     scanned, their wire strings kept (more work than the json side, which
//     leaves them as strings);
//   - encoding_json: encoding/json decoding it into a struct with string
//     fields, as a typical client does;
//   - handle_frame: the adapter's whole frame path, Session.HandleFrame —
//     parse, sequence check, merge into the book, checksum, publish into
//     the ring.
func BenchmarkParse(b *testing.B) {
	type stream struct {
		name  string
		setup func(testing.TB) (*harness, func() []byte)
	}
	streams := []stream{
		{"books_snapshot", func(t testing.TB) (*harness, func() []byte) {
			h := newHarness(t, "books", 0, testInst(1, "BTC-USDT", 2, 0))
			h.sess.SubscribeRequests(h.now)
			f := bytes.Replace(docMember(t, "ws_books_snapshot_push.json", "payload"), []byte(`-855196043`), []byte(`-2102840145`), 1)
			return h, func() []byte { return f }
		}},
		{"books_update", func(t testing.TB) (*harness, func() []byte) {
			h, f := steadyBooks(t, true)
			return h, func() []byte { f.next(); return f.b }
		}},
		{"books_update_checksum0", func(t testing.TB) (*harness, func() []byte) {
			h, f := steadyBooks(t, false)
			return h, func() []byte { f.next(); return f.b }
		}},
		{"bbo_tbt", func(t testing.TB) (*harness, func() []byte) {
			h, f := steadyFull(t, "bbo", "ws_bbo_tbt_push.json")
			return h, func() []byte { f.next(); return f.b }
		}},
		{"books5", func(t testing.TB) (*harness, func() []byte) {
			h, f := steadyFull(t, "books5", "ws_books5_push.json")
			return h, func() []byte { f.next(); return f.b }
		}},
	}
	for _, st := range streams {
		b.Run(st.name+"/scanner", func(b *testing.B) {
			h, next := st.setup(b)
			frame := next()
			p, sc := h.sess.p, h.sess.books[0].scale
			if !p.parse(frame) || p.m.unconv {
				b.Fatal("the frame does not take the fused read")
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !p.parse(frame) || !p.numbersOK(sc, false) || !p.m.haveSeq {
					b.Fatal("parse failed")
				}
			}
		})
		b.Run(st.name+"/encoding_json", func(b *testing.B) {
			_, next := st.setup(b)
			frame := next()
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var p jsonPush
				if err := json.Unmarshal(frame, &p); err != nil || len(p.Data) != 1 {
					b.Fatal(err)
				}
			}
		})
		b.Run(st.name+"/handle_frame", func(b *testing.B) {
			h, next := st.setup(b)
			var ev exchange.BookTop
			b.ReportAllocs()
			n := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f := next()
				n += len(f)
				h.sess.HandleFrame(f, h.now)
				if i&1023 == 0 {
					for h.ring.TryPop(&ev) {
					}
				}
			}
			b.StopTimer()
			b.SetBytes(int64(n / b.N))
			if !h.sess.Synced() || h.stats.ChecksumFailures.Load() != 0 {
				b.Fatal("benchmark left the steady state")
			}
		})
	}
}
