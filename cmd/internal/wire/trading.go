package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/binance"
	"arb/exchange/bybit"
	"arb/exchange/num"
	"arb/exchange/okx"
	"arb/exchange/paper"
	"arb/strategy/execute"
)

// trader is one venue's trading client as the daemon drives it: the
// executor's calls (execute.Venue), balances, the private order stream and
// the circuit, and Run, which keeps its connections (each real client and
// the paper venue implement it).
type trader interface {
	execute.Venue
	exchange.Accounts
	exchange.PrivateStream
	exchange.CircuitReporter
	Run(ctx context.Context) error
}

// Trading modes of a venue (status, logs).
const (
	modeLive  = "live"  // the venue's own endpoints, keys from the environment
	modeSim   = "sim"   // the in-process simulator's endpoints, its public test keys
	modePaper = "paper" // exchange/paper: filled from the live book, nothing sent
	modeNone  = "none"  // this build has no trading client for the venue's kind
)

// keys are a venue's API credentials. They print as a placeholder.
type keys struct{ key, secret, passphrase string }

func (keys) String() string               { return "[redacted]" }
func (keys) GoString() string             { return "[redacted]" }
func (keys) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (k keys) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[redacted]") }

// traderSetup is what every trading client constructor needs, in the
// wiring's terms.
type traderSetup struct {
	venue       exchange.VenueID
	name        string
	restURL     string
	privateURL  string // the private stream (Binance: the WebSocket API)
	tradeURL    string // order entry; "" = privateURL
	keys        keys
	demo        bool
	instruments []exchange.Instrument
	logger      *slog.Logger
	// onWrite is called just before an order's bytes go out (tick-to-order).
	onWrite func(clientID exchange.ID, at int64)
	// reconcileFrom is where the first reconciliation reads fills from.
	reconcileFrom int64
}

func newBinanceTrader(s traderSetup) (trader, error) {
	creds, err := binance.NewCredentials(s.keys.key, s.keys.secret)
	if err != nil {
		return nil, err
	}
	return binance.NewClient(binance.ClientConfig{
		Venue: s.venue, Name: s.name, RESTURL: s.restURL, WSAPIURL: s.privateURL, OrderWSURL: s.tradeURL,
		Credentials: creds, Instruments: s.instruments, Logger: s.logger, OnOrderWrite: s.onWrite,
		ReconcileFrom: s.reconcileFrom,
	})
}

func newOKXTrader(s traderSetup) (trader, error) {
	return okx.NewClient(okx.ClientConfig{
		Venue: s.venue, Name: s.name, RESTURL: s.restURL, PrivateWSURL: s.privateURL, OrderWSURL: s.tradeURL,
		Credentials: okx.NewCredentials(s.keys.key, s.keys.secret, s.keys.passphrase), Demo: s.demo,
		Instruments: s.instruments, Logger: s.logger, OnOrderWrite: s.onWrite,
		FillsFrom: time.Unix(0, s.reconcileFrom),
	})
}

func newBybitTrader(s traderSetup) (trader, error) {
	creds, err := bybit.NewCredentials(s.keys.key, s.keys.secret)
	if err != nil {
		return nil, err
	}
	c, err := bybit.NewClient(bybit.ClientConfig{
		Venue: s.venue, Name: s.name, RESTURL: s.restURL, PrivateURL: s.privateURL, TradeURL: s.tradeURL,
		Credentials: creds, Instruments: s.instruments, Logger: s.logger, OnOrderWrite: s.onWrite,
		ReconcileFrom: s.reconcileFrom,
	})
	if err != nil {
		return nil, err
	}
	return bybitTrader{c}, nil
}

// bybitTrader gives the Bybit client (Start/Close) the Run of the others.
type bybitTrader struct{ *bybit.Client }

// Run starts the client's background work and stops it when ctx ends.
func (b bybitTrader) Run(ctx context.Context) error {
	if err := b.Start(ctx); err != nil && ctx.Err() == nil {
		// Start retries in the background; the first measurement failing
		// is not fatal.
		b.Config().Logger.Warn("bybit: first server-time measurement failed; retrying", "venue", b.Config().Name, "err", err)
	}
	<-ctx.Done()
	b.Close()
	return ctx.Err()
}

// tradingMode says how venue i trades.
func tradingMode(cfg *config.Config, i int) string {
	v := cfg.Venues[i]
	if v.Kind == config.KindUniswap {
		switch _, sim := v.SimChain(); {
		case cfg.VenuePaper(i):
			return modePaper
		case sim:
			return modeSim
		}
		return modeLive
	}
	switch _, sim := v.SimName(); {
	case cfg.VenuePaper(i):
		return modePaper
	case kinds[v.Kind].newTrader == nil:
		return modeNone
	case sim:
		return modeSim
	}
	return modeLive
}

