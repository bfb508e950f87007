package config

import (
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// KindUniswap is the venue kind of an on-chain Uniswap V2-style pool
// (exchange/uniswap). Such a venue has a chain section instead of ws_url
// and rest_url.
const KindUniswap = "uniswap"

// Chain configures an on-chain venue (kind uniswap): one Uniswap V2-style
// pair read over JSON-RPC and traded through its router. It holds no
// secret: the trading key comes from the environment variable KeyEnv or
// from the encrypted keystore file KeystoreFile (its password from
// KeystorePasswordEnv), and an RPC URL that carries a provider's API key
// comes from RPCURLEnv.
//
// With RPCURL sim://<name> the daemon starts an in-process simulated chain
// (exchange/uniswap/unisim) with the contracts deployed and the pair
// seeded: the addresses and the key are then the simulator's and must be
// left out, and Sim tunes it.
type Chain struct {
	// RPCURL is the node's JSON-RPC endpoint: ws:// or wss:// (new blocks
	// are pushed), http:// or https:// (polled), or sim://<name>.
	RPCURL string `yaml:"rpc_url"`
	// RPCURLEnv names the environment variable holding the endpoint
	// instead (providers put an API key in the URL's path).
	RPCURLEnv string `yaml:"rpc_url_env"`
	// Pair and Router are the pair's and the router's addresses (0x and
	// 40 hex digits).
	Pair   string `yaml:"pair"`
	Router string `yaml:"router"`
	// BaseToken and QuoteToken are the token order: which of the pair's
	// two tokens is the instrument's base and which its quote. The pair's
	// own token0/token1 order and the tokens' decimals are read from the
	// chain and checked against them at start.
	BaseToken  string `yaml:"base_token"`
	QuoteToken string `yaml:"quote_token"`
	// Native says which token is the wrapped native token gas is paid in
	// ("base": gas is valued at the pool's own price, "quote": as it is);
	// default "base".
	Native string `yaml:"native"`
	// KeyEnv names the environment variable holding the trading account's
	// hex private key.
	KeyEnv string `yaml:"key_env"`
	// KeystoreFile is an encrypted keystore (Web3 Secret Storage) file,
	// resolved against the config file's directory; its password is in
	// the environment variable KeystorePasswordEnv.
	KeystoreFile        string `yaml:"keystore_file"`
	KeystorePasswordEnv string `yaml:"keystore_password_env"`
	// MaxBaseFeeGwei and MaxPriorityFeeGwei are the gas caps: while the
	// block's base fee or the node's suggested priority fee is above
	// them, the pool's book is published stale and no swap is sent.
	MaxBaseFeeGwei     decimal.Decimal `yaml:"max_base_fee_gwei" cfg:"required"`
	MaxPriorityFeeGwei decimal.Decimal `yaml:"max_priority_fee_gwei" cfg:"required"`
	// SwapGas is the gas one swap is estimated at for the cost netted
	// into the edge; 0 = 150000.
	SwapGas uint64 `yaml:"swap_gas"`
	// Deadline is the router's deadline after the latest block's time;
	// 0 = 2m.
	Deadline time.Duration `yaml:"deadline"`
	// ReceiptTimeout is how long a swap may stay unmined before it is
	// replaced by a cancellation; 0 = 3m.
	ReceiptTimeout time.Duration `yaml:"receipt_timeout"`
	// BlockStale is how long without a new block before the book is
	// stale; 0 = 60s.
	BlockStale time.Duration `yaml:"block_stale"`
	// Sim tunes the simulated chain (rpc_url sim://<name> only).
	Sim *ChainSim `yaml:"sim"`
}

// ChainSim tunes a simulated chain. Every key is optional.
type ChainSim struct {
	// BlockTime is how often a block is mined; default 1s.
	BlockTime time.Duration `yaml:"block_time"`
	// Price is the pool's starting price in quote per base; default the
	// simulated CEX market's price of the instrument.
	Price decimal.Decimal `yaml:"price"`
	// Liquidity is the pool's starting base reserve; default 500.
	Liquidity decimal.Decimal `yaml:"liquidity"`
	// FlowProb is the chance, each block, that another account swaps on
	// the pool (seeded by sim.seed: deterministic); default 0.3.
	FlowProb *float64 `yaml:"flow_prob"`
	// FlowBps bounds how far from the simulated CEX price another
	// account's swap moves the pool: to a target drawn uniformly within
	// ±flow_bps; default 80.
	FlowBps *float64 `yaml:"flow_bps"`
}

// Chain defaults (a zero or absent key).
const (
	DefaultSwapGas       = 150_000
	DefaultChainDeadline = 2 * time.Minute
	DefaultReceiptTO     = 3 * time.Minute
	DefaultBlockStale    = 60 * time.Second
	DefaultBlockTime     = time.Second
	DefaultFlowProb      = 0.3
	DefaultFlowBps       = 80.0
	DefaultLiquidity     = 500
)

// SimChain returns the simulated chain's name for rpc_url sim://<name>,
// and whether the venue is on one.
func (v Venue) SimChain() (string, bool) {
	if v.Kind != KindUniswap || v.Chain == nil {
		return "", false
	}
	return strings.CutPrefix(v.Chain.RPCURL, simScheme+"://")
}

// Wei converts a gwei amount to wei; ok is false when it is negative or
// finer than one wei.
func Wei(gwei decimal.Decimal) (*big.Int, bool) {
	w := gwei.Shift(9)
	if w.IsNegative() || !w.Equal(w.Truncate(0)) {
		return nil, false
	}
	return w.BigInt(), true
}

// maxGasCapGwei bounds the gas caps: more than a million gwei per gas is a
// unit mistake (wei written as gwei).
var maxGasCapGwei = decimal.NewFromInt(1_000_000)

var reAddress = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)

