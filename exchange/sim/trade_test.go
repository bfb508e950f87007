package sim

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

var allVenues = []string{"binance", "okx", "bybit"}

// tradeSim is a started simulator with a settable clock and the given
// starting balances on every venue.
func tradeSim(t testing.TB, balances map[string]string, mutate func(*Config)) (*Sim, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Now().Truncate(time.Second)}
	s := newSim(t, func(c *Config) {
		c.Clock = clk.Now
		for i := range c.Venues {
			if balances != nil {
				c.Venues[i].Balances = balances
			}
		}
		if mutate != nil {
			mutate(c)
		}
	})
	return s, clk
}

// rat parses a decimal string exactly.
func rat(t testing.TB, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a decimal: %q", s)
	}
	return r
}

// expectedBalances replays the venue's recorded fills over the starting
// balances, with rationals: a buy adds qty − fee of the base and takes
// px·qty of the quote, a sell the reverse with the fee in quote.
func expectedBalances(t testing.TB, s *Sim, venue string, start map[string]string) map[string]*big.Rat {
	t.Helper()
	out := map[string]*big.Rat{}
	for k, v := range start {
		out[k] = rat(t, v)
	}
	get := func(a string) *big.Rat {
		if out[a] == nil {
			out[a] = new(big.Rat)
		}
		return out[a]
	}
	for _, f := range s.Fills(venue) {
		sc := scaleOf(s, f.Symbol)
		base, quote, _ := strings.Cut(f.Symbol, "-")
		px := big.NewRat(int64(f.Px), num.Pow10(sc.Px))
		q := big.NewRat(int64(f.Qty), num.Pow10(sc.Qty))
		val := new(big.Rat).Mul(px, q)
		fee := big.NewRat(f.Fee, num.Pow10(f.FeeDec))
		if f.Side == exchange.Buy {
			get(base).Add(get(base), q).Sub(get(base), fee)
			get(quote).Sub(get(quote), val)
		} else {
			get(base).Sub(get(base), q)
			get(quote).Add(get(quote), val).Sub(get(quote), fee)
		}
	}
	return out
}

// venueBalances reads the venue's balance endpoint: asset → total (free +
// locked) and locked, as the venue prints them.
func venueBalances(t testing.TB, s *Sim, venue string) (total, locked map[string]*big.Rat) {
	t.Helper()
	total, locked = map[string]*big.Rat{}, map[string]*big.Rat{}
	switch venue {
	case "binance":
		code, _, b := bnREST(t, s, "GET", "/api/v3/account")
		var r struct {
			Balances []struct{ Asset, Free, Locked string }
		}
		if json.Unmarshal(b, &r); code != 200 {
			t.Fatalf("account: %d %s", code, b)
		}
		for _, x := range r.Balances {
			total[x.Asset] = new(big.Rat).Add(rat(t, x.Free), rat(t, x.Locked))
			locked[x.Asset] = rat(t, x.Locked)
		}
	case "okx":
		_, b := okxREST(t, s, "GET", "/api/v5/account/balance", "")
		var r struct {
			Code string
			Data []struct {
				Details []struct{ Ccy, CashBal, AvailBal, FrozenBal string }
			}
		}
		if json.Unmarshal(b, &r); r.Code != "0" {
			t.Fatalf("balance: %s", b)
		}
		for _, x := range r.Data[0].Details {
			total[x.Ccy] = rat(t, x.CashBal)
			locked[x.Ccy] = rat(t, x.FrozenBal)
			if sum := new(big.Rat).Add(rat(t, x.AvailBal), rat(t, x.FrozenBal)); sum.Cmp(total[x.Ccy]) != 0 {
				t.Fatalf("okx %s: availBal + frozenBal ≠ cashBal: %s", x.Ccy, b)
			}
		}
	case "bybit":
		_, _, b := byREST(t, s, "GET", "/v5/account/wallet-balance?accountType=UNIFIED", "")
		var r struct {
			RetCode int
			Result  struct {
				List []struct {
					Coin []struct{ Coin, WalletBalance, Locked string }
				}
			}
		}
		if json.Unmarshal(b, &r); r.RetCode != 0 {
			t.Fatalf("wallet: %s", b)
		}
		for _, x := range r.Result.List[0].Coin {
			total[x.Coin] = rat(t, x.WalletBalance)
			locked[x.Coin] = rat(t, x.Locked)
		}
	}
	return total, locked
}

func checkBalances(t testing.TB, s *Sim, venue string, start map[string]string) {
	t.Helper()
	want := expectedBalances(t, s, venue, start)
	got, _ := venueBalances(t, s, venue)
	for a, w := range want {
		g := got[a]
		if g == nil {
			g = new(big.Rat) // OKX and Bybit omit empty holdings
		}
		if g.Cmp(w) != 0 {
			t.Fatalf("%s %s: venue says %s, fills say %s", venue, a, g.FloatString(10), w.FloatString(10))
		}
		free, locked, _ := s.Balance(venue, a)
		sum := new(big.Rat).Add(big.NewRat(free.V, num.Pow10(free.Dec)), big.NewRat(locked.V, num.Pow10(locked.Dec)))
		if sum.Cmp(w) != 0 {
			t.Fatalf("%s %s: Balance says %s, fills say %s", venue, a, sum.FloatString(10), w.FloatString(10))
		}
	}
}

