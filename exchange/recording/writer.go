package recording

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"arb/exchange"
	"arb/exchange/tap"
)

// WriterConfig configures a Writer.
type WriterConfig struct {
	// Dir receives the files; it is created if missing.
	Dir string
	// Prefix starts every file name; default "rec".
	Prefix string
	// Meta describes the venues recorded (Format, Version, Recording and
	// Part are filled in by the writer).
	Meta Meta
	// ChunkBytes seals a chunk once its raw records reach this size;
	// default 1 MiB.
	ChunkBytes int
	// ChunkEvery seals a chunk spanning this much record time, or open
	// this long by the wall clock (so a crash loses at most about this
	// much); default 1s.
	ChunkEvery time.Duration
	// RotateBytes starts a new file once the current one reaches this many
	// bytes; default 256 MiB.
	RotateBytes int64
	// RotateEvery starts a new file once the current one spans this much
	// record time; default 1h. 0 after defaults is not possible; a
	// negative value disables time rotation.
	RotateEvery time.Duration
	// Level is the zstd level; default zstd.SpeedDefault.
	Level zstd.EncoderLevel
	// QueueChunks bounds the sealed chunks waiting for compression;
	// default 16.
	QueueChunks int
	// Logger receives rotations and errors; nil discards.
	Logger *slog.Logger
}

func (c *WriterConfig) defaults() {
	if c.Prefix == "" {
		c.Prefix = "rec"
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 1 << 20
	}
	if c.ChunkEvery <= 0 {
		c.ChunkEvery = time.Second
	}
	if c.RotateBytes <= 0 {
		c.RotateBytes = 256 << 20
	}
	if c.RotateEvery == 0 {
		c.RotateEvery = time.Hour
	}
	if c.Level == 0 {
		c.Level = zstd.SpeedDefault
	}
	if c.QueueChunks <= 0 {
		c.QueueChunks = 16
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// WriterStats are a Writer's counters (safe from any goroutine).
type WriterStats struct {
	Records    atomic.Uint64 // records written
	RawBytes   atomic.Uint64 // record bytes before compression
	Bytes      atomic.Uint64 // bytes written to files (headers included)
	Chunks     atomic.Uint64
	Files      atomic.Uint64
	Stalls     atomic.Uint64 // Tap calls that waited for the compressor
	PerKind    [tap.NumKinds]atomic.Uint64
	LastTS     atomic.Int64 // receive time of the latest record
	WriteError atomic.Bool  // a write failed: the recording stopped
}

type sealed struct {
	hdr ChunkHeader
	raw []byte
}

// Writer writes a recording; it implements tap.Sink. Tap is safe from any
// goroutine; Close once at the end.
type Writer struct {
	cfg   WriterConfig
	stats WriterStats

	mu      sync.Mutex
	buf     []byte
	hdr     ChunkHeader
	prev    int64 // previous record's time in the open chunk
	opened  time.Time
	conns   map[connKey]int64 // open connections → open time
	closed  bool
	queue   chan sealed
	free    chan []byte
	done    chan struct{}
	err     error // first write error (writer goroutine), read after done
	files   []string
	filesMu sync.Mutex
}

type connKey struct {
	venue uint8
	conn  uint64
}

var _ tap.Sink = (*Writer)(nil)

// NewWriter creates cfg.Dir and starts the writer's goroutine; the first
// file is created with the first chunk.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	cfg.defaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	cfg.Meta.Format, cfg.Meta.Version = "arbrec", Version
	if cfg.Meta.Recording == "" {
		var r [4]byte
		_, _ = rand.Read(r[:])
		cfg.Meta.Recording = time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(r[:])
	}
	if err := cfg.Meta.validate(); err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, conns: map[connKey]int64{},
		queue: make(chan sealed, cfg.QueueChunks), free: make(chan []byte, cfg.QueueChunks+2), done: make(chan struct{})}
	w.buf = make([]byte, 0, cfg.ChunkBytes+cfg.ChunkBytes/4)
	go w.run()
	return w, nil
}

// Stats returns the writer's counters.
func (w *Writer) Stats() *WriterStats { return &w.stats }

// Files returns the files written so far.
func (w *Writer) Files() []string {
	w.filesMu.Lock()
	defer w.filesMu.Unlock()
	return append([]string(nil), w.files...)
}

// Tap implements tap.Sink: it appends one record to the open chunk.
func (w *Writer) Tap(kind tap.Kind, venue exchange.VenueID, conn uint64, ts int64, aux uint32, meta, data []byte) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if w.hdr.Count == 0 {
		w.startChunk(ts)
	}
	if ts < w.hdr.MinTS {
		w.hdr.MinTS = ts
	}
	if ts > w.hdr.MaxTS {
		w.hdr.MaxTS = ts
	}
	prev := w.prev
	if w.hdr.Count == 0 {
		prev = 0 // the first record carries its absolute time
	}
	w.buf = appendRecord(w.buf, kind, uint8(venue), conn, ts, prev, aux, meta, data)
	w.prev = ts
	w.hdr.Count++
	switch kind {
	case tap.KindOpen:
		w.conns[connKey{uint8(venue), conn}] = ts
	case tap.KindClose:
		delete(w.conns, connKey{uint8(venue), conn})
	}
	w.stats.Records.Add(1)
	w.stats.PerKind[kind].Add(1)
	w.stats.LastTS.Store(ts)
	if len(w.buf) >= w.cfg.ChunkBytes || w.hdr.MaxTS-w.hdr.MinTS >= int64(w.cfg.ChunkEvery) {
		w.seal()
	}
	w.mu.Unlock()
}

