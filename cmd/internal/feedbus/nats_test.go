package feedbus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/bus"
	"arb/exchange"
	"arb/ringbuf"
)

// The tests below run the feed side (Publisher, Lease) and the engine side
// (Remote) on separate connections through a real NATS server: the
// machine's (127.0.0.1:4222 or ARB_NATS_URL; a failure under CI=true when
// absent, else skipped) and an embedded one (in-process connections). They
// wait on conditions with generous deadlines, never on sleeps.

// server dials new connections to one NATS server.
type server struct {
	name string
	dial func(t *testing.T) *bus.Bus
}

func servers(t *testing.T) []server {
	t.Helper()
	emb := server{name: "embedded", dial: func(t *testing.T) *bus.Bus {
		t.Fatal("embedded server not started")
		return nil
	}}
	var once sync.Once
	var e *bus.Embedded
	emb.dial = func(t *testing.T) *bus.Bus {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var err error
			if e, err = bus.StartEmbedded(ctx, t.TempDir(), nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Shutdown)
		})
		return dial(t, e.ClientURL(), e.InProcess())
	}
	sys := server{name: "system", dial: func(t *testing.T) *bus.Bus { return dial(t, systemURL(), nats.MaxReconnects(0)) }}
	return []server{emb, sys}
}

func systemURL() string {
	if u := os.Getenv("ARB_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// dial connects; a missing system server skips the test (fails under CI=true).
func dial(t *testing.T, url string, opts ...nats.Option) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, url, nil, opts...)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s (CI=true requires it): %v", url, err)
		}
		t.Skipf("no NATS with JetStream at %s: %v", url, err)
	}
	t.Cleanup(func() { b.Conn().Close() })
	return b
}

// testNames returns a venue name and a lease bucket unique to this run, so
// tests sharing the system server do not meet.
func testNames(testing.TB) (venue, bucket string) {
	id := rand.Uint64()
	return fmt.Sprintf("v%x", id), fmt.Sprintf("arb_feed_test_%x", id)
}

// testRegistry has one venue (id 1) and BTC-USDT (id 1, scale 2/8).
func testRegistry(venue string) *exchange.Registry {
	return &exchange.Registry{
		Venues: []exchange.VenueInfo{{}, {ID: 1, Name: venue, Kind: "binance"}},
		Assets: []exchange.Asset{{}, {ID: 1, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Scale: sc28}},
	}
}

// engine is the engine side: a Remote for the venue and a consumer that
// collects what reaches the engine's ring.
type engine struct {
	remote *Remote
	mu     sync.Mutex
	got    []exchange.BookTop
	recv   []int64 // local time each event left the ring
}

func startEngine(t *testing.T, ctx context.Context, b *bus.Bus, venue string) *engine {
	t.Helper()
	ring := ringbuf.NewMPSC[exchange.BookTop](1024)
	r, err := NewRemote(RemoteConfig{Venue: 4, Name: venue, Ring: ring, Conn: b.Conn(), AgeMax: 3 * time.Second,
		Instruments: []exchange.Instrument{{ID: 9, Venue: 4, Canonical: "BTC-USDT", Scale: sc28}}})
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{remote: r}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.Run(ctx) }()
	go func() {
		defer wg.Done()
		var ev exchange.BookTop
		for ring.Wait(ctx, time.Second) || ctx.Err() == nil {
			for ring.TryPop(&ev) {
				now := time.Now().UnixNano()
				e.mu.Lock()
				e.got = append(e.got, ev)
				e.recv = append(e.recv, now)
				e.mu.Unlock()
			}
		}
	}()
	t.Cleanup(wg.Wait)
	select {
	case <-r.Subscribed():
	case <-time.After(20 * time.Second):
		t.Fatal("remote did not subscribe")
	}
	return e
}

