package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns Debian's chromium, or fails (CI) / skips without it.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); CI requires it")
	}
	t.Skip("chromium is not installed")
	return ""
}

// TestReportHTML opens report.html in headless Chromium with the network
// off: no console error or exception, the equity curve drawn with one
// point per trade (and the start), and every number in the summary and
// the tables equal to report.json's.
func TestReportHTML(t *testing.T) {
	bin := chromium(t)
	cfg := defaultConfig(t)
	opt := options(testRecording)
	opt.Out = t.TempDir()
	if _, err := Run(context.Background(), cfg, opt); err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	jb, _ := os.ReadFile(filepath.Join(opt.Out, "report.json"))
	if err := json.Unmarshal(jb, &r); err != nil {
		t.Fatal(err)
	}
	aopts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), aopts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()

	var mu sync.Mutex
	var problems []string
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" || e.Type == "warning" {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(parts, " ")))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				d += " " + e.ExceptionDetails.Exception.Description
			}
			problems = append(problems, "exception: "+d)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == "error" || e.Entry.Level == "warning" {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text))
			}
		}
	}
	if err := chromedp.Listen(ctx, listen); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(opt.Out, "report.html")),
		chromedp.WaitVisible(`#equity path`)); err != nil {
		t.Fatal(err)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(`#equity path`, "data-points"))
	if err != nil {
		t.Fatal(err)
	}
	points := attr.Value
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]string](`Array.from(document.querySelectorAll("table tr[data-row]")).map(function (tr) {
			var o = {table: tr.closest("table").id, row: tr.getAttribute("data-row")};
			tr.querySelectorAll("td").forEach(function (td) { o[td.getAttribute("data-field")] = td.textContent; });
			return o; })`))
	if err != nil {
		t.Fatal(err)
	}
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(function () { var o = {}; document.querySelectorAll(".card .v").forEach(function (v) {
			o[v.getAttribute("data-field")] = v.textContent; }); return o; })()`))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(problems) > 0 {
		t.Fatalf("console problems: %v", problems)
	}
	mu.Unlock()
	trades := int(r["trades"].(float64))
	if points != fmt.Sprint(trades+1) {
		t.Fatalf("equity curve drawn with %s points, want %d", points, trades+1)
	}
	str := func(v any) string {
		switch x := v.(type) {
		case string:
			return x
		case float64:
			return fmt.Sprint(x)
		}
		return fmt.Sprint(v)
	}
	for _, k := range []string{"events", "plans", "trades", "fills", "realized_pnl", "fees", "expected_net", "max_drawdown", "sharpe_hourly", "approved", "rejected"} {
		if cards[k] != str(r[k]) {
			t.Errorf("summary %s = %q, report.json %q", k, cards[k], str(r[k]))
		}
	}
	tables := map[string]string{"pairs": "pairs", "venues": "venues", "rules": "rejections", "outcomes": "detector_outcomes", "edge-table": "edge_buckets"}
	checked := 0
	for _, c := range cells {
		rows, _ := r[tables[c["table"]]].([]any)
		var i int
		fmt.Sscan(c["row"], &i)
		if i >= len(rows) {
			t.Fatalf("table %s row %d not in report.json", c["table"], i)
		}
		row := rows[i].(map[string]any)
		for k, v := range c {
			if k == "table" || k == "row" {
				continue
			}
			if str(row[k]) != v {
				t.Errorf("table %s row %d %s = %q, report.json %q", c["table"], i, k, v, str(row[k]))
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d table cells checked", checked)
	}
	t.Logf("%d table cells and %d summary figures equal report.json; equity %s points", checked, len(cards), points)
}
