package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"arb/strategy/execute"
)

// EnvAdminToken is the environment variable holding the admin bearer token.
// The wiring reads it (config.Secret also honours ARB_ADMIN_TOKEN_FILE) and
// passes it as Config.AdminToken; unset, the admin routes answer 403.
const EnvAdminToken = "ARB_ADMIN_TOKEN"

// DefaultListen is the API's address when Config.Listen is empty.
const DefaultListen = "127.0.0.1:7420"

// MinTokenLen is the shortest admin token accepted. The admin routes stop
// and start trading; a guessable token is refused at start-up.
const MinTokenLen = 16

// Config configures the server. Zero durations and sizes take the defaults
// of DefaultConfig.
type Config struct {
	// Listen is host:port for ListenAndServe; "" = DefaultListen. A
	// non-loopback address is served as configured, with a warning.
	Listen string
	// AdminToken is the bearer token of the admin routes; "" disables them.
	AdminToken string
	// AllowedHosts are the host names (without port) a request's Host
	// header may carry besides IP literals and "localhost". A browser
	// tricked by DNS rebinding sends the attacker's name, so a page on
	// another site cannot read the API through it. Empty: IP literals and
	// localhost only.
	AllowedHosts []string

	ReadHeaderTimeout time.Duration // slowloris guard; default 5s
	ReadTimeout       time.Duration // whole request; default 10s
	WriteTimeout      time.Duration // whole response; default 30s (a slow scrape)
	IdleTimeout       time.Duration // keep-alive; default 60s
	HandlerTimeout    time.Duration // deadline of the ctx given to providers; default 5s
	ShutdownTimeout   time.Duration // graceful shutdown before connections are cut; default 3s
	MaxBodyBytes      int64         // request body cap; default 64 KiB
	MaxHeaderBytes    int           // request header cap; default 16 KiB
}

// DefaultConfig returns the defaults: 127.0.0.1:7420, admin disabled, and
// the timeouts and caps documented on Config.
func DefaultConfig() Config {
	return Config{
		Listen:            DefaultListen,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		HandlerTimeout:    5 * time.Second,
		ShutdownTimeout:   3 * time.Second,
		MaxBodyBytes:      64 << 10,
		MaxHeaderBytes:    16 << 10,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	for _, p := range []struct{ v, def *time.Duration }{
		{&c.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&c.ReadTimeout, &d.ReadTimeout},
		{&c.WriteTimeout, &d.WriteTimeout}, {&c.IdleTimeout, &d.IdleTimeout},
		{&c.HandlerTimeout, &d.HandlerTimeout}, {&c.ShutdownTimeout, &d.ShutdownTimeout},
	} {
		if *p.v == 0 {
			*p.v = *p.def
		}
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return c
}

// Validate checks the configuration after defaults: a host:port address, a
// token of at least MinTokenLen bytes if any, no negative limits.
// ListenAndServe and Serve call it (Serve without the address check).
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("httpapi: listen %q: %w", c.Listen, err)
	}
	return c.validateServe()
}

// validateServe is Validate without the address, which Serve does not use.
func (c Config) validateServe() error {
	if c.AdminToken != "" && len(c.AdminToken) < MinTokenLen {
		return fmt.Errorf("httpapi: the admin token (%s) is shorter than %d characters", EnvAdminToken, MinTokenLen)
	}
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 ||
		c.HandlerTimeout < 0 || c.ShutdownTimeout < 0 || c.MaxBodyBytes < 0 || c.MaxHeaderBytes < 0 {
		return errors.New("httpapi: timeouts and limits must not be negative")
	}
	return nil
}

// Deps are the server's data sources, each optional: a nil one makes its
// routes answer 503 (Readiness nil: not ready), so the API can come up
// before the rest of the daemon.
type Deps struct {
	Metrics   *prometheus.Registry // GET /metrics
	Books     Books
	Readiness Readiness
	Status    Status
	Positions Positions
	PnL       PnL
	Trades    Trades // GET /api/v1/trades and /api/v1/orders
	Admin     Admin
}

var _ http.Handler = (*Server)(nil)

