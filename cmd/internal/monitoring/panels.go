package monitoring

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Small constructors over the SDK's builders, so a dashboard reads as a
// list of panels: title, what it means, its unit and its queries.

type query = cog.Builder[variants.Dataquery]

// refIDs names a panel's queries A, B, C... in order.
func refID(i int) string { return string(rune('A' + i)) }

// promQuery is a range query on the Prometheus datasource; legend is
// Grafana's legend template ({{venue}}).
func promQuery(i int, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(promDS()).
		RefId(refID(i)).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

// prom is one PromQL target with its legend, for promPanel helpers.
type prom struct{ expr, legend string }

func promTargets(ps []prom) []query {
	out := make([]query, len(ps))
	for i, p := range ps {
		out[i] = promQuery(i, p.expr, p.legend)
	}
	return out
}

func sqlTargets(format SQLFormat, sqls []string) []query {
	out := make([]query, len(sqls))
	for i, s := range sqls {
		out[i] = sql(format, s).RefId(refID(i))
	}
	return out
}

// timeSeries is a line chart.
func timeSeries(ds common.DataSourceRef, title, desc, unit string, w, h uint32, targets []query) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(desc).
		Datasource(ds).
		Targets(targets).
		Unit(unit).
		Span(w).
		Height(h).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true))
}

// bigValue is a stat panel showing the last value of each series or row.
func bigValue(ds common.DataSourceRef, title, desc, unit string, w, h uint32, targets []query) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(desc).
		Datasource(ds).
		Targets(targets).
		Unit(unit).
		Span(w).
		Height(h).
		GraphMode(common.BigValueGraphModeNone).
		ColorMode(common.BigValueColorModeValue).
		TextMode(common.BigValueTextModeValueAndName).
		ReduceOptions(common.NewReduceDataOptionsBuilder().
			Calcs([]string{"lastNotNull"}).
			Values(false))
}

// rowsValue is a stat panel showing one value per row of a table query,
// named by the row's nameField column.
func rowsValue(title, desc, unit, nameField string, w, h uint32, sqlText string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(desc).
		Datasource(ledgerDS()).
		Targets(sqlTargets(SQLTable, []string{sqlText})).
		Unit(unit).
		Span(w).
		Height(h).
		DisplayName("${__data.fields." + nameField + "}").
		GraphMode(common.BigValueGraphModeNone).
		ColorMode(common.BigValueColorModeValue).
		TextMode(common.BigValueTextModeValueAndName).
		ReduceOptions(common.NewReduceDataOptionsBuilder().
			Calcs([]string{"lastNotNull"}).
			Values(true))
}

// tableOf is a table panel.
func tableOf(ds common.DataSourceRef, title, desc string, w, h uint32, targets []query) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(desc).
		Datasource(ds).
		Targets(targets).
		Span(w).
		Height(h).
		ShowHeader(true).
		// The SDK leaves the footer's reducer null, which the schema (and
		// its own strict decoder) refuses: name one, footer hidden.
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
}

// steps are thresholds: base color, then value → color in ascending order.
func steps(base string, more ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Color: base}}
	for i := 0; i+1 < len(more); i += 2 {
		v := toFloat(more[i])
		s = append(s, dashboard.Threshold{Value: &v, Color: more[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	panic("monitoring: threshold value must be int or float64")
}

// valueText maps exact values of a state gauge to words and colors
// ("0": {"ok", "green"}, "1": {"HALTED", "red"}).
func valueText(pairs ...string) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i := 0; i+2 < len(pairs); i += 3 {
		text, color, idx := pairs[i+1], pairs[i+2], int32(i/3)
		opts[pairs[i]] = dashboard.ValueMappingResult{Text: &text, Color: &color, Index: &idx}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}
