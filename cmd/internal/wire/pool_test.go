package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/shopspring/decimal"

	"arb/cmd/internal/config"
	"arb/configs"
	"arb/exchange"
	"arb/exchange/sim"
	"arb/ledger"
	"arb/strategy/execute"
)

// poolYAML is arbd with two simulated CEX venues and one pool on a
// simulated chain, ETH-USDT only; %ADDR%, %DATA% and %RULES% are filled
// in by startPoolDaemon. The pool's account starts with 10 ETH and 100000
// USDT, like the CEX's.
const poolYAML = `data_dir: %DATA%
http: {listen: %ADDR%}
paper: false
sim: {enabled: true, seed: 1, step: 100ms}
instruments:
  - {symbol: ETH-USDT, price_decimals: 2, qty_decimals: 8}
venues:
  - name: binance
    kind: binance
    ws_url: sim://binance
    rest_url: sim://binance
    taker_fee_bps: 10
    age_max: 3s
    symbols: {ETH-USDT: ETHUSDT}
    withdraw_fees: {ETH: "0.002", USDT: "1"}
    balances: {USDT: "100000", ETH: "10"}
  - name: okx
    kind: okx
    ws_url: sim://okx
    rest_url: sim://okx
    taker_fee_bps: 10
    age_max: 3s
    symbols: {ETH-USDT: ETH-USDT}
    withdraw_fees: {ETH: "0.002", USDT: "1"}
    balances: {USDT: "100000", ETH: "10"}
  - name: uniswap
    kind: uniswap
    taker_fee_bps: 0
    age_max: 5s
    symbols: {ETH-USDT: WETH/USDT}
    withdraw_fees: {ETH: "0.002", USDT: "1"}
    balances: {USDT: "100000", ETH: "10"}
    chain:
      rpc_url: sim://chain
      max_base_fee_gwei: "100"
      max_priority_fee_gwei: "5"
      sim: {block_time: 1s, liquidity: "500"}
strategy:
  min_net_edge_bps: 5
  cooldown: 10s
  max_notional: "10000"
risk: {rules_file: %RULES%}
`

// startPoolDaemon runs poolYAML with the simulated chain mined by the
// test (Options.ManualChain) and the CEX simulator's random dislocations
// off, and waits until both books are fresh.
func startPoolDaemon(t *testing.T) (*Daemon, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rules, _ := filepath.Abs("../../../configs/rules.yaml")
	text := strings.NewReplacer("%DATA%", t.TempDir(), "%ADDR%", addr, "%RULES%", rules).Replace(poolYAML)
	cfg, err := config.Parse("pool.yaml", []byte(text), Known())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Build(ctx, cfg, Options{RulesFallback: configs.DefaultRules, RulesFallbackName: configs.DefaultRulesName, Logger: log,
		ManualChain: true, TuneSim: func(c *sim.Config) { c.Dislocation.Prob, c.Quiet.Prob = 0, 0 }})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30 s")
		}
	})
	base := "http://" + addr
	waitFor(t, "every book fresh in /api/v1/books", 60*time.Second, func() bool {
		if d.Addr() == "" {
			return false
		}
		fresh := 0
		for _, b := range getBooks(t, base) {
			if b.Symbol == "ETH-USDT" && !b.Stale && b.Bid != "" && b.Ask != "" {
				fresh++
			}
		}
		return fresh == 3 && d.exec.service() != nil && d.exec.service().Ready() && len(d.exec.balancesMissing()) == 0
	})
	return d, base
}

type apiBook struct {
	Venue, Symbol, Bid, Ask string
	Stale                   bool
}