// Server is the HTTP API. Create it with New; it is an http.Handler and is
// safe for concurrent use.
type Server struct {
	cfg       Config
	deps      Deps
	logger    *slog.Logger
	routes    map[string]*route
	tokenHash [sha256.Size]byte
	metrics   http.Handler

	authLogNs atomic.Int64 // last failed-auth log line, unix ns: at most one a second
	failLog   rateLog      // provider failures: at most one line a second
	hostLog   rateLog      // refused Host headers: at most one line a second
	reqMu     sync.Mutex
	requests  map[reqKey]uint64 // arb_http_requests_total; bounded by routes × status codes

	addrMu sync.Mutex
	addr   net.Addr
}

type reqKey struct {
	route string
	code  int
}

type route struct {
	path    string
	admin   bool
	methods map[string]http.HandlerFunc
	allow   string
}

// New returns a server for cfg (zero fields take DefaultConfig's values)
// and deps. If deps.Metrics is set, the server registers its own counter
// arb_http_requests_total{route,code} there.
func New(cfg Config, deps Deps, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg.withDefaults(),
		deps:     deps,
		logger:   logger.With("component", "httpapi"),
		requests: map[reqKey]uint64{},
	}
	if s.cfg.AdminToken != "" {
		s.tokenHash = sha256.Sum256([]byte(s.cfg.AdminToken))
	}
	if deps.Metrics != nil {
		s.metrics = promhttp.HandlerFor(deps.Metrics, promhttp.HandlerOpts{
			ErrorLog:            slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
			ErrorHandling:       promhttp.ContinueOnError, // one bad family must not hide the others
			MaxRequestsInFlight: 4,
			Timeout:             s.cfg.HandlerTimeout,
		})
		if err := deps.Metrics.Register(s.requestCollector()); err != nil {
			s.logger.Warn("arb_http_requests_total not registered", "err", err)
		}
	}
	s.routes = map[string]*route{}
	s.handle("/healthz", false, http.MethodGet, s.healthz)
	s.handle("/readyz", false, http.MethodGet, s.readyz)
	s.handle("/metrics", false, http.MethodGet, s.serveMetrics)
	s.handle("/api/v1/books", false, http.MethodGet, s.books)
	s.handle("/api/v1/status", false, http.MethodGet, s.status)
	s.handle("/api/v1/positions", false, http.MethodGet, s.positions)
	s.handle("/api/v1/pnl", false, http.MethodGet, s.pnl)
	s.handle("/api/v1/trades", false, http.MethodGet, s.trades)
	s.handle("/api/v1/orders", false, http.MethodGet, s.orders)
	s.handle("/api/v1/kill", true, http.MethodPost, s.kill)
	s.handle("/api/v1/resume", true, http.MethodPost, s.resume)
	s.handle("/api/v1/rules/reload", true, http.MethodPost, s.reloadRules)
	return s
}

// handle registers h for method on path; GET routes answer HEAD too.
func (s *Server) handle(path string, admin bool, method string, h http.HandlerFunc) {
	r := &route{path: path, admin: admin, methods: map[string]http.HandlerFunc{method: h}}
	if method == http.MethodGet {
		r.methods[http.MethodHead] = h
	}
	var allow []string
	for m := range r.methods {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	r.allow = strings.Join(allow, ", ")
	s.routes[path] = r
}

// Handler returns the server as an http.Handler (for httptest and for
// mounting elsewhere).
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP routes a request: exact paths only, 404 (JSON) for unknown
// paths, 405 with Allow for a wrong method, then the admin check, then the
// handler with a capped body and a recover that answers 500.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &statusWriter{ResponseWriter: w}
	rt := s.routes[r.URL.Path]
	name := "unknown"
	if rt != nil {
		name = rt.path
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger.Error("handler panic", "route", name, "panic", fmt.Sprint(p))
			if !rw.wrote {
				writeError(rw, http.StatusInternalServerError, "internal error")
			}
		}
		s.count(name, rw.code())
	}()
	if !s.hostAllowed(r.Host) {
		if n, ok := s.hostLog.allow(); ok {
			s.logger.Warn("request with a Host header that is not allowed (DNS rebinding?)", "host", clip(r.Host),
				"path", clip(r.URL.Path), "remote", r.RemoteAddr, "suppressed", n)
		}
		writeError(rw, http.StatusForbidden, "host "+strconv.Quote(clip(r.Host))+" is not allowed: use an IP address, localhost, or a name in http.allowed_hosts")
		return
	}
	if rt == nil {
		writeError(rw, http.StatusNotFound, "not found: "+clip(r.URL.Path))
		return
	}
	h := rt.methods[r.Method]
	if h == nil {
		rw.Header().Set("Allow", rt.allow)
		writeError(rw, http.StatusMethodNotAllowed, "method "+clip(r.Method)+" not allowed; use "+rt.allow)
		return
	}
	if rt.admin && !s.authorized(rw, r) {
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, s.cfg.MaxBodyBytes)
	h(rw, r)
}

