package exchange

// IDMax is the longest identifier an ID holds: Bybit's execId and order ids
// are 36-character UUIDs on some products, every other venue id is shorter.
const IDMax = 39

// ID is a short identifier held inline, with no pointer: a client order id,
// a venue order id, a venue trade (fill) id, an asset code. Fixed size keeps
// order and fill events copyable through queues and rings without
// allocation. The zero ID is empty. IDs compare with == (bytes past the
// length are always zero).
type ID struct {
	b [IDMax]byte
	n uint8
}

// MakeID returns s as an ID, and false if s is longer than IDMax.
func MakeID(s string) (ID, bool) {
	var id ID
	if len(s) > IDMax {
		return id, false
	}
	id.n = uint8(copy(id.b[:], s))
	return id, true
}

// IDFromBytes returns b as an ID, and false if b is longer than IDMax. It
// does not allocate.
func IDFromBytes(b []byte) (ID, bool) {
	var id ID
	if len(b) > IDMax {
		return id, false
	}
	id.n = uint8(copy(id.b[:], b))
	return id, true
}

// MustID is MakeID for constants and tests; it panics on a too long string.
func MustID(s string) ID {
	id, ok := MakeID(s)
	if !ok {
		panic("exchange: ID too long: " + s)
	}
	return id
}

// Len returns the identifier's length in bytes.
func (id *ID) Len() int { return int(id.n) }

// IsZero reports whether the ID is empty.
func (id *ID) IsZero() bool { return id.n == 0 }

// Bytes returns the identifier's bytes, aliasing id (no allocation).
func (id *ID) Bytes() []byte { return id.b[:id.n] }

// AppendTo appends the identifier to dst.
func (id *ID) AppendTo(dst []byte) []byte { return append(dst, id.b[:id.n]...) }

// String returns the identifier as a string (allocates: edges and logs only).
func (id ID) String() string { return string(id.b[:id.n]) }

// Equal reports whether id holds exactly the bytes b.
func (id *ID) Equal(b []byte) bool { return string(id.b[:id.n]) == string(b) }

// ClientIDMax is the longest client order id arb sends: OKX allows 1–32
// letters and digits, Binance and Bybit 36 of [A-Za-z0-9_-]; arb keeps to
// the intersection so one id works on every venue.
const ClientIDMax = 32

// ValidClientID reports whether id is a client order id every venue
// accepts: 1–ClientIDMax ASCII letters and digits.
func ValidClientID(id ID) bool {
	if id.n == 0 || id.n > ClientIDMax {
		return false
	}
	for _, c := range id.b[:id.n] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
