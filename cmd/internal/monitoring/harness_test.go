package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"arb/cmd/internal/config"
)

// repoRoot is the repository root, from this package's directory.
const repoRoot = "../../.."

// needTool returns the path of an external program the tests run
// (prometheus, promtool). Missing, it skips the test, except under
// CI=true, where .ci/run installs it and its absence is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (CI installs Debian's prometheus package): %v", name, err)
		}
		t.Skipf("%s not installed (apt-get install prometheus)", name)
	}
	return p
}

var (
	arbdOnce sync.Once
	arbdPath string
	arbdErr  error
)

// arbdBin builds the arbd binary once per test run (ARBD_TEST_BIN runs
// the tests against another build).
func arbdBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs arbd")
	}
	if p := os.Getenv("ARBD_TEST_BIN"); p != "" {
		return p
	}
	arbdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "arbd-monitoring-")
		if err != nil {
			arbdErr = err
			return
		}
		arbdPath = filepath.Join(dir, "arbd")
		out, err := exec.Command("go", "build", "-o", arbdPath, "arb/cmd/arbd").CombinedOutput()
		if err != nil {
			arbdErr = fmt.Errorf("go build arbd: %v\n%s", err, out)
		}
	})
	if arbdErr != nil {
		t.Fatal(arbdErr)
	}
	return arbdPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if arbdPath != "" {
		os.RemoveAll(filepath.Dir(arbdPath))
	}
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a child process the test started; it is killed and waited
// for at cleanup, and its output is kept for failure messages.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output (last 4 KiB):\n%s", filepath.Base(name), tail(p.out.String(), 4096))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitFor polls cond until it holds or the deadline passes; it is how the
// tests wait on a process or a scrape, never a fixed sleep.
func waitFor(t *testing.T, what string, deadline time.Duration, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v (last: %s)", what, deadline, last)
		}
		<-tick.C
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func httpGet(u string) (int, []byte, error) {
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// arbd is a running daemon on the embedded default (simulated venues,
// embedded NATS, paper trading) with its own data directory and port.
type arbd struct {
	addr string
	proc *process
}

// tradeFriendly makes arbd trade on the simulated venues every second or
// so (no fees, no thresholds, a short cooldown; the rules' edge and profit
// floors at zero), so the execution metrics carry observations.
var tradeFriendly = struct{ config, rules [][2]string }{
	config: [][2]string{
		{"min_net_edge_bps: 5", "min_net_edge_bps: 0"},
		{"slippage_bps: 1", "slippage_bps: 0"},
		{"cooldown: 2s", "cooldown: 100ms"},
	},
	rules: [][2]string{
		{"min_edge_bps: 5.0 ", "min_edge_bps: 0.0 "},
		{"min_net_quote: 0.50 ", "min_net_quote: 0.00 "},
		// Trading this eagerly, the residuals of one-legged trades and the
		// inventory moved between venues reach the shipped limits within
		// a minute on a loaded machine (two CI runs), and then nothing
		// trades: the rate windows of the latency panels go empty. These
		// tests are about the metrics, not the limits.
		{"max_position_value: 50000 ", "max_position_value: 1000000000 "},
		{"max_residual_exposure: 2000 ", "max_residual_exposure: 1000000000 "},
	},
}

func replaceAll(t *testing.T, what, s string, repl [][2]string) string {
	t.Helper()
	for _, r := range repl {
		if !strings.Contains(s, r[0]) {
			t.Fatalf("%s has no %q", what, r[0])
		}
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// startArbd starts arbd on the embedded default (trading the simulated
// venues when trade is set) and waits until every book of the default
// (3 venues × 3 symbols) shows in /metrics.
func startArbd(t *testing.T, trade bool) *arbd {
	t.Helper()
	bin := arbdBin(t)
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(repoRoot, "configs/rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if trade {
		rules = []byte(replaceAll(t, "configs/rules.yaml", string(rules), tradeFriendly.rules))
	}
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, rules, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &arbd{addr: freeAddr(t)}
	cfg := string(config.Default())
	for _, r := range [][2]string{
		{"http: {listen: 127.0.0.1:7420}", "http: {listen: " + a.addr + "}"},
		{"data_dir: ./data", "data_dir: " + filepath.Join(dir, "data")},
		{"rules_file: configs/rules.yaml", "rules_file: " + rulesPath},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("default config has no %q", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	if trade {
		cfg = replaceAll(t, "the default config", cfg, append(tradeFriendly.config, [2]string{"taker_fee_bps: 10", "taker_fee_bps: 0"}))
	}
	cfgPath := filepath.Join(dir, "arbd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a.proc = startProcess(t, bin, "--config", cfgPath)
	waitFor(t, "arbd's books in /metrics", 2*time.Minute, func() (bool, string) {
		select {
		case <-a.proc.done:
			t.Fatalf("arbd exited: %v\n%s", a.proc.cmd.ProcessState, tail(a.proc.out.String(), 4096))
		default:
		}
		code, body, err := httpGet("http://" + a.addr + "/metrics")
		if err != nil || code != 200 {
			return false, fmt.Sprint(code, err)
		}
		n := strings.Count(string(body), "\narb_book_age_seconds{")
		return n >= 9, fmt.Sprintf("%d books", n)
	})
	return a
}

// prom is a running Prometheus with the shipped configuration, its arbd
// target replaced by a test daemon and its intervals shortened to 1 s.
type promServer struct {
	base string
	dir  string
}

// startPrometheus runs Prometheus on configs/prometheus (prometheus.yml
// and its rule files), scraping target every second.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	bin := needTool(t, "prometheus")
	dir := t.TempDir()
	cfg := loadPromConfig(t)
	cfg.Global.ScrapeInterval, cfg.Global.ScrapeTimeout, cfg.Global.EvaluationInterval = "1s", "900ms", "1s"
	found := false
	for i := range cfg.ScrapeConfigs {
		if cfg.ScrapeConfigs[i].JobName == "arbd" {
			cfg.ScrapeConfigs[i].StaticConfigs = []staticConfig{{Targets: []string{target}}}
			found = true
		}
	}
	if !found {
		t.Fatal("prometheus.yml has no arbd job")
	}
	for _, rf := range cfg.RuleFiles {
		b, err := os.ReadFile(filepath.Join(repoRoot, "configs/prometheus", rf))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rf), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := yaml.Marshal(cfg.raw(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := startProcess(t, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	s := &promServer{base: "http://" + addr, dir: dir}
	waitFor(t, "prometheus ready", 2*time.Minute, func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("prometheus exited: %v\n%s", p.cmd.ProcessState, tail(p.out.String(), 4096))
		default:
		}
		code, _, err := httpGet(s.base + "/-/ready")
		return code == 200, fmt.Sprint(code, err)
	})
	return s
}

// promConfig is the part of prometheus.yml the tests read and rewrite;
// raw() puts the changes back into the full document, so nothing else of
// the shipped file is lost.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	doc           map[string]any
}

type scrapeConfig struct {
	JobName       string         `yaml:"job_name"`
	MetricsPath   string         `yaml:"metrics_path"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type staticConfig struct {
	Targets []string `yaml:"targets"`
}

func loadPromConfig(t *testing.T) *promConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "configs/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c promConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &c.doc); err != nil {
		t.Fatal(err)
	}
	return &c
}

func (c *promConfig) raw(t *testing.T) map[string]any {
	t.Helper()
	g := c.doc["global"].(map[string]any)
	g["scrape_interval"], g["scrape_timeout"], g["evaluation_interval"] = c.Global.ScrapeInterval, c.Global.ScrapeTimeout, c.Global.EvaluationInterval
	var jobs []any
	for _, j := range c.doc["scrape_configs"].([]any) {
		m := j.(map[string]any)
		for _, sc := range c.ScrapeConfigs {
			if sc.JobName == m["job_name"] {
				var targets []any
				for _, tg := range sc.StaticConfigs[0].Targets {
					targets = append(targets, tg)
				}
				m["static_configs"] = []any{map[string]any{"targets": targets}}
			}
		}
		jobs = append(jobs, m)
	}
	c.doc["scrape_configs"] = jobs
	return c.doc
}

// sample is one series of an instant query's result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query evaluates expr now through the HTTP API.
func (s *promServer) query(ctx context.Context, expr string) ([]sample, error) {
	u := s.base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string   `json:"resultType"`
			Result     []sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %q: HTTP %d: %w", expr, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", expr, r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", expr, r.Data.ResultType)
	}
	return r.Data.Result, nil
}

// getJSON decodes a Prometheus API answer's data into v.
func (s *promServer) getJSON(path string, v any) error {
	code, body, err := httpGet(s.base + path)
	if err != nil {
		return err
	}
	var r struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, code, tail(string(body), 512))
	}
	return json.Unmarshal(r.Data, v)
}

func writeFileT(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
