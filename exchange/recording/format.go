package recording

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"arb/exchange/tap"
)

// Format constants.
const (
	// Version is the format version this package writes and reads.
	Version = 1
	// Ext is the file name extension of a part.
	Ext = ".arbrec"

	fileMagic      = "ARBREC\x1a"
	fileHeaderLen  = 8 + 4 + 4
	chunkMagic     = "ARC1"
	chunkHeaderLen = 48
	// MaxMeta caps the meta JSON of a file.
	MaxMeta = 1 << 20
	// MaxChunk caps a chunk's raw and compressed sizes.
	MaxChunk = 64 << 20
	// minRecord is the smallest encoded record: 7 one-byte fields.
	minRecord = 7
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the reader. Each is wrapped with the file and offset.
var (
	ErrFormat    = errors.New("recording: not a recording file or a corrupt one")
	ErrVersion   = errors.New("recording: unsupported format version")
	ErrTruncated = errors.New("recording: file ends inside a chunk")
	ErrCorrupt   = errors.New("recording: corrupt chunk")
)

// Meta describes one file of a recording.
type Meta struct {
	Format  string `json:"format"`  // "arbrec"
	Version int    `json:"version"` // Version
	// Recording identifies the recording the file is a part of (the
	// writer's start time and a random suffix); Part numbers its files
	// from 0.
	Recording string `json:"recording"`
	Part      int    `json:"part"`
	// Venues are the venues recorded, by the ids their records carry.
	Venues []VenueMeta `json:"venues"`
	// PlanIDBase, when the recording was made by arbd, is the detector's
	// plan id base of that session, so a replay numbers plans the same way.
	PlanIDBase uint64 `json:"plan_id_base,omitempty"`
	// TradeFrom, in a cut, is where the cut was asked to start (Unix ns):
	// the records before it only rebuild the books; a backtest trades from
	// here.
	TradeFrom int64 `json:"trade_from,omitempty"`
	// Note is free text (the command that made the recording).
	Note string `json:"note,omitempty"`
}

// VenueMeta is one recorded venue: what its feed subscribed.
type VenueMeta struct {
	ID          uint8            `json:"id"`
	Name        string           `json:"name"`
	Kind        string           `json:"kind"`
	Channel     string           `json:"channel,omitempty"`
	Depth       int              `json:"depth,omitempty"`
	AgeMax      Duration         `json:"age_max,omitempty"`
	Instruments []InstrumentMeta `json:"instruments"`
}

// InstrumentMeta is one instrument as a venue lists it.
type InstrumentMeta struct {
	Canonical   string `json:"canonical"`
	Symbol      string `json:"symbol"`
	PxDecimals  uint8  `json:"px_decimals"`
	QtyDecimals uint8  `json:"qty_decimals"`
}

// Duration is a time.Duration written as its string ("3s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Venue returns the venue with id, or nil.
func (m *Meta) Venue(id uint8) *VenueMeta {
	for i := range m.Venues {
		if m.Venues[i].ID == id {
			return &m.Venues[i]
		}
	}
	return nil
}

func (m *Meta) validate() error {
	if m.Format != "arbrec" {
		return fmt.Errorf("%w: meta format %q", ErrFormat, m.Format)
	}
	if m.Version != Version {
		return fmt.Errorf("%w: %d", ErrVersion, m.Version)
	}
	seen := map[uint8]bool{}
	for _, v := range m.Venues {
		if v.ID == 0 || seen[v.ID] {
			return fmt.Errorf("%w: venue id %d zero or repeated", ErrFormat, v.ID)
		}
		seen[v.ID] = true
	}
	return nil
}

// ChunkHeader is a chunk's fixed header.
type ChunkHeader struct {
	Count   uint32
	RawLen  uint32
	CompLen uint32
	DataCRC uint32
	MinTS   int64 // receive times of the chunk's records, Unix ns
	MaxTS   int64
	WarmTS  int64 // open time of the oldest connection open when the chunk began
}

func (h *ChunkHeader) encode(b []byte) {
	copy(b[0:4], chunkMagic)
	binary.LittleEndian.PutUint32(b[8:], h.Count)
	binary.LittleEndian.PutUint32(b[12:], h.RawLen)
	binary.LittleEndian.PutUint32(b[16:], h.CompLen)
	binary.LittleEndian.PutUint32(b[20:], h.DataCRC)
	binary.LittleEndian.PutUint64(b[24:], uint64(h.MinTS))
	binary.LittleEndian.PutUint64(b[32:], uint64(h.MaxTS))
	binary.LittleEndian.PutUint64(b[40:], uint64(h.WarmTS))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:chunkHeaderLen], castagnoli))
}

