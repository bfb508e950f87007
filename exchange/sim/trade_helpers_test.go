package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The trading tests drive the venues with plain HTTP and websocket clients
// written here from the venues' documentation, with their own signing code
// (checked against the documented vectors in venue-docs), so that the
// simulator's verification and a test's signing are two implementations.

// docPath is the shared venue documentation, read at run time from the
// repository's sibling folder (never copied into the repository).
func docPath(rel string) string { return filepath.Join("..", "..", "..", "shared", "venue-docs", rel) }

// loadDoc unmarshals a venue-docs file.
func loadDoc(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(docPath(rel))
	if err != nil {
		t.Fatalf("venue docs: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// docField returns one top-level field of a venue-docs file as raw JSON.
func docField(t testing.TB, rel, field string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	loadDoc(t, rel, &m)
	f, ok := m[field]
	if !ok {
		t.Fatalf("%s: no field %q", rel, field)
	}
	return f
}

func hmacHex(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

func hmacB64(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// bnREST sends a SIGNED Binance REST request: the parameters in the query
// string in the given order, timestamp last, signature = hex HMAC-SHA256
// of the query (rest-api.md, "SIGNED Endpoint security").
func bnREST(t testing.TB, s *Sim, method, path string, kv ...string) (int, http.Header, []byte) {
	t.Helper()
	q := url.Values{}
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
		q.Set(kv[i], kv[i+1])
	}
	if q.Get("timestamp") == "" {
		parts = append(parts, "timestamp="+strconv.FormatInt(s.now().UnixMilli(), 10))
	}
	query := strings.Join(parts, "&")
	query += "&signature=" + hmacHex(TestBinanceSecret, query)
	return httpDo(t, method, mustURLs(t, s, "binance").REST+path+"?"+query, map[string]string{"X-MBX-APIKEY": TestBinanceKey}, "")
}

// okxREST sends a signed OKX REST request: OK-ACCESS-SIGN = base64
// HMAC-SHA256 of timestamp + METHOD + path?query + body.
func okxREST(t testing.TB, s *Sim, method, pathQuery, body string) (int, []byte) {
	t.Helper()
	stamp := s.now().UTC().Format("2006-01-02T15:04:05.000Z")
	code, _, b := httpDo(t, method, mustURLs(t, s, "okx").REST+pathQuery, map[string]string{
		"OK-ACCESS-KEY": TestOKXKey, "OK-ACCESS-PASSPHRASE": TestOKXPassphrase, "OK-ACCESS-TIMESTAMP": stamp,
		"OK-ACCESS-SIGN": hmacB64(TestOKXSecret, stamp+method+pathQuery+body), "Content-Type": "application/json"}, body)
	return code, b
}

// byREST sends a signed Bybit REST request: X-BAPI-SIGN = hex HMAC-SHA256
// of timestamp + key + recv_window + (query string | body).
func byREST(t testing.TB, s *Sim, method, pathQuery, body string) (int, http.Header, []byte) {
	t.Helper()
	stamp := strconv.FormatInt(s.now().UnixMilli(), 10)
	payload := body
	if method == "GET" {
		_, payload, _ = strings.Cut(pathQuery, "?")
	}
	return httpDo(t, method, mustURLs(t, s, "bybit").REST+pathQuery, map[string]string{
		"X-BAPI-API-KEY": TestBybitKey, "X-BAPI-TIMESTAMP": stamp, "X-BAPI-RECV-WINDOW": "5000",
		"X-BAPI-SIGN": hmacHex(TestBybitSecret, stamp+TestBybitKey+"5000"+payload), "Content-Type": "application/json"}, body)
}

// jsonOf unmarshals b into a generic value, failing the test on bad JSON.
func jsonOf(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// waitFor polls cond until it holds or the deadline passes (tests wait on
// conditions, never on sleeps).
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