// authorized checks the bearer token in constant time (hashes of equal
// length are compared, so neither the token nor its length leaks through
// timing) and answers 403 or 401 itself when it fails.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.AdminToken == "" {
		writeError(w, http.StatusForbidden, "admin API disabled: set "+EnvAdminToken+" to enable it")
		return false
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="arb"`)
		writeError(w, http.StatusUnauthorized, "missing bearer token")
		return false
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) != 1 {
		if now := time.Now().UnixNano(); now-s.authLogNs.Load() > int64(time.Second) {
			s.authLogNs.Store(now)
			s.logger.Warn("admin request with a wrong token", "path", r.URL.Path, "remote", r.RemoteAddr)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="arb", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid bearer token")
		return false
	}
	return true
}

// bearer returns the token of an "Authorization: Bearer <token>" header
// (the scheme is case-insensitive, RFC 7235).
func bearer(h string) (string, bool) {
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return h[len(prefix):], true
}

// providerCtx bounds a provider call by HandlerTimeout.
func (s *Server) providerCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.HandlerTimeout)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.WriteString(w, "ok")
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.deps.Readiness == nil {
		writeJSON(w, http.StatusServiceUnavailable, readyBody{Ready: false, Reason: "starting"})
		return
	}
	ctx, cancel := s.providerCtx(r)
	defer cancel()
	ok, reason := s.deps.Readiness.Ready(ctx)
	if !ok {
		if reason == "" {
			reason = "not ready"
		}
		writeJSON(w, http.StatusServiceUnavailable, readyBody{Ready: false, Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, readyBody{Ready: true})
}

type readyBody struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metrics == nil {
		writeError(w, http.StatusServiceUnavailable, "metrics not available")
		return
	}
	s.metrics.ServeHTTP(w, r)
}

// bookJSON is the wire form of a Book; the keys are the contract.
type bookJSON struct {
	Venue      string  `json:"venue"`
	Symbol     string  `json:"symbol"`
	Bid        *string `json:"bid"`
	BidQty     *string `json:"bid_qty"`
	Ask        *string `json:"ask"`
	AskQty     *string `json:"ask_qty"`
	ExchangeTS *string `json:"exchange_ts"`
	Stale      bool    `json:"stale"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) books(w http.ResponseWriter, r *http.Request) {
	books, ok := fetch(s, w, r, "books", s.deps.Books != nil, func(ctx context.Context) ([]Book, error) {
		return s.deps.Books.Books(ctx)
	})
	if !ok {
		return
	}
	out := make([]bookJSON, len(books))
	for i, b := range books {
		out[i] = bookJSON{
			Venue: b.Venue, Symbol: b.Symbol,
			Bid: nullable(b.Bid), BidQty: nullable(b.BidQty), Ask: nullable(b.Ask), AskQty: nullable(b.AskQty),
			Stale: b.Stale,
		}
		if !b.ExchangeTS.IsZero() {
			ts := b.ExchangeTS.UTC().Format(time.RFC3339Nano)
			out[i].ExchangeTS = &ts
		}
	}
	// A stable order for people and diffs: by venue, then symbol.
	slices.SortStableFunc(out, func(a, b bookJSON) int {
		if c := strings.Compare(a.Venue, b.Venue); c != 0 {
			return c
		}
		return strings.Compare(a.Symbol, b.Symbol)
	})
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, ok := fetch(s, w, r, "status", s.deps.Status != nil, func(ctx context.Context) (StatusReport, error) {
		return s.deps.Status.Status(ctx)
	})
	if !ok {
		return
	}
	st.StartedAt = st.StartedAt.UTC()
	if st.Venues == nil {
		st.Venues = []VenueStatus{}
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) positions(w http.ResponseWriter, r *http.Request) {
	ps, ok := fetch(s, w, r, "positions", s.deps.Positions != nil, func(ctx context.Context) ([]Position, error) {
		return s.deps.Positions.Positions(ctx)
	})
	if !ok {
		return
	}
	if ps == nil {
		ps = []Position{}
	}
	writeJSON(w, http.StatusOK, ps)
}

func (s *Server) pnl(w http.ResponseWriter, r *http.Request) {
	p, ok := fetch(s, w, r, "pnl", s.deps.PnL != nil, func(ctx context.Context) (PnLReport, error) {
		return s.deps.PnL.PnL(ctx)
	})
	if !ok {
		return
	}
	p.AsOf = p.AsOf.UTC()
	writeJSON(w, http.StatusOK, p)
}

// Limits of /api/v1/trades?limit=N.
const (
	DefaultTradesLimit = 100
	MaxTradesLimit     = 1000
)

func (s *Server) trades(w http.ResponseWriter, r *http.Request) {
	limit := DefaultTradesLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxTradesLimit {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want an integer in 1..%d", MaxTradesLimit))
			return
		}
		limit = n
	}
	ts, ok := fetch(s, w, r, "trades", s.deps.Trades != nil, func(ctx context.Context) ([]execute.TradeView, error) {
		return s.deps.Trades.Trades(ctx, limit)
	})
	if !ok {
		return
	}
	if ts == nil {
		ts = []execute.TradeView{}
	}
	writeJSON(w, http.StatusOK, ts)
}

