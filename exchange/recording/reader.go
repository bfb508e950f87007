package recording

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// ReaderStats are a Reader's counters.
type ReaderStats struct {
	Files         uint64 // files opened
	Chunks        uint64 // chunks decompressed
	ChunksSkipped uint64 // chunks skipped by their header (outside the time range)
	Bytes         uint64 // file bytes read or skipped
	RawBytes      uint64 // decompressed record bytes
	Rejected      uint64 // files or chunks refused as corrupt, truncated or of another version
}

// Block is one decompressed chunk. Raw is the reader's buffer given to
// NextChunk; records decoded from it point into it.
type Block struct {
	Hdr    ChunkHeader
	Raw    []byte
	Meta   *Meta  // the file's meta
	File   string // the file's name
	Offset int64  // the chunk's offset in the file
}

// Records calls fn for each record of the block, in order, with a Record
// reused between calls; it stops at fn's first false. A malformed record
// ends the block with an error naming its offset.
func (b *Block) Records(fn func(r *Record) bool) error {
	var r Record
	off, prev := 0, int64(0)
	venues := b.Meta.Venues
	for i := uint32(0); i < b.Hdr.Count; i++ {
		start := off
		var err error
		if off, err = decodeRecord(b.Raw, off, prev, &r); err != nil {
			return fmt.Errorf("%s: chunk at %d, record %d (byte %d): %w", b.File, b.Offset, i, start, err)
		}
		known := false
		for j := range venues {
			if venues[j].ID == r.Venue {
				known = true
				break
			}
		}
		if !known {
			return fmt.Errorf("%s: chunk at %d, record %d: %w: venue %d not in the file's meta", b.File, b.Offset, i, errRecord, r.Venue)
		}
		prev = r.TS
		if !fn(&r) {
			return nil
		}
	}
	if off != len(b.Raw) {
		return fmt.Errorf("%s: chunk at %d: %w: %d bytes after the last record", b.File, b.Offset, errRecord, len(b.Raw)-off)
	}
	return nil
}

// Reader reads the chunks of a recording's files in order. It is used by
// one goroutine.
type Reader struct {
	paths []string
	next  int
	open  func(string) (io.ReadCloser, error)

	name  string
	rc    io.ReadCloser
	br    *bufio.Reader // the current file's reader (buf), nil between files
	buf   *bufio.Reader
	seek  io.Seeker
	off   int64
	meta  *Meta
	dec   *zstd.Decoder
	comp  []byte
	hdrb  [chunkHeaderLen]byte
	stats ReaderStats
}

// Open returns a reader of the files, in the order given.
func Open(paths ...string) (*Reader, error) {
	if len(paths) == 0 {
		return nil, errors.New("recording: no files")
	}
	return newReader(paths, func(p string) (io.ReadCloser, error) { return os.Open(p) })
}

// NewReader returns a reader of one recording file held by r (tests,
// fuzzing); name labels errors.
func NewReader(name string, r io.Reader) (*Reader, error) {
	return newReader([]string{name}, func(string) (io.ReadCloser, error) { return io.NopCloser(r), nil })
}

func newReader(paths []string, open func(string) (io.ReadCloser, error)) (*Reader, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxChunk),
		zstd.WithDecoderMaxWindow(MaxChunk))
	if err != nil {
		return nil, err
	}
	return &Reader{paths: paths, open: open, dec: dec}, nil
}

// Stats returns the reader's counters.
func (r *Reader) Stats() ReaderStats { return r.stats }

// Meta returns the current file's meta (nil before the first chunk).
func (r *Reader) Meta() *Meta { return r.meta }

// Close releases the current file and the decoder.
func (r *Reader) Close() error {
	r.closeFile()
	r.dec.Close()
	r.next = len(r.paths)
	return nil
}

func (r *Reader) closeFile() {
	if r.rc != nil {
		r.rc.Close()
		r.rc, r.br, r.seek = nil, nil, nil
	}
}

// openNext opens the next file and reads its header; io.EOF when none is
// left.
func (r *Reader) openNext() error {
	r.closeFile()
	if r.next >= len(r.paths) {
		return io.EOF
	}
	r.name = r.paths[r.next]
	r.next++
	rc, err := r.open(r.name)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	r.rc, r.off = rc, 0
	// One buffer for every file: a recording of many files would
	// otherwise allocate 64 KiB per file.
	if r.buf == nil {
		r.buf = bufio.NewReaderSize(rc, 64<<10)
	} else {
		r.buf.Reset(rc)
	}
	r.br = r.buf
	r.seek, _ = rc.(io.Seeker)
	r.stats.Files++
	var h [fileHeaderLen]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		return r.reject(fmt.Errorf("%s: %w: short header", r.name, ErrFormat))
	}
	if string(h[:7]) != fileMagic {
		return r.reject(fmt.Errorf("%s: %w: bad magic", r.name, ErrFormat))
	}
	if h[7] != Version {
		return r.reject(fmt.Errorf("%s: %w: %d", r.name, ErrVersion, h[7]))
	}
	n := binary.LittleEndian.Uint32(h[8:])
	if n > MaxMeta {
		return r.reject(fmt.Errorf("%s: %w: meta of %d bytes", r.name, ErrFormat, n))
	}
	mb := make([]byte, n)
	if _, err := io.ReadFull(r.br, mb); err != nil {
		return r.reject(fmt.Errorf("%s: %w: short meta", r.name, ErrFormat))
	}
	if crc32.Checksum(mb, castagnoli) != binary.LittleEndian.Uint32(h[12:]) {
		return r.reject(fmt.Errorf("%s: %w: meta CRC mismatch", r.name, ErrFormat))
	}
	m := new(Meta)
	if err := json.Unmarshal(mb, m); err != nil {
		return r.reject(fmt.Errorf("%s: %w: meta: %v", r.name, ErrFormat, err))
	}
	if err := m.validate(); err != nil {
		return r.reject(fmt.Errorf("%s: %w", r.name, err))
	}
	r.meta = m
	r.off = int64(fileHeaderLen) + int64(n)
	r.stats.Bytes += uint64(r.off)
	return nil
}

