// Command arbd is the arbitrage daemon: it keeps every configured venue's
// order books in sync, detects cross-venue opportunities net of all costs,
// passes each plan through the risk rules, and serves its state over HTTP.
//
//	go run ./cmd/arbd                   # embedded offline default: simulated venues, embedded NATS
//	go run ./cmd/arbd --config FILE     # a config file (see configs/)
//	go run ./cmd/arbd --version         # module version and VCS revision
//	go run ./cmd/arbd --config FILE --role feed    # venue adapters only: books to NATS
//	go run ./cmd/arbd --config FILE --role feed --http 127.0.0.1:7421  # beside an engine on one host
//	go run ./cmd/arbd --config FILE --role engine  # everything else: books from NATS
//	arbd --healthcheck http://127.0.0.1:7420/healthz   # exit 0 if it answers 200, else 1
//
// --healthcheck is the container image's HEALTHCHECK: the distroless image
// has no shell and no curl, so the daemon's own binary probes the daemon.
//
// SIGINT/SIGTERM shut it down cleanly; SIGHUP reloads the risk rules file.
// Every handled signal is routed during package initialization (earlysig),
// so a SIGHUP during start-up cannot kill the process, and SIGPIPE is
// ignored, so a log reader that goes away (a dying log shipper on stderr)
// cannot kill the trader.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"arb/cmd/arbd/internal/earlysig"
	"arb/cmd/internal/config"
	"arb/cmd/internal/jsonlog"
	"arb/cmd/internal/wire"
	"arb/configs"
	"arb/exchange/recording"
)

// shutdownWait bounds a clean shutdown after SIGINT/SIGTERM: the graceful
// stop (open orders cancelled, events drained) and then closing NATS.
const shutdownWait = wire.ShutdownTimeout + 10*time.Second

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is main with its inputs explicit, so tests can call it. It returns the
// process exit code: 0 clean shutdown, 1 runtime failure, 2 bad usage or
// configuration.
func run(args []string, stdout, stderr io.Writer) int {
	// Signals first: since package initialization (earlysig), SIGHUP,
	// SIGINT and SIGTERM are queued for the dispatcher below instead of
	// taking their default action, however long the rest of start-up takes,
	// and SIGPIPE is ignored. Notify again in case a caller (a test) reset
	// them.
	sigs := earlysig.Channel()
	signal.Notify(sigs, earlysig.Handled...)
	defer signal.Stop(sigs)
	signal.Ignore(syscall.SIGPIPE)

	fs := flag.NewFlagSet("arbd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (default: the embedded offline default)")
	version := fs.Bool("version", false, "print the module version and VCS revision, then exit")
	health := fs.String("healthcheck", "", "GET this URL (http://127.0.0.1:7420/healthz) and exit 0 if it answers 200, 1 otherwise; for a container HEALTHCHECK")
	roleName := fs.String("role", "all", "what this process runs: all (adapters and engine in one process), feed (only the venue adapters, publishing books to NATS arb.book.<venue>.<symbol>) or engine (everything else, books from the feeds over NATS); feed and engine need nats.url")
	probe := fs.Bool("latency-probe", false, "measure the feed-to-loop ring hand-off against a Go channel in the same run (/api/v1/status execution.latency.handoff); for benchmarks")
	httpListen := fs.String("http", "", "serve HTTP on this host:port instead of the config's http.listen (a feed process beside an engine on one host, both from one config)")
	record := fs.String("record", "", "record what the venues send (frames, snapshots, instruments replies) into this directory, a recording arb backtest replays with the session's plan ids")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: arbd [--config FILE] [--role all|feed|engine] [--http HOST:PORT] [--record DIR] [--version] [--healthcheck URL]\n\nWithout --config, arbd runs its embedded default: simulated Binance, OKX and Bybit\nvenues in process, embedded NATS, paper trading, HTTP on 127.0.0.1:7420.\n\n")
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
	if *health != "" {
		return healthcheck(*health, stdout, stderr)
	}
	role, err := wire.ParseRole(*roleName)
	if err != nil {
		fmt.Fprintf(stderr, "arbd: --role: %v\n", err)
		return 2
	}
	if *record != "" && role != wire.RoleAll {
		// A feed process records nothing the engine decides on, an engine
		// runs no adapter to record: refused rather than silently empty.
		fmt.Fprintf(stderr, "arbd: --record needs --role all (a recording holds what the venues sent together with the session's plan ids)\n")
		return 2
	}
	bi := wire.ReadBuildInfo()
	if *version {
		fmt.Fprintln(stdout, "arbd", bi.String())
		return 0
	}

	// Configuration problems are printed before the JSON log starts, one
	// line each, all of them: the operator fixes the file in one pass.
	// wire.Known's checks include what used to fail only at run time (the
	// rules file, scales the detector cannot hold, the simulator's limits).
	var cfg *config.Config
	if *cfgPath == "" {
		cfg, err = config.Parse(config.DefaultName, config.Default(), wire.Known())
	} else {
		cfg, err = config.Load(*cfgPath, wire.Known())
	}
	if err != nil {
		printProblems(stderr, err)
		return 2
	}
	if *httpListen != "" {
		if _, _, err := net.SplitHostPort(*httpListen); err != nil {
			fmt.Fprintf(stderr, "arbd: --http %q: want host:port: %v\n", *httpListen, err)
			return 2
		}
		cfg.HTTP.Listen = *httpListen
	}
	// From here on stderr carries JSON lines only: each key once per
	// object, and a line about an order carries its trade id (jsonlog).
	logger := slog.New(jsonlog.New(stderr, &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}, cfg.Execution.Prefix))
	source := *cfgPath
	if source == "" {
		source = config.DefaultName
	}
	logger.Info("arbd starting", append(bi.LogAttrs(), "config", source, "pid", os.Getpid(), "role", string(role))...)

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var daemon atomic.Pointer[wire.Daemon]
	var hupDuringStart atomic.Bool
	dispatchDone := make(chan struct{})
	defer close(dispatchDone)
	go func() {
		for {
			select {
			case <-dispatchDone:
				return
			case s := <-sigs:
				switch s {
				case syscall.SIGHUP:
					if role == wire.RoleFeed {
						logger.Info("SIGHUP ignored: a feed process has no rules to reload")
						continue
					}
					d := daemon.Load()
					if d == nil {
						hupDuringStart.Store(true)
						logger.Info("SIGHUP during start-up: the rules will be reloaded once start-up is done")
						continue
					}
					reloadOnHUP(d, logger)
				default:
					if ctx.Err() == nil {
						logger.Info("shutting down", "signal", s.String())
					}
					cancel(errSignal)
				}
			}
		}
	}()

	if role == wire.RoleFeed {
		return runFeed(ctx, cfg, logger)
	}
	opt := wire.Options{Logger: logger, LatencyProbe: *probe, Role: role}
	if *cfgPath == "" {
		// The embedded default runs from any directory: without
		// configs/rules.yaml beside it, it starts on the embedded copy. A
		// config file names its own rules file, and a missing one is an
		// error, not a silent switch to rules the operator did not choose.
		opt.RulesFallback, opt.RulesFallbackName = configs.DefaultRules, configs.DefaultRulesName
	}
	if *record != "" {
		w, base, err := startRecording(cfg, *record, args)
		if err != nil {
			logger.Error("start-up failed", "err", err)
			return 1
		}
		opt.Tap, opt.PlanIDBase = w, base
		defer func() {
			err := w.Close()
			st := w.Stats()
			logger.Info("recording closed", "dir", *record, "files", w.Files(), "records", st.Records.Load(), "bytes", st.Bytes.Load(), "err", err)
		}()
	}
	d, err := wire.Build(ctx, cfg, opt)
	if err != nil {
		return startFailed(ctx, err, logger)
	}
	daemon.Store(d)
	if hupDuringStart.Load() {
		reloadOnHUP(d, logger)
	}
	return runUntilStopped(ctx, d.Run, logger)
}

