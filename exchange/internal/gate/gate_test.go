package gate

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"arb/exchange"
)

var t0 = time.Unix(1_700_000_000, 0) // on a minute boundary

func TestBudgetWindows(t *testing.T) {
	g := New(Config{Budgets: []Budget{{"REQUEST_WEIGHT", 10, time.Minute}, {"ORDERS", 2, 10 * time.Second}}})
	if err := g.Take(t0, Cost{0, 4}, Cost{1, 1}); err != nil {
		t.Fatal(err)
	}
	if err := g.Take(t0.Add(time.Second), Cost{0, 4}, Cost{1, 1}); err != nil {
		t.Fatal(err)
	}
	// ORDERS is exhausted for this 10 s window: nothing is spent.
	err := g.Take(t0.Add(2*time.Second), Cost{0, 1}, Cost{1, 1})
	var r *Refusal
	if !errors.As(err, &r) || r.Wait != 8*time.Second || r.Open || r.Reason != "ORDERS budget" {
		t.Fatalf("%v", err)
	}
	if s := g.State(t0.Add(2 * time.Second)); s.Used[0] != 8 || s.Used[1] != 2 {
		t.Fatalf("refused request spent budget: %+v", s)
	}
	// A new ORDERS window; weight 8+3 > 10.
	if err := g.Take(t0.Add(10*time.Second), Cost{0, 3}); err == nil {
		t.Fatal("weight over budget admitted")
	}
	if err := g.Take(t0.Add(time.Minute), Cost{0, 10}); err != nil {
		t.Fatalf("new minute: %v", err)
	}
}

func TestObserveOnlyRaises(t *testing.T) {
	g := New(Config{Budgets: []Budget{{"W", 100, time.Minute}}})
	_ = g.Take(t0, Cost{0, 10})
	g.Observe(t0, 0, 95)
	if err := g.Take(t0, Cost{0, 6}); err == nil {
		t.Fatal("the venue's count was ignored")
	}
	g.Observe(t0, 0, 1)
	if s := g.State(t0); s.Used[0] != 95 {
		t.Fatalf("a lower header freed budget: %d", s.Used[0])
	}
}

func TestBlockAndBan(t *testing.T) {
	g := New(Config{})
	g.Block(t0.Add(30*time.Second), "Retry-After", false)
	g.Block(t0.Add(5*time.Second), "shorter", false)
	var r *Refusal
	if err := g.Take(t0.Add(29 * time.Second)); !errors.As(err, &r) || r.Reason != "Retry-After" || r.Wait != time.Second {
		t.Fatalf("%v", err)
	}
	if err := g.Take(t0.Add(30 * time.Second)); err != nil {
		t.Fatalf("at Retry-After: %v", err)
	}
	g.Block(t0.Add(2*time.Minute), "banned (HTTP 418)", true)
	if err := g.Take(t0.Add(time.Minute)); !errors.As(err, &r) || !r.Open {
		t.Fatalf("ban did not open the circuit: %v", err)
	}
	if s := g.State(t0.Add(time.Minute)); !s.Open || s.OpenReason != "banned (HTTP 418)" {
		t.Fatalf("%+v", s)
	}
}

func TestBreaker(t *testing.T) {
	g := New(Config{Threshold: 3, Cooldown: time.Minute})
	g.Result(t0, false, "timeout")
	g.Result(t0, false, "timeout")
	g.Result(t0, true, "")
	g.Result(t0, false, "timeout")
	g.Result(t0, false, "timeout")
	if err := g.Take(t0); err != nil {
		t.Fatal("opened before three failures in a row")
	}
	g.Result(t0, false, "HTTP 503")
	var r *Refusal
	if err := g.Take(t0.Add(59 * time.Second)); !errors.As(err, &r) || !r.Open || r.Reason != "circuit open: 3 failures in a row, last: HTTP 503" {
		t.Fatalf("%v", err)
	}
	if err := g.Take(t0.Add(time.Minute)); err != nil {
		t.Fatalf("after cooldown: %v", err)
	}
}

func TestHeadroom(t *testing.T) {
	g := New(Config{Budgets: []Budget{{"W", 100, time.Minute}}, Headroom: 0.2})
	if err := g.Take(t0, Cost{0, 80}); err != nil {
		t.Fatal(err)
	}
	if err := g.Take(t0, Cost{0, 1}); err == nil {
		t.Fatal("headroom not kept")
	}
}

// TestRateLimits: use per budget in its window with the venue's limit
// (headroom aside); a Retry-After or a ban is reported as a block, a
// circuit opened by failures is not.
func TestRateLimits(t *testing.T) {
	g := New(Config{Budgets: []Budget{{"REQUEST_WEIGHT", 100, time.Minute}, {"ORDERS", 10, 10 * time.Second}},
		Threshold: 1, Cooldown: time.Hour, Headroom: 0.2})
	_ = g.Take(t0, Cost{0, 7}, Cost{1, 1})
	_ = g.Take(t0.Add(time.Second), Cost{0, 1})
	rl := g.RateLimits(t0.Add(time.Second))
	want := []exchange.RateLimit{{Budget: "REQUEST_WEIGHT", Used: 8, Limit: 100, Window: time.Minute}, {Budget: "ORDERS", Used: 1, Limit: 10, Window: 10 * time.Second}}
	if !reflect.DeepEqual(rl, want) {
		t.Fatalf("got %+v\nwant %+v", rl, want)
	}
	if rl := g.RateLimits(t0.Add(10 * time.Second)); rl[0].Used != 8 || rl[1].Used != 0 {
		t.Fatalf("a new ORDERS window still counts the old one: %+v", rl)
	}
	g.Result(t0.Add(time.Second), false, "HTTP 503") // opens the circuit: not a rate limit
	if rl := g.RateLimits(t0.Add(2 * time.Second)); rl[0].BlockedUntil != 0 {
		t.Fatalf("a failure-opened circuit reported as a rate-limit block: %+v", rl)
	}
	g.Block(t0.Add(30*time.Second), "Retry-After", false)
	if rl := g.RateLimits(t0.Add(2 * time.Second)); rl[0].BlockedUntil != t0.Add(30*time.Second).UnixNano() || rl[1].BlockedUntil != rl[0].BlockedUntil {
		t.Fatalf("Retry-After not reported: %+v", rl)
	}
	g.Block(t0.Add(2*time.Hour), "banned (HTTP 418)", true)
	if rl := g.RateLimits(t0.Add(time.Minute)); rl[0].BlockedUntil != t0.Add(2*time.Hour).UnixNano() {
		t.Fatalf("ban not reported: %+v", rl)
	}
	if rl := g.RateLimits(t0.Add(3 * time.Hour)); rl[0].BlockedUntil != 0 {
		t.Fatalf("an expired ban still reported: %+v", rl)
	}
}
