package binance

// Request bytes of the trading client, built by appending into reused
// buffers: no reflection, no encoding/json, no url.Values, no allocation.
//
// A paramList holds a request's parameters in the order they are sent.
// REST sends them in that order and signs exactly the bytes sent (the query
// string, or the form body). The WebSocket API signs them sorted by name,
// joined name=value with '&', without percent-encoding (web-socket-api.md,
// "SIGNED request security"); sortByKey puts them in that order, and the
// JSON request carries them in the same order.

// wireParam is one request parameter: a string value (s or b, whichever is
// set) or an integer.
type wireParam struct {
	key   string
	s     string
	b     []byte
	num   int64
	isNum bool
}

// maxParams bounds a request's parameters (order.place has 11 and a
// signature).
const maxParams = 16

// paramList is a fixed-capacity parameter list; the zero value is empty.
type paramList struct {
	p [maxParams]wireParam
	n int
}

func (l *paramList) reset() { l.n = 0 }

func (l *paramList) add(p wireParam) {
	if l.n == maxParams {
		panic("binance: too many request parameters") // a programming error: requests are fixed
	}
	l.p[l.n] = p
	l.n++
}

// str adds a string parameter.
func (l *paramList) str(key, v string) { l.add(wireParam{key: key, s: v}) }

// bytes adds a string parameter held as bytes (aliased, not copied).
func (l *paramList) bytes(key string, v []byte) { l.add(wireParam{key: key, b: v}) }

// int adds an integer parameter.
func (l *paramList) int(key string, v int64) { l.add(wireParam{key: key, num: v, isNum: true}) }

// sortByKey sorts the parameters by name (insertion sort: at most 16,
// stable, no allocation).
func (l *paramList) sortByKey() {
	for i := 1; i < l.n; i++ {
		for j := i; j > 0 && l.p[j].key < l.p[j-1].key; j-- {
			l.p[j], l.p[j-1] = l.p[j-1], l.p[j]
		}
	}
}

// appendValue appends the parameter's value as text.
func (p *wireParam) appendValue(dst []byte) []byte {
	if p.isNum {
		return appendInt(dst, p.num)
	}
	dst = append(dst, p.s...)
	return append(dst, p.b...)
}

// appendQuery appends the parameters as a REST query string (or form body)
// in their order, percent-encoded as Query does.
func (l *paramList) appendQuery(dst []byte) []byte {
	for i := 0; i < l.n; i++ {
		p := &l.p[i]
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.key...)
		dst = append(dst, '=')
		if p.isNum {
			dst = appendInt(dst, p.num)
			continue
		}
		dst = appendQueryEscapedString(dst, p.s)
		dst = appendQueryEscaped(dst, p.b)
	}
	return dst
}

// appendWSPayload appends the WebSocket API signing payload: the parameters
// in their current order (call sortByKey first) as name=value joined by
// '&', without escaping.
func (l *paramList) appendWSPayload(dst []byte) []byte {
	for i := 0; i < l.n; i++ {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, l.p[i].key...)
		dst = append(dst, '=')
		dst = l.p[i].appendValue(dst)
	}
	return dst
}

// appendWSRequest appends a WebSocket API request frame:
// {"id":"<id>","method":"<method>","params":{…,"signature":"<sig>"}}, the
// parameters in their current order, integers as JSON numbers, and the
// signature last when sig is not empty. With no parameters and no
// signature, "params" is left out.
func (l *paramList) appendWSRequest(dst []byte, id uint64, method string, sig []byte) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendUint(dst, id)
	dst = append(dst, `","method":"`...)
	dst = append(dst, method...)
	dst = append(dst, '"')
	if l.n == 0 && len(sig) == 0 {
		return append(dst, '}')
	}
	dst = append(dst, `,"params":{`...)
	for i := 0; i < l.n; i++ {
		p := &l.p[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, p.key)
		dst = append(dst, ':')
		if p.isNum {
			dst = appendInt(dst, p.num)
			continue
		}
		dst = append(dst, '"')
		dst = appendJSONEscaped(dst, p.s)
		dst = appendJSONEscapedBytes(dst, p.b)
		dst = append(dst, '"')
	}
	if len(sig) > 0 {
		if l.n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `"signature":"`...)
		dst = append(dst, sig...)
		dst = append(dst, '"')
	}
	return append(dst, "}}"...)
}

func appendQueryEscapedString(dst []byte, s string) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONEscaped(dst, s)
	return append(dst, '"')
}

// appendJSONEscaped appends s with the escapes a JSON string needs ('"',
// '\\' and control bytes); UTF-8 passes as is.
func appendJSONEscaped(dst []byte, s string) []byte {
	const hexLower = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendJSONEscapedBytes(dst, b []byte) []byte {
	const hexLower = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexLower[c>>4], hexLower[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendInt appends v in decimal (strconv.AppendInt without the import
// for one function; it does not allocate either way).
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		return appendUint(dst, uint64(-v))
	}
	return appendUint(dst, uint64(v))
}

func appendUint(dst []byte, v uint64) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}