// venueKeys returns a venue's credentials: the simulator's public test keys
// for a sim:// venue, else the environment variables the config names
// (config.Secret: the variable, or a file named by NAME_FILE).
func venueKeys(v config.Venue, mode string) (keys, error) {
	if mode == modeSim {
		return kinds[v.Kind].simKeys, nil
	}
	var k keys
	var errs []error
	for _, e := range []struct {
		env string
		dst *string
	}{{v.APIKeyEnv, &k.key}, {v.APISecretEnv, &k.secret}, {v.APIPassphraseEnv, &k.passphrase}} {
		if e.env == "" {
			continue
		}
		s, err := config.Secret(e.env)
		if err != nil {
			errs = append(errs, fmt.Errorf("venue %s: %s: %w", v.Name, e.env, err))
			continue
		}
		*e.dst = s
	}
	return k, errors.Join(errs...)
}

// newTrader builds venue v's trading client over its listings: the paper
// venue, or the kind's client at the venue's (or the simulator's)
// endpoints. It returns nil for a venue whose kind has no trading client
// in this build.
func (d *Daemon) newTrader(v *venue, listings []exchange.Instrument, onWrite func(exchange.ID, int64)) (trader, error) {
	log := d.log.With("component", "trading", "venue", v.cfg.Name)
	switch v.mode {
	case modeNone:
		return nil, nil
	case modePaper:
		bal := map[string]num.Amount{}
		for asset, amt := range v.cfg.Balances {
			a, err := num.ParseAmountString(amt.String())
			if err != nil {
				return nil, fmt.Errorf("venue %s: balances.%s: %w", v.cfg.Name, asset, err)
			}
			bal[asset] = a
		}
		vid := v.id
		return paper.New(paper.Config{
			Venue: v.id, Name: v.cfg.Name, Instruments: listings, FeeBps: v.cfg.TakerFeeBps,
			FeeInBase: v.cfg.FeeAsset == "base", Balances: bal, Latency: d.cfg.Execution.PaperLatency,
			MaxBookAge: v.cfg.AgeMax,
			Books:      func(inst exchange.InstrumentID) (exchange.BookTop, bool) { return d.liveBook(vid, inst) },
		})
	}
	if v.chain != nil {
		t, err := d.poolTraderFor(v, listings, log)
		if err != nil {
			return nil, fmt.Errorf("venue %s: trading client: %w", v.cfg.Name, err)
		}
		return t, nil
	}
	k, err := venueKeys(v.cfg, v.mode)
	if err != nil {
		return nil, err
	}
	t, err := kinds[v.cfg.Kind].newTrader(traderSetup{
		venue: v.id, name: v.cfg.Name, restURL: v.rest, privateURL: v.privateURL, tradeURL: v.tradeURL,
		keys: k, demo: v.cfg.Demo, instruments: listings, logger: log, onWrite: onWrite,
		reconcileFrom: time.Now().Add(-time.Hour).UnixNano(),
	})
	if err != nil {
		return nil, fmt.Errorf("venue %s: trading client: %w", v.cfg.Name, err)
	}
	return t, nil
}

// liveBook returns the latest book of (v, inst) from the loop's snapshot.
func (d *Daemon) liveBook(v exchange.VenueID, inst exchange.InstrumentID) (exchange.BookTop, bool) {
	snap := d.snapshot()
	if snap == nil {
		return exchange.BookTop{}, false
	}
	for i := range snap.Rows {
		if r := &snap.Rows[i]; r.VenueID == v && r.Inst == inst && r.Updates > 0 && i < len(snap.Tops) {
			return snap.Tops[i], true
		}
	}
	return exchange.BookTop{}, false
}

// quotes implements execute.Quotes from the loop's snapshot: the best bid
// and ask of a book that is fresh now (not stale, younger than its venue's
// age limit), else false.
func (d *Daemon) quotes(v exchange.VenueID, inst exchange.InstrumentID) (bid, ask num.Price, ok bool) {
	snap := d.snapshot()
	if snap == nil || int(v) < 1 || int(v) > len(d.venues) {
		return 0, 0, false
	}
	ageMax := int64(d.venues[v-1].cfg.AgeMax)
	now := time.Now().UnixNano()
	for i := range snap.Rows {
		r := &snap.Rows[i]
		if r.VenueID != v || r.Inst != inst {
			continue
		}
		if r.Stale || r.Bid <= 0 || r.Ask <= 0 || now-r.RecvTS > ageMax {
			return 0, 0, false
		}
		return r.Bid, r.Ask, true
	}
	return 0, 0, false
}

// feeRate implements execute.FeeRates: the mid of a fresh book of
// asset-quote (or asset against a quote equivalent), as an exact amount.
func (d *Daemon) feeRate(asset *exchange.ID, quote string) (num.Amount, bool) {
	snap := d.snapshot()
	if snap == nil {
		return num.Amount{}, false
	}
	equiv := quoteEquivalents(d.cfg, quote)
	name := asset.String()
	now := time.Now().UnixNano()
	for i := range snap.Rows {
		r := &snap.Rows[i]
		base, q, _ := strings.Cut(r.Symbol, "-")
		if base != name || !equiv[q] || r.Stale || r.Bid <= 0 || r.Ask <= 0 || now-r.RecvTS > int64(time.Minute) {
			continue
		}
		sum := int64(r.Bid) + int64(r.Ask)
		if sum > math.MaxInt64/5 {
			continue
		}
		return num.AmountOf(sum*5, r.Scale.Px+1), true // (bid+ask)/2 exactly
	}
	return num.Amount{}, false
}
