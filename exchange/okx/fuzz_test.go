package okx

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"arb/exchange"
)

// scriptFrames returns the frame lines of the sync scripts for channel,
// one seed per script (frames joined by newlines).
func scriptFrames(f testing.TB, channel string) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "sync", "*.txt"))
	var out [][]byte
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if !strings.Contains(string(raw), "channel="+channel+" ") {
			continue
		}
		var frames []string
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "frame "); ok {
				body, _, _ := strings.Cut(rest, " #")
				frames = append(frames, body)
			}
		}
		out = append(out, []byte(strings.Join(frames, "\n")))
	}
	return out
}

// FuzzHandleFrame feeds newline-separated frames to a "books" session and a
// reference model side by side. Invariants after every frame: no panic; every
// event published fresh is not crossed, belongs to a book the model holds as
// valid, and equals the model's top levels and seqId. (The adapter may be
// more conservative than the model — stale where the model is valid — never
// the reverse.)
func FuzzHandleFrame(f *testing.F) {
	snap := docMember(f, "ws_books_snapshot_push.json", "payload")
	upd := docMember(f, "ws_books_update_push.json", "payload")
	fix := func(b []byte, ck string) []byte { return bytes.Replace(b, []byte("-855196043"), []byte(ck), 1) }
	f.Add(bytes.Join([][]byte{snap, upd}, []byte("\n")))
	f.Add(bytes.Join([][]byte{fix(snap, "0"), fix(upd, "0")}, []byte("\n")))
	f.Add(bytes.Join([][]byte{fix(snap, "-2102840145"), fix(upd, "-2102840145")}, []byte("\n")))
	f.Add(docMember(f, "ws_subscribe_tickers.json", "error_response_example"))
	for _, s := range scriptFrames(f, "books") {
		f.Add(s)
	}
	insts := []exchange.Instrument{testInst(1, "BTC-USDT", 2, 8), testInst(2, "ETH-USDT", 2, 8)}
	f.Fuzz(func(t *testing.T, in []byte) {
		h := newHarnessRing(t, 64, "books", time.Second, insts...)
		h.sess.SubscribeRequests(h.now)
		m := newRefModel("books", insts)
		for _, fr := range bytes.Split(in, []byte("\n")) {
			h.frame(fr)
			m.apply(fr)
			if h.sess.NeedResubscribe() {
				h.sess.Resubscribe(h.now)
			}
			for _, ev := range h.drain() {
				if ev.Stale() {
					continue
				}
				i := int(ev.Inst) - 1
				if ev.Crossed() {
					t.Fatalf("crossed book published fresh after %q", fr)
				}
				st := &m.st[i]
				if !st.valid {
					t.Fatalf("inst %d published fresh but the model holds it invalid, after %q", ev.Inst, fr)
				}
				bids, asks := st.book.top(exchange.TopK)
				if ev.Seq != uint64(st.seq) || fmt.Sprint(ev.Bids[:ev.NBids]) != fmt.Sprint(bids) || fmt.Sprint(ev.Asks[:ev.NAsks]) != fmt.Sprint(asks) {
					t.Fatalf("after %q:\nadapter seq %d %v %v\nmodel   seq %d %v %v", fr, ev.Seq, ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], st.seq, bids, asks)
				}
			}
		}
	})
}

// FuzzHandleFrameFull does the same for the full-state channels (bbo-tbt,
// books5): every fresh event is exactly the best levels of the frame just
// handled, with its seqId, not crossed, and seqIds of fresh events only
// increase unless a stale event (a reset) came between.
func FuzzHandleFrameFull(f *testing.F) {
	f.Add(false, docMember(f, "ws_bbo_tbt_push.json", "payload"))
	f.Add(true, docMember(f, "ws_books5_push.json", "payload"))
	for _, s := range scriptFrames(f, "bbo") {
		f.Add(false, s)
		f.Add(true, bytes.ReplaceAll(s, []byte(`"bbo-tbt"`), []byte(`"books5"`)))
	}
	insts := []exchange.Instrument{testInst(1, "BTC-USDT", 2, 8), testInst(2, "BCH-USDT-SWAP", 2, 8)}
	f.Fuzz(func(t *testing.T, books5 bool, in []byte) {
		channel, wire, k := "bbo", "bbo-tbt", 1
		if books5 {
			channel, wire, k = "books5", "books5", 5
		}
		h := newHarnessRing(t, 64, channel, time.Second, insts...)
		h.sess.SubscribeRequests(h.now)
		var last [2]uint64
		var fresh, stale [2]bool
		for _, fr := range bytes.Split(in, []byte("\n")) {
			h.frame(fr)
			if h.sess.NeedResubscribe() {
				h.sess.Resubscribe(h.now)
			}
			for _, ev := range h.drain() {
				i := int(ev.Inst) - 1
				if ev.Stale() {
					stale[i] = true
					continue
				}
				seq, bids, asks, ok := refFullPush(fr, wire, insts[i].Symbol, insts[i].Scale, k)
				switch {
				case !ok:
					t.Fatalf("fresh event from a frame the reference rejects: %q", fr)
				case ev.Crossed():
					t.Fatalf("crossed book published fresh: %q", fr)
				case ev.Seq != uint64(seq) || fmt.Sprint(ev.Bids[:ev.NBids]) != fmt.Sprint(bids) || fmt.Sprint(ev.Asks[:ev.NAsks]) != fmt.Sprint(asks):
					t.Fatalf("after %q:\nadapter seq %d %v %v\nref     seq %d %v %v", fr, ev.Seq, ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], seq, bids, asks)
				case fresh[i] && !stale[i] && ev.Seq <= last[i]:
					t.Fatalf("seqId went from %d to %d without a stale event: %q", last[i], ev.Seq, fr)
				}
				last[i], fresh[i], stale[i] = ev.Seq, true, false
			}
		}
	})
}
