package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/exchange/num"
	"arb/strategy/spread"
)

func natsOptions(cfg *config.Config) []nats.Option {
	if cfg.NATS.CredentialsFile != "" {
		return []nats.Option{nats.UserCredentials(cfg.NATS.CredentialsFile)}
	}
	return nil
}

// apiProvider answers the HTTP API from the daemon's components. Book data
// comes from the loop's immutable snapshot; detector-owned state (balances)
// is copied on the loop goroutine through Loop.Do, never read across
// goroutines.
type apiProvider struct{ d *Daemon }

// Books implements httpapi.Books.
func (a *apiProvider) Books(context.Context) ([]httpapi.Book, error) {
	snap := a.d.loop.Books()
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

// Ready implements httpapi.Readiness: ready once every configured venue ×
// instrument has a fresh book.
func (a *apiProvider) Ready(context.Context) (bool, string) {
	snap := a.d.loop.Books()
	if snap.Ready {
		return true, ""
	}
	var missing []string
	for _, r := range snap.Rows {
		if r.Stale {
			missing = append(missing, r.Venue+" "+r.Symbol)
		}
	}
	if len(snap.Rows) == 0 {
		return false, "no book received yet"
	}
	return false, fmt.Sprintf("books not fresh: %v", missing)
}

// Status implements httpapi.Status.
func (a *apiProvider) Status(context.Context) (httpapi.StatusReport, error) {
	d := a.d
	snap := d.loop.Books()
	halt, killed := d.desk.risk.Halted()
	rep := httpapi.StatusReport{Mode: "paper", StartedAt: d.started.UTC(), Killed: killed, Risk: d.desk.risk.Status()}
	if killed {
		rep.KillReason = halt.Reason
	}
	if v, ok := d.desk.risk.Version(); ok {
		rep.RulesVersion = v.String()
	}
	rep.Trading = snap.Ready && !rep.Killed
	for _, f := range d.feeds {
		st := f.md.Stats()
		vs := httpapi.VenueStatus{
			Venue: f.name, Kind: f.kind, Connected: st.Connected.Load() > 0,
			Messages: st.Messages.Load(), Gaps: st.Gaps.Load(), Resyncs: st.Resyncs.Load(), Reconnects: st.Reconnects.Load(),
		}
		for r := 1; r < exchangeNumRejects(); r++ {
			vs.Rejects += st.Rejects(rejectReason(r))
		}
		for _, r := range snap.Rows {
			if r.Venue == f.name {
				vs.Books++
				if r.Stale {
					vs.StaleBooks++
				}
			}
		}
		rep.Venues = append(rep.Venues, vs)
	}
	rep.Plans = d.desk.recent()
	ds := d.det.Stats()
	rep.Detector = httpapi.DetectorStatus{Events: ds.Events.Load(), Plans: ds.Plans.Load(),
		Approved: d.desk.approved.Load(), Rejected: d.desk.rejected.Load()}
	return rep, nil
}

// Positions implements httpapi.Positions: the paper balances per venue and
// asset (balance = total held, locked = reserved by plans in flight), copied
// on the loop goroutine.
func (a *apiProvider) Positions(ctx context.Context) ([]httpapi.Position, error) {
	type bal struct {
		venue, asset string
		total, res   int64
		dec          uint8
	}
	res := make(chan []bal, 1)
	ok := a.d.loop.Do(func(det *spread.Detector) {
		inv := det.Inventory()
		var out []bal
		for _, f := range a.d.feeds {
			for as := 0; as < inv.NumAssets(); as++ {
				id := spread.AssetID(as)
				if inv.AssetName(id) == "" {
					continue
				}
				out = append(out, bal{f.name, inv.AssetName(id), inv.Total(f.id, id), inv.Reserved(f.id, id), inv.Decimals(id)})
			}
		}
		res <- out
	})
	if !ok {
		return nil, errors.New("engine busy: control queue full")
	}
	select {
	case bs := <-res:
		out := make([]httpapi.Position, 0, len(bs))
		for _, b := range bs {
			out = append(out, httpapi.Position{Venue: b.venue, Asset: b.asset, Balance: num.Format(b.total, b.dec), Locked: num.Format(b.res, b.dec)})
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

// PnL implements httpapi.PnL. No order is executed yet (the executor and
// the ledger come with their own issues), so realized PnL and fees are zero
// and the trade count is the number of executed trades: zero. The plans the
// engine would have sent are in /api/v1/status.
func (a *apiProvider) PnL(context.Context) (httpapi.PnLReport, error) {
	return httpapi.PnLReport{Currency: "USDT", Realized: "0", Fees: "0", Net: "0", AsOf: time.Now().UTC()}, nil
}

// Kill implements httpapi.Admin.
func (a *apiProvider) Kill(_ context.Context, reason string) error {
	if reason == "" {
		reason = "operator kill via API"
	}
	a.d.desk.risk.Halt(reason, "api")
	a.d.log.Warn("kill switch engaged", "reason", reason)
	return nil
}

// Resume implements httpapi.Admin.
func (a *apiProvider) Resume(context.Context) error {
	a.d.desk.risk.Resume("api")
	a.d.log.Warn("kill switch released by operator")
	return nil
}

// ReloadRules implements httpapi.Admin.
func (a *apiProvider) ReloadRules(context.Context) (string, error) {
	return a.d.desk.reloadFile()
}
