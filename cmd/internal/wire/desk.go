package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/num"
	"arb/risk"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

const (
	recentPlans   = 50              // plans kept for /api/v1/status
	eventQueue    = 1024            // plan events waiting for the JetStream publisher
	markEvery     = time.Second     // equity marks for the day's peak (drawdown)
	rulesPollWait = 2 * time.Second // rules file change detection
)

// desk sits between the detector and the executor: on the loop goroutine
// it builds the risk input for each plan (legs, balances, a mark-to-market
// account, the executor's open trades, residual exposure and per-venue
// order health), asks the risk engine, records the decision, hands a plan
// event to the JetStream publisher without blocking, and submits an
// approved plan to the executor (exec.go).
//
// A plan's balances are reserved by the detector when it emits it. A plan
// that is not submitted (rejected, refused) is released at once; a
// submitted one stays reserved until its trade is over — released on the
// loop when the executor refuses it, abandons it, or closes its trade
// (after the venues' balances have been fetched again). Only plans
// reserved in this run are released (trades recovered from the journal
// close through the same hook).
//
// Two gates sit beside the rules: the kill switch, whose state is persisted
// (killswitch.go) so that it survives a restart, and the durable log: while
// JetStream cannot store an event, no plan passes (journal.go), since no
// order may be sent whose intent is not durable.
type desk struct {
	d    *Daemon
	risk *risk.Engine
	log  *slog.Logger

	rules *rulesFile    // the operator's rules file (rulesfile.go)
	halts *haltStore    // the kill switch on disk (killswitch.go)
	dirty chan struct{} // a halt to persist (from OnHalt, which must not block)
	kv    *kvRules      // rule sets from the NATS KV bucket, when configured (rulesig.go)
	fleet *fleetSwitch  // the kill switch shared with the fleet, when configured (fleet.go)

	haltUnreadable bool // the saved kill switch could not be read at start (halted, not shared)

	// Owned by the loop goroutine (set by attach while no loop runs).
	eng       *engine
	in        risk.Input
	day       risk.DayTracker
	acct      string           // account currency (the first instrument's quote)
	valuation []assetValuation // per inventory asset
	steps     map[ListingKey]num.Qty
	reserved  map[spread.PlanID]spread.Plan // submitted plans not released yet

	inflight atomic.Int64 // len(reserved), for any goroutine
	paused   atomic.Bool  // no plan is submitted (a venue is joining)
	refusals [numRefusals]atomic.Uint64

	onPlan func(httpapi.PlanStatus) // Options.OnPlan

	events chan planEvent
	mu     sync.Mutex
	ring   []httpapi.PlanStatus // recent plans, newest last

	approved, rejected              atomic.Uint64
	refusedJournal                  atomic.Uint64
	published, publishErr, overflow atomic.Uint64
	pending                         atomic.Int64 // plan events queued or being published
}

// assetValuation says how to value one inventory asset in the account
// currency: 1:1 for the account currency's equivalence class, else the mid of
// any fresh book of an instrument with this base and an equivalent quote.
type assetValuation struct {
	one   bool
	slots []int // book store slots to take a mid from
	scale num.Scale
}

// planEvent is the JetStream record of one plan and its decision.
type planEvent struct {
	subject, id string
	status      httpapi.PlanStatus
}

