package wire

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"arb/cmd/internal/config"
	"arb/exchange"
	"arb/exchange/binance"
	"arb/exchange/bybit"
	"arb/exchange/okx"
	"arb/exchange/sim"
	"arb/ringbuf"
)

// feedSetup is what every adapter constructor needs, in the wiring's terms.
type feedSetup struct {
	venue       exchange.VenueID
	name        string
	wsURL       string // host base: ws(s)://host[:port]
	restURL     string
	instruments []exchange.Instrument
	channel     string
	depth       int
	ageMax      time.Duration
	ring        *ringbuf.MPSC[exchange.BookTop]
	logger      *slog.Logger
	now         func() int64
	rand        *rand.Rand
	http        *http.Client
}

// kind is one venue protocol this build speaks: how to build its feed,
// how to fetch its instrument filters, and how to build its trading client
// (trading.go; nil while the venue's client is not in this build, which
// makes the venue market data only) with the simulator's public test keys
// for a sim:// venue.
type kind struct {
	newFeed   func(s feedSetup) (exchange.MarketData, error)
	fetch     func(ctx context.Context, hc *http.Client, restURL, venue string, want []exchange.Instrument) ([]exchange.Instrument, error)
	newTrader func(s traderSetup) (trader, error)
	simKeys   keys
}

// kinds is the one list of venue protocols; config validation takes its keys
// from here so the list cannot drift.
var kinds = map[string]kind{
	"binance": {
		newFeed: func(s feedSetup) (exchange.MarketData, error) {
			return binance.New(binance.Config{
				Venue: s.venue, Name: s.name, WSURL: s.wsURL, RESTURL: s.restURL,
				Instruments: s.instruments, Channel: s.channel, Depth: s.depth, AgeMax: s.ageMax,
				Ring: s.ring, Logger: s.logger, Now: s.now, Rand: s.rand, HTTPClient: s.http,
			})
		},
		fetch:     binance.FetchInstruments,
		newTrader: newBinanceTrader,
		simKeys:   keys{key: sim.TestBinanceKey, secret: sim.TestBinanceSecret},
	},
	"okx": {
		newFeed: func(s feedSetup) (exchange.MarketData, error) {
			return okx.New(okx.Config{
				Venue: s.venue, Name: s.name, WSURL: s.wsURL, RESTURL: s.restURL,
				Instruments: s.instruments, Channel: s.channel, Depth: s.depth, AgeMax: s.ageMax,
				Ring: s.ring, Logger: s.logger, Now: s.now, Rand: s.rand, HTTPClient: s.http,
			})
		},
		fetch:     okx.FetchInstruments,
		newTrader: newOKXTrader,
		simKeys:   keys{key: sim.TestOKXKey, secret: sim.TestOKXSecret, passphrase: sim.TestOKXPassphrase},
	},
	"bybit": {
		newFeed: func(s feedSetup) (exchange.MarketData, error) {
			return bybit.New(bybit.Config{
				Venue: s.venue, Name: s.name, WSURL: s.wsURL, RESTURL: s.restURL,
				Instruments: s.instruments, Channel: s.channel, Depth: s.depth, AgeMax: s.ageMax,
				Ring: s.ring, Logger: s.logger, Now: s.now, Rand: s.rand, HTTPClient: s.http,
			})
		},
		fetch:     bybit.FetchInstruments,
		newTrader: newBybitTrader,
		simKeys:   keys{key: sim.TestBybitKey, secret: sim.TestBybitSecret},
	},
	// An on-chain pool (chain.go): its feed and trading client are built
	// from the venue's chain (Daemon.newFeed, Daemon.newTrader).
	config.KindUniswap: {fetch: poolFetch},
}

// Kinds returns the venue kinds this build knows, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
