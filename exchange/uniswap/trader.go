package uniswap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"arb/exchange"
	"arb/exchange/num"
)

// TraderConfig parameterizes a Trader.
type TraderConfig struct {
	Venue exchange.VenueID
	Name  string
	Inst  exchange.Instrument

	URL    string
	Client Backend // used instead of dialing URL when set

	Pair, Router          common.Address
	BaseToken, QuoteToken common.Address
	// Signer is the trading account (KeyFromEnv, KeyFromKeystore).
	Signer *Signer
	// Journal maps client order ids to transactions durably.
	Journal TxJournal
	// FeeAsset is the asset gas is charged in, as the ledger names it
	// (default "ETH").
	FeeAsset string

	// Deadline is the router's deadline after the latest block's time:
	// past it a swap reverts, so an order is certainly unfilled once the
	// chain's time passes it.
	Deadline time.Duration
	// ReceiptTimeout is how long a swap may stay unmined before it is
	// replaced by a cancellation (a zero transfer at its nonce).
	ReceiptTimeout time.Duration
	// GasMarginBps is added to the node's gas estimate for the limit.
	GasMarginBps uint64
	// MaxBaseFee and MaxPriorityFee (wei) are the caps: above either no
	// swap is sent (KindRejected).
	MaxBaseFee, MaxPriorityFee *big.Int
	// PollInterval is how often RunPrivate looks at transactions in flight.
	PollInterval time.Duration
	Retry        Retry

	Logger *slog.Logger
	Now    func() int64
	Rand   *rand.Rand
}

// Trader defaults.
const (
	DefaultDeadline       = 2 * time.Minute
	DefaultReceiptTimeout = 3 * time.Minute
	DefaultGasMarginBps   = 2500
)

func (c *TraderConfig) defaults() {
	if c.FeeAsset == "" {
		c.FeeAsset = "ETH"
	}
	if c.Deadline == 0 {
		c.Deadline = DefaultDeadline
	}
	if c.ReceiptTimeout == 0 {
		c.ReceiptTimeout = DefaultReceiptTimeout
	}
	if c.GasMarginBps == 0 {
		c.GasMarginBps = DefaultGasMarginBps
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Retry == (Retry{}) {
		c.Retry = DefaultRetry
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = func() int64 { return time.Now().UnixNano() }
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(2, uint64(c.Venue)))
	}
}

func (c *TraderConfig) validate() error {
	switch {
	case c.Venue == 0 || c.Inst.ID == 0 || !c.Inst.Scale.Valid():
		return cfgErr("venue, instrument and scale are required")
	case c.URL == "" && c.Client == nil:
		return cfgErr("an rpc url is required")
	case c.Pair == (common.Address{}) || c.Router == (common.Address{}) || c.BaseToken == (common.Address{}) || c.QuoteToken == (common.Address{}):
		return cfgErr("pair, router, base and quote token addresses are required")
	case c.Signer == nil:
		return cfgErr("a signer (key from the environment or a keystore) is required")
	case c.Journal == nil:
		return cfgErr("a transaction journal is required")
	case c.MaxBaseFee == nil || c.MaxBaseFee.Sign() <= 0 || c.MaxPriorityFee == nil || c.MaxPriorityFee.Sign() < 0:
		return cfgErr("gas caps (max base fee > 0, max priority fee ≥ 0) are required")
	case c.Deadline <= 0 || c.ReceiptTimeout <= 0 || c.PollInterval <= 0:
		return cfgErr("deadline, receipt timeout and poll interval must be > 0")
	case len(c.FeeAsset) > exchange.IDMax:
		return cfgErr("fee asset %q too long", c.FeeAsset)
	}
	return nil
}

// swapOrder is one order: the swap transaction that carries it, and the
// cancellation that may replace it.
type swapOrder struct {
	rec    TxRecord // the swap
	req    exchange.OrderRequest
	hash   common.Hash
	raw    []byte
	cancel *TxRecord
	dead   bool // the node refused the swap: never in its pool
	final  *exchange.OrderState
	fill   *exchange.Fill
}

// TraderCounters are the trader's counters (any goroutine).
type TraderCounters struct {
	Sent       atomic.Uint64 // swaps broadcast
	Reverted   atomic.Uint64 // swaps mined and reverted
	Filled     atomic.Uint64 // swaps mined and filled
	Cancels    atomic.Uint64 // cancellations sent
	Refused    atomic.Uint64 // swaps refused before sending (gas cap, estimate revert, bad request)
	NonceSyncs atomic.Uint64 // nonce re-read from the chain
	Retries    atomic.Uint64 // JSON-RPC attempts retried after a transport error
}

