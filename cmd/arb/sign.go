package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"arb/cmd/internal/wire"
	"arb/risk"
)

// rulesKeygen writes a new rules signing key to --out (0600, refusing to
// overwrite) and prints its public key, for risk.kv_trusted_keys.
func rulesKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arb rules keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write the private key to (created 0600; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "usage: arb rules keygen --out KEYFILE\n")
		return 2
	}
	pub, priv, err := wire.GenerateRulesKey()
	if err != nil {
		fmt.Fprintln(stderr, "arb rules keygen:", err)
		return 1
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintln(stderr, "arb rules keygen:", err)
		return 1
	}
	_, werr := fmt.Fprintln(f, priv)
	if err := errors.Join(werr, f.Close()); err != nil {
		fmt.Fprintln(stderr, "arb rules keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "private key written to %s (keep it secret)\npublic key for risk.kv_trusted_keys: %s\n", *out, pub)
	return 0
}

// rulesSign prints FILE as a signed rule set, the value to put under the
// "rules" key of the KV bucket. A rules file that does not pass `arb rules
// check` is not signed.
func rulesSign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arb rules sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "private key file (arb rules keygen)")
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" || *keyFile == "" {
		fmt.Fprint(stderr, "usage: arb rules sign --key KEYFILE FILE\n")
		return 2
	}
	kb, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "arb rules sign:", err)
		return 1
	}
	key, err := wire.ParseRulesPrivateKey(string(kb))
	if err != nil {
		fmt.Fprintf(stderr, "arb rules sign: %s: %v\n", *keyFile, err)
		return 1
	}
	src, err := risk.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, "arb rules sign:", err)
		return 1
	}
	if _, err := risk.Check(src, file, risk.DefaultSample()); err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "arb rules sign: the rules do not load; nothing signed")
		return 1
	}
	signed, err := wire.SignRules(src, key, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "arb rules sign:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(signed))
	return 0
}
