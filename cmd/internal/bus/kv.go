package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KV bucket settings for buckets the bus creates (the fleet-wide rules).
const (
	// KVHistory is how many past values of a key a bucket keeps, so an
	// operator can see and restore earlier rule sets.
	KVHistory = 16
	// KVMaxValueSize caps one value; a rules file is capped at 256 KiB.
	KVMaxValueSize = 1 << 20
	// KVMaxBytes caps a bucket's storage.
	KVMaxBytes = 64 << 20
)

// KVSpec describes a KV bucket the bus creates when it does not exist.
// An existing bucket is used as it is (an operator may have made it with
// other limits or replicas).
type KVSpec struct {
	Bucket      string
	Description string
	// History is how many values of a key are kept (1..64); 0 means
	// KVHistory.
	History uint8
	// TTL expires values not rewritten within it (heartbeats of daemons
	// gone for good); 0 keeps them.
	TTL time.Duration
}

// ErrKVConflict is returned by UpdateKV when the key's revision is not the
// expected one: another writer got there first. Read the key again and
// decide anew.
var ErrKVConflict = errors.New("bus: kv key changed since it was read")

// kv opens bucket, creating it if it does not exist.
func (b *Bus) kv(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	return b.OpenKV(ctx, KVSpec{Bucket: bucket, Description: "arb fleet-wide settings (risk rules)"})
}

// OpenKV opens the bucket of spec, creating it if it does not exist, within
// PublishTimeout.
func (b *Bus) OpenKV(ctx context.Context, spec KVSpec) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	kv, err := b.js.KeyValue(ctx, spec.Bucket)
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	hist := spec.History
	if hist == 0 {
		hist = KVHistory
	}
	kv, err = b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       spec.Bucket,
		Description:  spec.Description,
		History:      hist,
		TTL:          spec.TTL,
		MaxValueSize: KVMaxValueSize,
		MaxBytes:     KVMaxBytes,
		Storage:      jetstream.FileStorage,
		Replicas:     1,
	})
	if errors.Is(err, jetstream.ErrBucketExists) { // created concurrently
		return b.js.KeyValue(ctx, spec.Bucket)
	}
	return kv, err
}

// KVEntry is one value of a key as GetKV and WatchKVEntries return it.
type KVEntry struct {
	Value    []byte
	Revision uint64
	Created  time.Time // when the server stored it
	// Deleted is true for a delete or purge marker (Value is empty).
	Deleted bool
}

// GetKV returns the current entry of key in kv; false when the key has
// never been written (or its history was purged).
func GetKV(ctx context.Context, kv jetstream.KeyValue, key string) (KVEntry, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return KVEntry{}, false, nil
	case err != nil:
		return KVEntry{}, false, fmt.Errorf("bus: kv get %s/%s: %w", kv.Bucket(), key, err)
	}
	return KVEntry{Value: e.Value(), Revision: e.Revision(), Created: e.Created()}, true, nil
}

// UpdateKV writes value under key only if the key's revision is still
// last (0: only if the key does not exist or was deleted): compare and set,
// so two writers that read the same state cannot both win. It returns the
// new revision, or ErrKVConflict when another write came first.
func UpdateKV(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, last uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	var rev uint64
	var err error
	if last == 0 {
		rev, err = kv.Create(ctx, key, value)
	} else {
		rev, err = kv.Update(ctx, key, value, last)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, ErrKVConflict
	}
	if err != nil {
		return 0, fmt.Errorf("bus: kv update %s/%s: %w", kv.Bucket(), key, err)
	}
	return rev, nil
}

// WatchKVEntries calls onEntry with the current entry of every key of kv
// matching keys (a key or a wildcard such as "status.>"), then with every
// new one, in revision order, until ctx ends; it then returns ctx's
// error, or another error when the watch ends on its own (the connection
// closed for good). onEntry runs on the caller's goroutine; initial is true
// for the entries that existed when the watch started. onCaughtUp, if set,
// is called once those have all been delivered.
func WatchKVEntries(ctx context.Context, kv jetstream.KeyValue, keys string, onEntry func(key string, e KVEntry, initial bool), onCaughtUp func()) error {
	w, err := kv.Watch(ctx, keys)
	if err != nil {
		return fmt.Errorf("bus: kv watch %s/%s: %w", kv.Bucket(), keys, err)
	}
	defer w.Stop()
	initial := true
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("bus: kv watch %s/%s ended (connection closed)", kv.Bucket(), keys)
			}
			if e == nil { // the end of the initial values
				if initial && onCaughtUp != nil {
					onCaughtUp()
				}
				initial = false
				continue
			}
			onEntry(e.Key(), KVEntry{Value: e.Value(), Revision: e.Revision(), Created: e.Created(),
				Deleted: e.Operation() != jetstream.KeyValuePut}, initial)
		}
	}
}

// PutKV stores value under key in bucket (created if missing) and returns
// the new revision.
func (b *Bus) PutKV(ctx context.Context, bucket, key string, value []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	kv, err := b.kv(ctx, bucket)
	if err != nil {
		return 0, fmt.Errorf("bus: kv bucket %s: %w", bucket, err)
	}
	rev, err := kv.Put(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("bus: kv put %s/%s: %w", bucket, key, err)
	}
	return rev, nil
}

// WatchKV calls onUpdate with the current value of key in bucket (created
// if missing), if there is one, and then with every new value, in revision
// order, until ctx ends; it then returns ctx's error. It returns another
// error if the bucket cannot be opened or the watch ends on its own (the
// connection closed for good). Run it in its own goroutine; onUpdate runs
// on that goroutine, one call at a time, and should be quick (the risk
// engine parses, checks and swaps in a rule set).
//
// A deleted or purged key is logged and not passed on: the rules in force
// stay in force, since removing every rule by accident must not be possible
// from the bucket. The watch survives reconnects (an ordered consumer
// resumes where it left off).
func (b *Bus) WatchKV(ctx context.Context, bucket, key string, onUpdate func(value []byte, revision uint64)) error {
	kv, err := b.kv(ctx, bucket)
	if err != nil {
		return fmt.Errorf("bus: kv bucket %s: %w", bucket, err)
	}
	w, err := kv.Watch(ctx, key)
	if err != nil {
		return fmt.Errorf("bus: kv watch %s/%s: %w", bucket, key, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("bus: kv watch %s/%s ended (connection closed)", bucket, key)
			}
			if e == nil { // the end of the initial values
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				b.logger.Warn("KV key removed; keeping the current value", "bucket", bucket, "key", key,
					"op", e.Operation().String(), "revision", e.Revision())
				continue
			}
			onUpdate(e.Value(), e.Revision())
		}
	}
}
