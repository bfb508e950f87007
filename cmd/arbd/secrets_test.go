package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/bus"
	"arb/exchange/sim"
)

// secretSet is the secrets of one run, each a fresh random value, so no
// output can contain one by accident.
type secretSet map[string]string // name → value

// newSecret returns 32 random characters of [a-z0-9].
func newSecret(t *testing.T) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// forms returns what a leak of s could look like: s itself and every
// 12-character piece of it (a truncated or split secret, a prefix shown
// "for identification"), and s in base64 (std, URL, unpadded) and hex (an
// encoded header or payload dumped whole). Twelve random characters of
// [a-z0-9] occur in unrelated text with a chance of about 36^-12.
func forms(s string) []string {
	const window = 12
	out := []string{s}
	for i := 0; i+window <= len(s); i++ {
		out = append(out, s[i:i+window])
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		out = append(out, strings.TrimRight(enc.EncodeToString([]byte(s)), "="))
	}
	return append(out, hex.EncodeToString([]byte(s)))
}

// find returns, for every secret found in text in any of its forms, its
// name, the form and the context around it.
func (ss secretSet) find(text string) []string {
	var out []string
	for name, s := range ss {
		for _, f := range forms(s) {
			if i := strings.Index(text, f); i >= 0 {
				lo, hi := max(0, i-80), min(len(text), i+len(f)+80)
				out = append(out, fmt.Sprintf("%s (as %q): ...%s...", name, f, text[lo:hi]))
				break
			}
		}
	}
	return out
}

// grep fails the test for every secret found in text, naming the output.
func (ss secretSet) grep(t *testing.T, where, text string) {
	t.Helper()
	for _, f := range ss.find(text) {
		t.Errorf("%s holds %s", where, f)
	}
}

// TestSecretForms: the search finds a secret whole, cut, and encoded, and
// nothing in text without it.
func TestSecretForms(t *testing.T) {
	sec := newSecret(t)
	ss := secretSet{"S": sec}
	for _, text := range []string{
		`{"err":"auth failed for key ` + sec + `"}`,
		`"key":"` + sec[:12] + `..."`,
		`"key":"...` + sec[20:] + `"`,
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(sec)),
		"payload=" + base64.URLEncoding.EncodeToString([]byte(sec)),
		"dump " + hex.EncodeToString([]byte(sec)),
	} {
		if len(ss.find(text)) != 1 {
			t.Errorf("not found in %q", text)
		}
	}
	if f := ss.find(`{"msg":"arbd running","token":"` + newSecret(t) + `","key":"` + sec[:11] + `"}`); len(f) != 0 {
		t.Errorf("found in text without it: %v", f)
	}
}

