package binance

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestTickerFrame: the bookTicker layout path is taken for Binance's own
// payload in its combined-stream envelope and for nothing else, and where it
// is taken the parser holds exactly what the key-by-key read gives.
func TestTickerFrame(t *testing.T) {
	var doc bytes.Buffer // the documented payload, compact as it is sent
	if err := json.Compact(&doc, readDoc(t, "ws_bookTicker_payload.json")); err != nil {
		t.Fatal(err)
	}
	const data = `{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}`
	cases := []struct {
		name  string
		frame string
		taken bool
	}{
		{"the documented payload, wrapped", string(wrap("bnbusdt@bookTicker", doc.Bytes())), true},
		{"the wire layout", `{"stream":"bnbusdt@bookTicker","data":` + data + `}`, true},
		{"a stream we do not trade", `{"stream":"xyz@bookTicker","data":` + data + `}`, false},
		{"bad numbers are for the session to judge", `{"stream":"bnbusdt@bookTicker","data":{"u":-1,"s":"","b":"x","B":"-1","a":"NaN","A":""}}`, true},
		{"raw event (no envelope)", data, false},
		{"data before stream", `{"data":` + data + `,"stream":"bnbusdt@bookTicker"}`, false},
		{"an e field", `{"stream":"bnbusdt@bookTicker","data":{"e":"bookTicker","u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}}`, false},
		{"white space before a value (Str skips it)", `{"stream": "bnbusdt@bookTicker","data":` + data + `}`, true},
		{"white space before a key", `{"stream":"bnbusdt@bookTicker", "data":` + data + `}`, false},
		{"trailing white space is JSON", `{"stream":"bnbusdt@bookTicker","data":` + data + "}\n", true},
		{"trailing garbage", `{"stream":"bnbusdt@bookTicker","data":` + data + `}x`, false},
		{"a key more", `{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1","T":5}}`, false},
		{"a number where a string belongs", `{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNBUSDT","b":1,"B":"1","a":"2","A":"1"}}`, false},
		{"an escape", `{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNB\u0055SDT","b":"1","B":"1","a":"2","A":"1"}}`, false},
		{"u not an integer", `{"stream":"bnbusdt@bookTicker","data":{"u":1.5,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}}`, false},
		{"truncated", `{"stream":"bnbusdt@bookTicker","data":` + data, false},
	}
	h := newHarness(t, baseConfig(ChannelBBO, 0, testInst("BNBUSDT", 1, 8, 8)), 0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fast := &h.s.p
			if got := fast.tickerFrame([]byte(c.frame)); got != c.taken {
				t.Fatalf("tickerFrame = %v, want %v", got, c.taken)
			}
			fast.parseFrame([]byte(c.frame))
			ref := rawParser(h.s)
			ref.parseFrame([]byte(c.frame))
			g, w := &fast.m, &ref.m
			if fast.sc.Err() != ref.sc.Err() || g.f != w.f || fast.streamBook() != ref.streamBook() || g.u != w.u ||
				string(g.stream) != string(w.stream) || string(g.sym) != string(w.sym) ||
				string(g.bPx) != string(w.bPx) || string(g.bQty) != string(w.bQty) ||
				string(g.aPx) != string(w.aPx) || string(g.aQty) != string(w.aQty) {
				t.Fatalf("parsed err %v %+v; reference err %v %+v", fast.sc.Err(), *g, ref.sc.Err(), *w)
			}
		})
	}
}

// TestTickerFrameOnlyForTickers: a diff-depth session never tries the
// bookTicker layout (it would only cost a failed match per frame).
func TestTickerFrameOnlyForTickers(t *testing.T) {
	for _, ch := range []string{ChannelDepth, ChannelDepth20, ChannelBBO} {
		h := newHarness(t, baseConfig(ch, 0, testInst("BNBUSDT", 1, 8, 8)), 0)
		if h.s.p.tickers != (ch == ChannelBBO) {
			t.Errorf("channel %s: tickers = %v", ch, h.s.p.tickers)
		}
	}
}
