package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"arb/ledger"
)

// Store is the ledger in PostgreSQL. Its methods are safe for concurrent
// use; writes are meant to come from one writer (the consumer).
type Store struct {
	pool *pgxpool.Pool
}

// MaxConns bounds the store's connections: one writer, a few readers.
const MaxConns = 4

// Open connects to the database at dsn and brings its schema to the
// latest version (migrations run at start). The DSN is never put in an
// error or a log.
func Open(ctx context.Context, dsn string) (*Store, error) {
	pool, err := newPool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func newPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("pgstore: the PostgreSQL DSN does not parse") // the DSN may hold a password
	}
	cfg.MaxConns = MaxConns
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	// A connection the server ended (restart, pg_terminate_backend) is
	// found by a ping when acquired, not by the batch that would fail on
	// it: one round trip per batch.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return true }
	cfg.PingTimeout = 2 * time.Second
	cfg.AfterConnect = registerFastNumeric
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	return pool, nil
}

func (s *Store) migrate(ctx context.Context) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: connect: %w", err)
	}
	defer c.Release()
	return Migrate(ctx, c.Conn(), 0)
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Pool returns the connection pool, for read-only queries by tools.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}

// RawEvent is one event as received from the stream, stored beside what
// it produced.
type RawEvent struct {
	Seq     uint64
	Subject string
	MsgID   string
	Kind    ledger.Kind
	Body    []byte
}

// Batch is what one database transaction writes: the events applied (not
// the duplicates), the changes the ledger made for them, and the highest
// stream sequence the batch covers (applied or not), recorded as the
// consumer's position.
type Batch struct {
	Stream  string
	Events  []RawEvent
	Changes []ledger.Change
	LastSeq uint64
}

var kindNames = map[ledger.Kind]string{ledger.KindFill: "fill", ledger.KindTrade: "trade", ledger.KindExternal: "external"}

func kindOf(name string) ledger.Kind {
	for k, n := range kindNames {
		if n == name {
			return k
		}
	}
	return ledger.KindOther
}

// Write stores a batch in one transaction: events, transactions, entries
// and fills by COPY, then accounts, balances (summed per account), trades,
// orders and the consumer position in one pipelined round trip. Either all
// of it is committed or none. A fill already stored violates the unique
// key and fails the whole batch, never half of it. Write encodes and
// commits one batch after the other; Pipeline overlaps the two.
func (s *Store) Write(ctx context.Context, b *Batch) error {
	if len(b.Events) == 0 && len(b.Changes) == 0 && b.LastSeq == 0 {
		return nil
	}
	e, err := Encode(b)
	if err != nil {
		return err
	}
	return s.WriteEncoded(ctx, e)
}

// WriteEncoded commits an encoded batch in one database transaction, all
// or nothing.
func (s *Store) WriteEncoded(ctx context.Context, e *Encoded) error {
	if e.empty() {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return commitEncoded(ctx, tx.Conn().PgConn(), e) })
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			// Not an answer from the server: the connection or the server
			// is gone; drop every idle connection, likely dead too.
			s.pool.Reset()
		}
		return fmt.Errorf("pgstore: write batch up to seq %d: %w", e.lastSeq, err)
	}
	return nil
}

// commitEncoded sends e within the transaction open on pc: the copies
// (one round trip each), then every statement in one round trip.
func commitEncoded(ctx context.Context, pc *pgconn.PgConn, e *Encoded) error {
	for i := range e.copies {
		c := &e.copies[i]
		if c.rows == 0 {
			continue
		}
		if _, err := pc.CopyFrom(ctx, bytes.NewReader(c.data), copySQL[i]); err != nil {
			return fmt.Errorf("copy %s: %w", copyTable[i], err)
		}
	}
	if e.stmts != nil {
		if _, err := pc.ExecBatch(ctx, e.stmts).ReadAll(); err != nil {
			return fmt.Errorf("accounts, balances, trades, orders: %w", err)
		}
	}
	return nil
}

var copyTable = [nCopies]string{copyEvents: "ledger_events", copyTxs: "transactions", copyEntries: "entries", copyFills: "fills"}

