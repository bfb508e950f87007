package okx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Credentials are one OKX API key. String and LogValue redact them, so a
// Credentials value can be logged by mistake without leaking.
type Credentials struct {
	Key        string
	Secret     string
	Passphrase string
}

// String returns a redacted form.
func (c Credentials) String() string { return "okx.Credentials{redacted}" }

// GoString returns the redacted form for %#v.
func (c Credentials) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the redacted form.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// RESTTimestamp formats t as OK-ACCESS-TIMESTAMP: ISO-8601 in UTC with
// milliseconds, e.g. 2020-12-08T09:08:57.715Z.
func RESTTimestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// WSTimestamp formats t as the websocket login timestamp: Unix seconds.
func WSTimestamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// Prehash returns the string OKX signs: timestamp + upper-case method +
// requestPath + body. For a GET the query belongs to requestPath
// ("/api/v5/account/balance?ccy=BTC") and body is empty.
func Prehash(timestamp, method, requestPath, body string) string {
	return timestamp + strings.ToUpper(method) + requestPath + body
}

// Sign returns base64(HMAC-SHA256(secret, prehash)), OK-ACCESS-SIGN.
func Sign(secret, prehash string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(prehash))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignHeaders sets the OK-ACCESS-* headers of a REST request sent at t.
func SignHeaders(h http.Header, c Credentials, t time.Time, method, requestPath, body string) {
	ts := RESTTimestamp(t)
	h.Set("OK-ACCESS-KEY", c.Key)
	h.Set("OK-ACCESS-SIGN", Sign(c.Secret, Prehash(ts, method, requestPath, body)))
	h.Set("OK-ACCESS-TIMESTAMP", ts)
	h.Set("OK-ACCESS-PASSPHRASE", c.Passphrase)
}

// WSLogin returns the private websocket login request at t: the REST
// construction with the timestamp in seconds, method GET and path
// /users/self/verify. OKX rejects it 30 s after the timestamp.
func WSLogin(c Credentials, t time.Time) []byte {
	ts := WSTimestamp(t)
	type arg struct {
		APIKey     string `json:"apiKey"`
		Passphrase string `json:"passphrase"`
		Timestamp  string `json:"timestamp"`
		Sign       string `json:"sign"`
	}
	req := struct {
		Op   string `json:"op"`
		Args []arg  `json:"args"`
	}{"login", []arg{{c.Key, c.Passphrase, ts, Sign(c.Secret, Prehash(ts, "GET", "/users/self/verify", ""))}}}
	b, _ := json.Marshal(req) // strings only: cannot fail
	return b
}
