package wire

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/config"
	"arb/cmd/internal/feedbus"
	"arb/configs"
)

// writePEM writes one PEM block to dir/name.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testPKI makes a private CA and, signed by it, a server certificate for
// 127.0.0.1 and a client certificate; it returns the PEM files.
func testPKI(t *testing.T, dir string) (ca, srvCert, srvKey, cliCert, cliKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "arb test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	ca = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	srvCert, srvKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return
}

// TestRolesOverTLS runs a feed process and an engine as two wire
// instances in this process, meeting on a nats-server that requires TLS
// with a client certificate from a private CA (nats.url tls://, nats.tls):
// every book of the engine becomes fresh from the feed's adapters. The
// same feed config without the CA cannot connect.
func TestRolesOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, sc, sk, cc, ck := testPKI(t, dir)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: sc, KeyFile: sk, CaFile: ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), TLS: true, TLSVerify: true, TLSConfig: tc, TLSTimeout: 5,
		NoSigs: true, NoLog: true, DisableJetStreamBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	url := "tls://" + srv.Addr().String()

	tlsLine := `nats: {url: "` + url + `", tls: {ca_file: ` + ca + `, cert_file: ` + cc + `, key_file: ` + ck + `}}`
	cfg := splitConfig(t, tlsLine)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	noCA := *cfg
	noCA.NATS.TLS.CAFile = ""
	bctx, bcancel := context.WithTimeout(ctx, 20*time.Second)
	f, err := BuildFeed(bctx, &noCA, Options{Logger: log})
	if err == nil {
		f.d.Close()
		t.Fatal("a feed connected without the private CA")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v (want a certificate error)", err)
	}
	bcancel()

	runRoles(t, ctx, cfg, splitConfig(t, tlsLine), log)
}

// The permissions of README.md's split-role users: a feed process
// publishes books and holds leases, nothing else; an engine is the arbd
// user (readmeArbdPublish) that also subscribes to the books.
// TestSplitRolesPermissions runs both against a server configured with
// them. Keep the two in step.
var (
	readmeFeedPublish = []string{"arb.book.>", "$JS.API.INFO",
		"$JS.API.STREAM.CREATE.KV_arb_feed_leaders", "$JS.API.STREAM.INFO.KV_arb_feed_leaders",
		"$KV.arb_feed_leaders.>", "$JS.API.DIRECT.GET.KV_arb_feed_leaders.>",
		"$JS.API.STREAM.CREATE.KV_arb_fleet", "$JS.API.STREAM.INFO.KV_arb_fleet", "$KV.arb_fleet.>"}
	readmeEngineSubscribe = []string{"_INBOX.>", "arb.book.>"}
)

