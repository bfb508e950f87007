package main

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nname: bad\nrules:\n  - name: x\n    when: plan.qty > \"a\"\n    action: reject\n    message: m\n"), 0o600)
	sample := filepath.Join(dir, "sample.json")
	os.WriteFile(sample, []byte(`{"Plan":{"Qty":0,"Symbol":"BTC-USDT"}}`), 0o600)
	badSample := filepath.Join(dir, "bad.json")
	os.WriteFile(badSample, []byte(`{"Plan":{"Quantity":1}}`), 0o600)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"no args", nil, 2, nil, []string{"usage"}},
		{"unknown", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}},
		{"backtest usage", []string{"backtest"}, 2, nil, []string{"usage:", "arb backtest --data"}},
		{"rules check default", []string{"rules", "check", "../../configs/rules.yaml"}, 0, []string{"22 rules, OK", "max_notional"}, nil},
		{"rules check bad", []string{"rules", "check", bad}, 1, nil, []string{"bad.yaml:5:", "mismatched types"}},
		{"rules check missing", []string{"rules", "check", filepath.Join(dir, "nope.yaml")}, 1, nil, []string{"nope.yaml"}},
		{"rules check sample", []string{"rules", "check", "../../configs/rules.yaml", "--sample", sample}, 0, []string{`re:qty_positive\s+reject line \d+\s+inline\s+FIRES: reject`}, nil},
		{"rules check bad sample", []string{"rules", "check", "../../configs/rules.yaml", "--sample", badSample}, 1, nil, []string{"Quantity"}},
		{"rules usage", []string{"rules"}, 2, nil, []string{"usage: arb rules check"}},
		{"version", []string{"version"}, 0, []string{"arb "}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			for _, w := range tt.stdout {
				if re, ok := strings.CutPrefix(w, "re:"); ok {
					if !regexp.MustCompile(re).MatchString(out.String()) {
						t.Errorf("stdout does not match %s:\n%s", re, out.String())
					}
					continue
				}
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

// defaultConfig returns the embedded default config, runnable from this
// directory, with lines replaced.
func defaultConfig(t *testing.T, repl ...string) string {
	t.Helper()
	s := strings.Replace(string(config.Default()), "rules_file: configs/rules.yaml", "rules_file: ../../configs/rules.yaml", 1)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("default config has no %q", repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	return s
}

// TestConfigCheck: `arb config check` reports every problem of a file, one
// line each with file:line and key, including those that used to surface
// only when the daemon started (exit 1 and no file:line).
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name  string
		body  string
		code  int
		lines []string // each must be a line of stderr, after the file name and line
	}{
		{"valid", defaultConfig(t), 0, nil},
		{"five mistakes", defaultConfig(t,
			"log: {level: info}", "log: {level: loud}",
			"\npaper: false", "\npapr: false",
			"kind: okx", "kind: kraken",
			"    taker_fee_bps: 10\n    fee_asset: quote\n    gas_quote: \"0\"\n    age_max: 3s\n    symbols: {BTC-USDT: BTCUSDT", "    taker_fee_bps: ten\n    fee_asset: quote\n    gas_quote: \"0\"\n    age_max: 3s\n    symbols: {BTC-USDT: BTCUSDT",
			`balances: {USDT: "100000", BTC: "0.5", ETH: "10", SOL: "200"}`, `balances: {USDT: "100000", BTC: "0.5", ETH: "10", SOL: "200", DOGE: "5"}`,
		), 1, []string{
			`log.level: unknown level "loud"`, "papr: unknown key; did you mean paper?", `venues[1].kind: unknown venue kind "kraken"`,
			`venues[0].taker_fee_bps: "ten" is not a number`, "venues[0].balances.DOGE: no configured instrument uses asset DOGE",
		}},
		{"price decimals the simulator cannot print", defaultConfig(t, "{symbol: BTC-USDT, price_decimals: 2", "{symbol: BTC-USDT, price_decimals: 18"), 1,
			[]string{"instruments[0].price_decimals: decimals must be at most 8 (Binance prints 8) for the simulated venues",
				"strategy.max_notional: num: number out of range at 18 decimals (BTC-USDT)"}},
		{"price decimals the detector cannot hold", defaultConfig(t,
			"{symbol: BTC-USDT, price_decimals: 2", "{symbol: BTC-USDT, price_decimals: 18",
			"sim:\n  enabled: true", "sim:\n  enabled: false", "\npaper: false", "\npaper: true",
			"ws_url: sim://binance\n    rest_url: sim://binance", "ws_url: wss://stream.binance.com:9443\n    rest_url: https://api.binance.com",
			"ws_url: sim://okx\n    rest_url: sim://okx", "ws_url: wss://ws.okx.com:8443\n    rest_url: https://www.okx.com",
			"ws_url: sim://bybit\n    rest_url: sim://bybit", "ws_url: wss://stream.bybit.com\n    rest_url: https://api.bybit.com",
		), 1, []string{"strategy.max_notional: "}},
		{"a market tick too short", defaultConfig(t, "step: 100ms", "step: 1ns"), 1, []string{"sim.step: must be at least 1ms"}},
		{"rules file missing", defaultConfig(t, "rules_file: ../../configs/rules.yaml", "rules_file: no-such-rules.yaml"), 1,
			[]string{"risk.rules_file: " + filepath.Join(dir, "no-such-rules.yaml") + ": no such file or directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.ReplaceAll(tt.body, "../../configs/rules.yaml", mustAbs(t, "../../configs/rules.yaml"))
			p := write("arbd.yaml", body)
			var out, errb bytes.Buffer
			code := run([]string{"config", "check", p}, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if tt.code == 0 {
				if !strings.Contains(out.String(), "arbd.yaml: OK") {
					t.Errorf("stdout %q", out.String())
				}
				return
			}
			got := strings.Split(strings.TrimRight(errb.String(), "\n"), "\n")
			problems := got[:len(got)-1] // the last line counts them
			if len(problems) != len(tt.lines) {
				t.Fatalf("%d problem lines, want %d:\n%s", len(problems), len(tt.lines), errb.String())
			}
			re := regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `:\d+: [a-z_\[\]0-9.A-Z]+: `)
			for _, l := range problems {
				if !re.MatchString(l) {
					t.Errorf("not file:line: key: %q", l)
				}
			}
			for _, w := range tt.lines {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("no line with %q:\n%s", w, errb.String())
				}
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run([]string{"config", "check"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: arb config check FILE") {
		t.Errorf("usage: %d %s", code, errb.String())
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRulesSignRoundTrip: a key made by keygen signs a rules file into a
// value the daemon's verification accepts with that key, and only with it.
func TestRulesSignRoundTrip(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ops.key")
	var out, errb bytes.Buffer
	if code := run([]string{"rules", "keygen", "--out", keyFile}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	m := regexp.MustCompile(`public key for risk.kv_trusted_keys: (\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("keygen output %q", out.String())
	}
	pub, err := wire.ParseRulesPublicKey(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"rules", "keygen", "--out", keyFile}, &out, &errb); code != 1 {
		t.Error("keygen overwrote a key file")
	}
	out.Reset()
	if code := run([]string{"rules", "sign", "--key", keyFile, "../../configs/rules.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("sign: %d %s", code, errb.String())
	}
	rules, _, err := wire.VerifyRules(bytes.TrimSpace(out.Bytes()), []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	shipped, _ := os.ReadFile("../../configs/rules.yaml")
	if !bytes.Equal(rules, shipped) {
		t.Error("the signed rules differ from the file")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if _, _, err := wire.VerifyRules(bytes.TrimSpace(out.Bytes()), []ed25519.PublicKey{other}); err == nil {
		t.Error("verified with another key")
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 2\n"), 0o600)
	if code := run([]string{"rules", "sign", "--key", keyFile, bad}, &out, &errb); code != 1 {
		t.Error("a broken rules file was signed")
	}
}

// TestVersion: `arb version` prints the module version and the VCS
// revision (unknown when the toolchain could not stamp it).
func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 {
		t.Fatal(code)
	}
	if !regexp.MustCompile(`^arb arb \S+ \(revision \S+.*\) go\d`).MatchString(out.String()) {
		t.Errorf("version %q", out.String())
	}
}
