package uniswap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"arb/exchange"
	"arb/exchange/internal/feed"
	"arb/ringbuf"
)

// FeedConfig parameterizes a Feed.
type FeedConfig struct {
	Venue exchange.VenueID
	Name  string
	// Inst is the canonical instrument the pool quotes (ID, Scale,
	// Canonical, Base, Quote); Symbol is shown as the venue's symbol.
	Inst exchange.Instrument

	// URL is the JSON-RPC endpoint (ws(s):// for pushed heads and logs,
	// http(s):// for polling), used when Client is nil.
	URL string
	// Client, if set, is used instead of dialing URL (the simulated chain).
	Client Backend

	Pair       common.Address
	BaseToken  common.Address // the token that is the instrument's base
	QuoteToken common.Address
	// Native is which of the two tokens is the wrapped native token in
	// which gas is valued (NativeBase: at the pool's price).
	Native NativeToken

	// SwapGas is the gas one swap is estimated at, for the cost published
	// with the book (the trader estimates each real transaction).
	SwapGas uint64
	// MaxBaseFee and MaxPriorityFee are the gas caps (wei): above either,
	// the book is published stale (CauseGasCap) and not traded.
	MaxBaseFee, MaxPriorityFee *big.Int

	Depth Depth
	// ReorgDepth is how many recent blocks are kept to roll back a reorg;
	// a deeper one takes a new snapshot.
	ReorgDepth int
	// PollInterval is the head poll period when the endpoint cannot push.
	PollInterval time.Duration
	// BlockStale is how long without a new block before the book is stale.
	BlockStale time.Duration
	// Refresh is how often the book is republished (a new RecvTS) while
	// blocks keep arriving: the state is known right until the next block.
	Refresh time.Duration
	// Retry bounds each JSON-RPC call.
	Retry Retry

	Ring   *ringbuf.MPSC[exchange.BookTop]
	Logger *slog.Logger
	Now    func() int64 // Unix ns
	Rand   *rand.Rand
}

// Feed defaults.
const (
	DefaultSwapGas      = 150_000
	DefaultReorgDepth   = 64
	DefaultPollInterval = 2 * time.Second
	DefaultBlockStale   = 60 * time.Second
	DefaultRefresh      = time.Second
)

