package risk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange/num"
)

// TestEvaluateAllocs: evaluating the default rule set allocates nothing on
// the allow path (with a live JSON logger), on the clip, reject and
// kill-switch paths when no log line is due, and with no rules loaded.
func TestEvaluateAllocs(t *testing.T) {
	rs := loadDefault(t)
	logger := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))
	quiet := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError + 1}))
	sample := DefaultSample()
	for _, tc := range []struct {
		name   string
		logger *slog.Logger
		mutate func(*Input)
		halt   bool
		norule bool
		want   Verdict
	}{
		{"allow", logger, nil, false, false, Allow},
		{"clip", quiet, func(in *Input) { in.Plan.Qty = 0.2 }, false, false, Clip},
		{"reject", quiet, func(in *Input) { in.Buy.BookAgeMs = 2900 }, false, false, Reject},
		{"eval error", quiet, func(in *Input) { in.Plan.EdgeBps = math.NaN() }, false, false, Reject},
		{"kill switch", logger, nil, true, false, Halt},
		{"no rules", logger, nil, false, true, Reject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := New(Config{Logger: tc.logger})
			if !tc.norule {
				e.Swap(rs)
			}
			if tc.halt {
				e.Halt("test", "test")
			}
			in := new(Input)
			var d Decision
			allocs := testing.AllocsPerRun(200, func() {
				*in = sample
				if tc.mutate != nil {
					tc.mutate(in)
				}
				d = e.Evaluate(in)
			})
			if d.Verdict != tc.want {
				t.Fatalf("verdict %v, want %v", d, tc.want)
			}
			if allocs != 0 {
				t.Fatalf("%v allocs per Evaluate, want 0", allocs)
			}
		})
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.buf.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestEvalErrorNeverAllows: a rule that cannot be evaluated rejects the plan
// whatever its action — even warn, whose firing would let the plan pass — is
// counted under action "error", logged with the values it read, and does not
// engage the kill switch. The NaN case is the one a naive evaluator gets
// wrong: NaN < 5 is false, so the plan would pass.
func TestEvalErrorNeverAllows(t *testing.T) {
	for _, action := range []string{"reject", "clip", "halt", "warn"} {
		for _, tc := range []struct {
			name, when, clipTo string
			mutate             func(*Input)
			kind               error
		}{
			{"division by zero", "plan.qty / buy.price > 1000", "1", func(in *Input) { in.Buy.Price = 0 }, ErrDivisionByZero},
			{"NaN input", "plan.edge_bps < 5", "1", func(in *Input) { in.Plan.EdgeBps = math.NaN() }, ErrNonFinite},
			{"Inf input", "account.residual_exposure / account.equity > 0.5", "1", func(in *Input) { in.Account.Equity = math.Inf(1) }, ErrNonFinite},
			{"undefined derived ratio", "account.drawdown_pct >= 2", "1", func(in *Input) { in.Account.PeakEquity, in.Account.Equity = 0, 0 }, ErrNonFinite},
		} {
			if action == "clip" {
				// For clip, the error is in clip_to; `when` holds.
				tc.when, tc.clipTo = "plan.qty > 0.01", strings.Replace(tc.when, " > 1000", "", 1)
				tc.clipTo = strings.NewReplacer(" < 5", "", " > 0.5", "", " >= 2", "").Replace(tc.clipTo)
			}
			t.Run(action+"/"+tc.name, func(t *testing.T) {
				clip := ""
				if action == "clip" {
					clip = "\n    clip_to: " + tc.clipTo
				}
				src := fmt.Sprintf("version: 1\nrules:\n  - name: guarded\n    when: %s\n    action: %s%s\n    message: m\n", tc.when, action, clip)
				var logs logBuffer
				e, _ := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
				if _, _, err := e.Reload([]byte(src), "err.yaml"); err != nil {
					t.Fatal(err)
				}
				in := DefaultSample()
				tc.mutate(&in)
				d := e.Evaluate(&in)
				var ee *EvalError
				if d.Verdict != Reject || d.Rule() != "guarded" || !errors.As(d.Err, &ee) || !errors.Is(d.Err, tc.kind) {
					t.Fatalf("decision %v (err %v), want reject by guarded with %v", d, d.Err, tc.kind)
				}
				if ee.Source != "err.yaml" || ee.Line != 4 && ee.Line != 6 || ee.Col < 11 {
					t.Errorf("error position %s:%d:%d", ee.Source, ee.Line, ee.Col)
				}
				if _, halted := e.Halted(); halted {
					t.Errorf("an evaluation error engaged the kill switch")
				}
				if n := counter(e, "guarded", "error"); n != 1 {
					t.Errorf("error counter %d, want 1", n)
				}
				if n := counter(e, "guarded", "pass"); n != 0 {
					t.Errorf("pass counter %d, want 0", n)
				}
				lines := logs.lines(t, "risk rule fired")
				if len(lines) != 1 || lines[0]["action"] != "error" || lines[0]["rule"] != "guarded" ||
					!strings.Contains(fmt.Sprint(lines[0]["error"]), tc.kind.Error()) {
					t.Fatalf("log lines %v", lines)
				}
				if vals, _ := lines[0]["values"].(map[string]any); len(vals) == 0 {
					t.Errorf("log line has no values: %v", lines[0])
				}
			})
		}
	}
}

