package wire

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange/sim"
)

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getStatus fetches /api/v1/status.
func getStatus(t *testing.T, base string) map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func venueStatus(t *testing.T, base, name string) map[string]any {
	t.Helper()
	for _, v := range getStatus(t, base)["venues"].([]any) {
		if m := v.(map[string]any); m["venue"] == name {
			return m
		}
	}
	t.Fatalf("no venue %s in the status", name)
	return nil
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOneVenueDownAtStart: a venue that does not answer at start does not
// stop the daemon: it runs the others (books, plans), shows the missing
// venue in the status with the reason, and readiness names it.
func TestOneVenueDownAtStart(t *testing.T) {
	start := time.Now()
	d, base := startDaemonWait(t, func(d *Daemon) bool {
		e := d.engine()
		return e != nil && e.loop.Ready()
	}, "ws_url: sim://okx\n    rest_url: sim://okx", "ws_url: ws://127.0.0.1:1\n    rest_url: http://127.0.0.1:1\n    paper: true")
	t.Logf("running with binance and bybit after %v", time.Since(start).Round(time.Millisecond))

	code, body := readyz(t, base)
	if code != 503 || !strings.Contains(body, "feeds missing: okx (") || !strings.Contains(body, "127.0.0.1:1") {
		t.Errorf("readyz = %d %s", code, body)
	}
	okx := venueStatus(t, base, "okx")
	if okx["state"] != "waiting" || !strings.Contains(okx["error"].(string), "http://127.0.0.1:1") || okx["next_retry"] == nil {
		t.Errorf("okx status %v", okx)
	}
	for _, v := range []string{"binance", "bybit"} {
		if st := venueStatus(t, base, v); st["state"] != "running" || st["books"].(float64) != 3 {
			t.Errorf("%s status %v", v, st)
		}
	}
	// The others trade: a dislocation between them becomes a plan.
	_, p0 := pairCounts(d, "ETH-USDT", "binance", "bybit")
	if err := d.Sim().Dislocate("bybit", "ETH-USDT", 80, 30); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a binance/bybit plan", 5*time.Second, func() bool {
		_, p := pairCounts(d, "ETH-USDT", "binance", "bybit")
		return p > p0
	})
	if m := scrape(t, base); !strings.Contains(m, `arb_venue_up{venue="okx"} 0`) || !strings.Contains(m, `arb_venue_up{venue="binance"} 1`) {
		t.Errorf("arb_venue_up missing or wrong")
	}
}