// queryByClient asks the venue for an order by client order id and returns
// its status in the venue's words and its executed quantity as printed; ok
// false when the venue says it does not know the order.
func queryByClient(t testing.TB, s *Sim, venue, cid string) (status, filled string, ok bool) {
	t.Helper()
	switch venue {
	case "binance":
		code, _, b := bnREST(t, s, "GET", "/api/v3/order", "symbol", "BTCUSDT", "origClientOrderId", cid)
		if code == 400 && strings.Contains(string(b), "-2013") {
			return "", "", false
		}
		var r struct{ Status, ExecutedQty, ClientOrderID string }
		if json.Unmarshal(b, &r); code != 200 || r.ClientOrderID != cid {
			t.Fatalf("query: %d %s", code, b)
		}
		return r.Status, r.ExecutedQty, true
	case "okx":
		_, b := okxREST(t, s, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId="+cid, "")
		var r struct {
			Code string
			Data []struct{ State, AccFillSz, ClOrdID string }
		}
		json.Unmarshal(b, &r)
		if r.Code == "51603" {
			return "", "", false
		}
		if r.Code != "0" || r.Data[0].ClOrdID != cid {
			t.Fatalf("query: %s", b)
		}
		return r.Data[0].State, r.Data[0].AccFillSz, true
	default:
		_, _, b := byREST(t, s, "GET", "/v5/order/realtime?category=spot&orderLinkId="+cid, "")
		var r struct {
			RetCode int
			Result  struct {
				List []struct{ OrderStatus, CumExecQty, OrderLinkID string }
			}
		}
		if json.Unmarshal(b, &r); r.RetCode != 0 {
			t.Fatalf("query: %s", b)
		}
		if len(r.Result.List) == 0 {
			return "", "", false
		}
		return r.Result.List[0].OrderStatus, r.Result.List[0].CumExecQty, true
	}
}

// TestTradeRoundTrip: on every venue, an IOC buy through two levels and an
// IOC sell through one fill at the book's prices; the order query by client
// id, the fills endpoint and the balances agree with the fills to the last
// digit, fees included.
func TestTradeRoundTrip(t *testing.T) {
	start := map[string]string{"USDT": "100000", "BTC": "1.5"}
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, _ := tradeSim(t, start, nil)
			sc := scaleOf(s, "BTC-USDT")
			step := s.syms[0].step
			_, asks, _, _ := s.Book(venue, "BTC-USDT")
			qty := asks[0].Qty + num.Qty(num.FloorTo(int64(asks[1].Qty)/2, step))
			buyID, raw := placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[1].Px), sc.Px), num.Format(int64(qty), sc.Qty), "rtbuy1", "IOC")
			if buyID == "" {
				t.Fatalf("buy refused: %s", raw)
			}
			fills := s.Fills(venue)
			if len(fills) != 2 || fills[0].Px != asks[0].Px || fills[1].Px != asks[1].Px || fills[0].Qty+fills[1].Qty != qty {
				t.Fatalf("fills %+v", fills)
			}
			if st, filled, ok := queryByClient(t, s, venue, "rtbuy1"); !ok || filled != map[string]string{
				"binance": string(appendFixed8(nil, int64(qty), sc.Qty)), "okx": num.Format(int64(qty), sc.Qty),
				"bybit": string(appendDec(nil, int64(qty), sc.Qty, s.syms[0].stepDec))}[venue] ||
				st != map[string]string{"binance": "FILLED", "okx": "filled", "bybit": "Filled"}[venue] {
				t.Fatalf("query: %s %s %v", st, filled, ok)
			}
			checkBalances(t, s, venue, start)
			s.Step()
			bids, _, _, _ := s.Book(venue, "BTC-USDT")
			sellQty := num.Qty(num.FloorTo(int64(bids[0].Qty)/3, step))
			if id, raw := placeIOC(t, s, venue, exchange.Sell, num.Format(int64(bids[0].Px), sc.Px), num.Format(int64(sellQty), sc.Qty), "rtsell1", "IOC"); id == "" {
				t.Fatalf("sell refused: %s", raw)
			}
			checkBalances(t, s, venue, start)
			checkFillsEndpoint(t, s, venue)
			if d := s.DuplicateClientIDs(venue); len(d) != 0 {
				t.Fatalf("duplicates %v", d)
			}
		})
	}
}