func (e *engine) events() []exchange.BookTop {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// feed is the feed side: a ring the "adapter" pushes into and a publisher.
type feed struct {
	ring  *ringbuf.MPSC[exchange.BookTop]
	pub   *Publisher
	lease *Lease
	kv    jetstream.KeyValue
	bus   *bus.Bus
	stop  context.CancelFunc
	done  chan struct{}
}

// startFeed starts a publisher; with bucket set it runs a lease on it,
// ready at all times.
func startFeed(t *testing.T, b *bus.Bus, venue, bucket string, source uint64) *feed {
	t.Helper()
	return startFeedWith(t, b, venue, bucket, source, nil)
}

// startFeedWith is startFeed with the lease's readiness (nil: always).
func startFeedWith(t *testing.T, b *bus.Bus, venue, bucket string, source uint64, ready func(*feed) bool) *feed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{ring: ringbuf.NewMPSC[exchange.BookTop](1024), bus: b, stop: cancel, done: make(chan struct{})}
	cfg := PublisherConfig{Registry: testRegistry(venue), Ring: f.ring, Conn: b.Conn(), Source: source}
	var runLease func()
	if bucket != "" {
		kctx, kcancel := context.WithTimeout(ctx, 10*time.Second)
		kv, err := OpenLeases(kctx, b.JetStream(), bucket, testTTL)
		kcancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.JetStream().DeleteKeyValue(context.Background(), bucket) })
		f.kv = kv
		readyFn := func() bool { return true }
		if ready != nil {
			readyFn = func() bool { return ready(f) }
		}
		if f.lease, err = NewLease(LeaseConfig{KV: kv, Venue: venue, Source: source, TTL: testTTL, Ready: readyFn}); err != nil {
			t.Fatal(err)
		}
		cfg.Term = func(exchange.VenueID) uint64 { return f.lease.Term() }
		runLease = func() { f.lease.Run(ctx) }
	}
	var err error
	if f.pub, err = NewPublisher(cfg); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.pub.Run(ctx) }()
	if runLease != nil {
		wg.Add(1)
		go func() { defer wg.Done(); runLease() }()
	}
	go func() { wg.Wait(); close(f.done) }()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

// push hands the adapter's event for seq to the feed's ring and returns
// it as the engine should see it (the engine's ids).
func (f *feed) push(t *testing.T, seq uint64) exchange.BookTop {
	t.Helper()
	ev := book(seq, 6000000-int64(seq%7), 6000100+int64(seq%5))
	ev.Venue, ev.Inst = 1, 1
	ev.RecvTS = time.Now().UnixNano()
	if !f.ring.TryPush(&ev) {
		t.Fatal("feed ring full")
	}
	ev.Venue, ev.Inst = 4, 9
	return ev
}

// TestBooksCrossTheHop: books published by a feed reach the engine's
// ring in order, every field as the adapter produced it (sequence,
// exchange and receive timestamps, gas, every level), with the engine's
// ids, through the embedded server and the machine's.
func TestBooksCrossTheHop(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			venue, _ := testNames(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			eng := startEngine(t, ctx, srv.dial(t), venue)
			f := startFeed(t, srv.dial(t), venue, "", 7)
			var sent []exchange.BookTop
			for s := uint64(1); s <= 200; s++ {
				sent = append(sent, f.push(t, s))
				if s%50 == 0 { // stay below the rings' capacity
					waitFor(t, "events across", 30*time.Second, func() bool { return len(eng.events()) >= int(s) })
				}
			}
			got := eng.events()
			if len(got) != len(sent) {
				t.Fatalf("engine got %d events, want %d", len(got), len(sent))
			}
			for i := range sent {
				if got[i] != sent[i] {
					t.Fatalf("event %d:\n got %+v\nwant %+v", i, got[i], sent[i])
				}
			}
			if n := eng.remote.stats.Published.Load(); n != 200 {
				t.Fatalf("remote published %d", n)
			}
		})
	}
}