// Trader trades one pool through the router: exchange.Trader (a swap is
// an IOC order), exchange.Reconciler, exchange.Accounts and
// exchange.PrivateStream. Safe for concurrent use.
type Trader struct {
	cfg  TraderConfig
	c    Backend
	rpc  *caller
	info PoolInfo
	id   *big.Int // chain id
	ctr  TraderCounters
	log  *slog.Logger

	send  sync.Mutex // one transaction signed and sent at a time (nonces)
	next  uint64
	fresh bool // next is known

	mu     sync.Mutex
	orders map[exchange.ID]*swapOrder
}

var (
	_ exchange.Trader        = (*Trader)(nil)
	_ exchange.Reconciler    = (*Trader)(nil)
	_ exchange.Accounts      = (*Trader)(nil)
	_ exchange.PrivateStream = (*Trader)(nil)
)

// NewTrader connects, reads the pool's tokens and the chain id, and
// rebuilds its orders from the journal.
func NewTrader(ctx context.Context, cfg TraderConfig) (*Trader, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Trader{cfg: cfg, orders: map[exchange.ID]*swapOrder{}, log: cfg.Logger.With("venue", cfg.Name)}
	t.rpc = &caller{r: cfg.Retry, rand: cfg.Rand, retries: func() { t.ctr.Retries.Add(1) }}
	t.c = cfg.Client
	if t.c == nil {
		dctx, cancel := context.WithTimeout(ctx, cfg.Retry.Timeout)
		cl, err := Dial(dctx, cfg.URL)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("uniswap: dial: %w", err)
		}
		t.c = cl
	}
	err := t.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		if t.info, err = LoadPool(ctx, t.c, cfg.Pair, cfg.BaseToken, cfg.QuoteToken); err != nil {
			return err
		}
		t.id, err = t.c.ChainID(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("uniswap: %w", err)
	}
	if t.info.BaseDec < cfg.Inst.Scale.Qty {
		return nil, cfgErr("the base token has %d decimals, fewer than the instrument's %d", t.info.BaseDec, cfg.Inst.Scale.Qty)
	}
	recs, err := cfg.Journal.Load()
	if err != nil {
		return nil, fmt.Errorf("uniswap: journal: %w", err)
	}
	for _, r := range recs {
		if err := t.restore(r); err != nil {
			return nil, fmt.Errorf("uniswap: journal: %w", err)
		}
	}
	return t, nil
}

// restore applies one journal record.
func (t *Trader) restore(r TxRecord) error {
	id, _ := exchange.MakeID(r.ClientID)
	switch r.Kind {
	case "swap":
		raw, _ := hexutil.Decode(r.Raw)
		side := exchange.Buy
		if r.Side == "sell" {
			side = exchange.Sell
		}
		t.orders[id] = &swapOrder{rec: r, hash: common.HexToHash(r.Hash), raw: raw,
			req: exchange.OrderRequest{ClientID: id, Venue: t.cfg.Venue, Inst: t.cfg.Inst.ID, Side: side,
				Px: num.Price(r.Px), Qty: num.Qty(r.Qty), TIF: exchange.IOC}}
	case "cancel":
		o := t.orders[id]
		if o == nil {
			return fmt.Errorf("cancel of unknown order %s", r.ClientID)
		}
		rc := r
		o.cancel = &rc
	case "dead":
		if o := t.orders[id]; o != nil {
			o.dead = true
		}
	}
	return nil
}

// TxHash returns the hash of the swap carrying the order with this client
// id (for operators and tests).
func (t *Trader) TxHash(clientID exchange.ID) (common.Hash, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.orders[clientID]
	if o == nil {
		return common.Hash{}, false
	}
	return o.hash, true
}

// Counters returns the trader's counters.
func (t *Trader) Counters() *TraderCounters { return &t.ctr }

// Address returns the trading account.
func (t *Trader) Address() common.Address { return t.cfg.Signer.Address() }

func (t *Trader) venueErr(kind exchange.ErrorKind, msg string, err error) error {
	return &exchange.Error{Kind: kind, Venue: t.cfg.Name, Msg: msg, Err: err}
}

// rpcKind classifies an RPC error for the executor: a transport failure is
// retryable before anything was sent.
func rpcKind(err error) exchange.ErrorKind {
	if Transient(err) {
		return exchange.KindRetryable
	}
	return exchange.KindRejected
}

// ftoken converts a PQ amount (price × qty in the instrument's units) to
// quote token units.
func (t *Trader) quoteUnits(px num.Price, q num.Qty, up bool) uint256.Int {
	var pq uint256.Int
	pq.Mul(uint256.NewInt(uint64(px)), uint256.NewInt(uint64(q)))
	p := Pool{BaseDec: t.info.BaseDec, QuoteDec: t.info.QuoteDec, Scale: t.cfg.Inst.Scale}
	return p.QuoteUnits(&pq, up)
}

func (t *Trader) pool() *Pool {
	return &Pool{BaseDec: t.info.BaseDec, QuoteDec: t.info.QuoteDec, Scale: t.cfg.Inst.Scale}
}

