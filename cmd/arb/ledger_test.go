package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/ledgerfeed"
	"arb/ledger"
	"arb/ledger/pgstore"
	"arb/ledger/pgstore/pgtest"
)

func runArb(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestLedgerCommands: fills published on a stream go through the
// exactly-once feed into PostgreSQL while the store's connections are
// terminated; then every `arb ledger` verb reads the books, from
// PostgreSQL and by replaying the stream, and agrees with what was
// published.
func TestLedgerCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	emb, err := bus.StartEmbedded(ctx, dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	b, err := bus.Connect(ctx, emb.ClientURL(), nil, emb.InProcess())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The daemon's own stream: the CLI reads it as the read-only user a
	// running arbd writes to its data dir.
	spec := bus.DefaultStream()
	if err := b.EnsureStream(ctx, spec); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.NewDB(t)
	store, err := pgstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	feed, err := ledgerfeed.New(b.JetStream(), store, ledgerfeed.Config{Stream: spec.Name, Prefix: "arb", Batch: 16,
		MaxWait: 50 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- feed.Run(fctx) }()
	defer func() { stop(); <-done }()

	d := decimal.RequireFromString
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"binance", "okx"} {
		e := ledger.External{ID: "open", Venue: v, Asset: "USDT", Amount: d("100000"), TS: t0}
		must(t, ledgerfeed.PublishExternal(ctx, b, "arb", e))
		e = ledger.External{ID: "open-btc", Venue: v, Asset: "BTC", Amount: d("2"), TS: t0}
		must(t, ledgerfeed.PublishExternal(ctx, b, "arb", e))
	}
	const trades = 50
	published := 0
	for i := range trades {
		tid := fmt.Sprintf("T%d", i)
		ts := t0.Add(time.Duration(i) * time.Hour)
		px := decimal.New(6400000+int64(i), -2)
		tr := ledger.Trade{ID: tid, Symbol: "BTC-USDT", BuyVenue: "binance", SellVenue: "okx", State: ledger.StateOpen, Qty: d("0.01"),
			ExpectedNetQuote: d("0.2"), OpenedAt: ts}
		must(t, ledgerfeed.PublishTrade(ctx, b, "arb", tr))
		for k, side := range []string{"buy", "sell"} {
			venue, p := "binance", px
			if side == "sell" {
				venue, p = "okx", px.Add(d("30"))
			}
			f := ledger.Fill{Venue: venue, VenueFillID: fmt.Sprintf("%d", 2*i+k), ClientOrderID: tid + side, TradeID: tid, Symbol: "BTC-USDT",
				Base: "BTC", Quote: "USDT", Side: side, Price: p, Qty: d("0.01"), Fee: d("0.064"), FeeAsset: "USDT", TS: ts}
			must(t, ledgerfeed.PublishFill(ctx, b, "arb", f))
			published++
		}
		closed := ts.Add(time.Second)
		tr.State, tr.ClosedAt = ledger.StateClosedFlat, &closed
		must(t, ledgerfeed.PublishTrade(ctx, b, "arb", tr))
		if i == trades/2 {
			pgtest.Terminate(t, dsn) // connections die mid-stream
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := store.FillCount(ctx)
		if err == nil && n == int64(published) && feed.Lag() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d fills stored (%v), lag %d", n, published, err, feed.Lag())
		}
		time.Sleep(10 * time.Millisecond)
	}

	pg := []string{"--dsn", dsn, "--stream", spec.Name}
	code, out, errs := runArb(t, append([]string{"ledger", "check"}, pg...)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d fills, %d trades", published, trades)) {
		t.Fatalf("check: %d %s %s", code, out, errs)
	}
	// Fills, from PostgreSQL and from the stream, exactly the published.
	nats := []string{"--data-dir", dataDir}
	for _, src := range [][]string{pg, nats} {
		code, out, errs = runArb(t, append([]string{"ledger", "fills", "--format", "csv"}, src...)...)
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if code != 0 || err != nil || len(rows) != published+1 || rows[0][0] != "venue" {
			t.Fatalf("fills %v: %d rows, %d %v %s", src, len(rows), code, err, errs)
		}
		code, out, errs = runArb(t, append([]string{"ledger", "balances", "--format", "json"}, src...)...)
		var bal []struct{ Venue, Asset, Balance string }
		if code != 0 || json.Unmarshal([]byte(out), &bal) != nil || len(bal) != 4 {
			t.Fatalf("balances: %d %s %s", code, out, errs)
		}
		for _, r := range bal {
			// binance bought 50 × 0.01 BTC; okx sold them 30 USDT higher.
			want := map[string]string{"binance/BTC": "2.5", "okx/BTC": "1.5"}[r.Venue+"/"+r.Asset]
			if want != "" && r.Balance != want {
				t.Errorf("%s/%s = %s, want %s", r.Venue, r.Asset, r.Balance, want)
			}
		}
	}
	// Filters: the last ten hours' trades, on okx.
	code, out, _ = runArb(t, append([]string{"ledger", "trades", "--format", "json", "--venue", "okx", "--since", t0.Add(40 * time.Hour).Format(time.RFC3339)}, pg...)...)
	var tv []ledger.TradeView
	if code != 0 || json.Unmarshal([]byte(out), &tv) != nil || len(tv) != 10 || tv[0].ID != "T49" || !tv[0].Ledger.Net.Equal(d("0.172")) {
		t.Fatalf("trades: %d %d %s", code, len(tv), out)
	}
	code, out, _ = runArb(t, append([]string{"ledger", "pnl"}, pg...)...)
	if code != 0 || !strings.Contains(out, "NET") || !strings.Contains(out, "8.6") { // 50 × (0.3 − 0.128)
		t.Fatalf("pnl table: %d\n%s", code, out)
	}
	code, out, _ = runArb(t, append([]string{"ledger", "fills", "--symbol", "ETH-USDT"}, pg...)...)
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("no ETH fills: %d\n%s", code, out)
	}

	// Reconcile against a file of venue balances.
	dir := t.TempDir()
	_, out, _ = runArb(t, append([]string{"ledger", "balances", "--format", "json"}, pg...)...)
	same := filepath.Join(dir, "same.json")
	must(t, os.WriteFile(same, []byte(out), 0o600))
	if code, out, errs := runArb(t, append([]string{"ledger", "reconcile", "--balances", same}, pg...)...); code != 0 {
		t.Fatalf("reconcile equal: %d %s %s", code, out, errs)
	}
	off := filepath.Join(dir, "off.json")
	must(t, os.WriteFile(off, []byte(strings.Replace(out, `"2.5"`, `"2.49"`, 1)), 0o600))
	code, out, errs = runArb(t, append([]string{"ledger", "reconcile", "--balances", off, "--dust-asset", "BTC=0.001"}, pg...)...)
	if code != 1 || !strings.Contains(errs, "1 balances differ") || !strings.Contains(out, "-0.01") {
		t.Fatalf("reconcile off: %d %s %s", code, out, errs)
	}
	if code, _, _ := runArb(t, append([]string{"ledger", "reconcile", "--balances", off, "--dust-asset", "BTC=0.01"}, pg...)...); code != 0 {
		t.Fatalf("a difference within dust: %d", code)
	}

	// Export.
	jf := filepath.Join(dir, "arb.journal")
	if code, _, errs := runArb(t, append([]string{"ledger", "export", "--format", "journal", "--out", jf}, pg...)...); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	if b, _ := os.ReadFile(jf); !bytes.Contains(b, []byte("assets:binance:BTC")) {
		t.Fatalf("journal:\n%s", b)
	}

	// Usage errors.
	for _, args := range [][]string{{"ledger"}, {"ledger", "nope"}, {"ledger", "pnl", "--format", "xml"}, {"ledger", "export"},
		{"ledger", "balances", "--since", "1h"}, {"ledger", "fills", "--since", "yesterday"}, {"ledger", "reconcile"}} {
		if code, _, _ := runArb(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}

	// A corrupted store fails the check, naming the violation.
	if _, err := store.Pool().Exec(ctx, `UPDATE balances SET balance = balance + 0.00000001 WHERE account = 'assets:okx:BTC'`); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runArb(t, append([]string{"ledger", "check"}, pg...)...)
	if code != 1 || !strings.Contains(errs, "assets:okx:BTC") {
		t.Fatalf("check on corrupted books: %d %s", code, errs)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