// TestSecretsNeverLeak runs arbd trading simulated venues through their
// real endpoints with known secrets in its environment — the venues' API
// keys, secrets and passphrase, the admin token, a PostgreSQL DSN with a
// password — and provokes every failure that might echo one: a venue that
// refuses the key (bybit's secret is wrong), a PostgreSQL server that is
// not there, admin requests with a missing, wrong or near-miss token,
// unknown routes, bad bodies, a rules reload, SIGHUP, shutdown. Then it
// greps every output for the secrets: all log lines, /metrics, every API
// answer, every event arbd published to JetStream, every file arbd wrote
// under data_dir; and the errors of config files that hold secrets.
func TestSecretsNeverLeak(t *testing.T) {
	ss := secretSet{
		"BINANCE_KEY": newSecret(t), "BINANCE_SECRET": newSecret(t),
		"OKX_KEY": newSecret(t), "OKX_SECRET": newSecret(t), "OKX_PASSPHRASE": newSecret(t),
		"BYBIT_KEY": newSecret(t), "BYBIT_SECRET": newSecret(t), "BYBIT_SECRET_AT_VENUE": newSecret(t),
		"ADMIN_TOKEN": newSecret(t), "PG_PASSWORD": newSecret(t),
	}

	// The venues know binance's and okx's credentials; bybit's account has
	// another secret than the one arbd is given, so every signed bybit
	// request is refused.
	sc := sim.DefaultConfig()
	sc.Seed = 17
	sc.Symbols = sc.Symbols[:1] // BTC-USDT
	sc.Dislocation.Prob, sc.Quiet.Prob = 0, 0
	for i := range sc.Venues {
		v := &sc.Venues[i]
		v.Balances = map[string]string{"USDT": "100000", "BTC": "0.5"}
		switch v.Kind {
		case sim.KindBinance:
			v.APIKey, v.APISecret = ss["BINANCE_KEY"], ss["BINANCE_SECRET"]
		case sim.KindOKX:
			v.APIKey, v.APISecret, v.Passphrase = ss["OKX_KEY"], ss["OKX_SECRET"], ss["OKX_PASSPHRASE"]
		case sim.KindBybit:
			v.APIKey, v.APISecret = ss["BYBIT_KEY"], ss["BYBIT_SECRET_AT_VENUE"]
		}
	}
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	dir := t.TempDir()
	addr := freePort(t)
	rules, _ := shippedRules(t, dir)
	u := map[string]sim.URLs{}
	for _, v := range []string{"binance", "okx", "bybit"} {
		u[v], _ = s.URLs(v)
	}
	venue := func(name, env string) string {
		return fmt.Sprintf(`  - name: %s
    kind: %s
    ws_url: %s
    rest_url: %s
    private_ws_url: %s
    trade_ws_url: %s
%s    taker_fee_bps: 0
    age_max: 3s
    symbols: {BTC-USDT: %s}
    withdraw_fees: {BTC: "0.0002", USDT: "1"}
`, name, name, u[name].WSBase, u[name].REST, u[name].Private, u[name].Trade, env, map[string]string{"binance": "BTCUSDT", "okx": "BTC-USDT", "bybit": "BTCUSDT"}[name])
	}
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: debug}
http: {listen: %s}
nats: {url: ""}
paper: false
instruments:
  - {symbol: BTC-USDT, price_decimals: 2, qty_decimals: 8}
venues:
%s%s%sstrategy:
  min_net_edge_bps: 0
  slippage_bps: 0
  cooldown: 200ms
  max_notional: "2000"
execution:
  balance_refresh: 2s
