package main

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// withoutAdminToken is arbd's environment with no ARB_ADMIN_TOKEN or
// ARB_ADMIN_TOKEN_FILE, whatever the test's own environment holds.
func withoutAdminToken(extra ...string) func(*exec.Cmd) {
	return func(c *exec.Cmd) {
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "ARB_ADMIN_TOKEN=") && !strings.HasPrefix(e, "ARB_ADMIN_TOKEN_FILE=") {
				env = append(env, e)
			}
		}
		c.Env = append(env, extra...)
	}
}

// TestAdminDisabledWithoutToken: arbd started without an admin token
// serves the read routes and answers every admin route 403 (disabled),
// with or without a bearer token, and nothing is done; the start-up log
// says the admin routes are off.
func TestAdminDisabledWithoutToken(t *testing.T) {
	s := newSetup(t)
	p := start(t, s.addr, nil, withoutAdminToken(), "--config", s.cfg)
	p.waitFor("HTTP up", 30*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })
	for _, path := range []string{"/api/v1/kill", "/api/v1/resume", "/api/v1/rules/reload"} {
		for _, tok := range []string{"", adminToken} {
			code, body := p.post(path, tok, "text/plain", "stop")
			if code != 403 || body != `{"error":"admin API disabled: set ARB_ADMIN_TOKEN to enable it"}`+"\n" {
				t.Errorf("POST %s (token %v) without ARB_ADMIN_TOKEN: %d %s; want 403, disabled", path, tok != "", code, body)
			}
		}
	}
	if st := p.status(); st["killed"] != false {
		t.Errorf("a refused kill halted trading: %v", st["kill_reason"])
	}
	if !strings.Contains(p.logs.String(), `"msg":"HTTP API listening","component":"httpapi","addr":"`+s.addr+`","admin":false`) {
		t.Error("the start-up log does not say the admin routes are off")
	}
	p.stop()
}

// TestAdminTokenRules: a token shorter than 16 characters stops arbd at
// start (exit 1) with a message that does not repeat it; a token from
// ARB_ADMIN_TOKEN_FILE (a mounted secret) enables the admin routes: no
// token 401, a wrong one 401, the right one does the kill.
func TestAdminTokenRules(t *testing.T) {
	s := newSetup(t)
	const short = "sh0rt-t0ken"
	out, err := func() ([]byte, error) {
		c := exec.Command(arbdBin(t), "--config", s.cfg)
		withoutAdminToken("ARB_ADMIN_TOKEN=" + short)(c)
		return c.CombinedOutput()
	}()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "shorter than 16 characters") {
		t.Errorf("a short token: %v\n%s", err, tail(string(out), 5))
	}
	if strings.Contains(string(out), short) {
		t.Error("the refusal repeats the short token")
	}

	file := writeFile(t, s.dir, "admin-token", adminToken+"\n")
	p := start(t, s.addr, nil, withoutAdminToken("ARB_ADMIN_TOKEN_FILE="+file), "--config", s.cfg)
	p.waitFor("HTTP up", 30*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })
	if code, body := p.post("/api/v1/kill", "", "", ""); code != 401 || !strings.Contains(body, "missing bearer token") {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, body := p.post("/api/v1/kill", adminToken+"x", "", ""); code != 401 || !strings.Contains(body, "invalid bearer token") {
		t.Errorf("wrong token: %d %s", code, body)
	}
	if st := p.status(); st["killed"] != false {
		t.Fatal("a refused kill halted trading")
	}
	if code, body := p.post("/api/v1/kill", adminToken, "text/plain", "token from a file"); code != 200 || !strings.Contains(body, `"engaged":true`) {
		t.Errorf("right token: %d %s", code, body)
	}
	if st := p.status(); st["killed"] != true || st["kill_reason"] != "token from a file" {
		t.Errorf("after the kill: killed=%v reason=%v", st["killed"], st["kill_reason"])
	}
	p.stop()
}

// TestSlowClientCut: the daemon's HTTP server bounds the time to read a
// request's headers (5 s): a client that drips a header byte every 100 ms,
// and would take minutes to finish, has its connection closed, and the
// daemon keeps serving others.
func TestSlowClientCut(t *testing.T) {
	s := newSetup(t)
	p := start(t, s.addr, nil, withoutAdminToken(), "--config", s.cfg)
	p.waitFor("HTTP up", 30*time.Second, func() bool { c, _ := p.get("/healthz"); return c == 200 })
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n" + strings.Repeat("X-Drip: 1\r\n", 500) + "\r\n"
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < len(req); i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // the drip's pace, not a wait for a condition
			}
			if _, err := c.Write([]byte{req[i]}); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("a client dripping its headers held its connection for 60 s")
	}
	if strings.Contains(string(b), "200 OK") {
		t.Errorf("the dripped request was served: %q", b)
	}
	if code, _ := p.get("/healthz"); code != 200 {
		t.Error("arbd stopped serving")
	}
	p.stop()
}
