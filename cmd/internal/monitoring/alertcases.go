package monitoring

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"

	"gopkg.in/yaml.v3"
)

// AlertCase is a promtool unit test of one alert (rendered into
// configs/prometheus/alerts_test.yml and run by `promtool test rules`):
// input series sampled at Interval, and at each check's time the alerts
// expected to fire — none means the alert must not fire then (below its
// threshold, or not for long enough yet).
type AlertCase struct {
	Alert    string
	Name     string
	Interval string
	Series   []InputSeries
	Checks   []AlertCheck
}

// InputSeries is one series in promtool's expanding notation
// ("1 0x10": one 1 then ten 0s; "0+10x60": 0, 10, 20, ...).
type InputSeries struct{ Series, Values string }

// AlertCheck expects, at At, one firing alert per label set in Firing
// (the rule's severity label is added).
type AlertCheck struct {
	At     string
	Firing []map[string]string
}

// AlertCases are the unit tests of Alerts(): each alert has a case where
// it fires and a check where it must not.
func AlertCases() []AlertCase {
	arbd := map[string]string{"job": "arbd", "instance": "arbd:7420"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	none := []map[string]string(nil)
	return []AlertCase{
		{Alert: "ArbdDown", Name: "scrapes fail for over a minute", Interval: "15s",
			Series: []InputSeries{{`up{job="arbd",instance="arbd:7420"}`, "1 1 0x10"}},
			Checks: []AlertCheck{{"15s", none}, {"60s", none}, {"2m", []map[string]string{arbd}}}},

		{Alert: "ArbBookStale", Name: "a stale book and a frozen one; a fresh book stays quiet", Interval: "15s",
			Series: []InputSeries{
				{`arb_book_stale{job="arbd",instance="arbd:7420",venue="okx",symbol="BTC-USDT"}`, "0 0 1x12"},
				{`arb_book_age_seconds{job="arbd",instance="arbd:7420",venue="okx",symbol="BTC-USDT"}`, "0.1x14"},
				{`arb_book_stale{job="arbd",instance="arbd:7420",venue="binance",symbol="ETH-USDT"}`, "0x14"},
				{`arb_book_age_seconds{job="arbd",instance="arbd:7420",venue="binance",symbol="ETH-USDT"}`, "1+15x14"},
				{`arb_book_stale{job="arbd",instance="arbd:7420",venue="bybit",symbol="SOL-USDT"}`, "0x14"},
				{`arb_book_age_seconds{job="arbd",instance="arbd:7420",venue="bybit",symbol="SOL-USDT"}`, "0.5x14"},
			},
			Checks: []AlertCheck{
				{"15s", none},
				{"60s", none}, // stale and frozen, but not for a minute yet
				{"2m", []map[string]string{{"venue": "okx", "symbol": "BTC-USDT"}, {"venue": "binance", "symbol": "ETH-USDT"}}},
			}},

		{Alert: "ArbTradingHalted", Name: "the kill switch engages", Interval: "15s",
			Series: []InputSeries{{`arb_risk_halted{job="arbd",instance="arbd:7420"}`, "0 0 1 1 0"}},
			Checks: []AlertCheck{{"15s", none}, {"30s", []map[string]string{{}}}, {"60s", none}}},

		{Alert: "ArbResidualExposureHigh", Name: "long and short residuals add up in absolute value", Interval: "15s",
			Series: []InputSeries{
				{`arb_residual_exposure_quote{job="arbd",instance="arbd:7420",venue="okx"}`, "0 0 0 400x12"},
				{`arb_residual_exposure_quote{job="arbd",instance="arbd:7420",venue="binance"}`, "-700x15"},
			},
			Checks: []AlertCheck{{"30s", none}, {"2m", none}, {"3m", []map[string]string{{}}}}},

		{Alert: "ArbLedgerLagGrowing", Name: "lag over 100 and growing for 5 minutes", Interval: "15s",
			Series: []InputSeries{{`arb_ledger_lag_events{job="arbd",instance="arbd:7420"}`, "0+10x60"}},
			Checks: []AlertCheck{{"2m", none}, {"5m", none}, {"10m", []map[string]string{{}}}}},
		{Alert: "ArbLedgerLagGrowing", Name: "a large lag that is not growing is left alone", Interval: "15s",
			Series: []InputSeries{{`arb_ledger_lag_events{job="arbd",instance="arbd:7420"}`, "500x60"}},
			Checks: []AlertCheck{{"10m", none}}},

		{Alert: "ArbJournalUnavailable", Name: "JetStream cannot store events for a minute", Interval: "15s",
			Series: []InputSeries{{`arb_journal_available{job="arbd",instance="arbd:7420"}`, "1 1 0x10"}},
			Checks: []AlertCheck{{"15s", none}, {"60s", none}, {"2m", []map[string]string{{}}}}},

		{Alert: "ArbVenueCircuitBroken", Name: "one venue's circuit open for over a minute", Interval: "15s",
			Series: []InputSeries{
				{`arb_venue_circuit_open{job="arbd",instance="arbd:7420",venue="binance"}`, "0 0 1x10"},
				{`arb_venue_circuit_open{job="arbd",instance="arbd:7420",venue="okx"}`, "0x12"},
			},
			Checks: []AlertCheck{{"15s", none}, {"60s", none}, {"2m", []map[string]string{{"venue": "binance"}}}}},

		{Alert: "ArbDailyLossNearLimit", Name: "daily_loss_warn counted: fires for 15 minutes after the last warning", Interval: "1m",
			Series: []InputSeries{{`arb_risk_decisions_total{job="arbd",instance="arbd:7420",rule="daily_loss_warn",action="warn"}`, "0x10 1 1 2x40"}},
			Checks: []AlertCheck{{"5m", none}, {"11m", []map[string]string{{}}}, {"20m", []map[string]string{{}}}, {"30m", none}}},
		{Alert: "ArbDailyLossNearLimit", Name: "other rules' warnings do not count", Interval: "1m",
			Series: []InputSeries{
				{`arb_risk_decisions_total{job="arbd",instance="arbd:7420",rule="large_edge_warn",action="warn"}`, "0+1x30"},
				{`arb_risk_decisions_total{job="arbd",instance="arbd:7420",rule="daily_loss_warn",action="warn"}`, "0x30"},
			},
			Checks: []AlertCheck{{"20m", none}}},

		{Alert: "ArbVenueDown", Name: "one venue waiting for 5 minutes, the others up", Interval: "15s",
			Series: []InputSeries{
				{`arb_venue_up{job="arbd",instance="arbd:7420",venue="okx"}`, "1 0x40"},
				{`arb_venue_up{job="arbd",instance="arbd:7420",venue="binance"}`, "1x40"},
			},
			Checks: []AlertCheck{{"3m", none}, {"6m", []map[string]string{with(arbd, "venue", "okx")}}}},
	}
}

// promtool's unit test file format.
type ruleTestFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval string         `yaml:"evaluation_interval"`
	Tests              []ruleTestCase `yaml:"tests"`
}

