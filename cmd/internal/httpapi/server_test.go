package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"arb/strategy/execute"
)

const token = "0123456789abcdef-test-token"

// fake implements every provider; each field sets what it answers.
type fake struct {
	mu         sync.Mutex
	books      []Book
	ready      bool
	reason     string
	status     StatusReport
	positions  []Position
	pnl        PnLReport
	err        error         // returned by the read providers
	block      time.Duration // read providers wait this long (or until ctx ends)
	panicking  bool
	killReason string
	killed     bool
	killedAt   time.Time
	noPersist  bool
	persistErr string
	resumeErr  error
	rulesVer   string
	rulesErr   error
	trades     []execute.TradeView
	orders     []execute.OrderView
	limit      int // the last limit asked of Trades
}

func (f *fake) Trades(ctx context.Context, limit int) ([]execute.TradeView, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.limit = limit
	f.mu.Unlock()
	if limit < len(f.trades) {
		return f.trades[:limit], f.err
	}
	return f.trades, f.err
}

func (f *fake) OpenOrders(ctx context.Context) ([]execute.OrderView, error) {
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	return f.orders, f.err
}

func (f *fake) wait(ctx context.Context) error {
	if f.panicking {
		panic("provider bug")
	}
	if f.block > 0 {
		select {
		case <-time.After(f.block):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.err
}

func (f *fake) Books(ctx context.Context) ([]Book, error) { return f.books, f.wait(ctx) }
func (f *fake) Ready(ctx context.Context) (bool, string)  { return f.ready, f.reason }
func (f *fake) Status(ctx context.Context) (StatusReport, error) {
	return f.status, f.wait(ctx)
}
func (f *fake) Positions(ctx context.Context) ([]Position, error) { return f.positions, f.wait(ctx) }
func (f *fake) PnL(ctx context.Context) (PnLReport, error)        { return f.pnl, f.wait(ctx) }
func (f *fake) Kill(ctx context.Context, reason string) (KillResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.killed {
		return KillResult{Engaged: false, Reason: f.killReason, By: "api", At: f.killedAt, Persisted: true}, nil
	}
	f.killed, f.killReason, f.killedAt = true, reason, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return KillResult{Engaged: true, Reason: reason, By: "api", At: f.killedAt, Persisted: !f.noPersist, PersistError: f.persistErr}, nil
}
func (f *fake) Resume(ctx context.Context) (ResumeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resumeErr != nil {
		return ResumeResult{}, f.resumeErr
	}
	if !f.killed {
		return ResumeResult{Changed: false, Persisted: true}, nil
	}
	f.killed = false
	return ResumeResult{Changed: true, Released: Halt{Reason: f.killReason, By: "api", At: f.killedAt}, Persisted: true}, nil
}
func (f *fake) ReloadRules(ctx context.Context) (string, error) { return f.rulesVer, f.rulesErr }

func deps(f *fake, reg *prometheus.Registry) Deps {
	return Deps{Metrics: reg, Books: f, Readiness: f, Status: f, Positions: f, PnL: f, Trades: f, Admin: f}
}

// do sends one request to h and returns the response.
func do(t *testing.T, h http.Handler, method, path, auth, body string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Host = "127.0.0.1:7420"
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func readBody(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRoutes is the route table's specification: request in, status,
// content type and body out.
func TestRoutes(t *testing.T) {
	started := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	f := &fake{
		ready: true,
		status: StatusReport{Mode: "paper", StartedAt: started, Trading: true, RulesVersion: "v3",
			Venues: []VenueStatus{{Venue: "binance", Kind: "binance", Connected: true, Books: 3, Messages: 10}}},
		positions: []Position{{Venue: "binance", Asset: "BTC", Balance: "1.5"}},
		pnl:       PnLReport{Currency: "USDT", Realized: "12.5", Fees: "2.5", Net: "10", Trades: 4, AsOf: started},
		rulesVer:  "v4",
	}
	s := New(Config{AdminToken: token}, deps(f, prometheus.NewRegistry()), nil)
	bearer := "Bearer " + token
	const jsonCT = "application/json; charset=utf-8"
	tests := []struct {
		name, method, path, auth, body string
		code                           int
		ct                             string
		want                           string // exact body
		allow                          string
	}{
		{"healthz", "GET", "/healthz", "", "", 200, "text/plain; charset=utf-8", "ok", ""},
		{"healthz head", "HEAD", "/healthz", "", "", 200, "text/plain; charset=utf-8", "", ""},
		{"readyz", "GET", "/readyz", "", "", 200, jsonCT, `{"ready":true}` + "\n", ""},
		{"status", "GET", "/api/v1/status", "", "", 200, jsonCT,
			`{"mode":"paper","started_at":"2026-03-01T11:00:00Z","trading":true,"killed":false,"rules_version":"v3","venues":[{"venue":"binance","kind":"binance","connected":true,"books":3,"stale_books":0,"messages":10,"rejects":0,"gaps":0,"resyncs":0,"reconnects":0}],"detector":{"events":0,"plans":0,"approved":0,"rejected":0,"refused_journal_unavailable":0},"recent_plans":null}` + "\n", ""},
		{"positions", "GET", "/api/v1/positions", "", "", 200, jsonCT,
			`[{"venue":"binance","asset":"BTC","balance":"1.5"}]` + "\n", ""},
		{"pnl", "GET", "/api/v1/pnl", "", "", 200, jsonCT,
			`{"currency":"USDT","realized":"12.5","fees":"2.5","net":"10","trades":4,"as_of":"2026-03-01T11:00:00Z"}` + "\n", ""},
		{"unknown path", "GET", "/api/v1/nope", "", "", 404, jsonCT, `{"error":"not found: /api/v1/nope"}` + "\n", ""},
		{"trailing slash is another path", "GET", "/healthz/", "", "", 404, jsonCT, `{"error":"not found: /healthz/"}` + "\n", ""},
		{"post to a get route", "POST", "/api/v1/books", "", "", 405, jsonCT,
			`{"error":"method POST not allowed; use GET, HEAD"}` + "\n", "GET, HEAD"},
		{"get an admin route", "GET", "/api/v1/kill", bearer, "", 405, jsonCT,
			`{"error":"method GET not allowed; use POST"}` + "\n", "POST"},
		{"delete", "DELETE", "/metrics", "", "", 405, jsonCT,
			`{"error":"method DELETE not allowed; use GET, HEAD"}` + "\n", "GET, HEAD"},
		{"kill", "POST", "/api/v1/kill", bearer, `{"reason":"manual"}`, 200, jsonCT,
			`{"killed":true,"engaged":true,"already_halted":false,"reason":"manual","requested_reason":"manual","by":"api","at":"2026-03-01T12:00:00Z","persisted":true}` + "\n", ""},
		{"kill again keeps the first reason", "POST", "/api/v1/kill", bearer, `{"reason":"second"}`, 200, jsonCT,
			`{"killed":true,"engaged":false,"already_halted":true,"reason":"manual","requested_reason":"second","by":"api","at":"2026-03-01T12:00:00Z","persisted":true,"warnings":["trading was already halted; the first reason is kept"]}` + "\n", ""},
		{"resume", "POST", "/api/v1/resume", bearer, "", 200, jsonCT,
			`{"killed":false,"changed":true,"message":"kill switch released; trading resumes","released":{"reason":"manual","by":"api","at":"2026-03-01T12:00:00Z"},"persisted":true}` + "\n", ""},
		{"resume while running", "POST", "/api/v1/resume", bearer, "", 200, jsonCT,
			`{"killed":false,"changed":false,"message":"trading was not halted; nothing changed","persisted":true}` + "\n", ""},
		{"kill without a body", "POST", "/api/v1/kill", bearer, "", 200, jsonCT,
			`{"killed":true,"engaged":true,"already_halted":false,"reason":"killed through the HTTP API","requested_reason":"","by":"api","at":"2026-03-01T12:00:00Z","persisted":true}` + "\n", ""},
		{"rules reload", "POST", "/api/v1/rules/reload", bearer, "", 200, jsonCT, `{"version":"v4"}` + "\n", ""},
		{"lower-case scheme", "POST", "/api/v1/resume", "bearer " + token, "", 200, jsonCT,
			`{"killed":false,"changed":true,"message":"kill switch released; trading resumes","released":{"reason":"killed through the HTTP API","by":"api","at":"2026-03-01T12:00:00Z"},"persisted":true}` + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, tt.method, tt.path, tt.auth, tt.body)
			body := readBody(t, r)
			if r.StatusCode != tt.code || body != tt.want {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, r.StatusCode, body, tt.code, tt.want)
			}
			if ct := r.Header.Get("Content-Type"); ct != tt.ct {
				t.Errorf("Content-Type %q, want %q", ct, tt.ct)
			}
			if a := r.Header.Get("Allow"); a != tt.allow {
				t.Errorf("Allow %q, want %q", a, tt.allow)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	f := &fake{}
	on := New(Config{AdminToken: token}, deps(f, nil), nil)
	off := New(Config{}, deps(f, nil), nil)
	tests := []struct {
		name   string
		s      *Server
		auth   string
		code   int
		body   string
		wwwAut string
	}{
		{"admin disabled", off, "Bearer " + token, 403, `{"error":"admin API disabled: set ARB_ADMIN_TOKEN to enable it"}`, ""},
		{"admin disabled, no token", off, "", 403, `{"error":"admin API disabled: set ARB_ADMIN_TOKEN to enable it"}`, ""},
		{"missing", on, "", 401, `{"error":"missing bearer token"}`, `Bearer realm="arb"`},
		{"empty token", on, "Bearer ", 401, `{"error":"missing bearer token"}`, `Bearer realm="arb"`},
		{"other scheme", on, "Basic " + token, 401, `{"error":"missing bearer token"}`, `Bearer realm="arb"`},
		{"wrong", on, "Bearer " + token + "x", 401, `{"error":"invalid bearer token"}`, `Bearer realm="arb", error="invalid_token"`},
		{"prefix of the token", on, "Bearer " + token[:len(token)-1], 401, `{"error":"invalid bearer token"}`, `Bearer realm="arb", error="invalid_token"`},
		{"right", on, "Bearer " + token, 200, `{"killed":true,"engaged":true,"already_halted":false,"reason":"killed through the HTTP API","requested_reason":"","by":"api","at":"2026-03-01T12:00:00Z","persisted":true}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.killed = false
			r := do(t, tt.s, "POST", "/api/v1/kill", tt.auth, "")
			if body := strings.TrimSpace(readBody(t, r)); r.StatusCode != tt.code || body != tt.body {
				t.Errorf("= %d %s, want %d %s", r.StatusCode, body, tt.code, tt.body)
			}
			if got := r.Header.Get("WWW-Authenticate"); got != tt.wwwAut {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.wwwAut)
			}
			if f.killed != (tt.code == 200) {
				t.Errorf("Kill called: %v", f.killed)
			}
		})
	}
	// Every admin route is guarded.
	for _, p := range []string{"/api/v1/kill", "/api/v1/resume", "/api/v1/rules/reload"} {
		if r := do(t, on, "POST", p, "", ""); r.StatusCode != 401 {
			t.Errorf("%s without a token: %d", p, r.StatusCode)
		}
		if r := do(t, off, "POST", p, "Bearer "+token, ""); r.StatusCode != 403 {
			t.Errorf("%s with admin disabled: %d", p, r.StatusCode)
		}
	}
}

// TestBooksJSON: the keys are exactly the contract's, values are strings
// as given, an empty side is null, times are RFC 3339 UTC with nanoseconds,
// and rows are ordered by venue then symbol.
func TestBooksJSON(t *testing.T) {
	ts := time.Date(2026, 3, 1, 13, 4, 5, 123456789, time.FixedZone("X", 2*3600))
	f := &fake{books: []Book{
		{Venue: "okx", Symbol: "BTC-USDT", Bid: "60000.1", BidQty: "0.5", Ask: "60000.2", AskQty: "1.25", ExchangeTS: ts},
		{Venue: "binance", Symbol: "ETH-USDT", Bid: "3000.00", BidQty: "2.00000000", Stale: true},
		{Venue: "binance", Symbol: "BTC-USDT", Bid: "60000.00", BidQty: "0.10000000", Ask: "60000.10", AskQty: "0.20000000", ExchangeTS: ts},
	}}
	r := do(t, New(Config{}, deps(f, nil), nil), "GET", "/api/v1/books", "", "")
	if r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(readBody(t, r)), &got); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"ask", "ask_qty", "bid", "bid_qty", "exchange_ts", "stale", "symbol", "venue"}
	for i, row := range got {
		var keys []string
		for k := range row {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("row %d keys %v, want exactly %v", i, keys, wantKeys)
		}
	}
	want := []map[string]any{
		{"venue": "binance", "symbol": "BTC-USDT", "bid": "60000.00", "bid_qty": "0.10000000", "ask": "60000.10", "ask_qty": "0.20000000",
			"exchange_ts": "2026-03-01T11:04:05.123456789Z", "stale": false},
		{"venue": "binance", "symbol": "ETH-USDT", "bid": "3000.00", "bid_qty": "2.00000000", "ask": nil, "ask_qty": nil,
			"exchange_ts": nil, "stale": true},
		{"venue": "okx", "symbol": "BTC-USDT", "bid": "60000.1", "bid_qty": "0.5", "ask": "60000.2", "ask_qty": "1.25",
			"exchange_ts": "2026-03-01T11:04:05.123456789Z", "stale": false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("books\n got %v\nwant %v", got, want)
	}
	// No books yet is an empty array, not null.
	r = do(t, New(Config{}, deps(&fake{}, nil), nil), "GET", "/api/v1/books", "", "")
	if b := readBody(t, r); b != "[]\n" {
		t.Errorf("no books: %q", b)
	}
}

func TestReadiness(t *testing.T) {
	f := &fake{reason: "books stale: okx BTC-USDT"}
	r := do(t, New(Config{}, deps(f, nil), nil), "GET", "/readyz", "", "")
	if b := readBody(t, r); r.StatusCode != 503 || b != `{"ready":false,"reason":"books stale: okx BTC-USDT"}`+"\n" {
		t.Errorf("not ready: %d %s", r.StatusCode, b)
	}
	f.reason = ""
	r = do(t, New(Config{}, deps(f, nil), nil), "GET", "/readyz", "", "")
	if b := readBody(t, r); r.StatusCode != 503 || b != `{"ready":false,"reason":"not ready"}`+"\n" {
		t.Errorf("not ready, no reason: %d %s", r.StatusCode, b)
	}
}

// TestMissingDeps: the API serves with nothing wired; each route says what
// is missing.
func TestMissingDeps(t *testing.T) {
	s := New(Config{AdminToken: token}, Deps{}, nil)
	tests := []struct{ method, path, want string }{
		{"GET", "/readyz", `{"ready":false,"reason":"starting"}`},
		{"GET", "/metrics", `{"error":"metrics not available"}`},
		{"GET", "/api/v1/books", `{"error":"books not available"}`},
		{"GET", "/api/v1/status", `{"error":"status not available"}`},
		{"GET", "/api/v1/positions", `{"error":"positions not available"}`},
		{"GET", "/api/v1/pnl", `{"error":"pnl not available"}`},
		{"POST", "/api/v1/kill", `{"error":"admin not available"}`},
		{"POST", "/api/v1/resume", `{"error":"admin not available"}`},
		{"POST", "/api/v1/rules/reload", `{"error":"admin not available"}`},
	}
	for _, tt := range tests {
		r := do(t, s, tt.method, tt.path, "Bearer "+token, "")
		if b := strings.TrimSpace(readBody(t, r)); r.StatusCode != 503 || b != tt.want {
			t.Errorf("%s %s = %d %s, want 503 %s", tt.method, tt.path, r.StatusCode, b, tt.want)
		}
	}
	if r := do(t, s, "GET", "/healthz", "", ""); r.StatusCode != 200 {
		t.Errorf("healthz %d", r.StatusCode)
	}
}

func TestProviderFailures(t *testing.T) {
	f := &fake{err: errors.New("ledger unavailable")}
	s := New(Config{AdminToken: token, HandlerTimeout: 50 * time.Millisecond}, deps(f, nil), nil)
	for _, p := range []string{"/api/v1/books", "/api/v1/status", "/api/v1/positions", "/api/v1/pnl"} {
		r := do(t, s, "GET", p, "", "")
		name := strings.TrimPrefix(p, "/api/v1/")
		if b := strings.TrimSpace(readBody(t, r)); r.StatusCode != 500 || b != `{"error":"`+name+`: ledger unavailable"}` {
			t.Errorf("%s = %d %s", p, r.StatusCode, b)
		}
	}
	// A provider that does not answer in HandlerTimeout: 503.
	f.err, f.block = nil, time.Hour
	start := time.Now()
	r := do(t, s, "GET", "/api/v1/pnl", "", "")
	if b := strings.TrimSpace(readBody(t, r)); r.StatusCode != 503 || b != `{"error":"pnl: context deadline exceeded"}` {
		t.Errorf("slow provider = %d %s", r.StatusCode, b)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow provider held the request %v", d)
	}
	// A panicking provider: 500, and the server goes on.
	f.block, f.panicking = 0, true
	r = do(t, s, "GET", "/api/v1/status", "", "")
	if b := strings.TrimSpace(readBody(t, r)); r.StatusCode != 500 || b != `{"error":"internal error"}` {
		t.Errorf("panic = %d %s", r.StatusCode, b)
	}
	// Admin failures.
	f.panicking = false
	f.resumeErr = fmt.Errorf("%w: books are stale", ErrRefused)
	r = do(t, s, "POST", "/api/v1/resume", "Bearer "+token, "")
	if b := strings.TrimSpace(readBody(t, r)); r.StatusCode != 409 || b != `{"error":"refused: books are stale"}` {
		t.Errorf("refused resume = %d %s", r.StatusCode, b)
	}
	f.resumeErr = errors.New("disk full")
	if r := do(t, s, "POST", "/api/v1/resume", "Bearer "+token, ""); r.StatusCode != 500 {
		t.Errorf("failed resume = %d", r.StatusCode)
	}
	f.rulesErr = errors.New("rules.yaml:3:7: rule \"max\": unknown name foo")
	r = do(t, s, "POST", "/api/v1/rules/reload", "Bearer "+token, "")
	if b := strings.TrimSpace(readBody(t, r)); r.StatusCode != 422 || b != `{"error":"rules.yaml:3:7: rule \"max\": unknown name foo"}` {
		t.Errorf("bad rules = %d %s", r.StatusCode, b)
	}
}

// TestMetricsRoute: /metrics serves the registry, including the server's
// own request counter.
func TestMetricsRoute(t *testing.T) {
	reg := NewRegistry()
	reg.MustRegister(NewCounterFamily("arb_test_events_total", "Test events.", []string{"venue"}, func(emit Emit) {
		emit(7, "binance")
	}))
	s := New(Config{}, deps(&fake{ready: true}, reg), nil)
	do(t, s, "GET", "/readyz", "", "")
	do(t, s, "GET", "/nope", "", "")
	r := do(t, s, "GET", "/metrics", "", "")
	body := readBody(t, r)
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`arb_test_events_total{venue="binance"} 7`,
		`arb_http_requests_total{code="200",route="/readyz"} 1`,
		`arb_http_requests_total{code="404",route="unknown"} 1`,
		"go_goroutines ",
		"process_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// A second server on the same registry does not panic.
	New(Config{}, deps(&fake{}, reg), nil)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Listen: "127.0.0.1:0", AdminToken: token}, ""},
		{Config{Listen: "localhost"}, `httpapi: listen "localhost": address localhost: missing port in address`},
		{Config{AdminToken: "tok3n"}, "httpapi: the admin token (ARB_ADMIN_TOKEN) is shorter than 16 characters"},
		{Config{ReadTimeout: -1}, "httpapi: timeouts and limits must not be negative"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if got := fmt.Sprint(err); (err == nil) != (tt.want == "") || err != nil && got != tt.want {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
		if err != nil && tt.cfg.AdminToken != "" && strings.Contains(err.Error(), tt.cfg.AdminToken) {
			t.Errorf("error reveals the token")
		}
	}
	if err := New(Config{Listen: "bad"}, Deps{}, nil).ListenAndServe(context.Background()); err == nil {
		t.Error("ListenAndServe with a bad address")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := New(Config{AdminToken: "tok3n"}, Deps{}, nil).Serve(context.Background(), ln); err == nil {
		t.Error("Serve with a short admin token")
	}
}

// TestServeGracefulShutdown: when ctx ends, a request in flight completes,
// new connections are refused, and Serve returns nil promptly.
func TestServeGracefulShutdown(t *testing.T) {
	f := &fake{block: 300 * time.Millisecond, pnl: PnLReport{Currency: "USDT"}}
	s := New(Config{Listen: "127.0.0.1:0"}, deps(f, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	addr := waitAddr(t, s)
	base := "http://" + addr.String()

	if r, err := http.Get(base + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz over TCP: %v %v", r, err)
	}
	type result struct {
		code int
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		r, err := http.Get(base + "/api/v1/pnl")
		if err != nil {
			inflight <- result{0, err}
			return
		}
		r.Body.Close()
		inflight <- result{r.StatusCode, nil}
	}()
	time.Sleep(100 * time.Millisecond) // the request is in the provider
	start := time.Now()
	cancel()
	if res := <-inflight; res.err != nil || res.code != 200 {
		t.Errorf("in-flight request: %+v", res)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Error("still accepting after shutdown")
	}
}

// TestServeShutdownDeadline: a request that outlives ShutdownTimeout is
// cut, and Serve still returns within about the deadline.
func TestServeShutdownDeadline(t *testing.T) {
	f := &fake{block: time.Hour}
	s := New(Config{Listen: "127.0.0.1:0", ShutdownTimeout: 200 * time.Millisecond, HandlerTimeout: time.Hour}, deps(f, nil), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	addr := waitAddr(t, s)
	go http.Get("http://" + addr.String() + "/api/v1/books")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v with a 200ms deadline", d)
	}
}

func waitAddr(t *testing.T, s *Server) net.Addr {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s.Addr()
}

// fakeAddrListener reports a non-loopback address while listening on
// loopback, to see the warning without exposing a port.
type fakeAddrListener struct{ net.Listener }

func (l fakeAddrListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 7420}
}

// serveBriefly serves on ln for a moment and returns what was logged.
func serveBriefly(t *testing.T, ln net.Listener) string {
	t.Helper()
	var mu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(Config{}, Deps{}, logger).Serve(ctx, ln) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return logs.String()
}

func TestNonLoopbackWarning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if logs := serveBriefly(t, fakeAddrListener{ln}); !strings.Contains(logs, `"level":"WARN","msg":"HTTP API listening on a non-loopback address without TLS`) {
		t.Errorf("no warning in %s", logs)
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if logs := serveBriefly(t, ln); strings.Contains(logs, "non-loopback") {
		t.Errorf("warning on loopback: %s", logs)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// FuzzServeHTTP: any request gets an answer, never a panic; every answer
// but /healthz and /metrics is JSON; no admin command runs without the
// token.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/api/v1/books", "", "")
	f.Add("POST", "/api/v1/kill", "Bearer "+token, `{"reason":"x"}`)
	f.Add("POST", "/api/v1/kill", "Bearer "+token+"x", `{"reason":"x"}`)
	f.Add("POST", "/api/v1/rules/reload", "bearer "+token, `{}`)
	f.Add("PUT", "/readyz", "Basic", "\x00")
	f.Add("POST", "/api/v1/resume", "Bearer "+token, `{"a":[`)
	f.Fuzz(func(t *testing.T, method, path, auth, body string) {
		fk := &fake{ready: true, rulesVer: "v1"}
		s := New(Config{AdminToken: token, MaxBodyBytes: 1024}, deps(fk, nil), nil)
		req := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: path},
			Header:     http.Header{},
			Body:       io.NopCloser(strings.NewReader(body)),
			RemoteAddr: "127.0.0.1:1",
		}
		req = req.WithContext(context.Background())
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		res := rec.Result()
		b, _ := io.ReadAll(res.Body)
		plain := (path == "/healthz" || path == "/metrics") && res.StatusCode == 200
		if !plain {
			if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" || !json.Valid(b) {
				t.Fatalf("%s %q: %d %q %q", method, path, res.StatusCode, ct, b)
			}
		}
		authorized := len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") && auth[7:] == token
		if fk.killed && !(authorized && method == "POST" && path == "/api/v1/kill") {
			t.Fatalf("killed by %s %q with %q", method, path, auth)
		}
	})
}

// TestKillAlwaysEngages: whatever the body of an authenticated kill, the
// switch engages; what could not be used as a reason is reported as a
// warning, and what could is kept (as text when it is not JSON).
func TestKillAlwaysEngages(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name, ct, body string
		reason         string // requested_reason in the answer
		warning        string // a substring of one warning ("" = none)
	}{
		{"form field (curl -d)", "application/x-www-form-urlencoded", "reason=market crash", "market crash", ""},
		{"form field and more", "application/x-www-form-urlencoded", "reason=crash&who=me", "crash", "unknown form fields ignored: who"},
		{"form without a field", "application/x-www-form-urlencoded", "market crash", "market crash", ""},
		{"text/plain", "text/plain", "exchange down\n", "exchange down", ""},
		{"no content type", "", "halt now", "halt now", ""},
		{"unknown JSON field", "application/json", `{"reason":"r","why":"x"}`, "r", "unknown fields ignored: why"},
		{"only an unknown JSON field", "application/json", `{"why":"x"}`, "", "unknown fields ignored: why"},
		{"reason not a string", "application/json", `{"reason":42}`, "42", "reason is not a JSON string"},
		{"bad JSON", "application/json", `{"reason":`, `{"reason":`, "not one JSON object"},
		{"two JSON values", "application/json", `{} {}`, `{} {}`, "not one JSON object"},
		{"long reason", "application/json", `{"reason":"` + long + `"}`, long[:MaxReasonBytes], "truncated"},
		{"control characters", "text/plain", "a\x00b\x1bc", "a b c", ""},
		{"invalid UTF-8", "text/plain", "a\xffb", "a\uFFFDb", "not valid UTF-8"},
		{"100 KB body", "application/json", `{"reason":"` + strings.Repeat("y", 100<<10) + `"}`, `{"reason":"` + strings.Repeat("y", MaxReasonBytes-11), "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{}
			var logs bytes.Buffer
			s := New(Config{AdminToken: token}, deps(f, nil), slog.New(slog.NewJSONHandler(&logs, nil)))
			req := httptest.NewRequest("POST", "/api/v1/kill", strings.NewReader(tt.body))
			req.Host = "127.0.0.1:7420"
			req.Header.Set("Authorization", "Bearer "+token)
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			var got killBody
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
				t.Fatalf("= %d %s (%v)", rec.Code, rec.Body, err)
			}
			if !f.killed || !got.Killed || !got.Engaged {
				t.Fatalf("not engaged: %+v", got)
			}
			if got.RequestedReason != tt.reason {
				t.Errorf("requested_reason %q, want %q", got.RequestedReason, tt.reason)
			}
			want := tt.reason
			if want == "" {
				want = DefaultKillReason
			}
			if f.killReason != want || got.Reason != want {
				t.Errorf("reason in force %q / %q, want %q", f.killReason, got.Reason, want)
			}
			joined := strings.Join(got.Warnings, "|")
			if tt.warning == "" && joined != "" || !strings.Contains(joined, tt.warning) {
				t.Errorf("warnings %q, want one with %q", got.Warnings, tt.warning)
			}
			// The audit line says what was done, warnings included.
			if !strings.Contains(logs.String(), `"msg":"admin: kill"`) || !strings.Contains(logs.String(), `"engaged":true`) ||
				(tt.warning != "" && !strings.Contains(logs.String(), tt.warning)) {
				t.Errorf("log:\n%s", logs.String())
			}
		})
	}
}

// TestKillNotPersisted: a kill whose state could not be saved still stops
// trading, and the answer says it will not survive a restart.
func TestKillNotPersisted(t *testing.T) {
	f := &fake{noPersist: true, persistErr: "disk full"}
	s := New(Config{AdminToken: token}, deps(f, nil), nil)
	r := do(t, s, "POST", "/api/v1/kill", "Bearer "+token, "")
	body := readBody(t, r)
	if r.StatusCode != 200 || !f.killed || !strings.Contains(body, `"persisted":false`) ||
		!strings.Contains(body, "will not survive a restart: disk full") {
		t.Errorf("= %d %s", r.StatusCode, body)
	}
}

// TestSlowKillBody: a client that sends its kill body slowly cannot hold
// the switch off for longer than killReadWait.
func TestSlowKillBody(t *testing.T) {
	f := &fake{}
	s := New(Config{AdminToken: token}, deps(f, nil), nil)
	srv := httptest.NewServer(s)
	defer srv.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/kill", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/plain")
	go pw.Write([]byte("slow reas")) // and never the rest
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !f.killed || !strings.Contains(string(b), "not received within") {
		t.Errorf("= %d %s", resp.StatusCode, b)
	}
	if d := time.Since(start); d > killReadWait+4*time.Second {
		t.Errorf("kill took %v", d)
	}
}

// TestBusyProvider: a provider under load answers 503 with Retry-After,
// and the failures are logged at most once a second, with a count.
func TestBusyProvider(t *testing.T) {
	f := &fake{err: fmt.Errorf("engine: %w", ErrBusy)}
	var logs bytes.Buffer
	s := New(Config{}, deps(f, nil), slog.New(slog.NewJSONHandler(&lockedWriter{mu: &sync.Mutex{}, w: &logs}, nil)))
	for range 50 {
		r := do(t, s, "GET", "/api/v1/positions", "", "")
		readBody(t, r)
		if r.StatusCode != 503 || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("= %d Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
	if n := strings.Count(logs.String(), "provider failed"); n < 1 || n > 3 {
		t.Errorf("%d log lines for 50 failures:\n%s", n, logs.String())
	}
}

// TestHostHeader: a request whose Host names another site (a browser led
// there by DNS rebinding) is refused on every route; IP literals, localhost
// and the configured names are served.
func TestHostHeader(t *testing.T) {
	f := &fake{ready: true, positions: []Position{{Venue: "binance", Asset: "BTC", Balance: "1"}}}
	s := New(Config{AllowedHosts: []string{"arbd.internal"}}, deps(f, nil), nil)
	for host, code := range map[string]int{
		"127.0.0.1:7420": 200, "localhost:7420": 200, "[::1]:7420": 200, "10.1.2.3": 200, "LOCALHOST": 200,
		"arbd.internal:7420": 200, "": 200,
		"evil.example:7420": 403, "arbd.internal.evil.example": 403, "127.0.0.1.nip.io": 403,
	} {
		req := httptest.NewRequest("GET", "/api/v1/positions", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != code {
			t.Errorf("Host %q: %d %s, want %d", host, rec.Code, rec.Body, code)
		}
		if code == 403 && strings.Contains(rec.Body.String(), "BTC") {
			t.Errorf("Host %q: data leaked: %s", host, rec.Body)
		}
	}
}

// FuzzKillReason: any kill body yields a reason that is valid UTF-8,
// without control characters, at most MaxReasonBytes — and never a panic.
func FuzzKillReason(f *testing.F) {
	f.Add("application/json", `{"reason":"x","y":1}`)
	f.Add("application/x-www-form-urlencoded", "reason=market crash&x=%zz")
	f.Add("text/plain", "a\x00\xff")
	f.Add("", `{"reason":[1,2]}`)
	f.Add("application/json; charset=utf-8", "{}{}")
	f.Fuzz(func(t *testing.T, ct, body string) {
		req := httptest.NewRequest("POST", "/api/v1/kill", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		reason, warnings := readKillReason(httptest.NewRecorder(), req)
		if len(reason) > MaxReasonBytes || !utf8.ValidString(reason) {
			t.Fatalf("reason %q", reason)
		}
		for _, r := range reason {
			if unicode.IsControl(r) {
				t.Fatalf("control character in %q", reason)
			}
		}
		if reason != strings.TrimSpace(reason) {
			t.Fatalf("untrimmed %q", reason)
		}
		_ = warnings
	})
}

// TestTradesAndOrders: /api/v1/trades answers the Trades contract's
// objects newest first with ?limit=N (default and bounds), an empty list
// as [], and /api/v1/orders needs open=1.
func TestTradesAndOrders(t *testing.T) {
	opened := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	leg := execute.LegView{Venue: "binance", Side: "buy", Purpose: "entry", ClientOrderID: "arb1e00", VenueOrderID: "7",
		Price: "60000", Qty: "0.1", FilledQty: "0.1", AvgPrice: "60000", Fee: "6", FeeAsset: "USDT", Status: "filled"}
	f := &fake{trades: []execute.TradeView{
		{ID: "t2", PlanID: "p2", Symbol: "BTC-USDT", BuyVenue: "binance", SellVenue: "okx", State: "open", Qty: "0.1",
			ExpectedNetQuote: "3", RealizedNetQuote: "0", ResidualBase: "0", OpenedAt: opened, Legs: []execute.LegView{leg}},
		{ID: "t1", PlanID: "p1", Symbol: "BTC-USDT", BuyVenue: "binance", SellVenue: "okx", State: "closed_flat", Qty: "0.1",
			ExpectedNetQuote: "3", RealizedNetQuote: "2.5", ResidualBase: "0", OpenedAt: opened, ClosedAt: &opened, Legs: []execute.LegView{leg}},
	}, orders: []execute.OrderView{{TradeID: "t2", Symbol: "BTC-USDT", LegView: leg}}}
	s := New(Config{}, deps(f, prometheus.NewRegistry()), nil)
	r := do(t, s, "GET", "/api/v1/trades?limit=1", "", "")
	body := readBody(t, r)
	want := `[{"id":"t2","plan_id":"p2","symbol":"BTC-USDT","buy_venue":"binance","sell_venue":"okx","state":"open","qty":"0.1","expected_net_quote":"3","realized_net_quote":"0","residual_base":"0","opened_at":"2026-03-01T12:00:00Z","closed_at":null,"legs":[{"venue":"binance","side":"buy","purpose":"entry","client_order_id":"arb1e00","venue_order_id":"7","price":"60000","qty":"0.1","filled_qty":"0.1","avg_price":"60000","fee":"6","fee_asset":"USDT","status":"filled"}]}]` + "\n"
	if r.StatusCode != 200 || body != want {
		t.Errorf("trades?limit=1 = %d %s", r.StatusCode, body)
	}
	r = do(t, s, "GET", "/api/v1/trades", "", "")
	readBody(t, r)
	if f.limit != DefaultTradesLimit {
		t.Errorf("default limit %d", f.limit)
	}
	for _, bad := range []string{"0", "-1", "x", "1001"} {
		if r := do(t, s, "GET", "/api/v1/trades?limit="+bad, "", ""); r.StatusCode != 400 {
			t.Errorf("limit=%s: %d", bad, r.StatusCode)
		}
	}
	r = do(t, s, "GET", "/api/v1/orders?open=1", "", "")
	if body := readBody(t, r); r.StatusCode != 200 || !strings.HasPrefix(body, `[{"trade_id":"t2","symbol":"BTC-USDT","venue":"binance"`) {
		t.Errorf("orders = %d %s", r.StatusCode, body)
	}
	if r := do(t, s, "GET", "/api/v1/orders", "", ""); r.StatusCode != 400 {
		t.Errorf("orders without open=1: %d", r.StatusCode)
	}
	f.trades, f.orders = nil, nil
	if body := readBody(t, do(t, s, "GET", "/api/v1/trades", "", "")); body != "[]\n" {
		t.Errorf("no trades: %q", body)
	}
	if body := readBody(t, do(t, s, "GET", "/api/v1/orders?open=1", "", "")); body != "[]\n" {
		t.Errorf("no orders: %q", body)
	}
	// Without a provider: 503.
	s = New(Config{}, Deps{}, nil)
	if r := do(t, s, "GET", "/api/v1/trades", "", ""); r.StatusCode != 503 {
		t.Errorf("no provider: %d", r.StatusCode)
	}
}
