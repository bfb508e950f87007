package sim

import (
	"encoding/json"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

type okxPush struct {
	Arg    okxArg `json:"arg"`
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

func okxPushOf(t testing.TB, m []byte) okxPush {
	t.Helper()
	var p okxPush
	if err := json.Unmarshal(m, &p); err != nil || len(p.Data) != 1 {
		t.Fatalf("push %s: %v", m, err)
	}
	return p
}

// okxRefChecksum is the documented checksum computed independently over the
// reference book's received strings.
func okxRefChecksum(t testing.TB, r *refBook, s *Sim, sym string) int32 {
	return int32(crc32.ChecksumIEEE([]byte(r.checkString())))
}

func TestOKXChecksumVectors(t *testing.T) {
	var f struct {
		Vectors []struct {
			Name   string
			Inputs struct{ Bids, Asks [][]string }
			Check  string `json:"expected_check_string"`
			Sum    int32  `json:"expected_checksum"`
		}
	}
	loadJSON(t, "okx/checksum_vectors.json", &f)
	sym := &symbol{scale: scaleOf(newSim(t, nil), "BTC-USDT")}
	sym.scale.Px = 2
	for _, v := range f.Vectors {
		r := newRef()
		r.apply(t, sym.scale, v.Inputs.Bids, v.Inputs.Asks)
		var bids, asks []lvl
		b, a := r.levels(t, sym.scale, 25)
		for _, l := range b {
			bids = append(bids, lvl{int64(l.Px), int64(l.Qty)})
		}
		for _, l := range a {
			asks = append(asks, lvl{int64(l.Px), int64(l.Qty)})
		}
		got := okxCheckString(sym, bids, asks)
		if string(got) != v.Check {
			t.Errorf("%s: check string %q, want %q", v.Name, got, v.Check)
		}
		if cs := okxChecksumOf(got); cs != v.Sum {
			t.Errorf("%s: checksum %d, want %d", v.Name, cs, v.Sum)
		}
	}
}

func TestOKXShapesAndSubscribe(t *testing.T) {
	s := newSim(t, nil)
	c := dial(t, mustURLs(t, s, "okx").WS)
	c.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"bbo-tbt","instId":"BTC-USDT"},{"channel":"books5","instId":"ETH-USDT"}]}`)
	var sub struct {
		Response json.RawMessage `json:"response"`
		Error    json.RawMessage `json:"error_response_example"`
		Notice   json.RawMessage `json:"service_upgrade_notice"`
	}
	loadJSON(t, "okx/ws_subscribe_tickers.json", &sub)
	snapWant := loadPayload(t, "okx/ws_books_snapshot_push.json")
	got := map[string][]byte{}
	for range 6 {
		m := c.next(time.Second)
		var p struct {
			Event  string
			Action string
			Arg    okxArg
		}
		json.Unmarshal(m, &p)
		key := p.Event + p.Action + ":" + p.Arg.Channel
		if _, dup := got[key]; !dup {
			got[key] = m
		}
	}
	if err := shapeDiff(got["subscribe:books"], sub.Response); err != nil {
		t.Fatalf("ack: %v %s", err, got["subscribe:books"])
	}
	if err := shapeDiff(got["snapshot:books"], snapWant); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	p := okxPushOf(t, got["snapshot:books"])
	if p.Data[0].PrevSeqID != -1 || len(p.Data[0].Bids) != 60 {
		t.Fatalf("snapshot prevSeqId %d, %d bids", p.Data[0].PrevSeqID, len(p.Data[0].Bids))
	}
	for _, l := range p.Data[0].Bids {
		if len(l) != 4 || l[2] != "0" || strings.HasSuffix(l[0], "0") && strings.Contains(l[0], ".") {
			t.Fatalf("level %v: want [px, sz, \"0\", orders] with trimmed decimals", l)
		}
	}
	if err := shapeDiff(got[":bbo-tbt"], loadPayload(t, "okx/ws_bbo_tbt_push.json")); err != nil {
		t.Fatalf("bbo-tbt: %v %s", err, got[":bbo-tbt"])
	}
	if err := shapeDiff(got[":books5"], loadPayload(t, "okx/ws_books5_push.json")); err != nil {
		t.Fatalf("books5: %v %s", err, got[":books5"])
	}
	steps(s, 3)
	upd := c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"action":"update"`) })
	if err := shapeDiff(upd, loadPayload(t, "okx/ws_books_update_push.json")); err != nil {
		t.Fatalf("update: %v", err)
	}
	// Errors.
	c.sendText(`{"op":"subscribe","argss":[{"channel":"option-trades"}]}`)
	e := c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"event":"error"`) })
	if err := shapeDiff(e, sub.Error, "id"); err != nil || !strings.Contains(string(e), `"code":"60012"`) {
		t.Fatalf("60012: %v %s", err, e)
	}
	c.sendText(`{"id":"77","op":"subscribe","args":[{"channel":"books","instId":"FOO-USDT"}]}`)
	e = c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"event":"error"`) })
	if err := shapeDiff(e, sub.Error); err != nil || !strings.Contains(string(e), `"code":"60018"`) || !strings.Contains(string(e), `"id":"77"`) {
		t.Fatalf("60018: %v %s", err, e)
	}
	c.sendText("ping")
	c.until(time.Second, func(b []byte) bool { return string(b) == "pong" })
	c.sendText(`{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`)
	c.until(time.Second, func(b []byte) bool { return strings.Contains(string(b), `"event":"unsubscribe"`) })
	c.flush(KindOKX)
	steps(s, 5)
	for _, m := range c.flush(KindOKX) {
		if strings.Contains(string(m), `"channel":"books","instId":"BTC-USDT"`) {
			t.Fatal("books pushed after unsubscribe")
		}
	}
}