func (r *Reader) reject(err error) error {
	r.stats.Rejected++
	r.closeFile()
	return err
}

// NextChunk returns the next chunk for which want (nil: every chunk)
// returns true, decompressed into dst (reused when large enough), skipping
// the others by their header without decompressing them; io.EOF after the
// last file. An error about one file (corrupt, truncated, another
// version) is returned once, and the next call goes on with the next file.
func (r *Reader) NextChunk(dst []byte, want func(*ChunkHeader) bool) (*Block, error) {
	return r.nextChunk(dst, want, true)
}

// chunkSlack is the room a new chunk buffer gets past the chunk's bytes,
// with an eighth more: buffers passed back (NextChunk's dst) then fit most
// later chunks instead of being replaced by one of the exact size. (The
// zstd decoder also uses its fast copies for the last block when 16 bytes
// are spare; on 30 KB chunks that measured no faster than its exact ones.)
const chunkSlack = 64

// nextChunk is NextChunk; without decompress, Block.Raw is the chunk's
// compressed bytes (the reader's buffer, valid until the next call).
func (r *Reader) nextChunk(dst []byte, want func(*ChunkHeader) bool, decompress bool) (*Block, error) {
	for {
		if r.br == nil {
			if err := r.openNext(); err != nil {
				return nil, err
			}
		}
		n, err := io.ReadFull(r.br, r.hdrb[:])
		if err == io.EOF {
			r.closeFile()
			continue
		}
		if err != nil {
			return nil, r.reject(fmt.Errorf("%s: at %d: %w", r.name, r.off, ErrTruncated))
		}
		at := r.off
		var h ChunkHeader
		if err := h.decode(r.hdrb[:]); err != nil {
			return nil, r.reject(fmt.Errorf("%s: at %d: %w", r.name, at, err))
		}
		r.off += int64(n)
		if want != nil && !want(&h) {
			if err := r.skip(int64(h.CompLen)); err != nil {
				return nil, r.reject(fmt.Errorf("%s: at %d: %w", r.name, at, ErrTruncated))
			}
			r.stats.ChunksSkipped++
			r.stats.Bytes += uint64(chunkHeaderLen) + uint64(h.CompLen)
			continue
		}
		if cap(r.comp) < int(h.CompLen) {
			r.comp = make([]byte, h.CompLen)
		}
		comp := r.comp[:h.CompLen]
		if _, err := io.ReadFull(r.br, comp); err != nil {
			return nil, r.reject(fmt.Errorf("%s: at %d: %w", r.name, at, ErrTruncated))
		}
		r.off += int64(h.CompLen)
		r.stats.Bytes += uint64(chunkHeaderLen) + uint64(h.CompLen)
		if crc32.Checksum(comp, castagnoli) != h.DataCRC {
			return nil, r.reject(fmt.Errorf("%s: at %d: %w: data CRC mismatch", r.name, at, ErrCorrupt))
		}
		if !decompress {
			return &Block{Hdr: h, Raw: comp, Meta: r.meta, File: r.name, Offset: at}, nil
		}
		if cap(dst) < int(h.RawLen)+chunkSlack {
			dst = make([]byte, 0, int(h.RawLen)+int(h.RawLen)/8+chunkSlack)
		}
		raw, err := r.dec.DecodeAll(comp, dst[:0])
		if err != nil || len(raw) != int(h.RawLen) {
			if err == nil {
				err = fmt.Errorf("%d bytes, header says %d", len(raw), h.RawLen)
			}
			return nil, r.reject(fmt.Errorf("%s: at %d: %w: %v", r.name, at, ErrCorrupt, err))
		}
		r.stats.Chunks++
		r.stats.RawBytes += uint64(len(raw))
		return &Block{Hdr: h, Raw: raw, Meta: r.meta, File: r.name, Offset: at}, nil
	}
}

// skip moves past n bytes of the current file: a seek when the file can
// (only the buffered part is discarded), a read otherwise.
func (r *Reader) skip(n int64) error {
	if b := int64(r.br.Buffered()); n > b && r.seek != nil {
		if _, err := r.br.Discard(int(b)); err != nil {
			return err
		}
		pos, err := r.seek.Seek(n-b, io.SeekCurrent)
		if err != nil {
			return err
		}
		end, err := r.seek.Seek(0, io.SeekEnd)
		if err != nil {
			return err
		}
		if pos > end {
			return io.ErrUnexpectedEOF
		}
		if _, err := r.seek.Seek(pos, io.SeekStart); err != nil {
			return err
		}
		r.br.Reset(r.rc)
		r.off += n
		return nil
	}
	if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
		return err
	}
	r.off += n
	return nil
}
