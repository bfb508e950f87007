// Package pgtest gives tests a PostgreSQL database of their own on the
// machine's server (127.0.0.1:5432, trust auth, user postgres, or
// ARB_PG_TEST_DSN), created for the test and dropped after it. Without a
// server the test is skipped, except under CI=true, where it fails.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"arb/ledger"
)

// AdminDSN is the server tests create their databases on.
func AdminDSN() string {
	if s := os.Getenv("ARB_PG_TEST_DSN"); s != "" {
		return s
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// NewDB creates a fresh, empty database and returns its DSN. It is dropped
// (its connections terminated) when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s (CI=true requires it): %v", AdminDSN(), err)
		}
		t.Skipf("no PostgreSQL at %s: %v", AdminDSN(), err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("arb_ledger_test_%d_%x", os.Getpid(), rand.Uint64())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminDSN())
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminDSN())
	if err != nil {
		t.Fatalf("ARB_PG_TEST_DSN is not a URL")
	}
	u.Path = "/" + name
	return u.String()
}

// Terminate ends every connection to the database of dsn other than the
// caller's own, as if the server had restarted under them, and returns how
// many it ended.
func Terminate(t testing.TB, dsn string) int {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		t.Fatalf("terminate: %v", err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, u.Path[1:]).Scan(&n); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	return n
}

// BenchFill is the i-th fill of the ledger benchmarks: two per trade (a
// buy, then a sell), rotating over three venues, the buy's fee in the
// quote, the sell's in BNB with its rate, at times from t0 a millisecond
// apart. The store's and the feed's benchmarks write the same fills.
func BenchFill(i int, t0 time.Time) ledger.Fill {
	venues := [...]string{"binance", "okx", "bybit"}
	f := ledger.Fill{Venue: venues[i%3], VenueFillID: fmt.Sprintf("%d", 1000000+i), ClientOrderID: fmt.Sprintf("c%d", i),
		TradeID: fmt.Sprintf("T%d", i/2), Symbol: "BTC-USDT", Base: "BTC", Quote: "USDT", Side: [...]string{"buy", "sell"}[i%2],
		Price: decimal.New(6400012+int64(i%100), -2), Qty: decimal.New(1500+int64(i%7), -6), TS: t0.Add(time.Duration(i) * time.Millisecond)}
	if i%2 == 0 {
		f.Fee, f.FeeAsset = decimal.RequireFromString("0.096"), "USDT"
	} else {
		f.Fee, f.FeeAsset, f.FeeQuoteRate = decimal.RequireFromString("0.00016"), "BNB", decimal.RequireFromString("600.1")
	}
	return f
}
