package binance

import (
	"encoding/json"
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// Structs a typical client decodes into (string fields for the numbers).
// Both "e" and "E" (and "u" and "U") are declared: with only one of a pair,
// encoding/json's case-insensitive matching would feed it the other's value.
type jsonDepth struct {
	Stream string `json:"stream"`
	Data   struct {
		Event string      `json:"e"`
		Time  int64       `json:"E"`
		Sym   string      `json:"s"`
		First int64       `json:"U"`
		Last  int64       `json:"u"`
		Bids  [][2]string `json:"b"`
		Asks  [][2]string `json:"a"`
	} `json:"data"`
}

type jsonTicker struct {
	Stream string `json:"stream"`
	Data   struct {
		ID     int64  `json:"u"`
		Sym    string `json:"s"`
		Bid    string `json:"b"`
		BidQty string `json:"B"`
		Ask    string `json:"a"`
		AskQty string `json:"A"`
	} `json:"data"`
}

type jsonBook struct {
	LastUpdateID int64       `json:"lastUpdateId"`
	Bids         [][2]string `json:"bids"`
	Asks         [][2]string `json:"asks"`
}

type jsonPartial struct {
	Stream string   `json:"stream"`
	Data   jsonBook `json:"data"`
}

// BenchmarkParse compares, on the same message, the adapter's parse (frame →
// fields and fixed-point levels in the instrument's scale, i.e. more work)
// with encoding/json decoding into string fields. The scanner side is the
// session's own parser (its stream table and scales), so frames are routed
// and their levels converted as HandleFrame does it.
func BenchmarkParse(b *testing.B) {
	depth := newSteady(b, ChannelDepth, 1).frames[0]
	ticker := newSteady(b, ChannelBBO, 1).frames[0]
	partial := newSteady(b, ChannelDepth20, 1).frames[0]
	var bids, asks []exchange.Level
	for k := 0; k < 1000; k++ {
		bids = append(bids, exchange.Level{Px: num.Price(6_000_000 - 1 - k), Qty: 123456789})
		asks = append(asks, exchange.Level{Px: num.Price(6_000_000 + 1 + k), Qty: 987654321})
	}
	snapshot := snapshotBody(btcScale, 123456789, bids, asks)
	cases := []struct {
		name   string
		ch     string // the channel of the session whose parser is used
		frame  []byte
		scan   func(p *parser, frame []byte) (lb, la []exchange.Level, err error)
		decode func([]byte) error
	}{
		{"depthUpdate", ChannelDepth, depth, scanFrame, func(m []byte) error { var v jsonDepth; return json.Unmarshal(m, &v) }},
		{"bookTicker", ChannelBBO, ticker, scanTicker, func(m []byte) error { var v jsonTicker; return json.Unmarshal(m, &v) }},
		{"depth20", ChannelDepth20, partial, scanFrame, func(m []byte) error { var v jsonPartial; return json.Unmarshal(m, &v) }},
		{"restSnapshot1000", ChannelDepth, snapshot, scanBook, func(m []byte) error { var v jsonBook; return json.Unmarshal(m, &v) }},
	}
	for _, c := range cases {
		if err := c.decode(c.frame); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/scanner", func(b *testing.B) {
			p := &newSteady(b, c.ch, 1).h.s.p
			var lb, la []exchange.Level
			var err error
			b.SetBytes(int64(len(c.frame)))
			b.ReportAllocs()
			for b.Loop() {
				lb, la, err = c.scan(p, c.frame)
			}
			if err == nil {
				err = p.sc.Err()
			}
			if err != nil || len(lb) == 0 || len(la) == 0 {
				b.Fatalf("parse failed: %v (%d bids, %d asks)", err, len(lb), len(la))
			}
		})
		b.Run(c.name+"/encoding_json", func(b *testing.B) {
			b.SetBytes(int64(len(c.frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.decode(c.frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func scanFrame(p *parser, frame []byte) (lb, la []exchange.Level, err error) {
	p.parseFrame(frame)
	return p.levelsIn(p.streamBook(), btcScale)
}

func scanBook(p *parser, body []byte) (lb, la []exchange.Level, err error) {
	p.parseBook(body, 0)
	return p.levelsIn(0, btcScale)
}

func scanTicker(p *parser, frame []byte) (lb, la []exchange.Level, err error) {
	p.parseFrame(frame)
	bid, _, err := bboLevel(p.m.bPx, p.m.bQty, btcScale)
	if err != nil {
		return nil, nil, err
	}
	ask, _, err := bboLevel(p.m.aPx, p.m.aQty, btcScale)
	return append(p.bid.lv[:0], bid), append(p.ask.lv[:0], ask), err
}

// BenchmarkHandleFrame is the whole hot path per channel: frame → parse →
// book → BookTop into the ring (the lead's tick-to-decision benchmark drives
// the session the same way).
func BenchmarkHandleFrame(b *testing.B) {
	for _, ch := range []string{ChannelDepth, ChannelBBO, ChannelDepth20} {
		b.Run(ch, func(b *testing.B) {
			st := newSteady(b, ch, 4096)
			var ev exchange.BookTop
			b.ReportAllocs()
			for b.Loop() {
				st.step(b)
				st.h.ring.TryPop(&ev)
				if st.next == len(st.frames) {
					b.StopTimer()
					st = newSteady(b, ch, 4096)
					b.StartTimer()
				}
			}
		})
	}
}