func (c *FeedConfig) defaults() {
	if c.SwapGas == 0 {
		c.SwapGas = DefaultSwapGas
	}
	if c.Depth == (Depth{}) {
		c.Depth = DefaultDepth
	}
	if c.ReorgDepth == 0 {
		c.ReorgDepth = DefaultReorgDepth
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.BlockStale == 0 {
		c.BlockStale = DefaultBlockStale
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
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
		c.Rand = rand.New(rand.NewPCG(1, uint64(c.Venue)))
	}
}

// ErrConfig is wrapped by every configuration error of the package.
var ErrConfig = errors.New("uniswap: invalid config")

func cfgErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Validate checks the depth cut.
func (d Depth) Validate() error {
	if d.Levels < 1 || d.Levels > exchange.TopK {
		return cfgErr("depth levels %d outside 1..%d", d.Levels, exchange.TopK)
	}
	if d.Ratio < 2 || d.Ratio > 100 {
		return cfgErr("depth ratio %d outside 2..100", d.Ratio)
	}
	if d.FractionBps < 1 || d.FractionBps > 5000 {
		return cfgErr("depth fraction %d bps outside 1..5000", d.FractionBps)
	}
	return nil
}

func (c *FeedConfig) validate() error {
	switch {
	case c.Venue == 0 || c.Inst.ID == 0:
		return cfgErr("venue and instrument ids are required")
	case !c.Inst.Scale.Valid():
		return cfgErr("instrument scale %v invalid", c.Inst.Scale)
	case c.URL == "" && c.Client == nil:
		return cfgErr("an rpc url is required")
	case c.Pair == (common.Address{}) || c.BaseToken == (common.Address{}) || c.QuoteToken == (common.Address{}):
		return cfgErr("pair, base token and quote token addresses are required")
	case c.BaseToken == c.QuoteToken:
		return cfgErr("base and quote tokens are the same address")
	case c.Native != NativeBase && c.Native != NativeQuote:
		return cfgErr("native token must be the base or the quote")
	case c.MaxBaseFee == nil || c.MaxBaseFee.Sign() <= 0 || c.MaxPriorityFee == nil || c.MaxPriorityFee.Sign() < 0:
		return cfgErr("gas caps (max base fee > 0, max priority fee ≥ 0) are required")
	case c.ReorgDepth < 2 || c.ReorgDepth > 1024:
		return cfgErr("reorg depth %d outside 2..1024", c.ReorgDepth)
	case c.PollInterval <= 0 || c.BlockStale <= 0 || c.Refresh <= 0:
		return cfgErr("poll interval, block stale and refresh must be > 0")
	case c.Ring == nil:
		return cfgErr("ring is required")
	}
	return c.Depth.Validate()
}

// FeedCounters are the feed's own counters beyond exchange.FeedStats.
type FeedCounters struct {
	Blocks   atomic.Uint64 // blocks applied
	Reorgs   atomic.Uint64 // heads that did not extend the tip (rolled back and re-applied)
	Removed  atomic.Uint64 // removed logs that rolled the state back
	GasCap   atomic.Uint64 // publications suppressed by the gas caps
	Polls    atomic.Uint64 // head polls (HTTP mode)
	Retries  atomic.Uint64 // JSON-RPC attempts retried after a transport error
	Polling  atomic.Bool   // the endpoint cannot push: polling
	BaseFee  atomic.Uint64 // last base fee, wei (saturated)
	GasQuote atomic.Int64  // last gas cost published, Px units
}

// Feed keeps one pool's book from the chain and publishes it into the
// ring as BookTop events (exchange.MarketData). Its sequence is the block
// number. Run is called once; Stats and Counters are safe from any
// goroutine.
type Feed struct {
	cfg    FeedConfig
	stats  exchange.FeedStats
	ctr    FeedCounters
	pub    *feed.Publisher
	tr     *Tracker
	rpc    *caller
	loglim feed.LogLimiter
	info   PoolInfo
	known  bool

	ev        exchange.BookTop
	baseFee   uint256.Int
	tip       uint256.Int
	capped    bool
	lastBlock int64 // local time the tip last advanced
	stale     bool  // the last publication was a stale marker

	mu   sync.Mutex
	last exchange.BookTop // last publication, for Last
}

var _ exchange.MarketData = (*Feed)(nil)

// NewFeed validates cfg and returns a feed.
func NewFeed(cfg FeedConfig) (*Feed, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f := &Feed{cfg: cfg, tr: NewTracker(cfg.ReorgDepth)}
	f.rpc = &caller{r: cfg.Retry, rand: cfg.Rand, retries: func() { f.ctr.Retries.Add(1) }}
	f.pub = feed.New(cfg.Ring, &f.stats, nil, 0, 1, 0)
	f.loglim = feed.LogLimiter{Logger: cfg.Logger.With("venue", cfg.Name)}
	return f, nil
}

// Stats returns the feed counters.
func (f *Feed) Stats() *exchange.FeedStats { return &f.stats }

// Counters returns the feed's chain counters.
func (f *Feed) Counters() *FeedCounters { return &f.ctr }

// Last returns the last BookTop published (a copy).
func (f *Feed) Last() exchange.BookTop {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// Pool returns the pair's token information once the feed has read it.
func (f *Feed) Pool() (PoolInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.info, f.known
}

// Run keeps the book until ctx ends, reconnecting with backoff; it returns
// ctx's error, or a configuration error found on the chain (a pair that
// does not hold the configured tokens).
func (f *Feed) Run(ctx context.Context) error {
	f.publishStale(exchange.CauseConnecting)
	backoff := 500 * time.Millisecond
	for first := true; ; first = false {
		if !first {
			f.stats.Reconnects.Add(1)
		}
		err := f.session(ctx)
		f.stats.Connected.Store(0)
		f.tr.Invalidate()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrConfig) {
			f.publishStale(exchange.CauseBadData)
			return err
		}
		f.publishStale(exchange.CauseDisconnect)
		f.loglim.Log(f.cfg.Now(), "uniswap feed: session ended, reconnecting", slog.String("err", err.Error()))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// session runs one connection until it fails.
func (f *Feed) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := f.cfg.Client
	if c == nil {
		dctx, dcancel := context.WithTimeout(ctx, f.cfg.Retry.Timeout)
		cl, err := Dial(dctx, f.cfg.URL)
		dcancel()
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer cl.Close()
		c = cl
	}
	if !f.known {
		var info PoolInfo
		err := f.rpc.do(ctx, func(ctx context.Context) error {
			var err error
			info, err = LoadPool(ctx, c, f.cfg.Pair, f.cfg.BaseToken, f.cfg.QuoteToken)
			return err
		})
		if err != nil {
			if !Transient(err) && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%w: %v", ErrConfig, err)
			}
			return err
		}
		if info.BaseDec < f.cfg.Inst.Scale.Qty {
			return cfgErr("the base token has %d decimals, fewer than the instrument's %d quantity decimals",
				info.BaseDec, f.cfg.Inst.Scale.Qty)
		}
		f.mu.Lock()
		f.info, f.known = info, true
		f.mu.Unlock()
	}

	heads := make(chan *types.Header, 64)
	var headSub ethereum.Subscription
	var headErr <-chan error
	err := f.rpc.do(ctx, func(cctx context.Context) error {
		var err error
		headSub, err = c.SubscribeNewHead(ctx, heads)
		return err
	})
	polling := errors.Is(err, rpc.ErrNotificationsUnsupported)
	switch {
	case polling:
	case err != nil:
		return fmt.Errorf("subscribe heads: %w", err)
	default:
		defer headSub.Unsubscribe()
		headErr = headSub.Err()
	}
	f.ctr.Polling.Store(polling)
	var logs chan types.Log
	var logErr <-chan error
	if !polling {
		logs = make(chan types.Log, 256)
		q := ethereum.FilterQuery{Addresses: []common.Address{f.cfg.Pair}, Topics: [][]common.Hash{{SyncTopic}}}
		sub, err := c.SubscribeFilterLogs(ctx, q, logs)
		if err != nil {
			return fmt.Errorf("subscribe logs: %w", err)
		}
		defer sub.Unsubscribe()
		logErr = sub.Err()
	}
	if err := f.resync(ctx, c, nil); err != nil {
		return err
	}
	f.stats.Connected.Store(1)

	var poll <-chan time.Time
	if polling {
		t := time.NewTicker(f.cfg.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	refresh := time.NewTicker(f.cfg.Refresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-headErr:
			return fmt.Errorf("head subscription: %w", err)
		case err := <-logErr:
			return fmt.Errorf("log subscription: %w", err)
		case h := <-heads:
			if err := f.onHead(ctx, c, h); err != nil {
				return err
			}
		case <-poll:
			f.ctr.Polls.Add(1)
			var h *types.Header
			err := f.rpc.do(ctx, func(ctx context.Context) error {
				var err error
				h, err = c.HeaderByNumber(ctx, nil)
				return err
			})
			if err != nil {
				return fmt.Errorf("poll head: %w", err)
			}
			if err := f.onHead(ctx, c, h); err != nil {
				return err
			}
		case l := <-logs:
			if !l.Removed {
				continue // applied with its block, fetched by hash
			}
			s, err := DecodeSync(f.cfg.Pair, &l)
			if err != nil {
				f.reject(exchange.RejectSyntax, "removed log is not a Sync of the pair")
				continue
			}
			switch f.tr.Removed(&s) {
			case Changed:
				f.ctr.Removed.Add(1)
				f.publish()
			case Resync:
				f.ctr.Removed.Add(1)
				if err := f.resync(ctx, c, nil); err != nil {
					return err
				}
			}
		case <-refresh.C:
			f.tick()
		}
	}
}

func (f *Feed) reject(r exchange.RejectReason, msg string) {
	f.stats.Reject(r)
	f.loglim.Log(f.cfg.Now(), "uniswap feed: "+msg, slog.String("reason", r.String()))
}

// resync takes a new snapshot at head (the latest block when nil):
// getReserves at that block's hash.
func (f *Feed) resync(ctx context.Context, c Backend, head *types.Header) error {
	f.stats.Resyncs.Add(1)
	f.tr.Invalidate()
	if head == nil {
		err := f.rpc.do(ctx, func(ctx context.Context) error {
			var err error
			head, err = c.HeaderByNumber(ctx, nil)
			return err
		})
		if err != nil {
			return fmt.Errorf("snapshot head: %w", err)
		}
	}
	b := blockOf(head)
	var r0, r1 uint256.Int
	err := f.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		r0, r1, err = reservesAt(ctx, c, f.cfg.Pair, b.Hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("snapshot getReserves at %d: %w", b.Num, err)
	}
	f.tr.Reset(b, r0, r1)
	f.updateGas(ctx, c, head)
	f.lastBlock = f.cfg.Now()
	f.publish()
	return nil
}

// onHead applies a new head through Tracker.Follow, reading headers and
// logs from the chain.
func (f *Feed) onHead(ctx context.Context, c Backend, h *types.Header) error {
	src := rpcSource{ctx: ctx, c: c, f: f}
	ch, reorged, err := f.tr.Follow(blockOf(h), src)
	if reorged > 0 {
		f.ctr.Reorgs.Add(1)
	}
	switch {
	case err != nil && Transient(err):
		return err
	case err != nil || ch == Resync:
		return f.resync(ctx, c, nil)
	case ch == Unchanged:
		return nil
	}
	f.updateGas(ctx, c, h)
	f.lastBlock = f.cfg.Now()
	f.publish()
	return nil
}

// rpcSource is the chain as Follow's Source.
type rpcSource struct {
	ctx context.Context
	c   Backend
	f   *Feed
}

func (s rpcSource) Header(hash common.Hash) (Block, error) {
	var h *types.Header
	err := s.f.rpc.do(s.ctx, func(ctx context.Context) error {
		var err error
		h, err = s.c.HeaderByHash(ctx, hash)
		return err
	})
	if err != nil {
		return Block{}, err
	}
	return blockOf(h), nil
}

func (s rpcSource) Logs(b *Block) ([]SyncLog, error) {
	logs, err := s.f.blockLogs(s.ctx, s.c, b)
	if err == nil {
		s.f.ctr.Blocks.Add(1)
		s.f.stats.Messages.Add(1)
	}
	return logs, err
}

// errLogMismatch is a log that does not belong to the block asked for.
var errLogMismatch = errors.New("uniswap: log does not match its block")

// blockLogs fetches the pair's Sync logs of exactly block b (by hash).
func (f *Feed) blockLogs(ctx context.Context, c Backend, b *Block) ([]SyncLog, error) {
	h := b.Hash
	q := ethereum.FilterQuery{BlockHash: &h, Addresses: []common.Address{f.cfg.Pair}, Topics: [][]common.Hash{{SyncTopic}}}
	var raw []types.Log
	err := f.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		raw, err = c.FilterLogs(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]SyncLog, 0, len(raw))
	for i := range raw {
		if raw[i].Removed {
			continue
		}
		s, err := DecodeSync(f.cfg.Pair, &raw[i])
		if err != nil {
			f.reject(exchange.RejectSyntax, "log is not a Sync of the pair")
			return nil, err
		}
		if s.Block != b.Num || s.BlockHash != b.Hash || len(out) > 0 && s.Index <= out[len(out)-1].Index {
			f.reject(exchange.RejectSequence, "log out of its block or out of order")
			return nil, errLogMismatch
		}
		out = append(out, s)
	}
	return out, nil
}

// updateGas reads the head's base fee and the node's suggested priority
// fee (the last one is kept if the call fails), and decides the caps.
func (f *Feed) updateGas(ctx context.Context, c Backend, h *types.Header) {
	if h.BaseFee != nil {
		f.baseFee.SetFromBig(h.BaseFee)
	}
	var tip *big.Int
	err := f.rpc.do(ctx, func(ctx context.Context) error {
		var err error
		tip, err = c.SuggestGasTipCap(ctx)
		return err
	})
	if err == nil && tip != nil {
		f.tip.SetFromBig(tip)
	}
	f.capped = f.baseFee.ToBig().Cmp(f.cfg.MaxBaseFee) > 0 || f.tip.ToBig().Cmp(f.cfg.MaxPriorityFee) > 0
	bf := f.baseFee.Uint64()
	if !f.baseFee.IsUint64() {
		bf = ^uint64(0)
	}
	f.ctr.BaseFee.Store(bf)
}

// pool returns the current state in the instrument's orientation.
func (f *Feed) pool() Pool {
	r0, r1 := f.tr.Reserves()
	p := Pool{BaseDec: f.info.BaseDec, QuoteDec: f.info.QuoteDec, Scale: f.cfg.Inst.Scale}
	if f.info.BaseIs0 {
		p.Base, p.Quote = r0, r1
	} else {
		p.Base, p.Quote = r1, r0
	}
	return p
}

// publish publishes the current state (or a stale marker saying why not).
func (f *Feed) publish() {
	if !f.tr.Ready() {
		f.publishStale(exchange.CauseConnecting)
		return
	}
	if f.capped {
		f.ctr.GasCap.Add(1)
		f.publishStale(exchange.CauseGasCap)
		return
	}
	p := f.pool()
	var wei, price uint256.Int
	price.Add(&f.baseFee, &f.tip)
	wei.Mul(uint256.NewInt(f.cfg.SwapGas), &price)
	gas, ok := p.GasQuote(&wei, f.cfg.Native)
	tip := f.tr.Tip()
	ev := &f.ev
	*ev = exchange.BookTop{Seq: tip.Num, ExchTS: int64(tip.Time) * 1e9, RecvTS: f.cfg.Now(),
		Venue: f.cfg.Venue, Inst: f.cfg.Inst.ID, Gas: gas}
	if !ok || !p.Book(f.cfg.Depth, ev) {
		f.reject(exchange.RejectNumber, "pool state gives no book at the instrument's scale")
		f.publishStale(exchange.CauseBadData)
		return
	}
	f.ctr.GasQuote.Store(int64(gas))
	f.stale = false
	f.emit(ev)
}

func (f *Feed) publishStale(cause exchange.StaleCause) {
	ev := &f.ev
	*ev = exchange.BookTop{Venue: f.cfg.Venue, Inst: f.cfg.Inst.ID, Seq: f.tr.Tip().Num}
	ev.SetStale(cause, f.cfg.Now())
	f.stale = true
	f.emit(ev)
}

func (f *Feed) emit(ev *exchange.BookTop) {
	f.pub.Publish(0, ev)
	f.mu.Lock()
	f.last = *ev
	f.mu.Unlock()
}

// tick republishes a right book with a fresh RecvTS, or marks it stale
// when blocks stopped arriving.
func (f *Feed) tick() {
	f.pub.Flush()
	if !f.tr.Ready() {
		return
	}
	if f.cfg.Now()-f.lastBlock > int64(f.cfg.BlockStale) {
		if !f.stale || f.last.Cause != exchange.CauseAge {
			f.publishStale(exchange.CauseAge)
		}
		return
	}
	f.publish()
}
