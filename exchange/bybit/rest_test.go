package bybit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

var btcWant = []exchange.Instrument{{ID: 1, Venue: 3, Symbol: "BTCUSDT", Canonical: "BTC-USDT", Scale: num.Scale{Px: 2, Qty: 8}}}

// TestParseInstrumentsDocs reads the documentation's spot response:
// tickSize 0.1, basePrecision 0.000001, minOrderQty 0.000011, minOrderAmt 5.
func TestParseInstrumentsDocs(t *testing.T) {
	got, err := ParseInstruments(readTestdata(t, "docs/rest_instruments_spot_response.json"), "bybit", btcWant)
	if err != nil {
		t.Fatal(err)
	}
	want := exchange.Instrument{ID: 1, Venue: 3, Symbol: "BTCUSDT", Canonical: "BTC-USDT", Base: "BTC", Quote: "USDT",
		Scale: num.Scale{Px: 2, Qty: 8}, Tick: 10, Step: 100, MinQty: 1100, MinNotional: 500}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// A scale too coarse for the tick and basePrecision is widened to them.
	coarse := []exchange.Instrument{{ID: 1, Symbol: "BTCUSDT", Scale: num.Scale{Px: 0, Qty: 2}}}
	got, err = ParseInstruments(readTestdata(t, "docs/rest_instruments_spot_response.json"), "bybit", coarse)
	if err != nil || got[0].Scale != (num.Scale{Px: 1, Qty: 6}) || got[0].Tick != 1 || got[0].Step != 1 || got[0].MinQty != 11 || got[0].MinNotional != 50 {
		t.Fatalf("widened: %+v %v", got, err)
	}
}

func TestParseInstrumentsErrors(t *testing.T) {
	doc := string(readTestdata(t, "docs/rest_instruments_spot_response.json"))
	for _, tc := range []struct {
		name string
		body string
		want []exchange.Instrument
		err  string
	}{
		{"a filter needs more than 18 decimals", strings.Replace(doc, `"tickSize": "0.1"`, `"tickSize": "0.0000000000000000001"`, 1), btcWant, "more than 18 decimals"},
		{"not listed", doc, []exchange.Instrument{{ID: 2, Symbol: "ETHUSDT", Scale: num.Scale{Px: 2, Qty: 8}}}, "ETHUSDT: not listed"},
		{"not trading", strings.Replace(doc, `"Trading"`, `"PreLaunch"`, 1), btcWant, `status "PreLaunch"`},
		{"zero tick", strings.Replace(doc, `"tickSize": "0.1"`, `"tickSize": "0"`, 1), btcWant, "must be positive"},
		{"no retCode", `{"result":{}}`, btcWant, "no retCode"},
		{"not json", `<html>`, btcWant, "instruments"},
		{"other category", strings.Replace(doc, `"category": "spot"`, `"category": "linear"`, 1), btcWant, "category"},
		{"retCode", `{"retCode":10001,"retMsg":"params error","result":{}}`, btcWant, "rejected code 10001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInstruments([]byte(tc.body), "bybit", tc.want)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	reset := http.Header{"X-Bapi-Limit-Reset-Timestamp": {strconv.FormatInt(now.UnixMilli()+2500, 10)}}
	for _, tc := range []struct {
		status int
		code   int64
		h      http.Header
		kind   exchange.ErrorKind
		retry  time.Duration
	}{
		{403, 0, nil, exchange.KindRateLimited, 10 * time.Minute}, // "access too frequent": wait ≥ 10 min
		{200, 10006, reset, exchange.KindRateLimited, 2500 * time.Millisecond},
		{200, 10006, nil, exchange.KindRateLimited, 0},
		{200, 10018, nil, exchange.KindRateLimited, 0},
		{429, 0, http.Header{"Retry-After": {"3"}}, exchange.KindRateLimited, 3 * time.Second},
		{200, 10003, nil, exchange.KindAuth, 0},
		{200, 10004, nil, exchange.KindAuth, 0},
		{200, 10005, nil, exchange.KindAuth, 0},
		{200, 10010, nil, exchange.KindAuth, 0},
		{401, 0, nil, exchange.KindAuth, 0},
		{200, 10002, nil, exchange.KindRetryable, 0},
		{200, 10016, nil, exchange.KindRetryable, 0},
		{502, 0, nil, exchange.KindRetryable, 0},
		{200, 10001, nil, exchange.KindRejected, 0},
		{200, 170140, nil, exchange.KindUnknown, 0},
	} {
		e := classify("bybit", tc.status, tc.code, "m", tc.h, now)
		if e.Kind != tc.kind || e.RetryAfter != tc.retry {
			t.Errorf("HTTP %d code %d: %s retry %v, want %s %v", tc.status, tc.code, e.Kind, e.RetryAfter, tc.kind, tc.retry)
		}
		if tc.code != 0 && e.Code != strconv.FormatInt(tc.code, 10) {
			t.Errorf("code %q", e.Code)
		}
	}
}

// TestFetchInstruments: the documented request, HTTP errors classified, a
// cursor followed when one is returned.
func TestFetchInstruments(t *testing.T) {
	doc := readTestdata(t, "docs/rest_instruments_spot_response.json")
	var mode atomic.Int32
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		switch mode.Load() {
		case 0:
			w.Write(doc)
		case 1:
			w.WriteHeader(403)
			fmt.Fprint(w, "access too frequent")
		case 2:
			w.WriteHeader(503)
		case 3:
			if r.URL.Query().Get("cursor") == "" {
				fmt.Fprint(w, `{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[],"nextPageCursor":"p2"}}`)
				return
			}
			w.Write(doc)
		}
	}))
	defer srv.Close()
	got, err := FetchInstruments(context.Background(), srv.Client(), srv.URL+"/", "bybit", btcWant)
	if err != nil || got[0].Tick != 10 || paths[0] != "/v5/market/instruments-info?category=spot" {
		t.Fatalf("%v %+v %v", err, got, paths)
	}
	mode.Store(1)
	_, err = FetchInstruments(context.Background(), srv.Client(), srv.URL, "bybit", btcWant)
	if k := exchange.KindOf(err); k != exchange.KindRateLimited || !strings.Contains(err.Error(), "access too frequent") {
		t.Fatalf("403: %v", err)
	}
	mode.Store(2)
	if _, err = FetchInstruments(context.Background(), srv.Client(), srv.URL, "bybit", btcWant); exchange.KindOf(err) != exchange.KindRetryable {
		t.Fatalf("503: %v", err)
	}
	mode.Store(3)
	paths = nil
	got, err = FetchInstruments(context.Background(), srv.Client(), srv.URL, "bybit", btcWant)
	if err != nil || len(paths) != 2 || paths[1] != "/v5/market/instruments-info?category=spot&cursor=p2" || got[0].MinNotional != 500 {
		t.Fatalf("cursor: %v %v", err, paths)
	}
}
