package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/httpapi"
	"arb/risk"
)

// The fleet: every daemon on one NATS (or cluster) shares its kill switch
// through a KV bucket (fleet.kill_switch_bucket, key KillSwitchKey) and
// writes its status to another (fleet.status_bucket, key
// StatusKeyPrefix+<instance>) every heartbeat; `arb status` lists them.
// The rules are shared through risk.kv_bucket (rulesig.go).
//
// # The shared kill switch
//
// The bucket holds one value, a FleetHalt: halted or not, why, by whom,
// and which instance wrote it. Every daemon watches it and applies each
// new value: a halt halts it (its executor cancels open orders, the halt
// is saved in data_dir like any other), a resume releases it. A halt
// engaged here (the API, a halt rule) is written to the bucket; so is a
// resume by the API.
//
// Writes are compare-and-set on the revision last read, so two daemons
// acting at once cannot silently overwrite each other, and a halt always
// wins a race: a resume is written only over the halt it releases (a halt
// written since stays, and halts this daemon again), and a remote resume
// that arrives while a local halt is still on its way to the bucket is
// ignored (the halt is written after it). A write that fails (NATS down)
// is retried every second until it is stored.
//
// At start the halt saved in data_dir (killswitch.go) stays authoritative:
// it is restored before anything else, and a halt never gets lost. The
// saved state records the bucket revision it was last in step with
// (FleetRevision): a local halt that the bucket has not seen (saved after
// that revision, or never shared) is written to the bucket; a halt made
// here that the fleet has resumed since stays local (this daemon stays
// halted until an operator resumes it); a halt that came from the fleet
// and that the fleet has released since is released; without a local
// halt, a halt in the bucket is applied before the first plan.
//
// Anyone who can write the bucket can halt or resume the fleet: on a
// shared NATS give only the daemons' users write access to
// $KV.<kill_switch_bucket>.> (README, NATS security).

// KillSwitchKey is the key of the fleet's kill switch in its bucket.
const KillSwitchKey = "killswitch"

// StatusKeyPrefix starts the key of each daemon's heartbeat in the status
// bucket: StatusKeyPrefix + instance.
const StatusKeyPrefix = "status."

// StatusTTL is how long a heartbeat stays in the status bucket without
// being rewritten: a daemon gone for good drops out of arb status after it.
const StatusTTL = time.Hour

// LostAfter is how many heartbeat intervals may pass without one before a
// daemon is shown as lost.
const LostAfter = 3

// fleetBy starts the HaltState.By of a halt or resume applied from the
// bucket: "fleet:<instance that wrote it>".
const fleetBy = "fleet:"

