package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/arbd/internal/earlysig"
	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/jsonlog"
	"arb/cmd/internal/wire"
)

// The end-to-end tests run the arbd binary as a process. It is built once
// per test run (with a link-time revision, since a git worktree build
// carries no VCS stamp: golang/go#58218); ARBD_TEST_BIN runs them against
// another binary instead (a build of an earlier commit, say, to see them
// fail there).
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// testRevision is the revision linked into the test binary.
const testRevision = "0123456789abcdef0123456789abcdef01234567"

func TestMain(m *testing.M) {
	// earlysig's init routed and ignored signals in this test binary too:
	// give Ctrl-C its default action back, and do not let the daemons the
	// tests start inherit an ignored SIGPIPE (ignored signals survive exec).
	signal.Reset(earlysig.Handled...)
	unignorePIPE()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func arbdBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	if p := os.Getenv("ARBD_TEST_BIN"); p != "" {
		return p
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "arbd-test-")
		if binErr != nil {
			return
		}
		os.Chmod(binDir, 0o755) // the read-only store test runs it as another user
		binPath = filepath.Join(binDir, "arbd")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		out, err := exec.Command("go", "build", "-ldflags", "-X arb/cmd/internal/wire.linkRevision="+testRevision,
			"-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// unignorePIPE gives SIGPIPE back to the Go runtime's handler in this test
// binary (signal.Reset does not undo signal.Ignore; a Notify does), so the
// daemons the tests start do not inherit an ignored SIGPIPE.
func unignorePIPE() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGPIPE)
	signal.Stop(c)
}

