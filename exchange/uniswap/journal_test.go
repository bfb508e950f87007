package uniswap

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
)

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileJournalTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tx.jsonl")
	j, err := OpenFileTxJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := TxRecord{Kind: "swap", ClientID: "arb1", Side: "sell", Px: 1, Qty: 2, Nonce: 7,
		Hash: "0x" + strings.Repeat("ab", 32), Raw: "0x02", Deadline: 9, SentAt: 3}
	if err := j.Append(rec); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// A crash mid-write leaves a partial last line: dropped (it was never
	// broadcast). A bad line before the end stops the load.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"kind":"swap","cid":"ar`)
	f.Close()
	j2, _ := OpenFileTxJournal(path)
	recs, err := j2.Load()
	if err != nil || len(recs) != 1 || recs[0] != rec {
		t.Fatalf("%v %+v", err, recs)
	}
	os.WriteFile(path, []byte("garbage\n"+string(mustJSON(t, rec))+"\n"), 0o600)
	if _, err := j2.Load(); err == nil {
		t.Fatal("a bad line in the middle was accepted")
	}
}

func TestSignerRedacts(t *testing.T) {
	k, _ := crypto.GenerateKey()
	hexKey := fmt.Sprintf("%x", crypto.FromECDSA(k))
	s, err := ParseKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "signer", s)
	for _, out := range []string{s.String(), s.GoString(), fmt.Sprintf("%v %+v %#v", s, s, s), logs.String()} {
		if strings.Contains(out, hexKey) || strings.Contains(out, hexKey[:16]) {
			t.Fatalf("key material in %q", out)
		}
	}
	if _, err := ParseKey("0x" + hexKey[:10]); err == nil || strings.Contains(err.Error(), hexKey[:10]) {
		t.Fatalf("bad key: %v", err)
	}
	t.Setenv("ARB_TEST_KEY", hexKey)
	if s2, err := KeyFromEnv("ARB_TEST_KEY"); err != nil || s2.Address() != s.Address() {
		t.Fatal(err)
	}
	if _, err := KeyFromEnv("ARB_TEST_KEY_UNSET"); err == nil {
		t.Fatal("unset variable accepted")
	}
	// An encrypted keystore file with its password from the environment.
	dir := t.TempDir()
	ks := keystore.NewKeyStore(dir, keystore.LightScryptN, keystore.LightScryptP)
	acc, err := ks.ImportECDSA(k, "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARB_TEST_KS_PW", "pw")
	s3, err := KeyFromKeystore(acc.URL.Path, "ARB_TEST_KS_PW")
	if err != nil || s3.Address() != s.Address() {
		t.Fatalf("keystore: %v", err)
	}
	t.Setenv("ARB_TEST_KS_PW", "wrong")
	if _, err := KeyFromKeystore(acc.URL.Path, "ARB_TEST_KS_PW"); err == nil {
		t.Fatal("wrong password accepted")
	}
}
