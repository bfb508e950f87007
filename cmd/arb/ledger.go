package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/ledgerfeed"
	"arb/cmd/internal/wire"
	"arb/exchange"
	"arb/ledger"
	"arb/ledger/pgstore"
)

const ledgerUsage = `usage: arb ledger VERB [flags]
  pnl | balances | trades | fills   reports (--format table|csv|json, --since, --venue, --symbol)
  check                             every invariant of the books; exit 1 naming the first violations
  reconcile --balances FILE         ledger balances against the venues' (a JSON file of {venue, asset, balance});
                                    exit 1 on a difference beyond dust (--dust, --dust-asset ASSET=AMOUNT)
  export --format journal|beancount [--out FILE]
source: PostgreSQL with --dsn, $ARB_PG_DSN or the postgres.dsn of --config; else the JetStream
stream replayed into memory from a running arbd's embedded NATS (--data-dir DIR: its data_dir,
read-only) or from --nats URL (--creds FILE: a .creds file or an nkey seed)
`

// ledgerFlags are the flags every ledger verb takes.
type ledgerFlags struct {
	dsn, configPath, natsURL, creds, stream, prefix string
	dataDir                                         string
	format, since, venue, symbol                    string
	timeout                                         time.Duration
	// reconcile
	balancesFile, dust string
	dustAsset          multiFlag
	// export
	out string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runLedger(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, ledgerUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("arb ledger "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf ledgerFlags
	fs.StringVar(&lf.dsn, "dsn", "", "PostgreSQL DSN (default $ARB_PG_DSN, then the config's postgres.dsn)")
	fs.StringVar(&lf.configPath, "config", "", "arbd config file: its postgres.dsn and nats.url")
	fs.StringVar(&lf.natsURL, "nats", "", "NATS URL to replay the event stream from when there is no DSN")
	fs.StringVar(&lf.creds, "creds", "", "NATS credentials: a .creds file or an nkey seed file")
	fs.StringVar(&lf.dataDir, "data-dir", "", "data_dir of a running arbd with embedded NATS: replay its events as its read-only user")
	fs.StringVar(&lf.stream, "stream", bus.StreamName, "JetStream stream of the events")
	fs.StringVar(&lf.prefix, "prefix", "arb", "subject root of the events")
	fs.StringVar(&lf.since, "since", "", "only fills and trades from then: RFC 3339 time, YYYY-MM-DD (UTC) or a duration back from now (24h)")
	fs.StringVar(&lf.venue, "venue", "", "only this venue")
	fs.StringVar(&lf.symbol, "symbol", "", "only this symbol (BASE-QUOTE)")
	fs.DurationVar(&lf.timeout, "timeout", 2*time.Minute, "give up after this long")
	defFormat := "table"
	switch verb {
	case "export":
		defFormat = ""
		fs.StringVar(&lf.out, "out", "", "write to this file instead of standard output")
	case "reconcile":
		fs.StringVar(&lf.balancesFile, "balances", "", "JSON file of the venues' balances: [{\"venue\":..,\"asset\":..,\"balance\":\"..\"}]")
		fs.StringVar(&lf.dust, "dust", "0", "largest difference that is not reported as one, for assets without --dust-asset")
		fs.Var(&lf.dustAsset, "dust-asset", "ASSET=AMOUNT: dust for one asset (repeatable)")
	}
	fs.StringVar(&lf.format, "format", defFormat, "output: table, csv or json (export: journal or beancount)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "arb ledger %s: unexpected argument %q\n", verb, fs.Arg(0))
		return 2
	}
	filter, err := lf.filter(time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "arb ledger %s: %v\n", verb, err)
		return 2
	}
	switch verb {
	case "pnl", "balances", "trades", "fills", "check", "reconcile":
		if verb != "check" && verb != "reconcile" && lf.format != "table" && lf.format != "csv" && lf.format != "json" {
			fmt.Fprintf(stderr, "arb ledger %s: --format %q: want table, csv or json\n", verb, lf.format)
			return 2
		}
	case "export":
		if lf.format != "journal" && lf.format != "beancount" {
			fmt.Fprintf(stderr, "arb ledger export: --format journal or --format beancount\n")
			return 2
		}
	default:
		fmt.Fprintf(stderr, "arb ledger: unknown verb %q\n%s", verb, ledgerUsage)
		return 2
	}
	if verb == "balances" && !filter.Since.IsZero() {
		fmt.Fprintln(stderr, "arb ledger balances: --since does not apply (balances are as of now)")
		return 2
	}
	if verb == "reconcile" && lf.balancesFile == "" {
		fmt.Fprintln(stderr, "arb ledger reconcile: --balances FILE is required (venue clients are not wired in this build)")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, lf.timeout)
	defer cancel()
	src, err := lf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "arb ledger %s: %v\n", verb, err)
		return 1
	}
	defer src.close()

	if verb == "check" {
		return ledgerCheck(ctx, src, lf.stream, stdout, stderr)
	}
	l, err := src.ledger(ctx, lf.stream)
	if err != nil {
		fmt.Fprintf(stderr, "arb ledger %s: %v\n", verb, err)
		return 1
	}
	switch verb {
	case "balances":
		rows := l.Balances(filter)
		return emit(stdout, stderr, lf.format, rows, []string{"venue", "asset", "balance"}, func(r ledger.BalanceRow) []string {
			return []string{r.Venue, r.Asset, r.Balance.String()}
		})
	case "fills":
		rows := l.FillsOf(filter)
		return emit(stdout, stderr, lf.format, rows,
			[]string{"venue", "venue_fill_id", "client_order_id", "trade_id", "symbol", "side", "price", "qty", "fee", "fee_asset", "fee_quote", "ts"},
			func(r *ledger.FillRecord) []string {
				return []string{r.Venue, r.VenueFillID, r.ClientOrderID, r.TradeID, r.Symbol, r.Side, r.Price.String(), r.Qty.String(),
					r.Fee.String(), r.FeeAsset, r.FeeQuote.String(), r.TS.Format(time.RFC3339Nano)}
			})
	case "trades":
		rows := l.TradesOf(filter)
		return emit(stdout, stderr, lf.format, rows,
			[]string{"id", "symbol", "buy_venue", "sell_venue", "state", "qty", "fills", "expected_net_quote", "net_quote", "slippage_quote", "fees_quote", "gas_quote", "residual_base", "opened_at"},
			func(r ledger.TradeView) []string {
				return []string{r.ID, r.Symbol, r.BuyVenue, r.SellVenue, r.State, r.Qty.String(), fmt.Sprint(r.Ledger.Fills),
					r.ExpectedNetQuote.String(), r.Ledger.Net.String(), r.Ledger.SlippageQuote.String(), r.Ledger.FeesQuote.String(),
					r.Ledger.GasQuote.String(), r.Ledger.ResidualBase.String(), r.OpenedAt.Format(time.RFC3339)}
			})
	case "pnl":
		rep := l.PnL(filter)
		if lf.format == "json" {
			return writeJSON(stdout, stderr, rep)
		}
		var rows [][]string
		for _, t := range rep.Totals {
			rows = append(rows, []string{"total", "", "", "", t.Quote, fmt.Sprint(t.Trades), fmt.Sprint(t.Wins), fmt.Sprintf("%.4f", t.WinRate),
				t.Gross.String(), t.Fees.String(), t.Gas.String(), t.Net.String(), t.Expected.String()})
		}
		for _, p := range rep.Pairs {
			_, quote, _ := strings.Cut(p.Symbol, "-")
			rate := 0.0
			if p.Trades > 0 {
				rate = float64(p.Wins) / float64(p.Trades)
			}
			rows = append(rows, []string{"pair", p.Symbol, p.BuyVenue, p.SellVenue, quote, fmt.Sprint(p.Trades), fmt.Sprint(p.Wins), fmt.Sprintf("%.4f", rate),
				p.Gross.String(), p.Fees.String(), p.Gas.String(), p.Net.String(), p.Expected.String()})
		}
		return emit(stdout, stderr, lf.format, rows,
			[]string{"row", "symbol", "buy_venue", "sell_venue", "quote", "trades", "wins", "win_rate", "gross", "fees", "gas", "net", "expected"},
			func(r []string) []string { return r })
	case "reconcile":
		return ledgerReconcile(ctx, l, &lf, fileBalances{path: lf.balancesFile}, stdout, stderr)
	case "export":
		return ledgerExport(l, &lf, stdout, stderr)
	}
	return 2
}

