package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestLedgerDSNPasswordNotPrinted: arb ledger with a DSN (from ARB_PG_DSN)
// that carries a password and cannot be used — a server that is not there,
// a DSN that does not parse, in URL and key=value form — fails with an
// error that names the problem and not the password.
func TestLedgerDSNPasswordNotPrinted(t *testing.T) {
	const pw = "pw-Zq8RkL2vXn4TmW9sYc"
	for _, dsn := range []string{
		"postgres://arb:" + pw + "@127.0.0.1:1/arb?sslmode=disable&connect_timeout=5",
		"postgres://arb:" + pw + "@127.0.0.1:notaport/arb",
		"host=127.0.0.1 port=1 user=arb password=" + pw + " dbname=arb sslmode=disable connect_timeout=5",
		"host=127.0.0.1 port=x user=arb password=" + pw + " dbname=arb",
	} {
		t.Setenv("ARB_PG_DSN", dsn)
		var stdout, stderr bytes.Buffer
		code := run([]string{"ledger", "pnl"}, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code == 0 {
			t.Errorf("arb ledger pnl succeeded on an unusable DSN: %s", out)
		}
		for _, f := range []string{pw, pw[:10], pw[10:]} {
			if strings.Contains(out, f) {
				t.Errorf("the error repeats the password (%q): %s", f, out)
			}
		}
		if !strings.Contains(out, "failed to connect") && !strings.Contains(out, "does not parse") {
			t.Errorf("the error does not say what went wrong: %s", out)
		}
	}
}
