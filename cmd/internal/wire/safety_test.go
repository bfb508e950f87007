package wire

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"arb/cmd/internal/config"
	"arb/configs"
	"arb/risk"
)

// rulesVersionName returns the name of the rule set in force.
func rulesVersionName(d *Daemon) string {
	v, _ := d.desk.risk.Version()
	return v.Name
}

// TestRulesFileMissingKeepsOperatorRules: in the embedded default mode (the
// only one with an embedded fallback), a rules file that goes missing at a
// reload — SIGHUP, the HTTP route, or the watcher — never switches to the
// built-in defaults: the operator's rules stay in force throughout, the
// status and a metric show the file unreadable, and when it comes back it
// is read again. A broken file put back to the rules in force clears
// last_reload_error.
func TestRulesFileMissingKeepsOperatorRules(t *testing.T) {
	const token = "test-admin-token-0123456789"
	t.Setenv("ARB_ADMIN_TOKEN", token)
	shipped, err := os.ReadFile(shippedRules(t))
	if err != nil {
		t.Fatal(err)
	}
	operator := strings.Replace(string(shipped), "name: default", "name: operator", 1)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(operator), 0o600); err != nil {
		t.Fatal(err)
	}
	d, base := startDaemonAs(t, config.DefaultName, serving,
		"rules_file: "+shippedRules(t), "rules_file: "+rules)
	inForce := func(want string) {
		t.Helper()
		if got := rulesVersionName(d); got != want {
			t.Fatalf("rules in force %q, want %q", got, want)
		}
	}
	inForce("operator")

	if err := os.Remove(rules); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Reload(); err == nil || !strings.Contains(err.Error(), "the running rules stay in force") { // SIGHUP
		t.Fatalf("reload of a missing file: %v", err)
	}
	inForce("operator")
	if code, body := post(t, base+"/api/v1/rules/reload", token); code != 422 || !strings.Contains(body, "cannot be read") {
		t.Fatalf("HTTP reload of a missing file: %d %s", code, body)
	}
	inForce("operator")
	rulesFile := func() map[string]any {
		rf, _ := getStatus(t, base)["rules_file"].(map[string]any)
		return rf
	}
	if rf := rulesFile(); rf["readable"] != false || !strings.Contains(rf["error"].(string), "no such file") || rf["in_force"] != "file" {
		t.Fatalf("status rules_file %v", rf)
	}
	if !strings.Contains(scrape(t, base), "arb_risk_rules_file_readable 0") {
		t.Error("arb_risk_rules_file_readable is not 0")
	}
	// Several watcher polls with the file gone: still the operator's rules.
	polls := time.Now().Add(2*rulesPollWait + time.Second)
	for time.Now().Before(polls) {
		inForce("operator")
		time.Sleep(100 * time.Millisecond)
	}

	// Back, unchanged: readable again, same rules.
	os.WriteFile(rules, []byte(operator), 0o600)
	waitFor(t, "the file readable again", 10*time.Second, func() bool { return rulesFile()["readable"] == true })
	inForce("operator")
	// Edited: loaded.
	os.WriteFile(rules, []byte(strings.Replace(operator, "name: operator", "name: operator-2", 1)), 0o600)
	waitFor(t, "the edit loaded", 10*time.Second, func() bool { return rulesVersionName(d) == "operator-2" })

	// Broken, then put back as it was: the error shows, then clears.
	os.WriteFile(rules, []byte("version: 2\n"), 0o600)
	lastErr := func() string { return d.desk.risk.Status().LastReloadError }
	waitFor(t, "the broken file's error", 10*time.Second, func() bool { return lastErr() != "" })
	inForce("operator-2")
	os.WriteFile(rules, []byte(strings.Replace(operator, "name: operator", "name: operator-2", 1)), 0o600)
	waitFor(t, "last_reload_error cleared", 10*time.Second, func() bool { return lastErr() == "" })
	inForce("operator-2")
}

// TestEmbeddedDefaultWithoutRulesFile: the embedded default started where
// its rules file does not exist runs on the embedded rules, says so, and
// loads the file as soon as it appears.
func TestEmbeddedDefaultWithoutRulesFile(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	d, base := startDaemonAs(t, config.DefaultName, serving,
		"rules_file: "+shippedRules(t), "rules_file: "+rules)
	if v, _ := d.desk.risk.Version(); v.Source != configs.DefaultRulesName {
		t.Fatalf("started on %s", v.Source)
	}
	rf, _ := getStatus(t, base)["rules_file"].(map[string]any)
	if rf["in_force"] != "embedded default" || rf["readable"] != false {
		t.Fatalf("rules_file %v", rf)
	}
	shipped, _ := os.ReadFile(shippedRules(t))
	os.WriteFile(rules, []byte(strings.Replace(string(shipped), "name: default", "name: appeared", 1)), 0o600)
	waitFor(t, "the file loaded", 10*time.Second, func() bool { return rulesVersionName(d) == "appeared" })
}

