package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// SQLFormat is how Grafana's SQL datasources shape a result: a table, or
// time series (a "time" column, an optional "metric" column naming the
// series, and value columns).
type SQLFormat string

// The formats of Grafana's SQL query model.
const (
	SQLTable      SQLFormat = "table"
	SQLTimeSeries SQLFormat = "time_series"
)

// SQLQuery is a query of Grafana's PostgreSQL datasource in code mode, as
// the datasource stores it in a dashboard. The foundation SDK (v0.0.22)
// has no PostgreSQL query type, so this one follows its custom query type
// recipe (docs/How-To/custom-query-type.md).
type SQLQuery struct {
	RefId      string                `json:"refId"`
	Hide       *bool                 `json:"hide,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	// EditorMode "code": the SQL is edited as text, not with the builder.
	EditorMode string    `json:"editorMode"`
	Format     SQLFormat `json:"format"`
	RawQuery   bool      `json:"rawQuery"`
	RawSQL     string    `json:"rawSql"`
}

// ImplementsDataqueryVariant marks SQLQuery as a dashboard query.
func (q SQLQuery) ImplementsDataqueryVariant() {}

// DataqueryType names the datasource plugin the query belongs to.
func (q SQLQuery) DataqueryType() string { return PostgresType }

// Validate refuses a query without SQL or with an unknown format.
func (q SQLQuery) Validate() error {
	if q.RawSQL == "" {
		return errors.New("sql query: no rawSql")
	}
	if q.Format != SQLTable && q.Format != SQLTimeSeries {
		return errors.New("sql query: format must be table or time_series")
	}
	return nil
}

// Equals compares two queries field by field.
func (q SQLQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(SQLQuery)
	if !ok {
		return false
	}
	a, _ := json.Marshal(q)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// sqlQueryBuilder builds an SQLQuery for a panel's targets.
type sqlQueryBuilder struct{ q SQLQuery }

var _ cog.Builder[variants.Dataquery] = (*sqlQueryBuilder)(nil)

// sql returns a query on the ledger datasource.
func sql(format SQLFormat, rawSQL string) *sqlQueryBuilder {
	ds := ledgerDS()
	return &sqlQueryBuilder{SQLQuery{Datasource: &ds, EditorMode: "code", Format: format, RawQuery: true, RawSQL: rawSQL}}
}

// RefId sets the query's reference id within its panel.
func (b *sqlQueryBuilder) RefId(id string) *sqlQueryBuilder { b.q.RefId = id; return b }

// Build implements cog.Builder.
func (b *sqlQueryBuilder) Build() (variants.Dataquery, error) {
	if err := b.q.Validate(); err != nil {
		return nil, err
	}
	return b.q, nil
}

// SQLQueryVariant lets the SDK's strict unmarshaler decode SQLQuery targets
// (register it with cog.NewRuntime().RegisterDataqueryVariant).
func SQLQueryVariant() variants.DataqueryConfig {
	decode := func(strict bool) func([]byte) (variants.Dataquery, error) {
		return func(raw []byte) (variants.Dataquery, error) {
			var q SQLQuery
			dec := json.NewDecoder(bytes.NewReader(raw))
			if strict {
				dec.DisallowUnknownFields()
			}
			if err := dec.Decode(&q); err != nil {
				return nil, err
			}
			return q, q.Validate()
		}
	}
	return variants.DataqueryConfig{
		Identifier:                 PostgresType,
		DataqueryUnmarshaler:       decode(false),
		StrictDataqueryUnmarshaler: decode(true),
	}
}
