package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

var (
	jsonUnmarshal = json.Unmarshal
	jsonMarshal   = json.Marshal
	sprintf       = fmt.Sprintf
)

type jsonRaw = json.RawMessage

var (
	_ = 0
)

func newJSONLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func decimalOf(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func itoa(n int) string { return strconv.Itoa(n) }

// venueDoc reads a documented payload from the shared venue docs (read at
// run time, never copied into the repository).
func venueDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "venue-docs", "binance", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// docPayload returns the named member of a documented file as raw JSON.
func docPayload(t testing.TB, file, member string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(venueDoc(t, file), &m); err != nil {
		t.Fatal(err)
	}
	v, ok := m[member]
	if !ok {
		t.Fatalf("%s has no %q", file, member)
	}
	return v
}

// btcusdt is the trading test instrument: scale 2/5 (prices in cents,
// quantities in 10^-5 BTC), tick 0.01, step 0.00001, min qty 0.00001, min
// notional 5 USDT.
func btcusdt() exchange.Instrument {
	return exchange.Instrument{ID: 3, Venue: 1, Symbol: "BTCUSDT", Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT",
		Scale: num.Scale{Px: 2, Qty: 5}, Tick: 1, Step: 1, MinQty: 1, MinNotional: 500}
}

func hmacCreds(t testing.TB) Credentials {
	c, err := NewHMACCredentials(fakeKey, fakeSecret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clientFor returns a client of the fake venue; mod adjusts the config.
func clientFor(t testing.TB, f *fakeVenue, mod func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{Venue: 1, Name: "binance-test", RESTURL: f.restURL(), WSAPIURL: f.wsURL(),
		Credentials: hmacCreds(t), Instruments: []exchange.Instrument{btcusdt()}, OrderEntry: OrderEntryREST,
		RequestTimeout: 5 * time.Second, PollEvery: 50 * time.Millisecond, BackoffMin: 10 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond, Logger: discard()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sinkRec records what the client delivers.
type sinkRec struct {
	mu      sync.Mutex
	orders  []exchange.OrderState
	fills   []exchange.Fill
	streams []bool
	changed chan struct{}
}

func newSinkRec() *sinkRec { return &sinkRec{changed: make(chan struct{}, 1)} }

func (s *sinkRec) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *sinkRec) OnOrder(o exchange.OrderState) {
	s.mu.Lock()
	s.orders = append(s.orders, o)
	s.mu.Unlock()
	s.poke()
}

func (s *sinkRec) OnFill(f exchange.Fill) {
	s.mu.Lock()
	s.fills = append(s.fills, f)
	s.mu.Unlock()
	s.poke()
}

func (s *sinkRec) OnStream(up bool) {
	s.mu.Lock()
	s.streams = append(s.streams, up)
	s.mu.Unlock()
	s.poke()
}

// waitFor waits until cond holds (checked under the sink's lock after
// every delivery and every 20 ms), failing after d.
func (s *sinkRec) waitFor(t testing.TB, d time.Duration, what string, cond func(*sinkRec) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("timeout waiting for %s; orders %d fills %d streams %v", what, len(s.orders), len(s.fills), s.streams)
		}
		select {
		case <-s.changed:
		case <-tick.C:
		}
	}
}

func (s *sinkRec) fillsOf(cid string) []exchange.Fill {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []exchange.Fill
	for _, f := range s.fills {
		if f.ClientID.String() == cid {
			out = append(out, f)
		}
	}
	return out
}

func (s *sinkRec) lastUp() bool {
	return len(s.streams) > 0 && s.streams[len(s.streams)-1]
}

// order is a LIMIT IOC request on btcusdt in test notation.
func order(cid string, side exchange.Side, px, qty string) exchange.OrderRequest {
	p, err := num.ParseString(px, 2)
	if err != nil {
		panic(err)
	}
	q, err := num.ParseString(qty, 5)
	if err != nil {
		panic(err)
	}
	return exchange.OrderRequest{ClientID: exchange.MustID(cid), Venue: 1, Inst: 3, Side: side, Px: num.Price(p), Qty: num.Qty(q), TIF: exchange.IOC}
}

// runBG runs fn in a goroutine until the test ends.
func runBG(t *testing.T, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kindOf(err error) exchange.ErrorKind { return exchange.KindOf(err) }
