package backtest

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// table is a plain text table, columns padded to their widest cell,
// numbers right-aligned.
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for ri, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if _, err := strconv.ParseFloat(strings.TrimSuffix(c, "%"), 64); err == nil && ri > 0 {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		if ri == 0 {
			total := 0
			for _, x := range width {
				total += x + 2
			}
			fmt.Fprintln(w, strings.Repeat("─", max(total-2, 0)))
		}
	}
}

// WriteSummary prints the report's summary and its pair and venue tables.
func WriteSummary(w io.Writer, r *Report) {
	fmt.Fprintf(w, "recording %s  %s → %s (trading from %s)\n\n", r.Recording.ID, r.Recording.From, r.Recording.To, r.Recording.TradeFrom)
	s := &table{}
	s.add("metric", "value")
	for _, kv := range [][2]string{
		{"events", strconv.FormatUint(r.Events, 10)}, {"book events", strconv.FormatUint(r.BookEvents, 10)},
		{"plans", strconv.FormatUint(r.Plans, 10)}, {"approved", strconv.FormatUint(r.Approved, 10)},
		{"rejected by risk", strconv.FormatUint(r.Rejected, 10)}, {"trades", strconv.FormatUint(r.Trades, 10)},
		{"closed flat / residual", fmt.Sprintf("%d / %d", r.ClosedFlat, r.Residual)}, {"fills", strconv.FormatUint(r.Fills, 10)},
		{"realized PnL", r.RealizedPnL}, {"fees", r.Fees}, {"expected net", r.ExpectedNet},
		{"win rate", strconv.FormatFloat(r.WinRate*100, 'f', 1, 64) + "%"}, {"max drawdown", r.MaxDrawdown},
		{"sharpe (hourly)", strconv.FormatFloat(r.SharpeHourly, 'f', 3, 64)},
	} {
		s.add(kv[0], kv[1])
	}
	s.write(w)
	fmt.Fprintln(w)
	p := &table{}
	p.add("pair", "opps", "plans", "rejected", "trades", "win rate", "expected", "realized PnL")
	for _, x := range r.Pairs {
		if x.Opportunities == 0 && x.Plans == 0 {
			continue
		}
		p.add(x.Symbol+" "+x.BuyVenue+"→"+x.SellVenue, strconv.FormatUint(x.Opportunities, 10), strconv.FormatUint(x.Plans, 10),
			strconv.FormatUint(x.Rejected, 10), strconv.FormatUint(x.Trades, 10), strconv.FormatFloat(x.WinRate*100, 'f', 1, 64)+"%",
			x.ExpectedNet, x.RealizedPnL)
	}
	p.write(w)
	fmt.Fprintln(w)
	v := &table{}
	v.add("venue", "orders", "fills", "rejected", "unfilled", "fees", "messages", "feed rejects")
	for _, x := range r.Venues {
		v.add(x.Venue, strconv.FormatUint(x.Orders, 10), strconv.FormatUint(x.Fills, 10), strconv.FormatUint(x.Rejected, 10),
			strconv.FormatUint(x.Unfilled, 10), x.Fees, strconv.FormatUint(x.Messages, 10), strconv.FormatUint(x.FeedReject, 10))
	}
	v.write(w)
	if len(r.Rejections) > 0 {
		fmt.Fprintln(w)
		k := &table{}
		k.add("rule", "action", "count")
		for _, x := range r.Rejections {
			k.add(x.Rule, x.Action, strconv.FormatUint(x.Count, 10))
		}
		k.write(w)
	}
	for _, m := range r.Warnings {
		fmt.Fprintln(w, "warning:", m)
	}
}

// Progress draws a progress bar with events/s and ETA on a terminal.
type Progress struct {
	W     io.Writer
	Label string
	start time.Time
	last  time.Time
}

// Update redraws the bar (at most 10 times a second, and at the end).
func (p *Progress) Update(done, total int64, events uint64) {
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	if done < total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	const width = 30
	n := int(frac * width)
	bar := strings.Repeat("█", n) + strings.Repeat("░", width-n)
	el := now.Sub(p.start).Seconds()
	rate, eta := "", ""
	if el > 0 && events > 0 {
		rate = fmt.Sprintf("  %.2fM events/s", float64(events)/el/1e6)
	}
	if frac > 0 && frac < 1 {
		eta = "  ETA " + (time.Duration(el/frac*(1-frac)) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.W, "\r%s %s %5.1f%%%s%s   ", p.Label, bar, frac*100, rate, eta)
	if done >= total {
		fmt.Fprintln(p.W)
	}
}
