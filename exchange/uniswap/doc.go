// Package uniswap is an on-chain venue: one Uniswap V2-style constant-
// product pool, read and traded through go-ethereum's ethclient.
//
// # Contracts and bindings
//
// contracts/src holds the project's own Solidity sources: a pair faithful
// to Uniswap V2's swap, getReserves, sync, Sync/Swap events, uint112
// reserves and the 0.3 % fee (its balance-adjusted K check), a factory, a
// router with getAmountOut/getAmountIn/getAmountsOut/getAmountsIn,
// swapExactTokensForTokens and swapTokensForExactTokens with the deadline
// and slippage checks and revert strings of Router02, and an ERC-20.
// contracts/gen.sh compiles them with solc-js from the npm registry (the
// version in contracts/SOLC_VERSION) into contracts/build (ABI and
// bytecode, committed) and generates internal/bindings with abigen (v2) at
// the go-ethereum version of go.mod (`go generate ./exchange/uniswap/...`).
// Builds and CI need neither node nor solc. unisim deploys them on
// go-ethereum's simulated backend.
//
// # Pricing
//
// AmountOut and AmountIn are UniswapV2Library's getAmountOut/getAmountIn
// in 256-bit integers, rounding and reverting exactly as the contract
// (tested with Uniswap's published cases, and against the deployed pair
// on random reserves and amounts). Pool.Book turns reserves into a
// synthetic depth so the detector's depth walk applies unchanged: ten
// cumulative sizes doubling up to 10 % of the base reserve, each level the
// exact cost (asks, getAmountIn) or proceeds (bids, getAmountOut)
// difference over its quantity, ask prices rounded up and bid prices down,
// levels merged where rounding would not keep them strictly ordered.
// Walking the levels never understates a buy's cost or overstates a sale's
// proceeds at a level boundary, and the cost is convex, so between
// boundaries the walk is above the curve too. The 0.3 % fee is in the
// prices: the venue's taker fee in the detector config is 0.
//
// # Gas
//
// A swap's gas cost is SwapGas × (base fee of the block + the node's
// suggested priority fee), in wei of the native token, valued in the quote
// at the pool's own reserves ratio when the base is the wrapped native
// token (NativeBase), rounded up. It is published with the book
// (exchange.BookTop.Gas) so the detector nets the gas of the same block as
// the depth it walks (see strategy/spread's doc). Above MaxBaseFee or
// MaxPriorityFee the book is published stale (CauseGasCap) and the trader
// refuses to send.
//
// # Feed
//
// Feed (exchange.MarketData) takes a snapshot — the head, and getReserves
// at that block's hash — then follows new heads: pushed over a websocket
// subscription when the endpoint can push, polled over HTTP otherwise.
// Each head is applied by Tracker.Follow, the pure state machine that
// keeps the last ReorgDepth blocks and their Sync logs (fetched by block
// hash, so they are exactly that block's): a head that extends the tip is
// applied; any other is traced back through its parents to a kept block,
// everything above is rolled back and the new branch applied. A log pushed
// with Removed=true rolls back at once to before its block. A reorg deeper
// than the window takes a new snapshot. The block number is the book's
// sequence and the block time its exchange time. While blocks keep coming
// the book is republished every Refresh with a new receive time (the state
// is right until the next block); with no block for BlockStale it is
// published stale (CauseAge). Tracker is specified by testdata/tracker.txt
// and checked by a seeded simulation of random forks against a model.
//
// # Trading
//
// Trader implements exchange.Trader, Reconciler, Accounts and
// PrivateStream. An order is a swap through the router, all or nothing
// (IOC): a buy of Qty at limit Px is swapTokensForExactTokens(Qty, at most
// Px × Qty of quote rounded down), a sell is swapExactTokensForTokens(Qty,
// at least Px × Qty rounded up), with a deadline of the latest block's time
// plus Deadline. A swap the node's gas estimate says would revert now is
// refused before anything is sent. Each transaction is signed with the key
// (from the environment or an encrypted keystore file, never the config;
// Signer prints only the address), written to the TxJournal (fsynced)
// before it is broadcast, and broadcast again with the same bytes on a
// transport error (same hash: idempotent). The client order id therefore
// always maps to the transaction: QueryOrder resolves an unknown outcome by
// looking that transaction up — its receipt (filled; reverted: rejected),
// its cancellation's receipt or the account's nonce past it (canceled), the
// chain's time past its deadline (expired) — and never sends again; an id
// the journal does not hold was never sent (not found). Nonces come from
// the chain's pending count and then count up under one lock; a refusal
// frees the nonce, "nonce too low" re-reads it once. CancelOrder (and
// RunPrivate, for a swap unmined past ReceiptTimeout) replaces the swap by
// a zero transfer at its nonce with fees raised by a quarter; whichever
// is mined decides. JSON-RPC calls have a timeout each and are retried
// with backoff on transport errors only (Retry).
//
// A fill comes from the receipt: the pair's Swap event gives the exact
// amounts; its price is rounded against us; its Fee is gas used ×
// effective gas price in FeeAsset ("ETH"): the executor and the ledger
// take gas from the fill's fee. CEX–DEX pairs run with the executor's
// sequential policy, the DEX leg first (a buy on the pool: First=Buy; a
// sell: First=Sell), with a FinalTimeout longer than a block, so the CEX
// hedge is sized to the swap's receipt; a reverted swap is a failed first
// leg and the trade ends flat.
//
// The gas of a swap that reverted, or of the cancellation mined in its
// place, has no fill to carry it: the order's final state carries it
// (OrderState.Fee in FeeAsset), the executor records it with the leg and
// counts it in the trade's realized net, and the ledger books it as the
// leg's gas. A swap whose nonce another transaction of the account took
// paid nothing.
package uniswap