// checkFillsEndpoint reads the venue's fills endpoint and compares every
// fill with the simulator's record: trade id, order id, price, quantity,
// fee (OKX prints charges negative) and fee asset.
func checkFillsEndpoint(t testing.TB, s *Sim, venue string) {
	t.Helper()
	want := s.Fills(venue)
	type row struct{ trade, order, px, qty, fee, asset string }
	var got []row
	switch venue {
	case "binance":
		_, _, b := bnREST(t, s, "GET", "/api/v3/myTrades", "symbol", "BTCUSDT")
		var r []struct {
			ID, OrderID                             int64
			Price, Qty, Commission, CommissionAsset string
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("myTrades: %s", b)
		}
		for _, x := range r {
			got = append(got, row{strconv.FormatInt(x.ID, 10), strconv.FormatInt(x.OrderID, 10), x.Price, x.Qty, x.Commission, x.CommissionAsset})
		}
	case "okx":
		_, b := okxREST(t, s, "GET", "/api/v5/trade/fills?instType=SPOT", "")
		var r struct {
			Data []struct{ TradeID, OrdID, FillPx, FillSz, Fee, FeeCcy string }
		}
		json.Unmarshal(b, &r)
		for i := len(r.Data) - 1; i >= 0; i-- { // newest first on the wire
			x := r.Data[i]
			got = append(got, row{x.TradeID, x.OrdID, x.FillPx, x.FillSz, strings.TrimPrefix(x.Fee, "-"), x.FeeCcy})
		}
	case "bybit":
		_, _, b := byREST(t, s, "GET", "/v5/execution/list?category=spot", "")
		var r struct {
			Result struct {
				List []struct{ ExecID, OrderID, ExecPrice, ExecQty, ExecFee, FeeCurrency string }
			}
		}
		json.Unmarshal(b, &r)
		for i := len(r.Result.List) - 1; i >= 0; i-- {
			x := r.Result.List[i]
			got = append(got, row{x.ExecID, x.OrderID, x.ExecPrice, x.ExecQty, x.ExecFee, x.FeeCurrency})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s fills endpoint: %d fills, simulator made %d", venue, len(got), len(want))
	}
	for i, f := range want {
		sc := scaleOf(s, f.Symbol)
		g := got[i]
		if g.trade != f.TradeID || g.order != f.OrderID || g.asset != f.FeeAsset ||
			rat(t, g.px).Cmp(big.NewRat(int64(f.Px), num.Pow10(sc.Px))) != 0 ||
			rat(t, g.qty).Cmp(big.NewRat(int64(f.Qty), num.Pow10(sc.Qty))) != 0 ||
			rat(t, g.fee).Cmp(big.NewRat(f.Fee, num.Pow10(f.FeeDec))) != 0 {
			t.Fatalf("%s fill %d: endpoint %+v, simulator %+v", venue, i, g, f)
		}
	}
}

// cancelByClient cancels on the venue; it returns whether the venue said
// it cancelled, and the raw answer.
func cancelByClient(t testing.TB, s *Sim, venue, cid string) (bool, []byte) {
	t.Helper()
	switch venue {
	case "binance":
		code, _, b := bnREST(t, s, "DELETE", "/api/v3/order", "symbol", "BTCUSDT", "origClientOrderId", cid)
		return code == 200 && strings.Contains(string(b), `"status":"CANCELED"`), b
	case "okx":
		_, b := okxREST(t, s, "POST", "/api/v5/trade/cancel-order", `{"instId":"BTC-USDT","clOrdId":"`+cid+`"}`)
		return strings.Contains(string(b), `"code":"0"`), b
	default:
		_, _, b := byREST(t, s, "POST", "/v5/order/cancel", `{"category":"spot","symbol":"BTCUSDT","orderLinkId":"`+cid+`"}`)
		return strings.Contains(string(b), `"retCode":0`), b
	}
}

// openOrders lists the venue's open orders' client ids.
func openOrders(t testing.TB, s *Sim, venue string) []string {
	t.Helper()
	var ids []string
	switch venue {
	case "binance":
		_, _, b := bnREST(t, s, "GET", "/api/v3/openOrders", "symbol", "BTCUSDT")
		var r []struct{ ClientOrderID string }
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("openOrders: %s", b)
		}
		for _, x := range r {
			ids = append(ids, x.ClientOrderID)
		}
	case "okx":
		_, b := okxREST(t, s, "GET", "/api/v5/trade/orders-pending?instType=SPOT", "")
		var r struct{ Data []struct{ ClOrdID string } }
		json.Unmarshal(b, &r)
		for _, x := range r.Data {
			ids = append(ids, x.ClOrdID)
		}
	default:
		_, _, b := byREST(t, s, "GET", "/v5/order/realtime?category=spot", "")
		var r struct {
			Result struct {
				List []struct{ OrderLinkID string }
			}
		}
		json.Unmarshal(b, &r)
		for _, x := range r.Result.List {
			ids = append(ids, x.OrderLinkID)
		}
	}
	return ids
}

// TestRestingOrderLifecycle: a GTC order below the market rests, locks its
// funds, shows in open orders and cancels (by client id), which unlocks
// them exactly; a second cancel gets the venue's unknown-order error. A GTC
// order the market later moves through fills at its own price as the
// maker, at the maker fee.
func TestRestingOrderLifecycle(t *testing.T) {
	start := map[string]string{"USDT": "50000", "BTC": "1"}
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, _ := tradeSim(t, start, nil)
			sc := scaleOf(s, "BTC-USDT")
			bids, asks, _, _ := s.Book(venue, "BTC-USDT")
			low := bids[0].Px - 500*10 // 50 USDT under the best bid
			if id, raw := placeIOC(t, s, venue, exchange.Buy, num.Format(int64(low), sc.Px), "0.2000", "rest1", "GTC"); id == "" {
				t.Fatalf("refused: %s", raw)
			}
			if st, _, _ := queryByClient(t, s, venue, "rest1"); st != map[string]string{"binance": "NEW", "okx": "live", "bybit": "New"}[venue] {
				t.Fatalf("state %q", st)
			}
			if got := openOrders(t, s, venue); len(got) != 1 || got[0] != "rest1" {
				t.Fatalf("open orders %v", got)
			}
			_, locked := venueBalances(t, s, venue)
			wantLocked := new(big.Rat).Mul(big.NewRat(int64(low), 100), rat(t, "0.2"))
			if locked["USDT"] == nil || locked["USDT"].Cmp(wantLocked) != 0 {
				t.Fatalf("locked %v, want %s", locked["USDT"], wantLocked.FloatString(8))
			}
			if ok, raw := cancelByClient(t, s, venue, "rest1"); !ok {
				t.Fatalf("cancel: %s", raw)
			}
			if got := openOrders(t, s, venue); len(got) != 0 {
				t.Fatalf("open after cancel %v", got)
			}
			checkBalances(t, s, venue, start)
			_, locked = venueBalances(t, s, venue)
			if locked["USDT"] != nil && locked["USDT"].Sign() != 0 {
				t.Fatalf("still locked %v", locked["USDT"])
			}
			if ok, raw := cancelByClient(t, s, venue, "rest1"); ok || !strings.Contains(string(raw),
				map[string]string{"binance": "-2011", "okx": "51400", "bybit": "170213"}[venue]) {
				t.Fatalf("second cancel: %s", raw)
			}
			if st, _, _ := queryByClient(t, s, venue, "rest1"); st != map[string]string{"binance": "CANCELED", "okx": "canceled", "bybit": "Cancelled"}[venue] {
				t.Fatalf("state after cancel %q", st)
			}

			// A bid one tick under the best ask rests, then the venue's
			// market falls through it: a maker fill at the bid's price.
			px := asks[0].Px - 10
			if id, raw := placeIOC(t, s, venue, exchange.Buy, num.Format(int64(px), sc.Px), "0.0100", "mk1", "GTC"); id == "" {
				t.Fatalf("refused: %s", raw)
			}
			if n := len(s.Fills(venue)); n != 0 {
				t.Fatalf("%d fills before the market moved", n)
			}
			if err := s.Dislocate(venue, "BTC-USDT", -60, 200); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 200 && len(s.Fills(venue)) == 0; i++ {
				s.Step()
			}
			fills := s.Fills(venue)
			if len(fills) == 0 {
				t.Fatal("the resting bid never filled")
			}
			var got num.Qty
			for _, f := range fills {
				mfee := map[string]float64{"binance": 10, "okx": 8, "bybit": 10}[venue]
				if !f.Maker || f.Px != px || f.Fee != wantFee(exchange.Buy, int64(f.Px), int64(f.Qty), sc, mfee) {
					t.Fatalf("maker fill %+v", f)
				}
				got += f.Qty
			}
			st, _, _ := queryByClient(t, s, venue, "mk1")
			if got == 1_000_000 && st != map[string]string{"binance": "FILLED", "okx": "filled", "bybit": "Filled"}[venue] {
				t.Fatalf("state %q after %d filled", st, got)
			}
			checkBalances(t, s, venue, start)
			checkFillsEndpoint(t, s, venue)
		})
	}
}