func splitSymbol(s string) (base, quote string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// numeric converts an exact decimal to PostgreSQL's NUMERIC, exactly
// (numeric.go: encoded without math/big when it can be).
func numeric(d decimal.Decimal) fastNum { return fastNum{d: d, valid: true} }

// fromNumeric converts a NUMERIC back to a decimal, exactly.
func fromNumeric(n pgtype.Numeric) (decimal.Decimal, error) {
	if !n.Valid {
		return decimal.Zero, nil
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return decimal.Zero, errors.New("pgstore: NaN or infinite NUMERIC")
	}
	i := n.Int
	if i == nil {
		i = new(big.Int)
	}
	return decimal.NewFromBigInt(i, n.Exp), nil
}

// LastSeq returns the highest stream sequence committed for stream (0: none).
func (s *Store) LastSeq(ctx context.Context, stream string) (uint64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT last_seq FROM consumer_state WHERE stream = $1`, stream).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgstore: consumer position: %w", err)
	}
	return uint64(seq), nil
}

// FillCount returns the number of fills stored.
func (s *Store) FillCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM fills`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgstore: count fills: %w", err)
	}
	return n, nil
}

// Load rebuilds the ledger by replaying, in stream order, the events
// stored for stream through the same Apply the consumer uses, and checks
// that the result has as many fills as the fills table. It returns the
// ledger and the consumer's committed position.
func (s *Store) Load(ctx context.Context, stream string) (*ledger.Ledger, uint64, error) {
	l := ledger.New()
	rows, err := s.pool.Query(ctx, `SELECT seq, kind, body FROM ledger_events WHERE stream = $1 ORDER BY seq`, stream)
	if err != nil {
		return nil, 0, fmt.Errorf("pgstore: load events: %w", err)
	}
	var seq int64
	var kind string
	var body []byte
	_, err = pgx.ForEachRow(rows, []any{&seq, &kind, &body}, func() error {
		ev, err := Decode(kindOf(kind), body)
		if err != nil {
			return fmt.Errorf("stored event %d: %w", seq, err)
		}
		ev.Seq = uint64(seq)
		if _, err := l.Apply(ev); err != nil && !errors.Is(err, ledger.ErrConflict) {
			return fmt.Errorf("stored event %d: %w", seq, err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("pgstore: load events: %w", err)
	}
	last, err := s.LastSeq(ctx, stream)
	if err != nil {
		return nil, 0, err
	}
	n, err := s.FillCount(ctx)
	if err != nil {
		return nil, 0, err
	}
	if n != int64(l.FillCount()) {
		return nil, 0, fmt.Errorf("pgstore: %d fills stored but %d in the stored events of %s", n, l.FillCount(), stream)
	}
	return l, last, nil
}

// Decode decodes an event body of kind k.
func Decode(k ledger.Kind, body []byte) (ledger.Event, error) {
	ev := ledger.Event{Kind: k}
	switch k {
	case ledger.KindFill:
		f, err := ledger.DecodeFill(body)
		if err != nil {
			return ev, err
		}
		ev.Fill = &f
	case ledger.KindTrade:
		t, err := ledger.DecodeTrade(body)
		if err != nil {
			return ev, err
		}
		ev.Trade = &t
	case ledger.KindExternal:
		e, err := ledger.DecodeExternal(body)
		if err != nil {
			return ev, err
		}
		ev.External = &e
	default:
		return ev, fmt.Errorf("%w: not a ledger event", ledger.ErrBadEvent)
	}
	return ev, nil
}

func unixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// Connect connects without migrating, for tools that only read (arb
// ledger): the schema must already be this binary's version, which the
// daemon's Open brings it to.
func Connect(ctx context.Context, dsn string) (*Store, error) {
	pool, err := newPool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	v, err := SchemaVersion(ctx, c.Conn())
	c.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	if v != LatestVersion() {
		pool.Close()
		return nil, fmt.Errorf("pgstore: database schema is version %d, this binary reads %d (arbd migrates it at start)", v, LatestVersion())
	}
	return &Store{pool: pool}, nil
}
