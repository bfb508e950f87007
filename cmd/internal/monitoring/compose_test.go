package monitoring

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
)

// There is no Docker engine on the machines that run these tests, so
// compose.yaml is checked structurally: the services and their images,
// that every file it mounts exists, that the mounts land where the
// provisioning and the configs expect them, and that every host name and
// port the configs use is a compose service listening there. What this
// cannot show is an actual `docker compose up`.

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   yaml.Node         `yaml:"depends_on"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

// mount is one volume entry: a named volume or a bind mount of a path in
// the repository.
type mount struct {
	source, target string
	bind, readOnly bool
}

func (s composeService) mounts(t *testing.T) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 {
			t.Errorf("volume %q: want source:target[:ro]", v)
			continue
		}
		m := mount{source: parts[0], target: parts[1], bind: strings.HasPrefix(parts[0], "./")}
		m.readOnly = len(parts) == 3 && parts[2] == "ro"
		out = append(out, m)
	}
	return out
}

// mountedAt returns the repository path bind-mounted at target (or a
// parent of it) in s, with the rest of the path appended.
func (s composeService) mountedAt(t *testing.T, target string) (string, bool) {
	t.Helper()
	for _, m := range s.mounts(t) {
		if m.bind && (target == m.target || strings.HasPrefix(target, m.target+"/")) {
			return filepath.Join(repoRoot, m.source, strings.TrimPrefix(target, m.target)), true
		}
	}
	return "", false
}

func (s composeService) dependsOn() []string {
	var out []string
	switch s.DependsOn.Kind {
	case yaml.SequenceNode:
		for _, n := range s.DependsOn.Content {
			out = append(out, n.Value)
		}
	case yaml.MappingNode:
		for i := 0; i < len(s.DependsOn.Content); i += 2 {
			out = append(out, s.DependsOn.Content[i].Value)
		}
	}
	return out
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return c
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:[A-Za-z0-9._-]+$`)

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"nats", "postgres", "arbd", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("compose.yaml has no %s service", name)
		}
	}
	for name, s := range c.Services {
		if s.Build == nil && (!pinnedImage.MatchString(s.Image) || strings.HasSuffix(s.Image, ":latest")) {
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
		for _, m := range s.mounts(t) {
			if m.bind {
				if _, err := os.Stat(filepath.Join(repoRoot, m.source)); err != nil {
					t.Errorf("%s mounts %s, which is not in the repository: %v", name, m.source, err)
				}
				if !m.readOnly {
					t.Errorf("%s: bind mount %s is writable: configuration is mounted read-only", name, m.source)
				}
			} else if _, ok := c.Volumes[m.source]; !ok {
				t.Errorf("%s: volume %s is not declared", name, m.source)
			}
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %s beyond the host's loopback", name, p)
			}
		}
		for _, d := range s.dependsOn() {
			if _, ok := c.Services[d]; !ok {
				t.Errorf("%s depends on %s, which is not a service", name, d)
			}
		}
		for k, v := range s.Environment {
			if strings.Contains(strings.ToUpper(k), "PASSWORD") && !strings.HasPrefix(v, "${") {
				t.Errorf("%s: %s is written in compose.yaml; secrets come from the environment", name, k)
			}
		}
	}

	// NATS with JetStream, its store on a volume.
	nats := c.Services["nats"]
	cmd := strings.Join(nats.Command, " ")
	if !strings.Contains(cmd, "--jetstream") && !strings.Contains(cmd, "-js") {
		t.Errorf("nats runs without JetStream: %q", cmd)
	}
	if m := regexp.MustCompile(`--store_dir (\S+)`).FindStringSubmatch(cmd); m == nil || !hasVolumeAt(t, nats, m[1]) {
		t.Errorf("nats: the JetStream store dir is not on a volume: %q", cmd)
	}

	// arbd: built from the Dockerfile, its config mounted where its command
	// reads it, the config valid and pointing at the compose services.
	arbd := c.Services["arbd"]
	if arbd.Build == nil || arbd.Build.Context != "." || arbd.Build.Dockerfile != "Dockerfile" {
		t.Errorf("arbd is not built from the repository's Dockerfile: %+v", arbd.Build)
	}
	if len(arbd.Command) != 2 || arbd.Command[0] != "--config" {
		t.Fatalf("arbd command %v: want --config FILE", arbd.Command)
	}
	cfgPath, ok := arbd.mountedAt(t, arbd.Command[1])
	if !ok {
		t.Fatalf("arbd reads %s, which compose.yaml does not mount", arbd.Command[1])
	}
	cfg := composeArbdConfig(t, cfgPath)
	if !hasVolumeAt(t, arbd, cfg.DataDir) {
		t.Errorf("arbd's data_dir %s is not on a volume (the JetStream cursor, kill switch and lock live there)", cfg.DataDir)
	}
	serviceHost(t, c, "arbd nats.url", cfg.NATS.URL, "nats", "4222")
	pgHost := regexp.MustCompile(`host=(\S+) port=(\d+)`).FindStringSubmatch(cfg.Postgres.DSN)
	if pgHost == nil {
		t.Errorf("arbd postgres.dsn %q names no host and port", cfg.Postgres.DSN)
	} else {
		serviceHost(t, c, "arbd postgres.dsn", "tcp://"+pgHost[1]+":"+pgHost[2], "postgres", "5432")
	}
	if pw := "${ARB_PG_PASSWORD"; !strings.HasPrefix(arbd.Environment["PGPASSWORD"], pw) ||
		!strings.HasPrefix(c.Services["postgres"].Environment["POSTGRES_PASSWORD"], pw) {
		t.Errorf("arbd's PGPASSWORD and the ledger owner's POSTGRES_PASSWORD are not both $ARB_PG_PASSWORD")
	}
	if strings.Contains(cfg.Postgres.DSN, "user=") && !strings.Contains(cfg.Postgres.DSN, "user="+c.Services["postgres"].Environment["POSTGRES_USER"]) {
		t.Errorf("arbd connects as another user than the database owner %s", c.Services["postgres"].Environment["POSTGRES_USER"])
	}
	_, httpPort, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil || strings.HasPrefix(cfg.HTTP.Listen, "127.") {
		t.Errorf("arbd http.listen %q is not reachable from the other containers", cfg.HTTP.Listen)
	}
	if !contains(cfg.HTTP.AllowedHosts, "arbd") {
		t.Errorf("arbd's http.allowed_hosts %v lacks \"arbd\": it would refuse Prometheus's scrapes (Host: arbd:%s)", cfg.HTTP.AllowedHosts, httpPort)
	}
	if !contains(arbd.Ports, "127.0.0.1:"+httpPort+":"+httpPort) {
		t.Errorf("arbd's API port %s is not published on the host's loopback: %v", httpPort, arbd.Ports)
	}

	// Prometheus: the shipped configuration, scraping arbd by its service
	// name on the port arbd listens on.
	prom := c.Services["prometheus"]
	pcfgArg := flagValue(prom.Command, "--config.file")
	pcfg, ok := prom.mountedAt(t, pcfgArg)
	if !ok || filepath.Clean(pcfg) != filepath.Clean(filepath.Join(repoRoot, "configs/prometheus/prometheus.yml")) {
		t.Errorf("prometheus reads %s, mounted from %q, not configs/prometheus/prometheus.yml", pcfgArg, pcfg)
	}
	if !hasVolumeAt(t, prom, flagValue(prom.Command, "--storage.tsdb.path")) {
		t.Errorf("prometheus's TSDB is not on a volume")
	}
	pc := loadPromConfig(t)
	for _, sc := range pc.ScrapeConfigs {
		if sc.JobName == "arbd" {
			for _, tg := range sc.StaticConfigs[0].Targets {
				serviceHost(t, c, "prometheus arbd target", "tcp://"+tg, "arbd", httpPort)
			}
		}
	}

	// Grafana: provisioning mounted where Grafana reads it, the dashboards
	// where the dashboard provider looks, the datasources' hosts and
	// variables resolvable.
	gr := c.Services["grafana"]
	prov, ok := gr.mountedAt(t, "/etc/grafana/provisioning")
	if !ok || filepath.Clean(prov) != filepath.Clean(filepath.Join(repoRoot, "configs/grafana/provisioning")) {
		t.Errorf("grafana: /etc/grafana/provisioning is not configs/grafana/provisioning (%q)", prov)
	}
	var dp struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(repoRoot, "configs/grafana/provisioning/dashboards/arb.yaml"), &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" {
		t.Fatalf("dashboard provisioning: want one file provider: %+v", dp)
	}
	dash, ok := gr.mountedAt(t, dp.Providers[0].Options.Path)
	if !ok || filepath.Clean(dash) != filepath.Clean(filepath.Join(repoRoot, DashboardsDir)) {
		t.Errorf("grafana: the provider's path %s is not configs/grafana/dashboards (%q)", dp.Providers[0].Options.Path, dash)
	}
	if home := gr.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if p, ok := gr.mountedAt(t, home); !ok || !fileExists(p) {
			t.Errorf("grafana's home dashboard %s is not a mounted dashboard", home)
		}
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "configs/grafana/provisioning/datasources/arb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values []string // the file without its comments
	for _, line := range strings.Split(string(raw), "\n") {
		values = append(values, strings.SplitN(line, "#", 2)[0])
	}
	for _, v := range regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(strings.Join(values, "\n"), -1) {
		if _, ok := gr.Environment[v[1]]; !ok {
			t.Errorf("the datasources use $%s, which grafana's environment does not set", v[1])
		}
	}
	for _, d := range loadDatasources(t) {
		switch d.Type {
		case PrometheusType:
			serviceHost(t, c, "datasource "+d.Name, d.URL, "prometheus", "9090")
		case PostgresType:
			serviceHost(t, c, "datasource "+d.Name, "tcp://"+d.URL, "postgres", "5432")
		}
	}
	pg := c.Services["postgres"]
	if gr.Environment["GRAFANA_PG_USER"] != pg.Environment["GRAFANA_PG_USER"] || gr.Environment["ARB_PG_DB"] != pg.Environment["POSTGRES_DB"] {
		t.Errorf("grafana's ledger user or database differ from what postgres creates")
	}
	if p, ok := pg.mountedAt(t, "/docker-entrypoint-initdb.d/10-grafana-reader.sh"); !ok || !fileExists(p) {
		t.Errorf("postgres does not run configs/postgres/initdb/10-grafana-reader.sh at initialization")
	}
}

