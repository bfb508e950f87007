package binance

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// The trading client's request builders against the documented signing
// vectors (shared/venue-docs/binance): the bytes sent and the signature.

// TestRESTOrderVectors: the fast builder (paramList + appendSigned)
// produces exactly the documented query string and HMAC signature of both
// REST vectors, including the percent-encoded non-ASCII symbol.
func TestRESTOrderVectors(t *testing.T) {
	var doc struct {
		Vectors []struct {
			Name   string
			Inputs struct {
				SecretKey        string     `json:"secretKey"`
				ParamsInOrder    [][]string `json:"params_in_order"`
				SignaturePayload string     `json:"signature_payload"`
			}
			Expected string
		}
	}
	if err := json.Unmarshal(venueDoc(t, "auth_hmac_rest_vectors.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			creds, err := NewHMACCredentials("k", v.Inputs.SecretKey)
			if err != nil {
				t.Fatal(err)
			}
			b := &reqBuf{sg: newSigner(&creds)}
			for _, p := range v.Inputs.ParamsInOrder {
				b.params.str(p[0], p[1])
			}
			q := b.params.appendQuery(nil)
			if string(q) != v.Inputs.SignaturePayload {
				t.Fatalf("query\n got %s\nwant %s", q, v.Inputs.SignaturePayload)
			}
			c := &Client{}
			out := c.appendSigned(b, q)
			if want := v.Inputs.SignaturePayload + "&signature=" + v.Expected; string(out) != want {
				t.Fatalf("signed\n got %s\nwant %s", out, want)
			}
		})
	}
}

// wsVector is one documented WebSocket API signature.
type wsVector struct {
	Name   string
	Inputs struct {
		SecretKey        string `json:"secretKey"`
		SignaturePayload string `json:"signature_payload"`
	}
	Expected string
}

func wsVectors(t *testing.T, file string) []wsVector {
	var doc struct{ Vectors []wsVector }
	if err := json.Unmarshal(venueDoc(t, file), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vectors) == 0 {
		t.Fatalf("%s: no vectors", file)
	}
	return doc.Vectors
}