// FleetHalt is the kill switch's value in the bucket.
type FleetHalt struct {
	Halted bool      `json:"halted"`
	Reason string    `json:"reason,omitempty"`
	By     string    `json:"by,omitempty"`
	Rule   string    `json:"rule,omitempty"`
	At     time.Time `json:"at,omitzero"`
	// Instance is the daemon that wrote the value.
	Instance  string    `json:"instance"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Heartbeat is a daemon's status as written to the status bucket every
// fleet.heartbeat and read by arb status.
type Heartbeat struct {
	Instance string `json:"instance"`
	// Role is "all" (venue adapters and engine in one process), "engine"
	// or "feed".
	Role    string   `json:"role"`
	Host    string   `json:"host"`
	PID     int      `json:"pid"`
	Version string   `json:"version"`
	HTTP    string   `json:"http"`
	Venues  []string `json:"venues"` // the venues whose feeds run, in config order
	// Waiting are configured venues that have not joined yet.
	Waiting    []string `json:"waiting,omitempty"`
	Books      int      `json:"books"`
	BooksFresh int      `json:"books_fresh"`
	// State is one of starting, trading, halted, not_ready, stopping,
	// stopped; a feed process's (role "feed") is feeding (it publishes at
	// least one venue's books), standby or stopped.
	State        string `json:"state"`
	Ready        bool   `json:"ready"`
	Trading      bool   `json:"trading"`
	Halted       bool   `json:"halted"`
	HaltReason   string `json:"halt_reason,omitempty"`
	HaltedBy     string `json:"halted_by,omitempty"`
	RulesVersion string `json:"rules_version"`
	// KillSwitchBucket is the bucket this daemon shares its kill switch
	// through ("" when it does not).
	KillSwitchBucket string    `json:"kill_switch_bucket,omitempty"`
	StartedAt        time.Time `json:"started_at"`
	At               time.Time `json:"at"`
	// IntervalSeconds is the heartbeat period (a reader marks the daemon
	// lost after LostAfter of them).
	IntervalSeconds float64 `json:"interval_seconds"`
}

// instanceName returns fleet.instance, or <hostname>-<pid> with the host
// name cut to the characters a NATS subject token and a KV key allow.
func instanceName(configured string) string {
	if configured != "" {
		return configured
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "arbd"
	}
	b := []byte(host)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 48 {
		b = b[:48]
	}
	return fmt.Sprintf("%s-%d", b, os.Getpid())
}

// fleetSwitch shares the desk's kill switch through the bucket. Its
// methods are safe for concurrent use.
type fleetSwitch struct {
	k        *desk
	kv       jetstream.KeyValue
	bucket   string
	instance string
	log      *slog.Logger

	mu     sync.Mutex
	seen   uint64       // the newest bucket revision applied, written or read
	intent *fleetIntent // a local change not in the bucket yet
	wake   chan struct{}

	applied, written, conflicts, writeErrs, badValues atomic.Uint64
}

// fleetIntent is a local halt or resume to write to the bucket; base is
// the revision this daemon had seen when it was made (a resume releases
// only what it had seen).
type fleetIntent struct {
	halt FleetHalt
	base uint64
	// value is what write sends (set under fleetSwitch.mu before the
	// write): the watch recognizes the write when it comes back, which
	// may be before the write's own answer.
	value []byte
}

// newFleetSwitch opens the bucket and brings the desk's kill switch and
// the bucket's in step (see the comment at the top of the file), before
// any plan. An unreachable bucket fails the start: a daemon that cannot
// tell whether the fleet is halted does not trade.
func newFleetSwitch(ctx context.Context, k *desk, bucket, instance string) (*fleetSwitch, error) {
	kv, err := k.d.bus.OpenKV(ctx, bus.KVSpec{Bucket: bucket, Description: "arb fleet kill switch"})
	if err != nil {
		return nil, fmt.Errorf("fleet kill switch bucket %s: %w", bucket, err)
	}
	f := &fleetSwitch{k: k, kv: kv, bucket: bucket, instance: instance, wake: make(chan struct{}, 1),
		log: k.log.With("kill_switch_bucket", bucket)}
	cur, ok, err := bus.GetKV(ctx, kv, KillSwitchKey)
	if err != nil {
		return nil, fmt.Errorf("fleet kill switch: %w", err)
	}
	var st FleetHalt
	if ok {
		if err := json.Unmarshal(cur.Value, &st); err != nil {
			f.badValues.Add(1)
			f.log.Error("the fleet kill switch holds a value that is not one; it is overwritten by the next halt or resume", "revision", cur.Revision, "err", err)
			st = FleetHalt{}
		}
	}
	h, halted := k.risk.Halted()
	saved := k.halts.fleetRev.Load()
	f.seen = cur.Revision // 0 when the key does not exist
	switch {
	case halted && st.Halted:
		// In step.
	case halted && k.haltUnreadable:
		f.log.Warn("kill switch: halted here because its saved state is unreadable; this halt is not shared with the fleet")
	case halted && (saved == 0 || !ok || cur.Revision <= saved):
		f.log.Warn("kill switch: the halt saved here is not in the fleet's bucket; sharing it", "reason", h.Reason, "by", h.By)
		f.intent = &fleetIntent{halt: f.value(h, true), base: f.seen}
	case halted && isFleetBy(h.By):
		// The saved halt came from the fleet, which has released it since:
		// that release was meant for this daemon too.
		k.risk.Resume(fleetBy + st.Instance)
		f.applied.Add(1)
		f.log.Warn("kill switch: the fleet's halt saved here was released by the fleet meanwhile; resumed", "reason", h.Reason,
			"resumed_by", st.Instance, "fleet_revision", cur.Revision)
	case halted:
		f.log.Warn("kill switch: halted here (saved before the restart), while the fleet has resumed since; this daemon stays halted until an operator resumes it",
			"reason", h.Reason, "by", h.By, "fleet_resumed_by", st.Instance, "fleet_revision", cur.Revision)
	case st.Halted:
		k.risk.Halt(st.Reason, fleetBy+st.Instance)
		f.applied.Add(1)
		f.log.Warn("kill switch: the fleet is halted; halted here too", "reason", st.Reason, "by", st.By, "instance", st.Instance)
	}
	// Save what changed (a halt taken from the bucket, the revision seen);
	// an unchanged state leaves the file as it is (an unreadable one
	// stays for the operator to look at).
	_, nowHalted := k.risk.Halted()
	if nowHalted != halted || f.seen != saved {
		k.halts.fleetRev.Store(f.seen)
		if err := k.halts.sync(k.risk); err != nil {
			k.log.Error("kill switch state not saved", "err", err)
		}
	}
	return f, nil
}

// value is the bucket's value for a local halt (or resume).
func (f *fleetSwitch) value(h risk.HaltState, halted bool) FleetHalt {
	v := FleetHalt{Halted: halted, Instance: f.instance, UpdatedAt: time.Now().UTC()}
	if halted {
		v.Reason, v.By, v.Rule, v.At = h.Reason, h.By, h.Rule, h.At.UTC()
	}
	return v
}

// localHalt records a halt engaged here (the API, a rule) for the bucket.
func (f *fleetSwitch) localHalt(h risk.HaltState) {
	f.mu.Lock()
	f.intent = &fleetIntent{halt: f.value(h, true), base: f.seen}
	f.mu.Unlock()
	f.signal()
}

// localResume records a resume by the API here for the bucket.
func (f *fleetSwitch) localResume() {
	f.mu.Lock()
	f.intent = &fleetIntent{halt: f.value(risk.HaltState{}, false), base: f.seen}
	f.mu.Unlock()
	f.signal()
}

func (f *fleetSwitch) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run writes local changes to the bucket (retried every second while they
// fail) and applies the bucket's changes here, until ctx ends.
func (f *fleetSwitch) run(ctx context.Context) error {
	go func() {
		retry := time.NewTicker(time.Second)
		defer retry.Stop()
		for {
			f.write(ctx)
			select {
			case <-ctx.Done():
				return
			case <-f.wake:
			case <-retry.C:
			}
		}
	}()
	err := bus.WatchKVEntries(ctx, f.kv, KillSwitchKey, func(_ string, e bus.KVEntry, _ bool) { f.apply(ctx, e) }, nil)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// write stores the pending local change, if any, compare-and-set.
func (f *fleetSwitch) write(ctx context.Context) {
	f.mu.Lock()
	in := f.intent
	f.mu.Unlock()
	if in == nil {
		return
	}
	for attempt := 0; attempt < 16 && ctx.Err() == nil; attempt++ {
		cur, ok, err := bus.GetKV(ctx, f.kv, KillSwitchKey)
		if err != nil {
			f.failed(err)
			return
		}
		var st FleetHalt
		if ok && json.Unmarshal(cur.Value, &st) != nil {
			st = FleetHalt{}
		}
		switch {
		case in.halt.Halted && ok && st.Halted:
			f.done(in, cur.Revision) // the fleet is halted already
			return
		case !in.halt.Halted && ok && st.Halted && cur.Revision > in.base:
			// Halted again since this daemon resumed: the halt wins; the
			// watch halts this daemon again.
			f.log.Warn("resume not shared: the fleet was halted again meanwhile", "by", st.By, "instance", st.Instance, "reason", st.Reason)
			f.done(in, 0)
			return
		case !in.halt.Halted && (!ok || !st.Halted):
			f.done(in, cur.Revision) // not halted: nothing to release
			return
		}
		b, err := json.Marshal(in.halt)
		if err != nil {
			f.failed(err)
			return
		}
		f.mu.Lock()
		in.value = b
		f.mu.Unlock()
		rev, err := bus.UpdateKV(ctx, f.kv, KillSwitchKey, b, cur.Revision)
		if errors.Is(err, bus.ErrKVConflict) {
			f.conflicts.Add(1)
			continue // read again and decide anew
		}
		if err != nil {
			f.failed(err)
			return
		}
		f.written.Add(1)
		what := "halt"
		if !in.halt.Halted {
			what = "resume"
		}
		f.log.Info("kill switch shared with the fleet", "action", what, "revision", rev, "reason", in.halt.Reason)
		f.done(in, rev)
		return
	}
}

func (f *fleetSwitch) failed(err error) {
	if n := f.writeErrs.Add(1); n == 1 || n%60 == 0 {
		f.log.Error("kill switch not shared with the fleet yet; retrying every second", "err", err, "failures", n)
	}
}

// done clears in (unless a newer change replaced it) and records rev.
func (f *fleetSwitch) done(in *fleetIntent, rev uint64) {
	f.mu.Lock()
	if f.intent == in {
		f.intent = nil
	}
	if rev > f.seen {
		f.seen = rev
	}
	seen := f.seen
	f.mu.Unlock()
	f.k.halts.fleetRev.Store(seen)
	f.k.persistSoon()
}

// apply applies one value of the bucket here (the watch's goroutine).
func (f *fleetSwitch) apply(ctx context.Context, e bus.KVEntry) {
	f.mu.Lock()
	if e.Revision <= f.seen {
		f.mu.Unlock()
		return // applied, written or read at start already
	}
	f.seen = e.Revision
	// A local resume still on its way that meets a newer halt loses to
	// it (write drops the resume); a local halt on its way wins over a
	// newer resume (below). The intent's own write coming back ends it:
	// what follows is newer than it.
	in := f.intent
	if in != nil && in.value != nil && bytes.Equal(in.value, e.Value) {
		f.intent, in = nil, nil
	}
	f.mu.Unlock()
	f.k.halts.fleetRev.Store(e.Revision)
	defer f.k.persistSoon()
	if e.Deleted {
		f.log.Warn("the fleet kill switch key was removed; the state here stays as it is", "revision", e.Revision)
		return
	}
	var st FleetHalt
	if err := json.Unmarshal(e.Value, &st); err != nil {
		f.badValues.Add(1)
		f.log.Error("the fleet kill switch holds a value that is not one; ignored", "revision", e.Revision, "err", err)
		return
	}
	risk := f.k.risk
	if st.Halted {
		if risk.Halt(st.Reason, fleetBy+st.Instance) {
			f.applied.Add(1)
			f.log.Warn("kill switch: halted by the fleet", "reason", st.Reason, "by", st.By, "instance", st.Instance, "revision", e.Revision)
		}
		return
	}
	if in != nil && in.halt.Halted {
		return // a local halt goes to the bucket after this resume: it wins
	}
	if _, changed := risk.Resume(fleetBy + st.Instance); changed {
		f.applied.Add(1)
		f.k.d.exec.resume(ctx)
		f.log.Warn("kill switch: released by the fleet", "instance", st.Instance, "revision", e.Revision)
	}
}

// status is the fleet part of /api/v1/status.
func (f *fleetSwitch) status() *httpapi.FleetKillStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &httpapi.FleetKillStatus{Bucket: f.bucket, Instance: f.instance, Revision: f.seen, Pending: f.intent != nil,
		Applied: f.applied.Load(), Written: f.written.Load(), WriteErrors: f.writeErrs.Load()}
}

func (f *fleetSwitch) registerMetrics(reg *prometheus.Registry) {
	reg.MustRegister(httpapi.NewCounterFamily("arb_fleet_killswitch_total",
		"The fleet's shared kill switch: changes applied here from the bucket, written to it, compare-and-set conflicts, failed writes (retried), values that did not parse.",
		[]string{"result"}, func(emit httpapi.Emit) {
			emit(float64(f.applied.Load()), "applied")
			emit(float64(f.written.Load()), "written")
			emit(float64(f.conflicts.Load()), "conflict")
			emit(float64(f.writeErrs.Load()), "failed")
			emit(float64(f.badValues.Load()), "bad_value")
		}))
	reg.MustRegister(httpapi.NewGaugeFamily("arb_fleet_killswitch_pending",
		"1 while a halt or resume made here is not in the fleet's bucket yet.", nil, func(emit httpapi.Emit) {
			v := 0.0
			f.mu.Lock()
			if f.intent != nil {
				v = 1
			}
			f.mu.Unlock()
			emit(v)
		}))
}

// isFleetBy reports whether a halt came from the bucket.
func isFleetBy(by string) bool { return strings.HasPrefix(by, fleetBy) }
