package risk

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"arb/exchange/num"
)

// Verdict is the outcome of evaluating the rules on a plan.
type Verdict uint8

// Verdicts. The zero value is invalid so that an unset Decision is never
// mistaken for an allow.
const (
	Allow  Verdict = iota + 1 // trade the plan as is
	Clip                      // trade it with the lower Decision.Qty
	Reject                    // do not trade it
	Halt                      // do not trade it; the kill switch is engaged
)

var verdictNames = [...]string{"invalid", "allow", "clip", "reject", "halt"}

// String returns the verdict's name.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "invalid"
}

// Pass reports whether the plan may be traded (Allow or Clip).
func (v Verdict) Pass() bool { return v == Allow || v == Clip }

// Pseudo-rule names used in decisions and counters for outcomes that no
// rule of the file produced.
const (
	RuleKillSwitch = "kill_switch" // the kill switch was engaged before the plan
	RuleNoRules    = "no_rules"    // no rule set has been loaded yet
)

// Decision is the result of Evaluate. It is small enough to be returned in
// registers, and building it allocates nothing: the rule, message and
// version it reports point into the loaded rule set.
type Decision struct {
	Verdict Verdict
	Qty     float64 // the quantity to trade: the plan's, or lower after a clip
	Err     error   // the *EvalError when a rule failed to evaluate (Verdict is then Reject)

	rule *rule      // the rule that rejected, halted or (last) clipped
	rs   *RuleSet   // the rule set that decided
	halt *HaltState // the kill switch state, for RuleKillSwitch
}

// Rule returns the name of the rule that rejected, halted or (last) clipped
// the plan, RuleKillSwitch or RuleNoRules; "" on a plain allow.
func (d Decision) Rule() string {
	if d.rule == nil {
		return ""
	}
	return d.rule.name
}

// Message returns the deciding rule's message, or the halt reason when the
// kill switch was already engaged.
func (d Decision) Message() string {
	if d.halt != nil {
		return d.halt.Reason
	}
	if d.rule == nil {
		return ""
	}
	return d.rule.message
}

// Version returns the hash of the rule set that decided ("" when none was
// loaded or the kill switch decided). Record it with the trade.
func (d Decision) Version() string {
	if d.rs == nil {
		return ""
	}
	return d.rs.version.Hash
}

// String summarises the decision for logs and tests.
func (d Decision) String() string {
	s := d.Verdict.String()
	if r := d.Rule(); r != "" {
		s += " by " + r
	}
	if d.Verdict == Clip {
		s += fmt.Sprintf(" to %g", d.Qty)
	}
	if d.Err != nil {
		s += ": " + d.Err.Error()
	}
	return s
}

// Pseudo-rules for decisions that no rule of the file made.
var (
	killSwitchRule = &rule{name: RuleKillSwitch}
	noRulesRule    = &rule{name: RuleNoRules, message: "no rule set loaded"}
)

// ClipQty converts a clipped Decision.Qty (float64 base units) back to the
// instrument's fixed-point quantity with dec decimals, rounded down to the
// venue's step, so the order never exceeds what the rules allowed. A value
// within 1e-6 of a unit is taken as that unit, so that 0.3 (0.29999…9 in
// float64) stays 0.3 rather than losing a whole step. It returns false if the
// result is not positive or does not fit.
func ClipQty(q float64, dec uint8, step num.Qty) (num.Qty, bool) {
	if dec > num.MaxDecimals || !(q > 0) || math.IsInf(q, 0) {
		return 0, false
	}
	x := q * float64(num.Pow10(dec))
	if x >= math.MaxInt64/2 {
		return 0, false
	}
	u := math.Floor(x)
	if r := math.Round(x); math.Abs(x-r) < 1e-6 {
		u = r
	}
	v := int64(u)
	if step > 0 {
		v = num.FloorTo(v, int64(step))
	}
	return num.Qty(v), v > 0
}