// chainVenue checks an on-chain venue: its chain section, and that it has
// none of the keys of a CEX venue.
func (v *validator) chainVenue(i int, ve *Venue, p string) {
	for _, k := range []struct{ key, val, why string }{
		{"ws_url", ve.WSURL, "an on-chain venue is reached at chain.rpc_url"},
		{"rest_url", ve.RESTURL, "an on-chain venue is reached at chain.rpc_url"},
		{"private_ws_url", ve.PrivateWSURL, "an on-chain venue is reached at chain.rpc_url"},
		{"trade_ws_url", ve.TradeWSURL, "an on-chain venue is reached at chain.rpc_url"},
		{"api_key_env", ve.APIKeyEnv, "an on-chain venue signs with chain.key_env or chain.keystore_file"},
		{"api_secret_env", ve.APISecretEnv, "an on-chain venue signs with chain.key_env or chain.keystore_file"},
		{"api_passphrase_env", ve.APIPassphraseEnv, "an on-chain venue signs with chain.key_env or chain.keystore_file"},
		{"channel", ve.Channel, "an on-chain venue follows new blocks"},
	} {
		if k.val != "" {
			v.bad(p+"."+k.key, "%s; remove %s", k.why, k.key)
		}
	}
	if ve.Demo {
		v.bad(p+".demo", "demo trading is OKX's; remove demo")
	}
	if ve.Depth != 0 {
		v.bad(p+".depth", "a pool's depth is synthetic (levels at doubling sizes); remove depth")
	}
	if ve.TakerFeeBps != 0 {
		v.bad(p+".taker_fee_bps", "must be 0 for a pool: its 0.3 %% fee is in its prices (the contract's exact getAmountOut), found %v", ve.TakerFeeBps)
	}
	if !ve.GasQuote.IsZero() {
		v.bad(p+".gas_quote", "must be 0 for a pool: the gas of a swap is measured from the chain every block and netted into the edge")
	}
	if len(ve.Symbols) > 1 {
		v.bad(p+".symbols", "a pool quotes one instrument, found %d symbol mappings", len(ve.Symbols))
	}
	c := ve.Chain
	if c == nil {
		v.bad(p+".chain", "required for a venue of kind %s (rpc_url, pair, router, base_token, quote_token, key source, gas caps)", KindUniswap)
		return
	}
	cp := p + ".chain"
	sim := false
	switch {
	case c.RPCURL != "" && c.RPCURLEnv != "":
		v.bad(cp+".rpc_url", "set rpc_url or rpc_url_env, not both")
	case c.RPCURL == "" && c.RPCURLEnv == "":
		v.bad(cp+".rpc_url", "required: the node's JSON-RPC endpoint (ws, wss, http, https, or sim://<name> for a simulated chain), or rpc_url_env")
	case c.RPCURLEnv != "":
		if !reEnvName.MatchString(c.RPCURLEnv) {
			v.bad(cp+".rpc_url_env", "is not an environment variable name (A-Z 0-9 _): write the variable's NAME here")
		}
	default:
		if name, isSim := strings.CutPrefix(c.RPCURL, simScheme+"://"); isSim {
			switch {
			case !reVenueName.MatchString(name):
				v.bad(cp+".rpc_url", "%q: sim://<name> needs a chain name (a-z 0-9 _ -), nothing else", clip(c.RPCURL))
			case !v.c.Sim.Enabled:
				v.bad(cp+".rpc_url", "%q needs the simulator, but sim.enabled is false", clip(c.RPCURL))
			default:
				sim = true
			}
		} else if err := checkURL(c.RPCURL, []string{"ws", "wss", "http", "https"}, "ws, wss, http, https or sim"); err != "" {
			v.bad(cp+".rpc_url", "%s", err)
		}
	}
	addrs := []struct{ key, val string }{{"pair", c.Pair}, {"router", c.Router}, {"base_token", c.BaseToken}, {"quote_token", c.QuoteToken}}
	keys := []struct{ key, val string }{{"key_env", c.KeyEnv}, {"keystore_file", c.KeystoreFile}, {"keystore_password_env", c.KeystorePasswordEnv}}
	if strings.HasPrefix(c.RPCURL, simScheme+"://") {
		for _, a := range append(addrs, keys...) {
			if a.val != "" {
				v.bad(cp+"."+a.key, "a simulated chain deploys its own contracts and signs with its public test key; remove %s", a.key)
			}
		}
	} else {
		seen := map[string]string{}
		for _, a := range addrs {
			switch {
			case a.val == "":
				v.bad(cp+"."+a.key, "required: the %s's address (0x and 40 hex digits)", strings.ReplaceAll(a.key, "_", " "))
			case !reAddress.MatchString(a.val):
				v.bad(cp+"."+a.key, "%q is not an address (0x and 40 hex digits)", clip(a.val))
			default:
				if other, dup := seen[strings.ToLower(a.val)]; dup {
					v.bad(cp+"."+a.key, "is the same address as %s", other)
				} else {
					seen[strings.ToLower(a.val)] = a.key
				}
			}
		}
		for _, k := range []struct{ key, val string }{{"key_env", c.KeyEnv}, {"keystore_password_env", c.KeystorePasswordEnv}} {
			if k.val != "" && !reEnvName.MatchString(k.val) {
				// Not repeated: it may be a pasted key.
				v.bad(cp+"."+k.key, "is not an environment variable name (A-Z 0-9 _): write the variable's NAME here, never the secret")
			}
		}
		switch {
		case c.KeyEnv != "" && c.KeystoreFile != "":
			v.bad(cp+".key_env", "set key_env or keystore_file, not both")
		case c.KeystoreFile != "" && c.KeystorePasswordEnv == "":
			v.bad(cp+".keystore_password_env", "required with keystore_file: the environment variable holding the keystore's password")
		case c.KeystoreFile == "" && c.KeystorePasswordEnv != "":
			v.bad(cp+".keystore_password_env", "only with keystore_file")
		case c.KeyEnv == "" && c.KeystoreFile == "" && !v.c.VenuePaper(i):
			v.bad(cp+".key_env", "required for a pool venue that trades for real (paper: false): name the environment variable holding the key (key_env), or give keystore_file and keystore_password_env")
		}
	}
	switch c.Native {
	case "", "base", "quote":
	default:
		v.bad(cp+".native", "%q is neither base nor quote (the token that is the wrapped native token gas is paid in)", clip(c.Native))
	}
	for _, g := range []struct {
		key string
		val decimal.Decimal
		pos bool
	}{{"max_base_fee_gwei", c.MaxBaseFeeGwei, true}, {"max_priority_fee_gwei", c.MaxPriorityFeeGwei, false}} {
		switch {
		case g.pos && !g.val.IsPositive():
			v.bad(cp+"."+g.key, "must be positive, found %s", g.val)
		case g.val.IsNegative():
			v.bad(cp+"."+g.key, "must not be negative, found %s", g.val)
		case g.val.GreaterThan(maxGasCapGwei):
			v.bad(cp+"."+g.key, "%s gwei is more than %s: is it in wei?", g.val, maxGasCapGwei)
		default:
			if _, ok := Wei(g.val); !ok {
				v.bad(cp+"."+g.key, "%s gwei is finer than one wei (at most 9 decimals)", g.val)
			}
		}
	}
	if c.SwapGas != 0 && (c.SwapGas < 21_000 || c.SwapGas > 10_000_000) {
		v.bad(cp+".swap_gas", "%d is outside 21000..10000000 (0 = %d)", c.SwapGas, DefaultSwapGas)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{{"deadline", c.Deadline}, {"receipt_timeout", c.ReceiptTimeout}, {"block_stale", c.BlockStale}} {
		if d.val < 0 {
			v.bad(cp+"."+d.key, "must not be negative, found %s", d.val)
		}
	}
	if c.Sim == nil {
		return
	}
	sp := cp + ".sim"
	if !sim {
		if strings.HasPrefix(c.RPCURL, simScheme+"://") {
			return // the URL's problem is reported
		}
		v.bad(sp, "only for a simulated chain (rpc_url sim://<name>)")
		return
	}
	s := c.Sim
	if s.BlockTime != 0 && (s.BlockTime < 10*time.Millisecond || s.BlockTime > time.Hour) {
		v.bad(sp+".block_time", "%s is outside 10ms..1h", s.BlockTime)
	}
	if s.Price.IsNegative() {
		v.bad(sp+".price", "must be positive, found %s", s.Price)
	}
	if s.Liquidity.IsNegative() {
		v.bad(sp+".liquidity", "must be positive, found %s", s.Liquidity)
	}
	if s.FlowProb != nil && !(*s.FlowProb >= 0 && *s.FlowProb <= 1) {
		v.bad(sp+".flow_prob", "%v is outside 0..1", *s.FlowProb)
	}
	if s.FlowBps != nil && !(*s.FlowBps >= 0 && *s.FlowBps <= 1000) {
		v.bad(sp+".flow_bps", "%v is outside 0..1000", *s.FlowBps)
	}
}
