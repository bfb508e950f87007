package sim

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// TestBinanceRESTEd25519: a SIGNED REST request with the Ed25519 key:
// base64 Ed25519 over the query string, percent-encoded (rest-api.md,
// "Ed25519 Keys").
func TestBinanceRESTEd25519(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	blk, _ := pem.Decode([]byte(TestBinanceEd25519PrivateKeyPEM))
	k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes)
	q := "omitZeroBalances=true&timestamp=" + strconv.FormatInt(s.now().UnixMilli(), 10)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(k.(ed25519.PrivateKey), []byte(q)))
	u := mustURLs(t, s, "binance").REST + "/api/v3/account?" + q + "&signature=" + url.QueryEscape(sig)
	code, _, b := httpDo(t, "GET", u, map[string]string{"X-MBX-APIKEY": TestBinanceEd25519Key}, "")
	if code != 200 || !strings.Contains(string(b), `"asset":"USDT"`) {
		t.Fatalf("Ed25519 REST: %d %s", code, b)
	}
	code, _, b = httpDo(t, "GET", u, map[string]string{"X-MBX-APIKEY": TestBinanceKey}, "")
	if code != 401 || !strings.Contains(string(b), "-1022") {
		t.Fatalf("an Ed25519 signature under the HMAC key: %d %s", code, b)
	}
}

// TestDepositPushes: Deposit changes the balance and is pushed like any
// account change (Binance outboundAccountPosition).
func TestDepositPushes(t *testing.T) {
	s, _ := tradeSim(t, map[string]string{"USDT": "10"}, nil)
	c, _, _ := privateStream(t, s, "binance")
	if err := s.Deposit("binance", "USDT", "2.5"); err != nil {
		t.Fatal(err)
	}
	if err := s.Deposit("binance", "USDT", "-100"); err == nil {
		t.Fatal("withdrawal over the balance accepted")
	}
	ev := eventsUntil(t, c, func(e map[string]any) bool { return e["e"] == "outboundAccountPosition" })
	b := ev[len(ev)-1]["B"].([]any)[0].(map[string]any)
	if b["a"] != "USDT" || b["f"] != "12.50000000" {
		t.Fatalf("position %v", b)
	}
	free, _, _ := s.Balance("binance", "USDT")
	if free != num.AmountOf(1_250_000_000, 8) {
		t.Fatalf("balance %v", free)
	}
}

// TestBybitOpenOnlyAndMaxActiveTime: realtime with openOnly=1 lists the
// recently closed orders, newest first; a private connection with
// max_active_time=30s is closed after 30 s without ping or data.
func TestBybitOpenOnlyAndMaxActiveTime(t *testing.T) {
	s, clk := tradeSim(t, nil, nil)
	sc := scaleOf(s, "BTC-USDT")
	_, asks, _, _ := s.Book("bybit", "BTC-USDT")
	for _, id := range []string{"cl1", "cl2"} {
		placeIOC(t, s, "bybit", exchange.Buy, num.Format(int64(asks[0].Px), sc.Px), "0.0010", id, "IOC")
	}
	_, _, b := byREST(t, s, "GET", "/v5/order/realtime?category=spot&openOnly=1", "")
	var r struct {
		Result struct {
			List []struct{ OrderLinkID string }
		}
	}
	json.Unmarshal(b, &r)
	if len(r.Result.List) != 2 || r.Result.List[0].OrderLinkID != "cl2" {
		t.Fatalf("openOnly=1: %s", b)
	}
	if _, _, b := byREST(t, s, "GET", "/v5/order/realtime?category=spot", ""); !strings.Contains(string(b), `"list":[]`) {
		t.Fatalf("open orders: %s", b)
	}
	c := dial(t, mustURLs(t, s, "bybit").Private+"?max_active_time=30s")
	waitConns(t, s, "bybit", 1)
	clk.Add(31 * time.Second)
	if !c.waitClosed(10 * time.Second) {
		t.Fatal("not closed after max_active_time")
	}
}

// TestOKXPendingPaging: orders-pending lists open orders newest first and
// pages by ordId.
func TestOKXPendingPaging(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	sc := scaleOf(s, "BTC-USDT")
	bids, _, _, _ := s.Book("okx", "BTC-USDT")
	for _, id := range []string{"p1", "p2", "p3"} {
		placeIOC(t, s, "okx", exchange.Buy, num.Format(int64(bids[0].Px-1000), sc.Px), "0.0100", id, "GTC")
	}
	var r struct {
		Data []struct{ ClOrdID, OrdID string }
	}
	_, b := okxREST(t, s, "GET", "/api/v5/trade/orders-pending?limit=2", "")
	json.Unmarshal(b, &r)
	if len(r.Data) != 2 || r.Data[0].ClOrdID != "p3" || r.Data[1].ClOrdID != "p2" {
		t.Fatalf("first page %s", b)
	}
	_, b = okxREST(t, s, "GET", "/api/v5/trade/orders-pending?after="+r.Data[1].OrdID, "")
	json.Unmarshal(b, &r)
	if len(r.Data) != 1 || r.Data[0].ClOrdID != "p1" {
		t.Fatalf("after %s", b)
	}
}

// TestQueryUnknownOrder: a client order id the venue never saw is Binance
// -2013, OKX 51603, Bybit an empty list.
func TestQueryUnknownOrder(t *testing.T) {
	s, _ := tradeSim(t, nil, nil)
	for _, venue := range allVenues {
		if _, _, ok := queryByClient(t, s, venue, "neverSent1"); ok {
			t.Errorf("%s knows an order it never saw", venue)
		}
	}
	code, _, b := bnREST(t, s, "GET", "/api/v3/order", "symbol", "BTCUSDT", "origClientOrderId", "neverSent1")
	if code != 400 || !strings.Contains(string(b), `"code":-2013`) {
		t.Fatalf("binance: %d %s", code, b)
	}
	if _, b := okxREST(t, s, "GET", "/api/v5/trade/order?instId=BTC-USDT&clOrdId=neverSent1", ""); !strings.Contains(string(b), `"code":"51603"`) {
		t.Fatalf("okx: %s", b)
	}
}
