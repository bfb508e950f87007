package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The event stream. Every order, fill and state transition is published on
// a subject under arb. and kept in ARB_EVENTS.
const (
	// StreamName is the JetStream stream holding arb's events.
	StreamName = "ARB_EVENTS"
	// StreamSubjects is the subject filter of the stream.
	StreamSubjects = "arb.>"
	// StreamDedupWindow is how long JetStream remembers a Nats-Msg-Id: a
	// retry of the same event within it is stored once. Two minutes covers
	// a publisher's retries across a short reconnect.
	StreamDedupWindow = 2 * time.Minute
	// StreamMaxAge keeps events a year. Without PostgreSQL the ledger is
	// rebuilt from this log, so it must outlive any reconciliation; with
	// PostgreSQL, the database is the long-term record.
	StreamMaxAge = 365 * 24 * time.Hour
	// StreamMaxBytes caps the stream's disk use. Events are small (orders
	// and fills, not market data): 4 GiB is years of trading.
	StreamMaxBytes = 4 << 30
	// StreamMaxMsgSize caps one event.
	StreamMaxMsgSize = 256 << 10
	// StreamMaxConsumers caps consumers on the stream (the ledger, tools).
	StreamMaxConsumers = 64
)

// StreamSpec describes a durable event stream. DefaultStream is arb's;
// tests use others to stay apart from a shared server's streams.
type StreamSpec struct {
	Name       string
	Subjects   []string
	Dedup      time.Duration // Nats-Msg-Id deduplication window
	MaxAge     time.Duration
	MaxBytes   int64
	MaxMsgSize int32
}

// DefaultStream returns the ARB_EVENTS stream: file storage, limits
// retention, a StreamDedupWindow dedup window, StreamMaxAge and
// StreamMaxBytes limits. When it is full a publish is refused (discard
// new), never silently made room for by dropping old events: the publisher
// learns its event is not durable and stops trading. Messages cannot be
// deleted or purged through the API: it is an audit log.
func DefaultStream() StreamSpec {
	return StreamSpec{
		Name:       StreamName,
		Subjects:   []string{StreamSubjects},
		Dedup:      StreamDedupWindow,
		MaxAge:     StreamMaxAge,
		MaxBytes:   StreamMaxBytes,
		MaxMsgSize: StreamMaxMsgSize,
	}
}

// config returns the JetStream configuration of the spec.
func (s StreamSpec) config() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:         s.Name,
		Description:  "arb events: orders, fills, state transitions",
		Subjects:     s.Subjects,
		Retention:    jetstream.LimitsPolicy,
		Discard:      jetstream.DiscardNew,
		MaxAge:       s.MaxAge,
		MaxBytes:     s.MaxBytes,
		MaxMsgSize:   s.MaxMsgSize,
		MaxConsumers: StreamMaxConsumers,
		Storage:      jetstream.FileStorage,
		Replicas:     1,
		Duplicates:   s.Dedup,
		DenyDelete:   true,
		DenyPurge:    true,
	}
}

// EnsureStreams creates arb's event stream (DefaultStream), or updates it to
// the current definition if it exists. It is idempotent; the daemon calls it
// at start.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	return b.EnsureStream(ctx, DefaultStream())
}

// EnsureStream creates or updates the stream described by spec.
func (b *Bus) EnsureStream(ctx context.Context, spec StreamSpec) error {
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	if _, err := b.js.CreateOrUpdateStream(ctx, spec.config()); err != nil {
		return fmt.Errorf("bus: stream %s: %w", spec.Name, err)
	}
	return nil
}

// Publish stores data on subject with msgID as its Nats-Msg-Id and waits
// for JetStream's acknowledgement: a nil error means the event is on disk
// in a stream. Publishing the same msgID again within the dedup window
// stores nothing new and also returns nil (the event is durable either way),
// so a caller retries with the same id until it gets nil. It gives up after
// PublishTimeout or when ctx ends, whichever is first.
func (b *Bus) Publish(ctx context.Context, subject, msgID string, data []byte) error {
	_, err := b.publish(ctx, subject, msgID, data)
	return err
}

// publish is Publish returning the ack, for tests.
func (b *Bus) publish(ctx context.Context, subject, msgID string, data []byte) (*jetstream.PubAck, error) {
	if msgID == "" {
		return nil, ErrNoMsgID
	}
	if subject == "" || strings.ContainsAny(subject, " \t\r\n*>") {
		return nil, fmt.Errorf("bus: publish: %q is not a subject to publish on", subject)
	}
	ctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	ack, err := b.js.Publish(ctx, subject, data, jetstream.WithMsgID(msgID))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no acknowledgement in time: %w", err)
		}
		err = fmt.Errorf("bus: publish %s (id %s): %w", subject, msgID, err)
		if !errors.Is(err, context.Canceled) {
			b.failed(err)
		}
		return nil, err
	}
	return ack, nil
}
