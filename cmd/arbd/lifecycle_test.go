package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"arb/cmd/internal/wire"
	"arb/exchange/sim"
)

// TestGracefulStop: SIGTERM while a trade's first leg is at the venue
// (filled there, its acknowledgement held back a minute, the private
// stream silent). /readyz turns 503 "shutting down" at once while the
// daemon works on; the trade gets half the time, then the executor is
// halted: no second leg is sent, the order in flight is resolved with the
// venue (the executor cancels a live order, strategy/execute's halt.txt;
// one whose answer is missing is asked for) and the trade closes as it
// stands — long before the held-back acknowledgement. arbd exits 0 within
// the bound and logs that nothing was left; the restarted daemon finds
// nothing to recover: every record reached JetStream before the exit.
func TestGracefulStop(t *testing.T) {
	policy := strings.Replace(strings.Replace(defaultPolicy, "ack_timeout: 1s", "ack_timeout: 20s", 1), "deadline: 40s", "deadline: 2m", 1)
	// A short cooldown: a plan made before the trading connection is up
	// closes unplaced, and the next one must come soon.
	e := newTradeEnvWith(t, policy+"\n    mode: sequential\n    first: buy", []string{"cooldown: 1m", "cooldown: 5s"})
	for _, f := range []sim.Fault{{Kind: sim.FaultDelayAck, Duration: time.Minute, Count: 100}, {Kind: sim.FaultStreamSilent, Duration: time.Minute}} {
		if err := e.sim.Inject("binance", f); err != nil {
			t.Fatal(err)
		}
	}
	e.dislocate(60, 600)
	// A trade whose first leg filled at Binance and whose second is not
	// sent (a plan made before the faults were in place may have traded
	// both legs: not that one).
	tradeOf := func(cid string) string { return strings.TrimPrefix(cid, "arb")[:16] }
	okxOrders := func(trade string) int {
		n := 0
		for _, o := range e.sim.Orders("okx") {
			if strings.HasPrefix(o.ClientID, "arb") && tradeOf(o.ClientID) == trade {
				n++
			}
		}
		return n
	}
	var held string
	e.p.waitFor("a trade's first leg filled at Binance, its second not sent", 2*time.Minute, func() bool {
		for _, f := range e.sim.Fills("binance") {
			if strings.HasPrefix(f.ClientID, "arb") && okxOrders(tradeOf(f.ClientID)) == 0 {
				held = tradeOf(f.ClientID)
				return true
			}
		}
		return false
	})
	asked := func(since time.Time) []string {
		var out []string
		for _, r := range e.sim.Requests("binance") {
			if !r.At.Before(since) && (r.Endpoint == "order.cancel" || r.Endpoint == "order.status" ||
				strings.Contains(r.Endpoint, "/api/v3/order")) {
				out = append(out, r.Endpoint)
			}
		}
		return out
	}
	stopAt := time.Now()
	if err := e.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Not ready from the start of the stop, while still serving.
	e.p.waitFor("/readyz 503 shutting down", 30*time.Second, func() bool {
		c, body := e.p.get("/readyz")
		return c == 503 && strings.Contains(body, "shutting down")
	})
	select {
	case <-e.p.exited:
	case <-time.After(wire.ShutdownTimeout + 30*time.Second):
		t.Fatal("arbd did not exit")
	}
	took := time.Since(stopAt)
	if e.p.err != nil {
		t.Fatalf("exit: %v", e.p.err)
	}
	t.Logf("stopped in %v", took.Round(time.Millisecond))
	if took > wire.ShutdownTimeout+5*time.Second {
		t.Errorf("the stop took %v", took)
	}
	if a := asked(stopAt); len(a) == 0 {
		t.Error("the order in flight was not resolved with the venue during the stop")
	} else {
		t.Logf("asked Binance during the stop: %v", a)
	}
	if n := okxOrders(held); n != 0 {
		t.Errorf("the second leg of trade %s was sent during the stop (%d OKX orders)", held, n)
	}
	var stop map[string]any
	for _, l := range strings.Split(e.p.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"graceful stop`) && strings.Contains(l, `"took"`) {
			json.Unmarshal([]byte(l), &stop)
		}
	}
	if stop == nil || stop["cancelled_open_orders"] != true {
		t.Fatalf("graceful stop line: %v", stop)
	}
	if stop["open_trades_left"] != 0.0 || stop["events_left"] != 0.0 {
		t.Errorf("the stop left work: %v", stop)
	}

	// Nothing to recover after a restart: the trade closed and its records
	// were stored before the exit.
	e.start()
	ts := e.settle(60 * time.Second)
	e.check(ts)
	if strings.Contains(e.p.logs.String(), `"recovering":1`) {
		t.Error("the restarted arbd had a trade to recover: the stop did not close it")
	}
	e.p.stop()
}
