package ledgerfeed

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/bus"
	"arb/ledger"
	"arb/ledger/pgstore"
	"arb/ledger/pgstore/pgtest"
)

// BenchmarkFeedFills: the whole consumer path in PostgreSQL mode — fetch
// from JetStream (the machine's nats-server), decode, apply to the ledger,
// encode, commit, acknowledge — for b.N fills (two per trade) published
// beforehand, in fetches of 1000 events; "pipeline-2" (the default)
// fetches, applies and encodes batch N+1 while batch N commits,
// "pipeline-1" fetches and applies it meanwhile but encodes it only after
// N's commit. Each op is one fill.
func BenchmarkFeedFills(b *testing.B) {
	for _, depth := range []int{2, 1} {
		b.Run("pipeline-"+strconv.Itoa(depth), func(b *testing.B) {
			u := systemNATSURL()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			bs, err := bus.Connect(ctx, u, nil, nats.MaxReconnects(0))
			if err != nil {
				b.Skipf("no NATS at %s: %v", u, err)
			}
			defer bs.Close()
			id := strconv.FormatUint(rand.Uint64(), 36)
			spec := bus.DefaultStream()
			spec.Name, spec.Subjects = "ARB_BENCH_"+id, []string{"arbbench" + id + ".>"}
			spec.MaxBytes, spec.MaxAge = 1<<30, time.Hour
			if err := bs.EnsureStream(ctx, spec); err != nil {
				b.Fatal(err)
			}
			defer bs.JetStream().DeleteStream(context.Background(), spec.Name)
			prefix := "arbbench" + id
			last := publishFills(b, bs.JetStream(), prefix, b.N)
			store, err := pgstore.Open(ctx, pgtest.NewDB(b))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			cfg := Config{Stream: spec.Name, Prefix: prefix, Batch: 1000, Pipeline: depth}
			f, err := New(bs.JetStream(), store, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			fctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			b.ResetTimer()
			start := time.Now()
			go func() { done <- f.Run(fctx) }()
			for {
				seq, err := store.LastSeq(ctx, spec.Name)
				if err != nil {
					b.Fatal(err)
				}
				if seq >= last {
					break
				}
				if ctx.Err() != nil {
					b.Fatal("not caught up in time")
				}
				time.Sleep(5 * time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			stop()
			<-done
			b.ReportMetric(float64(b.N)/el.Seconds(), "fills/s")
			if n, err := store.FillCount(ctx); err != nil || n != int64(b.N) {
				b.Fatalf("%d fills stored, want %d (%v)", n, b.N, err)
			}
		})
	}
}

// publishFills publishes n fills, two per trade (buy and sell on two
// venues, fees in quote and in BNB), with asynchronous publishes, and
// returns the last stream sequence.
func publishFills(b *testing.B, js jetstream.JetStream, prefix string, n int) uint64 {
	var futs []jetstream.PubAckFuture
	for i := range n {
		f := pgtest.BenchFill(i, t0)
		body, err := json.Marshal(f)
		if err != nil {
			b.Fatal(err)
		}
		fut, err := js.PublishAsync(ledger.FillSubject(prefix, f.Venue), body, jetstream.WithMsgID(f.MsgID()))
		if err != nil {
			b.Fatal(err)
		}
		futs = append(futs, fut)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("publishes not acknowledged")
	}
	var last uint64
	for _, f := range futs {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	return last
}
