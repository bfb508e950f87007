package bybit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"arb/exchange/internal/jsonscan"
)

// orderSlot holds everything one order request needs, allocated once: the
// body and WS message buffers, the signer (its keyed HMAC state), a
// POST /v5/order/create request whose header map and body reader are
// reused, the answer buffer, a scanner, and the WS reply hand-off. A slot
// belongs to one request at a time: taken from Client.slots, returned when
// the request is over. With a REST request that is when both the call is
// over and the transport closed the body (it may close it from its own
// goroutine after Do returned, still holding the bytes): refs counts the
// holders — 1 for the call from take to release, +1 while the transport
// holds the body.
type orderSlot struct {
	c     *Client
	idx   int
	sg    *signer
	body  []byte
	msg   []byte
	resp  []byte
	hdr   []byte
	scan  jsonscan.Scanner
	req   *http.Request
	tsV   []string // the request's X-Bapi-Timestamp value slice
	signV []string // the request's X-Bapi-Sign value slice
	rd    slotBody
	refs  atomic.Int32

	// WS order entry: the reader goroutine hands the reply over here.
	wmu     sync.Mutex
	seq     uint64 // of the current request; a reply must carry it
	pending bool
	reply   []byte
	done    chan struct{}
	lost    bool // the socket dropped while the request was pending
	reqID   []byte
}

// slotBody is the reusable request body: a bytes.Reader over the slot's
// body whose Close (by the transport) releases the slot's second ref.
type slotBody struct {
	s      *orderSlot
	r      bytes.Reader
	closed atomic.Bool
}

func (b *slotBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close implements io.Closer; only the first Close of a use counts.
func (b *slotBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.s.release()
	}
	return nil
}

func (c *Client) newSlot(i int) *orderSlot {
	s := &orderSlot{
		c:     c,
		idx:   i,
		sg:    newSigner(&c.cfg.Credentials, c.rwStr),
		body:  make([]byte, 0, 512),
		msg:   make([]byte, 0, 768),
		resp:  make([]byte, 0, 4096),
		hdr:   make([]byte, 0, 96),
		reply: make([]byte, 0, 1024),
		done:  make(chan struct{}, 1),
		reqID: make([]byte, 0, 36),
	}
	s.rd.s = s
	req, err := http.NewRequest(http.MethodPost, c.cfg.RESTURL+"/v5/order/create", nil)
	if err != nil {
		panic(err) // RESTURL was validated
	}
	s.tsV, s.signV = []string{""}, []string{""}
	req.Header = http.Header{
		"Content-Type":                            {"application/json"},
		http.CanonicalHeaderKey(HeaderAPIKey):     {c.cfg.Credentials.key},
		http.CanonicalHeaderKey(HeaderRecvWindow): {c.rwStr},
		http.CanonicalHeaderKey(HeaderTimestamp):  s.tsV,
		http.CanonicalHeaderKey(HeaderSign):       s.signV,
	}
	req.Body = &s.rd
	req.GetBody = func() (io.ReadCloser, error) {
		// Called by the transport, inside Do, to resend a request that
		// wrote nothing on a connection that turned out dead: a copy, so
		// the slot's buffer is never read after the slot is released.
		return io.NopCloser(bytes.NewReader(bytes.Clone(s.body))), nil
	}
	s.req = req
	return s
}

// restRequest returns the slot's create request, signed for tsMs, with ctx.
// The one allocation is the header strings (http.Header holds strings) —
// the timestamp and the signature share one — besides WithContext's copy
// of the request, which net/http needs to carry ctx. It takes the body's
// ref: call it once per slot use (a resend builds its own request).
func (s *orderSlot) restRequest(ctx context.Context, tsMs int64) *http.Request {
	s.refs.Add(1)
	sig := s.sg.sign(tsMs, s.body)
	h := strconv.AppendInt(s.hdr[:0], tsMs, 10)
	n := len(h)
	h = append(h, sig...)
	s.hdr = h
	str := string(h)
	s.tsV[0], s.signV[0] = str[:n], str[n:]
	s.rd.r.Reset(s.body)
	s.rd.closed.Store(false)
	req := s.req.WithContext(ctx)
	req.ContentLength = int64(len(s.body))
	return req
}

// take waits for a free slot.
func (c *Client) take(ctx context.Context) (*orderSlot, error) {
	select {
	case s := <-c.slots:
		s.refs.Store(1)
		return s, nil
	default:
	}
	select {
	case s := <-c.slots:
		s.refs.Store(1)
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release drops one ref; the last returns the slot to the pool.
func (s *orderSlot) release() {
	if s.refs.Add(-1) == 0 {
		s.c.slots <- s
	}
}
