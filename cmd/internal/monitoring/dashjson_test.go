package monitoring

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The tests read the committed dashboard JSON, not the Go builders: what
// they check is what Grafana loads.

// dashTarget is one query of a committed dashboard.
type dashTarget struct {
	Dashboard string // file name
	Panel     string // panel title ("variable NAME" for a template variable)
	RefID     string
	DSType    string
	DSUID     string
	Expr      string // PromQL
	RawSQL    string // SQL
	Format    string
}

// dashFile is a committed dashboard, decoded generically.
type dashFile struct {
	Name string
	Doc  map[string]any
}

func loadDashboards(t *testing.T) []dashFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, DashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no dashboards in " + DashboardsDir)
	}
	sort.Strings(paths)
	var out []dashFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, dashFile{Name: filepath.Base(p), Doc: doc})
	}
	return out
}

// panels returns every panel, rows' nested panels included.
func (d dashFile) panels() []map[string]any {
	var out []map[string]any
	var walk func([]any)
	walk = func(ps []any) {
		for _, p := range ps {
			m := p.(map[string]any)
			out = append(out, m)
			if sub, ok := m["panels"].([]any); ok {
				walk(sub)
			}
		}
	}
	ps, _ := d.Doc["panels"].([]any)
	walk(ps)
	return out
}

// variables returns the template variables.
func (d dashFile) variables() []map[string]any {
	tpl, _ := d.Doc["templating"].(map[string]any)
	list, _ := tpl["list"].([]any)
	var out []map[string]any
	for _, v := range list {
		out = append(out, v.(map[string]any))
	}
	return out
}

func dsOf(v any) (typ, uid string) {
	m, _ := v.(map[string]any)
	typ, _ = m["type"].(string)
	uid, _ = m["uid"].(string)
	return
}

// targets lists every query of every dashboard, variables included.
func targets(t *testing.T, ds []dashFile) []dashTarget {
	t.Helper()
	var out []dashTarget
	for _, d := range ds {
		for _, p := range d.panels() {
			title, _ := p["title"].(string)
			ts, _ := p["targets"].([]any)
			for _, x := range ts {
				m := x.(map[string]any)
				tg := dashTarget{Dashboard: d.Name, Panel: title}
				tg.RefID, _ = m["refId"].(string)
				tg.DSType, tg.DSUID = dsOf(m["datasource"])
				tg.Expr, _ = m["expr"].(string)
				tg.RawSQL, _ = m["rawSql"].(string)
				tg.Format, _ = m["format"].(string)
				out = append(out, tg)
			}
		}
		for _, v := range d.variables() {
			if v["type"] != "query" {
				continue
			}
			tg := dashTarget{Dashboard: d.Name, Panel: "variable " + v["name"].(string)}
			tg.DSType, tg.DSUID = dsOf(v["datasource"])
			q, _ := v["query"].(string)
			if tg.DSType == PrometheusType {
				tg.Expr = q
			} else {
				tg.RawSQL, tg.Format = q, "table"
			}
			out = append(out, tg)
		}
	}
	return out
}

func (tg dashTarget) String() string {
	return tg.Dashboard + ": " + tg.Panel + " " + tg.RefID
}

// grafanaProm replaces the Grafana variables of a PromQL expression the
// way Grafana does before sending it, for a 1 s scrape interval: a
// multi-value variable at "All" becomes its allValue (.*),
// $__rate_interval max(4 × scrape, interval + scrape).
func grafanaProm(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "5s",
		"$__range", "1m",
		"$venue", ".*",
		"$symbol", ".*",
	).Replace(expr)
}

// grafanaPromSelected is grafanaProm with venues binance and okx and the
// symbol BTC-USDT selected: Grafana joins a multi-value selection into a
// regex alternation.
func grafanaPromSelected(expr string) string {
	return grafanaProm(strings.NewReplacer(
		"$venue", "(binance|okx)",
		"$symbol", "(BTC-USDT)",
	).Replace(expr))
}