// TestReloadBrokenKeepsRules: a reload that does not parse or type-check is
// refused with file:line:col, the running rules stay in force, Status
// reports the failure until the next good load, and reloading the active
// bytes is a no-op.
func TestReloadBrokenKeepsRules(t *testing.T) {
	good, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	e, _ := New(Config{Now: clock.now})
	v1, changed, err := e.Reload(good, "configs/rules.yaml")
	if err != nil || !changed {
		t.Fatalf("first load: %v %v", changed, err)
	}
	stale := DefaultSample()
	stale.Buy.BookAgeMs = 2900
	if d := e.Evaluate(&stale); d.Rule() != "buy_book_age" {
		t.Fatalf("before: %v", d)
	}

	broken := bytes.Replace(good, []byte("when: buy.book_age_ms > limits.max_book_age_ms"),
		[]byte("when: buy.book_age_ms > limits.max_book_age_ms and buy.venue > 3"), 1)
	clock.advance(time.Minute)
	v, changed, err := e.Reload(broken, "configs/rules.yaml")
	var le *LoadError
	if !errors.As(err, &le) || changed || v != v1 {
		t.Fatalf("broken reload: changed %v version %v err %v", changed, v, err)
	}
	if !strings.Contains(err.Error(), "configs/rules.yaml:") || le.Issues[0].Line == 0 || le.Issues[0].Col == 0 ||
		le.Issues[0].Rule != "buy_book_age" {
		t.Fatalf("error lacks file:line:col or rule: %v", err)
	}
	if cur, _ := e.Version(); cur != v1 {
		t.Fatalf("active version changed to %v", cur)
	}
	if d := e.Evaluate(&stale); d.Rule() != "buy_book_age" || d.Version() != v1.Hash {
		t.Fatalf("after broken reload the old rules should decide: %v", d)
	}
	st := e.Status()
	if st.LastReloadError == "" || st.ReloadsFailed != 1 || st.ReloadsOK != 1 || !st.LastErrorAt.Equal(clock.now()) {
		t.Fatalf("status %+v", st)
	}

	// Same bytes again: nothing happens.
	if v, changed, err := e.Reload(good, "configs/rules.yaml"); err != nil || changed || v != v1 {
		t.Fatalf("same-bytes reload: %v %v %v", v, changed, err)
	}
	// A good change replaces the rules and clears the error.
	relaxed := bytes.Replace(good, []byte("max_book_age_ms: 2000"), []byte("max_book_age_ms: 4000"), 1)
	v2, changed, err := e.Reload(relaxed, "nats-kv:arb_risk_rules/rules.yaml@7")
	if err != nil || !changed || v2.Hash == v1.Hash || v2.Source != "nats-kv:arb_risk_rules/rules.yaml@7" || !v2.LoadedAt.Equal(clock.now()) {
		t.Fatalf("good reload: %+v %v %v", v2, changed, err)
	}
	if d := e.Evaluate(&stale); d.Verdict != Allow {
		t.Fatalf("relaxed rules: %v", d)
	}
	if st := e.Status(); st.LastReloadError != "" || st.Version != v2 {
		t.Fatalf("status after good reload %+v", st)
	}
}

