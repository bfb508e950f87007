package httpapi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"arb/exchange"
)

func TestCounterFamily(t *testing.T) {
	counts := map[[3]string]uint64{
		{"BTC-USDT", "binance", "okx"}: 3,
		{"ETH-USDT", "okx", "bybit"}:   1,
	}
	f := NewCounterFamily("arb_opportunities_total", "Opportunities seen.", []string{"symbol", "buy_venue", "sell_venue"}, func(emit Emit) {
		for k, v := range counts {
			emit(float64(v), k[0], k[1], k[2])
		}
	})
	want := `
# HELP arb_opportunities_total Opportunities seen.
# TYPE arb_opportunities_total counter
arb_opportunities_total{buy_venue="binance",sell_venue="okx",symbol="BTC-USDT"} 3
arb_opportunities_total{buy_venue="okx",sell_venue="bybit",symbol="ETH-USDT"} 1
`
	if err := testutil.CollectAndCompare(f, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Read at scrape time: a later change shows in the next scrape.
	counts[[3]string{"BTC-USDT", "binance", "okx"}] = 4
	if err := testutil.CollectAndCompare(f, strings.NewReader(strings.Replace(want, "} 3", "} 4", 1))); err != nil {
		t.Error(err)
	}
	lint(t, f)
}

func TestGaugeFamily(t *testing.T) {
	f := NewGaugeFamily("arb_risk_rules_version_info", "The rules version in force.", []string{"version"}, func(emit Emit) {
		emit(1, "v12")
	})
	want := `
# HELP arb_risk_rules_version_info The rules version in force.
# TYPE arb_risk_rules_version_info gauge
arb_risk_rules_version_info{version="v12"} 1
`
	if err := testutil.CollectAndCompare(f, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	age := NewGaugeFamily("arb_book_age_seconds", "Age of the newest book update.", []string{"venue", "symbol"}, func(emit Emit) {
		emit(0.25, "okx", "BTC-USDT")
	})
	if v := testutil.ToFloat64(age); v != 0.25 {
		t.Errorf("age = %v", v)
	}
	lint(t, f, age)
}

// TestFamilyBadSeries: a series with the wrong label count, or past
// MaxSeries, is a scrape error for that series; the good ones still come.
func TestFamilyBadSeries(t *testing.T) {
	f := NewCounterFamily("arb_test_total", "Test.", []string{"venue"}, func(emit Emit) {
		emit(1, "binance")
		emit(2, "okx", "extra")
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(f)
	mfs, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "inconsistent label cardinality") {
		t.Errorf("gather error %v", err)
	}
	if len(mfs) != 1 || len(mfs[0].Metric) != 1 || mfs[0].Metric[0].Counter.GetValue() != 1 {
		t.Errorf("good series lost: %v", mfs)
	}

	many := NewGaugeFamily("arb_many", "Too many.", []string{"id"}, func(emit Emit) {
		for i := range MaxSeries + 50 {
			emit(1, fmt.Sprint(i))
		}
	})
	reg = prometheus.NewRegistry()
	reg.MustRegister(many)
	mfs, err = reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "more than 10000 series") {
		t.Errorf("gather error %v", err)
	}
	if len(mfs) != 1 || len(mfs[0].Metric) != MaxSeries {
		t.Errorf("series kept: %d, want %d", len(mfs[0].Metric), MaxSeries)
	}
}

func TestNamesChecked(t *testing.T) {
	noop := func(Emit) {}
	tests := []struct {
		name string
		mk   func()
	}{
		{"no prefix", func() { NewCounterFamily("feed_messages_total", "h", nil, noop) }},
		{"counter without _total", func() { NewCounterFamily("arb_feed_messages", "h", nil, noop) }},
		{"gauge with _total", func() { NewGaugeFamily("arb_feed_messages_total", "h", nil, noop) }},
		{"histogram with _total", func() { NewHistogramFamily("arb_latency_total", "h", nil, func(EmitHistogram) {}) }},
		{"camel case", func() { NewGaugeFamily("arb_bookAge_seconds", "h", nil, noop) }},
		{"bad label", func() { NewGaugeFamily("arb_book_age_seconds", "h", []string{"Venue"}, noop) }},
		{"le on a histogram", func() { NewHistogramFamily("arb_latency_seconds", "h", []string{"le"}, func(EmitHistogram) {}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.mk()
		})
	}
}

func TestHistogramFamily(t *testing.T) {
	h := NewHistogramFamily("arb_test_latency_seconds", "Test latency.", []string{"venue"}, func(emit EmitHistogram) {
		emit(Histogram{Buckets: []Bucket{{0.001, 2}, {0.01, 3}, {math.Inf(1), 1}}, Sum: 0.05}, "binance")
	})
	want := `
# HELP arb_test_latency_seconds Test latency.
# TYPE arb_test_latency_seconds histogram
arb_test_latency_seconds_bucket{venue="binance",le="0.001"} 2
arb_test_latency_seconds_bucket{venue="binance",le="0.01"} 5
arb_test_latency_seconds_bucket{venue="binance",le="+Inf"} 6
arb_test_latency_seconds_sum{venue="binance"} 0.05
arb_test_latency_seconds_count{venue="binance"} 6
`
	if err := testutil.CollectAndCompare(h, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	lint(t, h)
	unsorted := NewHistogramFamily("arb_test_latency_seconds", "Test.", nil, func(emit EmitHistogram) {
		emit(Histogram{Buckets: []Bucket{{0.01, 1}, {0.001, 1}}})
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(unsorted)
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "not in ascending order") {
		t.Errorf("unsorted buckets: %v", err)
	}
}

// TestHistogramFromHist compares the exported cumulative buckets with a
// count of the observations themselves.
func TestHistogramFromHist(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var h exchange.Hist
	var obs []int64
	var sum int64
	for range 5000 {
		v := int64(math.Exp(r.Float64() * 22)) // 1 ns .. ~3.6 s: every bucket, and past the last
		if r.IntN(50) == 0 {
			v = -v // clamped to 0 by Observe
		}
		h.Observe(v)
		v = max(v, 0)
		obs = append(obs, v)
		sum += v
	}
	got := HistogramFromHist(&h)
	if len(got.Buckets) != exchange.HistBuckets || !math.IsInf(got.Buckets[exchange.HistBuckets-1].UpperBound, 1) {
		t.Fatalf("buckets %v", got.Buckets)
	}
	if math.Abs(got.Sum-float64(sum)/1e9) > 1e-9 {
		t.Errorf("sum %v, want %v", got.Sum, float64(sum)/1e9)
	}
	var cum uint64
	for i, b := range got.Buckets[:exchange.HistBuckets-1] {
		cum += b.Count
		if want := float64(exchange.BucketBound(i)) / 1e9; b.UpperBound != want {
			t.Errorf("bucket %d bound %v, want %v", i, b.UpperBound, want)
		}
		var n uint64
		for _, v := range obs {
			if float64(v) <= b.UpperBound*1e9 {
				n++
			}
		}
		if cum != n {
			t.Errorf("le %v: cumulative %d, observations %d", b.UpperBound, cum, n)
		}
	}
	if cum+got.Buckets[exchange.HistBuckets-1].Count != uint64(len(obs)) {
		t.Errorf("total %d, want %d", cum+got.Buckets[exchange.HistBuckets-1].Count, len(obs))
	}
}

func TestFeedCollector(t *testing.T) {
	var bin, okx exchange.FeedStats
	bin.Messages.Add(100)
	bin.Published.Add(90)
	bin.Gaps.Add(2)
	bin.Connected.Store(1)
	bin.Reject(exchange.RejectSequence)
	bin.Reject(exchange.RejectSequence)
	bin.ParseLatency.Observe(1000)
	okx.ChecksumFailures.Add(1)
	okx.Resyncs.Add(1)
	okx.Reconnects.Add(3)
	c := NewFeedCollector(func(emit func(string, *exchange.FeedStats)) {
		emit("binance", &bin)
		emit("okx", &okx)
	})
	want := `
# HELP arb_feed_messages_total Data frames received from the venue.
# TYPE arb_feed_messages_total counter
arb_feed_messages_total{venue="binance"} 100
arb_feed_messages_total{venue="okx"} 0
# HELP arb_feed_gaps_total Sequence gaps detected.
# TYPE arb_feed_gaps_total counter
arb_feed_gaps_total{venue="binance"} 2
arb_feed_gaps_total{venue="okx"} 0
# HELP arb_feed_checksum_failures_total Venue checksum mismatches.
# TYPE arb_feed_checksum_failures_total counter
arb_feed_checksum_failures_total{venue="binance"} 0
arb_feed_checksum_failures_total{venue="okx"} 1
# HELP arb_feed_reconnects_total Connections re-established after the first.
# TYPE arb_feed_reconnects_total counter
arb_feed_reconnects_total{venue="binance"} 0
arb_feed_reconnects_total{venue="okx"} 3
# HELP arb_feed_connected 1 while the feed's connection is up.
# TYPE arb_feed_connected gauge
arb_feed_connected{venue="binance"} 1
arb_feed_connected{venue="okx"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"arb_feed_messages_total", "arb_feed_gaps_total", "arb_feed_checksum_failures_total",
		"arb_feed_reconnects_total", "arb_feed_connected"); err != nil {
		t.Error(err)
	}
	// Every reason is exported for every venue, so rates start at zero.
	if n := testutil.CollectAndCount(c, "arb_feed_rejects_total"); n != 2*(exchange.NumRejectReasons-1) {
		t.Errorf("%d reject series", n)
	}
	rejects := `
# HELP arb_feed_rejects_total Input the feed refused, by reason.
# TYPE arb_feed_rejects_total counter
`
	for _, v := range []string{"binance", "okx"} {
		for r := exchange.RejectReason(1); int(r) < exchange.NumRejectReasons; r++ {
			n := 0
			if v == "binance" && r == exchange.RejectSequence {
				n = 2
			}
			rejects += fmt.Sprintf("arb_feed_rejects_total{reason=%q,venue=%q} %d\n", r.String(), v, n)
		}
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(rejects), "arb_feed_rejects_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "arb_feed_parse_latency_seconds"); n != 2 {
		t.Errorf("%d latency series", n)
	}
	if n := testutil.CollectAndCount(c); n != 9*2+2*(exchange.NumRejectReasons-1) {
		t.Errorf("%d series in all", n)
	}
	lint(t, c)
	// Registered, it describes consistently and gathers without error.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Error(err)
	}
}

// lint fails the test on any promlint problem (naming, units, help).
func lint(t *testing.T, cs ...prometheus.Collector) {
	t.Helper()
	for _, c := range cs {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}
