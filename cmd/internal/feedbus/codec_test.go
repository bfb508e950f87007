package feedbus

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"arb/exchange"
	"arb/exchange/num"
)

// randomBook returns a valid book with every field set: random counts,
// strictly ordered levels, gas, sequence and timestamps; stale (no levels)
// one time in eight.
func randomBook(rnd *rand.Rand) (exchange.BookTop, Header) {
	var ev exchange.BookTop
	ev.Seq = rnd.Uint64()
	ev.ExchTS = rnd.Int64()
	ev.RecvTS = rnd.Int64()
	ev.Gas = num.Quote(rnd.Int64N(1 << 40))
	h := Header{Source: rnd.Uint64(), Term: rnd.Uint64(), PubTS: rnd.Int64(),
		Scale: num.Scale{Px: uint8(rnd.IntN(num.MaxDecimals + 1)), Qty: uint8(rnd.IntN(num.MaxDecimals + 1))}}
	if rnd.IntN(8) == 0 {
		ev.SetStale(exchange.StaleCause(1+rnd.IntN(int(maxCause))), ev.RecvTS)
		return ev, h
	}
	ev.NBids, ev.NAsks = uint8(rnd.IntN(exchange.TopK+1)), uint8(rnd.IntN(exchange.TopK+1))
	mid := int64(1<<40) + rnd.Int64N(1<<40)
	px := mid
	for i := range ev.NBids {
		px -= 1 + rnd.Int64N(1000)
		ev.Bids[i] = exchange.Level{Px: num.Price(px), Qty: num.Qty(1 + rnd.Int64N(1<<50))}
	}
	px = mid
	for i := range ev.NAsks {
		px += 1 + rnd.Int64N(1000)
		ev.Asks[i] = exchange.Level{Px: num.Price(px), Qty: num.Qty(1 + rnd.Int64N(1<<50))}
	}
	return ev, h
}

// TestRoundTrip: every field of a BookTop but the process-local ids
// (Venue, Inst) and every header field survive Append and Decode, for
// random books of every shape, Gas included.
func TestRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(17, 1))
	for n := 0; n < 20000; n++ {
		in, h := randomBook(rnd)
		b := Append(nil, &in, &h)
		if len(b) != Size(&in) {
			t.Fatalf("size %d, want %d", len(b), Size(&in))
		}
		// Decode into a dirty event: every field must be overwritten.
		out := exchange.BookTop{Venue: 3, Inst: 7}
		for i := range out.Bids {
			out.Bids[i] = exchange.Level{Px: 99, Qty: 99}
			out.Asks[i] = exchange.Level{Px: 99, Qty: 99}
		}
		out.Flags, out.Cause, out.Gas, out.Seq = exchange.FlagStale, exchange.CauseGap, 5, 5
		var got Header
		if err := Decode(b, &out, &got); err != nil {
			t.Fatalf("decode of a valid book: %v", err)
		}
		in.Venue, in.Inst = 3, 7
		if out != in {
			t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
		}
		if got != h {
			t.Fatalf("header: got %+v, want %+v", got, h)
		}
	}
}

// TestGasTravels pins the Uniswap case: a book with gas keeps it exactly.
func TestGasTravels(t *testing.T) {
	ev := exchange.BookTop{Seq: 19_000_000, NBids: 1, NAsks: 1, Gas: 123_456,
		Bids: [exchange.TopK]exchange.Level{{Px: 300000, Qty: 5}}, Asks: [exchange.TopK]exchange.Level{{Px: 300100, Qty: 7}}}
	h := Header{Source: 1, Term: 1, Scale: num.Scale{Px: 2, Qty: 8}}
	var out exchange.BookTop
	var oh Header
	if err := Decode(Append(nil, &ev, &h), &out, &oh); err != nil || out.Gas != 123_456 {
		t.Fatalf("gas %d, err %v", out.Gas, err)
	}
}

