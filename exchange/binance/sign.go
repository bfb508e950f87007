package binance

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Param is one request parameter, kept in the order it is sent: Binance
// signs the query string exactly as transmitted, so order matters for REST.
type Param struct{ Key, Value string }

// Query encodes params as a REST query string, key=value joined by '&'.
// Keys and values are percent-encoded per RFC 3986: unreserved characters
// (A–Z a–z 0–9 - . _ ~) stay, every other byte — in particular each byte of
// a non-ASCII UTF-8 character, as rest-api.md requires before signing — is
// written %XX in upper case. The result is both what is sent and what is
// signed (SignREST).
func Query(params []Param) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		escape(&b, p.Key)
		b.WriteByte('=')
		escape(&b, p.Value)
	}
	return b.String()
}

func escape(b *strings.Builder, s string) {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
}

// SignHMAC returns the lower-case hex HMAC-SHA256 of payload keyed with
// secret (Binance compares signatures case-insensitively).
func SignHMAC(secret []byte, payload string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// SignREST signs a REST request with an HMAC key: the payload is the query
// string followed directly, without separator, by the request body (both as
// sent, neither containing the signature). Send the result as the
// "signature" parameter and the API key in the X-MBX-APIKEY header.
func SignREST(secret []byte, query, body string) string {
	return SignHMAC(secret, query+body)
}

// WSAPIPayload is the WebSocket API signing payload: every parameter except
// "signature", sorted by name, joined as name=value with '&', without any
// percent-encoding (UTF-8 as is).
func WSAPIPayload(params []Param) string {
	ps := make([]Param, 0, len(params))
	for _, p := range params {
		if p.Key != "signature" {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Key < ps[j].Key })
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

// SignWSAPI signs WebSocket API request parameters with an HMAC key.
func SignWSAPI(secret []byte, params []Param) string {
	return SignHMAC(secret, WSAPIPayload(params))
}

// FIXLogonPayload is the FIX Logon<A> signing payload: MsgType,
// SenderCompID, TargetCompID, MsgSeqNum and SendingTime joined by SOH (0x01).
func FIXLogonPayload(msgType, senderCompID, targetCompID, msgSeqNum, sendingTime string) []byte {
	return []byte(strings.Join([]string{msgType, senderCompID, targetCompID, msgSeqNum, sendingTime}, "\x01"))
}

// SignFIXLogon returns the base64 Ed25519 signature of a Logon payload, sent
// as RawData(96) with RawDataLength(95).
func SignFIXLogon(key ed25519.PrivateKey, payload []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, payload))
}

// ParseEd25519Key reads a PEM "PRIVATE KEY" block (PKCS #8) holding an
// Ed25519 key, the format Binance's key generator writes.
func ParseEd25519Key(pemBytes []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("binance: no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("binance: private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("binance: private key is %T, not Ed25519", k)
	}
	return ek, nil
}
