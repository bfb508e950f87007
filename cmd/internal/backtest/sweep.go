package backtest

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"arb/cmd/internal/config"
)

// Axis is one swept key and its values (--sweep key=v1,v2,...).
type Axis struct {
	Key    string
	Values []string
}

// ParseAxis parses "key=v1,v2,...".
func ParseAxis(s string) (Axis, error) {
	k, vs, ok := strings.Cut(s, "=")
	if !ok || k == "" || vs == "" {
		return Axis{}, fmt.Errorf("--sweep %q: want key=v1,v2,...", s)
	}
	a := Axis{Key: strings.TrimSpace(k)}
	for _, v := range strings.Split(vs, ",") {
		a.Values = append(a.Values, strings.TrimSpace(v))
	}
	return a, nil
}

// Grid is every combination of the axes, the first axis varying slowest.
func Grid(axes []Axis) [][]Param {
	out := [][]Param{{}}
	for _, a := range axes {
		var next [][]Param
		for _, p := range out {
			for _, v := range a.Values {
				q := append(append([]Param{}, p...), Param{Key: a.Key, Value: v})
				next = append(next, q)
			}
		}
		out = next
	}
	return out
}

// Apply builds one run's config and options from the config file's bytes
// and params: a key latency or latency.<venue> sets an order latency;
// any other key is a path into the YAML (venues are addressed by name:
// venues.okx.taker_fee_bps), set to the value and validated like any
// config.
func Apply(name string, src []byte, known config.Known, base Options, params []Param) (*config.Config, Options, error) {
	opt := base
	opt.Params = params
	opt.Latency = map[string]time.Duration{}
	for k, v := range base.Latency {
		opt.Latency[k] = v
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, opt, fmt.Errorf("%s: %w", name, err)
	}
	changed := false
	for _, p := range params {
		if p.Key == "latency" || strings.HasPrefix(p.Key, "latency.") {
			d, err := time.ParseDuration(p.Value)
			if err != nil || d < 0 {
				return nil, opt, fmt.Errorf("sweep %s=%s: not a duration", p.Key, p.Value)
			}
			opt.Latency[strings.TrimPrefix(strings.TrimPrefix(p.Key, "latency"), ".")] = d
			continue
		}
		if err := setPath(&doc, strings.Split(p.Key, "."), p.Value); err != nil {
			return nil, opt, fmt.Errorf("sweep %s: %w", p.Key, err)
		}
		changed = true
	}
	b := src
	if changed {
		var err error
		if b, err = yaml.Marshal(&doc); err != nil {
			return nil, opt, err
		}
	}
	cfg, err := config.Parse(name, b, known)
	if err != nil {
		return nil, opt, err
	}
	return cfg, opt, nil
}

func setPath(doc *yaml.Node, path []string, value string) error {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for i, key := range path {
		last := i == len(path)-1
		switch n.Kind {
		case yaml.MappingNode:
			var found *yaml.Node
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == key {
					found = n.Content[j+1]
				}
			}
			if found == nil {
				if !last {
					found = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				} else {
					found = &yaml.Node{Kind: yaml.ScalarNode}
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, found)
			}
			n = found
		case yaml.SequenceNode:
			var found *yaml.Node
			for _, item := range n.Content {
				if item.Kind != yaml.MappingNode {
					continue
				}
				for j := 0; j+1 < len(item.Content); j += 2 {
					if item.Content[j].Value == "name" && item.Content[j+1].Value == key {
						found = item
					}
				}
			}
			if found == nil {
				if k, err := strconv.Atoi(key); err == nil && k >= 0 && k < len(n.Content) {
					found = n.Content[k]
				} else {
					return fmt.Errorf("no list element named %q", key)
				}
			}
			n = found
		default:
			return fmt.Errorf("%q is not a mapping", strings.Join(path[:i], "."))
		}
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("not a scalar")
	}
	n.Value, n.Tag, n.Style = value, "", 0
	return nil
}