// SwapCall returns the router call for req with deadline (Unix s): a buy
// is swapTokensForExactTokens (exactly Qty of base for at most Px × Qty of
// quote, rounded down), a sell is swapExactTokensForTokens (exactly Qty of
// base for at least Px × Qty of quote, rounded up): the limit price is
// the worst average price the swap accepts, and the quantity is exact.
func (t *Trader) SwapCall(req *exchange.OrderRequest, deadline uint64) []byte {
	base := t.pool().BaseUnits(req.Qty)
	self := t.cfg.Signer.Address()
	dl := new(big.Int).SetUint64(deadline)
	if req.Side == exchange.Buy {
		max := t.quoteUnits(req.Px, req.Qty, false)
		return routerABI.PackSwapTokensForExactTokens(base.ToBig(), max.ToBig(),
			[]common.Address{t.cfg.QuoteToken, t.cfg.BaseToken}, self, dl)
	}
	min := t.quoteUnits(req.Px, req.Qty, true)
	return routerABI.PackSwapExactTokensForTokens(base.ToBig(), min.ToBig(),
		[]common.Address{t.cfg.BaseToken, t.cfg.QuoteToken}, self, dl)
}

// fees returns the tip and fee cap for a transaction now, or an error when
// gas is above a cap.
func (t *Trader) fees(ctx context.Context) (head *types.Header, tip, feeCap *big.Int, err error) {
	err = t.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		if head, err = t.c.HeaderByNumber(ctx, nil); err != nil {
			return err
		}
		tip, err = t.c.SuggestGasTipCap(ctx)
		return err
	})
	if err != nil {
		return nil, nil, nil, t.venueErr(rpcKind(err), "gas price", err)
	}
	base := head.BaseFee
	if base == nil {
		base = new(big.Int)
	}
	if base.Cmp(t.cfg.MaxBaseFee) > 0 || tip.Cmp(t.cfg.MaxPriorityFee) > 0 {
		return nil, nil, nil, t.venueErr(exchange.KindRejected,
			fmt.Sprintf("gas above the cap: base fee %s wei (max %s), priority fee %s wei (max %s)", base, t.cfg.MaxBaseFee, tip, t.cfg.MaxPriorityFee), nil)
	}
	// Pay at most the capped base fee: twice the current one covers six
	// full blocks of increases; the cap bounds it.
	feeCap = new(big.Int).Mul(base, big.NewInt(2))
	if feeCap.Cmp(t.cfg.MaxBaseFee) > 0 {
		feeCap.Set(t.cfg.MaxBaseFee)
	}
	feeCap.Add(feeCap, tip)
	return head, tip, feeCap, nil
}

// PlaceOrder sends req as a swap. It returns once the transaction is
// accepted by the node (StatusNew: the venue order id is the transaction
// hash); the fill comes with the receipt (QueryOrder, RunPrivate). A swap
// that would revert now (its limit is not reachable) is refused before
// anything is sent (KindRejected); so is one when gas is above a cap. A
// broadcast whose outcome is unknown returns KindUnknownOutcome: the
// transaction is in the journal and QueryOrder finds it.
func (t *Trader) PlaceOrder(ctx context.Context, req exchange.OrderRequest) (exchange.OrderState, error) {
	switch {
	case req.Venue != t.cfg.Venue || req.Inst != t.cfg.Inst.ID:
		t.ctr.Refused.Add(1)
		return exchange.OrderState{}, t.venueErr(exchange.KindRejected, "order for another venue or instrument", nil)
	case req.Qty <= 0 || req.Px <= 0 || req.Side != exchange.Buy && req.Side != exchange.Sell:
		t.ctr.Refused.Add(1)
		return exchange.OrderState{}, t.venueErr(exchange.KindRejected, "quantity, price and side are required", nil)
	case !exchange.ValidClientID(req.ClientID):
		t.ctr.Refused.Add(1)
		return exchange.OrderState{}, t.venueErr(exchange.KindRejected, "invalid client order id", nil)
	}
	t.mu.Lock()
	o := t.orders[req.ClientID]
	t.mu.Unlock()
	if o != nil && !o.dead {
		// The same intent again: the transaction exists; never a second.
		return t.QueryOrder(ctx, req.Inst, req.ClientID)
	}
	head, tip, feeCap, err := t.fees(ctx)
	if err != nil {
		t.ctr.Refused.Add(1)
		return exchange.OrderState{}, err
	}
	deadline := head.Time + uint64(t.cfg.Deadline/time.Second)
	data := t.SwapCall(&req, deadline)
	self := t.cfg.Signer.Address()
	router := t.cfg.Router
	var gas uint64
	err = t.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		gas, err = t.c.EstimateGas(ctx, ethereum.CallMsg{From: self, To: &router, Data: data, GasTipCap: tip, GasFeeCap: feeCap})
		return err
	})
	if err != nil {
		t.ctr.Refused.Add(1)
		return exchange.OrderState{}, t.venueErr(rpcKind(err), "swap would not execute now", err)
	}
	gas += gas * t.cfg.GasMarginBps / 10000

	t.send.Lock()
	defer t.send.Unlock()
	for attempt := 0; ; attempt++ {
		nonce, err := t.nonce(ctx)
		if err != nil {
			return exchange.OrderState{}, t.venueErr(rpcKind(err), "nonce", err)
		}
		tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: t.id, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
			Gas: gas, To: &router, Data: data}), types.LatestSignerForChainID(t.id), t.cfg.Signer.key)
		if err != nil {
			return exchange.OrderState{}, t.venueErr(exchange.KindRejected, "sign", err)
		}
		raw, err := tx.MarshalBinary()
		if err != nil {
			return exchange.OrderState{}, t.venueErr(exchange.KindRejected, "encode", err)
		}
		rec := TxRecord{Kind: "swap", ClientID: req.ClientID.String(), Side: req.Side.String(), Px: int64(req.Px), Qty: int64(req.Qty),
			Nonce: nonce, Hash: tx.Hash().Hex(), Raw: hexutil.Encode(raw), Deadline: deadline, SentAt: t.cfg.Now()}
		// Write-ahead: the transaction is durable before it can exist.
		if err := t.cfg.Journal.Append(rec); err != nil {
			return exchange.OrderState{}, t.venueErr(exchange.KindRetryable, "journal", err)
		}
		o := &swapOrder{rec: rec, req: req, hash: tx.Hash(), raw: raw}
		t.mu.Lock()
		t.orders[req.ClientID] = o
		t.mu.Unlock()
		t.next = nonce + 1
		err = t.broadcast(ctx, tx)
		switch {
		case err == nil:
			t.ctr.Sent.Add(1)
			return t.stateOf(o, exchange.StatusNew, 0), nil
		case Transient(err):
			// It may be in the node's pool: the journal has it.
			t.ctr.Sent.Add(1)
			return exchange.OrderState{}, t.venueErr(exchange.KindUnknownOutcome, "broadcast", err)
		}
		// The node refused it: it is not in the pool and its nonce is free.
		t.markDead(o)
		if nonceTooLow(err) && attempt == 0 {
			t.fresh = false // another transaction took it: re-read and try once more
			continue
		}
		t.fresh = false
		return exchange.OrderState{}, t.venueErr(exchange.KindRejected, "broadcast refused", err)
	}
}

