package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"arb/cmd/internal/bus"
	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
)

const statusUsage = `usage: arb status [--json] [--config FILE | --data-dir DIR | --nats URL [--creds FILE]] [--bucket NAME]
Lists every arbd writing heartbeats to the fleet's status bucket: role, state, venues, books fresh,
trading, halted, rules version and the last heartbeat's age; a daemon silent for 3 heartbeats is lost.
NATS: --nats URL (--creds: a .creds file or an nkey seed), or the nats.url of --config, or a running
arbd's embedded NATS with --data-dir DIR (its data_dir; read-only user).
`

// runStatus runs `arb status`. It exits 0 when it could read the bucket
// (whatever the daemons' state), 1 when it could not, 2 on bad usage.
func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arb status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statusUsage); fs.PrintDefaults() }
	asJSON := fs.Bool("json", false, "print the fleet as a JSON array")
	cfgPath := fs.String("config", "", "arbd config file: its nats.url, nats.credentials_file and fleet.status_bucket")
	dataDir := fs.String("data-dir", "", "data_dir of a running arbd with embedded NATS")
	natsURL := fs.String("nats", "", "NATS URL")
	creds := fs.String("creds", "", "NATS credentials: a .creds file or an nkey seed file")
	bucket := fs.String("bucket", "", "the status KV bucket (default: the config's fleet.status_bucket, else arb_fleet)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "arb status: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	url, credsFile, name := *natsURL, *creds, *bucket
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, wire.Known())
		if err != nil {
			fmt.Fprintf(stderr, "arb status: %v\n", err)
			return 1
		}
		if url == "" {
			url, credsFile = cfg.NATS.URL, cfg.NATS.CredentialsFile
			if url == "" && *dataDir == "" {
				*dataDir = cfg.DataDir // the embedded server of that config's daemon
			}
		}
		if name == "" {
			name = cfg.Fleet.StatusBucket
		}
	}
	if name == "" {
		name = "arb_fleet"
	}
	var opts []nats.Option
	if url == "" && *dataDir != "" {
		u, auth, err := bus.LocalReader(*dataDir)
		if err != nil {
			fmt.Fprintf(stderr, "arb status: %v\n", err)
			return 1
		}
		url, opts = u, append(opts, auth)
	}
	if url == "" {
		fmt.Fprint(stderr, "arb status: no NATS: give --nats URL, --config FILE or --data-dir DIR\n")
		return 2
	}
	if credsFile != "" {
		opt, err := bus.CredentialsOption(credsFile)
		if err != nil {
			fmt.Fprintf(stderr, "arb status: --creds: %v\n", err)
			return 1
		}
		opts = append(opts, opt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	members, err := readStatus(ctx, url, name, opts)
	if err != nil {
		fmt.Fprintf(stderr, "arb status: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(members); err != nil {
			return 1
		}
		return 0
	}
	printFleet(stdout, members)
	return 0
}

// readStatus connects to url and reads the status bucket.
func readStatus(ctx context.Context, url, bucket string, opts []nats.Option) ([]wire.FleetMember, error) {
	opts = append([]nats.Option{nats.Name("arb status"), nats.Timeout(bus.DialTimeout), nats.MaxReconnects(0)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("status bucket %s: %w (no arbd has written a heartbeat there)", bucket, err)
	}
	members, _, err := wire.ReadFleet(ctx, kv, time.Now)
	return members, err
}

// printFleet writes the fleet as a table, one daemon a line.
func printFleet(w io.Writer, members []wire.FleetMember) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tROLE\tSTATUS\tVENUES\tBOOKS FRESH\tTRADING\tHALTED\tRULES\tLAST HEARTBEAT")
	for _, m := range members {
		venues := strings.Join(m.Venues, ",")
		if len(m.Waiting) > 0 {
			venues += " (waiting: " + strings.Join(m.Waiting, ",") + ")"
		}
		if venues == "" {
			venues = "-"
		}
		halted := "no"
		if m.Halted {
			halted = "yes"
			if m.HaltReason != "" {
				halted += " (" + m.HaltReason + ")"
			}
		}
		trading := "no"
		if m.Trading {
			trading = "yes"
		}
		rules := m.RulesVersion
		if name, _, ok := strings.Cut(rules, " from "); ok {
			rules = name // name and hash; the source and load time are in /api/v1/status
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s (%s ago)\n", m.Instance, m.Role, m.Status, venues,
			m.BooksFresh, m.Books, trading, halted, rules, m.Stored.Format(time.RFC3339), age(m.AgeSeconds))
	}
	tw.Flush()
	if len(members) == 0 {
		fmt.Fprintln(w, "(no daemon has written a heartbeat)")
	}
}

func age(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
