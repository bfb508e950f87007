package execute

import (
	"errors"
	"fmt"
	"time"

	"arb/exchange"
)

// Policy is how one pair is executed and compensated. It is recorded with
// each trade when it opens, so a trade replayed after a restart runs on the
// policy it started with even if the configuration changed meanwhile.
type Policy struct {
	// Mode: both entry legs at once, or one after the other.
	Mode Mode
	// First is the side sent first in Sequential mode (Buy or Sell).
	First exchange.Side

	// RetryMax is the most retry orders for a short leg (0 disables
	// retrying: a one-legged fill is unwound at once).
	RetryMax int
	// RetrySlippageBps is how much worse than the plan's limit a retry may
	// be priced: a buy at most limit×(1+bps/1e4), a sell at least
	// limit×(1−bps/1e4). A retry is sent only while the venue's book is
	// inside that bound.
	RetrySlippageBps int
	// RetryWindow is how long after the legs turned out unequal new retries
	// may be sent.
	RetryWindow time.Duration

	// UnwindMax is the most unwind orders (0 leaves any excess as a
	// residual).
	UnwindMax int
	// UnwindSlippageBps prices an unwind through the book: a sell at
	// bid×(1−bps/1e4), a buy at ask×(1+bps/1e4).
	UnwindSlippageBps int
	// UnwindMaxLossBps bounds an unwind against the plan's price on that
	// venue: a sell back is never below buy limit×(1−bps/1e4), a buy back
	// never above sell limit×(1+bps/1e4). Past it the excess stays a
	// residual for the operator: a crash in one book is not sold into.
	UnwindMaxLossBps int
	// UnwindWindow is how long after unwinding began new unwinds may be sent.
	UnwindWindow time.Duration

	// AckTimeout is how long a venue call (place, cancel, query, fills) may
	// go unanswered before its outcome is taken as unknown and the order
	// is queried.
	AckTimeout time.Duration
	// FinalTimeout is how long an acknowledged IOC order may stay open
	// before it is cancelled.
	FinalTimeout time.Duration
	// QueryInterval is the pause between two queries of an unresolved
	// order (a Retry-After from the venue lengthens it).
	QueryInterval time.Duration
	// NotFoundAfter is the least time after an order was sent before a
	// "not found" answer to a query proves it never reached the venue: at
	// least the trading client's receive window (Binance recvWindow, OKX
	// expTime, Bybit recv_window) plus clock skew, after which a delayed
	// request is refused by the venue. Earlier "not found" answers are
	// queried again.
	NotFoundAfter time.Duration
	// ResendWindow is how long after its intent an order may still be
	// (re)sent with its client id: after a 429 or a transient error, or a
	// proven "not found". Later, it counts as not placed and compensation
	// decides afresh with a current price.
	ResendWindow time.Duration
	// MaxResends bounds the sends of one intent beyond the first.
	MaxResends int
	// FillTimeout is how long to wait for the fills of a resolved order
	// before fetching them (FillsSince), and between fetches.
	FillTimeout time.Duration
	// Deadline is how long a trade may live from its opening (or from its
	// recovery after a restart). At the deadline it closes, whatever is
	// unresolved, as closed_residual.
	Deadline time.Duration
}

// Policy defaults (DefaultPolicy).
const (
	DefaultRetryMax          = 2
	DefaultRetrySlippageBps  = 10
	DefaultRetryWindow       = 3 * time.Second
	DefaultUnwindMax         = 3
	DefaultUnwindSlippageBps = 20
	DefaultUnwindMaxLossBps  = 150
	DefaultUnwindWindow      = 5 * time.Second
	DefaultAckTimeout        = 2 * time.Second
	DefaultFinalTimeout      = 2 * time.Second
	DefaultQueryInterval     = 500 * time.Millisecond
	DefaultNotFoundAfter     = 7 * time.Second
	DefaultResendWindow      = time.Second
	DefaultMaxResends        = 2
	DefaultFillTimeout       = 2 * time.Second
	DefaultDeadline          = time.Minute
)

// Bounds on a Policy: they size the per-trade order table.
const (
	// MaxRetries bounds Policy.RetryMax.
	MaxRetries = 8
	// MaxUnwinds bounds Policy.UnwindMax.
	MaxUnwinds = 8
	// MaxOrders is the most orders of one trade: two entries, retries and
	// unwinds.
	MaxOrders = 2 + MaxRetries + MaxUnwinds
	maxBps    = 1000 // 10 %: more is a unit mistake
)