risk: {rules_file: %s}
`, filepath.Join(dir, "data"), addr,
		venue("binance", "    api_key_env: T_BINANCE_KEY\n    api_secret_env: T_BINANCE_SECRET\n"),
		venue("okx", "    api_key_env: T_OKX_KEY\n    api_secret_env: T_OKX_SECRET\n    api_passphrase_env: T_OKX_PASSPHRASE\n"),
		venue("bybit", "    api_key_env: T_BYBIT_KEY\n    api_secret_env: T_BYBIT_SECRET\n"),
		rules)
	cfgPath := writeFile(t, dir, "arbd.yaml", cfg)
	env := []string{
		"T_BINANCE_KEY=" + ss["BINANCE_KEY"], "T_BINANCE_SECRET=" + ss["BINANCE_SECRET"],
		"T_OKX_KEY=" + ss["OKX_KEY"], "T_OKX_SECRET=" + ss["OKX_SECRET"], "T_OKX_PASSPHRASE=" + ss["OKX_PASSPHRASE"],
		"T_BYBIT_KEY=" + ss["BYBIT_KEY"], "T_BYBIT_SECRET=" + ss["BYBIT_SECRET"],
		"ARB_ADMIN_TOKEN=" + ss["ADMIN_TOKEN"],
		"ARB_PG_DSN=postgres://arb:" + ss["PG_PASSWORD"] + "@127.0.0.1:1/arb?sslmode=disable&connect_timeout=2",
	}

	var stdout syncBuffer
	p := start(t, addr, env, func(c *exec.Cmd) { c.Stdout = &stdout }, "--config", cfgPath)
	p.waitFor("HTTP up", 60*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })

	// Trades between binance and okx (OKX dislocated up: buy on binance,
	// sell on okx), and bybit's refusals on the way.
	if err := s.Dislocate("okx", "BTC-USDT", 40, 100); err != nil {
		t.Fatal(err)
	}
	p.waitFor("a trade", 60*time.Second, func() bool {
		c, body := p.get("/api/v1/trades?limit=10")
		return c == 200 && strings.Contains(body, `"legs"`)
	})
	p.waitFor("every trade closed", 60*time.Second, func() bool {
		c, body := p.get("/api/v1/trades?limit=1000")
		return c == 200 && !strings.Contains(body, `"state":"open"`) && !strings.Contains(body, `"state":"hedging"`) &&
			!strings.Contains(body, `"state":"unwinding"`)
	})
	p.waitLog(`"msg":"ledger store (PostgreSQL) not reachable; retrying`, 30*time.Second)
	// bybit refused the key, and said so.
	p.waitFor("bybit's refusal in the log", 30*time.Second, func() bool {
		l := p.logs.String()
		return strings.Contains(l, `"venue":"bybit"`) && strings.Contains(l, "Invalid sign")
	})

	// Every answer of the API, the failed ones included.
	answers := &strings.Builder{}
	record := func(what string, code int, body string, h http.Header) {
		fmt.Fprintf(answers, "== %s → %d %v\n%s\n", what, code, h, body)
	}
	do := func(method, path, auth, ct, body string) {
		t.Helper()
		var resp *http.Response
		var err error
		// An answer that comes before an oversized body is read may be
		// lost to a connection reset (unread bytes): ask again.
		for attempt := 0; attempt == 0 || errors.Is(err, syscall.ECONNRESET) && attempt < 5; attempt++ {
			req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err = http.DefaultClient.Do(req)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		record(method+" "+path+" auth="+redact(auth, ss), resp.StatusCode, string(b), resp.Header)
	}
	tok := ss["ADMIN_TOKEN"]
	near := tok[:len(tok)-1] + "a" // the last character changed
	if strings.HasSuffix(tok, "a") {
		near = tok[:len(tok)-1] + "b"
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/books", "/api/v1/status", "/api/v1/positions",
		"/api/v1/pnl", "/api/v1/trades?limit=1000", "/api/v1/orders", "/api/v1/orders?open=1", "/api/v1/nope", "/metrics/"} {
		do("GET", path, "", "", "")
		do("HEAD", path, "", "", "")
	}
	for _, path := range []string{"/api/v1/kill", "/api/v1/resume", "/api/v1/rules/reload"} {
		do("POST", path, "", "", "")
		do("POST", path, "Bearer "+near, "", "")
		do("POST", path, "Bearer "+tok[:len(tok)/2], "", "")
		do("POST", path, "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:"+tok)), "", "")
		do("POST", path, "Bearer", "", "")
		do("GET", path, "Bearer "+tok, "", "")
	}
	do("POST", "/api/v1/kill", "Bearer "+tok, "application/json", `{"reason":"secrets test","extra":1}`)
	do("POST", "/api/v1/kill", "Bearer "+tok, "text/plain", "again")
	do("POST", "/api/v1/resume", "Bearer "+tok, "application/json", `{"bad json`)
	do("POST", "/api/v1/resume", "Bearer "+tok, "application/json", strings.Repeat("x", 100<<10))
	do("POST", "/api/v1/resume", "Bearer "+tok, "", "")
	do("POST", "/api/v1/rules/reload", "Bearer "+tok, "", "")
	os.WriteFile(rules, []byte("version: 1\nname: broken\nrules: [{when: "), 0o600) // a reload that fails
	do("POST", "/api/v1/rules/reload", "Bearer "+tok, "", "")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(`"msg":"SIGHUP rules reload failed`, 20*time.Second)
	do("GET", "/api/v1/status", "", "", "") // with the failed reload and bybit's errors in it
	do("GET", "/metrics", "", "", "")
	if !strings.Contains(answers.String(), "→ 401") || !strings.Contains(answers.String(), `"killed":true`) {
		t.Fatal("the admin requests did not reach the admin routes")
	}

	js := jetstreamText(t, filepath.Join(dir, "data"))
	p.stop()

	// ARB_SECRETS_DUMP=FILE keeps what was grepped, to read it.
	if f := os.Getenv("ARB_SECRETS_DUMP"); f != "" {
		os.WriteFile(f, []byte(p.logs.String()+"\n=====\n"+answers.String()+"\n=====\n"+js), 0o600)
	}
	ss.grep(t, "arbd's log (stderr)", p.logs.String())
	ss.grep(t, "arbd's stdout", stdout.String())
	ss.grep(t, "the API's answers", answers.String())
	ss.grep(t, "the JetStream events", js)
	filepath.WalkDir(filepath.Join(dir, "data"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(path)
			ss.grep(t, "data_dir file "+path, string(b))
		}
		return nil
	})
	if t.Failed() {
		return
	}
	t.Logf("%d log bytes, %d answer bytes, %d event bytes grepped for %d secrets", len(p.logs.String()), answers.Len(), len(js), len(ss))

	// A config that holds secrets is refused, and the refusal does not
	// repeat them: a literal key, a secret where a variable's name goes, a
	// password in the DSN, a private key.
	for name, edit := range map[string][2]string{
		"api_key literal":      {"    api_key_env: T_BINANCE_KEY\n", "    api_key: " + ss["BINANCE_KEY"] + "\n"},
		"secret as a name":     {"api_secret_env: T_OKX_SECRET", "api_secret_env: " + ss["OKX_SECRET"]},
		"passphrase literal":   {"    api_passphrase_env: T_OKX_PASSPHRASE\n", "    passphrase: " + ss["OKX_PASSPHRASE"] + "\n"},
		"DSN with a password":  {`nats: {url: ""}`, `nats: {url: ""}` + "\npostgres: {dsn: \"postgres://arb:" + ss["PG_PASSWORD"] + "@db/arb\"}"},
		"token literal":        {`nats: {url: ""}`, `nats: {url: ""}` + "\nadmin_token: " + tok},
		"PEM private key":      {"api_secret_env: T_BYBIT_SECRET", `api_secret_env: "-----BEGIN PRIVATE KEY-----\n` + ss["BYBIT_SECRET"] + `\n-----END PRIVATE KEY-----"`},
		"URL with credentials": {"rest_url: " + u["binance"].REST, "rest_url: " + strings.Replace(u["binance"].REST, "://", "://k:"+ss["BINANCE_SECRET"]+"@", 1)},
	} {
		if !strings.Contains(cfg, edit[0]) {
			t.Fatalf("%s: the config has no %q", name, edit[0])
		}
		bad := writeFile(t, dir, "bad.yaml", strings.Replace(cfg, edit[0], edit[1], 1))
		cmd := exec.Command(arbdBin(t), "--config", bad)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "secret") && !strings.Contains(string(out), "credentials") {
			t.Errorf("%s: arbd did not refuse the config (exit %v):\n%s", name, err, out)
		}
		ss.grep(t, "the refusal of a config with "+name, string(out))
	}
}

