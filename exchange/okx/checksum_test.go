package okx

import (
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"arb/exchange/internal/l2"
	"arb/exchange/num"
)

// appendCheckStringByParts is the checksum string as it was built before
// the book kept each level's text: the price and size strings appended one
// by one. It is the baseline BenchmarkOKXChecksum measures against.
func appendCheckStringByParts(dst []byte, b *l2.Book) []byte {
	nb, na := min(b.Bids.Len(), checksumLevels), min(b.Asks.Len(), checksumLevels)
	start := len(dst)
	for k := 0; k < max(nb, na); k++ {
		if k < nb {
			r := b.Bids.Raw(k)
			dst = append(dst, r.Px()...)
			dst = append(dst, ':')
			dst = append(dst, r.Qty()...)
			dst = append(dst, ':')
		}
		if k < na {
			r := b.Asks.Raw(k)
			dst = append(dst, r.Px()...)
			dst = append(dst, ':')
			dst = append(dst, r.Qty()...)
			dst = append(dst, ':')
		}
	}
	if len(dst) > start {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// TestCheckStringMatchesReference: on random books (empty and one-sided
// ones, sides shorter and longer than 25 levels, wire strings of every
// length up to l2.RawMax, the longest filling the buffer exactly), the
// checksum string is the reference's (refCheckString, strings joined with
// ":") and the checksum its CRC.
func TestCheckStringMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	var buf checkBuf
	str := func(v, width int) string {
		s := strconv.Itoa(v)
		if len(s) < width {
			s += "." + strings.Repeat("7", width-len(s)-1)
		}
		return s
	}
	h := newHarness(t, "books", 0, testInst(1, "BTC-USDT", 2, 0))
	for iter := 0; iter < 3000; iter++ {
		b := l2.New(400, true)
		var ref [2][]refLevel
		for k, s := range []*l2.Side{&b.Bids, &b.Asks} {
			n := rng.IntN(60)
			if iter%10 == 0 {
				n = 0
			}
			for j := 0; j < n; j++ {
				px := 100000 - j
				if k == 1 {
					px = 100001 + j
				}
				w := 6 + rng.IntN(l2.RawMax-5)
				if iter%7 == 0 {
					w = l2.RawMax
				}
				pr, qr := str(px, w), str(1+rng.IntN(99), 1+rng.IntN(l2.RawMax))
				if iter%7 == 0 {
					qr = str(1+rng.IntN(99), l2.RawMax)
				}
				if err := s.SetRaw(num.Price(px), 1, []byte(pr), []byte(qr)); err != nil {
					t.Fatal(err)
				}
				ref[k] = append(ref[k], refLevel{pxRaw: pr, szRaw: qr})
			}
		}
		want := refCheckString(ref[0], ref[1])
		if got := string(checkString(&buf, b)); got != want {
			t.Fatalf("iter %d: %q, want %q", iter, got, want)
		}
		if got := string(appendCheckStringByParts(nil, b)); got != want {
			t.Fatalf("iter %d: by parts %q, want %q", iter, got, want)
		}
		if got, want := h.sess.checksum(b), int32(crc32.ChecksumIEEE([]byte(want))); got != want {
			t.Fatalf("iter %d: checksum %d, want %d", iter, got, want)
		}
	}
}

// BenchmarkOKXChecksum: the checksum of a 400-level book (25 levels per
// side, OKX-like strings), with the string built from the levels' kept
// texts (checkString, one fixed-size copy per level) and as before (the
// strings appended one by one).
func BenchmarkOKXChecksum(b *testing.B) {
	bk := l2.New(400, true)
	for j := 0; j < 400; j++ {
		_ = bk.Bids.SetRaw(num.Price(6000000-10*j), 1, []byte(strconv.FormatFloat(60000-0.1*float64(j), 'f', -1, 64)), []byte("0.4444"))
		_ = bk.Asks.SetRaw(num.Price(6000010+10*j), 1, []byte(strconv.FormatFloat(60000.1+0.1*float64(j), 'f', -1, 64)), []byte("1.1314"))
	}
	b.Run("text", func(b *testing.B) {
		var buf checkBuf
		b.ReportAllocs()
		var sink uint32
		for b.Loop() {
			sink += crc32.Update(0, crc32.IEEETable, checkString(&buf, bk))
		}
		_ = sink
	})
	b.Run("parts", func(b *testing.B) {
		var buf checkBuf
		b.ReportAllocs()
		var sink uint32
		for b.Loop() {
			sink += crc32.Update(0, crc32.IEEETable, appendCheckStringByParts(buf[:0], bk))
		}
		_ = sink
	})
}
