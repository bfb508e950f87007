package feedbus

import (
	"encoding/binary"
	"errors"

	"arb/exchange"
	"arb/exchange/num"
)

// Version is the first byte of every book message. A decoder refuses any
// other value, so a change of layout is a new version, never a silent
// reinterpretation; engines are upgraded before feeds.
const Version = 1

// Layout of a version-1 message, little-endian, no padding between fields:
//
//	off size field
//	  0    1 version (= Version)
//	  1    1 flags   (exchange.BookFlags; only FlagStale is defined)
//	  2    1 cause   (exchange.StaleCause)
//	  3    1 nbids   (≤ exchange.TopK)
//	  4    1 nasks   (≤ exchange.TopK)
//	  5    1 px scale  (decimals of every price and of Gas)
//	  6    1 qty scale (decimals of every quantity)
//	  7    1 reserved (0)
//	  8    8 source  (the publishing feed process's random instance id)
//	 16    8 term    (the publisher's leadership term: the lease's KV revision)
//	 24    8 seq     (BookTop.Seq, the venue's sequence)
//	 32    8 exch_ts (BookTop.ExchTS, Unix ns)
//	 40    8 recv_ts (BookTop.RecvTS, Unix ns, the feed host's clock)
//	 48    8 pub_ts  (when the feed published the message, Unix ns)
//	 56    8 gas     (BookTop.Gas, quote in px-scale units)
//	 64   16 per level: price int64, quantity int64; nbids bids then nasks asks
//
// The venue and the instrument are not in the message: they are the last
// two tokens of its subject, by name, because VenueID and InstrumentID are
// interned per process from each one's config and need not agree.
const (
	HeaderSize = 64
	LevelSize  = 16
	// MaxSize is the largest valid message: a full book on both sides.
	MaxSize = HeaderSize + 2*exchange.TopK*LevelSize
)

// Header is what a message carries besides the book: where it comes from
// and when it left.
type Header struct {
	Source uint64    // the publishing feed process's instance id
	Term   uint64    // its leadership term for the venue (fencing token)
	PubTS  int64     // publish time, Unix ns (feed host clock)
	Scale  num.Scale // the scale of the prices, quantities and gas
}

// Decoding errors: preallocated sentinels (the data plane does not format
// errors per message). Reason maps each to the feed reject metric's reason.
var (
	ErrLength  = errors.New("feedbus: message length does not match its level counts")
	ErrVersion = errors.New("feedbus: unknown message version")
	ErrHeader  = errors.New("feedbus: invalid header field")
	ErrLevel   = errors.New("feedbus: invalid price level")
)

// Reason returns the exchange reject reason under which a decoding error
// is counted (arb_feed_rejects_total{reason}).
func Reason(err error) exchange.RejectReason {
	switch err {
	case ErrLength:
		return exchange.RejectSyntax
	case ErrVersion:
		return exchange.RejectObsolete
	case ErrLevel:
		return exchange.RejectNumber
	}
	return exchange.RejectUnexpected
}

// maxCause is the highest StaleCause this build knows.
const maxCause = exchange.CauseGasCap

// Size returns the encoded size of ev.
func Size(ev *exchange.BookTop) int {
	return HeaderSize + (int(ev.NBids)+int(ev.NAsks))*LevelSize
}

// Append appends the encoding of ev with h to dst and returns the extended
// slice. It never allocates when dst has MaxSize bytes of spare capacity.
// ev.Venue and ev.Inst are not encoded (the subject names them). Level
// counts above TopK are clamped, so Append cannot read out of bounds.
func Append(dst []byte, ev *exchange.BookTop, h *Header) []byte {
	nb, na := min(int(ev.NBids), exchange.TopK), min(int(ev.NAsks), exchange.TopK)
	var hd [HeaderSize]byte
	hd[0] = Version
	hd[1] = byte(ev.Flags)
	hd[2] = byte(ev.Cause)
	hd[3] = byte(nb)
	hd[4] = byte(na)
	hd[5] = h.Scale.Px
	hd[6] = h.Scale.Qty
	le := binary.LittleEndian
	le.PutUint64(hd[8:], h.Source)
	le.PutUint64(hd[16:], h.Term)
	le.PutUint64(hd[24:], ev.Seq)
	le.PutUint64(hd[32:], uint64(ev.ExchTS))
	le.PutUint64(hd[40:], uint64(ev.RecvTS))
	le.PutUint64(hd[48:], uint64(h.PubTS))
	le.PutUint64(hd[56:], uint64(ev.Gas))
	dst = append(dst, hd[:]...)
	var lv [LevelSize]byte
	for i := range nb {
		le.PutUint64(lv[0:], uint64(ev.Bids[i].Px))
		le.PutUint64(lv[8:], uint64(ev.Bids[i].Qty))
		dst = append(dst, lv[:]...)
	}
	for i := range na {
		le.PutUint64(lv[0:], uint64(ev.Asks[i].Px))
		le.PutUint64(lv[8:], uint64(ev.Asks[i].Qty))
		dst = append(dst, lv[:]...)
	}
	return dst
}