func (s *Server) orders(w http.ResponseWriter, r *http.Request) {
	// Orders that are done are in their trades' legs (/api/v1/trades):
	// this route lists the open ones, and says so rather than guess.
	if v := r.URL.Query().Get("open"); v != "1" && v != "true" {
		writeError(w, http.StatusBadRequest, "open=1 is required: the orders of open trades that are not resolved (every order is in /api/v1/trades)")
		return
	}
	os, ok := fetch(s, w, r, "orders", s.deps.Trades != nil, func(ctx context.Context) ([]execute.OrderView, error) {
		return s.deps.Trades.OpenOrders(ctx)
	})
	if !ok {
		return
	}
	if os == nil {
		os = []execute.OrderView{}
	}
	writeJSON(w, http.StatusOK, os)
}

// providerError answers a failed read: 503 if the provider ran out of
// time, 500 otherwise. The error is logged (it is not returned anywhere
// else) and its text is sent: the API is for operators of this daemon.
// fetch runs one read provider under the handler timeout and reports
// whether it produced a value; if not, the response has been written: 503
// when the daemon has no such provider (have false), else the provider's
// error as providerError maps it.
func fetch[T any](s *Server, w http.ResponseWriter, r *http.Request, what string, have bool, get func(context.Context) (T, error)) (T, bool) {
	var zero T
	if !have {
		writeError(w, http.StatusServiceUnavailable, what+" not available")
		return zero, false
	}
	ctx, cancel := s.providerCtx(r)
	defer cancel()
	v, err := get(ctx)
	if err != nil {
		s.providerError(w, what, err)
		return zero, false
	}
	return v, true
}

func (s *Server) providerError(w http.ResponseWriter, what string, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrBusy):
		// Load, not a fault: the client may retry shortly.
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	}
	// Under load every request may fail the same way: one line a second,
	// with the count of the lines left out.
	if n, ok := s.failLog.allow(); ok {
		s.logger.Warn("provider failed", "route", what, "err", err, "status", code, "suppressed", n)
	}
	writeError(w, code, what+": "+err.Error())
}

// MaxReasonBytes caps the kill reason kept and shown; a longer one is
// truncated, with a warning.
const MaxReasonBytes = 256

