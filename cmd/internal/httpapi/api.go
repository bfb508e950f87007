package httpapi

import (
	"context"
	"errors"
	"time"

	"arb/strategy/execute"
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
	Mode      string    `json:"mode"` // how the venues trade: "live", "sim", "paper", or "mixed"
	Version   string    `json:"version,omitempty"`
	Revision  string    `json:"revision,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// Trading: plans pass to execution now: not killed, the durable log
	// available, and fresh books on every venue that has joined.
	Trading    bool   `json:"trading"`
	Killed     bool   `json:"killed"`
	KillReason string `json:"kill_reason,omitempty"`
	// KillSwitchPersistError is set while the kill switch's state could not
	// be saved (a halt would not survive a restart).
	KillSwitchPersistError string        `json:"kill_switch_persist_error,omitempty"`
	RulesVersion           string        `json:"rules_version"`
	Venues                 []VenueStatus `json:"venues"`
	// Journal is the durable log's (NATS JetStream's) state; zero when the
	// daemon does not report one.
	Journal *JournalStatus `json:"journal,omitempty"`
	// RulesFile is the rules file's state (readable or not, what is in
	// force).
	RulesFile *RulesFileStatus `json:"rules_file,omitempty"`
	// RulesKV is the NATS KV rules bucket's state, when one is configured.
	RulesKV *KVRulesStatus `json:"rules_kv,omitempty"`
	// Instance names the daemon in the fleet (its heartbeat key).
	Instance string `json:"instance,omitempty"`
	// FleetKill is the fleet's shared kill switch, when one is configured.
	FleetKill *FleetKillStatus `json:"fleet_kill_switch,omitempty"`
	// ShuttingDown is true once a shutdown has begun (readiness is false).
	ShuttingDown bool `json:"shutting_down,omitempty"`
	// Risk is the risk engine's state (rule-set version and source, kill
	// switch, reload results), as the engine reports it.
	Risk any `json:"risk,omitempty"`
	// Detector counts the detector's work.
	Detector DetectorStatus `json:"detector"`
	// Plans are the most recent plans with their expected edge and the risk
	// decision, newest first.
	Plans []PlanStatus `json:"recent_plans"`
	// Execution is the executor's state.
	Execution *ExecutionStatus `json:"execution,omitempty"`
}

// ExecutionStatus is the executor's part of /api/v1/status.
type ExecutionStatus struct {
	// Ready: plans are taken (the journal replayed, every unfinished trade
	// of it reconciled and closed, the journal healthy).
	Ready          bool   `json:"ready"`
	Halted         bool   `json:"halted"`
	OpenTrades     int    `json:"open_trades"`
	PlansInFlight  int64  `json:"plans_in_flight"` // submitted and not released
	Opened         uint64 `json:"opened"`
	ClosedFlat     uint64 `json:"closed_flat"`
	ClosedResidual uint64 `json:"closed_residual"`
	Recovered      uint64 `json:"recovered"` // unfinished trades taken over from the journal
	JournalErrors  uint64 `json:"journal_errors"`
	Rebuilds       uint64 `json:"rebuilds"`
	PushesDropped  uint64 `json:"pushes_dropped"`
	Anomalies      uint64 `json:"anomalies"`
	// ResidualExposure is the value of the residuals and open imbalances
	// in the account currency; null while it is unknown: an instrument
	// with a position has no fresh price (after a restart that recovered
	// an open trade, before the books are in), when the risk rules see
	// NaN and refuse every plan.
	ResidualExposure *float64 `json:"residual_exposure_quote"`
	// Latency holds the order path's latency quantiles.
	Latency any `json:"latency,omitempty"`
}

// CircuitStatus is a trading client's circuit while it is open.
type CircuitStatus struct {
	Open   bool       `json:"open"`
	Reason string     `json:"reason,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
}

// DetectorStatus counts the spread detector's work since start.
type DetectorStatus struct {
	Events   uint64 `json:"events"`   // book events evaluated
	Plans    uint64 `json:"plans"`    // plans emitted
	Approved uint64 `json:"approved"` // plans risk allowed (possibly clipped)
	Rejected uint64 `json:"rejected"` // plans risk rejected or halted, or refused below
	// RefusedJournal counts plans the rules passed but that were refused
	// because the durable log could not store their record.
	RefusedJournal uint64 `json:"refused_journal_unavailable"`
}

// JournalStatus is the durable log's state: the NATS connection and
// whether the JetStream event stream can store an event now.
type JournalStatus struct {
	URL         string    `json:"url"` // "embedded ..." or "external"
	Connected   bool      `json:"connected"`
	Status      string    `json:"status"`  // CONNECTED, RECONNECTING, CLOSED, ...
	Durable     bool      `json:"durable"` // events can be stored; plans pass only then
	Since       time.Time `json:"since"`   // when Durable last changed
	LastError   string    `json:"last_error,omitempty"`
	Disconnects uint64    `json:"disconnects"`
	Reconnects  uint64    `json:"reconnects"`
}

// RulesFileStatus is the rules file's state. While it cannot be read the
// running rules stay in force.
type RulesFileStatus struct {
	Path     string    `json:"path"`
	Readable bool      `json:"readable"`
	Error    string    `json:"error,omitempty"` // why not
	Since    time.Time `json:"since"`           // when Readable last changed
	InForce  string    `json:"in_force"`        // where the rules in force came from: file, embedded default, nats-kv
}

