// Package unisim is an in-process Ethereum chain (go-ethereum's
// ethclient/simulated backend) with the project's own Uniswap V2-style
// contracts deployed: two ERC-20 tokens, the factory, one pair seeded with
// liquidity at a chosen price, and the router. Tests use it with explicit
// Commit calls (one block each, deterministic); the daemon's demo mines a
// block every period with Run. Keys are public test keys derived from
// fixed strings: never use them with value.
package unisim

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"arb/exchange/uniswap"
	"arb/exchange/uniswap/internal/bindings"
)

// TestKey returns the public test key named name (keccak256 of
// "arb/unisim/"+name): the same on every run, so addresses and the
// pair's token order are deterministic.
func TestKey(name string) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte("arb/unisim/" + name)))
	if err != nil {
		panic(err) // a keccak digest is a valid key with overwhelming probability
	}
	return k
}

// Config describes the chain to build.
type Config struct {
	BaseSymbol, QuoteSymbol     string
	BaseDecimals, QuoteDecimals uint8
	// BaseReserve and QuoteReserve are the token units minted into the
	// pair: their ratio is the starting price.
	BaseReserve, QuoteReserve *big.Int
	// Accounts are given 1000 ETH each at genesis.
	Accounts []common.Address
}

// Chain is a simulated chain with the contracts deployed.
type Chain struct {
	Backend   *simulated.Backend
	Client    uniswap.Backend
	ChainID   *big.Int
	Owner     *ecdsa.PrivateKey
	OwnerAddr common.Address

	Base, Quote, Factory, Pair, Router common.Address

	mu sync.Mutex // serializes the owner's transactions and commits
}

// ETH is 10^18 wei.
var ETH = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// New starts a chain, deploys the contracts and seeds the pair (every
// deployment step is committed, so the chain starts a few blocks high).
func New(cfg Config) (*Chain, error) {
	if cfg.BaseReserve == nil || cfg.QuoteReserve == nil || cfg.BaseReserve.Sign() <= 0 || cfg.QuoteReserve.Sign() <= 0 {
		return nil, errors.New("unisim: base and quote reserves must be > 0")
	}
	owner := TestKey("owner")
	ownerAddr := crypto.PubkeyToAddress(owner.PublicKey)
	rich := new(big.Int).Mul(big.NewInt(1000), ETH)
	alloc := types.GenesisAlloc{ownerAddr: {Balance: rich}}
	for _, a := range cfg.Accounts {
		alloc[a] = types.Account{Balance: rich}
	}
	be := simulated.NewBackend(alloc)
	cl, ok := be.Client().(uniswap.Backend)
	if !ok {
		be.Close()
		return nil, errors.New("unisim: the simulated client lacks a Backend method")
	}
	c := &Chain{Backend: be, Client: cl, Owner: owner, OwnerAddr: ownerAddr}
	ctx := context.Background()
	var err error
	if c.ChainID, err = cl.ChainID(ctx); err != nil {
		be.Close()
		return nil, err
	}
	if err := c.deploy(ctx, cfg); err != nil {
		be.Close()
		return nil, err
	}
	return c, nil
}

