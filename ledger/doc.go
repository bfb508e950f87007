// Package ledger is arb's double-entry ledger: pure, exact, no I/O. It
// turns the executor's fill and trade events into balanced transactions
// and answers what each trade made, where every unit of every asset is,
// and whether the books hold together.
//
// # Model
//
// Accounts are per venue and per asset, in four kinds (AccountKind):
//
//	assets:<venue>:<ASSET>           Holdings: what arb holds there (positions, inventory)
//	expenses:fees:<venue>:<ASSET>    Fees: fees the venue charged, in the asset charged; gas of on-chain legs
//	income:trading:<venue>:<ASSET>   Trading: the PnL counter-account of every fill
//	equity:external:<venue>:<ASSET>  ExternalFunds: opening balances, deposits, withdrawals
//
// Like TigerBeetle's transfers, every event becomes one Transaction whose
// id is its idempotency key: a venue fill is fill:<venue>:<venue_fill_id>,
// a leg's gas gas:<trade_id>:<client_order_id>, an external transfer
// external:<venue>:<id>. Booking a key twice is impossible: the same event
// again is a Duplicate (nothing changes), the same key with other content
// is an ErrConflict (nothing changes, the publisher is wrong). Amounts are
// shopspring/decimal values exactly as the venue wrote them; products
// (price × quantity, fee × rate) are exact, and nothing divides.
//
// A buy of q BASE at p on venue V with fee f in FEE books
//
//	assets:V:BASE          +q        income:trading:V:BASE   −q
//	assets:V:QUOTE         −q·p      income:trading:V:QUOTE  +q·p
//	assets:V:FEE           −f        expenses:fees:V:FEE     +f
//
// (a sell the opposite signs; entries on the same account are merged), so
// every asset's entries sum to zero in every transaction, and per asset
// the balances of all accounts sum to zero at all times. Both are asserted
// as each transaction is posted; a violation panics with *InvariantError —
// it means a bug, and books known to be wrong must stop what depends on
// them, loudly. Check re-derives everything from the transactions the slow
// way for `arb ledger check`.
//
// # Trades and PnL
//
// A fill names its trade (trade_id). A trade's PnL (TradePnL) is computed
// from its fills and booked gas only, in the trade's quote asset: fills
// matched first in, first out in (ts, venue, venue_fill_id) order, so the
// figure does not depend on arrival order; fees in other assets are
// converted at the rate the fill carries (fee_quote_rate, the fill-time
// mid, recorded on the fill); a residual (the executor's closed_residual)
// is kept at its cost and marked to a mid for unrealized PnL. The trade
// event's own figures (expected_net_quote, realized_net_quote) are kept
// beside the ledger's, so slippage against the plan is visible per trade,
// per pair and per venue (PnL, TradesOf). Trade events apply by stream
// sequence (a newer one replaces an older, closed is final), so the result
// does not depend on their arrival order either.
//
// Value and MarkEquity mark holdings to current mids (an input) for equity,
// unrealized PnL and the UTC day's equity peak (the drawdown rule's input).
//
// # Wire form
//
// The events' JSON is the Fill, Trade and External types (event.go); the
// subjects and message ids are FillSubject/TradeSubject/ExternalSubject and
// the MsgID methods. DecodeFill, DecodeTrade and DecodeExternal are strict:
// unknown fields, numbers where decimal strings belong, exponents, and
// out-of-range values are rejected with ErrBadEvent (fuzzed).
//
// # Stores
//
// Apply returns a Change (new transactions, the fill, the trade's new row)
// that a store persists; ledger/pgstore is the PostgreSQL one. Without a
// store the ledger is rebuilt by replaying the stream. Exports write the
// journal format of hledger/ledger and Beancount (WriteJournal,
// WriteBeancount); Reconcile compares holdings with what venues report.
//
// A Ledger is used by one goroutine at a time. It imports only exchange,
// exchange/num, shopspring/decimal and the standard library.
package ledger
