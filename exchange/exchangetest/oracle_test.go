package exchangetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"arb/exchange"
	"arb/exchange/sim"

	"github.com/gorilla/websocket"
)

// oracle is a test double of an adapter that cannot be wrong: it reads the
// simulator's books and fault log directly (no network) and publishes what
// a perfect adapter would — fresh events equal to the venue's book, stale
// events as soon as a fault is logged, fresh again shortly after. The suite
// must pass it (no false alarms), and must fail each of its mutants (a
// suite that cannot fail proves nothing). It also holds a real, subscribed
// websocket connection (whose frames it ignores), so that connection
// faults, reconnects and scheduled handovers happen as for an adapter.
type oracle struct {
	env    Env
	kind   string
	mutant string
	stats  exchange.FeedStats

	connected atomic.Bool   // the line is up
	drops     atomic.Uint64 // the line dropped (not closed by us)
}

// mutantEnv selects an oracle mutant in a child test process.
const mutantEnv = "EXCHANGETEST_MUTANT"

// oracleRebuild is how long the oracle stays stale after a fault.
const oracleRebuild = 80 * time.Millisecond

func (o *oracle) Stats() *exchange.FeedStats { return &o.stats }

func (o *oracle) Run(ctx context.Context) error {
	s, n := o.env.sim, len(o.env.Instruments)
	last := make([]uint64, n)
	staleUntil := make([]time.Time, n)
	stale := make([]bool, n)
	count := 0
	ev := exchange.BookTop{Venue: o.env.Venue}
	publish := func() {
		if o.env.Ring.TryPush(&ev) {
			o.stats.Published.Add(1)
		}
	}
	markStale := func(i int, cause exchange.StaleCause, until time.Time) {
		if o.mutant == "slow" {
			until = until.Add(time.Hour) // never rebuilds: the suite waits on events, so only a hang fails it
		}
		stale[i], staleUntil[i] = true, until
		ev = exchange.BookTop{Venue: o.env.Venue, Inst: o.env.Instruments[i].ID}
		ev.SetStale(cause, time.Now().UnixNano())
		publish()
	}
	for i := range n {
		markStale(i, exchange.CauseConnecting, time.Time{})
	}
	// A frozen book (FaultStale) publishes nothing from the freeze on,
	// goes stale for age AgeMax later (and a little: a real adapter's check
	// runs periodically) and is rebuilt when the data resumes.
	holdFrom, ageAt, resume := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	freeze := func(i int, from time.Time, d time.Duration) {
		holdFrom[i], ageAt[i], resume[i] = from, from.Add(o.env.AgeMax+50*time.Millisecond), from.Add(d)
		if o.mutant == "eager_age" {
			ageAt[i] = from // stale as soon as the data stops: undercuts AgeMax
		}
	}
	lctx, lcancel := context.WithCancel(ctx)
	lineDone := make(chan struct{})
	go func() { defer close(lineDone); o.line(lctx) }()
	defer func() { lcancel(); <-lineDone }()
	cursor := 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	seqs := make([]uint64, n)
	var seenDrops uint64
	far := time.Now().Add(time.Hour)
	for {
		select {
		case <-ctx.Done():
			if o.mutant == "late_publish" {
				go func() { time.Sleep(20 * time.Millisecond); markStale(0, exchange.CauseDisconnect, time.Time{}) }()
			}
			return ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		if d := o.drops.Load(); d != seenDrops {
			seenDrops = d
			for i := range n {
				markStale(i, exchange.CauseDisconnect, far)
			}
		}
		if o.connected.Load() {
			for i := range n {
				if staleUntil[i] == far {
					staleUntil[i] = now
				}
			}
		}
		// The state first, then the faults: a fault applied to a state read
		// here is in the log read next, so no faulted state is published.
		for i, in := range o.env.Instruments {
			seqs[i], _ = s.Seq(o.kind, in.Canonical)
		}
		log := s.FaultLog(o.kind)
		for _, rec := range log[min(cursor, len(log)):] {
			o.fault(rec, now, markStale, freeze)
		}
		cursor = len(log)
		for i, in := range o.env.Instruments {
			if !holdFrom[i].IsZero() {
				if !ageAt[i].IsZero() && !now.Before(ageAt[i]) {
					markStale(i, exchange.CauseAge, resume[i])
					ageAt[i] = time.Time{}
				}
				if now.Before(resume[i]) {
					continue
				}
				holdFrom[i] = time.Time{}
			}
			if stale[i] && now.Before(staleUntil[i]) {
				continue
			}
			if !stale[i] && seqs[i] == last[i] {
				continue
			}
			bids, asks, ok := s.BookAt(o.kind, in.Canonical, seqs[i])
			if !ok {
				continue
			}
			o.stats.Messages.Add(1)
			stale[i], last[i] = false, seqs[i]
			ev = exchange.BookTop{Seq: seqs[i], Venue: o.env.Venue, Inst: in.ID, RecvTS: time.Now().UnixNano()}
			ev.NBids = uint8(copy(ev.Bids[:], bids))
			ev.NAsks = uint8(copy(ev.Asks[:], asks))
			count++
			switch {
			case o.mutant == "wrong_qty" && count%7 == 0:
				ev.Bids[0].Qty++
			case o.mutant == "unsorted" && count%5 == 0:
				ev.Asks[1], ev.Asks[2] = ev.Asks[2], ev.Asks[1]
			case o.mutant == "seq_off":
				ev.Seq += 1 << 40
			}
			publish()
		}
	}
}

// line keeps one subscribed websocket connection to the venue until ctx
// ends: it redials after a drop (counted) and, with a Lifetime, replaces the
// connection on schedule, closing the old one only after the new one is up.
func (o *oracle) line(ctx context.Context) {
	var cur *websocket.Conn
	var curDone chan struct{}
	dial := func() (*websocket.Conn, chan struct{}, error) {
		c, _, err := websocket.DefaultDialer.DialContext(ctx, o.env.URLs.WS, nil)
		if err != nil {
			return nil, nil, err
		}
		for _, in := range o.env.Instruments {
			msg := fmt.Sprintf(`{"op":"subscribe","args":[{"channel":"books","instId":%q}]}`, in.Symbol)
			if o.kind == sim.KindBybit {
				msg = fmt.Sprintf(`{"op":"subscribe","args":["orderbook.50.%s"]}`, in.Symbol)
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				c.Close()
				return nil, nil, err
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		return c, done, nil
	}
	ping := []byte("ping")
	if o.kind == sim.KindBybit {
		ping = []byte(`{"op":"ping"}`)
	}
	pinger := time.NewTicker(time.Second)
	defer pinger.Stop()
	var rotate <-chan time.Time
	dials := 0
	for {
		if cur == nil {
			c, done, err := dial()
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
					continue
				}
			}
			if dials++; dials > 1 {
				o.stats.Reconnects.Add(1)
			}
			cur, curDone = c, done
			o.connected.Store(true)
			if o.env.Lifetime > 0 {
				rotate = time.After(o.env.Lifetime)
			}
		}
		select {
		case <-ctx.Done():
			cur.Close()
			<-curDone
			return
		case <-curDone:
			o.connected.Store(false)
			o.drops.Add(1)
			cur = nil
		case <-pinger.C:
			cur.WriteMessage(websocket.TextMessage, ping)
		case <-rotate:
			c, done, err := dial()
			if err != nil {
				rotate = time.After(50 * time.Millisecond)
				continue
			}
			o.stats.Reconnects.Add(1)
			old, oldDone := cur, curDone
			cur, curDone = c, done
			old.Close()
			<-oldDone
			rotate = time.After(o.env.Lifetime)
		}
	}
}

// fault reacts to one logged fault as a perfect adapter would.
func (o *oracle) fault(rec sim.FaultRecord, now time.Time, markStale func(int, exchange.StaleCause, time.Time), freeze func(int, time.Time, time.Duration)) {
	inst := -1
	for i, in := range o.env.Instruments {
		if in.Canonical == rec.Symbol {
			inst = i
		}
	}
	one := func(cause exchange.StaleCause) {
		if inst >= 0 {
			o.stats.Resyncs.Add(1)
			markStale(inst, cause, now.Add(oracleRebuild))
		}
	}
	switch rec.Kind {
	case sim.FaultGap:
		if o.mutant == "blind_gap" {
			return
		}
		o.stats.Gaps.Add(1)
		cause := exchange.CauseGap
		if o.mutant == "wrong_cause" {
			cause = exchange.CauseBadData
		}
		one(cause)
	case sim.FaultChecksum:
		o.stats.ChecksumFailures.Add(1)
		one(exchange.CauseChecksum)
	case sim.FaultMalformed: // the log does not say which corruption
		o.stats.Reject(exchange.RejectSyntax)
		o.stats.Reject(exchange.RejectNumber)
		one(exchange.CauseBadData)
	case sim.FaultCrossed:
		o.stats.Reject(exchange.RejectCrossed)
		one(exchange.CauseBadData)
	case sim.FaultHugeFrame:
		o.stats.Reject(exchange.RejectTooLarge)
		one(exchange.CauseBadData)
	case sim.FaultStale:
		if d, err := time.ParseDuration(rec.Note); err == nil && inst >= 0 {
			freeze(inst, rec.At, d)
		}
	case sim.FaultUnknownSymbol:
		o.stats.Reject(exchange.RejectUnknownSymbol)
		if o.mutant == "stale_unknown" {
			markStale(0, exchange.CauseBadData, now.Add(oracleRebuild))
		}
	}
}

// oracleHarness is the suite's harness for the oracle on kind.
func oracleHarness(kind string, faults []sim.FaultKind, mutant string) Harness {
	same := "the oracle treats every corruption alike; malformed/truncated covers it"
	return Harness{
		Skip: map[string]string{"malformed/wrong_type": same, "malformed/nan": same, "malformed/negative": same,
			"malformed/empty_price": same},
		Kind:   kind,
		Faults: faults,
		New: func(env Env) (exchange.MarketData, error) {
			if env.sim == nil {
				return nil, errors.New("no simulator in Env")
			}
			return &oracle{env: env, kind: kind, mutant: mutant}, nil
		},
	}
}

// TestOracleConformance runs the whole suite against the oracle: it must
// pass. (The oracle goes stale on a notice only when the connection drops,
// like an adapter without handover: reported, not failed.) In a child process started by TestSuiteCatchesMutants it runs a
// mutant instead, which must fail.
func TestOracleConformance(t *testing.T) {
	if testing.Short() && os.Getenv(mutantEnv) == "" {
		t.Skip("end-to-end run of the whole suite (about 15 s) skipped in -short mode")
	}
	Run(t, oracleHarness(sim.KindOKX, []sim.FaultKind{sim.FaultChecksum, sim.FaultNotice}, os.Getenv(mutantEnv)))
}

// TestOracleBybitFaults runs the Bybit-only scenarios against the oracle.
func TestOracleBybitFaults(t *testing.T) {
	h := oracleHarness(sim.KindBybit, []sim.FaultKind{sim.FaultSnapshot, sim.FaultRestart}, os.Getenv(mutantEnv))
	for _, c := range h.cases() {
		if c.name == "snapshot" || c.name == "restart" {
			t.Run(c.name, func(t *testing.T) { runCase(t, &h, 1, c.name, "", c) })
		}
	}
}

// TestSuiteCatchesMutants runs one subtest against each broken oracle in a
// child process and requires the suite to fail it for the right reason.
// The children run in parallel: each fails for a gross reason, not a
// timing, and they mostly wait.
func TestSuiteCatchesMutants(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("in a mutant child process")
	}
	if testing.Short() {
		t.Skip("child processes running the suite skipped in -short mode")
	}
	for _, tc := range []struct {
		mutant, run, want string
	}{
		{"wrong_qty", "fresh", "INVARIANT"},
		{"unsorted", "fresh", "asks not strictly ascending"},
		{"seq_off", "fresh", "history does not hold"},
		{"blind_gap", "gap", "no stale event after the fault"},
		{"wrong_cause", "gap", "stale cause bad_data, want [gap]"},
		{"slow", "malformed/truncated", "not fresh again"},
		{"eager_age", "frozen", "after its last data; AgeMax is"},
		{"stale_unknown", "unknown_symbol", "went stale"},
		{"late_publish", "crossed", "published after Run returned"},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			t.Parallel()
			pattern := "^TestOracleConformance$"
			for _, p := range strings.Split(tc.run, "/") {
				pattern += "/^" + p + "$"
			}
			cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), mutantEnv+"="+tc.mutant)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child: %v (want a failing exit)\n%s", err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestOracleConformance/"+strings.Split(tc.run, "/")[0]) ||
				!strings.Contains(string(out), tc.want) {
				t.Fatalf("the suite did not fail %s with %q:\n%s", tc.run, tc.want, out)
			}
		})
	}
}