func (h *ChunkHeader) decode(b []byte) error {
	if string(b[0:4]) != chunkMagic {
		return fmt.Errorf("%w: bad chunk magic", ErrCorrupt)
	}
	if crc32.Checksum(b[8:chunkHeaderLen], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return fmt.Errorf("%w: chunk header CRC mismatch", ErrCorrupt)
	}
	h.Count = binary.LittleEndian.Uint32(b[8:])
	h.RawLen = binary.LittleEndian.Uint32(b[12:])
	h.CompLen = binary.LittleEndian.Uint32(b[16:])
	h.DataCRC = binary.LittleEndian.Uint32(b[20:])
	h.MinTS = int64(binary.LittleEndian.Uint64(b[24:]))
	h.MaxTS = int64(binary.LittleEndian.Uint64(b[32:]))
	h.WarmTS = int64(binary.LittleEndian.Uint64(b[40:]))
	switch {
	case h.RawLen > MaxChunk || h.CompLen > MaxChunk:
		return fmt.Errorf("%w: chunk of %d raw, %d compressed bytes exceeds %d", ErrCorrupt, h.RawLen, h.CompLen, MaxChunk)
	case uint64(h.Count)*minRecord > uint64(h.RawLen):
		return fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrCorrupt, h.Count, h.RawLen)
	case h.MinTS > h.MaxTS:
		return fmt.Errorf("%w: chunk times out of order", ErrCorrupt)
	}
	return nil
}

// Record is one recorded tap event. Meta and Data point into the reader's
// buffer: valid until the next chunk is read.
type Record struct {
	Kind  tap.Kind
	Venue uint8
	Conn  uint64
	TS    int64
	Aux   uint32
	Meta  []byte
	Data  []byte
}

// appendRecord encodes r after prev (the previous record's time).
func appendRecord(b []byte, kind tap.Kind, venue uint8, conn uint64, ts, prev int64, aux uint32, meta, data []byte) []byte {
	b = append(b, byte(kind), venue)
	b = binary.AppendUvarint(b, conn)
	b = binary.AppendVarint(b, ts-prev)
	b = binary.AppendUvarint(b, uint64(aux))
	b = binary.AppendUvarint(b, uint64(len(meta)))
	b = append(b, meta...)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

var errRecord = errors.New("recording: malformed record")

// decodeRecord reads one record from b at off, whose previous time is
// prev; it returns the offset after it.
func decodeRecord(b []byte, off int, prev int64, r *Record) (int, error) {
	if len(b)-off < minRecord {
		return off, errRecord
	}
	k := tap.Kind(b[off])
	if k == 0 || int(k) >= tap.NumKinds {
		return off, fmt.Errorf("%w: unknown kind %d", errRecord, k)
	}
	r.Kind, r.Venue = k, b[off+1]
	off += 2
	u, n := binary.Uvarint(b[off:])
	if n <= 0 {
		return off, errRecord
	}
	r.Conn, off = u, off+n
	d, n := binary.Varint(b[off:])
	if n <= 0 {
		return off, errRecord
	}
	off += n
	r.TS = prev + d
	if (d > 0 && r.TS < prev) || (d < 0 && r.TS > prev) {
		return off, fmt.Errorf("%w: time overflow", errRecord)
	}
	u, n = binary.Uvarint(b[off:])
	if n <= 0 || u > 1<<32-1 {
		return off, errRecord
	}
	r.Aux, off = uint32(u), off+n
	for _, dst := range [2]*[]byte{&r.Meta, &r.Data} {
		u, n = binary.Uvarint(b[off:])
		if n <= 0 || u > uint64(len(b)-off-n) {
			return off, fmt.Errorf("%w: field runs past the chunk", errRecord)
		}
		off += n
		*dst = b[off : off+int(u) : off+int(u)]
		off += int(u)
	}
	return off, nil
}
