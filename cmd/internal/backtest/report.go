package backtest

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// ReportVersion is the version of report.json's shape.
const ReportVersion = 1

// Report is report.json: everything a run measured, from the recording
// alone (no wall time), so two runs of the same inputs are byte-identical.
// Money is exact decimal text in the quote currency (the first
// instrument's quote and its equivalents); ratios are numbers.
type Report struct {
	Version   int           `json:"version"`
	Recording RecordingInfo `json:"recording"`
	Params    []Param       `json:"params"`

	Events     uint64 `json:"events"`      // records replayed
	Frames     uint64 `json:"frames"`      // websocket frames among them
	BookEvents uint64 `json:"book_events"` // BookTop events the adapters published
	Plans      uint64 `json:"plans"`       // plans the detector emitted (trading window)
	Approved   uint64 `json:"approved"`
	Clipped    uint64 `json:"clipped"`
	Rejected   uint64 `json:"rejected"`
	Refused    uint64 `json:"refused"` // approved plans the executor did not take (busy, halted)
	Trades     uint64 `json:"trades"`  // trades closed
	ClosedFlat uint64 `json:"closed_flat"`
	Residual   uint64 `json:"closed_residual"`
	Fills      uint64 `json:"fills"`
	Orders     uint64 `json:"orders"`

	RealizedPnL      string  `json:"realized_pnl"`
	GrossPnL         string  `json:"gross_pnl"` // before fees
	Fees             string  `json:"fees"`
	ExpectedNet      string  `json:"expected_net"` // the plans' net edge of the trades taken
	CaptureRatio     float64 `json:"capture_ratio"`
	WinRate          float64 `json:"win_rate"`
	MaxDrawdown      string  `json:"max_drawdown"`
	SharpeHourly     float64 `json:"sharpe_hourly"`     // mean ÷ standard deviation of hourly PnL
	SharpeAnnualized float64 `json:"sharpe_annualized"` // sharpe_hourly × √8760
	Hours            int     `json:"hours"`

	Pairs       []PairRow    `json:"pairs"`
	Venues      []VenueRow   `json:"venues"`
	Rejections  []RuleRow    `json:"rejections"`
	EdgeBuckets []EdgeBucket `json:"edge_buckets"`
	Outcomes    []Count      `json:"detector_outcomes"`
	Equity      []Point      `json:"equity"`
	Drawdown    []Point      `json:"drawdown"`
	Warnings    []string     `json:"warnings"`
}

// RecordingInfo names what was replayed.
type RecordingInfo struct {
	ID        string   `json:"id"`
	Files     []string `json:"files"`
	From      string   `json:"from"` // first record, RFC 3339 UTC
	To        string   `json:"to"`
	TradeFrom string   `json:"trade_from"` // trading window start
	TradeTo   string   `json:"trade_to"`
}

// Param is one parameter of the run (sweeps set them).
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// PairRow is one directed pair.
type PairRow struct {
	Symbol        string  `json:"symbol"`
	BuyVenue      string  `json:"buy_venue"`
	SellVenue     string  `json:"sell_venue"`
	Opportunities uint64  `json:"opportunities"` // top-of-book crossings (episodes)
	Plans         uint64  `json:"plans"`
	Approved      uint64  `json:"approved"`
	Rejected      uint64  `json:"rejected"`
	Trades        uint64  `json:"trades"`
	Wins          uint64  `json:"wins"`
	WinRate       float64 `json:"win_rate"`
	RealizedPnL   string  `json:"realized_pnl"`
	Fees          string  `json:"fees"`
	ExpectedNet   string  `json:"expected_net"`
	Volume        string  `json:"volume_base"`
}

// VenueRow is one venue.
type VenueRow struct {
	Venue      string `json:"venue"`
	Orders     uint64 `json:"orders"`
	Fills      uint64 `json:"fills"`
	Rejected   uint64 `json:"rejected_orders"`
	Unfilled   uint64 `json:"unfilled_orders"`
	NoBook     uint64 `json:"orders_without_book"`
	Bought     string `json:"bought_quote"` // quote spent on buys
	Sold       string `json:"sold_quote"`   // quote received from sells
	Fees       string `json:"fees"`
	Messages   uint64 `json:"messages"`
	FeedReject uint64 `json:"feed_rejects"`
	Resyncs    uint64 `json:"resyncs"`
	Gaps       uint64 `json:"gaps"`
	Reconnects uint64 `json:"reconnects"`
	Orphans    uint64 `json:"orphan_records"`
}