// TestStandbyTakesOver: two feeds of one venue, both fed the same venue
// states (two adapters on one venue), each with a lease. Only the leader
// publishes, so the engine gets every state once; when the leader dies
// (its connection closed, its key left to expire) the standby takes the
// lease with a higher term, republishes its newest book and carries on —
// and the engine never gets a state twice or out of order.
func TestStandbyTakesOver(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			venue, bucket := testNames(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			eng := startEngine(t, ctx, srv.dial(t), venue)
			a := startFeed(t, srv.dial(t), venue, bucket, 0xA)
			waitFor(t, "feed A leads", 30*time.Second, func() bool { return a.lease.Term() != 0 })
			b := startFeed(t, srv.dial(t), venue, bucket, 0xB)
			last := func() uint64 {
				ev := eng.events()
				if len(ev) == 0 {
					return 0
				}
				return ev[len(ev)-1].Seq
			}
			for s := uint64(1); s <= 100; s++ {
				a.push(t, s)
				b.push(t, s)
				waitFor(t, "state across", 30*time.Second, func() bool { return last() == s })
			}
			if b.lease.Term() != 0 || b.pub.Stats().Published.Load() != 0 {
				t.Fatalf("standby B published %d (term %d) while A leads", b.pub.Stats().Published.Load(), b.lease.Term())
			}
			termA := a.lease.Term()

			// A dies: its connection goes, its lease is left to expire.
			a.bus.Conn().Close()
			a.stop()
			for s := uint64(101); s <= 110; s++ {
				b.push(t, s)
			}
			waitFor(t, "B takes over", 30*time.Second, func() bool { return b.lease.Term() != 0 })
			if b.lease.Term() <= termA {
				t.Fatalf("B's term %d not above A's %d", b.lease.Term(), termA)
			}
			waitFor(t, "B's newest book across", 30*time.Second, func() bool { return last() == 110 })
			for s := uint64(111); s <= 150; s++ {
				b.push(t, s)
				waitFor(t, "state across", 30*time.Second, func() bool { return last() == s })
			}

			got := eng.events()
			var prev uint64
			for i, ev := range got {
				if ev.Seq <= prev {
					t.Fatalf("event %d: seq %d after %d (duplicate or reordered)", i, ev.Seq, prev)
				}
				prev = ev.Seq
			}
			// 1..100 from A, B's takeover republish of 110, then 111..150.
			if len(got) != 141 {
				t.Fatalf("engine got %d events, want 141: %v", len(got), seqs(got))
			}
			rs := eng.remote.RemoteStats()
			if rs.TermChange.Load() != 1 || rs.Term.Load() != b.lease.Term() || rs.Fenced.Load() != 0 {
				t.Fatalf("term changes %d, term %d (B %d), fenced %d", rs.TermChange.Load(), rs.Term.Load(), b.lease.Term(), rs.Fenced.Load())
			}
		})
	}
}

// TestLeaseHandover: a leader that stops cleanly deletes its key, so the
// standby takes over at once rather than after the TTL; one holder at a
// time.
func TestLeaseHandover(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			venue, bucket := testNames(t)
			a := startFeed(t, srv.dial(t), venue, bucket, 0xA)
			waitFor(t, "A leads", 30*time.Second, func() bool { return a.lease.Term() != 0 })
			b := startFeed(t, srv.dial(t), venue, bucket, 0xB)
			a.stop()
			<-a.done
			waitFor(t, "B leads", 30*time.Second, func() bool { return b.lease.Term() != 0 })
			if a.lease.Term() != 0 {
				t.Fatal("A still holds the lease after stopping")
			}
		})
	}
}

// hop measures n events one at a time from push to the engine consumer:
// through the NATS hop (feed ring → publisher → NATS → Remote → engine
// ring) when b (the feed's connection) and b2 (the engine's) are set, else through one in-process ring (an adapter
// straight into the engine's ring: today's path). It returns the sorted
// latencies in ns.
func hop(tb testing.TB, n int, b *bus.Bus, b2 *bus.Bus) []int64 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make([]int64, 0, n)
	got := make(chan int64, 1)
	consume := func(ring *ringbuf.MPSC[exchange.BookTop]) {
		var ev exchange.BookTop
		for ring.Wait(ctx, time.Second) || ctx.Err() == nil {
			for ring.TryPop(&ev) {
				got <- time.Now().UnixNano() - ev.RecvTS
			}
		}
	}
	var push *ringbuf.MPSC[exchange.BookTop]
	if b == nil {
		push = ringbuf.NewMPSC[exchange.BookTop](1024)
		go consume(push)
	} else {
		venue, _ := testNames(nil)
		ring := ringbuf.NewMPSC[exchange.BookTop](1024)
		r, err := NewRemote(RemoteConfig{Venue: 1, Name: venue, Ring: ring, Conn: b2.Conn(), AgeMax: time.Minute,
			Instruments: []exchange.Instrument{{ID: 1, Venue: 1, Canonical: "BTC-USDT", Scale: sc28}}})
		if err != nil {
			tb.Fatal(err)
		}
		go r.Run(ctx)
		<-r.Subscribed()
		go consume(ring)
		push = ringbuf.NewMPSC[exchange.BookTop](1024)
		p, err := NewPublisher(PublisherConfig{Registry: testRegistry(venue), Ring: push, Conn: b.Conn(), Source: 1})
		if err != nil {
			tb.Fatal(err)
		}
		go p.Run(ctx)
	}
	ev := book(1, 6000000, 6000100)
	ev.Venue, ev.Inst = 1, 1
	for i := range n {
		ev.Seq = uint64(i + 1)
		ev.RecvTS = time.Now().UnixNano()
		if !push.TryPush(&ev) {
			tb.Fatal("ring full")
		}
		select {
		case d := <-got:
			out = append(out, d)
		case <-time.After(30 * time.Second):
			tb.Fatalf("event %d did not arrive", i)
		}
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []int64, q float64) time.Duration {
	return time.Duration(sorted[int(q*float64(len(sorted)-1))])
}

