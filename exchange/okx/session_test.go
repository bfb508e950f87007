package okx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/internal/l2"
	"arb/exchange/num"
)

// levelsOf converts doc levels [px, sz, ...] to exchange levels in sc.
func levelsOf(t *testing.T, in [][]string, sc num.Scale) []exchange.Level {
	t.Helper()
	var out []exchange.Level
	for _, l := range in {
		px, err1 := num.ParseString(l[0], sc.Px)
		q, err2 := num.ParseString(l[1], sc.Qty)
		if err1 != nil || err2 != nil {
			t.Fatalf("level %v", l)
		}
		out = append(out, exchange.Level{Px: num.Price(px), Qty: num.Qty(q)})
	}
	return out
}

type docPush struct {
	Data []struct {
		Asks, Bids [][]string
		TS         string
		Seq        uint64 `json:"seqId"`
	}
}

func checkFresh(t *testing.T, ev exchange.BookTop, id exchange.InstrumentID, seq uint64, tsMillis int64, bids, asks []exchange.Level) {
	t.Helper()
	if ev.Stale() || ev.Inst != id || ev.Venue != testVenue || ev.Seq != seq || ev.ExchTS != tsMillis*1e6 {
		t.Fatalf("event %+v", ev)
	}
	if fmt.Sprint(ev.Bids[:ev.NBids]) != fmt.Sprint(bids) || fmt.Sprint(ev.Asks[:ev.NAsks]) != fmt.Sprint(asks) {
		t.Fatalf("levels\n got %v %v\nwant %v %v", ev.Bids[:ev.NBids], ev.Asks[:ev.NAsks], bids, asks)
	}
}

// TestDocsBooksPushes feeds the docs' books snapshot and update verbatim.
// Their checksum (-855196043) is illustrative and does not match their
// levels, so verbatim they must be caught; with checksum 0 ("not provided")
// or the recomputed -2102840145 they must be accepted.
func TestDocsBooksPushes(t *testing.T) {
	snap := docMember(t, "ws_books_snapshot_push.json", "payload")
	upd := docMember(t, "ws_books_update_push.json", "payload")
	const illustrative = `"checksum":-855196043`
	if !bytes.Contains(snap, []byte(illustrative)) || !bytes.Contains(upd, []byte(illustrative)) {
		t.Fatal("docs pushes changed")
	}
	withCK := func(b []byte, ck string) []byte {
		return bytes.Replace(b, []byte(illustrative), []byte(`"checksum":`+ck), 1)
	}
	var p docPush
	if err := json.Unmarshal(snap, &p); err != nil {
		t.Fatal(err)
	}
	sc := num.Scale{Px: 2, Qty: 0}
	bids, asks := levelsOf(t, p.Data[0].Bids, sc)[:exchange.TopK-2], levelsOf(t, p.Data[0].Asks, sc)

	t.Run("verbatim snapshot is a checksum mismatch", func(t *testing.T) {
		h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 2, 0))
		h.sess.SubscribeRequests(h.now)
		h.frame(snap)
		if evs := h.drain(); len(evs) != 0 || h.stats.ChecksumFailures.Load() != 1 || !h.sess.NeedResubscribe() {
			t.Fatalf("events %v, checksum failures %d", evs, h.stats.ChecksumFailures.Load())
		}
	})
	for _, ck := range []string{"0", "-2102840145"} {
		t.Run("snapshot with checksum "+ck, func(t *testing.T) {
			h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 2, 0))
			h.sess.SubscribeRequests(h.now)
			h.frame(withCK(snap, ck))
			evs := h.drain()
			if len(evs) != 1 {
				t.Fatalf("events %v", evs)
			}
			checkFresh(t, evs[0], 1, 123456, 1597026383085, bids, asks)
			// The verbatim update: a mismatch again.
			h.frame(upd)
			if evs := h.drain(); len(evs) != 1 || !evs[0].Stale() || evs[0].Cause != exchange.CauseChecksum {
				t.Fatalf("verbatim update: %v", evs)
			}
		})
	}
	t.Run("update with checksum 0 continues the chain", func(t *testing.T) {
		h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 2, 0))
		h.sess.SubscribeRequests(h.now)
		h.frame(withCK(snap, "0"))
		h.frame(withCK(upd, "0"))
		evs := h.drain()
		if len(evs) != 2 {
			t.Fatalf("events %v", evs)
		}
		// The update re-sends every level unchanged: same book, next seqId.
		checkFresh(t, evs[1], 1, 123457, 1597026383085, bids, asks)
		if h.stats.Gaps.Load() != 0 || !h.sess.Synced() {
			t.Fatal("not in sync")
		}
	})
}

