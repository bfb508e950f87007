// Command arbd is the arbitrage daemon: it keeps every configured venue's
// order books in sync, detects cross-venue opportunities net of all costs,
// passes each plan through the risk rules, and serves its state over HTTP.
//
//	go run ./cmd/arbd                   # embedded offline default: simulated venues, embedded NATS
//	go run ./cmd/arbd --config FILE     # a config file (see configs/)
//
// SIGINT/SIGTERM shut it down cleanly; SIGHUP reloads the risk rules file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
	"arb/configs"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run is main with its inputs explicit, so tests can call it. It returns the
// process exit code: 0 clean shutdown, 1 runtime failure, 2 bad usage or
// configuration.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("arbd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (default: the embedded offline default)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: arbd [--config FILE]\n\nWithout --config, arbd runs its embedded default: simulated Binance, OKX and Bybit\nvenues in process, embedded NATS, paper trading, HTTP on 127.0.0.1:7420.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "arbd: unexpected argument %q (use --config FILE)\n", fs.Arg(0))
		return 2
	}

	var cfg *config.Config
	var err error
	if *cfgPath == "" {
		cfg, err = config.Parse(config.DefaultName, config.Default(), wire.Known())
	} else {
		cfg, err = config.Load(*cfgPath, wire.Known())
	}
	if err != nil {
		fmt.Fprintln(stderr, "arbd: "+oneLine(err))
		return 2
	}

	if *cfgPath != "" && cfg.Risk.RulesFile != "" {
		// Checked here, not left to start-up, so that a config naming a
		// rules file that is not there fails like any other bad config.
		if _, err := os.ReadFile(cfg.Risk.RulesFile); err != nil {
			fmt.Fprintf(stderr, "arbd: %s: risk.rules_file: %v\n", *cfgPath, err)
			return 2
		}
	}

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opt := wire.Options{Logger: logger}
	if *cfgPath == "" {
		// The embedded default runs from any directory: without
		// configs/rules.yaml beside it, it uses the embedded copy. A config
		// file names its own rules file, and a missing one is an error, not
		// a silent switch to rules the operator did not choose.
		opt.RulesFallback, opt.RulesFallbackName = configs.DefaultRules, configs.DefaultRulesName
	}
	d, err := wire.Build(ctx, cfg, opt)
	if err != nil {
		logger.Error("start-up failed", "err", err)
		fmt.Fprintln(stderr, "arbd: "+oneLine(err))
		return 1
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if v, err := d.Reload(); err == nil {
				logger.Info("rules reloaded on SIGHUP", "version", v)
			}
		}
	}()

	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		logger.Info("shutting down")
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			fmt.Fprintln(stderr, "arbd: shutdown did not finish within 10 s; exiting")
			return 1
		}
	}
	if err != nil {
		logger.Error("stopped on failure", "err", err)
		fmt.Fprintln(stderr, "arbd: "+oneLine(err))
		return 1
	}
	logger.Info("stopped")
	return 0
}

// oneLine returns the first line of err's message, noting how many more
// problems followed, so a bad start prints one clear line.
func oneLine(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) && len(ce.Problems) > 0 {
		s := ce.Problems[0].String()
		if more := len(ce.Problems) - 1 + ce.Omitted; more > 0 {
			s += fmt.Sprintf(" (and %d more problem(s))", more)
		}
		return s
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] + " (…)"
	}
	return msg
}
