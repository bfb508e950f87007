package risk

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/expr-lang/expr"
)

// evalExpr compiles one expression with the rule compiler (limits from
// limits, venues from in) and evaluates it on in. It returns the value (bool,
// int64, float64 or string), the evaluation error, or the load error.
func evalExpr(t testing.TB, text string, in *Input, limits ...limitSpec) (any, *EvalError, error) {
	t.Helper()
	le := &LoadError{Source: "test"}
	venues := map[string]int{}
	for i := range in.Venues {
		if n := in.Venues[i].Name; n != "" {
			venues[n] = i
		}
	}
	lm := map[string]*limitSpec{}
	for i := range limits {
		lm[limits[i].name] = &limits[i]
	}
	spec := &exprSpec{text: text}
	c := &compiler{le: le, source: "test", rule: "r", key: "when", venues: venues}
	v, _, err := compileExpr(c, newExprConfig(), spec, lm, nil)
	if err != nil {
		return nil, nil, le
	}
	ctx := &evalCtx{base: unsafe.Pointer(in)}
	var out any
	switch v.k {
	case kBool:
		out = c.fnBool(v)(ctx)
	case kInt:
		out = c.fnInt(v)(ctx)
	case kFloat:
		out = c.fnFloat(v)(ctx)
	case kString:
		out = c.fnStr(v)(ctx)
	default:
		return nil, nil, fmt.Errorf("expression of kind %s", v.k)
	}
	return out, ctx.err, nil
}

// TestExprSemantics pins the compiler's results on the default sample, and
// checks each against expr's own VM on the same input.
func TestExprSemantics(t *testing.T) {
	in := DefaultSample()
	tests := []struct {
		expr string
		want any
	}{
		{"plan.qty", 0.05},
		{"plan.notional", 3000.0},
		{"plan.qty * buy.price", 3000.0},
		{"sell.price - buy.price", 60.0},
		{"(sell.price - buy.price) / buy.price * 10000", 10.0},
		{"plan.spread_bps", 10.0},
		{"account.open_trades + 2", int64(3)},
		{"account.open_trades * 3 - 1", int64(2)},
		{"account.open_trades / 2", 0.5},
		{"7 % 3", int64(1)},
		{"-7 % 3", int64(-1)},
		{"2 ** 10", 1024.0},
		{"2 ^ 0.5 * 2 ^ 0.5", 2.0000000000000004},
		{"-plan.qty", -0.05},
		{"+plan.qty", 0.05},
		{"-account.open_trades", int64(-1)},
		{"abs(buy.price - sell.price)", 60.0},
		{"abs(-3)", int64(3)},
		{"min(plan.qty, 1, 0.01)", 0.01},
		{"max(account.open_trades, 5, 2)", int64(5)},
		{"min(account.open_trades, 0.5)", 0.5},
		{"floor(2.7) + ceil(2.2) + round(2.5)", 8.0},
		{"plan.qty > 0.04 and plan.qty < 0.06", true},
		{"plan.qty > 1 or buy.stale", false},
		{"not buy.stale", true},
		{"!(plan.qty > 0)", false},
		{"plan.symbol == \"BTC-USDT\"", true},
		{"plan.symbol != \"BTC-USDT\"", false},
		{"plan.base < plan.quote", true},
		{"buy.venue in [\"binance\", \"okx\"]", true},
		{"sell.venue not in [\"binance\", \"okx\"]", false},
		{"account.open_trades in [1, 2.5]", true},
		{"plan.symbol startsWith \"BTC\"", true},
		{"plan.symbol endsWith \"USDC\"", false},
		{"plan.symbol contains \"-\"", true},
		{"plan.qty > 1 ? 1 : 2", int64(2)},
		{"plan.qty > 1 ? 1 : 2.5", 2.5},
		{"plan.qty < 1 ? plan.base : plan.quote", "BTC"},
		{"if plan.qty < 1 { 10 } else { 20 }", int64(10)},
		{"now.hour == 14 and now.minute == 30 and now.weekday == 4", true},
		{"now.minute_of_day", int64(870)},
		{"account.drawdown_pct", (100150.0 - 100000) / 100150 * 100},
		{"account.base_share_after", 0.21},
		{"buy.quote_balance_after", 40000 - 3000*(1+1e-4)},
		{"sell.base_balance_after", 0.45},
		{"true", true},
		{"1 < 2 and 2.5 >= 2", true},
		{"buy.book_age_ms < sell.book_age_ms", true},
		{"buy.seq > sell.seq", true},
		{"buy.stale == sell.stale", true},
		{"buy.stale != true", true},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			got, eerr, err := evalExpr(t, tc.expr, &in)
			if err != nil || eerr != nil {
				t.Fatalf("error: %v %v", err, eerr)
			}
			if !sameValue(got, tc.want) {
				t.Fatalf("got %v (%T), want %v (%T)", got, got, tc.want, tc.want)
			}
			ref, rerr := exprRef(tc.expr, &in)
			if rerr != nil {
				t.Fatalf("expr VM: %v", rerr)
			}
			if !sameValue(got, ref) {
				t.Fatalf("got %v, expr VM says %v (%T)", got, ref, ref)
			}
		})
	}
}

