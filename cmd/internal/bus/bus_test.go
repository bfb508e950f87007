package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startEmbedded starts an embedded server in a fresh directory, shut down
// when the test ends.
func startEmbedded(t *testing.T, dir string) *Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func connect(t *testing.T, url string, opts ...nats.Option) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Connect(ctx, url, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// systemNATS returns a connection to the machine's NATS server (JetStream
// on), at ARB_NATS_URL or nats://127.0.0.1:4222. Without one the test is
// skipped, except under CI=true, where a missing server is a failure.
func systemNATS(t *testing.T) *Bus {
	t.Helper()
	u := os.Getenv("ARB_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	b, err := Connect(ctx, u, nil, nats.MaxReconnects(0))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("system NATS at %s (CI=true requires it): %v", u, err)
		}
		t.Skipf("no system NATS with JetStream at %s: %v", u, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// target is one server the shared tests run against, with names that keep
// the test's stream and bucket apart from anything else on that server.
type target struct {
	name   string
	bus    func(t *testing.T) *Bus
	spec   func(id string) StreamSpec
	bucket func(id string) string
}

var targets = []target{
	{
		name: "embedded",
		bus: func(t *testing.T) *Bus {
			e := startEmbedded(t, t.TempDir())
			return connect(t, e.ClientURL(), e.InProcess())
		},
		spec: func(string) StreamSpec { return DefaultStream() }, // a fresh server: the real stream
		bucket: func(string) string {
			return "arb_rules"
		},
	},
	{
		name: "system",
		bus:  systemNATS,
		spec: func(id string) StreamSpec {
			s := DefaultStream()
			s.Name = "ARB_TEST_" + id
			s.Subjects = []string{"arbtest_" + id + ".>"}
			s.MaxBytes = 1 << 20
			s.MaxAge = time.Hour
			return s
		},
		bucket: func(id string) string { return "arb_test_" + id },
	},
}

// uniqueID names a test's stream and bucket on a shared server.
func uniqueID() string { return strconv.FormatUint(rand.Uint64(), 36) }

// subject returns a subject inside spec's stream.
func subject(spec StreamSpec, rest string) string {
	return strings.TrimSuffix(spec.Subjects[0], ">") + rest
}

func TestPublishDedup(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := tg.bus(t)
			spec := tg.spec(uniqueID())
			ctx := context.Background()
			for range 2 { // idempotent
				if err := b.EnsureStream(ctx, spec); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() { b.JetStream().DeleteStream(context.Background(), spec.Name) })
			subj := subject(spec, "fill.binance")

			first, err := b.publish(ctx, subj, "fill-1", []byte(`{"qty":"1"}`))
			if err != nil || first.Duplicate {
				t.Fatalf("first publish: %+v %v", first, err)
			}
			again, err := b.publish(ctx, subj, "fill-1", []byte(`{"qty":"1"}`))
			if err != nil || !again.Duplicate || again.Sequence != first.Sequence {
				t.Fatalf("same id again: %+v %v (first %+v)", again, err, first)
			}
			if err := b.Publish(ctx, subj, "fill-1", []byte(`{"qty":"1"}`)); err != nil {
				t.Fatalf("a duplicate is not an error: %v", err)
			}
			if err := b.Publish(ctx, subj, "fill-2", []byte(`{"qty":"2"}`)); err != nil {
				t.Fatal(err)
			}

			s, err := b.JetStream().Stream(ctx, spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != 2 {
				t.Errorf("stream holds %d messages, want 2 (one per id)", info.State.Msgs)
			}
			if info.Config.Duplicates != StreamDedupWindow || info.Config.Storage != jetstream.FileStorage ||
				info.Config.Discard != jetstream.DiscardNew || !info.Config.DenyDelete || !info.Config.DenyPurge {
				t.Errorf("stream config %+v", info.Config)
			}
			msg, err := s.GetMsg(ctx, first.Sequence)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Data) != `{"qty":"1"}` || msg.Header.Get(jetstream.MsgIDHeader) != "fill-1" || msg.Subject != subj {
				t.Errorf("stored %s %q %v", msg.Subject, msg.Data, msg.Header)
			}
		})
	}
}

