package feedbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Leader election settings.
const (
	// LeaseBucket is the KV bucket holding one key per venue: the
	// instance id of the feed process that publishes the venue's books.
	LeaseBucket = "arb_feed_leaders"
	// LeaseTTL is how long a leader's key lives without a renewal: a feed
	// process that dies is replaced by its standby within LeaseTTL plus
	// one poll (LeaseTTL/4). It is below every default age limit (3–5 s),
	// so a failover does not make the engine's books stale.
	LeaseTTL = 2 * time.Second
)

// LeaseConfig configures one venue's lease.
type LeaseConfig struct {
	KV     jetstream.KeyValue // the lease bucket (OpenLeases)
	Venue  string             // the key
	Source uint64             // this process's instance id (the value)
	TTL    time.Duration      // the bucket's TTL; 0 = LeaseTTL
	// Ready reports whether this process may lead the venue: its adapter
	// is connected and has published its books. A leader that is not ready
	// at a renewal gives the lease up, so a standby whose books are in
	// sync takes over.
	Ready  func() bool
	Logger *slog.Logger
}

// Lease is one venue's leader election on a KV key with a TTL: the holder
// renews the key every TTL/4 (Update on its revision, which fails if
// anyone else wrote it); a standby tries to Create it every TTL/4, which
// succeeds only once the key has expired or been deleted. The revision at
// which a holder created the key is its term: revisions of a stream only
// grow, so a later leader's term is higher, and engines drop messages of
// an older term (fencing) — a deposed leader that has not noticed yet
// cannot double the events. A holder that cannot renew for TTL/2 (NATS
// unreachable) stops publishing before anyone else can take the key.
type Lease struct {
	cfg  LeaseConfig
	term atomic.Uint64
	// Changes counts terms won, Renewals successful renewals (for tests
	// and logs).
	Changes, Renewals atomic.Uint64
}

// OpenLeases opens the lease bucket (LeaseBucket; tests use their own),
// creating it with ttl (0 = LeaseTTL) if it does not exist. An existing
// bucket keeps its own TTL.
func OpenLeases(ctx context.Context, js jetstream.JetStream, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		ttl = LeaseTTL
	}
	kv, err := js.KeyValue(ctx, bucket)
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "arb feed leaders: one key per venue, the instance id of the feed process publishing its books",
		TTL:         ttl,
		History:     1,
		MaxBytes:    1 << 20,
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, bucket)
	}
	return kv, err
}

// NewLease returns a lease that is not running.
func NewLease(cfg LeaseConfig) (*Lease, error) {
	if cfg.KV == nil || cfg.Ready == nil || cfg.Source == 0 {
		return nil, errors.New("feedbus: a lease needs a bucket, a readiness check and a source id")
	}
	if err := checkToken("venue", cfg.Venue); err != nil {
		return nil, err
	}
	if cfg.TTL <= 0 {
		cfg.TTL = LeaseTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Lease{cfg: cfg}, nil
}

// Term returns the term of the lease while this process holds it, else 0.
// Safe from any goroutine.
func (l *Lease) Term() uint64 { return l.term.Load() }

// Run holds or waits for the lease until ctx ends; then it deletes the key
// if it holds it, so a standby takes over at once, and returns nil.
func (l *Lease) Run(ctx context.Context) error {
	every := l.cfg.TTL / 4
	t := time.NewTicker(every)
	defer t.Stop()
	val := []byte(strconv.FormatUint(l.cfg.Source, 16))
	var rev uint64     // the key's revision as this holder last wrote it
	var okAt time.Time // last successful create or renewal
	for {
		held := l.term.Load() != 0
		opCtx, cancel := context.WithTimeout(ctx, every)
		switch {
		case held && !l.cfg.Ready():
			l.step("not ready")
			_ = l.cfg.KV.Delete(opCtx, l.cfg.Venue, jetstream.LastRevision(rev))
		case held:
			r, err := l.cfg.KV.Update(opCtx, l.cfg.Venue, val, rev)
			switch {
			case err == nil:
				rev, okAt = r, time.Now()
				l.Renewals.Add(1)
			case errors.Is(err, jetstream.ErrKeyExists) || isMismatch(err):
				l.step("lease taken by another feed")
			case time.Since(okAt) > l.cfg.TTL/2:
				l.step(fmt.Sprintf("lease not renewed for %v: %v", time.Since(okAt).Round(time.Millisecond), err))
			}
		case l.cfg.Ready():
			r, err := l.cfg.KV.Create(opCtx, l.cfg.Venue, val)
			if err == nil {
				rev, okAt = r, time.Now()
				l.term.Store(r)
				l.Changes.Add(1)
				l.cfg.Logger.Info("feed leader", "venue", l.cfg.Venue, "term", r)
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			if l.term.Load() != 0 {
				l.term.Store(0)
				dctx, cancel := context.WithTimeout(context.Background(), every)
				_ = l.cfg.KV.Delete(dctx, l.cfg.Venue, jetstream.LastRevision(rev))
				cancel()
			}
			return nil
		case <-t.C:
		}
	}
}

// step gives the lease up.
func (l *Lease) step(why string) {
	l.term.Store(0)
	l.cfg.Logger.Warn("feed standby", "venue", l.cfg.Venue, "reason", why)
}

// isMismatch reports a revision mismatch: someone else wrote the key.
func isMismatch(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyNotFound)
}
