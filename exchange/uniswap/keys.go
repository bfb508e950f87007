package uniswap

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Signer holds the trading account's private key. It never prints the
// key: String, GoString and LogValue show the address only.
type Signer struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

// NewSigner wraps a private key.
func NewSigner(key *ecdsa.PrivateKey) *Signer {
	return &Signer{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
}

// Address returns the account's address.
func (s *Signer) Address() common.Address { return s.addr }

// String implements fmt.Stringer without the key.
func (s *Signer) String() string { return "signer(" + s.addr.Hex() + ")" }

// GoString implements fmt.GoStringer without the key.
func (s *Signer) GoString() string { return s.String() }

// LogValue implements slog.LogValuer without the key.
func (s *Signer) LogValue() slog.Value { return slog.StringValue(s.String()) }

// ErrKey is wrapped by every key loading error; its messages never hold
// key material.
var ErrKey = errors.New("uniswap: trading key")

// KeyFromEnv reads a hex private key (64 hex digits, optional 0x) from the
// environment variable name.
func KeyFromEnv(name string) (*Signer, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("%w: environment variable %s is not set", ErrKey, name)
	}
	return ParseKey(v)
}

// ParseKey parses a hex private key; the error never repeats the input.
func ParseKey(hexKey string) (*Signer, error) {
	k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(hexKey), "0x"))
	if err != nil {
		return nil, fmt.Errorf("%w: not a 32-byte hex secp256k1 key", ErrKey)
	}
	return NewSigner(k), nil
}

// KeyFromKeystore decrypts an encrypted keystore (Web3 Secret Storage)
// file with the password held in the environment variable passwordEnv.
func KeyFromKeystore(path, passwordEnv string) (*Signer, error) {
	pw, ok := os.LookupEnv(passwordEnv)
	if !ok {
		return nil, fmt.Errorf("%w: environment variable %s (keystore password) is not set", ErrKey, passwordEnv)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	k, err := keystore.DecryptKey(data, pw)
	if err != nil {
		return nil, fmt.Errorf("%w: keystore %s: %v", ErrKey, path, err)
	}
	return NewSigner(k.PrivateKey), nil
}
