package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/shopspring/decimal"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/sim"
	"arb/exchange/uniswap"
	"arb/exchange/uniswap/unisim"
)

// On-chain venues (kind uniswap): one Uniswap V2-style pool each, read by
// exchange/uniswap's Feed and traded by its Trader. A pool's chain is a
// real node (chain.rpc_url, the key from the environment or a keystore) or
// an in-process simulated chain (sim://<name>): go-ethereum's simulated
// backend with the project's contracts deployed (unisim), the pair seeded
// at the simulated CEX market's price, the trading account funded with the
// venue's configured balances, a block mined every block_time, and
// another account swapping on the pool now and then (seeded) so the pool
// dislocates from the CEX books and the arbitrage trades it back.

// Simulated chain sizes.
const (
	simBaseDecimals  = 18 // the base token is WETH-like
	simQuoteDecimals = 6  // the quote token is USDT-like
	// The flow account holds this many times the pool's reserves.
	simFlowFunds = 100
)

// poolChain is one pool venue's chain: the addresses, the caps, and the
// simulated chain when there is one.
type poolChain struct {
	cfg                            *config.Chain
	url                            string          // "" for a simulated chain
	client                         uniswap.Backend // the simulated chain's client, else nil (dial url)
	pair, router, baseTok, quoteTo common.Address
	native                         uniswap.NativeToken
	maxBase, maxTip                *big.Int

	sim       *unisim.Chain // nil for a real node
	blockTime time.Duration
	flowProb  float64
	flowBps   int64
	seedPx    decimal.Decimal // the seeded price (the flow's reference without a CEX book)
	rnd       *rand.Rand
}

// simTraderKey and simFlowKey are unisim's public test keys for the
// daemon's trading account and the account making the pool's flow.
var (
	simTraderKey = unisim.TestKey("arbd-trader")
	simFlowKey   = unisim.TestKey("arbd-flow")
)

// SimTraderAddress is the daemon's trading account on a simulated chain.
func SimTraderAddress() common.Address { return crypto.PubkeyToAddress(simTraderKey.PublicKey) }

// simMarketPrice returns the simulated CEX market's starting price of a
// canonical instrument (exchange/sim's defaults).
func simMarketPrice(symbol string) (decimal.Decimal, bool) {
	for _, s := range sim.DefaultConfig().Symbols {
		if s.Symbol == symbol {
			p, err := decimal.NewFromString(s.BasePrice)
			return p, err == nil
		}
	}
	return decimal.Decimal{}, false
}

// newPoolChain prepares venue v's chain: for a simulated one it starts the
// chain, deploys and seeds the pool and funds the accounts (nothing runs
// until runChain).
func newPoolChain(cfg *config.Config, v *venue, log *slog.Logger) (*poolChain, error) {
	cc := v.cfg.Chain
	pc := &poolChain{cfg: cc, native: uniswap.NativeBase}
	if cc.Native == "quote" {
		pc.native = uniswap.NativeQuote
	}
	var ok bool
	if pc.maxBase, ok = config.Wei(cc.MaxBaseFeeGwei); !ok {
		return nil, fmt.Errorf("venue %s: chain.max_base_fee_gwei %s", v.cfg.Name, cc.MaxBaseFeeGwei)
	}
	if pc.maxTip, ok = config.Wei(cc.MaxPriorityFeeGwei); !ok {
		return nil, fmt.Errorf("venue %s: chain.max_priority_fee_gwei %s", v.cfg.Name, cc.MaxPriorityFeeGwei)
	}
	if _, isSim := v.cfg.SimChain(); !isSim {
		pc.url = cc.RPCURL
		if cc.RPCURLEnv != "" {
			u, err := config.Secret(cc.RPCURLEnv)
			if err != nil {
				return nil, fmt.Errorf("venue %s: chain.rpc_url_env %s: %w", v.cfg.Name, cc.RPCURLEnv, err)
			}
			pc.url = u
		}
		pc.pair, pc.router = common.HexToAddress(cc.Pair), common.HexToAddress(cc.Router)
		pc.baseTok, pc.quoteTo = common.HexToAddress(cc.BaseToken), common.HexToAddress(cc.QuoteToken)
		return pc, nil
	}
	if err := pc.startSim(cfg, v, log); err != nil {
		return nil, fmt.Errorf("venue %s: simulated chain: %w", v.cfg.Name, err)
	}
	return pc, nil
}