// exprRef evaluates text with expr's own compiler and VM.
func exprRef(text string, in *Input) (any, error) {
	p, err := expr.Compile(text, expr.Env(&Input{}))
	if err != nil {
		return nil, err
	}
	return expr.Run(p, in)
}

// sameValue compares results numerically across int and float (expr keeps
// the Go type of min/max arguments; the compiler promotes to float).
func sameValue(a, b any) bool {
	num := func(x any) (float64, bool) {
		switch v := x.(type) {
		case int:
			return float64(v), true
		case int64:
			return float64(v), true
		case float64:
			return v, true
		}
		return 0, false
	}
	if x, ok := num(a); ok {
		y, ok := num(b)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	}
	return a == b
}

// TestEvalErrorKinds: division by zero, NaN or infinite reads and results,
// and integer overflow are evaluation errors at the failing operation.
func TestEvalErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		expr string
		set  func(*Input)
		want error
		what string
	}{
		{"div by zero field", "plan.qty / buy.price > 1", func(in *Input) { in.Buy.Price = 0 }, ErrDivisionByZero, "/"},
		{"div by zero expr", "plan.qty / (buy.price - buy.price) > 1", nil, ErrDivisionByZero, "/"},
		{"mod by zero", "account.open_trades % (account.open_trades - 1) == 0", nil, ErrDivisionByZero, "%"},
		{"NaN field compared", "plan.edge_bps < 5", func(in *Input) { in.Plan.EdgeBps = math.NaN() }, ErrNonFinite, "plan.edge_bps"},
		{"NaN field != ", "plan.edge_bps != 5", func(in *Input) { in.Plan.EdgeBps = math.NaN() }, ErrNonFinite, "plan.edge_bps"},
		{"Inf field", "buy.book_age_ms > 500", func(in *Input) { in.Buy.BookAgeMs = math.Inf(-1) }, ErrNonFinite, "buy.book_age_ms"},
		{"Inf divisor hides nothing", "plan.qty / account.equity > 0.5", func(in *Input) { in.Account.Equity = math.Inf(1) }, ErrNonFinite, "account.equity"},
		{"overflowing product", "buy.price * 1e308 > 0", nil, ErrNonFinite, "result of *"},
		{"overflowing pow", "buy.price ** 1000 > 0", nil, ErrNonFinite, "result of **"},
		{"int overflow", "buy.seq * 9223372036854775807 > 0", nil, ErrOverflow, "*"},
		{"int negation overflow", "-(buy.seq - buy.seq - 9223372036854775807 - 1) > 0", nil, ErrOverflow, "unary -"},
		{"NaN in abs", "abs(plan.spread_bps) > 200", func(in *Input) { in.Plan.SpreadBps = math.NaN() }, ErrNonFinite, "plan.spread_bps"},
		{"NaN in field-op-field", "buy.base_position_after * buy.price > 1", func(in *Input) { in.Buy.Price = math.NaN() }, ErrNonFinite, "buy.price"},
		{"NaN in in-list", "plan.qty in [1, 2]", func(in *Input) { in.Plan.Qty = math.NaN() }, ErrNonFinite, "plan.qty"},
		{"NaN in min", "min(plan.qty, 1) > 0", func(in *Input) { in.Plan.Qty = math.NaN() }, ErrNonFinite, "plan.qty"},
		{"NaN in conditional", "(plan.qty > 0 ? plan.edge_bps : 1.0) > 0", func(in *Input) { in.Plan.EdgeBps = math.NaN() }, ErrNonFinite, "plan.edge_bps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := DefaultSample()
			if tc.set != nil {
				tc.set(&in)
			}
			_, eerr, err := evalExpr(t, tc.expr, &in)
			if err != nil {
				t.Fatal(err)
			}
			if eerr == nil {
				t.Fatalf("no evaluation error")
			}
			if !errors.Is(eerr, tc.want) || eerr.What != tc.what {
				t.Fatalf("error %v (what %q), want %v in %q", eerr, eerr.What, tc.want, tc.what)
			}
		})
	}
}

