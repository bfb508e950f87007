package monitoring

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Alert is one Prometheus alerting rule. Expr is the condition; Series are
// the expressions it is built from without their thresholds, each a
// substring of Expr: the tests evaluate every one against a Prometheus
// scraping a live arbd (each must return a series, so a renamed metric or
// label cannot silently disable the alert), and promtool unit tests
// (configs/prometheus/alerts_test.yml) check the thresholds.
type Alert struct {
	Name     string
	Expr     string
	Series   []string
	For      string // how long the condition must hold ("0s": at once)
	Severity string // critical pages someone; warning is looked at in hours
	Summary  string
	Detail   string // the annotation "description": what it means, what to do
}

// AlertGroup is the rule group name in alerts.yml.
const AlertGroup = "arb"

// Alerts returns arb's alerting rules.
func Alerts() []Alert {
	return []Alert{
		{
			Name: "ArbdDown", Expr: `up{job="arbd"} == 0`, Series: []string{`up{job="arbd"}`},
			For: "1m", Severity: "critical",
			Summary: "arbd is not answering Prometheus scrapes ({{ $labels.instance }})",
			Detail:  "Nothing arbd reports is current. Check the process and GET /healthz; a halted trader survives a restart (killswitch.json).",
		},
		{
			Name: "ArbBookStale",
			Expr: `max by (venue, symbol) (arb_book_stale) > 0 or max by (venue, symbol) (arb_book_age_seconds) > 30`,
			Series: []string{
				`max by (venue, symbol) (arb_book_stale)`,
				`max by (venue, symbol) (arb_book_age_seconds)`,
			},
			For: "1m", Severity: "warning",
			Summary: "{{ $labels.venue }} {{ $labels.symbol }}: book stale beyond its limit",
			Detail:  "The book has been stale (resyncing or older than the venue's age_max) for over a minute, or has had no event for 30 s: the pair is not traded. Look at the feed's gaps, resyncs and reconnects on the engine dashboard.",
		},
		{
			Name: "ArbTradingHalted", Expr: `max(arb_risk_halted) > 0`, Series: []string{`max(arb_risk_halted)`},
			For: "0s", Severity: "critical",
			Summary: "arb trading is halted (kill switch engaged)",
			Detail:  "A halt rule fired or an operator called POST /api/v1/kill. The reason is in GET /api/v1/status; only POST /api/v1/resume releases it.",
		},
		{
			Name: "ArbResidualExposureHigh", Expr: `sum(abs(arb_residual_exposure_quote)) > 1000`, Series: []string{`sum(abs(arb_residual_exposure_quote))`},
			For: "2m", Severity: "critical",
			Summary: "unhedged residual exposure above 1000 (quote)",
			Detail:  "One-legged fills left inventory that was neither retried nor unwound. Risk rejects new plans above max_residual_exposure (2000 by default); hedge by hand and check the trades in state closed_residual.",
		},
		{
			Name: "ArbLedgerLagGrowing",
			Expr: `max(arb_ledger_lag_events) > 100 and max(deriv(arb_ledger_lag_events[5m])) > 0`,
			Series: []string{
				`max(arb_ledger_lag_events)`,
				`max(deriv(arb_ledger_lag_events[5m]))`,
			},
			For: "5m", Severity: "warning",
			Summary: "the ledger is more than 100 events behind and falling further",
			Detail:  "Fills wait in JetStream and the PnL dashboard is behind. Is PostgreSQL up and reachable from arbd? Nothing is lost: the ledger catches up when the database answers.",
		},
		{
			Name: "ArbJournalUnavailable", Expr: `min(arb_journal_available) == 0`, Series: []string{`min(arb_journal_available)`},
			For: "1m", Severity: "critical",
			Summary: "arbd cannot store events in JetStream: every plan is refused",
			Detail:  "No order is sent whose intent is not durable. /readyz names the cause (NATS down, stream not answering, no room). Trading resumes by itself when the stream answers.",
		},
		{
			Name: "ArbVenueCircuitBroken", Expr: `max by (venue) (arb_venue_circuit_open) > 0`, Series: []string{`max by (venue) (arb_venue_circuit_open)`},
			For: "1m", Severity: "warning",
			Summary: "venue {{ $labels.venue }}: trading circuit open for over a minute",
			Detail:  "Its trading client refuses to send (a ban, a Retry-After, repeated errors): its books are out of detection. /api/v1/status says why and until when.",
		},
		{
			Name:   "ArbDailyLossNearLimit",
			Expr:   `sum(increase(arb_risk_decisions_total{rule="daily_loss_warn",action="warn"}[15m])) > 0`,
			Series: []string{`sum(increase(arb_risk_decisions_total{rule="daily_loss_warn",action="warn"}[15m]))`},
			For:    "0s", Severity: "warning",
			Summary: "the day's loss is near its limit",
			Detail:  "The risk rule daily_loss_warn fired in the last 15 minutes: today's PnL is past daily_loss_warn_share of max_daily_loss (configs/rules.yaml). At the limit daily_loss_halt halts trading.",
		},
		{
			Name: "ArbVenueDown", Expr: `arb_venue_up == 0`, Series: []string{`arb_venue_up`},
			For: "5m", Severity: "warning",
			Summary: "venue {{ $labels.venue }} has not joined for 5 minutes",
			Detail:  "Its instruments endpoint does not answer; arbd retries with backoff (status: state waiting, the error, the next retry). The other venues trade on.",
		},
	}
}

// ruleFile is Prometheus's rule file format.
type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name  string     `yaml:"name"`
	Rules []ruleNode `yaml:"rules"`
}

type ruleNode struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// AlertsYAML renders alerts as a Prometheus rule file.
func AlertsYAML(alerts []Alert) ([]byte, error) {
	f := ruleFile{Groups: []ruleGroup{{Name: AlertGroup}}}
	seen := map[string]bool{}
	for _, a := range alerts {
		if seen[a.Name] {
			return nil, fmt.Errorf("alert %s: defined twice", a.Name)
		}
		seen[a.Name] = true
		if len(a.Series) == 0 {
			return nil, fmt.Errorf("alert %s: no series to test", a.Name)
		}
		for _, s := range a.Series {
			if !strings.Contains(a.Expr, s) {
				return nil, fmt.Errorf("alert %s: series %q is not part of its expression", a.Name, s)
			}
		}
		f.Groups[0].Rules = append(f.Groups[0].Rules, ruleNode{
			Alert:       a.Name,
			Expr:        a.Expr,
			For:         a.For,
			Labels:      map[string]string{"severity": a.Severity},
			Annotations: map[string]string{"summary": a.Summary, "description": a.Detail},
		})
	}
	var b bytes.Buffer
	b.WriteString("# Generated by `go run ./cmd/internal/monitoring/gen` from cmd/internal/monitoring/alerts.go:\n# edit the Go code, not this file. Unit tests: alerts_test.yml (promtool test rules).\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
