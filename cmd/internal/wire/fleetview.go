package wire

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/bus"
)

// FleetMember is one daemon as arb status shows it: its last heartbeat,
// when the server stored it, and whether it is lost.
type FleetMember struct {
	Heartbeat
	// Stored is when the NATS server stored the heartbeat (the server's
	// clock, so a daemon's clock skew does not make it look lost).
	Stored time.Time `json:"stored"`
	// AgeSeconds is how long ago that was.
	AgeSeconds float64 `json:"age_seconds"`
	// Lost is true when no heartbeat came for LostAfter intervals and the
	// daemon did not say it stopped.
	Lost bool `json:"lost"`
	// Status is State, or "lost".
	Status string `json:"status"`
}

// Member judges one heartbeat stored at stored, as of now.
func Member(hb Heartbeat, stored, now time.Time) FleetMember {
	m := FleetMember{Heartbeat: hb, Stored: stored.UTC(), Status: hb.State}
	age := now.Sub(stored)
	if age < 0 {
		age = 0
	}
	m.AgeSeconds = float64(age.Round(time.Millisecond)) / 1e9
	interval := time.Duration(hb.IntervalSeconds * float64(time.Second))
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if hb.State != "stopped" && age > LostAfter*interval {
		m.Lost, m.Status = true, "lost"
	}
	return m
}

// ReadFleet returns every daemon's latest heartbeat in the status bucket
// kv, judged as of now(), sorted by instance. A value that is not a
// heartbeat is skipped (counted in the second result).
func ReadFleet(ctx context.Context, kv jetstream.KeyValue, now func() time.Time) ([]FleetMember, int, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	type stored struct {
		hb Heartbeat
		at time.Time
	}
	latest := map[string]stored{}
	bad := 0
	err := bus.WatchKVEntries(wctx, kv, StatusKeyPrefix+">", func(key string, e bus.KVEntry, _ bool) {
		if e.Deleted {
			delete(latest, key)
			return
		}
		var hb Heartbeat
		if json.Unmarshal(e.Value, &hb) != nil || hb.Instance == "" {
			bad++
			return
		}
		latest[key] = stored{hb, e.Created}
	}, stop)
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() == nil) {
		return nil, bad, err
	}
	t := now()
	out := make([]FleetMember, 0, len(latest))
	for _, s := range latest {
		out = append(out, Member(s.hb, s.at, t))
	}
	slices.SortFunc(out, func(a, b FleetMember) int { return strings.Compare(a.Instance, b.Instance) })
	return out, bad, nil
}