// KVRulesStatus is the NATS KV rules bucket's state.
type KVRulesStatus struct {
	Bucket          string     `json:"bucket"`
	SignedAt        *time.Time `json:"signed_at,omitempty"` // of the newest rule set accepted
	Accepted        uint64     `json:"accepted"`
	Refused         uint64     `json:"refused"`
	LastRejection   string     `json:"last_rejection,omitempty"`
	LastRejectionAt *time.Time `json:"last_rejection_at,omitempty"`
}

// FleetKillStatus is the state of the kill switch shared through a NATS KV
// bucket.
type FleetKillStatus struct {
	Bucket   string `json:"bucket"`
	Instance string `json:"instance"`
	// Revision is the newest revision of the bucket's kill switch this
	// daemon has applied, written or read.
	Revision uint64 `json:"revision"`
	// Pending is true while a halt or resume made here is not in the
	// bucket yet (retried every second).
	Pending     bool   `json:"pending"`
	Applied     uint64 `json:"applied"`      // changes applied here from the bucket
	Written     uint64 `json:"written"`      // changes made here written to the bucket
	WriteErrors uint64 `json:"write_errors"` // failed writes (retried)
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
	// Execution says what became of an approved plan: "submitted" to the
	// executor, or "refused: <reason>".
	Execution string `json:"execution,omitempty"`
}

// VenueStatus is one venue's line in StatusReport.
type VenueStatus struct {
	Venue string `json:"venue"`
	Kind  string `json:"kind"`
	// Trading is how the venue trades: live, sim (the in-process
	// simulator's endpoints), paper, or none (no trading client for its
	// kind in this build).
	Trading string `json:"trading,omitempty"`
	// Circuit is set while the venue's trading client refuses to send
	// (a ban, a Retry-After, repeated errors): why and until when.
	Circuit *CircuitStatus `json:"circuit,omitempty"`
	// OrderErrorRate and OrderLatencyMs are the recent order outcomes the
	// risk rules read (error_rate, latency_ms).
	OrderErrorRate float64 `json:"order_error_rate,omitempty"`
	OrderLatencyMs float64 `json:"order_latency_ms,omitempty"`
	// State is "running", or "waiting" while the venue has not answered
	// (its instrument filters are retried with backoff; Error says why).
	State      string     `json:"state,omitempty"`
	Error      string     `json:"error,omitempty"`
	NextRetry  *time.Time `json:"next_retry,omitempty"`
	Connected  bool       `json:"connected"`
	Books      int        `json:"books"`
	StaleBooks int        `json:"stale_books"`
	Messages   uint64     `json:"messages"`
	Rejects    uint64     `json:"rejects"`
	Gaps       uint64     `json:"gaps"`
	Resyncs    uint64     `json:"resyncs"`
	Reconnects uint64     `json:"reconnects"`
}

// Positions lists balances for /api/v1/positions.
type Positions interface {
	Positions(ctx context.Context) ([]Position, error)
}

// Position is one asset's balance on one venue. Amounts are exact decimal
// strings.
type Position struct {
	Venue   string `json:"venue"`
	Asset   string `json:"asset"`
	Balance string `json:"balance"`          // what the venue reports (a paper venue: its own account)
	Locked  string `json:"locked,omitempty"` // reserved by plans in flight
	// Filled is the net amount arb's fills moved on this venue (+ bought,
	// − paid, − fees), since the durable log began.
	Filled string `json:"filled,omitempty"`
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

// Trades lists the executor's trades (the design's Trades contract) and
// the orders of open trades.
type Trades interface {
	// Trades returns the last limit trades, newest first.
	Trades(ctx context.Context, limit int) ([]execute.TradeView, error)
	// OpenOrders returns the orders of open trades that are not resolved.
	OpenOrders(ctx context.Context) ([]execute.OrderView, error)
}

// Admin carries out the authenticated commands.
type Admin interface {
	// Kill stops all trading at once (the kill switch) and persists the
	// halted state before it returns; reason is logged and shown in the
	// status. A kill while already halted keeps the first reason and says
	// so (Engaged false). An error means the switch could not be engaged.
	Kill(ctx context.Context, reason string) (KillResult, error)
	// Resume lifts the kill switch; a resume while trading changes nothing
	// and says so (Changed false). Wrap ErrRefused to refuse (409).
	Resume(ctx context.Context) (ResumeResult, error)
	// ReloadRules reloads the risk rules and returns the version now in
	// force; a rules file that does not load is an error (422) and leaves
	// the old rules in force.
	ReloadRules(ctx context.Context) (version string, err error)
}

// KillResult says what a kill did.
type KillResult struct {
	Engaged      bool      // this kill engaged the switch; false: it was engaged already
	Reason       string    // the reason in force (the first one if it was engaged already)
	By           string    // who engaged it: "api", "rule", ...
	At           time.Time // when it was engaged
	Persisted    bool      // the halted state is saved and survives a restart
	PersistError string    // why it is not, if it is not
}

// ResumeResult says what a resume did.
type ResumeResult struct {
	Changed      bool // the switch was engaged and is now released
	Released     Halt // the halt released, when Changed
	Persisted    bool // the released state is saved
	PersistError string
}

// Halt describes one engagement of the kill switch.
type Halt struct {
	Reason string
	By     string
	Rule   string
	At     time.Time
}

// ErrRefused marks an admin command the daemon refuses in its current state
// (resume while books are stale, say): the route answers 409 Conflict with
// the error's text. Wrap it: fmt.Errorf("%w: books are stale", ErrRefused).
var ErrRefused = errors.New("refused")

// ErrBusy marks a read the daemon cannot answer right now because it is
// under load (its engine's control queue is full): the route answers 503
// with Retry-After, and the failure is logged at most once a second.
var ErrBusy = errors.New("busy; retry shortly")
