package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/wire"
)

// TestStatus: arb status reads the heartbeats in a running daemon's
// embedded NATS as its read-only user (which cannot write them) and lists
// the fleet as a table and as JSON: a trading engine, a halted one, one
// stopped cleanly and one whose heartbeats stopped (lost).
func TestStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	emb, err := bus.StartEmbedded(ctx, dataDir, nil, "arb_fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	b, err := bus.Connect(ctx, emb.ClientURL(), nil, emb.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kv, err := b.OpenKV(ctx, bus.KVSpec{Bucket: "arb_fleet", History: 1, TTL: wire.StatusTTL})
	if err != nil {
		t.Fatal(err)
	}
	put := func(hb wire.Heartbeat) time.Time {
		hb.At, hb.Role, hb.Venues, hb.RulesVersion = time.Now().UTC(), "engine", []string{"binance", "okx"}, "default sha256:abc from rules.yaml at now"
		v, _ := json.Marshal(hb)
		if _, err := kv.Put(ctx, wire.StatusKeyPrefix+hb.Instance, v); err != nil {
			t.Fatal(err)
		}
		e, err := kv.Get(ctx, wire.StatusKeyPrefix+hb.Instance)
		if err != nil {
			t.Fatal(err)
		}
		return e.Created()
	}
	// engine-d's heartbeats stop: with a 1 ms interval it is lost once 3 ms
	// have passed on the server's clock since its last one.
	lastD := put(wire.Heartbeat{Instance: "engine-d", State: "trading", Trading: true, IntervalSeconds: 0.001, Books: 4, BooksFresh: 4})
	put(wire.Heartbeat{Instance: "engine-a", State: "trading", Trading: true, Ready: true, IntervalSeconds: 60, Books: 4, BooksFresh: 4})
	put(wire.Heartbeat{Instance: "engine-b", State: "halted", Halted: true, HaltReason: "drawdown", IntervalSeconds: 60, Books: 4, BooksFresh: 3})
	put(wire.Heartbeat{Instance: "engine-c", State: "stopped", IntervalSeconds: 0.001})
	for time.Since(lastD) < 10*time.Millisecond {
		time.Sleep(time.Millisecond) // until engine-d's silence is past its limit
	}

	code, out, errOut := runArb(t, "status", "--data-dir", dataDir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "INSTANCE") {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range [][]string{
		{"engine-a", "engine", "trading", "binance,okx", "4/4", "yes", "no", "default sha256:abc "},
		{"engine-b", "halted", "3/4", "yes (drawdown)"},
		{"engine-c", "stopped"},
		{"engine-d", "lost"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}

	code, out, errOut = runArb(t, "status", "--data-dir", dataDir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var ms []wire.FleetMember
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := map[string]string{}
	for _, m := range ms {
		got[m.Instance] = m.Status
	}
	want := map[string]string{"engine-a": "trading", "engine-b": "halted", "engine-c": "stopped", "engine-d": "lost"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q (%s)", k, got[k], v, out)
		}
	}

	// The read-only user cannot forge a heartbeat.
	url, auth, err := bus.LocalReader(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, auth)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	rkv, err := js.KeyValue(ctx, "arb_fleet")
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if _, err := rkv.Put(pctx, wire.StatusKeyPrefix+"forged", []byte(`{"instance":"forged"}`)); err == nil {
		t.Error("the read-only user wrote a heartbeat")
	}

	if code, _, _ := runArb(t, "status", "--data-dir", dataDir, "--bucket", "no_such_bucket", "--timeout", "2s"); code != 1 {
		t.Errorf("a missing bucket: exit %d", code)
	}
	if code, _, _ := runArb(t, "status"); code != 2 {
		t.Errorf("no NATS given: exit %d", code)
	}
}