// runFeed runs arbd --role feed until ctx ends (a signal) and returns the
// exit code.
func runFeed(ctx context.Context, cfg *config.Config, logger *slog.Logger) int {
	f, err := wire.BuildFeed(ctx, cfg, wire.Options{Logger: logger})
	if err != nil {
		return startFailed(ctx, err, logger)
	}
	return runUntilStopped(ctx, f.Run, logger)
}

// startFailed logs a start-up that did not finish and returns the exit
// code: 0 when a signal stopped it, 1 when it failed.
func startFailed(ctx context.Context, err error, logger *slog.Logger) int {
	if errors.Is(context.Cause(ctx), errSignal) {
		logger.Info("stopped during start-up")
		return 0
	}
	logger.Error("start-up failed", "err", err)
	return 1
}

// runUntilStopped runs run until it returns or ctx ends (a signal); after
// a signal it waits up to shutdownWait for run to finish its clean stop.
// It returns the exit code: 0 on a clean stop, 1 on a failure or a stop
// that did not finish in time.
func runUntilStopped(ctx context.Context, run func(context.Context) error, logger *slog.Logger) int {
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		case <-time.After(shutdownWait):
			logger.Error("shutdown did not finish in time; exiting", "wait", shutdownWait.String())
			return 1
		}
	}
	if err != nil && !errors.Is(err, errSignal) {
		logger.Error("stopped on failure", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

// startRecording opens arbd --record's recording: the config's venues,
// and a fresh plan id base that the session's detector numbers its plans
// from (the recording keeps it for the backtest).
func startRecording(cfg *config.Config, dir string, args []string) (*recording.Writer, uint64, error) {
	meta := wire.RecordMeta(cfg)
	meta.PlanIDBase = wire.NewPlanIDBase()
	meta.Note = "arbd " + strings.Join(args, " ")
	w, err := recording.NewWriter(recording.WriterConfig{Dir: dir, Meta: meta})
	if err != nil {
		return nil, 0, fmt.Errorf("--record: %w", err)
	}
	return w, meta.PlanIDBase, nil
}

// errSignal is the cancellation cause of a SIGINT or SIGTERM.
var errSignal = errors.New("stopped by signal")

// reloadOnHUP reloads the rules file and logs the outcome either way: a
// reload that fails leaves the running rules in force, and says why.
func reloadOnHUP(d *wire.Daemon, logger *slog.Logger) {
	v, err := d.Reload()
	if err != nil {
		logger.Error("SIGHUP rules reload failed; the running rules stay in force", "err", err)
		return
	}
	logger.Info("rules reloaded on SIGHUP", "version", v)
}

// printProblems prints a configuration error: every problem of a
// *config.Error on its own line ("file:line: key: what is wrong"), any
// other error as one line.
func printProblems(w io.Writer, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(w, ce.Error())
		return
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.ReplaceAll(msg, "\n", "; ")
	}
	fmt.Fprintln(w, msg)
}
