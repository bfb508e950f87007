package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/num"
	"arb/risk"
	"arb/strategy/spread"
)

const (
	recentPlans   = 50              // plans kept for /api/v1/status
	eventQueue    = 1024            // plan events waiting for the JetStream publisher
	markEvery     = time.Second     // equity marks for the day's peak (drawdown)
	rulesPollWait = 2 * time.Second // rules file change detection
)

// desk sits between the detector and the (future) executor: on the loop
// goroutine it builds the risk input for each plan (legs, balances, a
// mark-to-market account), asks the risk engine, records the decision, and
// hands a plan event to the JetStream publisher without blocking. With no
// executor yet, every plan's reservation is released right after the
// decision: plans are decided and recorded, never sent.
type desk struct {
	d    *Daemon
	risk *risk.Engine
	log  *slog.Logger

	rulesPath         string
	fallback          []byte
	fallbackName      string
	usingFallbackFile bool

	// Owned by the loop goroutine.
	in        risk.Input
	day       risk.DayTracker
	acct      string           // account currency (the first instrument's quote)
	valuation []assetValuation // per inventory asset
	steps     map[stepKey]num.Qty

	events chan planEvent
	mu     sync.Mutex
	ring   []httpapi.PlanStatus // recent plans, newest last

	approved, rejected              atomic.Uint64
	published, publishErr, overflow atomic.Uint64
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
		rulesPath: d.cfg.Risk.RulesFile, fallback: opt.RulesFallback, fallbackName: opt.RulesFallbackName}
	names := make([]string, len(d.reg.Venues))
	for i, v := range d.reg.Venues {
		names[i] = v.Name
	}
	var err error
	k.risk, err = risk.New(risk.Config{
		Logger: d.log.With("component", "risk"), Venues: names,
		OnHalt: func(h risk.HaltState) { k.log.Error("trading halted", "reason", h.Reason, "by", h.By, "rule", h.Rule) },
	})
	if err != nil {
		return nil, fmt.Errorf("risk: %w", err)
	}
	if _, err := k.reloadFile(); err != nil {
		return nil, fmt.Errorf("risk rules: %w", err)
	}
	if err := k.prepareValuation(); err != nil {
		return nil, err
	}
	k.steps = map[stepKey]num.Qty{}
	for _, f := range d.feeds {
		for _, l := range f.listings {
			k.steps[stepKey{l.Venue, l.ID}] = l.Step
		}
	}
	return k, nil
}

// rulesSource returns the rules bytes and their name: the configured file,
// or the embedded default when the file does not exist.
func (k *desk) rulesSource() ([]byte, string, error) {
	b, err := risk.ReadFile(k.rulesPath)
	if err == nil {
		k.usingFallbackFile = false
		return b, k.rulesPath, nil
	}
	if errors.Is(err, fs.ErrNotExist) && k.fallback != nil {
		if !k.usingFallbackFile {
			k.log.Warn("rules file not found; using the embedded default rules", "rules_file", k.rulesPath)
		}
		k.usingFallbackFile = true
		return k.fallback, k.fallbackName, nil
	}
	return nil, "", err
}

// reloadFile (re)loads the rules file; on error the running rules stay.
func (k *desk) reloadFile() (string, error) {
	b, name, err := k.rulesSource()
	if err != nil {
		return "", err
	}
	return k.reload(b, name)
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

// prepareValuation decides, once, how every inventory asset is valued.
func (k *desk) prepareValuation() error {
	d := k.d
	k.acct = d.reg.Assets[1].Quote
	equiv := map[string]bool{k.acct: true}
	for _, class := range d.cfg.Strategy.QuoteEquivalents {
		for _, q := range class {
			if q == k.acct {
				for _, q2 := range class {
					equiv[q2] = true
				}
			}
		}
	}
	inv := d.det.Inventory()
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
		for _, l := range d.det.Listings() {
			asset := d.reg.Asset(l.Inst)
			if asset.Base == name && equiv[asset.Quote] {
				k.valuation[a].slots = append(k.valuation[a].slots, l.Slot)
				k.valuation[a].scale = asset.Scale
			}
		}
		if len(k.valuation[a].slots) == 0 {
			return fmt.Errorf("balances: asset %s cannot be valued in %s: no %s-%s instrument is configured", name, k.acct, name, k.acct)
		}
	}
	return nil
}