type ruleTestCase struct {
	Name          string          `yaml:"name"`
	Interval      string          `yaml:"interval"`
	InputSeries   []inputSeries   `yaml:"input_series"`
	AlertRuleTest []alertRuleTest `yaml:"alert_rule_test"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// labelRef is the only template form the annotations use.
var labelRef = regexp.MustCompile(`\{\{ \$labels\.([a-z_]+) \}\}`)

// expand renders an annotation for an alert's labels the way Prometheus's
// template would.
func expand(s string, labels map[string]string) string {
	return labelRef.ReplaceAllStringFunc(s, func(m string) string {
		return labels[labelRef.FindStringSubmatch(m)[1]]
	})
}

// AlertTestsYAML renders cases as a promtool unit test file for the rule
// file alertsFile (a path relative to the test file).
func AlertTestsYAML(alerts []Alert, cases []AlertCase, alertsFile string) ([]byte, error) {
	byName := map[string]Alert{}
	for _, a := range alerts {
		byName[a.Name] = a
	}
	f := ruleTestFile{RuleFiles: []string{alertsFile}, EvaluationInterval: "15s"}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, c := range cases {
		a, ok := byName[c.Alert]
		if !ok {
			return nil, fmt.Errorf("alert case %q: no alert %s", c.Name, c.Alert)
		}
		tc := ruleTestCase{Name: c.Alert + ": " + c.Name, Interval: c.Interval}
		for _, s := range c.Series {
			tc.InputSeries = append(tc.InputSeries, inputSeries{s.Series, s.Values})
		}
		for _, ch := range c.Checks {
			at := alertRuleTest{EvalTime: ch.At, Alertname: c.Alert, ExpAlerts: []expAlert{}}
			if len(ch.Firing) == 0 {
				quiet[c.Alert] = true
			} else {
				fires[c.Alert] = true
			}
			for _, l := range ch.Firing {
				labels := map[string]string{"severity": a.Severity}
				for k, v := range l {
					labels[k] = v
				}
				at.ExpAlerts = append(at.ExpAlerts, expAlert{
					ExpLabels:      labels,
					ExpAnnotations: map[string]string{"summary": expand(a.Summary, labels), "description": expand(a.Detail, labels)},
				})
			}
			tc.AlertRuleTest = append(tc.AlertRuleTest, at)
		}
		f.Tests = append(f.Tests, tc)
	}
	var missing []string
	for _, a := range alerts {
		if !fires[a.Name] || !quiet[a.Name] {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("alerts without a case that fires and a check that must not: %v", missing)
	}
	var b bytes.Buffer
	b.WriteString("# Generated by `go run ./cmd/internal/monitoring/gen` from cmd/internal/monitoring/alertcases.go:\n# promtool unit tests of alerts.yml, one case or more per alert. Run: promtool test rules alerts_test.yml\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
