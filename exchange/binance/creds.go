package binance

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
)

// KeyType is the kind of API key: it decides how requests are signed and
// how the private stream authenticates.
type KeyType uint8

// Key types. RSA keys are not supported (no published vector to test them).
const (
	KeyHMAC    KeyType = iota + 1 // HMAC-SHA256, lower-case hex signature
	KeyEd25519                    // Ed25519, base64 signature; allows session.logon
)

// String returns "hmac" or "ed25519".
func (k KeyType) String() string {
	switch k {
	case KeyHMAC:
		return "hmac"
	case KeyEd25519:
		return "ed25519"
	}
	return "none"
}

// Credentials are one Binance API key and its secret: an HMAC secret or an
// Ed25519 private key. The caller loads the values (from the environment or
// a key file: see cmd/internal/config.Secret) and builds them with
// NewHMACCredentials or NewEd25519Credentials; nothing here reads files or
// the environment. The secret never leaves the value: String, GoString,
// LogValue, Format and MarshalJSON all print a redacted placeholder. The
// zero value holds no key. Credentials are immutable and safe to share.
type Credentials struct {
	apiKey string
	typ    KeyType
	secret []byte             // HMAC
	ed     ed25519.PrivateKey // Ed25519
}

const redacted = "binance.Credentials{REDACTED}"

// NewCredentials returns credentials for a secret as the operator stores
// it: a PEM "PRIVATE KEY" block is an Ed25519 key, anything else an HMAC
// secret. The wiring reads both values with config.Secret (environment
// variable or its _FILE companion).
func NewCredentials(apiKey, secret string) (Credentials, error) {
	if strings.HasPrefix(strings.TrimSpace(secret), "-----BEGIN") {
		return NewEd25519Credentials(apiKey, []byte(secret))
	}
	return NewHMACCredentials(apiKey, secret)
}

// NewHMACCredentials returns HMAC-SHA256 credentials.
func NewHMACCredentials(apiKey, secret string) (Credentials, error) {
	if err := checkAPIKey(apiKey); err != nil {
		return Credentials{}, err
	}
	if secret == "" {
		return Credentials{}, errors.New("binance: credentials: empty secret")
	}
	return Credentials{apiKey: apiKey, typ: KeyHMAC, secret: []byte(secret)}, nil
}

// NewEd25519Credentials returns Ed25519 credentials from the PKCS #8 PEM
// private key Binance's key generator writes.
func NewEd25519Credentials(apiKey string, pemKey []byte) (Credentials, error) {
	if err := checkAPIKey(apiKey); err != nil {
		return Credentials{}, err
	}
	k, err := ParseEd25519Key(pemKey)
	if err != nil {
		// ParseEd25519Key never quotes the key material.
		return Credentials{}, fmt.Errorf("binance: credentials: %w", err)
	}
	return Credentials{apiKey: apiKey, typ: KeyEd25519, ed: k}, nil
}

// checkAPIKey accepts printable ASCII without the characters that would
// need escaping in a query string or a JSON string, so the key can be
// written into requests as is.
func checkAPIKey(k string) error {
	if k == "" || len(k) > 256 {
		return errors.New("binance: credentials: API key must have 1 to 256 characters")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return errors.New("binance: credentials: API key has characters other than letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

// Type returns the key type (0 for the zero value).
func (c Credentials) Type() KeyType { return c.typ }

// IsZero reports whether c holds no key.
func (c Credentials) IsZero() bool { return c.typ == 0 }

// String implements fmt.Stringer without revealing anything.
func (c Credentials) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v) without revealing anything.
func (c Credentials) GoString() string { return redacted }

// Format implements fmt.Formatter, so every verb (%v, %+v, %s, %x, %q …)
// prints the placeholder.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer: only the key type is logged.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("type", c.typ.String()), slog.String("secret", "REDACTED"))
}

// MarshalJSON prints the placeholder, so a config dump never leaks a key.
func (c Credentials) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// signer signs payloads with one Credentials. It keeps a keyed HMAC state
// that is reset per use, so signing allocates nothing; it is not safe for
// concurrent use (each request buffer has its own).
type signer struct {
	typ KeyType
	mac hash.Hash
	ed  ed25519.PrivateKey
	sum [sha256.Size]byte
}

func newSigner(c *Credentials) *signer {
	s := &signer{typ: c.typ, ed: c.ed}
	if c.typ == KeyHMAC {
		s.mac = hmac.New(sha256.New, c.secret)
	}
	return s
}

// appendSig appends the signature of payload: lower-case hex for HMAC,
// standard base64 for Ed25519 (escape it before putting it in a query
// string: see appendQueryEscaped).
func (s *signer) appendSig(dst, payload []byte) []byte {
	switch s.typ {
	case KeyHMAC:
		s.mac.Reset()
		s.mac.Write(payload)
		sum := s.mac.Sum(s.sum[:0])
		return hex.AppendEncode(dst, sum)
	case KeyEd25519:
		// ed25519.Sign returns a new 64-byte slice: the one allocation of
		// an Ed25519 signature, which the standard library forces.
		return base64.StdEncoding.AppendEncode(dst, ed25519.Sign(s.ed, payload))
	}
	return dst
}

// appendQueryEscaped appends s percent-encoded as Query does (unreserved
// characters as they are, every other byte %XX in upper case).
func appendQueryEscaped(dst, s []byte) []byte {
	const hexUpper = "0123456789ABCDEF"
	for _, c := range s {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}
