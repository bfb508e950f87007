package uniswap

import (
	"context"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// Backend is what the venue needs of an Ethereum JSON-RPC client.
// *ethclient.Client implements it (Dial), and so does the simulated
// backend's client (see unisim). Methods are safe for concurrent use.
type Backend interface {
	ChainID(ctx context.Context) (*big.Int, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	HeaderByHash(ctx context.Context, hash common.Hash) (*types.Header, error)
	SubscribeNewHead(ctx context.Context, ch chan<- *types.Header) (ethereum.Subscription, error)
	CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error)
	CallContractAtHash(ctx context.Context, msg ethereum.CallMsg, blockHash common.Hash) ([]byte, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
	SubscribeFilterLogs(ctx context.Context, q ethereum.FilterQuery, ch chan<- types.Log) (ethereum.Subscription, error)
	TransactionByHash(ctx context.Context, hash common.Hash) (*types.Transaction, bool, error)
	TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	NonceAt(ctx context.Context, account common.Address, block *big.Int) (uint64, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	BalanceAt(ctx context.Context, account common.Address, block *big.Int) (*big.Int, error)
}

var _ Backend = (*ethclient.Client)(nil)

// Dial connects to a JSON-RPC endpoint: ws:// or wss:// (subscriptions:
// new heads and logs are pushed) or http(s):// (the feed polls).
func Dial(ctx context.Context, url string) (*ethclient.Client, error) {
	return ethclient.DialContext(ctx, url)
}

// Retry is how JSON-RPC calls are bounded and retried: each attempt has
// Timeout; transport errors (connection, timeout, HTTP 429/502/503/504)
// are retried up to Attempts times in all with exponential backoff from
// Backoff to BackoffMax, with jitter. A JSON-RPC error answer (a revert,
// "nonce too low", "not found") is an answer: never retried here.
type Retry struct {
	Timeout    time.Duration
	Attempts   int
	Backoff    time.Duration
	BackoffMax time.Duration
}

// DefaultRetry is 5 s per call, 4 attempts, backoff 200 ms doubling to 2 s.
var DefaultRetry = Retry{Timeout: 5 * time.Second, Attempts: 4, Backoff: 200 * time.Millisecond, BackoffMax: 2 * time.Second}

// caller makes calls under a Retry policy. It is safe for concurrent use.
type caller struct {
	r    Retry
	mu   sync.Mutex
	rand *rand.Rand
	// retries counts retried attempts (metrics).
	retries func()
}

// do runs fn under the policy and returns its last error. A transport
// failure of every attempt returns that error (Transient reports it).
func (c *caller) do(ctx context.Context, fn func(ctx context.Context) error) error {
	var err error
	backoff := c.r.Backoff
	for attempt := 0; attempt < max(c.r.Attempts, 1); attempt++ {
		if attempt > 0 {
			if c.retries != nil {
				c.retries()
			}
			c.mu.Lock()
			j := time.Duration(c.rand.Int64N(int64(backoff)/2 + 1))
			c.mu.Unlock()
			t := time.NewTimer(backoff/2 + j)
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(ctx.Err(), err)
			case <-t.C:
			}
			backoff = min(backoff*2, c.r.BackoffMax)
		}
		cctx, cancel := context.WithTimeout(ctx, c.r.Timeout)
		err = fn(cctx)
		cancel()
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Transient reports whether err is a transport failure — the request may
// not have been answered — rather than an answer from the node: a network
// error, a timeout, a closed connection, HTTP 408/429/502/503/504.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var re rpc.Error
	if errors.As(err, &re) {
		return false // the node answered with a JSON-RPC error
	}
	var he rpc.HTTPError
	if errors.As(err, &he) {
		switch he.StatusCode {
		case 408, 429, 502, 503, 504:
			return true
		}
		return false
	}
	if errors.Is(err, ethereum.NotFound) || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}