// killReadWait bounds how long the kill route waits for a request body: a
// client that sends its body slowly cannot hold the kill switch off.
const killReadWait = time.Second

// DefaultKillReason is the reason of a kill whose request gives none.
const DefaultKillReason = "killed through the HTTP API"

// killBody is the kill route's answer.
type killBody struct {
	Killed          bool       `json:"killed"`           // trading is halted now
	Engaged         bool       `json:"engaged"`          // this request engaged the switch
	AlreadyHalted   bool       `json:"already_halted"`   // it was engaged before; its first reason is kept
	Reason          string     `json:"reason"`           // the reason in force
	RequestedReason string     `json:"requested_reason"` // the reason this request gave
	By              string     `json:"by,omitempty"`
	At              *time.Time `json:"at,omitempty"`
	Persisted       bool       `json:"persisted"` // the halted state is on disk and survives a restart
	Warnings        []string   `json:"warnings,omitempty"`
}

// kill engages the kill switch whatever the body: an authenticated kill
// always stops trading. The body is read for a reason (JSON {"reason":...},
// a form field reason=..., or plain text) for at most killReadWait and
// MaxBodyBytes; whatever cannot be read as a reason is kept as text or
// dropped, and the answer and the log say which.
func (s *Server) kill(w http.ResponseWriter, r *http.Request) {
	if s.deps.Admin == nil {
		writeError(w, http.StatusServiceUnavailable, "admin not available")
		return
	}
	reason, warnings := readKillReason(w, r)
	requested := reason
	if reason == "" {
		reason = DefaultKillReason
	}
	ctx, cancel := s.providerCtx(r)
	defer cancel()
	res, err := s.deps.Admin.Kill(ctx, reason)
	if err != nil {
		s.logger.Error("admin: kill failed", "requested_reason", reason, "warnings", warnings, "remote", r.RemoteAddr, "err", err)
		s.adminError(w, "kill", err)
		return
	}
	if !res.Persisted {
		warnings = append(warnings, "the halted state could not be saved and will not survive a restart: "+res.PersistError)
	}
	body := killBody{Killed: true, Engaged: res.Engaged, AlreadyHalted: !res.Engaged, Reason: res.Reason,
		RequestedReason: requested, By: res.By, Persisted: res.Persisted, Warnings: warnings}
	if !res.At.IsZero() {
		at := res.At.UTC()
		body.At = &at
	}
	if !res.Engaged {
		body.Warnings = append(body.Warnings, "trading was already halted; the first reason is kept")
	}
	s.logger.Warn("admin: kill", "engaged", res.Engaged, "already_halted", !res.Engaged, "reason_in_force", res.Reason,
		"requested_reason", requested, "persisted", res.Persisted, "warnings", body.Warnings, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, body)
}

// readKillReason reads the kill request's body, never failing: it returns
// the reason it found ("" for none) and a warning for everything it could
// not use.
func readKillReason(w http.ResponseWriter, r *http.Request) (string, []string) {
	var warnings []string
	// The connection's read deadline bounds a body that trickles in; a
	// ResponseWriter that cannot set it (a test recorder) has no socket.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(killReadWait))
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			warnings = append(warnings, "request body larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes; only its beginning was read")
		case errors.Is(err, os.ErrDeadlineExceeded):
			warnings = append(warnings, "request body not received within "+killReadWait.String()+"; what arrived was used")
		default:
			warnings = append(warnings, "request body could not be read completely: "+clip(err.Error()))
		}
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return "", warnings
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var reason string
	switch {
	case mt == "application/json" || (mt == "" || mt == "text/plain") && strings.HasPrefix(text, "{"):
		reason, warnings = jsonReason(text, warnings)
	case mt == "application/x-www-form-urlencoded" && strings.Contains(text, "="):
		reason, warnings = formReason(text, warnings)
	default:
		reason = text
	}
	return cleanReason(reason, &warnings), warnings
}

