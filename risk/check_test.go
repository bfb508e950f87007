package risk

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestCheckDefaultRules(t *testing.T) {
	src, err := os.ReadFile("../configs/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(src, "configs/rules.yaml", DefaultSample())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Decision.Verdict != Allow || len(rep.Rules) < 15 || len(rep.Warnings) != 1 ||
		!strings.Contains(rep.Warnings[0], "trading_hours can never fire") {
		t.Fatalf("report: decision %v, %d rules, warnings %q", rep.Decision, len(rep.Rules), rep.Warnings)
	}
	for _, r := range rep.Rules {
		if r.Fired || r.Err != nil {
			t.Errorf("rule %s fired on the healthy sample (%v)", r.Name, r.Err)
		}
	}
	var out bytes.Buffer
	if _, err := rep.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rules default: 22 rules, OK", "max_drawdown_pct", "decision on the sample: allow", "drawdown_freeze"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCheckReportsFiringRules: each rule is evaluated on its own, with the
// values it read; the whole-set decision follows file order; lint warnings
// catch a halt placed after a reject and an unused limit.
func TestCheckReportsFiringRules(t *testing.T) {
	src := []byte(`version: 1
name: lint
limits: {max_age: 100, unused: 3}
rules:
  - name: old_book
    when: buy.book_age_ms > limits.max_age
    action: reject
    message: old
  - name: zero_div
    when: plan.qty / (buy.price - 60000) > 1
    action: warn
    message: div
  - name: loss_halt
    when: account.pnl_today < -100
    action: halt
    message: loss
  - name: big_venue_latency
    when: venue("okx").latency_ms > 40
    action: clip
    clip_to: plan.qty / 2
    message: slow okx
`)
	sample := DefaultSample()
	rep, err := Check(src, "lint.yaml", sample)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]RuleReport{}
	for _, r := range rep.Rules {
		byName[r.Name] = r
	}
	if r := byName["zero_div"]; !errors.Is(r.Err, ErrDivisionByZero) || r.Fired {
		t.Errorf("zero_div: %+v", r)
	}
	if r := byName["big_venue_latency"]; !r.Fired || r.ClipQty != 0.025 || len(r.Values) != 2 ||
		r.Values[0].Path != `venue("okx").latency_ms` || r.Values[0].Value != "48" {
		t.Errorf("big_venue_latency: %+v", r)
	}
	if r := byName["old_book"]; r.Fired || r.Values[0].Value != "40" {
		t.Errorf("old_book: %+v", r)
	}
	// The whole set: zero_div's error rejects before anything else.
	if rep.Decision.Verdict != Reject || rep.Decision.Rule() != "zero_div" {
		t.Errorf("decision %v", rep.Decision)
	}
	w := strings.Join(rep.Warnings, "\n")
	if !strings.Contains(w, "limit unused is not read") || !strings.Contains(w, "halt rule loss_halt comes after reject rule old_book") {
		t.Errorf("warnings %s", w)
	}
	if sample.Plan.Notional != DefaultSample().Plan.Notional {
		t.Error("Check modified the sample")
	}
	var out bytes.Buffer
	rep.WriteTo(&out)
	if !strings.Contains(out.String(), "ERROR (rejects)") || !strings.Contains(out.String(), "FIRES: clip to 0.025") {
		t.Errorf("output:\n%s", out.String())
	}

	if _, err := Check([]byte("version: 1\nrules: [{name: a, when: plan.x > 1, action: reject, message: m}]\n"), "bad.yaml", sample); err == nil ||
		!strings.Contains(err.Error(), "bad.yaml:2:") {
		t.Fatalf("bad file: %v", err)
	}
}
