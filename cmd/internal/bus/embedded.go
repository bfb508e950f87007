package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Limits of the embedded server. They bound what the daemon's own NATS may
// take from the machine; the stream limits (DefaultStream) sit inside them.
const (
	// EmbeddedMaxStore caps JetStream file storage: the event stream
	// (StreamMaxBytes) plus KV buckets, with room to spare.
	EmbeddedMaxStore = 8 << 30
	// EmbeddedMaxMemory caps JetStream memory storage; arb stores nothing
	// in memory streams, so this only bounds accidents.
	EmbeddedMaxMemory = 64 << 20
	// EmbeddedMaxPayload is the largest message the server accepts.
	EmbeddedMaxPayload = 1 << 20
	// embeddedStartTimeout bounds the wait for the server to accept
	// clients when ctx has no earlier deadline.
	embeddedStartTimeout = 10 * time.Second
)

// Files StartEmbedded writes under <data dir>/nats for local tools (the
// ledger CLI, arb status) that read a running daemon's events: the server's
// URL and the seed of a read-only user, both 0600, rewritten at every start
// (the port and the key change each time).
const (
	// CredentialsDir is the directory under the data dir.
	CredentialsDir = "nats"
	// URLFile holds the loopback URL of the embedded server.
	URLFile = "url"
	// ReaderSeedFile holds the nkey seed of the read-only user (nats.go:
	// nats.NkeyOptionFromSeed; the nats CLI: --nkey FILE).
	ReaderSeedFile = "reader.nk"
)

// Embedded is a nats-server running inside the process with JetStream on
// disk. It listens only on 127.0.0.1, on a port the kernel picks (never the
// well-known 4222, where a system NATS may already listen), so several can
// run at once. It is not an open door: every client authenticates with an
// nkey generated at start. The daemon's own user (all permissions) may
// connect only in process (InProcess), and its key never leaves memory; a
// read-only user, whose seed is written to ReaderSeedFile, may read the
// event stream over the loopback port and nothing else. So no other
// process on the machine can publish or forge events, purge or delete the
// audit stream, or write the rules KV bucket. Its methods are safe for
// concurrent use.
type Embedded struct {
	srv      *server.Server
	storeDir string
	once     sync.Once
	daemon   nkeys.KeyPair // the daemon's user; never written anywhere
	credsDir string
}

// readerPermissions is what the read-only user may do: read ARB_EVENTS
// through JetStream (stream info, message get, ephemeral and named
// consumers, acks and flow control of its own consumers) and subscribe to
// replies and to the events as they are published. It cannot publish an
// event, write a KV bucket, or change, purge or delete a stream or another
// client's consumer.
//
// readKV names KV buckets the user may read as well (arb status reads the
// fleet's heartbeats and kill switch): the same read-only API on each
// bucket's stream (KV_<bucket>), never a put, delete or purge of a value.
// There it may also delete a consumer, since a KV watch deletes its own
// when it stops (others' ephemeral consumers have random names it cannot
// list; a watch whose consumer vanished recreates it).
func readerPermissions(readKV ...string) *server.Permissions {
	var allow []string
	for _, s := range kvStreams(readKV) {
		allow = append(allow, "$JS.API.CONSUMER.DELETE."+s+".>")
	}
	for _, s := range append([]string{StreamName}, kvStreams(readKV)...) {
		allow = append(allow,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.STREAM.MSG.GET."+s,
			"$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+".>",
			"$JS.API.CONSUMER.CREATE."+s, "$JS.API.CONSUMER.CREATE."+s+".>",
			"$JS.API.CONSUMER.INFO."+s+".>",
			"$JS.API.CONSUMER.MSG.NEXT."+s+".>",
			"$JS.ACK."+s+".>",
			"$JS.FC."+s+".>",
		)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: append([]string{"$JS.API.INFO"}, allow...)},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>", StreamSubjects}},
	}
}

// kvStreams returns the JetStream stream names of KV buckets.
func kvStreams(buckets []string) []string {
	var out []string
	for _, b := range buckets {
		if b != "" {
			out = append(out, "KV_"+b)
		}
	}
	return out
}