// poolInstrument is the pool venue's one canonical instrument.
func poolInstrument(cfg *config.Config, v config.Venue) (config.Instrument, string, error) {
	for canon, sym := range v.Symbols {
		in, ok := cfg.Instrument(canon)
		if !ok {
			break
		}
		return in, sym, nil
	}
	return config.Instrument{}, "", fmt.Errorf("venue %s: a pool quotes one configured instrument", v.Name)
}

// startSim builds the simulated chain: tokens named after the
// instrument's assets (base 18 decimals, quote 6), the pool seeded with
// liquidity base at the price, the trading account holding the venue's
// configured balances and the flow account a hundred times the reserves,
// both with the router approved.
func (pc *poolChain) startSim(cfg *config.Config, v *venue, log *slog.Logger) error {
	in, _, err := poolInstrument(cfg, v.cfg)
	if err != nil {
		return err
	}
	s := pc.cfg.Sim
	if s == nil {
		s = &config.ChainSim{}
	}
	pc.blockTime, pc.flowProb, pc.flowBps = config.DefaultBlockTime, config.DefaultFlowProb, int64(config.DefaultFlowBps)
	if s.BlockTime > 0 {
		pc.blockTime = s.BlockTime
	}
	if s.FlowProb != nil {
		pc.flowProb = *s.FlowProb
	}
	if s.FlowBps != nil {
		pc.flowBps = int64(*s.FlowBps)
	}
	pc.seedPx = s.Price
	if !pc.seedPx.IsPositive() {
		p, ok := simMarketPrice(in.Symbol)
		if !ok {
			return fmt.Errorf("the simulator has no market for %s: set chain.sim.price", in.Symbol)
		}
		pc.seedPx = p
	}
	liq := s.Liquidity
	if !liq.IsPositive() {
		liq = decimal.NewFromInt(config.DefaultLiquidity)
	}
	baseRes := liq.Shift(simBaseDecimals).Truncate(0).BigInt()
	quoteRes := liq.Mul(pc.seedPx).Shift(simQuoteDecimals).Truncate(0).BigInt()
	trader, flow := SimTraderAddress(), crypto.PubkeyToAddress(simFlowKey.PublicKey)
	c, err := unisim.New(unisim.Config{BaseSymbol: in.Base(), QuoteSymbol: in.Quote(),
		BaseDecimals: simBaseDecimals, QuoteDecimals: simQuoteDecimals,
		BaseReserve: baseRes, QuoteReserve: quoteRes, Accounts: []common.Address{trader, flow}})
	if err != nil {
		return err
	}
	pc.sim, pc.client = c, c.Client
	pc.pair, pc.router, pc.baseTok, pc.quoteTo = c.Pair, c.Router, c.Base, c.Quote
	ctx := context.Background()
	fund := func(tok common.Address, to common.Address, amt *big.Int) error {
		if amt.Sign() <= 0 {
			return nil
		}
		return c.Mint(ctx, tok, to, amt)
	}
	for asset, amt := range v.cfg.Balances {
		switch asset {
		case in.Base():
			err = fund(c.Base, trader, amt.Shift(simBaseDecimals).Truncate(0).BigInt())
		case in.Quote():
			err = fund(c.Quote, trader, amt.Shift(simQuoteDecimals).Truncate(0).BigInt())
		}
		if err != nil {
			c.Close()
			return err
		}
	}
	m := big.NewInt(simFlowFunds)
	if err := errors.Join(fund(c.Base, flow, new(big.Int).Mul(baseRes, m)), fund(c.Quote, flow, new(big.Int).Mul(quoteRes, m)),
		c.Approve(ctx, simTraderKey, c.Base, c.Router), c.Approve(ctx, simTraderKey, c.Quote, c.Router),
		c.Approve(ctx, simFlowKey, c.Base, c.Router), c.Approve(ctx, simFlowKey, c.Quote, c.Router)); err != nil {
		c.Close()
		return err
	}
	pc.rnd = rand.New(rand.NewPCG(cfg.Sim.Seed, uint64(v.id)))
	log.Info("simulated chain started", "venue", v.cfg.Name, "pair", c.Pair, "router", c.Router,
		"base_token", c.Base, "quote_token", c.Quote, "price", pc.seedPx.String(), "liquidity", liq.String(),
		"trader", trader, "block_time", pc.blockTime.String())
	return nil
}

