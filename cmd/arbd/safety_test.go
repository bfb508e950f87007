package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"arb/cmd/internal/bus"
)

const adminToken = "e2e-admin-token-0123456789"

// newest returns the newest recent plan of a status (nil if none).
func newest(st map[string]any) map[string]any {
	plans, _ := st["recent_plans"].([]any)
	if len(plans) == 0 {
		return nil
	}
	return plans[0].(map[string]any)
}

// TestKillSurvivesSIGKILL: a kill is on disk before it is answered; after a
// SIGKILL and a restart the daemon is still halted (with the first reason)
// and refuses every plan; only an explicit resume releases it, and that too
// survives a restart.
func TestKillSurvivesSIGKILL(t *testing.T) {
	s := newSetup(t, planFriendly...)
	b, _ := os.ReadFile(s.cfg)
	os.WriteFile(s.cfg, []byte(zeroFees(string(b))), 0o600)
	env := []string{"ARB_ADMIN_TOKEN=" + adminToken}

	p := start(t, s.addr, env, nil, "--config", s.cfg)
	p.waitReady(20 * time.Second)
	code, killBody := p.post("/api/v1/kill", adminToken, "application/json", `{"reason":"exchange hack suspected"}`)
	if code != 200 {
		t.Fatalf("kill: %d %s", code, killBody)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited

	p = start(t, s.addr, env, nil, "--config", s.cfg)
	p.waitFor("HTTP up after the restart", 20*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })
	st := p.status()
	if st["killed"] != true || st["kill_reason"] != "exchange hack suspected" || st["trading"] != false {
		t.Fatalf("after SIGKILL and restart: killed=%v reason=%v trading=%v", st["killed"], st["kill_reason"], st["trading"])
	}
	p.waitFor("a plan refused by the kill switch", 30*time.Second, func() bool {
		pl := newest(p.status())
		return pl != nil && pl["decision"] == "halt" && pl["rule"] == "kill_switch" && pl["message"] == "exchange hack suspected"
	})
	if _, m := p.get("/metrics"); !strings.Contains(m, "arb_risk_halted 1") {
		t.Error("arb_risk_halted is not 1")
	}
	// A second kill keeps the first reason.
	if code, body := p.post("/api/v1/kill", adminToken, "", ""); code != 200 || !strings.Contains(body, `"already_halted":true`) ||
		!strings.Contains(body, `"reason":"exchange hack suspected"`) {
		t.Fatalf("second kill: %d %s", code, body)
	}
	if code, body := p.post("/api/v1/resume", adminToken, "", ""); code != 200 || !strings.Contains(body, `"changed":true`) {
		t.Fatalf("resume: %d %s", code, body)
	}
	p.waitFor("a plan decided by the rules again", 30*time.Second, func() bool {
		pl := newest(p.status())
		return pl != nil && pl["rule"] != "kill_switch"
	})
	if code, body := p.post("/api/v1/resume", adminToken, "", ""); code != 200 || !strings.Contains(body, "nothing changed") {
		t.Fatalf("second resume: %d %s", code, body)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p = start(t, s.addr, env, nil, "--config", s.cfg)
	p.waitFor("HTTP up after the second restart", 20*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })
	if st := p.status(); st["killed"] != false {
		t.Fatalf("a resume did not survive the restart: %v", st["kill_reason"])
	}
	p.stop()
	// The first answer said the halt was on disk.
	if !strings.Contains(killBody, `"engaged":true`) || !strings.Contains(killBody, `"persisted":true`) {
		t.Errorf("kill answered %s", killBody)
	}
}