func (t *Trader) markDead(o *swapOrder) {
	o.dead = true
	_ = t.cfg.Journal.Append(TxRecord{Kind: "dead", ClientID: o.rec.ClientID, Nonce: o.rec.Nonce, SentAt: t.cfg.Now()})
}

func nonceTooLow(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "nonce too low")
}

// nonce returns the next nonce (send lock held): the chain's pending
// count when not known, else one past the last sent.
func (t *Trader) nonce(ctx context.Context) (uint64, error) {
	if t.fresh {
		return t.next, nil
	}
	var n uint64
	err := t.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		n, err = t.c.PendingNonceAt(ctx, t.cfg.Signer.Address())
		return err
	})
	if err != nil {
		return 0, err
	}
	t.ctr.NonceSyncs.Add(1)
	t.next, t.fresh = n, true
	return n, nil
}

// broadcast sends a signed transaction, retrying transport failures with
// the same bytes (the same hash: idempotent); "already known" is success.
func (t *Trader) broadcast(ctx context.Context, tx *types.Transaction) error {
	err := t.rpc.do(ctx, func(ctx context.Context) error { return t.c.SendTransaction(ctx, tx) })
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "already known") {
		return nil
	}
	return err
}

// stateOf builds the order's state.
func (t *Trader) stateOf(o *swapOrder, st exchange.OrderStatus, filled num.Qty) exchange.OrderState {
	s := exchange.OrderState{Venue: t.cfg.Venue, Inst: t.cfg.Inst.ID, Side: o.req.Side, TIF: exchange.IOC, Status: st,
		ClientID: o.req.ClientID, VenueOrderID: txID(o.hash), Px: o.req.Px, Qty: o.req.Qty, FilledQty: filled, TS: t.cfg.Now()}
	return s
}

// txID is the venue order and trade id of a transaction: its hash's first
// 19 bytes in hex (exchange.ID holds 39 characters; 152 bits of a hash
// are unique in practice).
func txID(h common.Hash) exchange.ID {
	var buf [38]byte
	const hexd = "0123456789abcdef"
	for i := 0; i < 19; i++ {
		buf[2*i], buf[2*i+1] = hexd[h[i]>>4], hexd[h[i]&15]
	}
	id, _ := exchange.IDFromBytes(buf[:])
	return id
}

