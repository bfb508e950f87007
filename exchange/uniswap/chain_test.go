package uniswap_test

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"arb/exchange"
	"arb/exchange/num"
	"arb/exchange/uniswap"
	"arb/exchange/uniswap/unisim"
	"arb/ringbuf"
)

// The test pool: 100 WETH (18 decimals) against 300,000 USDT (6), the
// instrument ETH-USDT at 2 price and 4 quantity decimals.
var (
	scale     = num.Scale{Px: 2, Qty: 4}
	inst      = exchange.Instrument{ID: 1, Venue: 1, Symbol: "WETH/USDT", Canonical: "ETH-USDT", Base: "ETH", Quote: "USDT", Scale: scale}
	traderKey = unisim.TestKey("trader")
	otherKey  = unisim.TestKey("other")
)

func e(n int64, dec int) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec)), nil))
}

func addr(k *ecdsa.PrivateKey) common.Address { return crypto.PubkeyToAddress(k.PublicKey) }

// newChain deploys the contracts on a fresh simulated chain; the trader
// and the other account hold tokens and have approved the router.
func newChain(t testing.TB) *unisim.Chain {
	t.Helper()
	c, err := unisim.New(unisim.Config{
		BaseSymbol: "WETH", QuoteSymbol: "USDT", BaseDecimals: 18, QuoteDecimals: 6,
		BaseReserve: e(100, 18), QuoteReserve: e(300000, 6),
		Accounts: []common.Address{addr(traderKey), addr(otherKey)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	for _, k := range []*ecdsa.PrivateKey{traderKey, otherKey} {
		a := addr(k)
		must(t, c.Mint(ctx, c.Base, a, e(50, 18)))
		must(t, c.Mint(ctx, c.Quote, a, e(150000, 6)))
		must(t, c.Approve(ctx, k, c.Base, c.Router))
		must(t, c.Approve(ctx, k, c.Quote, c.Router))
	}
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// clock is a settable test clock (Unix ns), starting at the wall clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) Now() int64          { return c.ns.Load() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

type feedRig struct {
	chain *unisim.Chain
	ring  *ringbuf.MPSC[exchange.BookTop]
	feed  *uniswap.Feed
	clock *clock
}

func feedConfig(c *unisim.Chain, client uniswap.Backend, ring *ringbuf.MPSC[exchange.BookTop], clk *clock) uniswap.FeedConfig {
	return uniswap.FeedConfig{
		Venue: 1, Name: "uni", Inst: inst, Client: client,
		Pair: c.Pair, BaseToken: c.Base, QuoteToken: c.Quote, Native: uniswap.NativeBase,
		MaxBaseFee: big.NewInt(500e9), MaxPriorityFee: big.NewInt(50e9),
		PollInterval: 20 * time.Millisecond, Refresh: 20 * time.Millisecond, BlockStale: time.Hour,
		Retry: uniswap.Retry{Timeout: 5 * time.Second, Attempts: 2, Backoff: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond},
		Ring:  ring, Now: clk.Now,
	}
}

func startFeed(t *testing.T, c *unisim.Chain, client uniswap.Backend, tune func(*uniswap.FeedConfig)) *feedRig {
	t.Helper()
	ring := ringbuf.NewMPSC[exchange.BookTop](1024)
	clk := newClock()
	cfg := feedConfig(c, client, ring, clk)
	if tune != nil {
		tune(&cfg)
	}
	f, err := uniswap.NewFeed(cfg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &feedRig{chain: c, ring: ring, feed: f, clock: clk}
}

// await pops events until one satisfies ok, waiting on the ring (no
// sleeps) up to a generous deadline.
func (r *feedRig) await(t *testing.T, what string, ok func(*exchange.BookTop) bool) exchange.BookTop {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ev exchange.BookTop
	for {
		for r.ring.TryPop(&ev) {
			if ok(&ev) {
				return ev
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no event: %s (last %+v)", what, r.feed.Last())
		}
		r.ring.Wait(ctx, 50*time.Millisecond)
	}
}

// expectedBook is the synthetic book of the pair's reserves at the latest
// block, as the feed must publish it.
func expectedBook(t *testing.T, c *unisim.Chain) exchange.BookTop {
	t.Helper()
	r0, r1, err := c.Reserves(context.Background())
	must(t, err)
	p := uniswap.Pool{BaseDec: 18, QuoteDec: 6, Scale: scale}
	if c.Base.Cmp(c.Quote) < 0 {
		p.Base.SetFromBig(r0)
		p.Quote.SetFromBig(r1)
	} else {
		p.Base.SetFromBig(r1)
		p.Quote.SetFromBig(r0)
	}
	var b exchange.BookTop
	if !p.Book(uniswap.DefaultDepth, &b) {
		t.Fatal("no expected book")
	}
	return b
}

func sameLevels(a, b *exchange.BookTop) bool {
	return a.NBids == b.NBids && a.NAsks == b.NAsks && a.Bids == b.Bids && a.Asks == b.Asks
}

func fresh(ev *exchange.BookTop) bool { return !ev.Stale() && ev.NBids > 0 }

// noPush hides the client's subscriptions, as an HTTP endpoint does.
type noPush struct{ uniswap.Backend }

func (noPush) SubscribeNewHead(context.Context, chan<- *types.Header) (ethereum.Subscription, error) {
	return nil, rpc.ErrNotificationsUnsupported
}

func (noPush) SubscribeFilterLogs(context.Context, ethereum.FilterQuery, chan<- types.Log) (ethereum.Subscription, error) {
	return nil, rpc.ErrNotificationsUnsupported
}

// TestFeedFollowsSwaps: the book follows swaps made by another account,
// block by block, over pushed heads and over polling.
func TestFeedFollowsSwaps(t *testing.T) {
	for _, mode := range []string{"push", "poll"} {
		t.Run(mode, func(t *testing.T) {
			c := newChain(t)
			var client uniswap.Backend = c.Client
			if mode == "poll" {
				client = noPush{c.Client}
			}
			r := startFeed(t, c, client, nil)
			want := expectedBook(t, c)
			r.await(t, "first book", func(ev *exchange.BookTop) bool { return fresh(ev) && sameLevels(ev, &want) })
			ctx := context.Background()
			for i, sw := range []struct {
				base bool
				amt  *big.Int
			}{{true, e(1, 18)}, {false, e(5000, 6)}, {true, e(3, 17)}} {
				tokenIn := c.Quote
				if sw.base {
					tokenIn = c.Base
				}
				rec, err := c.Swap(ctx, otherKey, tokenIn, sw.amt)
				must(t, err)
				block := rec.BlockNumber.Uint64()
				want := expectedBook(t, c)
				ev := r.await(t, "book after swap", func(ev *exchange.BookTop) bool { return fresh(ev) && ev.Seq >= block })
				if ev.Seq != block || !sameLevels(&ev, &want) {
					t.Fatalf("swap %d in block %d: book seq %d\n got %+v\nwant %+v", i, block, ev.Seq, ev.Asks[:3], want.Asks[:3])
				}
				// Gas: SwapGas × (base fee + suggested tip), valued at the pool.
				h, err := c.Client.HeaderByNumber(ctx, rec.BlockNumber)
				must(t, err)
				tip, err := c.Client.SuggestGasTipCap(ctx)
				must(t, err)
				wei := new(big.Int).Mul(big.NewInt(uniswap.DefaultSwapGas), new(big.Int).Add(h.BaseFee, tip))
				p := poolNow(t, c)
				g, _ := p.GasQuote(uint256.MustFromBig(wei), uniswap.NativeBase)
				if ev.Gas != g || g <= 0 {
					t.Fatalf("gas %d, want %d", ev.Gas, g)
				}
			}
			if mode == "poll" && r.feed.Counters().Polls.Load() == 0 {
				t.Fatal("poll mode did not poll")
			}
			if mode == "push" && r.feed.Counters().Polling.Load() {
				t.Fatal("push mode polls")
			}
		})
	}
}

func poolNow(t *testing.T, c *unisim.Chain) uniswap.Pool {
	r0, r1, err := c.Reserves(context.Background())
	must(t, err)
	p := uniswap.Pool{BaseDec: 18, QuoteDec: 6, Scale: scale}
	if c.Base.Cmp(c.Quote) < 0 {
		p.Base.SetFromBig(r0)
		p.Quote.SetFromBig(r1)
	} else {
		p.Base.SetFromBig(r1)
		p.Quote.SetFromBig(r0)
	}
	return p
}

// TestFeedReorgRollsBack: a swap's block is replaced by a longer fork
// without it (the simulated backend's Fork); the Sync log is removed and
// the book returns to the reserves before the swap.
func TestFeedReorgRollsBack(t *testing.T) {
	for _, mode := range []string{"push", "poll"} {
		t.Run(mode, func(t *testing.T) {
			c := newChain(t)
			var client uniswap.Backend = c.Client
			if mode == "poll" {
				client = noPush{c.Client}
			}
			r := startFeed(t, c, client, nil)
			before := expectedBook(t, c)
			r.await(t, "first book", func(ev *exchange.BookTop) bool { return fresh(ev) && sameLevels(ev, &before) })
			ctx := context.Background()
			parent, err := c.Client.HeaderByNumber(ctx, nil)
			must(t, err)
			nonce, err := c.Client.PendingNonceAt(ctx, addr(otherKey))
			must(t, err)
			rec, err := c.Swap(ctx, otherKey, c.Base, e(2, 18))
			must(t, err)
			after := expectedBook(t, c)
			r.await(t, "book after swap", func(ev *exchange.BookTop) bool {
				return fresh(ev) && ev.Seq == rec.BlockNumber.Uint64() && sameLevels(ev, &after)
			})
			// The fork from the swap's parent: the swap's nonce is taken by
			// a self-transfer, so the swap cannot come back on the new branch.
			must(t, c.Backend.Fork(parent.Hash()))
			// The transaction pool takes the fork in the background: until
			// it has, it checks nonces against the old head and refuses the
			// swap's nonce as too low. Wait for it (a loaded CI machine
			// once sent the self-transfer first), not for a fixed time.
			deadline := time.Now().Add(30 * time.Second)
			for {
				_, err = c.Cancel(ctx, otherKey, nonce, big.NewInt(100e9))
				if err == nil || !strings.Contains(err.Error(), "nonce too low") || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			must(t, err)
			c.Commit()
			c.Commit()
			if got := expectedBook(t, c); !sameLevels(&got, &before) {
				t.Fatal("the fork still holds the swap")
			}
			top, err := c.Client.HeaderByNumber(ctx, nil)
			must(t, err)
			ev := r.await(t, "book after the reorg", func(ev *exchange.BookTop) bool {
				return fresh(ev) && ev.Seq == top.Number.Uint64()
			})
			if !sameLevels(&ev, &before) {
				t.Fatalf("after the reorg the book is not rolled back:\n got %+v\nwant %+v", ev.Asks[:3], before.Asks[:3])
			}
			ctr := r.feed.Counters()
			t.Logf("reorgs %d, removed logs %d, resyncs %d", ctr.Reorgs.Load(), ctr.Removed.Load(), r.feed.Stats().Resyncs.Load())
			if ctr.Reorgs.Load()+ctr.Removed.Load() == 0 {
				t.Fatal("no reorg or removed log counted")
			}
		})
	}
}

// TestFeedStaleWithoutBlocks: no block for BlockStale marks the book stale
// (CauseAge); the next block makes it fresh again. Gas above the cap makes
// it stale with CauseGasCap.
func TestFeedStaleWithoutBlocks(t *testing.T) {
	c := newChain(t)
	r := startFeed(t, c, c.Client, func(cfg *uniswap.FeedConfig) { cfg.BlockStale = 10 * time.Second })
	r.await(t, "first book", fresh)
	r.clock.Add(11 * time.Second)
	ev := r.await(t, "stale book", func(ev *exchange.BookTop) bool { return ev.Stale() })
	if ev.Cause != exchange.CauseAge {
		t.Fatalf("cause %v", ev.Cause)
	}
	c.Commit()
	r.await(t, "fresh again", fresh)

	c2 := newChain(t)
	r2 := startFeed(t, c2, c2.Client, func(cfg *uniswap.FeedConfig) { cfg.MaxBaseFee = big.NewInt(1) })
	ev = r2.await(t, "gas-capped book", func(ev *exchange.BookTop) bool { return ev.Stale() && ev.Cause == exchange.CauseGasCap })
	if r2.feed.Counters().GasCap.Load() == 0 {
		t.Fatal("gas cap not counted")
	}
}
