package ledgerfeed

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/ledger"
	"arb/ledger/pgstore"
	"arb/ledger/pgstore/pgtest"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// target is a NATS server the tests run against, with a stream of the
// test's own.
type target struct {
	name string
	bus  func(t *testing.T) *bus.Bus
}

var targets = []target{
	{"embedded", func(t *testing.T) *bus.Bus {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		e, err := bus.StartEmbedded(ctx, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Shutdown)
		return connect(t, e.ClientURL(), e.InProcess())
	}},
	{"system", func(t *testing.T) *bus.Bus {
		u := systemNATSURL()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b, err := bus.Connect(ctx, u, nil, nats.MaxReconnects(0))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("system NATS at %s (CI=true requires it): %v", u, err)
			}
			t.Skipf("no system NATS at %s: %v", u, err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
}

func connect(t *testing.T, url string, opts ...nats.Option) *bus.Bus {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, url, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testStream creates a stream of the test's own and returns the feed
// config reading it.
func testStream(t *testing.T, b *bus.Bus) Config {
	id := strconv.FormatUint(rand.Uint64(), 36)
	spec := bus.DefaultStream()
	spec.Name, spec.Subjects = "ARB_TEST_"+id, []string{"arbtest" + id + ".>"}
	spec.MaxBytes, spec.MaxAge = 64<<20, time.Hour
	ctx := context.Background()
	if err := b.EnsureStream(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.JetStream().DeleteStream(context.Background(), spec.Name) })
	return Config{Stream: spec.Name, Prefix: "arbtest" + id, Batch: 64, MaxWait: 100 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
}

// sim publishes what an executor would: trades with two fills each, their
// state changes, funding, plus noise the ledger must skip or reject.
type sim struct {
	t      *testing.T
	p      Publisher
	js     jetstream.JetStream
	prefix string
	r      *rand.Rand
	fills  []ledger.Fill
	trades int
}

func (s *sim) publishTrade(i int) {
	ctx := context.Background()
	venues := []string{"binance", "okx", "bybit"}
	tid := fmt.Sprintf("T%d", i)
	bv, sv := venues[s.r.IntN(3)], venues[s.r.IntN(3)]
	px := decimal.New(s.r.Int64N(1000000)+100000, -2)
	qty := decimal.New(s.r.Int64N(100000)+1, -6)
	ts := t0.Add(time.Duration(i) * time.Second)
	tr := ledger.Trade{ID: tid, PlanID: "P" + tid, Symbol: "BTC-USDT", BuyVenue: bv, SellVenue: sv, State: ledger.StateOpen, Qty: qty,
		ExpectedNetQuote: d("0.5"), OpenedAt: ts}
	must(s.t, PublishTrade(ctx, s.p, s.prefix, tr))
	buy := ledger.Fill{Venue: bv, VenueFillID: fmt.Sprintf("%d", 2*i), ClientOrderID: tid + "b", TradeID: tid, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT",
		Side: "buy", Price: px, Qty: qty, Fee: d("0.01"), FeeAsset: "USDT", TS: ts}
	sell := ledger.Fill{Venue: sv, VenueFillID: fmt.Sprintf("%d", 2*i+1), ClientOrderID: tid + "s", TradeID: tid, Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT",
		Side: "sell", Price: px.Add(d("1.5")), Qty: qty, Fee: d("0.0000012"), FeeAsset: "BNB", FeeQuoteRate: d("601"), TS: ts.Add(time.Millisecond)}
	for _, f := range []ledger.Fill{buy, sell} {
		must(s.t, PublishFill(ctx, s.p, s.prefix, f))
		s.fills = append(s.fills, f)
	}
	if s.r.IntN(5) == 0 { // the executor retried the publish: JetStream drops it
		must(s.t, PublishFill(ctx, s.p, s.prefix, sell))
	}
	if s.r.IntN(7) == 0 { // the same fill under another message id (after the dedup window): the ledger drops it
		b := mustJSON(s.t, buy)
		_, err := s.js.Publish(ctx, ledger.FillSubject(s.prefix, buy.Venue), b, jetstream.WithMsgID("late."+buy.MsgID()))
		must(s.t, err)
	}
	if s.r.IntN(11) == 0 { // not the ledger's business, or not valid
		_, err := s.js.Publish(ctx, s.prefix+".plans.BTC-USDT", []byte(`{"plan":1}`), jetstream.WithMsgID("plan."+tid))
		must(s.t, err)
		_, err = s.js.Publish(ctx, ledger.FillSubject(s.prefix, "okx"), []byte(`{"venue":"okx","qty":1e9}`), jetstream.WithMsgID("bad."+tid))
		must(s.t, err)
	}
	closed := ts.Add(time.Second)
	tr.State, tr.ClosedAt = ledger.StateClosedFlat, &closed
	tr.Legs = []ledger.Leg{
		{Venue: bv, Side: "buy", Purpose: "entry", ClientOrderID: tid + "b", Price: px, Qty: qty, FilledQty: qty, AvgPrice: px, Fee: d("0.01"), FeeAsset: "USDT", Status: "filled"},
		{Venue: sv, Side: "sell", Purpose: "entry", ClientOrderID: tid + "s", Price: px, Qty: qty, FilledQty: qty, AvgPrice: sell.Price, Fee: d("0.0000012"), FeeAsset: "BNB", Status: "filled"},
	}
	must(s.t, PublishTrade(ctx, s.p, s.prefix, tr))
	s.trades++
}

// expected is the ledger the published events must produce.
func (s *sim) expected() *ledger.Ledger {
	l := ledger.New()
	for _, f := range s.fills {
		if _, err := l.ApplyFill(f); err != nil {
			s.t.Fatal(err)
		}
	}
	return l
}

// systemNATSURL is the machine's NATS server: ARB_NATS_URL, or the
// default port on loopback.
func systemNATSURL() string {
	if u := os.Getenv("ARB_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, f ledger.Fill) []byte {
	b, err := jsonMarshal(f)
	must(t, err)
	return b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// verifyStore checks the store rebuilt from stream: every check holds, it
// holds want fills, and its balances are expected's.
func verifyStore(ctx context.Context, t *testing.T, store *pgstore.Store, stream string, want int, expected *ledger.Ledger) {
	t.Helper()
	l, v, err := store.Verify(ctx, stream)
	must(t, err)
	if len(v) > 0 {
		t.Fatalf("check: %v", v)
	}
	if l.FillCount() != want {
		t.Fatalf("%d fills, published %d", l.FillCount(), want)
	}
	sameBalances(t, l, expected)
}

func sameBalances(t *testing.T, got, want *ledger.Ledger) {
	t.Helper()
	g, w := got.AccountBalances(), want.AccountBalances()
	if len(g) != len(w) {
		t.Fatalf("%d accounts, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i].Account != w[i].Account || !g[i].Balance.Equal(w[i].Balance) {
			t.Fatalf("%s = %s, want %s = %s", g[i].Account, g[i].Balance, w[i].Account, w[i].Balance)
		}
	}
}

// TestExactlyOnceThroughOutages: fills stream in while the store's
// connections are terminated again and again and the database refuses
// connections for a while; the feed is restarted midway. At the end the
// store holds every fill exactly once, every check passes, and a full
// redelivery of the stream changes nothing.
func TestExactlyOnceThroughOutages(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := tg.bus(t)
			cfg := testStream(t, b)
			dsn := pgtest.NewDB(t)
			// Deadlines, not expectations: the test takes about 15 s on a
			// loaded machine with -race.
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			store, err := pgstore.Open(ctx, dsn)
			must(t, err)
			defer store.Close()

			start := func(c Config) (*Feed, func()) {
				f, err := New(b.JetStream(), store, c, slog.New(slog.DiscardHandler))
				must(t, err)
				fctx, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- f.Run(fctx) }()
				return f, func() {
					stop()
					if err := <-done; err != context.Canceled {
						t.Errorf("feed ended with %v", err)
					}
				}
			}
			s := &sim{t: t, p: b, js: b.JetStream(), prefix: cfg.Prefix, r: rand.New(rand.NewPCG(1, 2))}
			feed, stop := start(cfg)
			<-feed.Ready()
			// For the first 40 trades the server "restarts" under the
			// writer each time: its connections are terminated right after
			// the trade is published, wherever the writer is (fetching,
			// mid-COPY, mid-commit, idle), and the trade must still land.
			terminated := 0
			const trades = 600
			var errsBefore uint64 // store errors of the feeds stopped
			for i := range trades {
				s.publishTrade(i)
				if i < 40 {
					terminated += pgtest.Terminate(t, dsn)
					waitFor(t, "fills written while connections are killed", time.Minute, func() bool {
						n, err := store.FillCount(ctx)
						return err == nil && n == int64(len(s.fills))
					})
				}
				switch {
				case i == 200:
					// The database refuses connections for a while: events
					// wait in JetStream and the lag grows.
					admin(t, "ALTER DATABASE "+dbName(dsn)+" ALLOW_CONNECTIONS false")
					pgtest.Terminate(t, dsn)
					for j := range 40 {
						s.publishTrade(trades + j)
					}
					waitFor(t, "lag while PostgreSQL is down", 2*time.Minute, func() bool { return feed.Lag() > 0 && feed.Stats().StoreErrs > 0 })
					admin(t, "ALTER DATABASE "+dbName(dsn)+" ALLOW_CONNECTIONS true")
				case i == 400:
					errsBefore += feed.Stats().StoreErrs
					stop() // the daemon restarts
					feed, stop = start(cfg)
				}
			}
			want := len(s.fills)
			waitFor(t, "every fill stored", 2*time.Minute, func() bool {
				n, err := store.FillCount(ctx)
				return err == nil && n == int64(want) && feed.Lag() == 0
			})
			st := feed.Stats()
			stop()
			t.Logf("fills %d, trades %d, %d connections terminated, stats %+v", want, s.trades, terminated, st)
			// A connection killed while the writer is idle is replaced by
			// the pool without an error, so how many kills cost a store
			// error depends on timing; the refusal phase always does (the
			// wait above required one).
			if terminated < 20 || errsBefore+st.StoreErrs < 1 {
				t.Errorf("%d connections terminated, %d store errors: the outages did not happen", terminated, errsBefore+st.StoreErrs)
			}

			verifyStore(ctx, t, store, cfg.Stream, want, s.expected())
			before := dumpStore(t, store)

			// A full redelivery is all duplicates: the store's position is
			// set back to the start (as a database restored from a backup
			// taken before the last commits would be) and the whole stream
			// comes again.
			_, err = store.Pool().Exec(ctx, `UPDATE consumer_state SET last_seq = 0`)
			must(t, err)
			f2, stop2 := start(cfg)
			waitFor(t, "redelivery consumed", 2*time.Minute, func() bool {
				st := f2.Stats()
				return st.Duplicates >= uint64(want) && f2.Lag() == 0
			})
			stop2()
			if st := f2.Stats(); st.Applied != 0 {
				t.Fatalf("redelivery applied %d events", st.Applied)
			}
			if after := dumpStore(t, store); after != before {
				t.Fatalf("redelivery changed the store:\n%s\n%s", before, after)
			}
		})
	}
}

func dbName(dsn string) string {
	c, err := pgx.ParseConfig(dsn)
	if err != nil {
		panic(err)
	}
	return c.Database
}

func admin(t *testing.T, sql string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pgtest.AdminDSN())
	must(t, err)
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	must(t, err)
}