func getBooks(t *testing.T, base string) []apiBook {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/books")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []apiBook
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

type apiTrade struct {
	ID        string `json:"id"`
	BuyVenue  string `json:"buy_venue"`
	SellVenue string `json:"sell_venue"`
	State     string `json:"state"`
	Legs      []struct {
		Venue         string `json:"venue"`
		Side          string `json:"side"`
		ClientOrderID string `json:"client_order_id"`
		FilledQty     string `json:"filled_qty"`
		Fee           string `json:"fee"`
		FeeAsset      string `json:"fee_asset"`
		Status        string `json:"status"`
	} `json:"legs"`
}

func getTrades(t *testing.T, base string) []apiTrade {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/trades")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []apiTrade
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// poolOf returns the pool venue's trading client and chain.
func poolOf(t *testing.T, d *Daemon) (*poolTrader, *poolChain) {
	t.Helper()
	for _, v := range d.venues {
		if v.chain != nil {
			pt, ok := d.exec.trader(v.id).(*poolTrader)
			if !ok {
				t.Fatalf("venue %s trades through %T", v.cfg.Name, d.exec.trader(v.id))
			}
			return pt, v.chain
		}
	}
	t.Fatal("no pool venue")
	return nil, nil
}

// cexOrders counts the simulated CEX venue's orders whose client id
// starts with prefix.
func cexOrders(d *Daemon, venue, prefix string) int {
	n := 0
	for _, o := range d.Sim().Orders(venue) {
		if strings.HasPrefix(o.ClientID, prefix) {
			n++
		}
	}
	return n
}

// cexMid is the simulated CEX's ETH-USDT mid.
func cexMid(t *testing.T, d *Daemon, pool exchange.VenueID) decimal.Decimal {
	t.Helper()
	var mid decimal.Decimal
	waitFor(t, "a fresh CEX book", 30*time.Second, func() bool {
		m, ok := d.refMid(pool, 1)
		mid = m
		return ok
	})
	return mid
}

// TestPoolVenueCEXDEX runs arbd with a Uniswap V2 pool on a simulated
// chain and a simulated CEX, the test mining every block:
//
//   - the pool's book is in /api/v1/books;
//   - another account moves the pool 1.2 % above the CEX: the detector
//     plans sell-on-pool, buy-on-CEX against both CEX venues in one batch;
//     the pool takes one trade at a time (the other plan is refused,
//     pool_busy); the executor sends the swap first
//     and nothing to the CEX while the swap is unmined; once it is mined
//     the CEX hedge is sent for exactly the swap's quantity (an IOC the
//     CEX fills short is retried: the hedge's fills sum to the swap's), the trade
//     closes flat, and its swap leg's fee is the gas (gas used ×
//     effective gas price, in ETH), which the ledger books as a fee of
//     the pool venue;
//   - the pool is moved up again; while the next swap waits in the
//     mempool another account sells into the pool with a higher tip in
//     the same block, so the swap's amountOutMin is unattainable: it
//     reverts on chain, the executor sees a failed first leg, never sends
//     the hedge, and the trade closes flat.
func TestPoolVenueCEXDEX(t *testing.T) {
	d, base := startPoolDaemon(t)
	pt, pc := poolOf(t, d)
	chain := pc.sim
	ctx := context.Background()
	var poolID exchange.VenueID
	for _, v := range d.venues {
		if v.chain != nil {
			poolID = v.id
		}
	}
	var poolBook apiBook
	for _, b := range getBooks(t, base) {
		if b.Venue == "uniswap" {
			poolBook = b
		}
	}
	if poolBook.Symbol != "ETH-USDT" || poolBook.Stale {
		t.Fatalf("pool book %+v", poolBook)
	}

	// 1. A dislocation up: the pool is sold, the CEX bought.
	if err := pc.flowTo(ctx, cexMid(t, d, poolID).Mul(decimal.RequireFromString("1.012"))); err != nil {
		t.Fatal(err)
	}
	chain.Commit()
	waitFor(t, "the swap sent", 60*time.Second, func() bool { return pt.Counters().Sent.Load() >= 1 })
	var tr apiTrade
	waitFor(t, "the trade listed", 30*time.Second, func() bool {
		for _, x := range getTrades(t, base) {
			if x.SellVenue == "uniswap" {
				tr = x
				return true
			}
		}
		return false
	})
	prefix := tr.Legs[0].ClientOrderID[:len(tr.Legs[0].ClientOrderID)-4]
	if tr.Legs[0].Venue != "uniswap" || strings.HasPrefix(tr.State, "closed") {
		t.Fatalf("the first leg out is not the swap, or the trade is not open: %+v", tr)
	}
	if n := cexOrders(d, tr.BuyVenue, prefix); n != 0 {
		t.Fatalf("%d CEX orders of the trade before its swap was mined", n)
	}
	// Both CEX venues planned against the pool's book in one batch; the
	// pool takes one trade at a time: the other plan was refused.
	waitFor(t, "the other CEX's plan refused (pool_busy)", 30*time.Second, func() bool { return d.desk.refusals[refusedPoolBusy].Load() >= 1 })
	for _, x := range getTrades(t, base) {
		if x.ID != tr.ID && (x.BuyVenue == "uniswap" || x.SellVenue == "uniswap") {
			t.Fatalf("a second trade on the pool while the first is open: %+v", x)
		}
	}
	chain.Commit()
	waitFor(t, "the trade closed", 60*time.Second, func() bool {
		for _, x := range getTrades(t, base) {
			if x.ID == tr.ID && strings.HasPrefix(x.State, "closed") {
				tr = x
				return true
			}
		}
		return false
	})
	// The swap, then the CEX hedge: its entry order and any retry (the
	// simulated CEX's book may fill an IOC short), summing to the swap.
	if tr.State != "closed_flat" || len(tr.Legs) < 2 {
		t.Fatalf("trade %+v", tr)
	}
	swap := tr.Legs[0]
	if swap.Venue != "uniswap" || swap.Side != "sell" || swap.Status != "filled" {
		t.Fatalf("swap leg %+v", swap)
	}
	hedged := decimal.Zero
	for _, l := range tr.Legs[1:] {
		if l.Venue != tr.BuyVenue || l.Side != "buy" {
			t.Fatalf("hedge leg %+v", l)
		}
		hedged = hedged.Add(decimal.RequireFromString(l.FilledQty))
	}
	if !hedged.Equal(decimal.RequireFromString(swap.FilledQty)) {
		t.Fatalf("hedged %s of the swap's %s: %+v", hedged, swap.FilledQty, tr.Legs)
	}
	if n := cexOrders(d, tr.BuyVenue, prefix); n != len(tr.Legs)-1 {
		t.Fatalf("CEX orders of the trade: %d, legs %d", n, len(tr.Legs)-1)
	}
	h, ok := pt.TxHash(exchange.MustID(swap.ClientOrderID))
	if !ok {
		t.Fatal("no transaction for the swap leg")
	}
	rcpt, err := chain.Client.TransactionReceipt(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	gas := decimal.NewFromBigInt(new(big.Int).Mul(new(big.Int).SetUint64(rcpt.GasUsed), rcpt.EffectiveGasPrice), -18)
	if swap.FeeAsset != "ETH" || !decimal.RequireFromString(swap.Fee).Equal(gas) || !gas.IsPositive() {
		t.Fatalf("swap fee %s %s, want the gas %s ETH (%d gas × %s wei)", swap.Fee, swap.FeeAsset, gas, rcpt.GasUsed, rcpt.EffectiveGasPrice)
	}
	feed := d.exec.ledger.feed.Load()
	var booked decimal.Decimal
	waitFor(t, "the swap's gas booked as a fee in the ledger", 30*time.Second, func() bool {
		found := false
		feed.View(func(l *ledger.Ledger) {
			for _, f := range l.Fills() {
				if f.Venue == "uniswap" && f.ClientOrderID == swap.ClientOrderID {
					found = true
					booked = l.Balance(ledger.Account{Kind: ledger.Fees, Venue: "uniswap", Asset: "ETH"})
				}
			}
		})
		return found
	})
	if !booked.Equal(gas) {
		t.Fatalf("the ledger's fees of the pool venue: %s ETH, want the swap's gas %s", booked, gas)
	}
	t.Logf("trade %s: swap sold %s ETH (gas %s ETH), hedge bought %s on %s in %d orders", tr.ID, swap.FilledQty, gas, hedged, tr.BuyVenue, len(tr.Legs)-1)

	// 2. Up again; the swap is front-run in its own block.
	reverted := pt.Counters().Reverted.Load()
	sent := pt.Counters().Sent.Load()
	if err := pc.flowTo(ctx, cexMid(t, d, poolID).Mul(decimal.RequireFromString("1.012"))); err != nil {
		t.Fatal(err)
	}
	chain.Commit()
	waitFor(t, "the second swap sent", 90*time.Second, func() bool { return pt.Counters().Sent.Load() > sent })
	var tr2 apiTrade
	waitFor(t, "the second trade listed", 30*time.Second, func() bool {
		for _, x := range getTrades(t, base) {
			if x.ID != tr.ID && x.SellVenue == "uniswap" && !strings.HasPrefix(x.State, "closed") {
				tr2 = x
				return true
			}
		}
		return false
	})
	// Another account sells 20 ETH with a 100 gwei tip: mined first.
	flow := crypto.PubkeyToAddress(simFlowKey.PublicKey)
	amt := new(big.Int).Mul(big.NewInt(20), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	if _, err := chain.SendPending(ctx, simFlowKey, chain.Router, chain.SwapData(chain.Base, amt, flow), big.NewInt(100e9)); err != nil {
		t.Fatal(err)
	}
	chain.Commit()
	waitFor(t, "the second trade closed", 60*time.Second, func() bool {
		for _, x := range getTrades(t, base) {
			if x.ID == tr2.ID && strings.HasPrefix(x.State, "closed") {
				tr2 = x
				return true
			}
		}
		return false
	})
	if tr2.State != "closed_flat" || len(tr2.Legs) != 1 || tr2.Legs[0].Venue != "uniswap" || tr2.Legs[0].Status != "rejected" || tr2.Legs[0].FilledQty != "0" {
		t.Fatalf("front-run trade %+v", tr2)
	}
	prefix2 := tr2.Legs[0].ClientOrderID[:len(tr2.Legs[0].ClientOrderID)-4]
	if n := cexOrders(d, tr2.BuyVenue, prefix2); n != 0 {
		t.Fatalf("%d CEX orders after a reverted swap", n)
	}
	if pt.Counters().Reverted.Load() <= reverted {
		t.Fatal("the swap did not revert on chain")
	}
	h2, _ := pt.TxHash(exchange.MustID(tr2.Legs[0].ClientOrderID))
	r2, err := chain.Client.TransactionReceipt(ctx, h2)
	if err != nil || r2.Status != 0 {
		t.Fatalf("the front-run swap's receipt: %v %+v", err, r2)
	}
	// The reverted swap paid gas without a fill: the leg shows it as its
	// fee, and the ledger books it as the pool venue's fee, beside the
	// first swap's.
	gas2 := decimal.NewFromBigInt(new(big.Int).Mul(new(big.Int).SetUint64(r2.GasUsed), r2.EffectiveGasPrice), -18)
	if l := tr2.Legs[0]; l.FeeAsset != "ETH" || !decimal.RequireFromString(l.Fee).Equal(gas2) || !gas2.IsPositive() {
		t.Fatalf("reverted swap's fee %s %s, want its gas %s ETH", l.Fee, l.FeeAsset, gas2)
	}
	waitFor(t, "the reverted swap's gas booked in the ledger", 30*time.Second, func() bool {
		feed.View(func(l *ledger.Ledger) {
			booked = l.Balance(ledger.Account{Kind: ledger.Fees, Venue: "uniswap", Asset: "ETH"})
		})
		return booked.Equal(gas.Add(gas2))
	})
}

// TestUniswapSimConfig: the shipped configs/uniswap-sim.yaml validates
// with this build's kinds and checks.
func TestUniswapSimConfig(t *testing.T) {
	cfg, err := config.Load("../../../configs/uniswap-sim.yaml", Known())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, v := range cfg.Venues {
		if _, ok := v.SimChain(); ok && tradingMode(cfg, i) == modeSim {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d pool venues on a simulated chain", n)
	}
}

// TestPoolPolicies: every pair with a pool venue runs sequentially, the
// swap first, with room for a block; the operator's pair naming the pool
// comes before, a catch-all pair after.
func TestPoolPolicies(t *testing.T) {
	text := strings.NewReplacer("%DATA%", t.TempDir(), "%ADDR%", "127.0.0.1:0", "%RULES%", "x.yaml").Replace(poolYAML)
	text = strings.Replace(text, "risk: {", `execution:
  pairs:
    - {buy_venue: "", sell_venue: "", policy: {mode: concurrent}}
    - {buy_venue: okx, sell_venue: uniswap, policy: {mode: sequential, first: sell, final_timeout: 45s, deadline: 5m}}
risk: {`, 1)
	cfg, err := config.Parse("pool.yaml", []byte(text), config.Known{Kinds: Kinds()})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := execConfig(cfg, registry(cfg))
	if err != nil {
		t.Fatal(err)
	}
	const binance, okx, pool = 1, 2, 3
	pick := func(buy, sell exchange.VenueID) (int, execute.Policy) {
		for i, p := range ec.Pairs {
			if (p.BuyVenue == 0 || p.BuyVenue == buy) && (p.SellVenue == 0 || p.SellVenue == sell) {
				return i, p.Policy
			}
		}
		return -1, ec.Default
	}
	if i, p := pick(okx, pool); i != 0 || p.FinalTimeout != 45*time.Second {
		t.Fatalf("the operator's pool pair: #%d %+v", i, p)
	}
	for _, c := range []struct {
		buy, sell exchange.VenueID
		first     exchange.Side
	}{{pool, binance, exchange.Buy}, {binance, pool, exchange.Sell}, {pool, okx, exchange.Buy}} {
		_, p := pick(c.buy, c.sell)
		if p.Mode != execute.Sequential || p.First != c.first || p.FinalTimeout < 30*time.Second || p.Validate() != nil {
			t.Fatalf("buy %d sell %d: %+v (%v)", c.buy, c.sell, p, p.Validate())
		}
	}
	if _, p := pick(binance, okx); p.Mode != execute.Concurrent {
		t.Fatalf("the CEX pair: %+v", p)
	}
}

// TestPoolSigner: a real chain's key comes from the environment variable
// the config names, or from an encrypted keystore with the password from
// the environment; a malformed key's error does not repeat it.
func TestPoolSigner(t *testing.T) {
	key, _ := crypto.GenerateKey()
	hexKey := fmt.Sprintf("%x", crypto.FromECDSA(key))
	want := crypto.PubkeyToAddress(key.PublicKey)
	v := &venue{chain: &poolChain{cfg: &config.Chain{KeyEnv: "ARB_TEST_UNI_KEY"}}}
	t.Setenv("ARB_TEST_UNI_KEY", hexKey)
	s, err := poolSigner(v)
	if err != nil || s.Address() != want {
		t.Fatalf("from env: %v %v", s, err)
	}
	if strings.Contains(fmt.Sprint(s), hexKey) || strings.Contains(fmt.Sprintf("%#v", s), hexKey) {
		t.Fatal("the signer prints its key")
	}
	t.Setenv("ARB_TEST_UNI_KEY", "zz"+hexKey[2:])
	if _, err := poolSigner(v); err == nil || strings.Contains(err.Error(), hexKey[2:]) {
		t.Fatalf("malformed key: %v", err)
	}
	os.Unsetenv("ARB_TEST_UNI_KEY")
	if _, err := poolSigner(v); err == nil || !strings.Contains(err.Error(), "ARB_TEST_UNI_KEY") {
		t.Fatalf("unset: %v", err)
	}
	dir := t.TempDir()
	ks := keystore.NewKeyStore(dir, keystore.LightScryptN, keystore.LightScryptP)
	acc, err := ks.ImportECDSA(key, "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARB_TEST_UNI_PW", "pw")
	v.chain.cfg = &config.Chain{KeystoreFile: acc.URL.Path, KeystorePasswordEnv: "ARB_TEST_UNI_PW"}
	if s, err := poolSigner(v); err != nil || s.Address() != want {
		t.Fatalf("from keystore: %v %v", s, err)
	}
}

// TestSplitRolesRefuseSimChain: a simulated chain lives inside one
// process, so feed and engine processes refuse a pool venue on one (the
// feed would watch one chain and the engine trade on another), before
// anything starts.
func TestSplitRolesRefuseSimChain(t *testing.T) {
	cfg, err := config.Load("../../../configs/uniswap-sim.yaml", Known())
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.URL = "nats://127.0.0.1:1" // never dialled: refused first
	for _, r := range []Role{RoleFeed, RoleEngine} {
		err := checkRole(cfg, r, r)
		if err == nil || !strings.Contains(err.Error(), "simulated chain") {
			t.Errorf("role %s: %v", r, err)
		}
	}
	if err := checkRole(cfg, RoleAll, RoleAll); err != nil {
		t.Errorf("role all: %v", err)
	}
}