func newDesk(ctx context.Context, d *Daemon, opt Options) (*desk, error) {
	k := &desk{d: d, log: d.log.With("component", "desk"), events: make(chan planEvent, eventQueue),
		reserved: map[spread.PlanID]spread.Plan{},
		rules:    newRulesFile(d.cfg.Risk.RulesFile, opt.RulesFallback, opt.RulesFallbackName),
		halts:    newHaltStore(d.cfg.DataDir), dirty: make(chan struct{}, 1), onPlan: opt.OnPlan}
	names := make([]string, len(d.reg.Venues))
	for i, v := range d.reg.Venues {
		names[i] = v.Name
	}
	var err error
	k.risk, err = risk.New(risk.Config{
		Logger: d.log.With("component", "risk"), Venues: names,
		OnHalt: func(h risk.HaltState) {
			k.log.Error("trading halted", "reason", h.Reason, "by", h.By, "rule", h.Rule)
			select { // persisted by the halt writer; Kill persists before it answers
			case k.dirty <- struct{}{}:
			default:
			}
			// The executor cancels its open orders and closes its trades
			// (it must not block the loop goroutine this runs on).
			if x := d.exec; x != nil {
				go x.halt(context.Background())
			}
			// A halt engaged here goes to the fleet; one from the fleet
			// does not go back.
			if f := k.fleet; f != nil && !isFleetBy(h.By) {
				f.localHalt(h)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("risk: %w", err)
	}
	// The kill switch first: a halt saved before a crash or a restart is in
	// force before any rule set is loaded and before the loop takes a plan.
	if h, halted, err := k.halts.restore(k.risk); err != nil {
		k.haltUnreadable = true
		k.log.Error("kill switch state unreadable; trading halted until an operator resumes", "err", err)
	} else if halted {
		k.log.Warn("kill switch restored: trading stays halted until an explicit resume",
			"reason", h.Reason, "by", h.By, "rule", h.Rule, "halted_at", h.At, "file", k.halts.path)
	}
	if err := k.loadRulesAtStart(); err != nil {
		return nil, fmt.Errorf("risk rules: %w", err)
	}
	if b := d.cfg.Risk.KVBucket; b != "" {
		if k.kv, err = newKVRules(d.cfg, k); err != nil {
			return nil, err
		}
	}
	// The fleet's kill switch, brought in step with the one restored above
	// before any plan (fleet.go).
	if b := d.cfg.Fleet.KillSwitchBucket; b != "" {
		if k.fleet, err = newFleetSwitch(ctx, k, b, d.instance); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *desk) reload(b []byte, source string) (string, error) {
	v, changed, err := k.risk.Reload(b, source)
	if err != nil {
		k.log.Error("rules reload rejected; the running rules stay in force", "source", source, "err", err)
		return "", err
	}
	if changed {
		k.log.Info("rules loaded", "source", source, "version", v.String(), "rules", v.Rules)
	}
	return v.String(), nil
}

// attach makes e the engine whose plans the desk decides: how every
// inventory asset is valued and each listing's order step. It is called
// while no loop runs (before e's loop starts), so the loop goroutine's
// fields are not being read.
func (k *desk) attach(e *engine) {
	k.eng = e
	k.prepareValuation(e)
	k.steps = map[ListingKey]num.Qty{}
	for _, f := range e.feeds {
		for _, l := range f.listings {
			k.steps[ListingKey{l.Venue, l.ID}] = l.Step
		}
	}
}

// prepareValuation decides how every inventory asset of e is valued. An
// asset no joined venue prices (its instruments are on a venue that has not
// answered yet) has no valuation: its price is NaN, which makes the rules
// reading equity reject (no valuation, no trading). Config validation
// checks that every asset can be valued once every venue has joined.
func (k *desk) prepareValuation(e *engine) {
	d := k.d
	k.acct = d.reg.Assets[1].Quote
	equiv := quoteEquivalents(d.cfg, k.acct)
	inv := e.det.Inventory()
	k.valuation = make([]assetValuation, inv.NumAssets())
	for a := 0; a < inv.NumAssets(); a++ {
		name := inv.AssetName(spread.AssetID(a))
		if name == "" {
			continue
		}
		if equiv[name] {
			k.valuation[a].one = true
			continue
		}
		for _, l := range e.det.Listings() {
			asset := d.reg.Asset(l.Inst)
			if asset.Base == name && equiv[asset.Quote] {
				k.valuation[a].slots = append(k.valuation[a].slots, l.Slot)
				k.valuation[a].scale = asset.Scale
			}
		}
	}
}

// quoteEquivalents returns acct's equivalence class (acct itself and the
// quote assets configured as equal to it).
func quoteEquivalents(cfg *config.Config, acct string) map[string]bool {
	equiv := map[string]bool{acct: true}
	for _, class := range cfg.Strategy.QuoteEquivalents {
		for _, q := range class {
			if q == acct {
				for _, q2 := range class {
					equiv[q2] = true
				}
			}
		}
	}
	return equiv
}

// price returns the asset's value in the account currency from the freshest
// usable book, or NaN when no book is usable (which makes the rules that
// read equity reject: no valuation, no trading).
func (k *desk) price(a int) float64 {
	v := &k.valuation[a]
	if v.one {
		return 1
	}
	store := k.d.store
	var best *exchange.BookTop
	for _, s := range v.slots {
		b := store.At(s)
		if b == nil || b.Stale() || b.NBids == 0 || b.NAsks == 0 {
			continue
		}
		if best == nil || b.RecvTS > best.RecvTS {
			best = b
		}
	}
	if best == nil { // no fresh book, or no joined venue prices the asset
		return math.NaN()
	}
	mid := (num.Float(int64(best.Bids[0].Px), v.scale.Px) + num.Float(int64(best.Asks[0].Px), v.scale.Px)) / 2
	return mid
}

// equity values every balance on every venue; baseValue is the part held in
// asset base.
func (k *desk) equity(base string) (equity, baseValue float64) {
	inv := k.eng.det.Inventory()
	for a := 0; a < inv.NumAssets(); a++ {
		id := spread.AssetID(a)
		name := inv.AssetName(id)
		if name == "" {
			continue
		}
		var units float64
		for _, f := range k.eng.feeds {
			units += num.Float(inv.Total(f.id, id), inv.Decimals(id))
		}
		if units == 0 {
			continue
		}
		v := units * k.price(a)
		equity += v
		if name == base {
			baseValue += v
		}
	}
	return equity, baseValue
}

// mark records an equity mark for the day's peak; loop goroutine.
func (k *desk) mark(now int64) {
	eq, _ := k.equity("")
	k.day.Mark(now, eq)
}

// OnPlan implements strategy.Sink (loop goroutine).
func (k *desk) OnPlan(p *spread.Plan) {
	d := k.d
	det := k.eng.det
	inv := det.Inventory()
	now := time.Now().UnixNano()
	in := &k.in
	PlanInput(in, d.reg, inv, d.store, p, now)
	asset := d.reg.Asset(p.Buy.Inst)
	sc := p.Scale
	for _, v := range d.venues { // a venue that has not joined yet is not connected
		in.Venues[v.id] = risk.VenueView{Name: v.cfg.Name}
	}
	x := d.exec
	for _, f := range k.eng.feeds {
		vv := risk.VenueView{Name: f.name, Connected: f.md.Stats().Connected.Load() > 0}
		vv.ErrorRate, vv.LatencyMs = x.health[f.id].view()
		in.Venues[f.id] = vv
	}
	in.Buy.ErrorRate, in.Buy.LatencyMs = in.Venues[p.Buy.Venue].ErrorRate, in.Venues[p.Buy.Venue].LatencyMs
	in.Sell.ErrorRate, in.Sell.LatencyMs = in.Venues[p.Sell.Venue].ErrorRate, in.Venues[p.Sell.Venue].LatencyMs
	eq, baseValue := k.equity(asset.Base)
	k.day.Mark(now, eq)
	in.Account = risk.AccountView{Equity: eq, BaseValue: baseValue,
		OpenTrades:       max(k.inflight.Load(), x.openTrades.Load()),
		ResidualExposure: math.Float64frombits(x.exposure.Load()),
		RealizedPnlToday: x.ledger.realizedToday()}
	k.day.Fill(&in.Account)

	dec := k.risk.Evaluate(in)

	qty, clipOK := p.Qty, true
	if dec.Verdict == risk.Clip {
		qty, clipOK = risk.ClipQty(dec.Qty, sc.Qty, OrderStep(k.steps, p))
	}
	st := PlanStatus(p, in, dec, qty, clipOK)
	durable := d.journalReady()
	submitted := false
	switch {
	case dec.Verdict.Pass() && !durable:
		// The durable log cannot take the plan's record: no order may be
		// sent whose intent is not durable, so the plan is refused whatever
		// the rules said. The kill switch keeps precedence (below).
		k.rejected.Add(1)
		k.refusedJournal.Add(1)
		st.Decision, st.Rule, st.Message, st.ApprovedQty = risk.Reject.String(), RuleJournalUnavailable, journalRefusal, ""
	case dec.Verdict.Pass():
		k.approved.Add(1)
		r := refusedClip
		if clipOK {
			r = k.submit(p, qty)
		}
		if r == 0 {
			submitted, st.Execution = true, "submitted"
		} else {
			k.refusals[r].Add(1)
			st.Execution = "refused: " + r.String()
		}
	default:
		k.rejected.Add(1)
	}
	if !submitted {
		// Not sent: the plan's reservation ends with the decision.
		inv.Release(p)
	}
	k.record(st)
	if k.onPlan != nil {
		k.onPlan(st)
	}
	k.pending.Add(1)
	select {
	case k.events <- planEvent{subject: "arb.plans." + p.Symbol, id: st.ID, status: st}:
	default:
		k.pending.Add(-1)
		// The publisher is behind (NATS slow or down): the decision stands
		// and is in the status ring; the event record is counted as lost.
		k.overflow.Add(1)
	}
}

// refusal is why an approved plan was not submitted to the executor.
type refusal uint8

// Refusals (metric label reason of arb_plans_refused_total).
const (
	refusedNone       refusal = iota
	refusedClip               // the clip leaves less than one step
	refusedJoining            // a venue is joining: the engine is about to be swapped
	refusedNotTrading         // a leg's venue has no trading client
	refusedCircuit            // a leg's trading client has its circuit open (ban, errors)
	refusedNotReady           // the executor is starting or reconciling
	refusedHalted             // the executor is halted (kill switch)
	refusedBusy               // the executor's queue is full
	refusedExecutor           // the executor refused it (too many open trades, not executable)
	refusedPoolBusy           // a leg's pool has a trade of ours open or a swap unmined: its book does not show it yet
	refusedStopping           // the daemon is shutting down
	numRefusals
)

var refusalNames = [...]string{"", "clip_below_step", "venue_joining", "venue_not_trading", "venue_circuit_open",
	"executor_not_ready", "executor_halted", "executor_busy", "executor_refused", "pool_busy", "shutting_down"}

func (r refusal) String() string { return refusalNames[r] }

// submit hands an approved plan to the executor with qty (the clipped
// quantity) and keeps its reservation until the trade is over; it returns
// why not when it did not (the caller releases the reservation then).
func (k *desk) submit(p *spread.Plan, qty num.Qty) refusal {
	x := k.d.exec
	if k.d.stopping.Load() {
		return refusedStopping
	}
	if k.paused.Load() {
		return refusedJoining
	}
	for _, v := range [2]exchange.VenueID{p.Buy.Venue, p.Sell.Venue} {
		t := x.trader(v)
		if t == nil {
			return refusedNotTrading
		}
		if t.Circuit().Open {
			return refusedCircuit
		}
		// A pool's book is the chain's state: while a trade of ours on
		// it is open (plans of one batch come before any swap is sent)
		// or a swap unmined, a plan against it would race that swap and
		// most likely revert, paying gas for nothing.
		if k.d.venues[v-1].chain != nil {
			for _, q := range k.reserved {
				if q.Buy.Venue == v || q.Sell.Venue == v {
					return refusedPoolBusy
				}
			}
			if pt, ok := t.(interface{ InFlight() int }); ok && pt.InFlight() > 0 {
				return refusedPoolBusy
			}
		}
	}
	svc := x.service()
	if svc == nil {
		return refusedNotReady
	}
	id := p.ID
	k.reserved[id] = *p
	k.inflight.Add(1)
	err := svc.Submit(p, qty, func(err error) {
		// The executor's goroutine: the plan was accepted in the queue and
		// refused when opened.
		k.refusals[refusedExecutor].Add(1)
		k.log.Warn("plan refused by the executor", "plan", id.String(), "err", err)
		k.onLoop(func(det *spread.Detector) { k.release(det, id) })
	})
	if err == nil {
		// Let the executor's goroutine take the plan now: woken by this
		// goroutine, it would otherwise wait for the loop to finish its
		// batch and park (Go runs a goroutine woken by a channel send on
		// the sender's processor next, not at once). Plans are rare; the
		// loop loses microseconds.
		runtime.Gosched()
		return refusedNone
	}
	delete(k.reserved, id)
	k.inflight.Add(-1)
	switch {
	case errors.Is(err, execute.ErrHalted):
		return refusedHalted
	case errors.Is(err, execute.ErrBusy):
		return refusedBusy
	}
	return refusedNotReady
}

// release returns a submitted plan's reservation (loop goroutine); a plan
// not reserved in this run (a trade recovered from the journal) is
// ignored.
func (k *desk) release(det *spread.Detector, id spread.PlanID) {
	if pl, ok := k.reserved[id]; ok {
		det.Inventory().Release(&pl)
		delete(k.reserved, id)
		k.inflight.Add(-1)
	}
}

// onLoop runs fn on the current engine's loop goroutine. Loop.Do does not
// block; when its queue is full, fn is retried from another goroutine
// until it is taken (at most a minute: past that the loop is gone).
func (k *desk) onLoop(fn func(*spread.Detector)) {
	if e := k.d.engine(); e != nil && e.loop.Do(fn) {
		return
	}
	go func() {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			if e := k.d.engine(); e != nil && e.loop.Do(fn) {
				return
			}
		}
		k.log.Error("strategy loop did not take a balance update or a reservation release for a minute; dropped")
	}()
}

// quiesce stops new submissions and waits until no plan of this run is in
// flight (every trade closed and its reservation released), or ctx ends.
// unpause undoes it.
func (k *desk) quiesce(ctx context.Context) error {
	k.paused.Store(true)
	// A barrier through the loop: a plan decided from now on sees paused.
	done := make(chan struct{})
	k.onLoop(func(*spread.Detector) { close(done) })
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	since := time.Now()
	for k.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if time.Since(since) > 10*time.Second {
			k.log.Info("waiting for trades in flight before a venue joins", "in_flight", k.inflight.Load())
			since = time.Now()
		}
	}
	return nil
}

func (k *desk) unpause() { k.paused.Store(false) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func (k *desk) record(st httpapi.PlanStatus) {
	k.mu.Lock()
	if len(k.ring) == recentPlans {
		copy(k.ring, k.ring[1:])
		k.ring = k.ring[:recentPlans-1]
	}
	k.ring = append(k.ring, st)
	k.mu.Unlock()
}

// recent returns the recorded plans, newest first.
func (k *desk) recent() []httpapi.PlanStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]httpapi.PlanStatus, len(k.ring))
	for i, st := range k.ring {
		out[len(k.ring)-1-i] = st
	}
	return out
}

