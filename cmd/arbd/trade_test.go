package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/ledgerfeed"
	"arb/exchange/sim"
)

// The execution end-to-end tests (issue 12's Must-show): arbd runs as a
// process and trades two venues of exchange/sim, which runs in this test
// process so that the test injects the faults, reads the venues' counters
// and balances, and can SIGKILL arbd without touching the venues. arbd
// reaches them over loopback like real venues (ws_url, rest_url,
// private_ws_url) with the simulator's test keys from its environment.
//
// Each test arms one fault on OKX, then dislocates OKX's book so the
// detector plans to buy on Binance and sell on OKX, and waits (on
// conditions, never fixed sleeps) until every trade is closed and settled.
// Then it checks, at the venues, what must hold whatever the fault:
//
//   - no venue received two orders for one intent (every client order id
//     at most once in the venue's order log, no duplicate id refused);
//   - every fill at the venues is recorded exactly once in the executor's
//     journal, and the ledger holds exactly the venues' fills;
//   - the positions end flat: the base asset the two accounts hold moved
//     by exactly the trades' reported residual, less the fees the venues
//     took in base (Binance and OKX charge a buy's fee in the base).

// tradeEnv is the simulated venues and an arbd trading them.
type tradeEnv struct {
	t      *testing.T
	sim    *sim.Sim
	setup  setup
	env    []string
	args   []string // extra arbd arguments
	p      *proc
	before map[string]decimal.Decimal // venue/asset → total at the start
}

var tradeVenues = []string{"binance", "okx"}

// newTradeEnv starts the venues and arbd (policy: YAML lines under
// execution.policy, each indented four spaces) and waits until it is
// ready.
func newTradeEnv(t *testing.T, policy string) *tradeEnv {
	t.Helper()
	return newTradeEnvWith(t, policy, nil)
}

// newTradeEnvWith is newTradeEnv with edits to the config (old, new pairs)
// and extra arbd arguments.
func newTradeEnvWith(t *testing.T, policy string, edits []string, args ...string) *tradeEnv {
	t.Helper()
	sc := sim.DefaultConfig()
	sc.Seed = 11
	sc.Symbols = sc.Symbols[:1] // BTC-USDT
	var venues []sim.VenueConfig
	for _, v := range sc.Venues {
		if v.Kind == sim.KindBinance || v.Kind == sim.KindOKX {
			v.Balances = map[string]string{"USDT": "100000", "BTC": "0.5"}
			venues = append(venues, v)
		}
	}
	sc.Venues = venues
	sc.Dislocation.Prob, sc.Quiet.Prob = 0, 0
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &tradeEnv{t: t, sim: s}

	dir := t.TempDir()
	e.setup = setup{dir: dir, addr: freePort(t)}
	e.setup.rules, e.setup.rulesText = shippedRules(t, dir)
	bu, _ := s.URLs("binance")
	ou, _ := s.URLs("okx")
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: info}
http: {listen: %s}
nats: {url: ""}
paper: false
instruments:
  - {symbol: BTC-USDT, price_decimals: 2, qty_decimals: 8}
venues:
  - name: binance
    kind: binance
    ws_url: %s
    rest_url: %s
    private_ws_url: %s
    api_key_env: ARB_TEST_BINANCE_KEY
    api_secret_env: ARB_TEST_BINANCE_SECRET
    taker_fee_bps: 10
    age_max: 3s
    symbols: {BTC-USDT: BTCUSDT}
    withdraw_fees: {BTC: "0.0002", USDT: "1"}
  - name: okx
    kind: okx
    ws_url: %s
    rest_url: %s
    private_ws_url: %s
    api_key_env: ARB_TEST_OKX_KEY
    api_secret_env: ARB_TEST_OKX_SECRET
    api_passphrase_env: ARB_TEST_OKX_PASSPHRASE
    taker_fee_bps: 10
    age_max: 3s
    symbols: {BTC-USDT: BTC-USDT}
    withdraw_fees: {BTC: "0.0002", USDT: "1"}
strategy:
  min_net_edge_bps: 5
  slippage_bps: 1
  cooldown: 1m
  max_notional: "5000"