func TestPublishRefused(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	b := connect(t, e.ClientURL(), e.InProcess())
	ctx := context.Background()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "arb.fill", "", []byte("x")); !errors.Is(err, ErrNoMsgID) {
		t.Errorf("no msg id: %v", err)
	}
	for _, subj := range []string{"", "arb.*", "arb.>", "arb fill"} {
		if err := b.Publish(ctx, subj, "id", []byte("x")); err == nil {
			t.Errorf("subject %q accepted", subj)
		}
	}
	// No stream takes the subject: the caller learns the event is not
	// durable, quickly.
	start := time.Now()
	err := b.Publish(ctx, "elsewhere.fill", "id-1", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "bus: publish elsewhere.fill (id id-1): ") {
		t.Errorf("publish outside any stream: %v", err)
	}
	if d := time.Since(start); d > PublishTimeout+time.Second {
		t.Errorf("refusal took %v", d)
	}
	// A full stream refuses new events rather than dropping old ones.
	small := DefaultStream()
	small.Name, small.Subjects, small.MaxBytes = "SMALL", []string{"small.>"}, 1024
	if err := b.EnsureStream(ctx, small); err != nil {
		t.Fatal(err)
	}
	var refused error
	for i := range 64 {
		if refused = b.Publish(ctx, "small.x", fmt.Sprint("id-", i), make([]byte, 100)); refused != nil {
			break
		}
	}
	if refused == nil {
		t.Error("a full stream kept accepting events")
	}
	// An expired context is honoured.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Publish(cctx, "arb.fill", "id-2", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: %v", err)
	}
}

func TestWatchKV(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			b := tg.bus(t)
			bucket := tg.bucket(uniqueID())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			t.Cleanup(func() { b.JetStream().DeleteKeyValue(context.Background(), bucket) })

			rev1, err := b.PutKV(ctx, bucket, "rules", []byte("v1")) // creates the bucket
			if err != nil {
				t.Fatal(err)
			}
			type update struct {
				val string
				rev uint64
			}
			got := make(chan update, 16)
			wctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- b.WatchKV(wctx, bucket, "rules", func(v []byte, rev uint64) { got <- update{string(v), rev} })
			}()
			next := func() update {
				t.Helper()
				select {
				case u := <-got:
					return u
				case <-time.After(10 * time.Second):
					t.Fatal("no KV update within 10s")
				}
				return update{}
			}
			if u := next(); u != (update{"v1", rev1}) {
				t.Errorf("initial value %+v, want v1@%d", u, rev1)
			}
			rev2, err := b.PutKV(ctx, bucket, "rules", []byte("v2"))
			if err != nil {
				t.Fatal(err)
			}
			if u := next(); u != (update{"v2", rev2}) || rev2 <= rev1 {
				t.Errorf("update %+v, want v2@%d", u, rev2)
			}
			// Another key is not delivered; a delete is not delivered.
			if _, err := b.PutKV(ctx, bucket, "other", []byte("x")); err != nil {
				t.Fatal(err)
			}
			kv, err := b.JetStream().KeyValue(ctx, bucket)
			if err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, "rules"); err != nil {
				t.Fatal(err)
			}
			rev3, err := b.PutKV(ctx, bucket, "rules", []byte("v3"))
			if err != nil {
				t.Fatal(err)
			}
			if u := next(); u != (update{"v3", rev3}) {
				t.Errorf("after a delete: %+v, want v3@%d", u, rev3)
			}
			stop()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("WatchKV returned %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("WatchKV did not return after cancel")
			}
			select {
			case u := <-got:
				t.Errorf("unexpected update %+v", u)
			default:
			}
		})
	}
}