func (c *Chain) deploy(ctx context.Context, cfg Config) error {
	erc := bindings.NewERC20()
	var err error
	if c.Base, err = c.create(ctx, bindings.ERC20MetaData.Bin, erc.PackConstructor(cfg.BaseSymbol, cfg.BaseSymbol, cfg.BaseDecimals)); err != nil {
		return fmt.Errorf("deploy base token: %w", err)
	}
	if c.Quote, err = c.create(ctx, bindings.ERC20MetaData.Bin, erc.PackConstructor(cfg.QuoteSymbol, cfg.QuoteSymbol, cfg.QuoteDecimals)); err != nil {
		return fmt.Errorf("deploy quote token: %w", err)
	}
	if c.Factory, err = c.create(ctx, bindings.FactoryMetaData.Bin, nil); err != nil {
		return fmt.Errorf("deploy factory: %w", err)
	}
	fac := bindings.NewFactory()
	if _, err := c.Send(ctx, c.Owner, c.Factory, fac.PackCreatePair(c.Base, c.Quote)); err != nil {
		return fmt.Errorf("create pair: %w", err)
	}
	out, err := c.Client.CallContract(ctx, ethereum.CallMsg{To: &c.Factory, Data: fac.PackGetPair(c.Base, c.Quote)}, nil)
	if err != nil {
		return err
	}
	if c.Pair, err = fac.UnpackGetPair(out); err != nil {
		return err
	}
	if c.Router, err = c.create(ctx, bindings.RouterMetaData.Bin, bindings.NewRouter().PackConstructor(c.Factory)); err != nil {
		return fmt.Errorf("deploy router: %w", err)
	}
	// Seed: mint the reserves straight to the pair, then mint liquidity.
	if err := c.Mint(ctx, c.Base, c.Pair, cfg.BaseReserve); err != nil {
		return err
	}
	if err := c.Mint(ctx, c.Quote, c.Pair, cfg.QuoteReserve); err != nil {
		return err
	}
	if _, err := c.Send(ctx, c.Owner, c.Pair, bindings.NewPair().PackMint(c.OwnerAddr)); err != nil {
		return fmt.Errorf("seed liquidity: %w", err)
	}
	return nil
}

// create deploys bytecode (hex) with constructor input and commits.
func (c *Chain) create(ctx context.Context, bin string, input []byte) (common.Address, error) {
	data := append(common.FromHex(bin), input...)
	r, err := c.send(ctx, c.Owner, nil, data, true)
	if err != nil {
		return common.Address{}, err
	}
	return r.ContractAddress, nil
}

// Mint creates amount of token for to (the owner deployed every token) and
// commits.
func (c *Chain) Mint(ctx context.Context, token, to common.Address, amount *big.Int) error {
	_, err := c.Send(ctx, c.Owner, token, bindings.NewERC20().PackMint(to, amount))
	if err != nil {
		return fmt.Errorf("mint %s: %w", token, err)
	}
	return nil
}

// Send signs a call to `to` with key, commits a block and returns the
// receipt; a reverted transaction is an error.
func (c *Chain) Send(ctx context.Context, key *ecdsa.PrivateKey, to common.Address, data []byte) (*types.Receipt, error) {
	return c.send(ctx, key, &to, data, true)
}

// SendPending signs and sends a call without committing, with the given
// priority fee (wei): the transaction waits in the pool for the next
// Commit, where a higher tip goes first.
func (c *Chain) SendPending(ctx context.Context, key *ecdsa.PrivateKey, to common.Address, data []byte, tip *big.Int) (*types.Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sign(ctx, key, &to, data, tip)
}

func (c *Chain) sign(ctx context.Context, key *ecdsa.PrivateKey, to *common.Address, data []byte, tip *big.Int) (*types.Transaction, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := c.Client.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, err
	}
	head, err := c.Client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	if tip == nil {
		tip = big.NewInt(1e9)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	gas, err := c.Client.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Data: data, GasTipCap: tip, GasFeeCap: feeCap})
	if err != nil {
		return nil, fmt.Errorf("estimate gas: %w", err)
	}
	tx := types.NewTx(&types.DynamicFeeTx{ChainID: c.ChainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas * 3 / 2, To: to, Data: data})
	signed, err := types.SignTx(tx, types.LatestSignerForChainID(c.ChainID), key)
	if err != nil {
		return nil, err
	}
	if err := c.Client.SendTransaction(ctx, signed); err != nil {
		return nil, err
	}
	return signed, nil
}

func (c *Chain) send(ctx context.Context, key *ecdsa.PrivateKey, to *common.Address, data []byte, commit bool) (*types.Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tx, err := c.sign(ctx, key, to, data, nil)
	if err != nil {
		return nil, err
	}
	if commit {
		c.Backend.Commit()
	}
	r, err := c.Client.TransactionReceipt(ctx, tx.Hash())
	if err != nil {
		return nil, err
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return r, errors.New("unisim: transaction reverted")
	}
	return r, nil
}

