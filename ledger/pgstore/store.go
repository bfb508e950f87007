package pgstore

import (
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
// key and fails the whole batch, never half of it.
func (s *Store) Write(ctx context.Context, b *Batch) error {
	if len(b.Events) == 0 && len(b.Changes) == 0 && b.LastSeq == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return writeBatch(ctx, tx, b) })
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			// Not an answer from the server: the connection or the server
			// is gone; drop every idle connection, likely dead too.
			s.pool.Reset()
		}
		return fmt.Errorf("pgstore: write batch up to seq %d: %w", b.LastSeq, err)
	}
	return nil
}

func writeBatch(ctx context.Context, tx pgx.Tx, b *Batch) error {
	type acct struct{ name, kind, venue, asset string }
	var accounts []acct
	seenAcct := map[ledger.Account]bool{}
	deltas := map[ledger.Account]decimal.Decimal{}
	var deltaOrder []ledger.Account
	var txRows, entryRows, fillRows, eventRows [][]any
	trades := map[string]*ledger.TradeRow{}
	var tradeOrder []string
	for _, ev := range b.Events {
		eventRows = append(eventRows, []any{b.Stream, int64(ev.Seq), ev.Subject, ev.MsgID, kindNames[ev.Kind], ev.Body})
	}
	for i := range b.Changes {
		ch := &b.Changes[i]
		for _, t := range ch.Txs {
			var tradeID, gasQuote any
			if t.TradeID != "" {
				tradeID = t.TradeID
			}
			if t.Kind == ledger.TxGas && ch.Trade != nil {
				for _, leg := range ch.Trade.Trade.Legs {
					if ledger.GasTxID(t.TradeID, leg.ClientOrderID) == t.ID {
						gasQuote = numeric(leg.GasQuote)
					}
				}
			}
			txRows = append(txRows, []any{t.ID, t.Kind.String(), t.TS, t.Venue, tradeID, t.Memo, gasQuote, int64(t.Seq)})
			for n, e := range t.Entries {
				entryRows = append(entryRows, []any{t.ID, int16(n), e.Account.String(), e.Account.Asset, numeric(e.Amount)})
				if !seenAcct[e.Account] {
					seenAcct[e.Account] = true
					accounts = append(accounts, acct{e.Account.String(), e.Account.Kind.String(), e.Account.Venue, e.Account.Asset})
				}
				if _, ok := deltas[e.Account]; !ok {
					deltaOrder = append(deltaOrder, e.Account)
				}
				deltas[e.Account] = deltas[e.Account].Add(e.Amount)
			}
		}
		if f := ch.Fill; f != nil {
			var tradeID any
			if f.TradeID != "" {
				tradeID = f.TradeID
			}
			fillRows = append(fillRows, []any{f.Venue, f.VenueFillID, f.ClientOrderID, tradeID, f.Symbol, f.Base, f.Quote, f.Side,
				numeric(f.Price), numeric(f.Qty), numeric(f.Fee), f.FeeAsset, numeric(f.FeeQuoteRate), numeric(f.FeeQuote),
				f.TS, f.TS.UnixNano(), f.TxID, int64(f.Seq)})
		}
		if tr := ch.Trade; tr != nil {
			if _, ok := trades[tr.ID]; !ok {
				tradeOrder = append(tradeOrder, tr.ID)
			}
			trades[tr.ID] = tr
		}
	}

	if len(accounts) > 0 {
		cols := make([][]string, 4)
		for _, a := range accounts {
			cols[0], cols[1], cols[2], cols[3] = append(cols[0], a.name), append(cols[1], a.kind), append(cols[2], a.venue), append(cols[3], a.asset)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (name, kind, venue, asset)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (name) DO NOTHING`,
			cols[0], cols[1], cols[2], cols[3]); err != nil {
			return fmt.Errorf("accounts: %w", err)
		}
	}
	copies := []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"transactions", []string{"id", "kind", "ts", "venue", "trade_id", "memo", "gas_quote", "stream_seq"}, txRows},
		{"entries", []string{"tx_id", "n", "account", "asset", "amount"}, entryRows},
		{"fills", []string{"venue", "venue_fill_id", "client_order_id", "trade_id", "symbol", "base", "quote", "side", "price", "qty",
			"fee", "fee_asset", "fee_quote_rate", "fee_quote", "ts", "ts_unix_ns", "tx_id", "stream_seq"}, fillRows},
		{"ledger_events", []string{"stream", "seq", "subject", "msg_id", "kind", "body"}, eventRows},
	}
	for _, c := range copies {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("copy %s: %w", c.table, err)
		}
	}

	batch := &pgx.Batch{}
	if len(deltaOrder) > 0 {
		names, assets := make([]string, len(deltaOrder)), make([]string, len(deltaOrder))
		amounts := make([]fastNum, len(deltaOrder))
		for i, a := range deltaOrder {
			names[i], assets[i], amounts[i] = a.String(), a.Asset, numeric(deltas[a])
		}
		batch.Queue(`INSERT INTO balances (account, asset, balance)
			SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
			ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance, updated_at = now()`,
			names, assets, amounts)
	}
	tradeRows := make([]*ledger.TradeRow, len(tradeOrder))
	for i, id := range tradeOrder {
		tradeRows[i] = trades[id]
	}
	queueTrades(batch, tradeRows)
	if b.LastSeq > 0 {
		batch.Queue(`INSERT INTO consumer_state (stream, last_seq) VALUES ($1, $2)
			ON CONFLICT (stream) DO UPDATE SET last_seq = greatest(consumer_state.last_seq, excluded.last_seq), updated_at = now()`,
			b.Stream, int64(b.LastSeq))
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("balances, trades, orders: %w", err)
		}
	}
	return nil
}

// queueTrades upserts the trades' rows and their legs' order rows, each
// table in one statement over arrays (unnest), whatever the count.
func queueTrades(batch *pgx.Batch, rows []*ledger.TradeRow) {
	if len(rows) == 0 {
		return
	}
	n := len(rows)
	ids, symbols, quotes := make([]string, n), make([]string, n), make([]string, n)
	planIDs, buys, sells, states := make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
	opened, closed := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	seqs, fills := make([]int64, n), make([]int32, n)
	var nums [14][]fastNum
	for i := range nums {
		nums[i] = make([]fastNum, n)
	}
	var legs struct {
		venue, coid, trade, side, purpose, voi, feeAsset, status, gasAsset []string
		nums                                                               [8][]fastNum
	}
	for i, r := range rows {
		t := &r.Trade
		ids[i], symbols[i], seqs[i], fills[i] = r.ID, r.Symbol, int64(r.Seq), int32(r.Fills)
		_, quotes[i] = splitSymbol(r.Symbol)
		nums[0][i] = fastNum{} // NULL qty until the trade event arrived
		if t.ID != "" {
			planIDs[i], buys[i], sells[i], states[i] = text(t.PlanID), text(t.BuyVenue), text(t.SellVenue), text(t.State)
			opened[i] = pgtype.Timestamptz{Time: t.OpenedAt, Valid: true}
			if t.ClosedAt != nil {
				closed[i] = pgtype.Timestamptz{Time: *t.ClosedAt, Valid: true}
			}
			nums[0][i] = numeric(t.Qty)
		}
		p := &r.PnL
		for k, v := range []decimal.Decimal{t.ExpectedNetQuote, t.RealizedNetQuote, t.ResidualBase, p.BoughtBase, p.SoldBase,
			p.BuyQuote, p.SellQuote, p.Gross, p.FeesQuote, p.GasQuote, p.Net, p.ResidualBase, p.ResidualCost} {
			nums[k+1][i] = numeric(v)
		}
		for j := range t.Legs {
			l := &t.Legs[j]
			legs.venue, legs.coid, legs.trade = append(legs.venue, l.Venue), append(legs.coid, l.ClientOrderID), append(legs.trade, t.ID)
			legs.side, legs.purpose, legs.voi = append(legs.side, l.Side), append(legs.purpose, l.Purpose), append(legs.voi, l.VenueOrderID)
			legs.feeAsset, legs.status, legs.gasAsset = append(legs.feeAsset, l.FeeAsset), append(legs.status, l.Status), append(legs.gasAsset, l.GasAsset)
			for k, v := range []decimal.Decimal{l.Price, l.Qty, l.FilledQty, l.AvgPrice, l.Fee, l.GasQuote, l.Gas} {
				legs.nums[k] = append(legs.nums[k], numeric(v))
			}
		}
	}
	batch.Queue(`INSERT INTO trades (id, plan_id, symbol, quote, buy_venue, sell_venue, state, opened_at, closed_at, stream_seq, fills,
		qty, expected_net_quote, reported_realized_net_quote, reported_residual_base,
		bought_base, sold_base, buy_quote, sell_quote, gross_quote, fees_quote, gas_quote, net_quote, residual_base, residual_cost_quote)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::integer[],
			$12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::numeric[], $17::numeric[], $18::numeric[],
			$19::numeric[], $20::numeric[], $21::numeric[], $22::numeric[], $23::numeric[], $24::numeric[], $25::numeric[])
		ON CONFLICT (id) DO UPDATE SET plan_id = excluded.plan_id, symbol = excluded.symbol, quote = excluded.quote,
		buy_venue = excluded.buy_venue, sell_venue = excluded.sell_venue, state = excluded.state, qty = excluded.qty,
		expected_net_quote = excluded.expected_net_quote, reported_realized_net_quote = excluded.reported_realized_net_quote,
		reported_residual_base = excluded.reported_residual_base, opened_at = excluded.opened_at, closed_at = excluded.closed_at,
		stream_seq = excluded.stream_seq, fills = excluded.fills, bought_base = excluded.bought_base, sold_base = excluded.sold_base,
		buy_quote = excluded.buy_quote, sell_quote = excluded.sell_quote, gross_quote = excluded.gross_quote,
		fees_quote = excluded.fees_quote, gas_quote = excluded.gas_quote, net_quote = excluded.net_quote,
		residual_base = excluded.residual_base, residual_cost_quote = excluded.residual_cost_quote, updated_at = now()`,
		ids, planIDs, symbols, quotes, buys, sells, states, opened, closed, seqs, fills,
		nums[0], nums[1], nums[2], nums[3], nums[4], nums[5], nums[6], nums[7], nums[8], nums[9], nums[10], nums[11], nums[12], nums[13])
	if len(legs.venue) == 0 {
		return
	}
	batch.Queue(`INSERT INTO orders (venue, client_order_id, trade_id, side, purpose, venue_order_id, fee_asset, status, gas_asset,
		price, qty, filled_qty, avg_price, fee, gas_quote, gas)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
			$10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::numeric[])
		ON CONFLICT (venue, client_order_id) DO UPDATE SET trade_id = excluded.trade_id, side = excluded.side,
		purpose = excluded.purpose, venue_order_id = excluded.venue_order_id, price = excluded.price, qty = excluded.qty,
		filled_qty = excluded.filled_qty, avg_price = excluded.avg_price, fee = excluded.fee, fee_asset = excluded.fee_asset,
		status = excluded.status, gas_quote = excluded.gas_quote, gas_asset = excluded.gas_asset, gas = excluded.gas`,
		legs.venue, legs.coid, legs.trade, legs.side, legs.purpose, legs.voi, legs.feeAsset, legs.status, legs.gasAsset,
		legs.nums[0], legs.nums[1], legs.nums[2], legs.nums[3], legs.nums[4], legs.nums[5], legs.nums[6])
}

func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }

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