// TestOddKillBodies: every authenticated kill engages, whatever its body,
// and the answer says what was done with the body.
func TestOddKillBodies(t *testing.T) {
	s := newSetup(t)
	p := start(t, s.addr, []string{"ARB_ADMIN_TOKEN=" + adminToken}, nil, "--config", s.cfg)
	p.waitFor("HTTP up", 20*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })
	bodies := []struct{ name, ct, body, reason string }{
		{"curl -d form", "application/x-www-form-urlencoded", "reason=market crash", "market crash"},
		{"text/plain", "text/plain", "venue down, stop now", "venue down, stop now"},
		{"reason over 256 bytes", "application/json", `{"reason":"` + strings.Repeat("r", 300) + `"}`, strings.Repeat("r", 256)},
		{"unknown JSON field", "application/json", `{"reason":"fat finger","ticket":"OPS-1"}`, "fat finger"},
		{"100 KB body", "application/json", `{"reason":"` + strings.Repeat("x", 100<<10) + `"}`, ""},
	}
	for _, b := range bodies {
		code, body := p.post("/api/v1/kill", adminToken, b.ct, b.body)
		if code != 200 || !strings.Contains(body, `"killed":true`) || !strings.Contains(body, `"engaged":true`) {
			t.Errorf("%s: kill answered %d %s", b.name, code, body)
			continue
		}
		st := p.status()
		if st["killed"] != true || (b.reason != "" && st["kill_reason"] != b.reason) {
			t.Errorf("%s: status killed=%v reason=%q", b.name, st["killed"], st["kill_reason"])
		}
		if code, body := p.post("/api/v1/resume", adminToken, "", ""); code != 200 {
			t.Fatalf("%s: resume %d %s", b.name, code, body)
		}
	}
	// The audit log says what happened, once per kill.
	if n := strings.Count(p.logs.String(), `"msg":"admin: kill"`); n != len(bodies) {
		t.Errorf("%d admin: kill lines for %d kills", n, len(bodies))
	}
	p.stop()
}

// embeddedURL returns the embedded NATS server's loopback URL from the log.
func embeddedURL(t *testing.T, p *proc) string {
	t.Helper()
	p.waitLog(`"msg":"embedded NATS ready"`, 20*time.Second)
	m := regexp.MustCompile(`"msg":"embedded NATS ready".*?"url":"(nats://[^"]+)"`).FindStringSubmatch(p.logs.String())
	if m == nil {
		t.Fatal("no embedded NATS URL in the log")
	}
	return m[1]
}

