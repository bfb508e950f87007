package wire

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"arb/cmd/internal/bus"
)

// The permissions of README.md's external NATS configuration ("NATS
// security"), one list per user; TestExternalNATSPermissions runs the
// daemon against a server configured with them. Keep the two in step.
var (
	readmeArbdPublish = []string{"arb.>", "$JS.API.INFO",
		"$JS.API.STREAM.CREATE.ARB_EVENTS", "$JS.API.STREAM.UPDATE.ARB_EVENTS", "$JS.API.STREAM.INFO.ARB_EVENTS",
		"$JS.API.CONSUMER.CREATE.ARB_EVENTS.>", "$JS.API.CONSUMER.INFO.ARB_EVENTS.>", "$JS.API.CONSUMER.DELETE.ARB_EVENTS.>",
		"$JS.API.CONSUMER.MSG.NEXT.ARB_EVENTS.>", "$JS.ACK.ARB_EVENTS.>", "$JS.FC.ARB_EVENTS.>",
		"$JS.API.STREAM.INFO.KV_arb_rules", "$JS.API.CONSUMER.CREATE.KV_arb_rules.>",
		"$JS.API.CONSUMER.DELETE.KV_arb_rules.>", "$JS.API.DIRECT.GET.KV_arb_rules.>", "$JS.FC.KV_arb_rules.>",
		"$KV.arb_killswitch.killswitch", "$JS.API.STREAM.CREATE.KV_arb_killswitch", "$JS.API.STREAM.INFO.KV_arb_killswitch",
		"$JS.API.DIRECT.GET.KV_arb_killswitch.>", "$JS.API.CONSUMER.CREATE.KV_arb_killswitch.>",
		"$JS.API.CONSUMER.DELETE.KV_arb_killswitch.>", "$JS.FC.KV_arb_killswitch.>",
		"$KV.arb_fleet.>", "$JS.API.STREAM.CREATE.KV_arb_fleet", "$JS.API.STREAM.INFO.KV_arb_fleet",
		"$KV.arb_journal.>", "$JS.API.STREAM.CREATE.KV_arb_journal",
		"$JS.API.STREAM.INFO.KV_arb_journal", "$JS.API.DIRECT.GET.KV_arb_journal.>"}
	readmeRulesPublish  = []string{"$KV.arb_rules.rules", "$JS.API.INFO", "$JS.API.STREAM.INFO.KV_arb_rules"}
	readmeReaderPublish = []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.ARB_EVENTS", "$JS.API.STREAM.MSG.GET.ARB_EVENTS",
		"$JS.API.DIRECT.GET.ARB_EVENTS", "$JS.API.DIRECT.GET.ARB_EVENTS.>", "$JS.API.CONSUMER.CREATE.ARB_EVENTS",
		"$JS.API.CONSUMER.CREATE.ARB_EVENTS.>", "$JS.API.CONSUMER.INFO.ARB_EVENTS.>",
		"$JS.API.CONSUMER.MSG.NEXT.ARB_EVENTS.>", "$JS.ACK.ARB_EVENTS.>", "$JS.FC.ARB_EVENTS.>",
		"$JS.API.STREAM.INFO.KV_arb_fleet", "$JS.API.CONSUMER.CREATE.KV_arb_fleet.>",
		"$JS.API.CONSUMER.DELETE.KV_arb_fleet.>", "$JS.FC.KV_arb_fleet.>"}
)

type nkeyUser struct {
	kp        nkeys.KeyPair
	pub, seed string
}

func newNkeyUser(t *testing.T) nkeyUser {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	return nkeyUser{kp, pub, string(seed)}
}

