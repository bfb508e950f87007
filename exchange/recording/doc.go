// Package recording is arb's recording format: what the venue adapters
// received (exchange/tap events), written as received, with receive
// timestamps and venue and connection ids, to zstd-compressed, chunked,
// size- and time-rotated files that the backtest replays through the same
// adapters.
//
// # Files
//
// A recording is one or more files (parts) named
// <prefix>-<first record time, UTC>-<part>.arbrec, read in order. Each
// file is self-contained:
//
//	file   = header chunk*
//	header = "ARBREC" 0x1A version(1 byte, 1) metaLen(u32) metaCRC(u32) meta
//	chunk  = chunkHeader(48 bytes) zstd-frame
//
// meta is JSON (Meta): the format name and version, the recording's id
// and the file's part number, and the venues recorded — id, name, kind,
// channel, depth and the instruments with their venue symbols and scales —
// so a recording says what its streams are without the config that made
// it. Integers are little-endian; CRCs are CRC-32C (Castagnoli).
//
// chunkHeader, 48 bytes:
//
//	magic "ARC1" | hdrCRC u32 (of the next 40 bytes) | count u32 |
//	rawLen u32 | compLen u32 | dataCRC u32 (of the compressed bytes) |
//	minTS i64 | maxTS i64 | warmTS i64
//
// minTS and maxTS bound the receive times of the chunk's records, so a
// reader cuts by time by reading 48-byte headers and seeking past the
// chunks it does not need, without decompressing them. warmTS is the open
// time of the oldest connection still open when the chunk began: a book
// kept by diffs can only be rebuilt from its connection's start (its
// snapshot), so a cut at T keeps everything from the warmTS of T's chunk
// (see Cut) and marks T as where trading starts (Meta.TradeFrom).
//
// A chunk holds count records, one after the other, uncompressed:
//
//	kind u8 | venue u8 | conn uvarint | tsDelta varint | aux uvarint |
//	metaLen uvarint | meta | dataLen uvarint | data
//
// kind is a tap.Kind; tsDelta is the receive time (Unix ns) minus the
// previous record's in the chunk (the first's is its absolute time);
// aux, meta and data are the tap event's (for a frame: data is the message
// exactly as received). Record times are not monotonic across venues: each
// venue's reader stamps its own frames before the recorder orders them.
//
// Version 1 is the only version. A reader refuses any other, a bad magic,
// a CRC mismatch, a length past its cap (meta 1 MiB, a chunk 64 MiB raw
// or compressed), an unknown kind, a venue not in the meta, or a record
// that runs past its chunk: each is an error naming the file and offset,
// counted in ReaderStats, never a panic (FuzzReader). A file that ends
// inside a chunk (a recorder killed mid-write) reads up to its last whole
// chunk and then reports ErrTruncated.
//
// # Writing
//
// Writer implements tap.Sink. Tap appends the encoded record to the open
// chunk under a mutex (the adapters' readers call it concurrently); a
// chunk is sealed when it reaches ChunkBytes, spans ChunkEvery of record
// time, or has been open ChunkEvery of wall time, and handed to the
// writer's goroutine, which compresses it and appends it to the current
// file, starting a new part when the file reaches RotateBytes or spans
// RotateEvery. The hand-off queue is bounded (QueueChunks); when it is full
// Tap waits (counted in Stalls): a recording that dropped frames would be
// a recording of a market that never was.
package recording