// composeArbdConfig validates arbd's compose config as arbd would, with
// the rules file the image carries (Dockerfile) read from the repository.
func composeArbdConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^COPY configs/rules.yaml (\S+)$`).FindSubmatch(df)
	if m == nil {
		t.Fatal("the Dockerfile does not copy configs/rules.yaml into the image")
	}
	imageRules := string(m[1])
	if !strings.Contains(string(b), "rules_file: "+imageRules+"\n") {
		t.Fatalf("%s: risk.rules_file is not %s, where the image carries the rules", path, imageRules)
	}
	abs, err := filepath.Abs(filepath.Join(repoRoot, "configs/rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	local := strings.Replace(string(b), "rules_file: "+imageRules, "rules_file: "+abs, 1)
	cfg, err := config.Parse(path, []byte(local), wire.Known())
	if err != nil {
		t.Fatalf("arbd would refuse its compose config:\n%v", err)
	}
	// Apart from where things are (data_dir, http, nats, postgres, the
	// rules file), the compose config is the embedded default: it cannot
	// drift from what the daemon's own tests run.
	var def, got map[string]any
	if err := yaml.Unmarshal(config.Default(), &def); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]any{def, got} {
		for _, k := range []string{"data_dir", "http", "nats", "postgres"} {
			delete(m, k)
		}
		delete(m["risk"].(map[string]any), "rules_file")
	}
	for k := range def {
		if !reflect.DeepEqual(def[k], got[k]) {
			t.Errorf("%s: %s differs from the embedded default's (cmd/internal/config/default.yaml)", path, k)
		}
	}
	for k := range got {
		if _, ok := def[k]; !ok {
			t.Errorf("%s: %s is not in the embedded default", path, k)
		}
	}
	return cfg
}

// serviceHost checks that rawURL's host is service and its port port.
func serviceHost(t *testing.T, c composeFile, what, rawURL, service, port string) {
	t.Helper()
	hostPort := rawURL
	if i := strings.Index(hostPort, "://"); i >= 0 {
		hostPort = hostPort[i+3:]
	}
	hostPort = strings.SplitN(hostPort, "/", 2)[0]
	host, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Errorf("%s: %q: %v", what, rawURL, err)
		return
	}
	if _, ok := c.Services[host]; !ok || host != service || p != port {
		t.Errorf("%s: %q, want the %s service on port %s", what, rawURL, service, port)
	}
}

func hasVolumeAt(t *testing.T, s composeService, path string) bool {
	t.Helper()
	for _, m := range s.mounts(t) {
		if !m.bind && (path == m.target || strings.HasPrefix(path, m.target+"/")) {
			return true
		}
	}
	return false
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if strings.HasPrefix(a, name+"=") {
			return strings.TrimPrefix(a, name+"=")
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