// TestHopLatency logs the added latency of the NATS hop on this machine's
// server against the in-process ring measured in the same run (figures
// for BENCHMARKS.md; no bound is asserted — the machine is shared).
func TestHopLatency(t *testing.T) {
	pub, sub := dial(t, systemURL()), dial(t, systemURL())
	ring := hop(t, 2000, nil, nil)
	nats := hop(t, 2000, pub, sub)
	t.Logf("in-process ring: p50 %v p99 %v", quantile(ring, 0.5), quantile(ring, 0.99))
	t.Logf("feed over NATS:  p50 %v p99 %v", quantile(nats, 0.5), quantile(nats, 0.99))
}

// BenchmarkHop reports p50/p99 of one event's trip, feed to engine
// consumer, over NATS (the machine's server) and through the in-process
// ring (the baseline).
func BenchmarkHop(b *testing.B) {
	b.Run("ring", func(b *testing.B) {
		d := hop(b, b.N, nil, nil)
		b.ReportMetric(float64(quantile(d, 0.5)), "p50-ns")
		b.ReportMetric(float64(quantile(d, 0.99)), "p99-ns")
	})
	b.Run("nats", func(b *testing.B) {
		pub, sub := benchDial(b), benchDial(b)
		d := hop(b, b.N, pub, sub)
		b.ReportMetric(float64(quantile(d, 0.5)), "p50-ns")
		b.ReportMetric(float64(quantile(d, 0.99)), "p99-ns")
	})
}

func benchDial(b *testing.B) *bus.Bus {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bus.Connect(ctx, systemURL(), nil)
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	b.Cleanup(func() { c.Conn().Close() })
	return c
}

// testTTL is the tests' lease TTL: short enough for quick failovers, long
// enough that a loaded machine does not lose a live leader's lease.
const testTTL = 3 * time.Second

// TestPublisherAllocs: taking an event from the ring and publishing it
// (encode, NATS publish into the connection's buffer) allocates nothing.
// (On the engine side nats.go allocates one *nats.Msg per message it
// receives; Remote's own handling of it allocates nothing:
// TestRemoteAllocs.)
func TestPublisherAllocs(t *testing.T) {
	b := servers(t)[0].dial(t) // embedded
	venue, _ := testNames(t)
	p, err := NewPublisher(PublisherConfig{Registry: testRegistry(venue), Ring: ringbuf.NewMPSC[exchange.BookTop](16), Conn: b.Conn(), Source: 1})
	if err != nil {
		t.Fatal(err)
	}
	ev := book(1, 6000000, 6000100)
	ev.Venue, ev.Inst = 1, 1
	p.handle(&ev)
	if n := testing.AllocsPerRun(1000, func() { ev.Seq++; p.handle(&ev) }); n != 0 {
		t.Fatalf("%v allocations per published event", n)
	}
	if got := p.Stats().Published.Load(); got < 1000 {
		t.Fatalf("published %d", got)
	}
}

// pushStale hands the adapter's stale marker (disconnect) to the ring.
func (f *feed) pushStale(t *testing.T, seq uint64) {
	t.Helper()
	ev := exchange.BookTop{Venue: 1, Inst: 1, Seq: seq}
	ev.SetStale(exchange.CauseDisconnect, time.Now().UnixNano())
	if !f.ring.TryPush(&ev) {
		t.Fatal("feed ring full")
	}
}