// filter parses --since, --venue and --symbol.
func (lf *ledgerFlags) filter(now time.Time) (ledger.Filter, error) {
	f := ledger.Filter{Venue: lf.venue, Symbol: lf.symbol}
	if lf.since == "" {
		return f, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, lf.since); err == nil {
		f.Since = t
	} else if t, err := time.Parse(time.DateOnly, lf.since); err == nil {
		f.Since = t
	} else if d, err := time.ParseDuration(lf.since); err == nil && d > 0 {
		f.Since = now.Add(-d)
	} else {
		return f, fmt.Errorf("--since %q: want an RFC 3339 time, YYYY-MM-DD or a positive duration", lf.since)
	}
	return f, nil
}

// source is where the books come from.
type source struct {
	store *pgstore.Store // PostgreSQL, or
	bus   *bus.Bus       // the stream
	cfg   ledgerfeed.Config
}

func (s *source) close() {
	if s.store != nil {
		s.store.Close()
	}
	if s.bus != nil {
		s.bus.Close()
	}
}

// open picks the source: a DSN from --dsn, $ARB_PG_DSN or the config
// file; else the stream at --nats or the config's nats.url.
func (lf *ledgerFlags) open(ctx context.Context) (*source, error) {
	dsn, natsURL, creds := lf.dsn, lf.natsURL, lf.creds
	if dsn == "" {
		var err error
		if dsn, err = (config.Postgres{}).EffectiveDSN(); err != nil {
			return nil, err
		}
	}
	if lf.configPath != "" && (dsn == "" || natsURL == "") {
		cfg, err := config.Load(lf.configPath, wire.Known())
		if err != nil {
			return nil, err
		}
		if dsn == "" {
			dsn = cfg.Postgres.DSN
		}
		if natsURL == "" {
			natsURL = cfg.NATS.URL
			if creds == "" {
				creds = cfg.NATS.CredentialsFile
			}
		}
	}
	src := &source{cfg: ledgerfeed.Config{Stream: lf.stream, Prefix: lf.prefix}}
	if dsn != "" {
		st, err := pgstore.Connect(ctx, dsn)
		if err != nil {
			return nil, err
		}
		src.store = st
		return src, nil
	}
	var opts []nats.Option
	if natsURL == "" && lf.dataDir != "" {
		u, auth, err := bus.LocalReader(lf.dataDir)
		if err != nil {
			return nil, err
		}
		natsURL, opts = u, append(opts, auth)
	}
	if natsURL == "" {
		return nil, errors.New("no source: give --dsn (or $ARB_PG_DSN) for PostgreSQL, --data-dir DIR for a running arbd's embedded NATS, or --nats URL to replay the event stream")
	}
	if creds != "" {
		opt, err := bus.CredentialsOption(creds)
		if err != nil {
			return nil, fmt.Errorf("--creds: %w", err)
		}
		opts = append(opts, opt)
	}
	b, err := bus.Connect(ctx, natsURL, nil, opts...)
	if err != nil {
		return nil, err
	}
	src.bus = b
	return src, nil
}

