package backtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"arb/exchange/recording"
	"arb/exchange/tap"
)

// maxChunks bounds the chunks read and not recycled yet (sent, or in jobs
// on their way through the pipeline): the chunk buffers a replay holds,
// whatever the recording's length. The source keeps as many spare buffers,
// so a steady replay allocates none.
const maxChunks = 12

// source reads a recording's chunks on its own goroutine, one chunk ahead
// of the replay (decompression overlaps the replay of the chunk before),
// skipping by header the chunks that end before the warm-up start.
type source struct {
	blocks chan sourceItem
	free   chan []byte
	slots  chan struct{} // one per chunk read and not recycled yet
	cancel context.CancelFunc
	done   chan struct{}
	bytes  atomic.Uint64 // file bytes read so far (progress; any goroutine)
	total  int64         // bytes of all files (progress)
}

type sourceItem struct {
	b   *recording.Block
	err error
}

// Errors a recording may end with that the replay survives: the books are
// made stale where data is missing, and the report counts them.
func recoverable(err error) bool {
	return errors.Is(err, recording.ErrTruncated) || errors.Is(err, recording.ErrCorrupt)
}

func openSource(ctx context.Context, paths []string, from int64) (*source, error) {
	var total int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		total += fi.Size()
	}
	r, err := recording.Open(paths...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &source{blocks: make(chan sourceItem, 2), free: make(chan []byte, maxChunks), slots: make(chan struct{}, maxChunks),
		cancel: cancel, done: make(chan struct{}), total: total}
	var want func(*recording.ChunkHeader) bool
	if from != 0 {
		want = func(h *recording.ChunkHeader) bool { return h.MaxTS >= from }
	}
	go func() {
		defer close(s.done)
		defer close(s.blocks)
		defer r.Close()
		for {
			select {
			case s.slots <- struct{}{}: // a chunk may be read: fewer than maxChunks are out
			case <-ctx.Done():
				return
			}
			var buf []byte
			select {
			case buf = <-s.free:
			default:
			}
			b, err := r.NextChunk(buf, want)
			s.bytes.Store(r.Stats().Bytes)
			if err == io.EOF {
				return
			}
			if b == nil {
				<-s.slots // an error: no chunk to recycle
			}
			select {
			case s.blocks <- sourceItem{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil && !recoverable(err) {
				return
			}
		}
	}()
	return s, nil
}

// recycle returns a block's buffer for the next chunk.
func (s *source) recycle(b *recording.Block) {
	select {
	case s.free <- b.Raw:
	default:
	}
	<-s.slots
}

func (s *source) close() {
	s.cancel()
	for range s.blocks {
	}
	<-s.done
}

// preamble reads the start of a recording for what must be known before
// the replay begins: the first file's meta, and the REST replies recorded
// at start-up (the instruments endpoint), up to the first connection.
type preamble struct {
	meta *recording.Meta
	rest map[uint8][]restReply // by recorded venue id
	// first and last bound the receive times (from the chunk headers).
	first, last int64
}

type restReply struct {
	url    string
	status int
	body   []byte
}

func readPreamble(paths []string) (*preamble, error) {
	r, err := recording.Open(paths...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := &preamble{rest: map[uint8][]restReply{}}
	done := false
	// want sees the header of every chunk, read or skipped: hdrFirst and
	// hdrLast bound them all.
	var hdrFirst, hdrLast int64
	seen, damaged := false, false
	want := func(h *recording.ChunkHeader) bool {
		if !seen {
			hdrFirst, hdrLast, seen = h.MinTS, h.MaxTS, true
		}
		hdrFirst, hdrLast = min(hdrFirst, h.MinTS), max(hdrLast, h.MaxTS)
		return !done
	}
	for {
		b, err := r.NextChunk(nil, want)
		if err == io.EOF {
			break
		}
		if err != nil {
			if recoverable(err) {
				damaged = true
				continue
			}
			return nil, err
		}
		if p.meta == nil {
			p.meta = b.Meta
			p.first = b.Hdr.MinTS
		}
		p.first, p.last = min(p.first, b.Hdr.MinTS), max(p.last, b.Hdr.MaxTS)
		if err := b.Records(func(rec *recording.Record) bool {
			switch rec.Kind {
			case tap.KindREST:
				p.rest[rec.Venue] = append(p.rest[rec.Venue], restReply{string(rec.Meta), int(rec.Aux), append([]byte(nil), rec.Data...)})
			case tap.KindOpen, tap.KindFrame:
				done = true
				return false
			}
			return true
		}); err != nil {
			return nil, err
		}
	}
	if p.meta == nil {
		return nil, errors.New("backtest: the recording holds no chunk")
	}
	// The skipped chunks' headers give the rest of the time range. With no
	// damaged chunk the pass above saw every header; after one, a pass of
	// headers alone (which reads no chunk, so skips damaged data chunk by
	// chunk) reads further into the damaged file.
	if st := r.Stats(); st.ChunksSkipped > 0 {
		if !damaged {
			p.first, p.last = min(p.first, hdrFirst), max(p.last, hdrLast)
			return p, nil
		}
		r2, err := recording.Open(paths...)
		if err != nil {
			return nil, err
		}
		defer r2.Close()
		for {
			_, err := r2.NextChunk(nil, func(h *recording.ChunkHeader) bool {
				p.first, p.last = min(p.first, h.MinTS), max(p.last, h.MaxTS)
				return false
			})
			if err == io.EOF {
				break
			}
			if err != nil && !recoverable(err) {
				return nil, err
			}
		}
	}
	return p, nil
}

// restTransport answers GETs from recorded REST replies, matched by path
// and query, so the daemon's own instruments code parses exactly what the
// venue answered.
type restTransport struct {
	replies []restReply
}

func (t *restTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, r := range t.replies {
		u, err := url.Parse(r.url)
		if err != nil {
			continue
		}
		if u.Path == req.URL.Path && u.RawQuery == req.URL.RawQuery {
			return &http.Response{StatusCode: r.status, Status: http.StatusText(r.status), Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(string(r.body))), Request: req, ContentLength: int64(len(r.body))}, nil
		}
	}
	return nil, fmt.Errorf("backtest: the recording has no reply for %s", req.URL.RequestURI())
}

// baseURL is the scheme and host of a recorded URL.
func baseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "http://replay.invalid"
	}
	return u.Scheme + "://" + u.Host
}

func httpClient(replies []restReply) *http.Client {
	return &http.Client{Transport: &restTransport{replies: replies}}
}
