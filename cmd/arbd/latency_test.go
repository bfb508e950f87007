package main

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestLatencyBench is the order-path benchmark of BENCHMARKS.md ("arbd
// order path"): arbd as a process, with --latency-probe, trading two
// simulated venues (in this test process) stepping every 100 ms — events at
// a venue's pace, the loop idle between them — while OKX's book is
// dislocated one way, then the other, every second, so a plan (and a
// trade) follows every dislocation. It runs for ARB_LATENCY_BENCH seconds
// and is skipped without it:
//
//	ARB_LATENCY_BENCH=300 go test -run TestLatencyBench -v ./cmd/arbd
//
// It prints tick-to-order, plan-to-send and plan-to-both-legs-on-the-wire
// quantiles, and the ring hand-off beside a Go channel's, measured on the
// same events in the same run.
func TestLatencyBench(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("ARB_LATENCY_BENCH"))
	if secs <= 0 {
		t.Skip("set ARB_LATENCY_BENCH=<seconds> to run the order-path benchmark")
	}
	e := newTradeEnvWith(t, defaultPolicy, []string{"cooldown: 1m", "cooldown: 300ms", "max_notional: \"5000\"", "max_notional: \"1000\""}, "--latency-probe")
	end := time.Now().Add(time.Duration(secs) * time.Second)
	sign := 1.0
	for time.Now().Before(end) {
		e.dislocate(sign*60, 5)
		sign = -sign
		e.p.alive()
		time.Sleep(time.Second) // the pace of the market, not a wait for a condition
	}
	_, body := e.p.get("/api/v1/status")
	var st struct {
		Execution struct {
			Opened         int             `json:"opened"`
			ClosedFlat     int             `json:"closed_flat"`
			ClosedResidual int             `json:"closed_residual"`
			Latency        json.RawMessage `json:"latency"`
		} `json:"execution"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("trades opened %d (flat %d, residual %d)", st.Execution.Opened, st.Execution.ClosedFlat, st.Execution.ClosedResidual)
	t.Logf("latency: %s", st.Execution.Latency)
	e.p.stop()
}
