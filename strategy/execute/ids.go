package execute

import (
	"arb/exchange"
)

// TradeID identifies a trade for ever: the high 32 bits are the executor's
// epoch (a number recovered from the journal and raised on every start, see
// Executor.Recover), the low 32 bits a counter within the epoch. Ids never
// repeat across restarts, so neither do the client order ids derived from
// them.
type TradeID uint64

// Epoch returns the epoch part of the id.
func (id TradeID) Epoch() uint32 { return uint32(id >> 32) }

const hexDigits = "0123456789abcdef"

// AppendTo appends the id's text form: "t" and 16 lowercase hex digits.
func (id TradeID) AppendTo(dst []byte) []byte {
	dst = append(dst, 't')
	return appendHex(dst, uint64(id), 16)
}

// String returns the id's text form (see AppendTo).
func (id TradeID) String() string {
	var b [17]byte
	return string(id.AppendTo(b[:0]))
}

// ParseTradeID parses the text form written by AppendTo.
func ParseTradeID(s string) (TradeID, bool) {
	if len(s) != 17 || s[0] != 't' {
		return 0, false
	}
	v, ok := parseHex(s[1:])
	return TradeID(v), ok
}

func appendHex(dst []byte, v uint64, digits int) []byte {
	for sh := (digits - 1) * 4; sh >= 0; sh -= 4 {
		dst = append(dst, hexDigits[(v>>uint(sh))&0xf])
	}
	return dst
}

func parseHex[T string | []byte](s T) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// MaxPrefix is the longest client order id prefix (Config.Prefix).
const MaxPrefix = 8

// clientIDLen is the length of a client order id after the prefix: 16 hex
// digits of trade id, purpose letter, side letter, 2 hex digits of order
// index.
const clientIDLen = 16 + 1 + 1 + 2

// ClientID returns the client order id of order index n of trade id:
//
//	<prefix><16 hex trade id><purpose e|r|u><side b|s><2 hex order index>
//
// e.g. "arb0000000100000007eb00" for the buy entry of trade 1:7. It is a
// function of the order's identity only, so a resubmission of one intent
// reuses the id (the venue then refuses a second live order with it), and
// with the trade id it never repeats across restarts. Letters and digits
// only, at most 8+20 characters: every venue accepts it
// (exchange.ValidClientID).
func ClientID(prefix string, id TradeID, n int, p Purpose, s exchange.Side) exchange.ID {
	var b [MaxPrefix + clientIDLen]byte
	dst := append(b[:0], prefix...)
	dst = appendHex(dst, uint64(id), 16)
	dst = append(dst, p.letter(), sideLetter(s))
	dst = appendHex(dst, uint64(n), 2)
	cid, _ := exchange.IDFromBytes(dst)
	return cid
}

// ParseClientID returns the trade and order index a client order id with
// this prefix names, and false if it is not one of ours.
func ParseClientID(prefix string, cid *exchange.ID) (TradeID, int, bool) {
	b := cid.Bytes()
	if len(b) != len(prefix)+clientIDLen || string(b[:len(prefix)]) != prefix {
		return 0, 0, false
	}
	b = b[len(prefix):]
	id, ok := parseHex(b[:16])
	if !ok {
		return 0, 0, false
	}
	if _, ok := purposeOf(b[16]); !ok || (b[17] != 'b' && b[17] != 's') {
		return 0, 0, false
	}
	n, ok := parseHex(b[18:20])
	if !ok || n >= MaxOrders {
		return 0, 0, false
	}
	return TradeID(id), int(n), true
}

func sideLetter(s exchange.Side) byte {
	if s == exchange.Sell {
		return 's'
	}
	return 'b'
}

// validPrefix reports whether p is a usable client order id prefix: 1–8
// letters and digits.
func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > MaxPrefix {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
