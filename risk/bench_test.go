package risk

import (
	"math"
	"os"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// The three ways of running the default rule set that BenchmarkDefaultRules
// compares, on the same plan: this package's compiled closures (as the
// engine runs them), expr's own bytecode VM, and the same checks written
// directly in Go.

func loadDefault(tb testing.TB) *RuleSet {
	tb.Helper()
	src, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := Load(src, "configs/rules.yaml", Options{Venues: sampleVenues()})
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

func sampleVenues() []string {
	s := DefaultSample()
	out := make([]string, 0, 4)
	for i := range s.Venues {
		if s.Venues[i].Name == "" && i > 0 {
			break
		}
		out = append(out, s.Venues[i].Name)
	}
	return out
}

// exprRule is one rule compiled to expr's bytecode.
type exprRule struct {
	name   string
	action Action
	when   *vm.Program
	clipTo *vm.Program
}

// compileExprVM compiles the default rules with expr.Compile, substituting
// limits with the same patcher the loader uses, so both run the same
// expressions on the same environment type.
func compileExprVM(tb testing.TB) []exprRule {
	tb.Helper()
	src, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	fs, le := parseFile(src, "rules.yaml")
	if le != nil {
		tb.Fatal(le)
	}
	limits := make(map[string]*limitSpec)
	for i := range fs.limits {
		limits[fs.limits[i].name] = &fs.limits[i]
	}
	var out []exprRule
	for i := range fs.rules {
		r := &fs.rules[i]
		c := &compiler{le: &LoadError{}, spec: &r.when}
		p, err := expr.Compile(r.when.text, expr.Env(&Input{}), expr.AsBool(),
			expr.Patch(&limitsPatcher{c: c, limits: limits}))
		if err != nil {
			tb.Fatalf("%s: %v", r.name, err)
		}
		er := exprRule{name: r.name, action: r.action, when: p}
		if r.clipTo != nil {
			c.spec = r.clipTo
			er.clipTo, err = expr.Compile(r.clipTo.text, expr.Env(&Input{}), expr.AsFloat64(),
				expr.Patch(&limitsPatcher{c: c, limits: limits}))
			if err != nil {
				tb.Fatalf("%s clip_to: %v", r.name, err)
			}
		}
		out = append(out, er)
	}
	return out
}

// runExprVM evaluates the rules through expr.Run with the same semantics as
// the engine (derive, file order, first reject ends, clip rederives).
func runExprVM(rules []exprRule, in *Input) (Verdict, string) {
	in.derive()
	verdict, clipped := Allow, ""
	for i := range rules {
		r := &rules[i]
		out, err := expr.Run(r.when, in)
		if err != nil {
			return Reject, r.name
		}
		if !out.(bool) {
			continue
		}
		switch r.action {
		case ActReject:
			return Reject, r.name
		case ActHalt:
			return Halt, r.name
		case ActClip:
			q, err := expr.Run(r.clipTo, in)
			if err != nil {
				return Reject, r.name
			}
			if f := q.(float64); f <= 0 {
				return Reject, r.name
			} else if f < in.Plan.Qty {
				in.Plan.Qty = f
				in.rederive()
				verdict, clipped = Clip, r.name
			}
		}
	}
	return verdict, clipped
}

// handwritten is the default rule set written directly in Go with the
// default limits, as a careful programmer would: the same checks, in the
// same order, with the same treatment of undefined values (a NaN or
// infinite input, or a zero divisor, rejects).
func handwritten(in *Input) (Verdict, string) {
	in.derive()
	bad := func(x float64) bool { return x-x != 0 }
	a, p, b, s := &in.Account, &in.Plan, &in.Buy, &in.Sell
	switch {
	case bad(a.PnlToday):
		return Reject, "daily_loss_halt"
	case a.PnlToday <= -1000:
		return Halt, "daily_loss_halt"
	case bad(a.DrawdownPct) || a.DrawdownPct >= 2.0:
		return Reject, "drawdown_freeze"
	case bad(b.ErrorRate) || b.ErrorRate > 0.20 || bad(s.ErrorRate) || s.ErrorRate > 0.20:
		return Reject, "venue_error_breaker"
	case bad(b.LatencyMs) || b.LatencyMs > 750 || bad(s.LatencyMs) || s.LatencyMs > 750:
		return Reject, "venue_latency_breaker"
	case bad(p.Qty) || p.Qty <= 0:
		return Reject, "qty_positive"
	case b.Stale || s.Stale:
		return Reject, "book_stale"
	case b.Seq <= 0 || s.Seq <= 0:
		return Reject, "sequence_sanity"
	case bad(b.BookAgeMs) || b.BookAgeMs > 2000:
		return Reject, "buy_book_age"
	case bad(s.BookAgeMs) || s.BookAgeMs > 2000:
		return Reject, "sell_book_age"
	case bad(b.Price) || b.Price <= 0 || bad(s.Price) || s.Price <= 0:
		return Reject, "price_sanity"
	}
	switch {
	case bad(p.SpreadBps) || math.Abs(p.SpreadBps) > 200:
		return Reject, "price_sanity"
	case bad(p.EdgeBps) || p.EdgeBps < 5.0:
		return Reject, "min_edge"
	case a.OpenTrades >= 4:
		return Reject, "max_open_trades"
	}
	verdict, clipped := Allow, ""
	if bad(p.Notional) {
		return Reject, "max_notional"
	}
	if p.Notional > 10000 {
		q := 10000 / b.Price
		if bad(q) || q <= 0 {
			return Reject, "max_notional"
		}
		if q < p.Qty {
			p.Qty = q
			in.rederive()
			verdict, clipped = Clip, "max_notional"
		}
	}
	pos := b.BasePositionAfter * b.Price
	switch {
	case bad(p.NetQuote) || p.NetQuote < 0.50:
		return Reject, "min_net_profit"
	case bad(b.QuoteBalanceAfter) || b.QuoteBalanceAfter < 0:
		return Reject, "buy_quote_balance"
	case bad(s.BaseBalanceAfter) || s.BaseBalanceAfter < 0:
		return Reject, "sell_base_balance"
	case bad(b.BasePositionAfter) || bad(pos) || pos > 50000:
		return Reject, "max_position"
	case bad(a.BaseShareAfter) || a.BaseShareAfter > 0.30:
		return Reject, "concentration"
	case bad(a.ResidualExposure) || a.ResidualExposure > 2000:
		return Reject, "residual_exposure"
	case bad(p.EdgeBps): // large_edge_warn reads it; it passes otherwise
		return Reject, "large_edge_warn"
	}
	return verdict, clipped
}

var sinkVerdict Verdict

// BenchmarkDefaultRules evaluates the default rule set (≥15 rules) on a plan
// that passes every rule (the common case, and the one that evaluates all of
// them) three ways in one run: rules (this package, as the engine does it),
// exprvm (expr.Run on expr's compiled programs) and handwritten (plain Go).
func BenchmarkDefaultRules(b *testing.B) {
	rs := loadDefault(b)
	if len(rs.rules) < 15 {
		b.Fatalf("default rule set has %d rules, want ≥ 15", len(rs.rules))
	}
	sample := DefaultSample()

	b.Run("rules", func(b *testing.B) {
		e, _ := New(Config{})
		e.Swap(rs)
		in := new(Input)
		*in = sample
		b.ReportAllocs()
		for b.Loop() {
			in.Plan.Qty = sample.Plan.Qty
			d := e.Evaluate(in)
			sinkVerdict = d.Verdict
		}
		if sinkVerdict != Allow {
			b.Fatalf("verdict %v, want allow", sinkVerdict)
		}
	})
	b.Run("exprvm", func(b *testing.B) {
		rules := compileExprVM(b)
		in := new(Input)
		*in = sample
		b.ReportAllocs()
		for b.Loop() {
			in.Plan.Qty = sample.Plan.Qty
			sinkVerdict, _ = runExprVM(rules, in)
		}
		if sinkVerdict != Allow {
			b.Fatalf("verdict %v, want allow", sinkVerdict)
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		in := new(Input)
		*in = sample
		b.ReportAllocs()
		for b.Loop() {
			in.Plan.Qty = sample.Plan.Qty
			sinkVerdict, _ = handwritten(in)
		}
		if sinkVerdict != Allow {
			b.Fatalf("verdict %v, want allow", sinkVerdict)
		}
	})
}
