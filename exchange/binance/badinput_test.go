package binance

import (
	"strings"
	"testing"

	"arb/exchange"
)

// syncedBTC returns a harness with BTCUSDT (scale 2/5) fresh at id 11:
// bids 60000:1, asks 60000.10:1.
func syncedBTC(t *testing.T, channel string) *harness {
	t.Helper()
	h := newHarness(t, baseConfig(channel, 0, testInst("BTCUSDT", 1, 2, 5)), 0)
	switch channel {
	case "", ChannelDepth:
		h.s.NeedSnapshot()
		h.s.ApplySnapshot(0, []byte(`{"lastUpdateId":10,"bids":[["60000.00","1"]],"asks":[["60000.10","1"]]}`), 1)
		h.s.HandleFrame([]byte(`{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":11,"u":11,"b":[],"a":[]}}`), 2)
	case ChannelBBO:
		h.s.HandleFrame([]byte(`{"stream":"btcusdt@bookTicker","data":{"u":11,"s":"BTCUSDT","b":"60000.00","B":"1","a":"60000.10","A":"1"}}`), 2)
	}
	if evs := h.drain(); len(evs) != 1 || evs[0].Stale() || evs[0].Seq != 11 {
		t.Fatalf("setup: %+v", evs)
	}
	return h
}

// depthMsg builds a depth frame for BTCUSDT around a data body.
func depthMsg(data string) string {
	return `{"stream":"btcusdt@depth@100ms","data":{` + data + `}}`
}

const okHead = `"e":"depthUpdate","E":1700000000100,"s":"BTCUSDT","U":12,"u":12,`

