package wire

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricValue returns the value of the exposition line whose series (name
// and labels as printed) is series.
func metricValue(body, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestEngineLatencyAndRateLimitMetrics: the running daemon exports the
// loop's tick-to-decision histogram (observations arriving with the feed's
// books) and, per trading venue, every documented rate-limit budget's used
// ratio (in [0, 1]) and whether a block is in force (none against the
// simulator).
func TestEngineLatencyAndRateLimitMetrics(t *testing.T) {
	_, base := startDaemon(t)
	var m string
	waitFor(t, "tick-to-decision observations", 30*time.Second, func() bool {
		m = scrape(t, base)
		n, ok := metricValue(m, "arb_tick_to_decision_seconds_count")
		return ok && n > 0
	})
	if inf, _ := metricValue(m, `arb_tick_to_decision_seconds_bucket{le="+Inf"}`); inf == 0 {
		t.Errorf("no +Inf bucket:\n%s", metricLines(m, "arb_tick_to_decision"))
	}
	for _, v := range []string{"binance", "okx", "bybit"} {
		if b, ok := metricValue(m, `arb_venue_rate_limit_blocked{venue="`+v+`"}`); !ok || b != 0 {
			t.Errorf("%s: arb_venue_rate_limit_blocked %v (present %v), want 0", v, b, ok)
		}
		budgets := 0
		for _, line := range strings.Split(metricLines(m, `arb_venue_rate_limit_used_ratio{`), "\n") {
			if !strings.Contains(line, `venue="`+v+`"`) {
				continue
			}
			budgets++
			f := strings.Fields(line)
			if r, err := strconv.ParseFloat(f[len(f)-1], 64); err != nil || r < 0 || r > 1 {
				t.Errorf("%s: ratio out of [0,1]: %s", v, line)
			}
		}
		if budgets < 2 {
			t.Errorf("%s: %d rate-limit budgets exported:\n%s", v, budgets, metricLines(m, "arb_venue_rate_limit"))
		}
	}
}

func metricLines(body, sub string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
