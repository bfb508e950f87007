package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"arb/cmd/internal/backtest"
	"arb/cmd/internal/config"
	"arb/cmd/internal/httpapi"
	"arb/cmd/internal/wire"
	"arb/configs"
	"arb/exchange/recording"
	"arb/exchange/tap"
)

// TestRecordFlag: arbd --record DIR writes a recording of its session —
// every venue's connections and frames and the instruments replies — with
// the session's plan id base, and arb backtest's engine replays it,
// numbering its plans from that base. (That the backtest of such a session
// decides exactly what the session did is TestParity in
// cmd/internal/backtest, which steps the simulator by hand.)
func TestRecordFlag(t *testing.T) {
	s := newSetup(t, planFriendly...)
	b, _ := os.ReadFile(s.cfg)
	os.WriteFile(s.cfg, []byte(zeroFees(string(b))), 0o600)
	dir := filepath.Join(s.dir, "rec")
	p := start(t, s.addr, nil, nil, "--config", s.cfg, "--record", dir)
	p.waitReady(30 * time.Second)
	var live string
	p.waitFor("a plan", 30*time.Second, func() bool {
		if pl := newest(p.status()); pl != nil {
			live, _ = pl["id"].(string)
		}
		return live != ""
	})
	p.stop()
	p.waitLog(`"msg":"recording closed"`, 5*time.Second)

	files, err := filepath.Glob(filepath.Join(dir, "*.arbrec"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recording in %s (%v)", dir, err)
	}
	r, err := recording.Open(files...)
	if err != nil {
		t.Fatal(err)
	}
	var meta recording.Meta
	frames := map[uint8]int{}
	rest := 0
	for {
		blk, err := r.NextChunk(nil, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the recording: %v", err)
		}
		meta = *blk.Meta
		blk.Records(func(rec *recording.Record) bool {
			switch rec.Kind {
			case tap.KindFrame:
				frames[rec.Venue]++
			case tap.KindREST:
				rest++
			}
			return true
		})
	}
	r.Close()
	if len(frames) != 3 || rest < 3 {
		t.Fatalf("recording holds frames of %d venues and %d REST replies, want 3 and ≥ 3", len(frames), rest)
	}
	id, err := strconv.ParseUint(live[1:], 16, 64)
	if err != nil {
		t.Fatalf("plan id %q: %v", live, err)
	}
	if meta.PlanIDBase == 0 || id <= meta.PlanIDBase || id > meta.PlanIDBase+1<<16 {
		t.Fatalf("live plan %s (%d) is not numbered from the recording's base %d", live, id, meta.PlanIDBase)
	}

	cfg, err := config.Load(s.cfg, wire.Known())
	if err != nil {
		t.Fatal(err)
	}
	var first string
	opt := backtest.Options{Data: files, RulesFallback: configs.DefaultRules, RulesFallbackName: configs.DefaultRulesName,
		OnPlan: func(st httpapi.PlanStatus) {
			if first == "" {
				first = st.ID
			}
		}}
	rep, err := backtest.Run(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Plans == 0 || first == "" {
		t.Fatalf("the backtest of the session made no plan (%d events)", rep.Events)
	}
	if fid, _ := strconv.ParseUint(first[1:], 16, 64); fid <= meta.PlanIDBase || fid > meta.PlanIDBase+1<<16 {
		t.Fatalf("the backtest's first plan %s is not numbered from the recording's base %d", first, meta.PlanIDBase)
	}
	t.Logf("frames per venue %v", frames)
	t.Logf("recorded %d files; live plan %s; backtest: %d events, %d plans (first %s), %d trades", len(files), live, rep.Events, rep.Plans, first, rep.Trades)
}