// StartEmbedded starts an embedded server storing JetStream data under
// dataDir/jetstream (created if missing) and returns once it accepts
// clients, or with an error when it cannot start or ctx ends first. Stop it
// with Shutdown, after closing its clients. The read-only user may read the
// KV buckets readKV as well as the event stream.
func StartEmbedded(ctx context.Context, dataDir string, logger *slog.Logger, readKV ...string) (*Embedded, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dataDir == "" {
		return nil, errors.New("bus: embedded NATS needs a data directory")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: embedded NATS start: %w", err)
	}
	// nats-server appends "jetstream" to StoreDir itself.
	jsDir := filepath.Join(dataDir, "jetstream")
	if err := os.MkdirAll(jsDir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: embedded NATS data directory: %w", err)
	}
	// A store JetStream cannot write makes nats-server start without
	// JetStream or fail later on the first stream; say so now, naming it.
	if err := writable(jsDir); err != nil {
		return nil, fmt.Errorf("bus: embedded NATS: the JetStream directory %s is not writable: %w", jsDir, err)
	}
	daemonKey, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS key: %w", err)
	}
	readerKey, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS key: %w", err)
	}
	daemonPub, _ := daemonKey.PublicKey()
	readerPub, _ := readerKey.PublicKey()
	opts := &server.Options{
		ServerName: "arbd-embedded",
		Nkeys: []*server.NkeyUser{
			{Nkey: daemonPub, AllowedConnectionTypes: map[string]struct{}{"IN_PROCESS": {}}},
			{Nkey: readerPub, Permissions: readerPermissions(readKV...)},
		},
		AuthTimeout:            5,
		Host:                   "127.0.0.1",
		Port:                   server.RANDOM_PORT,
		NoSigs:                 true, // the daemon owns signal handling
		MaxPayload:             EmbeddedMaxPayload,
		JetStream:              true,
		StoreDir:               dataDir,
		JetStreamMaxStore:      EmbeddedMaxStore,
		JetStreamMaxMemory:     EmbeddedMaxMemory,
		DisableJetStreamBanner: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS: %w", err)
	}
	srv.SetLoggerV2(serverLog{l: logger.With("component", "nats-server"), reader: readerPub}, false, false, false)
	logger = logger.With("component", "nats")
	srv.Start()

	deadline := time.Now().Add(embeddedStartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for !srv.ReadyForConnections(100 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			shutdown(srv)
			return nil, fmt.Errorf("bus: embedded NATS start: %w", err)
		}
		if time.Now().After(deadline) {
			shutdown(srv)
			return nil, errors.New("bus: embedded NATS did not become ready in time")
		}
	}
	if !srv.JetStreamEnabled() {
		shutdown(srv)
		return nil, errors.New("bus: embedded NATS started without JetStream (see its log)")
	}
	e := &Embedded{srv: srv, storeDir: filepath.Join(dataDir, "jetstream"), daemon: daemonKey,
		credsDir: filepath.Join(dataDir, CredentialsDir)}
	seed, _ := readerKey.Seed()
	if err := e.writeReaderFiles(seed); err != nil {
		shutdown(srv)
		return nil, err
	}
	logger.Info("embedded NATS ready", "url", e.ClientURL(), "store", e.storeDir,
		"reader_credentials", filepath.Join(e.credsDir, ReaderSeedFile))
	return e, nil
}

// writeReaderFiles writes the URL and the read-only user's seed for local
// tools, 0600 in a 0700 directory, replacing those of an earlier start.
func (e *Embedded) writeReaderFiles(seed []byte) error {
	if err := os.MkdirAll(e.credsDir, 0o700); err != nil {
		return fmt.Errorf("bus: embedded NATS credentials: %w", err)
	}
	if err := os.Chmod(e.credsDir, 0o700); err != nil {
		return fmt.Errorf("bus: embedded NATS credentials: %w", err)
	}
	for name, data := range map[string][]byte{URLFile: []byte(e.ClientURL() + "\n"), ReaderSeedFile: append(seed, '\n')} {
		if err := writeFile0600(filepath.Join(e.credsDir, name), data); err != nil {
			return fmt.Errorf("bus: embedded NATS credentials: %w", err)
		}
	}
	return nil
}

