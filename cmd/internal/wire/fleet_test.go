package wire

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/strategy/execute"
)

// fleetReader connects to url as a tool would and opens the status bucket.
func fleetReader(t *testing.T, url, bucket string) jetstream.KeyValue {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func readFleet(t *testing.T, kv jetstream.KeyValue) map[string]FleetMember {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms, bad, err := ReadFleet(ctx, kv, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d values in the status bucket are not heartbeats", bad)
	}
	out := map[string]FleetMember{}
	for _, m := range ms {
		out[m.Instance] = m
	}
	return out
}

// TestFleet runs two daemons on one NATS server: a signed rule set put in
// the rules bucket is taken by both; a halt on one halts the
// other (saved in its data_dir, its executor halted), a resume on the
// other releases the first; both report heartbeats (role, venues, fresh
// books, trading, rules version); one that loses NATS shows as lost, one
// stopped cleanly as stopped.
func TestFleet(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	url := srv.ClientURL()
	pub, priv, err := GenerateRulesKey()
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string) (*Daemon, func() error) {
		d, _, stop := startDaemonCtl(t, "test.yaml", func(d *Daemon) bool {
			e := d.engine()
			return e != nil && e.loop.Ready() && len(d.pending()) == 0
		}, `nats: {url: ""}`, `nats: {url: "`+url+`"}`, `instance: ""`, "instance: "+name, "heartbeat: 2s", "heartbeat: 250ms",
			`kill_switch_bucket: ""`, "kill_switch_bucket: arb_killswitch",
			`kv_bucket: ""`, "kv_bucket: arb_rules\n  kv_trusted_keys: [\""+pub+"\"]")
		return d, stop
	}
	a, stopA := start("engine-a")
	b, stopB := start("engine-b")
	ctx := context.Background()

	// Each named daemon trades from a journal of its own, its epoch (the
	// high half of its trade ids) from the fleet's shared counter.
	epochs := map[string]uint32{}
	for _, d := range []*Daemon{a, b} {
		waitFor(t, d.instance+"'s executor ready", 30*time.Second, func() bool { ok, _ := d.exec.ready(); return ok })
		if k := d.exec.jr.OwnerKey(); k != "owner.ARB_EVENTS_arb_exec_"+d.instance || !d.exec.ownsJournal() {
			t.Fatalf("%s: journal %s, held %v", d.instance, k, d.exec.ownsJournal())
		}
		codec := execute.NewCodec(d.reg)
		if err := d.exec.jr.Replay(ctx, func(data []byte) error {
			rec, err := codec.Unmarshal(data)
			if err == nil && rec.Kind == execute.RecEpoch {
				epochs[d.instance] = rec.Epoch
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if ea, eb := epochs["engine-a"], epochs["engine-b"]; ea == 0 || eb == 0 || ea == eb {
		t.Fatalf("epochs %v: each journal needs its own, different one", epochs)
	}

	// One signed rule set put in the rules bucket is taken by both.
	shipped, _ := os.ReadFile(shippedRules(t))
	key, _ := ParseRulesPrivateKey(priv)
	signed, _ := SignRules([]byte(strings.Replace(string(shipped), "name: default", "name: fleet-rules", 1)), key, time.Now())
	if _, err := a.bus.PutKV(ctx, "arb_rules", "rules", signed); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Daemon{a, b} {
		waitFor(t, d.instance+" on the fleet's rules", 30*time.Second, func() bool { return rulesVersionName(d) == "fleet-rules" })
	}

	if _, err := (&apiProvider{d: a}).Kill(ctx, "fleet test halt"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "engine-b halted by the fleet", 30*time.Second, func() bool {
		h, halted := b.desk.risk.Halted()
		return halted && h.By == "fleet:engine-a" && h.Reason == "fleet test halt"
	})
	waitFor(t, "engine-b's executor halted", 30*time.Second, func() bool { return b.exec.halted.Load() })
	waitFor(t, "engine-b's halt saved in its data_dir", 30*time.Second, func() bool {
		h, halted, err := newHaltStore(b.cfg.DataDir).load()
		return err == nil && halted && h.Reason == "fleet test halt"
	})

	if _, err := (&apiProvider{d: b}).Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "engine-a released by the fleet", 30*time.Second, func() bool {
		_, halted := a.desk.risk.Halted()
		return !halted && !a.exec.halted.Load()
	})
	waitFor(t, "engine-a's release saved", 30*time.Second, func() bool {
		_, halted, err := newHaltStore(a.cfg.DataDir).load()
		return err == nil && !halted
	})

	kv := fleetReader(t, url, "arb_fleet")
	va, _ := a.desk.risk.Version()
	rules, _, _ := strings.Cut(va.String(), " from ") // name and hash: the same rule set on both
	var fleet map[string]FleetMember
	waitFor(t, "both trading on the fleet's rules in the fleet's status", 60*time.Second, func() bool {
		fleet = readFleet(t, kv)
		ok := len(fleet) == 2
		for _, m := range fleet {
			ok = ok && m.State == "trading" && strings.HasPrefix(m.RulesVersion, rules+" ")
		}
		return ok
	})
	for _, name := range []string{"engine-a", "engine-b"} {
		m := fleet[name]
		if m.Lost || m.Role != "all" || !slices.Equal(m.Venues, []string{"binance", "okx", "bybit"}) ||
			m.Books == 0 || m.BooksFresh != m.Books || !m.Trading || m.Halted || !strings.HasPrefix(m.RulesVersion, rules+" ") ||
			m.KillSwitchBucket != "arb_killswitch" || m.PID != os.Getpid() || m.At.IsZero() {
			t.Errorf("%s: %+v", name, m)
		}
	}

	// engine-b loses NATS for good (as a crashed daemon would): no more
	// heartbeats, no "stopped" one, and it goes lost.
	bb := b.bus // Run's end clears the field
	bb.Conn().Close()
	select {
	case <-bb.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("engine-b's connection did not close")
	}
	waitFor(t, "engine-b lost", 30*time.Second, func() bool {
		m := readFleet(t, kv)["engine-b"]
		return m.Lost && m.Status == "lost"
	})
	stopB() // it stops on its own (NATS closed for good) or by the cancel, whichever it sees first
	if m := readFleet(t, kv)["engine-a"]; m.Lost {
		t.Errorf("engine-a lost: %+v", m)
	}
	// engine-a stops cleanly: its last heartbeat says so (not lost).
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	if m := readFleet(t, kv)["engine-a"]; m.State != "stopped" || m.Status != "stopped" || m.Trading {
		t.Errorf("engine-a after a clean stop: %+v", m)
	}
}

// buildFleetDaemon builds (does not run) a daemon on url with instance
// name and data_dir dir.
func buildFleetDaemon(t *testing.T, url, name, dir string) *Daemon {
	t.Helper()
	text := strings.Replace(string(config.Default()), "data_dir: ./data", "data_dir: "+dir, 1)
	text = strings.Replace(text, "rules_file: configs/rules.yaml", "rules_file: "+shippedRules(t), 1)
	text = strings.Replace(text, `nats: {url: ""}`, `nats: {url: "`+url+`"}`, 1)
	text = strings.Replace(text, `instance: ""`, "instance: "+name, 1)
	text = strings.Replace(text, `kill_switch_bucket: ""`, "kill_switch_bucket: arb_killswitch", 1)
	text = strings.Replace(text, "http: {listen: 127.0.0.1:7420}", "http: {listen: 127.0.0.1:0}", 1)
	cfg, err := config.Parse("test.yaml", []byte(text), Known())
	if err != nil {
		t.Fatal(err)
	}
	d, err := Build(context.Background(), cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// TestFleetKillSwitchAtStart: the halt saved in data_dir is authoritative
// at start. A saved halt the bucket has not seen is shared; one the fleet
// resumed since stays local; without a saved halt, a halt in the bucket is
// in force before the first plan.
func TestFleetKillSwitchAtStart(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	url := srv.ClientURL()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "arb_killswitch", History: 16})
	if err != nil {
		t.Fatal(err)
	}
	put := func(v FleetHalt) uint64 {
		b, _ := json.Marshal(v)
		rev, err := kv.Put(ctx, KillSwitchKey, b)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	current := func() (FleetHalt, uint64) {
		e, err := kv.Get(ctx, KillSwitchKey)
		if err != nil {
			t.Fatal(err)
		}
		var v FleetHalt
		json.Unmarshal(e.Value(), &v)
		return v, e.Revision()
	}
	saved := func(dir string, rev uint64) {
		b, _ := json.Marshal(haltRecord{Halted: true, Reason: "saved halt", By: "api", At: time.Now().UTC(), FleetRevision: rev})
		os.WriteFile(filepath.Join(dir, KillSwitchFile), b, 0o600)
	}

	t.Run("a saved halt the bucket has not seen is shared", func(t *testing.T) {
		dir := t.TempDir()
		saved(dir, 0)
		rev0 := put(FleetHalt{Halted: false, Instance: "other"})
		d := buildFleetDaemon(t, url, "local-1", dir)
		if h, halted := d.desk.risk.Halted(); !halted || h.Reason != "saved halt" {
			t.Fatalf("not halted by the saved state: %+v", h)
		}
		d.desk.fleet.write(ctx) // what the running writer does
		v, rev := current()
		if !v.Halted || v.Instance != "local-1" || v.Reason != "saved halt" || rev <= rev0 {
			t.Fatalf("bucket %+v @%d", v, rev)
		}
		d.desk.halts.sync(d.desk.risk) // what the running kill switch writer does on persistSoon
		if got := newHaltStoreRev(t, dir); got != rev {
			t.Errorf("saved fleet revision %d, want %d", got, rev)
		}
	})

	t.Run("the bucket's halt applies before the first plan", func(t *testing.T) {
		put(FleetHalt{Halted: true, Reason: "fleet halt", By: "api", Instance: "other"})
		d := buildFleetDaemon(t, url, "local-2", t.TempDir())
		h, halted := d.desk.risk.Halted()
		if !halted || h.By != "fleet:other" || h.Reason != "fleet halt" {
			t.Fatalf("halted %v %+v", halted, h)
		}
		if _, halted, _ := newHaltStore(d.cfg.DataDir).load(); !halted {
			t.Error("the fleet's halt is not saved in data_dir")
		}
	})

	t.Run("a saved halt the fleet resumed since stays local", func(t *testing.T) {
		dir := t.TempDir()
		rev := put(FleetHalt{Halted: true, Reason: "old", Instance: "local-3"})
		saved(dir, rev)
		rev2 := put(FleetHalt{Halted: false, Instance: "other"}) // resumed after
		d := buildFleetDaemon(t, url, "local-3", dir)
		if h, halted := d.desk.risk.Halted(); !halted || h.Reason != "saved halt" {
			t.Fatalf("the saved halt was lost: %+v", h)
		}
		d.desk.fleet.write(ctx)
		if v, r := current(); v.Halted || r != rev2 {
			t.Fatalf("the fleet was halted again: %+v @%d", v, r)
		}
	})

	t.Run("a saved halt from the fleet that the fleet released since is released", func(t *testing.T) {
		dir := t.TempDir()
		rev := put(FleetHalt{Halted: true, Reason: "fleet halt", Instance: "other"})
		b, _ := json.Marshal(haltRecord{Halted: true, Reason: "fleet halt", By: "fleet:other", At: time.Now().UTC(), FleetRevision: rev})
		os.WriteFile(filepath.Join(dir, KillSwitchFile), b, 0o600)
		put(FleetHalt{Halted: false, Instance: "other"})
		d := buildFleetDaemon(t, url, "local-5", dir)
		if h, halted := d.desk.risk.Halted(); halted {
			t.Fatalf("still halted: %+v", h)
		}
		if _, halted, _ := newHaltStore(dir).load(); halted {
			t.Error("the release is not saved")
		}
	})

	t.Run("races: a halt wins", func(t *testing.T) {
		put(FleetHalt{Halted: false, Instance: "other"})
		d := buildFleetDaemon(t, url, "local-4", t.TempDir())
		f := d.desk.fleet
		// A local halt not written yet meets a newer resume: ignored.
		d.desk.risk.Halt("local rule halt", "rule")
		b, _ := json.Marshal(FleetHalt{Halted: false, Instance: "other"})
		f.apply(ctx, bus.KVEntry{Value: b, Revision: f.seen + 1})
		if _, halted := d.desk.risk.Halted(); !halted {
			t.Fatal("a remote resume released a halt not yet shared")
		}
		f.write(ctx)
		if v, _ := current(); !v.Halted || v.Reason != "local rule halt" {
			t.Fatalf("the local halt is not in the bucket: %+v", v)
		}
		// A local halt whose write comes back on the watch before the
		// write's answer: a resume after it is newer, and applies.
		d.desk.risk.Resume("api")
		d.desk.risk.Halt("second halt", "api") // OnHalt: a new intent
		f.mu.Lock()
		in := f.intent
		in.value, _ = json.Marshal(in.halt) // as write does before it sends
		f.mu.Unlock()
		rev := f.seen + 1
		f.apply(ctx, bus.KVEntry{Value: in.value, Revision: rev})
		f.apply(ctx, bus.KVEntry{Value: b, Revision: rev + 1}) // the resume from "other"
		if _, halted := d.desk.risk.Halted(); halted {
			t.Fatal("a resume newer than this daemon's own halt was ignored")
		}
		f.mu.Lock()
		f.intent, f.seen = nil, 0 // back in step with the bucket for the next case
		f.mu.Unlock()
		f.write(ctx)

		// A resume made here over a halt it has not seen is not written.
		d.desk.risk.Resume("api")
		f.localResume()
		put(FleetHalt{Halted: true, Reason: "newer halt", Instance: "other"})
		f.write(ctx)
		if v, _ := current(); !v.Halted || v.Reason != "newer halt" {
			t.Fatalf("a resume overwrote a newer halt: %+v", v)
		}
	})
}

func newHaltStoreRev(t *testing.T, dir string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, KillSwitchFile))
	if err != nil {
		t.Fatal(err)
	}
	var r haltRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.FleetRevision
}

// TestMember: a daemon silent for LostAfter intervals is lost, unless its
// last heartbeat said it stopped.
func TestMember(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	hb := Heartbeat{Instance: "x", State: "trading", IntervalSeconds: 2}
	for _, tt := range []struct {
		age    time.Duration
		state  string
		status string
	}{
		{time.Second, "trading", "trading"},
		{6 * time.Second, "trading", "trading"},
		{6*time.Second + time.Millisecond, "trading", "lost"},
		{time.Hour, "halted", "lost"},
		{time.Hour, "stopped", "stopped"},
		{-time.Second, "trading", "trading"}, // a reader's clock behind the server's
	} {
		hb.State = tt.state
		m := Member(hb, now.Add(-tt.age), now)
		if m.Status != tt.status || m.Lost != (tt.status == "lost") {
			t.Errorf("age %v state %s: %+v", tt.age, tt.state, m)
		}
	}
}
