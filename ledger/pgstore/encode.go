package pgstore

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"arb/ledger"
)

// Writing a batch is two steps. Encode (this file) turns a Batch into
// what goes on the wire — the COPY data of events, transactions, entries
// and fills in PostgreSQL's binary COPY format, and the pipelined upserts
// (accounts, balances, trades, orders, the consumer position) as a
// pgconn.Batch whose array parameters are already in the binary format —
// without touching the database. commitEncoded sends it in one database
// transaction. Encoding here rather than through pgx's reflection-based
// encoders takes a row without one allocation per value, and lets
// Pipeline encode batch N+1 on the caller's goroutine while batch N
// commits.

// Encoded is a Batch in PostgreSQL's wire formats, ready to be committed
// by one database transaction. It holds no reference to the Batch or to
// the ledger it came from.
type Encoded struct {
	lastSeq uint64
	copies  [nCopies]copyData
	stmts   *pgconn.Batch // nil: no statement
}

func (e *Encoded) empty() bool {
	if e.stmts != nil {
		return false
	}
	for i := range e.copies {
		if e.copies[i].rows > 0 {
			return false
		}
	}
	return true
}

type copyData struct {
	rows int
	data []byte // header, tuples, trailer
}

const (
	copyEvents = iota
	copyTxs
	copyEntries
	copyFills
	nCopies
)

// copySQL is the COPY statement of each copy, in the order committed.
var copySQL = [nCopies]string{
	copyEvents:  `COPY ledger_events (stream, seq, subject, msg_id, kind, body) FROM STDIN BINARY`,
	copyTxs:     `COPY transactions (id, kind, ts, venue, trade_id, memo, gas_quote, stream_seq) FROM STDIN BINARY`,
	copyEntries: `COPY entries (tx_id, n, account, asset, amount) FROM STDIN BINARY`,
	copyFills: `COPY fills (venue, venue_fill_id, client_order_id, trade_id, symbol, base, quote, side, price, qty,
		fee, fee_asset, fee_quote_rate, fee_quote, ts, ts_unix_ns, tx_id, stream_seq) FROM STDIN BINARY`,
}

var copySignature = []byte("PGCOPY\n\377\r\n\000")

// encoder keeps what encoding reuses from one batch to the next: the
// account names (built once per account, not once per entry) and scratch
// buffers. One goroutine uses an encoder at a time.
type encoder struct {
	names  map[ledger.Account]string
	deltas map[ledger.Account]int // index in sums
	sums   []accountSum
	seen   map[string]int // trade id -> index in trades
	trades []*ledger.TradeRow
	cols   []arrayCol
	params [][]byte
	buf    []byte // the parameters of all statements, concatenated
}

func newEncoder() *encoder {
	return &encoder{names: map[ledger.Account]string{}, deltas: map[ledger.Account]int{}, seen: map[string]int{}}
}

// accountSum is an account's balance change within a batch: an int64
// coefficient at exponent exp while it fits (no allocation), else exact
// decimal arithmetic.
type accountSum struct {
	acct  ledger.Account
	coef  int64
	exp   int32
	big   bool
	exact decimal.Decimal // when big
}

func (s *accountSum) add(d decimal.Decimal) {
	if !s.big {
		if c, e, ok := smallDecimal(d); ok {
			if coef, exp, ok := addScaled(s.coef, s.exp, c, e); ok {
				s.coef, s.exp = coef, exp
				return
			}
		}
		s.big, s.exact = true, decimal.New(s.coef, s.exp)
	}
	s.exact = s.exact.Add(d)
}

func (s *accountSum) value() decimal.Decimal {
	if s.big {
		return s.exact
	}
	return decimal.New(s.coef, s.exp)
}

// smallDecimal returns d's coefficient and exponent when the coefficient
// fits an int64 comfortably (18 digits).
func smallDecimal(d decimal.Decimal) (int64, int32, bool) {
	if d.NumDigits() > 18 {
		return 0, 0, false
	}
	return d.CoefficientInt64(), d.Exponent(), true
}