// QueryOrder resolves the order with this client id from the chain: the
// swap's receipt (filled, or reverted: rejected), the cancellation's
// receipt (canceled), the account's nonce past the swap's with neither
// receipt (canceled: another transaction took the nonce), the chain's
// time past the swap's deadline (expired: it can only revert now), or
// still pending (new). An id the journal does not hold was never sent:
// KindNotFound.
func (t *Trader) QueryOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	t.mu.Lock()
	o := t.orders[clientID]
	t.mu.Unlock()
	if o == nil || inst != t.cfg.Inst.ID {
		return exchange.OrderState{}, t.venueErr(exchange.KindNotFound, "no transaction for this client order id", nil)
	}
	st, _, err := t.resolve(ctx, o)
	return st, err
}

// resolve looks o up on the chain; the fill is returned with a filled state.
func (t *Trader) resolve(ctx context.Context, o *swapOrder) (exchange.OrderState, *exchange.Fill, error) {
	t.mu.Lock()
	if o.final != nil {
		st, f := *o.final, o.fill
		t.mu.Unlock()
		return st, f, nil
	}
	dead := o.dead
	t.mu.Unlock()
	if dead {
		return t.finish(o, t.stateOf(o, exchange.StatusRejected, 0), nil), nil, nil
	}
	var nonce uint64
	var rcpt, crcpt *types.Receipt
	var head *types.Header
	err := t.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		// Nonce first: if it is past the swap's, whichever transaction took
		// it is mined, and its receipt is found below.
		if nonce, err = t.c.NonceAt(ctx, t.cfg.Signer.Address(), nil); err != nil {
			return err
		}
		if rcpt, err = t.receipt(ctx, o.hash); err != nil {
			return err
		}
		if rcpt == nil && o.cancel != nil {
			if crcpt, err = t.receipt(ctx, common.HexToHash(o.cancel.Hash)); err != nil {
				return err
			}
		}
		if rcpt == nil && crcpt == nil {
			head, err = t.c.HeaderByNumber(ctx, nil)
		}
		return err
	})
	if err != nil {
		return exchange.OrderState{}, nil, t.venueErr(exchange.KindUnknownOutcome, "receipt lookup", err)
	}
	switch {
	case rcpt != nil && rcpt.Status == types.ReceiptStatusSuccessful:
		f, quote, err := t.fillOf(ctx, o, rcpt)
		if err != nil {
			return exchange.OrderState{}, nil, t.venueErr(exchange.KindUnknownOutcome, "receipt", err)
		}
		t.ctr.Filled.Add(1)
		st := t.stateOf(o, exchange.StatusFilled, f.Qty)
		st.TS = f.TS
		st.FilledQuote = quote
		return t.finish(o, st, f), f, nil
	case rcpt != nil:
		// Reverted: no fill, but the gas is spent; the state carries it.
		st := t.stateOf(o, exchange.StatusRejected, 0)
		if st.Fee, st.FeeAsset, err = t.gasFee(rcpt); err != nil {
			return exchange.OrderState{}, nil, t.venueErr(exchange.KindUnknownOutcome, "receipt", err)
		}
		t.ctr.Reverted.Add(1)
		return t.finish(o, st, nil), nil, nil
	case crcpt != nil:
		// The cancellation was mined at the swap's nonce: its gas is the
		// order's cost.
		st := t.stateOf(o, exchange.StatusCanceled, 0)
		if st.Fee, st.FeeAsset, err = t.gasFee(crcpt); err != nil {
			return exchange.OrderState{}, nil, t.venueErr(exchange.KindUnknownOutcome, "cancellation receipt", err)
		}
		return t.finish(o, st, nil), nil, nil
	case nonce > o.rec.Nonce:
		// Another transaction of this account took the nonce: it paid
		// its own gas, not this order's.
		return t.finish(o, t.stateOf(o, exchange.StatusCanceled, 0), nil), nil, nil
	case head != nil && head.Time > o.rec.Deadline:
		// Past the router's deadline: if it is ever mined it reverts.
		return t.finish(o, t.stateOf(o, exchange.StatusExpired, 0), nil), nil, nil
	}
	return t.stateOf(o, exchange.StatusNew, 0), nil, nil
}

func (t *Trader) finish(o *swapOrder, st exchange.OrderState, f *exchange.Fill) exchange.OrderState {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o.final == nil {
		o.final, o.fill = &st, f
	}
	return *o.final
}

// receipt returns the receipt of hash, or nil if it is not mined.
func (t *Trader) receipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	r, err := t.c.TransactionReceipt(ctx, h)
	if errors.Is(err, ethereum.NotFound) {
		return nil, nil
	}
	return r, err
}

