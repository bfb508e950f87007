//go:build race

package binance

// raceEnabled: the race detector slows this package's goroutines (and the
// in-process simulator's) several times, so end-to-end deadlines stretch.
const raceEnabled = true