// TestDecodeRefuses: each kind of bad input is refused with its error,
// and the event is left untouched.
func TestDecodeRefuses(t *testing.T) {
	rnd := rand.New(rand.NewPCG(2, 2))
	var good exchange.BookTop
	var h Header
	for good.NBids < 2 || good.NAsks < 2 {
		good, h = randomBook(rnd)
	}
	valid := Append(nil, &good, &h)
	le := binary.LittleEndian
	cases := []struct {
		name string
		mut  func([]byte) []byte
		want error
	}{
		{"empty", func(b []byte) []byte { return nil }, ErrLength},
		{"short header", func(b []byte) []byte { return b[:HeaderSize-1] }, ErrLength},
		{"truncated level", func(b []byte) []byte { return b[:len(b)-1] }, ErrLength},
		{"trailing byte", func(b []byte) []byte { return append(b, 0) }, ErrLength},
		{"too many bids", func(b []byte) []byte { b[3] = exchange.TopK + 1; return b }, ErrLength},
		{"version 0", func(b []byte) []byte { b[0] = 0; return b }, ErrVersion},
		{"version 2", func(b []byte) []byte { b[0] = 2; return b }, ErrVersion},
		{"reserved", func(b []byte) []byte { b[7] = 1; return b }, ErrHeader},
		{"unknown flag", func(b []byte) []byte { b[1] = 2; return b }, ErrHeader},
		{"unknown cause", func(b []byte) []byte { b[2] = byte(maxCause) + 1; return b }, ErrHeader},
		{"px scale", func(b []byte) []byte { b[5] = num.MaxDecimals + 1; return b }, ErrHeader},
		{"stale with levels", func(b []byte) []byte { b[1] = byte(exchange.FlagStale); return b }, ErrHeader},
		{"negative gas", func(b []byte) []byte { le.PutUint64(b[56:], uint64(1)<<63); return b }, ErrHeader},
		{"zero price", func(b []byte) []byte { le.PutUint64(b[HeaderSize:], 0); return b }, ErrLevel},
		{"negative qty", func(b []byte) []byte { le.PutUint64(b[HeaderSize+8:], ^uint64(0)); return b }, ErrLevel},
		{"bids ascending", func(b []byte) []byte {
			le.PutUint64(b[HeaderSize+LevelSize:], le.Uint64(b[HeaderSize:])+1)
			return b
		}, ErrLevel},
		{"asks descending", func(b []byte) []byte {
			a := HeaderSize + int(b[3])*LevelSize
			le.PutUint64(b[a+LevelSize:], le.Uint64(b[a:]))
			return b
		}, ErrLevel},
	}
	for _, c := range cases {
		b := c.mut(bytes.Clone(valid))
		before := exchange.BookTop{Seq: 42}
		ev := before
		var hh Header
		if err := Decode(b, &ev, &hh); err != c.want {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if ev != before {
			t.Errorf("%s: a refused message changed the event", c.name)
		}
		if Reason(c.want) == 0 {
			t.Errorf("%s: no reject reason", c.name)
		}
	}
}

// TestCodecAllocs: encoding into a buffer with room and decoding
// allocate nothing.
func TestCodecAllocs(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 3))
	ev, h := randomBook(rnd)
	buf := make([]byte, 0, MaxSize)
	var out exchange.BookTop
	var oh Header
	if n := testing.AllocsPerRun(1000, func() {
		buf = Append(buf[:0], &ev, &h)
		if err := Decode(buf, &out, &oh); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per encode+decode", n)
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// exactly the same bytes (the encoding is canonical, so nothing in an
// accepted message is ignored).
func FuzzDecode(f *testing.F) {
	rnd := rand.New(rand.NewPCG(4, 4))
	for range 16 {
		ev, h := randomBook(rnd)
		f.Add(Append(nil, &ev, &h))
	}
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev exchange.BookTop
		var h Header
		if err := Decode(b, &ev, &h); err != nil {
			if Reason(err) == 0 {
				t.Fatalf("error %v has no reject reason", err)
			}
			return
		}
		if again := Append(nil, &ev, &h); !bytes.Equal(again, b) {
			t.Fatalf("accepted message does not re-encode to itself:\n in %x\nout %x", b, again)
		}
	})
}

// TestLayoutPinned pins version 1's bytes: a change of layout must come
// with a new Version (engines of the old one would misread it), so this
// test is edited only together with Version.
func TestLayoutPinned(t *testing.T) {
	ev := exchange.BookTop{Seq: 0x0102030405060708, ExchTS: 0x1112131415161718, RecvTS: 0x2122232425262728,
		Flags: 0, Cause: exchange.CauseNone, NBids: 1, NAsks: 1, Gas: 0x31,
		Bids: [exchange.TopK]exchange.Level{{Px: 0x41, Qty: 0x42}}, Asks: [exchange.TopK]exchange.Level{{Px: 0x51, Qty: 0x52}}}
	h := Header{Source: 0xA1, Term: 0xB1, PubTS: 0xC1, Scale: num.Scale{Px: 2, Qty: 8}}
	const want = "01000001010208" + "00" +
		"a100000000000000" + "b100000000000000" + "0807060504030201" + "1817161514131211" + "2827262524232221" +
		"c100000000000000" + "3100000000000000" +
		"4100000000000000" + "4200000000000000" + "5100000000000000" + "5200000000000000"
	if got := hex.EncodeToString(Append(nil, &ev, &h)); got != want || Version != 1 {
		t.Fatalf("version %d layout\n got %s\nwant %s", Version, got, want)
	}
}