func (s *source) ledger(ctx context.Context, stream string) (*ledger.Ledger, error) {
	if s.store != nil {
		l, _, err := s.store.Load(ctx, stream)
		return l, err
	}
	l, _, err := ledgerfeed.Replay(ctx, s.bus.JetStream(), s.cfg)
	return l, err
}

func ledgerCheck(ctx context.Context, src *source, stream string, stdout, stderr io.Writer) int {
	var l *ledger.Ledger
	var v []ledger.Violation
	var err error
	if src.store != nil {
		l, v, err = src.store.Verify(ctx, stream)
	} else if l, err = src.ledger(ctx, stream); err == nil {
		v = l.Check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "arb ledger check: %v\n", err)
		return 1
	}
	if len(v) > 0 {
		for _, x := range v {
			fmt.Fprintln(stderr, x.String())
		}
		fmt.Fprintf(stderr, "arb ledger check: %d violations (at most %d listed)\n", len(v), ledger.MaxViolations)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d transactions, %d fills, %d trades, %d accounts; every invariant holds\n",
		len(l.Transactions()), l.FillCount(), len(l.Trades()), len(l.Accounts()))
	return 0
}

// BalanceSource reports what the venues hold, as balance rows under the
// venues' configured names. fileBalances reads a JSON file; venueBalances
// asks each venue's trading client (exchange.Accounts).
type BalanceSource interface {
	Balances(ctx context.Context) ([]ledger.BalanceRow, error)
}

// fileBalances is a JSON array of {venue, asset, balance} (the form
// `arb ledger balances --format json` prints).
type fileBalances struct{ path string }

