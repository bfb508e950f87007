package monitoring

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"arb/ledger/pgstore"
	"arb/ledger/pgstore/pgtest"
)

// TestGrafanaReaderRole runs configs/postgres/initdb/10-grafana-reader.sh
// as the postgres image would at initialization (on a fresh database of
// the machine's server, with a role name of its own), lets pgstore create
// the ledger's schema afterwards, as arbd does, and checks that the role
// can run every query of the PnL dashboard and can write nothing.
// (The server here trusts local connections, so the role's password is
// set but not checked.)
func TestGrafanaReaderRole(t *testing.T) {
	needTool(t, "psql") // the script runs psql, as the postgres image does
	reader := fmt.Sprintf("grafana_reader_test_%x", rand.Uint32())
	t.Cleanup(func() { // after the database is dropped (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, pgtest.AdminDSN()); err == nil {
			c.Exec(ctx, `DROP ROLE IF EXISTS "`+reader+`"`)
			c.Close(ctx)
		}
	})
	dsn := pgtest.NewDB(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	owner := u.User.Username()
	db := strings.TrimPrefix(u.Path, "/")

	cmd := exec.Command("sh", filepath.Join(repoRoot, "configs/postgres/initdb/10-grafana-reader.sh"))
	cmd.Env = append(os.Environ(),
		"PGHOST="+u.Hostname(), "PGPORT="+u.Port(),
		"POSTGRES_USER="+owner, "POSTGRES_DB="+db,
		"GRAFANA_PG_USER="+reader, "GRAFANA_PG_PASSWORD=it's a secret")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("10-grafana-reader.sh: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pgstore.Open(ctx, dsn) // the schema, created after the role, as in compose
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	ru := *u
	ru.User = url.User(reader)
	q := ru.Query()
	q.Set("timezone", "UTC")
	ru.RawQuery = q.Encode()
	conn, err := pgx.Connect(ctx, ru.String())
	if err != nil {
		t.Fatalf("connect as %s: %v", reader, err)
	}
	defer conn.Close(context.Background())

	env := grafanaEnv{from: t0, to: t0.Add(time.Hour), interval: "1m", vars: map[string][]string{"venue": {"binance"}, "symbol": {"BTC-USDT"}}}
	n := 0
	for _, tg := range targets(t, loadDashboards(t)) {
		if tg.RawSQL == "" {
			continue
		}
		if _, err := conn.Exec(ctx, env.expand(t, tg.RawSQL)); err != nil {
			t.Errorf("%s as the Grafana reader: %v", tg, err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no SQL queries in the dashboards")
	}
	for _, w := range []string{
		`INSERT INTO consumer_state (stream, last_seq) VALUES ('x', 1)`,
		`DELETE FROM trades`,
		`CREATE TABLE grafana_was_here (x int)`,
	} {
		if _, err := conn.Exec(ctx, w); err == nil {
			t.Errorf("the Grafana reader may run %q", w)
		}
	}
}