// TestWatchKVEmptyBucket: a watch on a bucket that does not exist creates
// it and delivers the first value put.
func TestWatchKVEmptyBucket(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	b := connect(t, e.ClientURL(), e.InProcess())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan string, 1)
	go b.WatchKV(ctx, "fresh", "rules", func(v []byte, _ uint64) { got <- string(v) })
	deadline := time.Now().Add(10 * time.Second)
	for { // wait for the watch to create the bucket
		if _, err := b.JetStream().KeyValue(ctx, "fresh"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bucket not created")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := b.PutKV(ctx, "fresh", "rules", []byte("first")); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v != "first" {
			t.Errorf("got %q", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no update")
	}
}

// TestEmbeddedPorts: the embedded server listens on a free loopback port,
// never 4222, and two run side by side.
func TestEmbeddedPorts(t *testing.T) {
	a := startEmbedded(t, t.TempDir())
	b := startEmbedded(t, t.TempDir())
	ports := map[string]bool{}
	for _, e := range []*Embedded{a, b} {
		u, err := url.Parse(e.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		if u.Hostname() != "127.0.0.1" || u.Port() == "4222" || u.Port() == "0" || u.Port() == "" {
			t.Errorf("client URL %s: want 127.0.0.1 on a free port", e.ClientURL())
		}
		ports[u.Port()] = true
		// Both serve JetStream at once.
		bus := connect(t, e.ClientURL(), e.InProcess())
		if err := bus.EnsureStreams(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := bus.Publish(context.Background(), "arb.test", "x", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(e.StoreDir(), "$G", "streams", StreamName)); err != nil {
			t.Errorf("stream not stored under %s: %v", e.StoreDir(), err)
		}
		// Not reachable on any other interface.
		others := otherAddrs(t)
		t.Logf("checking %d non-loopback addresses", len(others))
		for _, ip := range others {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, u.Port()), time.Second)
			if err == nil {
				c.Close()
				t.Errorf("embedded NATS answers on %s", ip)
			}
		}
	}
	if len(ports) != 2 {
		t.Errorf("two servers share a port: %v", ports)
	}
}

// otherAddrs returns the machine's non-loopback IPv4 addresses.
func otherAddrs(t *testing.T) []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Logf("interface addresses: %v", err)
		return nil
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			out = append(out, n.IP.String())
		}
	}
	return out
}

// TestShutdownAndRestart: closing the client and the server is clean and
// fast, and what was acknowledged is still there after a restart on the
// same directory.
func TestShutdownAndRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e, err := StartEmbedded(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Connect(ctx, e.ClientURL(), nil, e.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := b.Publish(ctx, "arb.order", fmt.Sprint("order-", i), []byte("o")); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-b.Done():
	default:
		t.Error("Done not closed after Close")
	}
	e.Shutdown()
	e.Shutdown() // idempotent
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v, want < 5s", d)
	}

	e2 := startEmbedded(t, dir)
	b2 := connect(t, e2.ClientURL(), e2.InProcess())
	if err := b2.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := b2.JetStream().Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 10 {
		t.Errorf("after restart the stream holds %d events, want 10", info.State.Msgs)
	}
}

// TestInProcess: the in-process connection serves JetStream without the
// loopback socket.
func TestInProcess(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	b := connect(t, e.ClientURL(), e.InProcess())
	ctx := context.Background()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "arb.order", "o-1", []byte("o")); err != nil {
		t.Fatal(err)
	}
	// net.Pipe's address: no socket carries the connection.
	if addr := b.Conn().ConnectedAddr(); addr != "pipe" {
		t.Errorf("connected over %q, want the in-process pipe", addr)
	}
}

// TestDoneAfterServerLoss: when reconnects are exhausted the connection is
// closed and Done says so, so the daemon can stop.
func TestDoneAfterServerLoss(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbedded(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := connect(t, e.ClientURL(), e.InProcess(), nats.MaxReconnects(1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0))
	e.Shutdown()
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the server went away")
	}
}

func TestConnectFails(t *testing.T) {
	// A port nothing listens on: take one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Connect(context.Background(), "nats://user:pw@"+addr, nil)
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if strings.Contains(err.Error(), "pw") || !strings.Contains(err.Error(), "nats://[redacted]@"+addr) {
		t.Errorf("error %q: want the URL without credentials", err)
	}
	// A canceled context returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Connect(ctx, "nats://"+addr, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	// A server without JetStream is refused with a clear error.
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer shutdown(srv)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("plain server not ready")
	}
	if _, err := Connect(context.Background(), srv.ClientURL(), nil); err == nil ||
		!strings.HasPrefix(err.Error(), "bus: JetStream is not available on "+srv.ClientURL()+": ") {
		t.Errorf("no JetStream: %v", err)
	}
}

func TestStartEmbeddedErrors(t *testing.T) {
	if _, err := StartEmbedded(context.Background(), "", nil); err == nil {
		t.Error("empty data dir accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := StartEmbedded(context.Background(), file, nil); err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("data dir is a file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := StartEmbedded(ctx, t.TempDir(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}
