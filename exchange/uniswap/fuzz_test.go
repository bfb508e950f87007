package uniswap

import (
	"bytes"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

var fuzzPair = common.HexToAddress("0x00000000000000000000000000000000000000aa")

// FuzzDecodeSync: any log data and topics are parsed or refused, never a
// panic, and an accepted log has reserves below 2^112 that re-encode to
// the same bytes.
func FuzzDecodeSync(f *testing.F) {
	good := make([]byte, 64)
	good[31], good[63] = 7, 9
	f.Add(good, true, uint8(1))
	f.Add(good[:63], true, uint8(1))
	f.Add(bytes.Repeat([]byte{0xff}, 64), true, uint8(1))
	f.Add([]byte{}, false, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, rightTopic bool, ntopics uint8) {
		l := types.Log{Address: fuzzPair, Data: data, BlockNumber: 5, Index: 1}
		for i := 0; i < int(ntopics%4); i++ {
			if rightTopic && i == 0 {
				l.Topics = append(l.Topics, SyncTopic)
			} else {
				l.Topics = append(l.Topics, common.BytesToHash(data))
			}
		}
		s, err := DecodeSync(fuzzPair, &l)
		if err != nil {
			return
		}
		if s.R0.Gt(maxU112) || s.R1.Gt(maxU112) {
			t.Fatal("reserve over uint112 accepted")
		}
		b0, b1 := s.R0.Bytes32(), s.R1.Bytes32()
		if !bytes.Equal(append(b0[:], b1[:]...), data) {
			t.Fatal("accepted data does not round-trip")
		}
	})
}

// FuzzDecodeSwap: the same for Swap logs.
func FuzzDecodeSwap(f *testing.F) {
	f.Add(make([]byte, 128), make([]byte, 32))
	f.Add(make([]byte, 127), bytes.Repeat([]byte{1}, 32))
	f.Fuzz(func(t *testing.T, data, to []byte) {
		l := types.Log{Address: fuzzPair, Data: data, Topics: []common.Hash{SwapTopic, {}, common.BytesToHash(to)}}
		s, err := DecodeSwap(fuzzPair, &l)
		if err != nil {
			return
		}
		if len(data) != 128 || s.To != common.BytesToAddress(l.Topics[2][12:]) {
			t.Fatal("accepted a malformed swap")
		}
	})
}

// FuzzJournal: any journal file is loaded or refused, never a panic; what
// is accepted re-encodes to records that decode the same.
func FuzzJournal(f *testing.F) {
	f.Add([]byte(`{"kind":"swap","cid":"arb1e0","side":"buy","px":300000,"qty":10000,"nonce":3,"hash":"0x` +
		"11111111111111111111111111111111111111111111111111111111111111ab" + `","raw":"0x02f8","deadline":100,"sent_at":1}` + "\n"))
	f.Add([]byte(`{"kind":"dead","cid":"arb1e0","nonce":3,"sent_at":2}` + "\n" + `{"kind":"cancel","cid":"arb1e0"`))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"kind":"swap","cid":"x","extra":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := decodeJournal(data)
		if err != nil {
			return
		}
		for _, r := range recs {
			if _, err := DecodeTxRecord(mustJSON(t, r)); err != nil {
				t.Fatalf("accepted record %+v does not decode again: %v", r, err)
			}
		}
	})
}

// FuzzParseKey: a key parser never panics and never echoes its input.
func FuzzParseKey(f *testing.F) {
	f.Add("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		sg, err := ParseKey(s)
		if err != nil {
			if len(s) > 8 && bytes.Contains([]byte(err.Error()), []byte(s)) {
				t.Fatal("the error echoes the key")
			}
			return
		}
		if bytes.Contains([]byte(sg.String()), []byte(s[len(s)-8:])) {
			t.Fatal("String shows key material")
		}
	})
}