func dumpStore(t *testing.T, s *pgstore.Store) string {
	var out string
	err := s.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM fills)::text || '|' || (SELECT count(*) FROM entries)::text || '|' ||
		(SELECT count(*) FROM ledger_events)::text || '|' ||
		(SELECT string_agg(account || '=' || balance::text, ',' ORDER BY account) FROM balances) || '|' ||
		(SELECT string_agg(id || ':' || state || ':' || net_quote::text, ',' ORDER BY id) FROM trades)`).Scan(&out)
	must(t, err)
	return out
}

// TestMemoryRebuild: without PostgreSQL the ledger is rebuilt from the
// stream at start, keeps following it, and Replay gives the same books.
func TestMemoryRebuild(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := tg.bus(t)
			cfg := testStream(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s := &sim{t: t, p: b, js: b.JetStream(), prefix: cfg.Prefix, r: rand.New(rand.NewPCG(3, 4))}
			for i := range 150 {
				s.publishTrade(i)
			}
			f, err := New(b.JetStream(), nil, cfg, nil)
			must(t, err)
			fctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- f.Run(fctx) }()
			select {
			case <-f.Ready():
			case <-time.After(time.Minute):
				t.Fatal("not ready")
			}
			f.View(func(l *ledger.Ledger) {
				if l.FillCount() != len(s.fills) {
					t.Fatalf("rebuilt %d fills, published %d", l.FillCount(), len(s.fills))
				}
			})
			for i := 150; i < 200; i++ { // live events after the rebuild
				s.publishTrade(i)
			}
			waitFor(t, "live fills applied", time.Minute, func() bool {
				n := 0
				f.View(func(l *ledger.Ledger) { n = l.FillCount() })
				return n == len(s.fills)
			})
			f.View(func(l *ledger.Ledger) {
				sameBalances(t, l, s.expected())
				if v := l.Check(); len(v) > 0 {
					t.Fatal(v)
				}
				if len(l.TradesOf(ledger.Filter{})) != s.trades {
					t.Fatalf("%d trades", len(l.TradesOf(ledger.Filter{})))
				}
			})
			st := f.Stats()
			if st.Rejected == 0 || st.Duplicates == 0 {
				t.Errorf("bad and duplicate events were not seen: %+v", st)
			}
			stop()
			<-done
			l, _, err := Replay(ctx, b.JetStream(), cfg)
			must(t, err)
			sameBalances(t, l, s.expected())
		})
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// TestNotReadyOnEmptyFetches: a fetch that returns nothing does not mean
// the stream is consumed — its MaxWait can pass before the first message
// arrives on a loaded machine. With the consumers' first fetches coming back
// empty, Replay (in-memory) and the PostgreSQL feed are ready only when the
// consumer has nothing left to deliver, with the whole ledger. (Before, the
// first empty fetch made them ready: TestMemoryRebuild's replay came back
// with 3 of 200 trades on a loaded machine.)
func TestNotReadyOnEmptyFetches(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := tg.bus(t)
			cfg := testStream(t, b)
			s := &sim{t: t, p: b, js: b.JetStream(), prefix: cfg.Prefix, r: rand.New(rand.NewPCG(5, 6))}
			for i := range 100 {
				s.publishTrade(i)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			js := emptyFirst{JetStream: b.JetStream(), n: 3}
			l, _, err := Replay(ctx, js, cfg)
			must(t, err)
			if l.FillCount() != len(s.fills) {
				t.Fatalf("replay ready with %d fills of %d", l.FillCount(), len(s.fills))
			}
			sameBalances(t, l, s.expected())

			store, err := pgstore.Open(ctx, pgtest.NewDB(t))
			must(t, err)
			defer store.Close()
			f, err := New(js, store, cfg, slog.New(slog.DiscardHandler))
			must(t, err)
			fctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- f.Run(fctx) }()
			defer func() { stop(); <-done }()
			select {
			case <-f.Ready():
			case <-ctx.Done():
				t.Fatal("store feed never ready")
			}
			f.View(func(l *ledger.Ledger) {
				if l.FillCount() != len(s.fills) {
					t.Fatalf("store feed ready with %d fills of %d", l.FillCount(), len(s.fills))
				}
			})
		})
	}
}

// emptyFirst is a JetStream whose consumers' first n fetches come back
// empty, as when a fetch's MaxWait passes before the first message arrives.
type emptyFirst struct {
	jetstream.JetStream
	n int
}

func (e emptyFirst) OrderedConsumer(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := e.JetStream.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, err
	}
	return &emptyFetches{Consumer: c, left: e.n}, nil
}

func (e emptyFirst) CreateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := e.JetStream.CreateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, err
	}
	return &emptyFetches{Consumer: c, left: e.n}, nil
}

type emptyFetches struct {
	jetstream.Consumer
	left int // the feed fetches from one goroutine
}

func (c *emptyFetches) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if c.left > 0 {
		c.left--
		return emptyBatch{}, nil
	}
	return c.Consumer.Fetch(batch, opts...)
}

type emptyBatch struct{}

func (emptyBatch) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg)
	close(ch)
	return ch
}

func (emptyBatch) Error() error { return nil }
