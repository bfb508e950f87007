package wire

import (
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/httpapi"
)

// heartbeats writes the daemon's Heartbeat to the fleet's status bucket
// (fleet.status_bucket, key StatusKeyPrefix+instance) every
// fleet.heartbeat, and a last one with state "stopped" on a clean
// shutdown. The bucket keeps one value per key and forgets a key not
// rewritten within StatusTTL. A failed write is counted and logged
// (rate-limited), never fatal: the status is for operators, trading does
// not depend on it.
type heartbeats struct {
	d      *Daemon
	status func(host string) Heartbeat // the process's status now (Daemon.heartbeat, FeedDaemon.heartbeat)
	kv     jetstream.KeyValue
	key    string
	host   string

	sent, errs atomic.Uint64
}

func newHeartbeats(ctx context.Context, d *Daemon, status func(host string) Heartbeat) (*heartbeats, error) {
	kv, err := d.bus.OpenKV(ctx, bus.KVSpec{Bucket: d.cfg.Fleet.StatusBucket, Description: "arb fleet status heartbeats",
		History: 1, TTL: StatusTTL})
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &heartbeats{d: d, status: status, kv: kv, key: StatusKeyPrefix + d.instance, host: host}, nil
}

// run writes a heartbeat at once and then every interval until ctx ends.
func (h *heartbeats) run(ctx context.Context) error {
	t := time.NewTicker(h.d.cfg.Fleet.Heartbeat)
	defer t.Stop()
	for {
		h.put(ctx, "")
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// put writes the current status; state overrides the computed one
// ("stopped" at the end).
func (h *heartbeats) put(ctx context.Context, state string) {
	hb := h.status(h.host)
	if state != "" {
		hb.State = state
		hb.Ready, hb.Trading = false, false
	}
	b, err := json.Marshal(hb)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, bus.PublishTimeout)
		_, err = h.kv.Put(pctx, h.key, b)
		cancel()
	}
	if err != nil {
		if n := h.errs.Add(1); n == 1 || n%100 == 0 {
			h.d.log.Warn("fleet heartbeat not written", "bucket", h.d.cfg.Fleet.StatusBucket, "err", err, "failures", n)
		}
		return
	}
	h.sent.Add(1)
}

// heartbeat builds the daemon's status for the fleet.
func (d *Daemon) heartbeat(host string) Heartbeat {
	hb := Heartbeat{Instance: d.instance, Role: d.fleetRole(), Host: host, PID: os.Getpid(), Version: d.build.Version,
		HTTP: d.cfg.HTTP.Listen, Venues: []string{}, KillSwitchBucket: d.cfg.Fleet.KillSwitchBucket,
		StartedAt: d.started.UTC(), At: time.Now().UTC(), IntervalSeconds: d.cfg.Fleet.Heartbeat.Seconds()}
	if e := d.engine(); e != nil {
		for _, f := range e.feeds {
			hb.Venues = append(hb.Venues, f.name)
		}
	}
	for _, v := range d.pending() {
		hb.Waiting = append(hb.Waiting, v.cfg.Name)
	}
	snap := d.snapshot()
	if snap != nil {
		for _, r := range snap.Rows {
			hb.Books++
			if !r.Stale {
				hb.BooksFresh++
			}
		}
	}
	h, halted := d.desk.risk.Halted()
	hb.Halted = halted
	if halted {
		hb.HaltReason, hb.HaltedBy = h.Reason, h.By
	}
	if v, ok := d.desk.risk.Version(); ok {
		hb.RulesVersion = v.String()
	}
	hb.Ready, _ = (&apiProvider{d: d}).Ready(context.Background())
	hb.Trading = snap != nil && snap.Ready && !halted && d.journalReady() && hb.Ready
	switch {
	case d.stopping.Load():
		hb.State = "stopping"
	case halted:
		hb.State = "halted"
	case hb.Trading:
		hb.State = "trading"
	case snap == nil:
		hb.State = "starting"
	default:
		hb.State = "not_ready"
	}
	return hb
}

// fleetRole is the daemon's part in the fleet as its heartbeat names it:
// "all" (the venue adapters and the engine in one process), "engine" or
// "feed" (arbd --role).
func (d *Daemon) fleetRole() string { return string(d.role) }

func (h *heartbeats) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(httpapi.NewCounterFamily("arb_fleet_heartbeats_total",
		"Status heartbeats written to the fleet's status bucket, by result.",
		[]string{"result"}, func(emit httpapi.Emit) {
			emit(float64(h.sent.Load()), "ok")
			emit(float64(h.errs.Load()), "failed")
		}))
}