// fillOf builds the fill of a successful swap from its receipt: the pair's
// Swap event gives the amounts; gas used × effective gas price is the fee,
// in the native asset (the ledger takes gas from the fill's fee). quote is
// the exact quote amount paid or received.
func (t *Trader) fillOf(ctx context.Context, o *swapOrder, r *types.Receipt) (f *exchange.Fill, quote num.Amount, err error) {
	var sw *SwapAmounts
	for _, l := range r.Logs {
		if l.Address != t.cfg.Pair || len(l.Topics) == 0 || l.Topics[0] != SwapTopic {
			continue
		}
		s, err := DecodeSwap(t.cfg.Pair, l)
		if err != nil {
			return nil, quote, err
		}
		sw = &s
	}
	if sw == nil {
		return nil, quote, errors.New("uniswap: successful swap without a Swap event of the pair")
	}
	baseIn, baseOut, quoteIn, quoteOut := &sw.In0, &sw.Out0, &sw.In1, &sw.Out1
	if !t.info.BaseIs0 {
		baseIn, baseOut, quoteIn, quoteOut = &sw.In1, &sw.Out1, &sw.In0, &sw.Out0
	}
	baseAmt, quoteAmt := baseOut, quoteIn
	if o.req.Side == exchange.Sell {
		baseAmt, quoteAmt = baseIn, quoteOut
	}
	unit := t.pool().baseUnit()
	var q, rem uint256.Int
	q.DivMod(baseAmt, &unit, &rem)
	if !rem.IsZero() || !q.IsUint64() || q.Uint64() == 0 || q.Uint64() > 1<<62 {
		return nil, quote, fmt.Errorf("uniswap: base amount %s is not a whole quantity", baseAmt.Dec())
	}
	qty := num.Qty(q.Uint64())
	// Average price in Px units: quote × 10^(Px+Qty) / (10^QuoteDec × qty),
	// rounded against us (a buy up, a sell down).
	px, ok := t.pool().levelPx(quoteAmt, new(uint256.Int), uint64(qty), uint(t.cfg.Inst.Scale.Px)+uint(t.cfg.Inst.Scale.Qty), o.req.Side == exchange.Buy)
	if !ok || px <= 0 {
		return nil, quote, fmt.Errorf("uniswap: quote amount %s gives no price", quoteAmt.Dec())
	}
	if quote, ok = amountOf(quoteAmt, t.info.QuoteDec, o.req.Side == exchange.Buy); !ok {
		return nil, quote, errors.New("uniswap: quote amount out of range")
	}
	var ts int64
	var hdr *types.Header
	err = t.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		hdr, err = t.c.HeaderByHash(ctx, r.BlockHash)
		return err
	})
	if err != nil {
		return nil, quote, err
	}
	ts = int64(hdr.Time) * 1e9
	fee, feeAsset, err := t.gasFee(r)
	if err != nil {
		return nil, quote, err
	}
	return &exchange.Fill{Venue: t.cfg.Venue, Inst: t.cfg.Inst.ID, Side: o.req.Side, TradeID: txID(o.hash), ClientID: o.req.ClientID,
		VenueOrderID: txID(o.hash), Px: px, Qty: qty, Fee: fee, FeeAsset: feeAsset, TS: ts}, quote, nil
}

// gasFee is what a mined transaction paid: gas used × effective gas
// price, in the native asset (FeeAsset), exact.
func (t *Trader) gasFee(r *types.Receipt) (num.Amount, exchange.ID, error) {
	if r.EffectiveGasPrice == nil || r.EffectiveGasPrice.Sign() < 0 {
		return num.Amount{}, exchange.ID{}, errors.New("uniswap: receipt without an effective gas price")
	}
	var wei uint256.Int
	if wei.SetFromBig(r.EffectiveGasPrice) {
		return num.Amount{}, exchange.ID{}, errors.New("uniswap: effective gas price out of range")
	}
	if _, o := wei.MulOverflow(&wei, uint256.NewInt(r.GasUsed)); o {
		return num.Amount{}, exchange.ID{}, errors.New("uniswap: gas fee out of range")
	}
	fee, ok := amountOf(&wei, 18, true)
	if !ok {
		return num.Amount{}, exchange.ID{}, errors.New("uniswap: gas fee out of range")
	}
	asset, _ := exchange.MakeID(t.cfg.FeeAsset)
	return fee, asset, nil
}

// amountOf returns v × 10^-dec as an exact num.Amount when it fits an
// int64, else with fewer decimals rounded up (a cost) or down.
func amountOf(v *uint256.Int, dec uint8, up bool) (num.Amount, bool) {
	x := *v
	d := dec
	for d > 0 {
		var r uint256.Int
		var ten = uint256.NewInt(10)
		var q uint256.Int
		q.DivMod(&x, ten, &r)
		if !r.IsZero() {
			break
		}
		x, d = q, d-1
	}
	for !x.IsUint64() || x.Uint64() > 1<<63-1 {
		if d == 0 {
			return num.Amount{}, false
		}
		var r uint256.Int
		x.DivMod(&x, uint256.NewInt(10), &r)
		if up && !r.IsZero() {
			x.AddUint64(&x, 1)
		}
		d--
	}
	return num.Amount{V: int64(x.Uint64()), Dec: d}, true
}

