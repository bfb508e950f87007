package binance

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/exchange"
	"arb/exchange/num"
)

// TestClassifyError: documented error payloads and statuses map to the
// engine's error kinds; Retry-After is carried for rate limits.
func TestClassifyError(t *testing.T) {
	doc := readDoc(t, "rest_error_payload.json")
	cases := []struct {
		name       string
		status     int
		retryAfter string
		body       string
		kind       exchange.ErrorKind
		code       string
		wait       time.Duration
	}{
		{"documented invalid symbol", 400, "", string(doc), exchange.KindRejected, "-1121", 0},
		{"429 too many requests", 429, "7", `{"code":-1003,"msg":"Too much request weight used"}`, exchange.KindRateLimited, "-1003", 7 * time.Second},
		{"418 IP ban", 418, "120", `{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000000000."}`, exchange.KindRateLimited, "-1003", 2 * time.Minute},
		{"ban longer than documented is capped", 418, "999999999", ``, exchange.KindRateLimited, "", 72 * time.Hour},
		{"too many orders", 400, "", `{"code":-1015,"msg":"Too many new orders."}`, exchange.KindRateLimited, "-1015", 0},
		{"5XX is an unknown outcome", 503, "", `<html>Service Unavailable</html>`, exchange.KindUnknownOutcome, "", 0},
		{"backend timeout", 400, "", `{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}`, exchange.KindUnknownOutcome, "-1007", 0},
		{"invalid signature", 400, "", `{"code":-1022,"msg":"Signature for this request is not valid."}`, exchange.KindAuth, "-1022", 0},
		{"bad api key", 401, "", `{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}`, exchange.KindAuth, "-2015", 0},
		{"timestamp outside recvWindow", 400, "", `{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}`, exchange.KindRetryable, "-1021", 0},
		{"order rejected", 400, "", `{"code":-2010,"msg":"Account has insufficient balance for requested action."}`, exchange.KindRejected, "-2010", 0},
		{"WAF", 403, "", ``, exchange.KindRejected, "", 0},
		{"cancelReplace partly done", 409, "", `{"code":-2022,"msg":"Order cancel-replace partially failed."}`, exchange.KindUnknownOutcome, "-2022", 0},
		{"garbage Retry-After", 429, "soon", ``, exchange.KindRateLimited, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := ClassifyError("binance", c.status, c.retryAfter, []byte(c.body))
			if e.Kind != c.kind || e.Code != c.code || e.RetryAfter != c.wait || e.HTTPStatus != c.status || e.Venue != "binance" {
				t.Fatalf("got %+v", e)
			}
			if exchange.KindOf(error(e)) != c.kind {
				t.Fatal("KindOf")
			}
		})
	}
	if e := ClassifyError("binance", 400, "", doc); e.Msg != "Invalid symbol." {
		t.Fatalf("msg %q", e.Msg)
	}
}

// exchangeInfoWithFilters is the documented exchangeInfo response with the
// documented filter examples placed in its symbol's filters (the docs print
// them separately).
func exchangeInfoWithFilters(t testing.TB) []byte {
	var info map[string]any
	if err := json.Unmarshal(readDoc(t, "rest_exchangeInfo_response.json"), &info); err != nil {
		t.Fatal(err)
	}
	var filters []any
	for _, f := range []string{"filter_PRICE_FILTER.json", "filter_LOT_SIZE.json", "filter_MIN_NOTIONAL.json", "filter_NOTIONAL.json"} {
		var v any
		if err := json.Unmarshal(readDoc(t, f), &v); err != nil {
			t.Fatal(err)
		}
		filters = append(filters, v)
	}
	info["symbols"].([]any)[0].(map[string]any)["filters"] = filters
	b, _ := json.Marshal(info)
	return b
}

