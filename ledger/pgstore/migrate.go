package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change, embedded in the binary.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order. Their
// files are migrations/NNNN_name.sql; versions are 1, 2, … without gaps.
func Migrations() []Migration {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			panic("pgstore: migration file " + e.Name() + " is not NNNN_name.sql")
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			panic(fmt.Sprintf("pgstore: migration versions have a gap at %d", m.Version))
		}
	}
	return out
}

// LatestVersion is the schema version this binary writes.
func LatestVersion() int { return len(Migrations()) }

// migrationLock is the advisory lock key serializing migrators (two
// daemons starting at once).
const migrationLock = 0x6172625f6c656467 // "arb_ledg"

// Migrate brings the schema to version target (0 means LatestVersion),
// applying each missing migration in its own transaction and recording it
// in schema_migrations. A database at a newer version than this binary
// knows is an error: an old binary must not write a newer schema.
func Migrate(ctx context.Context, conn *pgx.Conn, target int) error {
	all := Migrations()
	if target == 0 {
		target = len(all)
	}
	if target < 0 || target > len(all) {
		return fmt.Errorf("pgstore: no schema version %d (latest %d)", target, len(all))
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("pgstore: schema_migrations: %w", err)
	}
	for _, m := range all[:target] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
				return err
			}
			var current int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
				return err
			}
			if current > len(all) {
				return fmt.Errorf("database schema is version %d, newer than this binary's %d", current, len(all))
			}
			if current >= m.Version {
				return nil
			}
			if current != m.Version-1 {
				return fmt.Errorf("database schema is version %d, cannot apply %d", current, m.Version)
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("pgstore: migration %d (%s): %w", m.Version, m.Name, err)
		}
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("pgstore: schema version: %w", err)
	}
	if current > len(all) {
		return fmt.Errorf("pgstore: database schema is version %d, newer than this binary's %d", current, len(all))
	}
	return nil
}

// SchemaVersion returns the database's schema version (0: empty).
func SchemaVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("pgstore: schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("pgstore: schema version: %w", err)
	}
	return v, nil
}
