package backtest

import (
	"arb/cmd/internal/httpapi"
	"arb/cmd/internal/wire"
	"errors"
	"fmt"
	"io/fs"
	"math"

	"arb/exchange"
	"arb/exchange/num"
	"arb/risk"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

// desk is the daemon desk's work on the simulated clock: on the loop's
// goroutine it builds each plan's risk input exactly as the daemon's desk
// (cmd/internal/wire) does — legs, balances, a mark-to-market account,
// the day's peak from equity marks every second — asks the risk engine,
// and submits what passes to the executor. The reservation a plan made
// is released when its trade closes (or at once if it is not traded);
// fills move the detector's inventory.
type desk struct {
	e         *engine
	in        risk.Input
	day       risk.DayTracker
	acct      string
	valuation []assetValuation
	steps     map[wire.ListingKey]num.Qty
	plans     map[spread.PlanID]planInfo // plans of open trades
}

type planInfo struct {
	p       spread.Plan
	pair    int // edge tracker pair index
	episode uint64
}

type assetValuation struct {
	one   bool
	slots []int
	scale num.Scale
}

func (k *desk) init(e *engine) error {
	k.e = e
	k.plans = map[spread.PlanID]planInfo{}
	names := make([]string, len(e.reg.Venues))
	for i, v := range e.reg.Venues {
		names[i] = v.Name
	}
	var err error
	e.risk, err = risk.New(risk.Config{Logger: e.log.With("component", "risk"), Venues: names,
		Now: func() timeT { return unixTime(e.clock) }})
	if err != nil {
		return fmt.Errorf("backtest: risk: %w", err)
	}
	src, name := []byte(nil), e.cfg.Risk.RulesFile
	if src, err = risk.ReadFile(name); err != nil {
		if !errors.Is(err, fs.ErrNotExist) || e.opt.RulesFallback == nil {
			return fmt.Errorf("backtest: risk rules: %w", err)
		}
		src, name = e.opt.RulesFallback, e.opt.RulesFallbackName
	}
	if _, _, err := e.risk.Reload(src, name); err != nil {
		return fmt.Errorf("backtest: risk rules: %w", err)
	}
	k.steps = map[wire.ListingKey]num.Qty{}
	for _, l := range e.listings {
		k.steps[wire.ListingKey{V: l.Venue, I: l.ID}] = l.Step
	}
	return k.prepareValuation()
}

// prepareValuation is the daemon desk's: how every inventory asset is
// valued in the account currency.
func (k *desk) prepareValuation() error {
	e := k.e
	k.acct = e.reg.Assets[1].Quote
	equiv := map[string]bool{k.acct: true}
	for _, class := range e.cfg.Strategy.QuoteEquivalents {
		for _, q := range class {
			if q == k.acct {
				for _, q2 := range class {
					equiv[q2] = true
				}
			}
		}
	}
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
			asset := e.reg.Asset(l.Inst)
			if asset.Base == name && equiv[asset.Quote] {
				k.valuation[a].slots = append(k.valuation[a].slots, l.Slot)
				k.valuation[a].scale = asset.Scale
			}
		}
		if len(k.valuation[a].slots) == 0 {
			return fmt.Errorf("backtest: balances: asset %s cannot be valued in %s", name, k.acct)
		}
	}
	return nil
}

func (k *desk) price(a int) float64 {
	v := &k.valuation[a]
	if v.one {
		return 1
	}
	var best *exchange.BookTop
	for _, s := range v.slots {
		b := k.e.store.At(s)
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
	return (num.Float(int64(best.Bids[0].Px), v.scale.Px) + num.Float(int64(best.Asks[0].Px), v.scale.Px)) / 2
}

func (k *desk) equity(base string) (equity, baseValue float64) {
	inv := k.e.det.Inventory()
	for a := 0; a < inv.NumAssets(); a++ {
		id := spread.AssetID(a)
		name := inv.AssetName(id)
		if name == "" {
			continue
		}
		var units float64
		for v := 1; v < len(k.e.venues); v++ {
			units += num.Float(inv.Total(exchange.VenueID(v), id), inv.Decimals(id))
		}
		if units == 0 {
			continue
		}
		val := units * k.price(a)
		equity += val
		if name == base {
			baseValue += val
		}
	}
	return equity, baseValue
}

func (k *desk) mark(now int64) {
	eq, _ := k.equity("")
	k.day.Mark(now, eq)
}

// OnPlan implements strategy.Sink.
func (k *desk) OnPlan(p *spread.Plan) {
	e := k.e
	inv := e.det.Inventory()
	now := e.clock
	if now < e.tradeFrom {
		inv.Release(p) // warm-up: the books and the volatility are being built
		return
	}
	pair, episode := e.col.plan(p)
	in := &k.in
	wire.PlanInput(in, e.reg, inv, e.store, p, now)
	asset := e.reg.Asset(p.Buy.Inst)
	sc := p.Scale
	for i := 1; i < len(e.venues); i++ {
		v := e.venues[i]
		in.Venues[i] = risk.VenueView{Name: v.name, Connected: e.connected[i]}
	}
	eq, baseValue := k.equity(asset.Base)
	k.day.Mark(now, eq)
	in.Account = risk.AccountView{Equity: eq, BaseValue: baseValue, OpenTrades: int64(e.open),
		RealizedPnlToday: e.col.realizedToday(now)}
	k.day.Fill(&in.Account)

	dec := e.risk.Evaluate(in)
	e.col.decision(p, pair, dec)
	qty, clipOK := p.Qty, true
	if dec.Verdict == risk.Clip {
		qty, clipOK = risk.ClipQty(dec.Qty, sc.Qty, wire.OrderStep(k.steps, p))
	}
	var st httpapi.PlanStatus
	if e.opt.OnPlan != nil {
		st = wire.PlanStatus(p, in, dec, qty, clipOK)
		defer func() { e.opt.OnPlan(st) }()
	}
	if !dec.Verdict.Pass() {
		inv.Release(p)
		return
	}
	if !clipOK {
		st.Execution = "refused: clip_below_step"
		inv.Release(p)
		return
	}
	k.plans[p.ID] = planInfo{p: *p, pair: pair, episode: episode}
	e.open++
	if e.nextTick < e.clock {
		e.nextTick = e.clock + int64(tickEvery)
	}
	st.Execution = "submitted"
	if _, err := e.drv.Submit(e.ctx, p, qty); err != nil {
		st.Execution = "refused: " + refusal(err)
		e.open--
		delete(k.plans, p.ID)
		inv.Release(p)
		e.col.refused++
		if !errors.Is(err, execute.ErrBusy) && !errors.Is(err, execute.ErrHalted) && !errors.Is(err, execute.ErrNotReady) {
			e.col.warn("plan %s refused by the executor: %v", p.ID, err)
		}
	}
}

// refusal names why the executor refused a plan as the daemon's desk does
// (its refusal reasons).
func refusal(err error) string {
	switch {
	case errors.Is(err, execute.ErrHalted):
		return "executor_halted"
	case errors.Is(err, execute.ErrBusy):
		return "executor_busy"
	case errors.Is(err, execute.ErrNotReady):
		return "executor_not_ready"
	}
	return "executor_refused"
}
