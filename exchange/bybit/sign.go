package bybit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
)

// Request-signing headers (docs/v5/guide.mdx, "Create a request").
const (
	HeaderAPIKey     = "X-BAPI-API-KEY"
	HeaderTimestamp  = "X-BAPI-TIMESTAMP"
	HeaderSign       = "X-BAPI-SIGN"
	HeaderRecvWindow = "X-BAPI-RECV-WINDOW"
)

// DefaultRecvWindowMs is Bybit's default recv_window.
const DefaultRecvWindowMs = 5000

// StringToSign returns the text Bybit's v5 REST API signs:
// timestamp + api_key + recv_window + payload, where payload is the query
// string as sent for GET and the raw JSON body for POST (docs/v5/guide.mdx).
func StringToSign(timestampMs, apiKey, recvWindowMs, payload string) string {
	return timestampMs + apiKey + recvWindowMs + payload
}

// Sign returns the lower-case hex HMAC-SHA256 of msg keyed with secret,
// Bybit's signature for HMAC keys (RSA keys are not supported here).
func Sign(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// SignRequest sets the four X-BAPI-* headers on h for a request whose
// payload (query string for GET, body for POST) is payload. It is a pure
// function of its arguments; the secret never leaves it.
func SignRequest(h http.Header, apiKey, secret string, timestampMs, recvWindowMs int64, payload string) {
	ts := strconv.FormatInt(timestampMs, 10)
	rw := strconv.FormatInt(recvWindowMs, 10)
	h.Set(HeaderAPIKey, apiKey)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderRecvWindow, rw)
	h.Set(HeaderSign, Sign(secret, StringToSign(ts, apiKey, rw, payload)))
}

// WSAuthStringToSign returns the text signed for websocket authentication:
// "GET/realtime" followed by expires, a future time in ms.
func WSAuthStringToSign(expiresMs int64) string {
	return "GET/realtime" + strconv.FormatInt(expiresMs, 10)
}

// WSAuthRequest returns the documented auth message
// {"req_id":..,"op":"auth","args":[api_key, expires, signature]}.
func WSAuthRequest(reqID, apiKey, secret string, expiresMs int64) []byte {
	b := append([]byte(`{"req_id":`), strconv.Quote(reqID)...)
	b = append(b, `,"op":"auth","args":[`...)
	b = append(b, strconv.Quote(apiKey)...)
	b = append(b, ',')
	b = strconv.AppendInt(b, expiresMs, 10)
	b = append(b, ',', '"')
	b = append(b, Sign(secret, WSAuthStringToSign(expiresMs))...)
	return append(b, `"]}`...)
}
