package bybit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"arb/exchange/internal/jsonscan"
)

// orderSlot holds everything one order request needs, allocated once: the
// body and WS message buffers, the signer (its keyed HMAC state), a
// POST /v5/order/create request whose header map and body reader are
// reused, the answer buffer, a scanner, and the WS reply hand-off. A slot
// belongs to one PlaceOrder at a time: taken from Client.slots, returned
// when the call is over.
//
// The REST body is an io.NopCloser over a bytes.Reader, which net/http
// recognises as an in-memory body: it writes the headers and the body in
// one write (a custom reader makes it flush the headers first — a second
// system call — and copy the body through a fresh buffer). The slot's
// buffer is rewritten only by the next PlaceOrder that takes the slot,
// after Do returned and the answer was read to its end; by then the
// HTTP/1.1 transport has finished writing the request (it waits for the
// write before handing over the end of the answer). A transport that
// could still be writing — the venue answered before reading the body,
// which it does only to refuse on the headers (auth, limits) — would send
// bytes the venue has already answered for.
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
	rd    bytes.Reader

	// WS order entry: the reader goroutine hands the reply over here.
	wmu     sync.Mutex
	seq     uint64 // of the current request; a reply must carry it
	pending bool
	reply   []byte
	done    chan struct{}
	lost    bool // the socket dropped while the request was pending
	reqID   []byte
	timer   *time.Timer // bounds the wait for a reply (reused)
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
		timer: time.NewTimer(time.Hour),
	}
	s.timer.Stop()
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
	req.Body = io.NopCloser(&s.rd)
	req.GetBody = func() (io.ReadCloser, error) {
		// Called by the transport, inside Do, to resend a request that
		// wrote nothing on a connection that turned out dead: a copy, so
		// no reader of the slot's buffer outlives the call.
		return io.NopCloser(bytes.NewReader(bytes.Clone(s.body))), nil
	}
	s.req = req
	return s
}

// restRequest returns the slot's create request, signed for tsMs, with ctx.
// The one allocation is the header strings (http.Header holds strings) —
// the timestamp and the signature share one — besides WithContext's copy
// of the request, which net/http needs to carry ctx.
func (s *orderSlot) restRequest(ctx context.Context, tsMs int64) *http.Request {
	sig := s.sg.sign(tsMs, s.body)
	h := strconv.AppendInt(s.hdr[:0], tsMs, 10)
	n := len(h)
	h = append(h, sig...)
	s.hdr = h
	str := string(h)
	s.tsV[0], s.signV[0] = str[:n], str[n:]
	s.rd.Reset(s.body)
	req := s.req.WithContext(ctx)
	req.ContentLength = int64(len(s.body))
	return req
}

// take waits for a free slot.
func (c *Client) take(ctx context.Context) (*orderSlot, error) {
	select {
	case s := <-c.slots:
		return s, nil
	default:
	}
	select {
	case s := <-c.slots:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release returns the slot to the pool.
func (s *orderSlot) release() { s.c.slots <- s }