// TestKillSwitch: a halt rule, the API and an operator can halt; once
// halted nothing passes until Resume; a halt rule whose condition still
// holds halts again.
func TestKillSwitch(t *testing.T) {
	rs := loadDefault(t)
	var halts []HaltState
	var mu sync.Mutex
	e, _ := New(Config{OnHalt: func(h HaltState) { mu.Lock(); halts = append(halts, h); mu.Unlock() }})
	e.Swap(rs)

	loss := DefaultSample()
	loss.Account.RealizedPnlToday = -1500
	if d := e.Evaluate(&loss); d.Verdict != Halt || d.Rule() != "daily_loss_halt" {
		t.Fatalf("loss: %v", d)
	}
	h, halted := e.Halted()
	if !halted || h.By != "rule" || h.Rule != "daily_loss_halt" || h.At.IsZero() {
		t.Fatalf("halt state %+v %v", h, halted)
	}
	healthy := DefaultSample()
	for i := 0; i < 3; i++ {
		if d := e.Evaluate(&healthy); d.Verdict != Halt || d.Rule() != RuleKillSwitch || d.Message() != h.Reason {
			t.Fatalf("halted engine passed a plan: %v", d)
		}
	}
	if e.Halt("api", "api") {
		t.Fatalf("Halt on a halted engine reported a change")
	}
	if prev, ok := e.Resume("operator"); !ok || prev.Rule != "daily_loss_halt" {
		t.Fatalf("resume: %+v %v", prev, ok)
	}
	if d := e.Evaluate(&healthy); d.Verdict != Allow {
		t.Fatalf("after resume: %v", d)
	}
	// The loss still stands: the rule halts again.
	loss = DefaultSample()
	loss.Account.RealizedPnlToday = -1500
	if d := e.Evaluate(&loss); d.Verdict != Halt {
		t.Fatalf("loss again: %v", d)
	}
	e.Resume("operator")
	if !e.Halt("manual stop", "operator") {
		t.Fatal("operator halt")
	}
	if d := e.Evaluate(&healthy); d.Verdict != Halt || d.Message() != "manual stop" {
		t.Fatalf("operator halt: %v", d)
	}
	if _, ok := e.Resume("api"); !ok {
		t.Fatal("resume")
	}
	if _, ok := e.Resume("api"); ok {
		t.Fatal("second resume reported a change")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(halts) != 3 || halts[0].By != "rule" || halts[2].By != "operator" {
		t.Fatalf("OnHalt calls %+v", halts)
	}
	if n := counter(e, RuleKillSwitch, "halt"); n != 4 {
		t.Fatalf("kill_switch counter %d, want 4", n)
	}
	if n := counter(e, "daily_loss_halt", "halt"); n != 2 {
		t.Fatalf("daily_loss_halt halt counter %d, want 2", n)
	}
}

func TestNoRulesRejects(t *testing.T) {
	e, _ := New(Config{})
	in := DefaultSample()
	if d := e.Evaluate(&in); d.Verdict != Reject || d.Rule() != RuleNoRules {
		t.Fatalf("%v", d)
	}
	if _, ok := e.Version(); ok {
		t.Fatal("version without rules")
	}
	if n := counter(e, RuleNoRules, "reject"); n != 1 {
		t.Fatalf("no_rules counter %d", n)
	}
}

const counterRules = `version: 1
name: counters
limits: {big_edge: 50, max_qty: 0.5, max_age: 300}
rules:
  - name: edge_warn
    when: plan.edge_bps > limits.big_edge
    action: warn
    message: big edge
  - name: qty_clip
    when: plan.qty > limits.max_qty
    action: clip
    clip_to: limits.max_qty
    message: clipped
  - name: age_reject
    when: buy.book_age_ms > limits.max_age
    action: reject
    message: old
  - name: div
    when: plan.qty / buy.price > 1
    action: reject
    message: div
`

// TestCountersMatchModel runs random plans through a small rule set and
// compares every (rule, action) counter with counts kept by a direct model
// of the semantics; then reloads a set where one rule is renamed and checks
// that counts carry over by name and never go down.
func TestCountersMatchModel(t *testing.T) {
	e, _ := New(Config{})
	if _, _, err := e.Reload([]byte(counterRules), "c.yaml"); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[string]uint64{}
	run := func(n int, ruleNames [4]string) {
		for i := 0; i < n; i++ {
			in := DefaultSample()
			in.Plan.EdgeBps = float64(rng.IntN(100))
			in.Plan.Qty = rng.Float64()
			in.Buy.BookAgeMs = float64(rng.IntN(2400))
			if rng.IntN(10) == 0 {
				in.Buy.Price = 0
			}
			orig := in
			e.Evaluate(&in) // may clip in.Plan.Qty: the model reads orig
			in = orig
			// Model.
			if in.Plan.EdgeBps > 50 {
				want[ruleNames[0]+"/warn"]++
			} else {
				want[ruleNames[0]+"/pass"]++
			}
			if in.Plan.Qty > 0.5 {
				want[ruleNames[1]+"/clip"]++
			} else {
				want[ruleNames[1]+"/pass"]++
			}
			if in.Buy.BookAgeMs > 300 {
				want[ruleNames[2]+"/reject"]++
				continue
			}
			want[ruleNames[2]+"/pass"]++
			switch {
			case in.Buy.Price == 0:
				want[ruleNames[3]+"/error"]++
			default:
				want[ruleNames[3]+"/pass"]++ // qty ≤ 0.5 < price: never fires
			}
		}
	}
	check := func() {
		got := map[string]uint64{}
		e.Counters(func(rule, action string, n uint64) { got[rule+"/"+action] = n })
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s = %d, want %d", k, got[k], n)
			}
		}
		for k, n := range got {
			if want[k] == 0 && n != 0 {
				t.Errorf("unexpected %s = %d", k, n)
			}
		}
	}
	run(2000, [4]string{"edge_warn", "qty_clip", "age_reject", "div"})
	check()
	renamed := strings.Replace(counterRules, "name: age_reject", "name: stale_book", 1)
	for i := 0; i < 4; i++ { // several reloads: old sets get folded into totals
		src := renamed + strings.Repeat("\n", i+1)
		if _, _, err := e.Reload([]byte(src), "c.yaml"); err != nil {
			t.Fatal(err)
		}
		run(500, [4]string{"edge_warn", "qty_clip", "stale_book", "div"})
	}
	check()
}