// addScaled adds a×10^ea and b×10^eb exactly, at the smaller exponent;
// ok is false when that overflows an int64.
func addScaled(a int64, ea int32, b int64, eb int32) (int64, int32, bool) {
	if a == 0 {
		return b, eb, true
	}
	if b == 0 {
		return a, ea, true
	}
	for ea > eb {
		var ok bool
		if a, ok = mul10(a); !ok {
			return 0, 0, false
		}
		ea--
	}
	for eb > ea {
		var ok bool
		if b, ok = mul10(b); !ok {
			return 0, 0, false
		}
		eb--
	}
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, 0, false
	}
	return s, ea, true
}

func mul10(a int64) (int64, bool) {
	if a > math.MaxInt64/10 || a < math.MinInt64/10 {
		return 0, false
	}
	return a * 10, true
}

func (c *encoder) name(a ledger.Account) string {
	n, ok := c.names[a]
	if !ok {
		n = a.String()
		c.names[a] = n
	}
	return n
}

// Encode turns b into what one database transaction writes. It touches no
// database, so a caller may encode the next batch while the previous
// commits (Pipeline). The result holds no reference to b.
func Encode(b *Batch) (*Encoded, error) {
	e := &Encoded{}
	if err := newEncoder().encode(b, e); err != nil {
		return nil, err
	}
	return e, nil
}

// encode fills e (its buffers reused) from b.
func (c *encoder) encode(b *Batch, e *Encoded) error {
	e.lastSeq, e.stmts = b.LastSeq, nil
	for i := range e.copies {
		e.copies[i].rows = 0
		e.copies[i].data = append(e.copies[i].data[:0], copySignature...)
		e.copies[i].data = binary.BigEndian.AppendUint64(e.copies[i].data, 0) // flags, header extension length
	}
	clear(c.deltas)
	clear(c.seen)
	c.sums, c.trades = c.sums[:0], c.trades[:0]

	ev := &e.copies[copyEvents]
	for i := range b.Events {
		r := &b.Events[i]
		w := tuple(ev, 6)
		w = putText(w, b.Stream)
		w = putInt8(w, int64(r.Seq))
		w = putText(w, r.Subject)
		w = putText(w, r.MsgID)
		w = putText(w, kindNames[r.Kind])
		w = putBytes(w, r.Body)
		ev.data = w
	}
	txs, ents, fills := &e.copies[copyTxs], &e.copies[copyEntries], &e.copies[copyFills]
	var accounts []ledger.Account // new in this batch, in order
	var err error
	for i := range b.Changes {
		ch := &b.Changes[i]
		for _, t := range ch.Txs {
			w := tuple(txs, 8)
			w = putText(w, t.ID)
			w = putText(w, t.Kind.String())
			w = putTime(w, t.TS)
			w = putText(w, t.Venue)
			w = putOptText(w, t.TradeID)
			w = putText(w, t.Memo)
			var gas *ledger.Leg // the leg this gas was paid for: its value in quote
			if t.Kind == ledger.TxGas && ch.Trade != nil {
				for j := range ch.Trade.Trade.Legs {
					if leg := &ch.Trade.Trade.Legs[j]; ledger.GasTxID(t.TradeID, leg.ClientOrderID) == t.ID {
						gas = leg
					}
				}
			}
			if gas != nil {
				if w, err = putNumeric(w, gas.GasQuote); err != nil {
					return err
				}
			} else {
				w = putNull(w)
			}
			w = putInt8(w, int64(t.Seq))
			txs.data = w
			for n, en := range t.Entries {
				w := tuple(ents, 5)
				w = putText(w, t.ID)
				w = putInt2(w, int16(n))
				w = putText(w, c.name(en.Account))
				w = putText(w, en.Account.Asset)
				if w, err = putNumeric(w, en.Amount); err != nil {
					return err
				}
				ents.data = w
				k, ok := c.deltas[en.Account]
				if !ok {
					k = len(c.sums)
					c.deltas[en.Account] = k
					c.sums = append(c.sums, accountSum{acct: en.Account})
					accounts = append(accounts, en.Account)
				}
				c.sums[k].add(en.Amount)
			}
		}
		if f := ch.Fill; f != nil {
			w := tuple(fills, 18)
			w = putText(w, f.Venue)
			w = putText(w, f.VenueFillID)
			w = putText(w, f.ClientOrderID)
			w = putOptText(w, f.TradeID)
			w = putText(w, f.Symbol)
			w = putText(w, f.Base)
			w = putText(w, f.Quote)
			w = putText(w, f.Side)
			for _, v := range [...]decimal.Decimal{f.Price, f.Qty, f.Fee} {
				if w, err = putNumeric(w, v); err != nil {
					return err
				}
			}
			w = putText(w, f.FeeAsset)
			for _, v := range [...]decimal.Decimal{f.FeeQuoteRate, f.FeeQuote} {
				if w, err = putNumeric(w, v); err != nil {
					return err
				}
			}
			w = putTime(w, f.TS)
			w = putInt8(w, f.TS.UnixNano())
			w = putText(w, f.TxID)
			w = putInt8(w, int64(f.Seq))
			fills.data = w
		}
		if tr := ch.Trade; tr != nil {
			if k, ok := c.seen[tr.ID]; ok {
				c.trades[k] = tr // the latest state, at the place of the first
			} else {
				c.seen[tr.ID] = len(c.trades)
				c.trades = append(c.trades, tr)
			}
		}
	}
	for i := range e.copies {
		e.copies[i].data = binary.BigEndian.AppendUint16(e.copies[i].data, 0xffff) // trailer
	}

	c.buf = c.buf[:0]
	stmts := &pgconn.Batch{}
	n := 0
	if len(accounts) > 0 {
		// Every account of the batch, before the balances that reference
		// it; an account already stored is left as it is.
		cols := c.columns(oidText, oidText, oidText, oidText)
		for _, a := range accounts {
			cols[0].text(c.name(a))
			cols[1].text(a.Kind.String())
			cols[2].text(a.Venue)
			cols[3].text(a.Asset)
		}
		c.queue(stmts, sqlAccounts, cols)
		cols = c.columns(oidText, oidText, oidNumeric)
		for i := range c.sums {
			s := &c.sums[i]
			cols[0].text(c.name(s.acct))
			cols[1].text(s.acct.Asset)
			if err := cols[2].numeric(s.value()); err != nil {
				return err
			}
		}
		c.queue(stmts, sqlBalances, cols)
		n += 2
	}
	if len(c.trades) > 0 {
		legs, err := c.encodeTrades(stmts, c.trades)
		if err != nil {
			return err
		}
		n += 1 + legs
	}
	if b.LastSeq > 0 {
		seq := binary.BigEndian.AppendUint64(nil, b.LastSeq)
		stmts.ExecParams(sqlConsumer, [][]byte{[]byte(b.Stream), seq}, []uint32{oidText, oidInt8}, binaryFormat, nil)
		n++
	}
	if n > 0 {
		e.stmts = stmts
	}
	return nil
}

