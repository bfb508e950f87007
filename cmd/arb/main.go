// Command arb is the operator's and quant's tool beside the daemon.
//
//	arb sim [--seed N] [--step D] [--port-base P]   run the simulated venues standalone
//	arb config check FILE                           validate an arbd config offline: every problem, one line each
//	arb rules check FILE [--sample FILE.json]       validate a rules file offline and evaluate it on a sample plan
//	arb record --config FILE --out DIR [--duration D] record what the venues send (also: arb record cut|info)
//	arb backtest --data FILE... --config FILE --out DIR   replay a recording through the engine
//	arb rules keygen --out KEYFILE                  make a key to sign rule sets for the NATS KV bucket
//	arb rules sign --key KEYFILE FILE               print FILE as a signed rule set for the NATS KV bucket
//	arb ledger pnl|balances|trades|fills|check|reconcile|export   the books
//	arb status [--json]                             the fleet: every arbd's last heartbeat
//	arb version                                     module version and VCS revision
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"arb/cmd/internal/wire"
	"arb/exchange/sim"
	"arb/risk"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage:
  arb sim [--seed N] [--step D] [--port-base P]    run the simulated Binance, OKX and Bybit venues
  arb config check FILE                            validate an arbd config file offline
  arb rules check FILE [--sample FILE.json]        validate a risk rules file and evaluate it on a sample plan
  arb record --config FILE --out DIR [--duration D] record what the venues send (arb record cut|info: see arb record help)
  arb backtest --data FILE... --config FILE --out DIR [--sweep KEY=V1,V2]   backtest a recording
  arb rules keygen --out KEYFILE                   make a key to sign rule sets for the NATS KV bucket
  arb rules sign --key KEYFILE FILE                print a signed rule set for the NATS KV bucket
  arb ledger pnl|balances|trades|fills|check|reconcile|export [flags]   the books (arb ledger help)
  arb status [--json] [--config FILE | --data-dir DIR | --nats URL]      the fleet: every arbd's last heartbeat
  arb version
`

// pending are verbs of the design that later issues implement.
var pending = map[string]bool{}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "sim":
		return runSim(args[1:], stdout, stderr)
	case "record":
		return runRecord(args[1:], stdout, stderr)
	case "backtest":
		return runBacktest(args[1:], stdout, stderr)
	case "config":
		return configCmd(args[1:], stdout, stderr)
	case "ledger":
		return runLedger(args[1:], stdout, stderr)
	case "status":
		return runStatus(args[1:], stdout, stderr)
	case "rules":
		return rulesCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "arb", wire.ReadBuildInfo().String())
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if pending[args[0]] {
		fmt.Fprintf(stderr, "arb: %q is not implemented in this build yet\n", args[0])
		return 2
	}
	fmt.Fprintf(stderr, "arb: unknown command %q\n%s", args[0], usage)
	return 2
}

// runSim runs the simulated venues on fixed loopback ports until
// interrupted, printing their URLs for a config's ws_url / rest_url.
func runSim(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arb sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed of the simulated market")
	step := fs.Duration("step", 100*time.Millisecond, "market step interval")
	portBase := fs.Int("port-base", 9401, "first port: binance on P, okx on P+1, bybit on P+2 (0 = any free ports)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := sim.DefaultConfig()
	cfg.Seed, cfg.StepInterval = *seed, *step
	for i := range cfg.Venues {
		if *portBase > 0 {
			cfg.Venues[i].Listen = fmt.Sprintf("127.0.0.1:%d", *portBase+i)
		}
	}
	s, err := sim.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "arb sim:", err)
		return 2
	}
	if err := s.Start(); err != nil {
		fmt.Fprintln(stderr, "arb sim:", err)
		return 1
	}
	defer s.Close()
	for _, v := range s.Venues() {
		u, _ := s.URLs(v)
		fmt.Fprintf(stdout, "%-8s ws_url: %s  rest_url: %s\n", v, u.WSBase, u.REST)
		fmt.Fprintf(stdout, "%-8s private: %s  order entry: %s\n", "", u.Private, u.Trade)
	}
	fmt.Fprintln(stdout, "simulating; Ctrl-C to stop")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}

// rulesCmd dispatches `arb rules check|keygen|sign`.
func rulesCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return rulesCheck(args[1:], stdout, stderr)
		case "keygen":
			return rulesKeygen(args[1:], stdout, stderr)
		case "sign":
			return rulesSign(args[1:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, "usage: arb rules check FILE [--sample FILE.json]\n       arb rules keygen --out KEYFILE\n       arb rules sign --key KEYFILE FILE\n")
	return 2
}

// rulesCheck validates a rules file and prints what each rule decides on a
// sample plan (the built-in healthy sample, or one given as JSON).
func rulesCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arb rules check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	samplePath := fs.String("sample", "", "JSON file with a risk.Input to evaluate (default: a healthy built-in sample)")
	// Accept the file before or after the flags.
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
	if file == "" {
		fmt.Fprint(stderr, "usage: arb rules check FILE [--sample FILE.json]\n")
		return 2
	}
	src, err := risk.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, "arb rules check:", err)
		return 1
	}
	sample := risk.DefaultSample()
	if *samplePath != "" {
		b, err := os.ReadFile(*samplePath)
		if err != nil {
			fmt.Fprintln(stderr, "arb rules check:", err)
			return 1
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sample); err != nil {
			fmt.Fprintf(stderr, "arb rules check: %s: %v\n", *samplePath, err)
			return 1
		}
	}
	rep, err := risk.Check(src, file, sample)
	if err != nil {
		var le *risk.LoadError
		if errors.As(err, &le) {
			fmt.Fprintln(stderr, le.Error())
		} else {
			fmt.Fprintln(stderr, "arb rules check:", err)
		}
		return 1
	}
	if _, err := rep.WriteTo(stdout); err != nil {
		return 1
	}
	return 0
}
