package execute

import (
	"time"

	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy/spread"
)

// RecordKind is the type of a journal record. Persisted: only ever
// appended to.
type RecordKind uint8

// Record kinds. A trade's durable state is exactly the fold of its records
// (Trade.apply): replaying them rebuilds it.
const (
	// RecOpen: a trade opened from a plan (Record.Open). It carries the
	// entry intents' parameters, the policy and the legs' filters.
	RecOpen RecordKind = iota + 1
	// RecIntent: an order was decided (Record.Purpose, Leg, Req). Its
	// client order id is its deduplication id. It is persisted before the
	// order is sent.
	RecIntent
	// RecResend: an intent is sent again with the same client id
	// (Record.Attempt is the resend number, 1-based), after a rate limit,
	// a transient error, or a proven "not found".
	RecResend
	// RecState: a venue's state of an order (Record.State) that told
	// something new: acknowledged, more filled, final.
	RecState
	// RecFailed: an order is known never to have been placed
	// (Record.Reason), without a venue state to say so.
	RecFailed
	// RecFill: an execution (Record.Fill) with the conversion rate of its
	// fee into the leg's quote asset (Record.FeeRate).
	RecFill
	// RecTransition: the trade changed state (Record.To). A transition to
	// a closed state carries the residual and the unresolved orders.
	RecTransition
	// RecRecover: the trade was recovered after a restart; its deadline
	// and its current step's window restart at Record.TS.
	RecRecover
	// RecEpoch: an executor started with epoch Record.Epoch.
	RecEpoch
)

var recordKindNames = [...]string{"", "open", "intent", "resend", "state", "failed", "fill", "transition", "recover", "epoch"}

// String returns the kind's name, used in JSON and in journal subjects.
func (k RecordKind) String() string {
	if int(k) < len(recordKindNames) && k != 0 {
		return recordKindNames[k]
	}
	return "invalid"
}

func recordKindOf(s string) (RecordKind, bool) {
	for i := 1; i < len(recordKindNames); i++ {
		if recordKindNames[i] == s {
			return RecordKind(i), true
		}
	}
	return 0, false
}

// Reason says why an order is known not to be on the venue.
type Reason uint8

// Reasons of a RecFailed. Persisted: only ever appended to.
const (
	// ReasonRejected: the venue refused the order (rejected, or auth).
	ReasonRejected Reason = iota + 1
	// ReasonNotPlaced: the order never reached the venue (proven "not
	// found", or refused before acceptance — 429, transient — and not
	// resent within the resend window).
	ReasonNotPlaced
)

var reasonNames = [...]string{"", "rejected", "not_placed"}

// String returns the reason's name.
func (r Reason) String() string {
	if int(r) < len(reasonNames) && r != 0 {
		return reasonNames[r]
	}
	return "invalid"
}

func reasonOf(s string) (Reason, bool) {
	for i := 1; i < len(reasonNames); i++ {
		if reasonNames[i] == s {
			return Reason(i), true
		}
	}
	return 0, false
}

// Leg indexes the plan's two legs in Opening.Legs.
const (
	LegBuy  = 0 // the plan's buy leg (its venue)
	LegSell = 1 // the plan's sell leg (its venue)
)

// Filters are a venue's order filters for one instrument, in the
// instrument's scale (exchange.Instrument's).
type Filters struct {
	Tick        num.Price // price increment (0 = none)
	Step        num.Qty   // quantity increment (0 = none)
	MinQty      num.Qty   // smallest order quantity (0 = none)
	MinNotional num.Quote // smallest order value at its limit price (0 = none)
}

// LegPlan is one leg of an Opening.
type LegPlan struct {
	Venue   exchange.VenueID
	Inst    exchange.InstrumentID
	Side    exchange.Side
	Limit   num.Price // the plan's IOC limit
	Qty     num.Qty
	Base    string // the instrument's assets, for fees
	Quote   string
	Filters Filters
}