// TestClientIDRules: the venues' documented uniqueness of client order
// ids. Binance and OKX refuse an id held by an open order and accept it
// again once that order is done — so a blind resubmission after a filled
// order would create a second order, which the simulator records
// (OrdersByClientID, DuplicateClientIDs). Bybit refuses any reuse.
func TestClientIDRules(t *testing.T) {
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, _ := tradeSim(t, nil, nil)
			sc := scaleOf(s, "BTC-USDT")
			_, asks, _, _ := s.Book(venue, "BTC-USDT")
			px := num.Format(int64(asks[0].Px), sc.Px)
			if id, raw := placeIOC(t, s, venue, exchange.Buy, px, "0.0010", "same1", "IOC"); id == "" {
				t.Fatalf("first: %s", raw)
			}
			id, raw := placeIOC(t, s, venue, exchange.Buy, px, "0.0010", "same1", "IOC")
			if venue == "bybit" {
				if id != "" || !strings.Contains(string(raw), `"retCode":170141`) {
					t.Fatalf("bybit reuse: %s", raw)
				}
				if n := len(s.OrdersByClientID(venue, "same1")); n != 1 {
					t.Fatalf("%d orders", n)
				}
				return
			}
			if id == "" {
				t.Fatalf("%s reuse after the first order was done: %s", venue, raw)
			}
			if got := s.OrdersByClientID(venue, "same1"); len(got) != 2 || got[0].OrderID == got[1].OrderID {
				t.Fatalf("orders %+v", got)
			}
			if d := s.DuplicateClientIDs(venue); len(d) != 1 || d[0] != "same1" {
				t.Fatalf("duplicates %v", d)
			}
		})
	}
}

// TestInsufficientBalance: an order the account cannot pay for is refused
// with the venue's documented error; nothing is recorded or moved.
func TestInsufficientBalance(t *testing.T) {
	start := map[string]string{"USDT": "100", "BTC": "0.001"}
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, _ := tradeSim(t, start, nil)
			sc := scaleOf(s, "BTC-USDT")
			bids, asks, _, _ := s.Book(venue, "BTC-USDT")
			want := map[string]string{"binance": "Account has insufficient balance for requested action.", "okx": `"sCode":"51008"`, "bybit": `"retCode":170131`}[venue]
			if id, raw := placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[0].Px), sc.Px), "0.0100", "poor1", "IOC"); id != "" || !strings.Contains(string(raw), want) {
				t.Fatalf("buy over the balance: %s", raw)
			}
			if id, raw := placeIOC(t, s, venue, exchange.Sell, num.Format(int64(bids[0].Px), sc.Px), "0.0020", "poor2", "IOC"); id != "" || !strings.Contains(string(raw), want) {
				t.Fatalf("sell over the holding: %s", raw)
			}
			if len(s.Orders(venue)) != 0 || len(s.Fills(venue)) != 0 {
				t.Fatal("a refused order left a trace")
			}
			checkBalances(t, s, venue, start)
			// What the account can pay for goes through.
			if id, raw := placeIOC(t, s, venue, exchange.Sell, num.Format(int64(bids[0].Px), sc.Px), "0.0010", "ok1", "IOC"); id == "" {
				t.Fatalf("affordable sell: %s", raw)
			}
			checkBalances(t, s, venue, start)
		})
	}
}

