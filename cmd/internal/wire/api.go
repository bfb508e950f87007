package wire

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange"
	"arb/exchange/num"
	"arb/strategy"
	"arb/strategy/execute"
	"arb/strategy/spread"
)

// natsOptions returns the connect options for an external NATS server
// (nats.credentials_file, see bus.CredentialsOption; nats.tls).
func natsOptions(cfg *config.Config) ([]nats.Option, error) {
	var opts []nats.Option
	if f := cfg.NATS.CredentialsFile; f != "" {
		opt, err := bus.CredentialsOption(f)
		if err != nil {
			return nil, fmt.Errorf("nats.credentials_file: %w", err)
		}
		opts = append(opts, opt)
	}
	// TLS files: nats.go reads them when it connects, so a missing or
	// unreadable one is reported by Connect, naming the file.
	t := cfg.NATS.TLS
	if t.CAFile != "" {
		opts = append(opts, nats.RootCAs(t.CAFile))
	}
	if t.CertFile != "" {
		opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
	}
	return opts, nil
}

// apiProvider answers the HTTP API from the daemon's components. Book data
// comes from the loop's immutable snapshot; detector-owned state (balances)
// is copied on the loop goroutine through Loop.Do, never read across
// goroutines.
type apiProvider struct{ d *Daemon }

// snapshot returns the current engine's book snapshot, nil before any
// venue has joined.
func (d *Daemon) snapshot() *strategy.Snapshot {
	if e := d.engine(); e != nil {
		return e.loop.Books()
	}
	return nil
}

// Books implements httpapi.Books.
func (a *apiProvider) Books(context.Context) ([]httpapi.Book, error) {
	snap := a.d.snapshot()
	if snap == nil {
		return []httpapi.Book{}, nil
	}
	out := make([]httpapi.Book, 0, len(snap.Rows))
	for _, r := range snap.Rows {
		b := httpapi.Book{
			Venue: r.Venue, Symbol: r.Symbol, Stale: r.Stale,
			Bid: formatPx(int64(r.Bid), r.Scale.Px, r.Bid > 0), BidQty: formatPx(int64(r.BidQty), r.Scale.Qty, r.Bid > 0),
			Ask: formatPx(int64(r.Ask), r.Scale.Px, r.Ask > 0), AskQty: formatPx(int64(r.AskQty), r.Scale.Qty, r.Ask > 0),
		}
		if r.ExchTS > 0 {
			b.ExchangeTS = time.Unix(0, r.ExchTS).UTC()
		} else if r.RecvTS > 0 {
			// Venues without an event time in their stream (Binance
			// bookTicker) get the local receive time.
			b.ExchangeTS = time.Unix(0, r.RecvTS).UTC()
		}
		out = append(out, b)
	}
	return out, nil
}

// Ready implements httpapi.Readiness: ready once the durable log can store
// events, every configured venue has joined, and every venue × instrument
// has a fresh book. The reason names everything that is missing.
func (a *apiProvider) Ready(context.Context) (bool, string) {
	d := a.d
	var why []string
	if d.stopping.Load() {
		why = append(why, "shutting down")
	}
	if ok, reason := d.JournalReady(); !ok {
		why = append(why, "durable log (JetStream) unavailable: "+reason)
	}
	if ok, reason := d.exec.ready(); !ok {
		why = append(why, reason)
	}
	if m := d.exec.balancesMissing(); len(m) > 0 {
		why = append(why, "balances not fetched yet: "+strings.Join(m, ", "))
	}
	if p := d.pending(); len(p) > 0 {
		var names []string
		for _, v := range p {
			st := v.state.Load()
			names = append(names, fmt.Sprintf("%s (%s)", v.cfg.Name, st.Err))
		}
		why = append(why, "feeds missing: "+strings.Join(names, ", "))
	}
	snap := d.snapshot()
	switch {
	case snap == nil:
		why = append(why, "no venue has answered yet")
	case len(snap.Rows) == 0:
		why = append(why, "no book received yet")
	case !snap.Ready:
		var stale []string
		for _, r := range snap.Rows {
			if r.Stale {
				stale = append(stale, r.Venue+" "+r.Symbol)
			}
		}
		why = append(why, fmt.Sprintf("books not fresh: %v", stale))
	}
	if len(why) == 0 {
		return true, ""
	}
	return false, strings.Join(why, "; ")
}

