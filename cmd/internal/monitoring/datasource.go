package monitoring

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// The provisioned datasources (configs/grafana/provisioning/datasources):
// every panel, query and template variable names one of them by uid, so a
// dashboard works the moment Grafana starts, with no manual selection.
const (
	// PrometheusUID is the Prometheus datasource scraping arbd (the engine).
	PrometheusUID = "arb-prometheus"
	// PrometheusType is the Prometheus datasource plugin id.
	PrometheusType = "prometheus"
	// LedgerUID is the PostgreSQL datasource holding the ledger (PnL).
	LedgerUID = "arb-ledger"
	// PostgresType is the PostgreSQL datasource plugin id (Grafana 10.2+;
	// older versions called it "postgres").
	PostgresType = "grafana-postgresql-datasource"
)

// promDS and ledgerDS are the datasource references panels carry.
func promDS() common.DataSourceRef   { return dsRef(PrometheusType, PrometheusUID) }
func ledgerDS() common.DataSourceRef { return dsRef(PostgresType, LedgerUID) }

func dsRef(typ, uid string) common.DataSourceRef {
	return common.DataSourceRef{Type: &typ, Uid: &uid}
}