// Opening is what a trade starts from, recorded in its RecOpen: the plan's
// essentials, both legs with their venues' filters, the policy and the
// client order id prefix. It holds no pointer but strings.
type Opening struct {
	Plan        spread.PlanID
	Symbol      string
	Scale       num.Scale
	Qty         num.Qty
	ExpectedNet num.Quote // the plan's NetQuote
	PlanTS      int64     // the plan's decision time, Unix ns
	TickTS      int64     // receive time of the book update that made the plan (the newer leg's), Unix ns
	Prefix      string    // client order id prefix
	Legs        [2]LegPlan
	Policy      Policy
}

// Record is one journal record: an intent, an observation or a decision of
// a trade, persisted before the executor acts on it. It is a fixed-size
// value (Open points into the trade that made it); Codec turns it into
// JSON and back.
type Record struct {
	Kind  RecordKind
	Trade TradeID
	TS    int64 // the executor's clock when the record was made, Unix ns
	Order uint8 // the order's index in its trade (intent, resend, state, failed, fill)
	// ClientID is the order's client order id (intent, resend, state,
	// failed, fill): the records' deduplication ids are built from it.
	ClientID exchange.ID

	Open *Opening // RecOpen

	Purpose Purpose               // RecIntent
	Leg     uint8                 // RecIntent: LegBuy or LegSell (the venue of that plan leg)
	Req     exchange.OrderRequest // RecIntent

	Attempt uint8 // RecResend: 1 for the first resend

	State exchange.OrderState // RecState

	Reason Reason // RecFailed

	Fill    exchange.Fill // RecFill
	FeeRate num.Amount    // RecFill: quote of the leg per unit of FeeAsset (0 = no rate known)

	To         State   // RecTransition
	Residual   num.Qty // RecTransition to a closed state: base bought − base sold
	Unresolved uint8   // RecTransition to a closed state: orders never resolved
	// QtyDecimals is the trade's quantity scale (RecTransition to a closed
	// state), so the residual is written as a decimal.
	QtyDecimals uint8

	Epoch uint32 // RecEpoch
}

// Ready is what the executor hands out after Step, Tick or Open: records to
// persist, then calls to make. The caller persists every record (in order,
// durably) before making any call: an order whose intent is not in the
// journal is never sent. The slices are owned by the executor and valid
// until Advance.
type Ready struct {
	Records []Record
	Calls   []Call
}

// Empty reports whether there is nothing to do.
func (r *Ready) Empty() bool { return len(r.Records) == 0 && len(r.Calls) == 0 }

func (r *Ready) reset() {
	r.Records = r.Records[:0]
	r.Calls = r.Calls[:0]
}

// CallKind is a venue call the executor asks for.
type CallKind uint8

// Call kinds.
const (
	CallPlace      CallKind = iota + 1 // Trader.PlaceOrder(Req)
	CallCancel                         // Trader.CancelOrder(Req.Inst, Req.ClientID)
	CallQuery                          // Trader.QueryOrder(Req.Inst, Req.ClientID)
	CallFetchFills                     // Reconciler.FillsSince(Req.Inst, Since) on Req.Venue
)

var callKindNames = [...]string{"", "place", "cancel", "query", "fills"}

// String returns the call's name.
func (k CallKind) String() string {
	if int(k) < len(callKindNames) && k != 0 {
		return callKindNames[k]
	}
	return "invalid"
}

// Call is one venue call to make. Its result goes back into the executor
// as an Event naming the same Trade and Order (Result builds it).
type Call struct {
	Kind  CallKind
	Trade TradeID
	Order uint8
	Req   exchange.OrderRequest // the order (place); Venue, Inst and ClientID (cancel, query); Venue and Inst (fills)
	Since int64                 // CallFetchFills: Unix ns
	At    int64                 // when the call was decided (executor clock)
	// Attempt is the send of the order this call belongs to: 0 for the
	// intent's first send, n for its n-th resend.
	Attempt uint8
	// Purpose is the order's purpose; PlanTS the decision time of the
	// plan the trade came from and TickTS the receive time of the book
	// update that made it (Unix ns): plan-to-send and tick-to-order
	// latencies are measured on the entry places.
	Purpose Purpose
	PlanTS  int64
	TickTS  int64
	// Timeout is how long the call may take (the policy's AckTimeout):
	// past it the executor gives up on the answer, so the caller should
	// cancel the call then.
	Timeout time.Duration
}
