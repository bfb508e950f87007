package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"arb/cmd/internal/backtest"
	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
	"arb/configs"
)

const backtestUsage = `usage:
  arb backtest --data FILE... --config FILE --out DIR [--from TIME] [--to TIME]
               [--latency D | --latency VENUE=D,...] [--sweep KEY=V1,V2,...]... [--parallel N]

  Replays a recording (arb record) through the daemon's adapters, detector, risk
  rules and executor on a simulated clock, with a simulated venue per recorded
  venue, and writes DIR/report.json, DIR/trades.csv and DIR/report.html.
  --sweep runs the grid of the given keys (config paths such as
  strategy.min_net_edge_bps or venues.okx.taker_fee_bps, or latency[.VENUE])
  in parallel, one run per directory, and writes DIR/sweep.json and sweep.csv.
`

func runBacktest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arb backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backtestUsage); fs.PrintDefaults() }
	var data, sweeps multiFlag
	fs.Var(&data, "data", "recording file (repeatable; more files may follow the flags)")
	cfgPath := fs.String("config", "", "the daemon's config file (default: the embedded default)")
	out := fs.String("out", "", "output directory (required)")
	from := fs.String("from", "", "start of the trading window (RFC 3339 or Unix ns; before it the books only warm up)")
	to := fs.String("to", "", "end of the trading window")
	latency := fs.String("latency", "0", "order latency, one-way: a duration for every venue, or VENUE=D,... ")
	fs.Var(&sweeps, "sweep", "KEY=V1,V2,... (repeatable): run the grid")
	parallel := fs.Int("parallel", 0, "sweep runs at once (default: the number of cores)")
	quiet := fs.Bool("quiet", false, "no progress bar and no summary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	data = append(data, fs.Args()...)
	if len(data) == 0 || *out == "" {
		fmt.Fprint(stderr, backtestUsage)
		return 2
	}
	var src []byte
	name := config.DefaultName
	if *cfgPath == "" {
		src = config.Default()
	} else {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, "arb backtest:", err)
			return 2
		}
		src, name = b, *cfgPath
	}
	opt := backtest.Options{Data: data, Out: *out, Latency: map[string]time.Duration{},
		RulesFallback: configs.DefaultRules, RulesFallbackName: "embedded:rules.yaml"}
	var err error
	if *from != "" {
		if opt.From, err = parseTime(*from); err != nil {
			fmt.Fprintln(stderr, "arb backtest: --from:", err)
			return 2
		}
	}
	if *to != "" {
		if opt.To, err = parseTime(*to); err != nil {
			fmt.Fprintln(stderr, "arb backtest: --to:", err)
			return 2
		}
	}
	for _, part := range strings.Split(*latency, ",") {
		venue, d, ok := strings.Cut(part, "=")
		if !ok {
			venue, d = "", part
		}
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || v < 0 {
			fmt.Fprintf(stderr, "arb backtest: --latency %q: not a duration\n", part)
			return 2
		}
		opt.Latency[strings.TrimSpace(venue)] = v
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := isTerminal(stderr) && !*quiet
	if len(sweeps) > 0 {
		var axes []backtest.Axis
		for _, s := range sweeps {
			a, err := backtest.ParseAxis(s)
			if err != nil {
				fmt.Fprintln(stderr, "arb backtest:", err)
				return 2
			}
			axes = append(axes, a)
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintln(stderr, "arb backtest:", err)
			return 1
		}
		if tty {
			p := &backtest.Progress{W: stderr, Label: "sweep"}
			opt.Progress = func(done, total int64, _ uint64) { p.Update(done, total, 0) }
		}
		rows, err := backtest.Sweep(ctx, name, src, wire.Known(), opt, axes, *parallel)
		if err != nil {
			fmt.Fprintln(stderr, "arb backtest:", err)
			return 1
		}
		backtest.WriteSweepTable(stdout, axes, rows)
		fmt.Fprintf(stdout, "\n%s, %s\n", filepath.Join(*out, "sweep.json"), filepath.Join(*out, "sweep.csv"))
		for _, r := range rows {
			if r.Error != "" {
				return 1
			}
		}
		return 0
	}
	cfg, opt, err := backtest.Apply(name, src, wire.Known(), opt, nil)
	if err != nil {
		fmt.Fprintln(stderr, "arb backtest:", err)
		return 2
	}
	if tty {
		p := &backtest.Progress{W: stderr, Label: "replay"}
		opt.Progress = p.Update
	}
	start := time.Now()
	r, err := backtest.Run(ctx, cfg, opt)
	if err != nil {
		fmt.Fprintln(stderr, "arb backtest:", err)
		return 1
	}
	if !*quiet {
		backtest.WriteSummary(stdout, r)
		el := time.Since(start)
		fmt.Fprintf(stdout, "\n%d events in %s (%.0f events/s)\n", r.Events, el.Round(time.Millisecond), float64(r.Events)/el.Seconds())
	}
	fmt.Fprintf(stdout, "%s, %s, %s\n", filepath.Join(*out, "report.json"), filepath.Join(*out, "trades.csv"), filepath.Join(*out, "report.html"))
	return 0
}