// TestPartialFillFault30: FaultPartialFill with Fraction 0.3 fills exactly
// 30 % of the order's quantity (on the step grid); the IOC remainder
// expires, and the venue reports the filled quantity exactly.
func TestPartialFillFault30(t *testing.T) {
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, _ := tradeSim(t, nil, nil)
			sc := scaleOf(s, "BTC-USDT")
			_, asks, _, _ := s.Book(venue, "BTC-USDT")
			if err := s.Inject(venue, Fault{Kind: FaultPartialFill, Fraction: 0.3}); err != nil {
				t.Fatal(err)
			}
			qty := num.Qty(num.FloorTo(int64(asks[0].Qty), 10_000))
			if id, raw := placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[0].Px), sc.Px), num.Format(int64(qty), sc.Qty), "part30", "IOC"); id == "" {
				t.Fatalf("refused: %s", raw)
			}
			want := num.FloorTo(int64(qty)*3/10, 10_000)
			var got int64
			for _, f := range s.Fills(venue) {
				got += int64(f.Qty)
			}
			if got != want {
				t.Fatalf("filled %d, want 30%% of %d = %d", got, qty, want)
			}
			st, filled, _ := queryByClient(t, s, venue, "part30")
			if rat(t, filled).Cmp(big.NewRat(want, 1e8)) != 0 || st != map[string]string{"binance": "EXPIRED", "okx": "canceled", "bybit": "PartiallyFilledCanceled"}[venue] {
				t.Fatalf("query: %s %s", st, filled)
			}
			// The fault was for one order: the next fills in full.
			if id, _ := placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[2].Px), sc.Px), "0.0010", "full1", "IOC"); id == "" {
				t.Fatal("next order refused")
			}
			if st, filled, _ := queryByClient(t, s, venue, "full1"); rat(t, filled).Cmp(rat(t, "0.001")) != 0 {
				t.Fatalf("next order %s %s", st, filled)
			}
		})
	}
}