// TestWSAPIVectors: every documented WebSocket API vector — the SIGNED
// request examples and the five method examples (order.place,
// session.logon, account.status, order.status, myTrades) — rebuilt with
// the client's builder from shuffled parameters: the sorted payload, the
// signature, and a request frame whose params (parsed back) are the
// documented ones plus the signature. Integers the docs send as JSON
// numbers are sent as numbers.
func TestWSAPIVectors(t *testing.T) {
	numeric := map[string]bool{"timestamp": true, "recvWindow": true, "orderId": true, "startTime": true, "endTime": true}
	all := append(wsVectors(t, "auth_hmac_wsapi_vectors.json"), wsVectors(t, "auth_hmac_wsapi_method_vectors.json")...)
	for _, v := range all {
		t.Run(v.Name, func(t *testing.T) {
			creds, err := NewHMACCredentials("k", v.Inputs.SecretKey)
			if err != nil {
				t.Fatal(err)
			}
			b := &reqBuf{sg: newSigner(&creds)}
			kvs := strings.Split(v.Inputs.SignaturePayload, "&")
			// Reverse order: the builder must sort.
			for i := len(kvs) - 1; i >= 0; i-- {
				k, val, _ := strings.Cut(kvs[i], "=")
				if numeric[k] {
					n, _ := parseUintID([]byte(val))
					b.params.int(k, n)
				} else {
					b.params.str(k, val)
				}
			}
			b.params.sortByKey()
			payload := b.params.appendWSPayload(nil)
			if string(payload) != v.Inputs.SignaturePayload {
				t.Fatalf("payload\n got %s\nwant %s", payload, v.Inputs.SignaturePayload)
			}
			sig := b.sg.appendSig(nil, payload)
			if string(sig) != v.Expected {
				t.Fatalf("signature %s, want %s", sig, v.Expected)
			}
			frame := b.params.appendWSRequest(nil, 42, "m", sig)
			var req struct {
				ID     string                     `json:"id"`
				Method string                     `json:"method"`
				Params map[string]json.RawMessage `json:"params"`
			}
			if err := json.Unmarshal(frame, &req); err != nil {
				t.Fatalf("frame %s: %v", frame, err)
			}
			if req.ID != "42" || req.Method != "m" || string(req.Params["signature"]) != `"`+v.Expected+`"` {
				t.Fatalf("frame %s", frame)
			}
			for _, kv := range kvs {
				k, val, _ := strings.Cut(kv, "=")
				want := `"` + val + `"`
				if numeric[k] {
					want = val
				}
				if got := string(req.Params[k]); got != want {
					t.Fatalf("param %s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

// TestOrderPlaceDocumentedRequest: the documented order.place request
// (wsapi_order_place.json) — params and signature — is what the client's
// order builder writes for the same order and timestamp.
func TestOrderPlaceDocumentedRequest(t *testing.T) {
	var doc struct {
		Request struct {
			Params map[string]any `json:"params"`
		} `json:"request"`
	}
	if err := json.Unmarshal(venueDoc(t, "wsapi_order_place.json"), &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Request.Params
	creds, err := NewHMACCredentials(p["apiKey"].(string), wsVectors(t, "auth_hmac_wsapi_method_vectors.json")[0].Inputs.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{cfg: ClientConfig{Credentials: creds}}
	b := &reqBuf{sg: newSigner(&creds)}
	b.params.str("symbol", p["symbol"].(string))
	b.params.str("side", p["side"].(string))
	b.params.str("type", p["type"].(string))
	b.params.str("timeInForce", p["timeInForce"].(string))
	b.params.str("quantity", p["quantity"].(string))
	b.params.str("price", p["price"].(string))
	b.params.int("timestamp", int64(p["timestamp"].(float64)))
	frame := c.appendWSSigned(b, false, 7, "order.place")
	var got struct {
		Method string         `json:"method"`
		Params map[string]any `json:"params"`
	}
	if err := json.Unmarshal(frame, &got); err != nil {
		t.Fatal(err)
	}
	if got.Method != "order.place" || len(got.Params) != len(p) {
		t.Fatalf("frame %s", frame)
	}
	for k, v := range p {
		if got.Params[k] != v {
			t.Errorf("%s = %v, want %v", k, got.Params[k], v)
		}
	}
}

// TestEd25519Signing: with an Ed25519 key (the documented FIX vector's
// key) a REST query is signed over exactly the bytes sent and the base64
// signature is percent-encoded; a WebSocket payload's signature is the
// raw base64. Both verify with the public key. (Binance publishes no
// Ed25519 REST or WebSocket vector with its private key.)
func TestEd25519Signing(t *testing.T) {
	var fix struct {
		Inputs struct {
			PEM string `json:"private_key_pem"`
		}
	}
	if err := json.Unmarshal(venueDoc(t, "auth_ed25519_fix_logon_vector.json"), &fix); err != nil {
		t.Fatal(err)
	}
	creds, err := NewEd25519Credentials("EXAMPLEKEY", []byte(fix.Inputs.PEM))
	if err != nil {
		t.Fatal(err)
	}
	if creds.Type() != KeyEd25519 {
		t.Fatal("type")
	}
	pub := creds.ed.Public().(ed25519.PublicKey)
	b := &reqBuf{sg: newSigner(&creds)}
	b.params.str("symbol", "BTCUSDT")
	b.params.int("timestamp", 1499827319559)
	q := b.params.appendQuery(nil)
	out := string((&Client{}).appendSigned(b, append([]byte(nil), q...)))
	payload, esc, _ := strings.Cut(out, "&signature=")
	if payload != string(q) {
		t.Fatal(out)
	}
	raw, err := url.QueryUnescape(esc)
	if err != nil || strings.ContainsAny(esc, "+/=") {
		t.Fatalf("signature not escaped: %s", esc)
	}
	sig, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || !ed25519.Verify(pub, q, sig) {
		t.Fatal("REST Ed25519 signature does not verify")
	}
	wsSig := b.sg.appendSig(nil, []byte("apiKey=EXAMPLEKEY&timestamp=1"))
	s2, err := base64.StdEncoding.DecodeString(string(wsSig))
	if err != nil || !ed25519.Verify(pub, []byte("apiKey=EXAMPLEKEY&timestamp=1"), s2) {
		t.Fatal("WS Ed25519 signature does not verify")
	}
}

// TestSortByKeyMatchesSort: the insertion sort agrees with sort.Strings.
func TestSortByKeyMatchesSort(t *testing.T) {
	keys := []string{"type", "timestamp", "timeInForce", "symbol", "side", "recvWindow", "quantity", "price", "newOrderRespType", "newClientOrderId", "apiKey"}
	var l paramList
	for _, k := range keys {
		l.str(k, "v")
	}
	l.sortByKey()
	sort.Strings(keys)
	for i := range keys {
		if l.p[i].key != keys[i] {
			t.Fatalf("%d: %s, want %s", i, l.p[i].key, keys[i])
		}
	}
}

// TestAPIKeyRules: keys that could break a query string or JSON are
// refused before they are used.
func TestAPIKeyRules(t *testing.T) {
	for _, k := range []string{"", "a&b", `a"b`, "a b", "a\\b", strings.Repeat("a", 257)} {
		if _, err := NewHMACCredentials(k, "s"); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
	if _, err := NewHMACCredentials("ok", ""); err == nil {
		t.Error("empty secret accepted")
	}
	if _, err := NewEd25519Credentials("ok", []byte("not pem")); err == nil || strings.Contains(err.Error(), "not pem") {
		t.Errorf("bad PEM: %v", err)
	}
}

// TestNewCredentialsDetectsKeyType: a PEM secret is an Ed25519 key, any
// other an HMAC secret.
func TestNewCredentialsDetectsKeyType(t *testing.T) {
	var fix struct {
		Inputs struct {
			PEM string `json:"private_key_pem"`
		}
	}
	if err := json.Unmarshal(venueDoc(t, "auth_ed25519_fix_logon_vector.json"), &fix); err != nil {
		t.Fatal(err)
	}
	if c, err := NewCredentials("k", fix.Inputs.PEM); err != nil || c.Type() != KeyEd25519 {
		t.Fatalf("%v %v", c.Type(), err)
	}
	if c, err := NewCredentials("k", fakeSecret); err != nil || c.Type() != KeyHMAC {
		t.Fatalf("%v %v", c.Type(), err)
	}
	if _, err := NewCredentials("k", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"); err == nil {
		t.Fatal("bad PEM accepted")
	}
}