// redact replaces the secrets in s by their names, for the record of the
// requests sent (the test's own input is not arbd's output).
func redact(s string, ss secretSet) string {
	for name, v := range ss {
		s = strings.ReplaceAll(s, v, "<"+name+">")
		if len(v) > 1 {
			s = strings.ReplaceAll(s, v[:len(v)-1], "<"+name+" but the last>")
			s = strings.ReplaceAll(s, v[:len(v)/2], "<half of "+name+">")
		}
		s = strings.ReplaceAll(s, base64.StdEncoding.EncodeToString([]byte("admin:"+v)), "<admin:"+name+" in base64>")
	}
	return s
}

// jetstreamText returns every message arbd published to its stream, as
// subject and data lines, read with the read-only credentials it writes
// for local tools.
func jetstreamText(t *testing.T, dataDir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, opt, err := bus.LocalReader(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(u, opt, nats.MaxReconnects(0), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.OrderedConsumer(ctx, bus.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	n := 0
	for left := info.NumPending; left > 0; {
		b, err := c.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			fmt.Fprintf(&sb, "%s %v %s\n", m.Subject(), m.Headers(), m.Data())
			n++
			md, _ := m.Metadata()
			left = md.NumPending
		}
		if b.Error() != nil {
			t.Fatal(b.Error())
		}
	}
	if n == 0 {
		t.Fatal("no events in the stream")
	}
	return sb.String()
}