// runChain mines the simulated chain's blocks until ctx ends: each block,
// with probability flow_prob, the flow account first swaps the pool toward
// a price drawn within ±flow_bps of ref (the CEX books' mid).
func (pc *poolChain) runChain(ctx context.Context, ref func() (decimal.Decimal, bool), manual bool, log *slog.Logger) error {
	if manual {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(pc.blockTime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if pc.flowProb > 0 && pc.rnd.Float64() < pc.flowProb {
			px, ok := ref()
			if !ok {
				px = pc.seedPx
			}
			off := int64(0)
			if pc.flowBps > 0 {
				off = pc.rnd.Int64N(2*pc.flowBps+1) - pc.flowBps
			}
			if err := pc.flowTo(ctx, px.Mul(decimal.New(10_000+off, -4))); err != nil {
				log.Debug("simulated flow swap not sent", "err", err)
			}
		}
		pc.sim.Commit()
	}
}

// flowTo sends (without mining) the flow account's swap that moves the
// pool's price to about target (quote per base): exactly the input the
// constant product needs, fee aside, in integers.
func (pc *poolChain) flowTo(ctx context.Context, target decimal.Decimal) error {
	r0, r1, err := pc.sim.Reserves(ctx)
	if err != nil {
		return err
	}
	base, quote := r0, r1
	if !bytesLess(pc.baseTok, pc.quoteTo) {
		base, quote = r1, r0
	}
	// The target in quote units per base unit is tn / td.
	tn := target.Shift(simQuoteDecimals + 18).Truncate(0).BigInt()
	td := new(big.Int).Exp(big.NewInt(10), big.NewInt(simBaseDecimals+18), nil)
	k := new(big.Int).Mul(base, quote)
	// quote' = sqrt(k·t), base' = sqrt(k/t).
	q2 := new(big.Int).Sqrt(new(big.Int).Quo(new(big.Int).Mul(k, tn), td))
	b2 := new(big.Int).Sqrt(new(big.Int).Quo(new(big.Int).Mul(k, td), tn))
	tokenIn, amt := pc.quoteTo, new(big.Int).Sub(q2, quote)
	if amt.Sign() <= 0 {
		tokenIn, amt = pc.baseTok, new(big.Int).Sub(b2, base)
	}
	if amt.Sign() <= 0 {
		return nil
	}
	flow := crypto.PubkeyToAddress(simFlowKey.PublicKey)
	_, err = pc.sim.SendPending(ctx, simFlowKey, pc.router, pc.sim.SwapData(tokenIn, amt, flow), nil)
	return err
}

// bytesLess reports a < b as the pair orders its tokens (token0 is the
// lower address).
func bytesLess(a, b common.Address) bool { return bytes.Compare(a[:], b[:]) < 0 }

// close stops a simulated chain.
func (pc *poolChain) close() {
	if pc != nil && pc.sim != nil {
		pc.sim.Close()
		pc.sim = nil
	}
}

// poolFeed builds the pool venue's market-data feed.
func (d *Daemon) poolFeed(v *venue, listings []exchange.Instrument) (exchange.MarketData, error) {
	if len(listings) != 1 {
		return nil, fmt.Errorf("venue %s: a pool quotes one instrument, has %d", v.cfg.Name, len(listings))
	}
	pc := v.chain
	return uniswap.NewFeed(uniswap.FeedConfig{
		Venue: v.id, Name: v.cfg.Name, Inst: listings[0], URL: pc.url, Client: pc.client,
		Pair: pc.pair, BaseToken: pc.baseTok, QuoteToken: pc.quoteTo, Native: pc.native,
		SwapGas: pc.cfg.SwapGas, MaxBaseFee: pc.maxBase, MaxPriorityFee: pc.maxTip, BlockStale: pc.cfg.BlockStale,
		Ring: d.ring, Logger: d.log.With("component", "feed", "venue", v.cfg.Name),
		Rand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(v.idx+1))),
	})
}

// poolSigner is the trading account: unisim's test key on a simulated
// chain, else the key from the environment (config.Secret: the variable,
// or a file named by NAME_FILE) or the encrypted keystore.
func poolSigner(v *venue) (*uniswap.Signer, error) {
	if v.chain.sim != nil {
		return uniswap.NewSigner(simTraderKey), nil
	}
	cc := v.chain.cfg
	if cc.KeystoreFile != "" {
		return uniswap.KeyFromKeystore(cc.KeystoreFile, cc.KeystorePasswordEnv)
	}
	k, err := config.Secret(cc.KeyEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", uniswap.ErrKey, cc.KeyEnv, err)
	}
	return uniswap.ParseKey(k)
}