// TestCountersMonotonicUnderConcurrency evaluates on one goroutine while
// others reload, halt, resume and read counters and status; run with -race.
// Every counter read must be monotonic.
func TestCountersMonotonicUnderConcurrency(t *testing.T) {
	good, _ := os.ReadFile("../configs/rules.yaml")
	alt := bytes.Replace(good, []byte("min_edge_bps: 5.0"), []byte("min_edge_bps: 6.0"), 1)
	broken := []byte("version: 1\nrules:\n  - name: x\n    when: plan.nope\n    action: reject\n    message: m\n")
	e, _ := New(Config{})
	if _, _, err := e.Reload(good, "a"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the engine goroutine
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		in := new(Input)
		for {
			select {
			case <-stop:
				return
			default:
			}
			*in = DefaultSample()
			in.Plan.EdgeBps = float64(rng.IntN(20))
			in.Buy.BookAgeMs = float64(rng.IntN(2800))
			e.Evaluate(in)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			switch i % 4 {
			case 0:
				e.Reload(alt, "b")
			case 1:
				e.Reload(broken, "c")
			case 2:
				e.Reload(good, "a")
			case 3:
				e.Halt("flap", "test")
				e.Resume("test")
			}
			e.Status()
		}
	}()
	last := map[string]uint64{}
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		e.Counters(func(rule, action string, n uint64) {
			k := rule + "/" + action
			if n < last[k] {
				t.Errorf("%s went down: %d → %d", k, last[k], n)
			}
			last[k] = n
		})
	}
	close(stop)
	wg.Wait()
	if last["min_edge/reject"] == 0 || last["min_edge/pass"] == 0 {
		t.Fatalf("engine did not run: %v", last)
	}
}