// writable checks that files can be created, written and synced in dir
// (and in its existing subdirectories, where JetStream keeps its streams).
func writable(dir string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		f, err := os.CreateTemp(path, ".arbd-write-check-*")
		if err != nil {
			return err
		}
		name := f.Name()
		_, werr := f.Write([]byte("x"))
		serr := f.Sync()
		cerr := f.Close()
		os.Remove(name)
		return errors.Join(werr, serr, cerr)
	})
}

// writeFile0600 replaces path with data, readable by its owner only, never
// exposing a partly written or wider-permission file.
func writeFile0600(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ClientURL returns the nats:// URL of the server's loopback listener, for
// Connect and for other processes on the machine (arb ledger ...).
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// StoreDir returns the directory holding the JetStream data.
func (e *Embedded) StoreDir() string { return e.storeDir }

// InProcess returns the daemon's connect option: the server is reached
// through an in-memory pipe instead of the loopback socket, authenticated
// as the daemon's user, the only one with write permissions. Pass it to
// Connect along with ClientURL (the URL then only names the server in
// logs).
func (e *Embedded) InProcess() nats.Option {
	pub, _ := e.daemon.PublicKey()
	inProc := nats.InProcessServer(e.srv)
	auth := nats.Nkey(pub, e.daemon.Sign)
	return func(o *nats.Options) error {
		if err := inProc(o); err != nil {
			return err
		}
		return auth(o)
	}
}

// ReaderFiles returns the paths of the URL file and the read-only user's
// seed file (see LocalReader).
func (e *Embedded) ReaderFiles() (urlFile, seedFile string) {
	return filepath.Join(e.credsDir, URLFile), filepath.Join(e.credsDir, ReaderSeedFile)
}

// LocalReader returns the URL of the embedded server of the daemon whose
// data directory is dataDir, and the connect option that authenticates as
// its read-only user, from the files StartEmbedded wrote. Local tools use
// it to read a running daemon's events:
//
//	url, auth, err := bus.LocalReader(dataDir)
//	nc, err := nats.Connect(url, auth)
//
// The user may read the ARB_EVENTS stream (and subscribe to arb.>), and
// nothing else.
func LocalReader(dataDir string) (string, nats.Option, error) {
	dir := filepath.Join(dataDir, CredentialsDir)
	b, err := os.ReadFile(filepath.Join(dir, URLFile))
	if err != nil {
		return "", nil, fmt.Errorf("bus: the daemon's NATS URL (is arbd running on %s with embedded NATS?): %w", dataDir, err)
	}
	seed := filepath.Join(dir, ReaderSeedFile)
	opt, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		return "", nil, fmt.Errorf("bus: the daemon's NATS reader key: %w", err)
	}
	return strings.TrimSpace(string(b)), opt, nil
}

// Shutdown stops the server gracefully and waits until it has stopped:
// JetStream flushes its files before it returns. It is idempotent. Close
// the server's clients first, or they will log a disconnect.
func (e *Embedded) Shutdown() {
	e.once.Do(func() { shutdown(e.srv) })
}

func shutdown(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// serverLog routes nats-server's log to slog. Its notices (a start-up
// banner of a dozen lines) go to debug; StartEmbedded logs one line instead.
type serverLog struct {
	l      *slog.Logger
	reader string // the read-only user's public key
}

func (s serverLog) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }

// Errorf logs at error level, except the refusals the read-only user meets
// by design: its ordered consumers (arb ledger, arb status, tests) try to
// delete themselves when they stop or reset, which its permissions forbid
// on ARB_EVENTS (the ledger's durable consumer lives there); the server
// removes them once inactive. An operator alerting on errors must not be
// paged by every `arb ledger` run: they are logged at debug.
func (s serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if s.readerConsumerDelete(msg) {
		s.l.Debug(msg)
		return
	}
	s.l.Error(msg)
}

// readerConsumerDelete reports whether msg is the server's line for the
// read-only user's refused delete of a consumer on the event stream.
func (s serverLog) readerConsumerDelete(msg string) bool {
	return s.reader != "" && strings.Contains(msg, "/nkey:"+s.reader+`"`) &&
		strings.Contains(msg, `Publish Violation - Subject "$JS.API.CONSUMER.DELETE.`+StreamName+`.`)
}
func (s serverLog) Debugf(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Tracef(string, ...any)          {}