// TestChecksumVectors checks both documented vectors: the check string and
// the signed CRC32, through the adapter's book (raw strings kept by l2), the
// session's allocation-free buffer, the independent reference, and a whole
// snapshot frame carrying the documented integer.
func TestChecksumVectors(t *testing.T) {
	var f struct {
		Vectors []struct {
			Name   string
			Inputs struct{ Bids, Asks [][]string }
			String string `json:"expected_check_string"`
			Sum    int32  `json:"expected_checksum"`
		}
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "docs", "checksum_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f); err != nil || len(f.Vectors) != 2 {
		t.Fatalf("%v %d", err, len(f.Vectors))
	}
	sc := num.Scale{Px: 2, Qty: 0}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			b := l2.New(400, true)
			var rb, ra []refLevel
			for _, side := range []struct {
				s   *l2.Side
				in  [][]string
				ref *[]refLevel
			}{{&b.Bids, v.Inputs.Bids, &rb}, {&b.Asks, v.Inputs.Asks, &ra}} {
				for _, l := range side.in {
					px, _ := num.ParseString(l[0], sc.Px)
					q, _ := num.ParseString(l[1], sc.Qty)
					if err := side.s.SetRaw(num.Price(px), num.Qty(q), []byte(l[0]), []byte(l[1])); err != nil {
						t.Fatal(err)
					}
					*side.ref = append(*side.ref, refLevel{pxRaw: l[0], szRaw: l[1]})
				}
			}
			var buf checkBuf
			if got := string(checkString(&buf, b)); got != v.String {
				t.Fatalf("check string %q, want %q", got, v.String)
			}
			h := newHarness(t, "books", time.Second, testInst(1, "ETH-USDT", 2, 0))
			if got := h.sess.checksum(b); got != v.Sum {
				t.Fatalf("checksum %d, want %d", got, v.Sum)
			}
			if got := int32(refCRC32([]byte(refCheckString(rb, ra)))); got != v.Sum {
				t.Fatalf("reference checksum %d, want %d", got, v.Sum)
			}
			// End to end: a snapshot with the documented integer is accepted.
			var bids, asks [][2]string
			for _, l := range v.Inputs.Bids {
				bids = append(bids, [2]string{l[0], l[1]})
			}
			for _, l := range v.Inputs.Asks {
				asks = append(asks, [2]string{l[0], l[1]})
			}
			h.sess.SubscribeRequests(h.now)
			h.frame(booksFrame("ETH-USDT", "snapshot", bids, asks, -1, 1, v.Sum, 1))
			if evs := h.drain(); len(evs) != 1 || evs[0].Stale() || h.stats.ChecksumFailures.Load() != 0 {
				t.Fatalf("snapshot with the documented checksum: %v", evs)
			}
		})
	}
}