// Decode parses b into ev and h. It sets every field of ev except Venue
// and Inst (the caller maps the subject to its own ids); levels past the
// counts are zeroed. It refuses, with one of the Err sentinels and
// without panicking, anything Append would not produce from a valid book:
// a wrong length or version, a non-zero reserved byte, unknown flag bits
// or cause, a scale past num.MaxDecimals, a stale book with levels, levels
// whose prices or quantities are not positive or whose bids are not
// strictly descending or asks strictly ascending, and negative gas. A
// crossed book is passed on as the adapter published it: the detector
// refuses it exactly as it would a local one. It does not allocate.
func Decode(b []byte, ev *exchange.BookTop, h *Header) error {
	if len(b) < HeaderSize {
		return ErrLength
	}
	if b[0] != Version {
		return ErrVersion
	}
	nb, na := int(b[3]), int(b[4])
	if nb > exchange.TopK || na > exchange.TopK || len(b) != HeaderSize+(nb+na)*LevelSize {
		return ErrLength
	}
	flags, cause := exchange.BookFlags(b[1]), exchange.StaleCause(b[2])
	sc := num.Scale{Px: b[5], Qty: b[6]}
	if b[7] != 0 || flags&^exchange.FlagStale != 0 || cause > maxCause || !sc.Valid() {
		return ErrHeader
	}
	stale := flags&exchange.FlagStale != 0
	if stale && nb+na > 0 {
		return ErrHeader
	}
	le := binary.LittleEndian
	gas := num.Quote(le.Uint64(b[56:]))
	if gas < 0 {
		return ErrHeader
	}
	// Validate the levels before writing anything into ev, so a refused
	// message leaves ev as it was.
	lv := b[HeaderSize:]
	var prev int64
	for i := range nb {
		px, qty := int64(le.Uint64(lv[i*LevelSize:])), int64(le.Uint64(lv[i*LevelSize+8:]))
		if px <= 0 || qty <= 0 || (i > 0 && px >= prev) {
			return ErrLevel
		}
		prev = px
	}
	askAt := nb * LevelSize
	for i := range na {
		px, qty := int64(le.Uint64(lv[askAt+i*LevelSize:])), int64(le.Uint64(lv[askAt+i*LevelSize+8:]))
		if px <= 0 || qty <= 0 || (i > 0 && px <= prev) {
			return ErrLevel
		}
		prev = px
	}

	h.Source = le.Uint64(b[8:])
	h.Term = le.Uint64(b[16:])
	h.PubTS = int64(le.Uint64(b[48:]))
	h.Scale = sc
	ev.Flags, ev.Cause = flags, cause
	ev.NBids, ev.NAsks = uint8(nb), uint8(na)
	ev.Seq = le.Uint64(b[24:])
	ev.ExchTS = int64(le.Uint64(b[32:]))
	ev.RecvTS = int64(le.Uint64(b[40:]))
	ev.Gas = gas
	for i := range exchange.TopK {
		if i < nb {
			ev.Bids[i] = exchange.Level{Px: num.Price(le.Uint64(lv[i*LevelSize:])), Qty: num.Qty(le.Uint64(lv[i*LevelSize+8:]))}
		} else {
			ev.Bids[i] = exchange.Level{}
		}
		if i < na {
			ev.Asks[i] = exchange.Level{Px: num.Price(le.Uint64(lv[askAt+i*LevelSize:])), Qty: num.Qty(le.Uint64(lv[askAt+i*LevelSize+8:]))}
		} else {
			ev.Asks[i] = exchange.Level{}
		}
	}
	return nil
}