// jsonReason takes "reason" from a JSON object; anything else in it is
// ignored with a warning, and a body that is not a JSON object is kept as
// text.
func jsonReason(text string, warnings []string) (string, []string) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return text, append(warnings, "request body is not one JSON object; it was kept as the reason text")
	}
	var reason string
	if raw, ok := obj["reason"]; ok {
		if err := json.Unmarshal(raw, &reason); err != nil {
			reason = string(raw)
			warnings = append(warnings, "reason is not a JSON string; its JSON text was kept")
		}
		delete(obj, "reason")
	}
	if len(obj) > 0 {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, clip(k))
		}
		slices.Sort(keys)
		warnings = append(warnings, "unknown fields ignored: "+clip(strings.Join(keys, ", ")))
	}
	return reason, warnings
}

// formReason takes the reason field of a form body (curl -d 'reason=...').
func formReason(text string, warnings []string) (string, []string) {
	q, err := url.ParseQuery(text)
	if err != nil {
		return text, append(warnings, "request body is not a valid form; it was kept as the reason text")
	}
	reason := q.Get("reason")
	q.Del("reason")
	if len(q) > 0 {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, clip(k))
		}
		slices.Sort(keys)
		warnings = append(warnings, "unknown form fields ignored: "+clip(strings.Join(keys, ", ")))
	}
	return reason, warnings
}

// cleanReason makes a reason safe to log and show: valid UTF-8, control
// characters as spaces, trimmed, at most MaxReasonBytes.
func cleanReason(reason string, warnings *[]string) string {
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "\uFFFD")
		*warnings = append(*warnings, "reason was not valid UTF-8; invalid bytes were replaced")
	}
	reason = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, reason)
	reason = strings.TrimSpace(reason)
	if len(reason) > MaxReasonBytes {
		cut := MaxReasonBytes
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		// The cut may end on a space: trimmed again.
		reason = strings.TrimSpace(reason[:cut])
		*warnings = append(*warnings, "reason longer than "+strconv.Itoa(MaxReasonBytes)+" bytes; it was truncated")
	}
	return reason
}

// resumeBody is the resume route's answer.
type resumeBody struct {
	Killed    bool      `json:"killed"`  // false: trading is not halted now
	Changed   bool      `json:"changed"` // this request released the switch
	Message   string    `json:"message"`
	Released  *haltJSON `json:"released,omitempty"` // the halt it released
	Persisted bool      `json:"persisted"`
	Warnings  []string  `json:"warnings,omitempty"`
}

type haltJSON struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	Rule   string    `json:"rule,omitempty"`
	At     time.Time `json:"at"`
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if s.deps.Admin == nil {
		writeError(w, http.StatusServiceUnavailable, "admin not available")
		return
	}
	if !readJSON(w, r, &struct{}{}) {
		return
	}
	ctx, cancel := s.providerCtx(r)
	defer cancel()
	res, err := s.deps.Admin.Resume(ctx)
	if err != nil {
		s.logger.Warn("admin: resume refused", "remote", r.RemoteAddr, "err", err)
		s.adminError(w, "resume", err)
		return
	}
	body := resumeBody{Changed: res.Changed, Persisted: res.Persisted}
	if !res.Persisted {
		body.Warnings = append(body.Warnings, "the released state could not be saved; after a restart trading would be halted again: "+res.PersistError)
	}
	if res.Changed {
		body.Message = "kill switch released; trading resumes"
		body.Released = &haltJSON{Reason: res.Released.Reason, By: res.Released.By, Rule: res.Released.Rule, At: res.Released.At.UTC()}
		s.logger.Warn("admin: resume", "changed", true, "released_reason", res.Released.Reason, "released_by", res.Released.By,
			"halted_at", res.Released.At, "persisted", res.Persisted, "remote", r.RemoteAddr)
	} else {
		body.Message = "trading was not halted; nothing changed"
		s.logger.Info("admin: resume", "changed", false, "message", body.Message, "remote", r.RemoteAddr)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) reloadRules(w http.ResponseWriter, r *http.Request) {
	if s.deps.Admin == nil {
		writeError(w, http.StatusServiceUnavailable, "admin not available")
		return
	}
	if !readJSON(w, r, &struct{}{}) {
		return
	}
	ctx, cancel := s.providerCtx(r)
	defer cancel()
	version, err := s.deps.Admin.ReloadRules(ctx)
	if err != nil {
		// The rules file did not load; the old rules stay in force.
		s.logger.Warn("admin: rules reload failed", "err", err, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	s.logger.Info("admin: rules reloaded", "version", version, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"version": version})
}

// adminError answers a failed command: 409 for ErrRefused, 500 otherwise.
func (s *Server) adminError(w http.ResponseWriter, what string, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrRefused) {
		code = http.StatusConflict
	}
	s.logger.Warn("admin command failed", "command", what, "err", err)
	writeError(w, code, err.Error())
}