// TestChecksumCoversTop25Interleaved: more than 25 levels on one side and
// fewer on the other, against the reference built independently.
func TestChecksumCoversTop25Interleaved(t *testing.T) {
	var bids, asks [][2]string
	for i := 0; i < 40; i++ {
		bids = append(bids, [2]string{fmt.Sprintf("%d.%02d", 1000-i, i), fmt.Sprint(i + 1)})
	}
	for i := 0; i < 7; i++ {
		asks = append(asks, [2]string{fmt.Sprintf("%d.5", 1001+i), fmt.Sprintf("0.%d", i+1)})
	}
	want := refChecksumOf(bids[:25], asks)
	h := newHarness(t, "books", time.Second, testInst(1, "X-Y", 2, 1))
	h.sess.SubscribeRequests(h.now)
	h.frame(booksFrame("X-Y", "snapshot", bids, asks, -1, 1, want, 1))
	if evs := h.drain(); len(evs) != 1 || evs[0].Stale() {
		t.Fatalf("%v (failures %d)", evs, h.stats.ChecksumFailures.Load())
	}
	// An implementation that also took the 26th bid would compute this:
	s26 := refCheckString(nil, nil)
	for k := 0; k < 26; k++ {
		s26 += bids[k][0] + ":" + bids[k][1] + ":"
		if k < len(asks) {
			s26 += asks[k][0] + ":" + asks[k][1] + ":"
		}
	}
	if int32(refCRC32([]byte(strings.TrimSuffix(s26, ":")))) == want {
		t.Fatal("the 26th level must change the sum for this test to mean anything")
	}
}

// TestDocsSeqIdSequence follows the docs' numbered Sequence ID example
// (snapshot, normal update, keep-alive, reset after maintenance, normal
// update): every message is accepted, and removing any one of them is a gap
// exactly when the removed message moved the sequence.
func TestDocsSeqIdSequence(t *testing.T) {
	var ex struct {
		Messages []struct {
			Kind      string
			PrevSeqID int64 `json:"prevSeqId"`
			SeqID     int64 `json:"seqId"`
		}
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "docs", "ws_seqid_sequence_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ex); err != nil || len(ex.Messages) != 5 {
		t.Fatal(err)
	}
	frames := make([][]byte, len(ex.Messages))
	for k, m := range ex.Messages {
		action, bids := "update", [][2]string{{"100", fmt.Sprint(k + 1)}}
		switch {
		case strings.HasPrefix(m.Kind, "snapshot"):
			action = "snapshot"
		case strings.Contains(m.Kind, "keep-alive"):
			bids = nil
		}
		frames[k] = booksFrame("BTC-USDT", action, bids, [][2]string{{"101", "1"}}[:btoi(action == "snapshot")], m.PrevSeqID, m.SeqID, 0, 1000+int64(k))
	}
	run := func(skip int) (*harness, []exchange.BookTop) {
		h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 2, 8))
		h.sess.SubscribeRequests(h.now)
		var evs []exchange.BookTop
		for k, f := range frames {
			if k != skip {
				h.frame(f)
				evs = append(evs, h.drain()...)
			}
		}
		return h, evs
	}
	h, evs := run(-1)
	if h.stats.Gaps.Load() != 0 || !h.sess.Synced() {
		t.Fatalf("gaps %d", h.stats.Gaps.Load())
	}
	var seqs []uint64
	for _, e := range evs {
		if e.Stale() {
			t.Fatalf("stale %v", e)
		}
		seqs = append(seqs, e.Seq)
	}
	// The keep-alive publishes nothing; the reset (seqId 3 < 15) is accepted.
	if fmt.Sprint(seqs) != "[10 15 3 5]" {
		t.Fatalf("published seqs %v", seqs)
	}
	for skip := 1; skip < len(frames); skip++ {
		m := ex.Messages[skip]
		wantGap := m.SeqID != m.PrevSeqID && skip < len(frames)-1
		h, _ := run(skip)
		if got := h.stats.Gaps.Load() == 1; got != wantGap {
			t.Errorf("without message %d (%s): gap = %v, want %v", skip, m.Kind, got, wantGap)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDocsFullStatePushes: the docs' bbo-tbt and books5 pushes.
func TestDocsFullStatePushes(t *testing.T) {
	for _, tc := range []struct{ channel, file string }{{"bbo", "ws_bbo_tbt_push.json"}, {"books5", "ws_books5_push.json"}} {
		t.Run(tc.channel, func(t *testing.T) {
			frame := docMember(t, tc.file, "payload")
			var p docPush
			if err := json.Unmarshal(frame, &p); err != nil {
				t.Fatal(err)
			}
			sc := num.Scale{Px: 2, Qty: 0}
			h := newHarness(t, tc.channel, time.Second, testInst(7, "BCH-USDT-SWAP", sc.Px, sc.Qty))
			h.sess.SubscribeRequests(h.now)
			h.frame(frame)
			evs := h.drain()
			if len(evs) != 1 {
				t.Fatalf("%v", evs)
			}
			checkFresh(t, evs[0], 7, 363996337, 1670324386802, levelsOf(t, p.Data[0].Bids, sc), levelsOf(t, p.Data[0].Asks, sc))
			h.frame(frame) // the same seqId again: a duplicate
			if evs := h.drain(); len(evs) != 0 || h.stats.Rejects(exchange.RejectSequence) != 1 {
				t.Fatalf("duplicate: %v", evs)
			}
		})
	}
}

// TestDocsSubscribeMessages: our request has the docs' shape, and the docs'
// ack, error and notice are handled as documented.
func TestDocsSubscribeMessages(t *testing.T) {
	var r requests
	r.limit = maxArgsBytes
	r.add("subscribe", "tickers", []string{"BTC-USDT"})
	if got, want := string(r.frames()[0]), string(docMember(t, "ws_subscribe_tickers.json", "request")); got != want {
		t.Fatalf("request\n got %s\nwant %s", got, want)
	}
	h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 2, 8))
	h.sess.SubscribeRequests(h.now)
	h.frame(docMember(t, "ws_subscribe_tickers.json", "response")) // an ack (for a channel we do not use)
	if h.stats.Rejects(exchange.RejectUnexpected) != 0 || h.stats.Rejects(exchange.RejectSyntax) != 0 || h.sess.NeedResubscribe() {
		t.Fatal("ack")
	}
	h.frame(docMember(t, "ws_subscribe_tickers.json", "error_response_example"))
	if h.stats.Rejects(exchange.RejectUnexpected) != 1 || !h.sess.NeedResubscribe() {
		t.Fatal("error: the waiting subscription must be retried")
	}
	if !strings.Contains(h.logs.String(), "60012") {
		t.Fatalf("error not logged: %s", h.logs)
	}
	h.frame(docMember(t, "ws_subscribe_tickers.json", "service_upgrade_notice"))
	if !h.sess.NeedHandover() {
		t.Fatal("notice 64008")
	}
}

