package bus

import (
	"context"
	"errors"
	"fmt"

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

// kv opens bucket, creating it if it does not exist.
func (b *Bus) kv(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := b.js.KeyValue(ctx, bucket)
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	kv, err = b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       bucket,
		Description:  "arb fleet-wide settings (risk rules)",
		History:      KVHistory,
		MaxValueSize: KVMaxValueSize,
		MaxBytes:     KVMaxBytes,
		Storage:      jetstream.FileStorage,
		Replicas:     1,
	})
	if errors.Is(err, jetstream.ErrBucketExists) { // created concurrently
		return b.js.KeyValue(ctx, bucket)
	}
	return kv, err
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
	octx, cancel := context.WithTimeout(ctx, PublishTimeout)
	kv, err := b.kv(octx, bucket)
	cancel()
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
