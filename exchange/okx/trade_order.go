package okx

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"arb/exchange"
	"arb/exchange/num"
)

// Request paths of the trading client.
const (
	pathPlaceOrder    = "/api/v5/trade/order"
	pathCancelOrder   = "/api/v5/trade/cancel-order"
	pathOrder         = "/api/v5/trade/order"
	pathOrdersPending = "/api/v5/trade/orders-pending"
	pathFills         = "/api/v5/trade/fills"
	pathFillsHistory  = "/api/v5/trade/fills-history"
	pathBalance       = "/api/v5/account/balance"
	pathTime          = "/api/v5/public/time"
)

// httpMethod is a method as net/http takes it and as it is signed.
type httpMethod struct {
	s string
	b []byte
}

var (
	methodGET  = httpMethod{"GET", []byte("GET")}
	methodPOST = httpMethod{"POST", []byte("POST")}
)

// tradeInst is one configured instrument with what the order path needs
// precomputed: its filters, its WS instIdCode and the fixed parts of its
// order bodies.
type tradeInst struct {
	exchange.Instrument
	code       atomic.Int64 // OKX instIdCode for WS order entry; 0 = unknown (REST only)
	restPrefix []byte       // {"instId":"BTC-USDT","tdMode":"cash","clOrdId":"
	// gate budgets (indexes into the client's gate.Config.Budgets)
	bPlace, bCancel, bQuery int
}

// rounded is an order after rounding to the venue's grid.
type rounded struct {
	px  num.Price
	qty num.Qty
}

// Rounding and filter refusals (KindRejected, nothing sent).
const (
	rejNonPositive = "price and quantity must be positive"
	rejBelowMinQty = "quantity below the venue's minimum after rounding to its step"
	rejNotional    = "notional below the venue's minimum"
	rejPriceRange  = "price out of range after rounding to the tick"
	rejTIF         = "time in force must be IOC, FOK or GTC"
	rejClientID    = "client order id must be 1-32 letters and digits"
	rejSide        = "side must be buy or sell"
)

// roundOrder brings req onto the instrument's grid, never against the
// request: a buy limit rounds down to the tick, a sell limit up, the
// quantity down to the step; then checks the minimum quantity and
// notional. It returns "" or the reason for refusing. The arithmetic is
// exact integer arithmetic in the instrument's scale, where tick and step
// are integers (FetchInstruments refuses filters finer than the scale);
// TestRoundMatchesDecimal checks it against shopspring/decimal.
func roundOrder(in *exchange.Instrument, side exchange.Side, px num.Price, qty num.Qty) (rounded, string) {
	if px <= 0 || qty <= 0 {
		return rounded{}, rejNonPositive
	}
	p := int64(px)
	switch side {
	case exchange.Buy:
		p = num.FloorTo(p, int64(in.Tick))
	case exchange.Sell:
		if in.Tick > 0 && p > (1<<63-1)-int64(in.Tick) {
			return rounded{}, rejPriceRange
		}
		p = num.CeilTo(p, int64(in.Tick))
	default:
		return rounded{}, rejSide
	}
	if p <= 0 {
		return rounded{}, rejPriceRange
	}
	q := num.FloorTo(int64(qty), int64(in.Step))
	if q <= 0 || q < int64(in.MinQty) {
		return rounded{}, rejBelowMinQty
	}
	if in.MinNotional > 0 {
		n, ok := num.Notional(num.Price(p), num.Qty(q), in.Scale)
		if ok && n < in.MinNotional {
			return rounded{}, rejNotional
		}
	}
	return rounded{px: num.Price(p), qty: num.Qty(q)}, ""
}

// ordType is OKX's ordType for a time in force ("" if none).
func ordType(t exchange.TimeInForce) string {
	switch t {
	case exchange.IOC:
		return "ioc"
	case exchange.FOK:
		return "fok"
	case exchange.GTC:
		return "limit"
	}
	return ""
}

// appendOrderTail appends the client id, side, type, price and size and
// closes the order object: `<clid>","side":"buy","ordType":"ioc","px":"…","sz":"…"}`.
func appendOrderTail(b []byte, in *tradeInst, clid *exchange.ID, side exchange.Side, typ string, r rounded) []byte {
	b = clid.AppendTo(b)
	if side == exchange.Buy {
		b = append(b, `","side":"buy","ordType":"`...)
	} else {
		b = append(b, `","side":"sell","ordType":"`...)
	}
	b = append(b, typ...)
	b = append(b, `","px":"`...)
	b = num.AppendTrim(b, int64(r.px), in.Scale.Px)
	b = append(b, `","sz":"`...)
	b = num.AppendTrim(b, int64(r.qty), in.Scale.Qty)
	return append(b, `"}`...)
}

// appendRESTOrder appends the POST /api/v5/trade/order body:
// {"instId":"BTC-USDT","tdMode":"cash","clOrdId":"…","side":"buy","ordType":"ioc","px":"…","sz":"…"}.
// tdMode "cash" is a spot order without margin.
func appendRESTOrder(b []byte, in *tradeInst, clid *exchange.ID, side exchange.Side, typ string, r rounded) []byte {
	b = append(b, in.restPrefix...)
	return appendOrderTail(b, in, clid, side, typ, r)
}