func (u nkeyUser) connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Nkey(u.pub, u.kp.Sign), nats.MaxReconnects(0),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestExternalNATSPermissions: the daemon runs against an external server
// whose users have README.md's per-subject permissions, with its nkey seed
// as nats.credentials_file: it stores events and takes signed rule sets a
// rules administrator puts in the bucket; the administrator cannot publish
// events, the reader cannot purge the stream, and the daemon itself cannot
// write the rules bucket.
func TestExternalNATSPermissions(t *testing.T) {
	arbd, rulesAdmin, reader, ops := newNkeyUser(t), newNkeyUser(t), newNkeyUser(t), newNkeyUser(t)
	perms := func(pub []string, sub ...string) *server.Permissions {
		return &server.Permissions{Publish: &server.SubjectPermission{Allow: pub}, Subscribe: &server.SubjectPermission{Allow: sub}}
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true, DisableJetStreamBanner: true,
		Nkeys: []*server.NkeyUser{
			{Nkey: arbd.pub, Permissions: perms(readmeArbdPublish, "_INBOX.>")},
			{Nkey: rulesAdmin.pub, Permissions: perms(readmeRulesPublish, "_INBOX.>")},
			{Nkey: reader.pub, Permissions: perms(readmeReaderPublish, "_INBOX.>", "arb.>")},
			{Nkey: ops.pub}, // the operator account of the README, here a user with every permission
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() }) // after the daemon's cleanup: registered before it
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The operator creates the rules bucket before arbd starts.
	opsJS, _ := jetstream.New(ops.connect(t, srv.ClientURL()))
	if _, err := opsJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "arb_rules", History: 16}); err != nil {
		t.Fatal(err)
	}

	seedFile := filepath.Join(t.TempDir(), "arbd.nk")
	os.WriteFile(seedFile, []byte(arbd.seed+"\n"), 0o600)
	pub, priv, _ := GenerateRulesKey()
	key, _ := ParseRulesPrivateKey(priv)
	d, base := startDaemon(t, `nats: {url: ""}`, `nats: {url: "`+srv.ClientURL()+`", credentials_file: "`+seedFile+`"}`,
		`kv_bucket: ""`, "kv_bucket: arb_rules\n  kv_trusted_keys: [\""+pub+"\"]",
		`kill_switch_bucket: ""`, "kill_switch_bucket: arb_killswitch")
	waitFor(t, "ready", 20*time.Second, func() bool { c, _ := readyz(t, base); return c == 200 })
	if ok, why := d.JournalReady(); !ok {
		t.Fatalf("journal: %s", why)
	}
	// arbd stores its events (plan records) on the external stream.
	if err := d.bus.Publish(ctx, "arb.test.external", "ext-1", []byte("{}")); err != nil {
		t.Fatalf("arbd cannot publish an event: %v", err)
	}

	// The rules administrator puts a signed set; arbd takes it.
	shipped, _ := os.ReadFile(shippedRules(t))
	signed, _ := SignRules([]byte(strings.Replace(string(shipped), "name: default", "name: from-admin", 1)), key, time.Now())
	adminNC := rulesAdmin.connect(t, srv.ClientURL())
	adminJS, _ := jetstream.New(adminNC)
	kv, err := adminJS.KeyValue(ctx, "arb_rules")
	if err != nil {
		t.Fatalf("rules admin: %v", err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = kv.Put(pctx, "rules", signed)
	pcancel()
	if err != nil {
		t.Fatalf("rules admin put: %v", err)
	}
	waitFor(t, "the administrator's rules", 10*time.Second, func() bool { return rulesVersionName(d) == "from-admin" })

	denied := func(who string, op func(context.Context) error) {
		t.Helper()
		c, cl := context.WithTimeout(ctx, 2*time.Second)
		defer cl()
		if err := op(c); err == nil {
			t.Errorf("%s succeeded", who)
		}
	}
	denied("rules admin publishing an event", func(c context.Context) error {
		_, err := adminJS.Publish(c, "arb.fills.forged", []byte("{}"))
		return err
	})
	readerJS, _ := jetstream.New(reader.connect(t, srv.ClientURL()))
	stream, err := readerJS.Stream(ctx, "ARB_EVENTS")
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	if m, err := stream.GetMsg(ctx, 1); err != nil || m == nil {
		t.Errorf("reader cannot read an event: %v", err)
	}
	denied("reader purging the stream", func(c context.Context) error { return stream.Purge(c) })
	// The reader lists the fleet (arb status) and cannot halt it.
	fkv, err := readerJS.KeyValue(ctx, "arb_fleet")
	if err != nil {
		t.Fatalf("reader: status bucket: %v", err)
	}
	waitFor(t, "the daemon in the fleet's status", 20*time.Second, func() bool {
		ms, _, err := ReadFleet(ctx, fkv, time.Now)
		return err == nil && len(ms) == 1 && ms[0].Instance == d.instance && !ms[0].Lost
	})
	denied("reader halting the fleet", func(c context.Context) error {
		_, err := readerJS.Publish(c, "$KV.arb_killswitch.killswitch", []byte(`{"halted":true}`))
		return err
	})
	// arbd shares a halt through the kill switch bucket with these
	// permissions (and the resume after it).
	api := &apiProvider{d: d}
	if _, err := api.Kill(ctx, "external halt"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the halt in the kill switch bucket", 20*time.Second, func() bool {
		st := d.desk.fleet.status()
		return st.Written == 1 && !st.Pending
	})
	if _, err := api.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resume in the kill switch bucket", 20*time.Second, func() bool {
		st := d.desk.fleet.status()
		return st.Written == 2 && !st.Pending && st.WriteErrors == 0
	})
	arbdJS, _ := jetstream.New(arbd.connect(t, srv.ClientURL()))
	denied("arbd writing the rules bucket", func(c context.Context) error {
		_, err := arbdJS.Publish(c, "$KV.arb_rules.rules", []byte("version: 1"))
		return err
	})
	if rulesVersionName(d) != "from-admin" {
		t.Errorf("rules now %q", rulesVersionName(d))
	}
}