// TestLoadGood loads every file in testdata/good and checks the compiled
// forms that the engine's speed depends on.
func TestLoadGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	files = append(files, "../configs/rules.yaml")
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Load(src, path, Options{Venues: sampleVenues()})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if rs.version.Rules != len(rs.rules) || !strings.HasPrefix(rs.version.Hash, "sha256:") {
			t.Fatalf("%s: version %+v", path, rs.version)
		}
	}
}

// TestDefaultRulesCompileInline: every default rule runs from the inline
// test table, without closures (the benchmark's premise), and the disabled
// trading-hours rule folds away.
func TestDefaultRulesCompileInline(t *testing.T) {
	rs := loadDefault(t)
	for i := range rs.rules {
		r := &rs.rules[i]
		kind := compileKind(r)
		if r.name == "trading_hours" {
			if !r.never {
				t.Errorf("trading_hours with trading_hours_enabled: false should fold to never")
			}
			continue
		}
		if kind != "inline" {
			t.Errorf("rule %s compiles to %s, want inline", r.name, kind)
		}
	}
}

// TestConstantFolding: expressions of limits and literals become constants.
func TestConstantFolding(t *testing.T) {
	limits := []limitSpec{{name: "a", kind: limFloat, f: 2.5}, {name: "n", kind: limInt, i: 4}, {name: "on", kind: limBool, b: false}}
	le := &LoadError{Source: "t"}
	for _, tc := range []struct {
		expr string
		want any
	}{
		{"limits.a * 2 + limits.n", 9.0},
		{"limits.n * 3 % 5", int64(2)},
		{"-limits.a", -2.5},
		{"limits.on and plan.qty > 0", false},
		{"limits.on or limits.n > 3", true},
		{"max(limits.a, limits.n) ** 2", 16.0},
		{"limits.n > 3 ? limits.a : 1", 2.5},
		{"\"x\" in [\"x\", \"y\"]", true},
	} {
		c := &compiler{le: le, source: "t", rule: "r", key: "when"}
		lm := map[string]*limitSpec{}
		for i := range limits {
			lm[limits[i].name] = &limits[i]
		}
		v, _, err := compileExpr(c, newExprConfig(), &exprSpec{text: tc.expr}, lm, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, le)
		}
		if !v.cst {
			t.Errorf("%s: not folded", tc.expr)
			continue
		}
		var got any
		switch v.k {
		case kBool:
			got = v.b
		case kInt:
			got = v.i
		case kFloat:
			got = v.f
		}
		if !sameValue(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestPropertyAgainstExprVM generates random well-typed expressions and
// random inputs (zeros, negatives, huge values, NaN and Inf included) and
// checks the compiler against expr's VM, the slow obviously-right model:
// whenever the compiler returns without an evaluation error, expr agrees
// and the value is finite; when it reports a non-finite read, the field
// really is NaN or Inf. (Where it reports a zero divisor, a non-finite
// result or an integer overflow, expr yields Inf/NaN or wraps: exactly what
// the compiler refuses to let through.)
func TestPropertyAgainstExprVM(t *testing.T) {
	seed := uint64(20260101)
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 3000
	if testing.Short() {
		n = 500
	}
	agreed, errored := 0, 0
	for i := 0; i < n; i++ {
		g := &exprGen{rng: rng}
		var text string
		switch rng.IntN(3) {
		case 0:
			text = g.boolean(4)
		case 1:
			text = g.float(4)
		default:
			text = g.integer(3)
		}
		in := randomInput(rng)
		got, eerr, err := evalExpr(t, text, &in)
		if err != nil && (strings.Contains(err.Error(), "constant expression fails") || strings.Contains(err.Error(), "constant zero")) {
			continue // e.g. 2 % 0: refused at load time, as it should be
		}
		if err != nil {
			t.Fatalf("seed %d case %d: %q does not load: %v", seed, i, text, err)
		}
		ref, rerr := exprRef(text, &in)
		if eerr != nil {
			errored++
			if errors.Is(eerr, ErrNonFinite) && !strings.HasPrefix(eerr.What, "result of") {
				// A read error must name a field that really is NaN or Inf.
				v, err := exprRef(eerr.What, &in)
				if f, ok := v.(float64); err != nil || !ok || !(math.IsNaN(f) || math.IsInf(f, 0)) {
					t.Fatalf("seed %d case %d: %q: read error on %s = %v", seed, i, text, eerr.What, v)
				}
			}
			continue
		}
		if f, ok := got.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			t.Fatalf("seed %d case %d: %q returned non-finite %v without error", seed, i, text, f)
		}
		if rerr != nil {
			t.Fatalf("seed %d case %d: %q: compiler %v, expr VM error %v", seed, i, text, got, rerr)
		}
		if !sameValue(got, ref) {
			t.Fatalf("seed %d case %d: %q: compiler %v, expr VM %v\ninput %+v", seed, i, text, got, ref, in.Plan)
		}
		agreed++
	}
	if agreed < n/2 {
		t.Fatalf("only %d of %d cases were comparable (%d evaluation errors)", agreed, n, errored)
	}
	t.Logf("%d agreed, %d evaluation errors", agreed, errored)
}

type exprGen struct{ rng *rand.Rand }

var (
	genFloatFields = []string{"plan.qty", "plan.edge_bps", "plan.notional", "buy.price", "sell.price",
		"buy.book_age_ms", "account.equity", "account.residual_exposure", "sell.error_rate"}
	genIntFields  = []string{"account.open_trades", "buy.seq", "sell.seq", "now.hour", "plan.instrument"}
	genBoolFields = []string{"buy.stale", "sell.stale"}
	genFloatConst = []string{"0.0", "1.5", "-2.25", "100.0", "1e-9", "0.3"}
	genIntConst   = []string{"0", "1", "2", "-3", "7", "1000"}
)

func (g *exprGen) pick(s []string) string { return s[g.rng.IntN(len(s))] }

func (g *exprGen) float(d int) string {
	if d == 0 || g.rng.IntN(4) == 0 {
		if g.rng.IntN(3) == 0 {
			return g.pick(genFloatConst)
		}
		return g.pick(genFloatFields)
	}
	switch g.rng.IntN(9) {
	case 0, 1:
		return "(" + g.float(d-1) + " " + g.pick([]string{"+", "-", "*", "/"}) + " " + g.float(d-1) + ")"
	case 2:
		return "(" + g.integer(d-1) + " / " + g.float(d-1) + ")"
	case 3:
		return g.pick([]string{"abs", "floor", "ceil", "round"}) + "(" + g.float(d-1) + ")"
	case 4:
		return g.pick([]string{"min", "max"}) + "(" + g.float(d-1) + ", " + g.float(d-1) + ")"
	case 5:
		return "(" + g.boolean(d-1) + " ? " + g.float(d-1) + " : " + g.float(d-1) + ")"
	case 6:
		return "-" + g.float(d-1)
	case 7:
		return "(" + g.float(d-1) + " ** " + g.pick([]string{"2", "0.5", "3"}) + ")"
	}
	return "(" + g.float(d-1) + " * " + g.integer(d-1) + ")"
}

func (g *exprGen) integer(d int) string {
	if d == 0 || g.rng.IntN(3) == 0 {
		if g.rng.IntN(2) == 0 {
			return g.pick(genIntConst)
		}
		return g.pick(genIntFields)
	}
	switch g.rng.IntN(5) {
	case 0, 1:
		return "(" + g.integer(d-1) + " " + g.pick([]string{"+", "-", "*"}) + " " + g.integer(d-1) + ")"
	case 2:
		return "(" + g.integer(d-1) + " % " + g.integer(d-1) + ")"
	case 3:
		return "abs(" + g.integer(d-1) + ")"
	}
	return "(" + g.boolean(d-1) + " ? " + g.integer(d-1) + " : " + g.integer(d-1) + ")"
}

func (g *exprGen) boolean(d int) string {
	if d == 0 {
		return g.pick(genBoolFields)
	}
	cmp := g.pick([]string{"<", "<=", ">", ">=", "==", "!="})
	switch g.rng.IntN(8) {
	case 0, 1:
		return "(" + g.float(d-1) + " " + cmp + " " + g.float(d-1) + ")"
	case 2:
		return "(" + g.integer(d-1) + " " + cmp + " " + g.float(d-1) + ")"
	case 3:
		return "(" + g.integer(d-1) + " " + cmp + " " + g.integer(d-1) + ")"
	case 4:
		return "(" + g.boolean(d-1) + " " + g.pick([]string{"and", "or", "&&", "||"}) + " " + g.boolean(d-1) + ")"
	case 5:
		return "not " + g.boolean(d-1)
	case 6:
		return "(" + g.pick(genFloatFields) + " " + cmp + " " + g.pick(genFloatConst) + ")"
	}
	return "(buy.venue in [\"binance\", \"okx\"] or " + g.boolean(d-1) + ")"
}

// randomInput perturbs the sample's fields with values chosen to hit edges.
func randomInput(rng *rand.Rand) Input {
	in := DefaultSample()
	vals := []float64{0, -1, 1, 2.5, 1e-9, 60000, 1e300, -1e300, math.NaN(), math.Inf(1), math.Inf(-1)}
	fl := func(p *float64) {
		if rng.IntN(3) == 0 {
			*p = vals[rng.IntN(len(vals))]
		}
	}
	for _, p := range []*float64{&in.Plan.Qty, &in.Plan.EdgeBps, &in.Plan.Notional, &in.Buy.Price, &in.Sell.Price,
		&in.Buy.BookAgeMs, &in.Account.Equity, &in.Account.ResidualExposure, &in.Sell.ErrorRate} {
		fl(p)
	}
	ints := []int64{0, 1, -1, 5, math.MaxInt64, math.MinInt64}
	for _, p := range []*int64{&in.Account.OpenTrades, &in.Buy.Seq, &in.Sell.Seq} {
		if rng.IntN(3) == 0 {
			*p = ints[rng.IntN(len(ints))]
		}
	}
	in.Buy.Stale = rng.IntN(4) == 0
	return in
}

// TestTestRecordSize: scan's program is an array of 64-byte records (see
// the test type); a field added carelessly would change the stride.
func TestTestRecordSize(t *testing.T) {
	if s := unsafe.Sizeof(test{}); s != 64 {
		t.Fatalf("test is %d bytes, want 64", s)
	}
}

// TestFeaturesFire: each rule of testdata/good/features.yaml stays quiet on
// the sample and fires on an input made for it.
func TestFeaturesFire(t *testing.T) {
	src, err := os.ReadFile("testdata/good/features.yaml")
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := Check(src, "features.yaml", DefaultSample())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range quiet.Rules {
		if r.Fired || r.Err != nil {
			t.Errorf("%s fires on the sample (%v)", r.Name, r.Err)
		}
	}
	for _, tc := range []struct {
		rule   string
		mutate func(*Input)
		want   Verdict
		qty    float64
	}{
		{"in_list", func(in *Input) { in.Sell.Venue = "kraken" }, Reject, 0},
		{"in_list", func(in *Input) { in.Buy.Venue = "ftx" }, Reject, 0},
		{"venue_health", func(in *Input) { in.Venues[2].Connected = false }, Reject, 0},
		{"venue_health", func(in *Input) { in.Venues[1].ErrorRate = 0.6 }, Reject, 0},
		{"conditional", func(in *Input) { in.Plan.Qty = 0.2 }, Clip, 10000 / 60060.0},
		{"arithmetic", func(in *Input) { in.Plan.EdgeBps = 3 }, Allow, 0.05},
		{"ints", func(in *Input) { in.Account.OpenTrades = 2 }, Reject, 0},
		{"strings", func(in *Input) { in.Plan.Symbol = "ETH-USDT" }, Reject, 0},
		{"strings", func(in *Input) { in.Plan.Symbol = "BTC-USDC" }, Reject, 0},
		{"if_else", func(in *Input) { in.Sell.FeeBps = 11 }, Reject, 0},
		{"if_else", func(in *Input) { in.Plan.Qty, in.Buy.FeeBps, in.Buy.Price, in.Sell.Price = 1.5, 11, 1000, 1001 }, Reject, 0},
	} {
		in := DefaultSample()
		tc.mutate(&in)
		rep, err := Check(src, "features.yaml", in)
		if err != nil {
			t.Fatal(err)
		}
		var fired []string
		for _, r := range rep.Rules {
			if r.Fired {
				fired = append(fired, r.Name)
			}
		}
		if len(fired) != 1 || fired[0] != tc.rule {
			t.Errorf("%s: fired %v", tc.rule, fired)
		}
		d := rep.Decision
		if d.Verdict != tc.want || (tc.want != Allow && d.Rule() != tc.rule) || (d.Verdict.Pass() && d.Qty != tc.qty) {
			t.Errorf("%s: decision %v qty %v, want %v qty %v", tc.rule, d, d.Qty, tc.want, tc.qty)
		}
	}
}

// TestCaps: the file, rule, limit, expression and AST-node caps refuse
// oversized input with an error rather than loading it.
func TestCaps(t *testing.T) {
	rule := func(name, when string) string {
		return fmt.Sprintf("  - name: %s\n    when: %s\n    action: reject\n    message: m\n", name, when)
	}
	manyRules := "version: 1\nrules:\n"
	for i := 0; i <= MaxRules; i++ {
		manyRules += rule(fmt.Sprintf("r%d", i), "plan.qty > 1")
	}
	manyLimits := "version: 1\nlimits:\n"
	for i := 0; i <= MaxLimits; i++ {
		manyLimits += fmt.Sprintf("  l%d: %d\n", i, i)
	}
	manyLimits += "rules:\n" + rule("a", "plan.qty > limits.l0")
	deep := "plan.qty" + strings.Repeat(" + plan.qty", MaxNodesPerRule/3) + " > 1"
	longExpr := "plan.qty > 1" + strings.Repeat(" ", MaxExprBytes)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"file size", "version: 1\n# " + strings.Repeat("x", MaxFileBytes) + "\nrules: []\n", "bytes; the cap is"},
		{"rules per file", manyRules, fmt.Sprintf("%d rules; the cap is %d", MaxRules+1, MaxRules)},
		{"limits", manyLimits, fmt.Sprintf("%d limits; the cap is %d", MaxLimits+1, MaxLimits)},
		{"nodes per rule", "version: 1\nrules:\n" + rule("deep", deep), "exceeds maximum allowed nodes"},
		{"expression bytes", "version: 1\nrules:\n" + rule("long", "'"+longExpr+"'"), "bytes; the cap is"},
		{"message bytes", "version: 1\nrules:\n  - {name: m, when: plan.qty > 1, action: reject, message: " + strings.Repeat("x", MaxMessageBytes+1) + "}\n", "message is"},
	} {
		_, err := Load([]byte(tc.src), "caps.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Just under the node cap loads.
	under := "plan.qty" + strings.Repeat(" + plan.qty", (MaxNodesPerRule-8)/4) + " > 1"
	if _, err := Load([]byte("version: 1\nrules:\n"+rule("under", under)), "caps.yaml", Options{}); err != nil {
		t.Errorf("expression under the node cap: %v", err)
	}
}