// poolTraderFor builds the pool venue's trading client. Its transaction
// journal is a file in data_dir for a real chain (the client order id →
// transaction map survives a restart) and in memory for a simulated one
// (the chain itself starts afresh).
func (d *Daemon) poolTraderFor(v *venue, listings []exchange.Instrument, log *slog.Logger) (trader, error) {
	if len(listings) != 1 {
		return nil, fmt.Errorf("a pool quotes one instrument, has %d", len(listings))
	}
	signer, err := poolSigner(v)
	if err != nil {
		return nil, err
	}
	var j uniswap.TxJournal = &uniswap.MemTxJournal{}
	if v.chain.sim == nil {
		fj, err := uniswap.OpenFileTxJournal(filepath.Join(d.cfg.DataDir, "uniswap-"+v.cfg.Name+".txjournal"))
		if err != nil {
			return nil, err
		}
		j = fj
	}
	in := listings[0]
	fee := in.Base
	if v.chain.native == uniswap.NativeQuote {
		fee = in.Quote
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	t, err := uniswap.NewTrader(ctx, uniswap.TraderConfig{
		Venue: v.id, Name: v.cfg.Name, Inst: in, URL: v.chain.url, Client: v.chain.client,
		Pair: v.chain.pair, Router: v.chain.router, BaseToken: v.chain.baseTok, QuoteToken: v.chain.quoteTo,
		Signer: signer, Journal: j, FeeAsset: fee, Deadline: v.chain.cfg.Deadline, ReceiptTimeout: v.chain.cfg.ReceiptTimeout,
		MaxBaseFee: v.chain.maxBase, MaxPriorityFee: v.chain.maxTip, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("pool trading account", "account", signer, "fee_asset", fee)
	return &poolTrader{Trader: t, approve: v.chain.sim == nil, log: log, native: fee}, nil
}

// poolTrader is the pool's Trader as the daemon drives it: Run approves
// the router once (a simulated chain's account is approved at its start)
// and holds until ctx ends; its circuit never opens (a swap the node
// refuses fails alone).
type poolTrader struct {
	*uniswap.Trader
	approve bool
	native  string
	log     *slog.Logger
}

// Run implements trader.
func (p *poolTrader) Run(ctx context.Context) error {
	if p.approve {
		for wait := time.Second; ; wait = min(2*wait, time.Minute) {
			err := p.Approve(ctx, 5*time.Minute)
			if err == nil {
				break
			}
			p.log.Warn("router approval failed; swaps will be refused until it succeeds", "err", err)
			if !sleepCtx(ctx, wait) {
				return ctx.Err()
			}
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// Circuit implements exchange.CircuitReporter: always closed.
func (p *poolTrader) Circuit() exchange.Circuit { return exchange.Circuit{} }

// Balances implements exchange.Accounts: the token balances the pool
// trades. The native balance (gas) is left out when it carries the same
// asset name as the wrapped token (ETH for WETH): the inventory holds what
// a swap can spend, the token.
func (p *poolTrader) Balances(ctx context.Context) ([]exchange.Balance, error) {
	bs, err := p.Trader.Balances(ctx)
	if err != nil || len(bs) == 0 {
		return bs, err
	}
	// The first is the native balance (uniswap.Trader.Balances).
	for _, b := range bs[1:] {
		if b.Asset == bs[0].Asset {
			return bs[1:], nil
		}
	}
	return bs, nil
}

// poolFetch gives a pool's listings their filters without asking anyone:
// any price tick and quantity step of the instrument's scale (the swap is
// exact to the token unit), no minimum; the config's overrides apply on
// top.
func poolFetch(_ context.Context, _ *http.Client, _, _ string, want []exchange.Instrument) ([]exchange.Instrument, error) {
	out := make([]exchange.Instrument, len(want))
	copy(out, want)
	for i := range out {
		out[i].Tick, out[i].Step = 1, 1
	}
	return out, nil
}

// refMid returns the mid of a fresh book of inst on a venue other than
// pool, as a decimal (the simulated flow's reference price).
func (d *Daemon) refMid(pool exchange.VenueID, inst exchange.InstrumentID) (decimal.Decimal, bool) {
	snap := d.snapshot()
	if snap == nil {
		return decimal.Decimal{}, false
	}
	for i := range snap.Rows {
		r := &snap.Rows[i]
		if r.Inst != inst || r.VenueID == pool || r.Stale || r.Bid <= 0 || r.Ask <= 0 {
			continue
		}
		return decimal.New(int64(r.Bid)+int64(r.Ask), -int32(r.Scale.Px)).Div(decimal.NewFromInt(2)), true
	}
	return decimal.Decimal{}, false
}