// TestRejectionLogRateLimit: at most LogPerSecond lines per second; the rest
// are counted and the count is reported on the next line. The line carries
// the values the rule read.
func TestRejectionLogRateLimit(t *testing.T) {
	rs := loadDefault(t)
	var logs logBuffer
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	e, _ := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: clock.now, LogPerSecond: 3})
	e.Swap(rs)
	in := new(Input)
	for i := 0; i < 10; i++ {
		*in = DefaultSample()
		in.Buy.BookAgeMs = 2900 + float64(i)
		e.Evaluate(in)
	}
	if got := len(logs.lines(t, "risk rule fired")); got != 3 {
		t.Fatalf("%d lines in the first second, want 3", got)
	}
	if e.SuppressedLogs() != 7 {
		t.Fatalf("suppressed %d, want 7", e.SuppressedLogs())
	}
	clock.advance(time.Second)
	*in = DefaultSample()
	in.Buy.BookAgeMs = 2234.5
	e.Evaluate(in)
	lines := logs.lines(t, "risk rule fired")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines))
	}
	last := lines[3]
	vals, _ := last["values"].(map[string]any)
	if last["rule"] != "buy_book_age" || last["action"] != "reject" || last["suppressed_since_last"] != float64(7) ||
		vals["buy.book_age_ms"] != 2234.5 || last["rules_version"] != rs.version.Hash {
		t.Fatalf("line %v", last)
	}
	if n := counter(e, "buy_book_age", "reject"); n != 11 {
		t.Fatalf("every rejection is counted even if not logged: %d", n)
	}
}

// TestClipSeenByLaterRules: after a clip, later rules see the clipped plan
// and its recomputed derived fields.
func TestClipSeenByLaterRules(t *testing.T) {
	src := `version: 1
rules:
  - name: clip_half
    when: plan.qty > 0.1
    action: clip
    clip_to: plan.qty / 2
    message: halve
  - name: see_clip
    when: plan.qty != 0.1 or plan.notional != 6000 or buy.base_position_after != 0.5 or account.base_share_after != 0.24
    action: reject
    message: later rules must see the clipped plan
  - name: clip_zero
    when: plan.qty > 0.05
    action: clip
    clip_to: plan.qty - 0.1
    message: clip to zero rejects
`
	e, _ := New(Config{})
	if _, _, err := e.Reload([]byte(src), "clip.yaml"); err != nil {
		t.Fatal(err)
	}
	in := DefaultSample()
	in.Plan.Qty = 0.2
	d := e.Evaluate(&in)
	if d.Verdict != Reject || d.Rule() != "clip_zero" {
		t.Fatalf("%v", d)
	}
	if n := counter(e, "clip_half", "clip"); n != 1 {
		t.Fatalf("clip_half clip %d", n)
	}
	if n := counter(e, "clip_zero", "reject"); n != 1 {
		t.Fatalf("clip_zero reject %d", n)
	}
	in = DefaultSample()
	in.Plan.Qty = 0.04 // below both clips
	if d := e.Evaluate(&in); d.Verdict != Reject || d.Rule() != "see_clip" {
		t.Fatalf("%v", d)
	}
}