// startNATS starts a nats-server with JetStream in dir on port (0: any).
func startNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoSigs: true, NoLog: true, DisableJetStreamBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return srv
}

// TestNATSOutage: while the durable log is unreachable, readiness says so,
// the metrics and the status show the connection state, and every plan is
// refused (journal_unavailable: no order may be sent whose intent is not
// durable); when NATS is back, so is trading.
func TestNATSOutage(t *testing.T) {
	store := t.TempDir()
	srv := startNATS(t, store, 0)
	port := srv.Addr().(*net.TCPAddr).Port
	// Shut down after the daemon's cleanup (registered before it).
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	d, base := startDaemon(t, `nats: {url: ""}`, `nats: {url: "nats://127.0.0.1:`+strconv.Itoa(port)+`"}`)
	if ok, why := d.JournalReady(); !ok {
		t.Fatalf("journal not ready at start: %s", why)
	}
	m := scrape(t, base)
	if !strings.Contains(m, "arb_nats_connected 1") || !strings.Contains(m, "arb_journal_available 1") {
		t.Fatal("metrics do not show NATS up")
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, "readiness down", 10*time.Second, func() bool {
		c, body := readyz(t, base)
		return c == 503 && strings.Contains(body, "durable log (JetStream) unavailable")
	})
	m = scrape(t, base)
	if !strings.Contains(m, "arb_nats_connected 0") || !strings.Contains(m, "arb_journal_available 0") {
		t.Errorf("metrics during the outage:\n%s", grepLines(m, "arb_nats_", "arb_journal_"))
	}
	js, _ := getStatus(t, base)["journal"].(map[string]any)
	if js["durable"] != false || js["connected"] != false || js["last_error"] == "" {
		t.Errorf("status journal %v", js)
	}
	if ok, _ := d.JournalReady(); ok {
		t.Error("JournalReady during the outage")
	}
	// A plan the rules would pass is refused.
	if err := d.Sim().Dislocate("bybit", "ETH-USDT", 80, 30); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a plan refused for the journal", 10*time.Second, func() bool {
		for _, p := range d.desk.recent() {
			if p.Rule == RuleJournalUnavailable && p.Decision == "reject" {
				return true
			}
		}
		return false
	})
	for _, p := range d.desk.recent() {
		if p.Decision == "allow" || p.Decision == "clip" {
			if ts := p.TS; ts.After(time.Now().Add(-2 * time.Second)) {
				t.Errorf("plan %s passed during the outage: %+v", p.ID, p)
			}
		}
	}
	if !strings.Contains(scrape(t, base), `arb_plans_refused_total{reason="journal_unavailable"}`) {
		t.Error("no arb_plans_refused_total")
	}

	// NATS back on the same port and store: durable again, ready again.
	srv = startNATS(t, store, port)
	waitFor(t, "ready again", 20*time.Second, func() bool { c, _ := readyz(t, base); return c == 200 })
	if ok, why := d.JournalReady(); !ok {
		t.Errorf("journal after the outage: %s", why)
	}
	if js, _ := getStatus(t, base)["journal"].(map[string]any); js["reconnects"].(float64) < 1 || js["disconnects"].(float64) < 1 {
		t.Errorf("status journal %v", js)
	}
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestKVRulesMustBeSigned: a rule set put in the KV bucket replaces the
// rules only when signed by a trusted key and newer than the last one taken;
// every other value is refused, counted and shown, and the rules stay.
func TestKVRulesMustBeSigned(t *testing.T) {
	pub, priv, err := GenerateRulesKey()
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := GenerateRulesKey()
	key, _ := ParseRulesPrivateKey(priv)
	other, _ := ParseRulesPrivateKey(otherPriv)
	d, base := startDaemon(t, `kv_bucket: ""`, "kv_bucket: arb_rules_signed\n  kv_trusted_keys: [\""+pub+"\"]")
	shipped, _ := os.ReadFile(shippedRules(t))
	named := func(n string) []byte { return []byte(strings.Replace(string(shipped), "name: default", "name: "+n, 1)) }
	put := func(v []byte) {
		t.Helper()
		if _, err := d.bus.PutKV(context.Background(), "arb_rules_signed", "rules", v); err != nil {
			t.Fatal(err)
		}
	}
	refusals := func() float64 {
		kv, _ := getStatus(t, base)["rules_kv"].(map[string]any)
		n, _ := kv["refused"].(float64)
		return n
	}
	expectRefused := func(what string, v []byte, reason string) {
		t.Helper()
		n := refusals()
		put(v)
		waitFor(t, what+" refused", 10*time.Second, func() bool { return refusals() == n+1 })
		if name := rulesVersionName(d); name != "default" && !strings.HasPrefix(name, "signed") {
			t.Fatalf("%s: rules now %q", what, name)
		}
		if !strings.Contains(scrape(t, base), `arb_risk_kv_rules_total{result="`+reason+`"}`) {
			t.Errorf("%s: no count for %s", what, reason)
		}
	}
	expectRefused("unsigned rules", named("unsigned"), kvNotSigned)
	if kv, _ := getStatus(t, base)["rules_kv"].(map[string]any); !strings.Contains(kv["last_rejection"].(string), "not a signed rule set") {
		t.Errorf("last_rejection %v", kv["last_rejection"])
	}
	wrong, _ := SignRules(named("wrong-key"), other, time.Now())
	expectRefused("another key", wrong, kvUntrusted)
	good, _ := SignRules(named("tampered"), key, time.Now())
	var env SignedRules
	json.Unmarshal(good, &env)
	env.Rules = strings.Replace(env.Rules, "max_open_trades: 4", "max_open_trades: 400", 1)
	tampered, _ := json.Marshal(env)
	expectRefused("tampered rules", tampered, kvBadSignature)

	t1 := time.Now()
	signed, _ := SignRules(named("signed-1"), key, t1)
	put(signed)
	waitFor(t, "the signed rules", 10*time.Second, func() bool { return rulesVersionName(d) == "signed-1" })
	older, _ := SignRules(named("signed-older"), key, t1.Add(-time.Hour))
	expectRefused("an older signed set", older, kvStale)
	if rulesVersionName(d) != "signed-1" {
		t.Fatal("an older set replaced the rules")
	}
	broken, _ := SignRules([]byte("version: 2\n"), key, t1.Add(time.Second))
	expectRefused("signed but broken", broken, kvInvalidRules)
	newer, _ := SignRules(named("signed-2"), key, t1.Add(time.Minute))
	put(newer)
	waitFor(t, "the newer signed rules", 10*time.Second, func() bool { return rulesVersionName(d) == "signed-2" })
	// The newest signing time is kept for the next start.
	b, err := os.ReadFile(filepath.Join(d.cfg.DataDir, KVRulesStateFile))
	if err != nil || !strings.Contains(string(b), t1.Add(time.Minute).UTC().Format("2006-01-02T15:04:05")) {
		t.Errorf("state file %s %v", b, err)
	}
}