var binaryFormat = []int16{pgtype.BinaryFormatCode}

const (
	oidText        = pgtype.TextOID
	oidNumeric     = pgtype.NumericOID
	oidInt8        = pgtype.Int8OID
	oidInt4        = pgtype.Int4OID
	oidTimestamptz = pgtype.TimestamptzOID
)

var arrayOID = map[uint32]uint32{oidText: pgtype.TextArrayOID, oidNumeric: pgtype.NumericArrayOID, oidInt8: pgtype.Int8ArrayOID,
	oidInt4: pgtype.Int4ArrayOID, oidTimestamptz: pgtype.TimestamptzArrayOID}

const (
	sqlAccounts = `INSERT INTO accounts (name, kind, venue, asset)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (name) DO NOTHING`
	sqlBalances = `INSERT INTO balances (account, asset, balance)
		SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
		ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance, updated_at = now()`
	sqlConsumer = `INSERT INTO consumer_state (stream, last_seq) VALUES ($1, $2)
		ON CONFLICT (stream) DO UPDATE SET last_seq = greatest(consumer_state.last_seq, excluded.last_seq), updated_at = now()`
)

// arrayCol is one array parameter being built: its elements in the
// binary array format, the header added by queue.
type arrayCol struct {
	oid     uint32
	n       int32
	hasNull bool
	data    []byte
}

func (a *arrayCol) text(s string) {
	a.data = putText(a.data, s)
	a.n++
}

func (a *arrayCol) optText(s string, valid bool) {
	if !valid {
		a.null()
		return
	}
	a.text(s)
}

func (a *arrayCol) null() {
	a.data = putNull(a.data)
	a.hasNull = true
	a.n++
}

func (a *arrayCol) int8(v int64) {
	a.data = putInt8(a.data, v)
	a.n++
}

