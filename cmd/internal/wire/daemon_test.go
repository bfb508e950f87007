package wire

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"arb/cmd/internal/config"
	"arb/configs"
	"arb/exchange/sim"
)

// startDaemon runs the default config (simulated venues, embedded NATS) on a
// free port with the simulator's random dislocations and quiet spells off,
// and waits until every book is fresh.
func startDaemon(t *testing.T, repl ...string) (*Daemon, string) {
	t.Helper()
	return startDaemonWait(t, func(d *Daemon) bool {
		e := d.engine()
		return e != nil && e.loop.Ready() && len(d.pending()) == 0
	}, repl...)
}

// startDaemonWait is startDaemon waiting for ready instead.
func startDaemonWait(t *testing.T, ready func(*Daemon) bool, repl ...string) (*Daemon, string) {
	t.Helper()
	return startDaemonAs(t, "test.yaml", ready, repl...)
}

// startDaemonAs is startDaemonWait with the config parsed under name
// (config.DefaultName makes it the embedded default, for its rules
// fallback).
func startDaemonAs(t *testing.T, name string, ready func(*Daemon) bool, repl ...string) (*Daemon, string) {
	t.Helper()
	d, base, _ := startDaemonCtl(t, name, ready, repl...)
	return d, base
}

// startDaemonCtl is startDaemonAs also returning stop, which ends Run
// (gracefully) and returns its error; the cleanup calls it too.
func startDaemonCtl(t *testing.T, name string, ready func(*Daemon) bool, repl ...string) (*Daemon, string, func() error) {
	t.Helper()
	return startDaemonOpt(t, name, ready, nil, repl...)
}