// TestRequestsSplit: requests stay under the args limit, keep order and
// cover every symbol exactly once.
func TestRequestsSplit(t *testing.T) {
	var syms []string
	for i := 0; i < exchange.MaxInstruments; i++ {
		syms = append(syms, fmt.Sprintf("%s-%04d", strings.Repeat("A", MaxSymbolLen-5), i))
	}
	for _, limit := range []int{200, 1000, maxArgsBytes} {
		r := requests{limit: limit}
		r.add("subscribe", "books", syms)
		var got []string
		frames := r.frames()
		for _, f := range frames {
			var req struct {
				Op   string
				Args []map[string]string
			}
			if err := json.Unmarshal(f, &req); err != nil || req.Op != "subscribe" {
				t.Fatalf("%v %s", err, f)
			}
			args := f[bytes.IndexByte(f, '[') : bytes.LastIndexByte(f, ']')+1]
			if len(args) > limit {
				t.Fatalf("limit %d: args of %d bytes", limit, len(args))
			}
			for _, a := range req.Args {
				if a["channel"] != "books" {
					t.Fatal(a)
				}
				got = append(got, a["instId"])
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(syms) {
			t.Fatalf("limit %d: symbols differ", limit)
		}
		if limit == maxArgsBytes && (len(frames) < 2 || 65536 < maxArgsBytes) {
			t.Fatalf("1024 long symbols need more than one 64 KB request, got %d", len(frames))
		}
	}
}

// TestOpBudget: the sliding hour allows opsPerHour requests and no more.
func TestOpBudget(t *testing.T) {
	var b opBudget
	b.init(5)
	hour := int64(time.Hour)
	for i := 0; i < 5; i++ {
		if !b.take(int64(i), 1) {
			t.Fatal(i)
		}
	}
	if b.take(10, 1) || b.take(hour-1, 1) {
		t.Fatal("over budget within the hour")
	}
	if !b.take(hour, 1) || b.take(hour, 1) {
		t.Fatal("the first op expires after an hour, one slot only")
	}
	if !b.take(hour+4, 4) || b.take(hour+4, 1) {
		t.Fatal("all expired")
	}
}

// TestSubscribeBudgetFallsBackToReconnect: a book resynced over and over
// exhausts the hourly budget (OKX: 480 subscribe/unsubscribe per hour);
// the session then asks for a reconnect instead of exceeding it.
func TestSubscribeBudgetFallsBackToReconnect(t *testing.T) {
	h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 2, 8))
	h.sess.SubscribeRequests(h.now)
	snap := func(seq int64) []byte {
		return booksFrame("BTC-USDT", "snapshot", [][2]string{{"1", "1"}}, [][2]string{{"2", "1"}}, -1, seq, 0, 1)
	}
	gap := func(seq int64) []byte {
		return booksFrame("BTC-USDT", "update", nil, nil, seq+5, seq+6, 0, 1)
	}
	resubs := 0
	for seq := int64(1); ; seq += 10 {
		h.frame(snap(seq))
		h.frame(gap(seq))
		if !h.sess.NeedResubscribe() {
			t.Fatal("gap must ask for a resubscribe")
		}
		if h.sess.Resubscribe(h.now) == nil {
			break
		}
		resubs++
		if resubs > opsPerHour {
			t.Fatal("budget not enforced")
		}
	}
	// 1 subscribe at start, then 2 requests per resync.
	if resubs != (opsPerHour-1)/2 {
		t.Fatalf("%d resyncs before the budget ran out", resubs)
	}
	if c, ok := h.sess.NeedReconnect(); !ok || c != exchange.CauseGap {
		t.Fatalf("NeedReconnect %v %v", c, ok)
	}
	if h.sess.NeedResubscribe() {
		t.Fatal("no resubscribe once reconnecting")
	}
}