// TestBadInput feeds one frame to a fresh book and checks the verdict: the
// reject reason counted, whether the book went stale (and asked for a
// snapshot), or — for frames that are unusual but valid — the book published.
func TestBadInput(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		b.WriteString(`[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(`,`)
			}
			b.WriteString(`["1.00","1"]`)
		}
		b.WriteString(`]`)
		return b.String()
	}
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	cases := []struct {
		name   string
		frame  string
		reason exchange.RejectReason // 0: accepted
		stale  bool                  // the book goes stale and is rebuilt
		bids   string                // accepted: expected bids after
	}{
		{"truncated", `{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":12,"u":12,"b":[["600`, exchange.RejectSyntax, true, ""},
		{"price as JSON number", depthMsg(okHead + `"b":[[60000.5,"1"]],"a":[]`), exchange.RejectSyntax, true, ""},
		{"NaN price", depthMsg(okHead + `"b":[["NaN","1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"Infinity price", depthMsg(okHead + `"b":[["Infinity","1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"negative quantity", depthMsg(okHead + `"b":[["60000.00","-1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"empty price", depthMsg(okHead + `"b":[["","1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"exponent price", depthMsg(okHead + `"b":[["6e4","1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"too precise for the scale", depthMsg(okHead + `"b":[["60000.001","1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"zero price", depthMsg(okHead + `"b":[["0.00","1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"price overflows int64", depthMsg(okHead + `"b":[["99999999999999999999","1"]],"a":[]`), exchange.RejectNumber, true, ""},
		{"escaped price", depthMsg(okHead + `"b":[["6\u0030000.00","1"]],"a":[]`), exchange.RejectSyntax, true, ""},
		{"level of three", depthMsg(okHead + `"b":[["60000.00","1","x"]],"a":[]`), exchange.RejectSyntax, true, ""},
		{"level of one", depthMsg(okHead + `"b":[["60000.00"]],"a":[]`), exchange.RejectSyntax, true, ""},
		{"b is a string", depthMsg(okHead + `"b":"60000.00","a":[]`), exchange.RejectSyntax, true, ""},
		{"missing U", depthMsg(`"e":"depthUpdate","E":1,"s":"BTCUSDT","u":12,"b":[],"a":[]`), exchange.RejectSyntax, true, ""},
		{"U as string", depthMsg(`"e":"depthUpdate","E":1,"s":"BTCUSDT","U":"12","u":12,"b":[],"a":[]`), exchange.RejectSyntax, true, ""},
		{"negative u", depthMsg(`"e":"depthUpdate","E":1,"s":"BTCUSDT","U":12,"u":-12,"b":[],"a":[]`), exchange.RejectSyntax, true, ""},
		{"u beyond int64", depthMsg(`"e":"depthUpdate","E":1,"s":"BTCUSDT","U":12,"u":99999999999999999999,"b":[],"a":[]`), exchange.RejectSyntax, true, ""},
		{"negative event time", depthMsg(`"e":"depthUpdate","E":-1,"s":"BTCUSDT","U":12,"u":12,"b":[],"a":[]`), exchange.RejectSyntax, true, ""},
		{"event type in E (case pitfall)", depthMsg(`"E":"depthUpdate","s":"BTCUSDT","U":12,"u":12,"b":[],"a":[]`), exchange.RejectSyntax, true, ""},
		{"U above u", depthMsg(`"e":"depthUpdate","E":1,"s":"BTCUSDT","U":13,"u":12,"b":[],"a":[]`), exchange.RejectSequence, true, ""},
		{"crossed after update", depthMsg(okHead + `"b":[["60000.10","1"]],"a":[]`), exchange.RejectCrossed, true, ""},
		{"trailing garbage", depthMsg(okHead+`"b":[],"a":[]`) + `x`, exchange.RejectSyntax, true, ""},
		{"b and bids", depthMsg(okHead + `"b":[],"a":[],"bids":[]`), exchange.RejectSyntax, true, ""},
		{"nesting too deep", depthMsg(okHead + `"x":` + deep + `,"b":[],"a":[]`), exchange.RejectSyntax, true, ""},
		{"data not an object", `{"stream":"btcusdt@depth@100ms","data":[1]}`, exchange.RejectSyntax, true, ""},
		{"bookTicker on the depth stream", `{"stream":"btcusdt@depth@100ms","data":{"u":12,"s":"BTCUSDT","b":"1","B":"1","a":"2","A":"1"}}`, exchange.RejectUnexpected, true, ""},
		{"symbol not the stream's", depthMsg(`"e":"depthUpdate","E":1,"s":"ETHUSDT","U":12,"u":12,"b":[],"a":[]`), exchange.RejectUnexpected, true, ""},
		{"other event on our stream", depthMsg(`"e":"trade","E":1,"s":"BTCUSDT","t":1`), exchange.RejectUnexpected, true, ""},
		{"too many levels", depthMsg(okHead + `"b":` + many(maxLevels+1) + `,"a":[]`), exchange.RejectTooLarge, true, ""},
		{"duplicate event", depthMsg(`"e":"depthUpdate","E":1,"s":"BTCUSDT","U":11,"u":11,"b":[["1.00","1"]],"a":[]`), exchange.RejectSequence, false, ""},
		{"unknown stream", `{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":1,"b":[],"a":[]}}`, exchange.RejectUnknownSymbol, false, ""},
		// Unusual but valid: accepted and published.
		{"unknown keys", depthMsg(okHead + `"x":{"y":[1,2,{"z":null}]},"b":[["59999.00","2"]],"a":[],"T":true`), 0, false, "60000:1,59999:2"},
		{"keys in another order", `{"data":{"a":[],"b":[["59999.00","2"]],"u":12,"U":12,"s":"BTCUSDT","E":1700000000100,"e":"depthUpdate"},"stream":"btcusdt@depth@100ms"}`, 0, false, "60000:1,59999:2"},
		{"white space", "{ \"stream\" : \"btcusdt@depth@100ms\" ,\n \"data\" : {\n\t\"e\":\"depthUpdate\", \"E\":1, \"s\":\"BTCUSDT\", \"U\":12, \"u\":12, \"b\":[ [ \"59999.00\" , \"2\" ] ], \"a\":[ ] } }\n", 0, false, "60000:1,59999:2"},
		{"stream name upper case", `{"stream":"BTCUSDT@depth@100ms","data":{` + okHead + `"b":[["59999.00","2"]],"a":[]}}`, 0, false, "60000:1,59999:2"},
		{"trailing zeros beyond the scale", depthMsg(okHead + `"b":[["59999.00000000","2.00000000"]],"a":[]`), 0, false, "60000:1,59999:2"},
		{"raw event routed by symbol", `{` + okHead + `"b":[["59999.00","2"]],"a":[]}`, 0, false, "60000:1,59999:2"},
		{"top-level keys of an envelope are ignored", `{"u":99,"stream":"btcusdt@depth@100ms","data":{` + okHead + `"b":[["59999.00","2"]],"a":[]},"U":1}`, 0, false, "60000:1,59999:2"},
		{"overlapping event", depthMsg(`"e":"depthUpdate","E":1,"s":"BTCUSDT","U":10,"u":12,"b":[["59999.00","2"]],"a":[]`), 0, false, "60000:1,59999:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := syncedBTC(t, ChannelDepth)
			before := make([]uint64, exchange.NumRejectReasons)
			for r := range before {
				before[r] = h.stats.Rejects(exchange.RejectReason(r))
			}
			h.s.HandleFrame([]byte(c.frame), 3)
			for r := 1; r < exchange.NumRejectReasons; r++ {
				d := h.stats.Rejects(exchange.RejectReason(r)) - before[r]
				want := uint64(0)
				if exchange.RejectReason(r) == c.reason {
					want = 1
				}
				if d != want {
					t.Errorf("reject %s counted %d, want %d", exchange.RejectReason(r), d, want)
				}
			}
			evs := h.drain()
			_, need := h.needAfterBackoff()
			switch {
			case c.stale:
				if len(evs) != 1 || !evs[0].Stale() || evs[0].Cause != exchange.CauseBadData || evs[0].Inst != 1 || evs[0].Venue != 1 {
					t.Fatalf("want one stale bad_data event, got %+v", evs)
				}
				if !need || h.s.Synced() {
					t.Fatalf("stale book must be rebuilt: need=%v synced=%v", need, h.s.Synced())
				}
			case c.reason != 0:
				if len(evs) != 0 || need || !h.s.Synced() {
					t.Fatalf("ignored input changed the book: %+v need=%v", evs, need)
				}
			default:
				if len(evs) != 1 || evs[0].Stale() || evs[0].Seq != 12 {
					t.Fatalf("want the book published at 12, got %+v", evs)
				}
				if got := fmtLevels(evs[0].Bids[:evs[0].NBids], num2_5); got != c.bids {
					t.Fatalf("bids %s, want %s", got, c.bids)
				}
			}
		})
	}
}

// TestBadInputBBO covers the bookTicker's own shapes.
func TestBadInputBBO(t *testing.T) {
	cases := []struct {
		name   string
		frame  string
		reason exchange.RejectReason
		stale  bool
	}{
		{"missing ask qty", `{"stream":"btcusdt@bookTicker","data":{"u":12,"s":"BTCUSDT","b":"60000.00","B":"1","a":"60000.10"}}`, exchange.RejectSyntax, true},
		{"qty as number", `{"stream":"btcusdt@bookTicker","data":{"u":12,"s":"BTCUSDT","b":"60000.00","B":1,"a":"60000.10","A":"1"}}`, exchange.RejectSyntax, true},
		{"NaN bid", `{"stream":"btcusdt@bookTicker","data":{"u":12,"s":"BTCUSDT","b":"NaN","B":"1","a":"60000.10","A":"1"}}`, exchange.RejectNumber, true},
		{"crossed", `{"stream":"btcusdt@bookTicker","data":{"u":12,"s":"BTCUSDT","b":"60000.20","B":"1","a":"60000.10","A":"1"}}`, exchange.RejectCrossed, true},
		{"older u", `{"stream":"btcusdt@bookTicker","data":{"u":10,"s":"BTCUSDT","b":"60000.00","B":"1","a":"60000.10","A":"1"}}`, exchange.RejectSequence, false},
		{"same u", `{"stream":"btcusdt@bookTicker","data":{"u":11,"s":"BTCUSDT","b":"60000.00","B":"2","a":"60000.10","A":"1"}}`, exchange.RejectSequence, false},
		{"diff event on the bookTicker stream", `{"stream":"btcusdt@bookTicker","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":12,"u":12,"b":[],"a":[]}}`, exchange.RejectUnexpected, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := syncedBTC(t, ChannelBBO)
			h.s.HandleFrame([]byte(c.frame), 3)
			if got := h.stats.Rejects(c.reason); got != 1 {
				t.Errorf("reject %s = %d, want 1", c.reason, got)
			}
			evs := h.drain()
			if c.stale != (len(evs) == 1 && evs[0].Stale() && evs[0].Cause == exchange.CauseBadData) || (!c.stale && len(evs) != 0) {
				t.Fatalf("stale=%v, events %+v", c.stale, evs)
			}
			if c.stale {
				// The next good message rebuilds the book.
				h.s.HandleFrame([]byte(`{"stream":"btcusdt@bookTicker","data":{"u":13,"s":"BTCUSDT","b":"60000.00","B":"3","a":"60000.10","A":"1"}}`), 4)
				if evs := h.drain(); len(evs) != 1 || evs[0].Stale() || evs[0].Seq != 13 || evs[0].Bids[0].Qty != 300000 {
					t.Fatalf("not rebuilt: %+v", evs)
				}
			}
		})
	}
}