// startDaemonOpt is startDaemonCtl with tune, if set, adjusting the
// daemon's Options.
func startDaemonOpt(t *testing.T, name string, ready func(*Daemon) bool, tune func(*Options), repl ...string) (*Daemon, string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	text := strings.Replace(string(config.Default()), "http: {listen: 127.0.0.1:7420}", "http: {listen: "+addr+"}", 1)
	text = strings.Replace(text, "data_dir: ./data", "data_dir: "+t.TempDir(), 1)
	shipped, _ := filepath.Abs("../../../configs/rules.yaml")
	text = strings.Replace(text, "rules_file: configs/rules.yaml", "rules_file: "+shipped, 1)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(text, repl[i]) {
			t.Fatalf("config has no %q", repl[i])
		}
		text = strings.Replace(text, repl[i], repl[i+1], 1)
	}
	cfg, err := config.Parse(name, []byte(text), Known())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	opt := Options{RulesFallback: configs.DefaultRules, RulesFallbackName: configs.DefaultRulesName, Logger: log,
		TuneSim: func(c *sim.Config) { c.Dislocation.Prob, c.Quiet.Prob = 0, 0 }}
	if tune != nil {
		tune(&opt)
	}
	d, err := Build(ctx, cfg, opt)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if stopped {
			return runErr
		}
		stopped = true
		cancel()
		select {
		case runErr = <-done:
		case <-time.After(ShutdownTimeout + 20*time.Second):
			runErr = errors.New("daemon did not stop in time")
		}
		return runErr
	}
	t.Cleanup(func() {
		if stopped {
			return // the test stopped it and judged the result
		}
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !ready(d) {
		if time.Now().After(deadline) {
			t.Fatal("not ready within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d, "http://" + addr, stop
}

// pairCounts sums opportunities and plans of the pairs that buy on buy and
// sell on sell for symbol.
func pairCounts(d *Daemon, symbol, buy, sell string) (opps, plans uint64) {
	det := d.engine().det
	for _, p := range det.Pairs() {
		if p.Symbol == symbol && d.reg.VenueName(p.BuyVenue) == buy && d.reg.VenueName(p.SellVenue) == sell {
			ps := det.PairStats(p.ID)
			opps += ps.Opportunities.Load()
			plans += ps.Plans()
		}
	}
	return opps, plans
}

// TestDislocationsBecomePlans drives the whole daemon: a dislocation smaller
// than the two taker fees (10 bps each) is counted as an opportunity but
// produces no plan; a large one produces plans, counted in the metrics and
// listed with their expected edge in /api/v1/status.
func TestDislocationsBecomePlans(t *testing.T) {
	d, base := startDaemon(t)
	s := d.Sim()

	o0, p0 := pairCounts(d, "ETH-USDT", "binance", "bybit")
	// bybit sits 1 bp below the shared price, so buying on binance and
	// selling on bybit is not crossed until bybit is dislocated up; +12 bps
	// gives a gross edge of about 10 bps, well under the 20 bps of fees.
	if err := s.Dislocate("bybit", "ETH-USDT", 12, 25); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	o1, p1 := pairCounts(d, "ETH-USDT", "binance", "bybit")
	if p1 != p0 {
		t.Fatalf("a 12 bps dislocation (below two taker fees) produced %d plans", p1-p0)
	}
	if o1 == o0 {
		t.Fatalf("the 12 bps dislocation was not counted as an opportunity")
	}

	if err := s.Dislocate("bybit", "ETH-USDT", 80, 30); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, p := pairCounts(d, "ETH-USDT", "binance", "bybit"); p > p1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an 80 bps dislocation produced no plan within 3 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `arb_plans_total{buy_venue="binance",sell_venue="bybit",symbol="ETH-USDT"}`) {
		t.Fatal("arb_plans_total for the pair missing from /metrics")
	}
	var status struct {
		Plans []struct {
			Symbol, BuyVenue, SellVenue, Decision string
			Net                                   float64 `json:"net_edge_bps"`
		} `json:"recent_plans"`
	}
	resp, err = http.Get(base + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range status.Plans {
		if p.Symbol == "ETH-USDT" && p.Net >= 5 && p.Decision != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no ETH-USDT plan with its net edge in /api/v1/status: %+v", status.Plans)
	}
}

func post(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRulesReloadAndKillSwitch: a broken rules file on reload is refused
// with its position and the running rules stay; a good edit is taken; the
// NATS KV bucket distributes a rule set; the kill switch stops every plan
// until resumed.
func TestRulesReloadAndKillSwitch(t *testing.T) {
	const token = "test-admin-token-0123456789"
	t.Setenv("ARB_ADMIN_TOKEN", token)
	good, err := os.ReadFile("../../../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules := t.TempDir() + "/rules.yaml"
	if err := os.WriteFile(rules, good, 0o600); err != nil {
		t.Fatal(err)
	}
	pub, priv, err := GenerateRulesKey()
	if err != nil {
		t.Fatal(err)
	}
	d, base := startDaemon(t, "rules_file: "+shippedRules(t), "rules_file: "+rules, `kv_bucket: ""`,
		"kv_bucket: arb_rules_test\n  kv_trusted_keys: [\""+pub+"\"]")
	v0, _ := d.desk.risk.Version()

	broken := strings.Replace(string(good), "when: plan.notional > limits.max_notional", "when: plan.notional > \"ten\"", 1)
	if broken == string(good) {
		t.Fatal("rules file changed shape; update the test")
	}
	os.WriteFile(rules, []byte(broken), 0o600)
	code, body := post(t, base+"/api/v1/rules/reload", token)
	if code != 422 || !strings.Contains(body, "rules.yaml:") {
		t.Fatalf("broken reload: %d %s", code, body)
	}
	if v, _ := d.desk.risk.Version(); v.Hash != v0.Hash {
		t.Fatal("a broken file replaced the running rules")
	}

	edited := strings.Replace(string(good), "max_open_trades: 4", "max_open_trades: 3", 1)
	os.WriteFile(rules, []byte(edited), 0o600)
	if code, body := post(t, base+"/api/v1/rules/reload", token); code != 200 {
		t.Fatalf("good reload: %d %s", code, body)
	}
	v1, _ := d.desk.risk.Version()
	if v1.Hash == v0.Hash {
		t.Fatal("edited rules not loaded")
	}

	kv := strings.Replace(string(good), "name: default", "name: from-kv", 1)
	key, err := ParseRulesPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignRules([]byte(kv), key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.bus.PutKV(context.Background(), "arb_rules_test", "rules", signed); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := d.desk.risk.Version(); v.Name == "from-kv" && strings.HasPrefix(v.Source, "nats-kv:") {
			break
		}
		if time.Now().After(deadline) {
			v, _ := d.desk.risk.Version()
			t.Fatalf("KV rules not loaded: %+v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if code, _ := post(t, base+"/api/v1/kill", ""); code != 401 {
		t.Fatalf("kill without token: %d", code)
	}
	if code, body := post(t, base+"/api/v1/kill", token); code != 200 {
		t.Fatalf("kill: %d %s", code, body)
	}
	if _, halted := d.desk.risk.Halted(); !halted {
		t.Fatal("not halted after kill")
	}
	newest := func() string {
		if r := d.desk.recent(); len(r) > 0 {
			return r[0].ID
		}
		return ""
	}
	before := newest()
	if err := d.Sim().Dislocate("bybit", "SOL-USDT", 80, 30); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(3 * time.Second)
	for newest() == before {
		if time.Now().After(deadline) {
			t.Fatal("no plan arrived while killed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := d.desk.recent()[0]; p.Decision != "halt" || p.Rule != "kill_switch" {
		t.Fatalf("a plan made while killed was decided %q by %q", p.Decision, p.Rule)
	}
	if code, _ := post(t, base+"/api/v1/resume", token); code != 200 {
		t.Fatal("resume")
	}
	if _, halted := d.desk.risk.Halted(); halted {
		t.Fatal("still halted after resume")
	}
}

// TestDataDirLock: a second daemon on the same data_dir refuses to start
// (two JetStream servers on one store would corrupt it); after the first
// releases it, the directory can be locked again.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	first, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another arbd") {
		t.Fatalf("second lock: %v", err)
	}
	first.Close()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again.Close()
}

// TestBuildFailureReleasesEverything: a daemon that cannot start (here: its
// data_dir is locked by another) returns an error, panics nothing, and
// leaves nothing running.
func TestBuildFailureReleasesEverything(t *testing.T) {
	dir := t.TempDir()
	held, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	text := strings.Replace(string(config.Default()), "data_dir: ./data", "data_dir: "+dir, 1)
	text = strings.Replace(text, "rules_file: configs/rules.yaml", "rules_file: ../../../configs/rules.yaml", 1)
	cfg, err := config.Parse("test.yaml", []byte(text), Known())
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(context.Background(), cfg, Options{RulesFallback: configs.DefaultRules})
	if err == nil || d != nil || !strings.Contains(err.Error(), "in use by another arbd") {
		t.Fatalf("Build = %v, %v", d, err)
	}
}

// shippedRules is the absolute path of configs/rules.yaml.
func shippedRules(t *testing.T) string {
	p, err := filepath.Abs("../../../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
