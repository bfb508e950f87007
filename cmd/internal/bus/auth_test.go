package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// TestEmbeddedNotAnOpenDoor: another local process cannot use the embedded
// server's loopback port without the daemon's credentials, and the
// read-only user the daemon writes for local tools can read the event
// stream but cannot forge, purge or delete events, change the stream, or
// write the rules bucket.
func TestEmbeddedNotAnOpenDoor(t *testing.T) {
	dir := t.TempDir()
	e := startEmbedded(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	daemon := connect(t, e.ClientURL(), e.InProcess())
	if err := daemon.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Publish(ctx, "arb.plans.BTC-USDT", "plan-1", []byte(`{"id":"plan-1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.PutKV(ctx, "arb_rules", "rules", []byte("v1")); err != nil {
		t.Fatal(err)
	}

	// No credentials, someone else's key, the daemon's own key over TCP:
	// refused at connect.
	stranger, _ := nkeys.CreateUser()
	spub, _ := stranger.PublicKey()
	dpub, _ := e.daemon.PublicKey()
	for name, opts := range map[string][]nats.Option{
		"anonymous":         nil,
		"unknown nkey":      {nats.Nkey(spub, stranger.Sign)},
		"daemon key on TCP": {nats.Nkey(dpub, e.daemon.Sign)},
		"user and password": {nats.UserInfo("arbd", "arbd")},
	} {
		nc, err := nats.Connect(e.ClientURL(), append(opts, nats.MaxReconnects(0), nats.Timeout(5*time.Second))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected to the embedded server", name)
		} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: %v, want an authorization error", name, err)
		}
	}

	// The files for local tools: 0600 in a 0700 directory.
	urlFile, seedFile := e.ReaderFiles()
	for _, p := range []string{urlFile, seedFile} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, CredentialsDir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory: %v %v", fi.Mode(), err)
	}

	// The read-only user reads the stream.
	u, auth, err := LocalReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	asyncErrs := make(chan error, 64)
	nc, err := nats.Connect(u, auth, nats.MaxReconnects(0), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		asyncErrs <- err
	}))
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatalf("reader: stream info: %v", err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("reader: consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		if string(m.Data()) != `{"id":"plan-1"}` {
			t.Errorf("read %q", m.Data())
		}
	}
	if got != 1 {
		t.Fatalf("reader fetched %d events, want 1", got)
	}
	if m, err := stream.GetMsg(ctx, 1); err != nil || m.Subject != "arb.plans.BTC-USDT" {
		t.Errorf("reader: get message: %v", err)
	}

	// ... and can change nothing: each attempt is refused by the server
	// (a permissions violation naming the subject), not merely slow.
	denied := func(name, subject string, op func(ctx context.Context) error) {
		t.Helper()
		c, cl := context.WithTimeout(ctx, time.Second)
		err := op(c)
		cl()
		if err == nil {
			t.Errorf("reader: %s succeeded", name)
			return
		}
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e := <-asyncErrs:
				if strings.Contains(e.Error(), subject) && strings.Contains(strings.ToLower(e.Error()), "permissions violation") {
					return
				}
			case <-deadline:
				t.Errorf("reader: %s: no permissions violation for %s (err %v)", name, subject, err)
				return
			}
		}
	}
	denied("publish an event", `"arb.fills.binance"`, func(c context.Context) error {
		_, err := js.Publish(c, "arb.fills.binance", []byte(`{"forged":true}`), jetstream.WithMsgID("forged-1"))
		return err
	})
	denied("purge the stream", "$JS.API.STREAM.PURGE."+StreamName, func(c context.Context) error { return stream.Purge(c) })
	denied("delete the stream", "$JS.API.STREAM.DELETE."+StreamName, func(c context.Context) error { return js.DeleteStream(c, StreamName) })
	denied("change the stream", "$JS.API.STREAM.UPDATE."+StreamName, func(c context.Context) error {
		cfg := stream.CachedInfo().Config
		cfg.DenyPurge, cfg.DenyDelete = false, false
		_, err := js.UpdateStream(c, cfg)
		return err
	})
	denied("delete an event", "$JS.API.STREAM.MSG.DELETE."+StreamName, func(c context.Context) error { return stream.DeleteMsg(c, 1) })
	denied("open the rules bucket", "$JS.API.STREAM.INFO.KV_arb_rules", func(c context.Context) error {
		_, err := js.KeyValue(c, "arb_rules")
		return err
	})
	denied("write the rules bucket", "$KV.arb_rules.rules", func(c context.Context) error {
		_, err := js.Publish(c, "$KV.arb_rules.rules", []byte("forged rules"))
		return err
	})
	denied("create a bucket", "$JS.API.STREAM.CREATE.KV_arb_rules_2", func(c context.Context) error {
		_, err := js.CreateKeyValue(c, jetstream.KeyValueConfig{Bucket: "arb_rules_2"})
		return err
	})

	// Nothing changed: one event, the rules as the daemon put them.
	info, err := daemon.JetStream().Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("stream holds %d events after the reader's attempts, want 1", n)
	}
	if cfg := info.CachedInfo().Config; !cfg.DenyPurge || !cfg.DenyDelete {
		t.Errorf("stream config changed: %+v", cfg)
	}
	kv, err := daemon.JetStream().KeyValue(ctx, "arb_rules")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get(ctx, "rules"); err != nil || string(v.Value()) != "v1" {
		t.Errorf("rules bucket now %q %v", v.Value(), err)
	}
}

// TestLocalReaderMissing: without a running daemon's files, LocalReader
// says where it looked.
func TestLocalReaderMissing(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LocalReader(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v", err)
	}
}

// TestDurableState: Durable and State follow the connection and the event
// stream: true while the stream can take events, false at once when the
// server goes away, and false while the stream is full.
func TestDurableState(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	b := connect(t, e.ClientURL(), e.InProcess(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The stream the bus probes, small enough to fill.
	small := DefaultStream()
	small.Name, small.Subjects, small.MaxBytes, small.MaxMsgSize = "SMALL", []string{"small.>"}, 1024, 256
	if err := b.EnsureStream(ctx, small); err != nil {
		t.Fatal(err)
	}
	b.stream = "SMALL" // before Monitor reads it
	go b.Monitor(ctx)
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s (state %+v)", what, b.State())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("durable", b.Durable)
	if st := b.State(); !st.Connected || st.Status != "CONNECTED" || st.LastError != "" {
		t.Errorf("state %+v", st)
	}

	// A full stream refuses events: not durable, and the state says why.
	for i := range 64 {
		if b.Publish(ctx, "small.x", fmt.Sprint("id-", i), make([]byte, 50)) != nil {
			break
		}
	}
	// The refused publish says so at once; the probe then finds the stream
	// full and keeps it so (a stream with no room is no durable log).
	waitUntil("the probe finds the stream full", func() bool {
		return !b.Durable() && strings.Contains(b.State().LastError, "is full")
	})
	// Another probe: still full, still not durable.
	n := b.health.probesFailed.Load()
	b.health.probeSoon()
	waitUntil("another probe", func() bool { return b.health.probesFailed.Load() > n })
	if b.Durable() {
		t.Error("durable again with the stream still full")
	}
}

// TestDurableStateServerLoss: when the server goes away the bus is not
// durable at once, and State counts the disconnect.
func TestDurableStateServerLoss(t *testing.T) {
	e, err := StartEmbedded(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := connect(t, e.ClientURL(), e.InProcess(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if !b.Durable() {
		t.Fatal("not durable after Connect")
	}
	e.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for b.Durable() {
		if time.Now().After(deadline) {
			t.Fatal("still durable 10 s after the server went away")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := b.State(); st.Connected || st.Disconnects != 1 || st.LastError == "" {
		t.Errorf("state %+v", st)
	}
}

// TestServerLogReaderCleanup: the server's line for the read-only user's
// refused delete of its own ordered consumer on the event stream (every
// `arb ledger` run makes one) is logged at debug, not error; any other
// permissions violation — another subject, another user — stays an error.
func TestServerLogReaderCleanup(t *testing.T) {
	const reader = "UCMFKYGEGVSFXVZJTHRBXK56NRR6YA3YYVBZETHEERDJUSAV37F6NCJ4"
	const other = "UBVX4ZJ6FLTRWD6CZNPIAL3YU5JLNXTEGT7YIXDSXMSLHNQOY7N7YTHV"
	line := func(key, subject string) string {
		return `127.0.0.1:59526 - cid:20 - "v1.55.0:go" - "$G/nkey:` + key + `" - Publish Violation - Subject "` + subject + `"`
	}
	for _, c := range []struct {
		msg  string
		want slog.Level
	}{
		{line(reader, "$JS.API.CONSUMER.DELETE."+StreamName+".rLc0Xg3fJ5cE5rpVLQ935o_1"), slog.LevelDebug},
		{line(reader, "arb.fills.binance"), slog.LevelError},
		{line(reader, "$JS.API.STREAM.DELETE."+StreamName), slog.LevelError},
		{line(reader, "$JS.API.CONSUMER.DELETE.KV_arb_rules.x"), slog.LevelError},
		{line(other, "$JS.API.CONSUMER.DELETE."+StreamName+".rLc0Xg3fJ5cE5rpVLQ935o_1"), slog.LevelError},
	} {
		var buf bytes.Buffer
		l := serverLog{l: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), reader: reader}
		l.Errorf("%s", c.msg)
		var rec struct{ Level string }
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Level != c.want.String() {
			t.Errorf("%s: logged at %s, want %s", c.msg, rec.Level, c.want)
		}
	}
}
