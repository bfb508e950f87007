package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Generated file paths, relative to the repository root.
const (
	DashboardsDir = "configs/grafana/dashboards"
	AlertsFile    = "configs/prometheus/alerts.yml"
	AlertTests    = "configs/prometheus/alerts_test.yml"
)

// Dashboards returns the dashboards by file name (under DashboardsDir).
func Dashboards() map[string]*dashboard.DashboardBuilder {
	return map[string]*dashboard.DashboardBuilder{
		"engine.json": Engine(),
		"pnl.json":    PnL(),
	}
}

// Files renders every generated file, by path relative to the repository
// root.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, b := range Dashboards() {
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		numberPanels(&d)
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		j, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		out[filepath.ToSlash(filepath.Join(DashboardsDir, name))] = append(j, '\n')
	}
	y, err := AlertsYAML(Alerts())
	if err != nil {
		return nil, err
	}
	out[AlertsFile] = y
	ty, err := AlertTestsYAML(Alerts(), AlertCases(), "alerts.yml")
	if err != nil {
		return nil, err
	}
	out[AlertTests] = ty
	return out, nil
}

// Write writes every generated file under root (the repository root).
func Write(root string) error {
	files, err := Files()
	if err != nil {
		return err
	}
	for rel, b := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// numberPanels gives every panel and row a unique id in layout order
// (Grafana keys panel links, edits and repeats by id).
func numberPanels(d *dashboard.Dashboard) {
	var n uint32
	next := func() uint32 { n++; return n }
	for i := range d.Panels {
		switch p := d.Panels[i]; {
		case p.Panel != nil:
			id := next()
			p.Panel.Id = &id
		case p.RowPanel != nil:
			p.RowPanel.Id = next()
			for j := range p.RowPanel.Panels {
				id := next()
				p.RowPanel.Panels[j].Id = &id
			}
		}
	}
}
