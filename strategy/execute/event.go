package execute

import (
	"errors"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// EventKind is the type of an Event.
type EventKind uint8

// Event kinds: the results of the calls in Ready.Calls, and what venues
// report on their own.
const (
	EvPlaced       EventKind = iota + 1 // PlaceOrder returned State
	EvPlaceFailed                       // PlaceOrder failed with Err (RetryAfter)
	EvCanceled                          // CancelOrder returned State
	EvCancelFailed                      // CancelOrder failed with Err
	EvQueried                           // QueryOrder returned State
	EvQueryFailed                       // QueryOrder failed with Err (KindNotFound: the venue does not know the order)
	EvFillsFetched                      // FillsSince finished (its fills come as EvFill events before it); Err if it failed
	EvOrder                             // a venue state of an order, from the private stream or anywhere else
	EvFill                              // an execution, from the private stream, a response or a FillsSince
	EvStream                            // the private stream of Venue went Up or down
)

var eventKindNames = [...]string{"", "placed", "place_failed", "canceled", "cancel_failed", "queried", "query_failed",
	"fills_fetched", "order", "fill", "stream"}

// String returns the kind's name.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k != 0 {
		return eventKindNames[k]
	}
	return "invalid"
}

// Event is one input to the executor. Call results name the Trade and
// Order of their Call; EvOrder and EvFill are routed by the client order id
// (or the venue order id) they carry; EvStream names a Venue. It is a
// fixed-size value, passed by pointer.
type Event struct {
	Kind       EventKind
	Trade      TradeID
	Order      uint8
	State      exchange.OrderState // EvPlaced, EvCanceled, EvQueried, EvOrder
	Fill       exchange.Fill       // EvFill
	Err        exchange.ErrorKind  // *Failed, EvFillsFetched
	RetryAfter time.Duration       // *Failed with KindRateLimited
	Venue      exchange.VenueID    // EvStream, EvFillsFetched
	Inst       exchange.InstrumentID
	Up         bool // EvStream
	// CallAt and Attempt identify the call a result answers (Call.At,
	// Call.Attempt): an answer to an older send or an older query is
	// told apart from one to the current call.
	CallAt  int64
	Attempt uint8
}

// Result returns the event reporting the outcome of call c: the state a
// place, cancel or query returned, or its error (classified by
// exchange.KindOf; a Retry-After is taken from *exchange.Error). For
// CallFetchFills, st is ignored: deliver the fetched fills as EvFill events
// first, then this event.
func Result(c *Call, st exchange.OrderState, err error) Event {
	ev := Event{Trade: c.Trade, Order: c.Order, Venue: c.Req.Venue, Inst: c.Req.Inst, CallAt: c.At, Attempt: c.Attempt}
	if err != nil {
		ev.Err = exchange.KindOf(err)
		if ev.Err == exchange.KindUnknown {
			// An unclassified error is an unknown outcome: never guessed.
			ev.Err = exchange.KindUnknownOutcome
		}
		var e *exchange.Error
		if errors.As(err, &e) {
			ev.RetryAfter = e.RetryAfter
		}
	}
	switch c.Kind {
	case CallPlace:
		ev.Kind = EvPlaced
		if err != nil {
			ev.Kind = EvPlaceFailed
		}
	case CallCancel:
		ev.Kind = EvCanceled
		if err != nil {
			ev.Kind = EvCancelFailed
		}
	case CallQuery:
		ev.Kind = EvQueried
		if err != nil {
			ev.Kind = EvQueryFailed
		}
	case CallFetchFills:
		ev.Kind = EvFillsFetched
		return ev
	}
	if err == nil {
		ev.State = st
	}
	return ev
}

// Quotes returns the best bid and ask of an instrument on a venue, from a
// book known to be right (fresh, not stale), and false when there is none:
// retries and unwinds are priced from it, and never on a book that is not
// known. Called only when a retry or an unwind is being sized.
type Quotes func(v exchange.VenueID, i exchange.InstrumentID) (bid, ask num.Price, ok bool)

// FeeRates returns how much of quote one unit of asset is worth now (the
// mid of a fresh book), to convert a fee charged in a third asset (BNB,
// OKB) into the leg's quote. Called when such a fill arrives; the rate is
// recorded with the fill.
type FeeRates func(asset *exchange.ID, quote string) (num.Amount, bool)
