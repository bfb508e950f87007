package monitoring

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"gopkg.in/yaml.v3"
)

// Grafana publishes its dashboard schema (the CUE "kind" behind
// grafana-foundation-sdk, also rendered as JSON Schema in the SDK's
// repository). Neither the Go module nor the npm packages carry that JSON
// Schema, and nothing may be downloaded here; the Go SDK's types are
// generated from the same schema, and their strict decoders refuse what
// the schema refuses: unknown fields, wrong types, missing required fields,
// panel options and field config of each panel type, each datasource's
// query model. TestDashboardSchema decodes every committed dashboard
// strictly and validates it.

var registerOnce sync.Once

func registerSDK() {
	registerOnce.Do(func() {
		plugins.RegisterDefaultPlugins()
		cog.NewRuntime().RegisterDataqueryVariant(SQLQueryVariant())
	})
}

func TestDashboardSchema(t *testing.T) {
	registerSDK()
	for _, d := range loadDashboards(t) {
		b, err := os.ReadFile(filepath.Join(repoRoot, DashboardsDir, d.Name))
		if err != nil {
			t.Fatal(err)
		}
		var dash dashboard.Dashboard
		if err := strictErr(dash.UnmarshalJSONStrict(b)); err != nil {
			t.Errorf("%s does not follow Grafana's dashboard schema: %v", d.Name, err)
			continue
		}
		if err := dash.Validate(); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
		if dash.Uid == nil || *dash.Uid == "" || dash.Title == nil {
			t.Errorf("%s: no uid or title", d.Name)
		}
		// Every panel has a unique id and a place on the grid.
		ids := map[float64]string{}
		for _, p := range d.panels() {
			id, _ := p["id"].(float64)
			title, _ := p["title"].(string)
			if id == 0 {
				t.Errorf("%s: panel %q has no id", d.Name, title)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("%s: panels %q and %q share id %v", d.Name, prev, title, id)
			}
			ids[id] = title
			if _, ok := p["gridPos"].(map[string]any); !ok {
				t.Errorf("%s: panel %q has no gridPos", d.Name, title)
			}
		}
	}
}

// TestDashboardSchemaStrict shows that the strict decoding catches what
// the schema forbids, so TestDashboardSchema can fail.
func TestDashboardSchemaStrict(t *testing.T) {
	registerSDK()
	d := loadDashboards(t)[0]
	for name, mutate := range map[string]func(map[string]any){
		"unknown top-level field": func(m map[string]any) { m["refresh_rate"] = "5s" },
		"refresh of wrong type":   func(m map[string]any) { m["refresh"] = 5 },
		"unknown panel field": func(m map[string]any) {
			m["panels"].([]any)[1].(map[string]any)["colour"] = "red"
		},
		"unknown stat option": func(m map[string]any) {
			m["panels"].([]any)[1].(map[string]any)["options"].(map[string]any)["graphStyle"] = "area"
		},
		"unknown query field": func(m map[string]any) {
			m["panels"].([]any)[1].(map[string]any)["targets"].([]any)[0].(map[string]any)["expression"] = "up"
		},
	} {
		b, _ := json.Marshal(d.Doc)
		var m map[string]any
		json.Unmarshal(b, &m)
		mutate(m)
		b, _ = json.Marshal(m)
		var dash dashboard.Dashboard
		if err := strictErr(dash.UnmarshalJSONStrict(b)); err == nil {
			t.Errorf("%s: the strict decoder accepted it", name)
		}
	}
}

// strictErr is the strict decoder's error, nil for an empty
// cog.BuildErrors (some of the SDK's decoders return an empty list rather
// than nil when nothing is wrong).
func strictErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// provisionedDatasource is an entry of the datasource provisioning file.
type provisionedDatasource struct {
	Name string `yaml:"name"`
	UID  string `yaml:"uid"`
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
}

func loadDatasources(t *testing.T) map[string]provisionedDatasource {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(repoRoot, "configs/grafana/provisioning/datasources/*.yaml"))
	if len(paths) == 0 {
		t.Fatal("no datasource provisioning files")
	}
	out := map[string]provisionedDatasource{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			APIVersion  int                     `yaml:"apiVersion"`
			Datasources []provisionedDatasource `yaml:"datasources"`
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if f.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", p, f.APIVersion)
		}
		for _, d := range f.Datasources {
			if _, dup := out[d.UID]; dup || d.UID == "" {
				t.Errorf("%s: datasource %q: uid %q missing or used twice", p, d.Name, d.UID)
			}
			out[d.UID] = d
		}
	}
	return out
}

// TestDatasourceReferences: every panel, query and template variable of
// every dashboard names a provisioned datasource by uid, with its type.
func TestDatasourceReferences(t *testing.T) {
	provisioned := loadDatasources(t)
	for uid, typ := range map[string]string{PrometheusUID: PrometheusType, LedgerUID: PostgresType} {
		if d, ok := provisioned[uid]; !ok || d.Type != typ {
			t.Errorf("datasource %s (%s) is not provisioned as such: %+v", uid, typ, d)
		}
	}
	check := func(where string, ref any) {
		typ, uid := dsOf(ref)
		d, ok := provisioned[uid]
		switch {
		case ref == nil:
			t.Errorf("%s: no datasource", where)
		case !ok:
			t.Errorf("%s: datasource uid %q is not provisioned", where, uid)
		case d.Type != typ:
			t.Errorf("%s: datasource %q has type %q, provisioned as %q", where, uid, typ, d.Type)
		}
	}
	n := 0
	for _, d := range loadDashboards(t) {
		for _, p := range d.panels() {
			title, _ := p["title"].(string)
			if p["type"] == "row" {
				continue
			}
			check(d.Name+": panel "+title, p["datasource"])
			pt, _ := dsOf(p["datasource"])
			ts, _ := p["targets"].([]any)
			if len(ts) == 0 {
				t.Errorf("%s: panel %q has no query", d.Name, title)
			}
			for _, x := range ts {
				m := x.(map[string]any)
				check(d.Name+": panel "+title+" query "+m["refId"].(string), m["datasource"])
				if qt, _ := dsOf(m["datasource"]); qt != pt {
					// Mixed panels would need Grafana's -- Mixed -- datasource.
					t.Errorf("%s: panel %q: query datasource %s differs from the panel's %s", d.Name, title, qt, pt)
				}
				n++
			}
		}
		for _, v := range d.variables() {
			if v["type"] == "query" {
				check(d.Name+": variable "+v["name"].(string), v["datasource"])
				n++
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d datasource references checked", n)
	}
}
