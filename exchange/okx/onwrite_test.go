package okx

import (
	"sync"
	"testing"
	"time"

	"arb/exchange"
)

// TestOnOrderWrite: the hook sees each order's client id once per send, at
// a time between the call and its answer, and not for queries.
func TestOnOrderWrite(t *testing.T) {
	var mu sync.Mutex
	type wrote struct {
		id exchange.ID
		at int64
	}
	var seen []wrote
	ts := startTradeSim(t, nil, func(c *ClientConfig) {
		c.OnOrderWrite = func(id exchange.ID, at int64) {
			mu.Lock()
			seen = append(seen, wrote{id, at})
			mu.Unlock()
		}
	})
	ctx := runCtx(t)
	req := exchange.OrderRequest{ClientID: exchange.MustID("hook1"), Venue: testVenue, Inst: 1, Side: exchange.Buy,
		Px: ts.takeAsk(t), Qty: 1_000_000, TIF: exchange.IOC}
	before := time.Now().UnixNano()
	if _, err := ts.c.PlaceOrder(ctx, req); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	if _, err := ts.c.QueryOrder(ctx, 1, req.ClientID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].id != req.ClientID || seen[0].at < before || seen[0].at > after {
		t.Fatalf("hook saw %+v (call %d..%d)", seen, before, after)
	}
}