// Status implements httpapi.Status.
func (a *apiProvider) Status(context.Context) (httpapi.StatusReport, error) {
	d := a.d
	e := d.engine()
	snap := d.snapshot()
	halt, killed := d.desk.risk.Halted()
	rep := httpapi.StatusReport{Mode: d.mode(), Version: d.build.Version, Revision: d.build.Revision,
		StartedAt: d.started.UTC(), Killed: killed, Risk: d.desk.risk.Status(),
		KillSwitchPersistError: d.desk.halts.lastError()}
	if killed {
		rep.KillReason = halt.Reason
	}
	if v, ok := d.desk.risk.Version(); ok {
		rep.RulesVersion = v.String()
	}
	rep.Trading = snap != nil && snap.Ready && !rep.Killed && d.journalReady()
	js := d.journalStatus()
	rep.Journal = &js
	rf := d.desk.rules.status()
	rep.RulesFile = &rf
	if d.desk.kv != nil {
		rep.RulesKV = d.desk.kv.status()
	}
	rep.Instance, rep.ShuttingDown = d.instance, d.stopping.Load()
	if d.desk.fleet != nil {
		rep.FleetKill = d.desk.fleet.status()
	}
	for _, v := range d.venues {
		vs := httpapi.VenueStatus{Venue: v.cfg.Name, Kind: v.cfg.Kind, Trading: v.mode}
		if t := d.exec.trader(v.id); t != nil {
			if c := t.Circuit(); c.Open {
				vs.Circuit = &httpapi.CircuitStatus{Open: true, Reason: c.Reason}
				if c.Until > 0 {
					u := time.Unix(0, c.Until).UTC()
					vs.Circuit.Until = &u
				}
			}
			e, l := d.exec.health[v.id].view()
			vs.OrderErrorRate, vs.OrderLatencyMs = round2(e), round2(l)
		}
		var f *feedEntry
		if e != nil {
			for i := range e.feeds {
				if e.feeds[i].id == v.id {
					f = &e.feeds[i]
				}
			}
		}
		if f == nil {
			st := v.state.Load()
			vs.State, vs.Error = "waiting", st.Err
			if !st.NextRetry.IsZero() {
				t := st.NextRetry
				vs.NextRetry = &t
			}
			rep.Venues = append(rep.Venues, vs)
			continue
		}
		st := f.md.Stats()
		vs.State, vs.Connected = "running", st.Connected.Load() > 0
		vs.Messages, vs.Gaps, vs.Resyncs, vs.Reconnects = st.Messages.Load(), st.Gaps.Load(), st.Resyncs.Load(), st.Reconnects.Load()
		for r := 1; r < exchangeNumRejects(); r++ {
			vs.Rejects += st.Rejects(rejectReason(r))
		}
		if snap != nil {
			for _, r := range snap.Rows {
				if r.Venue == f.name {
					vs.Books++
					if r.Stale {
						vs.StaleBooks++
					}
				}
			}
		}
		rep.Venues = append(rep.Venues, vs)
	}
	rep.Plans = d.desk.recent()
	rep.Execution = d.exec.status()
	events, plans := d.detectorTotals()
	rep.Detector = httpapi.DetectorStatus{Events: events, Plans: plans,
		Approved: d.desk.approved.Load(), Rejected: d.desk.rejected.Load(), RefusedJournal: d.desk.refusedJournal.Load()}
	return rep, nil
}

// detectorTotals returns the events and plans of every engine so far.
func (d *Daemon) detectorTotals() (events, plans uint64) {
	d.retired.mu.Lock()
	events, plans = d.retired.events[0], d.retired.plans
	d.retired.mu.Unlock()
	if e := d.engine(); e != nil {
		s := e.det.Stats()
		events += s.Events.Load()
		plans += s.Plans.Load()
	}
	return events, plans
}