// TestJournalOneOwner: two daemons with an executor on one external NATS
// server and the same journal (no fleet.instance: the default one) would
// trade from one journal. The second waits for the first's ownership key,
// then fails to start naming the holder, without ever passing a plan; once
// the first stops cleanly, a third starts at once. Daemons that name
// themselves (fleet.instance) each keep a journal of their own and trade
// side by side, with epochs from the shared counter: TestFleet.
func TestJournalOneOwner(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	const ttl = 2 * time.Second
	shortTTL := func(o *Options) { o.JournalOwnerTTL = ttl }
	natsLine := `nats: {url: "` + srv.ClientURL() + `"}`
	executorReady := func(d *Daemon) bool {
		ok, _ := d.exec.ready()
		return ok
	}
	a, _, stopA := startDaemonOpt(t, "a.yaml", executorReady, shortTTL, `nats: {url: ""}`, natsLine)
	if !a.exec.ownsJournal() {
		t.Fatal("a trades without holding the journal")
	}

	// b: refused after waiting 1.5 TTL, naming a's key; never ready and
	// never passing a plan meanwhile.
	b, baseB, stopB := startDaemonOpt(t, "b.yaml", func(*Daemon) bool { return true }, shortTTL, `nats: {url: ""}`, natsLine)
	begin := time.Now()
	for time.Since(begin) < ttl {
		if ok, why := b.exec.ready(); ok || !strings.Contains(why, "waiting for the journal's ownership") {
			t.Fatalf("b while a holds the journal: ready %v (%s)", ok, why)
		}
		if b.journalReady() {
			t.Fatal("b's desk would pass plans while a holds the journal")
		}
		time.Sleep(100 * time.Millisecond) // sampling b's state over a window, not waiting for an event
	}
	// b's failure stops the daemon: its HTTP server goes away.
	waitFor(t, "b's daemon to stop", 60*time.Second, func() bool {
		resp, err := http.Get(baseB + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})
	if took := time.Since(begin); took < ttl {
		t.Errorf("b gave up after %v, before a dead holder's key could go unrenewed for the TTL %v", took, ttl)
	}
	err := stopB()
	if !errors.Is(err, bus.ErrJournalOwned) || !strings.Contains(err.Error(), "owner.ARB_EVENTS_arb_exec") {
		t.Fatalf("b: %v, want the default journal owned by a", err)
	}
	if closed := b.exec.flat.Load() + b.exec.residual.Load(); closed != 0 {
		t.Fatalf("b closed %d trades", closed)
	}

	// a stops cleanly (its key deleted): c holds the journal at once.
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	c, _, _ := startDaemonOpt(t, "c.yaml", executorReady, shortTTL, `nats: {url: ""}`, natsLine)
	if !c.exec.ownsJournal() {
		t.Fatal("c trades without holding the journal")
	}
	if w := c.exec.owner.Load().Waited(); w != 0 {
		t.Errorf("c waited %v for the journal after a's clean stop: a's key was not deleted", w)
	}
}
