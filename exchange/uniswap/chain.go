package uniswap

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	"arb/exchange/uniswap/internal/bindings"
)

// The contract ABIs, parsed once.
var (
	pairABI   = bindings.NewPair()
	erc20ABI  = bindings.NewERC20()
	routerABI = bindings.NewRouter()
)

// Event topics (keccak256 of the signatures), as Uniswap V2 emits them.
var (
	// SyncTopic is Sync(uint112,uint112).
	SyncTopic = crypto.Keccak256Hash([]byte("Sync(uint112,uint112)"))
	// SwapTopic is Swap(address,uint256,uint256,uint256,uint256,address).
	SwapTopic = crypto.Keccak256Hash([]byte("Swap(address,uint256,uint256,uint256,uint256,address)"))
)

// PoolInfo is what is read from the chain once about a pair: its tokens
// in the instrument's orientation and their decimals.
type PoolInfo struct {
	Pair     common.Address
	Base     common.Address // the instrument's base token
	Quote    common.Address // the instrument's quote token
	BaseIs0  bool           // the base token is the pair's token0
	BaseDec  uint8
	QuoteDec uint8
}

// maxTokenDecimals bounds what ERC-20 decimals are accepted: the
// conversions raise 10 to them in 256 bits.
const maxTokenDecimals = 36

// LoadPool reads pair's token0/token1 and the tokens' decimals, and checks
// that the pair holds exactly base and quote.
func LoadPool(ctx context.Context, c Backend, pair, base, quote common.Address) (PoolInfo, error) {
	call := func(to common.Address, data []byte) ([]byte, error) {
		return c.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	}
	out, err := call(pair, pairABI.PackToken0())
	if err != nil {
		return PoolInfo{}, fmt.Errorf("pair %s token0: %w", pair, err)
	}
	t0, err := pairABI.UnpackToken0(out)
	if err != nil {
		return PoolInfo{}, fmt.Errorf("pair %s token0: %w", pair, err)
	}
	out, err = call(pair, pairABI.PackToken1())
	if err != nil {
		return PoolInfo{}, fmt.Errorf("pair %s token1: %w", pair, err)
	}
	t1, err := pairABI.UnpackToken1(out)
	if err != nil {
		return PoolInfo{}, fmt.Errorf("pair %s token1: %w", pair, err)
	}
	info := PoolInfo{Pair: pair, Base: base, Quote: quote}
	switch {
	case t0 == base && t1 == quote:
		info.BaseIs0 = true
	case t1 == base && t0 == quote:
	default:
		return PoolInfo{}, fmt.Errorf("pair %s holds %s and %s, not the configured base %s and quote %s", pair, t0, t1, base, quote)
	}
	dec := func(tok common.Address) (uint8, error) {
		out, err := call(tok, erc20ABI.PackDecimals())
		if err != nil {
			return 0, fmt.Errorf("token %s decimals: %w", tok, err)
		}
		d, err := erc20ABI.UnpackDecimals(out)
		if err != nil {
			return 0, fmt.Errorf("token %s decimals: %w", tok, err)
		}
		if d > maxTokenDecimals {
			return 0, fmt.Errorf("token %s has %d decimals (at most %d supported)", tok, d, maxTokenDecimals)
		}
		return d, nil
	}
	if info.BaseDec, err = dec(base); err != nil {
		return PoolInfo{}, err
	}
	if info.QuoteDec, err = dec(quote); err != nil {
		return PoolInfo{}, err
	}
	return info, nil
}

// ErrBadLog is returned for a Sync or Swap log that is not what the pair
// emits (wrong address, topic or data length, reserves over uint112).
var ErrBadLog = errors.New("uniswap: malformed log")

// maxU112 is the largest reserve a pair holds.
var maxU112 = new(uint256.Int).Sub(new(uint256.Int).Lsh(uint256.NewInt(1), 112), uint256.NewInt(1))

// DecodeSync parses a Sync(uint112 reserve0, uint112 reserve1) log of pair:
// the ABI words are read by hand and checked (two 32-byte words, each at
// most 2^112 − 1). It never panics on any input.
func DecodeSync(pair common.Address, l *types.Log) (SyncLog, error) {
	if l.Address != pair || len(l.Topics) != 1 || l.Topics[0] != SyncTopic || len(l.Data) != 64 {
		return SyncLog{}, ErrBadLog
	}
	s := SyncLog{Block: l.BlockNumber, BlockHash: l.BlockHash, Index: l.Index}
	s.R0.SetBytes32(l.Data[:32])
	s.R1.SetBytes32(l.Data[32:])
	if s.R0.Gt(maxU112) || s.R1.Gt(maxU112) {
		return SyncLog{}, ErrBadLog
	}
	return s, nil
}

// SwapAmounts is a Swap event's amounts.
type SwapAmounts struct {
	In0, In1, Out0, Out1 uint256.Int
	To                   common.Address
}

// DecodeSwap parses a Swap(address indexed sender, uint amount0In, uint
// amount1In, uint amount0Out, uint amount1Out, address indexed to) log of
// pair, by hand, checked like DecodeSync.
func DecodeSwap(pair common.Address, l *types.Log) (SwapAmounts, error) {
	if l.Address != pair || len(l.Topics) != 3 || l.Topics[0] != SwapTopic || len(l.Data) != 128 {
		return SwapAmounts{}, ErrBadLog
	}
	var s SwapAmounts
	s.In0.SetBytes32(l.Data[0:32])
	s.In1.SetBytes32(l.Data[32:64])
	s.Out0.SetBytes32(l.Data[64:96])
	s.Out1.SetBytes32(l.Data[96:128])
	for i := 0; i < 12; i++ {
		if l.Topics[2][i] != 0 {
			return SwapAmounts{}, ErrBadLog
		}
	}
	s.To = common.BytesToAddress(l.Topics[2][12:])
	return s, nil
}

// reservesAt reads getReserves at a block hash (EIP-1898), so the snapshot
// is exactly that block's even if the chain moves meanwhile.
func reservesAt(ctx context.Context, c Backend, pair common.Address, block common.Hash) (r0, r1 uint256.Int, err error) {
	out, err := c.CallContractAtHash(ctx, ethereum.CallMsg{To: &pair, Data: pairABI.PackGetReserves()}, block)
	if err != nil {
		return r0, r1, err
	}
	res, err := pairABI.UnpackGetReserves(out)
	if err != nil {
		return r0, r1, err
	}
	if o := r0.SetFromBig(res.Reserve0); o {
		return r0, r1, ErrBadLog
	}
	if o := r1.SetFromBig(res.Reserve1); o {
		return r0, r1, ErrBadLog
	}
	return r0, r1, nil
}

// blockOf converts a header.
func blockOf(h *types.Header) Block {
	return Block{Num: h.Number.Uint64(), Hash: h.Hash(), Parent: h.ParentHash, Time: h.Time}
}

// big0 is a shared zero for calls that want a *big.Int.
var big0 = new(big.Int)
