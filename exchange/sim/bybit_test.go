package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

type bybitPush struct {
	Topic string `json:"topic"`
	Type  string `json:"type"`
	TS    int64  `json:"ts"`
	Data  struct {
		S   string     `json:"s"`
		B   [][]string `json:"b"`
		A   [][]string `json:"a"`
		U   uint64     `json:"u"`
		Seq uint64     `json:"seq"`
	} `json:"data"`
	CTS int64 `json:"cts"`
}

func bybitPushOf(t testing.TB, m []byte) bybitPush {
	t.Helper()
	var p bybitPush
	if err := json.Unmarshal(m, &p); err != nil || p.Topic == "" {
		t.Fatalf("push %s: %v", m, err)
	}
	return p
}

func TestBybitShapesAndControl(t *testing.T) {
	s := newSim(t, nil)
	c := dial(t, mustURLs(t, s, "bybit").WS)
	var pp struct {
		Pongs []json.RawMessage `json:"pong_examples_verbatim"`
		Subs  []string          `json:"subscribe_examples_verbatim_text"`
	}
	loadJSON(t, "bybit/ws_ping_pong_and_subscribe.json", &pp)
	c.sendText(`{"req_id":"x","op":"subscribe","args":["orderbook.50.BTCUSDT","orderbook.1.BTCUSDT"]}`)
	ack := c.next(time.Second)
	// The documented public subscribe answer with req_id (the 4th example).
	if err := shapeDiff(ack, []byte(pp.Subs[3])); err != nil || !strings.Contains(string(ack), `"success":true`) || !strings.Contains(string(ack), `"req_id":"x"`) {
		t.Fatalf("ack %s: %v", ack, err)
	}
	delta := loadPayload(t, "bybit/ws_orderbook50_delta.json")
	for range 2 {
		m := c.next(time.Second)
		p := bybitPushOf(t, m)
		if p.Type != "snapshot" {
			t.Fatalf("first message %s", m)
		}
		if err := shapeDiff(m, delta); err != nil {
			t.Fatal(err)
		}
		if p.Topic == "orderbook.50.BTCUSDT" && (len(p.Data.B) != 50 || len(p.Data.A) != 50) {
			t.Fatalf("depth 50 snapshot has %d/%d levels", len(p.Data.B), len(p.Data.A))
		}
		if p.Topic == "orderbook.1.BTCUSDT" && (len(p.Data.B) != 1 || len(p.Data.A) != 1) {
			t.Fatal("depth 1 snapshot must have one level per side")
		}
		for _, l := range append(p.Data.B, p.Data.A...) {
			if i := strings.IndexByte(l[0], '.'); i < 0 || len(l[0])-i-1 != 2 {
				t.Fatalf("price %q not printed with the tick's 2 decimals", l[0])
			}
			if i := strings.IndexByte(l[1], '.'); i < 0 || len(l[1])-i-1 != 4 {
				t.Fatalf("size %q not printed with the step's 4 decimals", l[1])
			}
		}
	}
	steps(s, 3)
	d := c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"type":"delta"`) })
	if err := shapeDiff(d, delta); err != nil {
		t.Fatal(err)
	}
	c.sendText(`{"op":"ping"}`)
	pong := c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"ret_msg":"pong"`) })
	if err := shapeDiff(pong, pp.Pongs[0]); err != nil {
		t.Fatalf("pong %s: %v", pong, err)
	}
	c.sendText(`{"req_id":"100001","op":"ping"}`)
	pong = c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"ret_msg":"pong"`) })
	if err := shapeDiff(pong, pp.Pongs[1]); err != nil || !strings.Contains(string(pong), `"req_id":"100001"`) {
		t.Fatalf("pong %s: %v", pong, err)
	}
	for _, tc := range []struct{ req, want string }{
		{`{"op":"subscribe","args":["orderbook.50.FOOUSDT"]}`, `"ret_msg":"error:handler not found,topic:orderbook.50.FOOUSDT"`},
		{`{"op":"subscribe","args":["orderbook.50.BTCUSDT"]}`, `"ret_msg":"error:already subscribed`},
		{`{"op":"subscribe","args":["orderbook.1.A","orderbook.1.B","orderbook.1.C","orderbook.1.D","orderbook.1.E","orderbook.1.F","orderbook.1.G","orderbook.1.H","orderbook.1.I","orderbook.1.J","orderbook.1.K"]}`, `"success":false`},
	} {
		c.sendText(tc.req)
		if r := c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"op":"subscribe"`) }); !strings.Contains(string(r), tc.want) {
			t.Errorf("%s → %s", tc.req, r)
		}
	}
}

// bybitTopic is one client's view of one Bybit topic: the book rebuilt from
// its snapshot and deltas with the map model, and its last u and seq.
type bybitTopic struct {
	ref    *refBook
	n      int // depth
	u, seq uint64
	pushes int
	last   bybitPush
}

func topicDepth(topic string) int {
	n, _ := strconv.Atoi(strings.Split(topic, ".")[1])
	return n
}

// follow applies one push to the topic's state and checks the documented
// sequence rules: the first push is a snapshot; a depth topic's delta has
// u = previous u + 1 (per topic) and a larger seq; orderbook.1 sends
// snapshots only, each changed one with u + 1, an unchanged re-send with the
// same u, seq and levels. The rebuilt book must equal the simulator's state
// at the push's seq (its top n, at most the 25 BookAt keeps).
func (tp *bybitTopic) follow(t *testing.T, s *Sim, sym string, p bybitPush) {
	t.Helper()
	sc := scaleOf(s, sym)
	switch {
	case tp.pushes == 0:
		if p.Type != "snapshot" {
			t.Fatalf("%s: first push is a %s", p.Topic, p.Type)
		}
	case tp.n == 1:
		if p.Type != "snapshot" {
			t.Fatalf("%s sent a %s", p.Topic, p.Type)
		}
		if p.Data.U == tp.u { // the 3 s re-send of an unchanged book
			if p.Data.Seq != tp.seq || fmt.Sprint(p.Data.B, p.Data.A) != fmt.Sprint(tp.last.Data.B, tp.last.Data.A) {
				t.Fatalf("%s re-sent u=%d with other content: %+v after %+v", p.Topic, p.Data.U, p.Data, tp.last.Data)
			}
		} else if p.Data.U != tp.u+1 || p.Data.Seq <= tp.seq {
			t.Fatalf("%s: u=%d seq=%d after u=%d seq=%d", p.Topic, p.Data.U, p.Data.Seq, tp.u, tp.seq)
		}
	default:
		if p.Type != "delta" {
			t.Fatalf("%s: unexpected mid-stream %s", p.Topic, p.Type)
		}
		if p.Data.U != tp.u+1 {
			t.Fatalf("%s: delta u=%d after u=%d: not contiguous per topic", p.Topic, p.Data.U, tp.u)
		}
		if p.Data.Seq <= tp.seq {
			t.Fatalf("%s: seq %d after %d: must grow per state", p.Topic, p.Data.Seq, tp.seq)
		}
	}
	if p.Type == "snapshot" {
		tp.ref = newRef()
	}
	tp.ref.apply(t, sc, p.Data.B, p.Data.A)
	tp.u, tp.seq, tp.last = p.Data.U, p.Data.Seq, p
	tp.pushes++
	gb, ga := tp.ref.levels(t, sc, 1000)
	if len(gb) > tp.n || len(ga) > tp.n {
		t.Fatalf("%s holds %d/%d levels", p.Topic, len(gb), len(ga))
	}
	k := min(tp.n, 25)
	wb, wa, ok := s.BookAt("bybit", sym, p.Data.Seq)
	if !ok {
		t.Fatalf("%s: no state at seq %d", p.Topic, p.Data.Seq)
	}
	gb, ga = tp.ref.levels(t, sc, k)
	if !levelsEqual(gb, wb[:min(k, len(wb))]) || !levelsEqual(ga, wa[:min(k, len(wa))]) {
		t.Fatalf("%s at seq %d (u %d): rebuilt book differs from BookAt\n bids %v\n want %v\n asks %v\n want %v",
			p.Topic, p.Data.Seq, p.Data.U, gb, wb[:min(k, len(wb))], ga, wa[:min(k, len(wa))])
	}
}

// TestBybitSyncProcedure rebuilds orderbook.50, orderbook.200 and
// orderbook.1 from snapshot and deltas with a map model: u is contiguous
// per topic, seq grows per state and names the state (BookAt). The topics
// count u independently — orderbook.50 skips the states that changed only
// deeper levels without a gap in its u — and u is the venue's, not the
// connection's: a second subscriber's snapshot carries the topic's current
// u and seq, and both then receive the same deltas.
func TestBybitSyncProcedure(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.Venues[2].Levels = 250
		c.Dislocation.Prob = 0.05
	})
	steps(s, 3)
	c := dial(t, mustURLs(t, s, "bybit").WS)
	c.sendText(`{"op":"subscribe","args":["orderbook.50.ETHUSDT","orderbook.200.ETHUSDT","orderbook.1.ETHUSDT"]}`)
	c.next(time.Second)
	topics := map[string]*bybitTopic{}
	for _, tp := range []string{"orderbook.50.ETHUSDT", "orderbook.200.ETHUSDT", "orderbook.1.ETHUSDT"} {
		topics[tp] = &bybitTopic{n: topicDepth(tp)}
	}
	seqs := map[string]map[uint64]bool{"orderbook.50.ETHUSDT": {}, "orderbook.200.ETHUSDT": {}}
	var c2 *wsClient
	var c2Topic *bybitTopic
	var c1After, c2Got []string // orderbook.50 deltas after c2 joined
	for step := range 100 {
		if step > 0 {
			s.Step()
		}
		for _, m := range c.flush(KindBybit) {
			p := bybitPushOf(t, m)
			topics[p.Topic].follow(t, s, "ETH-USDT", p)
			if seqs[p.Topic] != nil {
				seqs[p.Topic][p.Data.Seq] = true
			}
			if c2 != nil && p.Topic == "orderbook.50.ETHUSDT" {
				c1After = append(c1After, string(m))
			}
		}
		if c2 != nil {
			for _, m := range c2.flush(KindBybit) {
				p := bybitPushOf(t, m)
				c2Topic.follow(t, s, "ETH-USDT", p)
				if p.Type == "delta" {
					c2Got = append(c2Got, string(m))
				}
			}
		}
		if step == 50 {
			c2 = dial(t, mustURLs(t, s, "bybit").WS)
			c2.sendText(`{"op":"subscribe","args":["orderbook.50.ETHUSDT"]}`)
			c2.next(time.Second)
			p := bybitPushOf(t, c2.next(time.Second))
			t1 := topics["orderbook.50.ETHUSDT"]
			if p.Type != "snapshot" || p.Data.U != t1.u || p.Data.Seq != t1.seq {
				t.Fatalf("second subscriber's snapshot u=%d seq=%d, the topic is at u=%d seq=%d", p.Data.U, p.Data.Seq, t1.u, t1.seq)
			}
			c2Topic = &bybitTopic{n: 50}
			c2Topic.follow(t, s, "ETH-USDT", p)
		}
	}
	if n50, n200 := topics["orderbook.50.ETHUSDT"].pushes, topics["orderbook.200.ETHUSDT"].pushes; n50 < 50 || n200 < 80 || n200 <= n50 {
		t.Fatalf("pushes: depth 50 %d, depth 200 %d", n50, n200)
	}
	// The premise of per-topic u: orderbook.200 pushed states orderbook.50
	// did not (only deeper levels changed), yet orderbook.50's u never
	// skipped (follow checked u + 1).
	skipped := 0
	for seq := range seqs["orderbook.200.ETHUSDT"] {
		if !seqs["orderbook.50.ETHUSDT"][seq] {
			skipped++
		}
	}
	if skipped == 0 {
		t.Fatal("orderbook.50 pushed every state orderbook.200 pushed: the test does not exercise independent u")
	}
	// Frames still on their way to the first subscriber (its drains are
	// short) are waited for, not assumed lost.
	for len(c1After) < len(c2Got) {
		m := c.next(5 * time.Second)
		p := bybitPushOf(t, m)
		topics[p.Topic].follow(t, s, "ETH-USDT", p)
		if p.Topic == "orderbook.50.ETHUSDT" {
			c1After = append(c1After, string(m))
		}
	}
	if len(c2Got) < 20 || fmt.Sprint(c2Got) != fmt.Sprint(c1After[:len(c2Got)]) {
		t.Fatalf("the two subscribers got different deltas (%d vs %d)", len(c2Got), len(c1After))
	}
	if ob1 := topics["orderbook.1.ETHUSDT"]; ob1.pushes < 10 {
		t.Fatalf("orderbook.1 pushed %d times", ob1.pushes)
	}
}

func TestBybitLevel1Resend(t *testing.T) {
	s := newSim(t, func(c *Config) { c.Bybit.Level1Resend = 300 * time.Millisecond }) // 3 steps
	c := dial(t, mustURLs(t, s, "bybit").WS)
	c.sendText(`{"op":"subscribe","args":["orderbook.1.SOLUSDT"]}`)
	c.next(time.Second)
	tp := &bybitTopic{n: 1}
	tp.follow(t, s, "SOL-USDT", bybitPushOf(t, c.next(time.Second)))
	s.mu.Lock()
	s.byName["bybit"].books[2].quietLeft = 7
	s.mu.Unlock()
	steps(s, 7)
	// The first quiet step may still publish a change; the rest re-send
	// (follow checks a re-send has the same u, seq and levels).
	resent := 0
	for _, m := range c.flush(KindBybit) {
		p := bybitPushOf(t, m)
		if p.Data.U == tp.u {
			resent++
		}
		tp.follow(t, s, "SOL-USDT", p)
	}
	if resent < 2 {
		t.Fatalf("unchanged level 1 re-sent %d times in 7 quiet steps", resent)
	}
}

func TestBybitIdleClose(t *testing.T) {
	// The pinger pings every 50 ms until the idle connection is closed: an
	// idle timeout far above that keeps a stalled test goroutine from
	// letting the pinger look idle too.
	s := newSim(t, func(c *Config) { c.Bybit.IdleTimeout = 2 * time.Second })
	u := mustURLs(t, s, "bybit").WS
	idle := dial(t, u)
	pinger := dial(t, u)
	for deadline := time.Now().Add(patience); !idle.isClosed(); {
		if time.Now().After(deadline) {
			t.Fatal("idle connection not closed")
		}
		pinger.sendText(`{"op":"ping"}`)
		time.Sleep(50 * time.Millisecond)
	}
	if pinger.waitClosed(10 * time.Millisecond) {
		t.Fatal("pinging connection closed")
	}
}
