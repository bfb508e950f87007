package ledgerfeed

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"arb/ledger"
)

// Publisher stores an event durably with a deduplication id; *bus.Bus is
// one (Publish waits for JetStream's acknowledgement).
type Publisher interface {
	Publish(ctx context.Context, subject, msgID string, data []byte) error
}

// PublishFill publishes a fill in the ledger's wire form on
// <prefix>.ledger.fill.<venue> with its Nats-Msg-Id. The executor calls it
// for every fill; an invalid fill is refused before it is published.
func PublishFill(ctx context.Context, p Publisher, prefix string, f ledger.Fill) error {
	if err := f.Validate(); err != nil {
		return err
	}
	return publish(ctx, p, ledger.FillSubject(prefix, f.Venue), f.MsgID(), f)
}

// PublishTrade publishes a trade's state on <prefix>.ledger.trade.
func PublishTrade(ctx context.Context, p Publisher, prefix string, t ledger.Trade) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return publish(ctx, p, ledger.TradeSubject(prefix), t.MsgID(), t)
}

// PublishExternal publishes an opening balance, deposit or withdrawal on
// <prefix>.ledger.external.<venue>.
func PublishExternal(ctx context.Context, p Publisher, prefix string, e ledger.External) error {
	if err := e.Validate(); err != nil {
		return err
	}
	return publish(ctx, p, ledger.ExternalSubject(prefix, e.Venue), e.MsgID(), e)
}

func publish(ctx context.Context, p Publisher, subject, msgID string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("ledgerfeed: encode %s: %w", msgID, err)
	}
	return p.Publish(ctx, subject, msgID, b)
}

// JetStreamPublisher publishes through a JetStream context directly (tools
// and tests; the daemon uses its bus).
type JetStreamPublisher struct{ JS jetstream.JetStream }

// Publish implements Publisher.
func (j JetStreamPublisher) Publish(ctx context.Context, subject, msgID string, data []byte) error {
	if _, err := j.JS.Publish(ctx, subject, data, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("ledgerfeed: publish %s (id %s): %w", subject, msgID, err)
	}
	return nil
}

// Replay rebuilds the ledger in memory from the stream as it is now and
// returns it: `arb ledger` without a DSN. It reads with an ordered
// consumer (no state left on the server) until it has caught up.
func Replay(ctx context.Context, js jetstream.JetStream, cfg Config) (*ledger.Ledger, Stats, error) {
	f, err := New(js, nil, cfg, nil)
	if err != nil {
		return nil, Stats{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case <-f.Ready():
		cancel()
		<-done
	case err := <-done:
		cancel()
		return nil, f.Stats(), fmt.Errorf("ledgerfeed: replay %s: %w", f.cfg.Stream, err)
	}
	var l *ledger.Ledger
	f.View(func(x *ledger.Ledger) { l = x })
	return l, f.Stats(), nil
}