// start runs the desk's goroutines: the JetStream publisher, the kill
// switch writer, the rules file watcher, the NATS KV watcher (when
// configured), and the equity marker.
func (k *desk) start(ctx context.Context, run func(string, func(context.Context) error)) {
	run("plan publisher", k.publish)
	run("kill switch writer", k.persistHalts)
	run("rules watcher", k.watchRules)
	if k.kv != nil {
		run("rules kv", k.kv.watch)
	}
	if k.fleet != nil {
		run("fleet kill switch", k.fleet.run)
	}
	run("equity marks", func(ctx context.Context) error {
		t := time.NewTicker(markEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if e := k.d.engine(); e != nil {
					e.loop.Do(func(*spread.Detector) { k.mark(time.Now().UnixNano()) })
				}
			}
		}
	})
}

// persistHalts writes the kill switch whenever it changes by a halt rule
// (OnHalt signals it; it must not block the loop goroutine). A write that
// fails is retried every second until it succeeds: a halt that is not on
// disk would not survive a restart.
func (k *desk) persistHalts(ctx context.Context) error {
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	failed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-k.dirty:
		case <-retry.C:
			if !failed {
				continue
			}
		}
		err := k.halts.sync(k.risk)
		if err != nil && !failed {
			k.log.Error("kill switch state not saved; retrying", "err", err)
		} else if err == nil && failed {
			k.log.Info("kill switch state saved")
		}
		failed = err != nil
	}
}

