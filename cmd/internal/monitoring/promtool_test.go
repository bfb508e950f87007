package monitoring

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func promtool(t *testing.T, dir string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, "promtool"), args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var promDir = filepath.Join(repoRoot, "configs/prometheus")

// TestPromtoolCheckConfig: the shipped scrape configuration (and the rule
// files it names) pass promtool check config.
func TestPromtoolCheckConfig(t *testing.T) {
	out := promtool(t, promDir, nil, "check", "config", "prometheus.yml")
	if !strings.Contains(out, "1 rule files found") {
		t.Errorf("promtool did not find the rule file:\n%s", out)
	}
}

// TestPromtoolCheckRules: alerts.yml passes promtool check rules, with
// every alert of Alerts().
func TestPromtoolCheckRules(t *testing.T) {
	out := promtool(t, promDir, nil, "check", "rules", "alerts.yml")
	if want := "SUCCESS: " + itoa(len(Alerts())) + " rules found"; !strings.Contains(out, want) {
		t.Errorf("want %q:\n%s", want, out)
	}
}

// TestPromtoolTestRules runs the alerts' unit tests (alerts_test.yml):
// every alert fires on its case and stays quiet below its threshold or
// before its duration.
func TestPromtoolTestRules(t *testing.T) {
	out := promtool(t, promDir, nil, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
}

// TestPromtoolTestRulesCatchesThresholds makes sure the unit tests can
// fail: with a threshold or a duration changed in alerts.yml, promtool
// test rules must fail for each changed alert.
func TestPromtoolTestRulesCatchesThresholds(t *testing.T) {
	bin := needTool(t, "promtool")
	for _, a := range Alerts() {
		t.Run(a.Name, func(t *testing.T) {
			mutated := make([]Alert, 0, len(Alerts()))
			for _, b := range Alerts() {
				if b.Name == a.Name {
					b = mutate(t, b)
				}
				mutated = append(mutated, b)
			}
			dir := t.TempDir()
			rules, err := AlertsYAML(mutated)
			if err != nil {
				t.Fatal(err)
			}
			tests, err := AlertTestsYAML(Alerts(), AlertCases(), "alerts.yml")
			if err != nil {
				t.Fatal(err)
			}
			writeFileT(t, filepath.Join(dir, "alerts.yml"), rules)
			writeFileT(t, filepath.Join(dir, "alerts_test.yml"), tests)
			cmd := exec.Command(bin, "test", "rules", "alerts_test.yml")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("promtool test rules passed with %s changed to %q:\n%s", a.Name, mutate(t, a).Expr, out)
			}
		})
	}
}

// mutate moves an alert's threshold (or, for a condition without a
// numeric threshold, its duration) so that its unit tests must fail.
func mutate(t *testing.T, a Alert) Alert {
	a.Expr = mutatedExpr(t, a)
	if a.Expr == "" {
		a.Expr = a.Series[0] + " < -1" // never true: the case that fires must fail
	}
	return a
}

func mutatedExpr(t *testing.T, a Alert) string {
	for _, r := range [][2]string{{"> 1000", "> 100000"}, {"> 100 and", "> 100000 and"}, {"> 30", "> 3000"}, {"== 0", "== 2"}, {"> 0", "> 1"}} {
		if strings.Contains(a.Expr, r[0]) {
			return strings.Replace(a.Expr, r[0], r[1], 1)
		}
	}
	return ""
}

// TestPromtoolCheckMetrics runs promtool check metrics on a running arbd's
// /metrics (naming, units, help texts, counter suffixes).
func TestPromtoolCheckMetrics(t *testing.T) {
	needTool(t, "promtool")
	a := startArbd(t, true) // trading: the execution families carry observations too
	code, body, err := httpGet("http://" + a.addr + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	if !bytes.Contains(body, []byte("# TYPE arb_")) {
		t.Fatalf("no arb_ metrics in /metrics")
	}
	out := promtool(t, ".", body, "check", "metrics")
	if strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics reported:\n%s", out)
	}
}