// DefaultPolicy returns the default Policy: concurrent legs.
func DefaultPolicy() Policy {
	return Policy{
		Mode: Concurrent, First: exchange.Buy,
		RetryMax: DefaultRetryMax, RetrySlippageBps: DefaultRetrySlippageBps, RetryWindow: DefaultRetryWindow,
		UnwindMax: DefaultUnwindMax, UnwindSlippageBps: DefaultUnwindSlippageBps,
		UnwindMaxLossBps: DefaultUnwindMaxLossBps, UnwindWindow: DefaultUnwindWindow,
		AckTimeout: DefaultAckTimeout, FinalTimeout: DefaultFinalTimeout, QueryInterval: DefaultQueryInterval,
		NotFoundAfter: DefaultNotFoundAfter, ResendWindow: DefaultResendWindow, MaxResends: DefaultMaxResends,
		FillTimeout: DefaultFillTimeout, Deadline: DefaultDeadline,
	}
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("execute: invalid config")

// Validate checks p, naming the offending field by its config key.
func (p *Policy) Validate() error {
	pos := func(d time.Duration) bool { return d > 0 }
	switch {
	case p.Mode != Concurrent && p.Mode != Sequential:
		return fmt.Errorf("%w: mode: %d is neither concurrent nor sequential", ErrConfig, p.Mode)
	case p.First != exchange.Buy && p.First != exchange.Sell:
		return fmt.Errorf("%w: first: must be buy or sell", ErrConfig)
	case p.RetryMax < 0 || p.RetryMax > MaxRetries:
		return fmt.Errorf("%w: retry_max: %d outside 0..%d", ErrConfig, p.RetryMax, MaxRetries)
	case p.UnwindMax < 0 || p.UnwindMax > MaxUnwinds:
		return fmt.Errorf("%w: unwind_max: %d outside 0..%d", ErrConfig, p.UnwindMax, MaxUnwinds)
	case p.RetrySlippageBps < 0 || p.RetrySlippageBps > maxBps:
		return fmt.Errorf("%w: retry_slippage_bps: %d outside 0..%d", ErrConfig, p.RetrySlippageBps, maxBps)
	case p.UnwindSlippageBps < 0 || p.UnwindSlippageBps > maxBps:
		return fmt.Errorf("%w: unwind_slippage_bps: %d outside 0..%d", ErrConfig, p.UnwindSlippageBps, maxBps)
	case p.UnwindMaxLossBps < 0 || p.UnwindMaxLossBps > maxBps:
		return fmt.Errorf("%w: unwind_max_loss_bps: %d outside 0..%d", ErrConfig, p.UnwindMaxLossBps, maxBps)
	case p.RetryMax > 0 && !pos(p.RetryWindow):
		return fmt.Errorf("%w: retry_window: must be > 0", ErrConfig)
	case p.UnwindMax > 0 && !pos(p.UnwindWindow):
		return fmt.Errorf("%w: unwind_window: must be > 0", ErrConfig)
	case !pos(p.AckTimeout):
		return fmt.Errorf("%w: ack_timeout: must be > 0", ErrConfig)
	case !pos(p.FinalTimeout):
		return fmt.Errorf("%w: final_timeout: must be > 0", ErrConfig)
	case !pos(p.QueryInterval):
		return fmt.Errorf("%w: query_interval: must be > 0", ErrConfig)
	case !pos(p.NotFoundAfter):
		return fmt.Errorf("%w: not_found_after: must be > 0", ErrConfig)
	case p.ResendWindow < 0:
		return fmt.Errorf("%w: resend_window: must be ≥ 0", ErrConfig)
	case p.MaxResends < 0 || p.MaxResends > 16:
		return fmt.Errorf("%w: max_resends: %d outside 0..16", ErrConfig, p.MaxResends)
	case !pos(p.FillTimeout):
		return fmt.Errorf("%w: fill_timeout: must be > 0", ErrConfig)
	}
	// Every step must have room before the deadline: resolving an unknown
	// entry, retrying, unwinding, resolving the last order, and one fill
	// fetch.
	need := p.AckTimeout + p.NotFoundAfter + p.RetryWindow + p.UnwindWindow + p.AckTimeout + p.NotFoundAfter + p.FillTimeout
	if p.Deadline < need {
		return fmt.Errorf("%w: deadline: %v is shorter than its steps (2×(ack_timeout+not_found_after)+retry_window+unwind_window+fill_timeout = %v)",
			ErrConfig, p.Deadline, need)
	}
	return nil
}

// PairPolicy applies Policy to the plans it matches: the plan's buy venue,
// sell venue and instrument (0 matches any).
type PairPolicy struct {
	BuyVenue  exchange.VenueID
	SellVenue exchange.VenueID
	Inst      exchange.InstrumentID
	Policy    Policy
}

func (pp *PairPolicy) matches(buy, sell exchange.VenueID, inst exchange.InstrumentID) bool {
	return (pp.BuyVenue == 0 || pp.BuyVenue == buy) && (pp.SellVenue == 0 || pp.SellVenue == sell) &&
		(pp.Inst == 0 || pp.Inst == inst)
}