// HaltState says why and by whom trading was halted.
type HaltState struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`             // "rule", "api", "operator", "signal", ...
	Rule   string    `json:"rule,omitempty"` // the halt rule, when By is "rule"
	At     time.Time `json:"at"`
}

// Config configures an Engine.
type Config struct {
	// Logger receives rejection, halt and reload lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock for log rate limiting, halt times and load times;
	// nil means time.Now.
	Now func() time.Time
	// LogPerSecond caps the rule-fired log lines (reject, halt, error, warn)
	// per second; the rest are counted (SuppressedLogs) and the count is
	// reported on the next line logged. 0 means 10.
	LogPerSecond int
	// Venues names the venues by exchange.VenueID for venue("...") in rules.
	Venues []string
	// OnHalt, if set, is called after the kill switch engages (by a rule, on
	// the goroutine calling Evaluate, or by Halt). It must not block: use it
	// to signal the executor and alerting.
	OnHalt func(HaltState)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.LogPerSecond < 0 || c.LogPerSecond > 10000 {
		return fmt.Errorf("risk: LogPerSecond %d out of range 0..10000", c.LogPerSecond)
	}
	if len(c.Venues) > 256 {
		return fmt.Errorf("risk: %d venues; the cap is 256", len(c.Venues))
	}
	return nil
}

// Engine evaluates the active rule set on each plan and holds the kill
// switch. Evaluate is called from one goroutine (the engine's); Halt,
// Resume, Reload, Swap, Version, Status and Counters are safe from any
// goroutine at any time.
type Engine struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	cur  atomic.Pointer[RuleSet]
	halt atomic.Pointer[HaltState]

	// ctx is Evaluate's scratch; only the engine goroutine touches it.
	ctx evalCtx
	lim logLimiter

	killRejects   atomic.Uint64
	noRuleRejects atomic.Uint64
	suppressed    atomic.Uint64
	reloadsOK     atomic.Uint64
	reloadsFailed atomic.Uint64
	reloadMu      sync.Mutex // serialises Reload/Swap and guards the fields below
	lastErr       string
	lastErrAt     time.Time
	lastErrSource string
	lastRawHash   [32]byte
	counterMu     sync.Mutex // guards retiredSets, retired and reported
	retiredSets   []*RuleSet // replaced sets whose counters are still read live
	retired       map[counterKey]uint64
	reported      map[counterKey]uint64
}

type counterKey struct{ rule, action string }

// New returns an Engine with no rules: until the first successful Reload or
// Swap, every plan is rejected (rule "no_rules").
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.LogPerSecond == 0 {
		cfg.LogPerSecond = 10
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, now: cfg.Now,
		retired: make(map[counterKey]uint64), reported: make(map[counterKey]uint64)}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.lim.perSec = cfg.LogPerSecond
	return e, nil
}

// Evaluate runs the rules, in file order, on the plan in *in and returns the
// decision. It fills in's derived fields and, on a clip, lowers in.Plan.Qty
// (later rules see the clipped plan). The first reject, halt or evaluation
// error ends the evaluation; warn and clip continue. An evaluation error
// rejects: it is never an allow.
//
// Evaluate must be called from one goroutine at a time. It allocates nothing
// unless a rule fires and a log line is due. in must not be nil.
func (e *Engine) Evaluate(in *Input) Decision {
	if h := e.halt.Load(); h != nil {
		e.killRejects.Add(1)
		return Decision{Verdict: Halt, Qty: in.Plan.Qty, rule: killSwitchRule, halt: h}
	}
	rs := e.cur.Load()
	if rs == nil {
		e.noRuleRejects.Add(1)
		return Decision{Verdict: Reject, Qty: in.Plan.Qty, rule: noRulesRule}
	}
	in.derive()
	c := &e.ctx
	c.base = unsafe.Pointer(in)
	c.err = nil
	if i := c.scan(rs.prog, 0); i < len(rs.prog) {
		return e.fired(rs, in, i)
	}
	// The common path: no rule fired. Count the evaluation after any rule
	// counters (see Counters) and build the decision in place.
	c.base = nil
	rs.evals.Add(1)
	return Decision{Verdict: Allow, Qty: in.Plan.Qty, rs: rs}
}

// fired continues an evaluation from prog[i], the first test that held or
// failed to evaluate, acting on each rule that fires.
func (e *Engine) fired(rs *RuleSet, in *Input, i int) Decision {
	d := e.act(rs, in, i)
	e.ctx.base, e.ctx.err = nil, nil
	rs.evals.Add(1)
	return d
}

func (e *Engine) act(rs *RuleSet, in *Input, i int) Decision {
	c := &e.ctx
	d := Decision{Verdict: Allow, Qty: in.Plan.Qty, rs: rs}
	prog := rs.prog
	for ; i < len(prog); i = c.scan(prog, i) {
		t := &prog[i]
		r := t.rule
		if c.err != nil {
			return e.failed(rs, r, in)
		}
		i = int(t.next)
		switch r.action {
		case ActReject:
			return e.rejected(rs, r, in)
		case ActHalt:
			r.count(outHalt)
			e.haltByRule(r)
			e.logFired(rs, r, in, "halt", nil)
			return Decision{Verdict: Halt, Qty: in.Plan.Qty, rule: r, rs: rs}
		case ActWarn:
			r.count(outWarn)
			e.logFired(rs, r, in, "warn", nil)
		case ActClip:
			q := r.clipTo(c)
			if c.err != nil {
				return e.failed(rs, r, in)
			}
			if !(q > 0) { // also catches NaN, though closures never return it
				return e.rejected(rs, r, in)
			}
			if q < in.Plan.Qty {
				r.count(outClip)
				in.Plan.Qty = q
				in.rederive()
				d.Verdict, d.Qty, d.rule = Clip, q, r
				e.logFired(rs, r, in, "clip", nil)
			}
		}
	}
	return d
}

func (e *Engine) rejected(rs *RuleSet, r *rule, in *Input) Decision {
	r.count(outReject)
	e.logFired(rs, r, in, "reject", nil)
	return Decision{Verdict: Reject, Qty: in.Plan.Qty, rule: r, rs: rs}
}

// failed turns an evaluation error into a rejection, counted under the rule
// with action "error" and logged.
func (e *Engine) failed(rs *RuleSet, r *rule, in *Input) Decision {
	err := e.ctx.err
	r.count(outError)
	e.logFired(rs, r, in, "error", err)
	return Decision{Verdict: Reject, Qty: in.Plan.Qty, Err: err, rule: r, rs: rs}
}

func (e *Engine) haltByRule(r *rule) {
	h := *r.halt
	h.At = e.now()
	if e.halt.CompareAndSwap(nil, &h) && e.cfg.OnHalt != nil {
		e.cfg.OnHalt(h)
	}
}

// logFired logs a fired rule with the values of every field its expressions
// read, at most LogPerSecond lines per second.
func (e *Engine) logFired(rs *RuleSet, r *rule, in *Input, action string, err *EvalError) {
	if !e.log.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	n, ok := e.lim.allow(e.now())
	if !ok {
		e.suppressed.Add(1)
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("rule", r.name), slog.String("action", action),
		slog.String("message", r.message), slog.String("rules_version", rs.version.Hash),
		slog.Group("values", readAttrs(r.reads, in)...))
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if n > 0 {
		attrs = append(attrs, slog.Uint64("suppressed_since_last", n))
	}
	level := slog.LevelWarn
	if action == "halt" || action == "error" {
		level = slog.LevelError
	}
	e.log.LogAttrs(context.Background(), level, "risk rule fired", attrs...)
}

// readAttrs returns the current values of the fields a rule reads.
func readAttrs(reads []fieldRef, in *Input) []any {
	out := make([]any, 0, len(reads))
	base := unsafe.Pointer(in)
	for _, f := range reads {
		p := unsafe.Add(base, f.off)
		switch f.k {
		case kFloat:
			out = append(out, slog.Float64(f.path, *(*float64)(p)))
		case kInt:
			out = append(out, slog.Int64(f.path, *(*int64)(p)))
		case kBool:
			out = append(out, slog.Bool(f.path, *(*bool)(p)))
		case kString:
			out = append(out, slog.String(f.path, *(*string)(p)))
		}
	}
	return out
}

// logLimiter allows perSec lines per wall-clock second and counts the rest.
// Only the engine goroutine uses it.
type logLimiter struct {
	perSec  int
	window  int64
	n       int
	dropped uint64
}

// allow reports whether a line may be logged now, and how many were dropped
// since the last line that was.
func (l *logLimiter) allow(now time.Time) (uint64, bool) {
	sec := now.Unix()
	if sec != l.window {
		l.window, l.n = sec, 0
	}
	if l.n >= l.perSec {
		l.dropped++
		return 0, false
	}
	l.n++
	d := l.dropped
	l.dropped = 0
	return d, true
}

// Halt engages the kill switch: from now on every plan is rejected with
// Verdict Halt until Resume. by says who halted ("api", "operator",
// "signal"). It returns false if trading was already halted (the first reason
// is kept).
func (e *Engine) Halt(reason, by string) bool {
	h := &HaltState{Reason: reason, By: by, At: e.now()}
	if !e.halt.CompareAndSwap(nil, h) {
		return false
	}
	e.log.Error("risk: trading halted", "reason", reason, "by", by)
	if e.cfg.OnHalt != nil {
		e.cfg.OnHalt(*h)
	}
	return true
}

// Restore engages the kill switch with a state saved before a restart: its
// reason, who, rule and time are kept as they were, so a halt outlives a
// crash, a deploy or a reboot until an explicit Resume. Call it before the
// first Evaluate. It returns false if the switch was already engaged (that
// state is kept). OnHalt is called as for Halt.
func (e *Engine) Restore(h HaltState) bool {
	if h.At.IsZero() {
		h.At = e.now()
	}
	hs := h
	if !e.halt.CompareAndSwap(nil, &hs) {
		return false
	}
	e.log.Error("risk: trading halted (restored from before the restart)", "reason", h.Reason, "by", h.By, "rule", h.Rule, "halted_at", h.At)
	if e.cfg.OnHalt != nil {
		e.cfg.OnHalt(hs)
	}
	return true
}

// Resume releases the kill switch. It returns the state it cleared and
// false if trading was not halted. A halt rule whose condition still holds
// halts again on the next plan.
func (e *Engine) Resume(by string) (HaltState, bool) {
	h := e.halt.Swap(nil)
	if h == nil {
		return HaltState{}, false
	}
	e.log.Warn("risk: trading resumed", "by", by, "halted_by", h.By, "halt_reason", h.Reason, "halt_rule", h.Rule)
	return *h, true
}

// Halted returns the kill-switch state and whether trading is halted.
func (e *Engine) Halted() (HaltState, bool) {
	h := e.halt.Load()
	if h == nil {
		return HaltState{}, false
	}
	return *h, true
}

// Reload compiles src (the bytes of a rules file from source) and, if it
// loads, swaps it in atomically for the next Evaluate. If it fails, the
// running rules stay in force, the failure is recorded for Status, and the
// *LoadError (file:line:col per problem) is returned. A reload of the same
// bytes as the active set changes nothing and reports changed=false, so a
// watcher may deliver the same file twice; it does clear the last reload
// error, since the source again holds the rules in force.
func (e *Engine) Reload(src []byte, source string) (v Version, changed bool, err error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	sum := sha256.Sum256(src)
	if cur := e.cur.Load(); cur != nil && sum == e.lastRawHash {
		// The source holds what is running again (a broken file was put
		// back, say): whatever failed before no longer describes it.
		e.lastErr, e.lastErrSource, e.lastErrAt = "", "", time.Time{}
		return cur.version, false, nil
	}
	rs, err := Load(src, source, Options{Venues: e.cfg.Venues, Now: e.now})
	if err != nil {
		e.reloadsFailed.Add(1)
		e.lastErr, e.lastErrAt, e.lastErrSource = err.Error(), e.now(), source
		if cur := e.cur.Load(); cur != nil {
			v = cur.version
		}
		return v, false, fmt.Errorf("risk: reload from %s rejected, previous rules stay active: %w", source, err)
	}
	e.lastRawHash = sum
	e.swapLocked(rs)
	return rs.version, true, nil
}

// Swap installs a rule set compiled with Load (for instance by a caller that
// validated it first) and returns its version. A RuleSet carries its own
// counters, so install each one in a single Engine.
func (e *Engine) Swap(rs *RuleSet) Version {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	e.lastRawHash = [32]byte{}
	e.swapLocked(rs)
	return rs.version
}

func (e *Engine) swapLocked(rs *RuleSet) {
	old := e.cur.Swap(rs)
	e.reloadsOK.Add(1)
	e.lastErr, e.lastErrSource, e.lastErrAt = "", "", time.Time{}
	if old != nil {
		e.counterMu.Lock()
		// The engine goroutine may still be finishing an evaluation with the
		// old set, so its counters stay live for a while; they are folded into
		// the retired totals only after more reloads, by which time no
		// evaluation can still hold it.
		e.retiredSets = append(e.retiredSets, old)
		if len(e.retiredSets) > 2 {
			e.foldLocked(e.retiredSets[0])
			e.retiredSets = e.retiredSets[1:]
		}
		e.counterMu.Unlock()
	}
	e.log.Info("risk: rules loaded", "version", rs.version.Hash, "name", rs.version.Name,
		"source", rs.version.Source, "rules", rs.version.Rules)
}

// Version returns the active rule set's version, false if none is loaded.
func (e *Engine) Version() (Version, bool) {
	rs := e.cur.Load()
	if rs == nil {
		return Version{}, false
	}
	return rs.version, true
}

// Status is the risk part of /api/v1/status.
type Status struct {
	Loaded          bool       `json:"loaded"`
	Version         Version    `json:"version"`
	Halted          bool       `json:"halted"`
	Halt            *HaltState `json:"halt,omitempty"`
	ReloadsOK       uint64     `json:"reloads_ok"`
	ReloadsFailed   uint64     `json:"reloads_failed"`
	LastReloadError string     `json:"last_reload_error,omitempty"` // cleared by the next successful load
	LastErrorSource string     `json:"last_reload_error_source,omitempty"`
	LastErrorAt     time.Time  `json:"last_reload_error_at,omitzero"`
	SuppressedLogs  uint64     `json:"suppressed_logs"`
}

// Status returns a snapshot for the status endpoint.
func (e *Engine) Status() Status {
	s := Status{ReloadsOK: e.reloadsOK.Load(), ReloadsFailed: e.reloadsFailed.Load(),
		SuppressedLogs: e.suppressed.Load()}
	if v, ok := e.Version(); ok {
		s.Loaded, s.Version = true, v
	}
	if h, ok := e.Halted(); ok {
		s.Halted, s.Halt = true, &h
	}
	e.reloadMu.Lock()
	s.LastReloadError, s.LastErrorSource, s.LastErrorAt = e.lastErr, e.lastErrSource, e.lastErrAt
	e.reloadMu.Unlock()
	return s
}

// SuppressedLogs returns how many rule-fired log lines the rate limit dropped.
func (e *Engine) SuppressedLogs() uint64 { return e.suppressed.Load() }

// Counters calls fn for every (rule, action) counter, for the wiring to
// export as arb_risk_decisions_total{rule,action}. Actions are "pass" (the
// rule was evaluated and did not fire, or a clip did not lower the qty),
// "reject", "clip", "halt", "warn" and "error" (an evaluation error, which
// rejected the plan). Rules "kill_switch" and "no_rules" count plans rejected
// before any rule ran. Counts survive reloads for rules that keep their name.
// Every count is monotonic between calls. Safe from any goroutine; fn must
// not call back into the Engine.
//
// Pass counts are derived, not counted, to keep atomics off the hot path:
// pass(i) = evaluations − (terminal outcomes of rules before i) − (outcomes
// of rule i). Evaluations are counted after the outcomes and read before
// them, so a concurrent read can only under-count, and reported values are
// held monotonic.
func (e *Engine) Counters(fn func(rule, action string, n uint64)) {
	e.counterMu.Lock()
	defer e.counterMu.Unlock()
	totals := make(map[counterKey]uint64, len(e.retired)+16)
	for k, n := range e.retired {
		totals[k] += n
	}
	var order []counterKey
	seen := make(map[counterKey]bool)
	add := func(k counterKey, n uint64) {
		totals[k] += n
		if !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	for _, rs := range e.retiredSets {
		setCounts(rs, func(k counterKey, n uint64) { totals[k] += n })
	}
	if rs := e.cur.Load(); rs != nil {
		setCounts(rs, add)
	}
	add(counterKey{RuleKillSwitch, "halt"}, e.killRejects.Load())
	add(counterKey{RuleNoRules, "reject"}, e.noRuleRejects.Load())
	// Rules no longer in the active set keep their series so that counters
	// never disappear and reappear (which would look like a reset).
	for k := range totals {
		if !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	for _, k := range order {
		n := totals[k]
		if prev := e.reported[k]; n < prev {
			n = prev
		}
		e.reported[k] = n
		fn(k.rule, k.action, n)
	}
}

// setCounts reports a rule set's counters, deriving each rule's passes.
func setCounts(rs *RuleSet, fn func(counterKey, uint64)) {
	reached := rs.evals.Load() // read first: see Counters
	for i := range rs.rules {
		r := &rs.rules[i]
		var fired, term uint64
		var outs [numOutcomes]uint64
		for o := outcome(0); o < numOutcomes; o++ {
			outs[o] = r.counts[o].Load()
			fired += outs[o]
			if o.terminal() {
				term += outs[o]
			}
		}
		pass := uint64(0)
		if reached > fired {
			pass = reached - fired
		}
		fn(counterKey{r.name, "pass"}, pass)
		for o := outcome(0); o < numOutcomes; o++ {
			if r.action == actionOf(o) || o == outError || (o == outReject && r.action == ActClip) {
				fn(counterKey{r.name, outcomeNames[o]}, outs[o])
			}
		}
		if reached > term {
			reached -= term
		} else {
			reached = 0
		}
	}
}

// actionOf is the action whose firing produces outcome o.
func actionOf(o outcome) Action {
	switch o {
	case outReject:
		return ActReject
	case outClip:
		return ActClip
	case outHalt:
		return ActHalt
	case outWarn:
		return ActWarn
	}
	return 0
}

// maxRetiredSeries caps the counters kept for rules that left the rule set.
const maxRetiredSeries = 4 * MaxRules * (int(numOutcomes) + 1)

func (e *Engine) foldLocked(rs *RuleSet) {
	setCounts(rs, func(k counterKey, n uint64) { e.retired[k] += n })
	if len(e.retired) <= maxRetiredSeries {
		return
	}
	// Too many names have come and gone: forget the series of rules that are
	// not in the active set (their metrics go stale rather than grow forever).
	live := make(map[string]bool)
	if cur := e.cur.Load(); cur != nil {
		for i := range cur.rules {
			live[cur.rules[i].name] = true
		}
	}
	for k := range e.retired {
		if !live[k.rule] {
			delete(e.retired, k)
			delete(e.reported, k)
		}
	}
}

// ReloadCounts returns the numbers of successful and rejected reloads, for
// arb_risk_reloads_total{result}.
func (e *Engine) ReloadCounts() (ok, failed uint64) {
	return e.reloadsOK.Load(), e.reloadsFailed.Load()
}
