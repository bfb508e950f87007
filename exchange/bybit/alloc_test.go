package bybit

import (
	"testing"

	"arb/exchange"
	"arb/ringbuf"
)

// TestHotPathAllocs guards the claim that the hot path (frame → book →
// event) allocates nothing in steady state, for every frame type a healthy
// connection receives: deltas, snapshots, level-1 snapshots, pongs and
// subscribe replies, including quiet-book refreshes.
func TestHotPathAllocs(t *testing.T) {
	ring := ringbuf.NewMPSC[exchange.BookTop](64)
	cfg := testConfig(ring)
	s := liveSession(t, &cfg)
	delta := newUPatcher(t, readTestdata(t, "docs/ws_orderbook50_delta.json"), 177400506)
	now := int64(10)
	run := func(name string, frame func() []byte) {
		t.Helper()
		before := s.Events()
		allocs := testing.AllocsPerRun(200, func() {
			now += 10 * msec // crosses the refresh interval (AgeMax/3) in every run
			s.HandleFrame(frame(), now)
			drainRing(ring)
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocs per frame, want 0", name, allocs)
		}
		if !s.Live(0) {
			t.Fatalf("%s: book not live: the frames were rejected", name)
		}
		if name != "pong" && name != "subscribe reply" && s.Events() == before {
			t.Fatalf("%s: nothing published", name)
		}
	}
	run("delta (docs)", delta.next)
	snap := snapshot50(177400506)
	snapU := newUPatcher(t, snap, delta.u-uBase)
	run("snapshot 50 levels", snapU.next)
	pong := readTestdata(t, "docs/pong_1.json")
	run("pong", func() []byte { return pong })
	ack := readTestdata(t, "docs/subscribe_response_2.json")
	run("subscribe reply", func() []byte { return ack })

	bcfg := testConfig(ring)
	bcfg.Channel, bcfg.Depth = ChannelBBO, 1
	s = NewSession(&bcfg, nil)
	s.Start(0)
	bbo := []byte(bboFrame)
	s.HandleFrame(bbo, 1)
	run("bbo resend", func() []byte { return bbo })
}
