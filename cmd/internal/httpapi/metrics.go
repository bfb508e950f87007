package httpapi

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"arb/exchange"
)

// MaxSeries caps the series one family may report per scrape. Label values
// come from configured venues, symbols and rules, so real families have a
// few hundred at most; a family over the cap has a bug (an unbounded label)
// and reports an error for the excess instead of growing without limit.
const MaxSeries = 10000

var (
	reMetricName = regexp.MustCompile(`^arb_[a-z0-9_]*[a-z0-9]$`)
	reLabelName  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Compile-time checks that the families are collectors.
var (
	_ prometheus.Collector = (*Family)(nil)
	_ prometheus.Collector = (*HistogramFamily)(nil)
	_ prometheus.Collector = (*FeedCollector)(nil)
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors, for the wiring to add arb's collectors to and to pass to New
// as Deps.Metrics. A registry of its own, not the global default, keeps
// tests and two servers in one process apart.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Emit reports one series of a family: its value and its label values, in
// the order of the family's label names.
type Emit func(value float64, labelValues ...string)

// Family is a metric family whose series are read at scrape time from a
// callback, so that the data plane only bumps its own atomic counters and
// never calls into Prometheus. It is a prometheus.Collector.
type Family struct {
	desc    *prometheus.Desc
	vt      prometheus.ValueType
	collect func(Emit)
}

// NewCounterFamily returns a counter family. collect is called at every
// scrape, from the scraping goroutine, and must call emit once per series
// with a value that never decreases (atomic counters loaded with Load).
// The name must start with arb_ and end with _total; an invalid name or
// label name is a programming error and panics.
func NewCounterFamily(name, help string, labels []string, collect func(emit Emit)) *Family {
	mustName(name, labels, "counter")
	return &Family{desc: prometheus.NewDesc(name, help, labels, nil), vt: prometheus.CounterValue, collect: collect}
}

// NewGaugeFamily returns a gauge family (see NewCounterFamily); its name
// must start with arb_ and must not end with _total. An info metric such as
// arb_risk_rules_version_info{version} is a gauge of value 1.
func NewGaugeFamily(name, help string, labels []string, collect func(emit Emit)) *Family {
	mustName(name, labels, "gauge")
	return &Family{desc: prometheus.NewDesc(name, help, labels, nil), vt: prometheus.GaugeValue, collect: collect}
}

// Describe implements prometheus.Collector.
func (f *Family) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

// Collect implements prometheus.Collector. A series with the wrong number
// of label values, or past MaxSeries, is reported as a scrape error for that
// series (the rest of the scrape goes on); it never panics.
func (f *Family) Collect(ch chan<- prometheus.Metric) {
	n := 0
	f.collect(func(v float64, lv ...string) {
		n++
		if n > MaxSeries {
			if n == MaxSeries+1 {
				ch <- prometheus.NewInvalidMetric(f.desc, fmt.Errorf("more than %d series; is a label unbounded?", MaxSeries))
			}
			return
		}
		m, err := prometheus.NewConstMetric(f.desc, f.vt, v, lv...)
		if err != nil {
			m = prometheus.NewInvalidMetric(f.desc, err)
		}
		ch <- m
	})
}

// Bucket is one histogram bucket: the number of observations in it (not
// cumulative) and its inclusive upper bound. An upper bound of +Inf is the
// overflow bucket.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Histogram is a snapshot of one histogram series: buckets in ascending
// order of upper bound, and the sum of the observations. The count is the
// sum of the bucket counts, so the exported count and +Inf bucket always
// agree even when the source was read while it changed.
type Histogram struct {
	Buckets []Bucket
	Sum     float64
}

// EmitHistogram reports one series of a histogram family.
type EmitHistogram func(h Histogram, labelValues ...string)

// HistogramFamily is a histogram family read at scrape time from a
// callback (see Family). It is a prometheus.Collector.
type HistogramFamily struct {
	desc    *prometheus.Desc
	collect func(EmitHistogram)
}

// NewHistogramFamily returns a histogram family. The name must start with
// arb_ and end with its unit (_seconds for latencies); see NewCounterFamily
// for collect's contract.
func NewHistogramFamily(name, help string, labels []string, collect func(emit EmitHistogram)) *HistogramFamily {
	mustName(name, labels, "histogram")
	return &HistogramFamily{desc: prometheus.NewDesc(name, help, labels, nil), collect: collect}
}

// Describe implements prometheus.Collector.
func (f *HistogramFamily) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

// Collect implements prometheus.Collector; bad input becomes a scrape error
// for the series, never a panic.
func (f *HistogramFamily) Collect(ch chan<- prometheus.Metric) {
	n := 0
	f.collect(func(h Histogram, lv ...string) {
		n++
		if n > MaxSeries {
			if n == MaxSeries+1 {
				ch <- prometheus.NewInvalidMetric(f.desc, fmt.Errorf("more than %d series; is a label unbounded?", MaxSeries))
			}
			return
		}
		m, err := constHistogram(f.desc, h, lv)
		if err != nil {
			m = prometheus.NewInvalidMetric(f.desc, err)
		}
		ch <- m
	})
}

// constHistogram turns per-bucket counts into Prometheus's cumulative form.
func constHistogram(desc *prometheus.Desc, h Histogram, lv []string) (prometheus.Metric, error) {
	cum := make(map[float64]uint64, len(h.Buckets))
	var total uint64
	prev := math.Inf(-1)
	for _, b := range h.Buckets {
		if !(b.UpperBound > prev) { // also rejects NaN
			return nil, fmt.Errorf("histogram buckets not in ascending order at %v", b.UpperBound)
		}
		prev = b.UpperBound
		total += b.Count
		if !math.IsInf(b.UpperBound, 1) {
			cum[b.UpperBound] = total
		}
	}
	return prometheus.NewConstHistogram(desc, total, h.Sum, cum, lv...)
}

// HistogramFromHist converts an exchange.Hist (power-of-two buckets in ns)
// to a Histogram in seconds. The Hist's last bucket also takes every larger
// value, so it becomes the +Inf bucket.
func HistogramFromHist(h *exchange.Hist) Histogram {
	counts, sum, _ := h.Snapshot()
	out := Histogram{Buckets: make([]Bucket, exchange.HistBuckets), Sum: float64(sum) / 1e9}
	for i, c := range counts {
		ub := float64(exchange.BucketBound(i)) / 1e9
		if i == exchange.HistBuckets-1 {
			ub = math.Inf(1)
		}
		out.Buckets[i] = Bucket{UpperBound: ub, Count: c}
	}
	return out
}

// mustName panics on a metric or label name that breaks arb's conventions:
// the arb_ prefix, _total on counters and only on counters, snake_case
// labels, no "le" label on histograms.
func mustName(name string, labels []string, kind string) {
	if !reMetricName.MatchString(name) {
		panic(fmt.Sprintf("httpapi: metric name %q: want arb_ followed by snake_case", name))
	}
	if total := strings.HasSuffix(name, "_total"); total != (kind == "counter") {
		panic(fmt.Sprintf("httpapi: %s %q: only counters end in _total, and every counter does", kind, name))
	}
	for _, l := range labels {
		if !reLabelName.MatchString(l) || (kind == "histogram" && l == "le") {
			panic(fmt.Sprintf("httpapi: metric %q: bad label name %q", name, l))
		}
	}
}

// FeedStatsFunc reports every feed's counters: the wiring calls emit once
// per venue with the venue's configured name and its feed's stats.
type FeedStatsFunc func(emit func(venue string, s *exchange.FeedStats))

// FeedCollector exports exchange.FeedStats of every venue, read at scrape
// time:
//
//	arb_feed_messages_total{venue}            data frames received
//	arb_feed_published_total{venue}           book events handed to the ring
//	arb_feed_conflated_total{venue}           events replaced by a newer one
//	arb_feed_rejects_total{venue,reason}      input refused, by reason
//	arb_feed_resyncs_total{venue}             book rebuilds
//	arb_feed_gaps_total{venue}                sequence gaps detected
//	arb_feed_checksum_failures_total{venue}   venue checksum mismatches
//	arb_feed_reconnects_total{venue}          reconnections after the first
//	arb_feed_connected{venue}                 1 while connected
//	arb_feed_parse_latency_seconds{venue}     frame receipt to event published
type FeedCollector struct {
	stats FeedStatsFunc
	fams  []prometheus.Collector
}

// NewFeedCollector returns the collector of the feeds stats reports.
func NewFeedCollector(stats FeedStatsFunc) *FeedCollector {
	counter := func(name, help string, get func(*exchange.FeedStats) uint64) *Family {
		return NewCounterFamily(name, help, []string{"venue"}, func(emit Emit) {
			stats(func(venue string, s *exchange.FeedStats) { emit(float64(get(s)), venue) })
		})
	}
	c := &FeedCollector{stats: stats}
	c.fams = []prometheus.Collector{
		counter("arb_feed_messages_total", "Data frames received from the venue.", func(s *exchange.FeedStats) uint64 { return s.Messages.Load() }),
		counter("arb_feed_published_total", "Book events handed to the ring buffer.", func(s *exchange.FeedStats) uint64 { return s.Published.Load() }),
		counter("arb_feed_conflated_total", "Book events replaced by a newer one while the ring was full.", func(s *exchange.FeedStats) uint64 { return s.Conflated.Load() }),
		counter("arb_feed_resyncs_total", "Book rebuilds (snapshot fetched or resubscribed).", func(s *exchange.FeedStats) uint64 { return s.Resyncs.Load() }),
		counter("arb_feed_gaps_total", "Sequence gaps detected.", func(s *exchange.FeedStats) uint64 { return s.Gaps.Load() }),
		counter("arb_feed_checksum_failures_total", "Venue checksum mismatches.", func(s *exchange.FeedStats) uint64 { return s.ChecksumFailures.Load() }),
		counter("arb_feed_reconnects_total", "Connections re-established after the first.", func(s *exchange.FeedStats) uint64 { return s.Reconnects.Load() }),
		NewCounterFamily("arb_feed_rejects_total", "Input the feed refused, by reason.", []string{"venue", "reason"}, func(emit Emit) {
			stats(func(venue string, s *exchange.FeedStats) {
				for r := exchange.RejectReason(1); int(r) < exchange.NumRejectReasons; r++ {
					emit(float64(s.Rejects(r)), venue, r.String())
				}
			})
		}),
		NewGaugeFamily("arb_feed_connected", "1 while the feed's connection is up.", []string{"venue"}, func(emit Emit) {
			stats(func(venue string, s *exchange.FeedStats) { emit(float64(s.Connected.Load()), venue) })
		}),
		NewHistogramFamily("arb_feed_parse_latency_seconds", "Time from frame receipt to book event published.", []string{"venue"}, func(emit EmitHistogram) {
			stats(func(venue string, s *exchange.FeedStats) { emit(HistogramFromHist(&s.ParseLatency), venue) })
		}),
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *FeedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.fams {
		f.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *FeedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.fams {
		f.Collect(ch)
	}
}
