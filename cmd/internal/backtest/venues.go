package backtest

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"arb/exchange"
	"arb/exchange/binance"
	"arb/exchange/bybit"
	"arb/exchange/okx"
	"arb/exchange/recording"
	"arb/exchange/tap"
	"arb/ringbuf"
)

// venueReplay is one recorded venue fed to its adapter's Replay. The
// adapters are held as concrete types and chosen by a switch: no
// interface call per record.
type venueReplay struct {
	id   exchange.VenueID
	idx  int // its worker's index (id − 1)
	name string
	kind string
	bn   *binance.Replay
	ok   *okx.Replay
	by   *bybit.Replay
}

func newVenueReplay(id exchange.VenueID, vm *recording.VenueMeta, listings []exchange.Instrument, ageMax time.Duration,
	ring *ringbuf.MPSC[exchange.BookTop], now func() int64, log *slog.Logger) (*venueReplay, error) {
	v := &venueReplay{id: id, idx: int(id) - 1, name: vm.Name, kind: vm.Kind}
	if vm.AgeMax > 0 {
		ageMax = time.Duration(vm.AgeMax)
	}
	rnd := rand.New(rand.NewPCG(uint64(id), 1)) // unused by replays; the configs require one
	var err error
	const ws, rest = "wss://replay.invalid", "https://replay.invalid"
	switch vm.Kind {
	case "binance":
		v.bn, err = binance.NewReplay(binance.Config{Venue: id, Name: vm.Name, WSURL: ws, RESTURL: rest, Instruments: listings,
			Channel: vm.Channel, Depth: vm.Depth, AgeMax: ageMax, Ring: ring, Logger: log, Now: now, Rand: rnd})
	case "okx":
		v.ok, err = okx.NewReplay(okx.Config{Venue: id, Name: vm.Name, WSURL: ws, RESTURL: rest, Instruments: listings,
			Channel: vm.Channel, Depth: vm.Depth, AgeMax: ageMax, Ring: ring, Logger: log, Now: now, Rand: rnd})
	case "bybit":
		v.by, err = bybit.NewReplay(bybit.Config{Venue: id, Name: vm.Name, WSURL: ws, RESTURL: rest, Instruments: listings,
			Channel: vm.Channel, Depth: vm.Depth, AgeMax: ageMax, Ring: ring, Logger: log, Now: now, Rand: rnd})
	default:
		return nil, fmt.Errorf("backtest: venue %s: kind %q cannot be replayed", vm.Name, vm.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("backtest: venue %s: %w", vm.Name, err)
	}
	return v, nil
}

// handle feeds one record to the venue's adapter.
func (v *venueReplay) handle(r *recording.Record) {
	switch r.Kind {
	case tap.KindOpen:
		h := r.Aux == 1
		switch {
		case v.bn != nil:
			v.bn.Open(r.Conn, h, r.TS)
		case v.ok != nil:
			v.ok.Open(r.Conn, h, r.TS)
		default:
			v.by.Open(r.Conn, h, r.TS)
		}
	case tap.KindFrame:
		switch {
		case v.bn != nil:
			v.bn.Frame(r.Conn, r.Data, r.TS)
		case v.ok != nil:
			v.ok.Frame(r.Conn, r.Data, r.TS)
		default:
			v.by.Frame(r.Conn, r.Data, r.TS)
		}
	case tap.KindClose:
		c := tap.Cause(r.Aux)
		switch {
		case v.bn != nil:
			v.bn.Close(r.Conn, c, r.TS)
		case v.ok != nil:
			v.ok.Close(r.Conn, c, r.TS)
		default:
			v.by.Close(r.Conn, c, r.TS)
		}
	case tap.KindSnapshotRequest:
		if v.bn != nil {
			v.bn.SnapshotRequest(r.Conn)
		}
	case tap.KindSnapshotReply:
		if v.bn != nil {
			v.bn.SnapshotReply(r.Conn, r.Meta, r.Data, r.Aux == tap.SnapshotFailed, r.TS)
		}
	}
}

// settle finishes the adapter's deferred per-frame steps (Binance).
func (v *venueReplay) settle() {
	if v.bn != nil {
		v.bn.Settle()
	}
}

// closeAll ends every open connection (a hole in the recording: what was
// missed is not known, so every book goes stale as on a drop).
func (v *venueReplay) closeAll(ids []uint64, ts int64) {
	for _, id := range ids {
		v.handle(&recording.Record{Kind: tap.KindClose, Conn: id, TS: ts, Aux: uint32(tap.CauseByPeer)})
	}
}

func (v *venueReplay) stats() *exchange.FeedStats {
	switch {
	case v.bn != nil:
		return v.bn.Stats()
	case v.ok != nil:
		return v.ok.Stats()
	}
	return v.by.Stats()
}

func (v *venueReplay) orphans() uint64 {
	switch {
	case v.bn != nil:
		return v.bn.Orphans
	case v.ok != nil:
		return v.ok.Orphans
	}
	return v.by.Orphans
}