// RuleRow counts one risk rule's actions.
type RuleRow struct {
	Rule   string `json:"rule"`
	Action string `json:"action"`
	Count  uint64 `json:"count"`
}

// EdgeBucket counts opportunities by the peak top-of-book gross edge of
// their episode, and what became of them.
type EdgeBucket struct {
	Label         string  `json:"label"`
	MinBps        float64 `json:"min_bps"`
	MaxBps        float64 `json:"max_bps"` // 0 = no upper bound
	Opportunities uint64  `json:"opportunities"`
	Planned       uint64  `json:"planned"` // episodes with at least one plan
	Traded        uint64  `json:"traded"`  // episodes with at least one trade
}

// Count is a named counter.
type Count struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// Point is one point of a chart: time (Unix ms) and value (quote).
type Point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

var edgeEdges = []float64{0, 1, 2, 5, 10, 20, 50, 100}

func newEdgeBuckets() []EdgeBucket {
	out := make([]EdgeBucket, len(edgeEdges))
	for i, lo := range edgeEdges {
		b := EdgeBucket{MinBps: lo}
		if i+1 < len(edgeEdges) {
			b.MaxBps = edgeEdges[i+1]
			b.Label = strconv.FormatFloat(lo, 'f', -1, 64) + "–" + strconv.FormatFloat(b.MaxBps, 'f', -1, 64) + " bps"
		} else {
			b.Label = "≥ " + strconv.FormatFloat(lo, 'f', -1, 64) + " bps"
		}
		out[i] = b
	}
	return out
}

func edgeBucket(bps float64) int {
	i := sort.SearchFloat64s(edgeEdges, bps)
	if i < len(edgeEdges) && edgeEdges[i] == bps {
		return i
	}
	return max(i-1, 0)
}

// series keeps at most cap points of a chart: when full, every pair of
// neighbours becomes the one farther from the value kept before it, so
// peaks and troughs survive the thinning. Memory is constant in the
// recording's length.
type series struct {
	pts []Point
	cap int
}

func (s *series) add(p Point) {
	if s.cap == 0 {
		s.cap = 2048
	}
	if len(s.pts) == s.cap {
		out := s.pts[:1]
		for i := 1; i+1 < len(s.pts); i += 2 {
			a, b := s.pts[i], s.pts[i+1]
			ref := out[len(out)-1].V
			if math.Abs(b.V-ref) > math.Abs(a.V-ref) {
				a = b
			}
			out = append(out, a)
		}
		s.pts = out
	}
	s.pts = append(s.pts, p)
}

func rfc(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// tradeRow is one line of trades.csv.
type tradeRow struct {
	id, plan, symbol, buy, sell, state, qty string
	opened, closed                          string
	expected, realized, fees, residual      string
	edgeBps                                 float64
	buyAvg, sellAvg                         string
	orders                                  int
}

var tradeHeader = []string{"trade_id", "plan_id", "symbol", "buy_venue", "sell_venue", "state", "qty", "opened_at", "closed_at",
	"expected_net_quote", "realized_net_quote", "fees_quote", "residual_base", "plan_net_bps", "buy_avg_price", "sell_avg_price", "orders"}

func writeTrade(w *csv.Writer, t *tradeRow) error {
	return w.Write([]string{t.id, t.plan, t.symbol, t.buy, t.sell, t.state, t.qty, t.opened, t.closed,
		t.expected, t.realized, t.fees, t.residual, strconv.FormatFloat(t.edgeBps, 'f', 2, 64), t.buyAvg, t.sellAvg, strconv.Itoa(t.orders)})
}

func decStr(d decimal.Decimal) string { return d.String() }

// sharpe returns mean/std of xs (population std), 0 when undefined.
func sharpe(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	v /= float64(len(xs))
	if v == 0 {
		return 0
	}
	return m / math.Sqrt(v)
}

func round4(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*1e4) / 1e4
}