// defaultWith returns the embedded default config with lines replaced.
func defaultWith(t *testing.T, repl ...string) string {
	t.Helper()
	s := string(config.Default())
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("default config has no %q", repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	return s
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// shippedRules copies configs/rules.yaml into dir and returns its path.
func shippedRules(t *testing.T, dir string) (path string, text string) {
	t.Helper()
	b, err := os.ReadFile("../../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "rules.yaml", string(b)), string(b)
}

// setup is one daemon's files: a config on a free port with its own data
// directory and rules file.
type setup struct {
	dir, cfg, rules, rulesText, addr string
}

// newSetup writes a config for the default (simulated venues, embedded
// NATS) with repl applied on top.
func newSetup(t *testing.T, repl ...string) setup {
	t.Helper()
	dir := t.TempDir()
	s := setup{dir: dir, addr: freePort(t)}
	s.rules, s.rulesText = shippedRules(t, dir)
	base := []string{
		"http: {listen: 127.0.0.1:7420}", "http: {listen: " + s.addr + "}",
		"data_dir: ./data", "data_dir: " + filepath.Join(dir, "data"),
		"rules_file: configs/rules.yaml", "rules_file: " + s.rules,
	}
	s.cfg = writeFile(t, dir, "arbd.yaml", defaultWith(t, append(base, repl...)...))
	return s
}

// planFriendly makes the simulated market produce plans every few hundred
// milliseconds (no fees, no threshold, a short cooldown), so tests can see
// decisions without waiting for a random dislocation.
var planFriendly = []string{
	"min_net_edge_bps: 5", "min_net_edge_bps: 0",
	"slippage_bps: 1", "slippage_bps: 0",
	"cooldown: 2s", "cooldown: 100ms",
}

func zeroFees(s string) string { return strings.ReplaceAll(s, "taker_fee_bps: 10", "taker_fee_bps: 0") }

// syncBuffer collects a process's output for concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running arbd.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	logs   *syncBuffer
	exited chan struct{}
	err    error
}

// start runs arbd with args (and extra environment), logging to a buffer
// unless the caller set cmd.Stderr through prep.
func start(t *testing.T, addr string, env []string, prep func(*exec.Cmd), args ...string) *proc {
	t.Helper()
	p := &proc{t: t, base: "http://" + addr, logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(arbdBin(t), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.logs
	if prep != nil {
		prep(p.cmd)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("arbd log:\n%s", tail(p.logs.String(), 60))
		}
	})
	return p
}

// alive fails the test if the process has exited.
func (p *proc) alive() {
	p.t.Helper()
	select {
	case <-p.exited:
		p.t.Fatalf("arbd exited: %v", p.err)
	default:
	}
}

// waitFor polls cond every 50 ms (failing if arbd exits) until it holds.
func (p *proc) waitFor(what string, d time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		p.alive()
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get returns the status code and body of GET path, or 0 when the server
// does not answer.
func (p *proc) get(path string) (int, string) {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *proc) waitReady(d time.Duration) {
	p.t.Helper()
	p.waitFor("ready", d, func() bool { c, _ := p.get("/readyz"); return c == 200 })
}

func (p *proc) waitLog(substr string, d time.Duration) {
	p.t.Helper()
	p.waitFor("log line "+substr, d, func() bool { return strings.Contains(p.logs.String(), substr) })
}

func (p *proc) status() map[string]any {
	p.t.Helper()
	code, body := p.get("/api/v1/status")
	if code != 200 {
		p.t.Fatalf("status: %d %s", code, body)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		p.t.Fatal(err)
	}
	return st
}

// post sends an admin request.
func (p *proc) post(path, token, contentType, body string) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends SIGINT and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Fatalf("exit after SIGINT: %v", p.err)
		}
	case <-time.After(wire.ShutdownTimeout + 30*time.Second):
		p.t.Fatal("did not exit in time after SIGINT")
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestBadConfigExits: a bad config never starts the daemon; it exits 2
// and prints every problem, each on its own line naming the file, the line
// and the key — before any JSON log line.
func TestBadConfigExits(t *testing.T) {
	dir := t.TempDir()
	rules, _ := shippedRules(t, dir)
	ok := func(repl ...string) string {
		return defaultWith(t, append([]string{"rules_file: configs/rules.yaml", "rules_file: " + rules}, repl...)...)
	}
	tests := []struct {
		name  string
		body  string // config text; "" = a file that does not exist
		lines int    // problem lines expected
		want  []string
	}{
		{"unknown venue kind", ok("kind: okx", "kind: kraken"), 1, []string{"venues[1].kind", "kraken"}},
		{"missing symbol", ok("symbols: {BTC-USDT: BTC-USDT, ETH-USDT: ETH-USDT, SOL-USDT: SOL-USDT}",
			"symbols: {BTC-USDT: BTC-USDT, DOGE-USDT: DOGE-USDT}"), 1, []string{"DOGE-USDT"}},
		{"bad url", ok("ws_url: sim://bybit\n    rest_url: sim://bybit", "ws_url: htp//nowhere\n    rest_url: https://api.bybit.com"), 1, []string{"ws_url"}},
		{"unreadable file", "", 1, []string{"missing.yaml"}},
		{"missing rules file", defaultWith(t, "rules_file: configs/rules.yaml", "rules_file: no-such-rules.yaml"), 1, []string{"risk.rules_file", "no-such-rules.yaml"}},
		{"secret in yaml", ok("    taker_fee_bps: 10\n", "    taker_fee_bps: 10\n    api_secret: hunter2\n"), 1, []string{"api_secret", "environment"}},
		{"five mistakes", ok(
			"log: {level: info}", "log: {level: loud}", // validation
			"\npaper: false", "\npapr: false", // decoding: unknown key
			"kind: okx", "kind: kraken", // validation
			"age_max: 3s", "age_max: 3", // decoding: a duration without a unit
			`balances: {USDT: "100000", BTC: "0.5", ETH: "10", SOL: "200"}`, `balances: {USDT: "100000", BTC: "0.5", ETH: "10", SOL: "200", DOGE: "5"}`, // was a run-time failure
		), 5, []string{"log.level", "papr", "venues[1].kind", "venues[0].age_max", "venues[0].balances.DOGE"}},
		{"run-time failure now a config problem", ok("step: 100ms", "step: 1ns"), 1, []string{"sim.step", "at least 1ms"}},
		{"price decimals the simulator cannot print", ok("{symbol: BTC-USDT, price_decimals: 2", "{symbol: BTC-USDT, price_decimals: 18"), 2,
			[]string{"instruments[0].price_decimals", "strategy.max_notional"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "missing.yaml")
			if tt.body != "" {
				path = writeFile(t, dir, "arbd.yaml", tt.body)
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--config", path}, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != tt.lines {
				t.Fatalf("want %d line(s), got:\n%s", tt.lines, stderr.String())
			}
			re := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:\d+: [A-Za-z_\[\]0-9.-]+: \S`)
			for _, l := range lines {
				if tt.body != "" && !re.MatchString(l) {
					t.Errorf("not file:line: key: what: %q", l)
				}
				if strings.HasPrefix(l, "{") {
					t.Errorf("a JSON log line among the problems: %q", l)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("%q does not mention %q", stderr.String(), w)
				}
			}
			if strings.Contains(stderr.String(), "hunter2") {
				t.Errorf("the secret value was echoed: %q", stderr.String())
			}
		})
	}
}

// TestVersionFlag: arbd --version prints the module version and the VCS
// revision, and exits 0.
func TestVersionFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !regexp.MustCompile(`^arbd arb \S+ \(revision \S+.*\) go\d`).MatchString(stdout.String()) {
		t.Errorf("--version printed %q", stdout.String())
	}
	out, err := exec.Command(arbdBin(t), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "(revision "+testRevision) {
		t.Errorf("the binary's --version %q lacks its revision %s", out, testRevision)
	}
}

// TestDaemonEndToEnd runs arbd on its default config (simulated venues over
// real websockets, embedded NATS) and checks the contract: ready within
// 20 s, live non-stale books for every venue and symbol, metrics, a
// SIGHUP reload, a JSON log whose every line is one JSON object with
// "component" at most once, a start-up line naming the version and
// revision, a connect line for every venue, and a clean exit within
// seconds of SIGINT.
func TestDaemonEndToEnd(t *testing.T) {
	s := newSetup(t)
	p := start(t, s.addr, nil, nil, "--config", s.cfg)
	begin := time.Now()
	p.waitReady(20 * time.Second)
	t.Logf("ready after %v", time.Since(begin).Round(time.Millisecond))

	var books []map[string]any
	_, body := p.get("/api/v1/books")
	if err := json.Unmarshal([]byte(body), &books); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, b := range books {
		for _, k := range []string{"venue", "symbol", "bid", "bid_qty", "ask", "ask_qty", "exchange_ts", "stale"} {
			if _, ok := b[k]; !ok {
				t.Fatalf("book row without %q: %v", k, b)
			}
		}
		seen[fmt.Sprint(b["venue"], " ", b["symbol"])] = true
	}
	for _, v := range []string{"binance", "okx", "bybit"} {
		for _, sym := range []string{"BTC-USDT", "ETH-USDT", "SOL-USDT"} {
			if !seen[v+" "+sym] {
				t.Errorf("no book for %s %s", v, sym)
			}
		}
	}
	_, metrics := p.get("/metrics")
	for _, m := range []string{"arb_feed_messages_total{venue=\"okx\"}", "arb_opportunities_total{", "arb_plans_total{",
		"arb_risk_decisions_total{", "arb_nats_connected 1", "arb_journal_available 1", "arb_risk_rules_file_readable 1"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	st := p.status()
	if st["rules_version"] == "" || st["mode"] != "sim" || st["revision"] != testRevision {
		t.Errorf("status: %v", st)
	}
	// The fleet's status, as arb status reads it: the embedded server's
	// read-only user sees this daemon's heartbeat.
	url, auth, err := bus.LocalReader(filepath.Join(s.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, auth)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kctx, kcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer kcancel()
	kv, err := js.KeyValue(kctx, "arb_fleet")
	if err != nil {
		t.Fatal(err)
	}
	p.waitFor("this daemon trading in the fleet's status", 30*time.Second, func() bool {
		ms, _, err := wire.ReadFleet(kctx, kv, time.Now)
		return err == nil && len(ms) == 1 && ms[0].Instance == st["instance"] && ms[0].Status == "trading" &&
			ms[0].PID == p.cmd.Process.Pid && ms[0].BooksFresh == 9
	})

	// SIGHUP reloads the rules file: the rule-set version changes.
	os.WriteFile(s.rules, []byte(strings.Replace(s.rulesText, "name: default", "name: after-sighup", 1)), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor("rules reloaded on SIGHUP", 10*time.Second, func() bool {
		v, _ := p.status()["rules_version"].(string)
		return strings.HasPrefix(v, "after-sighup ")
	})
	// A change to the file is picked up without a signal too.
	os.WriteFile(s.rules, []byte(strings.Replace(s.rulesText, "name: default", "name: after-edit", 1)), 0o600)
	p.waitFor("rules reloaded on edit", 10*time.Second, func() bool {
		v, _ := p.status()["rules_version"].(string)
		return strings.HasPrefix(v, "after-edit ")
	})
	for _, v := range []string{"binance", "okx", "bybit"} {
		p.waitLog(`"msg":"venue connected","venue":"`+v+`"`, 10*time.Second)
	}

	// The embedded default trades: within a minute a plan becomes a trade
	// through the real trading clients against the simulated venues, with
	// its fills, in the PnL, the metrics and one log line per transition.
	var trade map[string]any
	p.waitFor("a closed trade", time.Minute, func() bool {
		c, body := p.get("/api/v1/trades?limit=50")
		var ts []map[string]any
		if c != 200 || json.Unmarshal([]byte(body), &ts) != nil {
			return false
		}
		for _, tr := range ts {
			if st, _ := tr["state"].(string); strings.HasPrefix(st, "closed_") {
				trade = tr
				return true
			}
		}
		return false
	})
	t.Logf("first closed trade after %v: %v", time.Since(begin).Round(time.Millisecond), trade)
	for _, k := range []string{"id", "plan_id", "symbol", "buy_venue", "sell_venue", "state", "qty", "expected_net_quote",
		"realized_net_quote", "residual_base", "opened_at", "closed_at", "legs"} {
		if _, ok := trade[k]; !ok {
			t.Errorf("trade without %q: %v", k, trade)
		}
	}
	p.waitFor("the trade in the ledger's PnL", 30*time.Second, func() bool {
		c, body := p.get("/api/v1/pnl")
		var pnl struct{ Trades int }
		return c == 200 && json.Unmarshal([]byte(body), &pnl) == nil && pnl.Trades > 0
	})
	_, metrics = p.get("/metrics")
	for _, m := range []string{"arb_trades_total{result=", "arb_order_ack_seconds_bucket{venue=", "arb_tick_to_order_seconds_count",
		"arb_plan_to_send_seconds_count", "arb_residual_exposure_quote", `arb_orders_total{result="ok"`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if !strings.Contains(p.logs.String(), `"msg":"trade transition","component":"execute","trade":"`+trade["id"].(string)+`","state":"`+trade["state"].(string)+`"`) {
		t.Errorf("no log line for trade %v's transition to %v", trade["id"], trade["state"])
	}
	p.stop()

	logs := strings.TrimRight(p.logs.String(), "\n")
	startLine, stopLine, trades := false, false, 0
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not a JSON line: %q", l)
			continue
		}
		if n := strings.Count(l, `"component":`); n > 1 {
			t.Errorf("component %d times: %s", n, l)
		}
		// No object of any line has a key twice.
		if err := jsonlog.CheckLine([]byte(l)); err != nil {
			t.Errorf("%v: %s", err, l)
		}
		// A line about a trade or an order carries the trade id.
		msg, _ := m["msg"].(string)
		_, order := m["client_order_id"]
		if order || reTradeWord.MatchString(msg) {
			if id, _ := m["trade"].(string); !reTradeID.MatchString(id) {
				t.Errorf("a line about a trade without its id: %s", l)
			}
			trades++
		}
		if m["msg"] == "graceful stop done" || m["msg"] == "graceful stop incomplete: the next start reconciles from the journal and the venues" {
			stopLine = true
		}
		if m["msg"] == "arbd starting" && m["revision"] == testRevision && m["version"] != nil {
			startLine = true
		}
	}
	if !startLine {
		t.Error("no start-up line with the version and revision")
	}
	if !stopLine {
		t.Error("no line on the graceful stop's outcome")
	}
	if trades == 0 {
		t.Error("no log line about a trade")
	}
}

var (
	reTradeWord = regexp.MustCompile(`\btrade\b`)
	reTradeID   = regexp.MustCompile(`^t[0-9a-f]{16}$`)
)