// TestSplitRolesPermissions: a feed process and an engine, each with its
// own nkey and README.md's least permissions, run together (books fresh in
// the engine from the feed, the feed creating and holding its leases), and
// the feed's user cannot forge an event on the durable stream.
func TestSplitRolesPermissions(t *testing.T) {
	engUser, feedUser := newNkeyUser(t), newNkeyUser(t)
	perms := func(pub []string, sub ...string) *server.Permissions {
		return &server.Permissions{Publish: &server.SubjectPermission{Allow: pub}, Subscribe: &server.SubjectPermission{Allow: sub}}
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true, DisableJetStreamBanner: true,
		Nkeys: []*server.NkeyUser{
			{Nkey: engUser.pub, Permissions: perms(readmeArbdPublish, readmeEngineSubscribe...)},
			{Nkey: feedUser.pub, Permissions: perms(readmeFeedPublish, "_INBOX.>")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	seeds := t.TempDir()
	engSeed, feedSeed := filepath.Join(seeds, "engine.nk"), filepath.Join(seeds, "feed.nk")
	os.WriteFile(engSeed, []byte(engUser.seed+"\n"), 0o600)
	os.WriteFile(feedSeed, []byte(feedUser.seed+"\n"), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	feedCfg := splitConfig(t, `nats: {url: "`+srv.ClientURL()+`", credentials_file: "`+feedSeed+`"}`)
	engCfg := splitConfig(t, `nats: {url: "`+srv.ClientURL()+`", credentials_file: "`+engSeed+`"}`)
	feed, _ := runRoles(t, ctx, feedCfg, engCfg, log)
	// The leases are renewed under these permissions, not only created.
	waitFor(t, "lease renewals", 30*time.Second, func() bool { return feed.leases[1].Renewals.Load() >= 4 })
	if got := feed.Stats().Leading; len(got) != 3 || feed.leases[1].Changes.Load() != 1 {
		t.Fatalf("the feed leads %v after %d terms, want every venue, one term", got, feed.leases[1].Changes.Load())
	}
	// The feed's heartbeats are written under these permissions (arb
	// status lists it), and say it publishes every venue's fresh books.
	waitFor(t, "feed heartbeats", 30*time.Second, func() bool { return feed.hb.sent.Load() >= 2 })
	if n := feed.hb.errs.Load(); n != 0 {
		t.Errorf("%d feed heartbeats not written", n)
	}
	hb := feed.heartbeat("h")
	if hb.Role != "feed" || hb.State != "feeding" || len(hb.Venues) != 3 || hb.Books == 0 || hb.BooksFresh != hb.Books || !hb.Ready {
		t.Errorf("feed heartbeat %+v", hb)
	}

	// The feed process answers probes and scrapes on its own http.listen.
	base := "http://" + feedCfg.HTTP.Listen
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": `"ready":true`} {
		if code, body := httpGet(t, base+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("feed GET %s: %d %s", path, code, body)
		}
	}
	_, metrics := httpGet(t, base+"/metrics")
	for _, v := range feedCfg.Venues {
		for _, line := range []string{`arb_feed_leader{venue="` + v.Name + `"} 1`, `arb_venue_up{venue="` + v.Name + `"} 1`} {
			if !strings.Contains(metrics, line+"\n") {
				t.Errorf("feed /metrics has no %q", line)
			}
		}
	}
	if !strings.Contains(metrics, `arb_feed_bus_messages_total{result="published"}`) || strings.Contains(metrics, `arb_feed_bus_messages_total{result="published"} 0`+"\n") {
		t.Error("feed /metrics: nothing published")
	}
	if code, _ := httpGet(t, base+"/api/v1/trades"); code != 503 {
		t.Errorf("feed GET /api/v1/trades: %d, want 503 (an engine's route)", code)
	}

	// The feed's user cannot store an event on the durable stream.
	feedNC := feedUser.connect(t, srv.ClientURL())
	js, _ := jetstream.New(feedNC)
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = js.Publish(pctx, "arb.plan.forged", []byte("{}"))
	pcancel()
	if err == nil {
		t.Fatal("the feed's user stored an event")
	}
}

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// splitConfig is the embedded default (simulated venues, paper trading)
// with a free HTTP port, its own data_dir, the shipped rules and natsLine.
func splitConfig(t *testing.T, natsLine string) *config.Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	shipped, _ := filepath.Abs("../../../configs/rules.yaml")
	text := string(config.Default())
	for _, r := range [][2]string{
		{"http: {listen: 127.0.0.1:7420}", "http: {listen: " + addr + "}"},
		{"data_dir: ./data", "data_dir: " + t.TempDir()},
		{"rules_file: configs/rules.yaml", "rules_file: " + shipped},
		{"paper: false", "paper: true"},
		{`nats: {url: ""}`, natsLine},
	} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("default config has no %q", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	cfg, err := config.Parse("arbd.yaml", []byte(text), Known())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runRoles builds and runs a feed process and an engine (two wire
// instances), waits until every book of the engine is fresh, and stops
// both when the test ends.
func runRoles(t *testing.T, ctx context.Context, feedCfg, engCfg *config.Config, log *slog.Logger) (*FeedDaemon, *Daemon) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	feed, err := BuildFeed(ctx, feedCfg, Options{Logger: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	feedDone := make(chan error, 1)
	go func() { feedDone <- feed.Run(ctx) }()
	engDone := make(chan error, 1)
	eng, err := Build(ctx, engCfg, Options{Role: RoleEngine, Logger: log, RulesFallback: configs.DefaultRules, RulesFallbackName: configs.DefaultRulesName})
	if err != nil {
		engDone <- nil
	} else {
		go func() { engDone <- eng.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for _, ch := range []chan error{feedDone, engDone} {
			select {
			case err := <-ch:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("did not stop within 20 s")
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range eng.engine().feeds {
		if _, ok := f.md.(*feedbus.Remote); !ok {
			t.Fatalf("engine venue %s runs %T, not a remote feed", f.name, f.md)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		snap := eng.snapshot()
		if snap != nil && snap.Ready {
			t.Logf("%d books fresh in the engine, from feed %016x (leading %v)", len(snap.Rows), feed.Source(), feed.Stats().Leading)
			return feed, eng
		}
		if time.Now().After(deadline) {
			t.Fatalf("engine books not all fresh within 60 s: %+v", snap)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
