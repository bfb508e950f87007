package uniswap_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"

	"arb/exchange"
	"arb/exchange/uniswap"
)

// lossyBackend delivers a transaction but loses the answer: the broadcast's
// outcome is unknown to the sender.
type lossyBackend struct {
	uniswap.Backend
	lose atomic.Bool
	sent atomic.Int64
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (b *lossyBackend) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	b.sent.Add(1)
	err := b.Backend.SendTransaction(ctx, tx)
	if b.lose.Load() {
		return timeoutErr{}
	}
	return err
}

// TestUnknownOutcomeResolvedByLookup: the node accepts a swap but the
// answer is lost: PlaceOrder reports an unknown outcome, QueryOrder finds
// the transaction through the journal (pending, then filled), and placing
// the same client order id again sends nothing new. InFlight counts the
// swap until it is known mined.
func TestUnknownOutcomeResolvedByLookup(t *testing.T) {
	c := newChain(t)
	clk := newClock()
	lb := &lossyBackend{Backend: c.Client}
	lb.lose.Store(true)
	j := &uniswap.MemTxJournal{}
	tr, err := uniswap.NewTrader(context.Background(), traderConfig(c, lb, j, clk))
	must(t, err)
	ctx := context.Background()
	req := exchange.OrderRequest{ClientID: exchange.MustID("arb1e0"), Venue: uniV, Inst: ethI, Side: exchange.Sell, Px: 290000, Qty: 5000, TIF: exchange.IOC}
	_, err = tr.PlaceOrder(ctx, req)
	if exchange.KindOf(err) != exchange.KindUnknownOutcome {
		t.Fatalf("place: %v", err)
	}
	lb.lose.Store(false)
	st, err := tr.QueryOrder(ctx, ethI, req.ClientID)
	if err != nil || st.Status != exchange.StatusNew {
		t.Fatalf("pending: %+v %v", st, err)
	}
	if n := tr.InFlight(); n != 1 {
		t.Fatalf("in flight while unmined: %d", n)
	}
	sends := lb.sent.Load()
	st, err = tr.PlaceOrder(ctx, req)
	if err != nil || st.Status != exchange.StatusNew || lb.sent.Load() != sends {
		t.Fatalf("the same intent sent again: %+v %v (%d sends)", st, err, lb.sent.Load())
	}
	c.Commit()
	st, err = tr.QueryOrder(ctx, ethI, req.ClientID)
	if err != nil || st.Status != exchange.StatusFilled || st.FilledQty != 5000 {
		t.Fatalf("filled: %+v %v", st, err)
	}
	if n := tr.InFlight(); n != 0 {
		t.Fatalf("in flight once filled: %d", n)
	}
	// A restart: a new client from the same journal still knows it.
	tr2, err := uniswap.NewTrader(ctx, traderConfig(c, c.Client, j, clk))
	must(t, err)
	st2, err := tr2.QueryOrder(ctx, ethI, req.ClientID)
	if err != nil || st2.Status != exchange.StatusFilled || st2.VenueOrderID != st.VenueOrderID {
		t.Fatalf("after restart: %+v %v", st2, err)
	}
	fills, err := tr2.FillsSince(ctx, ethI, 0)
	if err != nil || len(fills) != 1 || fills[0].Qty != 5000 || fills[0].Fee.IsZero() || fills[0].FeeAsset.String() != "ETH" {
		t.Fatalf("fills %+v %v", fills, err)
	}
	if _, err := tr2.QueryOrder(ctx, ethI, exchange.MustID("arb2e0")); exchange.KindOf(err) != exchange.KindNotFound {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestCancelByReplacementAndNonces: two swaps pending at consecutive
// nonces; the second is cancelled by a replacement at its nonce before
// the block: the first fills, the second is canceled. A nonce taken
// behind the trader's back is recovered from.
func TestCancelByReplacementAndNonces(t *testing.T) {
	c := newChain(t)
	clk := newClock()
	tr, err := uniswap.NewTrader(context.Background(), traderConfig(c, c.Client, &uniswap.MemTxJournal{}, clk))
	must(t, err)
	ctx := context.Background()
	a := exchange.OrderRequest{ClientID: exchange.MustID("arb1e0"), Venue: uniV, Inst: ethI, Side: exchange.Buy, Px: 310000, Qty: 1000, TIF: exchange.IOC}
	b := a
	b.ClientID, b.Side, b.Px = exchange.MustID("arb2e0"), exchange.Sell, 290000
	_, err = tr.PlaceOrder(ctx, a)
	must(t, err)
	_, err = tr.PlaceOrder(ctx, b)
	must(t, err)
	st, err := tr.CancelOrder(ctx, ethI, b.ClientID)
	if err != nil || st.Status != exchange.StatusNew || tr.Counters().Cancels.Load() != 1 {
		t.Fatalf("cancel: %+v %v", st, err)
	}
	c.Commit()
	if st, _ := tr.QueryOrder(ctx, ethI, a.ClientID); st.Status != exchange.StatusFilled {
		t.Fatalf("a: %+v", st)
	}
	if st, _ := tr.QueryOrder(ctx, ethI, b.ClientID); st.Status != exchange.StatusCanceled || st.FilledQty != 0 {
		t.Fatalf("b: %+v", st)
	}
	// Someone else uses the key: the next nonce the trader holds is taken.
	n, _ := c.Client.PendingNonceAt(ctx, addr(traderKey))
	_, err = c.Cancel(ctx, traderKey, n, bigGwei(2))
	must(t, err)
	c.Commit()
	d := a
	d.ClientID = exchange.MustID("arb3e0")
	st, err = tr.PlaceOrder(ctx, d)
	if err != nil || st.Status != exchange.StatusNew {
		t.Fatalf("after a foreign nonce: %+v %v", st, err)
	}
	c.Commit()
	if st, _ := tr.QueryOrder(ctx, ethI, d.ClientID); st.Status != exchange.StatusFilled {
		t.Fatalf("d: %+v", st)
	}
	if tr.Counters().NonceSyncs.Load() < 2 {
		t.Fatalf("nonce re-read %d times", tr.Counters().NonceSyncs.Load())
	}
	// Gas above the cap: refused, nothing sent.
	cfg := traderConfig(c, c.Client, &uniswap.MemTxJournal{}, clk)
	cfg.MaxBaseFee = bigGwei(0)
	cfg.MaxBaseFee.SetInt64(1)
	capped, err := uniswap.NewTrader(ctx, cfg)
	must(t, err)
	e := a
	e.ClientID = exchange.MustID("arb4e0")
	_, err = capped.PlaceOrder(ctx, e)
	var xe *exchange.Error
	if !errors.As(err, &xe) || xe.Kind != exchange.KindRejected {
		t.Fatalf("over the cap: %v", err)
	}
}