func TestClipQty(t *testing.T) {
	for _, tc := range []struct {
		q    float64
		dec  uint8
		step num.Qty
		want num.Qty
		ok   bool
	}{
		{0.3, 8, 0, 30000000, true},
		{0.1 + 0.2, 8, 100000, 30000000, true}, // 0.30000000000000004
		{10000.0 / 60000, 8, 1000, 16666000, true},
		{0.29999, 8, 100000, 29900000, true},
		{1e-9, 8, 0, 0, false},
		{0, 8, 0, 0, false},
		{-1, 8, 0, 0, false},
		{math.NaN(), 8, 0, 0, false},
		{math.Inf(1), 8, 0, 0, false},
		{1e12, 18, 0, 0, false},
	} {
		got, ok := ClipQty(tc.q, tc.dec, tc.step)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ClipQty(%v, %d, %d) = %d, %v; want %d, %v", tc.q, tc.dec, tc.step, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDayTracker(t *testing.T) {
	var d DayTracker
	var a AccountView
	d.Fill(&a)
	if a.PeakEquity != 0 {
		t.Fatal("peak before marks")
	}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, eq := range []float64{100, 105, 103, math.NaN(), 110, 90} {
		ok := d.Mark(day.Add(time.Duration(i)*time.Hour).UnixNano(), eq)
		if ok == math.IsNaN(eq) {
			t.Fatalf("mark %v: %v", eq, ok)
		}
	}
	d.Fill(&a)
	if a.StartEquity != 100 || a.PeakEquity != 110 {
		t.Fatalf("%+v", a)
	}
	d.Mark(day.Add(24*time.Hour).UnixNano(), 95)
	d.Fill(&a)
	if a.StartEquity != 95 || a.PeakEquity != 95 {
		t.Fatalf("new day %+v", a)
	}
}

// TestDeriveClock: now.* come from UnixNano in UTC.
func TestDeriveClock(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 13, 23, 59, 59, 999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 0, 5, time.UTC),
		time.Date(2031, 2, 28, 7, 5, 0, 0, time.UTC),
	} {
		var in Input
		in.UnixNano = ts.UnixNano()
		in.derive()
		n := in.Now
		if n.Hour != int64(ts.Hour()) || n.Minute != int64(ts.Minute()) || n.Weekday != int64(ts.Weekday()) ||
			n.MinuteOfDay != int64(ts.Hour()*60+ts.Minute()) {
			t.Errorf("%v: %+v", ts, n)
		}
	}
}

// TestHandwrittenAgrees: the handwritten Go version of the default rules
// (the benchmark's baseline) and the engine decide the same on random plans
// spread around every limit, so the benchmark compares equal work.
func TestHandwrittenAgrees(t *testing.T) {
	rs := loadDefault(t)
	vm := compileExprVM(t)
	rng := rand.New(rand.NewPCG(99, 1))
	e := newTestEngine(t, rs)
	for i := 0; i < 5000; i++ {
		in := perturbedSample(rng)
		a, b, c := in, in, in
		d := e.Evaluate(&a)
		if d.Verdict == Halt {
			e.Resume("test")
		}
		hv, hr := handwritten(&b)
		if d.Verdict != hv || d.Rule() != hr || (d.Verdict.Pass() && d.Qty != b.Plan.Qty) {
			t.Fatalf("case %d: engine %v (qty %v), handwritten %v by %q (qty %v)\n%+v", i, d, d.Qty, hv, hr, b.Plan.Qty, in)
		}
		if d.Err == nil {
			if xv, xr := runExprVM(vm, &c); xv != d.Verdict || xr != hr {
				t.Fatalf("case %d: engine %v, expr VM %v by %q", i, d, xv, xr)
			}
		}
	}
}

