package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// One executor may write a journal. Two daemons trading from the same
// journal would each replay the other's trades at start and query, cancel
// and compensate orders they never sent. So a daemon that runs an executor
// holds the journal's ownership: the key "owner.<journal>" in the KV
// bucket JournalBucket, created only if absent, rewritten every
// OwnerTTL/4 on its revision (a compare-and-set that fails if anyone else
// wrote it) and deleted on a clean stop. A holder that dies stops
// rewriting it: a successor that sees the key's revision unchanged for
// OwnerTTL on its own clock (no clock is compared across hosts) takes it
// over by the same compare-and-set.
//
// Daemons with journals of their own that share one ledger must not number
// their trades alike: the bucket's key "epoch" is a fleet-wide counter each
// executor takes its epoch (the high half of its trade ids) from
// (AllocEpoch), so no two executors sharing the bucket ever take the same.
const (
	// JournalBucket holds the journals' owners and the epoch counter. It
	// has no TTL: the counter must outlive every daemon.
	JournalBucket = "arb_journal"
	// OwnerTTL is how long an owner's key may go unrewritten before a
	// successor takes it over: a daemon restarted after a crash waits
	// about this long.
	OwnerTTL = 15 * time.Second
	// epochKey is the fleet-wide epoch counter's key.
	epochKey = "epoch"
)

// ErrJournalOwned is returned by JournalOwner.Acquire when another live
// daemon holds the journal.
var ErrJournalOwned = errors.New("bus: the journal is owned by another daemon")

// ErrOwnershipLost is returned by JournalOwner.Run when another daemon took
// the journal: this one must stop trading at once.
var ErrOwnershipLost = errors.New("bus: journal ownership lost to another daemon")

