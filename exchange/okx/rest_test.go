package okx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

func TestParseInstrumentsDocs(t *testing.T) {
	body := docMember(t, "rest_account_instruments_spot_response.json", "payload")
	want := []exchange.Instrument{{ID: 9, Venue: testVenue, Symbol: "BTC-EUR", Canonical: "BTC-EUR", Scale: num.Scale{Px: 2, Qty: 8}}}
	got, err := ParseInstruments(body, "okx", want)
	if err != nil {
		t.Fatal(err)
	}
	// tickSz "1", lotSz "0.00000001", minSz "0.00001" in scale {2, 8}.
	g := got[0]
	if g.Tick != 100 || g.Step != 1 || g.MinQty != 1000 || g.MinNotional != 0 || g.Base != "BTC" || g.Quote != "EUR" || g.ID != 9 || g.Symbol != "BTC-EUR" {
		t.Fatalf("%+v", g)
	}
	if want[0].Tick != 0 {
		t.Fatal("input modified")
	}
	// A scale too coarse for lotSz (8 decimals) is widened to hold it.
	got, err = ParseInstruments(body, "okx", []exchange.Instrument{{Symbol: "BTC-EUR", Scale: num.Scale{Px: 0, Qty: 4}}})
	if err != nil || got[0].Scale != (num.Scale{Px: 0, Qty: 8}) || got[0].Tick != 1 || got[0].Step != 1 || got[0].MinQty != 1000 {
		t.Fatalf("widened: %+v %v", got, err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want exchange.Instrument
		err  error
	}{
		{"lotSz needs more than 18 decimals", bytes.Replace(body, []byte(`"lotSz":"0.00000001"`), []byte(`"lotSz":"0.0000000000000000001"`), 1),
			exchange.Instrument{Symbol: "BTC-EUR", Scale: num.Scale{Px: 2, Qty: 4}}, ErrFilterScale},
		{"not listed", body, exchange.Instrument{Symbol: "BTC-USDT", Scale: num.Scale{Px: 2, Qty: 8}}, ErrUnknownInstrument},
		{"suspended", bytes.Replace(body, []byte(`"state":"live"`), []byte(`"state":"suspend"`), 1),
			exchange.Instrument{Symbol: "BTC-EUR", Scale: num.Scale{Px: 2, Qty: 8}}, ErrInstrumentNotLive},
		{"zero tick", bytes.Replace(body, []byte(`"tickSz":"1"`), []byte(`"tickSz":"0"`), 1),
			exchange.Instrument{Symbol: "BTC-EUR", Scale: num.Scale{Px: 2, Qty: 8}}, ErrFilterScale},
	} {
		if _, err := ParseInstruments(tc.body, "okx", []exchange.Instrument{tc.want}); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestParseInstrumentsVenueErrors(t *testing.T) {
	_, err := ParseInstruments([]byte(`{"code":"50011","msg":"Rate limit reached","data":[]}`), "okx", nil)
	var e *exchange.Error
	if !errors.As(err, &e) || e.Kind != exchange.KindRateLimited || e.Code != "50011" || e.Venue != "okx" {
		t.Fatalf("%v", err)
	}
	if _, err := ParseInstruments([]byte(`{"code":"0","data":{}}`), "okx", nil); exchange.KindOf(err) != exchange.KindUnknown || err == nil {
		t.Fatalf("%v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   exchange.ErrorKind
	}{
		{200, "50011", exchange.KindRateLimited},
		{429, "50011", exchange.KindRateLimited},
		{200, "50061", exchange.KindRateLimited},
		{429, "", exchange.KindRateLimited},
		{200, "50001", exchange.KindRetryable},
		{200, "50004", exchange.KindRetryable},
		{200, "50013", exchange.KindRetryable},
		{500, "50026", exchange.KindRetryable},
		{401, "50100", exchange.KindAuth},
		{401, "50113", exchange.KindAuth},
		{401, "50119", exchange.KindAuth},
		{401, "", exchange.KindAuth},
		{200, "50120", exchange.KindRejected},
		{400, "51000", exchange.KindRejected},
		{502, "", exchange.KindRetryable},
		{404, "", exchange.KindUnknown},
	} {
		if got := classify(tc.status, tc.code); got != tc.want {
			t.Errorf("classify(%d, %q) = %v, want %v", tc.status, tc.code, got, tc.want)
		}
	}
}

func TestFetchInstruments(t *testing.T) {
	body := docMember(t, "rest_account_instruments_spot_response.json", "payload")
	var status int
	var reply []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != InstrumentsPath || r.URL.Query().Get("instType") != "SPOT" || r.Method != http.MethodGet {
			t.Errorf("request %s %s", r.Method, r.URL)
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "2")
		}
		w.WriteHeader(status)
		w.Write(reply)
	}))
	defer srv.Close()
	want := []exchange.Instrument{{Symbol: "BTC-EUR", Scale: num.Scale{Px: 2, Qty: 8}}}
	status, reply = 200, body
	if got, err := FetchInstruments(context.Background(), srv.Client(), srv.URL+"/", "okx", want); err != nil || got[0].Tick != 100 {
		t.Fatalf("%v %v", got, err)
	}
	for _, tc := range []struct {
		status int
		reply  string
		kind   exchange.ErrorKind
		retry  time.Duration
	}{
		{429, `{"code":"50011","msg":"Rate limit reached","data":[]}`, exchange.KindRateLimited, 2 * time.Second},
		{401, `{"code":"50113","msg":"Invalid signature","data":[]}`, exchange.KindAuth, 0},
		{503, `<html>busy</html>`, exchange.KindRetryable, 0},
	} {
		status, reply = tc.status, []byte(tc.reply)
		_, err := FetchInstruments(context.Background(), srv.Client(), srv.URL, "okx", want)
		var e *exchange.Error
		if !errors.As(err, &e) || e.Kind != tc.kind || e.HTTPStatus != tc.status || e.RetryAfter != tc.retry {
			t.Errorf("%d: %v", tc.status, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FetchInstruments(ctx, srv.Client(), srv.URL, "okx", want); exchange.KindOf(err) != exchange.KindRetryable || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

// FuzzParseInstruments: never panics; whatever it accepts carries exactly
// the decimal values of the reply's strings in the returned scale, which
// is the requested one or wider.
func FuzzParseInstruments(f *testing.F) {
	f.Add(docMember(f, "rest_account_instruments_spot_response.json", "payload"), uint8(2), uint8(8))
	f.Add([]byte(`{"code":"0","data":[{"instId":"BTC-EUR","state":"live","tickSz":"0.1","lotSz":"1","minSz":"0"}]}`), uint8(1), uint8(0))
	f.Add([]byte(`{"code":"50011","msg":"x"}`), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, px, qty uint8) {
		sc := num.Scale{Px: px % 19, Qty: qty % 19}
		got, err := ParseInstruments(body, "okx", []exchange.Instrument{{Symbol: "BTC-EUR", Scale: sc}})
		if err != nil {
			return
		}
		var env map[string]any
		if json.Unmarshal(body, &env) != nil {
			t.Fatal("accepted a reply encoding/json rejects")
		}
		var row map[string]any
		data, _ := env["data"].([]any)
		for _, r := range data {
			if m, _ := r.(map[string]any); m["instId"] == "BTC-EUR" {
				row = m // the last one wins, as in ParseInstruments' map
			}
		}
		str := func(k string) string { s, _ := row[k].(string); return s }
		// The returned scale may be wider (never narrower) than asked.
		if got[0].Scale.Px < sc.Px || got[0].Scale.Qty < sc.Qty || !got[0].Scale.Valid() {
			t.Fatalf("scale %+v for %+v", got[0].Scale, sc)
		}
		sc = got[0].Scale
		tick, ok1 := refParse(str("tickSz"), sc.Px)
		step, ok2 := refParse(str("lotSz"), sc.Qty)
		minQty, ok3 := refParse(str("minSz"), sc.Qty)
		g := got[0]
		if !ok1 || !ok2 || !ok3 || int64(g.Tick) != tick || int64(g.Step) != step || int64(g.MinQty) != minQty || tick <= 0 || step <= 0 {
			t.Fatalf("%+v from %s", g, body)
		}
	})
}