// startChunk opens a chunk whose first record is at ts (mu held).
func (w *Writer) startChunk(ts int64) {
	w.hdr = ChunkHeader{MinTS: ts, MaxTS: ts, WarmTS: ts}
	for _, open := range w.conns {
		if open < w.hdr.WarmTS {
			w.hdr.WarmTS = open
		}
	}
	w.prev = ts
	w.opened = time.Now()
}

// seal hands the open chunk to the writer goroutine (mu held). It waits
// when the queue is full.
func (w *Writer) seal() {
	if w.hdr.Count == 0 {
		return
	}
	s := sealed{hdr: w.hdr, raw: w.buf}
	select {
	case w.queue <- s:
	default:
		w.stats.Stalls.Add(1)
		w.queue <- s
	}
	select {
	case b := <-w.free:
		w.buf = b[:0]
	default:
		w.buf = make([]byte, 0, w.cfg.ChunkBytes+w.cfg.ChunkBytes/4)
	}
	w.hdr = ChunkHeader{}
}

// Flush seals the open chunk now (the writer goroutine writes it soon).
func (w *Writer) Flush() {
	w.mu.Lock()
	if !w.closed {
		w.seal()
	}
	w.mu.Unlock()
}

// Close seals the last chunk, waits for everything to be written and
// closes the file. Taps after Close are ignored.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return w.err
	}
	w.seal()
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	<-w.done
	return w.err
}

// run compresses sealed chunks and writes them, rotating files; it also
// seals a chunk that has been open ChunkEvery by the wall clock.
func (w *Writer) run() {
	defer close(w.done)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(w.cfg.Level), zstd.WithEncoderConcurrency(1))
	if err != nil {
		w.err = err
		for range w.queue {
		}
		return
	}
	defer enc.Close()
	var (
		f          *os.File
		size       int64
		fileMin    int64
		comp       []byte
		hdrb       [chunkHeaderLen]byte
		part       int
		tick       = time.NewTicker(w.cfg.ChunkEvery / 2)
		writeError = func(err error) {
			if w.err == nil {
				w.err = fmt.Errorf("recording: %w", err)
				w.stats.WriteError.Store(true)
				w.cfg.Logger.Error("recording write failed; recording stopped", "err", err)
			}
		}
	)
	defer tick.Stop()
	closeFile := func() {
		if f == nil {
			return
		}
		if err := f.Sync(); err != nil {
			writeError(err)
		}
		if err := f.Close(); err != nil {
			writeError(err)
		}
		f = nil
	}
	defer closeFile()
	for {
		var s sealed
		var ok bool
		select {
		case s, ok = <-w.queue:
			if !ok {
				return
			}
		case <-tick.C:
			// TryLock: a Tap holding mu may be waiting for this goroutine
			// to take a chunk off the full queue.
			if !w.mu.TryLock() {
				continue
			}
			if !w.closed && w.hdr.Count > 0 && time.Since(w.opened) >= w.cfg.ChunkEvery {
				w.seal()
			}
			w.mu.Unlock()
			continue
		}
		if w.err != nil {
			continue // drain: nothing more is written after a failure
		}
		if f != nil && (size >= w.cfg.RotateBytes || (w.cfg.RotateEvery > 0 && s.hdr.MaxTS-fileMin >= int64(w.cfg.RotateEvery))) {
			closeFile()
			part++
		}
		if f == nil {
			name := filepath.Join(w.cfg.Dir, fmt.Sprintf("%s-%s-%04d%s", w.cfg.Prefix,
				time.Unix(0, s.hdr.MinTS).UTC().Format("20060102T150405Z"), part, Ext))
			var err error
			if f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
				writeError(err)
				continue
			}
			meta := w.cfg.Meta
			meta.Part = part
			hb, err := fileHeader(&meta)
			if err == nil {
				_, err = f.Write(hb)
			}
			if err != nil {
				writeError(err)
				continue
			}
			size, fileMin = int64(len(hb)), s.hdr.MinTS
			w.stats.Files.Add(1)
			w.stats.Bytes.Add(uint64(len(hb)))
			w.filesMu.Lock()
			w.files = append(w.files, name)
			w.filesMu.Unlock()
			w.cfg.Logger.Info("recording file started", "file", name, "part", part)
		}
		comp = enc.EncodeAll(s.raw, comp[:0])
		s.hdr.RawLen, s.hdr.CompLen = uint32(len(s.raw)), uint32(len(comp))
		s.hdr.DataCRC = crc32.Checksum(comp, castagnoli)
		s.hdr.encode(hdrb[:])
		if _, err := f.Write(hdrb[:]); err != nil {
			writeError(err)
			continue
		}
		if _, err := f.Write(comp); err != nil {
			writeError(err)
			continue
		}
		size += int64(chunkHeaderLen + len(comp))
		w.stats.Chunks.Add(1)
		w.stats.RawBytes.Add(uint64(len(s.raw)))
		w.stats.Bytes.Add(uint64(chunkHeaderLen + len(comp)))
		select {
		case w.free <- s.raw:
		default:
		}
	}
}

// fileHeader encodes a file's header with meta.
func fileHeader(meta *Meta) ([]byte, error) {
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	if len(mb) > MaxMeta {
		return nil, errors.New("recording: meta too large")
	}
	b := make([]byte, fileHeaderLen, fileHeaderLen+len(mb))
	copy(b, fileMagic)
	b[7] = Version
	binary.LittleEndian.PutUint32(b[8:], uint32(len(mb)))
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(mb, castagnoli))
	return append(b, mb...), nil
}