// TestConfigValidate names the field of each mistake.
func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Venue: 1, Instruments: []exchange.Instrument{testInst(1, "BTC-USDT", 2, 8)}, Ring: newHarness(t, "", 0, testInst(1, "A", 0, 0)).ring}
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Venue", func(c *Config) { c.Venue = 0 }},
		{"WSURL", func(c *Config) { c.WSURL = "http://x" }},
		{"RESTURL", func(c *Config) { c.RESTURL = "ftp://x" }},
		{"Channel", func(c *Config) { c.Channel = "trades" }},
		{"Depth", func(c *Config) { c.Depth = 10 }},
		{"Depth", func(c *Config) { c.Channel, c.Depth = "bbo", 5 }},
		{"Instruments", func(c *Config) { c.Instruments = nil }},
		{"Instruments[0].Symbol", func(c *Config) { c.Instruments[0].Symbol = `BTC"USDT` }},
		{"Instruments[1].Symbol", func(c *Config) { c.Instruments = append(c.Instruments, c.Instruments[0]) }},
		{"Instruments[0].ID", func(c *Config) { c.Instruments[0].ID = 0 }},
		{"Instruments[0].Scale", func(c *Config) { c.Instruments[0].Scale.Px = 19 }},
		{"PingEvery", func(c *Config) { c.PingEvery = 30 * time.Second }},
		{"Lifetime", func(c *Config) { c.Lifetime = time.Millisecond }},
		{"BackoffMin", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond }},
		{"MaxFrame", func(c *Config) { c.MaxFrame = 100 }},
		{"Ring", func(c *Config) { c.Ring = nil }},
	} {
		c := good()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
	c = good()
	d := c.withDefaults()
	if d.Depth != DefaultDepth || d.AgeMax != DefaultAgeMax || d.pingIdle() != DefaultAgeMax/3 || d.wsEndpoint() != DefaultWSURL+PublicPath {
		t.Fatalf("defaults %+v", d)
	}
	c.WSURL = "ws://127.0.0.1:1/ws/v5/public"
	if d := c.withDefaults(); d.wsEndpoint() != c.WSURL {
		got := d.wsEndpoint()
		t.Fatal(got)
	}
}

