package wire

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzVerifyRules: any KV value is refused with a reason or accepted only
// when its signature verifies under the trusted key — never a panic.
func FuzzVerifyRules(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := seed.Public().(ed25519.PublicKey)
	good, _ := SignRules([]byte("version: 1\nname: x\nrules: []\n"), seed, time.Unix(1700000000, 0))
	f.Add(good)
	f.Add([]byte(`{"format":"arb-signed-rules/1","key":"","signature":"","rules":""}`))
	f.Add([]byte("version: 1\n"))
	f.Add([]byte(`{"format":"arb-signed-rules/1"} {}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		rules, at, err := VerifyRules(value, []ed25519.PublicKey{pub})
		if err != nil {
			var kr *kvRefusal
			if !errorsAs(err, &kr) {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if !ed25519.Verify(pub, signedMessage(at, rules), mustSig(t, value)) {
			t.Fatalf("accepted a value whose signature does not verify: %q", value)
		}
	})
}

// FuzzHaltRecord: any content of the kill switch file loads as a state or
// an error (which halts) — never a panic.
func FuzzHaltRecord(f *testing.F) {
	f.Add([]byte(`{"halted":true,"reason":"x","by":"api","at":"2026-03-01T12:00:00Z"}`))
	f.Add([]byte(`{"halted":false}`))
	f.Add([]byte(`{"halted":"yes"}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, KillSwitchFile), content, 0o600); err != nil {
			t.Fatal(err)
		}
		h, halted, err := newHaltStore(dir).load()
		if err != nil && halted {
			t.Fatalf("error and halted: %v", err)
		}
		if !halted && h.Reason != "" {
			t.Fatalf("not halted with a reason %+v", h)
		}
	})
}

func errorsAs(err error, target **kvRefusal) bool { return errors.As(err, target) }

// mustSig returns the signature bytes of an accepted value.
func mustSig(t *testing.T, value []byte) []byte {
	var env SignedRules
	if err := json.Unmarshal(value, &env); err != nil {
		t.Fatalf("accepted a value that is not JSON: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil {
		t.Fatalf("accepted a signature that is not base64: %v", err)
	}
	return sig
}