// TestAckFaultsREST: a delayed acknowledgement comes late while the order
// is already done; a lost one never comes (the connection is closed) and
// the order exists exactly once, as a query by client id shows.
func TestAckFaultsREST(t *testing.T) {
	for _, venue := range allVenues {
		t.Run(venue, func(t *testing.T) {
			s, _ := tradeSim(t, nil, nil)
			sc := scaleOf(s, "BTC-USDT")
			_, asks, _, _ := s.Book(venue, "BTC-USDT")
			px := num.Format(int64(asks[0].Px), sc.Px)

			if err := s.Inject(venue, Fault{Kind: FaultDelayAck, Duration: 300 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			done := make(chan string, 1)
			begin := time.Now()
			go func() {
				id, _ := placeIOC(t, s, venue, exchange.Buy, px, "0.0010", "slow1", "IOC")
				done <- id
			}()
			waitFor(t, 5*time.Second, "the delayed order to execute", func() bool { return len(s.OrdersByClientID(venue, "slow1")) == 1 })
			select {
			case <-done:
				t.Fatal("answered before the order executed")
			default:
			}
			if id := <-done; id == "" || time.Since(begin) < 300*time.Millisecond {
				t.Fatalf("delayed answer %q after %v", id, time.Since(begin))
			}

			if err := s.Inject(venue, Fault{Kind: FaultLoseAck}); err != nil {
				t.Fatal(err)
			}
			err := rawOrder(t, s, venue, px, "lost1")
			if err == nil {
				t.Fatal("a lost acknowledgement arrived")
			}
			if st, filled, ok := queryByClient(t, s, venue, "lost1"); !ok || rat(t, filled).Cmp(rat(t, "0.001")) != 0 {
				t.Fatalf("lost order: %s %s %v", st, filled, ok)
			}
			if n := len(s.OrdersByClientID(venue, "lost1")); n != 1 {
				t.Fatalf("%d orders for one intent", n)
			}
			reqs := s.Requests(venue)
			if last := reqs[len(reqs)-2]; last.Status != 0 || !strings.Contains(last.Endpoint, "order") {
				t.Fatalf("the lost request is logged as %+v", last)
			}
		})
	}
}

// rawOrder places a 0.001 BTC IOC buy with a client of its own (no
// keep-alive) and returns the transport error, if any.
func rawOrder(t testing.TB, s *Sim, venue, px, cid string) error {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var req *http.Request
	now := s.now()
	switch venue {
	case "binance":
		q := "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.0010&price=" + px + "&newClientOrderId=" + cid +
			"&timestamp=" + strconv.FormatInt(now.UnixMilli(), 10)
		req, _ = http.NewRequest("POST", mustURLs(t, s, venue).REST+"/api/v3/order?"+q+"&signature="+hmacHex(TestBinanceSecret, q), nil)
		req.Header.Set("X-MBX-APIKEY", TestBinanceKey)
	case "okx":
		body := `{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"` + cid + `","side":"buy","ordType":"ioc","px":"` + px + `","sz":"0.001"}`
		stamp := now.UTC().Format("2006-01-02T15:04:05.000Z")
		req, _ = http.NewRequest("POST", mustURLs(t, s, venue).REST+"/api/v5/trade/order", strings.NewReader(body))
		req.Header.Set("OK-ACCESS-KEY", TestOKXKey)
		req.Header.Set("OK-ACCESS-PASSPHRASE", TestOKXPassphrase)
		req.Header.Set("OK-ACCESS-TIMESTAMP", stamp)
		req.Header.Set("OK-ACCESS-SIGN", hmacB64(TestOKXSecret, stamp+"POST/api/v5/trade/order"+body))
	default:
		body := `{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.0010","price":"` + px + `","timeInForce":"IOC","orderLinkId":"` + cid + `"}`
		stamp := strconv.FormatInt(now.UnixMilli(), 10)
		req, _ = http.NewRequest("POST", mustURLs(t, s, venue).REST+"/v5/order/create", strings.NewReader(body))
		req.Header.Set("X-BAPI-API-KEY", TestBybitKey)
		req.Header.Set("X-BAPI-TIMESTAMP", stamp)
		req.Header.Set("X-BAPI-RECV-WINDOW", "5000")
		req.Header.Set("X-BAPI-SIGN", hmacHex(TestBybitSecret, stamp+TestBybitKey+"5000"+body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// TestServerTime: each venue's time endpoint tells the simulator's clock in
// its documented format.
func TestServerTime(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	now := clk.Now()
	_, _, b := httpGet(t, mustURLs(t, s, "binance").REST+"/api/v3/time")
	if err := shapeDiff(b, docField(t, "binance/rest_server_time_response.json", "payload")); err != nil || jsonOf(t, b)["serverTime"] != float64(now.UnixMilli()) {
		t.Fatalf("binance: %v %s", err, b)
	}
	_, _, b = httpGet(t, mustURLs(t, s, "okx").REST+"/api/v5/public/time")
	if err := shapeDiff(b, docField(t, "okx/rest_system_time_response.json", "response")); err != nil || !strings.Contains(string(b), strconv.FormatInt(now.UnixMilli(), 10)) {
		t.Fatalf("okx: %v %s", err, b)
	}
	_, _, b = httpGet(t, mustURLs(t, s, "bybit").REST+"/v5/market/time")
	if err := shapeDiff(b, docField(t, "bybit/rest_server_time_response.json", "response")); err != nil || !strings.Contains(string(b), `"timeNano":"`+strconv.FormatInt(now.UnixNano(), 10)) {
		t.Fatalf("bybit: %v %s", err, b)
	}
}

// TestTradingShapes: every trading answer has the keys and JSON types of
// the venue's documented example.
func TestTradingShapes(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	sc := scaleOf(s, "BTC-USDT")
	for _, venue := range allVenues {
		bids, asks, _, _ := s.Book(venue, "BTC-USDT")
		placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[1].Px), sc.Px), "0.0500", "shape1", "IOC")
		placeIOC(t, s, venue, exchange.Buy, num.Format(int64(bids[0].Px-1000), sc.Px), "0.0500", "shape2", "GTC")
	}
	check := func(name string, got, want []byte, optional ...string) {
		t.Helper()
		if err := shapeDiff(got, want, optional...); err != nil {
			t.Errorf("%s: %v\n%s", name, err, got)
		}
	}
	// Binance.
	_, _, b := bnREST(t, s, "GET", "/api/v3/account")
	check("binance account", b, docField(t, "binance/rest_account_response.json", "payload"))
	_, _, b = bnREST(t, s, "GET", "/api/v3/myTrades", "symbol", "BTCUSDT")
	check("binance myTrades", b, docField(t, "binance/rest_myTrades_response.json", "payload"))
	_, _, b = bnREST(t, s, "GET", "/api/v3/order", "symbol", "BTCUSDT", "origClientOrderId", "shape1")
	var q struct {
		Response struct{ Result json.RawMessage }
	}
	loadDoc(t, "binance/wsapi_order_status.json", &q)
	// The docs' order.status example shows the conditional fields of
	// trailing-stop, strategy and STP orders, which plain limit orders
	// do not carry.
	docOrder := withoutKeys(t, q.Response.Result, "trailingDelta", "trailingTime", "strategyId", "strategyType", "preventedMatchId", "preventedQuantity")
	check("binance query", b, docOrder)
	_, _, b = bnREST(t, s, "GET", "/api/v3/openOrders", "symbol", "BTCUSDT")
	check("binance openOrders", b, []byte("["+string(docOrder)+"]"))
	// OKX.
	_, b = okxREST(t, s, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=shape1", "")
	check("okx order", b, docField(t, "okx/rest_order_details_response.json", "response"))
	_, b = okxREST(t, s, "GET", "/api/v5/trade/orders-pending", "")
	check("okx pending", b, docField(t, "okx/rest_order_details_response.json", "response"))
	_, b = okxREST(t, s, "GET", "/api/v5/trade/fills", "")
	check("okx fills", b, docField(t, "okx/rest_fills_response.json", "response_fills"))
	_, b = okxREST(t, s, "GET", "/api/v5/account/balance", "")
	check("okx balance", b, docField(t, "okx/rest_account_balance_response.json", "response"))
	_, b = okxREST(t, s, "POST", "/api/v5/trade/cancel-order", `{"instId":"BTC-USDT","clOrdId":"shape2"}`)
	check("okx cancel", b, docField(t, "okx/rest_place_order_response.json", "payload"), "tag", "subCode")
	// Bybit.
	_, _, b = byREST(t, s, "GET", "/v5/order/realtime?category=spot&orderLinkId=shape1", "")
	// cumFeeDetail is keyed by fee coin (the docs' example pays MNT).
	check("bybit realtime", withoutKeys(t, b, "cumFeeDetail"), withoutKeys(t, docField(t, "bybit/rest_order_realtime_response.json", "response"), "cumFeeDetail"))
	if !strings.Contains(string(b), `"cumFeeDetail":{"BTC":"`) {
		t.Errorf("bybit cumFeeDetail: %s", b)
	}
	_, _, b = byREST(t, s, "GET", "/v5/execution/list?category=spot", "")
	check("bybit executions", b, docField(t, "bybit/rest_execution_list_response.json", "response"))
	_, _, b = byREST(t, s, "GET", "/v5/account/wallet-balance?accountType=UNIFIED", "")
	check("bybit wallet", b, docField(t, "bybit/rest_wallet_balance_response.json", "response"))
	_, _, b = byREST(t, s, "POST", "/v5/order/cancel", `{"category":"spot","symbol":"BTCUSDT","orderLinkId":"shape2"}`)
	check("bybit cancel", b, docField(t, "bybit/rest_create_order_response.json", "payload"))
}

// TestBinanceMyTradesRules: the documented parameter combinations, the 24 h
// window and fromId.
func TestBinanceMyTradesRules(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	sc := scaleOf(s, "BTC-USDT")
	for i := range 4 {
		_, asks, _, _ := s.Book("binance", "BTC-USDT")
		placeIOC(t, s, "binance", exchange.Buy, num.Format(int64(asks[0].Px), sc.Px), "0.0010", fmt.Sprintf("mt%d", i), "IOC")
		clk.Add(time.Hour)
		s.Step()
	}
	fills := s.Fills("binance")
	if len(fills) != 4 {
		t.Fatalf("%d fills", len(fills))
	}
	ids := func(b []byte) []string {
		var r []struct{ ID int64 }
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("myTrades: %s", b)
		}
		var out []string
		for _, x := range r {
			out = append(out, strconv.FormatInt(x.ID, 10))
		}
		return strings.Split(strings.Join(out, ","), ",")
	}
	tr := func(i int) string { return fills[i].TradeID }
	ms := func(i int) string { return strconv.FormatInt(fills[i].Time.UnixMilli(), 10) }
	for _, tc := range []struct {
		name string
		kv   []string
		want []string
		code string
	}{
		{"most recent", []string{"limit", "2"}, []string{tr(2), tr(3)}, ""},
		{"fromId", []string{"fromId", tr(1), "limit", "2"}, []string{tr(1), tr(2)}, ""},
		{"orderId", []string{"orderId", fills[2].OrderID}, []string{tr(2)}, ""},
		{"window", []string{"startTime", ms(1), "endTime", ms(2)}, []string{tr(1), tr(2)}, ""},
		{"startTime", []string{"startTime", ms(2)}, []string{tr(2), tr(3)}, ""},
		{"endTime", []string{"endTime", ms(1)}, []string{tr(0), tr(1)}, ""},
		{"over 24h", []string{"startTime", ms(0), "endTime", strconv.FormatInt(fills[0].Time.Add(25*time.Hour).UnixMilli(), 10)}, nil, "-1127"},
		{"fromId with time", []string{"fromId", tr(0), "startTime", ms(0)}, nil, "-1128"},
	} {
		code, _, b := bnREST(t, s, "GET", "/api/v3/myTrades", append([]string{"symbol", "BTCUSDT"}, tc.kv...)...)
		if tc.code != "" {
			if code != 400 || !strings.Contains(string(b), tc.code) {
				t.Errorf("%s: %d %s", tc.name, code, b)
			}
			continue
		}
		if got := ids(b); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFillsPaging: OKX's billId paging (after: older, before: newer) and
// Bybit's cursor and 7-day window.
func TestFillsPaging(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	sc := scaleOf(s, "BTC-USDT")
	for _, venue := range []string{"okx", "bybit"} {
		for i := range 5 {
			_, asks, _, _ := s.Book(venue, "BTC-USDT")
			placeIOC(t, s, venue, exchange.Buy, num.Format(int64(asks[0].Px), sc.Px), "0.0010", fmt.Sprintf("pg%d", i), "IOC")
			clk.Add(time.Second)
			s.Step()
		}
	}
	var r struct {
		Data []struct{ BillID, TradeID string }
	}
	_, b := okxREST(t, s, "GET", "/api/v5/trade/fills?limit=2", "")
	json.Unmarshal(b, &r)
	f := s.Fills("okx")
	if len(r.Data) != 2 || r.Data[0].TradeID != f[4].TradeID || r.Data[1].TradeID != f[3].TradeID {
		t.Fatalf("okx first page %s", b)
	}
	_, b = okxREST(t, s, "GET", "/api/v5/trade/fills?limit=2&after="+r.Data[1].BillID, "")
	json.Unmarshal(b, &r)
	if len(r.Data) != 2 || r.Data[0].TradeID != f[2].TradeID || r.Data[1].TradeID != f[1].TradeID {
		t.Fatalf("okx after %s", b)
	}
	_, b = okxREST(t, s, "GET", "/api/v5/trade/fills?limit=1&before="+r.Data[0].BillID, "")
	json.Unmarshal(b, &r)
	if len(r.Data) != 1 || r.Data[0].TradeID != f[3].TradeID {
		t.Fatalf("okx before %s", b)
	}
	_, b = okxREST(t, s, "GET", "/api/v5/trade/fills?begin="+strconv.FormatInt(f[3].Time.UnixMilli(), 10), "")
	json.Unmarshal(b, &r)
	if len(r.Data) != 2 {
		t.Fatalf("okx begin %s", b)
	}

	var y struct {
		Result struct {
			NextPageCursor string
			List           []struct{ ExecID string }
		}
	}
	f = s.Fills("bybit")
	var seen []string
	cursor := ""
	for range 4 {
		_, _, b := byREST(t, s, "GET", "/v5/execution/list?category=spot&limit=2"+cursor, "")
		json.Unmarshal(b, &y)
		for _, x := range y.Result.List {
			seen = append(seen, x.ExecID)
		}
		if y.Result.NextPageCursor == "" {
			break
		}
		cursor = "&cursor=" + y.Result.NextPageCursor
	}
	if want := []string{f[4].TradeID, f[3].TradeID, f[2].TradeID, f[1].TradeID, f[0].TradeID}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("bybit pages %v, want %v", seen, want)
	}
	now := clk.Now().UnixMilli()
	_, _, b = byREST(t, s, "GET", fmt.Sprintf("/v5/execution/list?category=spot&startTime=%d&endTime=%d", now-8*24*3600*1000, now), "")
	if !strings.Contains(string(b), `"retCode":10001`) {
		t.Fatalf("bybit window over 7 days: %s", b)
	}
}

// TestVenueLimitHeaders: Binance's weight and order-count headers, Bybit's
// per-endpoint X-Bapi-Limit headers and 10006 past the limit, OKX's 50011
// past 60 orders per 2 s on one instrument.
func TestVenueLimitHeaders(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	sc := scaleOf(s, "BTC-USDT")
	clk.Add(time.Minute - time.Duration(clk.Now().Second())*time.Second) // start of a minute
	_, _, _ = bnREST(t, s, "GET", "/api/v3/account")
	code, hdr, b := bnREST(t, s, "GET", "/api/v3/order", "symbol", "BTCUSDT", "orderId", "1")
	if code != 400 || hdr.Get("X-MBX-USED-WEIGHT-1M") != "24" { // account 20 + query 4
		t.Fatalf("weight %q: %d %s", hdr.Get("X-MBX-USED-WEIGHT-1M"), code, b)
	}
	_, asks, _, _ := s.Book("binance", "BTC-USDT")
	px := num.Format(int64(asks[0].Px), sc.Px)
	_, hdr, _ = bnREST(t, s, "POST", "/api/v3/order", "symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "IOC", "quantity", "0.0010", "price", px)
	if hdr.Get("X-MBX-USED-WEIGHT-1M") != "24" || hdr.Get("X-MBX-ORDER-COUNT-10S") != "1" || hdr.Get("X-MBX-ORDER-COUNT-1D") != "1" {
		t.Fatalf("order headers %v", hdr)
	}

	var last http.Header
	for i := range 21 {
		_, h, b := byREST(t, s, "POST", "/v5/order/create", fmt.Sprintf(`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.0010","price":"1000.00","timeInForce":"IOC","orderLinkId":"lim%d"}`, i))
		last = h
		if i < 20 && (h.Get("X-Bapi-Limit") != "20" || h.Get("X-Bapi-Limit-Status") != strconv.Itoa(19-i)) {
			t.Fatalf("request %d: headers %v %s", i, h, b)
		}
		if i == 20 && !strings.Contains(string(b), `"retCode":10006`) {
			t.Fatalf("21st create in a second: %s", b)
		}
	}
	if last.Get("X-Bapi-Limit-Status") != "0" {
		t.Fatalf("limited headers %v", last)
	}
	clk.Add(time.Second)
	if _, h, b := byREST(t, s, "POST", "/v5/order/cancel", `{"category":"spot","symbol":"BTCUSDT","orderLinkId":"nope"}`); h.Get("X-Bapi-Limit") != "20" || !strings.Contains(string(b), "170213") {
		t.Fatalf("cancel %v %s", h, b)
	}

	for i := range 61 {
		_, b := okxREST(t, s, "POST", "/api/v5/trade/order", `{"instId":"ETH-USDT","tdMode":"cash","side":"buy","ordType":"ioc","px":"10","sz":"1"}`)
		if i == 60 && !strings.Contains(string(b), `"code":"50011"`) {
			t.Fatalf("61st order in 2 s: %s", b)
		}
	}
	if _, b := okxREST(t, s, "POST", "/api/v5/trade/order", `{"instId":"SOL-USDT","tdMode":"cash","side":"buy","ordType":"ioc","px":"10","sz":"1"}`); strings.Contains(string(b), "50011") {
		t.Fatalf("another instrument has its own limit: %s", b)
	}
}

// TestConcurrentOrdersNoDoubles hammers the three venues with concurrent
// orders (several per client id) and checks that a venue never accepted
// two open orders for one id, and that balances still agree with fills.
func TestConcurrentOrdersNoDoubles(t *testing.T) {
	start := map[string]string{"USDT": "1000000", "BTC": "10"}
	s, _ := tradeSim(t, start, nil)
	sc := scaleOf(s, "BTC-USDT")
	var wg sync.WaitGroup
	for _, venue := range allVenues {
		bids, _, _, _ := s.Book(venue, "BTC-USDT")
		px := num.Format(int64(bids[0].Px-2000), sc.Px) // rests
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					placeIOC(t, s, venue, exchange.Buy, px, "0.0010", fmt.Sprintf("cc%d", i), "GTC")
					_ = g
				}
			}()
		}
	}
	wg.Wait()
	for _, venue := range allVenues {
		for i := range 5 {
			if n := len(s.OrdersByClientID(venue, fmt.Sprintf("cc%d", i))); n != 1 {
				t.Fatalf("%s: %d orders for cc%d", venue, n, i)
			}
		}
		checkBalances(t, s, venue, start)
	}
}

// TestBinanceWeightLimitBan: past 6000 weight in a minute a request gets
// 429 with Retry-After until the minute ends; one more inside that wait is
// the documented escalation, an HTTP 418 ban; the request log shows both.
func TestBinanceWeightLimitBan(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	clk.Add(time.Minute - time.Duration(clk.Now().Second())*time.Second + time.Second) // 1 s into a minute
	u := mustURLs(t, s, "binance").REST + "/api/v3/exchangeInfo"                       // weight 20
	for i := range 301 {
		if code, hdr, _ := httpGet(t, u); code != 200 || hdr.Get("X-MBX-USED-WEIGHT-1M") != strconv.Itoa(20*(i+1)) {
			t.Fatalf("request %d: %d %v", i, code, hdr)
		}
	}
	code, hdr, _ := httpGet(t, u)
	if code != 429 || hdr.Get("Retry-After") != "59" {
		t.Fatalf("over the limit: %d %v", code, hdr)
	}
	if code, hdr, _ = httpGet(t, u); code != 418 || hdr.Get("Retry-After") != "120" {
		t.Fatalf("inside the Retry-After: %d %v", code, hdr)
	}
	reqs := s.Requests("binance")
	if last := reqs[len(reqs)-1]; !last.Limited || last.Status != 418 || last.RetryAfter != 2*time.Minute {
		t.Fatalf("log %+v", last)
	}
}