// CancelOrder tries to stop a swap still in the pool by sending a
// zero-value transfer to itself at the swap's nonce with the fees raised
// by a quarter (a node replaces a pending transaction only for a higher
// price). Whichever is mined decides the order: QueryOrder tells. A final
// order is returned as it is.
func (t *Trader) CancelOrder(ctx context.Context, inst exchange.InstrumentID, clientID exchange.ID) (exchange.OrderState, error) {
	st, err := t.QueryOrder(ctx, inst, clientID)
	if err != nil || st.Status.Final() {
		return st, err
	}
	t.mu.Lock()
	o := t.orders[clientID]
	hasCancel := o.cancel != nil
	t.mu.Unlock()
	if hasCancel {
		return st, nil
	}
	if err := t.sendCancel(ctx, o); err != nil {
		return st, err
	}
	return st, nil
}

func (t *Trader) sendCancel(ctx context.Context, o *swapOrder) error {
	var old types.Transaction
	if err := old.UnmarshalBinary(o.raw); err != nil {
		return t.venueErr(exchange.KindRejected, "journaled transaction", err)
	}
	_, tip, feeCap, err := t.fees(ctx)
	if err != nil {
		// Above the caps the replacement is still sent: freeing the nonce
		// is what matters, at the swap's own fees raised.
		tip, feeCap = new(big.Int), new(big.Int)
	}
	bump := func(v *big.Int) *big.Int {
		return new(big.Int).Div(new(big.Int).Mul(v, big.NewInt(125)), big.NewInt(100))
	}
	tip = maxBig(tip, bump(old.GasTipCap()))
	feeCap = maxBig(feeCap, bump(old.GasFeeCap()))
	if feeCap.Cmp(tip) < 0 {
		feeCap = new(big.Int).Set(tip)
	}
	self := t.cfg.Signer.Address()
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: t.id, Nonce: o.rec.Nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: 21000, To: &self}), types.LatestSignerForChainID(t.id), t.cfg.Signer.key)
	if err != nil {
		return t.venueErr(exchange.KindRejected, "sign cancel", err)
	}
	raw, _ := tx.MarshalBinary()
	rec := TxRecord{Kind: "cancel", ClientID: o.rec.ClientID, Nonce: o.rec.Nonce, Hash: tx.Hash().Hex(), Raw: hexutil.Encode(raw), SentAt: t.cfg.Now()}
	if err := t.cfg.Journal.Append(rec); err != nil {
		return t.venueErr(exchange.KindRetryable, "journal", err)
	}
	t.mu.Lock()
	o.cancel = &rec
	t.mu.Unlock()
	t.ctr.Cancels.Add(1)
	if err := t.broadcast(ctx, tx); err != nil && !Transient(err) {
		// "nonce too low": the swap (or something) is already mined.
		t.log.Warn("cancel refused by the node", "client_order_id", o.rec.ClientID, "err", err.Error())
	}
	return nil
}

func maxBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// OpenOrders lists the swaps not resolved yet (they resolve on query).
func (t *Trader) OpenOrders(ctx context.Context, inst exchange.InstrumentID) ([]exchange.OrderState, error) {
	var out []exchange.OrderState
	for _, o := range t.snapshot() {
		st, _, err := t.resolve(ctx, o)
		if err != nil {
			return nil, err
		}
		if !st.Status.Final() {
			out = append(out, st)
		}
	}
	return out, nil
}

// InFlight returns how many swaps were broadcast and are not known to be
// resolved yet (mined, replaced or expired, as RunPrivate or a query
// found). It makes no call: a caller about to plan against the pool's
// book can tell that the book does not include its own pending swap yet.
func (t *Trader) InFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, o := range t.orders {
		if o.final == nil && !o.dead {
			n++
		}
	}
	return n
}

func (t *Trader) snapshot() []*swapOrder {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*swapOrder, 0, len(t.orders))
	for _, o := range t.orders {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rec.SentAt < out[j].rec.SentAt })
	return out
}

// FillsSince lists the fills of this account's swaps executed at or after
// since (Unix ns), oldest first, from their receipts.
func (t *Trader) FillsSince(ctx context.Context, inst exchange.InstrumentID, since int64) ([]exchange.Fill, error) {
	var out []exchange.Fill
	for _, o := range t.snapshot() {
		if o.rec.SentAt < since-int64(time.Hour) {
			continue // sent long before: mined (or not) long before too
		}
		_, f, err := t.resolve(ctx, o)
		if err != nil {
			return nil, err
		}
		if f != nil && f.TS >= since {
			out = append(out, *f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TS < out[j].TS })
	return out, nil
}

// Balances returns the account's native balance (FeeAsset) and its base
// and quote token balances, exact.
func (t *Trader) Balances(ctx context.Context) ([]exchange.Balance, error) {
	self := t.cfg.Signer.Address()
	var eth, b, q *big.Int
	err := t.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		if eth, err = t.c.BalanceAt(ctx, self, nil); err != nil {
			return err
		}
		if b, err = t.tokenBalance(ctx, t.cfg.BaseToken); err != nil {
			return err
		}
		q, err = t.tokenBalance(ctx, t.cfg.QuoteToken)
		return err
	})
	if err != nil {
		return nil, t.venueErr(exchange.KindUnknown, "balances", err)
	}
	var out []exchange.Balance
	for _, x := range []struct {
		asset string
		v     *big.Int
		dec   uint8
	}{{t.cfg.FeeAsset, eth, 18}, {t.cfg.Inst.Base, b, t.info.BaseDec}, {t.cfg.Inst.Quote, q, t.info.QuoteDec}} {
		a, ok := amountOf(uint256.MustFromBig(x.v), x.dec, false)
		if !ok {
			return nil, t.venueErr(exchange.KindUnknown, "balance of "+x.asset+" out of range", nil)
		}
		out = append(out, exchange.Balance{Venue: t.cfg.Venue, Asset: x.asset, Total: a})
	}
	return out, nil
}