// perturbedSample moves a few fields of the sample to values near the
// default limits (and sometimes to NaN or zero).
func perturbedSample(rng *rand.Rand) Input {
	in := DefaultSample()
	set := []func(){
		func() { in.Account.RealizedPnlToday = -1000 + rng.Float64()*10 - 5 },
		func() { in.Account.Equity = 97000 + rng.Float64()*4000 },
		func() { in.Buy.ErrorRate = 0.15 + rng.Float64()*0.1 },
		func() { in.Sell.LatencyMs = 700 + rng.Float64()*100 },
		func() { in.Plan.Qty = rng.Float64()*0.3 - 0.01 },
		func() { in.Sell.Stale = rng.IntN(2) == 0 },
		func() { in.Buy.Seq = int64(rng.IntN(3)) - 1 },
		func() { in.Sell.BookAgeMs = 1950 + rng.Float64()*100 },
		func() { in.Sell.Price = 58500 + rng.Float64()*3000 },
		func() { in.Plan.EdgeBps = rng.Float64() * 70 },
		func() { in.Account.OpenTrades = int64(rng.IntN(6)) },
		func() { in.Buy.QuoteBalance = rng.Float64() * 6000 },
		func() { in.Sell.BaseBalance = rng.Float64() * 0.1 },
		func() { in.Buy.BasePosition = rng.Float64() },
		func() { in.Account.BaseValue = 20000 + rng.Float64()*15000 },
		func() { in.Account.ResidualExposure = rng.Float64() * 2500 },
		func() { in.Plan.EdgeBps = math.NaN() },
		func() { in.Buy.Price = 0 },
		func() { in.Account.PeakEquity = 0 },
	}
	for k := rng.IntN(4); k >= 0; k-- {
		set[rng.IntN(len(set))]()
	}
	return in
}

// TestImports: risk depends only on what its brief allows.
func TestImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			ok := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") && !strings.HasPrefix(p, "arb/") ||
				p == "arb/exchange" || p == "arb/exchange/num" ||
				strings.HasPrefix(p, "github.com/expr-lang/expr") || p == "gopkg.in/yaml.v3"
			if !ok {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}

// TestRestore: a halt saved before a restart is given back as it was (its
// reason, who, rule and time), rejects every plan, and only Resume releases
// it; a Restore onto an engaged switch keeps the engaged state.
func TestRestore(t *testing.T) {
	var halts []HaltState
	e, _ := New(Config{OnHalt: func(h HaltState) { halts = append(halts, h) }})
	e.Swap(loadDefault(t))
	saved := HaltState{Reason: "exchange hacked", By: "api", At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if !e.Restore(saved) {
		t.Fatal("Restore on a free switch reported no change")
	}
	if h, ok := e.Halted(); !ok || h != saved {
		t.Fatalf("restored %+v %v, want %+v", h, ok, saved)
	}
	healthy := DefaultSample()
	if d := e.Evaluate(&healthy); d.Verdict != Halt || d.Rule() != RuleKillSwitch || d.Message() != "exchange hacked" {
		t.Fatalf("restored halt passed a plan: %v", d)
	}
	if e.Restore(HaltState{Reason: "other", By: "rule"}) {
		t.Fatal("Restore replaced an engaged switch")
	}
	if h, _ := e.Halted(); h.Reason != "exchange hacked" {
		t.Fatalf("first reason lost: %+v", h)
	}
	if len(halts) != 1 || halts[0] != saved {
		t.Fatalf("OnHalt %+v", halts)
	}
	if _, ok := e.Resume("api"); !ok {
		t.Fatal("resume")
	}
	if d := e.Evaluate(&healthy); d.Verdict != Allow {
		t.Fatalf("after resume: %v", d)
	}
}

// TestIdenticalReloadClearsError: after a failed reload, loading the bytes
// that are already in force again (the broken file put back) clears the
// error in Status.
func TestIdenticalReloadClearsError(t *testing.T) {
	good, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := New(Config{})
	if _, _, err := e.Reload(good, "rules.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Reload([]byte("version: 2\n"), "rules.yaml"); err == nil {
		t.Fatal("broken rules loaded")
	}
	if st := e.Status(); st.LastReloadError == "" {
		t.Fatal("no error recorded")
	}
	if _, changed, err := e.Reload(good, "rules.yaml"); err != nil || changed {
		t.Fatalf("identical reload: changed %v err %v", changed, err)
	}
	if st := e.Status(); st.LastReloadError != "" || st.LastErrorSource != "" || !st.LastErrorAt.IsZero() {
		t.Fatalf("error not cleared: %+v", st)
	}
}
