package recording

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// CutStats says what Cut did.
type CutStats struct {
	WarmFrom        int64  // where the output starts (≤ from): the warm-up for the books
	ChunksCopied    uint64 // chunks copied verbatim (no decompression)
	ChunksRewritten uint64 // boundary chunks decoded, filtered and compressed again
	ChunksSkipped   uint64
	Records         uint64 // records written
}

// Cut writes to out one file holding the records of the recording in
// paths (its parts, in order) received in [from, to] (Unix ns), preceded
// by what rebuilding the books at from needs: every record since warmTS of
// the chunk where from falls — the open time of the oldest connection
// still open then, since a book kept by diffs can only be rebuilt from its
// connection's start. The output's meta has TradeFrom = from, so a
// backtest trades only from there. Chunks wholly inside the kept range are
// copied without being decompressed; the chunks at the two ends are
// decoded, filtered and compressed again. Every input must be a part of
// one recording.
func Cut(out string, from, to int64, paths ...string) (CutStats, error) {
	var st CutStats
	if from > to {
		return st, errors.New("recording: cut: from is after to")
	}
	// Pass 1: headers only, to find the warm-up start.
	r, err := Open(paths...)
	if err != nil {
		return st, err
	}
	warm, found := int64(0), false
	var meta Meta
	for !found {
		b, err := r.nextChunk(nil, nil, false)
		if err == io.EOF {
			break
		}
		if err != nil {
			r.Close()
			return st, err
		}
		if meta.Recording == "" {
			meta = *b.Meta
		} else if b.Meta.Recording != meta.Recording {
			r.Close()
			return st, fmt.Errorf("recording: cut: %s is part of recording %s, not %s", b.File, b.Meta.Recording, meta.Recording)
		}
		if b.Hdr.MaxTS >= from {
			warm, found = min(b.Hdr.WarmTS, from), true
		}
	}
	r.Close()
	if !found {
		return st, fmt.Errorf("recording: cut: nothing was received at or after %d", from)
	}
	st.WarmFrom = warm

	// Pass 2: copy.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return st, fmt.Errorf("recording: cut: %w", err)
	}
	fail := func(err error) (CutStats, error) {
		f.Close()
		os.Remove(out)
		return st, err
	}
	meta.Part, meta.TradeFrom = 0, from
	meta.Recording += "-cut"
	hb, err := fileHeader(&meta)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Write(hb); err != nil {
		return fail(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return fail(err)
	}
	defer enc.Close()
	r, err = Open(paths...)
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	var hdrb [chunkHeaderLen]byte
	var raw, kept []byte
	write := func(h ChunkHeader, comp []byte) error {
		h.CompLen, h.DataCRC = uint32(len(comp)), crc32.Checksum(comp, castagnoli)
		h.encode(hdrb[:])
		if _, err := f.Write(hdrb[:]); err != nil {
			return err
		}
		_, err := f.Write(comp)
		return err
	}
	for {
		b, err := r.nextChunk(nil, nil, false)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		h := b.Hdr
		switch {
		case h.MaxTS < warm || h.MinTS > to:
			st.ChunksSkipped++
			continue
		case h.MinTS >= warm && h.MaxTS <= to:
			if err := write(h, b.Raw); err != nil {
				return fail(err)
			}
			st.ChunksCopied++
			st.Records += uint64(h.Count)
			continue
		}
		// A boundary chunk: keep the records inside [warm, to].
		if raw, err = r.dec.DecodeAll(b.Raw, raw[:0]); err != nil || len(raw) != int(h.RawLen) {
			return fail(fmt.Errorf("%s: at %d: %w", b.File, b.Offset, ErrCorrupt))
		}
		blk := Block{Hdr: h, Raw: raw, Meta: b.Meta, File: b.File, Offset: b.Offset}
		kept = kept[:0]
		nh := ChunkHeader{WarmTS: h.WarmTS}
		var prev int64
		err = blk.Records(func(rec *Record) bool {
			if rec.TS < warm || rec.TS > to {
				return true
			}
			if nh.Count == 0 {
				nh.MinTS, nh.MaxTS, prev = rec.TS, rec.TS, 0
			}
			nh.MinTS, nh.MaxTS = min(nh.MinTS, rec.TS), max(nh.MaxTS, rec.TS)
			kept = appendRecord(kept, rec.Kind, rec.Venue, rec.Conn, rec.TS, prev, rec.Aux, rec.Meta, rec.Data)
			prev = rec.TS
			nh.Count++
			return true
		})
		if err != nil {
			return fail(err)
		}
		if nh.Count == 0 {
			st.ChunksSkipped++
			continue
		}
		nh.RawLen = uint32(len(kept))
		if err := write(nh, enc.EncodeAll(kept, nil)); err != nil {
			return fail(err)
		}
		st.ChunksRewritten++
		st.Records += uint64(nh.Count)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(out)
		return st, err
	}
	return st, nil
}
