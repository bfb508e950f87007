package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"arb/cmd/internal/config"
)

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

// TestBadConfigExitsWithOneLine: a bad config never starts the daemon; it
// exits 2 with exactly one line that names the file and the problem.
func TestBadConfigExitsWithOneLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		body string // config text; "" = a file that does not exist
		want []string
	}{
		{"unknown venue kind", defaultWith(t, "kind: okx", "kind: kraken"), []string{"venues[1].kind", "kraken", "arbd.yaml:"}},
		{"missing symbol", defaultWith(t, "symbols: {BTC-USDT: BTC-USDT, ETH-USDT: ETH-USDT, SOL-USDT: SOL-USDT}",
			"symbols: {BTC-USDT: BTC-USDT, DOGE-USDT: DOGE-USDT}"), []string{"DOGE-USDT", "arbd.yaml:"}},
		{"bad url", defaultWith(t, "ws_url: sim://bybit\n    rest_url: sim://bybit", "ws_url: htp//nowhere\n    rest_url: https://api.bybit.com"), []string{"ws_url", "arbd.yaml:"}},
		{"unreadable file", "", []string{"missing.yaml"}},
		{"missing rules file", defaultWith(t, "rules_file: configs/rules.yaml", "rules_file: no-such-rules.yaml"), []string{"risk.rules_file", "no-such-rules.yaml", "arbd.yaml"}},
		{"secret in yaml", defaultWith(t, "    taker_fee_bps: 10\n", "    taker_fee_bps: 10\n    api_secret: hunter2\n"), []string{"api_secret", "environment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "missing.yaml")
			if tt.body != "" {
				path = writeFile(t, dir, "arbd.yaml", tt.body)
			}
			var stderr bytes.Buffer
			if code := run([]string{"--config", path}, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr.String())
			}
			out := strings.TrimRight(stderr.String(), "\n")
			if strings.Count(out, "\n") != 0 {
				t.Fatalf("want one line, got:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%q does not mention %q", out, w)
				}
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("the secret value was echoed: %q", out)
			}
		})
	}
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

// TestDaemonEndToEnd builds arbd, runs it on its default config (simulated
// venues over real websockets, embedded NATS), and checks the contract: ready
// within 15 s, live non-stale books for every venue and symbol, metrics, and
// a clean exit within 5 s of SIGINT.
func TestDaemonEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "arbd")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freePort(t)
	shipped, err := os.ReadFile("../../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules := writeFile(t, dir, "rules.yaml", string(shipped))
	cfg := writeFile(t, dir, "arbd.yaml", defaultWith(t,
		"http: {listen: 127.0.0.1:7420}", "http: {listen: "+addr+"}",
		"data_dir: ./data", "data_dir: "+filepath.Join(dir, "data"),
		"rules_file: configs/rules.yaml", "rules_file: "+rules))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("arbd log:\n%s", tail(logs.String(), 40))
		}
	}()

	base := "http://" + addr
	start := time.Now()
	for {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 15*time.Second {
			t.Fatal("not ready within 15 s")
		}
		select {
		case err := <-exited:
			t.Fatalf("arbd exited early: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("ready after %v", time.Since(start).Round(time.Millisecond))

	var books []map[string]any
	getJSON(t, base+"/api/v1/books", &books)
	seen := map[string]bool{}
	for _, b := range books {
		for _, k := range []string{"venue", "symbol", "bid", "bid_qty", "ask", "ask_qty", "exchange_ts", "stale"} {
			if _, ok := b[k]; !ok {
				t.Fatalf("book row without %q: %v", k, b)
			}
		}
		if b["stale"] != false {
			t.Errorf("stale book while ready: %v", b)
		}
		seen[fmt.Sprint(b["venue"], " ", b["symbol"])] = true
	}
	for _, v := range []string{"binance", "okx", "bybit"} {
		for _, s := range []string{"BTC-USDT", "ETH-USDT", "SOL-USDT"} {
			if !seen[v+" "+s] {
				t.Errorf("no book for %s %s", v, s)
			}
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"arb_feed_messages_total{venue=\"okx\"}", "arb_opportunities_total{", "arb_plans_total{", "arb_risk_decisions_total{"} {
		if !strings.Contains(metrics.String(), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	var status map[string]any
	getJSON(t, base+"/api/v1/status", &status)
	if status["rules_version"] == "" || status["mode"] != "paper" {
		t.Errorf("status: %v", status)
	}

	// SIGHUP reloads the rules file: the rule-set version changes.
	v0 := status["rules_version"]
	os.WriteFile(rules, []byte(strings.Replace(string(shipped), "name: default", "name: after-sighup", 1)), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitVersion(t, base, func(v string) bool { return v != v0 && strings.HasPrefix(v, "after-sighup ") })
	// A change to the file is picked up without a signal too.
	os.WriteFile(rules, []byte(strings.Replace(string(shipped), "name: default", "name: after-edit", 1)), 0o600)
	waitVersion(t, base, func(v string) bool { return strings.HasPrefix(v, "after-edit ") })

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not exit within 5 s of SIGINT")
	}
}

// waitVersion polls /api/v1/status until the rules version satisfies ok.
func waitVersion(t *testing.T, base string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(6 * time.Second)
	for {
		var st map[string]any
		getJSON(t, base+"/api/v1/status", &st)
		v, _ := st["rules_version"].(string)
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules version still %q", v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