// price returns the asset's value in the account currency from the freshest
// usable book, or NaN when no book is usable (which makes the rules that
// read equity reject: no valuation, no trading).
func (k *desk) price(a int) float64 {
	v := &k.valuation[a]
	if v.one {
		return 1
	}
	store := k.d.det.Books()
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
	if best == nil {
		return math.NaN()
	}
	mid := (num.Float(int64(best.Bids[0].Px), v.scale.Px) + num.Float(int64(best.Asks[0].Px), v.scale.Px)) / 2
	return mid
}

// equity values every balance on every venue; baseValue is the part held in
// asset base.
func (k *desk) equity(base string) (equity, baseValue float64) {
	inv := k.d.det.Inventory()
	for a := 0; a < inv.NumAssets(); a++ {
		id := spread.AssetID(a)
		name := inv.AssetName(id)
		if name == "" {
			continue
		}
		var units float64
		for _, f := range k.d.feeds {
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
	inv := d.det.Inventory()
	now := time.Now().UnixNano()
	in := &k.in
	*in = risk.Input{UnixNano: now}
	asset := d.reg.Asset(p.Buy.Inst)
	sc := p.Scale
	in.Plan = risk.PlanView{Instrument: int64(p.Buy.Inst), Symbol: p.Symbol, Base: asset.Base, Quote: asset.Quote,
		Qty: num.Float(int64(p.Qty), sc.Qty), EdgeBps: p.NetBps, Seq: int64(p.ID)}
	leg := func(l *spread.Leg, lv *risk.LegView) {
		lv.Venue, lv.VenueID = d.reg.VenueName(l.Venue), int64(l.Venue)
		lv.Price, lv.FeeBps = num.Float(int64(l.LimitPx), sc.Px), l.FeeBps
		lv.BookAgeMs, lv.Seq = float64(now-l.BookRecvTS)/1e6, int64(l.BookSeq)
		la := d.reg.Asset(l.Inst)
		if b, ok := inv.Asset(la.Base); ok {
			lv.BaseBalance = num.Float(inv.Balance(l.Venue, b), inv.Decimals(b))
			lv.BasePosition = num.Float(inv.Total(l.Venue, b), inv.Decimals(b))
		}
		if q, ok := inv.Asset(la.Quote); ok {
			lv.QuoteBalance = num.Float(inv.Balance(l.Venue, q), inv.Decimals(q))
		}
		if book := d.det.Books().Book(l.Venue, l.Inst); book != nil {
			lv.Stale = book.Stale()
		}
	}
	leg(&p.Buy, &in.Buy)
	leg(&p.Sell, &in.Sell)
	for _, f := range d.feeds {
		in.Venues[f.id] = risk.VenueView{Name: f.name, Connected: f.md.Stats().Connected.Load() > 0}
	}
	eq, baseValue := k.equity(asset.Base)
	k.day.Mark(now, eq)
	in.Account = risk.AccountView{Equity: eq, BaseValue: baseValue}
	k.day.Fill(&in.Account)

	dec := k.risk.Evaluate(in)
	// No executor yet: the plan is decided and recorded, not sent, so its
	// balance reservation ends here.
	inv.Release(p)

	st := httpapi.PlanStatus{
		ID: p.ID.String(), TS: time.Unix(0, p.TS).UTC(), Symbol: p.Symbol,
		BuyVenue: in.Buy.Venue, SellVenue: in.Sell.Venue,
		Qty: num.Format(int64(p.Qty), sc.Qty), BuyLimit: num.Format(int64(p.Buy.LimitPx), sc.Px),
		SellLimit: num.Format(int64(p.Sell.LimitPx), sc.Px), GrossBps: round2(p.GrossBps), NetBps: round2(p.NetBps),
		NetQuote: num.Format(int64(p.NetQuote), sc.Px), Decision: dec.Verdict.String(),
		RulesVersion: dec.Version(),
	}
	if dec.Verdict.Pass() {
		k.approved.Add(1)
		if dec.Verdict == risk.Clip {
			if q, ok := risk.ClipQty(dec.Qty, sc.Qty, k.stepOf(p)); ok {
				st.ApprovedQty = num.Format(int64(q), sc.Qty)
			}
			st.Rule, st.Message = dec.Rule(), dec.Message()
		}
	} else {
		k.rejected.Add(1)
		st.Rule, st.Message = dec.Rule(), dec.Message()
	}
	k.record(st)
	select {
	case k.events <- planEvent{subject: "arb.plans." + p.Symbol, id: st.ID, status: st}:
	default:
		// The publisher is behind (NATS slow or down): the decision stands
		// and is in the status ring; the event record is counted as lost.
		k.overflow.Add(1)
	}
}

// stepOf returns the order step both legs' venues accept: the least common
// multiple of their steps (the detector sizes plans on the same grid).
func (k *desk) stepOf(p *spread.Plan) num.Qty {
	a, b := k.steps[stepKey{p.Buy.Venue, p.Buy.Inst}], k.steps[stepKey{p.Sell.Venue, p.Sell.Inst}]
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	x, y := int64(a), int64(b)
	for y != 0 {
		x, y = y, x%y
	}
	return num.Qty(int64(a) / x * int64(b))
}

type stepKey struct {
	v exchange.VenueID
	i exchange.InstrumentID
}

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

// start runs the desk's goroutines: the JetStream publisher, the rules file
// watcher, the optional NATS KV watcher, and the equity marker.
func (k *desk) start(ctx context.Context, run func(string, func(context.Context) error)) {
	run("plan publisher", k.publish)
	if !k.usingFallbackFile {
		run("rules watcher", func(ctx context.Context) error {
			err := risk.WatchFile(ctx, k.rulesPath, rulesPollWait,
				func(b []byte) { _, _ = k.reload(b, k.rulesPath) },
				func(err error) { k.log.Warn("rules file unreadable; the running rules stay", "err", err) })
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	if b := k.d.cfg.Risk.KVBucket; b != "" {
		run("rules kv", func(ctx context.Context) error {
			err := k.d.bus.WatchKV(ctx, b, "rules", func(v []byte, rev uint64) {
				_, _ = k.reload(v, fmt.Sprintf("nats-kv:%s/rules@%d", b, rev))
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	run("equity marks", func(ctx context.Context) error {
		t := time.NewTicker(markEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				k.d.loop.Do(func(*spread.Detector) { k.mark(time.Now().UnixNano()) })
			}
		}
	})
}

// publish writes plan events to JetStream with the plan id as the
// deduplication id, retrying a failed publish a few times.
func (k *desk) publish(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-k.events:
			data, err := json.Marshal(ev.status)
			if err != nil {
				k.publishErr.Add(1)
				continue
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
				continue
			}
			k.published.Add(1)
		}
	}
}

// Reload re-reads the rules file (SIGHUP).
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
	reg.MustRegister(httpapi.NewCounterFamily("arb_plan_events_total",
		"Plan records for JetStream by result: published, failed, or dropped because the publisher queue was full.",
		[]string{"result"}, func(emit httpapi.Emit) {
			emit(float64(k.published.Load()), "published")
			emit(float64(k.publishErr.Load()), "failed")
			emit(float64(k.overflow.Load()), "dropped")
		}))
}