// Positions implements httpapi.Positions: per venue and asset, the
// balance as the venue last reported it (a paper venue: its own account;
// before the first report, the configured starting balance), the part
// reserved by plans in flight, and the ledger's holdings there: the net
// amount arb's fills moved (exec.go, ledger.go). The inventory is copied on the loop goroutine; a loop
// too busy to take the request makes it a 503 with Retry-After
// (httpapi.ErrBusy).
func (a *apiProvider) Positions(ctx context.Context) ([]httpapi.Position, error) {
	type bal struct {
		venue      string
		id         exchange.VenueID
		asset      string
		avail, res int64
		dec        uint8
	}
	e := a.d.engine()
	if e == nil {
		return []httpapi.Position{}, nil
	}
	res := make(chan []bal, 1)
	ok := e.loop.Do(func(det *spread.Detector) {
		inv := det.Inventory()
		var out []bal
		for _, f := range e.feeds {
			for as := 0; as < inv.NumAssets(); as++ {
				id := spread.AssetID(as)
				if inv.AssetName(id) == "" {
					continue
				}
				out = append(out, bal{f.name, f.id, inv.AssetName(id), inv.Balance(f.id, id), inv.Reserved(f.id, id), inv.Decimals(id)})
			}
		}
		res <- out
	})
	if !ok {
		return nil, fmt.Errorf("engine control queue full: %w", httpapi.ErrBusy)
	}
	select {
	case bs := <-res:
		out := make([]httpapi.Position, 0, len(bs))
		held := a.d.exec.ledger.holdings()
		for _, b := range bs {
			p := httpapi.Position{Venue: b.venue, Asset: b.asset, Balance: num.Format(b.avail+b.res, b.dec), Locked: num.Format(b.res, b.dec)}
			if f, ok := held[posKey{b.venue, b.asset}]; ok {
				p.Filled = f.String()
			}
			out = append(out, p)
		}
		slices.SortFunc(out, func(x, y httpapi.Position) int {
			if x.Venue != y.Venue {
				return cmpStr(x.Venue, y.Venue)
			}
			return cmpStr(x.Asset, y.Asset)
		})
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PnL implements httpapi.PnL: the ledger's PnL of the trades arb
// executed, from their fills (ledger.go); 503 while the ledger catches up
// with the stream.
func (a *apiProvider) PnL(context.Context) (httpapi.PnLReport, error) {
	rep, ok := a.d.exec.ledger.report()
	if !ok {
		return httpapi.PnLReport{}, fmt.Errorf("the ledger is catching up with the event stream: %w", httpapi.ErrBusy)
	}
	return rep, nil
}

// Trades implements httpapi.Trades.
func (a *apiProvider) Trades(ctx context.Context, limit int) ([]execute.TradeView, error) {
	svc := a.d.exec.service()
	if svc == nil {
		return nil, fmt.Errorf("executor starting: %w", httpapi.ErrBusy)
	}
	return svc.Trades(ctx, limit)
}

// OpenOrders implements httpapi.Trades.
func (a *apiProvider) OpenOrders(ctx context.Context) ([]execute.OrderView, error) {
	svc := a.d.exec.service()
	if svc == nil {
		return nil, fmt.Errorf("executor starting: %w", httpapi.ErrBusy)
	}
	return svc.OpenOrders(ctx)
}

// Kill implements httpapi.Admin: the switch engages first, then its state is
// written to data_dir before the answer, so the halt survives a crash or a
// restart. A kill while halted keeps the first reason (the state written
// is the one in force).
func (a *apiProvider) Kill(ctx context.Context, reason string) (httpapi.KillResult, error) {
	k := a.d.desk
	engaged := k.risk.Halt(reason, "api")
	// The executor stops: open orders cancelled, no retry or unwind sent,
	// every trade closes as it stands (reported).
	a.d.exec.halt(ctx)
	h, _ := k.risk.Halted()
	if f := k.fleet; f != nil && !engaged {
		// Halted already (perhaps here only): the operator's kill is
		// shared all the same. A new halt was shared by OnHalt.
		f.localHalt(h)
	}
	res := httpapi.KillResult{Engaged: engaged, Reason: h.Reason, By: h.By, At: h.At, Persisted: true}
	if err := k.halts.sync(k.risk); err != nil {
		res.Persisted, res.PersistError = false, err.Error()
		k.log.Error("kill switch engaged but its state was not saved; it will not survive a restart", "err", err)
		select { // the writer retries
		case k.dirty <- struct{}{}:
		default:
		}
	}
	return res, nil
}

// Resume implements httpapi.Admin: the only way a halt is released. The
// released state is written before the answer.
func (a *apiProvider) Resume(ctx context.Context) (httpapi.ResumeResult, error) {
	k := a.d.desk
	prev, changed := k.risk.Resume("api")
	a.d.exec.resume(ctx)
	if f := k.fleet; f != nil {
		f.localResume() // the fleet resumes too (only the halt it had seen)
	}
	res := httpapi.ResumeResult{Changed: changed, Persisted: true}
	if changed {
		res.Released = httpapi.Halt{Reason: prev.Reason, By: prev.By, Rule: prev.Rule, At: prev.At}
	}
	if err := k.halts.sync(k.risk); err != nil {
		res.Persisted, res.PersistError = false, err.Error()
		k.log.Error("kill switch released but the state was not saved; after a restart trading would be halted again", "err", err)
	}
	return res, nil
}

// ReloadRules implements httpapi.Admin.
func (a *apiProvider) ReloadRules(context.Context) (string, error) {
	return a.d.desk.reloadFile()
}