// appendWSOrder appends the WebSocket order request:
// {"id":"<id>","op":"order","expTime":"<ms>","args":[{"instIdCode":<code>,"tdMode":"cash","clOrdId":…}]}.
// Since OKX's 2026 change the WS order operations ignore instId and take
// instIdCode. expMillis 0 leaves expTime out.
func appendWSOrder(b []byte, reqID uint64, expMillis int64, code int64, in *tradeInst, clid *exchange.ID, side exchange.Side, typ string, r rounded) []byte {
	b = append(b, `{"id":"`...)
	b = strconv.AppendUint(b, reqID, 10)
	b = append(b, `","op":"order",`...)
	if expMillis > 0 {
		b = append(b, `"expTime":"`...)
		b = strconv.AppendInt(b, expMillis, 10)
		b = append(b, `",`...)
	}
	b = append(b, `"args":[{"instIdCode":`...)
	b = strconv.AppendInt(b, code, 10)
	b = append(b, `,"tdMode":"cash","clOrdId":"`...)
	b = appendOrderTail(b, in, clid, side, typ, r)
	return append(b, "]}"...)
}

// appendCancel appends the POST /api/v5/trade/cancel-order body.
func appendCancel(b []byte, in *tradeInst, clid *exchange.ID) []byte {
	b = append(b, `{"instId":"`...)
	b = append(b, in.Symbol...)
	b = append(b, `","clOrdId":"`...)
	b = clid.AppendTo(b)
	return append(b, `"}`...)
}

// appendISO appends t as OK-ACCESS-TIMESTAMP (ISO-8601 UTC, milliseconds:
// 2020-12-08T09:08:57.715Z) without time.Format's allocation.
func appendISO(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, int(mo))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, h)
	b = append(b, ':')
	b = append2(b, mi)
	b = append(b, ':')
	b = append2(b, s)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

func append4(b []byte, v int) []byte {
	if v < 0 || v > 9999 { // outside ISO's four digits: let the venue refuse it
		return strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// signer computes OK-ACCESS-SIGN into a reused buffer: base64 of
// HMAC-SHA256(secret, timestamp + METHOD + requestPath + body), streaming
// the parts into the MAC (no prehash string). Not safe for concurrent use:
// each orderBuf owns one.
type signer struct {
	mac hash.Hash
	sum [sha256.Size]byte
	sig [44]byte // base64 of 32 bytes
}

func newSigner(secret string) *signer { return &signer{mac: hmac.New(sha256.New, []byte(secret))} }

// sign returns the signature; it aliases s and is valid until the next call.
func (s *signer) sign(ts, method, path, body []byte) []byte {
	s.mac.Reset()
	s.mac.Write(ts)
	s.mac.Write(method)
	s.mac.Write(path)
	s.mac.Write(body)
	base64.StdEncoding.Encode(s.sig[:], s.mac.Sum(s.sum[:0]))
	return s.sig[:]
}

// orderBuf is the reusable per-request state of the order path: request
// bytes, signature, and the reply parser. Pooled; a buffer whose request
// may still be in flight in net/http (an error before the reply was read)
// is dropped instead of returned, so a late write never reads reused bytes.
type orderBuf struct {
	sg   *signer
	ts   []byte // timestamp
	path []byte // request path + query
	body []byte
	resp []byte // reply body
	exp  []byte // expTime header value
	env  *envelope
	raw  bool // the caller parses the reply itself (do skips the envelope)

	// The request template of the fixed endpoints (place, cancel): a
	// request is a shallow copy of tmpl with the caller's context, sharing
	// the header map and body reader, which are reused only after the
	// round trip completed (see recycle in Client.call).
	url     *url.URL // set by the caller for a fixed endpoint; nil builds the URL from path
	tmpl    http.Request
	hdr     http.Header
	rc      bodyReader
	getBody func() (io.ReadCloser, error)
	hSig    []string
	hTS     []string
	hExp    []string
}

// bodyReader is a reusable request body.
type bodyReader struct{ bytes.Reader }

// Close implements io.Closer.
func (*bodyReader) Close() error { return nil }

func newOrderBuf(secret string) *orderBuf {
	b := &orderBuf{
		sg:   newSigner(secret),
		ts:   make([]byte, 0, 32),
		exp:  make([]byte, 0, 16),
		path: make([]byte, 0, 256),
		body: make([]byte, 0, 512),
		resp: make([]byte, 0, 4096),
		env:  newEnvelope(4, 0),
		hdr:  make(http.Header, 8),
		hSig: make([]string, 1),
		hTS:  make([]string, 1),
		hExp: make([]string, 1),
	}
	// A retry by net/http (nothing was written yet) reads the body again.
	b.getBody = func() (io.ReadCloser, error) {
		r := &bodyReader{}
		r.Reset(b.body)
		return r, nil
	}
	return b
}