// TestOKXSyncProcedure rebuilds the book from the snapshot and updates with a
// map model, checking prevSeqId == previous seqId and the checksum of every
// push over the received strings, and compares every state with BookAt.
func TestOKXSyncProcedure(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.Venues[1].Levels = 300
		c.Dislocation.Prob = 0.05
	})
	sc := scaleOf(s, "SOL-USDT")
	steps(s, 5)
	c := dial(t, mustURLs(t, s, "okx").WS)
	c.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"SOL-USDT"}]}`)
	c.next(time.Second) // ack
	r := newRef()
	snap := okxPushOf(t, c.next(time.Second))
	r.apply(t, sc, snap.Data[0].Bids, snap.Data[0].Asks)
	last := snap.Data[0].SeqID
	checkAt(t, s, "okx", "SOL-USDT", uint64(last), r, sc)
	if cs := okxRefChecksum(t, r, s, "SOL-USDT"); int64(cs) != snap.Data[0].Checksum {
		t.Fatalf("snapshot checksum %d, want %d", snap.Data[0].Checksum, cs)
	}
	n := 0
	for range 120 {
		s.Step()
		for _, m := range c.flush(KindOKX) {
			p := okxPushOf(t, m)
			d := p.Data[0]
			if d.PrevSeqID != last {
				t.Fatalf("prevSeqId %d, last seqId %d", d.PrevSeqID, last)
			}
			r.apply(t, sc, d.Bids, d.Asks)
			if cs := okxRefChecksum(t, r, s, "SOL-USDT"); int64(cs) != d.Checksum {
				t.Fatalf("seq %d: checksum %d, want %d", d.SeqID, d.Checksum, cs)
			}
			last = d.SeqID
			checkAt(t, s, "okx", "SOL-USDT", uint64(last), r, sc)
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d updates", n)
	}
}

func TestOKXKeepAliveAndChecksumZero(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.OKX.KeepAlive = 500 * time.Millisecond // 5 steps
		c.Venues[1].ChecksumZero = true
	})
	c := dial(t, mustURLs(t, s, "okx").WS)
	c.sendText(`{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`)
	c.next(time.Second)
	snap := okxPushOf(t, c.next(time.Second))
	if snap.Data[0].Checksum != 0 {
		t.Fatal("checksum_zero: snapshot checksum not 0")
	}
	s.mu.Lock()
	s.byName["okx"].books[0].quietLeft = 12 // a quiet period
	s.mu.Unlock()
	steps(s, 12)
	var keep []okxPush
	for _, m := range c.flush(KindOKX) {
		p := okxPushOf(t, m)
		if p.Data[0].Checksum != 0 {
			t.Fatal("checksum_zero: update checksum not 0")
		}
		if len(p.Data[0].Bids)+len(p.Data[0].Asks) == 0 {
			keep = append(keep, p)
		}
	}
	if len(keep) != 2 {
		t.Fatalf("%d keep-alive updates in 12 quiet steps, want 2", len(keep))
	}
	for _, k := range keep {
		if k.Data[0].PrevSeqID != k.Data[0].SeqID || k.Action != "update" {
			t.Fatalf("keep-alive %+v", k)
		}
	}
}

func TestOKXIdleClose(t *testing.T) {
	// The pinger pings every 50 ms until the idle connection is closed: an
	// idle timeout far above that keeps a stalled test goroutine from
	// letting the pinger look idle too.
	s := newSim(t, func(c *Config) { c.OKX.IdleTimeout = 2 * time.Second })
	u := mustURLs(t, s, "okx").WS
	idle := dial(t, u)
	pinger := dial(t, u)
	stop := time.After(patience)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			pinger.sendText("ping")
		case <-idle.closed:
			break loop
		case <-stop:
			t.Fatal("idle connection not closed")
		}
	}
	if pinger.waitClosed(10 * time.Millisecond) {
		t.Fatal("pinging connection closed")
	}
}