func (t *Trader) tokenBalance(ctx context.Context, token common.Address) (*big.Int, error) {
	out, err := t.c.CallContract(ctx, ethereum.CallMsg{To: &token, Data: erc20ABI.PackBalanceOf(t.cfg.Signer.Address())}, nil)
	if err != nil {
		return nil, err
	}
	return erc20ABI.UnpackBalanceOf(out)
}

// RunPrivate watches the swaps in flight every PollInterval: each one
// resolved is reported (OnOrder, and OnFill for a fill); one unmined past
// ReceiptTimeout is cancelled by replacement, so no swap lingers and its
// nonce is freed. It returns ctx's error.
func (t *Trader) RunPrivate(ctx context.Context, sink exchange.PrivateSink) error {
	sink.OnStream(true)
	defer sink.OnStream(false)
	tk := time.NewTicker(t.cfg.PollInterval)
	defer tk.Stop()
	reported := map[exchange.ID]bool{}
	for {
		for _, o := range t.snapshot() {
			if reported[o.req.ClientID] {
				continue
			}
			st, f, err := t.resolve(ctx, o)
			if err != nil {
				continue
			}
			if st.Status.Final() {
				if f != nil {
					sink.OnFill(*f)
				}
				sink.OnOrder(st)
				reported[o.req.ClientID] = true
				continue
			}
			t.mu.Lock()
			due := o.cancel == nil && t.cfg.Now()-o.rec.SentAt > int64(t.cfg.ReceiptTimeout)
			t.mu.Unlock()
			if due {
				t.log.Warn("swap unmined past the receipt timeout: cancelling", "client_order_id", o.rec.ClientID)
				_ = t.sendCancel(ctx, o)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tk.C:
		}
	}
}

// Approve makes sure the router may move the account's base and quote
// tokens (an approval of the maximum, sent once), waiting up to timeout
// for each approval to be mined.
func (t *Trader) Approve(ctx context.Context, timeout time.Duration) error {
	self := t.cfg.Signer.Address()
	maxU := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	half := new(big.Int).Lsh(big.NewInt(1), 255)
	for _, tok := range []common.Address{t.cfg.BaseToken, t.cfg.QuoteToken} {
		out, err := t.c.CallContract(ctx, ethereum.CallMsg{To: &tok, Data: erc20ABI.PackAllowance(self, t.cfg.Router)}, nil)
		if err != nil {
			return err
		}
		a, err := erc20ABI.UnpackAllowance(out)
		if err != nil {
			return err
		}
		if a.Cmp(half) >= 0 {
			continue
		}
		_, tip, feeCap, err := t.fees(ctx)
		if err != nil {
			return err
		}
		data := erc20ABI.PackApprove(t.cfg.Router, maxU)
		to := tok
		gas, err := t.c.EstimateGas(ctx, ethereum.CallMsg{From: self, To: &to, Data: data})
		if err != nil {
			return err
		}
		t.send.Lock()
		nonce, err := t.nonce(ctx)
		if err != nil {
			t.send.Unlock()
			return err
		}
		tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: t.id, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
			Gas: gas + gas/4, To: &to, Data: data}), types.LatestSignerForChainID(t.id), t.cfg.Signer.key)
		if err == nil {
			err = t.broadcast(ctx, tx)
		}
		if err == nil {
			t.next = nonce + 1
		} else {
			t.fresh = false
		}
		t.send.Unlock()
		if err != nil {
			return fmt.Errorf("approve %s: %w", tok, err)
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		for {
			r, err := t.receipt(wctx, tx.Hash())
			if err == nil && r != nil {
				if r.Status != types.ReceiptStatusSuccessful {
					cancel()
					return fmt.Errorf("approve %s reverted", tok)
				}
				break
			}
			tm := time.NewTimer(200 * time.Millisecond)
			select {
			case <-wctx.Done():
				tm.Stop()
				cancel()
				return fmt.Errorf("approve %s: not mined: %w", tok, wctx.Err())
			case <-tm.C:
			}
		}
		cancel()
	}
	return nil
}
