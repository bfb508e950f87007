package bybit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"

	"arb/exchange"
	"arb/exchange/num"
)

// preparedOrder is an OrderRequest rounded to the venue's grid and checked
// against its filters: what is sent, in the instrument's scale.
type preparedOrder struct {
	inst *exchange.Instrument
	req  exchange.OrderRequest
	px   num.Price
	qty  num.Qty
}

// Preallocated rejections of prepare (no request is sent for these).
var (
	errBadClientID = &exchange.Error{Kind: exchange.KindRejected, Msg: "client order id must be 1-32 ASCII letters and digits"}
	errBadSide     = &exchange.Error{Kind: exchange.KindRejected, Msg: "side must be buy or sell"}
	errBadTIF      = &exchange.Error{Kind: exchange.KindRejected, Msg: "time in force must be IOC, GTC or FOK"}
	errBadInst     = &exchange.Error{Kind: exchange.KindRejected, Msg: "instrument not configured on this venue"}
	errBadVenue    = &exchange.Error{Kind: exchange.KindRejected, Msg: "order addressed to another venue"}
	errPxZero      = &exchange.Error{Kind: exchange.KindRejected, Msg: "limit price rounds to 0 on the venue's tick"}
	errQtyMin      = &exchange.Error{Kind: exchange.KindRejected, Msg: "quantity below the venue's minimum after rounding down to its step"}
	errNotionalMin = &exchange.Error{Kind: exchange.KindRejected, Msg: "order value below the venue's minimum notional"}
	errOverflow    = &exchange.Error{Kind: exchange.KindRejected, Msg: "order value out of range"}
)

// prepareOrder rounds req to inst's tick and step, never against the
// request: a buy limit down, a sell limit up, the quantity down; then checks
// the minimum quantity and notional. The arithmetic is exact integer
// arithmetic in the instrument's scale (tick and step are in that scale,
// FetchInstruments refuses a grid finer than it), so it needs no decimal
// type and allocates nothing; TestRoundingMatchesDecimal checks it against
// shopspring/decimal on random grids.
func prepareOrder(inst *exchange.Instrument, req *exchange.OrderRequest) (preparedOrder, error) {
	if !exchange.ValidClientID(req.ClientID) {
		return preparedOrder{}, errBadClientID
	}
	px := int64(req.Px)
	switch req.Side {
	case exchange.Buy:
		px = num.FloorTo(px, int64(inst.Tick))
	case exchange.Sell:
		px = num.CeilTo(px, int64(inst.Tick))
	default:
		return preparedOrder{}, errBadSide
	}
	switch req.TIF {
	case exchange.IOC, exchange.GTC, exchange.FOK:
	default:
		return preparedOrder{}, errBadTIF
	}
	if px <= 0 {
		return preparedOrder{}, errPxZero
	}
	qty := num.FloorTo(int64(req.Qty), int64(inst.Step))
	if qty <= 0 || qty < int64(inst.MinQty) {
		return preparedOrder{}, errQtyMin
	}
	if inst.MinNotional > 0 {
		n, ok := num.Notional(num.Price(px), num.Qty(qty), inst.Scale)
		if !ok {
			return preparedOrder{}, errOverflow
		}
		if n < inst.MinNotional {
			return preparedOrder{}, errNotionalMin
		}
	}
	return preparedOrder{inst: inst, req: *req, px: num.Price(px), qty: num.Qty(qty)}, nil
}

func sideText(s exchange.Side) string {
	if s == exchange.Sell {
		return "Sell"
	}
	return "Buy"
}

func tifText(t exchange.TimeInForce) string {
	switch t {
	case exchange.GTC:
		return "GTC"
	case exchange.FOK:
		return "FOK"
	}
	return "IOC"
}

// appendOrderBody appends the POST /v5/order/create body of o — also the
// one element of a WS order.create's args:
// {"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit",
// "qty":"0.01","price":"28000","timeInForce":"IOC","orderLinkId":"…"}.
// Numbers are written with the instrument's decimals, trailing zeros
// trimmed (exact: they are multiples of tick and step).
func appendOrderBody(dst []byte, o *preparedOrder) []byte {
	dst = append(dst, `{"category":"spot","symbol":"`...)
	dst = append(dst, o.inst.Symbol...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, sideText(o.req.Side)...)
	dst = append(dst, `","orderType":"Limit","qty":"`...)
	dst = num.AppendTrim(dst, int64(o.qty), o.inst.Scale.Qty)
	dst = append(dst, `","price":"`...)
	dst = num.AppendTrim(dst, int64(o.px), o.inst.Scale.Px)
	dst = append(dst, `","timeInForce":"`...)
	dst = append(dst, tifText(o.req.TIF)...)
	dst = append(dst, `","orderLinkId":"`...)
	dst = o.req.ClientID.AppendTo(dst)
	return append(dst, `"}`...)
}

// appendCancelBody appends the POST /v5/order/cancel body.
func appendCancelBody(dst []byte, symbol string, clientID *exchange.ID) []byte {
	dst = append(dst, `{"category":"spot","symbol":"`...)
	dst = append(dst, symbol...)
	dst = append(dst, `","orderLinkId":"`...)
	dst = clientID.AppendTo(dst)
	return append(dst, `"}`...)
}

// appendWSOrder appends a WS trade-API order.create request
// (docs/v5/websocket/trade/guideline.mdx):
// {"reqId":"…","header":{"X-BAPI-TIMESTAMP":"…","X-BAPI-RECV-WINDOW":"…"},
// "op":"order.create","args":[<order body>]}. The socket is authenticated
// once; the timestamp is checked against recv_window like a REST request's.
func appendWSOrder(dst []byte, reqID []byte, tsMs int64, recvWindow string, o *preparedOrder) []byte {
	dst = append(dst, `{"reqId":"`...)
	dst = append(dst, reqID...)
	dst = append(dst, `","header":{"X-BAPI-TIMESTAMP":"`...)
	dst = strconv.AppendInt(dst, tsMs, 10)
	dst = append(dst, `","X-BAPI-RECV-WINDOW":"`...)
	dst = append(dst, recvWindow...)
	dst = append(dst, `"},"op":"order.create","args":[`...)
	dst = appendOrderBody(dst, o)
	return append(dst, `]}`...)
}

// signer computes Bybit's REST signature, hex(HMAC-SHA256(secret,
// timestamp + api_key + recv_window + payload)), into reused buffers. The
// keyed HMAC state is built once; Reset restores it without rehashing the
// key. Not safe for concurrent use: each order slot has its own.
type signer struct {
	mac   hash.Hash
	key   []byte
	rw    []byte
	ts    []byte
	sum   []byte
	hexed [64]byte
}

func newSigner(cred *Credentials, recvWindow string) *signer {
	return &signer{
		mac: hmac.New(sha256.New, []byte(cred.secret)),
		key: []byte(cred.key),
		rw:  []byte(recvWindow),
		ts:  make([]byte, 0, 20),
		sum: make([]byte, 0, sha256.Size),
	}
}

// sign returns the lower-case hex signature of a request with timestamp
// tsMs and payload (query string or body). The result aliases the signer
// and is valid until the next call.
func (g *signer) sign(tsMs int64, payload []byte) []byte {
	g.ts = strconv.AppendInt(g.ts[:0], tsMs, 10)
	g.mac.Reset()
	g.mac.Write(g.ts)
	g.mac.Write(g.key)
	g.mac.Write(g.rw)
	g.mac.Write(payload)
	g.sum = g.mac.Sum(g.sum[:0])
	hex.Encode(g.hexed[:], g.sum)
	return g.hexed[:]
}
