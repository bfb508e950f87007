package httpapi

import (
	"context"
	"errors"
	"time"
)

// The interfaces below are what the server needs from the daemon, one per
// concern, so the wiring implements each where its data lives. Every method
// may be called from several HTTP goroutines at once and must be safe for
// that; ctx carries the request's deadline (HandlerTimeout). A nil
// dependency makes its routes answer 503.

// Books lists the top of every book the daemon holds.
type Books interface {
	Books(ctx context.Context) ([]Book, error)
}

// Book is the top of one venue's book for one instrument, as
// /api/v1/books shows it. Prices and quantities are exact decimal strings
// (format them from the num values, never through float64); an empty
// string means the side is empty and is shown as null.
type Book struct {
	Venue      string
	Symbol     string // canonical, "BTC-USDT"
	Bid        string
	BidQty     string
	Ask        string
	AskQty     string
	ExchangeTS time.Time // the venue's timestamp of the update; zero = unknown (null)
	Stale      bool      // not usable for trading: resyncing, or older than age_max
}

// Readiness says whether the daemon is ready to trade, and if not, why.
type Readiness interface {
	Ready(ctx context.Context) (ready bool, reason string)
}

// Status reports the daemon's state for /api/v1/status.
type Status interface {
	Status(ctx context.Context) (StatusReport, error)
}

// StatusReport is the body of /api/v1/status.
type StatusReport struct {
	Mode         string        `json:"mode"` // "paper"
	StartedAt    time.Time     `json:"started_at"`
	Trading      bool          `json:"trading"` // plans are executed: ready and not killed
	Killed       bool          `json:"killed"`
	KillReason   string        `json:"kill_reason,omitempty"`
	RulesVersion string        `json:"rules_version"`
	Venues       []VenueStatus `json:"venues"`
	// Risk is the risk engine's state (rule-set version and source, kill
	// switch, reload results), as the engine reports it.
	Risk any `json:"risk,omitempty"`
	// Detector counts the detector's work.
	Detector DetectorStatus `json:"detector"`
	// Plans are the most recent plans with their expected edge and the risk
	// decision, newest first.
	Plans []PlanStatus `json:"recent_plans"`
}

// DetectorStatus counts the spread detector's work since start.
type DetectorStatus struct {
	Events   uint64 `json:"events"`   // book events evaluated
	Plans    uint64 `json:"plans"`    // plans emitted
	Approved uint64 `json:"approved"` // plans risk allowed (possibly clipped)
	Rejected uint64 `json:"rejected"` // plans risk rejected or halted
}

// PlanStatus is one dual-leg plan as the detector emitted it and as risk
// decided it. Amounts are exact decimal strings.
type PlanStatus struct {
	ID           string    `json:"id"`
	TS           time.Time `json:"ts"`
	Symbol       string    `json:"symbol"`
	BuyVenue     string    `json:"buy_venue"`
	SellVenue    string    `json:"sell_venue"`
	Qty          string    `json:"qty"`
	BuyLimit     string    `json:"buy_limit"`
	SellLimit    string    `json:"sell_limit"`
	GrossBps     float64   `json:"gross_edge_bps"`
	NetBps       float64   `json:"net_edge_bps"`
	NetQuote     string    `json:"net_edge_quote"`
	Decision     string    `json:"decision"`               // allow | clip | reject | halt
	ApprovedQty  string    `json:"approved_qty,omitempty"` // after a clip
	Rule         string    `json:"rule,omitempty"`
	Message      string    `json:"message,omitempty"`
	RulesVersion string    `json:"rules_version,omitempty"`
}

// VenueStatus is one venue's line in StatusReport.
type VenueStatus struct {
	Venue      string `json:"venue"`
	Kind       string `json:"kind"`
	Connected  bool   `json:"connected"`
	Books      int    `json:"books"`
	StaleBooks int    `json:"stale_books"`
	Messages   uint64 `json:"messages"`
	Rejects    uint64 `json:"rejects"`
	Gaps       uint64 `json:"gaps"`
	Resyncs    uint64 `json:"resyncs"`
	Reconnects uint64 `json:"reconnects"`
}

// Positions lists balances for /api/v1/positions.
type Positions interface {
	Positions(ctx context.Context) ([]Position, error)
}

// Position is one asset's balance on one venue. Amounts are exact decimal
// strings from the ledger.
type Position struct {
	Venue   string `json:"venue"`
	Asset   string `json:"asset"`
	Balance string `json:"balance"`
	Locked  string `json:"locked,omitempty"` // held by open orders
}

// PnL reports profit and loss for /api/v1/pnl.
type PnL interface {
	PnL(ctx context.Context) (PnLReport, error)
}

// PnLReport is the body of /api/v1/pnl. Amounts are exact decimal strings
// in Currency.
type PnLReport struct {
	Currency string    `json:"currency"` // e.g. "USDT"; quote equivalents are summed
	Realized string    `json:"realized"` // before fees
	Fees     string    `json:"fees"`
	Net      string    `json:"net"` // realized - fees
	Trades   uint64    `json:"trades"`
	AsOf     time.Time `json:"as_of"`
	Pairs    []PairPnL `json:"pairs,omitempty"`
}

// PairPnL is one symbol and venue pair's share of PnLReport.
type PairPnL struct {
	Symbol    string `json:"symbol"`
	BuyVenue  string `json:"buy_venue"`
	SellVenue string `json:"sell_venue"`
	Trades    uint64 `json:"trades"`
	Realized  string `json:"realized"`
	Fees      string `json:"fees"`
}

// Admin carries out the authenticated commands.
type Admin interface {
	// Kill stops all trading at once (the kill switch); reason is logged
	// and shown in the status.
	Kill(ctx context.Context, reason string) error
	// Resume lifts the kill switch. Wrap ErrRefused to refuse (409).
	Resume(ctx context.Context) error
	// ReloadRules reloads the risk rules and returns the version now in
	// force; a rules file that does not load is an error (422) and leaves
	// the old rules in force.
	ReloadRules(ctx context.Context) (version string, err error)
}

// ErrRefused marks an admin command the daemon refuses in its current state
// (resume while books are stale, say): the route answers 409 Conflict with
// the error's text. Wrap it: fmt.Errorf("%w: books are stale", ErrRefused).
var ErrRefused = errors.New("refused")