// TestEmbeddedNATSLockedDown: a local process without the daemon's
// credentials cannot connect to the embedded NATS server, so it cannot
// replace the rules through the KV bucket or forge or purge the audit
// stream; the read-only credentials arbd writes for local tools (0600)
// read the stream and cannot purge it.
func TestEmbeddedNATSLockedDown(t *testing.T) {
	s := newSetup(t)
	p := start(t, s.addr, nil, nil, "--config", s.cfg)
	url := embeddedURL(t, p)
	p.waitReady(20 * time.Second)
	v0, _ := p.status()["rules_version"].(string)

	nc, err := nats.Connect(url, nats.MaxReconnects(0), nats.Timeout(5*time.Second))
	if err == nil {
		// Show what an open door allows before failing.
		defer nc.Close()
		js, _ := nc.JetStream()
		if kv, err := js.KeyValue("arb_rules"); err == nil {
			kv.Put("rules", []byte(strings.Replace(s.rulesText, "name: default", "name: forged", 1)))
		}
		purged := js.PurgeStream(bus.StreamName) == nil
		t.Fatalf("a client without credentials connected to %s (stream purged: %v)", url, purged)
	}
	if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("anonymous connect: %v, want an authorization error", err)
	}

	// The read-only user's files: 0600, and they only read.
	dataDir := filepath.Join(s.dir, "data")
	for _, f := range []string{bus.URLFile, bus.ReaderSeedFile} {
		fi, err := os.Stat(filepath.Join(dataDir, bus.CredentialsDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	u, auth, err := bus.LocalReader(dataDir)
	if err != nil || u != url {
		t.Fatalf("LocalReader: %q %v (log says %s)", u, err, url)
	}
	rc, err := nats.Connect(u, auth, nats.MaxReconnects(0), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	defer rc.Close()
	js, _ := rc.JetStream(nats.MaxWait(2 * time.Second))
	if _, err := js.StreamInfo(bus.StreamName); err != nil {
		t.Errorf("reader cannot read the stream: %v", err)
	}
	if err := js.PurgeStream(bus.StreamName); err == nil {
		t.Error("reader purged the audit stream")
	}
	if _, err := js.Publish("arb.plans.BTC-USDT", []byte("forged")); err == nil {
		t.Error("reader published an event")
	}
	if v, _ := p.status()["rules_version"].(string); v != v0 {
		t.Errorf("rules changed from %s to %s", v0, v)
	}
	p.stop()
}

// sigIgnored reports whether pid ignores signal sig, from the SigIgn mask
// of /proc/<pid>/status (false where there is no /proc).
func sigIgnored(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	m := regexp.MustCompile(`(?m)^SigIgn:\s*([0-9a-f]+)$`).FindSubmatch(b)
	if m == nil {
		return false
	}
	mask, err := strconv.ParseUint(string(m[1]), 16, 64)
	return err == nil && mask&(1<<(uint(sig)-1)) != 0
}

// TestSignalsDuringStartup: SIGHUPs from the earliest moment arbd's Go code
// can handle them (a storm, every 5 ms, through the whole start-up) do not
// kill it: it keeps starting, becomes ready, and reloads once start-up is
// done.
func TestSignalsDuringStartup(t *testing.T) {
	// In-process runs of arbd (TestBadConfigExits) ignored SIGPIPE in this
	// test binary; the daemon must not inherit that, or the marker below
	// would be set before arbd's code runs.
	unignorePIPE()
	s := newSetup(t)
	p := start(t, s.addr, nil, nil, "--config", s.cfg)
	// The storm starts once arbd's signal handling is in place: on Linux,
	// as soon as SIGPIPE shows ignored (earlysig ignores it right after it
	// routes SIGHUP, during package initialization, tens of milliseconds
	// before main); otherwise at the first output. Before that only the Go
	// runtime's own start-up runs, which no program can protect.
	pid := p.cmd.Process.Pid
	if sigIgnored(os.Getpid(), syscall.SIGPIPE) {
		t.Fatal("the test binary ignores SIGPIPE; the daemon would inherit it")
	}
	early := false
	for wait := time.Now().Add(20 * time.Second); ; {
		if sigIgnored(pid, syscall.SIGPIPE) {
			early = p.logs.String() == ""
			break
		}
		if p.logs.String() != "" {
			break
		}
		p.alive()
		if time.Now().After(wait) {
			t.Fatal("arbd produced nothing within 20 s")
		}
		time.Sleep(time.Millisecond) // polling /proc, not waiting out a delay
	}
	deadline := time.Now().Add(30 * time.Second)
	sent := 0
	for !strings.Contains(p.logs.String(), `"msg":"arbd running"`) {
		select {
		case <-p.exited:
			t.Fatalf("arbd died during start-up after %d SIGHUPs: %v", sent, p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("start-up did not finish within 30 s")
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err == nil {
			sent++
		}
		time.Sleep(5 * time.Millisecond) // the storm's pace, not a wait for a condition
	}
	t.Logf("%d SIGHUPs during start-up (the first before any output: %v)", sent, early)
	p.waitReady(20 * time.Second)
	p.waitLog(`"msg":"rules reloaded on SIGHUP"`, 10*time.Second)
	p.stop()
}

// TestSIGPIPEOnClosedStderr: when the reader of arbd's stderr goes away (a
// log shipper dies), the next log line must not kill the trader.
func TestSIGPIPEOnClosedStderr(t *testing.T) {
	s := newSetup(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, s.addr, []string{"ARB_ADMIN_TOKEN=" + adminToken}, func(c *exec.Cmd) { c.Stderr = pw }, "--config", s.cfg)
	pw.Close()
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"arbd running"`) {
				close(running)
				break
			}
		}
		pr.Close() // the log shipper dies
	}()
	select {
	case <-running:
	case <-p.exited:
		t.Fatalf("arbd exited: %v", p.err)
	case <-time.After(30 * time.Second):
		t.Fatal("arbd did not start")
	}
	p.waitFor("HTTP up", 20*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })
	// Each of these writes a log line into the dead pipe.
	p.cmd.Process.Signal(syscall.SIGHUP)
	for range 3 {
		if code, body := p.post("/api/v1/kill", adminToken, "application/json", `{"reason":"log shipper test"}`); code != 200 {
			t.Fatalf("kill after the log reader died: %d %s", code, body)
		}
		if code, _ := p.post("/api/v1/resume", adminToken, "", ""); code != 200 {
			t.Fatal("resume after the log reader died")
		}
	}
	if c, _ := p.get("/healthz"); c != 200 {
		t.Fatal("arbd stopped answering")
	}
	p.alive()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("arbd was killed by %v", ws.Signal())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGINT")
	}
}

// TestFailedReloadLogged: with the rules file gone, a SIGHUP reload fails,
// says so in the log, keeps the running rules, and the status and a metric
// show the file unreadable until it is back.
func TestFailedReloadLogged(t *testing.T) {
	s := newSetup(t)
	p := start(t, s.addr, nil, nil, "--config", s.cfg)
	p.waitReady(20 * time.Second)
	v0, _ := p.status()["rules_version"].(string)
	if err := os.Remove(s.rules); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(`"msg":"SIGHUP rules reload failed; the running rules stay in force"`, 10*time.Second)
	st := p.status()
	rf, _ := st["rules_file"].(map[string]any)
	if rf["readable"] != false || !strings.Contains(rf["error"].(string), "no such file") || st["rules_version"] != v0 {
		t.Errorf("status after the file went: rules_file=%v version=%v (was %s)", rf, st["rules_version"], v0)
	}
	if _, m := p.get("/metrics"); !strings.Contains(m, "arb_risk_rules_file_readable 0") {
		t.Error("arb_risk_rules_file_readable is not 0")
	}
	os.WriteFile(s.rules, []byte(s.rulesText), 0o600)
	p.waitFor("rules file readable again", 10*time.Second, func() bool {
		rf, _ := p.status()["rules_file"].(map[string]any)
		return rf["readable"] == true
	})
	if v, _ := p.status()["rules_version"].(string); v != v0 {
		t.Errorf("rules now %s, were %s", v, v0)
	}
	p.stop()
}

// TestReadOnlyJetStream: a JetStream directory arbd cannot write stops the
// start at once, with a line naming the directory and the cause.
func TestReadOnlyJetStream(t *testing.T) {
	s := newSetup(t)
	data := filepath.Join(s.dir, "data")
	js := filepath.Join(data, "jetstream")
	if err := os.MkdirAll(js, 0o755); err != nil {
		t.Fatal(err)
	}
	var prep func(*exec.Cmd)
	if os.Geteuid() == 0 {
		// Root writes anywhere: run arbd as nobody, who owns data_dir
		// (for its lock) but not the store inside it.
		const nobody = 65534
		for _, p := range []string{s.dir, s.cfg, s.rules, data} {
			os.Chown(p, nobody, nobody)
		}
		os.Chmod(filepath.Dir(s.dir), 0o755) // t.TempDir's parent
		os.Chmod(s.dir, 0o755)
		os.Chmod(s.cfg, 0o644)
		os.Chmod(s.rules, 0o644)
		os.Chmod(js, 0o555)
		prep = func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
	} else {
		os.Chmod(js, 0o555)
		t.Cleanup(func() { os.Chmod(js, 0o755) })
	}
	p := start(t, s.addr, nil, prep, "--config", s.cfg)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("arbd kept starting on a read-only JetStream directory")
	}
	if p.err == nil {
		t.Fatal("arbd exited 0")
	}
	var failed map[string]any
	for _, l := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"start-up failed"`) {
			json.Unmarshal([]byte(l), &failed)
		}
	}
	msg, _ := failed["err"].(string)
	if !strings.Contains(msg, js) || !strings.Contains(msg, "not writable") || !strings.Contains(msg, "permission denied") {
		t.Errorf("start-up failure %q does not name %s and the cause", msg, js)
	}
}

// TestNATSOutageShows: with an external NATS that goes away, readiness
// turns 503 naming the durable log and the metrics show the connection
// down; when it is back, so is readiness.
func TestNATSOutageShows(t *testing.T) {
	store := t.TempDir()
	startNATS := func(port int) *server.Server {
		srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: store,
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
	srv := startNATS(server.RANDOM_PORT)
	port := srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	s := newSetup(t, `nats: {url: ""}`, `nats: {url: "nats://127.0.0.1:`+strconv.Itoa(port)+`"}`)
	p := start(t, s.addr, nil, nil, "--config", s.cfg)
	p.waitReady(20 * time.Second)

	srv.Shutdown()
	srv.WaitForShutdown()
	p.waitFor("readiness down with NATS", 15*time.Second, func() bool {
		c, body := p.get("/readyz")
		return c == 503 && strings.Contains(body, "durable log")
	})
	_, m := p.get("/metrics")
	for _, w := range []string{"arb_nats_connected 0", "arb_journal_available 0"} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	srv = startNATS(port)
	p.waitReady(20 * time.Second)
	p.stop()
}

// TestOneVenueDown: arbd started with one venue unreachable runs the
// others (fresh books), shows the missing one in the status, and readiness
// names it.
func TestOneVenueDown(t *testing.T) {
	s := newSetup(t, "ws_url: sim://okx\n    rest_url: sim://okx", "ws_url: ws://127.0.0.1:1\n    rest_url: http://127.0.0.1:1\n    paper: true")
	p := start(t, s.addr, nil, nil, "--config", s.cfg)
	p.waitFor("binance and bybit books", 30*time.Second, func() bool {
		c, body := p.get("/api/v1/books")
		if c != 200 {
			return false
		}
		var books []map[string]any
		json.Unmarshal([]byte(body), &books)
		fresh := 0
		for _, b := range books {
			if b["stale"] == false && (b["venue"] == "binance" || b["venue"] == "bybit") {
				fresh++
			}
		}
		return fresh == 6
	})
	if c, body := p.get("/readyz"); c != 503 || !strings.Contains(body, "feeds missing: okx") {
		t.Errorf("readyz %d %s", c, body)
	}
	found := false
	for _, v := range p.status()["venues"].([]any) {
		if m := v.(map[string]any); m["venue"] == "okx" && m["state"] == "waiting" {
			found = true
		}
	}
	if !found {
		t.Error("okx not shown waiting in the status")
	}
	p.stop()
}

// TestFiveMistakesFiveLines: the arbd binary prints a config's five
// mistakes as five lines, each with file:line and key, and exits 2.
func TestFiveMistakesFiveLines(t *testing.T) {
	s := newSetup(t,
		"log: {level: info}", "log: {level: loud}",
		"\npaper: false", "\npapr: false",
		"kind: okx", "kind: kraken",
		"age_max: 3s", "age_max: 3",
		`balances: {USDT: "100000", BTC: "0.5", ETH: "10", SOL: "200"}`, `balances: {USDT: "100000", BTC: "0.5", ETH: "10", SOL: "200", DOGE: "5"}`)
	out, err := exec.Command(arbdBin(t), "--config", s.cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), out)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(s.cfg) + `:\d+: [A-Za-z_\[\]0-9.-]+: \S`)
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("not file:line: key: %q", l)
		}
	}
}