// readJSON decodes an optional JSON body into v: an empty body leaves v
// alone; unknown fields, trailing data, bad JSON and an oversized body are
// answered with 400 or 413, and readJSON returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
			return false
		}
		writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "request body: more than one JSON value")
		return false
	}
	return true
}

// writeJSON writes v as the JSON response with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encoding the response: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

type errorBody struct {
	Error string `json:"error"`
}

// writeError writes {"error": msg} with code.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// clip shortens request data echoed in an error.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}

// statusWriter records the status code for the request counter.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

// count adds one request to arb_http_requests_total. The route label is a
// registered path or "unknown" and the code one the server wrote, so the
// map stays small.
func (s *Server) count(route string, code int) {
	s.reqMu.Lock()
	s.requests[reqKey{route, code}]++
	s.reqMu.Unlock()
}

func (s *Server) requestCollector() prometheus.Collector {
	return NewCounterFamily("arb_http_requests_total", "HTTP API requests by route and status code.", []string{"route", "code"}, func(emit Emit) {
		s.reqMu.Lock()
		snap := make(map[reqKey]uint64, len(s.requests))
		for k, v := range s.requests {
			snap[k] = v
		}
		s.reqMu.Unlock()
		for k, v := range snap {
			emit(float64(v), k.route, strconv.Itoa(k.code))
		}
	})
}

// ListenAndServe listens on Config.Listen and serves until ctx ends (see
// Serve). An address that is not loopback is served, as the operator
// configured it, with a warning: the admin routes are then protected by the
// token alone.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Addr returns the address being served, or nil before Serve starts. With
// port 0 it tells the port chosen.
func (s *Server) Addr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish for up to ShutdownTimeout, cuts
// what remains, and returns nil. It returns an error if the configuration
// is invalid (a short admin token) or serving fails before that. Serve
// closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.cfg.validateServe(); err != nil {
		ln.Close()
		return err
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		s.logger.Warn("HTTP API listening on a non-loopback address without TLS; the admin routes are protected by the token alone, sent in clear: put a TLS proxy or a private network in front",
			"addr", ln.Addr().String(), "admin", s.cfg.AdminToken != "")
	}
	s.addrMu.Lock()
	s.addr = ln.Addr()
	s.addrMu.Unlock()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.logger.Info("HTTP API listening", "addr", ln.Addr().String(), "admin", s.cfg.AdminToken != "")
	select {
	case err := <-errc:
		return fmt.Errorf("httpapi: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.logger.Warn("HTTP API shutdown deadline passed; closing connections", "err", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpapi: serve: %w", err)
	}
	return nil
}

// rateLog allows one log line a second and counts the lines it drops, so a
// failure repeated by every request is reported without flooding the log.
type rateLog struct {
	lastNs  atomic.Int64
	dropped atomic.Uint64
}

// allow reports whether a line may be logged now and how many were dropped
// since the last one.
func (l *rateLog) allow() (uint64, bool) {
	now := time.Now().UnixNano()
	last := l.lastNs.Load()
	if now-last < int64(time.Second) || !l.lastNs.CompareAndSwap(last, now) {
		l.dropped.Add(1)
		return 0, false
	}
	return l.dropped.Swap(0), true
}

// hostAllowed reports whether a request's Host header names this server: an
// IP literal, localhost, or one of Config.AllowedHosts (any port). An empty
// Host (HTTP/1.0, a raw client) is allowed: browsers always send one.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(h, a) {
			return true
		}
	}
	return false
}