// TestKillSwitchRestoredAtBuild: a halt saved in data_dir is in force when
// Build returns, before the loop has run (so before any plan), with its
// reason, who and when; an unreadable state halts.
func TestKillSwitchRestoredAtBuild(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, file string
		reason     string // the reason in force after Build
	}{
		{"halted", `{"halted":true,"reason":"exchange hacked","by":"api","at":"2026-03-01T12:00:00Z"}`, "exchange hacked"},
		{"released", `{"halted":false,"released_at":"2026-03-01T12:00:00Z"}`, ""},
		{"unreadable", `{"halted":tru`, "kill switch state unreadable at start"},
		{"no file", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				os.WriteFile(filepath.Join(dir, KillSwitchFile), []byte(tt.file), 0o600)
			}
			text := strings.Replace(string(config.Default()), "data_dir: ./data", "data_dir: "+dir, 1)
			text = strings.Replace(text, "rules_file: configs/rules.yaml", "rules_file: "+shippedRules(t), 1)
			cfg, err := config.Parse("test.yaml", []byte(text), Known())
			if err != nil {
				t.Fatal(err)
			}
			d, err := Build(context.Background(), cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			h, halted := d.desk.risk.Halted()
			if halted != (tt.reason != "") || !strings.Contains(h.Reason, tt.reason) {
				t.Fatalf("halted %v %+v, want reason %q", halted, h, tt.reason)
			}
			if tt.name == "halted" && (h.By != "api" || !h.At.Equal(at)) {
				t.Errorf("restored %+v", h)
			}
			if halted {
				in := risk.DefaultSample()
				if dec := d.desk.risk.Evaluate(&in); dec.Verdict != risk.Halt {
					t.Errorf("a plan passed: %v", dec)
				}
			}
		})
	}
}

// TestHaltStore: every change is on disk at once, atomically, and a write
// that fails is reported.
func TestHaltStore(t *testing.T) {
	dir := t.TempDir()
	s := newHaltStore(dir)
	e, _ := risk.New(risk.Config{})
	if err := s.sync(e); err != nil {
		t.Fatal(err)
	}
	if _, halted, err := s.load(); err != nil || halted {
		t.Fatalf("load = %v %v", halted, err)
	}
	e.Halt("stop", "api")
	if err := s.sync(e); err != nil {
		t.Fatal(err)
	}
	h, halted, err := s.load()
	if err != nil || !halted || h.Reason != "stop" || h.By != "api" {
		t.Fatalf("load = %+v %v %v", h, halted, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KillSwitchFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file %v %v", fi, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, KillSwitchFile+".tmp*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	// The directory is gone: the write fails, is counted, and says why.
	bad := newHaltStore(filepath.Join(dir, "gone"))
	if err := bad.sync(e); err == nil || bad.errs.Load() != 1 || bad.lastError() == "" {
		t.Errorf("failed write: %v (errs %d)", err, bad.errs.Load())
	}
}

// serving: the daemon has an engine and serves HTTP.
func serving(d *Daemon) bool { return d.engine() != nil && d.Addr() != "" }
