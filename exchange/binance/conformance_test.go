package binance

import (
	"testing"

	"arb/exchange"
	"arb/exchange/exchangetest"
	"arb/exchange/sim"
)

// TestConformance runs the cross-venue conformance suite against this
// adapter and the simulated venue: normalization, gaps, disconnects,
// malformed frames, a frozen feed, crossed updates, unknown symbols, huge
// frames, the venue's own faults, and scheduled handover.
func TestConformance(t *testing.T) {
	exchangetest.Run(t, exchangetest.Harness{
		Kind:   sim.KindBinance,
		Faults: []sim.FaultKind{sim.FaultServerShutdown},
		New: func(env exchangetest.Env) (exchange.MarketData, error) {
			return New(Config{
				Venue: env.Venue, Name: env.Name, WSURL: env.URLs.WS, RESTURL: env.URLs.REST,
				Instruments: env.Instruments, Ring: env.Ring, AgeMax: env.AgeMax, Lifetime: env.Lifetime,
				MaxFrame: env.MaxFrame, Rand: env.Rand, Logger: env.Logger,
			})
		},
	})
}
