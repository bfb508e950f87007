package binance

// tickerFrame reads b if it is a combined-stream bookTicker exactly as
// Binance sends it:
//
//	{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}
//
// (keys in this order, white space only before a value, where Str and Int
// skip it as the key-by-key read does), leaving the parser in
// exactly the state the key-by-key read (scanFrame) leaves for the same
// bytes, and reports whether it did. Anything else — another key order, an
// "e" field, white space, a value of another type, a stream the session
// does not hold — returns false and the
// caller reads the frame key by key, which decides. Matching the known
// layout skips key matching and dispatch for the one message a bookTicker
// session receives many times a second. FuzzFusedMatchesRaw checks a
// session that takes this path against a parser that never does.
func (p *parser) tickerFrame(b []byte) bool {
	p.reset(b, -1)
	sc, m := &p.sc, &p.m
	if !sc.Lit(`{"stream":`) {
		return false
	}
	m.stream = sc.Str()
	// A stream we do not hold is read key by key, which takes only its
	// event type (foreignData).
	if sc.Err() != nil {
		return false
	}
	if m.f = fStream; p.streamBook() < 0 {
		return false
	}
	if !sc.Lit(`,"data":{"u":`) {
		return false
	}
	m.u = sc.Int()
	for _, f := range [...]struct {
		key string
		dst *[]byte
	}{{`,"s":`, &m.sym}, {`,"b":`, &m.bPx}, {`,"B":`, &m.bQty}, {`,"a":`, &m.aPx}, {`,"A":`, &m.aQty}} {
		if !sc.Lit(f.key) {
			return false
		}
		*f.dst = sc.Str()
	}
	if !sc.Lit(`}}`) || !sc.End() {
		return false
	}
	m.f = fStream | fData | fLast | fSym | fBStr | fBQty | fAStr | fAQty
	return true
}