// OwnerInfo is the owner key's value: who holds the journal.
type OwnerInfo struct {
	Instance string    `json:"instance"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Since    time.Time `json:"since"` // with the pid, tells this process's key from an earlier one's
}

func (o OwnerInfo) String() string {
	return fmt.Sprintf("instance %s (host %s, pid %d, since %s)", o.Instance, o.Host, o.PID, o.Since.UTC().Format(time.RFC3339))
}

// JournalOwner is this daemon's hold on a journal's ownership key and its
// access to the epoch counter. Acquire, then Run on one goroutine; Held
// from any goroutine; AllocEpoch from one goroutine at a time.
type JournalOwner struct {
	kv   jetstream.KeyValue
	key  string
	val  []byte
	ttl  time.Duration
	log  *slog.Logger
	rev  uint64       // the key's revision as this holder last wrote it (Acquire, then Run)
	okAt atomic.Int64 // last successful write of the key, Unix ns; 0 = not held
	// waited is how long Acquire waited for another holder (0: the key
	// was free at once).
	waited time.Duration
}

// Waited returns how long Acquire waited for another daemon's key to go:
// 0 when the journal was free at once.
func (o *JournalOwner) Waited() time.Duration { return o.waited }

// Owner opens the ownership of journal j for the daemon me, creating the
// bucket if it does not exist. ttl 0 means OwnerTTL (tests use shorter).
func (j *Journal) Owner(ctx context.Context, me OwnerInfo, ttl time.Duration, log *slog.Logger) (*JournalOwner, error) {
	if ttl <= 0 {
		ttl = OwnerTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := j.b.OpenKV(ctx, KVSpec{Bucket: JournalBucket, History: 1,
		Description: "arb executor journals: owner.<journal> is the daemon writing it, epoch the fleet's last trade-id epoch"})
	if err != nil {
		return nil, fmt.Errorf("bus: journal bucket %s: %w", JournalBucket, err)
	}
	val, err := json.Marshal(me)
	if err != nil {
		return nil, err
	}
	return &JournalOwner{kv: kv, key: j.OwnerKey(), val: val, ttl: ttl, log: log.With("component", "journal-owner")}, nil
}

// OwnerKey is the journal's ownership key: "owner." and its stream and
// subject prefix, in the letters a KV key allows.
func (j *Journal) OwnerKey() string {
	return "owner." + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, j.stream+"."+strings.TrimSuffix(j.prefix, "."))
}

// TTL is how long the key may go unrewritten before a successor takes it.
func (o *JournalOwner) TTL() time.Duration { return o.ttl }

// Held reports whether this daemon holds the journal now: acquired, and
// rewritten within half the TTL, so it stops writing the journal well
// before a successor could take the key over. Safe from any goroutine.
func (o *JournalOwner) Held() bool {
	at := o.okAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < o.ttl/2
}

// holder decodes a key's value for messages.
func holder(v []byte) OwnerInfo {
	var h OwnerInfo
	if json.Unmarshal(v, &h) != nil {
		return OwnerInfo{Instance: "(unreadable: " + clipValue(v) + ")"}
	}
	return h
}

// Acquire takes the journal, waiting up to wait for a holder to go: a
// clean stop deletes the key; a crashed holder stops rewriting it, and
// once its revision has not moved for the TTL the key is taken over
// (wait should exceed the TTL). It returns ErrJournalOwned, naming the
// holder, if the key is still alive then.
func (o *JournalOwner) Acquire(ctx context.Context, wait time.Duration) error {
	start := time.Now()
	deadline := start.Add(wait)
	every := o.ttl / 8
	held := func(rev uint64, msg string, waited bool) {
		if waited {
			o.waited = time.Since(start)
		}
		o.held(rev, msg)
	}
	var seenRev uint64
	var seenAt time.Time
	logged := false
	for {
		cctx, cancel := context.WithTimeout(ctx, PublishTimeout)
		e, err := o.kv.Get(cctx, o.key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			var rev uint64
			if rev, err = o.kv.Create(cctx, o.key, o.val); err == nil {
				cancel()
				held(rev, "journal owned", logged)
				return nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) {
				cancel()
				return fmt.Errorf("bus: journal owner %s: %w", o.key, err)
			}
			// Created concurrently by another daemon: look again.
		case err != nil:
			cancel()
			return fmt.Errorf("bus: journal owner %s: %w", o.key, err)
		default:
			if bytes.Equal(e.Value(), o.val) {
				// This daemon's own create, whose answer was lost.
				cancel()
				held(e.Revision(), "journal owned", logged)
				return nil
			}
			h := holder(e.Value())
			now := time.Now()
			switch {
			case e.Revision() != seenRev:
				seenRev, seenAt = e.Revision(), now
			case now.Sub(seenAt) > o.ttl:
				// Not rewritten for the TTL: its holder is gone.
				if rev, err := o.kv.Update(cctx, o.key, o.val, seenRev); err == nil {
					cancel()
					held(rev, "journal taken over from a holder that stopped renewing it", true)
					o.log.Warn("journal taken over", "key", o.key, "previous", h.String(), "unrenewed_for", now.Sub(seenAt).Round(time.Millisecond).String())
					return nil
				}
			}
			if now.After(deadline) {
				cancel()
				return fmt.Errorf("%w: %s holds %s and renews it; two daemons cannot trade from one journal (give each its own fleet.instance)", ErrJournalOwned, h, o.key)
			}
			if !logged {
				o.log.Warn("journal held by another daemon: waiting for it to stop, or to stop renewing it", "key", o.key, "holder", h.String(), "wait", wait.String())
				logged = true
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

func (o *JournalOwner) held(rev uint64, msg string) {
	o.rev = rev
	o.okAt.Store(time.Now().UnixNano())
	o.log.Info(msg, "key", o.key, "revision", rev)
}

// Run rewrites the key every TTL/4 until ctx ends, then deletes it so a
// successor takes the journal at once, and returns nil. If another daemon
// wrote the key (it took the journal over) Run returns ErrOwnershipLost;
// if the key was deleted it is created again, or ErrOwnershipLost if
// someone else did.
func (o *JournalOwner) Run(ctx context.Context) error {
	every := o.ttl / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			o.okAt.Store(0)
			dctx, cancel := context.WithTimeout(context.Background(), every)
			_ = o.kv.Delete(dctx, o.key, jetstream.LastRevision(o.rev))
			cancel()
			return nil
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, every)
		rev, err := o.kv.Update(cctx, o.key, o.val, o.rev)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if rev, err = o.kv.Create(cctx, o.key, o.val); err == nil {
				o.log.Warn("journal ownership key was deleted; written again", "key", o.key)
			}
		}
		cancel()
		switch {
		case err == nil:
			o.rev = rev
			o.okAt.Store(time.Now().UnixNano())
		case ctx.Err() != nil:
		case errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err):
			h := "another daemon"
			gctx, gcancel := context.WithTimeout(context.WithoutCancel(ctx), PublishTimeout)
			e, gerr := o.kv.Get(gctx, o.key)
			gcancel()
			if gerr == nil && bytes.Equal(e.Value(), o.val) {
				// The key holds this daemon's own value: an earlier
				// rewrite was stored but its answer lost. Carry on from
				// its revision.
				o.rev = e.Revision()
				o.okAt.Store(time.Now().UnixNano())
				continue
			}
			o.okAt.Store(0)
			if gerr == nil {
				h = holder(e.Value()).String()
			}
			return fmt.Errorf("%w: %s now holds %s", ErrOwnershipLost, h, o.key)
		default:
			o.log.Warn("journal ownership not renewed", "key", o.key, "err", err)
		}
	}
}

// AllocEpoch takes the next epoch from the fleet-wide counter: at least
// least, above every epoch any daemon sharing the bucket took before, and
// stored before it is returned (compare-and-set, retried on a race).
func (o *JournalOwner) AllocEpoch(ctx context.Context, least uint32) (uint32, error) {
	for try := 0; try < 16; try++ {
		cctx, cancel := context.WithTimeout(ctx, PublishTimeout)
		e, err := o.kv.Get(cctx, epochKey)
		var ep uint32
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			ep = max(least, 1)
			_, err = o.kv.Create(cctx, epochKey, []byte(strconv.FormatUint(uint64(ep), 10)))
		case err != nil:
		default:
			last, perr := strconv.ParseUint(string(e.Value()), 10, 32)
			if perr != nil {
				cancel()
				return 0, fmt.Errorf("bus: epoch counter %s/%s holds %q, not an epoch", JournalBucket, epochKey, clipValue(e.Value()))
			}
			if last == 1<<32-1 {
				cancel()
				return 0, errors.New("bus: epoch counter exhausted")
			}
			ep = max(least, uint32(last)+1)
			_, err = o.kv.Update(cctx, epochKey, []byte(strconv.FormatUint(uint64(ep), 10)), e.Revision())
		}
		cancel()
		switch {
		case err == nil:
			return ep, nil
		case errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err):
			continue // another daemon took one meanwhile
		default:
			return 0, fmt.Errorf("bus: epoch counter: %w", err)
		}
	}
	return 0, errors.New("bus: epoch counter: too many concurrent allocations")
}

// isWrongSequence reports a revision mismatch of a KV update.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

func clipValue(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}
