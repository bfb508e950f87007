package sim

import (
	"encoding/json"
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

// TestBybitSyncProcedure rebuilds depth 50 and depth 200 from snapshot and
// deltas with a map model and compares every state with BookAt; orderbook.1
// must always equal the top of the book at its u.
func TestBybitSyncProcedure(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.Venues[2].Levels = 250
		c.Dislocation.Prob = 0.05
	})
	sc := scaleOf(s, "ETH-USDT")
	steps(s, 3)
	c := dial(t, mustURLs(t, s, "bybit").WS)
	c.sendText(`{"op":"subscribe","args":["orderbook.50.ETHUSDT","orderbook.200.ETHUSDT","orderbook.1.ETHUSDT"]}`)
	c.next(time.Second)
	refs := map[string]*refBook{"orderbook.50.ETHUSDT": newRef(), "orderbook.200.ETHUSDT": newRef()}
	seen := map[string]int{}
	var lastSeq uint64
	for range 100 {
		s.Step()
		for _, m := range c.drain(5 * time.Millisecond) {
			p := bybitPushOf(t, m)
			if p.Data.Seq < lastSeq && p.Topic != "orderbook.1.ETHUSDT" {
				t.Fatalf("cross seq went back: %d after %d", p.Data.Seq, lastSeq)
			}
			if p.Topic == "orderbook.1.ETHUSDT" {
				wb, wa, ok := s.BookAt("bybit", "ETH-USDT", p.Data.U)
				r := newRef()
				r.apply(t, sc, p.Data.B, p.Data.A)
				gb, ga := r.levels(t, sc, 1)
				if !ok || p.Type != "snapshot" || !levelsEqual(gb, wb[:1]) || !levelsEqual(ga, wa[:1]) {
					t.Fatalf("orderbook.1 at u=%d differs", p.Data.U)
				}
				continue
			}
			r := refs[p.Topic]
			if p.Type == "snapshot" {
				if seen[p.Topic] > 0 {
					t.Fatal("unexpected second snapshot")
				}
				*r = *newRef()
			}
			r.apply(t, sc, p.Data.B, p.Data.A)
			lastSeq = p.Data.Seq
			n := 50
			if strings.Contains(p.Topic, ".200.") {
				n = 200
			}
			gb, ga := r.levels(t, sc, 1000)
			if len(gb) > n || len(ga) > n {
				t.Fatalf("%s holds %d/%d levels", p.Topic, len(gb), len(ga))
			}
			checkAt(t, s, "bybit", "ETH-USDT", p.Data.U, r, sc)
			seen[p.Topic]++
		}
	}
	if seen["orderbook.50.ETHUSDT"] < 50 || seen["orderbook.200.ETHUSDT"] < 80 {
		t.Fatalf("messages: %v", seen)
	}
}

func TestBybitLevel1Resend(t *testing.T) {
	s := newSim(t, func(c *Config) { c.Bybit.Level1Resend = 300 * time.Millisecond }) // 3 steps
	c := dial(t, mustURLs(t, s, "bybit").WS)
	c.sendText(`{"op":"subscribe","args":["orderbook.1.SOLUSDT"]}`)
	c.next(time.Second)
	first := bybitPushOf(t, c.next(time.Second))
	s.mu.Lock()
	s.byName["bybit"].books[2].quietLeft = 7
	s.mu.Unlock()
	steps(s, 7)
	var resent []bybitPush
	for _, m := range c.drain(100 * time.Millisecond) {
		resent = append(resent, bybitPushOf(t, m))
	}
	// The first quiet step may still publish a change; the rest re-send.
	n := 0
	for _, p := range resent {
		if p.Type != "snapshot" {
			t.Fatal("orderbook.1 sent a delta")
		}
		if p.Data.U == resent[len(resent)-1].Data.U {
			n++
		}
	}
	if n < 2 {
		t.Fatalf("unchanged level 1 re-sent %d times in 7 quiet steps (first u %d): %+v", n, first.Data.U, resent)
	}
}

func TestBybitIdleClose(t *testing.T) {
	s := newSim(t, func(c *Config) { c.Bybit.IdleTimeout = 400 * time.Millisecond })
	u := mustURLs(t, s, "bybit").WS
	idle := dial(t, u)
	pinger := dial(t, u)
	for range 18 {
		pinger.sendText(`{"op":"ping"}`)
		time.Sleep(50 * time.Millisecond)
	}
	if !idle.waitClosed(3 * time.Second) {
		t.Fatal("idle connection not closed")
	}
	if pinger.waitClosed(10 * time.Millisecond) {
		t.Fatal("pinging connection closed")
	}
}