// persistSoon asks the kill switch writer to save the state (it does not
// block).
func (k *desk) persistSoon() {
	select {
	case k.dirty <- struct{}{}:
	default:
	}
}

// publish writes plan events to JetStream with the plan id as the
// deduplication id, retrying a failed publish a few times.
func (k *desk) publish(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-k.events:
			k.publishOne(ctx, ev)
			k.pending.Add(-1)
		}
	}
}

// publishOne stores one plan event, retrying a failed publish a few times.
func (k *desk) publishOne(ctx context.Context, ev planEvent) {
	data, err := json.Marshal(ev.status)
	if err != nil {
		k.publishErr.Add(1)
		return
	}
	for attempt := 0; ; attempt++ {
		err = k.d.bus.Publish(ctx, ev.subject, ev.id, data)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		k.publishErr.Add(1)
		k.log.Warn("plan event not stored", "plan", ev.id, "err", err)
		return
	}
	k.published.Add(1)
}

// Reload re-reads the rules file (SIGHUP). A file that cannot be read or
// does not load is an error and the running rules stay in force.
func (d *Daemon) Reload() (string, error) { return d.desk.reloadFile() }

func (k *desk) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(httpapi.NewCounterFamily("arb_risk_decisions_total",
		"Risk decisions per rule and action (pass counts every rule a plan passed).",
		[]string{"rule", "action"}, func(emit httpapi.Emit) {
			k.risk.Counters(func(rule, action string, n uint64) { emit(float64(n), rule, action) })
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_risk_reloads_total",
		"Rule-set loads by result; a failed load leaves the running rules in force.",
		[]string{"result"}, func(emit httpapi.Emit) {
			ok, failed := k.risk.ReloadCounts()
			emit(float64(ok), "ok")
			emit(float64(failed), "failed")
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_risk_rules_loaded_timestamp_seconds",
		"When the active rule set was loaded; its version is in /api/v1/status.",
		nil, func(emit httpapi.Emit) {
			if v, ok := k.risk.Version(); ok {
				emit(float64(v.LoadedAt.UnixNano()) / 1e9)
			}
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_risk_halted",
		"1 while the kill switch is engaged.", nil, func(emit httpapi.Emit) {
			v := 0.0
			if _, h := k.risk.Halted(); h {
				v = 1
			}
			emit(v)
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_risk_rules_file_readable",
		"1 while the rules file can be read; 0 while it is missing or unreadable (the running rules stay in force).",
		nil, func(emit httpapi.Emit) {
			v := 0.0
			if k.rules.status().Readable {
				v = 1
			}
			emit(v)
		}))
	reg.MustRegister(httpapi.NewCounterFamily("arb_killswitch_persist_errors_total",
		"Failed writes of the kill switch state to data_dir (a halt that is not on disk would not survive a restart).",
		nil, func(emit httpapi.Emit) { emit(float64(k.halts.errs.Load())) }))
	reg.MustRegister(httpapi.NewCounterFamily("arb_plans_refused_total",
		"Plans the rules passed but that were not executed, by reason (journal_unavailable: the durable log could not store their record; the others: see README).",
		[]string{"reason"}, func(emit httpapi.Emit) {
			emit(float64(k.refusedJournal.Load()), RuleJournalUnavailable)
			for r := refusedClip; r < numRefusals; r++ {
				emit(float64(k.refusals[r].Load()), r.String())
			}
		}))
	if k.kv != nil {
		k.kv.registerMetrics(reg)
	}
	if k.fleet != nil {
		k.fleet.registerMetrics(reg)
	}
	reg.MustRegister(httpapi.NewCounterFamily("arb_plan_events_total",
		"Plan records for JetStream by result: published, failed, or dropped because the publisher queue was full.",
		[]string{"result"}, func(emit httpapi.Emit) {
			emit(float64(k.published.Load()), "published")
			emit(float64(k.publishErr.Load()), "failed")
			emit(float64(k.overflow.Load()), "dropped")
		}))
}