func (f fileBalances) Balances(context.Context) ([]ledger.BalanceRow, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Venue, Asset, Balance string
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	out := make([]ledger.BalanceRow, 0, len(raw))
	for i, r := range raw {
		d, err := ledger.ParseDecimal(r.Balance)
		if err != nil || r.Venue == "" || r.Asset == "" {
			return nil, fmt.Errorf("%s: entry %d: want venue, asset and a decimal balance string", f.path, i)
		}
		out = append(out, ledger.BalanceRow{Venue: r.Venue, Asset: r.Asset, Balance: d})
	}
	return out, nil
}

// venueBalances asks each venue's exchange.Accounts, by configured venue
// name. The daemon's wiring builds it from its trading clients.
type venueBalances map[string]exchange.Accounts

func (v venueBalances) Balances(ctx context.Context) ([]ledger.BalanceRow, error) {
	var out []ledger.BalanceRow
	for name, acc := range v {
		bs, err := acc.Balances(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s balances: %w", name, err)
		}
		out = append(out, ledger.BalancesOf(name, bs)...)
	}
	return out, nil
}

var _ BalanceSource = venueBalances(nil)

func ledgerReconcile(ctx context.Context, l *ledger.Ledger, lf *ledgerFlags, src BalanceSource, stdout, stderr io.Writer) int {
	dust := ledger.Dust{PerAsset: map[string]decimal.Decimal{}}
	var err error
	if dust.Default, err = ledger.ParseDecimal(lf.dust); err != nil || dust.Default.Sign() < 0 {
		fmt.Fprintf(stderr, "arb ledger reconcile: --dust %q is not a decimal ≥ 0\n", lf.dust)
		return 2
	}
	for _, s := range lf.dustAsset {
		asset, amount, ok := strings.Cut(s, "=")
		d, err := ledger.ParseDecimal(amount)
		if !ok || err != nil || d.Sign() < 0 {
			fmt.Fprintf(stderr, "arb ledger reconcile: --dust-asset %q: want ASSET=AMOUNT\n", s)
			return 2
		}
		dust.PerAsset[asset] = d
	}
	reported, err := src.Balances(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "arb ledger reconcile: %v\n", err)
		return 1
	}
	rows, differs := ledger.Reconcile(l.Balances(ledger.Filter{Venue: lf.venue}), reported, dust)
	code := emit(stdout, stderr, lf.format, rows, []string{"venue", "asset", "ledger", "venue_balance", "diff", "beyond_dust"},
		func(r ledger.ReconcileRow) []string {
			return []string{r.Venue, r.Asset, r.Ledger.String(), r.Actual.String(), r.Diff.String(), fmt.Sprint(r.Beyond)}
		})
	if code != 0 {
		return code
	}
	if differs {
		n := 0
		for _, r := range rows {
			if r.Beyond {
				n++
			}
		}
		fmt.Fprintf(stderr, "arb ledger reconcile: %d balances differ beyond dust\n", n)
		return 1
	}
	return 0
}

func ledgerExport(l *ledger.Ledger, lf *ledgerFlags, stdout, stderr io.Writer) int {
	w := stdout
	var f *os.File
	if lf.out != "" {
		var err error
		if f, err = os.Create(lf.out); err != nil {
			fmt.Fprintf(stderr, "arb ledger export: %v\n", err)
			return 1
		}
		w = f
	}
	var err error
	if lf.format == "journal" {
		err = ledger.WriteJournal(w, l)
	} else {
		err = ledger.WriteBeancount(w, l)
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "arb ledger export: %v\n", err)
		return 1
	}
	return 0
}

// emit writes rows as an aligned table, CSV (with a header) or a JSON
// array of the rows' own JSON form.
func emit[T any](stdout, stderr io.Writer, format string, rows []T, header []string, cells func(T) []string) int {
	switch format {
	case "json":
		if rows == nil {
			rows = []T{}
		}
		return writeJSON(stdout, stderr, rows)
	case "csv":
		w := csv.NewWriter(stdout)
		w.Write(header)
		for _, r := range rows {
			w.Write(cells(r))
		}
		w.Flush()
		if err := w.Error(); err != nil {
			fmt.Fprintln(stderr, "arb ledger:", err)
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, r := range rows {
		c := cells(r)
		for i := range c {
			if c[i] == "" {
				c[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(c, "\t"))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, "arb ledger:", err)
		return 1
	}
	return 0
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "arb ledger:", err)
		return 1
	}
	return 0
}
