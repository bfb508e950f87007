package exchange

import (
	"context"
	"time"

	"arb/exchange/num"
)

// VenueID identifies one configured venue, interned at start-up (1-based; 0 is
// "none"). It indexes dense tables on the hot path instead of string maps.
type VenueID uint8

// InstrumentID identifies one canonical instrument such as BTC-USDT, interned
// at start-up (1-based; 0 is "none"). All venues quoting the instrument share
// the id and its num.Scale.
type InstrumentID uint16

// Limits on the interned ids; tables sized by them stay small and dense.
const (
	MaxVenues      = 32
	MaxInstruments = 1024
)

// Side is the side of an order or a book.
type Side uint8

// Sides. Zero is invalid so a forgotten field is caught.
const (
	Buy Side = iota + 1
	Sell
)

// String returns "buy" or "sell".
func (s Side) String() string {
	switch s {
	case Buy:
		return "buy"
	case Sell:
		return "sell"
	}
	return "invalid"
}

// Opposite returns the other side.
func (s Side) Opposite() Side {
	if s == Buy {
		return Sell
	}
	return Buy
}

// Asset describes a canonical instrument independent of any venue.
type Asset struct {
	ID     InstrumentID
	Symbol string // canonical: BASE-QUOTE, e.g. "BTC-USDT"
	Base   string
	Quote  string
	Scale  num.Scale
}

// Instrument is one canonical instrument as listed on one venue: the venue's
// symbol and its trading filters, expressed in the instrument's shared Scale.
type Instrument struct {
	ID          InstrumentID
	Venue       VenueID
	Symbol      string    // the venue's own symbol: "BTCUSDT", "BTC-USDT"
	Canonical   string    // "BTC-USDT"
	Base        string    // "BTC"
	Quote       string    // "USDT"
	Scale       num.Scale // shared by every venue quoting the instrument
	Tick        num.Price // price increment (0 = none)
	Step        num.Qty   // quantity increment (0 = none)
	MinQty      num.Qty   // smallest order quantity (0 = none)
	MinNotional num.Quote // smallest order value in quote (0 = none)
}

// Registry is the start-up interning of venues and canonical instruments. It
// is built once by the wiring and read-only afterwards, so it is safe to share.
type Registry struct {
	Venues []VenueInfo // index = VenueID; [0] is unused
	Assets []Asset     // index = InstrumentID; [0] is unused
}

// VenueInfo names a configured venue.
type VenueInfo struct {
	ID   VenueID
	Name string // operator's name from config, used in labels and logs
	Kind string // protocol: "binance", "okx", "bybit", ...
}

// VenueName returns the venue's configured name, or "" for an unknown id.
func (r *Registry) VenueName(id VenueID) string {
	if int(id) < len(r.Venues) {
		return r.Venues[id].Name
	}
	return ""
}

// Asset returns the canonical instrument for id, or nil.
func (r *Registry) Asset(id InstrumentID) *Asset {
	if id != 0 && int(id) < len(r.Assets) {
		return &r.Assets[id]
	}
	return nil
}

// MarketData is a venue's market-data feed. Run connects, keeps the venue's
// books in sync and publishes BookTop events until ctx ends; it reconnects by
// itself and returns only ctx's error or a configuration error. Run is called
// once; the feed's Stats are safe to read from any goroutine.
type MarketData interface {
	Run(ctx context.Context) error
	Stats() *FeedStats
}

// The trading roles below are what one venue's trading client offers; a
// consumer declares the subset it needs. Every method is safe for concurrent
// use, takes ctx first, and returns errors carrying a Kind (see KindOf).

// Trader places, cancels and looks up orders by client order id.
type Trader interface {
	// PlaceOrder sends one order. A KindUnknownOutcome error means the order
	// may exist: it must be resolved with QueryOrder by the same ClientID,
	// never resubmitted blind; a resubmission reuses the ClientID.
	PlaceOrder(ctx context.Context, req OrderRequest) (OrderState, error)
	// CancelOrder cancels the order with this client id.
	CancelOrder(ctx context.Context, inst InstrumentID, clientID ID) (OrderState, error)
	// QueryOrder returns the venue's state of the order with this client id,
	// or a KindNotFound error if the venue does not know it.
	QueryOrder(ctx context.Context, inst InstrumentID, clientID ID) (OrderState, error)
}

// Reconciler lists what a dropped private stream may have missed.
type Reconciler interface {
	// OpenOrders lists the account's open orders on inst (0 = every
	// configured instrument).
	OpenOrders(ctx context.Context, inst InstrumentID) ([]OrderState, error)
	// FillsSince lists the fills on inst executed at or after since (Unix
	// ns), oldest first, paging through the venue's windows as needed.
	FillsSince(ctx context.Context, inst InstrumentID, since int64) ([]Fill, error)
}

// Accounts reports balances.
type Accounts interface {
	// Balances returns every asset the account holds on the venue.
	Balances(ctx context.Context) ([]Balance, error)
}

// PrivateSink receives a venue's private events: order states and fills,
// from the private stream, from responses that carry them, and from the
// REST reconciliation after every reconnect. The same fill or state may
// arrive more than once (by several paths, or repeated by the venue);
// consumers deduplicate fills by TradeID. Calls come from the client's
// goroutines and must not block.
type PrivateSink interface {
	OnOrder(OrderState)
	OnFill(Fill)
	// OnStream reports the private stream's state: up once subscribed (and
	// after the reconciliation that follows), down when it dropped; while
	// it is down the client polls the orders it knows to be in flight.
	OnStream(up bool)
}

// PrivateStream keeps a venue's private order stream running.
type PrivateStream interface {
	// RunPrivate connects, authenticates and subscribes, reconciles over
	// REST, and delivers events to sink until ctx ends, reconnecting with
	// backoff. It returns ctx's error or a configuration error.
	RunPrivate(ctx context.Context, sink PrivateSink) error
}

// Circuit is a trading client's verdict on whether its venue may be used:
// open after a ban (HTTP 418), a Retry-After, or repeated errors.
type Circuit struct {
	Open   bool
	Until  int64  // Unix ns when requests may resume (0 if unknown)
	Reason string // what opened it
}

// CircuitReporter is an optional capability of a trading client.
type CircuitReporter interface {
	Circuit() Circuit
}

// RateLimit is one of a venue's documented request budgets as a trading
// client spends it: Used of Limit units in the current Window (windows are
// aligned to multiples of Window since the Unix epoch, as the venues count
// them). Limit is the venue's figure; the client refuses requests a
// configured headroom below it, so Used/Limit stays under 1 unless the
// venue reported more use (another client sharing the key or the IP).
type RateLimit struct {
	Budget string // the venue's name for the budget ("REQUEST_WEIGHT", "order/create", ...)
	Used   int
	Limit  int
	Window time.Duration
	// BlockedUntil is when a Retry-After (HTTP 429) or a ban (HTTP 418)
	// stops blocking every request, Unix ns; 0 while none is in force. The
	// same for every budget of a client.
	BlockedUntil int64
}

// RateLimitReporter is an optional capability of a trading client: its
// rate-limit budgets and any block in force, for metrics and status.
type RateLimitReporter interface {
	RateLimits() []RateLimit
}