func (a *arrayCol) int4(v int32) {
	a.data = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(a.data, 4), uint32(v))
	a.n++
}

func (a *arrayCol) time(t time.Time, valid bool) {
	if !valid {
		a.null()
		return
	}
	a.data = putTime(a.data, t)
	a.n++
}

func (a *arrayCol) numeric(d decimal.Decimal) (err error) {
	a.data, err = putNumeric(a.data, d)
	a.n++
	return err
}

// columns returns len(oids) empty array columns of those element types,
// their buffers reused.
func (c *encoder) columns(oids ...uint32) []arrayCol {
	for len(c.cols) < len(oids) {
		c.cols = append(c.cols, arrayCol{})
	}
	cols := c.cols[:len(oids)]
	for i, oid := range oids {
		cols[i] = arrayCol{oid: oid, data: cols[i].data[:0]}
	}
	return cols
}

// queue appends a statement whose parameters are cols, as one-dimensional
// arrays, to stmts (which copies them: the columns may be reused).
func (c *encoder) queue(stmts *pgconn.Batch, sql string, cols []arrayCol) {
	c.params = c.params[:0]
	oids := make([]uint32, len(cols))
	offs := make([]int, 0, len(cols)+1)
	for i := range cols {
		a := &cols[i]
		offs = append(offs, len(c.buf))
		var flags uint32
		if a.hasNull {
			flags = 1
		}
		c.buf = binary.BigEndian.AppendUint32(c.buf, 1) // dimensions
		c.buf = binary.BigEndian.AppendUint32(c.buf, flags)
		c.buf = binary.BigEndian.AppendUint32(c.buf, a.oid)
		c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(a.n))
		c.buf = binary.BigEndian.AppendUint32(c.buf, 1) // lower bound
		c.buf = append(c.buf, a.data...)
		oids[i] = arrayOID[a.oid]
	}
	offs = append(offs, len(c.buf))
	for i := range cols {
		c.params = append(c.params, c.buf[offs[i]:offs[i+1]])
	}
	// ExecParams encodes the messages at once: c.buf may grow (and move)
	// afterwards without harm.
	stmts.ExecParams(sql, c.params, oids, binaryFormat, nil)
}

// encodeTrades queues the trades' upsert and their legs' (orders), each
// table in one statement over arrays, whatever the count; it returns the
// number of order statements queued (0 or 1).
func (c *encoder) encodeTrades(stmts *pgconn.Batch, rows []*ledger.TradeRow) (int, error) {
	cols := c.columns(oidText, oidText, oidText, oidText, oidText, oidText, oidText, oidTimestamptz, oidTimestamptz, oidInt8, oidInt4,
		oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric,
		oidNumeric, oidNumeric, oidNumeric, oidNumeric)
	legs := 0
	for _, r := range rows {
		t := &r.Trade
		has := t.ID != ""
		cols[0].text(r.ID)
		cols[1].optText(t.PlanID, has)
		cols[2].text(r.Symbol)
		_, quote := splitSymbol(r.Symbol)
		cols[3].text(quote)
		cols[4].optText(t.BuyVenue, has)
		cols[5].optText(t.SellVenue, has)
		cols[6].optText(t.State, has)
		cols[7].time(t.OpenedAt, has)
		if has && t.ClosedAt != nil {
			cols[8].time(*t.ClosedAt, true)
		} else {
			cols[8].null()
		}
		cols[9].int8(int64(r.Seq))
		cols[10].int4(int32(r.Fills))
		if has {
			if err := cols[11].numeric(t.Qty); err != nil {
				return 0, err
			}
		} else {
			cols[11].null() // NULL qty until the trade event arrived
		}
		p := &r.PnL
		for k, v := range [...]decimal.Decimal{t.ExpectedNetQuote, t.RealizedNetQuote, t.ResidualBase, p.BoughtBase, p.SoldBase,
			p.BuyQuote, p.SellQuote, p.Gross, p.FeesQuote, p.GasQuote, p.Net, p.ResidualBase, p.ResidualCost} {
			if err := cols[12+k].numeric(v); err != nil {
				return 0, err
			}
		}
		legs += len(t.Legs)
	}
	c.queue(stmts, sqlTrades, cols)
	if legs == 0 {
		return 0, nil
	}
	cols = c.columns(oidText, oidText, oidText, oidText, oidText, oidText, oidText, oidText, oidText,
		oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric, oidNumeric)
	for _, r := range rows {
		t := &r.Trade
		for j := range t.Legs {
			l := &t.Legs[j]
			for k, s := range [...]string{l.Venue, l.ClientOrderID, t.ID, l.Side, l.Purpose, l.VenueOrderID, l.FeeAsset, l.Status, l.GasAsset} {
				cols[k].text(s)
			}
			for k, v := range [...]decimal.Decimal{l.Price, l.Qty, l.FilledQty, l.AvgPrice, l.Fee, l.GasQuote, l.Gas} {
				if err := cols[9+k].numeric(v); err != nil {
					return 0, err
				}
			}
		}
	}
	c.queue(stmts, sqlOrders, cols)
	return 1, nil
}