// TestVenueJoinsLate: the venue that did not answer at start is retried
// with backoff; once its instruments endpoint answers it joins (a new
// engine over all three venues, its feed running), readiness turns 200, and
// the counters carry over the swap.
func TestVenueJoinsLate(t *testing.T) {
	// OKX from a simulator of its own, its REST behind a gate that answers
	// 503 until opened.
	sc := sim.DefaultConfig()
	sc.Dislocation.Prob, sc.Quiet.Prob = 0, 0
	var okxOnly []sim.VenueConfig
	for _, v := range sc.Venues {
		if v.Kind == "okx" {
			okxOnly = append(okxOnly, v)
		}
	}
	sc.Venues = okxOnly
	okxSim, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := okxSim.Start(); err != nil {
		t.Fatal(err)
	}
	defer okxSim.Close()
	u, _ := okxSim.URLs(okxOnly[0].Name)
	target, _ := url.Parse(u.REST)
	var open atomic.Bool
	var asked atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !open.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer gate.Close()

	d, base := startDaemonWait(t, func(d *Daemon) bool {
		e := d.engine()
		return e != nil && e.loop.Ready()
	}, "ws_url: sim://okx\n    rest_url: sim://okx", "ws_url: "+u.WSBase+"\n    rest_url: "+gate.URL+"\n    paper: true")
	if st := venueStatus(t, base, "okx"); st["state"] != "waiting" || !strings.Contains(st["error"].(string), "503") {
		t.Fatalf("okx status %v", st)
	}
	first := d.engine()
	ev0, _ := d.detectorTotals()
	waitFor(t, "tick-to-decision observations", 20*time.Second, func() bool { return first.loop.Stats().TickToDecision.Quantile(1) > 0 })
	ttd0, _ := metricValue(scrape(t, base), "arb_tick_to_decision_seconds_count")
	// Retried in the background, with backoff: more requests arrive.
	n0 := asked.Load()
	waitFor(t, "a retry", 10*time.Second, func() bool { return asked.Load() > n0 })

	open.Store(true)
	waitFor(t, "okx joined", 20*time.Second, func() bool { return venueStatus(t, base, "okx")["state"] == "running" })
	if d.engine() == first {
		t.Fatal("the engine was not replaced")
	}
	waitFor(t, "ready with all three venues", 20*time.Second, func() bool { c, _ := readyz(t, base); return c == 200 })
	for _, v := range []string{"binance", "okx", "bybit"} {
		if st := venueStatus(t, base, v); st["books"].(float64) != 3 || st["stale_books"].(float64) != 0 {
			t.Errorf("%s status %v", v, st)
		}
	}
	if ev1, _ := d.detectorTotals(); ev1 < ev0 {
		t.Errorf("detector events went back from %d to %d over the swap", ev0, ev1)
	}
	// The replaced loop's tick-to-decision observations are kept: the
	// family is the retired loop's plus the current one's.
	_, _, old := first.loop.Stats().TickToDecision.Snapshot()
	_, _, cur := d.engine().loop.Stats().TickToDecision.Snapshot()
	if ttd1, ok := metricValue(scrape(t, base), "arb_tick_to_decision_seconds_count"); !ok || ttd1 < float64(old+cur) || ttd0 == 0 {
		t.Errorf("arb_tick_to_decision_seconds_count went from %v to %v over the swap; the retired loop had %d, the current %d", ttd0, ttd1, old, cur)
	}
	// The new engine pairs okx with the others.
	found := false
	for _, p := range d.engine().det.Pairs() {
		if d.reg.VenueName(p.BuyVenue) == "okx" || d.reg.VenueName(p.SellVenue) == "okx" {
			found = true
		}
	}
	if !found {
		t.Error("no okx pair in the new engine")
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestVenueJoinWaitsForTradesInFlight: a venue that joins while a trade
// is in flight is let in only once that trade is closed and its
// reservation released (the new detector interns its assets anew, so a
// reservation of the old one could not be released on it): the engine and
// the executor are swapped after the trade's close, no reservation is
// left, and the new executor trades the joined venue.
func TestVenueJoinWaitsForTradesInFlight(t *testing.T) {
	okxSim, u := startOKXSim(t)
	defer okxSim.Close()
	target, _ := url.Parse(u.REST)
	var open atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(target)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !open.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer gate.Close()
	d, base := startDaemonWait(t, func(d *Daemon) bool {
		e := d.engine()
		return e != nil && e.loop.Ready() && d.exec.service() != nil && d.exec.service().Ready() && len(d.exec.balancesMissing()) == 0
	}, "ws_url: sim://okx\n    rest_url: sim://okx", "ws_url: "+u.WSBase+"\n    rest_url: "+gate.URL+"\n    paper: true")
	first := d.engine()

	// Bybit executes the sell leg but says nothing about it for a while:
	// the answer is late and the private stream silent, so the trade
	// stays open until the executor's query (after its ack timeout).
	s := d.Sim()
	for _, f := range []sim.Fault{{Kind: sim.FaultDelayAck, Duration: 4 * time.Second}, {Kind: sim.FaultStreamSilent, Duration: time.Minute}} {
		if err := s.Inject("bybit", f); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Dislocate("bybit", "ETH-USDT", 80, 300); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a trade in flight", 10*time.Second, func() bool { return d.desk.inflight.Load() > 0 })
	open.Store(true) // okx answers: it will join
	waitFor(t, "okx joined", 40*time.Second, func() bool { return venueStatus(t, base, "okx")["state"] == "running" })
	if d.engine() == first {
		t.Fatal("the engine was not replaced")
	}
	joined := d.venues[1].state.Load().Since
	ts, err := d.exec.service().Trades(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var closedAt time.Time
	for _, tr := range ts {
		if tr.ClosedAt != nil && tr.ClosedAt.After(closedAt) {
			closedAt = *tr.ClosedAt
		}
	}
	if len(ts) == 0 || closedAt.IsZero() || joined.Before(closedAt) {
		t.Fatalf("okx joined at %v, before the trade in flight closed (%v); trades %+v", joined, closedAt, ts)
	}
	// At the swap itself the old engine held nothing: checked on the
	// retired engine (after the swap the new one may already trade again
	// on the dislocation that is still there, so its reservations now
	// prove nothing about the swap).
	rec := d.lastSwap.Load()
	if rec == nil {
		t.Fatal("no swap recorded")
	}
	if rec.InFlight != 0 || len(rec.Reserved) != 0 {
		t.Errorf("the swap retired an engine with %d plans in flight and reservations %v", rec.InFlight, rec.Reserved)
	}
	if st := venueStatus(t, base, "okx"); st["trading"] != "paper" {
		t.Errorf("okx status %v", st)
	}
	if !d.exec.trading(d.venues[1].id) {
		t.Error("okx has no trading client after joining")
	}
}

// startOKXSim runs an OKX-only simulator.
func startOKXSim(t *testing.T) (*sim.Sim, sim.URLs) {
	t.Helper()
	sc := sim.DefaultConfig()
	sc.Dislocation.Prob, sc.Quiet.Prob = 0, 0
	var okxOnly []sim.VenueConfig
	for _, v := range sc.Venues {
		if v.Kind == "okx" {
			okxOnly = append(okxOnly, v)
		}
	}
	sc.Venues = okxOnly
	s, err := sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	u, _ := s.URLs(okxOnly[0].Name)
	return s, u
}
