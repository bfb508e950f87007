// Command gen writes arb's generated monitoring files: the Grafana
// dashboards (configs/grafana/dashboards/*.json) and the Prometheus alert
// rules (configs/prometheus/alerts.yml). Run it from the repository root:
//
//	go run ./cmd/internal/monitoring/gen
//
// and commit the result; `go test ./cmd/internal/monitoring` fails while
// the committed files differ from what the code generates.
package main

import (
	"flag"
	"fmt"
	"os"

	"arb/cmd/internal/monitoring"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	flag.Parse()
	if _, err := os.Stat(*root + "/go.mod"); err != nil {
		fmt.Fprintln(os.Stderr, "gen: run from the repository root (or pass -root):", err)
		os.Exit(2)
	}
	if err := monitoring.Write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