func TestParseInstruments(t *testing.T) {
	want := []exchange.Instrument{{ID: 9, Venue: 1, Symbol: "ETHBTC", Canonical: "ETH-BTC", Scale: num.Scale{Px: 8, Qty: 8}}}
	got, err := ParseInstruments(exchangeInfoWithFilters(t), want)
	if err != nil {
		t.Fatal(err)
	}
	g := got[0]
	// PRICE_FILTER tickSize 0.00000100, LOT_SIZE stepSize/minQty 0.00100000,
	// NOTIONAL minNotional 10.00000000 (preferred over MIN_NOTIONAL 0.001).
	if g.Tick != 100 || g.Step != 100000 || g.MinQty != 100000 || g.MinNotional != 10_0000_0000 ||
		g.Base != "ETH" || g.Quote != "BTC" || g.ID != 9 || g.Canonical != "ETH-BTC" {
		t.Fatalf("%+v", g)
	}
	// Without filters (the documented response as printed): all disabled.
	got, err = ParseInstruments(readDoc(t, "rest_exchangeInfo_response.json"), want)
	if err != nil || got[0].Tick != 0 || got[0].Step != 0 || got[0].MinNotional != 0 {
		t.Fatalf("%+v %v", got, err)
	}
	// A scale coarser than what Binance sends is widened to the symbol's
	// precisions (8 and 8 here), the filters converted in the wider scale.
	coarse := []exchange.Instrument{{ID: 9, Symbol: "ETHBTC", Scale: num.Scale{Px: 2, Qty: 0}}}
	if got, err := ParseInstruments(exchangeInfoWithFilters(t), coarse); err != nil || got[0].Scale != (num.Scale{Px: 8, Qty: 8}) || got[0].Tick != 100 || got[0].Step != 100000 {
		t.Fatalf("coarse scale: %+v %v", got, err)
	}
	// A wider scale than needed is kept.
	wide := []exchange.Instrument{{ID: 9, Symbol: "ETHBTC", Scale: num.Scale{Px: 10, Qty: 9}}}
	if got, err := ParseInstruments(exchangeInfoWithFilters(t), wide); err != nil || got[0].Scale != (num.Scale{Px: 10, Qty: 9}) || got[0].Tick != 10000 {
		t.Fatalf("wide scale: %+v %v", got, err)
	}
	// Without precision fields, the printed width of tickSize and stepSize
	// (Binance prints them at the symbol's precision) and any finer value.
	for _, c := range []struct {
		body string
		want num.Scale
	}{
		{`{"symbols":[{"symbol":"ETHBTC","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.010"},{"filterType":"LOT_SIZE","stepSize":"1.00","minQty":"0.5"}]}]}`, num.Scale{Px: 3, Qty: 2}},
		{`{"symbols":[{"symbol":"ETHBTC","quotePrecision":6,"baseAssetPrecision":2,"filters":[{"filterType":"NOTIONAL","minNotional":"0.0000001"}]}]}`, num.Scale{Px: 7, Qty: 2}},
		{`{"symbols":[{"symbol":"ETHBTC","quotePrecision":6,"quoteAssetPrecision":4,"baseAssetPrecision":0,"filters":[]}]}`, num.Scale{Px: 4, Qty: 0}},
	} {
		got, err := ParseInstruments([]byte(c.body), []exchange.Instrument{{ID: 9, Symbol: "ETHBTC"}})
		if err != nil || got[0].Scale != c.want {
			t.Errorf("%s: %+v %v, want scale %+v", c.body, got, err, c.want)
		}
	}
	if _, err := ParseInstruments(exchangeInfoWithFilters(t), []exchange.Instrument{{ID: 1, Symbol: "BTCUSDT"}}); err == nil ||
		!strings.Contains(err.Error(), "BTCUSDT not listed") {
		t.Fatalf("missing symbol: %v", err)
	}
	for _, bad := range []string{`[]`, `{"symbols":{}}`, `{"symbols":[{"symbol":"ETHBTC","filters":[{"filterType":"LOT_SIZE","stepSize":1}]}]}`,
		`{"symbols":[{"symbol":"ETHBTC","filters":[{"filterType":"PRICE_FILTER"}]}]}`, `{"symbols":[{"symbol":"ETHBTC","filters":[{"filterType":"PRICE_FILTER","tickSize":"-1"}]}]}`,
		`{"symbols":[{"symbol":"ETHBTC","baseAssetPrecision":19}]}`, `{"symbols":[{"symbol":"ETHBTC","quoteAssetPrecision":"8"}]}`,
		`{"symbols":[{"symbol":"ETHBTC","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.0000000000000000001"}]}]}`} {
		if _, err := ParseInstruments([]byte(bad), want); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzParseInstruments: never panics; whatever it accepts is exact — every
// filter value equals the decimal in the response, in the returned scale,
// which is never narrower than the one asked for.
func FuzzParseInstruments(f *testing.F) {
	f.Add(exchangeInfoWithFilters(f))
	f.Add(readDoc(f, "rest_exchangeInfo_response.json"))
	f.Add([]byte(`{"symbols":[{"symbol":"ETHBTC","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.01"},{"filterType":"MIN_NOTIONAL","minNotional":"5"}]}]}`))
	want := []exchange.Instrument{{ID: 9, Symbol: "ETHBTC", Scale: num.Scale{Px: 8, Qty: 6}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseInstruments(body, want)
		if err != nil {
			return
		}
		if len(got) != 1 || got[0].ID != 9 || got[0].Symbol != "ETHBTC" {
			t.Fatalf("%+v", got)
		}
		sc := got[0].Scale
		if sc.Px < want[0].Scale.Px || sc.Qty < want[0].Scale.Qty || !sc.Valid() {
			t.Fatalf("scale %+v narrower than %+v or invalid", sc, want[0].Scale)
		}
		// Cross-check against an independent decoding of the filters.
		var info struct {
			Symbols []struct {
				Symbol  string
				Filters []map[string]any
			}
		}
		if json.Unmarshal(body, &info) != nil {
			return // exact-key and case-insensitive decodings may disagree on odd inputs
		}
		for _, s := range info.Symbols {
			if s.Symbol != "ETHBTC" {
				continue
			}
			for _, fl := range s.Filters {
				check := func(key string, v int64, dec uint8) {
					str, ok := fl[key].(string)
					if !ok {
						return
					}
					d, err := decimal.NewFromString(str)
					if err == nil && !d.Equal(decimal.New(v, -int32(dec))) {
						t.Fatalf("%s %s = %q parsed as %d (scale %d)", fl["filterType"], key, str, v, dec)
					}
				}
				switch fl["filterType"] {
				case "PRICE_FILTER":
					check("tickSize", int64(got[0].Tick), sc.Px)
				case "LOT_SIZE":
					check("stepSize", int64(got[0].Step), sc.Qty)
					check("minQty", int64(got[0].MinQty), sc.Qty)
				}
			}
		}
	})
}

// TestFetch: the REST calls use the documented paths and parameters and turn
// error responses into classified errors.
func TestFetch(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RequestURI())
		switch r.URL.Path {
		case "/api/v3/exchangeInfo":
			w.Write(exchangeInfoWithFilters(t))
		default:
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
			w.Write([]byte(`{"code":-1003,"msg":"Too much request weight used"}`))
		}
	}))
	defer srv.Close()
	want := []exchange.Instrument{{ID: 9, Symbol: "ETHBTC", Scale: num.Scale{Px: 8, Qty: 8}}}
	ins, err := FetchInstruments(context.Background(), srv.Client(), srv.URL+"/", "binance", want)
	if err != nil || ins[0].Tick != 100 {
		t.Fatalf("%+v %v", ins, err)
	}
	q, _ := url.ParseQuery(strings.SplitN(got[0], "?", 2)[1])
	if !strings.HasPrefix(got[0], "/api/v3/exchangeInfo?") || q.Get("symbols") != `["ETHBTC"]` {
		t.Fatalf("request %s", got[0])
	}
	_, err = get(context.Background(), srv.Client(), "binance", depthURL(srv.URL, "BTCUSDT", 1000), 1<<20)
	var e *exchange.Error
	if !errors.As(err, &e) || e.Kind != exchange.KindRateLimited || e.RetryAfter != 3*time.Second {
		t.Fatalf("%v", err)
	}
	if got[1] != "/api/v3/depth?symbol=BTCUSDT&limit=1000" {
		t.Fatalf("depth request %s", got[1])
	}
	if w := []int{snapshotWeight(100), snapshotWeight(101), snapshotWeight(500), snapshotWeight(1000), snapshotWeight(5000)}; w[0] != 5 || w[1] != 25 || w[2] != 25 || w[3] != 50 || w[4] != 250 {
		t.Fatalf("weights %v", w)
	}
}
