package bybit

import (
	"context"
	"sync"
	"testing"
	"time"

	"arb/exchange"
)

// TestOnOrderWrite: the hook sees each order's client id once per send,
// over REST and over the trade socket, not for queries, at a time between
// the call and its answer.
func TestOnOrderWrite(t *testing.T) {
	for _, entry := range []string{OrderEntryREST, OrderEntryWS} {
		t.Run(entry, func(t *testing.T) {
			var mu sync.Mutex
			type wrote struct {
				id exchange.ID
				at int64
			}
			var seen []wrote
			st := newSimTrade(t, false, func(c *ClientConfig) {
				c.OrderEntry = entry
				c.OnOrderWrite = func(id exchange.ID, at int64) {
					mu.Lock()
					seen = append(seen, wrote{id, at})
					mu.Unlock()
				}
			})
			req := st.buyAtAsk("hook"+entry, 100_000)
			before := time.Now().UnixNano()
			if _, err := st.c.PlaceOrder(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			after := time.Now().UnixNano()
			if _, err := st.c.QueryOrder(context.Background(), 1, req.ClientID); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0].id != req.ClientID || seen[0].at < before || seen[0].at > after {
				t.Fatalf("hook saw %+v (call %d..%d)", seen, before, after)
			}
		})
	}
}