execution:
  balance_refresh: 5s
  policy:
%s
risk: {rules_file: %s}
`, filepath.Join(dir, "data"), e.setup.addr, bu.WSBase, bu.REST, bu.Private, ou.WSBase, ou.REST, ou.Private, policy, e.setup.rules)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(cfg, edits[i]) {
			t.Fatalf("config has no %q", edits[i])
		}
		cfg = strings.Replace(cfg, edits[i], edits[i+1], 1)
	}
	e.args = args
	e.setup.cfg = writeFile(t, dir, "arbd.yaml", cfg)
	e.env = []string{"ARB_TEST_BINANCE_KEY=" + sim.TestBinanceKey, "ARB_TEST_BINANCE_SECRET=" + sim.TestBinanceSecret,
		"ARB_TEST_OKX_KEY=" + sim.TestOKXKey, "ARB_TEST_OKX_SECRET=" + sim.TestOKXSecret, "ARB_TEST_OKX_PASSPHRASE=" + sim.TestOKXPassphrase,
		"ARB_ADMIN_TOKEN=" + adminToken}
	e.before = e.balances()
	e.start()
	return e
}

// defaultPolicy is the executor's default policy with shorter windows, so
// a trade's compensation ends within seconds.
const defaultPolicy = `    ack_timeout: 1s
    not_found_after: 6s
    retry_window: 3s
    unwind_window: 3s
    fill_timeout: 1s
    deadline: 40s`

func (e *tradeEnv) start() {
	e.p = start(e.t, e.setup.addr, e.env, nil, append([]string{"--config", e.setup.cfg}, e.args...)...)
	e.p.waitReady(60 * time.Second)
}

func (e *tradeEnv) balances() map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, v := range tradeVenues {
		for _, a := range []string{"BTC", "USDT"} {
			free, locked, ok := e.sim.Balance(v, a)
			if !ok {
				e.t.Fatalf("no %s balance on %s", a, v)
			}
			out[v+"/"+a] = dec(free).Add(dec(locked))
		}
	}
	return out
}

func dec(a interface{ String() string }) decimal.Decimal {
	d, err := decimal.NewFromString(a.String())
	if err != nil {
		panic(err)
	}
	return d
}

// dislocate raises OKX's book by bps for steps market steps: buy on
// Binance, sell on OKX.
func (e *tradeEnv) dislocate(bps float64, steps int) {
	e.t.Helper()
	if err := e.sim.Dislocate("okx", "BTC-USDT", bps, steps); err != nil {
		e.t.Fatal(err)
	}
}

// trades returns /api/v1/trades.
func (e *tradeEnv) trades() []tradeJSON {
	e.t.Helper()
	code, body := e.p.get("/api/v1/trades?limit=100")
	if code != 200 {
		return nil
	}
	var ts []tradeJSON
	if err := json.Unmarshal([]byte(body), &ts); err != nil {
		e.t.Fatalf("trades: %v: %s", err, body)
	}
	return ts
}

type tradeJSON struct {
	ID           string    `json:"id"`
	State        string    `json:"state"`
	Qty          string    `json:"qty"`
	ResidualBase string    `json:"residual_base"`
	Legs         []legJSON `json:"legs"`
}

type legJSON struct {
	Venue, Side, Purpose, Status string
	ClientOrderID                string `json:"client_order_id"`
	FilledQty                    string `json:"filled_qty"`
}

// venueFills returns every arb fill at the venues, by venue/fill id.
func (e *tradeEnv) venueFills() map[string]sim.Fill {
	out := map[string]sim.Fill{}
	for _, v := range tradeVenues {
		for _, f := range e.sim.Fills(v) {
			if strings.HasPrefix(f.ClientID, "arb") {
				out[v+"/"+f.TradeID] = f
			}
		}
	}
	return out
}

// settle waits until at least one trade exists, every trade is closed, no
// order is open, and the journal holds as many fill records as the venues
// made fills (the executor has fetched them all). It then engages the kill
// switch and waits for the same again: the market stays dislocated, so
// without the halt arbd could open another trade while check compares the
// venues' fills with the journal and the ledger, and the two snapshots
// would differ by that trade's fills.
func (e *tradeEnv) settle(d time.Duration) []tradeJSON {
	e.t.Helper()
	e.quiet(d)
	if code, body := e.p.post("/api/v1/kill", adminToken, "application/json", `{"reason":"test settled"}`); code != 200 || !strings.Contains(body, `"engaged":true`) {
		e.t.Fatalf("kill switch: %d %s", code, body)
	}
	return e.quiet(d)
}

// quiet waits until at least one trade exists, every trade is closed, no
// order is open, and the journal holds every venue fill, and returns the
// trades.
func (e *tradeEnv) quiet(d time.Duration) []tradeJSON {
	e.t.Helper()
	var ts []tradeJSON
	e.p.waitFor("every trade closed and its fills recorded", d, func() bool {
		ts = e.trades()
		if len(ts) == 0 {
			return false
		}
		for _, t := range ts {
			if !strings.HasPrefix(t.State, "closed_") {
				return false
			}
		}
		if c, body := e.p.get("/api/v1/orders?open=1"); c != 200 || body != "[]\n" {
			return false
		}
		return len(e.journalFills()) >= len(e.venueFills())
	})
	return ts
}

// reader connects to arbd's embedded NATS as its read-only user.
func (e *tradeEnv) reader() jetstream.JetStream {
	e.t.Helper()
	url, opt, err := bus.LocalReader(filepath.Join(e.setup.dir, "data"))
	if err != nil {
		e.t.Fatal(err)
	}
	nc, err := nats.Connect(url, opt, nats.MaxReconnects(0))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	return js
}

// journalFills counts the executor's fill records by venue/fill id.
func (e *tradeEnv) journalFills() map[string]int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	js := e.reader()
	c, err := js.OrderedConsumer(ctx, bus.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"arb.exec.fill"}})
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for left := info.NumPending; left > 0; {
		b, err := c.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			e.t.Fatal(err)
		}
		for m := range b.Messages() {
			var rec struct {
				Fill struct {
					Venue       string `json:"venue"`
					VenueFillID string `json:"venue_fill_id"`
				} `json:"fill"`
			}
			if err := json.Unmarshal(m.Data(), &rec); err != nil {
				e.t.Fatal(err)
			}
			out[rec.Fill.Venue+"/"+rec.Fill.VenueFillID]++
			md, _ := m.Metadata()
			left = md.NumPending
		}
		if b.Error() != nil {
			e.t.Fatal(b.Error())
		}
	}
	return out
}

// check asserts the invariants of every test (see the top of the file).
func (e *tradeEnv) check(ts []tradeJSON) {
	t := e.t
	t.Helper()
	// No venue received two orders for one intent.
	for _, v := range tradeVenues {
		seen := map[string]int{}
		for _, o := range e.sim.Orders(v) {
			seen[o.ClientID]++
		}
		for id, n := range seen {
			if n > 1 {
				t.Errorf("%s received %d orders with client id %s", v, n, id)
			}
		}
		if d := e.sim.DuplicateClientIDs(v); len(d) > 0 {
			t.Errorf("%s refused duplicate client ids %v", v, d)
		}
	}
	// Every fill recorded exactly once.
	fills := e.venueFills()
	journal := e.journalFills()
	for k := range fills {
		if journal[k] != 1 {
			t.Errorf("venue fill %s is in the journal %d times", k, journal[k])
		}
	}
	for k := range journal {
		if _, ok := fills[k]; !ok {
			t.Errorf("journal fill %s was never made by a venue", k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var inLedger map[string]bool
	e.p.waitFor("the ledger holding every fill", 30*time.Second, func() bool {
		l, _, err := ledgerfeed.Replay(ctx, e.reader(), ledgerfeed.Config{})
		if err != nil {
			t.Fatal(err)
		}
		inLedger = map[string]bool{}
		for _, f := range l.Fills() {
			inLedger[f.Venue+"/"+f.VenueFillID] = true
		}
		return len(inLedger) >= len(fills)
	})
	for k := range fills {
		if !inLedger[k] {
			t.Errorf("venue fill %s is not in the ledger", k)
		}
	}
	if len(inLedger) != len(fills) {
		t.Errorf("the ledger holds %d fills, the venues made %d", len(inLedger), len(fills))
	}
	// Flat, or the reported residual: the BTC both accounts hold moved by
	// the residuals, less the fees taken in BTC.
	after := e.balances()
	moved := decimal.Zero
	for _, v := range tradeVenues {
		moved = moved.Add(after[v+"/BTC"].Sub(e.before[v+"/BTC"]))
	}
	feesBTC := decimal.Zero
	for _, f := range fills {
		if f.FeeAsset == "BTC" {
			feesBTC = feesBTC.Add(decimal.New(f.Fee, -int32(f.FeeDec)))
		}
	}
	residual := decimal.Zero
	for _, tr := range ts {
		r, err := decimal.NewFromString(tr.ResidualBase)
		if err != nil {
			t.Fatalf("trade %s residual %q", tr.ID, tr.ResidualBase)
		}
		if tr.State == "closed_flat" && !r.IsZero() {
			t.Errorf("trade %s closed flat with residual %s", tr.ID, r)
		}
		residual = residual.Add(r)
	}
	if !moved.Add(feesBTC).Equal(residual) {
		t.Errorf("BTC held moved by %s with %s of fees in BTC; the trades report a residual of %s", moved, feesBTC, residual)
	}
	t.Logf("%d trades, %d fills, residual %s BTC, BTC moved %s (fees %s)", len(ts), len(fills), residual, moved, feesBTC)
	for _, tr := range ts {
		var legs []string
		for _, l := range tr.Legs {
			legs = append(legs, fmt.Sprintf("%s %s %s %s %s", l.Venue, l.Side, l.Purpose, l.Status, l.FilledQty))
		}
		t.Logf("trade %s %s qty %s: %s", tr.ID, tr.State, tr.Qty, strings.Join(legs, "; "))
	}
}

// faultActed fails the test unless the venue logged the fault.
func (e *tradeEnv) faultActed(venue string, kind sim.FaultKind) {
	e.t.Helper()
	for _, r := range e.sim.FaultLog(venue) {
		if r.Kind == kind {
			return
		}
	}
	e.t.Errorf("the %s fault never acted on %s", kind, venue)
}

// runFault is one test: arm fault on OKX, make the opportunity, settle,
// check.
func runFault(t *testing.T, f sim.Fault, check func(e *tradeEnv, ts []tradeJSON)) {
	e := newTradeEnv(t, defaultPolicy)
	if err := e.sim.Inject("okx", f); err != nil {
		t.Fatal(err)
	}
	e.dislocate(60, 50)
	ts := e.settle(90 * time.Second)
	e.check(ts)
	if check != nil {
		check(e, ts)
	}
	e.p.stop()
}

// okxEntry returns the first trade's OKX entry leg.
func okxEntry(t *testing.T, ts []tradeJSON) legJSON {
	t.Helper()
	first := ts[len(ts)-1] // newest first
	for _, l := range first.Legs {
		if l.Venue == "okx" && l.Purpose == "entry" {
			return l
		}
	}
	t.Fatalf("no OKX entry leg in %+v", first)
	return legJSON{}
}

func TestTradeRejectedLeg(t *testing.T) {
	runFault(t, sim.Fault{Kind: sim.FaultRejectOrder}, func(e *tradeEnv, ts []tradeJSON) {
		if l := okxEntry(t, ts); l.Status != "rejected" {
			t.Errorf("OKX entry leg %+v, want rejected", l)
		}
	})
}

func TestTradePartialFill30(t *testing.T) {
	runFault(t, sim.Fault{Kind: sim.FaultPartialFill, Fraction: 0.3}, func(e *tradeEnv, ts []tradeJSON) {
		l := okxEntry(t, ts)
		q, _ := decimal.NewFromString(ts[len(ts)-1].Qty)
		got, _ := decimal.NewFromString(l.FilledQty)
		if want := q.Mul(decimal.NewFromFloat(0.3)).RoundDown(4); !got.Equal(want) {
			t.Errorf("OKX entry filled %s of %s, want 30%% = %s", got, q, want)
		}
	})
}

func TestTrade429OnOneLeg(t *testing.T) {
	runFault(t, sim.Fault{Kind: sim.FaultRateLimit, RetryAfter: time.Second}, func(e *tradeEnv, ts []tradeJSON) {
		e.faultActed("okx", sim.FaultRateLimit)
		// No order request inside the announced wait. (The OKX client's
		// private stream logs in again inside it: login and subscribe are
		// not orders, and the simulator answers them.)
		for _, v := range e.sim.RetryAfterViolations("okx") {
			if v.Endpoint != "login" && v.Endpoint != "subscribe" {
				t.Errorf("a request to OKX inside its Retry-After: %+v", v)
			}
		}
	})
}

func TestTradeDelayedAck2s(t *testing.T) {
	runFault(t, sim.Fault{Kind: sim.FaultDelayAck, Duration: 2 * time.Second}, nil)
}

func TestTradeLostAck(t *testing.T) {
	runFault(t, sim.Fault{Kind: sim.FaultLoseAck}, func(e *tradeEnv, ts []tradeJSON) {
		if l := okxEntry(t, ts); l.Status != "filled" && l.Status != "partially_filled" && l.Status != "expired" && l.Status != "canceled" {
			t.Errorf("OKX entry leg %+v: the lost acknowledgement was not resolved to the venue's state", l)
		}
	})
}

func TestTradePrivateStreamDropped(t *testing.T) {
	runFault(t, sim.Fault{Kind: sim.FaultStreamDrop, NextOrder: true}, func(e *tradeEnv, ts []tradeJSON) {
		e.faultActed("okx", sim.FaultStreamDrop)
	})
}

// TestTradeKilledBetweenFills: the pair runs sequentially (Binance first,
// OKX sized to what it filled); Binance executes the first leg at once but
// its acknowledgement is held back and its private stream is silent, so
// arbd learns of the fill only when its acknowledgement times out (5 s)
// and a query answers: it is SIGKILLed meanwhile, the first leg filled and
// the second not sent. The restarted arbd replays its journal, resolves
// the first leg by a query (not resent), sends the second, and closes the
// trade before it takes new plans.
func TestTradeKilledBetweenFills(t *testing.T) {
	e := newTradeEnv(t, strings.Replace(defaultPolicy, "ack_timeout: 1s", "ack_timeout: 5s", 1)+"\n    mode: sequential\n    first: buy")
	for _, f := range []sim.Fault{{Kind: sim.FaultDelayAck, Duration: 20 * time.Second}, {Kind: sim.FaultStreamSilent, Duration: time.Minute}} {
		if err := e.sim.Inject("binance", f); err != nil {
			t.Fatal(err)
		}
	}
	e.dislocate(60, 600) // long enough for the second leg after the restart
	e.p.waitFor("Binance's fill of the first leg", 30*time.Second, func() bool {
		for _, f := range e.sim.Fills("binance") {
			if strings.HasPrefix(f.ClientID, "arb") {
				return true
			}
		}
		return false
	})
	if n := len(e.sim.Orders("okx")); n != 0 {
		t.Fatalf("OKX has %d orders before the kill: not between the two fills", n)
	}
	if err := e.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-e.p.exited
	e.start()
	ts := e.settle(90 * time.Second)
	e.check(ts)
	if n := len(e.sim.OrdersByClientID("binance", okxOrBinanceFirst(e))); n != 1 {
		t.Errorf("the first leg reached Binance %d times", n)
	}
	if !strings.Contains(e.p.logs.String(), `"recovering":1`) {
		t.Error("the restarted arbd did not recover the trade from its journal")
	}
	e.p.stop()
}

// okxOrBinanceFirst returns the client id of arb's first Binance order.
func okxOrBinanceFirst(e *tradeEnv) string {
	for _, o := range e.sim.Orders("binance") {
		if strings.HasPrefix(o.ClientID, "arb") {
			return o.ClientID
		}
	}
	return ""
}