const sqlTrades = `INSERT INTO trades (id, plan_id, symbol, quote, buy_venue, sell_venue, state, opened_at, closed_at, stream_seq, fills,
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
		residual_base = excluded.residual_base, residual_cost_quote = excluded.residual_cost_quote, updated_at = now()`

const sqlOrders = `INSERT INTO orders (venue, client_order_id, trade_id, side, purpose, venue_order_id, fee_asset, status, gas_asset,
		price, qty, filled_qty, avg_price, fee, gas_quote, gas)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
			$10::numeric[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::numeric[])
		ON CONFLICT (venue, client_order_id) DO UPDATE SET trade_id = excluded.trade_id, side = excluded.side,
		purpose = excluded.purpose, venue_order_id = excluded.venue_order_id, price = excluded.price, qty = excluded.qty,
		filled_qty = excluded.filled_qty, avg_price = excluded.avg_price, fee = excluded.fee, fee_asset = excluded.fee_asset,
		status = excluded.status, gas_quote = excluded.gas_quote, gas_asset = excluded.gas_asset, gas = excluded.gas`

// tuple starts a COPY tuple of n fields in c and returns its buffer.
func tuple(c *copyData, n int16) []byte {
	c.rows++
	return binary.BigEndian.AppendUint16(c.data, uint16(n))
}

// The binary formats of one value: a 32-bit length (-1: NULL), then the
// bytes (https://www.postgresql.org/docs/15/sql-copy.html, "Binary
// Format"; the same as a parameter's and an array element's).

func putNull(w []byte) []byte { return binary.BigEndian.AppendUint32(w, math.MaxUint32) }

func putText(w []byte, s string) []byte {
	w = binary.BigEndian.AppendUint32(w, uint32(len(s)))
	return append(w, s...)
}

func putOptText(w []byte, s string) []byte {
	if s == "" {
		return putNull(w)
	}
	return putText(w, s)
}

func putBytes(w []byte, b []byte) []byte {
	w = binary.BigEndian.AppendUint32(w, uint32(len(b)))
	return append(w, b...)
}

func putInt8(w []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(w, 8), uint64(v))
}

func putInt2(w []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32(w, 2), uint16(v))
}

// putTime appends a timestamptz: microseconds since 2000-01-01 UTC,
// truncated as pgx truncates (the nanoseconds are kept beside it where
// they matter: fills.ts_unix_ns).
func putTime(w []byte, t time.Time) []byte {
	us := t.Unix()*1000000 + int64(t.Nanosecond())/1000 - 946_684_800*1_000_000
	return putInt8(w, us)
}

// putNumeric appends d as a binary NUMERIC: from uint64 arithmetic when
// its coefficient has at most 16 digits (numeric.go), else through pgx's
// own encoder (math/big).
func putNumeric(w []byte, d decimal.Decimal) ([]byte, error) {
	at := len(w)
	w = binary.BigEndian.AppendUint32(w, 0) // the length, set below
	out, ok := appendFastNumeric(w, d)
	if !ok {
		v := fastNum{d: d, valid: true}
		plan := pgtype.NumericCodec{}.PlanEncode(nil, pgtype.NumericOID, pgtype.BinaryFormatCode, v)
		var err error
		if out, err = plan.Encode(v, w); err != nil {
			return nil, fmt.Errorf("pgstore: encode %s as NUMERIC: %w", d, err)
		}
	}
	n := len(out) - at - 4
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("pgstore: NUMERIC of %d bytes", n)
	}
	binary.BigEndian.PutUint32(out[at:], uint32(n))
	return out, nil
}