// TestActivationRepublishes: a session that becomes the publishing one
// republishes its synced books (handover), and not its unsynced ones.
func TestActivationRepublishes(t *testing.T) {
	h := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 2, 8), testInst(2, "ETH-USDT", 2, 8))
	// Rebuild the session behind an owner that is someone else.
	h.owner = new(feedOwner)
	h.owner.Take(1)
	pub := newPublisher(h, 2)
	h.sess = NewSession(&h.cfg, pub)
	h.sess.SubscribeRequests(h.now)
	h.frame(booksFrame("BTC-USDT", "snapshot", [][2]string{{"1", "1"}}, [][2]string{{"2", "1"}}, -1, 7, 0, 1))
	if evs := h.drain(); len(evs) != 0 {
		t.Fatalf("a candidate publishes nothing: %v", evs)
	}
	h.owner.Take(2)
	h.now += 10
	h.sess.Tick(h.now)
	evs := h.drain()
	if len(evs) != 1 || evs[0].Stale() || evs[0].Inst != 1 || evs[0].Seq != 7 || evs[0].RecvTS != h.now {
		t.Fatalf("%v", evs)
	}
}

// TestSessionFromSpare: a session taking the buffers of a finished one
// (a 400-level book, fed and then disconnected) publishes, frame for frame,
// what a new session publishes, and counts the same.
func TestSessionFromSpare(t *testing.T) {
	old, f := steadyBooks(t, true)
	for i := 0; i < 50; i++ {
		f.next()
		old.frame(f.b)
	}
	old.sess.Disconnected(exchange.CauseDisconnect, old.now)
	fresh := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 1, 8))
	reused := newHarness(t, "books", time.Second, testInst(1, "BTC-USDT", 1, 8))
	reused.sess = newSession(&reused.cfg, reused.pub, old.sess)
	if reused.sess.books[0].l2 != old.sess.books[0].l2 || reused.sess.p != old.sess.p {
		t.Fatal("the spare's buffers were not taken")
	}
	bids := [][2]string{{"59990.5", "1"}, {"59990.1", "2"}, {"59989", "0.5"}}
	asks := [][2]string{{"59991", "1.5"}, {"59992.2", "0.25"}}
	frames := [][]byte{
		booksFrame("BTC-USDT", "snapshot", bids, asks, -1, 100, refChecksumOf(bids, asks), 1700000000000),
		booksFrame("BTC-USDT", "update", [][2]string{{"59990.5", "0"}}, nil, 100, 101,
			refChecksumOf(bids[1:], asks), 1700000000001),
		booksFrame("BTC-USDT", "update", nil, [][2]string{{"59991.5", "3"}}, 101, 102, 12345, 1700000000002), // wrong checksum
		booksFrame("BTC-USDT", "snapshot", bids, asks, -1, 200, refChecksumOf(bids, asks), 1700000000003),
	}
	for _, h := range []*harness{fresh, reused} {
		h.sess.SubscribeRequests(h.now)
	}
	for k, fr := range frames {
		for _, h := range []*harness{fresh, reused} {
			h.now += int64(time.Millisecond)
			h.frame(fr)
			h.sess.Tick(h.now)
		}
		a, b := fresh.drain(), reused.drain()
		if len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("frame %d: new session published %v, the one from a spare %v", k, a, b)
		}
	}
	if a, b := fresh.stats.ChecksumFailures.Load(), reused.stats.ChecksumFailures.Load(); a != 1 || b != 1 {
		t.Fatalf("checksum failures %d and %d, want 1", a, b)
	}
}