// Commit mines the pending transactions into a new block.
func (c *Chain) Commit() common.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Backend.Commit()
}

// Approve lets spender move every token of key's account on token.
func (c *Chain) Approve(ctx context.Context, key *ecdsa.PrivateKey, token, spender common.Address) error {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	_, err := c.Send(ctx, key, token, bindings.NewERC20().PackApprove(spender, max))
	return err
}

// SwapData returns the router call swapping exactly amountIn of tokenIn
// for the other token of the pair, with no minimum and a far deadline.
func (c *Chain) SwapData(tokenIn common.Address, amountIn *big.Int, to common.Address) []byte {
	out := c.Quote
	if tokenIn == c.Quote {
		out = c.Base
	}
	return bindings.NewRouter().PackSwapExactTokensForTokens(amountIn, big.NewInt(0), []common.Address{tokenIn, out}, to,
		big.NewInt(time.Now().Add(24*time.Hour).Unix()))
}

// Swap is another account trading: key swaps exactly amountIn of tokenIn
// through the router (it must hold and have approved the tokens) and the
// block is committed.
func (c *Chain) Swap(ctx context.Context, key *ecdsa.PrivateKey, tokenIn common.Address, amountIn *big.Int) (*types.Receipt, error) {
	return c.Send(ctx, key, c.Router, c.SwapData(tokenIn, amountIn, crypto.PubkeyToAddress(key.PublicKey)))
}

// Reserves returns the pair's reserves as getReserves gives them at the
// latest block (token0, token1).
func (c *Chain) Reserves(ctx context.Context) (r0, r1 *big.Int, err error) {
	p := bindings.NewPair()
	out, err := c.Client.CallContract(ctx, ethereum.CallMsg{To: &c.Pair, Data: p.PackGetReserves()}, nil)
	if err != nil {
		return nil, nil, err
	}
	res, err := p.UnpackGetReserves(out)
	if err != nil {
		return nil, nil, err
	}
	return res.Reserve0, res.Reserve1, nil
}

// BalanceOf returns an account's balance of token.
func (c *Chain) BalanceOf(ctx context.Context, token, who common.Address) (*big.Int, error) {
	e := bindings.NewERC20()
	out, err := c.Client.CallContract(ctx, ethereum.CallMsg{To: &token, Data: e.PackBalanceOf(who)}, nil)
	if err != nil {
		return nil, err
	}
	return e.UnpackBalanceOf(out)
}

// Run mines a block every period until ctx ends (the demo's block time).
func (c *Chain) Run(ctx context.Context, period time.Duration) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			c.Commit()
		}
	}
}

// Close stops the chain.
func (c *Chain) Close() error { return c.Backend.Close() }

// Cancel sends, without committing, a zero-value transfer from key's
// account to itself at nonce with tip: it replaces (or pre-empts) any
// transaction of that nonce in the pool. Tests use it to keep a
// transaction out of a forked branch.
func (c *Chain) Cancel(ctx context.Context, key *ecdsa.PrivateKey, nonce uint64, tip *big.Int) (*types.Transaction, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	head, err := c.Client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: c.ChainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: 21000, To: &from}), types.LatestSignerForChainID(c.ChainID), key)
	if err != nil {
		return nil, err
	}
	return tx, c.Client.SendTransaction(ctx, tx)
}

// SwapExactOutData returns the router call buying exactly amountOut of the
// other token with tokenIn, with no input cap and a far deadline.
func (c *Chain) SwapExactOutData(tokenIn common.Address, amountOut *big.Int, to common.Address) []byte {
	out := c.Quote
	if tokenIn == c.Quote {
		out = c.Base
	}
	maxIn := new(big.Int).Lsh(big.NewInt(1), 200)
	return bindings.NewRouter().PackSwapTokensForExactTokens(amountOut, maxIn, []common.Address{tokenIn, out}, to,
		big.NewInt(time.Now().Add(24*time.Hour).Unix()))
}