// checkOrdered fails if the engine got a state twice in a row or out of
// order. (A stale marker in between makes the same state news again: the
// book was unusable, and a fresh copy of its last state revives it.)
func checkOrdered(t *testing.T, got []exchange.BookTop) {
	t.Helper()
	var prev uint64
	prevFresh := false
	for i, ev := range got {
		if ev.Seq < prev || (ev.Seq == prev && !ev.Stale() && prevFresh) {
			t.Fatalf("event %d: seq %d after %d (duplicate or reordered): %v", i, ev.Seq, prev, seqs(got))
		}
		prev, prevFresh = ev.Seq, !ev.Stale()
	}
}

// TestLeaderWithStaleBooksStepsDown: a leader whose venue connection
// dropped (its books stale) publishes the stale marker, then gives the
// lease up; the standby, whose books are fresh, takes over and the
// engine's book is fresh again from it.
func TestLeaderWithStaleBooksStepsDown(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			venue, bucket := testNames(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			eng := startEngine(t, ctx, srv.dial(t), venue)
			fresh := func(f *feed) bool { return f.pub.FreshBooks(1) > 0 }
			a := startFeedWith(t, srv.dial(t), venue, bucket, 0xA, fresh)
			a.push(t, 1)
			waitFor(t, "A leads", 30*time.Second, func() bool { return a.lease.Term() != 0 })
			b := startFeedWith(t, srv.dial(t), venue, bucket, 0xB, fresh)
			b.push(t, 1)
			waitFor(t, "B's book fresh", 30*time.Second, func() bool { return b.pub.FreshBooks(1) == 1 })
			last := func() exchange.BookTop {
				ev := eng.events()
				if len(ev) == 0 {
					return exchange.BookTop{}
				}
				return ev[len(ev)-1]
			}
			a.push(t, 2)
			b.push(t, 2)
			waitFor(t, "state 2 across", 30*time.Second, func() bool { return last().Seq == 2 })

			a.pushStale(t, 2) // A's venue connection drops
			waitFor(t, "A's stale marker across", 30*time.Second, func() bool { return last().Flags&exchange.FlagStale != 0 })
			waitFor(t, "B takes over", 30*time.Second, func() bool { return b.lease.Term() != 0 })
			if a.lease.Term() != 0 {
				t.Fatal("A still leads with no fresh book")
			}
			b.push(t, 3)
			waitFor(t, "B's state across, fresh", 30*time.Second, func() bool { l := last(); return l.Seq == 3 && l.Flags&exchange.FlagStale == 0 })
			checkOrdered(t, eng.events())
		})
	}
}

// TestDeposedLeaderFenced: the lease key is deleted under a live leader
// (an operator, or a renewal lost in a partition) and the standby takes
// it; until the old leader notices at its next renewal, both may publish.
// The engine takes only the newest term: it never gets a state twice or
// out of order.
func TestDeposedLeaderFenced(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			venue, bucket := testNames(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			eng := startEngine(t, ctx, srv.dial(t), venue)
			a := startFeed(t, srv.dial(t), venue, bucket, 0xA)
			waitFor(t, "A leads", 30*time.Second, func() bool { return a.lease.Term() != 0 })
			b := startFeed(t, srv.dial(t), venue, bucket, 0xB)
			seq := uint64(0)
			step := func() {
				seq++
				a.push(t, seq)
				b.push(t, seq)
				time.Sleep(time.Millisecond) // pacing of the generated states, not synchronization
			}
			for range 50 {
				step()
			}
			dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
			if err := a.kv.Delete(dctx, venue); err != nil {
				t.Fatal(err)
			}
			dcancel()
			deadline := time.Now().Add(30 * time.Second)
			for b.lease.Term() == 0 || a.lease.Term() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no handover: A term %d, B term %d", a.lease.Term(), b.lease.Term())
				}
				step()
			}
			for range 50 {
				step()
			}
			final := seq
			waitFor(t, "the last state across", 30*time.Second, func() bool {
				ev := eng.events()
				return len(ev) > 0 && ev[len(ev)-1].Seq == final
			})
			checkOrdered(t, eng.events())
			rs := eng.remote.RemoteStats()
			t.Logf("%d states, %d delivered, %d fenced, %d duplicates, engine's term %d", final, len(eng.events()),
				rs.Fenced.Load(), rs.Duplicates.Load(), rs.Term.Load())
			if rs.Term.Load() != b.lease.Term() {
				t.Fatalf("engine's term %d, B's %d", rs.Term.Load(), b.lease.Term())
			}
		})
	}
}