// SweepRow is one run of a sweep in the comparison.
type SweepRow struct {
	Run         int     `json:"run"`
	Params      []Param `json:"params"`
	Dir         string  `json:"dir"`
	Plans       uint64  `json:"plans"`
	Trades      uint64  `json:"trades"`
	RealizedPnL string  `json:"realized_pnl"`
	Fees        string  `json:"fees"`
	WinRate     float64 `json:"win_rate"`
	MaxDrawdown string  `json:"max_drawdown"`
	Sharpe      float64 `json:"sharpe_hourly"`
	Rejected    uint64  `json:"rejected"`
	Error       string  `json:"error,omitempty"`
}

// Sweep runs every point of the grid, in parallel on up to workers
// goroutines (default: GOMAXPROCS), each a full backtest in
// out/run-NNN, and writes out/sweep.json and out/sweep.csv.
func Sweep(ctx context.Context, name string, src []byte, known config.Known, base Options, axes []Axis, workers int) ([]SweepRow, error) {
	grid := Grid(axes)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	rows := make([]SweepRow, len(grid))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := 0; w < min(workers, len(grid)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				row := SweepRow{Run: i + 1, Params: grid[i], Dir: fmt.Sprintf("run-%03d", i+1)}
				cfg, opt, err := Apply(name, src, known, base, grid[i])
				if err == nil {
					opt.Out, opt.Progress = filepath.Join(base.Out, row.Dir), nil
					var r *Report
					if r, err = Run(ctx, cfg, opt); err == nil {
						row.Plans, row.Trades, row.RealizedPnL, row.Fees = r.Plans, r.Trades, r.RealizedPnL, r.Fees
						row.WinRate, row.MaxDrawdown, row.Sharpe, row.Rejected = r.WinRate, r.MaxDrawdown, r.SharpeHourly, r.Rejected
					}
				}
				if err != nil {
					row.Error = err.Error()
				}
				rows[i] = row
				mu.Lock()
				done++
				if base.Progress != nil {
					base.Progress(int64(done), int64(len(grid)), 0)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range grid {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if base.Out != "" {
		if err := writeSweep(base.Out, axes, rows); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func writeSweep(dir string, axes []Axis, rows []SweepRow) error {
	jb, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sweep.json"), append(jb, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "sweep.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	head := []string{"run"}
	for _, a := range axes {
		head = append(head, a.Key)
	}
	head = append(head, "plans", "trades", "realized_pnl", "fees", "win_rate", "max_drawdown", "sharpe_hourly", "rejected", "dir", "error")
	w.Write(head)
	for _, r := range rows {
		rec := []string{strconv.Itoa(r.Run)}
		for _, p := range r.Params {
			rec = append(rec, p.Value)
		}
		rec = append(rec, strconv.FormatUint(r.Plans, 10), strconv.FormatUint(r.Trades, 10), r.RealizedPnL, r.Fees,
			strconv.FormatFloat(r.WinRate, 'f', 4, 64), r.MaxDrawdown, strconv.FormatFloat(r.Sharpe, 'f', 4, 64),
			strconv.FormatUint(r.Rejected, 10), r.Dir, r.Error)
		w.Write(rec)
	}
	w.Flush()
	return w.Error()
}

// WriteSweepTable prints the comparison table.
func WriteSweepTable(w io.Writer, axes []Axis, rows []SweepRow) {
	t := &table{}
	head := []string{"run"}
	for _, a := range axes {
		head = append(head, a.Key)
	}
	t.add(append(head, "plans", "trades", "realized PnL", "fees", "win rate", "max DD", "sharpe/h", "rejected")...)
	for _, r := range rows {
		rec := []string{strconv.Itoa(r.Run)}
		for _, p := range r.Params {
			rec = append(rec, p.Value)
		}
		if r.Error != "" {
			t.add(append(rec, "error: "+r.Error)...)
			continue
		}
		t.add(append(rec, strconv.FormatUint(r.Plans, 10), strconv.FormatUint(r.Trades, 10), r.RealizedPnL, r.Fees,
			strconv.FormatFloat(r.WinRate*100, 'f', 1, 64)+"%", r.MaxDrawdown, strconv.FormatFloat(r.Sharpe, 'f', 3, 64),
			strconv.FormatUint(r.Rejected, 10))...)
	}
	t.write(w)
}
